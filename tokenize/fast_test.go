package tokenize_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/tokenize/bpe"
	"github.com/tracemark/tracemark/tokenize/internal/tiktokengo"
	"github.com/tracemark/tracemark/tokenize/pretokenize"
)

func TestEncodeDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers on purpose under -race")
	}
	op, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	text := op.Text[:200000] + "\xff\xfe invalid UTF-8 too"
	for _, name := range tokenize.Names() {
		enc, err := tokenize.Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := enc.AppendEncode(nil, text)
		if n := testing.AllocsPerRun(5, func() { ids, _ = enc.AppendEncode(ids[:0], text) }); n != 0 {
			t.Errorf("%s: AppendEncode allocates %v times per call", name, n)
		}
		if n := testing.AllocsPerRun(5, func() { enc.Count(text) }); n != 0 {
			t.Errorf("%s: Count allocates %v times per call", name, n)
		}
		if c := enc.Count(text); c != len(ids) {
			t.Errorf("%s: Count %d, AppendEncode gave %d tokens", name, c, len(ids))
		}
	}
}

// TestVocabularyFromTiktokenFile loads o200k_base through the tiktoken file
// format, as another model's vocabulary would be loaded, and checks it
// encodes identically.
func TestVocabularyFromTiktokenFile(t *testing.T) {
	enc, err := tokenize.Builtin("o200k_base")
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if err := enc.Ranks().WriteTiktoken(&file); err != nil {
		t.Fatal(err)
	}
	ranks, err := bpe.ParseTiktoken(&file)
	if err != nil {
		t.Fatal(err)
	}
	split, _ := pretokenize.New(pretokenize.O200k)
	loaded := tokenize.NewEncoder("o200k_base (file)", split, ranks)
	op, _ := refcorpus.Opticks()
	a, _ := enc.AppendEncode(nil, op.Text)
	b, _ := loaded.AppendEncode(nil, op.Text)
	if !slices.Equal(a, b) {
		t.Error("vocabulary loaded from the tiktoken format encodes differently")
	}
	if ranks.Len() != 199998 {
		t.Errorf("o200k_base has %d byte-pair tokens, want 199998", ranks.Len())
	}
}

// BenchmarkBuild compares building o200k_base from the embedded compact
// vocabulary (what the commands do) with reading it out of tiktoken-go's
// tables (what they did before), and with tiktoken-go building its own codec,
// in one run.
func BenchmarkBuild(b *testing.B) {
	b.Run("impl=compact", func(b *testing.B) {
		for b.Loop() {
			if _, err := tokenize.Builtin("o200k_base"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=from-tiktoken-go", func(b *testing.B) {
		for b.Loop() {
			if _, err := tiktokengo.Ranks("o200k_base"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestEmbeddedVocabulariesMatchTiktokenGo checks the compact vocabularies
// (written by go generate) against tiktoken-go's tables, token by token.
func TestEmbeddedVocabulariesMatchTiktokenGo(t *testing.T) {
	for _, name := range tokenize.Names() {
		enc, err := tokenize.Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tiktokengo.Ranks(name)
		if err != nil {
			t.Fatal(err)
		}
		got := enc.Ranks()
		if err := got.Check(); err != nil {
			t.Fatalf("%s: embedded tables: %v", name, err)
		}
		if got.Len() != want.Len() || got.MaxRank() != want.MaxRank() {
			t.Fatalf("%s: %d tokens up to rank %d, want %d up to %d", name, got.Len(), got.MaxRank(), want.Len(), want.MaxRank())
		}
		for r := range uint32(want.MaxRank() + 1) {
			a, _ := got.Token(r)
			w, _ := want.Token(r)
			if !bytes.Equal(a, w) {
				t.Fatalf("%s: rank %d is %q, want %q", name, r, a, w)
			}
		}
	}
}

func ExampleEncoder() {
	tok, err := tokenize.Get("o200k_base")
	if err != nil {
		panic(err)
	}
	ids, _ := tok.AppendEncode(nil, "Light is refracted.")
	text, _ := tok.Decode(ids)
	fmt.Println(ids, text)
	// Output: [15952 382 21707 57630 13] Light is refracted.
}

func ExampleCountParallel() {
	tok, err := tokenize.Get("o200k_base")
	if err != nil {
		panic(err)
	}
	// A long text is cut where no token changes and counted on every core;
	// this short one is counted whole.
	n, err := tokenize.CountParallel(context.Background(), tok, "Light is refracted.", 0)
	fmt.Println(n, err)
	// Output: 5 <nil>
}

// illFormedCases returns long texts with ill-formed UTF-8 in the places the
// cut-around path of Encoder treats differently: one bad byte in a long
// text, a few far apart, bad bytes dense, next to line breaks and spaces
// (where cut places are), at the start and the end, and random mixes.
func illFormedCases(t testing.TB) map[string]string {
	op, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	prose := op.Text[:120000]
	rng := rand.New(rand.NewPCG(3, 5))
	insert := func(text string, n int, bad string) string {
		b := []byte(text)
		for range n {
			i := rng.IntN(len(b) + 1)
			b = slices.Insert(b, i, []byte(bad)...)
		}
		return string(b)
	}
	cases := map[string]string{
		"one byte":        insert(prose, 1, "\xff"),
		"seven far apart": insert(prose, 7, "\xfe"),
		"dense":           insert(prose[:20000], 2000, "\x80"),
		"split sequences": insert(prose, 50, "\xe2\x82"),
		"at the start":    "\xff" + prose,
		"at the end":      prose + "\xf0\x9f",
		"around breaks": strings.Repeat("word\n\xffWord end.\xff\nNext \xff line\n\n\xffA ", 400) +
			strings.Repeat("a \xffb\n", 300),
	}
	var mix strings.Builder
	for mix.Len() < 60000 {
		mix.WriteString(randomText(rng, 1+rng.IntN(400)))
		mix.WriteString([]string{"\n", " ", "\nThe ", " word "}[rng.IntN(4)])
	}
	cases["random mixes"] = mix.String()
	return cases
}

// TestIllFormedUTF8PartsKeepTokens checks that encoding text with ill-formed
// UTF-8 (which Encoder cuts around and copies only near the bad bytes) gives
// exactly the tokens of the text with every ill-formed sequence replaced by
// U+FFFD first, the way tiktoken defines it.
func TestIllFormedUTF8PartsKeepTokens(t *testing.T) {
	cases := illFormedCases(t)
	for _, name := range tokenize.Names() {
		for _, get := range []func(string) (*tokenize.Encoder, error){tokenize.Builtin, tokenize.GetTiktokenGoCompatible} {
			enc, err := get(name)
			if err != nil {
				t.Fatal(err)
			}
			for what, text := range cases {
				replaced := string(bpe.AppendReplacingInvalid(nil, text))
				want, _ := enc.AppendEncode(nil, replaced)
				got, _ := enc.AppendEncode(nil, text)
				if !slices.Equal(got, want) {
					t.Errorf("%s, %s: %s", name, what, firstDifference(enc, got, want))
				}
				if n := enc.Count(text); n != len(want) {
					t.Errorf("%s, %s: Count %d, want %d", name, what, n, len(want))
				}
			}
		}
	}
}

// FuzzIllFormedUTF8PartsKeepTokens checks the same property on fuzzed text
// placed among prose long enough for cut places to be looked for.
func FuzzIllFormedUTF8PartsKeepTokens(f *testing.F) {
	for _, s := range []string{"\xff", "a\n\xffB", "x\xff\nY z", "\xe2\x82 \n\n\xf0A", "\r\n\xc3\t"} {
		f.Add(s)
	}
	op, err := refcorpus.Opticks()
	if err != nil {
		f.Fatal(err)
	}
	prose := op.Text[:3000]
	enc, err := tokenize.Builtin("o200k_base")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		text := prose[:1000] + s + prose[1000:2200] + s + s + prose[2200:]
		want, _ := enc.AppendEncode(nil, string(bpe.AppendReplacingInvalid(nil, text)))
		got, _ := enc.AppendEncode(nil, text)
		if !slices.Equal(got, want) {
			t.Fatalf("%q: %s", s, firstDifference(enc, got, want))
		}
	})
}
