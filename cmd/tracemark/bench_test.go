package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchCommand runs one quick section through the CLI, then a second
// one into the same directory: the report keeps both sections.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs benchmark sections")
	}
	dir := t.TempDir()
	code, stdout, stderr := cliRun(t, "", "bench", "quality", "--quick", "--seed", "3", "--out", dir)
	if code != 0 {
		t.Fatalf("bench quality: exit %d\n%s", code, stderr)
	}
	if strings.TrimSpace(stdout) != filepath.Join(dir, "REPORT.md") {
		t.Errorf("stdout %q, want the report path", stdout)
	}
	if code, _, stderr = cliRun(t, "", "bench", "power", "--quick", "--seed", "3", "--out", dir); code != 0 {
		t.Fatalf("bench power: exit %d\n%s", code, stderr)
	}
	md := string(mustRead(t, filepath.Join(dir, "REPORT.md")))
	for _, want := range []string{"## 2. Power", "## 4. Quality", "power-tpr.png", "quality-perplexity.png"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	var res map[string]json.RawMessage
	if err := json.Unmarshal(mustRead(t, filepath.Join(dir, "results.json")), &res); err != nil {
		t.Fatal(err)
	}
	if res["power"] == nil || res["quality"] == nil || res["fpr"] != nil {
		t.Errorf("results.json sections: power %v, quality %v, fpr %v", res["power"] != nil, res["quality"] != nil, res["fpr"] != nil)
	}
	// The report can be rewritten from results.json alone.
	os.Remove(filepath.Join(dir, "REPORT.md"))
	if code, _, stderr = cliRun(t, "", "bench", "report", "--out", dir); code != 0 {
		t.Fatalf("bench report: exit %d\n%s", code, stderr)
	}
	if again := string(mustRead(t, filepath.Join(dir, "REPORT.md"))); !strings.Contains(again, "## 2. Power") {
		t.Error("rewritten report lacks the power section")
	}
	// A different seed starts a new report instead of mixing runs.
	if code, _, stderr = cliRun(t, "", "bench", "quality", "--quick", "--seed", "4", "--out", dir); code != 0 {
		t.Fatalf("bench quality seed 4: exit %d\n%s", code, stderr)
	}
	if md := string(mustRead(t, filepath.Join(dir, "REPORT.md"))); strings.Contains(md, "## 2. Power") {
		t.Error("a run with another seed kept the old seed's power section")
	}
}

func TestBenchErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "results.json"), []byte("{not json"), 0o644)
	for _, args := range [][]string{
		{"bench", "fpr", "--quick", "--out", dir},
		{"bench", "power", "extra-arg"},
		{"bench", "speed", "--jobs", "-1"},
		{"bench", "nosuchsection"},
		{"bench", "report", "--out", t.TempDir()},
	} {
		code, _, stderr := cliRun(t, "", args...)
		if code != exitError {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitError, stderr)
		}
	}
}
