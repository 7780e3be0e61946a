package spans

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/watermark"
)

// FuzzScan scans arbitrary token sequences (read from the fuzz input as
// little-endian uint16 IDs, so that repeats are common) under each null
// model and checks the invariants: p-values in [0, 1], the combined
// p-value is 2·min of the two tests, spans lie inside the text in order,
// and byte offsets match the token offsets given.
func FuzzScan(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte("the same words the same words the same words the same words"), uint8(1))
	seed := make([]byte, 4000)
	for i := range seed {
		seed[i] = byte(i * 7 % 13)
	}
	f.Add(seed, uint8(2))
	specs := []string{watermark.DefaultSpec, "gumbel:h=2", "tournament:m=5,h=2", "kgw:payload_bits=8"}
	scanners := make([]*Scanner, len(specs))
	for i, spec := range specs {
		s := testScheme(f, rand.New(rand.NewPCG(uint64(i), 1)), spec)
		d, err := detect.New(s, detect.Options{Alpha: 0.01})
		if err != nil {
			f.Fatal(err)
		}
		scanners[i], _ = New(d, Options{MinWindow: 8})
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		sc := scanners[int(which)%len(scanners)]
		ids := make([]uint32, len(data)/2)
		for i := range ids {
			ids[i] = uint32(binary.LittleEndian.Uint16(data[2*i:]))
		}
		offsets := make([]int, len(ids)+1)
		for i := range offsets {
			offsets[i] = 3 * i
		}
		r := sc.Scan(ids, offsets)
		for _, p := range []float64{r.PValue, r.GlobalPValue, r.LocalPValue} {
			if !(p >= 0 && p <= 1) {
				t.Fatalf("p-value %v out of range: %+v", p, r)
			}
		}
		want := r.GlobalLog10P
		if r.Windows > 0 {
			want = math.Min(0, math.Min(r.GlobalLog10P, r.LocalLog10P)+math.Log10(2))
		}
		if math.Abs(want-r.Log10P) > 1e-9*math.Max(1, -want) {
			t.Fatalf("combined log10 p %v, want %v", r.Log10P, want)
		}
		if r.Detected != (r.Log10P <= math.Log10(0.01)) {
			t.Fatalf("detected %v at log10 p %v", r.Detected, r.Log10P)
		}
		end := 0
		for _, sp := range r.Spans {
			if sp.TokenStart < end || sp.TokenEnd <= sp.TokenStart || sp.TokenEnd > len(ids) {
				t.Fatalf("span [%d,%d) after %d in %d tokens", sp.TokenStart, sp.TokenEnd, end, len(ids))
			}
			if sp.ByteStart != 3*sp.TokenStart || sp.ByteEnd != 3*sp.TokenEnd || sp.Log10P > math.Log10(0.01) {
				t.Fatalf("span %+v", sp)
			}
			end = sp.TokenEnd
		}
	})
}
