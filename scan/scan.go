// Package scan runs detection over whole corpora: it reads inputs with
// corpora, scores every document under one or more keys with detect on
// several workers, keeps each input's results in order, pools all tuples
// into a corpus-level test, and adds Benjamini–Hochberg q-values across all
// documents at the end. Memory stays bounded: documents are scored in
// bounded parts, per-document results wait in memory up to 65,536 records
// and in a spill file beyond, and only one float per document stays in
// memory.
package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// Config configures a scan.
type Config struct {
	Schemes   []watermark.Scheme // one per key
	Tokenizer tokenize.Tokenizer
	Read      corpora.ReadOptions
	Workers   int     // 0: all cores
	Alpha     float64 // per-document (and pooled) significance level; 0: detect.DefaultAlpha
	// FDR, when > 0, flags documents by Benjamini–Hochberg q-value <= FDR
	// instead of p <= Alpha.
	FDR float64
	// Exclude lists token sequences (e.g. the prompts sent to a suspect
	// model) whose (h+1)-grams are not scored anywhere.
	Exclude [][]uint32
	// SpillDir holds the temporary per-document results of scans with more
	// than 65,536 records ("" = os.TempDir).
	SpillDir string
	// OutDir, if set, keeps each input's results in this directory, skips
	// inputs already finished there (resume), and takes the final records
	// and summary from Merge over the whole directory.
	OutDir string
	// Progress, if set, is called every 256 documents and after each input
	// file, from the goroutine that orders results.
	Progress func(Progress)
}

// Progress is a snapshot for a progress display.
type Progress struct {
	Files, Documents, Flagged, Errors int
	Bytes                             int64
}

// Doc is the result for one document: a "doc" record of the JSON output.
type Doc struct {
	Type     string   `json:"type"` // "doc"
	File     string   `json:"file"`
	ID       string   `json:"id"`
	Location string   `json:"location"`
	Tokens   int      `json:"tokens"`
	Scored   int      `json:"scored"`
	PValue   float64  `json:"p_value"`
	Log10P   float64  `json:"log10_p"`
	QValue   *float64 `json:"q_value,omitempty"` // filled at the end
	Log10Q   *float64 `json:"log10_q,omitempty"`
	Detected bool     `json:"detected"` // p <= alpha (Holm-adjusted over keys)
	Flagged  bool     `json:"flagged"`  // detected, or q <= fdr with --fdr
	KeyID    string   `json:"key_id"`
	Matched  []string `json:"matched_keys,omitempty"`
	Payload  string   `json:"payload,omitempty"`
	Scheme   string   `json:"scheme"`
}

// setQValue records the document's Benjamini–Hochberg q-value (given as
// log10) and flags it: by q <= fdr when fdr > 0, else by its p-value. It
// reports whether the document is flagged.
func (d *Doc) setQValue(log10q, fdr float64) bool {
	qv, lq := math.Pow(10, log10q), log10q
	d.QValue, d.Log10Q = &qv, &lq
	d.Flagged = d.Detected
	if fdr > 0 {
		d.Flagged = qv <= fdr
	}
	return d.Flagged
}

// FileEvent is a "begin" or "end" record of one input file.
type FileEvent struct {
	Type  string `json:"type"` // "begin" or "end"
	File  string `json:"file"`
	Index int    `json:"index"`
	corpora.FileStats
	Flagged int    `json:"flagged,omitempty"`
	Error   string `json:"error,omitempty"` // why the rest of the file could not be read
}

// Diagnostic is an "error" record: a bad record or file, skipped.
type Diagnostic struct {
	Type     string `json:"type"` // "error"
	File     string `json:"file"`
	Location string `json:"location,omitempty"`
	Message  string `json:"message"`
}

// KeyPooled is the corpus-level test under one key.
type KeyPooled struct {
	KeyID          string       `json:"key_id"`
	Scheme         string       `json:"scheme"`
	PValue         float64      `json:"p_value"`
	Log10P         float64      `json:"log10_p"`
	AdjustedLog10P float64      `json:"adjusted_log10_p"` // Holm over keys
	Scored         int          `json:"scored"`
	Score          float64      `json:"score"`
	Test           string       `json:"test"`
	Payload        string       `json:"payload,omitempty"`
	PayloadLog10P  float64      `json:"payload_log10_p,omitempty"`
	DedupExact     bool         `json:"dedup_exact"`
	Tally          detect.Tally `json:"tally"`
}

// Summary is the "summary" record.
type Summary struct {
	Type         string      `json:"type"` // "summary"
	Files        int         `json:"files"`
	Documents    int         `json:"documents"`
	Flagged      int         `json:"flagged"`
	Errors       int         `json:"errors"`
	FailedFiles  int         `json:"failed_files"`
	Bytes        int64       `json:"bytes"`
	Tokens       int64       `json:"tokens"`
	Seconds      float64     `json:"seconds"`
	PooledPValue float64     `json:"pooled_p_value"` // the best key's, Holm-adjusted over keys
	PooledLog10P float64     `json:"pooled_log10_p"`
	PooledKeyID  string      `json:"pooled_key_id"`
	Detected     bool        `json:"pooled_detected"` // pooled p <= alpha
	Alpha        float64     `json:"alpha"`
	FDR          float64     `json:"fdr,omitempty"`
	Correction   string      `json:"correction"`
	Tokenizer    string      `json:"tokenizer"`
	PerKey       []KeyPooled `json:"pooled"`
}

// Sink receives the scan's records in order: for each input file its begin
// record, its documents and diagnostics, its end record; then the summary.
type Sink interface {
	Begin(FileEvent) error
	Doc(Doc) error
	Diagnostic(Diagnostic) error
	End(FileEvent) error
	Summary(Summary) error
}

// job is one unit of the pipeline, in input order.
type job struct {
	seq   int
	kind  byte // 'b' begin, 'd' doc, 'x' diagnostic, 'e' end
	file  int
	name  string
	doc   corpora.Document
	stats corpora.FileStats
	err   string
	diag  corpora.Diagnostic
	// filled by workers
	result Doc
	tokens int
	// obs holds, per key, a copy of the document's observations for the
	// pooled test, which the ordering goroutine folds in: that keeps the
	// corpus-level dedup off the scoring workers.
	obs [][]watermark.Observation
}

// Scanner runs scans.
type Scanner struct {
	cfg     Config
	reader  *corpora.Reader
	key     detect.DedupKey
	pooled  []*detect.Pooled
	dets    []*detect.Detector       // templates, one per key
	exclude map[int]*detect.NgramSet // by n-gram length h+1
	obsPool sync.Pool                // *[]watermark.Observation buffers for the pooled test
	// offload moves the pooled test from the workers to the ordering
	// goroutine, when a core is left over for it (fewer workers than CPUs).
	offload bool
	outMu   sync.Mutex
	outs    map[int]*fileOut // OutDir: the open outputs by input index
	scorers []*scorer
	// Resumed counts the inputs skipped because OutDir holds them finished.
	Resumed int
	// spillMemory is how many records wait in memory before going to a
	// spill file (tests lower it).
	spillMemory int
}

// New validates cfg and returns a Scanner.
func New(cfg Config) (*Scanner, error) {
	if len(cfg.Schemes) == 0 {
		return nil, errors.New("scan: no keys")
	}
	if cfg.Tokenizer == nil {
		return nil, errors.New("scan: no tokenizer")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.Alpha == 0 {
		cfg.Alpha = detect.DefaultAlpha
	}
	if !(cfg.Alpha > 0 && cfg.Alpha < 1) || !(cfg.FDR >= 0 && cfg.FDR < 1) {
		return nil, fmt.Errorf("scan: alpha must be in (0, 1) and fdr in [0, 1), got %v and %v", cfg.Alpha, cfg.FDR)
	}
	r, err := corpora.NewReader(cfg.Read)
	if err != nil {
		return nil, err
	}
	s := &Scanner{cfg: cfg, reader: r, key: detect.NewDedupKey(), exclude: map[int]*detect.NgramSet{}, outs: map[int]*fileOut{},
		offload: cfg.Workers < runtime.NumCPU(), spillMemory: defaultSpillMemory}
	for _, sch := range cfg.Schemes {
		n := sch.ContextWidth() + 1
		if _, ok := s.exclude[n]; !ok {
			s.exclude[n] = s.excludeSet(n)
		}
		opts := s.options(sch)
		opts.Exclude = s.exclude[n]
		d, err := detect.New(sch, opts)
		if err != nil {
			return nil, err
		}
		s.dets = append(s.dets, d)
		p, err := detect.NewPooled(sch, s.key, s.options(sch))
		if err != nil {
			return nil, err
		}
		s.pooled = append(s.pooled, p)
	}
	return s, nil
}

// pooledDetector returns the template detector of key i.
func (s *Scanner) pooledDetector(i int) *detect.Detector { return s.dets[i] }

// ExcludedNgrams returns how many distinct n-grams are excluded (for the
// first key's context width).
func (s *Scanner) ExcludedNgrams() int {
	if set := s.exclude[s.cfg.Schemes[0].ContextWidth()+1]; set != nil {
		return set.Len()
	}
	return 0
}

// SetStdin sets the reader of "-".
func (s *Scanner) SetStdin(r io.Reader) { s.reader.Stdin = r }

// excludeSets builds one n-gram set per context width.
func (s *Scanner) excludeSet(n int) *detect.NgramSet {
	if len(s.cfg.Exclude) == 0 {
		return nil
	}
	set := detect.NewNgramSet(n, s.key)
	for _, ids := range s.cfg.Exclude {
		set.AddText(ids)
	}
	return set
}

func (s *Scanner) options(watermark.Scheme) detect.Options {
	return detect.Options{Alpha: s.cfg.Alpha, Tokenizer: s.cfg.Tokenizer.Name()}
}

// Run scans files (already expanded) and sends every record to sink.
func (s *Scanner) Run(ctx context.Context, files []string, sink Sink) (Summary, error) {
	start := time.Now()
	if s.cfg.OutDir != "" {
		if err := s.openOutDir(s.cfg.OutDir); err != nil {
			return Summary{}, fmt.Errorf("scan: output directory: %w", err)
		}
		var todo []string
		for _, f := range files {
			if f != "-" && finished(s.cfg.OutDir, f) {
				s.Resumed++
				continue
			}
			todo = append(todo, f)
		}
		files = todo
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan *job, 64)
	done := make(chan *job, 64)

	// Reader: one input at a time, in order.
	var readErr error
	go func() {
		defer close(jobs)
		seq := 0
		send := func(j *job) bool {
			j.seq = seq
			seq++
			select {
			case jobs <- j:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for i, f := range files {
			if !send(&job{kind: 'b', file: i, name: f}) {
				return
			}
			st, err := s.reader.ReadFile(ctx, f,
				func(d corpora.Document) error {
					if !send(&job{kind: 'd', file: i, name: f, doc: d}) {
						return ctx.Err()
					}
					return nil
				},
				func(d corpora.Diagnostic) { send(&job{kind: 'x', file: i, name: f, diag: d}) })
			e := &job{kind: 'e', file: i, name: f, stats: st}
			if err != nil {
				if ctx.Err() != nil {
					readErr = ctx.Err()
					return
				}
				e.err = err.Error()
			}
			if !send(e) {
				return
			}
		}
	}()

	// Workers: tokenize and score documents; pass markers through.
	var tokens int64
	var tokMu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < s.cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := s.newScorer()
			defer s.keepScorer(sc)
			for j := range jobs {
				if j.kind == 'd' {
					sc.score(j)
					tokMu.Lock()
					tokens += int64(j.tokens)
					tokMu.Unlock()
				}
				select {
				case done <- j:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()

	// Orderer: emit in input order; keep records for the q-values.
	spill := &spillBuffer{dir: s.cfg.SpillDir, limit: s.spillMemory}
	defer spill.close()
	var log10p []float64
	pending := map[int]*job{}
	next := 0
	sum := Summary{Type: "summary", Alpha: s.cfg.Alpha, FDR: s.cfg.FDR, Tokenizer: s.cfg.Tokenizer.Name(), Files: len(files)}
	var progress Progress
	var sinkErr error
	record := func(j *job, v any) error {
		if s.cfg.OutDir == "" {
			return spill.add(v.(spilled))
		}
		fo, err := s.fileOutFor(j.file, j.name)
		if err != nil {
			return err
		}
		switch x := v.(type) {
		case spilled:
			switch {
			case x.Doc != nil:
				fo.docs++
				return fo.records.write(x.Doc)
			case x.Diag != nil:
				return fo.records.write(x.Diag)
			case x.File != nil && x.File.Type == "begin":
				return fo.records.write(x.File)
			case x.File != nil:
				return s.closeFileOut(j.file, j.name, *x.File)
			}
		}
		return nil
	}
	emit := func(j *job) {
		if sinkErr != nil {
			return
		}
		switch j.kind {
		case 'd':
			for k, obs := range j.obs {
				s.pooled[k].Add(obs)
				s.obsPool.Put(&obs)
			}
			j.obs = nil
			log10p = append(log10p, j.result.Log10P)
			sinkErr = record(j, spilled{Doc: &j.result})
			progress.Documents++
			if j.result.Detected {
				progress.Flagged++
			}
			if s.cfg.Progress != nil && progress.Documents%256 == 0 {
				p := progress
				p.Bytes += j.doc.InputOffset
				s.cfg.Progress(p)
			}
		case 'x':
			sum.Errors++
			progress.Errors++
			sinkErr = record(j, spilled{Diag: &Diagnostic{Type: "error", File: j.name, Location: j.diag.Location, Message: j.diag.Err.Error()}})
		case 'b':
			sinkErr = record(j, spilled{File: &FileEvent{Type: "begin", File: j.name, Index: j.file}})
		case 'e':
			ev := FileEvent{Type: "end", File: j.name, Index: j.file, FileStats: j.stats, Error: j.err}
			if j.err != "" {
				sum.Errors++
				sum.FailedFiles++
				progress.Errors++
			}
			sum.Bytes += j.stats.Bytes
			progress.Bytes += j.stats.Bytes
			progress.Files++
			sinkErr = record(j, spilled{File: &ev})
			if s.cfg.Progress != nil {
				s.cfg.Progress(progress)
			}
		}
	}
	for j := range done {
		pending[j.seq] = j
		for {
			pj, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			emit(pj)
			next++
		}
		if sinkErr != nil {
			cancel()
		}
	}
	if err := ctx.Err(); err != nil && sinkErr == nil {
		if readErr != nil {
			return sum, readErr
		}
	}
	if sinkErr != nil {
		return sum, fmt.Errorf("scan: %w", sinkErr)
	}
	if readErr != nil {
		return sum, readErr
	}
	if s.cfg.OutDir != "" {
		if err := s.workerError(); err != nil {
			return sum, fmt.Errorf("scan: output directory: %w", err)
		}
		fill := func(m *Summary) { m.Tokens, m.Seconds = tokens, time.Since(start).Seconds() }
		merged, err := Merge(s.cfg.OutDir, MergeOptions{Alpha: s.cfg.Alpha, FDR: s.cfg.FDR}, timedSink{sink, fill})
		fill(&merged)
		return merged, err
	}
	sum.Tokens = tokens
	sum.Documents = len(log10p)

	// q-values, flags, and the final records in order.
	q := detect.BenjaminiHochberg(log10p)
	docIndex, fileFlagged := 0, 0
	err := spill.replay(func(rec spilled) error {
		switch {
		case rec.Doc != nil:
			d := rec.Doc
			if d.setQValue(q[docIndex], s.cfg.FDR) {
				sum.Flagged++
				fileFlagged++
			}
			docIndex++
			return sink.Doc(*d)
		case rec.Diag != nil:
			return sink.Diagnostic(*rec.Diag)
		case rec.File != nil && rec.File.Type == "begin":
			fileFlagged = 0
			return sink.Begin(*rec.File)
		case rec.File != nil:
			rec.File.Flagged = fileFlagged
			return sink.End(*rec.File)
		}
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("scan: %w", err)
	}
	s.pooledSummary(&sum)
	sum.Seconds = time.Since(start).Seconds()
	return sum, sink.Summary(sum)
}

// spilled is one line of the spill file.
type spilled struct {
	Doc  *Doc        `json:"d,omitempty"`
	Diag *Diagnostic `json:"x,omitempty"`
	File *FileEvent  `json:"f,omitempty"`
}

// pooledSummary fills the corpus-level test, with Holm's correction over
// keys.
func (s *Scanner) pooledSummary(sum *Summary) {
	var results []detect.Result
	for _, p := range s.pooled {
		r := p.Result()
		sum.PerKey = append(sum.PerKey, keyPooled(r.Result, r.Exact, r.Tally))
		results = append(results, r.Result)
	}
	fillPooled(sum, results, s.cfg.Alpha)
}

// scorer is one worker's detectors.
type scorer struct {
	s    *Scanner
	dets []*detect.Detector
	ids  []uint32
	err  error // first output error (OutDir)
}

func (s *Scanner) newScorer() *scorer {
	sc := &scorer{s: s}
	for i, sch := range s.cfg.Schemes {
		sc.dets = append(sc.dets, detect.NewFrom(s.pooledDetector(i), s.exclude[sch.ContextWidth()+1]))
	}
	return sc
}

// score tokenizes and scores one document under every key, feeding the
// pooled tests.
func (sc *scorer) score(j *job) {
	var err error
	sc.ids, err = sc.s.cfg.Tokenizer.AppendEncode(sc.ids[:0], j.doc.Text)
	d := Doc{Type: "doc", File: j.name, ID: j.doc.ID, Location: j.doc.Location, Tokens: len(sc.ids)}
	j.tokens = len(sc.ids)
	if err != nil {
		d.PValue, d.Scheme = 1, sc.s.cfg.Schemes[0].Spec()
		j.result = d
		return
	}
	results := make([]detect.Result, len(sc.dets))
	var out *fileOut
	if sc.s.cfg.OutDir != "" {
		out, sc.err = sc.s.fileOutFor(j.file, j.name)
	}
	for k, det := range sc.dets {
		results[k] = det.Tokens(sc.ids)
		switch {
		case out != nil:
			if err := out.add(k, sc.s.key, det.Observations()); err != nil && sc.err == nil {
				sc.err = err
			}
		case sc.s.offload:
			if j.obs == nil {
				j.obs = make([][]watermark.Observation, len(sc.dets))
			}
			buf, _ := sc.s.obsPool.Get().(*[]watermark.Observation)
			if buf == nil {
				buf = new([]watermark.Observation)
			}
			*buf = append((*buf)[:0], det.Observations()...)
			j.obs[k] = *buf
		default:
			sc.s.pooled[k].Add(det.Observations())
		}
	}
	c := detect.Combine(results, sc.s.cfg.Alpha)
	d.Scored, d.KeyID, d.Scheme, d.Payload = c.Scored, c.KeyID, c.Scheme, c.Payload
	d.Log10P, d.PValue, d.Detected = c.Log10P, c.PValue, c.Detected
	if len(sc.dets) > 1 && len(c.MatchedKeys) > 0 {
		d.Matched = c.MatchedKeys
	}
	j.result = d
}

// keepScorer remembers a finished worker's scorer, for its output error.
func (s *Scanner) keepScorer(sc *scorer) {
	s.outMu.Lock()
	s.scorers = append(s.scorers, sc)
	s.outMu.Unlock()
}

// workerError returns the first output error of any worker.
func (s *Scanner) workerError() error {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	for _, sc := range s.scorers {
		if sc.err != nil {
			return sc.err
		}
	}
	return nil
}

// timedSink fills the run's token count and time into the summary.
type timedSink struct {
	Sink
	fill func(*Summary)
}

func (t timedSink) Summary(s Summary) error {
	t.fill(&s)
	return t.Sink.Summary(s)
}
