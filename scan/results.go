package scan

import (
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
	bufs   sync.Pool        // *[]watermark.Observation
}

func (p *deferredTuples) observe(j *job, k int, obs []watermark.Observation) error {
	if j.obs == nil {
		j.obs = make([][]watermark.Observation, len(p.pooled))
	}
	buf, _ := p.bufs.Get().(*[]watermark.Observation)
	if buf == nil {
		buf = new([]watermark.Observation)
	}
	*buf = append((*buf)[:0], obs...)
	j.obs[k] = *buf
	return nil
}

func (p *deferredTuples) ordered(j *job) {
	for k, obs := range j.obs {
		p.pooled[k].Add(obs)
		p.bufs.Put(&obs)
	}
	j.obs = nil
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
	pooled []*detect.Pooled
	alpha  float64
	fdr    float64
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
	q := detect.BenjaminiHochberg(m.log10p)
	docIndex, fileFlagged := 0, 0
	err := m.spill.replay(func(rec spilled) error {
		switch {
		case rec.Doc != nil:
			d := rec.Doc
			if d.setQValue(q[docIndex], m.fdr) {
				sum.Flagged++
				fileFlagged++
			}
			docIndex++
			return sink.Doc(*d)
		case rec.Diag != nil:
			return sink.Diagnostic(*rec.Diag)
		case rec.File != nil && rec.File.Type == "begin":
			fileFlagged = 0
			ev := *rec.File
			f := m.formats[ev.Index]
			ev.Format, ev.Compression = f.Format, f.Compression
			return sink.Begin(ev)
		case rec.File != nil:
			rec.File.Flagged = fileFlagged
			return sink.End(*rec.File)
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	pooledSummary(&sum, m.pooled, m.alpha)
	sum.Seconds = time.Since(start).Seconds()
	return sum, sink.Summary(sum)
}

func (m *memResults) close() { m.spill.close() }

// pooledSummary fills the corpus-level test of every key, with Holm's
// correction over keys.
func pooledSummary(sum *Summary, pooled []*detect.Pooled, alpha float64) {
	var results []detect.Result
	for _, p := range pooled {
		r := p.Result()
		sum.PerKey = append(sum.PerKey, keyPooled(r.Result, r.Exact, r.Tally))
		results = append(results, r.Result)
	}
	fillPooled(sum, results, alpha)
}
