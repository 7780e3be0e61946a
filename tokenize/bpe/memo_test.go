package bpe

import (
	"slices"
	"testing"
)

// TestSelfMergeMemo checks the miss path of Merges: a token whose merges
// give it back is answered from the memo, and one whose merges do not
// (here "abc": a b c merges to ab c, and (ab, c) is not a merge) is merged
// every time, before and after the memo knows it.
func TestSelfMergeMemo(t *testing.T) {
	tokens := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("ab"), []byte("bc"), []byte("abc")}
	for b := range 256 {
		if b != 'a' && b != 'b' && b != 'c' {
			tokens = append(tokens, []byte{byte(b)})
		}
	}
	m, err := NewMerges(tokens, [][2]uint32{{0, 1}, {1, 2}, {0, 4}}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	var s Scratch
	for round := range 3 {
		if got := m.encodeMissed(nil, "abc", &s); !slices.Equal(got, []uint32{3, 2}) {
			t.Errorf("round %d: abc = %v, want [3 2]", round, got)
		}
		if got := m.encodeMissed(nil, "bc", &s); !slices.Equal(got, []uint32{4}) {
			t.Errorf("round %d: bc = %v, want [4]", round, got)
		}
	}
	if known, self := s.selfMerge(5, len(tokens)+1); !known || self {
		t.Errorf("abc: known %v self %v, want true false", known, self)
	}
	if known, self := s.selfMerge(4, len(tokens)+1); !known || !self {
		t.Errorf("bc: known %v self %v, want true true", known, self)
	}
}
