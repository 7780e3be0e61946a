package watermark

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// checkPhiloxKernels runs every kernel this machine has on a copy of b's
// first n lanes and compares each lane with philox4x32.
func checkPhiloxKernels(t *testing.T, b *philoxBatch, n int) {
	t.Helper()
	for name, k := range philoxKernels() {
		x := *b
		k(&x, n)
		for l := 0; l < n; l++ {
			want := philox4x32([4]uint32{b.c[0][l], b.c[1][l], b.c[2][l], b.c[3][l]}, b.k[0][l], b.k[1][l])
			got := [4]uint32{x.c[0][l], x.c[1][l], x.c[2][l], x.c[3][l]}
			if got != want {
				t.Fatalf("%s, n=%d, lane %d: %08x, want %08x", name, n, l, got, want)
			}
		}
		// lanes past n rounded up to 16 are left alone
		for l := (n + 15) &^ 15; l < philoxBatchN; l++ {
			for j := range 4 {
				if x.c[j][l] != b.c[j][l] {
					t.Fatalf("%s, n=%d: lane %d written", name, n, l)
				}
			}
		}
	}
}

// TestPhiloxKernelsAgree: the vector kernels (AVX2, AVX-512 where the CPU
// has them) give philox4x32's words on random counters and keys, for
// every lane count, and on the edge words 0 and 2^32-1.
func TestPhiloxKernelsAgree(t *testing.T) {
	ks := philoxKernels()
	t.Logf("kernels on this machine: %d (%v)", len(ks), func() []string {
		var s []string
		for n := range ks {
			s = append(s, n)
		}
		return s
	}())
	rng := rand.New(rand.NewPCG(4, 32))
	var b philoxBatch
	for rep := 0; rep < 200; rep++ {
		for j := range 4 {
			for l := range b.c[j] {
				b.c[j][l] = rng.Uint32()
			}
		}
		for j := range 2 {
			for l := range b.k[j] {
				b.k[j][l] = rng.Uint32()
			}
		}
		if rep%10 == 1 { // edge words
			for l := 0; l < philoxBatchN; l++ {
				v := []uint32{0, 0xFFFFFFFF, 1, 0x80000000}[rng.IntN(4)]
				b.c[rng.IntN(4)][l] = v
				b.k[rng.IntN(2)][l] = v
			}
		}
		checkPhiloxKernels(t, &b, rep%(philoxBatchN+1))
	}
	checkPhiloxKernels(t, &b, philoxBatchN)
}

// FuzzPhiloxKernels compares the kernels with philox4x32 on arbitrary
// lanes: the input's bytes fill the counters and keys, cycled.
func FuzzPhiloxKernels(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}, uint8(17))
	f.Add([]byte{255, 255, 255, 255}, uint8(128))
	f.Fuzz(func(t *testing.T, raw []byte, nb uint8) {
		if len(raw) < 4 {
			return
		}
		var b philoxBatch
		w := func(i int) uint32 {
			var x [4]byte
			for j := range x {
				x[j] = raw[(4*i+j)%len(raw)]
			}
			return binary.LittleEndian.Uint32(x[:])
		}
		i := 0
		for l := 0; l < philoxBatchN; l++ {
			for j := range 4 {
				b.c[j][l] = w(i)
				i++
			}
			b.k[0][l], b.k[1][l] = w(i), w(i+1)
			i += 2
		}
		checkPhiloxKernels(t, &b, int(nb)%(philoxBatchN+1))
	})
}

// BenchmarkPhiloxKernels times each kernel on full batches; ns/op is per
// Philox4x32-10 evaluation.
func BenchmarkPhiloxKernels(b *testing.B) {
	var x philoxBatch
	for l := range x.c[0] {
		x.c[0][l], x.k[0][l] = uint32(l), uint32(3*l)
	}
	for _, name := range []string{"generic", "avx2", "avx512"} {
		k, ok := philoxKernels()[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				k(&x, philoxBatchN)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/philoxBatchN, "ns/lane")
		})
	}
}
