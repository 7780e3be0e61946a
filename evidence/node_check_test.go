package evidence

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tracemark/tracemark/watermark"
)

// TestIndependentCheck runs docs/evidence_check.mjs, a check of evidence
// files written from docs/evidence.md with Node.js's standard library
// (its own RFC 8785 canonical form, SHA-256, Ed25519, key commitment),
// on a signed file with its key, and on tampered copies. It needs Node.js
// and is skipped without it, unless TRACEMARK_REQUIRE_NODE is set.
func TestIndependentCheck(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("TRACEMARK_REQUIRE_NODE") != "" {
			t.Fatal("node is required (TRACEMARK_REQUIRE_NODE is set)")
		}
		t.Skip("node not installed")
	}
	key := testKey(1)
	f, _ := build(t, key)
	f.Statistics[0].Location = "<tag> & \u2028 \"quoted\" é 😀" // escapes and non-ASCII in the canonical form
	f.Options.Alpha = 1e-300
	data := signed(t, f, fixedSigner())
	dir := t.TempDir()
	evPath, keyPath := filepath.Join(dir, "ev.json"), filepath.Join(dir, "k.key")
	os.WriteFile(evPath, data, 0o644)
	os.WriteFile(keyPath, key.EncodeKeyFile(), 0o600)
	check := func(args ...string) (string, error) {
		out, err := exec.Command(node, append([]string{"../docs/evidence_check.mjs"}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := check(evPath, keyPath)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "ok") {
		t.Fatalf("evidence_check.mjs on a good file: %v\n%s", err, out)
	}
	tampered := strings.Replace(string(data), `"tokens": 300`, `"tokens": 301`, 1)
	if tampered == string(data) {
		t.Fatal("fixture changed: no tokens count to tamper with")
	}
	os.WriteFile(evPath, []byte(tampered), 0o644)
	if out, err := check(evPath); err == nil || !strings.Contains(out, "FAIL member statistics") {
		t.Errorf("tampered file passed the independent check:\n%s", out)
	}
	os.WriteFile(evPath, data, 0o644)
	os.WriteFile(keyPath, testKey(2).EncodeKeyFile(), 0o600)
	if out, err := check(evPath, keyPath); err == nil {
		t.Errorf("another key passed the independent check:\n%s", out)
	}

	// An engine key (vLLM's 64-bit integer; words above 2^53 too).
	ek := watermark.NewEngineKey([]uint64{42, 1<<63 + 5}, watermark.DefaultKGW(), "o200k_base", time.Time{})
	b := NewBuilder(KindDetect, []string{"tracemark"})
	if err := b.AddKey(ek, "vllm-gumbel"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(evPath, signed(t, b.File(), fixedSigner()), 0o644)
	os.WriteFile(keyPath, ek.EncodeKeyFile(), 0o600)
	if out, err := check(evPath, keyPath); err != nil || !strings.Contains(out, "pass key "+ek.ID()+" opens its commitment") {
		t.Errorf("engine key: %v\n%s", err, out)
	}
}
