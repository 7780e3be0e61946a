package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracemark/tracemark/scan"
)

// TestPayloadKeyNeedsAnExplicitPayload: generating with a payload scheme
// and no --payload is refused (it would silently embed 0); --payload 0 is
// accepted.
func TestPayloadKeyNeedsAnExplicitPayload(t *testing.T) {
	key, _ := newKey(t, "--scheme", "kgw:payload_bits=16")
	code, _, stderr := cliRun(t, "", "generate", "--key", key, "--max-tokens", "5", "--seed", "1")
	if code != exitError || !strings.Contains(stderr, "pass --payload HEX") {
		t.Errorf("payload scheme without --payload: %d %q", code, stderr)
	}
	if code, _, stderr := cliRun(t, "", "generate", "--key", key, "--payload", "0", "--max-tokens", "5", "--seed", "1"); code != 0 {
		t.Errorf("--payload 0: %d %q", code, stderr)
	}
}

// TestJSONIsStable: generate --json uses snake_case settings and a string
// seed (all 64 bits survive jq); detect --json says when a text is too
// short to test, and its human output says so instead of "no watermark".
func TestJSONIsStable(t *testing.T) {
	key, _ := newKey(t)
	_, js, _ := cliRun(t, "", "generate", "--key", key, "--max-tokens", "5", "--seed", "18446744073709551615", "--json")
	var g map[string]any
	if err := json.Unmarshal([]byte(js), &g); err != nil {
		t.Fatal(err)
	}
	set, _ := g["settings"].(map[string]any)
	for _, k := range []string{"temperature", "top_k", "top_p", "min_p"} {
		if _, ok := set[k]; !ok {
			t.Errorf("settings lack %q: %v", k, set)
		}
	}
	if g["seed"] != "18446744073709551615" {
		t.Errorf("seed %v (%T), want the exact string", g["seed"], g["seed"])
	}
	short := filepath.Join(t.TempDir(), "short.txt")
	os.WriteFile(short, []byte("Too short."), 0o644)
	code, out, _ := cliRun(t, "", "detect", "--key", key, short)
	if code != exitNotFound || !strings.Contains(out, "too short to test") || strings.Contains(out, "no watermark") {
		t.Errorf("short text: %d %q", code, out)
	}
	_, out, _ = cliRun(t, "", "detect", "--key", key, "--json", short)
	var r map[string]any
	json.Unmarshal([]byte(out), &r)
	if r["too_short"] != true || r["p_value"] != 1.0 {
		t.Errorf("short text JSON: %v", r)
	}
}

// TestDemoWorkerErrorEndsTheCommand: a worker that fails (a distortion-free
// scheme cannot mark greedy decoding) ends the demo with that error; it
// used to leave the producer blocked forever.
func TestDemoWorkerErrorEndsTheCommand(t *testing.T) {
	done := make(chan struct{})
	var code int
	var stderr string
	go func() {
		defer close(done)
		code, _, stderr = cliRun(t, "", "demo", "--scheme", "gumbel", "--temperature", "0", "-j", "2")
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("demo with a failing worker did not return")
	}
	if code != exitError || !strings.Contains(stderr, "greedy") {
		t.Errorf("demo with a failing worker: %d %q", code, stderr)
	}
}

// TestLevelsAreValidated: detect, scan and merge refuse an alpha or FDR
// outside (0, 1), NaN included (merge once accepted --alpha 2 and called
// human text watermarked).
func TestLevelsAreValidated(t *testing.T) {
	key, _ := newKey(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"merge", "--alpha", "2", dir}, {"merge", "--fdr", "5", dir}, {"merge", "--alpha", "nan", dir},
		{"scan", "--key", key, "--alpha", "0", dir}, {"scan", "--key", key, "--fdr", "-1", dir},
		{"detect", "--key", key, "--alpha", "1", "-"},
	} {
		code, _, stderr := cliRun(t, "", args...)
		if code != exitError || !strings.Contains(stderr, "must be in (0, 1)") {
			t.Errorf("%v: %d %q", args, code, stderr)
		}
	}
}

// TestPerplexityOfNothing: an empty input has an undefined perplexity,
// printed as such (null in JSON), never NaN.
func TestPerplexityOfNothing(t *testing.T) {
	code, out, stderr := cliRun(t, "", "perplexity", "--json", "-")
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 {
		t.Fatalf("perplexity --json of nothing: %d %q %q", code, out, stderr)
	}
	if v, ok := r["perplexity"]; !ok || v != nil || r["tokens"] != 0.0 {
		t.Errorf("perplexity of nothing: %v", r)
	}
	if code, out, _ := cliRun(t, "", "perplexity", "-"); code != 0 || !strings.Contains(out, "undefined") || strings.Contains(out, "NaN") {
		t.Errorf("human: %d %q", code, out)
	}
}

// TestReadPartsBoundedAndLossless: parts are at most the size asked (plus
// nothing), add up to the input, and a long input's detection from parts
// equals one pass over the whole.
func TestReadPartsBoundedAndLossless(t *testing.T) {
	text := strings.Repeat("The light of the sun\nfalls on the prism and is refracted. ", 400) + "é東"
	for _, size := range []int{16, 100, 4096, 1 << 20} {
		var got strings.Builder
		parts := 0
		err := readParts(strings.NewReader(text), size, func(p []byte) error {
			if len(p) > size {
				t.Errorf("part of %d bytes, size %d", len(p), size)
			}
			got.Write(p)
			parts++
			return nil
		})
		if err != nil || got.String() != text {
			t.Fatalf("size %d: %v, %d bytes back of %d", size, err, got.Len(), len(text))
		}
		if size < len(text) && parts < 2 {
			t.Errorf("size %d: one part", size)
		}
	}
}

// TestScanSummaryNeverContradictsFlags: with flagged documents and no
// pooled detection, the summary says what the pooled test found without
// denying the flags; the per-file table lists every file when there are
// few and only flagged or failing ones when there are many.
func TestScanSummaryNeverContradictsFlags(t *testing.T) {
	var out bytes.Buffer
	s := &humanSink{w: &out, errw: &out}
	for i := 0; i < 25; i++ {
		f := scan.FileEvent{Type: "end", File: fmt.Sprintf("f%02d.jsonl", i)}
		f.Documents = 10
		if i == 3 {
			f.Flagged = 6
		}
		s.End(f)
	}
	s.Summary(scan.Summary{Files: 25, Documents: 250, Flagged: 6, Alpha: 1e-6, PooledPValue: 0.2})
	text := out.String()
	if strings.Contains(text, "does not carry") || !strings.Contains(text, "no corpus-wide evidence") || !strings.Contains(text, "6 documents flagged above") {
		t.Errorf("summary wording:\n%s", text)
	}
	if !strings.Contains(text, "f03.jsonl") || strings.Contains(text, "f04.jsonl") || !strings.Contains(text, "24 more files") {
		t.Errorf("per-file table:\n%s", text)
	}
}

// TestDetectDecompressesAndRefusesBinary: detect reads a compressed file as
// scan does (it once scored the compressed bytes: "no watermark"), and
// refuses binary input with exit 2 instead of scoring it.
func TestDetectDecompressesAndRefusesBinary(t *testing.T) {
	key, _ := newKey(t)
	code, text, stderr := cliRun(t, "", "generate", "--key", key, "--seed", "3", "--max-tokens", "200")
	if code != 0 {
		t.Fatalf("generate: %d %s", code, stderr)
	}
	dir := t.TempDir()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(text))
	w.Close()
	path := filepath.Join(dir, "out.txt.gz")
	os.WriteFile(path, gz.Bytes(), 0o644)
	if code, out, stderr := cliRun(t, "", "detect", "--key", key, path); code != exitFound || !strings.Contains(out, "WATERMARKED") {
		t.Errorf("gzipped watermarked text: %d %q %q", code, out, stderr)
	}
	png := filepath.Join(dir, "img.png")
	os.WriteFile(png, append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 1, 2, 200}, 500)...), 0o644)
	if code, out, stderr := cliRun(t, "", "detect", "--key", key, png); code != exitError || out != "" || !strings.Contains(stderr, "binary") {
		t.Errorf("PNG: %d %q %q", code, out, stderr)
	}
}

// TestDetectJSONRecordsKeyDefaults: with --scheme and --tokenizer other
// than the key's, detect --json records both the ones used and the key's.
func TestDetectJSONRecordsKeyDefaults(t *testing.T) {
	key, k := newKey(t)
	text := filepath.Join(t.TempDir(), "t.txt")
	os.WriteFile(text, []byte("some text to test, long enough to be scored at all, with a few more words"), 0o644)
	_, out, _ := cliRun(t, "", "detect", "--key", key, "--json", "--scheme", "gumbel", "--tokenizer", "cl100k_base", "--tokenizer-mismatch-ok", text)
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r["scheme"] != "gumbel:h=4" || r["key_scheme"] != k.Scheme.String() || r["tokenizer"] != "cl100k_base" || r["key_tokenizer"] != k.Tokenizer {
		t.Errorf("scheme %v key_scheme %v tokenizer %v key_tokenizer %v", r["scheme"], r["key_scheme"], r["tokenizer"], r["key_tokenizer"])
	}
}

// TestScanShowText: --show-text N prints the start of each flagged
// document under it, with its green fraction, and keeps it in --json.
func TestScanShowText(t *testing.T) {
	key, _ := newKey(t)
	_, text, _ := cliRun(t, "", "generate", "--key", key, "--seed", "4", "--max-tokens", "200")
	path := filepath.Join(t.TempDir(), "doc.txt")
	os.WriteFile(path, []byte(text), 0o644)
	code, out, stderr := cliRun(t, "", "scan", "--key", key, path, "--show-text", "25")
	want := strings.Join(strings.Fields(string([]rune(text)[:25])), " ")
	if code != exitFound || !strings.Contains(out, "    "+want) || !strings.Contains(out, "% green") {
		t.Errorf("scan --show-text: %d %q %q (want %q)", code, out, stderr, want)
	}
	_, js, _ := cliRun(t, "", "scan", "--key", key, "--json", "--show-text", "25", path)
	if !strings.Contains(js, `"text":`) {
		t.Errorf("--json without the text: %s", js)
	}
}

// TestDiagnosticsClearTheProgressBar: the first diagnostic erases the
// progress bar's line before it is written, once.
func TestDiagnosticsClearTheProgressBar(t *testing.T) {
	var errb bytes.Buffer
	cleared := 0
	s := &humanSink{w: &bytes.Buffer{}, errw: &errb, clearBar: func() { cleared++; errb.WriteString("<clear>") }}
	s.Diagnostic(scan.Diagnostic{File: "a", Message: "bad"})
	s.Diagnostic(scan.Diagnostic{File: "b", Message: "bad"})
	if cleared != 1 || !strings.HasPrefix(errb.String(), "<clear>tracemark: a: bad") {
		t.Errorf("cleared %d times: %q", cleared, errb.String())
	}
}
