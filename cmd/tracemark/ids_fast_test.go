package main

import (
	"slices"
	"testing"
)

// FuzzParseIDsFast: whatever the fast --ids parser accepts, encoding/json's
// path (parseIDsJSON) accepts with the same IDs.
func FuzzParseIDsFast(f *testing.F) {
	for _, s := range []string{"[]", " [1, 2,3 ]\r", "[4294967295]", "[4294967296]", "[01]", "[0]", "[1,]", "[-1]", "[1e3]", "[1.0]", "[1] x", "[1]\n", "\t[ 7 ,8]", `["1"]`, "[1 2]", "[[1]]", "", "[", "[0,0]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, ok := parseIDsFast(line)
		if !ok {
			return
		}
		slow, err := parseIDsJSON(line)
		if err != nil {
			t.Fatalf("%q: fast parser accepted %v, encoding/json rejected it: %v", line, fast, err)
		}
		if !slices.Equal(fast, slow) {
			t.Fatalf("%q: fast %v, encoding/json %v", line, fast, slow)
		}
	})
}

// TestParseIDsFastCommonForms: the forms tools write take the fast path.
func TestParseIDsFastCommonForms(t *testing.T) {
	for _, s := range []string{"[]", "[1,2,3]", "[1, 2, 3]", " [0, 4294967295] \n"} {
		if _, ok := parseIDsFast([]byte(s)); !ok {
			t.Errorf("%q: not parsed by the fast path", s)
		}
	}
	for _, s := range []string{"[01]", "[-1]", "[1e3]", "[4294967296]", "[1,]", "[1] x", `["1"]`} {
		if _, ok := parseIDsFast([]byte(s)); ok {
			t.Errorf("%q: accepted by the fast path", s)
		}
	}
}
