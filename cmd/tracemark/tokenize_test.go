package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/watermark"
)

func TestTokenizeCommand(t *testing.T) {
	code, out, errs := cliRun(t, "hello world", "tokenize")
	if code != 0 || out != "[24912,2375]\n" {
		t.Fatalf("tokenize stdin: code %d, out %q, err %q", code, out, errs)
	}
	// The reference implementation gives the same IDs.
	text := "Newton's Opticks, 1704: \"light\" is\n\n\trefracted 12345 ways — 光 🙂"
	_, fast, _ := cliRun(t, text, "tokenize", "--tokenizer", "cl100k_base")
	_, ref, _ := cliRun(t, text, "tokenize", "--tokenizer", "tiktoken-go:cl100k_base")
	var ids []int
	if err := json.Unmarshal([]byte(fast), &ids); err != nil || len(ids) < 10 || fast != ref {
		t.Fatalf("fast %q, reference %q (%v)", fast, ref, err)
	}
	// Counts, one line per input with its name; a missing file is reported
	// and the others still counted.
	dir := t.TempDir()
	a := filepath.Join(dir, "a.txt")
	os.WriteFile(a, []byte("hello world"), 0o644)
	code, out, errs = cliRun(t, "", "tokenize", "--count", a, filepath.Join(dir, "missing.txt"), a)
	if code != 2 || out != "2\t"+a+"\n2\t"+a+"\n" || !strings.Contains(errs, "missing.txt") {
		t.Errorf("count: code %d, out %q, err %q", code, out, errs)
	}
	if code, _, errs = cliRun(t, "", "tokenize", "--tokenizer", "gpt9", a); code != 2 || !strings.Contains(errs, "o200k_base") {
		t.Errorf("unknown tokenizer: code %d, err %q", code, errs)
	}
}

// toyTokenizerJSON is a byte-level tokenizer.json with the 256 bytes, two
// merges and the Llama 3 split pattern, or an unrecognized variant of it.
func toyTokenizerJSON(t *testing.T, fallback bool) string {
	t.Helper()
	vocab := map[string]int{}
	n := 0
	for b := range 256 {
		r := rune(b)
		if !('!' <= b && b <= '~' || 0xa1 <= b && b <= 0xac || 0xae <= b && b <= 0xff) {
			r = rune(256 + n)
			n++
		}
		vocab[string(r)] = b
	}
	vocab["he"], vocab["hel"] = 256, 257
	re := `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	if fallback {
		re = "(?:" + re + ")"
	}
	f := map[string]any{
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{"h e", "he l"}},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": re}, "behavior": "Isolated"},
			map[string]any{"type": "ByteLevel", "use_regex": false}}},
		"added_tokens": []any{map[string]any{"id": 258, "content": "<|x|>", "special": true}},
	}
	data, _ := json.Marshal(f)
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTokenizeWithTokenizerJSON(t *testing.T) {
	path := toyTokenizerJSON(t, false)
	code, out, errs := cliRun(t, "hello<|x|>", "tokenize", "--tokenizer", path)
	// hel l o, then <|x|> as text: < | x | >
	if code != 0 || out != "[257,108,111,60,124,120,124,62]\n" || errs != "" {
		t.Fatalf("code %d, out %q, err %q", code, out, errs)
	}
	if code, out, _ = cliRun(t, "hello<|x|>", "tokenize", "--tokenizer", path+"+added"); code != 0 || out != "[257,108,111,258]\n" {
		t.Fatalf("+added: code %d, out %q", code, out)
	}
	code, out, errs = cliRun(t, "hello", "tokenize", "--tokenizer", toyTokenizerJSON(t, true))
	if code != 0 || out != "[257,108,111]\n" || !strings.Contains(errs, "regexp2") {
		t.Fatalf("fallback: code %d, out %q, err %q", code, out, errs)
	}
	// keygen records the file's name, not its path.
	key := filepath.Join(t.TempDir(), "k.key")
	if code, out, errs = cliRun(t, "", "keygen", "--out", key, "--tokenizer", path); code != 0 || !strings.Contains(out, "tokenizer hf:") {
		t.Fatalf("keygen: code %d, out %q, err %q", code, out, errs)
	}
	// A key whose tokenizer is known only by hash needs the file's path.
	if code, _, errs = cliRun(t, "hello", "detect", "--key", key); code != 2 || !strings.Contains(errs, "path") {
		t.Errorf("detect without the file: code %d, err %q", code, errs)
	}
	if code, _, errs = cliRun(t, "hello there", "detect", "--key", key, "--tokenizer", path); code > 1 || strings.Contains(errs, "warning") {
		t.Errorf("detect with the file: code %d, err %q", code, errs)
	}
	// The key records the file's SHA-256; another file is refused, naming
	// the one expected, unless the expert flag is given.
	data, _ := os.ReadFile(path)
	sum := sha256.Sum256(data)
	k, err := watermark.LoadKeys([]string{key})
	if err != nil || k[0].TokenizerSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("key's tokenizer hash %q, want the file's %x (%v)", k[0].TokenizerSHA256, sum, err)
	}
	other := toyTokenizerJSON(t, true)
	code, _, errs = cliRun(t, "hello there", "detect", "--key", key, "--tokenizer", other)
	if code != 2 || !strings.Contains(errs, k[0].TokenizerSHA256) || !strings.Contains(errs, "--tokenizer-mismatch-ok") {
		t.Errorf("detect with another file: code %d, err %q", code, errs)
	}
	if code, _, errs = cliRun(t, "hello there", "scan", "--key", key, "--tokenizer", other, "--tokenizer-mismatch-ok", "-"); code == 2 || !strings.Contains(errs, "warning") {
		t.Errorf("scan with another file and the expert flag: code %d, err %q", code, errs)
	}
}

// TestReadWholeInput reads a large plain file (into a buffer outside the Go
// heap, and into an ordinary one), a compressed file longer than its size
// says (the buffer grows), an empty file and standard input, and checks
// every byte; and tokenize --count of the large file equals the count of
// the same text from standard input.
func TestReadWholeInput(t *testing.T) {
	dir := t.TempDir()
	var text strings.Builder
	for k := 0; text.Len() < 3<<20; k++ {
		fmt.Fprintf(&text, "line %d of a long input, \xff with one bad byte in many\n", k)
	}
	plain := filepath.Join(dir, "big.txt")
	os.WriteFile(plain, []byte(text.String()), 0o644)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(text.String()))
	w.Close()
	packed := filepath.Join(dir, "big.txt.gz")
	os.WriteFile(packed, gz.Bytes(), 0o644)
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	e := &env{stdin: strings.NewReader(text.String()), stdout: io.Discard, stderr: io.Discard}
	for _, outside := range []bool{true, false} {
		for name, want := range map[string]string{plain: text.String(), packed: text.String(), empty: "", "-": text.String()} {
			if name == "-" {
				e.stdin = strings.NewReader(text.String())
			}
			_, data, release, err := readWholeInput(context.Background(), e, name, outside)
			if err != nil || string(data) != want {
				t.Errorf("%s (outside the heap %v): %d bytes, want %d (%v)", name, outside, len(data), len(want), err)
			}
			release()
		}
	}
	_, fromFile, _ := cliRun(t, "", "tokenize", "--count", plain, packed)
	_, fromStdin, _ := cliRun(t, text.String(), "tokenize", "--count")
	n := strings.TrimSpace(fromStdin)
	if want := n + "\t" + plain + "\n" + n + "\t" + packed + "\n"; fromFile != want || n == "" {
		t.Errorf("tokenize --count of the file %q, of standard input %q", fromFile, fromStdin)
	}
}
