package bpe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unsafe"
)

// unsafeString views b as a string without copying; b must not change while
// the string is used.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// compactMagic starts the compact binary form of a vocabulary.
const compactMagic = "tmbpe1\x00\x00"

// MarshalBinary returns rk in a compact binary form that UnmarshalRanks reads
// back in a few milliseconds (no parsing, no map): the magic "tmbpe1\0\0",
// the number of ranks R (maxRank+1) as a little-endian uint32, the byte
// length of each rank's token as R unsigned varints (0 for a rank without a
// token), then the tokens' bytes concatenated in rank order.
func (rk *Ranks) MarshalBinary() ([]byte, error) {
	n := len(rk.start) - 1
	out := make([]byte, 0, len(compactMagic)+4+n+len(rk.arena))
	out = append(out, compactMagic...)
	out = binary.LittleEndian.AppendUint32(out, uint32(n))
	for r := range n {
		out = binary.AppendUvarint(out, uint64(rk.start[r+1]-rk.start[r]))
	}
	return append(out, rk.arena...), nil
}

// UnmarshalRanks reads a vocabulary written by MarshalBinary. It checks what
// Builder.Build checks (no token twice, every byte a token) and that the data
// is whole; it does not keep a reference to data.
func UnmarshalRanks(data []byte) (*Ranks, error) { return unmarshalRanks(data, true) }

// UnmarshalRanksInPlace is UnmarshalRanks for data that never changes (an
// embedded table): the vocabulary uses the token bytes in place instead of a
// copy, so the pages of data that are never read are never loaded.
func UnmarshalRanksInPlace(data []byte) (*Ranks, error) { return unmarshalRanks(data, false) }

func unmarshalRanks(data []byte, copyData bool) (*Ranks, error) {
	if len(data) < len(compactMagic)+4 || string(data[:len(compactMagic)]) != compactMagic {
		return nil, errors.New("compact vocabulary: bad magic")
	}
	p := data[len(compactMagic):]
	n := binary.LittleEndian.Uint32(p)
	p = p[4:]
	if n == 0 || n > MaxRank+1 || int(n) > len(p) {
		return nil, fmt.Errorf("compact vocabulary: %d ranks in %d bytes", n, len(p))
	}
	rk := &Ranks{start: make([]uint32, n+1)}
	total := uint64(0)
	for r := range n {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > 1<<20 {
			return nil, fmt.Errorf("compact vocabulary: bad length of rank %d", r)
		}
		p = p[k:]
		rk.start[r] = uint32(total)
		total += l
		if total > uint64(len(data)) {
			return nil, fmt.Errorf("compact vocabulary: truncated at rank %d", r)
		}
	}
	if total != uint64(len(p)) {
		return nil, fmt.Errorf("compact vocabulary: %d token bytes announced, %d present", total, len(p))
	}
	rk.start[n] = uint32(total)
	if rk.start[n] == rk.start[n-1] {
		return nil, errors.New("compact vocabulary: the largest rank has no token")
	}
	rk.arena = p
	if copyData {
		rk.arena = append([]byte(nil), p...)
	}
	if err := rk.buildIndex(true); err != nil {
		return nil, fmt.Errorf("compact vocabulary: %w", err)
	}
	return rk, nil
}

// buildIndex fills the hash index, byByte and byPair from arena and start,
// and counts the tokens. A token present twice is an error, and so is a
// byte that is not a token if byteLevel.
func (rk *Ranks) buildIndex(byteLevel bool) error {
	count := 0
	for r := range len(rk.start) - 1 {
		if rk.start[r+1] > rk.start[r] {
			count++
		}
	}
	if maxRank := len(rk.start) - 2; maxRank > 2*count+1024 {
		return fmt.Errorf("ranks too sparse: %d tokens, largest rank %d", count, maxRank)
	}
	slots := 1 << bits.Len(uint(2*count))
	rk.index = make([]uint32, slots)
	rk.rankMask = 1<<bits.Len32(uint32(len(rk.start)-1)) - 1
	rk.shift = uint(64 - bits.TrailingZeros(uint(slots)))
	rk.byPair = make([]uint32, 1<<16)
	for k := range rk.byPair {
		rk.byPair[k] = noRank
	}
	var seenByte [256]bool
	// Tokens are inserted in the order of their home slots (a counting
	// sort on the slot's top bits), so that the writes into the index walk
	// it front to back instead of missing the cache once per token: that
	// makes a 200,000-token index several times faster to build.
	ranks := len(rk.start) - 1
	hashes := make([]uint64, ranks)
	const bucketBits = 12
	const bucketShift = 64 - bucketBits // the bucket is the hash's top bits
	mask := uint64(slots - 1)
	var counts [1<<bucketBits + 1]int32
	for r := range ranks {
		t := rk.arena[rk.start[r]:rk.start[r+1]]
		if len(t) == 0 {
			continue
		}
		h := hashString(unsafeString(t))
		hashes[r] = h
		counts[h>>bucketShift+1]++
		switch len(t) {
		case 1:
			rk.byByte[t[0]] = uint32(r)
			seenByte[t[0]] = true
		case 2:
			rk.byPair[int(t[0])<<8|int(t[1])] = uint32(r)
		}
	}
	for k := 1; k < len(counts); k++ {
		counts[k] += counts[k-1]
	}
	order := make([]uint32, count)
	for r, h := range hashes {
		if rk.start[r+1] > rk.start[r] {
			order[counts[h>>bucketShift]] = uint32(r)
			counts[h>>bucketShift]++
		}
	}
	for _, r := range order {
		h := hashes[r]
		tag := uint32(h) &^ rk.rankMask
		for i := h >> rk.shift; ; i = (i + 1) & mask {
			slot := rk.index[i]
			if slot == 0 {
				rk.index[i] = tag | (r + 1)
				break
			}
			if slot&^rk.rankMask == tag {
				o := slot&rk.rankMask - 1
				t := rk.arena[rk.start[r]:rk.start[r+1]]
				if string(rk.arena[rk.start[o]:rk.start[o+1]]) == string(t) {
					return fmt.Errorf("token %q has two ranks, %d and %d", t, min(o, r), max(o, r))
				}
			}
		}
	}
	for c, ok := range seenByte {
		if !ok && byteLevel {
			return fmt.Errorf("byte 0x%02x is not a token: not a byte-level BPE vocabulary", c)
		}
	}
	rk.count = count
	return nil
}
