package calibrate_test

import (
	"fmt"

	"github.com/tracemark/tracemark/calibrate"
)

// FPR counts the p-values at or below each level, with exact intervals.
func ExampleFPR() {
	p := make([]float64, 2000)
	for i := range p {
		p[i] = (float64(i) + 0.5) / 2000 // evenly spread, as under the null
	}
	for _, l := range calibrate.FPR(p, []float64{0.01, 0.001}) {
		fmt.Printf("alpha %g: %d of %d flagged, 95%% interval [%.4f, %.4f], consistent %v\n",
			l.Alpha, l.Flagged, len(p), l.CILow, l.CIHigh, l.Consistent)
	}
	// Output:
	// alpha 0.01: 20 of 2000 flagged, 95% interval [0.0061, 0.0154], consistent true
	// alpha 0.001: 2 of 2000 flagged, 95% interval [0.0001, 0.0036], consistent true
}
