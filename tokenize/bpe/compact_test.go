package bpe

import (
	"bytes"
	"testing"
)

func TestCompactRoundTrip(t *testing.T) {
	rk := toyRanks(t, "aa", "ab", "bc", "aab", "abc", "aaaa")
	data, err := rk.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalRanks(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != rk.Len() || got.MaxRank() != rk.MaxRank() {
		t.Fatalf("%d tokens up to %d, want %d up to %d", got.Len(), got.MaxRank(), rk.Len(), rk.MaxRank())
	}
	for _, tok := range []string{"a", "aa", "abc", "aaaa", "\xff"} {
		a, okA := got.Rank(tok)
		b, okB := rk.Rank(tok)
		if a != b || okA != okB {
			t.Errorf("%q: rank %d %v, want %d %v", tok, a, okA, b, okB)
		}
	}
	var s1, s2 Scratch
	for _, piece := range []string{"aaabcaab", "xyzaaaa", "abcabcabc"} {
		if a, b := got.AppendEncode(nil, piece, &s1), rk.AppendEncode(nil, piece, &s2); !equalIDs(a, b) {
			t.Errorf("%q: %v, want %v", piece, a, b)
		}
	}
}

func equalIDs(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCompactRejectsBadData(t *testing.T) {
	data, _ := toyRanks(t, "aa", "ab").MarshalBinary()
	dup := bytes.Clone(data)
	// The last token, "ab", becomes a second "aa".
	dup[len(dup)-1] = 'a'
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("xxxxxxxx"), data[8:]...),
		"truncated": data[:len(data)-1],
		"trailing":  append(bytes.Clone(data), 'x'),
		"duplicate": dup,
		"lengths":   data[:14],
	} {
		if _, err := UnmarshalRanks(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzUnmarshalRanks(f *testing.F) {
	data, _ := toyRanks(f, "aa", "ab", "abc").MarshalBinary()
	f.Add(data)
	f.Add([]byte(compactMagic + "\x01\x00\x00\x00\x01a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rk, err := UnmarshalRanks(data)
		if err != nil {
			return
		}
		out, _ := rk.MarshalBinary()
		if !bytes.Equal(out, data) {
			// Lengths may be non-minimal varints; the tokens must agree.
			back, err := UnmarshalRanks(out)
			if err != nil || back.Len() != rk.Len() {
				t.Fatalf("re-marshalled vocabulary differs: %v", err)
			}
		}
		var s Scratch
		rk.AppendEncode(nil, "abcabc\xff", &s)
	})
}
