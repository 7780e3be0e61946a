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
	"github.com/tracemark/tracemark/detect/spans"
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
	// ShowText, if > 0, keeps the first ShowText characters of each
	// document in its record (Doc.Text), so an analyst can read what was
	// flagged.
	ShowText int
	// DocDedup chooses how per-document tests deduplicate: DocDedupDocument
	// (the default, "") or DocDedupCorpus.
	DocDedup DocDedup
	// DedupKey, if set, keys the tuple fingerprints of the pooled test and
	// the n-gram exclusion (default: a fresh random key per Scanner). Runs
	// that must agree on fingerprints, such as the workers of a distributed
	// scan, share one.
	DedupKey *detect.DedupKey
	// Spans adds the span test (package detect/spans) to every document:
	// its p-value becomes the span test's and Doc.Spans holds the spans.
	// It needs DocDedupDocument.
	Spans bool
	// ViewDir, if set, receives an HTML view of every detected document
	// (doc-SEQ.html, named in Doc.View); it implies Spans.
	ViewDir string
}

// DocDedup is the dedup mode of the per-document tests of a scan.
type DocDedup string

const (
	// DocDedupCorpus scores each distinct tuple of the scan in at most one
	// document: the first, in input order (file order, then document order
	// within a file), that holds it. Documents' p-values are then
	// independent across the corpus under the null, so counts of flagged
	// documents are binomial under one fixed key.
	DocDedupCorpus DocDedup = "corpus"
	// DocDedupDocument scores each document on all its distinct tuples,
	// whatever other documents hold: each p-value is exact over keys, but
	// under one fixed key documents that share a template share tuples and
	// their p-values move together.
	DocDedupDocument DocDedup = "document"
)

// ParseDocDedup parses a dedup mode name ("" is DocDedupDocument).
func ParseDocDedup(s string) (DocDedup, error) {
	switch DocDedup(s) {
	case DocDedupCorpus:
		return DocDedupCorpus, nil
	case "", DocDedupDocument:
		return DocDedupDocument, nil
	}
	return "", fmt.Errorf("scan: unknown document dedup mode %q (corpus or document)", s)
}

// Progress is a snapshot for a progress display.
type Progress struct {
	Files, Documents, Flagged, Errors int
	Bytes                             int64
}

// Doc is the result for one document: a "doc" record of the JSON output.
type Doc struct {
	Type     string  `json:"type"` // "doc"
	File     string  `json:"file"`
	ID       string  `json:"id"`
	Location string  `json:"location"`
	Tokens   int     `json:"tokens"`
	Scored   int     `json:"scored"`
	PValue   float64 `json:"p_value"`
	Log10P   float64 `json:"log10_p"`
	// DocDedup is the mode that produced PValue: "corpus" (tuples of
	// earlier documents of the scan not scored) or "document".
	DocDedup DocDedup `json:"doc_dedup"`
	QValue   *float64 `json:"q_value"` // null until filled at the end
	Log10Q   *float64 `json:"log10_q"`
	Detected bool     `json:"detected"` // p <= alpha (Holm-adjusted over keys)
	Flagged  bool     `json:"flagged"`  // detected, or q <= fdr with --fdr
	KeyID    string   `json:"key_id"`
	Matched  []string `json:"matched_keys"` // keys detected after Holm's correction; [] if none
	Payload  string   `json:"payload"`      // the best key's decoded payload (hex); "" if none
	Scheme   string   `json:"scheme"`
	// GreenFraction is the best key's green/scored (KGW without payload);
	// null for other schemes or when nothing was scored.
	GreenFraction *float64 `json:"green_fraction"`
	// PayloadClaimed and PayloadLog10P are the best key's payload verdict
	// and its log10 p-value (null without a payload).
	PayloadClaimed bool     `json:"payload_claimed"`
	PayloadLog10P  *float64 `json:"payload_log10_p"`
	// Text is the document's first Config.ShowText characters (present
	// only when asked for).
	Text string `json:"text,omitempty"`
	// Spans is the best key's span test (Config.Spans), and View the path
	// of the document's HTML view (Config.ViewDir, detected documents).
	Spans *spans.Result `json:"span_test,omitempty"`
	View  string        `json:"view,omitempty"`
}

// snippet returns the first n characters (runes) of text, with "…" when
// it was cut.
func snippet(text string, n int) string {
	i := 0
	for pos := range text {
		if i == n {
			return text[:pos] + "…"
		}
		i++
	}
	return text
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

// setEvidence sets the document's statistics from its keys' combined
// result.
func (d *Doc) setEvidence(c detect.MultiResult) {
	d.Scored, d.KeyID, d.Scheme, d.Payload = c.Scored, c.KeyID, c.Scheme, c.Payload
	d.Log10P, d.PValue, d.Detected = c.Log10P, c.PValue, c.Detected
	d.Matched = []string{}
	if len(c.MatchedKeys) > 0 {
		d.Matched = c.MatchedKeys
	}
	d.GreenFraction = nil
	if c.Gamma > 0 && c.Scored > 0 {
		g := float64(c.Green) / float64(c.Scored)
		d.GreenFraction = &g
	}
	d.PayloadClaimed = c.PayloadClaimed
	d.PayloadLog10P = nil
	if c.PayloadLog10P != nil {
		lp := *c.PayloadLog10P
		d.PayloadLog10P = &lp
	}
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
	Type        string `json:"type"` // "summary"
	Files       int    `json:"files"`
	Documents   int    `json:"documents"`
	Flagged     int    `json:"flagged"`
	Errors      int    `json:"errors"`
	FailedFiles int    `json:"failed_files"`
	// Unfinished counts the inputs of a merged output directory left
	// without a .done marker (by a crash, or a scan still running): they are
	// not in the result.
	Unfinished   int     `json:"unfinished"`
	Bytes        int64   `json:"bytes"`
	Tokens       int64   `json:"tokens"`
	Seconds      float64 `json:"seconds"`
	PooledPValue float64 `json:"pooled_p_value"` // the best key's, Holm-adjusted over keys
	PooledLog10P float64 `json:"pooled_log10_p"`
	PooledKeyID  string  `json:"pooled_key_id"`
	Detected     bool    `json:"pooled_detected"` // pooled p <= alpha
	Alpha        float64 `json:"alpha"`
	FDR          float64 `json:"fdr,omitempty"`
	Correction   string  `json:"correction"`
	// DocDedup is the mode of every document's p-value ("corpus" or
	// "document").
	DocDedup  DocDedup    `json:"doc_dedup"`
	Tokenizer string      `json:"tokenizer"`
	PerKey    []KeyPooled `json:"pooled"`
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

// Scanner runs scans.
type Scanner struct {
	cfg     Config
	reader  *corpora.Reader
	key     detect.DedupKey
	pooled  []*detect.Pooled
	dets    []*detect.Detector       // templates, one per key
	exclude map[int]*detect.NgramSet // by n-gram length h+1
	// offload moves the pooled test from the workers to the order stage,
	// when a core is left over for it (fewer workers than CPUs).
	offload bool
	resumed int // inputs the last Run skipped as finished in OutDir
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
	mode, err := ParseDocDedup(string(cfg.DocDedup))
	if err != nil {
		return nil, err
	}
	cfg.DocDedup = mode
	if err := checkSpans(&cfg); err != nil {
		return nil, err
	}
	if !(cfg.Alpha > 0 && cfg.Alpha < 1) || !(cfg.FDR >= 0 && cfg.FDR < 1) {
		return nil, fmt.Errorf("scan: alpha must be in (0, 1) and fdr in [0, 1), got %v and %v", cfg.Alpha, cfg.FDR)
	}
	r, err := corpora.NewReader(cfg.Read)
	if err != nil {
		return nil, err
	}
	key := detect.NewDedupKey()
	if cfg.DedupKey != nil {
		key = *cfg.DedupKey
	}
	s := &Scanner{cfg: cfg, reader: r, key: key, exclude: map[int]*detect.NgramSet{},
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

// Resumed returns how many inputs the last Run skipped because Config.OutDir
// holds them finished.
func (s *Scanner) Resumed() int { return s.resumed }

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

// Run scans files (already expanded) and sends every record to sink: for
// each file its begin record, its documents (with q-values over all
// documents) and diagnostics, its end record; then the summary. Cancelling
// ctx stops the scan; so does the first error of any stage, which Run
// returns. The sink sees records only once every input is scored.
func (s *Scanner) Run(ctx context.Context, files []string, sink Sink) (Summary, error) {
	start := time.Now()
	res, obs, files, err := s.stores(files)
	if err != nil {
		return Summary{}, fmt.Errorf("scan: %w", err)
	}
	defer res.close()
	sum, err := s.pipeline(ctx, files, res, obs)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return sum, fmt.Errorf("scan: %w", err)
	}
	sum, err = res.finish(sum, start, sink)
	if err != nil {
		return sum, fmt.Errorf("scan: %w", err)
	}
	return sum, nil
}

// stores chooses where a scan's tuples and records go: the in-memory
// pooled tests and a spill buffer, or with Config.OutDir the output
// directory, which also drops the inputs it holds finished from files.
func (s *Scanner) stores(files []string) (results, tupleObserver, []string, error) {
	s.resumed = 0
	if s.cfg.OutDir != "" {
		d, err := s.openOutDir(s.cfg.OutDir)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("output directory: %w", err)
		}
		files, s.resumed = d.unfinished(files)
		return d, d, files, nil
	}
	removeStaleSpills(s.cfg.SpillDir)
	res := &memResults{spill: spillBuffer{dir: s.cfg.SpillDir, limit: s.spillMemory},
		alpha: s.cfg.Alpha, fdr: s.cfg.FDR, mode: s.cfg.DocDedup}
	var obs tupleObserver
	switch {
	case s.cfg.DocDedup == DocDedupCorpus:
		ct := &corpusTuples{alpha: s.cfg.Alpha}
		for _, sch := range s.cfg.Schemes {
			ct.docs = append(ct.docs, detect.NewCorpusDocs(sch.Config(), sch.KeyID(), s.key, s.cfg.Alpha))
		}
		obs, res.pooled = ct, ct.pooledResults
	case s.offload:
		obs = &deferredTuples{pooled: s.pooled}
	default:
		obs = pooledTuples{pooled: s.pooled}
	}
	if res.pooled == nil {
		res.pooled = func() []detect.PooledResult {
			var out []detect.PooledResult
			for _, p := range s.pooled {
				out = append(out, p.Result())
			}
			return out
		}
	}
	return res, obs, files, nil
}

// pipeline runs the read, score and order stages over files until every
// job has reached res, and returns the order stage's counts. The first
// error of any stage cancels the others; pipeline returns it once every
// stage has returned.
func (s *Scanner) pipeline(ctx context.Context, files []string, res results, obs tupleObserver) (Summary, error) {
	g, ctx := newStageGroup(ctx)
	jobs := make(chan *job, 64)
	done := make(chan *job, 64)
	read := &readStage{reader: s.reader, jobs: jobs}
	g.run(func() error { return read.run(ctx, files) })
	var workers sync.WaitGroup
	for w := 0; w < s.cfg.Workers; w++ {
		workers.Add(1)
		sc := s.newScorer(obs)
		g.run(func() error {
			defer workers.Done()
			return sc.run(ctx, jobs, done)
		})
	}
	g.run(func() error {
		workers.Wait()
		close(done)
		return nil
	})
	order := s.newOrderStage(len(files), res, obs)
	g.run(func() error { return order.run(ctx, done) })
	err := g.wait()
	return order.sum, err
}

// spilled is one line of the spill file.
type spilled struct {
	Doc  *Doc        `json:"d,omitempty"`
	Diag *Diagnostic `json:"x,omitempty"`
	File *FileEvent  `json:"f,omitempty"`
}
