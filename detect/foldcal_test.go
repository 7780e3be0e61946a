package detect

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/internal/templated"
	"github.com/tracemark/tracemark/watermark"
)

// foldSpecs are the payload schemes the fold test is calibrated under.
var foldSpecs = []string{"kgw:payload_bits=32", "kgw:h=1,seeding=lefthash,payload_bits=16,radix=2,gamma=0.5"}

// foldCorpora returns human text in n-token documents: Opticks, Go source
// and templated letters (whose documents share most of their tuples).
func foldCorpora(t *testing.T, n int) map[string][][]uint32 {
	o, err := refcorpus.Opticks()
	if err != nil {
		t.Skip(err)
	}
	files, err := refcorpus.GoSource("net/http", "encoding/json", "go/ast", "strconv", "text/template", "database/sql")
	if err != nil {
		t.Skip(err)
	}
	var code []string
	for _, f := range files {
		code = append(code, f.Text)
	}
	letters, err := templated.Corpus(templated.Letters, 3000, 1)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][][]uint32{
		"opticks": cutDocs(t, []string{o.Text}, n),
		"go":      cutDocs(t, []string{strings.Join(code, "\n")}, n),
		"letters": cutDocs(t, []string{strings.Join(letters, "\n\n")}, n),
	}
}

// TestFoldTestNullCalibration scores human text under a fresh random key
// per (document, replicate) with the fold test (computed on every
// document, whatever its size), and checks that its randomized p-values
// are uniform and its exact ones super-uniform. The full run makes more
// than 10^6 tests per scheme.
func TestFoldTestNullCalibration(t *testing.T) {
	skipCalibrationUnderRace(t)
	target := 250_000
	switch {
	case fullCalibration():
		target = 1_050_000
	case testing.Short():
		target = 60_000
	}
	corpora := foldCorpora(t, 400)
	docs := 0
	for _, c := range corpora {
		docs += len(c)
	}
	for si, spec := range foldSpecs {
		rng := rand.New(rand.NewPCG(77, uint64(si)))
		cfg, _ := watermark.ParseSpec(spec)
		null := cfg.Null()
		d, _ := New(anyScheme(t, randomKey(rng), spec), Options{})
		var exact, randomized []float64
		for reps := 0; len(exact) < target; reps++ {
			for _, name := range []string{"opticks", "go", "letters"} {
				for _, doc := range corpora[name] {
					if err := d.SetScheme(anyScheme(t, randomKey(rng), spec)); err != nil {
						t.Fatal(err)
					}
					d.Tokens(doc)
					m, n := foldMatches(&d.tally, null.Radix, null.Slots)
					exact = append(exact, math.Exp(stats.LogBinomialTail(m, n, 1/float64(null.Radix))))
					randomized = append(randomized, stats.RandomizedBinomialP(m, n, 1/float64(null.Radix), rng.Float64()))
				}
			}
		}
		ksD, ksP := stats.KSUniform(randomized)
		line := ""
		for _, a := range []float64{1e-2, 1e-3, 1e-4, 1e-5} {
			line += " p≤" + stats.FormatLevel(a) + ": " + stats.FormatLevel(frac(exact, a)) + " (randomized " + stats.FormatLevel(frac(randomized, a)) + ")"
		}
		t.Logf("%s: %d tests (%d documents of 400 tokens), KS D=%.5f p=%.3f;%s", spec, len(exact), docs, ksD, ksP, line)
		if ksP < 1e-3 {
			t.Errorf("%s: KS rejects uniformity of the randomized fold p-values (D=%v, p=%v)", spec, ksD, ksP)
		}
		if ok, why := superUniform(exact, 0.1, 0.01, 0.001, 1e-4); !ok {
			t.Errorf("%s: %s", spec, why)
		}
		for _, a := range []float64{0.1, 0.01, 0.001} {
			if !stats.BinomialCountPlausible(int(frac(randomized, a)*float64(len(randomized))+0.5), len(randomized), a, 1e-3) {
				t.Errorf("%s: randomized p ≤ %v in %v of tests", spec, a, frac(randomized, a))
			}
		}
	}
}

// TestPayloadFoldOnLongHumanText runs the public path on documents long
// enough that the zero-bit test is the fold test, under random keys: the
// p-values and the payload p-values stay super-uniform.
func TestPayloadFoldOnLongHumanText(t *testing.T) {
	skipCalibrationUnderRace(t)
	keys := 150
	if testing.Short() {
		keys = 20
	}
	corpora := foldCorpora(t, 6000)
	rng := rand.New(rand.NewPCG(78, 1))
	spec := foldSpecs[0]
	var p, payload []float64
	d, _ := New(anyScheme(t, randomKey(rng), spec), Options{})
	for k := 0; k < keys; k++ {
		for _, c := range corpora {
			for _, doc := range c {
				d.SetScheme(anyScheme(t, randomKey(rng), spec))
				r := d.Tokens(doc)
				if r.Test != TestPayloadFold {
					continue // a document whose slots all fit the exact test
				}
				p = append(p, r.PValue)
				payload = append(payload, *r.PayloadPValue)
				if *r.PayloadPValue < r.PValue || r.PayloadClaimed && !r.Detected {
					t.Fatalf("payload p %v below the zero-bit p %v", *r.PayloadPValue, r.PValue)
				}
			}
		}
	}
	if len(p) < 100*keys/10 {
		t.Fatalf("only %d fold tests", len(p))
	}
	t.Logf("%s: %d fold tests of 6000-token documents: p≤0.1 %.4f, p≤0.01 %.4f, p≤0.001 %.5f; payload p≤0.01 %.5f",
		spec, len(p), frac(p, 0.1), frac(p, 0.01), frac(p, 0.001), frac(payload, 0.01))
	if ok, why := superUniform(p, 0.5, 0.1, 0.01, 0.001); !ok {
		t.Error(why)
	}
	if ok, why := superUniform(payload, 0.1, 0.01, 0.001); !ok {
		t.Error("payload: " + why)
	}
}

// synthPayloadTally counts n synthetic tuples of a payload scheme whose
// colour equals the embedded symbol of its slot with probability
// 1/radix + eps (slots and folds uniform).
func synthPayloadTally(null watermark.Null, n int, eps float64, symbols []int, rng *rand.Rand) Tally {
	var tl Tally
	r := null.Radix
	q := eps / (1 - 1/float64(r))
	for range n {
		slot := rng.IntN(null.Slots)
		c := rng.IntN(r)
		if rng.Float64() < q {
			c = symbols[slot]
		}
		tl.Add(null, watermark.Observation{Slot: uint8(slot), Colour: uint8(c), Bits: rng.Uint64N(watermark.PayloadFolds)})
	}
	return tl
}

// TestPayloadPowerAtScale compares the zero-bit payload test with and
// without the fold counts on synthetic watermarked tuples whose signal is
// set so that the known-message binomial z is fixed as the number of tuples
// grows. With folds the test is twice the smaller of the Bonferroni bound
// and the fold test: never more than twice the old p-value, and more
// powerful for 64-bit payloads, whose Bonferroni factor 2^64 is large.
func TestPayloadPowerAtScale(t *testing.T) {
	skipCalibrationUnderRace(t)
	reps := 40
	if testing.Short() {
		reps = 20
	}
	for _, c := range []struct {
		spec string
		z    float64
	}{{"kgw:payload_bits=32", 8}, {"kgw:payload_bits=64,radix=2,gamma=0.5", 9}} {
		cfg, _ := watermark.ParseSpec(c.spec)
		null := cfg.Null()
		rng := rand.New(rand.NewPCG(5, 5))
		p := 1 / float64(null.Radix)
		var oldAll, newAll int
		for _, n := range []int{20_000, 200_000, 2_000_000} {
			eps := c.z * math.Sqrt(p*(1-p)/float64(n))
			var oldHits, newHits int
			var oldL, newL []float64
			for range reps {
				sym := make([]int, null.Slots)
				for j := range sym {
					sym[j] = rng.IntN(null.Radix)
				}
				tl := synthPayloadTally(null, n, eps, sym, rng)
				nr := Evaluate(cfg, "k", &tl, 0)
				un := tl.WithoutFolds()
				or := Evaluate(cfg, "k", &un, 0)
				if nr.Test != TestPayloadFold || or.Test != TestPayloadBonferro {
					t.Fatalf("n=%d: tests %s and %s", n, nr.Test, or.Test)
				}
				if nr.Payload != or.Payload {
					t.Fatalf("n=%d: the fold counts change the decoded payload (%s, %s)", n, nr.Payload, or.Payload)
				}
				if nr.Log10P > math.Min(0, or.Log10P+math.Log10(2))+1e-9 {
					t.Errorf("n=%d: log10 p %v with folds, more than twice the old %v", n, nr.Log10P, or.Log10P)
				}
				if nr.Detected {
					newHits++
				}
				if or.Detected {
					oldHits++
				}
				newL, oldL = append(newL, nr.Log10P), append(oldL, or.Log10P)
			}
			oldAll += oldHits
			newAll += newHits
			t.Logf("%s n=%d, known-message z=%v: detected at 1e-6 before %d/%d (median log10 p %.2f), after %d/%d (median %.2f)",
				c.spec, n, c.z, oldHits, reps, median(oldL), newHits, reps, median(newL))
		}
		if c.spec != "kgw:payload_bits=32" && newAll <= oldAll {
			t.Errorf("%s: with folds %d detections, without %d", c.spec, newAll, oldAll)
		}
	}
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	return s[len(s)/2]
}
