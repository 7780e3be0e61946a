package main

import (
	"context"
	"fmt"

	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/tokenize"
)

// builtinModelName describes the built-in model in results.
const builtinModelName = "built-in order-4 Kneser-Ney n-gram model (17 Project Gutenberg books, o200k_base; not a neural model)"

// loadBuiltin loads (or, on a machine's first run, trains and caches) the
// built-in model, saying so on stderr when it had to train.
func loadBuiltin(ctx context.Context, e *env) (*ngram.Model, error) {
	m, info, err := ngram.Builtin(ctx, ngram.CacheDir())
	if err != nil {
		return nil, fmt.Errorf("built-in model: %w", err)
	}
	if info.Note != "" {
		fmt.Fprintf(e.stderr, "tracemark: %s\n", info.Note)
	}
	if !info.FromCache {
		where := "not cached (no cache directory)"
		if info.CachePath != "" {
			where = "cached at " + info.CachePath
		}
		fmt.Fprintf(e.stderr, "tracemark: trained the built-in model on %d tokens in %.1f s; %s\n", info.Tokens, info.Duration.Seconds(), where)
	}
	return m, nil
}

// builtinWithTokenizer loads the built-in model and the tokenizer it speaks.
func builtinWithTokenizer(ctx context.Context, e *env) (*ngram.Model, tokenize.Tokenizer, error) {
	tok, err := tokenize.Get(ngram.BuiltinTokenizer)
	if err != nil {
		return nil, nil, err
	}
	m, err := loadBuiltin(ctx, e)
	return m, tok, err
}
