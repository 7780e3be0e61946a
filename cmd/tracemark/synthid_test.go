package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/watermark"
)

// TestKeygenSynthID: keygen --scheme synthid makes an engine key of 30
// random integers and writes transformers' configuration with the same keys
// (mode 0600); neither the key file's words nor the configuration's keys
// appear on stdout or stderr, and the configuration imports back to the key.
func TestKeygenSynthID(t *testing.T) {
	dir := t.TempDir()
	keyPath, cfgPath := filepath.Join(dir, "k.json"), filepath.Join(dir, "synthid.json")
	code, stdout, stderr := cliRun(t, "", "keygen", "--out", keyPath, "--scheme", "synthid", "--engine-config", cfgPath)
	if code != 0 {
		t.Fatalf("keygen: %d %s", code, stderr)
	}
	key, err := watermark.LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	words := key.EngineWords()
	if !key.IsEngine() || len(words) != 30 {
		t.Fatalf("not a 30-word engine key: %v", key)
	}
	for _, w := range words {
		if s := strconv.FormatInt(int64(w), 10); strings.Contains(stdout+stderr, s) {
			t.Fatalf("a key word is printed: %s", stdout)
		}
	}
	if st, err := os.Stat(cfgPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("engine configuration: %v %v", err, st)
	}
	back, cfg, err := watermark.ImportSynthIDConfig(mustRead(t, cfgPath), watermark.SynthIDTransformers, key.Tokenizer, key.Created)
	if err != nil || back.ID() != key.ID() || cfg != key.Scheme {
		t.Fatalf("configuration imports to %v %v (%v), want %s %s", back, cfg, err, key.ID(), key.Scheme)
	}
	// A second run does not overwrite the configuration without --force.
	code, _, stderr = cliRun(t, "", "keygen", "--out", filepath.Join(dir, "k2.json"), "--scheme", "synthid", "--engine-config", cfgPath)
	if code == 0 || !strings.Contains(stderr, "exists") {
		t.Errorf("overwrote the engine configuration: %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "k2.json")); err == nil {
		t.Error("key file written although the engine configuration could not be")
	}
	code, _, stderr = cliRun(t, "", "keygen", "--out", filepath.Join(dir, "k3.json"), "--engine-config", filepath.Join(dir, "x.json"))
	if code == 0 || !strings.Contains(stderr, "--engine-config") {
		t.Errorf("engine configuration for kgw: %d %s", code, stderr)
	}
}

// TestKeyImportSynthID: key import reads transformers' configuration from
// a file and from standard input (both implementations); bad configurations
// fail without quoting the keys.
func TestKeyImportSynthID(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"ngram_len": 5, "keys": [654, 400, 836, 123, 340, 443, 597, 160, 57], "sampling_table_seed": 0}`
	cfgPath := filepath.Join(dir, "wm.json")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	for i, c := range []struct {
		args  []string
		stdin string
		spec  string
	}{
		{[]string{cfgPath}, "", "synthid:ngram_len=5,depth=9,impl=transformers,table_size=65536,table_seed=0,history=1024"},
		{[]string{"-"}, `{"watermarking_config": ` + cfg + `}`, "synthid:ngram_len=5,depth=9,impl=transformers,table_size=65536,table_seed=0,history=1024"},
		{[]string{"--synthid-impl", "deepmind", "-"}, `{"ngram_len": 5, "keys": [654, 400, 836, 123, 340, 443, 597, 160, 57]}`, "synthid:ngram_len=5,depth=9,impl=deepmind,history=1024"},
	} {
		out := filepath.Join(dir, "k"+strconv.Itoa(i)+".json")
		code, stdout, stderr := cliRun(t, c.stdin, append([]string{"key", "import", "--out", out}, c.args...)...)
		if code != 0 {
			t.Fatalf("import %v: %d %s", c.args, code, stderr)
		}
		// The output names the key file; its temporary directory's name is
		// random digits, which may hold "836" too.
		if strings.Contains(strings.ReplaceAll(stdout+stderr, dir, "DIR"), "836") {
			t.Errorf("import printed a key: %s", stdout)
		}
		key, err := watermark.LoadKey(out)
		if err != nil || key.Scheme.String() != c.spec || len(key.EngineWords()) != 9 || key.EngineWords()[2] != 836 {
			t.Fatalf("imported %v %v, want %s", key, err, c.spec)
		}
	}
	for stdin, want := range map[string]string{
		`{"keys": [918273645546372819]}`:                   "ngram_len is missing",
		`{"ngram_len": 5, "keys": [918273645546372819.5]}`: "keys[0] is not an integer",
		`{"ngram_len": 5, "keys": [91827364554637281900]}`: "keys[0] is not an integer in the int64 range",
		`{"ngram_len": 5, "keys": ["918273645546372819"]}`: "wrong type",
	} {
		code, stdout, stderr := cliRun(t, stdin, "key", "import", "--out", filepath.Join(dir, "bad.json"), "-")
		if code == 0 || !strings.Contains(stderr, want) || strings.Contains(stdout+stderr, "918273645546372819") {
			t.Errorf("%s: code %d, %q", stdin, code, stderr)
		}
	}
}
