package bigbuf

import (
	"os"
	"syscall"
)

func mapAnonymous(n int) ([]byte, bool) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, false
	}
	// Advice only: where transparent huge pages are off, the buffer is
	// faulted in 4 KiB at a time, as the Go heap's would be.
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	return b, true
}

func unmap(b []byte) { _ = syscall.Munmap(b) }

func mapFile(f *os.File, size int) ([]byte, bool) {
	b, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, false
	}
	// Tables are read at random: map only the page a read falls in, not
	// the pages around it too (advice only).
	_ = syscall.Madvise(b, syscall.MADV_RANDOM)
	return b, true
}
