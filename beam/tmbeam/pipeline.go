package tmbeam

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/scan"
)

func init() {
	register.Function1x1(metadataPath)
	register.Combiner3[bhAcc, bhAcc, scan.BHTable](&bhFn{})
	register.DoFn7x1[context.Context, int, func(*recBatch) bool, scan.BHTable, func(*int, *detect.Tally) bool, func(Counts), func(FlaggedDoc), error](&writeShardFn{})
	register.Emitter1[FlaggedDoc]()
	register.Iter1[recBatch]()
	register.Emitter1[Counts]()
	register.Function1x2(fileKey)
	register.DoFn3x1[context.Context, int, func(*FileRec) bool, error](&writeFilesFn{})
	register.Iter1[FileRec]()
	register.Function1x1(fileCounts)
	register.Function2x1(addCounts)
	register.DoFn3x1[context.Context, Counts, func(*int, *detect.Tally) bool, error](&summaryFn{})
	register.Iter2[int, detect.Tally]()
	beam.RegisterCoder(reflect.TypeOf(scan.BHTable{}), encodeBHTable, decodeBHTable)
	beam.RegisterCoder(reflect.TypeOf(bhAcc{}), encodeBHAcc, decodeBHAcc)
	beam.RegisterType(reflect.TypeOf(Counts{}))
}

// Options configure a pipeline.
type Options struct {
	Config
	// Inputs are local files, directories (read recursively, as scan
	// walks them) and globs, expanded when the pipeline is built; and
	// remote globs (gs://bucket/crawl/*.jsonl.zst, s3://...), matched by
	// the pipeline through Beam's filesystems.
	Inputs []string
	// Walk filters local directories as scan's --glob, --exclude and
	// --hidden do.
	Walk corpora.WalkOptions
	// Output is the prefix of the outputs (a local directory or a
	// gs://, s3:// prefix): docs-SSSSS-of-NNNNN.jsonl (document and error
	// records, each input's in reading order), files.jsonl (each input's end
	// record) and summary.json.
	Output string
	// Shards is the number of docs-*.jsonl files (default 16).
	Shards int
	// QCap is the largest q-value computed exactly (default 0.05, and at
	// least FDR): documents above it get a null q-value (theirs is above
	// QCap). 1 computes every q-value, at the cost of collecting every
	// p-value in one place.
	QCap float64
	// BucketBits is log2 of the number of buckets per key the pooled
	// test's tuples are shuffled in (default 10: 1024 buckets). One bucket's
	// distinct tuples (26 bytes each) are merged in one worker's memory.
	BucketBits int
	// TallyGroups is the number of groups the pooled test's buckets are
	// shuffled and tallied in, one group after another (default 8): it
	// bounds a runner's memory when it holds a stage's whole input at once
	// (Prism).
	TallyGroups int
	// SplitBytes is the size of the byte ranges a local plain JSON Lines
	// file larger than it is read in, in parallel (default 64 MiB; < 0:
	// every file is read whole).
	SplitBytes int64
	// Start is when the job started, for the summary's seconds (default:
	// when the pipeline is built).
	Start time.Time
	// Evidence also writes what an evidence file of the scan needs
	// (WriteEvidence): inputs.jsonl, every input's size and SHA-256 (each
	// file read once more, by the workers), and flagged.jsonl, the flagged
	// documents' records in input order. It needs FDR > 0 or QCap 1 (every
	// flagged document's q-value must be exact).
	Evidence bool
}

// Build adds the scan to the pipeline's root scope. It loads the keys on
// the launcher to check them (and to learn their schemes), expands the
// local inputs and returns an error for a configuration scan would refuse.
func Build(ctx context.Context, s beam.Scope, opts Options) error {
	if opts.Output == "" {
		return errors.New("tmbeam: no output prefix")
	}
	if opts.Shards <= 0 {
		opts.Shards = 16
	}
	if opts.BucketBits == 0 {
		opts.BucketBits = 10
	}
	if opts.BucketBits < 0 || opts.BucketBits > 24 {
		return fmt.Errorf("tmbeam: bucket bits must be in [0, 24], got %d", opts.BucketBits)
	}
	if opts.QCap == 0 {
		opts.QCap = 0.05
	}
	opts.QCap = math.Max(opts.QCap, opts.FDR)
	if !(opts.QCap > 0 && opts.QCap <= 1) {
		return fmt.Errorf("tmbeam: q-value cap must be in (0, 1], got %v", opts.QCap)
	}
	if opts.TallyGroups <= 0 {
		opts.TallyGroups = 8
	}
	if opts.SplitBytes == 0 {
		opts.SplitBytes = DefaultSplitBytes
	}
	if opts.Start.IsZero() {
		opts.Start = time.Now()
	}
	if opts.Evidence && opts.FDR == 0 && opts.QCap < 1 {
		// Flagged by p-value, a document's q-value is recorded only as
		// information, but scan records it exactly, however large.
		return errors.New("tmbeam: an evidence file needs a false discovery rate (FDR > 0) or every q-value (q-value cap 1)")
	}
	ld, err := opts.Config.load(ctx)
	if err != nil {
		return err
	}
	if _, err := corpora.NewReader(opts.Read); err != nil {
		return fmt.Errorf("tmbeam: %w", err)
	}
	var local, remote []string
	for _, in := range opts.Inputs {
		if isRemote(in) {
			remote = append(remote, in)
		} else {
			local = append(local, in)
		}
	}
	if len(local) == 0 && len(remote) == 0 {
		return errors.New("tmbeam: no input")
	}
	if !isRemote(opts.Output) {
		if err := os.MkdirAll(opts.Output, 0o755); err != nil {
			return fmt.Errorf("tmbeam: output: %w", err)
		}
	}
	var parts []beam.PCollection
	if len(local) > 0 {
		walked, err := corpora.Walk(ctx, local, opts.Walk)
		if err != nil {
			return fmt.Errorf("tmbeam: %w", err)
		}
		if len(walked.Files) > 0 {
			parts = append(parts, beam.CreateList(s.Scope("local inputs"), walked.Files))
		}
	}
	for _, glob := range remote {
		m := fileio.MatchFiles(s.Scope("match "+glob), glob, fileio.MatchEmptyDisallow())
		parts = append(parts, beam.ParDo(s, metadataPath, m))
	}
	if len(parts) == 0 {
		return errors.New("tmbeam: the inputs hold no file")
	}
	files := beam.Reshuffle(s.Scope("spread inputs"), beam.Flatten(s, parts...))

	var specs []string
	for _, sch := range ld.schemes {
		specs = append(specs, sch.Spec())
	}
	plans := beam.ParDo(s.Scope("plan inputs"), &planFn{Read: opts.Read, SplitBytes: opts.SplitBytes}, files)
	recs, rangeEnds, tuples, bh := beam.ParDo4(s.Scope("read and score"),
		&scanFileFn{Cfg: opts.Config, Shards: opts.Shards, BucketBits: opts.BucketBits, QCap: opts.QCap}, plans)
	ends := beam.ParDo(s.Scope("file ends"), &mergeEndsFn{Read: opts.Read}, beam.GroupByKey(s, beam.ParDo(s, endKey, rangeEnds)))

	// The pooled test: each bundle's distinct tuples in one sorted batch per
	// key and bucket; the buckets' batches merged (exact dedup) and tallied,
	// then the buckets' tallies added up per key by the summary (float sums
	// in bucket order: the same bits in every run). The buckets are shuffled
	// in TallyGroups groups, each group's tally stage waiting for the
	// previous one's output (an unread side input): Prism hands the stage
	// after a GroupByKey its whole input as one bundle and holds several
	// copies of it at once (its bundle, the gRPC message to the worker and
	// its decoding), so one group's copies at a time bound its memory.
	prev := beam.ParDo(s.Scope("no tallies"), noTallies, beam.Impulse(s))
	var groupTallies []beam.PCollection
	for g := 0; g < opts.TallyGroups; g++ {
		gs := s.Scope(fmt.Sprintf("tally group %d", g))
		group := beam.ParDo(gs, &groupFilterFn{Group: g, Groups: opts.TallyGroups}, tuples)
		prev = beam.ParDo(gs, &bucketTallyFn{Specs: specs, BucketBits: opts.BucketBits},
			beam.GroupByKey(gs, group), beam.SideInput{Input: prev})
		groupTallies = append(groupTallies, prev)
	}
	tallies := beam.Flatten(s.Scope("pooled tally"), groupTallies...)

	// Benjamini–Hochberg: the count of documents and the p-values at most
	// the cap, gathered per bundle and combined into one small table.
	table := beam.Combine(s.Scope("bh candidates"), &bhFn{Cap: opts.QCap}, bh)

	// The records, per output shard, get their q-values as they are
	// written.
	shards := beam.GroupByKey(s.Scope("shard"), recs)
	// After the last tally group (for the same reason as the groups).
	shardCounts, flagged := beam.ParDo2(s.Scope("write shards"), &writeShardFn{Prefix: opts.Output, Shards: opts.Shards, FDR: opts.FDR, Read: opts.Read, Evidence: opts.Evidence},
		shards, beam.SideInput{Input: table}, beam.SideInput{Input: prev})
	if opts.Evidence {
		addEvidenceOutputs(s.Scope("evidence"), opts.Output, files, flagged)
	}
	beam.ParDo0(s.Scope("write files"), &writeFilesFn{Prefix: opts.Output}, beam.GroupByKey(s, beam.ParDo(s, fileKey, ends)))

	counts := beam.Combine(s.Scope("counts"), addCounts, beam.Flatten(s, shardCounts, beam.ParDo(s, fileCounts, ends)))
	beam.ParDo0(s.Scope("summary"), &summaryFn{Cfg: opts.Config, Prefix: opts.Output, Start: opts.Start.UnixNano(), BucketBits: opts.BucketBits},
		counts, beam.SideInput{Input: tallies})
	return nil
}

// DefaultSplitBytes is the default of Options.SplitBytes.
const DefaultSplitBytes = 64 << 20

func metadataPath(m fileio.FileMetadata) string { return m.Path }

// bhAcc is the BH combine's accumulator: how many documents, and the
// log10 p-values of those that can have q <= the cap.
type bhAcc struct {
	M     int       `json:"m"`
	Small []float64 `json:"small"`
}

// bhFn builds the exact Benjamini–Hochberg table of the q-values <= Cap
// from every document's log10 p-value, holding only the candidates (see
// scan.BHCandidates for why no other p-value is needed).
type bhFn struct {
	Cap float64
}

// CreateAccumulator returns an empty accumulator.
func (b *bhFn) CreateAccumulator() bhAcc { return bhAcc{} }

// add counts a document and keeps its p-value if it is a candidate.
func (a *bhAcc) add(lp, qcap float64) {
	a.M++
	if scan.BHCandidates(lp, qcap) {
		a.Small = append(a.Small, lp)
	}
}

// AddInput adds a bundle's candidates.
func (b *bhFn) AddInput(a, x bhAcc) bhAcc { return b.MergeAccumulators(a, x) }

// MergeAccumulators adds two accumulators.
func (b *bhFn) MergeAccumulators(x, y bhAcc) bhAcc {
	return bhAcc{M: x.M + y.M, Small: append(append([]float64(nil), x.Small...), y.Small...)}
}

// ExtractOutput returns the table.
func (b *bhFn) ExtractOutput(a bhAcc) (scan.BHTable, error) {
	return scan.NewBHTable(a.M, b.Cap, a.Small)
}

// finalize sets a document's q-value (null when it is above the table's
// cap) and flag from the BH table, as scan does.
func finalize(d *scan.Doc, t scan.BHTable, fdr float64) {
	if lq, ok := t.Lookup(d.Log10P); ok {
		d.SetQValue(lq, fdr)
	} else {
		// q > the cap >= FDR: not flagged by q; without an FDR level the
		// flag is the p-value's.
		d.Flagged = d.Detected && fdr == 0
	}
}

// writeShardFn writes one shard's records, sorted by input and order within
// it, to Prefix/docs-SSSSS-of-NNNNN.jsonl: doc and error records as
// `scan --json` writes them, with the q-values of the BH table. It emits
// the shard's counts. Rewriting a shard gives the same file.
type writeShardFn struct {
	Prefix   string
	Shards   int
	FDR      float64
	Read     corpora.ReadOptions // for the cap on diagnostics shown per input
	Evidence bool                // also emit the flagged documents

	codec *batchCodec
	limit int
}

// Setup makes the batch codec.
func (f *writeShardFn) Setup() error {
	r, err := corpora.NewReader(f.Read)
	if err != nil {
		return fmt.Errorf("tmbeam: %w", err)
	}
	f.limit = r.DiagnosticLimit()
	f.codec, err = newBatchCodec()
	return err
}

// Teardown releases the codec.
func (f *writeShardFn) Teardown() {
	if f.codec != nil {
		f.codec.Close()
	}
}

// ProcessElement writes one shard.
func (f *writeShardFn) ProcessElement(ctx context.Context, shard int, batches func(*recBatch) bool, t scan.BHTable, _ func(*int, *detect.Tally) bool, emit func(Counts), emitFlagged func(FlaggedDoc)) error {
	var recs []Record
	var b recBatch
	for batches(&b) {
		var err error
		if recs, err = f.codec.decodeRecords(recs, b); err != nil {
			return err
		}
	}
	slices.SortFunc(recs, func(a, b Record) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Part, b.Part), cmp.Compare(a.Ord, b.Ord))
	})
	recs = capDiagnostics(recs, f.limit)
	var c Counts
	for _, r := range recs {
		if r.Doc == nil {
			c.Errors++
			continue
		}
		finalize(r.Doc, t, f.FDR)
		c.Documents++
		c.Tokens += int64(r.Tokens)
		if r.Doc.Flagged {
			c.Flagged++
			if f.Evidence {
				doc, err := json.Marshal(r.Doc)
				if err != nil {
					return err
				}
				emitFlagged(FlaggedDoc{File: r.File, Part: r.Part, Ord: r.Ord, Doc: doc})
			}
		}
	}
	name := fmt.Sprintf("docs-%05d-of-%05d.jsonl", shard, f.Shards)
	err := writeFile(ctx, joinPath(f.Prefix, name), func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<16)
		enc := json.NewEncoder(bw)
		for _, r := range recs {
			var v any = r.Diag
			if r.Doc != nil {
				v = r.Doc
			}
			if err := enc.Encode(v); err != nil {
				return err
			}
		}
		return bw.Flush()
	})
	if err != nil {
		return err
	}
	emit(c)
	return nil
}

// capDiagnostics applies to each split input's records (recs sorted by
// input, part and order) the cap on diagnostics shown that ReadFile
// applies to a whole file: the first limit of its ranges' diagnostics,
// in order, then one announcing the rest (the ranges' tails count them).
// Other inputs' records pass as they are.
func capDiagnostics(recs []Record, limit int) []Record {
	out := make([]Record, 0, len(recs))
	for i := 0; i < len(recs); {
		file := recs[i].File
		j, total, split := i, 0, false
		for ; j < len(recs) && recs[j].File == file; j++ {
			if recs[j].Range != nil {
				total, split = total+recs[j].Range.Diagnostics, true
			}
		}
		shown := 0
		for _, r := range recs[i:j] {
			if r.Range != nil || (r.Diag != nil && split && limit >= 0 && shown >= limit) {
				continue
			}
			if r.Diag != nil {
				shown++
			}
			out = append(out, r)
		}
		if split && limit >= 0 && total > limit {
			d := scan.NewDiagnostic(file, corpora.MoreErrors(file, corpora.FileStats{Diagnostics: total, ErrorsNotShown: total - limit}))
			out = append(out, Record{File: file, Diag: &d})
		}
		i = j
	}
	return out
}

func joinPath(prefix, name string) string {
	return strings.TrimSuffix(prefix, "/") + "/" + name
}

// writeFile writes data to path through Beam's filesystems.
func writeFile(ctx context.Context, path string, write func(io.Writer) error) error {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return fmt.Errorf("tmbeam: %s: %w", path, err)
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, path)
	if err != nil {
		return fmt.Errorf("tmbeam: %s: %w", path, err)
	}
	if err := write(w); err != nil {
		w.Close()
		return fmt.Errorf("tmbeam: %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("tmbeam: %s: %w", path, err)
	}
	return nil
}

func fileKey(r FileRec) (int, FileRec) { return 0, r }

// writeFilesFn writes every input's end record, sorted by path, to
// Prefix/files.jsonl.
type writeFilesFn struct {
	Prefix string
}

// ProcessElement writes the end records.
func (f *writeFilesFn) ProcessElement(ctx context.Context, _ int, iter func(*FileRec) bool) error {
	var recs []FileRec
	var r FileRec
	for iter(&r) {
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].File < recs[j].File })
	return writeFile(ctx, joinPath(f.Prefix, "files.jsonl"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for i, r := range recs {
			ev := scan.FileEvent{Type: "end", File: r.File, Index: i, FileStats: r.Stats, Error: r.Error}
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		return nil
	})
}

// Counts are the summary's counts, added up over records and inputs.
type Counts struct {
	Files, Documents, Flagged, Errors, FailedFiles int
	Bytes, Tokens                                  int64
}

func fileCounts(r FileRec) Counts {
	c := Counts{Files: 1, Bytes: r.Stats.Bytes, Errors: scan.FileErrors(r.Stats, r.Error != "")}
	if r.Error != "" {
		c.FailedFiles = 1
	}
	return c
}

func addCounts(a, b Counts) Counts {
	return Counts{Files: a.Files + b.Files, Documents: a.Documents + b.Documents, Flagged: a.Flagged + b.Flagged,
		Errors: a.Errors + b.Errors, FailedFiles: a.FailedFiles + b.FailedFiles, Bytes: a.Bytes + b.Bytes, Tokens: a.Tokens + b.Tokens}
}

// summaryFn writes the summary record to Prefix/summary.json.
type summaryFn struct {
	Cfg        Config
	Prefix     string
	Start      int64 // Unix nanoseconds
	BucketBits int   // the tuple buckets' key bits, as Options.BucketBits
}

// bucketSums are one bucket's float sums of a tally.
type bucketSums struct {
	bucket        int
	sum, weighted float64
}

// ProcessElement completes the summary with the pooled tests and writes it.
// The side input holds every bucket's tally: their counts are added as
// they come, and their float sums (Sum, Weighted: Gumbel-type scores) in
// bucket order, so that the pooled tally is the same bits in every run
// and retry whatever order the runner delivers the buckets in (each
// bucket's own sum is added in fingerprint order, see bucketTallyFn).
func (f *summaryFn) ProcessElement(ctx context.Context, c Counts, tallies func(*int, *detect.Tally) bool) error {
	ld, err := f.Cfg.load(ctx)
	if err != nil {
		return err
	}
	ts := make([]detect.Tally, len(ld.schemes))
	sums := make([][]bucketSums, len(ld.schemes))
	var b int
	var t detect.Tally
	for tallies(&b, &t) {
		k := b >> f.BucketBits
		if b < 0 || k >= len(ts) {
			return fmt.Errorf("tmbeam: pooled tally of bucket %d (key %d of %d)", b, k, len(ts))
		}
		ts[k].AddTally(&t)
		sums[k] = append(sums[k], bucketSums{b, t.Sum, t.Weighted})
	}
	for k, bs := range sums {
		slices.SortFunc(bs, func(x, y bucketSums) int { return cmp.Compare(x.bucket, y.bucket) })
		ts[k].Sum, ts[k].Weighted = 0, 0
		for i, x := range bs {
			if i > 0 && x.bucket == bs[i-1].bucket {
				return fmt.Errorf("tmbeam: two pooled tallies of bucket %d", x.bucket)
			}
			ts[k].Sum += x.sum
			ts[k].Weighted += x.weighted
		}
	}
	sum := scan.Summary{Files: c.Files, Documents: c.Documents, Flagged: c.Flagged, Errors: c.Errors,
		FailedFiles: c.FailedFiles, Bytes: c.Bytes, Tokens: c.Tokens,
		Seconds: time.Since(time.Unix(0, f.Start)).Seconds()}
	if err := scan.FinishSummary(&sum, ld.schemes, ts, true, f.Cfg.Alpha, f.Cfg.FDR, ld.tok.Name()); err != nil {
		return err
	}
	return writeFile(ctx, joinPath(f.Prefix, "summary.json"), func(w io.Writer) error {
		return json.NewEncoder(w).Encode(sum)
	})
}
