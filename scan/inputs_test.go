package scan

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A Hugging Face snapshot directory is all symbolic links (to blobs, and
// to directories): the files behind them are read. Hidden directories are
// left out, and a FIFO in the tree does not hang the walk.
func TestExpandInputsFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs")
	snap := filepath.Join(dir, "snapshots", "abc")
	os.MkdirAll(blobs, 0o755)
	os.MkdirAll(filepath.Join(dir, "data", ".git"), 0o755)
	os.MkdirAll(snap, 0o755)
	os.WriteFile(filepath.Join(blobs, "1111"), []byte(`{"text":"a"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(blobs, "2222"), []byte(`{"text":"b"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "data", ".git", "HEAD"), []byte("ref"), 0o644)
	os.Symlink(filepath.Join(blobs, "1111"), filepath.Join(snap, "train.jsonl"))
	os.Mkdir(filepath.Join(snap, "sub"), 0o755)
	os.Symlink("../../../blobs/2222", filepath.Join(snap, "sub", "test.jsonl"))
	os.Symlink(filepath.Join(dir, "data"), filepath.Join(snap, "linked"))
	os.Symlink(snap, filepath.Join(snap, "sub", "loop")) // a loop
	syscall.Mkfifo(filepath.Join(dir, "data", "pipe"), 0o644)
	files, err := ExpandInputs([]string{snap})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(snap, "sub", "test.jsonl"), filepath.Join(snap, "train.jsonl")}
	if len(files) != len(want) || files[0] != want[0] || files[1] != want[1] {
		t.Fatalf("files %q, want %q", files, want)
	}
}
