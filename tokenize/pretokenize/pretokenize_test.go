package pretokenize

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
	// Registers the compiled matchers of the tiktoken patterns with regexp2,
	// so the reference below is exactly the one tiktoken-go runs.
	_ "github.com/tiktoken-go/tokenizer/codec"
)

// referencePatterns are the split patterns as tiktoken-go v0.10.0 compiles
// them.
var referencePatterns = map[Pattern]string{
	O200k:  `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	Cl100k: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	GPT2:   `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
}

var patterns = []Pattern{O200k, Cl100k, GPT2}

// referencePieces splits text with regexp2, as tiktoken-go does.
func referencePieces(t testing.TB, re *regexp2.Regexp, text string) []string {
	var out []string
	m, err := re.FindStringMatch(text)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		out = append(out, m.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compare checks that s splits text exactly as re does and returns false,
// after reporting the first difference, if not.
func compare(t testing.TB, s *Splitter, re *regexp2.Regexp, name, text string) bool {
	t.Helper()
	want := referencePieces(t, re, text)
	got := s.AppendPieces(nil, text)
	for k := 0; k < len(want) || k < len(got); k++ {
		if k >= len(want) || k >= len(got) || want[k] != got[k] {
			lo := max(0, k-3)
			t.Errorf("%v %s: piece %d differs:\n got  %q\n want %q", s.Pattern(), name,
				k, got[lo:min(len(got), k+2)], want[lo:min(len(want), k+2)])
			return false
		}
	}
	return true
}

func splitters(t testing.TB, compat bool) map[Pattern]*Splitter {
	out := map[Pattern]*Splitter{}
	for _, p := range patterns {
		s, err := newSplitter(p, compat)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = s
	}
	return out
}

func TestKnownSplits(t *testing.T) {
	for _, c := range []struct {
		p    Pattern
		text string
		want []string
	}{
		{O200k, "Hello world's  end\n\n  x", []string{"Hello", " world's", " ", " end", "\n\n", " ", " x"}},
		{O200k, "HELLOWorld 12345 日本語A", []string{"HELLOWorld", " ", "123", "45", " 日本語", "A"}},
		{O200k, "\u0301A", []string{"\u0301", "A"}},
		{O200k, "a\x7fb", []string{"a", "\x7fb"}},
		{O200k, "path/to\r\n", []string{"path", "/to", "\r\n"}},
		{O200k, "don'ſ", []string{"don'ſ"}},
		{Cl100k, "I'M here 1234", []string{"I", "'M", " here", " ", "123", "4"}},
		{GPT2, "I'M here 1234  ", []string{"I", "'", "M", " here", " 1234", "  "}},
	} {
		s, _ := New(c.p)
		got := s.AppendPieces(nil, c.text)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%v %q: got %q, want %q", c.p, c.text, got, c.want)
		}
	}
}

// TestDELDefect pins the one known difference from tiktoken-go: it drops DEL.
func TestDELDefect(t *testing.T) {
	for _, p := range patterns {
		re := regexp2.MustCompile(referencePatterns[p], regexp2.None)
		text := "a\x7fb \x7f\x7f c"
		if got := strings.Join(referencePieces(t, re, text), ""); strings.Contains(got, "\x7f") {
			t.Logf("%v: tiktoken-go no longer drops DEL (%q); the compatibility splitter can go", p, got)
		}
		s, _ := New(p)
		if got := strings.Join(s.AppendPieces(nil, text), ""); got != text {
			t.Errorf("%v: pieces %q do not tile the text", p, got)
		}
	}
}

// readTree returns the .go files under dir, every stride-th one.
func readTree(t testing.TB, dir string, stride int) map[string]string {
	files := map[string]string{}
	k := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		k++
		if k%stride != 0 {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil {
			files[path] = strings.ToValidUTF8(string(b), "\uFFFD")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestMatchesRegexpOnRealText compares piece by piece with the regular
// expressions on Opticks and Go source (a sample in -short mode).
func TestMatchesRegexpOnRealText(t *testing.T) {
	root := runtime.GOROOT()
	texts := readTree(t, filepath.Join(root, "src"), map[bool]int{true: 50, false: 5}[testing.Short()])
	opticks, err := os.ReadFile(filepath.Join(root, "src", "testdata", "Isaac.Newton-Opticks.txt"))
	if err != nil {
		t.Fatal(err)
	}
	texts["Opticks"] = string(opticks)
	for p, s := range splitters(t, true) {
		re := regexp2.MustCompile(referencePatterns[p], regexp2.None)
		for name, text := range texts {
			if !compare(t, s, re, name, text) {
				break
			}
		}
	}
}

// randomText mixes the kinds of characters the patterns treat differently.
func randomText(rng *rand.Rand, n int) string {
	alphabets := []string{
		"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789",
		" ", "  \t", "\r\n", "\n", "'", "'s'S're'RE'll'LL'd've'M'tſ", "/.,;:!?-_()[]{}\"#$%&*+<=>@\\^`|~",
		"\x00\x01\x1f\x7f", "éüñçßøåÉÜÑ", "ǅǈǋǲ", "ʰʲˠˡ", "\u0300\u0301\u0302\u0308\u20dd", "日本語中文漢字",
		"ひらがなカタカナ", "한국어", "Ελληνικά", "Русский", "العربية", "עברית", "हिन्दी", "ไทย",
		"٠١٢٣४५६७", "ⅠⅡⅢ½¼²³", "\u00a0\u2000\u2028\u2029\u3000\u0085\u1680", "\u200b\u200c\u200d\ufeff",
		"🙂👍🏽👨‍👩‍👧‍👦🏳️‍🌈", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢𠜎𠜱", "\ufffd",
	}
	var b strings.Builder
	for b.Len() < n {
		a := []rune(alphabets[rng.IntN(len(alphabets))])
		for k := rng.IntN(6) + 1; k > 0; k-- {
			b.WriteRune(a[rng.IntN(len(a))])
		}
	}
	return b.String()
}

func TestMatchesRegexpOnRandomMixes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := map[bool]int{true: 3000, false: 30000}[testing.Short()]
	for p, s := range splitters(t, true) {
		re := regexp2.MustCompile(referencePatterns[p], regexp2.None)
		for range n {
			if !compare(t, s, re, "random", randomText(rng, 1+rng.IntN(60))) {
				break
			}
		}
	}
}

func FuzzMatchesRegexp(f *testing.F) {
	for _, s := range []string{"Hello, world!", "I'm 12345 日本 \u0301a  \n\n x", "a\x7fb", "🙂 👍🏽 ZWJ:👨‍👩‍👧", "\t\r\n  ", "don'ſ 'LL"} {
		f.Add(s)
	}
	sp, exact := splitters(f, true), splitters(f, false)
	res := map[Pattern]*regexp2.Regexp{}
	for _, p := range patterns {
		res[p] = regexp2.MustCompile(referencePatterns[p], regexp2.None)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			text = strings.ToValidUTF8(text, "\uFFFD")
		}
		for _, p := range patterns {
			compare(t, sp[p], res[p], "fuzz", text)
			if got := strings.Join(exact[p].AppendPieces(nil, text), ""); got != text {
				t.Errorf("%v: pieces do not tile the text", p)
			}
		}
	})
}

func TestNextDoesNotAllocate(t *testing.T) {
	s, _ := New(O200k)
	text := "The quick brown fox's 123 jumps — 日本語 🙂\n\n  over"
	if n := testing.AllocsPerRun(100, func() {
		for i := 0; i < len(text); {
			_, i = s.Next(text, i)
		}
	}); n != 0 {
		t.Errorf("Next allocates %v times per text", n)
	}
}
