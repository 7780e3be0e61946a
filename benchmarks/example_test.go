package benchmarks_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tracemark/tracemark/benchmarks"
)

// A benchmark section at smoke-test size: human text under random keys,
// every scheme with dedup on and off, rendered into a report with plots.
func ExampleRun() {
	ctx := context.Background()
	r := &benchmarks.Results{Tool: "example"}
	if err := benchmarks.Run(ctx, benchmarks.Config{Seed: 1, Quick: true}, r, []string{"fpr"}, nil); err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range r.FPR.Schemes[:2] {
		fmt.Printf("%s dedup=%v: %d tests\n", s.Spec, s.Dedup, s.Tests)
	}
	dir, _ := os.MkdirTemp("", "bench")
	defer os.RemoveAll(dir)
	if err := benchmarks.WriteReport(dir, r); err != nil {
		fmt.Println(err)
	}
	// Output:
	// kgw:gamma=0.25,delta=2,h=4,seeding=selfhash dedup=true: 6000 tests
	// kgw:gamma=0.25,delta=2,h=4,seeding=selfhash dedup=false: 6000 tests
}
