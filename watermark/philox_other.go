//go:build !amd64 || purego

package watermark

// run evaluates lanes [0, n) of b with the pure-Go kernel, the only one
// on this architecture or build (purego).
func (b *philoxBatch) run(n int) { philoxGeneric(b, n) }

// philoxKernels returns the kernels this machine can run, by name, for the
// tests that compare them.
func philoxKernels() map[string]philoxKernel {
	return map[string]philoxKernel{"generic": philoxGeneric}
}
