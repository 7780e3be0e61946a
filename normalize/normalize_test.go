package normalize

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tracemark/tracemark/benchmarks/attack"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
)

func TestText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text stays", "plain text stays"},
		{"wa\u200bter\u2060mark\ufeff", "watermark"},
		{"soft\u00adhyphen", "softhyphen"},
		{"a\u200db\u200cc", "abc"},                                               // joiners after ASCII go
		{"👩\u200d💻 codes", "👩\u200d💻 codes"},                                     // emoji sequence kept
		{"क्\u200dष and text", "क्\u200dष and text"},                             // Devanagari half form kept
		{"می\u200cخواهم and more", "می\u200cخواهم and more"},                     // Persian non-joiner kept
		{"wаtеrmаrk here", "watermark here"},                                     // Cyrillic а, е
		{"Тhе rаin in Ѕраin", "The rain in Spain"},                               // Cyrillic capitals
		{"Greek Νοw and Ζero", "Greek Now and Zero"},                             // Greek Ν ο Ζ
		{"Привет, мир! Как дела?", "Привет, мир! Как дела?"},                     // Russian text untouched
		{"The Russian word мир means peace", "The Russian word мир means peace"}, // not folded: м, и, р
		{"Ελληνικά κείμενα μένουν", "Ελληνικά κείμενα μένουν"},                   // Greek text untouched
		{"а\u200dx in Latin text", "ax in Latin text"},                           // a joiner after a folded look-alike goes too
		{"bad \xff utf8 wаy", "bad \ufffd utf8 way"},
		{"\xe2\x80\u200b\x8b", "\ufffd\ufffd"}, // no new character spliced from broken bytes
		{"Српски ја и ти", "Српски ја и ти"},   // Serbian: look-alike words in Cyrillic text stay
		{"ΚΑΙ ΤΟ ΣΠΙΤΙ", "ΚΑΙ ΤΟ ΣΠΙΤΙ"},       // Greek capitals in Greek text stay
		{"", ""},
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestUndoesAttacks applies the attack package's homoglyph and zero-width
// attacks at full strength to real English text and checks that
// normalization restores it exactly. (The two tables were written
// separately; this checks that the defense covers every look-alike the
// attack uses.)
func TestUndoesAttacks(t *testing.T) {
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Skip(err)
	}
	text := doc.Text[:200_000]
	if i := strings.IndexFunc(text, func(r rune) bool { return r >= utf8.RuneSelf }); i >= 0 {
		text = strings.Map(func(r rune) rune {
			if r >= utf8.RuneSelf {
				return ' '
			}
			return r
		}, text)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, frac := range []float64{0.1, 0.5, 1} {
		h, err := attack.Homoglyphs(rng, text, frac)
		if err != nil {
			t.Fatal(err)
		}
		if Text(h) != text {
			t.Errorf("homoglyphs at %v not undone", frac)
		}
		z, err := attack.ZeroWidth(rng, text, frac)
		if err != nil {
			t.Fatal(err)
		}
		if Text(z) != text {
			t.Errorf("zero-width characters at %v not undone", frac)
		}
		both, _ := attack.ZeroWidth(rng, h, frac)
		if Text(both) != text {
			t.Errorf("homoglyphs and zero-width characters at %v not undone", frac)
		}
	}
}

func TestTokenizer(t *testing.T) {
	tok, err := tokenize.Get(tokenize.Default)
	if err != nil {
		t.Fatal(err)
	}
	n := Tokenizer(tok)
	if n.Name() != tok.Name()+"+normalize" {
		t.Errorf("name %q", n.Name())
	}
	got, _ := n.AppendEncode(nil, "wа\u200btеr")
	want, _ := tok.AppendEncode(nil, "water")
	if len(got) != len(want) || got[0] != want[0] {
		t.Errorf("normalized ids %v, want %v", got, want)
	}
}

func FuzzText(f *testing.F) {
	for _, s := range []string{"wа\u200bter", "Привет мир", "а\u200dx", "👩\u200d💻", "\xff\u200d", "Тhе ο"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if again := Text(out); again != out {
			t.Fatalf("%q: not idempotent: %q then %q", s, out, again)
		}
		if valid := strings.ToValidUTF8(s, "\ufffd"); len(out) > len(valid) {
			t.Fatalf("%q: normalized text grew to %q", s, out)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("%q: invalid UTF-8 out %q", s, out)
		}
	})
}
