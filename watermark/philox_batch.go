package watermark

// This file holds the batched Philox4x32-10 that the vLLM detection fast
// paths run: a block of independent evaluations laid out as a structure of
// arrays, so that the amd64 kernels (philox_amd64.s) compute 8 (AVX2) or
// 16 (AVX-512) of them per instruction. philoxGeneric is the pure-Go
// kernel, used on other architectures, without the CPU features, or with
// the purego build tag; every kernel gives philox4x32's words exactly
// (TestPhiloxKernelsAgree, FuzzPhiloxKernels).

// philoxBatchN is the number of lanes of a philoxBatch: the block size of
// the fast paths. It is a multiple of 16, the widest kernel's lane count.
const philoxBatchN = 128

// philoxBatch holds philoxBatchN independent Philox4x32-10 evaluations:
// lane l has counter (c[0][l], c[1][l], c[2][l], c[3][l]) and key
// (k[0][l], k[1][l]). A kernel replaces the counters by the outputs. The
// kernels' assembly depends on this layout (offsets in philox_amd64.s).
type philoxBatch struct {
	c [4][philoxBatchN]uint32
	k [2][philoxBatchN]uint32
}

// philoxGeneric runs lanes [0, n) of b through philox4x32, one at a time.
func philoxGeneric(b *philoxBatch, n int) {
	for l := 0; l < n; l++ {
		out := philox4x32([4]uint32{b.c[0][l], b.c[1][l], b.c[2][l], b.c[3][l]}, b.k[0][l], b.k[1][l])
		b.c[0][l], b.c[1][l], b.c[2][l], b.c[3][l] = out[0], out[1], out[2], out[3]
	}
}

// philoxKernel is the signature of a batched Philox kernel: it replaces
// the counters of lanes [0, n) of b (0 <= n <= philoxBatchN) by their
// outputs. A vector kernel may also overwrite lanes up to n rounded up to
// its width; the fast paths never read those.
type philoxKernel func(b *philoxBatch, n int)
