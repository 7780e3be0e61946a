package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
