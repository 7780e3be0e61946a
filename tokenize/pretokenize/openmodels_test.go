package pretokenize

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// openPatterns are the patterns of open models' tokenizer.json files that
// tiktoken-go does not compile, so regexp2 interprets them: the reference
// for the hand-written scanners.
var openPatterns = []Pattern{Qwen2, DeepSeekV3, Digits3, DeepSeekCJK, Tekken}

func openSplitters(t testing.TB) (map[Pattern]*Splitter, map[Pattern]*regexp2.Regexp) {
	sp, res := map[Pattern]*Splitter{}, map[Pattern]*regexp2.Regexp{}
	for _, p := range openPatterns {
		s, err := New(p)
		if err != nil {
			t.Fatal(err)
		}
		sp[p] = s
		res[p] = regexp2.MustCompile(Regexes[p], regexp2.None)
	}
	return sp, res
}

func TestOpenModelKnownSplits(t *testing.T) {
	for _, c := range []struct {
		p    Pattern
		text string
		want []string
	}{
		{Qwen2, "I'm 12345 日本語", []string{"I", "'m", " ", "1", "2", "3", "4", "5", " 日本語"}},
		{DeepSeekV3, "(foo) bar!!\n x\x00y 5", []string{"(foo", ")", " bar", "!!\n", " x", "\x00y", " "}}, // the 5 is a gap
		{DeepSeekV3, "e\u0301t\u00e9", []string{"e\u0301t\u00e9"}},
		{Digits3, "ab12345c6", []string{"123", "45", "6"}},
		{DeepSeekCJK, "a日本語かなカナ한국b中", []string{"日本語かなカナ", "中"}},
		// No contractions, one digit per piece, case changes split words.
		{Tekken, "I'm HELLOWorld's 1234 日本語A", []string{"I", "'m", " HELLOWorld", "'s", " ", "1", "2", "3", "4", " 日本語", "A"}},
		{Tekken, "path/to\r\n\u0301A x\x7fy", []string{"path", "/to", "\r\n", "\u0301", "A", " x", "\x7fy"}},
	} {
		s, err := New(c.p)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.AppendPieces(nil, c.text); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%v %q: got %q, want %q", c.p, c.text, got, c.want)
		}
	}
}

func TestRecognize(t *testing.T) {
	for p, re := range Regexes {
		if got, ok := Recognize(re); !ok || got != p {
			t.Errorf("Recognize(%v's regex) = %v, %v", p, got, ok)
		}
	}
	// Llama 3's tokenizer.json escapes the line breaks; DeepSeek-V3's
	// writes them as characters. Both spellings are recognized.
	if p, ok := Recognize(strings.ReplaceAll(Regexes[Cl100k], `\r\n`, "\r\n")); !ok || p != Llama3 {
		t.Errorf("literal line breaks: got %v, %v", p, ok)
	}
	if _, ok := Recognize(`\p{L}+|\s+`); ok {
		t.Error("an unknown regex is recognized")
	}
}

func TestOpenPatternsMatchRegexp(t *testing.T) {
	sp, res := openSplitters(t)
	rng := rand.New(rand.NewPCG(3, 4))
	n := map[bool]int{true: 2000, false: 20000}[testing.Short()]
	texts := map[string]string{}
	opticks, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "testdata", "Isaac.Newton-Opticks.txt"))
	if err != nil {
		t.Fatal(err)
	}
	texts["Opticks"] = string(opticks[:min(len(opticks), 200000)])
	for name, text := range readTree(t, filepath.Join(runtime.GOROOT(), "src", "fmt"), 1) {
		texts[name] = text
	}
	for _, p := range openPatterns {
		for name, text := range texts {
			if !compare(t, sp[p], res[p], name, text) {
				break
			}
		}
		for range n {
			if !compare(t, sp[p], res[p], "random", randomText(rng, 1+rng.IntN(60))) {
				break
			}
		}
	}
}

func FuzzOpenPatternsMatchRegexp(f *testing.F) {
	for _, s := range []string{"Hello, world!", "I'm 12345 日本 \u0301a  \n\n x", "(x)\x00y", "🙂 👍🏽 ZWJ:👨‍👩‍👧", "\t\r\n  ", "かなカナ漢字", "HELLOWorld's don'ſ path/to\r\n/", "ǅungla ʰi ⅫⅠ½ ٠١"} {
		f.Add(s)
	}
	sp, res := openSplitters(f)
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			text = strings.ToValidUTF8(text, "\uFFFD")
		}
		for _, p := range openPatterns {
			compare(t, sp[p], res[p], "fuzz", text)
		}
	})
}

// TestAppendEndsMatchesNext checks that the batches of AppendEnds, with
// room for 2 to 256 ends, give the pieces and gaps of Next, in every
// pattern, on Opticks, the fmt sources and random mixes.
func TestAppendEndsMatchesNext(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	opticks, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "testdata", "Isaac.Newton-Opticks.txt"))
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{string(opticks[:min(len(opticks), 200000)])}
	for _, text := range readTree(t, filepath.Join(runtime.GOROOT(), "src", "fmt"), 1) {
		texts = append(texts, text)
	}
	for range 5000 {
		texts = append(texts, randomText(rng, 1+rng.IntN(60)))
	}
	for p := range Regexes {
		s, err := New(p)
		if err != nil {
			t.Fatal(err)
		}
		for k, text := range texts {
			var want []int
			for i := 0; i < len(text); {
				a, b := s.Next(text, i)
				if a > i {
					want = append(want, a)
				}
				if a == b {
					break
				}
				want = append(want, b)
				i = b
			}
			var got []int
			ends := make([]int, 0, []int{2, 3, 7, 256}[k%4])
			for i := 0; i < len(text); {
				ends, i = s.AppendEnds(ends[:0], text, i)
				if len(ends) == 0 {
					t.Fatalf("%v: text %d: no progress at %d", p, k, i)
				}
				got = append(got, ends...)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%v: text %d (%q...): AppendEnds gave %d ends, Next %d", p, k, text[:min(len(text), 40)], len(got), len(want))
			}
		}
	}
}
