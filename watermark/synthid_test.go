package watermark

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tracemark/tracemark/detect/stats"
)

func mustSynthID(t testing.TB, keys []int64, spec string) *SynthID {
	t.Helper()
	cfg, err := ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSynthIDFromList("test", keys, cfg.(SynthIDConfig))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomKeyList(rng *rand.Rand, n int) []int64 {
	k := make([]int64, n)
	for i := range k {
		k[i] = int64(rng.Uint64())
	}
	return k
}

// TestSynthIDNullFromTable: the null's P is the table's fraction of ones,
// computed for any table and equal to the reference's count for the
// recorded ones.
func TestSynthIDNullFromTable(t *testing.T) {
	v := loadSynthIDVectors(t)
	for _, tb := range v.Tables {
		cfg := DefaultSynthID()
		cfg.TableSize, cfg.TableSeed = tb.Size, tb.Seed
		if p := cfg.Null().P; p != float64(tb.Ones)/float64(tb.Size) {
			t.Errorf("table %d/%d: P = %v, want %d/%d", tb.Seed, tb.Size, p, tb.Ones, tb.Size)
		}
	}
	if p := DefaultSynthID().Null().P; p != 32743.0/65536 {
		t.Errorf("default P = %v", p)
	}
}

// TestSynthIDLowBitsShareGValues: with a power-of-two table, n-gram hashes
// equal modulo the table size have equal g-values under every key, and
// AppendObservations gives them one tuple; DeepMind's g-values depend on
// the whole hash.
func TestSynthIDLowBitsShareGValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := mustSynthID(t, randomKeyList(rng, 30), "synthid")
	dm := mustSynthID(t, randomKeyList(rng, 30), "synthid:impl=deepmind")
	differ := 0
	for i := 0; i < 200; i++ {
		u := rng.Uint64()
		w := u + rng.Uint64()<<16
		if tr.gvalues(u) != tr.gvalues(w) || tr.tuple(u) != tr.tuple(w) {
			t.Fatalf("hashes %x and %x agree in 16 low bits but differ in g-values or tuple", u, w)
		}
		if dm.gvalues(u) != dm.gvalues(w) {
			differ++
		}
		if dm.tuple(u) == dm.tuple(w) && u != w {
			t.Fatal("deepmind tuples merge distinct hashes")
		}
	}
	if differ < 190 {
		t.Errorf("deepmind g-values equal for %d of 200 hash pairs", 200-differ)
	}
	odd := mustSynthID(t, randomKeyList(rng, 4), "synthid:table_size=1000,depth=4")
	if u := uint64(12345); odd.tuple(u) == odd.tuple(u+1000<<20) {
		t.Error("a table of 1000 entries merges distinct hashes")
	}
}

// TestSynthIDGValuesUnderTheNull: on random tokens under a random key list,
// every layer's g-values are 1 with probability P.
func TestSynthIDGValuesUnderTheNull(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tokens := make([]uint32, 20000)
	for i := range tokens {
		tokens[i] = uint32(rng.IntN(200000))
	}
	for _, spec := range []string{"synthid", "synthid:impl=deepmind", "synthid:table_size=100,table_seed=9,depth=12"} {
		cfg, _ := ParseSpec(spec)
		sc := cfg.(SynthIDConfig)
		s := mustSynthID(t, randomKeyList(rng, sc.Depth), spec)
		p := sc.Null().P
		layer := make([]int, sc.Depth)
		obs := s.AppendObservations(nil, tokens)
		for _, o := range obs {
			if o.Bits>>sc.Depth != 0 || float64(bits.OnesCount64(o.Bits)) != o.Score {
				t.Fatalf("%s: g-values outside the layers", spec)
			}
			for l := range layer {
				layer[l] += int(o.Bits >> l & 1)
			}
		}
		for l, c := range layer {
			if !stats.BinomialCountPlausible(c, len(obs), p, 1e-5) {
				t.Errorf("%s layer %d: %d ones of %d, P %v", spec, l, c, len(obs), p)
			}
		}
	}
}

// TestSynthIDHistoryWindow: a context is repeated only within the last
// History contexts, and hash 0 counts as seen while initial zeros remain.
func TestSynthIDHistoryWindow(t *testing.T) {
	h := NewSynthIDHistory(SynthIDConfig{History: 3})
	for i, c := range []struct {
		hash uint64
		seen bool
	}{{7, false}, {8, false}, {7, true}, {9, false}, {10, false}, {7, true}, {0, false}, {9, false}, {9, true}} {
		if got := h.Seen(c.hash); got != c.seen {
			t.Errorf("step %d hash %d: seen %v, want %v", i, c.hash, got, c.seen)
		}
	}
	h.Reset()
	if !h.Seen(0) {
		t.Error("hash 0 not seen among the initial zeros")
	}
}

// TestSynthIDBindsKeys: SynthID takes an engine key of depth words, as its
// key list; a 32-byte key or a list of the wrong length is an error.
func TestSynthIDBindsKeys(t *testing.T) {
	if _, err := NewSynthIDFromList("x", []int64{1, 2}, DefaultSynthID()); err == nil {
		t.Error("2 keys accepted for depth 30")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	if _, err := NewSynthID(randomTestKey(rng), DefaultSynthID()); !errors.Is(err, ErrSecretKey) {
		t.Errorf("32-byte key: %v", err)
	}
	ref := SynthIDReferenceKeys()
	words := make([]uint64, len(ref))
	for i, k := range ref {
		words[i] = uint64(k)
	}
	key := NewEngineKey(words, DefaultSynthID(), DefaultTokenizer, time.Time{})
	s, err := NewSynthID(key, DefaultSynthID())
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != EngineKeyID(words) || s.keys[29] != 960 {
		t.Errorf("bound to %s, keys %v", s.KeyID(), s.keys[:30])
	}
	short := DefaultSynthID()
	short.Depth = 29
	if _, err := NewSynthID(key, short); err == nil || !strings.Contains(err.Error(), "30 words, the scheme needs 29") {
		t.Errorf("30 words for depth 29: %v", err)
	}
	neg := NewEngineKey([]uint64{uint64(1<<64 - 5)}, nil, DefaultTokenizer, time.Time{})
	one := DefaultSynthID()
	one.Depth = 1
	a, _ := NewSynthID(neg, one)
	b, _ := NewSynthIDFromList("x", []int64{-5}, one)
	if g1, _ := a.GValues([]uint32{1, 2, 3, 4}, 5); g1 != func() uint64 { g, _ := b.GValues([]uint32{1, 2, 3, 4}, 5); return g }() {
		t.Error("a word is not the key's two's complement")
	}
}

func BenchmarkSynthIDTable(b *testing.B) {
	for i := 0; i < b.N; i++ {
		newSynthIDTable(1<<16, uint32(i))
	}
}

// ExampleNewSynthIDFromList computes g-values under the reference's public
// keys (transformers' computation gives the same bits, layer 30 first) and
// the number of positions SynthID's mean detector scores.
func ExampleNewSynthIDFromList() {
	s, err := NewSynthIDFromList("reference", SynthIDReferenceKeys(), DefaultSynthID())
	if err != nil {
		panic(err)
	}
	g, _ := s.GValues([]uint32{10, 20, 30, 40}, 50)
	r := s.ReferenceScore([]uint32{10, 20, 30, 40, 50, 60, 70})
	fmt.Println(s.Spec())
	fmt.Printf("g-values %030b, scored %d\n", g, r.Scored)
	// Output:
	// synthid:ngram_len=5,depth=30,impl=transformers,table_size=65536,table_seed=0,history=1024
	// g-values 011000000101000010010000101000, scored 3
}

// TestSynthIDTablesShared: schemes of one table configuration share one
// sampling table whatever their keys, other configurations get their own,
// and a shared table equals a freshly drawn one.
func TestSynthIDTablesShared(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	a := mustScheme(t, randomTestKey(rng), "synthid:table_size=4096,table_seed=7").(*SynthID)
	b := mustScheme(t, randomTestKey(rng), "synthid:table_size=4096,table_seed=7").(*SynthID)
	c := mustScheme(t, randomTestKey(rng), "synthid:table_size=4096,table_seed=8").(*SynthID)
	if a.table != b.table || a.table == c.table {
		t.Fatalf("tables: %p %p %p", a.table, b.table, c.table)
	}
	fresh := newSynthIDTable(4096, 8)
	if c.table.ones != fresh.ones || !slices.Equal(c.table.bits, fresh.bits) {
		t.Error("the shared table differs from a fresh one")
	}
}
