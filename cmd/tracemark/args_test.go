package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestReorderArgs(t *testing.T) {
	cmds := []*cli.Command{
		{Name: "detect", Flags: []cli.Flag{&cli.BoolFlag{Name: "json"}, &cli.StringSliceFlag{Name: "key", Aliases: []string{"k"}}}},
		{Name: "bench", Subcommands: []*cli.Command{{Name: "fpr", Flags: []cli.Flag{&cli.IntFlag{Name: "seed"}}}}},
	}
	cases := []struct{ in, want string }{
		{"tm detect out.txt --json", "tm detect --json out.txt"},
		{"tm detect a --key k b -k=j c", "tm detect --key k -k=j a b c"},
		{"tm detect --json a -- --json -k", "tm detect --json -- a --json -k"},
		{"tm detect - --json", "tm detect --json -"},
		{"tm bench fpr --seed 3 x", "tm bench fpr --seed 3 x"},
		{"tm bench fpr x --seed 3", "tm bench fpr --seed 3 x"},
		{"tm detect a --unknown b", "tm detect --unknown a b"},
		{"tm nosuch a --x", "tm nosuch a --x"},
		{"tm", "tm"},
	}
	for _, c := range cases {
		got := strings.Join(reorderArgs(cmds, strings.Fields(c.in)), " ")
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"detect", "scan", "merge", "keygen", "generate"}
	for in, want := range map[string]string{"detcet": "detect", "scna": "scan", "keygne": "keygen", "xyzzy": "", "merge": "merge"} {
		if got := suggest(in, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance = %d, want 3", d)
	}
}

// TestFlagsAfterPathsAndUsageErrors runs the CLI: flags after a path are
// flags, "--" ends them, and unknown commands and flags get one short line
// on stderr with a suggestion and exit 2, not the whole help on stdout.
func TestFlagsAfterPathsAndUsageErrors(t *testing.T) {
	key, _ := newKey(t)
	text := filepath.Join(t.TempDir(), "out.txt")
	os.WriteFile(text, []byte("The quick brown fox jumps over the lazy dog, again and again."), 0o644)
	code, stdout, stderr := cliRun(t, "", "detect", text, "--json", "--key", key)
	if code != exitNotFound || !strings.HasPrefix(stdout, "{") || stderr != "" {
		t.Errorf("detect FILE --json: %d %q %q", code, stdout, stderr)
	}
	dashed := filepath.Join(filepath.Dir(text), "--json")
	os.WriteFile(dashed, []byte("a file named like a flag"), 0o644)
	code, stdout, _ = cliRun(t, "", "detect", "--key", key, "--", dashed)
	if code != exitNotFound || strings.HasPrefix(stdout, "{") {
		t.Errorf("detect -- --json: %d %q", code, stdout)
	}
	code, stdout, stderr = cliRun(t, "", "detcet", text)
	if code != exitError || stdout != "" || !strings.Contains(stderr, `did you mean "detect"`) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("unknown command: %d %q %q", code, stdout, stderr)
	}
	code, stdout, stderr = cliRun(t, "", "detect", "--jsno", text)
	if code != exitError || stdout != "" || !strings.Contains(stderr, `did you mean "--json"`) {
		t.Errorf("unknown flag: %d %q %q", code, stdout, stderr)
	}
}
