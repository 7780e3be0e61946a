package tmbeam

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// TestLoadRefusesAnotherTokenizer: a Config whose tokenizer is not the one
// its key was made for (by name, or by the file hash the key records) is
// refused unless TokenizerMismatchOK; the key's own tokenizer is accepted.
func TestLoadRefusesAnotherTokenizer(t *testing.T) {
	dir := t.TempDir()
	write := func(name, sha string) string {
		k := watermark.NewKey([watermark.SecretSize]byte{7}, watermark.DefaultKGW(), name, time.Time{})
		k.TokenizerSHA256 = sha
		p := filepath.Join(dir, k.ID()+strings.ReplaceAll(name, ":", "_")+".json")
		if err := k.WriteKeyFile(p, true); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	own := write(tokenize.Default, "")
	if _, err := (Config{KeyPaths: []string{own}}).load(ctx); err != nil {
		t.Fatalf("the key's own tokenizer refused: %v", err)
	}
	if _, err := (Config{KeyPaths: []string{own}, Tokenizer: tokenize.Default}).load(ctx); err != nil {
		t.Fatalf("the key's own tokenizer, named, refused: %v", err)
	}
	other := Config{KeyPaths: []string{own}, Tokenizer: "cl100k_base"}
	if _, err := other.load(ctx); err == nil || !strings.Contains(err.Error(), "cl100k_base") || strings.Contains(err.Error(), "--") {
		t.Errorf("another tokenizer: want an error naming it and no flag, got %v", err)
	}
	other.TokenizerMismatchOK = true
	if _, err := other.load(ctx); err != nil {
		t.Errorf("another tokenizer with TokenizerMismatchOK: %v", err)
	}
	// A key that records a file hash the built-in encoding cannot have.
	hashed := write(tokenize.Default, strings.Repeat("ab", 32))
	if _, err := (Config{KeyPaths: []string{hashed}}).load(ctx); err == nil || !strings.Contains(err.Error(), strings.Repeat("ab", 32)) {
		t.Errorf("file hash mismatch: want an error naming the key's hash, got %v", err)
	}
}
