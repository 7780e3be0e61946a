package generate

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// toyModel is a dense model whose next-token logits depend on the last
// token; as toyTopK it also offers the TopK entry point.
type toyModel struct {
	vocab int
	table [][]float32
}

func newToyModel(vocab int, seed uint64) *toyModel {
	rng := rand.New(rand.NewPCG(seed, seed))
	m := &toyModel{vocab: vocab, table: make([][]float32, vocab)}
	for i := range m.table {
		m.table[i] = make([]float32, vocab)
		for j := range m.table[i] {
			m.table[i][j] = float32(rng.NormFloat64() * 1.5)
		}
	}
	return m
}

func (m *toyModel) VocabSize() int { return m.vocab }

func (m *toyModel) Logits(ctx []uint32, logits []float32) {
	last := 0
	if len(ctx) > 0 {
		last = int(ctx[len(ctx)-1]) % m.vocab
	}
	copy(logits, m.table[last])
}

type toyTopK struct{ *toyModel }

func (m toyTopK) TopK(ctx []uint32, k int, ids []uint32, logProbs []float32) int {
	logits := make([]float32, m.vocab)
	m.Logits(ctx, logits)
	order := make([]uint32, m.vocab)
	for i := range order {
		order[i] = uint32(i)
	}
	slices.SortStableFunc(order, func(a, b uint32) int {
		switch {
		case logits[a] > logits[b]:
			return -1
		case logits[a] < logits[b]:
			return 1
		}
		return 0
	})
	k = min(k, len(ids), m.vocab)
	for i := 0; i < k; i++ {
		ids[i], logProbs[i] = order[i], logits[order[i]]
	}
	return k
}

func testScheme(t testing.TB, spec string) *watermark.KGW {
	t.Helper()
	var secret [watermark.SecretSize]byte
	secret[0] = 42
	c, err := watermark.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	key := watermark.NewKey(secret, c, tokenize.Default, time.Time{})
	s, err := watermark.NewKGW(key, c.(watermark.KGWConfig))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expected returns the distribution the pipeline must sample from: the
// tempered model distribution truncated by top-k, top-p and min-p, then
// reweighted by e^{δ·green}.
func expected(m *toyModel, ctx []uint32, set Settings, s *watermark.KGW) map[uint32]float64 {
	logits := make([]float32, m.vocab)
	m.Logits(ctx, logits)
	type tp struct {
		t uint32
		l float64
	}
	var c []tp
	for i, l := range logits {
		c = append(c, tp{uint32(i), float64(l) / set.Temperature})
	}
	slices.SortStableFunc(c, func(a, b tp) int {
		switch {
		case a.l > b.l:
			return -1
		case a.l < b.l:
			return 1
		}
		return int(a.t) - int(b.t)
	})
	if set.TopK > 0 {
		c = c[:set.TopK]
	}
	z := 0.0
	for _, x := range c {
		z += math.Exp(x.l - c[0].l)
	}
	keep, acc := len(c), 0.0
	for i, x := range c {
		p := math.Exp(x.l-c[0].l) / z
		if math.Exp(x.l-c[0].l) < set.MinP {
			keep = i
			break
		}
		acc += p
		if set.TopP < 1 && acc >= set.TopP {
			keep = i + 1
			break
		}
	}
	c = c[:max(keep, 1)]
	out := map[uint32]float64{}
	total := 0.0
	for _, x := range c {
		w := math.Exp(x.l - c[0].l)
		if s != nil {
			if g, ok := s.Green(ctx, x.t); ok && g {
				w *= math.Exp(s.Params().Delta)
			}
		}
		out[x.t] = w
		total += w
	}
	for t := range out {
		out[t] /= total
	}
	return out
}

func TestPipelineSamplesTheTruncatedWatermarkedDistribution(t *testing.T) {
	m := newToyModel(60, 1)
	s := testScheme(t, "kgw:gamma=0.5,delta=2,h=1,seeding=lefthash")
	rng := rand.New(rand.NewPCG(2, 3))
	ctx := []uint32{7}
	const draws = 60000
	for _, set := range []Settings{
		{Temperature: 1, TopK: 10, TopP: 1},
		{Temperature: 0.7, TopK: 20, TopP: 0.8},
		{Temperature: 1.3, TopK: 0, TopP: 0.9, MinP: 0.05},
		{Temperature: 1, TopK: 0, TopP: 1},
	} {
		for _, model := range []Model{m, toyTopK{m}} {
			for _, mark := range []*watermark.KGW{s, nil} {
				var wm Watermark
				if mark != nil {
					wm = mark
				}
				sampler, err := NewSampler(model, wm, set)
				if err != nil {
					t.Fatal(err)
				}
				want := expected(m, ctx, set, mark)
				counts := map[uint32]int{}
				for i := 0; i < draws; i++ {
					tok, err := sampler.Next(ctx, rng)
					if err != nil {
						t.Fatal(err)
					}
					if want[tok] == 0 {
						t.Fatalf("%+v: sampled token %d outside the truncated set", set, tok)
					}
					counts[tok]++
				}
				x, df := 0.0, -1
				for tok, p := range want {
					e := p * draws
					x += (float64(counts[tok]) - e) * (float64(counts[tok]) - e) / e
					df++
				}
				if df > 0 {
					if p := stats.ChiSquareSurvival(x, df); p < 1e-4 {
						t.Errorf("%+v, %T, marked=%v: chi-square p = %.3g", set, model, mark != nil, p)
					}
				}
			}
		}
	}
}

func TestGreedy(t *testing.T) {
	m := newToyModel(50, 4)
	s := testScheme(t, "kgw:gamma=0.5,delta=2,h=1,seeding=lefthash")
	ctx := []uint32{3}
	logits := make([]float32, 50)
	m.Logits(ctx, logits)
	best, bestMarked := 0, 0
	score := func(i int) float64 {
		v := float64(logits[i])
		if g, _ := s.Green(ctx, uint32(i)); g {
			v += 2
		}
		return v
	}
	for i := range logits {
		if logits[i] > logits[best] {
			best = i
		}
		if score(i) > score(bestMarked) {
			bestMarked = i
		}
	}
	for _, model := range []Model{m, toyTopK{m}} {
		plain, _ := NewSampler(model, nil, Settings{Temperature: 0, TopK: 0, TopP: 1})
		marked, _ := NewSampler(model, s, Settings{Temperature: 0, TopK: 0, TopP: 1})
		if tok, _ := plain.Next(ctx, nil); int(tok) != best {
			t.Errorf("greedy = %d, want %d", tok, best)
		}
		if tok, _ := marked.Next(ctx, nil); int(tok) != bestMarked {
			t.Errorf("marked greedy = %d, want %d", tok, bestMarked)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	for _, bad := range []Settings{
		{Temperature: -1, TopP: 1}, {Temperature: math.NaN(), TopP: 1}, {Temperature: 1, TopK: -1, TopP: 1},
		{Temperature: 1, TopP: 0}, {Temperature: 1, TopP: 1.5}, {Temperature: 1, TopP: 1, MinP: 1},
	} {
		if _, err := NewSampler(newToyModel(5, 1), nil, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := DefaultSettings().Validate(); err != nil {
		t.Error(err)
	}
}

type deadModel struct{}

func (deadModel) VocabSize() int { return 4 }
func (deadModel) Logits(_ []uint32, l []float32) {
	for i := range l {
		l[i] = float32(math.Inf(-1))
	}
}

func TestNoFiniteLogits(t *testing.T) {
	s, _ := NewSampler(deadModel{}, nil, DefaultSettings())
	if _, err := s.Next(nil, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, ErrNoToken) {
		t.Errorf("err = %v", err)
	}
}

func TestSameSeedSameOutput(t *testing.T) {
	m := newToyModel(80, 5)
	s := testScheme(t, watermark.DefaultSpec)
	sampler, _ := NewSampler(toyTopK{m}, s, DefaultSettings())
	a, _ := sampler.Generate(context.Background(), []uint32{1, 2, 3, 4}, 100, rand.New(rand.NewPCG(9, 9)))
	b, _ := sampler.Generate(context.Background(), []uint32{1, 2, 3, 4}, 100, rand.New(rand.NewPCG(9, 9)))
	c, _ := sampler.Generate(context.Background(), []uint32{1, 2, 3, 4}, 100, rand.New(rand.NewPCG(9, 10)))
	if !slices.Equal(a, b) || len(a) != 100 {
		t.Error("same seed, different output")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, same output")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sampler.Generate(ctx, nil, 10, rand.New(rand.NewPCG(1, 1))); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestSelectTop(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(300)
		xs := make([]uint32, n)
		for i := range xs {
			xs[i] = uint32(rng.IntN(50))
		}
		k := 1 + rng.IntN(n)
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		selectTop(xs, k, func(a, b uint32) int { return int(a) - int(b) })
		top := slices.Clone(xs[:k])
		slices.Sort(top)
		if !slices.Equal(top, sorted[:k]) {
			t.Fatalf("n=%d k=%d: selected %v, want %v", n, k, top, sorted[:k])
		}
	}
}

func TestDeterministicSchemesSkipRepeatedContexts(t *testing.T) {
	m := newToyModel(40, 8)
	var secret [watermark.SecretSize]byte
	key := watermark.NewKey(secret, watermark.DefaultGumbel(), tokenize.Default, time.Time{})
	g, _ := watermark.NewGumbel(key, watermark.DefaultGumbel())
	s, _ := NewSampler(m, g, Settings{Temperature: 1, TopK: 0, TopP: 1})
	ctx := []uint32{1, 2, 3, 4}
	first, _ := s.Next(ctx, rand.New(rand.NewPCG(1, 1)))
	seen := map[uint32]bool{}
	for i := 0; i < 200; i++ {
		// A repeated context is sampled unmarked: it varies with the seed.
		tok, _ := s.Next(ctx, rand.New(rand.NewPCG(uint64(i), 2)))
		seen[tok] = true
	}
	if len(seen) < 3 {
		t.Errorf("repeated context still deterministic: %v", seen)
	}
	for i := 0; i < 20; i++ {
		s.Reset() // a new generation marks it again: the same keyed choice
		if tok, _ := s.Next(ctx, rand.New(rand.NewPCG(uint64(i), 3))); tok != first {
			t.Fatalf("after Reset: %d, want %d", tok, first)
		}
	}
	greedy, _ := NewSampler(m, g, Settings{Temperature: 0, TopK: 5, TopP: 1})
	if _, err := greedy.Next(ctx, nil); !errors.Is(err, watermark.ErrGreedyUnmarkable) {
		t.Errorf("greedy with a distortion-free scheme: %v", err)
	}
}
