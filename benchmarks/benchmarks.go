// Package benchmarks measures what a watermark must be judged by: its
// false-positive rate on human text under many random keys (fpr), the
// tokens it needs to be detected (power), its survival of edits
// (robustness), its cost in text quality (quality), whether it survives
// distillation into a student model (distill), and what its speed is in a
// whole run (speed: start-up, end-to-end generation, scan throughput;
// micro-timings are `go test -bench` benchmarks of watermark, detect,
// generate and tokenize).
//
// Every section is reproducible from Config.Seed: keys, prompts, sampling
// and attacks all draw from generators seeded by it. Run stores each
// section's result in Results, which serializes to results.json and renders
// as REPORT.md with PNG plots (WriteReport). A power or quality setting
// whose Spec is "none" is the unwatermarked control. The text generator is the
// built-in order-4 n-gram model (package ngram): no neural model or
// LLM-written text is available offline, and the report says so.
package benchmarks

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// Config sets what a benchmark run does. The zero value plus a Seed is a
// valid default run.
type Config struct {
	// Seed makes the run reproducible: the same seed, code and corpora give
	// the same numbers (speed aside).
	Seed uint64
	// Quick shrinks every section to a smoke test (CI: under a minute for
	// all sections together); its numbers are too small to quote.
	Quick bool
	// Workers is the number of goroutines for parallel sections; 0 means
	// all cores.
	Workers int
	// CacheDir holds fetched corpora and the built-in model ("" means
	// ngram.CacheDir()).
	CacheDir string
	// Log receives progress lines (nil: discarded).
	Log io.Writer
	// Executable is the tracemark binary whose whole-process start-up the
	// speed section times ("" skips that measurement).
	Executable string
	// SpanTests overrides the number of null tests per scheme of the spans
	// section (0: 100,000, or 60 in a quick run).
	SpanTests int
	// Schemes restricts the fpr section to the schemes whose SPEC as
	// listed, canonical SPEC or scheme name is one of these (nil: all).
	// Each scheme keeps the random keys of a full run, so its rows equal
	// the full run's; a restricted run skips the fixed-key part.
	Schemes []string
}

// wantScheme reports whether spec is selected by c.Schemes.
func (c Config) wantScheme(spec string, cfg watermark.Config) bool {
	if len(c.Schemes) == 0 {
		return true
	}
	for _, s := range c.Schemes {
		if s == spec || s == cfg.String() || s == cfg.SchemeName() {
			return true
		}
	}
	return false
}

func (c Config) workers() int {
	if c.Workers > 0 {
		return c.Workers
	}
	return runtime.NumCPU()
}

func (c Config) cacheDir() string {
	if c.CacheDir != "" {
		return c.CacheDir
	}
	return ngram.CacheDir()
}

// scale returns full in a default run and quick in a quick one.
func (c Config) scale(full, quick int) int {
	if c.Quick {
		return quick
	}
	return full
}

// Run runs the named sections, in the order given, and stores each result
// in r, replacing that section of an earlier run; it also sets r.Seed,
// r.Quick and r.Machine from cfg and this machine (r.Tool is the caller's).
// The sections are "fpr", "power", "robustness", "quality", "distill" and
// "speed" and "spans"; an unknown name is an error before anything runs. After each
// section Run calls done (if not nil) with its name, so that the caller can
// write the report so far (WriteReport); an error from done ends the run.
// The sections share one tokenizer, built-in model and set of corpora,
// loaded on first use under ctx.
func Run(ctx context.Context, cfg Config, r *Results, sections []string, done func(section string) error) error {
	table := sectionTable()
	runs := make([]func(context.Context, *env, *Results) error, len(sections))
	for i, name := range sections {
		for _, s := range table {
			if s.name == name {
				runs[i] = s.run
			}
		}
		if runs[i] == nil {
			return fmt.Errorf("bench: unknown section %q", name)
		}
	}
	r.Seed, r.Quick, r.Machine = cfg.Seed, cfg.Quick, detectMachine()
	e := newEnv(ctx, cfg)
	for i, name := range sections {
		start := time.Now()
		e.logf("%s ...", name)
		// A section that fails leaves r's earlier result in place.
		cur := &Results{}
		if err := runs[i](ctx, e, cur); err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		r.merge(cur)
		e.logf("%s done in %v", name, time.Since(start).Round(time.Second))
		if done != nil {
			if err := done(name); err != nil {
				return err
			}
		}
	}
	return nil
}

// section is one part of the report and the function that measures it.
type section struct {
	name string
	run  func(context.Context, *env, *Results) error
}

// sectionTable lists the sections in report order.
func sectionTable() []section {
	return []section{
		{"fpr", func(ctx context.Context, e *env, r *Results) (err error) { r.FPR, err = runFPR(ctx, e); return err }},
		{"power", func(ctx context.Context, e *env, r *Results) (err error) { r.Power, err = runPower(ctx, e); return err }},
		{"robustness", func(ctx context.Context, e *env, r *Results) (err error) {
			r.Robustness, err = runRobustness(ctx, e)
			return err
		}},
		{"quality", func(ctx context.Context, e *env, r *Results) (err error) {
			r.Quality, err = runQuality(ctx, e)
			return err
		}},
		{"distill", func(ctx context.Context, e *env, r *Results) (err error) {
			r.Distill, err = runDistill(ctx, e)
			return err
		}},
		{"speed", func(ctx context.Context, e *env, r *Results) (err error) { r.Speed, err = runSpeed(ctx, e); return err }},
		{"spans", func(ctx context.Context, e *env, r *Results) (err error) { r.Spans, err = runSpans(ctx, e); return err }},
	}
}

// env holds what several sections share and is costly to build: the
// tokenizer, the built-in model, the human corpora and the judge model. It
// loads each on first use, under the context it was made with, and is safe
// for concurrent use.
type env struct {
	cfg Config

	tokenizer func() (tokenize.Tokenizer, error)
	model     func() (*ngram.Model, error)
	human     func() (humanCorpora, error)
	judged    func() (judgeModel, error)

	poolMu sync.Mutex
	pools  map[string]*pool
}

// humanCorpora are the corpora that loaded and notes on those that did not.
type humanCorpora struct {
	corpora []Corpus
	missing []string
}

// judgeModel is the quality section's second model and its description.
type judgeModel struct {
	model *ngram.Model
	name  string
}

// newEnv returns an environment for cfg whose loads run under ctx; nothing
// is loaded yet.
func newEnv(ctx context.Context, cfg Config) *env {
	e := &env{cfg: cfg, pools: map[string]*pool{}}
	e.tokenizer = sync.OnceValues(func() (tokenize.Tokenizer, error) {
		return tokenize.Get(ngram.BuiltinTokenizer)
	})
	e.model = sync.OnceValues(func() (*ngram.Model, error) {
		start := time.Now()
		m, _, err := ngram.Builtin(ctx, e.cfg.cacheDir())
		if err != nil {
			return nil, fmt.Errorf("built-in model: %w", err)
		}
		e.logf("built-in model ready in %v", time.Since(start).Round(time.Millisecond))
		return m, nil
	})
	e.human = sync.OnceValues(func() (humanCorpora, error) {
		cs, missing, err := e.loadCorpora(ctx)
		return humanCorpora{cs, missing}, err
	})
	e.judged = sync.OnceValues(func() (judgeModel, error) { return e.trainJudge(ctx) })
	return e
}

func (e *env) logf(format string, args ...any) {
	if e.cfg.Log != nil {
		fmt.Fprintf(e.cfg.Log, "bench: "+format+"\n", args...)
	}
}

// modelAndTokenizer returns the built-in model and its tokenizer.
func (e *env) modelAndTokenizer() (*ngram.Model, tokenize.Tokenizer, error) {
	m, err := e.model()
	if err != nil {
		return nil, nil, err
	}
	tok, err := e.tokenizer()
	return m, tok, err
}

// rng returns a generator determined by the run's seed and the given labels
// (a section name, then indices), so that every random choice has its own
// reproducible stream, independent of scheduling.
func (e *env) rng(label string, idx ...uint64) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(label))
	var b [8]byte
	for _, x := range idx {
		binary.LittleEndian.PutUint64(b[:], x)
		h.Write(b[:])
	}
	return rand.New(rand.NewPCG(e.cfg.Seed, h.Sum64()))
}

// key returns a random key drawn from the stream of (label, idx...).
func (e *env) key(cfg watermark.Config, label string, idx ...uint64) *watermark.Key {
	return randomKey(e.rng("key/"+label, idx...), cfg)
}

// randomKey draws a key's secret from rng.
func randomKey(rng *rand.Rand, cfg watermark.Config) *watermark.Key {
	if e, ok := cfg.(watermark.EngineConfig); ok {
		// An engine key: its words drawn from rng (below 2^63 where the
		// engine needs it, as keygen draws them).
		words := make([]uint64, e.EngineKeyWords())
		for i := range words {
			words[i] = rng.Uint64()
			if b, ok := cfg.(interface{ EngineKeyBits() int }); ok && b.EngineKeyBits() < 64 {
				words[i] &= 1<<b.EngineKeyBits() - 1
			}
		}
		return watermark.NewEngineKey(words, cfg, ngram.BuiltinTokenizer, time.Time{})
	}
	var s [watermark.SecretSize]byte
	for i := 0; i < len(s); i += 8 {
		binary.LittleEndian.PutUint64(s[i:], rng.Uint64())
	}
	return watermark.NewKey(s, cfg, ngram.BuiltinTokenizer, time.Time{})
}

// scheme parses spec and binds it to a random key of the stream (label, idx...).
func (e *env) scheme(spec, label string, idx ...uint64) (watermark.Scheme, error) {
	cfg, err := watermark.ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return watermark.NewScheme(e.key(cfg, label, idx...), cfg)
}

// parallel runs f(i) for i in [0, n) on the configured number of workers,
// stopping early when ctx is cancelled (the error is then ctx.Err()).
func (e *env) parallel(ctx context.Context, n int, f func(worker, i int) error) error {
	w := min(e.cfg.workers(), max(n, 1))
	var next int64
	var mu sync.Mutex
	var firstErr error
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next >= int64(n) {
			return -1
		}
		i := int(next)
		next++
		return i
	}
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for k := 0; k < w; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			for {
				if err := ctx.Err(); err != nil {
					fail(err)
					return
				}
				i := take()
				if i < 0 {
					return
				}
				if err := f(k, i); err != nil {
					fail(err)
					return
				}
			}
		}(k)
	}
	wg.Wait()
	return firstErr
}
