package bpe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// indexedMagic starts the indexed binary form of a vocabulary.
const indexedMagic = "tmbpe2\x00\x00"

// indexedHeader is the size of the indexed form's fixed part: the magic,
// four uint32 (ranks, index slots, tokens, rank mask) and byByte.
const indexedHeader = len(indexedMagic) + 4*4 + 256*4

// MarshalIndexed returns rk in an indexed binary form that
// UnmarshalRanksIndexed uses in place, without building anything: the magic
// "tmbpe2\0\0"; the number of ranks R, of index slots S, of tokens, and the
// index's rank mask, as little-endian uint32; the 256 single-byte tokens'
// ranks; then, as little-endian uint32 arrays, the R+1 offsets of the
// tokens' bytes, the S index slots and the 65,536 two-byte tokens' ranks;
// then the tokens' bytes concatenated in rank order. Every array starts at a
// multiple of 4 bytes. It is larger than MarshalBinary's form (o200k_base:
// 4.4 MB instead of 1.6 MB) and is meant for tables embedded in a program,
// whose pages are then read only where a text's tokens need them.
func (rk *Ranks) MarshalIndexed() ([]byte, error) {
	n := len(rk.start) - 1
	size := indexedHeader + 4*(len(rk.start)+len(rk.index)+len(rk.byPair)) + len(rk.arena)
	out := make([]byte, 0, size)
	out = append(out, indexedMagic...)
	for _, v := range []uint32{uint32(n), uint32(len(rk.index)), uint32(rk.count), rk.rankMask} {
		out = binary.LittleEndian.AppendUint32(out, v)
	}
	for _, table := range [][]uint32{rk.byByte[:], rk.start, rk.index, rk.byPair} {
		for _, v := range table {
			out = binary.LittleEndian.AppendUint32(out, v)
		}
	}
	return append(out, rk.arena...), nil
}

// UnmarshalRanksIndexed returns the vocabulary in data, written by
// MarshalIndexed, using data in place (it must never change): nothing is
// built or copied on little-endian machines when data is 4-byte aligned, so
// a program that embeds the table starts at once, and the pages it never
// reads are never loaded. It checks the sizes and the first and last
// offsets, not every entry: it is for tables a program embeds and its tests
// check (Ranks.Check); read a vocabulary from elsewhere with UnmarshalRanks.
func UnmarshalRanksIndexed(data []byte) (*Ranks, error) {
	if len(data) < indexedHeader || string(data[:len(indexedMagic)]) != indexedMagic {
		return nil, errors.New("indexed vocabulary: bad magic")
	}
	p := data[len(indexedMagic):]
	n, slots := binary.LittleEndian.Uint32(p), binary.LittleEndian.Uint32(p[4:])
	count, rankMask := binary.LittleEndian.Uint32(p[8:]), binary.LittleEndian.Uint32(p[12:])
	if n == 0 || n > MaxRank+1 || slots == 0 || slots&(slots-1) != 0 || slots > 1<<31 || count > n {
		return nil, fmt.Errorf("indexed vocabulary: bad header (%d ranks, %d slots)", n, slots)
	}
	tables := uint64(256) + uint64(n) + 1 + uint64(slots) + 1<<16
	if uint64(len(data)) < uint64(len(indexedMagic)+16)+4*tables {
		return nil, errors.New("indexed vocabulary: truncated")
	}
	rk := &Ranks{rankMask: rankMask, count: int(count)}
	rk.shift = uint(64 - log2(slots))
	off := len(indexedMagic) + 16
	next := func(k int) []uint32 {
		t := uint32s(data[off : off+4*k])
		off += 4 * k
		return t
	}
	copy(rk.byByte[:], next(256))
	rk.start = next(int(n) + 1)
	rk.index = next(int(slots))
	rk.byPair = next(1 << 16)
	rk.arena = data[off:]
	if rk.start[0] != 0 || rk.start[n] != uint32(len(rk.arena)) || rk.start[n] == rk.start[n-1] {
		return nil, errors.New("indexed vocabulary: token bytes do not match the offsets")
	}
	return rk, nil
}

func log2(x uint32) int {
	k := 0
	for x > 1 {
		x >>= 1
		k++
	}
	return k
}

// nativeLittleEndian reports whether uint32s can view little-endian data in
// place.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// uint32s views b (little-endian, a multiple of 4 bytes) as []uint32, in
// place when the machine is little-endian and b is aligned, else as a copy.
func uint32s(b []byte) []uint32 {
	if len(b) == 0 {
		return nil
	}
	if nativeLittleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0 {
		return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
	}
	out := make([]uint32, len(b)/4)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

// Check verifies every entry of rk's tables against its tokens: the offsets
// are in order, each token is found at its rank through the index and no
// index slot names another, and the single- and two-byte tables agree. It
// is for tests of tables that UnmarshalRanksIndexed trusts.
func (rk *Ranks) Check() error {
	n := len(rk.start) - 1
	for r := range n {
		if rk.start[r] > rk.start[r+1] {
			return fmt.Errorf("offsets out of order at rank %d", r)
		}
	}
	// The index first: Rank trusts its slots, and needs an empty one to
	// end a look-up that fails.
	used := 0
	for _, slot := range rk.index {
		if slot == 0 {
			continue
		}
		used++
		if r := slot&rk.rankMask - 1; int(r) >= n || rk.start[r] == rk.start[r+1] {
			return fmt.Errorf("index slot names rank %d, which has no token", r)
		}
	}
	if used == len(rk.index) {
		return errors.New("index has no empty slot")
	}
	count := 0
	for r := range n {
		t, ok := rk.Token(uint32(r))
		if !ok {
			continue
		}
		count++
		if got, ok := rk.Rank(string(t)); !ok || got != uint32(r) {
			return fmt.Errorf("token %q of rank %d is found at rank %d (%v)", t, r, got, ok)
		}
		switch len(t) {
		case 1:
			if rk.byByte[t[0]] != uint32(r) {
				return fmt.Errorf("byte table: %q", t)
			}
		case 2:
			if rk.byPair[int(t[0])<<8|int(t[1])] != uint32(r) {
				return fmt.Errorf("pair table: %q", t)
			}
		}
	}
	if count != rk.count {
		return fmt.Errorf("%d tokens, header says %d", count, rk.count)
	}
	if used != count {
		return fmt.Errorf("index holds %d tokens, want %d", used, count)
	}
	for k, r := range rk.byPair {
		if r != noRank {
			if t, ok := rk.Token(r); !ok || len(t) != 2 || int(t[0])<<8|int(t[1]) != k {
				return fmt.Errorf("pair table entry %04x names rank %d", k, r)
			}
		}
	}
	return nil
}
