package bigbuf

import (
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
