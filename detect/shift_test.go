package detect

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tracemark/tracemark/internal/templated"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// shiftSpecs are the schemes whose pooled z is checked for a shift.
var shiftSpecs = []string{watermark.DefaultSpec, "kgw:gamma=0.25,delta=2,h=2,seeding=lefthash", "gumbel:h=4", "tournament:m=30,h=4"}

// shiftCorpora tokenizes n documents of each templated kind (n/5 of the
// long kinds, logs and Go source).
func shiftCorpora(t testing.TB, n int) map[string][][]uint32 {
	tok, err := tokenize.Get(tokenize.Default)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]uint32{}
	for _, kind := range templated.Kinds() {
		m := n
		if kind == templated.Logs || kind == templated.GoSource {
			m = max(1, n/5)
		}
		texts, err := templated.Corpus(kind, m, 11)
		if err != nil {
			t.Skip(err)
		}
		for _, s := range texts {
			ids, err := tok.AppendEncode(nil, s)
			if err != nil {
				t.Fatal(err)
			}
			out[kind] = append(out[kind], ids)
		}
	}
	return out
}

// pooledZ returns the pooled test's z over docs under keys fresh random
// keys (and fresh dedup keys), computed on all cores.
func pooledZ(t testing.TB, docs [][]uint32, spec string, keys int, seed uint64) []float64 {
	z := make([]float64, keys)
	workers := 2
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var d *Detector
			for k := w; k < keys; k += workers {
				rng := rand.New(rand.NewPCG(seed, uint64(k)))
				s := anyScheme(t, randomKey(rng), spec)
				if d == nil {
					d, _ = New(s, Options{})
				} else {
					d.SetScheme(s)
				}
				p, err := NewPooled(s, DedupKey{rng.Uint64(), rng.Uint64()}, Options{})
				if err != nil {
					t.Error(err)
					return
				}
				for _, doc := range docs {
					d.Tokens(doc)
					p.Add(d.Observations())
				}
				z[k] = p.Result().Z
			}
		}(w)
	}
	wg.Wait()
	return z
}

// TestPooledNullMeanOnTemplatedText: under random keys the pooled z of
// human templated text has mean 0 and variance 1 in theory (each distinct
// tuple counted once, colours independent of which tuples there are). A
// dependence between the keyed values and repeated structure would shift
// the mean; the test fails when the mean is further than 4.5 standard
// errors from 0 or the variance is off. TRACEMARK_SHIFT_KEYS sets the keys
// per (corpus, scheme) (default 400, 100 with -short), TRACEMARK_SHIFT_DOCS
// the documents (default 300, 60 with -short) and TRACEMARK_SHIFT_KINDS a
// comma-separated list of kinds (default all).
func TestPooledNullMeanOnTemplatedText(t *testing.T) {
	skipCalibrationUnderRace(t)
	keys, docs := 160, 300
	switch {
	case fullCalibration():
		keys = 400
	case testing.Short():
		keys, docs = 100, 60
	}
	if v, err := strconv.Atoi(os.Getenv("TRACEMARK_SHIFT_KEYS")); err == nil && v > 1 {
		keys = v
	}
	if v, err := strconv.Atoi(os.Getenv("TRACEMARK_SHIFT_DOCS")); err == nil && v > 0 {
		docs = v
	}
	kinds := templated.Kinds()
	if v := os.Getenv("TRACEMARK_SHIFT_KINDS"); v != "" {
		kinds = strings.Split(v, ",")
	}
	corpora := shiftCorpora(t, docs)
	for si, spec := range shiftSpecs {
		for _, kind := range kinds {
			ki := slices.Index(templated.Kinds(), kind)
			if ki < 0 {
				t.Fatalf("unknown kind %q", kind)
			}
			z := pooledZ(t, corpora[kind], spec, keys, uint64(1000*si+ki))
			var m, v float64
			for _, x := range z {
				m += x
			}
			m /= float64(len(z))
			for _, x := range z {
				v += (x - m) * (x - m)
			}
			v /= float64(len(z) - 1)
			se := math.Sqrt(v / float64(len(z)))
			tokens := 0
			for _, d := range corpora[kind] {
				tokens += len(d)
			}
			t.Logf("%s, %s (%d documents, %d tokens): %d keys, mean z %+.4f ± %.4f (%.1f se), variance %.4f",
				spec, kind, len(corpora[kind]), tokens, len(z), m, se, m/se, v)
			if math.Abs(m) > 4.5*se {
				t.Errorf("%s, %s: mean pooled z %+.4f is %.1f standard errors from 0", spec, kind, m, m/se)
			}
			// Var of the sample variance of n normals is 2/(n-1).
			if math.Abs(v-1) > 4.5*math.Sqrt(2/float64(len(z)-1))+0.05 {
				t.Errorf("%s, %s: variance of pooled z %.4f", spec, kind, v)
			}
		}
	}
}
