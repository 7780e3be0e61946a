package attack_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/tracemark/tracemark/benchmarks/attack"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/tokenize"
)

// The project's model and tokenizers plug in directly.
var (
	_ attack.Alternatives = (*ngram.Session)(nil)
	_ attack.Codec        = tokenize.Tokenizer(nil)
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// want is round(frac·n), the number of edits the package promises.
func want(frac float64, n int) int { return int(math.Round(frac * float64(n))) }

var fracs = []float64{0, 0.01, 0.1, 0.25, 1.0 / 3, 0.5, 0.9, 1}
var sizes = []int{0, 1, 2, 7, 100, 1001}

// seq returns base, base+1, ..., base+n-1: distinct IDs, so edits can be
// recognised by construction.
func seq(base uint32, n int) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = base + uint32(i)
	}
	return s
}

// randIDs returns n IDs in [0, vocab), with repeats.
func randIDs(rng *rand.Rand, n, vocab int) []uint32 {
	s := make([]uint32, n)
	for i := range s {
		s[i] = uint32(rng.IntN(vocab))
	}
	return s
}

// isSubsequence reports whether sub is a subsequence of s.
func isSubsequence(sub, s []uint32) bool {
	j := 0
	for _, x := range s {
		if j < len(sub) && sub[j] == x {
			j++
		}
	}
	return j == len(sub)
}

func TestDelete(t *testing.T) {
	rng := newRand(1)
	for _, n := range sizes {
		for _, frac := range fracs {
			for _, ids := range [][]uint32{seq(0, n), randIDs(rng, n, 3)} {
				orig := slices.Clone(ids)
				out, err := attack.Delete(rng, ids, frac)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids, orig) {
					t.Fatalf("n=%d frac=%v: input modified", n, frac)
				}
				if got, w := len(ids)-len(out), want(frac, n); got != w {
					t.Fatalf("n=%d frac=%v: deleted %d, want %d", n, frac, got, w)
				}
				if !isSubsequence(out, ids) {
					t.Fatalf("n=%d frac=%v: output is not a subsequence of the input", n, frac)
				}
			}
		}
	}
}

func TestDeleteUniform(t *testing.T) {
	// Each position is deleted with probability frac: check the counts.
	const n, trials = 10, 20000
	rng := newRand(2)
	var kept [n]int
	for range trials {
		out, err := attack.Delete(rng, seq(0, n), 0.3)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range out {
			kept[id]++
		}
	}
	for i, c := range kept {
		if p := float64(c) / trials; math.Abs(p-0.7) > 0.02 {
			t.Errorf("position %d kept with frequency %.3f, want 0.7", i, p)
		}
	}
}

func TestInsert(t *testing.T) {
	const vocab = 50
	rng := newRand(3)
	for _, n := range sizes {
		for _, frac := range fracs {
			ids := seq(vocab, n) // all ≥ vocab: inserted tokens are those < vocab
			out, err := attack.Insert(rng, ids, frac, vocab)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, seq(vocab, n)) {
				t.Fatalf("n=%d frac=%v: input modified", n, frac)
			}
			var rest []uint32
			inserted := 0
			for _, id := range out {
				if id < vocab {
					inserted++
				} else {
					rest = append(rest, id)
				}
			}
			if w := want(frac, n); inserted != w || len(out) != n+w {
				t.Fatalf("n=%d frac=%v: inserted %d (len %d), want %d", n, frac, inserted, len(out), w)
			}
			if !slices.Equal(rest, ids) {
				t.Fatalf("n=%d frac=%v: original tokens not kept in order", n, frac)
			}
		}
	}
	if _, err := attack.Insert(rng, seq(0, 5), 0.5, 0); err == nil {
		t.Error("vocab 0: no error")
	}
}

func TestSubstitute(t *testing.T) {
	rng := newRand(4)
	for _, vocab := range []int{2, 3, 1000} {
		for _, n := range sizes {
			for _, frac := range fracs {
				ids := randIDs(rng, n, vocab)
				orig := slices.Clone(ids)
				out, err := attack.Substitute(rng, ids, frac, vocab)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids, orig) {
					t.Fatalf("input modified")
				}
				if len(out) != n {
					t.Fatalf("length %d, want %d", len(out), n)
				}
				diff := 0
				for i := range out {
					if out[i] >= uint32(vocab) {
						t.Fatalf("token %d outside vocabulary %d", out[i], vocab)
					}
					if out[i] != ids[i] {
						diff++
					}
				}
				if w := want(frac, n); diff != w {
					t.Fatalf("vocab=%d n=%d frac=%v: %d positions changed, want %d", vocab, n, frac, diff, w)
				}
			}
		}
	}
	// IDs outside the vocabulary are replaced by tokens inside it.
	out, err := attack.Substitute(rng, seq(100, 10), 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range out {
		if id >= 5 {
			t.Fatalf("out-of-vocabulary substitution gave %d", id)
		}
	}
	if _, err := attack.Substitute(rng, seq(0, 5), 0.5, 1); err == nil {
		t.Error("vocab 1: no error")
	}
}

// chainModel proposes, after a context ending in w, the tokens w+1, w+2,
// ... (mod vocab), with log-probabilities -1, -2, ...: its candidates
// depend on the last context token, so using the wrong prefix shows.
type chainModel struct{ vocab uint32 }

func (m chainModel) cands(ctx []uint32, k int) []uint32 {
	var w uint32
	if len(ctx) > 0 {
		w = ctx[len(ctx)-1]
	}
	var c []uint32
	for j := range min(k, int(m.vocab)) {
		c = append(c, (w+1+uint32(j))%m.vocab)
	}
	return c
}

func (m chainModel) TopK(ctx []uint32, k int, ids []uint32, logProbs []float32) int {
	c := m.cands(ctx, min(k, len(ids), len(logProbs)))
	for j, w := range c {
		ids[j], logProbs[j] = w, -float32(j+1)
	}
	return len(c)
}

// fixedModel always proposes the same tokens with the same log-probabilities.
type fixedModel struct {
	ids []uint32
	lps []float32
}

func (m fixedModel) TopK(_ []uint32, k int, ids []uint32, logProbs []float32) int {
	n := min(k, len(ids), len(logProbs), len(m.ids))
	copy(ids, m.ids[:n])
	copy(logProbs, m.lps[:n])
	return n
}

func TestSubstituteWithModel(t *testing.T) {
	rng := newRand(5)
	const vocab = 20
	m := chainModel{vocab}
	for _, k := range []int{1, 2, 5} {
		for _, n := range sizes {
			for _, frac := range fracs {
				ids := randIDs(rng, n, vocab)
				orig := slices.Clone(ids)
				out, changed, err := attack.SubstituteWithModel(rng, ids, frac, m, k)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids, orig) {
					t.Fatal("input modified")
				}
				diff := 0
				for i := range out {
					if out[i] == ids[i] {
						continue
					}
					diff++
					// The candidates come from the edited prefix out[:i].
					if !slices.Contains(m.cands(out[:i], k), out[i]) {
						t.Fatalf("k=%d: position %d got %d, not among the model's candidates after the edited prefix %v",
							k, i, out[i], m.cands(out[:i], k))
					}
				}
				if diff != changed {
					t.Fatalf("reported %d changes, counted %d", changed, diff)
				}
				w := want(frac, n)
				if k >= 2 && changed != w {
					// With two distinct candidates one always differs from the original.
					t.Fatalf("k=%d n=%d frac=%v: changed %d, want %d", k, n, frac, changed, w)
				}
				if changed > w {
					t.Fatalf("changed %d > %d offered", changed, w)
				}
			}
		}
	}

	// A model that only proposes the original token changes nothing.
	ids := []uint32{7, 7, 7, 7}
	out, changed, err := attack.SubstituteWithModel(rng, ids, 1, fixedModel{[]uint32{7}, []float32{0}}, 3)
	if err != nil || changed != 0 || !slices.Equal(out, ids) {
		t.Fatalf("only-original model: %v, %d, %v", out, changed, err)
	}
}

func TestSubstituteWithModelProportions(t *testing.T) {
	ln := func(p float64) float32 { return float32(math.Log(p)) }
	model := fixedModel{
		ids: []uint32{1, 2, 3, 4, 5},
		lps: []float32{ln(0.5), ln(0.3), ln(0.2), float32(math.NaN()), float32(math.Inf(-1))},
	}
	const n = 30000
	for _, tc := range []struct {
		orig uint32
		want map[uint32]float64
	}{
		{0, map[uint32]float64{1: 0.5, 2: 0.3, 3: 0.2}},
		{1, map[uint32]float64{2: 0.6, 3: 0.4}}, // the original is excluded
	} {
		ids := make([]uint32, n)
		for i := range ids {
			ids[i] = tc.orig
		}
		out, changed, err := attack.SubstituteWithModel(newRand(6), ids, 1, model, 5)
		if err != nil {
			t.Fatal(err)
		}
		if changed != n {
			t.Fatalf("changed %d, want %d", changed, n)
		}
		count := map[uint32]int{}
		for _, id := range out {
			count[id]++
		}
		for id, c := range count {
			p, ok := tc.want[id]
			if !ok {
				t.Fatalf("orig %d: drew unexpected token %d", tc.orig, id)
			}
			if f := float64(c) / n; math.Abs(f-p) > 0.015 {
				t.Errorf("orig %d: token %d drawn with frequency %.3f, want %.3f", tc.orig, id, f, p)
			}
		}
	}
}

func TestCopyPaste(t *testing.T) {
	rng := newRand(7)
	const markBase = 1 << 20
	for _, n := range sizes {
		for _, frac := range fracs {
			marked, human := seq(markBase, n), seq(0, 2*n+3)
			out, err := attack.CopyPaste(rng, marked, human, frac)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(marked, seq(markBase, n)) || !slices.Equal(human, seq(0, 2*n+3)) {
				t.Fatal("input modified")
			}
			if len(out) != n {
				t.Fatalf("length %d, want %d", len(out), n)
			}
			// Split into the marked span and the human text around it.
			first, last := -1, -1
			var around []uint32
			for i, id := range out {
				if id >= markBase {
					if first < 0 {
						first = i
					}
					last = i
				} else {
					around = append(around, id)
				}
			}
			s := 0
			if first >= 0 {
				s = last - first + 1
				if !slices.Equal(out[first:last+1], seq(out[first], s)) {
					t.Fatalf("n=%d frac=%v: marked span not contiguous and intact: %v", n, frac, out)
				}
			}
			if s+len(around) != n {
				t.Fatalf("n=%d frac=%v: marked tokens outside the span: %v", n, frac, out)
			}
			if math.Abs(float64(s)-frac*float64(n)) > 1 {
				t.Fatalf("n=%d frac=%v: span of %d tokens, want %v±1", n, frac, s, frac*float64(n))
			}
			if len(around) > 0 && !slices.Equal(around, seq(around[0], len(around))) {
				t.Fatalf("n=%d frac=%v: human text is not one window: %v", n, frac, around)
			}
		}
	}
	if _, err := attack.CopyPaste(rng, seq(100, 10), seq(0, 3), 0.5); !errors.Is(err, attack.ErrShortHuman) {
		t.Errorf("short human text: error %v, want ErrShortHuman", err)
	}
	out, err := attack.CopyPaste(rng, seq(100, 10), nil, 1)
	if err != nil || !slices.Equal(out, seq(100, 10)) {
		t.Errorf("frac 1: %v, %v; want the marked text", out, err)
	}
}

// runeCodec is a toy tokenizer with one token per rune. It re-encodes
// "ﬁ" (U+FB01) as "fi", so decoding and re-encoding is not the identity.
type runeCodec struct{}

func (runeCodec) Decode(ids []uint32) (string, error) {
	var b strings.Builder
	for _, id := range ids {
		if !utf8.ValidRune(rune(id)) {
			return "", fmt.Errorf("bad token %d", id)
		}
		b.WriteRune(rune(id))
	}
	return b.String(), nil
}

func (runeCodec) AppendEncode(dst []uint32, text string) ([]uint32, error) {
	for _, r := range text {
		if r == 'ﬁ' {
			dst = append(dst, 'f', 'i')
			continue
		}
		dst = append(dst, uint32(r))
	}
	return dst, nil
}

func runeIDs(s string) []uint32 {
	var ids []uint32
	for _, r := range s {
		ids = append(ids, uint32(r))
	}
	return ids
}

func TestReEncode(t *testing.T) {
	ids := runeIDs("ﬁne")
	out, err := attack.ReEncode(runeCodec{}, ids)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out, runeIDs("fine")) || !slices.Equal(ids, runeIDs("ﬁne")) {
		t.Fatalf("ReEncode = %v, input now %v", out, ids)
	}
	if _, err := attack.ReEncode(runeCodec{}, []uint32{0xD800}); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Errorf("bad token: error %v", err)
	}
}

const sample = "The quick brown fox jumps over the lazy dog.\n" +
	"  Ελληνικά, Кириллица and ǅemal's straße — 日本語 😀!\r\n\tTabs\u00a0and NBSP.\n\n"

// opticks returns the Opticks text (about 550 kB), cut to n bytes at a
// rune boundary.
func opticks(t testing.TB, n int) string {
	t.Helper()
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	s := doc.Text
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}

// randomText returns a random string mixing ASCII, whitespace, letters
// with homoglyphs, other scripts and emoji.
func randomText(rng *rand.Rand, n int) string {
	pool := []rune("aAbBeEoOpPxXyYzZ  \n\t\r\u00a0\u2028ßǅσΣЖж日😀\u200b\ufeff0.,")
	var b strings.Builder
	for range n {
		b.WriteRune(pool[rng.IntN(len(pool))])
	}
	return b.String()
}

func TestHomoglyphs(t *testing.T) {
	rng := newRand(8)
	for _, text := range []string{"", sample, opticks(t, 20000), randomText(rng, 500)} {
		// Remove look-alikes already present so the inverse is unambiguous.
		text = strings.Map(func(r rune) rune {
			if l, ok := attack.FromHomoglyph(r); ok {
				return l
			}
			return r
		}, text)
		n := 0
		for _, r := range text {
			if _, ok := attack.Homoglyph(r); ok {
				n++
			}
		}
		checkRuneSwaps(t, rng, text, n, attack.Homoglyphs, "replaced", func(a, b rune) string {
			if g, ok := attack.Homoglyph(a); !ok || g != b {
				return fmt.Sprintf("%q replaced by %q, not its look-alike", a, b)
			}
			if l, ok := attack.FromHomoglyph(b); !ok || l != a {
				return fmt.Sprintf("inverse of %q is %q, want %q", b, l, a)
			}
			return ""
		})
	}
}

// checkRuneSwaps runs a text attack that replaces runes one for one on text
// at every fraction of fracs: the output must be valid UTF-8 with as many
// runes, every changed rune must pass swapped (which says what is wrong, or
// ""), and round(frac·n) runes must change, n being those the attack may
// change.
func checkRuneSwaps(t *testing.T, rng *rand.Rand, text string, n int, fn func(*rand.Rand, string, float64) (string, error), verb string, swapped func(a, b rune) string) {
	t.Helper()
	for _, frac := range fracs {
		out, err := fn(rng, text, frac)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(out) {
			t.Fatal("invalid UTF-8")
		}
		a, b := []rune(text), []rune(out)
		if len(a) != len(b) {
			t.Fatalf("rune count %d, want %d", len(b), len(a))
		}
		diff := 0
		for i := range a {
			if a[i] == b[i] {
				continue
			}
			diff++
			if msg := swapped(a[i], b[i]); msg != "" {
				t.Fatal(msg)
			}
		}
		if w := want(frac, n); diff != w {
			t.Fatalf("frac=%v: %s %d of %d letters, want %d", frac, verb, diff, n, w)
		}
	}
}

func TestHomoglyphTable(t *testing.T) {
	seen := map[rune]rune{}
	for r := rune(0); r < 128; r++ {
		g, ok := attack.Homoglyph(r)
		if !ok {
			continue
		}
		if !unicode.IsLetter(r) || !unicode.IsLetter(g) || g < 128 {
			t.Errorf("%q → %q is not Latin letter → non-ASCII letter", r, g)
		}
		if unicode.IsUpper(r) != unicode.IsUpper(g) {
			t.Errorf("%q → %q changes case", r, g)
		}
		if prev, dup := seen[g]; dup {
			t.Errorf("%q is the look-alike of both %q and %q", g, prev, r)
		}
		seen[g] = r
		if l, ok := attack.FromHomoglyph(g); !ok || l != r {
			t.Errorf("FromHomoglyph(%q) = %q, %v; want %q", g, l, ok, r)
		}
	}
	if len(seen) < 20 {
		t.Errorf("only %d homoglyphs", len(seen))
	}
}

func dropZeroWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if attack.IsZeroWidth(r) {
			return -1
		}
		return r
	}, s)
}

func TestZeroWidth(t *testing.T) {
	rng := newRand(9)
	for _, text := range []string{"", sample, opticks(t, 20000), dropZeroWidth(randomText(rng, 500))} {
		n := utf8.RuneCountInString(text)
		for _, frac := range fracs {
			out, err := attack.ZeroWidth(rng, text, frac)
			if err != nil {
				t.Fatal(err)
			}
			if !utf8.ValidString(out) {
				t.Fatal("invalid UTF-8")
			}
			if dropZeroWidth(out) != text {
				t.Fatalf("frac=%v: removing zero-width characters does not restore the input", frac)
			}
			if got, w := utf8.RuneCountInString(out)-n, want(frac, n); got != w {
				t.Fatalf("frac=%v: inserted %d, want %d", frac, got, w)
			}
			if strings.HasPrefix(out, "\u200b") || strings.HasPrefix(out, "\u200c") ||
				strings.HasPrefix(out, "\u200d") || strings.HasPrefix(out, "\u2060") || strings.HasPrefix(out, "\ufeff") {
				t.Fatal("zero-width character inserted before the first character")
			}
		}
	}
	// All five characters get used.
	out, err := attack.ZeroWidth(rng, strings.Repeat("x", 200), 1)
	if err != nil {
		t.Fatal(err)
	}
	used := map[rune]bool{}
	for _, r := range out {
		if attack.IsZeroWidth(r) {
			used[r] = true
		}
	}
	if len(used) != 5 {
		t.Errorf("used %d distinct zero-width characters, want 5", len(used))
	}
}

func TestCase(t *testing.T) {
	rng := newRand(10)
	for _, text := range []string{"", sample, opticks(t, 20000), randomText(rng, 500)} {
		n := 0
		for _, r := range text {
			if unicode.ToUpper(r) != r || unicode.ToLower(r) != r {
				n++
			}
		}
		checkRuneSwaps(t, rng, text, n, attack.Case, "flipped", func(a, b rune) string {
			if b != unicode.ToUpper(a) && b != unicode.ToLower(a) {
				return fmt.Sprintf("%q became %q: not a case change", a, b)
			}
			if unicode.IsUpper(a) && !unicode.IsLower(b) || unicode.IsLower(a) && !unicode.IsUpper(b) {
				return fmt.Sprintf("%q became %q: case not flipped", a, b)
			}
			return ""
		})
	}
	out, err := attack.Case(rng, "aBǅß1", 1)
	if err != nil || out != "Abǆß1" {
		t.Errorf("Case(aBǅß1, 1) = %q, %v; want %q", out, err, "Abǆß1")
	}
}

// wsRuns splits s into whitespace runs and the text between them.
func wsRuns(s string) (runs []string, words string) {
	var w strings.Builder
	start := -1
	for i, r := range s {
		if unicode.IsSpace(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			runs = append(runs, s[start:i])
			start = -1
		}
		w.WriteRune(r)
	}
	if start >= 0 {
		runs = append(runs, s[start:])
	}
	return runs, w.String()
}

func TestWhitespace(t *testing.T) {
	rng := newRand(11)
	for _, text := range []string{"", "nospace", sample, opticks(t, 20000), randomText(rng, 500)} {
		runs, words := wsRuns(text)
		for _, frac := range fracs {
			out, err := attack.Whitespace(rng, text, frac)
			if err != nil {
				t.Fatal(err)
			}
			if !utf8.ValidString(out) {
				t.Fatal("invalid UTF-8")
			}
			outRuns, outWords := wsRuns(out)
			if outWords != words {
				t.Fatalf("frac=%v: non-space text changed", frac)
			}
			if len(outRuns) != len(runs) {
				t.Fatalf("frac=%v: %d whitespace runs, want %d", frac, len(outRuns), len(runs))
			}
			diff := 0
			for i := range runs {
				if runs[i] != outRuns[i] {
					diff++
				}
			}
			if w := want(frac, len(runs)); diff != w {
				t.Fatalf("frac=%v: changed %d of %d runs, want %d", frac, diff, len(runs), w)
			}
		}
	}
	// Each kind of edit occurs.
	seen := map[string]bool{}
	for seed := range uint64(200) {
		out, err := attack.Whitespace(newRand(seed), "a\n b", 1)
		if err != nil {
			t.Fatal(err)
		}
		seen[out] = true
	}
	for _, w := range []string{"a\n  b", "a\n\nb", "a\n\tb", "a \n b"} {
		if !seen[w] {
			t.Errorf("edit giving %q never seen; saw %v", w, seen)
		}
	}
	if out, err := attack.Whitespace(newRand(1), "a\r\nb", 1); err != nil || out != "a \r\nb" {
		t.Errorf(`Whitespace("a\r\nb", 1) = %q, %v; want "a \r\nb"`, out, err)
	}
}

func TestInvalidUTF8(t *testing.T) {
	for _, a := range attack.Catalogue() {
		if a.Level != attack.Text {
			continue
		}
		if _, err := a.ApplyText(newRand(1), "ab\xffc", 0.5); !errors.Is(err, attack.ErrInvalidUTF8) {
			t.Errorf("%s: error %v, want ErrInvalidUTF8", a.Name, err)
		}
	}
}

// inputs returns Inputs for every attack of the catalogue.
func inputs() attack.Inputs {
	return attack.Inputs{
		Vocab: 0x3000, // covers the runes of the test texts but the emoji
		Model: chainModel{0x3000},
		K:     4,
		Human: runeIDs(strings.Repeat("human text, not marked. ", 100)),
		Codec: runeCodec{},
	}
}

func TestStrengthErrors(t *testing.T) {
	ids := runeIDs(sample)
	for _, a := range attack.Catalogue() {
		for _, s := range []float64{-0.01, 1.01, math.NaN(), math.Inf(1), math.Inf(-1)} {
			_, err := a.ApplyTokens(newRand(1), ids, s, inputs())
			if !errors.Is(err, attack.ErrStrength) {
				t.Errorf("%s, ApplyTokens strength %v: error %v, want ErrStrength", a.Name, s, err)
			}
			if a.Level == attack.Text {
				if _, err := a.ApplyText(newRand(1), sample, s); !errors.Is(err, attack.ErrStrength) {
					t.Errorf("%s, ApplyText strength %v: error %v, want ErrStrength", a.Name, s, err)
				}
			}
		}
		if _, err := a.ApplyTokens(nil, ids, 0.5, inputs()); err == nil {
			t.Errorf("%s: nil rng: no error", a.Name)
		}
	}
	if _, _, err := attack.SubstituteWithModel(newRand(1), ids, 2, chainModel{5}, 1); !errors.Is(err, attack.ErrStrength) {
		t.Errorf("SubstituteWithModel: error %v", err)
	}
}

func TestCatalogue(t *testing.T) {
	cat := attack.Catalogue()
	names := map[string]bool{}
	for _, a := range cat {
		if names[a.Name] {
			t.Errorf("duplicate name %q", a.Name)
		}
		names[a.Name] = true
		if a.Level != attack.Token && a.Level != attack.Text || a.Doc == "" {
			t.Errorf("%s: level %q, doc %q", a.Name, a.Level, a.Doc)
		}
		if got, err := attack.Lookup(a.Name); err != nil || got.Name != a.Name {
			t.Errorf("Lookup(%q) = %v, %v", a.Name, got.Name, err)
		}
		if a.Level == attack.Token {
			if _, err := a.ApplyText(newRand(1), sample, 0.5); err == nil {
				t.Errorf("%s: ApplyText on a token attack: no error", a.Name)
			}
		}
	}
	if len(cat) != 9 {
		t.Errorf("%d attacks, want 9", len(cat))
	}
	if _, err := attack.Lookup("nope"); err == nil {
		t.Error("Lookup(nope): no error")
	}
	cat[0].Name = "changed"
	if attack.Catalogue()[0].Name == "changed" {
		t.Error("Catalogue shares its slice")
	}
}

func TestCatalogueUniform(t *testing.T) {
	text := sample + opticks(t, 5000)
	ids := runeIDs(text)
	in := inputs()
	for _, a := range attack.Catalogue() {
		orig := slices.Clone(ids)
		// Strength 0 is the identity.
		out, err := a.ApplyTokens(newRand(1), ids, 0, in)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		if !slices.Equal(out, ids) {
			t.Errorf("%s: strength 0 changed the tokens", a.Name)
		}
		if a.Level == attack.Text {
			if s, err := a.ApplyText(newRand(1), text, 0); err != nil || s != text {
				t.Errorf("%s: strength 0 changed the text (%v)", a.Name, err)
			}
		}
		// Same seed, same output; another seed, another output.
		x, err1 := a.ApplyTokens(newRand(42), ids, 0.2, in)
		y, err2 := a.ApplyTokens(newRand(42), ids, 0.2, in)
		z, err3 := a.ApplyTokens(newRand(43), ids, 0.2, in)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		if !slices.Equal(x, y) {
			t.Errorf("%s: same seed, different output", a.Name)
		}
		if slices.Equal(x, z) {
			t.Errorf("%s: seeds 42 and 43 give the same output", a.Name)
		}
		if slices.Equal(x, ids) {
			t.Errorf("%s: strength 0.2 changed nothing", a.Name)
		}
		if !slices.Equal(ids, orig) {
			t.Errorf("%s: input modified", a.Name)
		}
		if a.Level == attack.Text {
			// ApplyTokens on a text attack is decode, ApplyText, encode.
			s, err := a.ApplyText(newRand(42), text, 0.2)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(x, runeIDs(s)) {
				t.Errorf("%s: ApplyTokens differs from ApplyText", a.Name)
			}
		}
	}
}

func TestTextAttacksValidUTF8(t *testing.T) {
	rng := newRand(12)
	texts := []string{opticks(t, 1<<30)}
	for range 20 {
		texts = append(texts, randomText(rng, rng.IntN(300)))
	}
	for _, a := range attack.Catalogue() {
		if a.Level != attack.Text {
			continue
		}
		for _, text := range texts {
			for _, s := range []float64{0.05, 0.5, 1} {
				out, err := a.ApplyText(rng, text, s)
				if err != nil {
					t.Fatalf("%s: %v", a.Name, err)
				}
				if !utf8.ValidString(out) {
					t.Fatalf("%s: invalid UTF-8 output", a.Name)
				}
			}
		}
	}
}

func ExampleDelete() {
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []uint32{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}
	out, err := attack.Delete(rng, ids, 0.3) // deletes round(0.3·10) = 3 tokens
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	// Output: [10 11 13 14 15 18 19]
}

// fuzzText fuzzes a text attack: it must not panic, must reject invalid
// UTF-8 and strengths outside [0, 1], and otherwise return valid UTF-8 for
// which check holds.
func fuzzText(f *testing.F, fn func(*rand.Rand, string, float64) (string, error), check func(t *testing.T, in, out string)) {
	for _, s := range []string{"", sample, "a b\nc", "\xff", "ǅ\u2028 \r\n\t"} {
		f.Add(s, 0.5, uint64(1))
		f.Add(s, 1.0, uint64(2))
	}
	f.Fuzz(func(t *testing.T, text string, strength float64, seed uint64) {
		out, err := fn(newRand(seed), text, strength)
		valid := utf8.ValidString(text) && strength >= 0 && strength <= 1
		if !valid {
			if err == nil {
				t.Fatalf("no error for text %q, strength %v", text, strength)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 output %q", out)
		}
		check(t, text, out)
	})
}

func FuzzHomoglyphs(f *testing.F) {
	fuzzText(f, attack.Homoglyphs, func(t *testing.T, in, out string) {
		a, b := []rune(in), []rune(out)
		if len(a) != len(b) {
			t.Fatalf("rune count changed")
		}
		for i := range a {
			if g, _ := attack.Homoglyph(a[i]); b[i] != a[i] && b[i] != g {
				t.Fatalf("%q became %q", a[i], b[i])
			}
		}
	})
}

func FuzzZeroWidth(f *testing.F) {
	fuzzText(f, attack.ZeroWidth, func(t *testing.T, in, out string) {
		if dropZeroWidth(out) != dropZeroWidth(in) {
			t.Fatalf("not only zero-width characters inserted")
		}
	})
}

func FuzzCase(f *testing.F) {
	fuzzText(f, attack.Case, func(t *testing.T, in, out string) {
		if utf8.RuneCountInString(in) != utf8.RuneCountInString(out) {
			t.Fatalf("rune count changed")
		}
	})
}

func FuzzWhitespace(f *testing.F) {
	fuzzText(f, attack.Whitespace, func(t *testing.T, in, out string) {
		inRuns, inWords := wsRuns(in)
		outRuns, outWords := wsRuns(out)
		if inWords != outWords || len(inRuns) != len(outRuns) {
			t.Fatalf("%q became %q", in, out)
		}
	})
}
