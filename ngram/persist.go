package ngram

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/zstd"
)

// fileMagic starts every model file; bump the digit when the layout changes.
const fileMagic = "TMNGRAM1"

// Save writes the model's counts (everything else is derived on load) as a
// zstd-compressed little-endian stream.
func (m *Model) Save(w io.Writer) error {
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return fmt.Errorf("ngram: save: %w", err)
	}
	bw := bufio.NewWriterSize(zw, 1<<16)
	e := encoder{w: bw}
	e.bytes([]byte(fileMagic))
	e.u64(Order)
	e.u64(uint64(m.vocab))
	e.u32s(m.cont1)
	for n := 2; n <= Order; n++ {
		l := &m.levels[n]
		e.u64(uint64(len(l.keys)))
		e.u64(uint64(len(l.words)))
		e.u64s(l.keys)
		e.u32s(l.start)
		e.u32s(l.words)
		e.u32s(l.counts)
	}
	e.bytes([]byte("END!"))
	if e.err == nil {
		e.err = bw.Flush()
	}
	if err := zw.Close(); e.err == nil {
		e.err = err
	}
	if e.err != nil {
		return fmt.Errorf("ngram: save: %w", e.err)
	}
	return nil
}

// Load reads a model written by Save, checking its structure.
func Load(r io.Reader) (*Model, error) {
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("ngram: load: %w", err)
	}
	defer zr.Close()
	d := decoder{r: bufio.NewReaderSize(zr, 1<<16)}
	if string(d.bytes(len(fileMagic))) != fileMagic {
		return nil, fmt.Errorf("%w: not a tracemark n-gram file (or an older format)", ErrBadModel)
	}
	if o := d.u64(); d.err == nil && o != Order {
		return nil, fmt.Errorf("%w: order %d, this build uses %d", ErrBadModel, o, Order)
	}
	vocab := d.u64()
	if d.err == nil && (vocab == 0 || vocab > MaxVocab) {
		return nil, fmt.Errorf("%w: vocabulary size %d", ErrBadModel, vocab)
	}
	m := &Model{vocab: int(vocab)}
	m.cont1 = d.u32s(vocab)
	for n := 2; n <= Order && d.err == nil; n++ {
		l := &m.levels[n]
		nk, ne := d.u64(), d.u64()
		if d.err == nil && (nk > ne || ne > 1<<32-1) {
			return nil, fmt.Errorf("%w: order %d sizes %d/%d", ErrBadModel, n, nk, ne)
		}
		l.keys = d.u64s(nk)
		l.start = d.u32s(nk + 1)
		l.words = d.u32s(ne)
		l.counts = d.u32s(ne)
		if d.err == nil {
			if err := l.check(m.vocab); err != nil {
				return nil, fmt.Errorf("%w: order %d: %v", ErrBadModel, n, err)
			}
		}
	}
	if d.err == nil && string(d.bytes(4)) != "END!" {
		d.err = errors.New("missing end marker")
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadModel, d.err)
	}
	m.finish()
	return m, nil
}

// check verifies the invariants queries rely on.
func (l *level) check(vocab int) error {
	if !slices.IsSorted(l.keys) {
		return errors.New("contexts not sorted")
	}
	if l.start[0] != 0 || int(l.start[len(l.start)-1]) != len(l.words) {
		return errors.New("bad entry ranges")
	}
	for i := range l.keys {
		lo, hi := l.start[i], l.start[i+1]
		if hi <= lo {
			return errors.New("empty or inverted entry range")
		}
		words := l.words[lo:hi]
		for j, w := range words {
			if int(w) >= vocab || (j > 0 && words[j-1] >= w) || l.counts[int(lo)+j] == 0 {
				return errors.New("bad entry")
			}
		}
	}
	return nil
}

type encoder struct {
	w   *bufio.Writer
	err error
	buf [8]byte
}

func (e *encoder) bytes(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) u64(x uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], x)
	e.bytes(e.buf[:8])
}

func (e *encoder) u32s(xs []uint32) {
	for _, x := range xs {
		binary.LittleEndian.PutUint32(e.buf[:], x)
		e.bytes(e.buf[:4])
	}
}

func (e *encoder) u64s(xs []uint64) {
	for _, x := range xs {
		e.u64(x)
	}
}

type decoder struct {
	r   *bufio.Reader
	err error
	buf [8]byte
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	b := make([]byte, n)
	_, d.err = io.ReadFull(d.r, b)
	return b
}

func (d *decoder) u64() uint64 {
	if d.err != nil {
		return 0
	}
	_, d.err = io.ReadFull(d.r, d.buf[:8])
	return binary.LittleEndian.Uint64(d.buf[:])
}

// maxElements bounds slice sizes read from a file, so a corrupt header
// cannot ask for terabytes.
const maxElements = 1 << 30

func (d *decoder) u32s(n uint64) []uint32 {
	if d.err != nil {
		return nil
	}
	if n > maxElements {
		d.err = fmt.Errorf("array of %d elements", n)
		return nil
	}
	xs := make([]uint32, n)
	for i := range xs {
		if _, d.err = io.ReadFull(d.r, d.buf[:4]); d.err != nil {
			return nil
		}
		xs[i] = binary.LittleEndian.Uint32(d.buf[:])
	}
	return xs
}

func (d *decoder) u64s(n uint64) []uint64 {
	if d.err != nil {
		return nil
	}
	if n > maxElements {
		d.err = fmt.Errorf("array of %d elements", n)
		return nil
	}
	xs := make([]uint64, n)
	for i := range xs {
		xs[i] = d.u64()
		if d.err != nil {
			return nil
		}
	}
	return xs
}
