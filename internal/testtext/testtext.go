// Package testtext makes text for tests: watermarked text from a toy
// word-level model whose output re-tokenizes to exactly the IDs it was
// sampled as, so that detection from text can be tested end to end.
package testtext

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// SingleTokenWords returns the token IDs of the distinct lower-case words
// of text that tok encodes, with a leading space, as one token each. Text
// made of such pieces re-tokenizes to the same IDs.
func SingleTokenWords(tok tokenize.Tokenizer, text string) []uint32 {
	var out []uint32
	seen := map[string]bool{}
	for _, w := range strings.Fields(strings.ToLower(text)) {
		if seen[w] || strings.IndexFunc(w, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
			continue
		}
		seen[w] = true
		if ids, _ := tok.AppendEncode(nil, " "+w); len(ids) == 1 {
			out = append(out, ids[0])
		}
	}
	return out
}

// Watermarked samples n tokens with scheme from a toy model that offers 40
// random words of the pool per step with normal logits, and returns the
// IDs and the decoded text. It fails if the text would not re-tokenize to
// the same IDs.
func Watermarked(scheme watermark.Scheme, tok tokenize.Tokenizer, words []uint32, n int, rng *rand.Rand) ([]uint32, string, error) {
	if len(words) == 0 {
		return nil, "", fmt.Errorf("testtext: empty word pool")
	}
	cands, logits := make([]uint32, 40), make([]float32, 40)
	var ids []uint32
	for len(ids) < n {
		for i := range cands {
			cands[i], logits[i] = words[rng.IntN(len(words))], float32(rng.NormFloat64())
		}
		id, err := scheme.SampleLogits(ids, cands, logits, rng)
		if err != nil {
			return nil, "", err
		}
		ids = append(ids, id)
	}
	text, err := tok.Decode(ids)
	if err != nil {
		return nil, "", err
	}
	if again, _ := tok.AppendEncode(nil, text); len(again) != len(ids) {
		return nil, "", fmt.Errorf("testtext: text does not re-tokenize to its %d IDs", len(ids))
	}
	return ids, text, nil
}
