package tmbeam

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/klauspost/compress/zstd"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/watermark"
)

// The pipeline moves its many small items (tuple observations, document
// records) through the runner in batches: a runner's cost is per element
// (Prism keeps every element of a shuffle in memory with its own key,
// window and bookkeeping; every element crosses the Fn API), so one element
// per tuple made the shuffle, not the scoring, the cost of the job.

// tupleSize is the size of one tuple observation in a tupleBatch before
// compression: fingerprint (as the difference from the previous one),
// score bits, Bits (8 bytes each), Slot and Colour.
const tupleSize = 26

// tupleBatch is a run of tuple observations of one key and bucket, sorted
// by fingerprint and without repeats (see appendTuples), compressed by a
// batchCodec. Its coder is the bytes themselves.
//
// A batch is columnar: the count, then byte plane j (byte j of every value)
// of the fingerprint differences, j = 0..7, then those of the scores and of
// Bits, then the slots and the colours. The sorted fingerprints' differences
// have zero high bytes, and a KGW score (0 or 1) or unused Bits give
// near-constant planes, which zstd's entropy coder shrinks to a bit or less
// a value: a KGW tuple takes about 6 bytes instead of 26. The compressed
// size matters more than the CPU: Prism holds every shuffled byte in
// memory several times over (its element store, the bundle it builds for
// the consuming stage, the gRPC message to the worker and its decoding), so
// peak memory grows with the shuffled bytes.
type tupleBatch struct{ Data []byte }

// batchCodec compresses and decompresses batches with zstd. It is not safe
// for concurrent use (it keeps a scratch buffer): each DoFn instance has
// its own.
type batchCodec struct {
	enc     *zstd.Encoder
	dec     *zstd.Decoder
	raw     []byte
	scratch []byte
}

// newBatchCodec returns a codec at zstd's fastest level, single-threaded,
// with a 1 MiB window (the runner may run several instances at once).
func newBatchCodec() (*batchCodec, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20))
	if err != nil {
		return nil, fmt.Errorf("tmbeam: zstd: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("tmbeam: zstd: %w", err)
	}
	return &batchCodec{enc: enc, dec: dec}, nil
}

// Close releases the codec's resources.
func (c *batchCodec) Close() {
	c.enc.Close()
	c.dec.Close()
}

// seal returns the compression of raw in a new slice.
func (c *batchCodec) seal(raw []byte) []byte {
	return c.enc.EncodeAll(raw, make([]byte, 0, len(raw)/4+64))
}

// open decompresses b into the codec's scratch buffer, valid until the
// next call.
func (c *batchCodec) open(b []byte) ([]byte, error) {
	var err error
	c.scratch, err = c.dec.DecodeAll(b, c.scratch[:0])
	return c.scratch, err
}

// tupleObs is one decoded observation of a tupleBatch.
type tupleObs struct {
	FP           uint64
	Score        uint64 // math.Float64bits of the score
	Bits         uint64
	Slot, Colour uint8
}

func (o tupleObs) observation() watermark.Observation {
	return watermark.Observation{Score: math.Float64frombits(o.Score), Bits: o.Bits, Slot: o.Slot, Colour: o.Colour}
}

func compareObs(a, b tupleObs) int {
	if c := cmp.Compare(a.FP, b.FP); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Score, b.Score); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Bits, b.Bits); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Slot, b.Slot); c != 0 {
		return c
	}
	return cmp.Compare(a.Colour, b.Colour)
}

// sortUnique sorts obs by fingerprint (then by the observation, so that
// the order is a function of the set) and keeps the first observation of
// each fingerprint: the pooled test's dedup, which counts a fingerprint
// once. An observation is a function of the tuple and the key, so the
// copies of one tuple are equal and which is kept does not matter; only two
// distinct tuples with one 64-bit fingerprint (as likely as in scan's own
// sets) differ, and then the smallest is kept whatever the input order.
func sortUnique(obs []tupleObs) []tupleObs {
	slices.SortFunc(obs, compareObs)
	return slices.CompactFunc(obs, func(a, b tupleObs) bool { return a.FP == b.FP })
}

// sealTuples returns the batch of obs (sorted and unique).
func (c *batchCodec) sealTuples(obs []tupleObs) tupleBatch {
	n := len(obs)
	b := binary.AppendUvarint(c.raw[:0], uint64(n))
	head := len(b)
	b = slices.Grow(b, n*tupleSize)[:head+n*tupleSize]
	fps, scores, bits := b[head:head+8*n], b[head+8*n:head+16*n], b[head+16*n:head+24*n]
	slots, colours := b[head+24*n:head+25*n], b[head+25*n:]
	prev := uint64(0)
	for i, o := range obs {
		d, sc, bt := o.FP-prev, o.Score, o.Bits
		prev = o.FP
		for j := 0; j < 8; j++ {
			fps[j*n+i], scores[j*n+i], bits[j*n+i] = byte(d), byte(sc), byte(bt)
			d, sc, bt = d>>8, sc>>8, bt>>8
		}
		slots[i], colours[i] = o.Slot, o.Colour
	}
	c.raw = b
	return tupleBatch{c.seal(b)}
}

// decodeTuples appends the observations of a batch to obs.
func (c *batchCodec) decodeTuples(obs []tupleObs, batch tupleBatch) ([]tupleObs, error) {
	b, err := c.open(batch.Data)
	if err != nil {
		return obs, fmt.Errorf("tmbeam: tuple batch: %w", err)
	}
	count, k := binary.Uvarint(b)
	if k <= 0 || (len(b)-k)%tupleSize != 0 || count != uint64((len(b)-k)/tupleSize) {
		return obs, fmt.Errorf("tmbeam: corrupt tuple batch (%d bytes)", len(b))
	}
	n := int(count)
	b = b[k:]
	fps, scores, bits := b[:8*n], b[8*n:16*n], b[16*n:24*n]
	slots, colours := b[24*n:25*n], b[25*n:]
	obs = slices.Grow(obs, n)
	prev := uint64(0)
	for i := 0; i < n; i++ {
		var d, sc, bt uint64
		for j := 7; j >= 0; j-- {
			d = d<<8 | uint64(fps[j*n+i])
			sc = sc<<8 | uint64(scores[j*n+i])
			bt = bt<<8 | uint64(bits[j*n+i])
		}
		prev += d
		obs = append(obs, tupleObs{FP: prev, Score: sc, Bits: bt, Slot: slots[i], Colour: colours[i]})
	}
	return obs, nil
}

func encodeTupleBatch(b tupleBatch) []byte { return b.Data }
func decodeTupleBatch(b []byte) tupleBatch { return tupleBatch{b} }

// bucketKey is the shuffle key of a tuple of key k: the key and the top
// bits bits of its fingerprint.
func bucketKey(k int, fp uint64, bits int) int {
	if bits == 0 {
		return k
	}
	return k<<bits | int(fp>>(64-bits))
}

// recBatch is a run of records (documents and errors) of one output
// shard, encoded by appendRecord and compressed by a batchCodec (the
// records are JSON, which compresses several-fold). Its coder is the bytes themselves.
type recBatch struct{ Data []byte }

func encodeRecBatch(b recBatch) []byte { return b.Data }
func decodeRecBatch(b []byte) recBatch { return recBatch{b} }

// Record kinds in a recBatch.
const (
	kindDoc   = 'd'
	kindDiag  = 'e'
	kindRange = 'r'
)

// appendRecord appends r's encoding to b: file, part, order and tokens,
// then the document's, diagnostic's or range tail's JSON (the scan --json record, which the
// output writes again after filling the q-value).
func appendRecord(b []byte, r Record) ([]byte, error) {
	var v any
	kind := byte(kindDoc)
	switch {
	case r.Doc != nil:
		v = r.Doc
	case r.Diag != nil:
		v, kind = r.Diag, kindDiag
	case r.Range != nil:
		v, kind = r.Range, kindRange
	default:
		return b, errors.New("tmbeam: internal error: a record with neither document nor error")
	}
	js, err := json.Marshal(v)
	if err != nil {
		return b, fmt.Errorf("tmbeam: encoding a record of %s: %w", r.File, err)
	}
	b = binary.AppendUvarint(b, uint64(len(r.File)))
	b = append(b, r.File...)
	b = binary.AppendUvarint(b, uint64(r.Part))
	b = binary.AppendUvarint(b, uint64(r.Ord))
	b = binary.AppendUvarint(b, uint64(r.Tokens))
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(js)))
	return append(b, js...), nil
}

// decodeRecords appends the records of a recBatch to recs.
func (c *batchCodec) decodeRecords(recs []Record, b recBatch) ([]Record, error) {
	raw, err := c.open(b.Data)
	if err != nil {
		return recs, fmt.Errorf("tmbeam: record batch: %w", err)
	}
	bad := errors.New("tmbeam: corrupt record batch")
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(raw)
		if n <= 0 {
			return 0, false
		}
		raw = raw[n:]
		return v, true
	}
	for len(raw) > 0 {
		var r Record
		n, ok := next()
		if !ok || n > uint64(len(raw)) {
			return recs, bad
		}
		r.File, raw = string(raw[:n]), raw[n:]
		part, ok0 := next()
		ord, ok1 := next()
		tokens, ok2 := next()
		if !ok0 || !ok1 || !ok2 || len(raw) == 0 {
			return recs, bad
		}
		kind := raw[0]
		raw = raw[1:]
		n, ok = next()
		if !ok || n > uint64(len(raw)) {
			return recs, bad
		}
		js := raw[:n]
		raw = raw[n:]
		r.Part, r.Ord, r.Tokens = int64(part), int(ord), int(tokens)
		switch kind {
		case kindDoc:
			r.Doc = new(scan.Doc)
			err = json.Unmarshal(js, r.Doc)
		case kindDiag:
			r.Diag = new(scan.Diagnostic)
			err = json.Unmarshal(js, r.Diag)
		case kindRange:
			r.Range = new(rangeTail)
			err = json.Unmarshal(js, r.Range)
		default:
			return recs, bad
		}
		if err != nil {
			return recs, fmt.Errorf("tmbeam: record batch: %w", err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// recordBuffers gathers a bundle's records per output shard.
type recordBuffers struct {
	codec  *batchCodec
	shards [][]byte
	size   int
}

// add appends r to its shard's buffer.
func (rb *recordBuffers) add(shard int, r Record) error {
	if rb.shards == nil {
		return errors.New("tmbeam: internal error: record buffers not started")
	}
	n := len(rb.shards[shard])
	var err error
	rb.shards[shard], err = appendRecord(rb.shards[shard], r)
	rb.size += len(rb.shards[shard]) - n
	return err
}

// flush emits each non-empty shard's batch and empties the buffers.
func (rb *recordBuffers) flush(emit func(int, recBatch)) {
	for i, raw := range rb.shards {
		if len(raw) > 0 {
			emit(i, recBatch{rb.codec.seal(raw)})
			rb.shards[i] = raw[:0]
		}
	}
	rb.size = 0
}

// tupleBuffers gathers a bundle's tuple observations per shuffle bucket.
type tupleBuffers struct {
	codec   *batchCodec
	buckets map[int][]tupleObs
	n       int
}

// flush emits one sorted, deduplicated batch per non-empty bucket, in
// bucket order (so a bundle's output is a function of its input), and
// returns the number of tuples emitted.
func (tb *tupleBuffers) flush(emit func(int, tupleBatch)) int64 {
	keys := make([]int, 0, len(tb.buckets))
	for k := range tb.buckets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sent int64
	for _, k := range keys {
		if len(tb.buckets[k]) == 0 {
			continue
		}
		obs := sortUnique(tb.buckets[k])
		sent += int64(len(obs))
		emit(k, tb.codec.sealTuples(obs))
		tb.buckets[k] = obs[:0]
	}
	tb.n = 0
	return sent
}
