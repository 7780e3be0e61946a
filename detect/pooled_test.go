package detect

import (
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/watermark"
)

// TestPooledCountsEachTupleOnce checks the pooled test against a map: over
// documents full of repeats, read back at several points, every distinct
// tuple is counted exactly once, with its own observation.
func TestPooledCountsEachTupleOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	scheme := anyScheme(t, randomKey(rng), watermark.DefaultSpec)
	p, err := NewPooled(scheme, NewDedupKey(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	det, _ := New(scheme, Options{})
	seen := map[watermark.Tuple]bool{}
	var want Tally
	for doc := 0; doc < 400; doc++ {
		ids := make([]uint32, 50+rng.IntN(500))
		for i := range ids {
			ids[i] = uint32(rng.IntN(300)) // a small vocabulary: many repeats
		}
		det.Tokens(ids)
		obs := det.Observations()
		p.Add(obs)
		for _, o := range obs {
			if !seen[o.Tuple] {
				seen[o.Tuple] = true
				want.Add(scheme.Config().Null(), o)
			}
		}
		if doc%97 == 0 || doc == 399 {
			r := p.Result()
			if r.Scored != want.N || r.Tally.Sum != want.Sum || !r.Exact {
				t.Fatalf("after %d documents: %d tuples, sum %v (exact %v); want %d, %v", doc+1, r.Scored, r.Tally.Sum, r.Exact, want.N, want.Sum)
			}
		}
	}
	if want.N < 20000 {
		t.Fatalf("only %d distinct tuples: test too small", want.N)
	}
}

// TestTupleSetBloom checks the exact limit: past it, new tuples go to the
// Bloom filter, none is counted twice, and the set says it is no longer
// exact.
func TestTupleSetBloom(t *testing.T) {
	s := NewTupleSet(NewDedupKey(), 500, 4096)
	counted := map[watermark.Tuple]int{}
	rng := rand.New(rand.NewPCG(1, 1))
	var all []watermark.Tuple
	for i := 0; i < 3000; i++ {
		all = append(all, watermark.Tuple{Seed: rng.Uint64(), Token: uint32(i)})
	}
	for round := 0; round < 3; round++ { // every tuple three times
		for _, tu := range all {
			if s.Add(tu) {
				counted[tu]++
			}
		}
	}
	if s.n != 500 || s.Exact() {
		t.Errorf("exact tuples %d (want 500), Exact() = %v", s.n, s.Exact())
	}
	if len(counted) < 2500 || len(counted) > 3000 {
		t.Errorf("%d of 3000 distinct tuples counted", len(counted))
	}
	for tu, n := range counted {
		if n != 1 {
			t.Fatalf("tuple %v counted %d times", tu, n)
		}
	}
}

// TestTupleSetGrowth adds tuples through many doublings of the exact table
// (1,024 slots to 2^19), each several times, and checks every answer
// against a map.
func TestTupleSetGrowth(t *testing.T) {
	s := NewTupleSet(NewDedupKey(), DefaultPooledExact, DefaultPooledBloom)
	seen := map[watermark.Tuple]bool{}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 600000; i++ {
		tu := watermark.Tuple{Seed: rng.Uint64N(200000), Token: uint32(rng.IntN(2))}
		if got := s.Add(tu); got == seen[tu] {
			t.Fatalf("add %d (%v): new = %v, but the map says seen = %v", i, tu, got, seen[tu])
		}
		seen[tu] = true
	}
	if s.Len() != len(seen) || !s.Exact() || len(s.table) < 1<<19 || s.bloom != nil {
		t.Fatalf("%d tuples held, %d distinct; exact %v; %d slots; Bloom allocated %v", s.Len(), len(seen), s.Exact(), len(s.table), s.bloom != nil)
	}
}

// TestPooledConcurrentAdds adds overlapping documents from several
// goroutines at once (run it with -race): the result must equal a map-based
// count of distinct tuples, for a zero-bit and a payload scheme (whose
// per-slot colour counts come from every shard).
func TestPooledConcurrentAdds(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, spec := range []string{watermark.DefaultSpec, "kgw:payload_bits=16"} {
		scheme := anyScheme(t, randomKey(rng), spec)
		det, _ := New(scheme, Options{})
		var docs [][]watermark.Observation
		seen := map[watermark.Tuple]bool{}
		var want Tally
		for doc := 0; doc < 200; doc++ {
			ids := make([]uint32, 20+rng.IntN(700))
			for i := range ids {
				ids[i] = uint32(rng.IntN(200))
			}
			det.Tokens(ids)
			obs := append([]watermark.Observation(nil), det.Observations()...)
			docs = append(docs, obs)
			for _, o := range obs {
				if !seen[o.Tuple] {
					seen[o.Tuple] = true
					want.Add(scheme.Config().Null(), o)
				}
			}
		}
		p, _ := NewPooled(scheme, NewDedupKey(), Options{})
		done := make(chan bool)
		for w := 0; w < 4; w++ {
			go func() {
				for i := w; i < len(docs); i += 4 {
					p.Add(docs[i])
					p.Add(docs[len(docs)-1-i]) // every document twice, in another order
				}
				done <- true
			}()
		}
		for w := 0; w < 4; w++ {
			<-done
		}
		r := p.Result()
		if r.Scored != want.N || r.Tally.Sum != want.Sum || !r.Exact {
			t.Fatalf("%s: %d tuples, sum %v (exact %v); want %d, %v", spec, r.Scored, r.Tally.Sum, r.Exact, want.N, want.Sum)
		}
		for j := 0; j < 64; j++ {
			for c := 0; c < 16; c++ {
				if r.Tally.Count(j, c) != want.Count(j, c) {
					t.Fatalf("%s: slot %d colour %d: %d, want %d", spec, j, c, r.Tally.Count(j, c), want.Count(j, c))
				}
			}
		}
	}
}

// TestPooledResultWhileAdding reads results again and again while documents
// are being added from several goroutines (run it with -race), for a payload
// scheme, whose per-slot counts must keep growing: every result must be a
// sum of whole documents' new tuples, and the last one must equal a fresh
// test fed the same documents.
func TestPooledResultWhileAdding(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	scheme := anyScheme(t, randomKey(rng), "kgw:payload_bits=16")
	det, _ := New(scheme, Options{})
	var docs [][]watermark.Observation
	for doc := 0; doc < 40; doc++ {
		ids := make([]uint32, 500)
		for i := range ids {
			ids[i] = rng.Uint32N(50000) // few repeats: documents' tuples are almost all new
		}
		det.Tokens(ids)
		docs = append(docs, append([]watermark.Observation(nil), det.Observations()...))
	}
	key := NewDedupKey()
	p, _ := NewPooled(scheme, key, Options{})
	done := make(chan bool)
	for w := 0; w < 4; w++ {
		go func() {
			for i := w; i < len(docs); i += 4 {
				p.Add(docs[i])
				r := p.Result()
				counted := 0
				for j := 0; j < r.Tally.Slots(); j++ {
					for c := 0; c < 16; c++ {
						counted += r.Tally.Count(j, c)
					}
				}
				if counted != r.Scored {
					t.Errorf("a result counts %d tuples in its slots but scored %d", counted, r.Scored)
				}
			}
			done <- true
		}()
	}
	for w := 0; w < 4; w++ {
		<-done
	}
	fresh, _ := NewPooled(scheme, key, Options{})
	for _, d := range docs {
		fresh.Add(d)
	}
	got, want := p.Result(), fresh.Result()
	if got.Scored != want.Scored || got.Log10P != want.Log10P || got.Payload != want.Payload {
		t.Fatalf("after repeated results: scored %d, log10 p %v, payload %s; fresh: %d, %v, %s", got.Scored, got.Log10P, got.Payload, want.Scored, want.Log10P, want.Payload)
	}
}
