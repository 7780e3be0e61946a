package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyMaterialInArgvIsRefusedWithoutEcho: a key file's contents, or its
// bare secret, given where a path belongs is refused, and neither the
// error nor any file name shows it.
func TestKeyMaterialInArgvIsRefusedWithoutEcho(t *testing.T) {
	path, _ := newKey(t)
	contents, _ := os.ReadFile(path)
	secret := secretOf(t, path)
	text := filepath.Join(t.TempDir(), "t.txt")
	os.WriteFile(text, []byte("some text to test"), 0o644)
	for _, args := range [][]string{
		{"detect", "--key", string(contents), text},
		{"detect", "--key", secret, text},
		{"scan", "--key", string(contents), text},
		{"generate", "--key", string(contents)},
		{"keygen", "--out", string(contents)},
		{"keygen", "--out", secret},
	} {
		code, stdout, stderr := cliRun(t, "", args...)
		if code != exitError || !strings.Contains(stderr, "looks like key material") {
			t.Errorf("%s: %d %q", args[0], code, stderr)
		}
		for _, part := range []string{secret, secret[:12], secret[len(secret)-12:]} {
			if strings.Contains(stdout+stderr, part) {
				t.Errorf("%s: the secret leaked: %q", args[0], stderr)
			}
		}
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*"+secret[:8]+"*")); len(m) > 0 {
		t.Errorf("a file named after the secret: %v", m)
	}
}

// TestKeyWarnings: a key file others can read, --no-dedup, and a
// --scheme or --tokenizer other than the key's are each warned about; a
// missing key says how to pass one.
func TestKeyWarnings(t *testing.T) {
	path, _ := newKey(t)
	text := filepath.Join(t.TempDir(), "t.txt")
	os.WriteFile(text, []byte("some text to test, long enough to be scored at all"), 0o644)
	os.Chmod(path, 0o644)
	_, _, stderr := cliRun(t, "", "detect", "--key", path, text)
	if !strings.Contains(stderr, "can be read by other users") {
		t.Errorf("loose key file not warned about: %q", stderr)
	}
	os.Chmod(path, 0o600)
	_, _, stderr = cliRun(t, "", "detect", "--key", path, "--no-dedup", text)
	if !strings.Contains(stderr, "--no-dedup") || !strings.Contains(stderr, "INVALID") {
		t.Errorf("--no-dedup not warned about: %q", stderr)
	}
	// Another tokenizer is refused (its IDs are not the key's) unless the
	// expert flag is given; then it, and another scheme, are warned about.
	code, _, stderr := cliRun(t, "", "detect", "--key", path, "--tokenizer", "cl100k_base", text)
	if code != exitError || !strings.Contains(stderr, "made for tokenizer o200k_base, but the tokenizer given is cl100k_base") || !strings.Contains(stderr, "--tokenizer-mismatch-ok") {
		t.Errorf("tokenizer mismatch not refused: %d %q", code, stderr)
	}
	_, _, stderr = cliRun(t, "", "detect", "--key", path, "--scheme", "gumbel", "--tokenizer", "cl100k_base", "--tokenizer-mismatch-ok", text)
	if !strings.Contains(stderr, "was made for scheme") || !strings.Contains(stderr, "warning: key") || !strings.Contains(stderr, "the tokenizer given is cl100k_base") {
		t.Errorf("mismatches not warned about: %q", stderr)
	}
	_, _, stderr = cliRun(t, "", "detect", "--key", path, text)
	if stderr != "" {
		t.Errorf("warnings without cause: %q", stderr)
	}
	t.Setenv("TRACEMARK_KEY", "")
	code, _, stderr = cliRun(t, "", "detect", text)
	if code != exitError || !strings.Contains(stderr, "pass --key FILE") {
		t.Errorf("no key: %d %q", code, stderr)
	}
}
