package serve

import (
	"bytes"
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/tracemark/tracemark/generate"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// choice is one generated completion, complete before anything is sent.
type choice struct {
	// tokens are the completion's token IDs as logged: every token with at
	// least one byte in text (with a stop sequence, the token in which it
	// begins is kept).
	tokens []uint32
	// text is the completion's text, valid UTF-8, without the stop
	// sequence.
	text string
	// bounds are the end offsets in text of the pieces streamed as chunks
	// (one per token that completed at least one character).
	bounds []int
	// finish is "stop" (a stop sequence ended it) or "length".
	finish string
}

// generator runs the sampling loop for one request.
type generator struct {
	tok     tokenize.Tokenizer
	sampler *generate.Sampler
	seq     []uint32
}

func newGenerator(b Backend, mark generate.Watermark, set generate.Settings) (*generator, error) {
	s, err := generate.NewSampler(b.NewModel(), mark, set)
	if err != nil {
		return nil, err
	}
	return &generator{tok: b.Tokenizer(), sampler: s}, nil
}

// completePrefix returns how many leading bytes of b end on a character
// boundary: all of b unless it ends inside a multi-byte character.
func completePrefix(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		c := b[i]
		if c&0xC0 == 0x80 {
			continue
		}
		need := 0
		switch {
		case c&0xE0 == 0xC0:
			need = 2
		case c&0xF0 == 0xE0:
			need = 3
		case c&0xF8 == 0xF0:
			need = 4
		default:
			return len(b)
		}
		if len(b)-i < need {
			return i
		}
		return len(b)
	}
	return len(b)
}

// run generates one completion of up to maxTokens tokens after prompt,
// cut at the first stop sequence.
func (g *generator) run(ctx context.Context, prompt []uint32, maxTokens int, stops []string, rng watermark.Uniform) (choice, error) {
	g.sampler.Reset()
	g.seq = append(g.seq[:0], prompt...)
	maxStop := 0
	for _, s := range stops {
		maxStop = max(maxStop, len(s))
	}
	var (
		c        choice
		text     []byte
		pending  []byte
		tokStart = make([]int, 0, maxTokens)
		one      [1]uint32
	)
	c.finish = "length"
	for i := 0; i < maxTokens; i++ {
		if i%16 == 0 {
			if err := ctx.Err(); err != nil {
				return c, err
			}
		}
		t, err := g.sampler.Next(g.seq, rng)
		if err != nil {
			return c, err
		}
		g.seq = append(g.seq, t)
		tokStart = append(tokStart, len(text))
		one[0] = t
		if pending, err = g.tok.AppendBytes(pending, one[:]); err != nil {
			return c, fmt.Errorf("decoding token %d: %w", t, err)
		}
		cut := completePrefix(pending)
		if cut == 0 {
			continue
		}
		old := len(text)
		if utf8.Valid(pending[:cut]) {
			text = append(text, pending[:cut]...)
		} else {
			text = append(text, bytes.ToValidUTF8(pending[:cut], []byte("\uFFFD"))...)
		}
		pending = append(pending[:0], pending[cut:]...)
		c.bounds = append(c.bounds, len(text))
		if maxStop == 0 {
			continue
		}
		from := max(0, old-maxStop+1)
		at := -1
		for _, s := range stops {
			if j := bytes.Index(text[from:], []byte(s)); j >= 0 && (at < 0 || from+j < at) {
				at = from + j
			}
		}
		if at < 0 {
			continue
		}
		text = text[:at]
		for len(c.bounds) > 0 && c.bounds[len(c.bounds)-1] >= at {
			c.bounds = c.bounds[:len(c.bounds)-1]
		}
		if at > 0 {
			c.bounds = append(c.bounds, at)
		}
		kept := 0
		for kept < len(tokStart) && tokStart[kept] < at {
			kept++
		}
		g.seq = g.seq[:len(prompt)+kept]
		c.finish = "stop"
		break
	}
	c.tokens = append([]uint32(nil), g.seq[len(prompt):]...)
	c.text = string(text)
	return c, nil
}

// pieces splits the text into its streamed chunks.
func (c *choice) pieces() []string {
	out := make([]string, 0, len(c.bounds))
	start := 0
	for _, b := range c.bounds {
		if b > start {
			out = append(out, c.text[start:b])
		}
		start = b
	}
	if start < len(c.text) {
		out = append(out, c.text[start:])
	}
	return out
}
