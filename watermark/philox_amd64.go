//go:build amd64 && !purego

package watermark

import "golang.org/x/sys/cpu"

// philoxAVX2 evaluates lanes [0, n) of b 8 at a time (AVX2); it may write
// lanes up to n rounded up to 8.
//
//go:noescape
func philoxAVX2(b *philoxBatch, n int)

// philoxAVX512 evaluates lanes [0, n) of b 16 at a time (AVX-512F); it may
// write lanes up to n rounded up to 16.
//
//go:noescape
func philoxAVX512(b *philoxBatch, n int)

// philoxLevel is the widest kernel this CPU runs (2 AVX-512F, 1 AVX2, 0
// none), read once when the package initializes and never changed after.
// golang.org/x/sys/cpu reports a feature only when the operating system
// also saves its registers.
var philoxLevel = pickPhilox(cpu.X86.HasAVX512F, cpu.X86.HasAVX2)

func pickPhilox(avx512, avx2 bool) int {
	switch {
	case avx512:
		return 2
	case avx2:
		return 1
	}
	return 0
}

// run evaluates lanes [0, n) of b with the widest kernel this machine has.
// It calls the kernels directly (not through a function value) so that b
// does not escape: the fast paths keep their batches on the stack.
func (b *philoxBatch) run(n int) {
	switch philoxLevel {
	case 2:
		philoxAVX512(b, n)
	case 1:
		philoxAVX2(b, n)
	default:
		philoxGeneric(b, n)
	}
}

// philoxKernels returns the kernels this machine can run, by name, for the
// tests that compare them.
func philoxKernels() map[string]philoxKernel {
	k := map[string]philoxKernel{"generic": philoxGeneric}
	if cpu.X86.HasAVX2 {
		k["avx2"] = philoxAVX2
	}
	if cpu.X86.HasAVX512F {
		k["avx512"] = philoxAVX512
	}
	return k
}
