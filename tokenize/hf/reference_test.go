package hf_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/tracemark/tracemark/internal/noderef"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/tokenize/hf"
)

// referenceNPM is the reference implementation the tests run: Hugging
// Face's tokenizers (Rust) compiled for node, the version that wrote
// testdata/ids-*.json.
const referenceNPM = "tokenizers@0.23.2"

// reference runs testdata/reference_server.mjs under node, with
// referenceNPM installed into the cache directory on first use.
type reference struct {
	in  *bufio.Writer
	out *bufio.Scanner
	mu  sync.Mutex
}

func startReference(t testing.TB) *reference {
	t.Helper()
	in, out := noderef.Start(t, referenceNPM, "tokenizers", "testdata/reference_server.mjs")
	return &reference{in: in, out: out}
}

// encode returns the reference's IDs for text under the tokenizer.json at
// path. Ill-formed UTF-8 is sent as bytes, which the reference decodes
// with its own replacement of each maximal ill-formed subsequence.
func (r *reference) encode(t testing.TB, path, text string) []uint32 {
	t.Helper()
	req := map[string]string{"f": path, "t": text}
	if !utf8.ValidString(text) {
		// As bytes: JSON would replace each bad byte itself.
		req = map[string]string{"f": path, "b": base64.StdEncoding.EncodeToString([]byte(text))}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	line, _ := json.Marshal(req)
	r.in.Write(append(line, '\n'))
	if err := r.in.Flush(); err != nil {
		t.Fatalf("reference: %v", err)
	}
	if !r.out.Scan() {
		t.Fatalf("reference under node stopped: %v", r.out.Err())
	}
	var ids []uint32
	if err := json.Unmarshal(r.out.Bytes(), &ids); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestGutenbergSameIDsAsHuggingFace encodes, with every known tokenizer
// (added tokens matched, as the reference does) and with Hugging Face's
// tokenizers under node, the 17 Gutenberg books, the whole of Opticks, the
// Go sources of fmt, strings, encoding/json and net/http, and the 665
// stored texts with ill-formed UTF-8 put into them (the reference decodes
// those bytes itself, replacing each maximal ill-formed subsequence, as a
// serving stack's decoding of a returned text would): the IDs must be
// identical. By default it takes each book's first 50 kB and 300 kB of the
// Go sources (1.85 MB per tokenizer); with TRACEMARK_FULL_DIFFERENTIAL=1,
// whole books and sources (9.3 MB); -short skips it.
func TestGutenbergSameIDsAsHuggingFace(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	books, err := refcorpus.Gutenberg()
	if err != nil {
		t.Fatal(err)
	}
	opticks, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	code, err := refcorpus.GoSource("fmt", "strings", "encoding/json", "net/http")
	if err != nil {
		t.Fatal(err)
	}
	limit, codeLimit := 50_000, 300_000
	if os.Getenv("TRACEMARK_FULL_DIFFERENTIAL") != "" {
		limit, codeLimit = 1<<30, 1<<30
	}
	type input struct{ id, text string }
	var inputs []input
	for _, b := range books {
		inputs = append(inputs, input{b.ID, b.Text[:tokenize.UTF8Cut([]byte(b.Text[:min(limit, len(b.Text))]))]})
	}
	inputs = append(inputs, input{"opticks", opticks.Text})
	codeSize := 0
	for _, d := range code {
		if codeSize += len(d.Text); codeSize > codeLimit {
			break
		}
		inputs = append(inputs, input{d.Source, d.Text})
	}
	rng := rand.New(rand.NewPCG(17, 1))
	bad := []string{"\xff", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80", "\xc0\xaf", "\x80\x80", "\xf8\x88\x80\x80\x80"}
	invalid := 0
	for k, text := range texts(t) {
		b := []byte(text)
		for range 1 + rng.IntN(3) {
			at := rng.IntN(len(b) + 1)
			b = append(b[:at], append([]byte(bad[rng.IntN(len(bad))]), b[at:]...)...)
		}
		if !utf8.Valid(b) {
			invalid++
		}
		inputs = append(inputs, input{fmt.Sprintf("text %d with ill-formed UTF-8", k), string(b)})
	}
	if invalid < 600 {
		t.Fatalf("only %d texts hold ill-formed UTF-8", invalid)
	}
	ref := startReference(t)
	for name := range families {
		t.Run(name, func(t *testing.T) {
			path := knownFile(t, name)
			// Through tokenize.Get: the compiled form in the cache
			// directory, which loads in milliseconds.
			tok, err := tokenize.Get(name + tokenize.AddedTokensSuffix)
			if err != nil {
				t.Fatal(err)
			}
			size := 0
			for _, in := range inputs {
				size += len(in.text)
				want := ref.encode(t, path, in.text)
				got, err := tok.AppendEncode(nil, in.text)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					i := 0
					for i < min(len(got), len(want)) && got[i] == want[i] {
						i++
					}
					t.Errorf("%s: %d tokens, reference %d; first difference at token %d: got %v, want %v", in.id, len(got), len(want), i, got[i:min(i+5, len(got))], want[i:min(i+5, len(want))])
				}
			}
			t.Logf("%s: %d inputs (%d books, Opticks, Go sources, %d texts with ill-formed UTF-8), %.2f MB, identical to %s", name, len(inputs), len(books), invalid, float64(size)/1e6, referenceNPM)
		})
	}
}

// FuzzSameIDsAsHuggingFace encodes a text with Llama 3's tokenizer (added
// tokens matched). Its seed corpus is the 665 texts of testdata/texts.json,
// whose IDs Hugging Face's tokenizers@0.23.2 (npm) wrote to
// testdata/ids-llama3.json: a seed must give exactly those IDs. Any other
// input (while fuzzing) is checked against the reference run live under
// node, and must decode back to itself.
//
//	go test ./tokenize/hf -run XXX -fuzz FuzzSameIDsAsHuggingFace
func FuzzSameIDsAsHuggingFace(f *testing.F) {
	var v vectors
	readJSON(f, "testdata/ids-llama3.json", &v)
	all := texts(f)
	if len(v.IDs) != len(all) {
		f.Fatalf("%d vectors for %d texts", len(v.IDs), len(all))
	}
	stored := map[string][]uint32{}
	for k, text := range all {
		stored[text] = v.IDs[k]
		f.Add(text)
	}
	tok := loadKnown(f, "llama3", hf.Options{AddedTokens: true})
	var (
		once sync.Once
		ref  *reference
		path string
	)
	f.Fuzz(func(t *testing.T, text string) {
		got, err := tok.AppendEncode(nil, text)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := stored[text]
		if !ok {
			once.Do(func() { ref, path = startReference(f), knownFile(f, "llama3") })
			want = ref.encode(t, path, text)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%q:\n got  %v\n want %v (%s)", text, got, want, referenceNPM)
		}
		if utf8.ValidString(text) {
			if d, _ := tok.Decode(got); d != norm.NFC.String(text) && d != text {
				t.Fatalf("round trip of %q gives %q", text, d)
			}
		}
	})
}
