// Package bigbuf allocates large byte buffers, such as a whole input file
// read at once, outside the Go heap where the system allows it: on Linux
// the buffer is mapped with transparent huge pages advised, so that it is
// faulted in 2 MiB at a time instead of 4 KiB (a fault costs much more
// than zeroing a page on a virtual machine), and the garbage collector
// neither scans nor counts it.
package bigbuf

import (
	"fmt"
	"os"
)

// MinSize is the smallest buffer Alloc takes outside the Go heap; smaller
// ones are ordinary slices.
const MinSize = 1 << 20

// Alloc returns a zeroed buffer of length n and a function that releases
// it. The buffer, and anything sliced from it, must not be used after
// release is called; not calling it only keeps the memory until the process
// ends. Alloc never fails: where memory cannot be mapped it falls back to
// make.
func Alloc(n int) (buf []byte, release func()) {
	if n >= MinSize {
		if b, ok := mapAnonymous(n); ok {
			return b, func() { unmap(b) }
		}
	}
	return make([]byte, n), func() {}
}

// MapFile returns the first size bytes of f, read-only: on Linux a shared
// mapping of the file, whose pages are read from the page cache only where
// they are used (so they count towards the process's memory only then);
// elsewhere, or if the file cannot be mapped, a copy read into the heap. The
// bytes must not be written to; they stay valid after f is closed, until the
// process ends (a mapping is never removed, since slices of it may be kept
// anywhere). They change if the file is written in place, so map only files
// that are replaced, never rewritten.
func MapFile(f *os.File, size int) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	if b, ok := mapFile(f, size); ok {
		return b, nil
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return b, nil
}
