package plot_test

import (
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/tracemark/tracemark/benchmarks/plot"
)

// ExampleQQ draws the QQ plot of a detector's p-values on unwatermarked text
// (which should follow the diagonal) and on watermarked text (which should
// fall far below it), with a 95% pointwise band.
func ExampleQQ() {
	dir, err := os.MkdirTemp("", "qq-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	rng := rand.New(rand.NewPCG(1, 2))
	null := make([]float64, 10000)
	for i := range null {
		null[i] = rng.Float64()
	}
	watermarked := make([]float64, 1000)
	for i := range watermarked {
		watermarked[i] = 1e-15 * rng.Float64() // some fall below the 1e-12 floor
	}

	path := filepath.Join(dir, "qq.png")
	err = plot.QQ(path, []plot.PValues{
		{Name: "unwatermarked", P: null},
		{Name: "watermarked", P: watermarked},
	}, plot.QQOptions{
		Figure:    plot.Figure{Title: "Detector calibration"},
		BandLevel: 0.95,
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(path)
	fmt.Println("written:", err == nil)
	// Output: written: true
}
