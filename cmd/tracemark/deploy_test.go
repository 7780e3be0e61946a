package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeploySimulate runs deploy/simulate.sh (the light path of
// docs/distributed.md: prepare.sh, three shard processes as Slurm array
// tasks through spooled copies of slurm-scan.sbatch and as Kubernetes
// Indexed Job pods through scan-shard.sh, then merge) over corpora/testdata,
// with this test binary as the tracemark command, and checks that it
// reports both merges equal to one scan.
func TestDeploySimulate(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := newKey(t)
	root := filepath.Join("..", "..")
	cmd := exec.Command(bash, filepath.Join("deploy", "simulate.sh"), key, "3", filepath.Join("corpora", "testdata"))
	cmd.Dir = root
	// TRACEMARK_TEST_MAIN makes the test binary the tracemark command
	// (TestMain); TMPDIR keeps the scripts' work directories in the test's.
	cmd.Env = append(os.Environ(), "TRACEMARK="+exe, "TRACEMARK_TEST_MAIN=1", "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("deploy/simulate.sh:\n%s", out)
	if err != nil {
		t.Fatalf("deploy/simulate.sh: %v", err)
	}
	s := string(out)
	files := 0
	err = filepath.WalkDir(filepath.Join(root, "corpora", "testdata"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files++
		}
		return err
	})
	if err != nil || files == 0 {
		t.Fatalf("corpora/testdata: %d files, %v", files, err)
	}
	for _, want := range []string{"slurm: files documents", "k8s: files documents", "both merges equal it", "shard 0 done", "shard 2 done"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in the output", want)
		}
	}
	if got := strings.Count(s, " done\n"); got != 6 {
		t.Errorf("%d shards done, want 3 per scheduler", got)
	}
	line := s[strings.LastIndex(s, "one scan: "):]
	if !strings.HasPrefix(line, "one scan: "+itoa(files)+" ") {
		t.Errorf("one scan of %d files: %q", files, line)
	}
}
