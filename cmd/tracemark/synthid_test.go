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
	if code == 0 || !strings.Contains(stderr, "has no engine configuration file") {
		t.Errorf("engine configuration for kgw: %d %s", code, stderr)
	}
}
