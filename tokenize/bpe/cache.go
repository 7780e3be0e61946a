package bpe

// The piece cache maps recent pieces of 1 to cachedLen bytes to their
// tokens. Words follow Zipf's law: most pieces of a text are among a few
// thousand frequent ones, and a hit costs a few loads and one comparison
// instead of the merges' probes of the vocabulary and merge tables, each
// likely a miss of the processor's caches. It has three four-way
// set-associative tables, each set one to four 64-byte cache lines, and a
// two-way one for long pieces, 624 KiB in all, of which a text touches only
// the sets its pieces fall in, so that it stays in a core's L2 cache beside
// the vocabulary's hot part:
//
//   - small: pieces of 1 to 8 bytes (most words with their space) of one or
//     two tokens, in 16-byte entries: the piece's bytes as one word, and
//     its length, token count and two 28-bit IDs packed in another;
//   - mid: pieces of 9 to 16 bytes, or shorter ones of three or four
//     tokens, in 32-byte entries (two words of bytes, four 28-bit IDs);
//   - long: the others of up to 24 bytes (up to six tokens, any IDs), in
//     64-byte entries;
//   - xl: pieces of 25 to cachedLen bytes (runs of spaces or dashes in
//     tables) of up to 30 tokens, in 192-byte entries, two ways.
//
// Four ways per set keep up to four frequent pieces whose hashes collide
// from evicting each other: on Opticks (6,841 distinct pieces under
// Qwen's pattern) the misses per pass fell from about 2,500 with the
// former two-way tables (8,192 + 4,096 entries) to about 250. A store puts
// the piece first in its set and drops the last; a hit in the small and
// mid tables moves the piece to the front of its set, so that a set's
// most frequent piece is found in its first way and the processor
// predicts the way loop's branches (this made the hit path about a fifth
// faster on Opticks). A piece with more tokens
// than an entry holds is not cached. AppendEncode answers a one-byte piece
// from its byte's token; AppendEncodePieces caches it too, so that its
// loop has one path for every piece of up to 8 bytes.
const (
	cachedLen = 64
	smallBits = 12 // sets of the small table
	midBits   = 11
	longBits  = 8
	xlBits    = 7
	ways      = 4
	idBits    = 28 // IDs packed in small and mid entries
	idMask    = 1<<idBits - 1
)

type pieceCache struct {
	small [1 << smallBits][ways]smallEntry
	mid   [1 << midBits][ways]midEntry
	long  [1 << longBits][ways]longEntry
	xl    [1 << xlBits][2]xlEntry
}

// smallEntry holds a piece of 1 to 8 bytes (key: its bytes, see smallKey)
// and meta: its length (bits 0-3), token count (bits 4-5: 1 or 2) and
// tokens (bits 6-33 and 34-61). meta == 0 marks an empty entry.
type smallEntry struct {
	key, meta uint64
}

// midEntry holds a piece of 2 to 16 bytes (k0, k1: see midKey), and meta:
// its length (bits 0-4), token count (bits 5-7: 1 to 4), the first two
// tokens (bits 8-35, 36-63); ids holds the third and fourth (bits 0-27,
// 28-55).
type midEntry struct {
	k0, k1, meta, ids uint64
}

// appendIDs appends e's tokens to dst.
func (e *midEntry) appendIDs(dst []uint32) []uint32 {
	m := e.meta
	switch m >> 5 & 7 {
	case 1:
		return append(dst, uint32(m>>8)&idMask)
	case 2:
		return append(dst, uint32(m>>8)&idMask, uint32(m>>36)&idMask)
	case 3:
		return append(dst, uint32(m>>8)&idMask, uint32(m>>36)&idMask, uint32(e.ids)&idMask)
	}
	return append(dst, uint32(m>>8)&idMask, uint32(m>>36)&idMask, uint32(e.ids)&idMask, uint32(e.ids>>28)&idMask)
}

// longEntry holds a piece of 2 to cachedLen bytes (overlapping loads of its
// bytes, with its length: they determine it) and its tokens.
type longEntry struct {
	k0, k1, k2 uint64
	len, n     uint8
	ids        [6]uint32
	_          [6]byte
}

// xlEntry holds a piece of 25 to cachedLen bytes and its tokens.
type xlEntry struct {
	text   [cachedLen]byte
	len, n uint8
	ids    [30]uint32
	_      [4]byte // to 192 bytes
}

// smallKey returns the bytes of a piece of 1 to 8 bytes as a little-endian
// word, zero above them: with the length, it determines the piece. Where
// eight bytes from the piece's start can be read,
// load64(text) & lowBytes(n) gives the same.
func smallKey(s string) uint64 {
	n := len(s)
	if n >= 4 {
		return uint64(load32(s)) | uint64(load32(s[n-4:])>>(64-8*n))<<32
	}
	k := uint64(0)
	for i := range n {
		k |= uint64(s[i]) << (8 * i)
	}
	return k
}

// lowBytes returns the mask of the low n bytes of a word, 1 <= n <= 8.
func lowBytes(n int) uint64 { return ^uint64(0) >> (64 - 8*n) }

// midKey determines a piece of 1 to 16 bytes, given its length.
func midKey(s string) (uint64, uint64) {
	if n := len(s); n >= 8 {
		return load64(s), load64(s[n-8:])
	}
	return smallKey(s), 0
}

// longKey determines a piece of 2 to cachedLen bytes, given its length.
func longKey(s string) (uint64, uint64, uint64) {
	n := len(s)
	switch {
	case n >= 16:
		return load64(s), load64(s[8:]), load64(s[n-8:])
	case n >= 8:
		return load64(s), load64(s[n-8:]), 0
	}
	return smallKey(s), 0, 0
}

func mix(k uint64, n int) uint64 {
	return (k ^ uint64(n)) * 0x9e3779b97f4a7c15
}

func mix2(k0, k1 uint64, n int) uint64 {
	return mix(k0^k1*0xbf58476d1ce4e5b9, n)
}

func mix3(k0, k1, k2 uint64, n int) uint64 {
	return mix(k0^k1*0xbf58476d1ce4e5b9^k2*0xd6e8feb86659fd93, n)
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
	if n <= 8 {
		k := smallKey(piece)
		set := &c.small[mix(k, n)>>(64-smallBits)]
		for w := range set {
			if e := set[w]; e.key == k && e.meta&15 == uint64(n) {
				set[w], set[0] = set[0], e
				if e.meta&(3<<4) == 1<<4 {
					return append(dst, uint32(e.meta>>6)&idMask), true
				}
				return append(dst, uint32(e.meta>>6)&idMask, uint32(e.meta>>34)&idMask), true
			}
		}
	}
	if n <= 16 {
		k0, k1 := midKey(piece)
		set := &c.mid[mix2(k0, k1, n)>>(64-midBits)]
		for w := range set {
			if e := set[w]; e.k0 == k0 && e.k1 == k1 && e.meta&31 == uint64(n) {
				set[w], set[0] = set[0], e
				return e.appendIDs(dst), true
			}
		}
	}
	if n <= 24 {
		k0, k1, k2 := longKey(piece)
		set := &c.long[mix3(k0, k1, k2, n)>>(64-longBits)]
		for w := range set {
			if e := &set[w]; e.k0 == k0 && e.k1 == k1 && e.k2 == k2 && int(e.len) == n {
				return append(dst, e.ids[:e.n]...), true
			}
		}
		return dst, false
	}
	set := &c.xl[hashString(piece)>>(64-xlBits)]
	for w := range set {
		if e := &set[w]; int(e.len) == n && string(e.text[:n]) == piece {
			return append(dst, e.ids[:e.n]...), true
		}
	}
	return dst, false
}

// store records the tokens of piece (2 to cachedLen bytes) as the first
// entry of its set in the first table whose entries hold them, moving the
// others down and dropping the last. Pieces with more tokens than a long
// entry holds are not stored.
func (c *pieceCache) store(piece string, ids []uint32) {
	n := len(piece)
	small := true
	for _, id := range ids {
		if id > idMask {
			small = false
		}
	}
	switch {
	case small && n <= 8 && len(ids) <= 2:
		k := smallKey(piece)
		set := &c.small[mix(k, n)>>(64-smallBits)]
		copy(set[1:], set[:ways-1])
		meta := uint64(n) | uint64(len(ids))<<4 | uint64(ids[0])<<6
		if len(ids) == 2 {
			meta |= uint64(ids[1]) << 34
		}
		set[0] = smallEntry{key: k, meta: meta}
	case small && n <= 16 && len(ids) <= 4:
		k0, k1 := midKey(piece)
		set := &c.mid[mix2(k0, k1, n)>>(64-midBits)]
		copy(set[1:], set[:ways-1])
		var id [4]uint64
		for i, x := range ids {
			id[i] = uint64(x)
		}
		set[0] = midEntry{k0: k0, k1: k1,
			meta: uint64(n) | uint64(len(ids))<<5 | id[0]<<8 | id[1]<<36,
			ids:  id[2] | id[3]<<28}
	case n > 24:
		if len(ids) > len(xlEntry{}.ids) {
			return
		}
		set := &c.xl[hashString(piece)>>(64-xlBits)]
		set[1] = set[0]
		set[0] = xlEntry{len: uint8(n), n: uint8(len(ids))}
		copy(set[0].text[:], piece)
		copy(set[0].ids[:], ids)
	case len(ids) <= len(longEntry{}.ids):
		k0, k1, k2 := longKey(piece)
		set := &c.long[mix3(k0, k1, k2, n)>>(64-longBits)]
		copy(set[1:], set[:ways-1])
		set[0] = longEntry{k0: k0, k1: k1, k2: k2, len: uint8(n), n: uint8(len(ids))}
		copy(set[0].ids[:], ids)
	}
}
