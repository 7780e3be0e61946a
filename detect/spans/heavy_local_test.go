package spans

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"testing"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

func TestHeavyLocal(t *testing.T) {
	if os.Getenv("SPANS_HEAVY") == "" {
		t.Skip()
	}
	tok, _ := tokenize.Get(tokenize.Default)
	docs, err := refcorpus.Gutenberg()
	if err != nil {
		t.Fatal(err)
	}
	var all []uint32
	for _, d := range docs {
		ids, _ := tok.AppendEncode(nil, d.Text)
		all = append(all, ids...)
	}
	t.Logf("%d human tokens", len(all))
	rng := rand.New(rand.NewPCG(1, 1))
	// power
	for _, c := range []struct{ p, f int }{{100, 10}, {100, 50}, {200, 10}, {200, 50}, {400, 10}, {400, 50}} {
		trials := 100
		span, glob := 0, 0
		var ious []float64
		for r := 0; r < trials; r++ {
			s := testScheme(t, rng, watermark.DefaultSpec)
			n := c.p * c.f
			st := rng.IntN(len(all) - n)
			ids := append([]uint32(nil), all[st:st+n]...)
			at := rng.IntN(n - c.p)
			insertMarked(t, s, rng, ids, at, c.p)
			sc := newScanner(t, s)
			res := sc.Scan(ids, nil)
			if res.Detected {
				span++
			}
			if res.GlobalLog10P <= -6 {
				glob++
			}
			iou := 0.0
			if len(res.Spans) > 0 {
				for _, sp := range res.Spans {
					if v := overlap(sp.TokenStart, sp.TokenEnd, at, at+c.p); v > iou {
						iou = v
					}
				}
			}
			if res.Detected {
				ious = append(ious, iou)
			}
		}
		sort.Float64s(ious)
		med := 0.0
		if len(ious) > 0 {
			med = ious[len(ious)/2]
		}
		fmt.Printf("POWER passage %d in %d: span TPR %d/%d, global TPR %d/%d, median IoU %.2f\n", c.p, c.p*c.f, span, trials, glob, trials, med)
	}
	// null
	for _, spec := range []string{watermark.DefaultSpec, "gumbel:h=4", "synthid"} {
		tests := 4000
		levels := []float64{1e-2, 1e-3}
		hits := make([]int, 2)
		var d *detect.Detector
		var sc *Scanner
		for r := 0; r < tests; r++ {
			s := testScheme(t, rng, spec)
			if d == nil {
				d, _ = detect.New(s, detect.Options{})
				sc, _ = New(d, Options{})
			} else {
				d.SetScheme(s)
			}
			n := 1000 + rng.IntN(19000)
			st := rng.IntN(len(all) - n)
			res := sc.Scan(all[st:st+n], nil)
			for j, a := range levels {
				if res.PValue <= a {
					hits[j]++
				}
			}
		}
		fmt.Printf("NULL %s: %d tests, p<=1e-2: %d, p<=1e-3: %d\n", spec, tests, hits[0], hits[1])
	}
}
