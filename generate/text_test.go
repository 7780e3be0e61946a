package generate

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tracemark/tracemark/tokenize"
)

// splitChar returns a character that o200k_base splits across tokens, and
// its tokens.
func splitChar(t *testing.T, tok tokenize.Tokenizer) (string, []uint32) {
	for _, c := range []string{"𠜎", "𝔘", "ꙮ", "🦩", "🙂"} {
		if ids, _ := tok.AppendEncode(nil, c); len(ids) >= 2 {
			return c, ids
		}
	}
	t.Fatal("no character splits across tokens")
	return "", nil
}

func TestTextRepairsSplitCharacters(t *testing.T) {
	tok, _ := tokenize.Get(tokenize.Default)
	char, parts := splitChar(t, tok)
	hello, _ := tok.AppendEncode(nil, "hello")
	cases := []struct {
		name               string
		prompt, completion []uint32
		want               string
	}{
		{"whole character", hello, parts, char},
		{"ends inside it", hello, append(append([]uint32{}, hello...), parts[:1]...), "hello"},
		{"begun by the prompt", append(append([]uint32{}, hello...), parts[:1]...), parts[1:], char},
		{"stray continuation bytes", nil, append(append([]uint32{}, parts[1:]...), hello...), "\uFFFDhello"},
	}
	for _, c := range cases {
		got, err := Text(tok, c.prompt, c.completion)
		if err != nil || !utf8.ValidString(got) {
			t.Errorf("%s: %q, %v", c.name, got, err)
		}
		if !strings.Contains(got, c.want) || (c.name == "ends inside it" && got != "hello") {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// scriptModel always proposes the given tokens in turn (one candidate per
// step), so a test can make generation stop inside a character.
type scriptModel struct {
	vocab  int
	script []uint32
}

func (m scriptModel) VocabSize() int { return m.vocab }
func (m scriptModel) Logits(ctx []uint32, logits []float32) {
	for i := range logits {
		logits[i] = -100
	}
	logits[m.script[len(ctx)%len(m.script)]] = 0
}

func TestCompleteFinishesTheLastCharacter(t *testing.T) {
	tok, _ := tokenize.Get(tokenize.Default)
	char, parts := splitChar(t, tok)
	m := scriptModel{vocab: 200000, script: parts}
	s, _ := NewSampler(m, nil, Settings{Temperature: 0, TopK: 1, TopP: 1})
	// Stop after the first part: Complete draws the rest of the character.
	c, err := s.Complete(context.Background(), tok, nil, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Text != char || c.Extra != len(parts)-1 || !utf8.ValidString(c.Text) {
		t.Errorf("Complete = %q (extra %d), want %q", c.Text, c.Extra, char)
	}
}

func TestIncompleteStart(t *testing.T) {
	for in, want := range map[string]int{"abc": -1, "a\xe2\x82": 1, "a\xe2\x82\xac": -1, "\xf0\x9f\x99": 0, "\x80\x80\x80": -1, "": -1, "\xc3": 0} {
		i, ok := incompleteStart([]byte(in))
		if (want < 0 && ok) || (want >= 0 && (!ok || i != want)) {
			t.Errorf("incompleteStart(%q) = %d, %v; want %d", in, i, ok, want)
		}
	}
}
