package bpe

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPieceCacheReturnsWhatWasStored stores random pieces of every cached
// length with token lists of every length an entry may hold (IDs small and
// above 28 bits), many more than the cache holds, and checks that every hit
// gives exactly the tokens last stored for that piece, that a piece just
// stored hits, and that pieces the cache cannot hold are never reported.
// Pieces drawn from a small alphabet share prefixes, suffixes and lengths,
// so keys of different pieces collide in their sets.
func TestPieceCacheReturnsWhatWasStored(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := new(pieceCache)
	want := map[string][]uint32{}
	hits := 0
	for i := range 400_000 {
		n := 2 + rng.IntN(cachedLen-1)
		b := make([]byte, n)
		for k := range b {
			b[k] = "ab\x00\xff"[rng.IntN(4)]
		}
		piece := string(b)
		if got, ok := c.appendCached([]uint32{7}, piece); ok {
			hits++
			if w, stored := want[piece]; !stored || !slices.Equal(got[1:], w) || got[0] != 7 {
				t.Fatalf("piece %q: cached %v, last stored %v (stored: %v)", piece, got[1:], w, stored)
			}
			continue
		}
		ids := make([]uint32, 1+rng.IntN(7))
		if n > 24 {
			ids = make([]uint32, 1+rng.IntN(32))
		}
		for k := range ids {
			ids[k] = rng.Uint32N(1 << 20)
			if rng.IntN(50) == 0 {
				ids[k] = idMask + rng.Uint32N(1<<30)
			}
		}
		c.store(piece, ids)
		got, ok := c.appendCached(nil, piece)
		fits := len(ids) <= len(longEntry{}.ids) || n > 24 && len(ids) <= len(xlEntry{}.ids)
		if fits != ok || ok && !slices.Equal(got, ids) {
			t.Fatalf("step %d: piece %q stored %v, then cached %v (%v)", i, piece, ids, got, ok)
		}
		if ok {
			want[piece] = ids
		}
	}
	if hits == 0 {
		t.Fatal("no hits")
	}
}

// TestSmallKeyIsPaddedBytes checks that smallKey of every piece of 1 to 8
// bytes is its bytes, little-endian and zero-padded, as AppendEncodePieces
// reads them from the text (load64 masked by lowBytes).
func TestSmallKeyIsPaddedBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 10000 {
		b := make([]byte, 16)
		for k := range b {
			b[k] = byte(rng.IntN(256))
		}
		text := string(b)
		for n := 1; n <= 8; n++ {
			want := uint64(0)
			for i := range n {
				want |= uint64(text[i]) << (8 * i)
			}
			if got := smallKey(text[:n]); got != want {
				t.Fatalf("smallKey(%q) = %#x, want %#x", text[:n], got, want)
			}
			if got := load64(text) & lowBytes(n); got != want {
				t.Fatalf("load64 & lowBytes(%d) of %q = %#x, want %#x", n, text, got, want)
			}
		}
	}
}
