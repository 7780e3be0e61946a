// Package noderef starts, for tests, a reference implementation that runs
// under node from an npm package installed into tracemark's cache
// directory, and returns pipes to a line-oriented script talking to it.
package noderef

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/ngram"
)

// Start installs npmPackage (name@version, which provides module) into the
// cache directory's npm/ folder on first use and runs `node script
// NODE_MODULES_DIR`. It returns the script's standard input and output; the
// process ends when the test does. Without node or npm the test is skipped,
// or fails if TRACEMARK_REQUIRE_NODE is set.
func Start(t testing.TB, npmPackage, module, script string) (*bufio.Writer, *bufio.Scanner) {
	t.Helper()
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if errNode != nil || errNPM != nil {
		if os.Getenv("TRACEMARK_REQUIRE_NODE") != "" {
			t.Fatal("node and npm are required (TRACEMARK_REQUIRE_NODE is set)")
		}
		t.Skipf("node or npm not installed: cannot run %s", npmPackage)
	}
	dir := filepath.Join(ngram.CacheDir(), "npm", strings.ReplaceAll(npmPackage, "@", "-"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", module, "package.json")); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", npmPackage).CombinedOutput()
		if err != nil {
			t.Fatalf("npm install %s: %v\n%s", npmPackage, err, out)
		}
	}
	cmd := exec.Command(node, script, filepath.Join(dir, "node_modules"))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<30)
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	return bufio.NewWriter(stdin), sc
}
