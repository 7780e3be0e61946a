package tokenize

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/tracemark/tracemark/internal/refcorpus"
)

// TestCutPartsKeepTokens encodes Opticks and two Gutenberg books cut into
// parts of about 16 kB, as AppendEncodeParallel cuts larger texts, with each
// tiktoken encoding and each open-model tokenizer found in the cache
// directory: the parts' tokens, concatenated, are the whole text's.
func TestCutPartsKeepTokens(t *testing.T) {
	op, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	books, err := refcorpus.Gutenberg()
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{op.Text, books[0].Text[:min(len(books[0].Text), 300_000)], books[len(books)-1].Text[:min(len(books[len(books)-1].Text), 300_000)]}
	if testing.Short() {
		texts = texts[:1]
	}
	names := Names()
	for _, k := range KnownTokenizers() {
		if path, err := KnownPath(k.Name); err == nil {
			if _, err := os.Stat(path); err == nil {
				names = append(names, k.Name)
			}
		}
	}
	for _, name := range names {
		tok, err := Get(name)
		if err != nil {
			t.Fatal(err)
		}
		for k, text := range texts {
			parts := cutParts(tok, text, len(text)/16_000, 16_000)
			if len(parts) < 10 {
				t.Fatalf("%s: text %d: %d parts", name, k, len(parts))
			}
			want, _ := tok.AppendEncode(nil, text)
			var got []uint32
			for _, p := range parts {
				got, _ = tok.AppendEncode(got, p)
			}
			if !slices.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("%s: text %d: cut into %d parts, tokens differ from token %d", name, k, len(parts), i)
			}
		}
	}
}

func TestAppendEncodeParallel(t *testing.T) {
	op, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	text := op.Text
	for len(text) < 3*minParallelPart {
		text += "\n" + op.Text
	}
	tok, err := Get("cl100k_base")
	if err != nil {
		t.Fatal(err)
	}
	if parts := cutParts(tok, text, 3, minParallelPart); len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	want, _ := tok.AppendEncode(nil, text)
	workers := []int{0, 1, 2, 3, 8}
	if testing.Short() {
		workers = []int{0, 3}
	}
	for _, workers := range workers {
		got, err := AppendEncodeParallel(context.Background(), tok, []uint32{7}, text, workers)
		if err != nil || got[0] != 7 || !slices.Equal(got[1:], want) {
			t.Fatalf("workers %d: %d tokens (%v), want %d", workers, len(got)-1, err, len(want))
		}
		n, err := CountParallel(context.Background(), tok, text, workers)
		if err != nil || n != len(want) {
			t.Fatalf("workers %d: count %d (%v), want %d", workers, n, err, len(want))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := AppendEncodeParallel(ctx, tok, nil, text, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := CountParallel(ctx, tok, text, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled count: %v", err)
	}
}
