package watermark

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSpecReimplementation runs docs/spec_check.mjs, an independent
// JavaScript implementation of docs/SPEC.md, against the test vectors. It
// needs Node.js (present on CI machines) and is skipped without it, unless
// TRACEMARK_REQUIRE_NODE is set.
func TestSpecReimplementation(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("TRACEMARK_REQUIRE_NODE") != "" {
			t.Fatal("node is required (TRACEMARK_REQUIRE_NODE is set)")
		}
		t.Skip("node not installed")
	}
	out, err := exec.Command(node, "../docs/spec_check.mjs", vectorsPath).CombinedOutput()
	if err != nil {
		t.Fatalf("spec_check.mjs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), " 0 mismatches") {
		t.Fatalf("unexpected output: %s", out)
	}
	t.Log(strings.TrimSpace(string(out)))
}
