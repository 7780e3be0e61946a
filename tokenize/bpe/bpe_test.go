package bpe

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// toyRanks is a small byte-level vocabulary: all 256 bytes, then merges.
func toyRanks(t testing.TB, merges ...string) *Ranks {
	t.Helper()
	b := NewBuilder()
	for c := range 256 {
		b.Add([]byte{byte(c)}, c)
	}
	for k, m := range merges {
		b.Add([]byte(m), 256+k)
	}
	rk, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return rk
}

// naiveEncode is the textbook algorithm, written independently: merge the
// lowest-ranked adjacent pair, leftmost on ties, until none is a token.
func naiveEncode(rk *Ranks, piece string) []uint32 {
	parts := make([]string, len(piece))
	for i := range piece {
		parts[i] = piece[i : i+1]
	}
	for {
		best, at := uint32(noRank), -1
		for i := 0; i+1 < len(parts); i++ {
			if r, ok := rk.Rank(parts[i] + parts[i+1]); ok && r < best {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		parts = slices.Replace(parts, at, at+2, parts[at]+parts[at+1])
	}
	ids := make([]uint32, len(parts))
	for i, p := range parts {
		ids[i], _ = rk.Rank(p)
	}
	return ids
}

func TestMergeOrderAndTies(t *testing.T) {
	rk := toyRanks(t, "aa", "ab", "bc", "aab", "abc", "aaaa")
	for piece, want := range map[string][]string{
		"aaa":   {"aa", "a"},  // leftmost of two equal-ranked pairs
		"aaaa":  {"aaaa"},     // aa+aa
		"abc":   {"abc"},      // ab (rank 257) before bc (258), then ab+c
		"aabc":  {"aa", "bc"}, // aa (256) first, then b+c (258) before aa+b (259)
		"xyz":   {"x", "y", "z"},
		"aaaab": {"aa", "aab"}, // aa, aa, then aa+b (259) before aa+aa (261)
	} {
		var s Scratch
		got := rk.AppendEncode(nil, piece, &s)
		var gotS []string
		for _, id := range got {
			tok, _ := rk.Token(id)
			gotS = append(gotS, string(tok))
		}
		if strings.Join(gotS, "|") != strings.Join(want, "|") {
			t.Errorf("%q: got %q, want %q", piece, gotS, want)
		}
	}
}

// TestScanAndHeapAgree runs both merge algorithms and the naive one on the
// same random pieces over a vocabulary with many overlapping merges.
func TestScanAndHeapAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var merges []string
	seen := map[string]bool{}
	for len(merges) < 400 {
		n := 2 + rng.IntN(5)
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcd"[rng.IntN(4)]
		}
		if !seen[string(b)] {
			seen[string(b)] = true
			merges = append(merges, string(b))
		}
	}
	rk := toyRanks(t, merges...)
	var s Scratch
	for range 3000 {
		b := make([]byte, 1+rng.IntN(200))
		for i := range b {
			b[i] = "abcde"[rng.IntN(5)]
		}
		piece := string(b)
		want := naiveEncode(rk, piece)
		if got := rk.mergeScan(nil, piece, &s); !slices.Equal(got, want) {
			t.Fatalf("scan %q: got %v, want %v", piece, got, want)
		}
		if got := rk.mergeHeap(nil, piece, &s); !slices.Equal(got, want) {
			t.Fatalf("heap %q: got %v, want %v", piece, got, want)
		}
		if got := rk.AppendEncode(nil, piece, &s); !slices.Equal(got, want) {
			t.Fatalf("AppendEncode %q: got %v, want %v", piece, got, want)
		}
	}
}

func TestTiktokenFormatRoundTrip(t *testing.T) {
	rk := toyRanks(t, "aa", "ab", "\x00\xff", "hello")
	var buf bytes.Buffer
	if err := rk.WriteTiktoken(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "aGVsbG8= 259\n") {
		t.Errorf("tiktoken format lacks the line for \"hello\":\n%.200s", buf.String())
	}
	back, err := ParseTiktoken(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back.Len() != rk.Len() || back.MaxRank() != rk.MaxRank() {
		t.Fatalf("round trip: %d tokens, max rank %d; want %d, %d", back.Len(), back.MaxRank(), rk.Len(), rk.MaxRank())
	}
	for r := range uint32(rk.MaxRank() + 1) {
		a, _ := rk.Token(r)
		b, _ := back.Token(r)
		if !bytes.Equal(a, b) {
			t.Errorf("rank %d: %q, want %q", r, b, a)
		}
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	var ok bytes.Buffer
	toyRanks(t).WriteTiktoken(&ok)
	for name, c := range map[string]struct{ text, want string }{
		"no space":   {ok.String() + "YWI=\n", "line 257"},
		"bad base64": {ok.String() + "!!!! 300\n", "line 257: token"},
		"bad rank":   {ok.String() + "YWI= x\n", "line 257: rank"},
		"dup token":  {ok.String() + "YQ== 300\n", "two ranks"},
		"dup rank":   {ok.String() + "YWI= 3\n", "two tokens"},
		"sparse":     {ok.String() + "YWI= 2000000\n", "sparse"},
		"no bytes":   {"YWI= 0\n", "not a token"},
		"empty":      {"", "empty vocabulary"},
	} {
		_, err := ParseTiktoken(strings.NewReader(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
}

func FuzzParseTiktoken(f *testing.F) {
	var ok bytes.Buffer
	toyRanks(f, "ab", "abc").WriteTiktoken(&ok)
	f.Add(ok.Bytes())
	f.Add([]byte("YWI= 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rk, err := ParseTiktoken(bytes.NewReader(data))
		if err != nil {
			return
		}
		// A vocabulary that parses must encode any bytes and decode back.
		var s Scratch
		piece := string(data[:min(len(data), 64)])
		if piece == "" {
			return
		}
		var out []byte
		for _, id := range rk.AppendEncode(nil, piece, &s) {
			tok, ok := rk.Token(id)
			if !ok {
				t.Fatalf("encoded to unknown rank %d", id)
			}
			out = append(out, tok...)
		}
		if string(out) != piece {
			t.Fatalf("round trip %q -> %q", piece, out)
		}
	})
}

func TestEncodeDoesNotAllocate(t *testing.T) {
	rk := toyRanks(t, "aa", "ab", "abc", "bc")
	var s Scratch
	dst := make([]uint32, 0, 1024)
	pieces := []string{"abcabc", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcbcbcbc", "x", "abcabcabcabcabcabcabcabcabc"}
	if n := testing.AllocsPerRun(100, func() {
		dst = dst[:0]
		for _, p := range pieces {
			dst = rk.AppendEncode(dst, p, &s)
		}
	}); n != 0 {
		t.Errorf("AppendEncode allocates %v times", n)
	}
}
