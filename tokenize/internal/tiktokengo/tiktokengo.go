// Package tiktokengo reads the vocabularies of OpenAI's encodings out of
// github.com/tiktoken-go/tokenizer, which embeds them as Go map literals.
// It is slow (the maps are built first: about 0.1 s and 47 MB for
// o200k_base), so package tokenize embeds a compact copy made from it by
// vocabgen, and tests check the copy against it.
package tiktokengo

import (
	"fmt"

	"github.com/tiktoken-go/tokenizer"

	"github.com/tracemark/tracemark/tokenize/bpe"
)

// Ranks returns the byte-pair vocabulary of a built-in encoding: each
// token's bytes are its ID decoded alone, and ranks of tiktoken encodings are
// their token IDs. Special tokens (<|endoftext|> and the like) are not part
// of the byte-pair vocabulary.
func Ranks(name string) (*bpe.Ranks, error) {
	codec, err := tokenizer.Get(tokenizer.Encoding(name))
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", name, err)
	}
	codec.SetErrorMode(tokenizer.ErrorModeNone)
	b := bpe.NewBuilder()
	id := []uint{0}
	misses := 0
	for r := 0; misses < 4096; r++ {
		id[0] = uint(r)
		t, err := codec.Decode(id)
		if err != nil || t == "" {
			misses++
			continue
		}
		misses = 0
		b.Add([]byte(t), r)
	}
	ranks, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: vocabulary: %w", name, err)
	}
	return ranks, nil
}
