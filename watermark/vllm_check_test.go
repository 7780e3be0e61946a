package watermark

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVLLMReimplementation runs docs/vllm_check.mjs, an independent
// JavaScript implementation of the vLLM schemes in docs/engines.md, on
// vLLM's own vectors (PRF words and uniforms of both PRFs, dual-key
// derivations, Gumbel and SBW samples, detector results), and checks that
// it reports a mismatch on a copy with one PRF word altered. It needs
// Node.js and is skipped without it, unless TRACEMARK_REQUIRE_NODE is set.
func TestVLLMReimplementation(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("TRACEMARK_REQUIRE_NODE") != "" {
			t.Fatal("node is required (TRACEMARK_REQUIRE_NODE is set)")
		}
		t.Skip("node not installed")
	}
	const vectors = "testdata/vllm/vectors.json"
	out, err := exec.Command(node, "../docs/vllm_check.mjs", vectors).CombinedOutput()
	if err != nil {
		t.Fatalf("vllm_check.mjs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), " 0 mismatches") {
		t.Fatalf("unexpected output: %s", out)
	}
	t.Log(strings.TrimSpace(string(out)))

	raw, err := os.ReadFile(vectors)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var prf []map[string]any
	if err := json.Unmarshal(v["prf"], &prf); err != nil {
		t.Fatal(err)
	}
	words := prf[0]["philox_words"].([]any)
	words[0] = words[0].(float64) + 1
	bad, _ := json.Marshal(map[string]any{"prf": prf[:1], "derive": []any{}, "gumbel_samples": []any{}, "sbw_samples": []any{}, "sequences": []any{}, "detections": []any{}})
	path := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(node, "../docs/vllm_check.mjs", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "1 mismatches") {
		t.Fatalf("an altered PRF word was not reported (err %v): %s", err, out)
	}
}
