package generate

import (
	"context"
	"strings"

	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// maxCompletionTokens bounds the extra tokens Complete draws to finish a
// character that the last token left half written.
const maxCompletionTokens = 3

// Completion is generated text: its tokens and its text, which is always
// valid UTF-8.
type Completion struct {
	Tokens []uint32
	Text   string
	// Extra counts the tokens drawn beyond maxTokens to finish a multi-byte
	// character (at most 3).
	Extra int
}

// Complete generates up to maxTokens tokens after prompt and decodes them.
// Byte-level BPE tokens can hold part of a multi-byte character; if the
// completion ends inside one, Complete draws up to 3 more tokens to finish
// it, and whatever is still incomplete or invalid is repaired by Text.
func (s *Sampler) Complete(ctx context.Context, tok tokenize.Tokenizer, prompt []uint32, maxTokens int, rng watermark.Uniform) (Completion, error) {
	out, err := s.Generate(ctx, prompt, maxTokens, rng)
	if err != nil {
		return Completion{Tokens: out}, err
	}
	c := Completion{Tokens: out}
	raw, err := tok.AppendBytes(nil, out)
	if err != nil {
		return c, err
	}
	for c.Extra < maxCompletionTokens && len(out) > 0 && incompleteTail(raw) {
		seq := append(append([]uint32(nil), prompt...), c.Tokens...)
		t, err := s.Next(seq, rng)
		if err != nil {
			return c, err
		}
		c.Tokens = append(c.Tokens, t)
		c.Extra++
		if raw, err = tok.AppendBytes(raw, c.Tokens[len(c.Tokens)-1:]); err != nil {
			return c, err
		}
	}
	c.Text, err = Text(tok, prompt, c.Tokens)
	return c, err
}

// Text decodes completion (generated after prompt) to valid UTF-8. A
// character begun by the prompt and finished by the completion belongs to
// the completion's text; a character the completion leaves unfinished is
// dropped; any other invalid byte sequence becomes U+FFFD.
func Text(tok tokenize.Tokenizer, prompt, completion []uint32) (string, error) {
	pb, err := tok.AppendBytes(nil, prompt)
	if err != nil {
		return "", err
	}
	start := len(pb)
	if i, ok := incompleteStart(pb); ok {
		start = i
	}
	all, err := tok.AppendBytes(pb, completion)
	if err != nil {
		return "", err
	}
	out := all[start:]
	if i, ok := incompleteStart(out); ok {
		out = out[:i]
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), nil
}

// incompleteTail reports whether b ends inside a multi-byte character.
func incompleteTail(b []byte) bool {
	_, ok := incompleteStart(b)
	return ok
}

// incompleteStart returns the index of the lead byte of a character that b
// begins but does not finish, if b ends with one.
func incompleteStart(b []byte) (int, bool) {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		c := b[i]
		if c&0xC0 == 0x80 { // continuation byte: keep looking for the lead
			continue
		}
		var need int
		switch {
		case c&0xE0 == 0xC0:
			need = 2
		case c&0xF0 == 0xE0:
			need = 3
		case c&0xF8 == 0xF0:
			need = 4
		default:
			return 0, false // ASCII or invalid lead: nothing pending
		}
		return i, len(b)-i < need
	}
	return 0, false
}
