package detect

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/watermark"
)

// TestCombineTieRule: two keys whose results tie (the same key listed twice,
// and keys whose adjusted p-values are all capped at 1) name the key listed
// first, and the best key is the one with the smallest raw p-value even
// when Holm ties the adjusted values.
func TestCombineTieRule(t *testing.T) {
	mk := func(id string, log10p float64, payload string) Result {
		r := Result{KeyID: id, Log10P: log10p, Scheme: "kgw"}
		r.Payload = payload
		return r
	}
	// Equal raw p: the first listed wins, in either order.
	c := Combine([]Result{mk("a", -3, "1"), mk("b", -3, "2")}, 0.01)
	if c.KeyID != "a" || c.Payload != "1" || c.Best != 0 {
		t.Errorf("equal p: best %s payload %s, want a 1", c.KeyID, c.Payload)
	}
	c = Combine([]Result{mk("b", -3, "2"), mk("a", -3, "1")}, 0.01)
	if c.KeyID != "b" || c.Best != 0 {
		t.Errorf("equal p, swapped: best %s, want b", c.KeyID)
	}
	// Holm caps both adjusted values at 1 (log10 0): the smaller raw p wins.
	c = Combine([]Result{mk("a", -0.1, "1"), mk("b", -0.2, "2"), mk("c", -0.15, "3")}, 0.01)
	if c.PerKey[0].AdjustedLog10 != 0 || c.PerKey[1].AdjustedLog10 != 0 {
		t.Fatalf("adjusted values not capped: %+v", c.PerKey)
	}
	if c.KeyID != "b" || c.Payload != "2" || c.RawLog10P != -0.2 || c.Log10P != 0 {
		t.Errorf("capped tie: best %s payload %s raw %v adj %v, want b 2 -0.2 0", c.KeyID, c.Payload, c.RawLog10P, c.Log10P)
	}
	// Holm's running maximum ties a smaller raw p with a larger one.
	c = Combine([]Result{mk("a", -2.9, "1"), mk("b", -3, "2")}, 1e-3)
	if c.PerKey[0].AdjustedLog10 != c.PerKey[1].AdjustedLog10 {
		t.Fatalf("running maximum did not tie: %+v", c.PerKey)
	}
	if c.KeyID != "b" {
		t.Errorf("running-max tie: best %s, want b (smaller raw p)", c.KeyID)
	}
}

// TestMultiAgreesWithCombine: the multi-key detector is Combine over the
// single-key detectors, on a text under the same key listed twice (an
// exact tie) and under two keys.
func TestMultiAgreesWithCombine(t *testing.T) {
	rng := rand.New(rand.NewPCG(77, 1))
	k1, k2 := randomKey(rng), randomKey(rng)
	s1 := anyScheme(t, k1, "kgw:payload_bits=16")
	s1p, _ := s1.(watermark.Payloader).WithPayload(0xBEEF)
	s2 := anyScheme(t, k2, "kgw:payload_bits=16")
	text := generate(s1p, 300, rng)
	for _, set := range [][]watermark.Scheme{{s1p, s1p}, {s2, s1p}, {s1p, s2}} {
		m, _ := NewMulti(set, Options{})
		got := m.Tokens(text)
		var rs []Result
		for _, s := range set {
			d, _ := New(s, Options{})
			rs = append(rs, d.Tokens(text))
		}
		want := Combine(rs, 0)
		if got.KeyID != want.KeyID || got.Payload != want.Payload || got.Log10P != want.Log10P || got.Best != want.Best {
			t.Errorf("Multi %s/%s/%v vs Combine %s/%s/%v", got.KeyID, got.Payload, got.Log10P, want.KeyID, want.Payload, want.Log10P)
		}
		if got.Payload != "beef" {
			t.Errorf("payload %s, want beef", got.Payload)
		}
	}
}

// TestTokensToDetectionAppliesExclusions: an excluded n-gram set that
// removes every position makes the text undetectable by prefix as well as
// as a whole.
func TestTokensToDetectionAppliesExclusions(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := scheme(t, randomKey(rng), watermark.DefaultSpec)
	text := generate(s, 300, rng)
	ex := NewNgramSet(s.ContextWidth()+1, NewDedupKey())
	ex.AddText(text[:200]) // the first 200 tokens' n-grams are excluded
	d, _ := New(s, Options{Exclude: ex})
	plain, _ := New(s, Options{})
	n := d.TokensToDetection(text)
	if n >= 0 && n <= 200 {
		t.Fatalf("detected after %d tokens although the first 200 are excluded", n)
	}
	if n < 0 {
		t.Fatalf("the last 100 watermarked tokens were not detected")
	}
	if r := d.Tokens(text[:n]); !r.Detected {
		t.Errorf("prefix of %d tokens not detected with exclusions: %+v", n, r)
	}
	if r := d.Tokens(text[:n-1]); r.Detected {
		t.Errorf("prefix of %d tokens already detected with exclusions", n-1)
	}
	if m := plain.TokensToDetection(text); m >= n {
		t.Errorf("without exclusions detected after %d tokens, with them %d", m, n)
	}
}

// TestTallyJSONRoundTrip: a payload tally survives JSON, and the 64×16
// zero-padded counts earlier versions wrote read back to the same result.
func TestTallyJSONRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	s := anyScheme(t, randomKey(rng), "kgw:payload_bits=12,radix=8")
	d, _ := New(s, Options{})
	text := generate(s, 400, rng)
	want := d.Tokens(text)
	var tl Tally
	for _, o := range d.Observations() {
		tl.Add(s.Config().Null(), o)
	}
	b, err := json.Marshal(tl)
	if err != nil {
		t.Fatal(err)
	}
	var back Tally
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got := Evaluate(s.Config(), s.KeyID(), &back, 0)
	if got.Log10P != want.Log10P || got.Payload != want.Payload || got.Scored != want.Scored {
		t.Errorf("after JSON: %v %s %d, want %v %s %d", got.Log10P, got.Payload, got.Scored, want.Log10P, want.Payload, want.Scored)
	}
	// The old layout: 64 rows of 16 colours.
	old := struct {
		N      int     `json:"n"`
		Sum    float64 `json:"sum"`
		Counts [][]int `json:"counts"`
	}{N: tl.N}
	for j := 0; j < 64; j++ {
		row := make([]int, 16)
		for c := range row {
			row[c] = tl.Count(j, c)
		}
		old.Counts = append(old.Counts, row)
	}
	b, _ = json.Marshal(old)
	var fromOld Tally
	if err := json.Unmarshal(b, &fromOld); err != nil {
		t.Fatal(err)
	}
	if r := Evaluate(s.Config(), s.KeyID(), &fromOld, 0); r.Log10P != want.Log10P || r.Payload != want.Payload {
		t.Errorf("old layout: %v %s, want %v %s", r.Log10P, r.Payload, want.Log10P, want.Payload)
	}
	for _, bad := range []string{`{"n":1,"counts":[[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]]}`, `{"n":1,"counts":[[-1]]}`, `{"n":"x"}`} {
		if err := json.Unmarshal([]byte(bad), &fromOld); err == nil {
			t.Errorf("bad tally %s accepted", bad)
		}
	}
}

// TestTallyCloneIsIndependent: adding to a clone leaves the original alone.
func TestTallyCloneIsIndependent(t *testing.T) {
	null := watermark.Null{Kind: watermark.PayloadNull, Radix: 4, Slots: 2}
	var a Tally
	a.Add(null, watermark.Observation{Slot: 1, Colour: 3})
	b := a.Clone()
	b.Add(null, watermark.Observation{Slot: 1, Colour: 3})
	if a.Count(1, 3) != 1 || b.Count(1, 3) != 2 || a.N != 1 || b.N != 2 {
		t.Errorf("clone shares counts: a %d/%d b %d/%d", a.Count(1, 3), a.N, b.Count(1, 3), b.N)
	}
}

// TestTooShortMeansNoEvidenceCouldDetect: a result is too short exactly
// when even the strongest possible observations (every token green, every
// g-value 1, every payload token in one slot and colour) would not be
// detected.
func TestTooShortMeansNoEvidenceCouldDetect(t *testing.T) {
	for _, spec := range []string{watermark.DefaultSpec, "tournament:m=30", "kgw:payload_bits=16", "kgw:payload_bits=8,radix=16"} {
		cfg, _ := watermark.ParseSpec(spec)
		null := cfg.Null()
		sawShort, sawLong := false, false
		for n := 0; n <= 40; n++ {
			var tl Tally
			for i := 0; i < n; i++ {
				tl.Add(null, watermark.Observation{Score: float64(max(1, null.Trials)), Bits: ^uint64(0)})
			}
			r := Evaluate(cfg, "k", &tl, 0)
			if r.TooShort == r.Detected {
				t.Errorf("%s, %d strongest observations: too short %v, detected %v (log10 p %v)", spec, n, r.TooShort, r.Detected, r.Log10P)
			}
			sawShort = sawShort || r.TooShort
			sawLong = sawLong || !r.TooShort
		}
		if !sawShort || !sawLong {
			t.Errorf("%s: never too short or always", spec)
		}
	}
	var tl Tally
	if r := Evaluate(watermark.GumbelConfig{H: 4}, "k", &tl, 0); !r.TooShort {
		t.Error("gumbel with nothing scored is not too short")
	}
	tl.Add(watermark.Null{Kind: watermark.GammaNull}, watermark.Observation{Score: 40})
	if r := Evaluate(watermark.GumbelConfig{H: 4}, "k", &tl, 0); r.TooShort || !r.Detected {
		t.Errorf("gumbel with one huge score: too short %v detected %v", r.TooShort, r.Detected)
	}
}
