// Package bigbuf allocates large byte buffers, such as a whole input file
// read at once, outside the Go heap where the system allows it: on Linux
// the buffer is mapped with transparent huge pages advised, so that it is
// faulted in 2 MiB at a time instead of 4 KiB (a fault costs much more
// than zeroing a page on a virtual machine), and the garbage collector
// neither scans nor counts it.
package bigbuf

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
