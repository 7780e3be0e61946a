package bpe

// The piece cache maps recent pieces of 2 to cachedLen bytes to their tokens,
// in two two-way set-associative tables: pieces of up to 8 bytes (most words
// with their space) in 32-byte entries, two to a 64-byte cache line, and
// longer ones in 56-byte entries; 480 KiB in all, so that it stays in a
// core's L2 cache beside the vocabulary's hot part. Words follow Zipf's law:
// most pieces of a text are among a few thousand frequent ones, and a hit
// costs a few loads and one comparison instead of the merges' probes of the
// vocabulary and merge tables. Two ways per set (the most recently stored
// first) keep two frequent pieces whose hashes collide from evicting each
// other, which a direct-mapped table did for about half of its misses on
// English prose. A one-byte piece is its byte's token and is not cached.
const (
	cachedLen = 24
	shortLen  = 8
	shortBits = 12 // sets of short pieces
	longBits  = 11 // sets of long pieces
)

type pieceCache struct {
	short [1 << shortBits][2]shortEntry
	long  [1 << longBits][2]longEntry
}

// shortEntry holds a piece of 2 to 8 bytes (key: its bytes, see shortKey)
// and its tokens; n == 0 marks an empty entry.
type shortEntry struct {
	key    uint64
	len, n uint8
	ids    [5]uint32
}

// longEntry holds a piece of 9 to cachedLen bytes (overlapping loads of its
// bytes, with its length: they determine it) and its tokens.
type longEntry struct {
	k0, k1, k2 uint64
	len, n     uint8
	ids        [6]uint32
}

func shortKey(s string) uint64 {
	if n := len(s); n >= 4 {
		return uint64(load32(s)) | uint64(load32(s[n-4:]))<<32
	}
	return uint64(s[0]) | uint64(s[len(s)/2])<<8 | uint64(s[len(s)-1])<<16
}

func longKey(s string) (uint64, uint64, uint64) {
	n := len(s)
	if n >= 16 {
		return load64(s), load64(s[8:]), load64(s[n-8:])
	}
	return load64(s), load64(s[n-8:]), 0
}

func mix(k uint64, n int) uint64 {
	return (k ^ uint64(n)) * 0x9e3779b97f4a7c15
}

// pieceCache returns s's cache, allocating it on first use.
func (s *Scratch) pieceCache() *pieceCache {
	if s.cache == nil {
		s.cache = new(pieceCache)
	}
	return s.cache
}

// appendCached appends the cached tokens of piece (2 to cachedLen bytes) to
// dst, and reports whether there were any.
func (c *pieceCache) appendCached(dst []uint32, piece string) ([]uint32, bool) {
	n := len(piece)
	if n <= shortLen {
		k := shortKey(piece)
		set := &c.short[mix(k, n)>>(64-shortBits)]
		for w := range set {
			if e := &set[w]; e.key == k && int(e.len) == n {
				if e.n == 1 {
					return append(dst, e.ids[0]), true
				}
				return append(dst, e.ids[:e.n]...), true
			}
		}
		return dst, false
	}
	k0, k1, k2 := longKey(piece)
	set := &c.long[mix(k0^k1*0xbf58476d1ce4e5b9^k2*0xd6e8feb86659fd93, n)>>(64-longBits)]
	for w := range set {
		if e := &set[w]; e.k0 == k0 && e.k1 == k1 && e.k2 == k2 && int(e.len) == n {
			return append(dst, e.ids[:e.n]...), true
		}
	}
	return dst, false
}

// store records the tokens of piece (2 to cachedLen bytes) as the first
// entry of its set, moving the first to second place. Pieces with more
// tokens than an entry holds are not stored.
func (c *pieceCache) store(piece string, ids []uint32) {
	n := len(piece)
	if n <= shortLen {
		k := shortKey(piece)
		set := &c.short[mix(k, n)>>(64-shortBits)]
		if len(ids) > len(set[0].ids) {
			return
		}
		set[1] = set[0]
		set[0] = shortEntry{key: k, len: uint8(n), n: uint8(len(ids))}
		copy(set[0].ids[:], ids)
		return
	}
	k0, k1, k2 := longKey(piece)
	set := &c.long[mix(k0^k1*0xbf58476d1ce4e5b9^k2*0xd6e8feb86659fd93, n)>>(64-longBits)]
	if len(ids) > len(set[0].ids) {
		return
	}
	set[1] = set[0]
	set[0] = longEntry{k0: k0, k1: k1, k2: k2, len: uint8(n), n: uint8(len(ids))}
	copy(set[0].ids[:], ids)
}
