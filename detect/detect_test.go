package detect

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

func randomKey(rng *rand.Rand) *watermark.Key {
	var s [watermark.SecretSize]byte
	for i := range s {
		s[i] = byte(rng.Uint32())
	}
	return watermark.NewKey(s, watermark.DefaultKGW(), tokenize.Default, time.Time{})
}

func scheme(t testing.TB, key *watermark.Key, spec string) *watermark.KGW {
	t.Helper()
	c, err := watermark.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := watermark.NewKGW(key, c.(watermark.KGWConfig))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestResultMatchesDirectCount recomputes a result from Green and a set of
// seen (context, token) pairs, independently of AppendObservations.
func TestResultMatchesDirectCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	ids := make([]uint32, 400)
	for i := range ids {
		ids[i] = uint32(rng.IntN(30))
	}
	for _, spec := range []string{"kgw:h=1,seeding=lefthash", "kgw:h=2,seeding=lefthash", "kgw:h=0"} {
		s := scheme(t, randomKey(rng), spec)
		d, _ := New(s, Options{Tokenizer: "test"})
		r := d.Tokens(ids)
		h := s.ContextWidth()
		type key struct {
			ctx string
			tok uint32
		}
		seen := map[key]bool{}
		scored, green := 0, 0
		for i := h; i < len(ids); i++ {
			k := key{string(fmtIDs(ids[i-h : i])), ids[i]}
			if seen[k] {
				continue
			}
			seen[k] = true
			scored++
			if g, _ := s.Green(ids[:i], ids[i]); g {
				green++
			}
		}
		if r.Scored != scored || r.Green != green || r.Duplicates != len(ids)-h-scored || r.Tokens != len(ids) {
			t.Errorf("%s: result %+v, direct count scored=%d green=%d", spec, r, scored, green)
		}
		lnP := stats.LogBinomialTail(green, scored, 0.25)
		if math.Abs(r.Log10P-lnP/math.Ln10) > 1e-12 || r.Scheme != s.Spec() || r.KeyID != s.KeyID() || r.Tokenizer != "test" || r.Alpha != DefaultAlpha || !r.Dedup {
			t.Errorf("%s: result fields %+v", spec, r)
		}
		nd, _ := New(s, Options{NoDedup: true})
		if r2 := nd.Tokens(ids); r2.Scored != len(ids)-h || r2.Duplicates != 0 || r2.Dedup {
			t.Errorf("%s: no-dedup result %+v", spec, r2)
		}
	}
}

func fmtIDs(ids []uint32) []byte {
	b := make([]byte, 0, 4*len(ids))
	for _, x := range ids {
		b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	return b
}

func TestEmptyAndShortInputs(t *testing.T) {
	s := scheme(t, randomKey(rand.New(rand.NewPCG(2, 2))), watermark.DefaultSpec)
	d, _ := New(s, Options{})
	for _, ids := range [][]uint32{nil, {1, 2, 3, 4}} {
		r := d.Tokens(ids)
		if r.Detected || r.PValue != 1 || r.Log10P != 0 || r.Scored != 0 || r.Z != 0 {
			t.Errorf("%v: %+v", ids, r)
		}
	}
	if _, err := New(s, Options{Alpha: 2}); err == nil {
		t.Error("alpha 2 accepted")
	}
}

// generate samples n tokens from a synthetic model whose next-token
// candidates and logits are pseudo-random (about 4 nats of entropy), with
// the watermark when s is non-nil.
func generate(s watermark.Scheme, n int, rng *rand.Rand) []uint32 {
	ids := make([]uint32, 40)
	logits := make([]float32, 40)
	out := []uint32{11, 22, 33, 44}
	for len(out) < n {
		for i := range ids {
			ids[i] = uint32(rng.IntN(200000))
			logits[i] = float32(rng.NormFloat64())
		}
		var tok uint32
		if s != nil {
			tok, _ = s.SampleLogits(out, ids, logits, rng)
		} else {
			tok, _ = watermark.SampleLogitsUnmarked(ids, logits, rng)
		}
		out = append(out, tok)
	}
	return out
}

func TestEmbeddedWatermarkIsDetectedOnlyWithItsKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, spec := range []string{watermark.DefaultSpec, "kgw:h=1,seeding=lefthash", "kgw:gamma=0.5,delta=1,h=4,seeding=lefthash"} {
		key, other := randomKey(rng), randomKey(rng)
		s := scheme(t, key, spec)
		text := generate(s, 200, rng)
		d, _ := New(s, Options{})
		r := d.Tokens(text)
		if !r.Detected {
			t.Errorf("%s: 200 watermarked tokens not detected: %+v", spec, r)
		}
		wrong, _ := New(scheme(t, other, spec), Options{})
		if r := wrong.Tokens(text); r.Detected || r.PValue < 1e-3 {
			t.Errorf("%s: detected with the wrong key: %+v", spec, r)
		}
		if r := d.Tokens(generate(nil, 200, rng)); r.Detected || r.PValue < 1e-3 {
			t.Errorf("%s: unwatermarked text detected: %+v", spec, r)
		}
	}
}

func TestDetectorAllocatesNothingInSteadyState(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	s := scheme(t, randomKey(rng), watermark.DefaultSpec)
	d, _ := New(s, Options{})
	text := generate(s, 1000, rng)
	d.Tokens(text)
	if a := testing.AllocsPerRun(20, func() { d.Tokens(text) }); a != 0 {
		t.Errorf("Detector.Tokens: %v allocations per call", a)
	}
}

func TestLog10PStaysFiniteForHugeEvidence(t *testing.T) {
	// 10^6 distinct tuples, all green: p = 0.25^(10^6), far below 1e-300.
	lnP := stats.LogBinomialTail(1000000, 1000000, 0.25)
	r := Result{Log10P: stats.Log10(lnP), PValue: math.Exp(lnP)}
	if math.IsInf(r.Log10P, 0) || math.Abs(r.Log10P+602059.9913279624) > 1e-6 || r.PValue != 0 {
		t.Errorf("log10 p = %v, p = %v", r.Log10P, r.PValue)
	}
}

func TestTokensToDetection(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	s := scheme(t, randomKey(rng), watermark.DefaultSpec)
	d, _ := New(s, Options{})
	text := generate(s, 300, rng)
	n := d.TokensToDetection(text)
	if n < 0 || n > len(text) {
		t.Fatalf("TokensToDetection = %d", n)
	}
	// The prefix of that length is detected and the one a token shorter is not.
	if r := d.Tokens(text[:n]); !r.Detected {
		t.Errorf("prefix of %d tokens not detected: %+v", n, r)
	}
	if r := d.Tokens(text[:n-1]); r.Detected {
		t.Errorf("prefix of %d tokens already detected", n-1)
	}
	if got := d.TokensToDetection(generate(nil, 300, rng)); got != -1 {
		t.Errorf("unwatermarked text detected after %d tokens", got)
	}
}

// TestDedupAcrossDocumentLengths scores documents of very different lengths
// with one Detector, whose dedup table grows for the long ones and is used
// in part for the short ones: each result must equal a fresh Detector's,
// and its count must equal the distinct tuples counted with a map.
func TestDedupAcrossDocumentLengths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, spec := range []string{watermark.DefaultSpec, "kgw:h=1,seeding=lefthash"} {
		s := scheme(t, randomKey(rng), spec)
		d, _ := New(s, Options{})
		for _, n := range []int{5000, 50, 1500, 3, 40000, 700, 0, 2100, 9} {
			ids := make([]uint32, n)
			for i := range ids {
				ids[i] = uint32(rng.IntN(40)) // small alphabet: many repeats
			}
			fresh, _ := New(s, Options{})
			got, want := d.Tokens(ids), fresh.Tokens(ids)
			if got.Scored != want.Scored || got.Green != want.Green || got.Log10P != want.Log10P {
				t.Fatalf("%s, %d tokens: reused detector %+v, fresh %+v", spec, n, got, want)
			}
			distinct := map[watermark.Tuple]bool{}
			for _, o := range s.AppendObservations(nil, ids) {
				distinct[o.Tuple] = true
			}
			if got.Scored != len(distinct) || got.Duplicates != max(0, n-s.ContextWidth())-len(distinct) {
				t.Fatalf("%s, %d tokens: scored %d, duplicates %d; %d distinct tuples", spec, n, got.Scored, got.Duplicates, len(distinct))
			}
		}
	}
}
