package corpora

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func touch(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func rels(t *testing.T, root string, files []string) []string {
	var out []string
	for _, f := range files {
		r, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, filepath.ToSlash(r))
	}
	return out
}

func TestWalkGlobs(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "a.jsonl", "b.tmp", "x/c.jsonl", "x/y/d.jsonl", "x/y/e.txt", "tmp/f.jsonl", "z/tmp/g.jsonl", ".cache/h.jsonl")
	for _, c := range []struct {
		globs, exclude []string
		hidden         bool
		want           []string
		excluded       int
	}{
		{nil, nil, false, []string{"a.jsonl", "b.tmp", "tmp/f.jsonl", "x/c.jsonl", "x/y/d.jsonl", "x/y/e.txt", "z/tmp/g.jsonl"}, 0},
		{[]string{"*.jsonl"}, nil, false, []string{"a.jsonl", "tmp/f.jsonl", "x/c.jsonl", "x/y/d.jsonl", "z/tmp/g.jsonl"}, 2},
		{[]string{"*.jsonl", "!tmp/"}, nil, false, []string{"a.jsonl", "x/c.jsonl", "x/y/d.jsonl"}, 4},
		{[]string{"x/**/*.jsonl"}, nil, false, []string{"x/c.jsonl", "x/y/d.jsonl"}, 5},
		{nil, []string{"*.tmp", "**/y/**"}, false, []string{"a.jsonl", "tmp/f.jsonl", "x/c.jsonl", "z/tmp/g.jsonl"}, 2},
		{[]string{"*.jsonl"}, nil, true, []string{".cache/h.jsonl", "a.jsonl", "tmp/f.jsonl", "x/c.jsonl", "x/y/d.jsonl", "z/tmp/g.jsonl"}, 2},
	} {
		res, err := Walk(context.Background(), []string{dir}, WalkOptions{Globs: c.globs, Exclude: c.exclude, Hidden: c.hidden})
		if err != nil {
			t.Fatal(err)
		}
		if got := rels(t, dir, res.Files); !slices.Equal(got, c.want) || res.Skipped.Excluded != c.excluded {
			t.Errorf("globs %q exclude %q: got %q (%+v), want %q (%d excluded)", c.globs, c.exclude, got, res.Skipped, c.want, c.excluded)
		}
		if wantHidden := 1; !c.hidden && res.Skipped.Hidden != wantHidden {
			t.Errorf("hidden count %d", res.Skipped.Hidden)
		}
	}
	// A file named explicitly is read whatever the filters say.
	res, _ := Walk(context.Background(), []string{filepath.Join(dir, "b.tmp")}, WalkOptions{Globs: []string{"*.jsonl"}})
	if len(res.Files) != 1 {
		t.Errorf("explicit file filtered: %q", res.Files)
	}
	if _, err := Walk(context.Background(), []string{dir}, WalkOptions{Globs: []string{"[a"}}); err == nil || !strings.Contains(err.Error(), `bad glob pattern "[a"`) {
		t.Errorf("bad pattern: %v", err)
	}
}

func TestWalkCountsSkips(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "d/a.txt", "e/b.txt")
	os.Symlink(filepath.Join(dir, "d"), filepath.Join(dir, "e", "again"))      // d walked twice: once
	os.Symlink(filepath.Join(dir, "nothing"), filepath.Join(dir, "e", "gone")) // broken
	os.Symlink(filepath.Join(dir, "d", "a.txt"), filepath.Join(dir, "e", "c.txt"))
	if err := syscall.Mkfifo(filepath.Join(dir, "e", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Walk(context.Background(), []string{dir}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rels(t, dir, res.Files); !slices.Equal(got, []string{"d/a.txt", "e/b.txt"}) {
		t.Errorf("files %q", got)
	}
	want := WalkSkips{Special: 1, BrokenLinks: 1, Loops: 1, Duplicates: 1}
	if res.Skipped != want {
		t.Errorf("skipped %+v, want %+v", res.Skipped, want)
	}
	if s := res.Skipped.String(); !strings.Contains(s, "1 special files") || !strings.Contains(s, "1 broken symbolic links") {
		t.Errorf("description %q", s)
	}
}

// One unreadable subdirectory is one error in its place; the walk goes on.
func TestWalkUnreadableDirectory(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "a/1.txt", "b/2.txt", "c/3.txt")
	bad := filepath.Join(dir, "b")
	readDir := func(p string) ([]fs.DirEntry, error) {
		if p == bad {
			return nil, fs.ErrPermission
		}
		return os.ReadDir(p)
	}
	res, err := walk(context.Background(), []string{dir}, WalkOptions{}, readDir)
	if err != nil {
		t.Fatal(err)
	}
	if got := rels(t, dir, res.Files); !slices.Equal(got, []string{"a/1.txt", "b", "c/3.txt"}) {
		t.Errorf("files %q", got)
	}
	if len(res.Errors) != 1 || res.Errors[0].Source != bad || !errors.Is(res.Errors[0].Err, fs.ErrPermission) {
		t.Errorf("errors %v", res.Errors)
	}
	if os.Geteuid() != 0 { // the same through the file system
		os.Chmod(bad, 0)
		defer os.Chmod(bad, 0o755)
		res, err := Walk(context.Background(), []string{dir}, WalkOptions{})
		if err != nil || len(res.Errors) != 1 || len(res.Files) != 3 {
			t.Errorf("chmod 0: %v %v %q", err, res.Errors, res.Files)
		}
	}
}

func TestWalkCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Walk(ctx, []string{t.TempDir()}, WalkOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}
