package tmbeam

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/klauspost/compress/s2"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/watermark"
)

// The pipeline moves its many small items (tuple observations, document
// records) through the runner in batches: a runner's cost is per element
// (Prism keeps every element of a shuffle in memory with its own key,
// window and bookkeeping; every element crosses the Fn API), so one element
// per tuple made the shuffle, not the scoring, the cost of the job.

// tupleSize is the encoded size of one tuple observation in a tupleBatch:
// fingerprint, score bits, Bits (8 bytes each, little-endian), Slot and
// Colour.
const tupleSize = 26

// tupleBatch is a run of tuple observations of one key and bucket,
// tupleSize bytes each, sorted by fingerprint and without repeats (see
// appendTuples). Its coder is the bytes themselves.
type tupleBatch struct{ Data []byte }

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

// appendTuples appends the encoding of obs (sorted and unique) to b.
func appendTuples(b []byte, obs []tupleObs) []byte {
	b = slices.Grow(b, len(obs)*tupleSize)
	for _, o := range obs {
		b = binary.LittleEndian.AppendUint64(b, o.FP)
		b = binary.LittleEndian.AppendUint64(b, o.Score)
		b = binary.LittleEndian.AppendUint64(b, o.Bits)
		b = append(b, o.Slot, o.Colour)
	}
	return b
}

// decodeTuples appends the observations of b to obs.
func decodeTuples(obs []tupleObs, batch tupleBatch) ([]tupleObs, error) {
	b := batch.Data
	if len(b)%tupleSize != 0 {
		return obs, fmt.Errorf("tmbeam: tuple batch of %d bytes, not a multiple of %d", len(b), tupleSize)
	}
	obs = slices.Grow(obs, len(b)/tupleSize)
	for ; len(b) > 0; b = b[tupleSize:] {
		obs = append(obs, tupleObs{FP: binary.LittleEndian.Uint64(b), Score: binary.LittleEndian.Uint64(b[8:]),
			Bits: binary.LittleEndian.Uint64(b[16:]), Slot: b[24], Colour: b[25]})
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
// shard, encoded by appendRecord and compressed with S2 (the records are
// JSON, which compresses several-fold). Its coder is the bytes themselves.
type recBatch struct{ Data []byte }

func encodeRecBatch(b recBatch) []byte { return b.Data }
func decodeRecBatch(b []byte) recBatch { return recBatch{b} }

// Record kinds in a recBatch.
const (
	kindDoc  = 'd'
	kindDiag = 'e'
)

// appendRecord appends r's encoding to b: file, order and tokens, then the
// document's or diagnostic's JSON (the scan --json record, which the
// output writes again after filling the q-value).
func appendRecord(b []byte, r Record) ([]byte, error) {
	var v any
	kind := byte(kindDoc)
	switch {
	case r.Doc != nil:
		v = r.Doc
	case r.Diag != nil:
		v, kind = r.Diag, kindDiag
	default:
		return b, errors.New("tmbeam: internal error: a record with neither document nor error")
	}
	js, err := json.Marshal(v)
	if err != nil {
		return b, fmt.Errorf("tmbeam: encoding a record of %s: %w", r.File, err)
	}
	b = binary.AppendUvarint(b, uint64(len(r.File)))
	b = append(b, r.File...)
	b = binary.AppendUvarint(b, uint64(r.Ord))
	b = binary.AppendUvarint(b, uint64(r.Tokens))
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(js)))
	return append(b, js...), nil
}

// sealRecords compresses a run of appendRecord encodings into a recBatch.
func sealRecords(raw []byte) recBatch { return recBatch{s2.Encode(nil, raw)} }

// decodeRecords appends the records of a recBatch to recs.
func decodeRecords(recs []Record, b recBatch) ([]Record, error) {
	raw, err := s2.Decode(nil, b.Data)
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
		ord, ok1 := next()
		tokens, ok2 := next()
		if !ok1 || !ok2 || len(raw) == 0 {
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
		r.Ord, r.Tokens = int(ord), int(tokens)
		switch kind {
		case kindDoc:
			r.Doc = new(scan.Doc)
			err = json.Unmarshal(js, r.Doc)
		case kindDiag:
			r.Diag = new(scan.Diagnostic)
			err = json.Unmarshal(js, r.Diag)
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
			emit(i, sealRecords(raw))
			rb.shards[i] = raw[:0]
		}
	}
	rb.size = 0
}

// tupleBuffers gathers a bundle's tuple observations per shuffle bucket.
type tupleBuffers struct {
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
	var enc []byte
	for _, k := range keys {
		if len(tb.buckets[k]) == 0 {
			continue
		}
		obs := sortUnique(tb.buckets[k])
		sent += int64(len(obs))
		enc = appendTuples(enc[:0], obs)
		emit(k, tupleBatch{bytes.Clone(enc)})
		tb.buckets[k] = obs[:0]
	}
	tb.n = 0
	return sent
}
