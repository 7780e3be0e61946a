package tokenize

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// TestCutPointKeepsTokens: for every encoding, on prose and Go source,
// cutting at CutPoint of random windows and encoding the parts apart gives
// exactly the tokens of the whole.
func TestCutPointKeepsTokens(t *testing.T) {
	var texts [][]byte
	for _, p := range []string{
		filepath.Join(runtime.GOROOT(), "src", "testdata", "Isaac.Newton-Opticks.txt"),
		filepath.Join(runtime.GOROOT(), "src", "net", "http", "server.go"),
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Skip(err)
		}
		texts = append(texts, b[:min(len(b), 200_000)])
	}
	texts = append(texts, []byte("Ünïcödé wörds\nand 123 numbers\n\n  indented\tline\nÉtat d'esprit, l'été; 東京 タワー\n"))
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range Names() {
		tok, err := Get(name)
		if err != nil {
			t.Fatal(err)
		}
		cuts := 0
		for _, text := range texts {
			for trial := 0; trial < 60; trial++ {
				lo := rng.IntN(len(text) / 2)
				hi := min(len(text), lo+16+rng.IntN(4000))
				window := text[lo:hi]
				i := CutPoint(window)
				if i < 0 {
					continue
				}
				cuts++
				whole, _ := tok.AppendEncode(nil, string(window))
				a, _ := tok.AppendEncode(nil, string(window[:i]))
				b, _ := tok.AppendEncode(nil, string(window[i:]))
				if !slices.Equal(whole, append(a, b...)) {
					t.Fatalf("%s: cut at %d of %q changes the tokens", name, i, window[max(0, i-20):min(len(window), i+20)])
				}
			}
		}
		if cuts < 50 {
			t.Errorf("%s: only %d cuts found", name, cuts)
		}
	}
}

func TestUTF8Cut(t *testing.T) {
	s := []byte("aé東")
	for n := 0; n <= len(s); n++ {
		i := UTF8Cut(s[:n])
		if i > n || (i < n && !(i == 0 || s[i]&0xC0 != 0x80)) {
			t.Errorf("UTF8Cut(%q) = %d", s[:n], i)
		}
	}
	if i := CutPoint([]byte("nocutpointhere")); i != -1 {
		t.Errorf("CutPoint without a place: %d", i)
	}
}
