package tmbeam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"reflect"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/watermark"
)

func init() {
	register.DoFn6x1[context.Context, string, func(int, recBatch), func(FileRec), func(int, tupleBatch), func(bhAcc), error](&scanFileFn{})
	register.Emitter2[int, recBatch]()
	register.Emitter1[FileRec]()
	register.Emitter2[int, tupleBatch]()
	register.Emitter1[bhAcc]()
	register.DoFn3x1[int, func(*tupleBatch) bool, func(int, detect.Tally), error](&bucketTallyFn{})
	register.Iter1[tupleBatch]()
	register.Emitter2[int, detect.Tally]()
	register.Function2x1(addTallies)
	beam.RegisterCoder(reflect.TypeOf(tupleBatch{}), encodeTupleBatch, decodeTupleBatch)
	beam.RegisterCoder(reflect.TypeOf(recBatch{}), encodeRecBatch, decodeRecBatch)
	beam.RegisterCoder(reflect.TypeOf(detect.Tally{}), encodeTally, decodeTally)
	beam.RegisterCoder(reflect.TypeOf(FileRec{}), encodeFileRec, decodeFileRec)
}

// Record is a document or error record of one input, in the order the
// reader met it (Ord), so that output shards can be written in file order.
type Record struct {
	File   string           `json:"file"`
	Ord    int              `json:"ord"`
	Tokens int              `json:"tokens"`
	Doc    *scan.Doc        `json:"doc,omitempty"`
	Diag   *scan.Diagnostic `json:"diag,omitempty"`
}

// FileRec is an input's end: its reader statistics and, if the rest of it
// could not be read, why.
type FileRec struct {
	File  string            `json:"file"`
	Stats corpora.FileStats `json:"stats"`
	Error string            `json:"error,omitempty"`
}

// JSON coders, one named function per type: Beam finds coder functions
// by name, and instances of one generic function share a name.

func decodeJSON[T any](b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

func encodeTally(v detect.Tally) ([]byte, error)   { return json.Marshal(v) }
func decodeTally(b []byte) (detect.Tally, error)   { return decodeJSON[detect.Tally](b) }
func encodeFileRec(v FileRec) ([]byte, error)      { return json.Marshal(v) }
func decodeFileRec(b []byte) (FileRec, error)      { return decodeJSON[FileRec](b) }
func encodeBHTable(v scan.BHTable) ([]byte, error) { return json.Marshal(v) }
func decodeBHTable(b []byte) (scan.BHTable, error) { return decodeJSON[scan.BHTable](b) }
func encodeBHAcc(v bhAcc) ([]byte, error)          { return json.Marshal(v) }
func decodeBHAcc(b []byte) (bhAcc, error)          { return decodeJSON[bhAcc](b) }

// Counters of the job (Beam metrics, shown by the runner and by
// tracemark-beam at the end): tuples sent to the shuffle after the
// per-bundle dedup, the batches they travel in, and documents scored.
var (
	tuplesShuffled = beam.NewCounter("tracemark", "tuples_shuffled")
	tupleBatches   = beam.NewCounter("tracemark", "tuple_batches")
	docsScored     = beam.NewCounter("tracemark", "documents")
)

// bundleSeenMax bounds the per-bundle set of tuples already buffered; past
// it the set starts again (it only saves shuffle volume: the buckets'
// merge deduplicates exactly either way). Its table takes 16 to 32 bytes a
// tuple, and the runner may run several bundles at once, each in its own
// DoFn instance.
const bundleSeenMax = 1 << 20

// Flush thresholds of a bundle's buffers: past them the buffered tuples or
// records are emitted before the bundle ends, which bounds a worker's
// memory whatever the bundle's size.
const (
	tupleFlushMax  = 1 << 18 // tuples (tupleObs are 32 bytes in memory)
	recordFlushMax = 4 << 20 // bytes of encoded records, before compression
)

// scanFileFn reads one input with the corpora readers and scores each
// document as scan does. Per bundle it gathers its outputs into batches:
// the document and error records per output shard (recBatch), every
// distinct tuple of each document per key and fingerprint bucket
// (tupleBatch, sorted, for the pooled test); it emits them when the bundle
// ends (or its buffers are full). Each input's end record and its BH
// candidates (one small element) are emitted when it has been read. It is deterministic: a retried bundle
// gives the same output.
type scanFileFn struct {
	Cfg        Config
	Shards     int // output shards of the records
	BucketBits int // log2 of the tuple buckets per key
	QCap       float64

	ld     *loaded
	reader *corpora.Reader
	scorer *scan.DocScorer
	seen   []*detect.TupleSet // per key, tuples already buffered in this bundle
	tuples tupleBuffers
	recs   recordBuffers
	bh     bhAcc // the current input's BH candidates
}

// Setup loads the keys, tokenizer and scanner on the worker.
func (f *scanFileFn) Setup(ctx context.Context) error {
	ld, err := f.Cfg.load(ctx)
	if err != nil {
		return err
	}
	r, err := corpora.NewReader(f.Cfg.Read)
	if err != nil {
		return fmt.Errorf("tmbeam: %w", err)
	}
	codec, err := newBatchCodec()
	if err != nil {
		return err
	}
	f.ld, f.reader, f.scorer = ld, r, ld.scanner.NewDocScorer()
	f.seen = make([]*detect.TupleSet, len(ld.schemes))
	f.tuples.buckets, f.tuples.codec = map[int][]tupleObs{}, codec
	f.recs.shards, f.recs.codec = make([][]byte, max(1, f.Shards)), codec
	return nil
}

// Teardown releases the codec.
func (f *scanFileFn) Teardown() {
	if f.tuples.codec != nil {
		f.tuples.codec.Close()
	}
}

// StartBundle empties the bundle's buffers and seen sets.
func (f *scanFileFn) StartBundle(context.Context, func(int, recBatch), func(FileRec), func(int, tupleBatch), func(bhAcc)) {
	for k := range f.seen {
		f.seen[k] = nil
	}
	clear(f.tuples.buckets)
	f.tuples.n = 0
	for i := range f.recs.shards {
		f.recs.shards[i] = f.recs.shards[i][:0]
	}
	f.recs.size = 0
}

// FinishBundle emits the bundle's batches and BH candidates, then lets go
// of the bundle's buffers and seen sets: the SDK keeps idle DoFn instances
// for later bundles (one per input read at once), and buffers kept in them
// would still be held while the later stages run.
func (f *scanFileFn) FinishBundle(ctx context.Context, emitRecs func(int, recBatch), _ func(FileRec), emitTuples func(int, tupleBatch), _ func(bhAcc)) error {
	f.flushTuples(ctx, emitTuples)
	f.recs.flush(emitRecs)
	clear(f.seen)
	f.tuples.buckets = map[int][]tupleObs{}
	clear(f.recs.shards)
	f.tuples.codec.raw = nil
	return nil
}

func (f *scanFileFn) flushTuples(ctx context.Context, emit func(int, tupleBatch)) {
	batches := int64(0)
	tuplesShuffled.Inc(ctx, f.tuples.flush(func(k int, b tupleBatch) {
		batches++
		emit(k, b)
	}))
	tupleBatches.Inc(ctx, batches)
}

// shardOf is the output shard of an input's records: a hash of its path,
// so that an input's records go to one shard.
func shardOf(path string, shards int) int {
	h := fnv.New64a()
	io.WriteString(h, path)
	return int(h.Sum64() % uint64(shards))
}

// ProcessElement reads and scores one input file. A file that cannot be
// read gives an end record with the error, as in scan; only a failure to
// score (which scan also treats as fatal) fails the bundle.
func (f *scanFileFn) ProcessElement(ctx context.Context, path string, emitRecs func(int, recBatch), emitEnd func(FileRec), emitTuples func(int, tupleBatch), emitBH func(bhAcc)) error {
	local, done, err := localCopy(ctx, path)
	if err != nil {
		emitEnd(FileRec{File: path, Error: err.Error()})
		return nil
	}
	defer done()
	rename := func(s string) string {
		if local == path {
			return s
		}
		return strings.ReplaceAll(s, local, path)
	}
	key := f.Cfg.DedupKey
	shard := shardOf(path, len(f.recs.shards))
	ord := 0
	tuples := func(k int, obs []watermark.Observation) error {
		if f.seen[k] == nil || f.seen[k].Len() >= bundleSeenMax {
			f.seen[k] = detect.NewTupleSet(key, bundleSeenMax, 0)
		}
		for _, o := range obs {
			if !f.seen[k].Add(o.Tuple) {
				continue
			}
			fp := key.Fingerprint(o.Tuple)
			if fp == 0 {
				fp = 1 // as the pooled test's sets store it
			}
			b := bucketKey(k, fp, f.BucketBits)
			f.tuples.buckets[b] = append(f.tuples.buckets[b], tupleObs{FP: fp, Score: math.Float64bits(o.Score), Bits: o.Bits, Slot: o.Slot, Colour: o.Colour})
			f.tuples.n++
		}
		if f.tuples.n >= tupleFlushMax {
			f.flushTuples(ctx, emitTuples)
		}
		return nil
	}
	add := func(r Record) error {
		if err := f.recs.add(shard, r); err != nil {
			return err
		}
		if f.recs.size >= recordFlushMax {
			f.recs.flush(emitRecs)
		}
		return nil
	}
	var addErr error
	st, err := f.reader.ReadFile(ctx, local, func(d corpora.Document) error {
		d.ID, d.Source = rename(d.ID), path
		rec, tokens, err := f.scorer.Score(path, d, tuples)
		if err != nil {
			return err
		}
		docsScored.Inc(ctx, 1)
		f.bh.add(rec.Log10P, f.QCap)
		if err := add(Record{File: path, Ord: ord, Tokens: tokens, Doc: &rec}); err != nil {
			return err
		}
		ord++
		return nil
	}, func(d corpora.Diagnostic) {
		d.Err = errors.New(rename(d.Err.Error()))
		x := scan.NewDiagnostic(path, d)
		if err := add(Record{File: path, Ord: ord, Diag: &x}); err != nil && addErr == nil {
			addErr = err
		}
		ord++
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if addErr != nil {
		return addErr
	}
	end := FileRec{File: path, Stats: st}
	if err != nil {
		end.Error = rename(err.Error())
	}
	emitEnd(end)
	// Every input emits its candidates, even none, so that the BH table
	// exists whatever the corpus.
	emitBH(f.bh)
	f.bh = bhAcc{}
	return nil
}

// bucketTallyFn merges the batches of one key and bucket into its distinct
// tuples (exact dedup: each fingerprint once) and adds them up into the
// key's partial tally.
type bucketTallyFn struct {
	Specs      []string // the keys' scheme specs, for their null models
	BucketBits int

	nulls []watermark.Null
	obs   []tupleObs
	codec *batchCodec
}

// Setup builds the keys' null models and the batch codec.
func (t *bucketTallyFn) Setup() error {
	var err error
	if t.codec, err = newBatchCodec(); err != nil {
		return err
	}
	for _, spec := range t.Specs {
		cfg, err := watermark.ParseSpec(spec)
		if err != nil {
			return fmt.Errorf("tmbeam: %w", err)
		}
		t.nulls = append(t.nulls, cfg.Null())
	}
	return nil
}

// Teardown releases the codec.
func (t *bucketTallyFn) Teardown() {
	if t.codec != nil {
		t.codec.Close()
	}
}

// ProcessElement tallies one bucket.
func (t *bucketTallyFn) ProcessElement(bucket int, batches func(*tupleBatch) bool, emit func(int, detect.Tally)) error {
	k := bucket >> t.BucketBits
	if k < 0 || k >= len(t.nulls) {
		return fmt.Errorf("tmbeam: tuple bucket %d of key %d of %d", bucket, k, len(t.nulls))
	}
	obs := t.obs[:0]
	var b tupleBatch
	for batches(&b) {
		var err error
		if obs, err = t.codec.decodeTuples(obs, b); err != nil {
			return err
		}
	}
	obs = sortUnique(obs)
	var tally detect.Tally
	for _, o := range obs {
		tally.Add(t.nulls[k], o.observation())
	}
	t.obs = obs[:0]
	emit(k, tally)
	return nil
}

// addTallies adds two partial tallies of one key.
func addTallies(a, b detect.Tally) detect.Tally {
	a = a.Clone()
	a.AddTally(&b)
	return a
}
