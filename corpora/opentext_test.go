package corpora_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tracemark/tracemark/corpora"
)

func TestOpenText(t *testing.T) {
	dir := t.TempDir()
	text := "Some plain text, with an accent: café.\n"
	for _, c := range []struct {
		name string
		kind corpora.Compression
	}{{"a.txt", corpora.NoCompression}, {"a.jsonl.gz", corpora.Gzip}, {"a.zst", corpora.Zstd}, {"a.xz", corpora.XZ}} {
		path := write(t, dir, c.name, compress(t, c.kind, []byte(text)))
		rc, err := corpora.OpenText(context.Background(), path, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != text {
			t.Errorf("%s: %q %v", c.name, got, err)
		}
	}
	rc, err := corpora.OpenText(context.Background(), "-", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(rc); string(got) != text {
		t.Errorf("stdin: %q", got)
	}
	// Binary content, compressed or not, is ErrBinary naming the path.
	for name, data := range map[string][]byte{
		"img.png":    []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
		"prog":       []byte("\x7fELF\x02\x01\x01\x00"),
		"nul.txt":    []byte(strings.Repeat("a\x00", 100)),
		"png.gz":     compress(t, corpora.Gzip, []byte("\x89PNG\r\n\x1a\n\x00\x00")),
		"zip.zip":    []byte("PK\x03\x04\x14\x00\x00\x00"),
		"rand.bin":   []byte(strings.Repeat("\x93\xf1\xa7\x8e\x12\xc4", 200)),
		"x.parquet":  []byte("PAR1\x15\x00\x15"),
		"stdin-like": []byte("\x00\x00\x00\x00"),
	} {
		path := write(t, dir, name, data)
		if _, err := corpora.OpenText(context.Background(), path, nil); !errors.Is(err, corpora.ErrBinary) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Directories and special files are refused without being opened.
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o644)
	for _, p := range []string{dir, fifo, "/dev/urandom"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if _, err := corpora.OpenText(context.Background(), p, nil); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", p, err)
		}
	}
	// Cancellation stops reading.
	ctx, cancel := context.WithCancel(context.Background())
	rc, err = corpora.OpenText(ctx, write(t, dir, "long.txt", []byte(strings.Repeat("word ", 100000))), nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(rc); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	rc.Close()
}

func FuzzOpenText(f *testing.F) {
	f.Add([]byte("plain text"))
	f.Add(compress(f, corpora.Gzip, []byte("\x89PNG\r\n\x1a\n")))
	f.Add([]byte("caf\xe9 \x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f")
		os.WriteFile(path, data, 0o644)
		rc, err := corpora.OpenText(context.Background(), path, nil)
		if err != nil {
			return
		}
		io.Copy(io.Discard, rc)
		rc.Close()
	})
}
