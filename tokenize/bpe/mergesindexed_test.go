package bpe

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

// toyMergeModel is a byte-level merge model over every byte and a few
// merged tokens.
func toyMergeModel(t testing.TB, ignoreMerges bool) *Merges {
	t.Helper()
	var tokens [][]byte
	for b := range 256 {
		tokens = append(tokens, []byte{byte(b)})
	}
	add := func(s string) uint32 { tokens = append(tokens, []byte(s)); return uint32(len(tokens) - 1) }
	ab := add("ab")
	for _, s := range []string{"bc", "abc", "abab"} {
		add(s)
	}
	// The last merge repeats the first: the first keeps its priority.
	merges := [][2]uint32{{'a', 'b'}, {'b', 'c'}, {ab, 'c'}, {ab, ab}, {'a', 'b'}}
	m, err := NewMerges(tokens, merges, true, ignoreMerges)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMergesIndexedRoundTrip: the indexed form, loaded in place with and
// without the full check (and from an unaligned copy), encodes as the
// model it was made from, ignore_merges included.
func TestMergesIndexedRoundTrip(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		m := toyMergeModel(t, ignore)
		data, err := m.MarshalIndexed()
		if err != nil {
			t.Fatal(err)
		}
		unaligned := make([]byte, len(data)+1)[1:]
		copy(unaligned, data)
		for name, d := range map[string][]byte{"aligned": data, "unaligned": unaligned} {
			for _, check := range []bool{false, true} {
				got, err := UnmarshalMergesIndexed(d, check)
				if err != nil {
					t.Fatalf("%s, check %v: %v", name, check, err)
				}
				var s1, s2 Scratch
				for _, piece := range []string{"abcabab", "ababab", "abab", "xyzabc", "cba", strings.Repeat("ab", 40)} {
					if a, b := got.AppendEncode(nil, piece, &s1), m.AppendEncode(nil, piece, &s2); !slices.Equal(a, b) {
						t.Errorf("ignore %v, %s, check %v: %q = %v, want %v", ignore, name, check, piece, a, b)
					}
				}
			}
		}
	}
}

// TestMergesIndexedRejectsBadData: sizes are always checked; with check,
// tables whose entries name no token, join the wrong token, sit where no
// look-up finds them, or leave no empty slot are refused (they would give
// wrong IDs, or a look-up that never ends).
func TestMergesIndexedRejectsBadData(t *testing.T) {
	data, _ := toyMergeModel(t, false).MarshalIndexed()
	slots := int(binary.LittleEndian.Uint32(data[len(mergesMagic):]))
	firstUsed := -1
	for i := range slots {
		if binary.LittleEndian.Uint64(data[mergesHeader+16*i:]) != 0 {
			firstUsed = i
			break
		}
	}
	mutate := func(f func(d []byte)) []byte { d := slices.Clone(data); f(d); return d }
	slot := func(i int) int { return mergesHeader + 16*i }
	always := map[string][]byte{
		"empty":     nil,
		"magic":     mutate(func(d []byte) { d[0] = 'x' }),
		"truncated": data[:len(data)-1],
		"trailing":  append(slices.Clone(data), 0),
		"slots":     mutate(func(d []byte) { binary.LittleEndian.PutUint32(d[len(mergesMagic):], 3) }),
		"flags":     mutate(func(d []byte) { binary.LittleEndian.PutUint32(d[len(mergesMagic)+8:], 2) }),
	}
	for name, d := range always {
		for _, check := range []bool{false, true} {
			if _, err := UnmarshalMergesIndexed(d, check); err == nil {
				t.Errorf("%s (check %v): no error", name, check)
			}
		}
	}
	checked := map[string][]byte{
		"merged token": mutate(func(d []byte) { binary.LittleEndian.PutUint32(d[slot(firstUsed)+8:], 'z') }),
		"unknown left": mutate(func(d []byte) { binary.LittleEndian.PutUint32(d[slot(firstUsed)+4:], 1<<20) }),
		"count":        mutate(func(d []byte) { binary.LittleEndian.PutUint32(d[len(mergesMagic)+4:], 1) }),
		"full table": mutate(func(d []byte) {
			for i := range slots {
				if binary.LittleEndian.Uint64(d[slot(i):]) == 0 {
					copy(d[slot(i):slot(i)+16], data[slot(firstUsed):slot(firstUsed)+16])
				}
			}
		}),
		"misplaced": mutate(func(d []byte) {
			to := (firstUsed + slots/2) % slots
			copy(d[slot(to):slot(to)+16], d[slot(firstUsed):slot(firstUsed)+16])
			clear(d[slot(firstUsed) : slot(firstUsed)+16])
		}),
	}
	for name, d := range checked {
		if _, err := UnmarshalMergesIndexed(d, true); err == nil {
			t.Errorf("%s: no error with check", name)
		}
	}
}

// FuzzMergesIndexed: whatever the checked load accepts encodes without
// panicking or looping.
func FuzzMergesIndexed(f *testing.F) {
	data, _ := toyMergeModel(f, false).MarshalIndexed()
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := UnmarshalMergesIndexed(data, true)
		if err != nil {
			return
		}
		var s Scratch
		for _, piece := range []string{"abcabab", strings.Repeat("ab", 40), "\x00\xff"} {
			m.AppendEncode(nil, piece, &s)
		}
	})
}
