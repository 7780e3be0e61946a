// Package npmtest gives tests the node tools and npm packages they check
// tracemark against: a program found on PATH (the test is skipped without
// it, or fails when TRACEMARK_REQUIRE_NODE is set, as CI sets it), and an
// npm package installed once into the cache directory.
package npmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/ngram"
)

// Required reports whether tests must fail instead of skipping when a
// node tool is missing (TRACEMARK_REQUIRE_NODE is set).
func Required() bool { return os.Getenv("TRACEMARK_REQUIRE_NODE") != "" }

// Tool finds a program on PATH, skipping the test without it unless
// Required.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if Required() {
			t.Fatalf("%s is required (TRACEMARK_REQUIRE_NODE is set): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// Install installs the npm package spec (name@version, pinned) into the
// cache directory once and returns the node_modules directory that holds
// it. It needs npm and the npm registry on the first call only.
func Install(t testing.TB, spec string) string {
	t.Helper()
	name := spec
	if i := strings.LastIndex(spec, "@"); i > 0 {
		name = spec[:i]
	}
	dir := filepath.Join(ngram.CacheDir(), "npm", strings.ReplaceAll(strings.ReplaceAll(spec, "/", "-"), "@", "-"))
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, name, "package.json")); err == nil {
		return modules
	}
	npm := Tool(t, "npm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", spec).CombinedOutput()
	if err != nil {
		t.Fatalf("npm install %s: %v\n%s", spec, err, out)
	}
	return modules
}
