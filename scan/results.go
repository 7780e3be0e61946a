package scan

import (
	"fmt"
	"sync"
	"time"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/watermark"
)

// tupleObserver receives every scored document's observations (its
// distinct (context, token) tuples and their scores) under every key: the
// in-memory pooled tests (pooledTuples, deferredTuples) or the tuple files
// of an output directory (outDir).
type tupleObserver interface {
	// observe is called by the score stage, from any worker, with the
	// observations of document j under key k. obs is reused after the call
	// returns.
	observe(j *job, k int, obs []watermark.Observation) error
	// ordered is called by the order stage with every document job, in
	// input order, after its observe calls.
	ordered(j *job)
}

// pooledTuples feeds the pooled tests on the scoring workers.
type pooledTuples struct {
	pooled []*detect.Pooled // one per key
}

func (p pooledTuples) observe(_ *job, k int, obs []watermark.Observation) error {
	p.pooled[k].Add(obs)
	return nil
}

func (pooledTuples) ordered(*job) {}

// deferredTuples feeds the pooled tests on the order stage: the workers
// only copy the observations into the job. It keeps the corpus-level dedup
// off the workers when a core is left over for the order stage.
type deferredTuples struct {
	pooled []*detect.Pooled // one per key
	copies obsCopies
}

func (p *deferredTuples) observe(j *job, k int, obs []watermark.Observation) error {
	p.copies.keep(j, k, len(p.pooled), obs)
	return nil
}

func (p *deferredTuples) ordered(j *job) {
	for k, obs := range j.obs {
		p.pooled[k].Add(obs)
	}
	p.copies.release(j)
}

// obsCopies copies a document's observations into its job on the score
// stage, for an observer that uses them on the order stage, in input
// order; it recycles the buffers.
type obsCopies struct {
	bufs sync.Pool // *[]watermark.Observation
}

// keep copies obs, document j's observations under key k of keys.
func (c *obsCopies) keep(j *job, k, keys int, obs []watermark.Observation) {
	if j.obs == nil {
		j.obs = make([][]watermark.Observation, keys)
	}
	buf, _ := c.bufs.Get().(*[]watermark.Observation)
	if buf == nil {
		buf = new([]watermark.Observation)
	}
	*buf = append((*buf)[:0], obs...)
	j.obs[k] = *buf
}

// release returns j's copies to the pool.
func (c *obsCopies) release(j *job) {
	for _, obs := range j.obs {
		if obs != nil {
			c.bufs.Put(&obs)
		}
	}
	j.obs = nil
}

// corpusTuples is the observer of DocDedupCorpus without an output
// directory: on the order stage, in input order, it scores each document
// again on the tuples no earlier document held (detect.CorpusDocs, one per
// key), replacing the workers' per-document evidence, and the pooled tests
// are the sums of those documents' tallies.
type corpusTuples struct {
	docs    []*detect.CorpusDocs // one per key
	alpha   float64
	copies  obsCopies
	results []detect.Result
}

func (p *corpusTuples) observe(j *job, k int, obs []watermark.Observation) error {
	p.copies.keep(j, k, len(p.docs), obs)
	return nil
}

func (p *corpusTuples) ordered(j *job) {
	p.results = p.results[:0]
	for k, cd := range p.docs {
		var obs []watermark.Observation
		if j.obs != nil {
			obs = j.obs[k]
		}
		r, _ := cd.Document(obs)
		p.results = append(p.results, r)
	}
	p.copies.release(j)
	j.result.setEvidence(detect.Combine(p.results, p.alpha))
	j.result.DocDedup = DocDedupCorpus
}

// pooledResults returns the pooled tests of every key.
func (p *corpusTuples) pooledResults() []detect.PooledResult {
	var out []detect.PooledResult
	for _, cd := range p.docs {
		out = append(out, cd.Pooled())
	}
	return out
}

// results is where the order stage puts the scan's records, in input
// order and before the q-values are known: for each input its begin
// record, its documents and diagnostics and its end record. At the end of
// the scan, finish sends the final records and the summary to the caller's
// sink: from memory and a spill file (memResults), or merged from an output
// directory (outDir).
type results interface {
	Begin(FileEvent) error
	Doc(Doc) error
	Diagnostic(Diagnostic) error
	End(FileEvent) error
	// finish completes sum (the order stage's counts) with q-values, flags,
	// the pooled tests and the time since start, sends the records and the
	// summary to sink and returns the summary.
	finish(sum Summary, start time.Time, sink Sink) (Summary, error)
	// close releases what the store holds; after an error, it leaves
	// unfinished outputs unfinished.
	close()
}

// memResults keeps the records in a spill buffer and every document's
// p-value in memory, and takes the pooled tests from the in-memory pooled
// tests.
type memResults struct {
	spill  spillBuffer
	log10p []float64
	pooled func() []detect.PooledResult
	alpha  float64
	fdr    float64
	mode   DocDedup
	// formats holds each input's format and compression, known only at its
	// end, for its begin record when the records are replayed.
	formats map[int]corpora.FileStats
}

func (m *memResults) Begin(ev FileEvent) error { return m.spill.add(spilled{File: &ev}) }

func (m *memResults) Doc(d Doc) error {
	m.log10p = append(m.log10p, d.Log10P)
	return m.spill.add(spilled{Doc: &d})
}

func (m *memResults) Diagnostic(d Diagnostic) error { return m.spill.add(spilled{Diag: &d}) }

func (m *memResults) End(ev FileEvent) error {
	if m.formats == nil {
		m.formats = map[int]corpora.FileStats{}
	}
	m.formats[ev.Index] = corpora.FileStats{Format: ev.Format, Compression: ev.Compression}
	return m.spill.add(spilled{File: &ev})
}

// finish adds the Benjamini–Hochberg q-values over all documents, flags
// the documents and replays the records to sink, then sends the summary
// with the pooled tests.
func (m *memResults) finish(sum Summary, start time.Time, sink Sink) (Summary, error) {
	rp := newReplayer(m.log10p, m.fdr, sink, &sum, false)
	err := m.spill.replay(func(rec spilled) error { return rp.record(rec, m.formats[recIndex(rec)]) })
	if err != nil {
		return sum, err
	}
	sum.DocDedup = m.mode
	pooledSummary(&sum, m.pooled(), m.alpha)
	sum.Seconds = time.Since(start).Seconds()
	return sum, sink.Summary(sum)
}

// recIndex is the input index of a begin or end record (0 for others).
func recIndex(rec spilled) int {
	if rec.File != nil {
		return rec.File.Index
	}
	return 0
}

// replayer sends stored records (begin, doc, error and end, in input order,
// doc records without q-values) to a sink as final records: each document
// gets its Benjamini–Hochberg q-value over all documents and its flag, each
// end record the file's flagged count, and the summary the flagged count.
// Both a scan's in-memory results and Merge replay through it.
type replayer struct {
	q           []float64
	fdr         float64
	sink        Sink
	sum         *Summary
	doc         int
	fileFlagged int
	// countFiles adds errors, failed files and bytes to the summary from
	// the records (Merge; a scan's order stage counted them already).
	countFiles bool
}

// newReplayer returns a replayer of documents whose log10 p-values, in
// order, are log10p.
func newReplayer(log10p []float64, fdr float64, sink Sink, sum *Summary, countFiles bool) *replayer {
	return &replayer{q: detect.BenjaminiHochberg(log10p), fdr: fdr, sink: sink, sum: sum, countFiles: countFiles}
}

// record sends one record on; format is its input's format and
// compression, known only at the input's end, for its begin record.
func (r *replayer) record(rec spilled, format corpora.FileStats) error {
	switch {
	case rec.Doc != nil:
		d := rec.Doc
		if r.doc >= len(r.q) {
			return fmt.Errorf("internal error: more document records than the %d p-values", len(r.q))
		}
		if d.setQValue(r.q[r.doc], r.fdr) {
			r.sum.Flagged++
			r.fileFlagged++
		}
		r.doc++
		return r.sink.Doc(*d)
	case rec.Diag != nil:
		if r.countFiles {
			r.sum.Errors++
		}
		return r.sink.Diagnostic(*rec.Diag)
	case rec.File != nil && rec.File.Type == "begin":
		r.fileFlagged = 0
		ev := *rec.File
		ev.Format, ev.Compression = format.Format, format.Compression
		return r.sink.Begin(ev)
	case rec.File != nil:
		ev := *rec.File
		ev.Flagged = r.fileFlagged
		if r.countFiles {
			if ev.Error != "" {
				r.sum.Errors++
				r.sum.FailedFiles++
			}
			r.sum.Errors += hiddenErrors(ev.FileStats)
			r.sum.Bytes += ev.Bytes
		}
		return r.sink.End(ev)
	}
	return nil
}

func (m *memResults) close() { m.spill.close() }

// pooledSummary fills the corpus-level test of every key, with Holm's
// correction over keys.
func pooledSummary(sum *Summary, pooled []detect.PooledResult, alpha float64) {
	var results []detect.Result
	for _, r := range pooled {
		sum.PerKey = append(sum.PerKey, keyPooled(r.Result, r.Exact, r.Tally))
		results = append(results, r.Result)
	}
	fillPooled(sum, results, alpha)
}
