package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestGenerateAndDetect(t *testing.T) {
	keyPath, key := newKey(t)
	args := []string{"generate", "--key", keyPath, "--prompt", "The old house at the end of the lane", "--seed", "7"}
	code, out1, stderr := cliRun(t, "", args...)
	if code != 0 || len(out1) < 200 || !utf8.ValidString(out1) {
		t.Fatalf("generate: code %d, %d bytes\n%s", code, len(out1), stderr)
	}
	if strings.HasPrefix(out1, "The old house") {
		t.Error("generate printed the prompt")
	}
	if _, out2, _ := cliRun(t, "", args...); out2 != out1 {
		t.Error("same seed, different output")
	}
	if _, out3, _ := cliRun(t, "", append(args[:len(args)-1], "8")...); out3 == out1 {
		t.Error("different seed, same output")
	}
	path := filepath.Join(t.TempDir(), "marked.txt")
	os.WriteFile(path, []byte(out1), 0o644)
	if code, stdout, _ := cliRun(t, "", "detect", "--key", keyPath, path); code != exitFound {
		t.Errorf("generated text not detected: %s", stdout)
	}

	// Unwatermarked text needs no key and is not detected.
	code, plain, _ := cliRun(t, "", "generate", "--no-watermark", "--seed", "7", "--prompt", "The old house at the end of the lane")
	if code != 0 || plain == out1 {
		t.Fatalf("--no-watermark: code %d", code)
	}
	os.WriteFile(path, []byte(plain), 0o644)
	if code, stdout, _ := cliRun(t, "", "detect", "--key", keyPath, path); code != exitNotFound {
		t.Errorf("unwatermarked text detected: %s", stdout)
	}

	// --json carries tokens, scheme, key ID and seed.
	code, js, _ := cliRun(t, "", "generate", "--key", keyPath, "--seed", "7", "--max-tokens", "30", "--json")
	var g generation
	if err := json.Unmarshal([]byte(js), &g); err != nil || code != 0 {
		t.Fatalf("json: %v %q", err, js)
	}
	if g.KeyID != key.ID() || g.Seed != 7 || !g.Watermarked || len(g.Tokens) < 30 || g.Scheme != key.Scheme.String() || g.Text == "" {
		t.Errorf("json output %+v", g)
	}
	// Greedy decoding works (and is marked by the green-list scheme).
	if code, out, stderr := cliRun(t, "", "generate", "--key", keyPath, "--temperature", "0", "--max-tokens", "20"); code != 0 || out == "" {
		t.Errorf("greedy: code %d %s", code, stderr)
	}
}

func TestGenerateErrors(t *testing.T) {
	t.Setenv("TRACEMARK_KEY", "")
	clPath, _ := newKey(t, "--tokenizer", "cl100k_base")
	for args, want := range map[string]string{
		"generate":                               "TRACEMARK_KEY",
		"generate --key " + clPath:               "speaks o200k_base",
		"generate --no-watermark --top-p 0":      "top-p must be in (0, 1]",
		"generate --no-watermark --max-tokens 0": "--max-tokens must be >= 1",
		"generate --no-watermark extra":          "takes no arguments",
		"perplexity /nonexistent/file.txt":       "/nonexistent/file.txt",
	} {
		code, _, stderr := cliRun(t, "", strings.Fields(args)...)
		if code != exitError || !strings.Contains(stderr, want) {
			t.Errorf("%s: code %d stderr %q, want %q", args, code, stderr, want)
		}
	}
}

func TestPerplexity(t *testing.T) {
	dir := t.TempDir()
	prose := filepath.Join(dir, "prose.txt")
	os.WriteFile(prose, []byte("It was the best of times, it was the worst of times, it was the age of wisdom."), 0o644)
	junk := filepath.Join(dir, "junk.txt")
	os.WriteFile(junk, []byte("zq xv 9}{ qqj wkx ~~ prt zzv qxj"), 0o644)
	code, out, _ := cliRun(t, "", "perplexity", "--json", prose, junk)
	if code != 0 {
		t.Fatalf("code %d", code)
	}
	var ppl []float64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct{ Perplexity float64 }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		ppl = append(ppl, r.Perplexity)
	}
	if len(ppl) != 2 || !(ppl[0] < ppl[1]) || ppl[0] < 1 {
		t.Errorf("perplexities %v: prose should score lower than junk", ppl)
	}
}

func TestDemo(t *testing.T) {
	code, out, stderr := cliRun(t, "", "demo", "-j", "2")
	if code != 0 {
		t.Fatalf("demo: code %d\n%s", code, stderr)
	}
	if !regexp.MustCompile(`throwaway key [0-9a-f]{16}`).MatchString(out) {
		t.Errorf("demo does not name its key:\n%s", out)
	}
	if !strings.Contains(out, "watermarked   25/25 detected") || !strings.Contains(out, "unwatermarked  0/25 detected") {
		t.Errorf("demo summary:\n%s", out)
	}
	if n := strings.Count(out, "DETECTED"); n != 25 {
		t.Errorf("%d rows detected, want 25", n)
	}
}
