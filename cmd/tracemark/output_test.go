package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
