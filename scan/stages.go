package scan

import (
	"context"
	"fmt"
	"sync"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/spans"
	"github.com/tracemark/tracemark/watermark"
)

// A scan is a pipeline of three stages, wired by Scanner.Run:
//
//	read  -> jobs -> score (Config.Workers goroutines) -> done -> order
//
// The read stage turns the inputs into jobs numbered in input order; the
// score stage tokenizes and scores documents out of order and hands their
// tuples to a tupleObserver; the order stage puts the jobs back in input
// order and keeps their records in a results store until the q-values are
// known. Every stage watches one context: the first error of any stage
// cancels it, and each stage then returns instead of blocking on a channel.

// jobKind says what a job carries through the pipeline.
type jobKind uint8

const (
	jobBegin jobKind = iota + 1 // an input file starts
	jobDoc                      // a document to score
	jobDiag                     // a bad record or file, skipped
	jobEnd                      // an input file ends, with its statistics
)

// String returns the kind's name, for messages and tests.
func (k jobKind) String() string {
	switch k {
	case jobBegin:
		return "begin"
	case jobDoc:
		return "doc"
	case jobDiag:
		return "diagnostic"
	case jobEnd:
		return "end"
	}
	return fmt.Sprintf("jobKind(%d)", uint8(k))
}

// job is one unit of the pipeline, in input order.
type job struct {
	seq   int
	kind  jobKind
	file  int    // index of the input file
	name  string // path of the input file
	doc   corpora.Document
	stats corpora.FileStats
	err   string
	diag  corpora.Diagnostic
	// filled by the score stage
	result Doc
	tokens int
	// obs holds, per key, a copy of the document's observations for the
	// pooled test, when deferredTuples folds them in on the order stage.
	obs [][]watermark.Observation
}

// stageGroup runs the stages of one scan, each on its own goroutine, and
// ends them all at the first error: it keeps that error and cancels the
// context every stage watches.
type stageGroup struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

// newStageGroup returns a group and the context its stages must watch.
func newStageGroup(ctx context.Context) (*stageGroup, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &stageGroup{cancel: cancel}, ctx
}

// run starts stage on its own goroutine.
func (g *stageGroup) run(stage func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := stage(); err != nil {
			g.once.Do(func() {
				g.err = err
				g.cancel()
			})
		}
	}()
}

// wait waits for every stage to return and reports the first error.
func (g *stageGroup) wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

// readStage is the read stage: it reads the inputs one at a time, in
// order, and sends a job for each file's begin, each of its documents and
// diagnostics, and its end, numbered in input order.
type readStage struct {
	reader *corpora.Reader
	jobs   chan<- *job
	seq    int
}

// run reads files and closes the jobs channel when done. It returns only
// ctx's error: a file that cannot be read is reported in its end job.
func (r *readStage) run(ctx context.Context, files []string) error {
	defer close(r.jobs)
	for i, f := range files {
		if err := r.send(ctx, &job{kind: jobBegin, file: i, name: f}); err != nil {
			return err
		}
		st, err := r.reader.ReadFile(ctx, f,
			func(d corpora.Document) error { return r.send(ctx, &job{kind: jobDoc, file: i, name: f, doc: d}) },
			// A cancelled send is seen by the next document or the end job.
			func(d corpora.Diagnostic) { _ = r.send(ctx, &job{kind: jobDiag, file: i, name: f, diag: d}) })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		end := &job{kind: jobEnd, file: i, name: f, stats: st}
		if err != nil {
			end.err = err.Error()
		}
		if err := r.send(ctx, end); err != nil {
			return err
		}
	}
	return nil
}

// send numbers j and sends it on, unless ctx is done first.
func (r *readStage) send(ctx context.Context, j *job) error {
	j.seq = r.seq
	r.seq++
	select {
	case r.jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scorer is one worker of the score stage: its own detectors, one per key,
// and token buffer.
type scorer struct {
	cfg  *Config
	dets []*detect.Detector
	ids  []uint32
	obs  tupleObserver
	span *spanScorer // Config.Spans
}

// newScorer returns a worker whose detectors share the scanner's templates
// and exclusion sets, and which hands every document's tuples to obs.
func (s *Scanner) newScorer(obs tupleObserver) *scorer {
	sc := &scorer{cfg: &s.cfg, obs: obs}
	for i, sch := range s.cfg.Schemes {
		sc.dets = append(sc.dets, detect.NewFrom(s.dets[i], s.exclude[sch.ContextWidth()+1]))
	}
	sc.span = newSpanScorer(&s.cfg, sc.dets)
	return sc
}

// run scores the document jobs it takes from jobs and passes every job on
// to done, until jobs is closed, ctx is done or the observer fails.
func (sc *scorer) run(ctx context.Context, jobs <-chan *job, done chan<- *job) error {
	for j := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if j.kind == jobDoc {
			if err := sc.score(j); err != nil {
				return err
			}
		}
		select {
		case done <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// score tokenizes and scores one document under every key, combines the
// keys' results (Holm) into j.result and hands the document's tuples under
// each key to the observer.
func (sc *scorer) score(j *job) error {
	var err error
	sc.ids, err = sc.cfg.Tokenizer.AppendEncode(sc.ids[:0], j.doc.Text)
	d := Doc{Type: "doc", File: j.name, ID: j.doc.ID, Location: j.doc.Location, Tokens: len(sc.ids), Matched: []string{},
		DocDedup: DocDedupDocument}
	if sc.cfg.ShowText > 0 {
		d.Text = snippet(j.doc.Text, sc.cfg.ShowText)
	}
	j.tokens = len(sc.ids)
	if err != nil {
		d.PValue, d.Scheme = 1, sc.cfg.Schemes[0].Spec()
		j.result = d
		return nil
	}
	results := make([]detect.Result, len(sc.dets))
	var spanResults []spans.Result
	for k, det := range sc.dets {
		if sc.span != nil {
			var sr spans.Result
			results[k], sr = sc.span.score(sc.cfg.Tokenizer, k, sc.ids)
			spanResults = append(spanResults, sr)
		} else {
			results[k] = det.Tokens(sc.ids)
		}
		if err := sc.obs.observe(j, k, det.Observations()); err != nil {
			return err
		}
	}
	d.setEvidence(detect.Combine(results, sc.cfg.Alpha))
	if sc.span != nil {
		return sc.spanEvidence(j, &d, results, spanResults)
	}
	j.result = d
	return nil
}

// orderStage is the order stage: it puts the scored jobs back in input
// order, hands their tuples to the observer in that order, turns them into
// records for the results store, counts them into the summary and reports
// progress.
type orderStage struct {
	cfg      *Config
	res      results
	obs      tupleObserver
	pending  map[int]*job // jobs that came before their turn, by seq
	next     int          // seq of the next job to emit
	sum      Summary
	progress Progress
}

// newOrderStage returns the order stage of a scan over files inputs.
func (s *Scanner) newOrderStage(files int, res results, obs tupleObserver) *orderStage {
	return &orderStage{cfg: &s.cfg, res: res, obs: obs, pending: map[int]*job{},
		sum: Summary{Type: "summary", Alpha: s.cfg.Alpha, FDR: s.cfg.FDR, Tokenizer: s.cfg.Tokenizer.Name(), Files: files}}
}

// run emits the jobs from done in input order until done is closed, ctx is
// done or the results store fails.
func (o *orderStage) run(ctx context.Context, done <-chan *job) error {
	for {
		select {
		case j, ok := <-done:
			if !ok {
				return nil
			}
			o.pending[j.seq] = j
			for {
				// A cancelled scan stops between jobs, not after every
				// job that has arrived.
				if err := ctx.Err(); err != nil {
					return err
				}
				pj, ok := o.pending[o.next]
				if !ok {
					break
				}
				delete(o.pending, o.next)
				o.next++
				if err := o.emit(pj); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// emit handles the next job in input order.
func (o *orderStage) emit(j *job) error {
	switch j.kind {
	case jobDoc:
		o.obs.ordered(j)
		o.sum.Documents++
		o.sum.Tokens += int64(j.tokens)
		o.progress.Documents++
		if j.result.Detected {
			o.progress.Flagged++
		}
		if err := o.res.Doc(j.result); err != nil {
			return err
		}
		if o.cfg.Progress != nil && o.progress.Documents%256 == 0 {
			p := o.progress
			p.Bytes += j.doc.InputOffset
			o.cfg.Progress(p)
		}
	case jobDiag:
		o.sum.Errors++
		o.progress.Errors++
		return o.res.Diagnostic(Diagnostic{Type: "error", File: j.name, Location: j.diag.Location, Message: j.diag.Err.Error()})
	case jobBegin:
		return o.res.Begin(FileEvent{Type: "begin", File: j.name, Index: j.file})
	case jobEnd:
		if j.err != "" {
			o.sum.Errors++
			o.sum.FailedFiles++
			o.progress.Errors++
		}
		o.sum.Errors += hiddenErrors(j.stats)
		o.sum.Bytes += j.stats.Bytes
		o.progress.Bytes += j.stats.Bytes
		o.progress.Files++
		if err := o.res.End(FileEvent{Type: "end", File: j.name, Index: j.file, FileStats: j.stats, Error: j.err}); err != nil {
			return err
		}
		if o.cfg.Progress != nil {
			o.cfg.Progress(o.progress)
		}
	default:
		return fmt.Errorf("scan: internal error: job %d of kind %v", j.seq, j.kind)
	}
	return nil
}

// hiddenErrors is how many of a file's diagnostics were counted but not
// sent as records: past the per-file cap, the reader sends one record
// announcing the ErrorsNotShown others, so the summary's error count is
// the file's Diagnostics when this is added to the records received.
func hiddenErrors(st corpora.FileStats) int {
	if st.ErrorsNotShown == 0 {
		return 0
	}
	return st.ErrorsNotShown - 1
}
