package tokenize_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
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
