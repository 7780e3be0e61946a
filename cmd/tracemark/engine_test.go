package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/watermark"
)

// engineTokens generates n tokens marked by key's scheme from random
// logits over a 500-token vocabulary.
func engineTokens(t *testing.T, key *watermark.Key, n int, seed uint64) []uint32 {
	t.Helper()
	s, err := watermark.NewScheme(key, key.Scheme)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	logits := make([]float32, 500)
	var toks []uint32
	for len(toks) < n {
		for i := range logits {
			logits[i] = float32(rng.NormFloat64() * 2)
		}
		tok, err := s.SampleLogits(toks, nil, logits, rng)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	return toks
}

func idLine(toks []uint32) string {
	b, _ := json.Marshal(toks)
	return string(b) + "\n"
}

func TestKeygenEngineSchemeAndConfig(t *testing.T) {
	dir := t.TempDir()
	for _, spec := range []string{"vllm-gumbel", "vllm-dual-gumbel:alpha=0.3", "vllm-sbw:seeding=lefthash"} {
		keyPath, cfgPath := filepath.Join(dir, spec+".key"), filepath.Join(dir, spec+".json")
		code, stdout, stderr := cliRun(t, "", "keygen", "--scheme", spec, "--out", keyPath, "--engine-config", cfgPath)
		if code != 0 {
			t.Fatalf("keygen %s: %d %s", spec, code, stderr)
		}
		key, err := watermark.LoadKey(keyPath)
		if err != nil || !key.IsEngine() {
			t.Fatalf("%s: %v (engine %v)", spec, err, key != nil && key.IsEngine())
		}
		st, err := os.Stat(cfgPath)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: engine config %v mode %v", spec, err, st)
		}
		data, _ := os.ReadFile(cfgPath)
		secret := strconv.FormatUint(key.EngineWords()[0], 10)
		if !strings.Contains(string(data), `"key": `+secret) {
			t.Errorf("%s: engine config does not hold the key", spec)
		}
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("%s: keygen printed the key", spec)
		}
		// Importing the written config gives the same key and scheme.
		imported := filepath.Join(dir, spec+".imported")
		if code, _, stderr := cliRun(t, string(data), "key", "import", "--out", imported, "-"); code != 0 {
			t.Fatalf("import %s: %s", spec, stderr)
		}
		again, err := watermark.LoadKey(imported)
		if err != nil || again.ID() != key.ID() || again.Scheme.String() != key.Scheme.String() {
			t.Errorf("%s: imported key %v differs (%v)", spec, again, err)
		}
	}
	if code, _, stderr := cliRun(t, "", "keygen", "--out", filepath.Join(dir, "k"), "--engine-config", filepath.Join(dir, "c")); code != 2 || !strings.Contains(stderr, "not an engine scheme") {
		t.Errorf("keygen --engine-config with a tracemark scheme: %d %s", code, stderr)
	}
}

func TestKeyImportErrors(t *testing.T) {
	dir := t.TempDir()
	for in, want := range map[string]string{
		`{"algorithm":"gumbel"}`:           "no key",
		`{"key":18446744073709551616}`:     "2^64 or more",
		`{"key":-7}`:                       "negative",
		`{"key":7.5}`:                      "not an integer",
		`{"key":987654,"algorithm":"kgw"}`: "unknown",
		`not json`:                         "not a JSON object",
	} {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := cliRun(t, "", "key", "import", "--out", filepath.Join(dir, "k.json"), p)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("%s: code %d, stderr %q, want %q", in, code, stderr, want)
		}
		for _, secret := range []string{"18446744073709551616", "987654", "7.5"} {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("%s: output shows the key", in)
			}
		}
	}
	// The configuration itself on the command line is refused, unshown.
	code, _, stderr := cliRun(t, "", "key", "import", "--out", filepath.Join(dir, "k.json"), `{"key":55555}`)
	if code != 2 || strings.Contains(stderr, "55555") || !strings.Contains(stderr, "standard input") {
		t.Errorf("config as an argument: %d %q", code, stderr)
	}
}

// TestDetectEngineJSON: detect --json reports vLLM's own detector result
// beside tracemark's, and with several engine keys the combined result
// names the right key and lists each key's engine result.
func TestDetectEngineJSON(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	var keys []*watermark.Key
	for i, spec := range []string{"vllm-gumbel", "vllm-sbw"} {
		p := filepath.Join(dir, fmt.Sprint(i)+".key")
		if code, _, stderr := cliRun(t, "", "keygen", "--scheme", spec, "--out", p); code != 0 {
			t.Fatal(stderr)
		}
		k, err := watermark.LoadKey(p)
		if err != nil {
			t.Fatal(err)
		}
		paths, keys = append(paths, p), append(keys, k)
	}
	marked := engineTokens(t, keys[0], 200, 1)
	rng := rand.New(rand.NewPCG(9, 9))
	plain := make([]uint32, 200)
	for i := range plain {
		plain[i] = uint32(rng.IntN(500))
	}
	code, stdout, stderr := cliRun(t, idLine(marked)+idLine(plain), "detect", "--key", paths[0], "--ids", "--json", "-")
	if code != 0 {
		t.Fatalf("detect: %d %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 results, got %q", stdout)
	}
	type row struct {
		Detected bool    `json:"detected"`
		PValue   float64 `json:"p_value"`
		Scored   int     `json:"scored"`
		KeyID    string  `json:"key_id"`
		Engine   *struct {
			Engine    string  `json:"engine"`
			PValue    float64 `json:"p_value"`
			NumScored int     `json:"num_scored_tokens"`
		} `json:"engine_detection"`
		Engines []struct {
			KeyID  string  `json:"key_id"`
			PValue float64 `json:"p_value"`
		} `json:"engine_detections"`
		Matched []string `json:"matched_keys"`
	}
	var r [2]row
	for i := range r {
		if err := json.Unmarshal([]byte(lines[i]), &r[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !r[0].Detected || r[0].Engine == nil || r[0].Engine.Engine != "vllm" || r[0].Engine.PValue > 1e-6 || r[0].Engine.NumScored != 200 {
		t.Errorf("marked: %+v %+v", r[0], r[0].Engine)
	}
	if r[1].Detected || r[1].Engine == nil || r[1].Engine.PValue < 1e-3 {
		t.Errorf("plain: %+v %+v", r[1], r[1].Engine)
	}
	// Both keys at once: the Holm-combined result matches only the right key.
	code, stdout, stderr = cliRun(t, idLine(marked), "detect", "--key", paths[0], "--key", paths[1], "--ids", "--json", "-")
	if code != 0 {
		t.Fatalf("detect two keys: %d %s", code, stderr)
	}
	var m row
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &m); err != nil {
		t.Fatal(err)
	}
	if !m.Detected || m.KeyID != keys[0].ID() || len(m.Matched) != 1 || len(m.Engines) != 2 || m.Engines[0].KeyID != keys[0].ID() || m.Engines[1].PValue < 1e-3 {
		t.Errorf("two keys: %s", stdout)
	}
}
