package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tracemark/tracemark/watermark"
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

func TestOtherSchemesEndToEnd(t *testing.T) {
	for _, spec := range []string{"gumbel:h=4", "tournament:m=30,h=4", "synthid:ngram_len=5,depth=30,impl=transformers,table_size=65536,table_seed=0,history=1024", "synthid:ngram_len=5,depth=30,impl=deepmind,history=1024"} {
		keyPath, _ := newKey(t, "--scheme", spec)
		code, out, stderr := cliRun(t, "", "generate", "--key", keyPath, "--seed", "3", "--prompt", "The captain looked at the sea and said")
		if code != 0 {
			t.Fatalf("%s generate: %d %s", spec, code, stderr)
		}
		path := filepath.Join(t.TempDir(), "out.txt")
		os.WriteFile(path, []byte(out), 0o644)
		code, stdout, _ := cliRun(t, "", "detect", "--key", keyPath, "--json", path)
		var r map[string]any
		json.Unmarshal([]byte(stdout), &r)
		if code != exitFound || r["scheme"] != spec {
			t.Errorf("%s: detect code %d: %s", spec, code, stdout)
		}
		code, _, stderr = cliRun(t, "", "generate", "--key", keyPath, "--temperature", "0")
		if code != exitError || !strings.Contains(stderr, "cannot mark greedy decoding") {
			t.Errorf("%s greedy: code %d, %q", spec, code, stderr)
		}
	}
}

func TestPayloadEndToEnd(t *testing.T) {
	// A fixed key and seed: with a fresh random key, 900 tokens leave a
	// symbol tied now and then (the payload is then claimed, correctly, as
	// evidence of the watermark, but its value is wrong in one symbol).
	cfg, err := watermark.ParseSpec("kgw:payload_bits=32")
	if err != nil {
		t.Fatal(err)
	}
	var secret [watermark.SecretSize]byte
	copy(secret[:], "tracemark payload end-to-end key")
	keyPath := filepath.Join(t.TempDir(), "key.json")
	if err := watermark.NewKey(secret, cfg, watermark.DefaultTokenizer, time.Unix(0, 0).UTC()).WriteKeyFile(keyPath, false); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := cliRun(t, "", "generate", "--key", keyPath, "--payload", "C0FFEE42", "--max-tokens", "900", "--seed", "5")
	if code != 0 {
		t.Fatalf("generate: %d %s", code, stderr)
	}
	path := filepath.Join(t.TempDir(), "out.txt")
	os.WriteFile(path, []byte(out), 0o644)
	code, stdout, _ := cliRun(t, "", "detect", "--key", keyPath, "--json", path)
	var r struct {
		Detected       bool
		Payload        string
		PayloadClaimed bool    `json:"payload_claimed"`
		PayloadP       float64 `json:"payload_p_value"`
		Symbols        []any
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != exitFound {
		t.Fatalf("detect: %d %s", code, stdout)
	}
	if !r.Detected || r.Payload != "c0ffee42" || !r.PayloadClaimed || r.PayloadP > 1e-6 || len(r.Symbols) != 16 {
		t.Errorf("payload result: %+v", r)
	}
	for args, want := range map[string]string{
		"--payload zz":        "not a hexadecimal number",
		"--payload 1ffffffff": "does not fit in 32 bits",
	} {
		code, _, stderr := cliRun(t, "", append([]string{"generate", "--key", keyPath}, strings.Fields(args)...)...)
		if code != exitError || !strings.Contains(stderr, want) {
			t.Errorf("%s: %d %q", args, code, stderr)
		}
	}
	plainKey, _ := newKey(t)
	if code, _, stderr := cliRun(t, "", "generate", "--key", plainKey, "--payload", "12"); code != exitError || !strings.Contains(stderr, "carries no payload") {
		t.Errorf("payload on a zero-bit scheme: %d %q", code, stderr)
	}
}

func TestDetectSeveralKeys(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := 0; i < 3; i++ {
		p := filepath.Join(dir, fmt.Sprintf("k%d.json", i))
		if code, _, stderr := cliRun(t, "", "keygen", "--out", p); code != 0 {
			t.Fatal(stderr)
		}
		paths = append(paths, p)
	}
	second, _ := os.ReadFile(paths[1])
	var kf struct{ ID string }
	json.Unmarshal(second, &kf)
	_, out, _ := cliRun(t, "", "generate", "--key", paths[1], "--seed", "11")
	text := filepath.Join(t.TempDir(), "t.txt")
	os.WriteFile(text, []byte(out), 0o644)
	for _, keyArgs := range [][]string{{"--key", paths[0], "--key", paths[1], "--key", paths[2]}, {"--key", dir}} {
		code, stdout, stderr := cliRun(t, "", append(append([]string{"detect", "--json"}, keyArgs...), text)...)
		var r struct {
			Detected   bool
			KeyID      string   `json:"key_id"`
			Matched    []string `json:"matched_keys"`
			KeysTested int      `json:"keys_tested"`
			Correction string
			RawLog10P  float64 `json:"raw_log10_p"`
			Log10P     float64 `json:"log10_p"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != exitFound {
			t.Fatalf("%v: code %d %s %s", keyArgs, code, stdout, stderr)
		}
		if !r.Detected || r.KeyID != kf.ID || len(r.Matched) != 1 || r.Matched[0] != kf.ID || r.KeysTested != 3 || r.Correction != "holm" || r.Log10P <= r.RawLog10P {
			t.Errorf("%v: %+v", keyArgs, r)
		}
	}
	code, stdout, _ := cliRun(t, "", "detect", "--key", dir, text)
	if code != exitFound || !strings.Contains(stdout, "Holm-adjusted over 3 keys") || !strings.Contains(stdout, kf.ID) {
		t.Errorf("human output: %s", stdout)
	}
	os.WriteFile(filepath.Join(dir, "junk.json"), []byte("{"), 0o600)
	if code, _, stderr := cliRun(t, "", "detect", "--key", dir, text); code != exitError || !strings.Contains(stderr, "junk.json") {
		t.Errorf("bad key in directory: %d %q", code, stderr)
	}
}
