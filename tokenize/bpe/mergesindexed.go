package bpe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// mergesMagic starts the indexed binary form of a merge model.
const mergesMagic = "tmbpm1\x00\x00"

// mergesHeader is the size of the indexed merge form's fixed part: the
// magic and four uint32 (pair slots, merges, flags, vocabulary bytes).
const mergesHeader = len(mergesMagic) + 4*4

// MarshalIndexed returns m in an indexed binary form that
// UnmarshalMergesIndexed uses in place: the magic "tmbpm1\0\0"; the number
// of pair-table slots S, the number of merges the table holds, flags (bit 0:
// ignore_merges) and the byte length V of the vocabulary's form, as
// little-endian uint32; the S pair-table slots, each a little-endian uint64
// key (left+1)<<32|(right+1), 0 for an empty slot, and a uint64 value
// rank<<32|merged; then the vocabulary in Ranks.MarshalIndexed form (V
// bytes). Placed at a multiple of 8 bytes, every table is aligned for use in
// place. Nothing has to be built to load it, so a memory-mapped file of it
// is a tokenizer at once, and only the pages a text needs are read.
func (m *Merges) MarshalIndexed() ([]byte, error) {
	vocab, err := m.vocab.MarshalIndexed()
	if err != nil {
		return nil, err
	}
	used := 0
	for _, p := range m.pairs {
		if p.key != 0 {
			used++
		}
	}
	var flags uint32
	if m.ignoreMerges {
		flags |= 1
	}
	out := make([]byte, 0, mergesHeader+16*len(m.pairs)+len(vocab))
	out = append(out, mergesMagic...)
	for _, v := range []uint32{uint32(len(m.pairs)), uint32(used), flags, uint32(len(vocab))} {
		out = binary.LittleEndian.AppendUint32(out, v)
	}
	for _, p := range m.pairs {
		out = binary.LittleEndian.AppendUint64(out, p.key)
		out = binary.LittleEndian.AppendUint64(out, p.val)
	}
	return append(out, vocab...), nil
}

// UnmarshalMergesIndexed returns the byte-level merge model in data, written
// by MarshalIndexed, using data in place (it must never change). If check,
// every entry is verified, as NewMerges would have: each vocabulary entry is
// found at its ID, every byte is a token, each pair-table entry joins two
// tokens into their concatenation, is found where a look-up probes for it,
// and the table has an empty slot; use it for data from anywhere. Without
// check only the sizes are (for data known to be MarshalIndexed's output,
// e.g. by a checksum): then it reads only the pages it needs.
func UnmarshalMergesIndexed(data []byte, check bool) (*Merges, error) {
	if len(data) < mergesHeader || string(data[:len(mergesMagic)]) != mergesMagic {
		return nil, errors.New("indexed merges: bad magic")
	}
	p := data[len(mergesMagic):]
	slots, used := binary.LittleEndian.Uint32(p), binary.LittleEndian.Uint32(p[4:])
	flags, vocabLen := binary.LittleEndian.Uint32(p[8:]), binary.LittleEndian.Uint32(p[12:])
	if slots < 2 || slots&(slots-1) != 0 || slots > 1<<30 || used >= slots || flags&^1 != 0 {
		return nil, fmt.Errorf("indexed merges: bad header (%d slots, %d merges, flags %#x)", slots, used, flags)
	}
	if uint64(len(data)) != uint64(mergesHeader)+16*uint64(slots)+uint64(vocabLen) {
		return nil, fmt.Errorf("indexed merges: %d bytes, the header announces %d", len(data), uint64(mergesHeader)+16*uint64(slots)+uint64(vocabLen))
	}
	table := data[mergesHeader : mergesHeader+16*int(slots)]
	vocab, err := UnmarshalRanksIndexed(data[mergesHeader+16*int(slots):])
	if err != nil {
		return nil, fmt.Errorf("indexed merges: %w", err)
	}
	m := &Merges{vocab: vocab, pairs: pairSlots(table), shift: uint(64 - log2(slots)), ignoreMerges: flags&1 != 0}
	if check {
		if err := m.check(int(used)); err != nil {
			return nil, fmt.Errorf("indexed merges: %w", err)
		}
	}
	return m, nil
}

// pairSlots views b (little-endian (key, value) uint64 pairs) as pair
// slots, in place when the machine is little-endian and b is aligned to 8
// bytes, else as a copy.
func pairSlots(b []byte) []pairSlot {
	n := len(b) / 16
	if nativeLittleEndian && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 == 0 {
		return unsafe.Slice((*pairSlot)(unsafe.Pointer(unsafe.SliceData(b))), n)
	}
	out := make([]pairSlot, n)
	for i := range out {
		out[i] = pairSlot{binary.LittleEndian.Uint64(b[16*i:]), binary.LittleEndian.Uint64(b[16*i+8:])}
	}
	return out
}

// check verifies every table of m (see UnmarshalMergesIndexed); used is the
// number of pair-table entries the header announces.
func (m *Merges) check(used int) error {
	rk := m.vocab
	if err := rk.Check(); err != nil {
		return err
	}
	for b := range 256 {
		if t, ok := rk.Token(rk.byByte[b]); !ok || len(t) != 1 || t[0] != byte(b) {
			return fmt.Errorf("byte %#02x is not a token", b)
		}
	}
	empty, n := false, 0
	var buf []byte
	for _, p := range m.pairs {
		if p.key == 0 {
			empty = true
			continue
		}
		n++
		l, r := uint32(p.key>>32)-1, uint32(p.key)-1
		lt, lok := rk.Token(l)
		rt, rok := rk.Token(r)
		mt, mok := rk.Token(uint32(p.val))
		buf = append(append(buf[:0], lt...), rt...)
		if !lok || !rok || !mok || string(mt) != string(buf) {
			return fmt.Errorf("pair table entry (%d, %d) -> %d does not join two tokens into a token", l, r, uint32(p.val))
		}
	}
	if !empty {
		return errors.New("pair table has no empty slot")
	}
	if n != used {
		return fmt.Errorf("pair table holds %d merges, header says %d", n, used)
	}
	for _, p := range m.pairs {
		if p.key != 0 && m.lookup(uint32(p.key>>32)-1, uint32(p.key)-1) != p.val {
			return fmt.Errorf("pair table entry (%d, %d) is not where a look-up finds it", uint32(p.key>>32)-1, uint32(p.key)-1)
		}
	}
	return nil
}
