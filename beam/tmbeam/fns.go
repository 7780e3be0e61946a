package tmbeam

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/watermark"
)

func init() {
	register.DoFn2x2[context.Context, string, inputPlan, error](&planFn{})
	register.DoFn7x1[context.Context, *sdf.LockRTracker, inputPlan, func(int, recBatch), func(FileRec), func(int, tupleBatch), func(bhAcc), error](&scanFileFn{})
	register.Emitter2[int, recBatch]()
	register.Emitter1[FileRec]()
	register.Emitter2[int, tupleBatch]()
	register.Emitter1[bhAcc]()
	register.DoFn4x1[int, func(*tupleBatch) bool, func(*int, *detect.Tally) bool, func(int, detect.Tally), error](&bucketTallyFn{})
	register.DoFn3x0[int, tupleBatch, func(int, tupleBatch)](&groupFilterFn{})
	register.Function2x0(noTallies)
	register.Iter1[tupleBatch]()
	register.Emitter2[int, detect.Tally]()
	beam.RegisterCoder(reflect.TypeOf(tupleBatch{}), encodeTupleBatch, decodeTupleBatch)
	beam.RegisterCoder(reflect.TypeOf(recBatch{}), encodeRecBatch, decodeRecBatch)
	beam.RegisterCoder(reflect.TypeOf(detect.Tally{}), encodeTally, decodeTally)
	beam.RegisterCoder(reflect.TypeOf(FileRec{}), encodeFileRec, decodeFileRec)
	beam.RegisterCoder(reflect.TypeOf(inputPlan{}), encodeInputPlan, decodeInputPlan)
	register.Function1x2(endKey)
	register.DoFn3x1[string, func(*FileRec) bool, func(FileRec), error](&mergeEndsFn{})
}

// Record is a document or error record of one input, in the order the
// reader met it: by the byte range it was read in (Part, its start; 0 for
// an input read whole) and its order in the range (Ord), so that output
// shards can be written in file order.
type Record struct {
	File   string           `json:"file"`
	Part   int64            `json:"part"`
	Ord    int              `json:"ord"`
	Tokens int              `json:"tokens"`
	Doc    *scan.Doc        `json:"doc,omitempty"`
	Diag   *scan.Diagnostic `json:"diag,omitempty"`
	// Range, the last record of a range of a split file that met
	// diagnostics, is how many it met: the file's cap on diagnostics shown
	// is applied over its ranges when its shard is written.
	Range *rangeTail `json:"range,omitempty"`
}

// rangeTail ends the records of a range of a split file.
type rangeTail struct {
	Diagnostics int `json:"diagnostics"`
}

// FileRec is an input's end, or a range's of a split file (Split): its
// reader statistics and, if the rest of it could not be read, why.
type FileRec struct {
	File  string            `json:"file"`
	Stats corpora.FileStats `json:"stats"`
	Error string            `json:"error,omitempty"`
	// Split records are merged per file (mergeEndsFn): the range's start
	// and the key paths of its first records without text.
	Split      bool       `json:"split,omitempty"`
	Start      int64      `json:"start,omitempty"`
	KeySamples [][]string `json:"key_samples,omitempty"`
}

// inputPlan is one input to read: the whole file, or (Index set: a plain
// JSON Lines file larger than a split) in byte ranges, in parallel.
type inputPlan struct {
	Path  string              `json:"path"`
	Size  int64               `json:"size"` // local files; 0 if unknown
	Index *corpora.JSONLIndex `json:"index,omitempty"`
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
func encodeInputPlan(v inputPlan) ([]byte, error)  { return json.Marshal(v) }
func decodeInputPlan(b []byte) (inputPlan, error)  { return decodeJSON[inputPlan](b) }

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

// scanFileFn reads inputs with the corpora readers and scores each
// document as scan does. It is a splittable DoFn: an input with a JSON
// Lines index (planFn) has the restriction of its bytes, split on the
// index's grid, and each range is read by ReadJSONLRange (lines owned by
// the range they start in, with the whole file's line numbers); any other
// input has the restriction [0, 1), which cannot be split, and is read
// whole. Per bundle it gathers its outputs into batches: the document and
// error records per output shard (recBatch), every distinct tuple of each
// document per key and fingerprint bucket (tupleBatch, sorted, for the
// pooled test); it emits them when the bundle ends (or its buffers are
// full). Each input's (or range's) end record and its BH candidates (one
// small element) are emitted when it has been read. It is deterministic:
// a retried bundle, or a range split again, gives the same output.
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

// CreateInitialRestriction is an input's bytes, or [0, 1) for an input
// read whole.
func (f *scanFileFn) CreateInitialRestriction(in inputPlan) offsetrange.Restriction {
	if in.Index == nil {
		return offsetrange.Restriction{Start: 0, End: 1}
	}
	return offsetrange.Restriction{Start: 0, End: in.Index.Size}
}

// SplitRestriction cuts a split input's bytes on its index's grid.
func (f *scanFileFn) SplitRestriction(in inputPlan, rest offsetrange.Restriction) []offsetrange.Restriction {
	if in.Index == nil {
		return []offsetrange.Restriction{rest}
	}
	return rest.SizedSplits(in.Index.Block)
}

// RestrictionSize is the bytes of a range, or the size of an input read
// whole.
func (f *scanFileFn) RestrictionSize(in inputPlan, rest offsetrange.Restriction) float64 {
	if in.Index == nil {
		return float64(max(in.Size, 1))
	}
	return rest.Size()
}

// CreateTracker tracks byte offsets (line starts) of a range.
func (f *scanFileFn) CreateTracker(rest offsetrange.Restriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(offsetrange.NewTracker(rest))
}

// ProcessElement reads and scores one input, or one range of a split
// input. A file that cannot be read gives an end record with the error, as
// in scan; only a failure to score (which scan also treats as fatal)
// fails the bundle.
func (f *scanFileFn) ProcessElement(ctx context.Context, rt *sdf.LockRTracker, in inputPlan, emitRecs func(int, recBatch), emitEnd func(FileRec), emitTuples func(int, tupleBatch), emitBH func(bhAcc)) error {
	rest := rt.GetRestriction().(offsetrange.Restriction)
	if in.Index == nil {
		if !rt.TryClaim(rest.Start) {
			return nil
		}
		err := f.readWhole(ctx, in.Path, emitRecs, emitEnd, emitTuples, emitBH)
		rt.TryClaim(rest.End)
		return err
	}
	stopped := false
	claim := func(pos int64) bool {
		stopped = !rt.TryClaim(pos)
		return !stopped
	}
	in2 := f.newInput(ctx, in.Path, rest.Start, emitRecs, emitTuples)
	rs, err := f.reader.ReadJSONLRange(ctx, in.Path, in.Index, rest.Start, claim, in2.doc, in2.diag)
	if !stopped {
		// The end of the file, or a read error: the rest is not read.
		rt.TryClaim(rt.GetRestriction().(offsetrange.Restriction).End)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if in2.err != nil {
		return in2.err
	}
	if rs.Diagnostics > 0 {
		if err := in2.add(Record{File: in.Path, Part: rest.Start, Ord: in2.ord, Range: &rangeTail{Diagnostics: rs.Diagnostics}}); err != nil {
			return err
		}
	}
	end := FileRec{File: in.Path, Stats: rs.FileStats, Split: true, Start: rest.Start, KeySamples: rs.KeySamples}
	if err != nil {
		end.Error = err.Error()
	}
	emitEnd(end)
	emitBH(f.bh)
	f.bh = bhAcc{}
	return nil
}

// readWhole reads and scores one input whole.
func (f *scanFileFn) readWhole(ctx context.Context, path string, emitRecs func(int, recBatch), emitEnd func(FileRec), emitTuples func(int, tupleBatch), emitBH func(bhAcc)) error {
	local, done, err := localCopy(ctx, path)
	if err != nil {
		emitEnd(FileRec{File: path, Error: err.Error()})
		return nil
	}
	defer done()
	in := f.newInput(ctx, path, 0, emitRecs, emitTuples)
	if local != path {
		in.rename = func(s string) string { return strings.ReplaceAll(s, local, path) }
	}
	st, err := f.reader.ReadFile(ctx, local, in.doc, in.diag)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if in.err != nil {
		return in.err
	}
	end := FileRec{File: path, Stats: st}
	if err != nil {
		end.Error = in.rename(err.Error())
	}
	emitEnd(end)
	// Every input emits its candidates, even none, so that the BH table
	// exists whatever the corpus.
	emitBH(f.bh)
	f.bh = bhAcc{}
	return nil
}

// inputSink scores the documents of one input (or range) and buffers
// their records and tuples.
type inputSink struct {
	f          *scanFileFn
	ctx        context.Context
	path       string
	part       int64
	shard, ord int
	rename     func(string) string // a local copy's path to the input's
	emitRecs   func(int, recBatch)
	emitTuples func(int, tupleBatch)
	err        error // the first failure to score or buffer
}

func (f *scanFileFn) newInput(ctx context.Context, path string, part int64, emitRecs func(int, recBatch), emitTuples func(int, tupleBatch)) *inputSink {
	return &inputSink{f: f, ctx: ctx, path: path, part: part, shard: shardOf(path, len(f.recs.shards)),
		rename: func(s string) string { return s }, emitRecs: emitRecs, emitTuples: emitTuples}
}

// tuples buffers the distinct tuples of a document for key k.
func (in *inputSink) tuples(k int, obs []watermark.Observation) error {
	f, key := in.f, in.f.Cfg.DedupKey
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
		f.flushTuples(in.ctx, in.emitTuples)
	}
	return nil
}

// add buffers a record.
func (in *inputSink) add(r Record) error {
	if err := in.f.recs.add(in.shard, r); err != nil {
		return err
	}
	if in.f.recs.size >= recordFlushMax {
		in.f.recs.flush(in.emitRecs)
	}
	return nil
}

// doc scores a document and buffers its record.
func (in *inputSink) doc(d corpora.Document) error {
	d.ID, d.Source = in.rename(d.ID), in.path
	rec, tokens, err := in.f.scorer.Score(in.path, d, in.tuples)
	if err != nil {
		in.err = err
		return err
	}
	docsScored.Inc(in.ctx, 1)
	in.f.bh.add(rec.Log10P, in.f.QCap)
	if err := in.add(Record{File: in.path, Part: in.part, Ord: in.ord, Tokens: tokens, Doc: &rec}); err != nil {
		in.err = err
		return err
	}
	in.ord++
	return nil
}

// diag buffers an error record.
func (in *inputSink) diag(d corpora.Diagnostic) {
	d.Err = errors.New(in.rename(d.Err.Error()))
	x := scan.NewDiagnostic(in.path, d)
	if err := in.add(Record{File: in.path, Part: in.part, Ord: in.ord, Diag: &x}); err != nil && in.err == nil {
		in.err = err
	}
	in.ord++
}

// planFn decides how each input is read: a local plain JSON Lines file
// larger than SplitBytes is indexed (one pass counting its newlines, see
// corpora.IndexJSONL) and read in ranges, in parallel; any other input
// whole.
type planFn struct {
	Read       corpora.ReadOptions
	SplitBytes int64 // <= 0: never split

	reader *corpora.Reader
}

// Setup makes the reader.
func (p *planFn) Setup() (err error) {
	p.reader, err = newReader(p.Read)
	return err
}

func newReader(opts corpora.ReadOptions) (*corpora.Reader, error) {
	r, err := corpora.NewReader(opts)
	if err != nil {
		return nil, fmt.Errorf("tmbeam: %w", err)
	}
	return r, nil
}

// ProcessElement plans one input.
func (p *planFn) ProcessElement(ctx context.Context, path string) (inputPlan, error) {
	in := inputPlan{Path: path}
	if isRemote(path) {
		return in, nil
	}
	if st, err := os.Stat(path); err == nil {
		in.Size = st.Size()
	}
	if p.SplitBytes > 0 {
		// A file that cannot be indexed is read whole, which reports why.
		in.Index, _ = p.reader.IndexJSONL(ctx, path, p.SplitBytes)
	}
	return in, ctx.Err()
}

func endKey(r FileRec) (string, FileRec) { return r.File, r }

// mergeEndsFn makes one end record per input from its ranges' when it was
// split (corpora.MergeJSONLRanges: the counts and the error ReadFile gives
// for the whole file); the first range's read error, if any, is the file's.
type mergeEndsFn struct {
	Read corpora.ReadOptions

	reader *corpora.Reader
}

// Setup makes the reader.
func (m *mergeEndsFn) Setup() (err error) {
	m.reader, err = newReader(m.Read)
	return err
}

// ProcessElement merges the end records of one input.
func (m *mergeEndsFn) ProcessElement(path string, iter func(*FileRec) bool, emit func(FileRec)) error {
	var recs []FileRec
	var r FileRec
	for iter(&r) {
		recs = append(recs, r)
	}
	if len(recs) == 1 && !recs[0].Split {
		emit(recs[0])
		return nil
	}
	slices.SortFunc(recs, func(a, b FileRec) int { return cmp.Compare(a.Start, b.Start) })
	parts := make([]corpora.RangeStats, len(recs))
	firstErr := ""
	for i, r := range recs {
		if !r.Split || (i > 0 && r.Start == recs[i-1].Start) {
			return fmt.Errorf("tmbeam: internal error: %d end records of %s, not one per range", len(recs), path)
		}
		parts[i] = corpora.RangeStats{FileStats: r.Stats, Start: r.Start, KeySamples: r.KeySamples}
		if firstErr == "" {
			firstErr = r.Error
		}
	}
	st, err := m.reader.MergeJSONLRanges(path, parts)
	out := FileRec{File: path, Stats: st, Error: firstErr}
	if firstErr == "" && err != nil {
		out.Error = err.Error()
	}
	emit(out)
	return nil
}

// bucketTallyFn merges the batches of one key and bucket into its distinct
// tuples (exact dedup: each fingerprint once) and adds them up, in
// fingerprint order, into the bucket's tally, which it emits keyed by the
// bucket (the summary adds the buckets' tallies up per key, in bucket
// order).
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

// ProcessElement tallies one bucket. The side input (the previous tally
// group's tallies, unread) only orders the groups: see Build.
func (t *bucketTallyFn) ProcessElement(bucket int, batches func(*tupleBatch) bool, _ func(*int, *detect.Tally) bool, emit func(int, detect.Tally)) error {
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
	emit(bucket, tally)
	return nil
}

// groupFilterFn passes the tuple batches of one tally group: the buckets
// b with b mod Groups == Group.
type groupFilterFn struct {
	Group, Groups int
}

// ProcessElement passes a batch of the group.
func (g *groupFilterFn) ProcessElement(bucket int, b tupleBatch, emit func(int, tupleBatch)) {
	if bucket%g.Groups == g.Group {
		emit(bucket, b)
	}
}

// noTallies emits nothing: the side input of the first tally group.
func noTallies(_ []byte, _ func(int, detect.Tally)) {}
