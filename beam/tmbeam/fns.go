package tmbeam

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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
	register.DoFn6x1[context.Context, string, func(Record), func(Record), func(FileRec), func(uint64, Obs), error](&scanFileFn{})
	register.Emitter1[Record]()
	register.Emitter1[FileRec]()
	register.Emitter2[uint64, Obs]()
	register.Function2x1(sameObs)
	register.Function2x2(keyObs)
	register.Combiner3[detect.Tally, Obs, detect.Tally](&tallyFn{})
	beam.RegisterCoder(reflect.TypeOf(Obs{}), encodeObs, decodeObs)
	beam.RegisterCoder(reflect.TypeOf(detect.Tally{}), encodeTally, decodeTally)
	beam.RegisterCoder(reflect.TypeOf(Record{}), encodeRecord, decodeRecord)
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

// Obs is what the pooled test needs of one tuple: which key (K) and the
// observation's statistics (watermark.Observation without the tuple, which
// the shuffle key stands for).
type Obs struct {
	K            int
	Score        float64
	Bits         uint64
	Slot, Colour uint8
}

func encodeObs(o Obs) []byte {
	var b [27]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(o.K))
	binary.LittleEndian.PutUint64(b[8:], math.Float64bits(o.Score))
	binary.LittleEndian.PutUint64(b[16:], o.Bits)
	b[24], b[25] = o.Slot, o.Colour
	return b[:26]
}

func decodeObs(b []byte) (Obs, error) {
	if len(b) != 26 {
		return Obs{}, fmt.Errorf("tmbeam: tuple observation of %d bytes (want 26)", len(b))
	}
	return Obs{K: int(binary.LittleEndian.Uint64(b[0:])), Score: math.Float64frombits(binary.LittleEndian.Uint64(b[8:])),
		Bits: binary.LittleEndian.Uint64(b[16:]), Slot: b[24], Colour: b[25]}, nil
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
func encodeRecord(v Record) ([]byte, error)        { return json.Marshal(v) }
func decodeRecord(b []byte) (Record, error)        { return decodeJSON[Record](b) }
func encodeFileRec(v FileRec) ([]byte, error)      { return json.Marshal(v) }
func decodeFileRec(b []byte) (FileRec, error)      { return decodeJSON[FileRec](b) }
func encodeBHTable(v scan.BHTable) ([]byte, error) { return json.Marshal(v) }
func decodeBHTable(b []byte) (scan.BHTable, error) { return decodeJSON[scan.BHTable](b) }
func encodeBHAcc(v bhAcc) ([]byte, error)          { return json.Marshal(v) }
func decodeBHAcc(b []byte) (bhAcc, error)          { return decodeJSON[bhAcc](b) }

// keyStride separates the fingerprints of different keys: key k's
// fingerprints are XORed with k·keyStride, a bijection per key, so that
// within a key two tuples share a shuffle key exactly when they share a
// fingerprint (as in scan's pooled test).
const keyStride = 0x9e3779b97f4a7c15

// Counters of the job (Beam metrics, shown by the runner and by
// tracemark-beam at the end): tuples sent to the shuffle after the
// per-bundle dedup, and documents scored.
var (
	tuplesShuffled = beam.NewCounter("tracemark", "tuples_shuffled")
	docsScored     = beam.NewCounter("tracemark", "documents")
)

// bundleSeenMax bounds the per-bundle set of tuples already emitted; past
// it the set starts again (it only saves shuffle volume: the engine's
// shuffle deduplicates exactly either way).
const bundleSeenMax = 1 << 20

// scanFileFn reads one input with the corpora readers and scores each
// document as scan does. It emits the document and error records, the
// input's end, and every distinct tuple of each document under each key,
// keyed by its fingerprint, for the pooled test. It is deterministic: a
// retried input gives the same output.
type scanFileFn struct {
	Cfg Config

	ld     *loaded
	reader *corpora.Reader
	scorer *scan.DocScorer
	seen   []*detect.TupleSet // per key, tuples already emitted in this bundle
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
	f.ld, f.reader, f.scorer = ld, r, ld.scanner.NewDocScorer()
	return nil
}

// StartBundle starts the bundle's seen sets.
func (f *scanFileFn) StartBundle(context.Context, func(Record), func(Record), func(FileRec), func(uint64, Obs)) {
	f.seen = nil
}

// ProcessElement reads and scores one input file. A file that cannot be
// read gives an end record with the error, as in scan; only a failure to
// score (which scan also treats as fatal) fails the bundle.
func (f *scanFileFn) ProcessElement(ctx context.Context, path string, emitDoc func(Record), emitDiag func(Record), emitEnd func(FileRec), emitTuple func(uint64, Obs)) error {
	if f.seen == nil {
		for range f.ld.schemes {
			f.seen = append(f.seen, detect.NewTupleSet(f.Cfg.DedupKey, bundleSeenMax, 0))
		}
	}
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
	ord := 0
	shuffled := int64(0)
	defer func() {
		tuplesShuffled.Inc(ctx, shuffled)
	}()
	tuples := func(k int, obs []watermark.Observation) error {
		if f.seen[k].Len() >= bundleSeenMax {
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
			shuffled++
			emitTuple(fp^uint64(k)*keyStride, Obs{K: k, Score: o.Score, Bits: o.Bits, Slot: o.Slot, Colour: o.Colour})
		}
		return nil
	}
	st, err := f.reader.ReadFile(ctx, local, func(d corpora.Document) error {
		d.ID, d.Source = rename(d.ID), path
		rec, tokens, err := f.scorer.Score(path, d, tuples)
		if err != nil {
			return err
		}
		docsScored.Inc(ctx, 1)
		emitDoc(Record{File: path, Ord: ord, Tokens: tokens, Doc: &rec})
		ord++
		return nil
	}, func(d corpora.Diagnostic) {
		d.Err = errors.New(rename(d.Err.Error()))
		x := scan.NewDiagnostic(path, d)
		emitDiag(Record{File: path, Ord: ord, Diag: &x})
		ord++
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	end := FileRec{File: path, Stats: st}
	if err != nil {
		end.Error = rename(err.Error())
	}
	emitEnd(end)
	return nil
}

// sameObs keeps one observation of a tuple seen several times (they are
// equal: an observation is a function of the tuple and the key).
func sameObs(a, _ Obs) Obs { return a }

// keyObs drops a distinct tuple's fingerprint and keys it by its key.
func keyObs(_ uint64, o Obs) (int, Obs) { return o.K, o }

// tallyFn adds up the distinct tuples of one key into the pooled tally:
// the input's Obs.K picks the key's null model.
type tallyFn struct {
	Specs []string // the keys' scheme specs, for their null models

	nulls []watermark.Null
}

func (t *tallyFn) nullModel(k int) (watermark.Null, error) {
	if t.nulls == nil {
		for _, spec := range t.Specs {
			cfg, err := watermark.ParseSpec(spec)
			if err != nil {
				return watermark.Null{}, fmt.Errorf("tmbeam: %w", err)
			}
			t.nulls = append(t.nulls, cfg.Null())
		}
	}
	if k < 0 || k >= len(t.nulls) {
		return watermark.Null{}, fmt.Errorf("tmbeam: tuple of key %d of %d", k, len(t.nulls))
	}
	return t.nulls[k], nil
}

// CreateAccumulator returns an empty tally.
func (t *tallyFn) CreateAccumulator() detect.Tally { return detect.Tally{} }

// AddInput counts one distinct tuple.
func (t *tallyFn) AddInput(acc detect.Tally, o Obs) (detect.Tally, error) {
	null, err := t.nullModel(o.K)
	if err != nil {
		return acc, err
	}
	acc.Add(null, watermark.Observation{Score: o.Score, Bits: o.Bits, Slot: o.Slot, Colour: o.Colour})
	return acc, nil
}

// MergeAccumulators adds two partial tallies.
func (t *tallyFn) MergeAccumulators(a, b detect.Tally) detect.Tally {
	a = a.Clone()
	a.AddTally(&b)
	return a
}

// ExtractOutput returns the tally.
func (t *tallyFn) ExtractOutput(acc detect.Tally) detect.Tally { return acc }
