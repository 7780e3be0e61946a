package benchmarks_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tracemark/tracemark/benchmarks"
)

// A false-positive count and its exact 95% interval: 3 false accusations in
// a million tests is consistent with a nominal rate of 1e-6.
func ExampleClopperPearson() {
	lo, hi := benchmarks.ClopperPearson(3, 1_000_000, 0.05)
	fmt.Printf("rate 3e-06, 95%% interval [%.3g, %.3g]\n", lo, hi)
	// Output: rate 3e-06, 95% interval [6.19e-07, 8.77e-06]
}

// Distinct-n measures repetition: a text that loops has few distinct
// bigrams.
func ExampleDistinctN() {
	loop := []uint32{7, 8, 9, 7, 8, 9, 7, 8, 9}
	fmt.Printf("distinct-2 %.2f\n", benchmarks.DistinctN(loop, 2))
	// Output: distinct-2 0.38
}

// A benchmark section at smoke-test size: human text under random keys,
// every scheme with dedup on and off, rendered into a report with plots.
func ExampleRunFPR() {
	ctx := context.Background()
	env := benchmarks.NewEnv(benchmarks.Config{Seed: 1, Quick: true})
	fpr, err := benchmarks.RunFPR(ctx, env)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range fpr.Schemes[:2] {
		fmt.Printf("%s dedup=%v: %d tests\n", s.Spec, s.Dedup, s.Tests)
	}
	dir, _ := os.MkdirTemp("", "bench")
	defer os.RemoveAll(dir)
	if err := benchmarks.WriteReport(dir, &benchmarks.Results{Seed: 1, Quick: true, FPR: fpr}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// kgw:gamma=0.25,delta=2,h=4,seeding=selfhash dedup=true: 6000 tests
	// kgw:gamma=0.25,delta=2,h=4,seeding=selfhash dedup=false: 6000 tests
}
