package bigbuf

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestAllocZeroedWritableReleased(t *testing.T) {
	for _, n := range []int{0, 1, MinSize - 1, MinSize, 3*MinSize + 12345} {
		b, release := Alloc(n)
		if len(b) != n {
			t.Fatalf("Alloc(%d): length %d", n, len(b))
		}
		for i := 0; i < n; i += 4093 {
			if b[i] != 0 {
				t.Fatalf("Alloc(%d): byte %d is %d, not zero", n, i, b[i])
			}
			b[i] = byte(i)
		}
		if n > 0 && b[n-1] != 0 && (n-1)%4093 != 0 {
			t.Fatalf("Alloc(%d): last byte not zero", n)
		}
		release()
	}
}

func TestAllocMapsLargeBuffersOnLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mapping is Linux only")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b, release := Alloc(64 << 20)
	defer release()
	runtime.ReadMemStats(&after)
	if grew := after.HeapSys - before.HeapSys; grew >= 64<<20 {
		t.Errorf("a 64 MiB buffer grew the Go heap by %d bytes", grew)
	}
	b[len(b)-1] = 1
}

// TestMapFile: MapFile gives the file's bytes (mapped or read), which stay
// valid after the file is closed; an empty size gives nothing.
func TestMapFile(t *testing.T) {
	want := bytes.Repeat([]byte("tracemark "), MinSize/5)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := MapFile(f, len(want))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("mapped bytes differ from the file's")
	}
	if b, err := MapFile(f, 0); err != nil || len(b) != 0 {
		t.Errorf("size 0: %d bytes, %v", len(b), err)
	}
}
