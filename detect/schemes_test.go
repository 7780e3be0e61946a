package detect

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/watermark"
)

func anyScheme(t testing.TB, key *watermark.Key, spec string) watermark.Scheme {
	t.Helper()
	c, err := watermark.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	if ec, ok := c.(watermark.EngineConfig); ok && !key.IsEngine() {
		key = engineStandIn(key, ec)
	}
	s, err := watermark.NewScheme(key, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// engineStandIn returns an engine key of the words an engine scheme needs,
// drawn from a generator seeded by key's public ID: random when key is, so
// that tests drawing random keys cover engine schemes too.
func engineStandIn(key *watermark.Key, c watermark.EngineConfig) *watermark.Key {
	id, _ := strconv.ParseUint(key.ID(), 16, 64)
	rng := rand.New(rand.NewPCG(id, 0x5eed))
	words := make([]uint64, c.EngineKeyWords())
	for i := range words {
		words[i] = rng.Uint64()
	}
	return watermark.NewEngineKey(words, c, key.Tokenizer, key.Created)
}

// nullPValues scores docs under a fresh random key per (document,
// replicate) and returns the p-values (randomized where the test is
// discrete and randomizable) and the payload p-values, if any.
func nullPValues(t *testing.T, docs [][]uint32, spec string, reps int, seed uint64) (p, payload []float64) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for r := 0; r < reps; r++ {
		for _, doc := range docs {
			d, _ := New(anyScheme(t, randomKey(rng), spec), Options{})
			res := d.Tokens(doc)
			switch res.Test {
			case TestBinomial:
				n := res.Scored * d.eval.null.Trials
				p = append(p, stats.RandomizedBinomialP(int(res.Score), n, d.eval.null.P, rng.Float64()))
			default:
				p = append(p, res.PValue)
			}
			if res.PayloadPValue != nil {
				payload = append(payload, *res.PayloadPValue)
			}
		}
	}
	return p, payload
}

// superUniform reports whether the empirical CDF of p stays below the
// uniform one at the given levels, within binomial sampling error.
func superUniform(p []float64, levels ...float64) (bool, string) {
	for _, a := range levels {
		below := 0
		for _, x := range p {
			if x <= a {
				below++
			}
		}
		if math.Exp(stats.LogBinomialTail(below, len(p), a)) < 1e-3 {
			return false, "too many p-values below " + stats.FormatLevel(a)
		}
	}
	return true, ""
}

func TestNullCalibrationOtherSchemes(t *testing.T) {
	skipCalibrationUnderRace(t)
	reps := 24
	switch {
	case fullCalibration():
		reps = 40
	case testing.Short():
		reps = 10
	}
	corpora := map[string][][]uint32{"Opticks": opticksDocs(t), "Go source": goSourceDocs(t, 600)}
	for name, docs := range corpora {
		for i, spec := range []string{"gumbel:h=4", "tournament:m=30,h=4", "kgw:payload_bits=32", "kgw:h=1,seeding=lefthash,payload_bits=16,radix=2,gamma=0.5", "synthid", "synthid:impl=deepmind"} {
			p, payload := nullPValues(t, docs, spec, reps, uint64(500+10*i))
			switch spec[0] {
			case 'k': // payload: exact but discrete, so conservative
				ok, why := superUniform(p, 0.5, 0.1, 0.01, 0.001)
				okP, whyP := superUniform(payload, 0.5, 0.1, 0.01, 0.001)
				t.Logf("%s, %s: %d tests, zero-bit p < 0.01: %.4f, payload p < 0.01: %.4f", name, spec, len(p), frac(p, 0.01), frac(payload, 0.01))
				if !ok || !okP {
					t.Errorf("%s, %s: %s %s", name, spec, why, whyP)
				}
			default: // continuous or randomized: uniform
				d, ksP := stats.KSUniform(p)
				t.Logf("%s, %s: %d tests, KS D=%.4f p=%.3f, p < 0.01: %.4f", name, spec, len(p), d, ksP, frac(p, 0.01))
				if ksP < 1e-3 {
					t.Errorf("%s, %s: p-values not uniform (KS p=%.3g)", name, spec, ksP)
				}
			}
		}
	}
}

func frac(p []float64, a float64) float64 {
	n := 0
	for _, x := range p {
		if x < a {
			n++
		}
	}
	return float64(n) / float64(len(p))
}

func TestOtherSchemesDetectTheirOwnText(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	for _, spec := range []string{"gumbel:h=4", "tournament:m=30,h=4", "kgw:payload_bits=32", "synthid", "synthid:impl=deepmind"} {
		key, other := randomKey(rng), randomKey(rng)
		s := anyScheme(t, key, spec)
		if k, ok := s.(*watermark.KGW); ok {
			s, _ = k.WithPayload(0xC0FFEE)
		}
		text := generate(s, 400, rng)
		d, _ := New(s, Options{})
		r := d.Tokens(text)
		if !r.Detected {
			t.Errorf("%s: 400 watermarked tokens not detected: %+v", spec, r)
		}
		if r.PayloadPValue != nil && (r.Payload != "c0ffee" || !r.PayloadClaimed) {
			t.Errorf("%s: payload %s claimed=%v (p=%v), want c0ffee", spec, r.Payload, r.PayloadClaimed, *r.PayloadPValue)
		}
		wrong, _ := New(anyScheme(t, other, spec), Options{})
		if r := wrong.Tokens(text); r.Detected || r.PValue < 1e-3 || r.PayloadClaimed {
			t.Errorf("%s: detected with the wrong key: %+v", spec, r)
		}
	}
}

func TestHolmAdjust(t *testing.T) {
	// p = 0.01, 0.04, 0.03, 0.5 → sorted 0.01, 0.03, 0.04, 0.5; adjusted
	// 4·0.01 = 0.04, max(0.04, 3·0.03) = 0.09, max(0.09, 2·0.04) = 0.09, 0.5.
	in := []float64{0.01, 0.04, 0.03, 0.5}
	want := []float64{0.04, 0.09, 0.09, 0.5}
	ln := make([]float64, len(in))
	for i, p := range in {
		ln[i] = math.Log(p)
	}
	for i, a := range HolmAdjust(ln) {
		if math.Abs(math.Exp(a)-want[i]) > 1e-12 {
			t.Errorf("adjusted p[%d] = %v, want %v", i, math.Exp(a), want[i])
		}
	}
	// Far below float64: still finite and exact in log space.
	if a := HolmAdjust([]float64{-2000, 0}); math.Abs(a[0]-(math.Log(2)-2000)) > 1e-9 {
		t.Errorf("log-space adjustment: %v", a)
	}
}

func TestMultiKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 41))
	keys := []*watermark.Key{randomKey(rng), randomKey(rng), randomKey(rng)}
	var schemes []watermark.Scheme
	for _, k := range keys {
		schemes = append(schemes, anyScheme(t, k, watermark.DefaultSpec))
	}
	m, err := NewMulti(schemes, Options{})
	if err != nil {
		t.Fatal(err)
	}
	text := generate(schemes[1], 300, rng)
	r := m.Tokens(text)
	if !r.Detected || len(r.MatchedKeys) != 1 || r.MatchedKeys[0] != keys[1].ID() || r.KeyID != keys[1].ID() || r.KeysTested != 3 {
		t.Errorf("multi-key result: %+v", r)
	}
	if math.Abs(r.Log10P-(r.RawLog10P+math.Log10(3))) > 1e-9 {
		t.Errorf("best key's Holm-adjusted log10 p %v, raw %v: want raw + log10 3", r.Log10P, r.RawLog10P)
	}
	if r := m.Tokens(generate(nil, 300, rng)); r.Detected || len(r.MatchedKeys) != 0 {
		t.Errorf("unwatermarked text matched %v", r.MatchedKeys)
	}
	if _, err := NewMulti([]watermark.Scheme(nil), Options{}); err == nil {
		t.Error("no keys accepted")
	}
}

func TestPayloadDetectorAllocations(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 51))
	s := anyScheme(t, randomKey(rng), watermark.DefaultSpec)
	text := generate(s, 1000, rng)
	for _, spec := range []string{"gumbel:h=4", "tournament:m=30,h=4"} {
		d, _ := New(anyScheme(t, randomKey(rng), spec), Options{})
		d.Tokens(text)
		if a := testing.AllocsPerRun(10, func() { d.Tokens(text) }); a != 0 {
			t.Errorf("%s: %v allocations per text", spec, a)
		}
	}
}

// TestSetSchemeMatchesNewDetector checks that a detector switched to
// another scheme and key gives exactly what a new detector gives, across
// scheme kinds (the payload null's cached distributions must not leak), and
// that switching allocates nothing.
func TestSetSchemeMatchesNewDetector(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	doc := make([]uint32, 300)
	for i := range doc {
		doc[i] = uint32(rng.IntN(500))
	}
	specs := []string{watermark.DefaultSpec, "kgw:payload_bits=16", "gumbel:h=2", "kgw:payload_bits=8,radix=2", "tournament:m=5,h=2", watermark.DefaultSpec}
	reused, _ := New(anyScheme(t, randomKey(rng), specs[0]), Options{})
	for i, spec := range specs {
		s := anyScheme(t, randomKey(rng), spec)
		if err := reused.SetScheme(s); err != nil {
			t.Fatal(err)
		}
		fresh, _ := New(s, Options{})
		got, want := reused.Tokens(doc), fresh.Tokens(doc)
		if got.Log10P != want.Log10P || got.Scored != want.Scored || got.Scheme != want.Scheme || got.KeyID != want.KeyID {
			t.Errorf("%d %s: reused detector log10 p %v (%d scored), new one %v (%d)", i, spec, got.Log10P, got.Scored, want.Log10P, want.Scored)
		}
	}
	a, b := anyScheme(t, randomKey(rng), watermark.DefaultSpec), anyScheme(t, randomKey(rng), watermark.DefaultSpec)
	if n := testing.AllocsPerRun(100, func() {
		reused.SetScheme(a)
		reused.Tokens(doc)
		reused.SetScheme(b)
		reused.Tokens(doc)
	}); n != 0 {
		t.Errorf("SetScheme + Tokens allocates %v times", n)
	}
	ex := NewNgramSet(3, NewDedupKey())
	d, _ := New(anyScheme(t, randomKey(rng), "kgw:h=2"), Options{Exclude: ex})
	if err := d.SetScheme(a); err == nil {
		t.Error("SetScheme accepted a scheme whose context width does not fit the excluded n-grams")
	}
}
