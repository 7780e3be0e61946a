package ngram

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// smallCorpus returns documents over a small vocabulary with a skewed,
// context-dependent distribution, so that every order has repeats.
func smallCorpus(vocab, docs, length int, seed uint64) [][]uint32 {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([][]uint32, docs)
	for d := range out {
		doc := []uint32{0}
		for len(doc) < length {
			prev := doc[len(doc)-1]
			var t uint32
			if rng.Float64() < 0.6 {
				t = (prev*7 + uint32(rng.IntN(3))) % uint32(vocab)
			} else {
				t = uint32(math.Min(float64(vocab-1), math.Floor(rng.ExpFloat64()*3)))
			}
			doc = append(doc, t)
		}
		out[d] = doc
	}
	return out
}

// referenceKN is an independent, map-based interpolated modified
// Kneser–Ney model written from the textbook definitions.
type referenceKN struct {
	vocab  int
	counts [Order + 1]map[string]float64 // order n: key = n tokens
	disc   [Order + 1][3]float64
}

func key(ts ...uint32) string {
	b := make([]byte, 0, 4*len(ts))
	for _, t := range ts {
		b = append(b, byte(t), byte(t>>8), byte(t>>16), byte(t>>24))
	}
	return string(b)
}

func unkey(k string) []uint32 {
	ts := make([]uint32, len(k)/4)
	for i := range ts {
		ts[i] = uint32(k[4*i]) | uint32(k[4*i+1])<<8 | uint32(k[4*i+2])<<16 | uint32(k[4*i+3])<<24
	}
	return ts
}

func newReferenceKN(docs [][]uint32, vocab int) *referenceKN {
	r := &referenceKN{vocab: vocab}
	for n := range r.counts {
		r.counts[n] = map[string]float64{}
	}
	for _, doc := range docs {
		for i := Order - 1; i < len(doc); i++ {
			r.counts[Order][key(doc[i-Order+1:i+1]...)]++
		}
	}
	// Continuation counts: the number of distinct one-token left extensions.
	for n := Order - 1; n >= 1; n-- {
		for k := range r.counts[n+1] {
			r.counts[n][key(unkey(k)[1:]...)]++
		}
	}
	for n := 1; n <= Order; n++ {
		var cc [5]float64
		for _, c := range r.counts[n] {
			if c <= 4 {
				cc[int(c)]++
			}
		}
		y := cc[1] / (cc[1] + 2*cc[2])
		r.disc[n] = [3]float64{1 - 2*y*cc[2]/cc[1], 2 - 3*y*cc[3]/cc[2], 3 - 4*y*cc[4]/cc[3]}
	}
	return r
}

func (r *referenceKN) d(n int, c float64) float64 {
	switch {
	case c == 0:
		return 0
	case c == 1:
		return r.disc[n][0]
	case c == 2:
		return r.disc[n][1]
	}
	return r.disc[n][2]
}

// prob computes P(w | h) for a context h of n-1 tokens at order n.
func (r *referenceKN) prob(h []uint32, w uint32) float64 {
	n := len(h) + 1
	if n == 1 {
		total, removed := 0.0, 0.0
		for _, c := range r.counts[1] {
			total += c
			removed += r.d(1, c)
		}
		c := r.counts[1][key(w)]
		return (math.Max(c-r.d(1, c), 0) + removed/float64(r.vocab)) / total
	}
	lower := r.prob(h[1:], w)
	total, removed := 0.0, 0.0
	for k, c := range r.counts[n] {
		if ts := unkey(k); slices.Equal(ts[:n-1], h) {
			total += c
			removed += r.d(n, c)
		}
	}
	if total == 0 {
		return lower
	}
	c := r.counts[n][key(append(slices.Clone(h), w)...)]
	return (math.Max(c-r.d(n, c), 0) + removed*lower) / total
}

func TestMatchesReferenceKneserNey(t *testing.T) {
	const vocab = 24
	docs := smallCorpus(vocab, 3, 1500, 1)
	m, err := Train(context.Background(), docs, vocab)
	if err != nil {
		t.Fatal(err)
	}
	ref := newReferenceKN(docs, vocab)
	rng := rand.New(rand.NewPCG(2, 2))
	for trial := 0; trial < 60; trial++ {
		var ctx []uint32
		if trial%2 == 0 { // a context from the text: seen at every order
			d := docs[rng.IntN(len(docs))]
			i := rng.IntN(len(d) - Order)
			ctx = d[i : i+Order-1]
		} else {
			for j := 0; j < Order-1; j++ {
				ctx = append(ctx, uint32(rng.IntN(vocab)))
			}
		}
		for w := uint32(0); w < vocab; w++ {
			got, want := m.LogProb(ctx, w), math.Log(ref.prob(ctx, w))
			if math.Abs(got-want) > 1e-9 {
				t.Fatalf("ctx %v w %d: ln P = %v, reference %v", ctx, w, got, want)
			}
		}
	}
}

func builtinForTest(t testing.TB) *Model {
	t.Helper()
	m, _, err := Builtin(context.Background(), CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testContexts returns contexts seen at all orders, partly seen, unseen,
// short and empty.
func testContexts() [][]uint32 {
	return [][]uint32{
		{976, 6286, 382}, {290, 1869}, {13}, {}, {199997, 199996, 5}, {3, 3, 3}, {11, 290, 2237, 328},
	}
}

func TestDistributionsSumToOneAndAgree(t *testing.T) {
	m := builtinForTest(t)
	s := m.NewSession()
	logits := make([]float32, m.VocabSize())
	ids := make([]uint32, 50)
	lps := make([]float32, 50)
	for _, ctx := range testContexts() {
		s.Logits(ctx, logits)
		sum := 0.0
		for _, l := range logits {
			sum += math.Exp(float64(l))
		}
		if math.Abs(sum-1) > 1e-4 {
			t.Errorf("ctx %v: probabilities sum to %v", ctx, sum)
		}
		// TopK is the top of the dense distribution, with equal values.
		n := s.TopK(ctx, len(ids), ids, lps)
		order := make([]uint32, len(logits))
		for i := range order {
			order[i] = uint32(i)
		}
		slices.SortStableFunc(order, func(a, b uint32) int {
			pa, pb := m.LogProb(ctx, a), m.LogProb(ctx, b)
			switch {
			case pa > pb:
				return -1
			case pa < pb:
				return 1
			}
			return 0
		})
		for i := 0; i < n; i++ {
			if ids[i] != order[i] {
				t.Fatalf("ctx %v: TopK[%d] = %d, dense order has %d", ctx, i, ids[i], order[i])
			}
			if math.Abs(float64(lps[i])-float64(logits[ids[i]])) > 1e-5 || math.Abs(float64(lps[i])-m.LogProb(ctx, ids[i])) > 1e-5 {
				t.Fatalf("ctx %v: TopK log-prob %v, Logits %v, LogProb %v", ctx, lps[i], logits[ids[i]], m.LogProb(ctx, ids[i]))
			}
		}
	}
}

func TestSessionAllocatesNothing(t *testing.T) {
	m := builtinForTest(t)
	s := m.NewSession()
	ids, lps := make([]uint32, 40), make([]float32, 40)
	logits := make([]float32, m.VocabSize())
	ctx := []uint32{976, 6286, 382}
	s.TopK(ctx, 40, ids, lps)
	if a := testing.AllocsPerRun(20, func() { s.TopK(ctx, 40, ids, lps) }); a != 0 {
		t.Errorf("TopK: %v allocations", a)
	}
	if a := testing.AllocsPerRun(5, func() { s.Logits(ctx, logits) }); a != 0 {
		t.Errorf("Logits: %v allocations", a)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	docs := smallCorpus(50, 2, 3000, 3)
	m, err := Train(context.Background(), docs, 50)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	got, err := Load(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, ctx := range [][]uint32{{1, 7, 49}, {0}, {}} {
		for w := uint32(0); w < 50; w++ {
			if a, b := m.LogProb(ctx, w), got.LogProb(ctx, w); a != b {
				t.Fatalf("round trip changed ln P(%d|%v): %v -> %v", w, ctx, a, b)
			}
		}
	}
	// Truncated and corrupted files are rejected with ErrBadModel, never a panic.
	for _, bad := range [][]byte{nil, data[:len(data)/2], append([]byte("junk"), data...), bytes.Repeat([]byte{0x28}, 100)} {
		if _, err := Load(bytes.NewReader(bad)); err == nil {
			t.Errorf("accepted a bad file of %d bytes", len(bad))
		}
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	if _, err := Train(context.Background(), [][]uint32{{1, 2, 30}}, 10); err == nil {
		t.Error("token outside the vocabulary accepted")
	}
	if _, err := Train(context.Background(), nil, 0); err == nil {
		t.Error("vocabulary 0 accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, smallCorpus(10, 1, 100, 1), 10); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled training: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	m, _ := Train(context.Background(), smallCorpus(12, 1, 400, 4), 12)
	var buf bytes.Buffer
	m.Save(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever loads must answer queries without panicking.
		s := m.NewSession()
		ids, lps := make([]uint32, 5), make([]float32, 5)
		s.TopK([]uint32{1, 2, 3}, 5, ids, lps)
		m.LogProb([]uint32{0, 0, 0}, 1)
	})
}
