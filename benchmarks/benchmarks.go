// Package benchmarks measures what a watermark must be judged by: its
// false-positive rate on human text under many random keys (fpr), the
// tokens it needs to be detected (power), its survival of edits
// (robustness), its cost in text quality (quality), whether it survives
// distillation into a student model (distill), and its speed (speed).
//
// Every section is reproducible from Config.Seed: keys, prompts, sampling
// and attacks all draw from generators seeded by it. Each Run* function
// returns a result that serializes to JSON and renders itself as a section
// of REPORT.md with PNG plots (see WriteReport). The text generator is the
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

// Env holds what several sections share and is costly to build: the
// tokenizer, the built-in model and the human corpora. It loads each on
// first use and is safe for concurrent use.
type Env struct {
	cfg Config

	tokOnce sync.Once
	tok     tokenize.Tokenizer
	tokErr  error

	modelOnce sync.Once
	model     *ngram.Model
	modelErr  error

	corporaOnce sync.Once
	corpora     []Corpus
	missing     []string
	corporaErr  error

	judgeOnce  sync.Once
	judgeModel *ngram.Model
	judgeName  string
	judgeErr   error

	poolMu sync.Mutex
	pools  map[string]*pool
}

// NewEnv returns an environment for cfg; nothing is loaded yet.
func NewEnv(cfg Config) *Env { return &Env{cfg: cfg, pools: map[string]*pool{}} }

// Config returns the run's configuration.
func (e *Env) Config() Config { return e.cfg }

func (e *Env) logf(format string, args ...any) {
	if e.cfg.Log != nil {
		fmt.Fprintf(e.cfg.Log, "bench: "+format+"\n", args...)
	}
}

// Tokenizer returns the built-in model's tokenizer (o200k_base).
func (e *Env) Tokenizer() (tokenize.Tokenizer, error) {
	e.tokOnce.Do(func() { e.tok, e.tokErr = tokenize.Get(ngram.BuiltinTokenizer) })
	return e.tok, e.tokErr
}

// Model returns the built-in n-gram model, trained or loaded from the cache.
func (e *Env) Model(ctx context.Context) (*ngram.Model, error) {
	e.modelOnce.Do(func() {
		start := time.Now()
		e.model, _, e.modelErr = ngram.Builtin(ctx, e.cfg.cacheDir())
		if e.modelErr == nil {
			e.logf("built-in model ready in %v", time.Since(start).Round(time.Millisecond))
		}
	})
	return e.model, e.modelErr
}

// modelAndTokenizer returns the built-in model and its tokenizer.
func (e *Env) modelAndTokenizer(ctx context.Context) (*ngram.Model, tokenize.Tokenizer, error) {
	m, err := e.Model(ctx)
	if err != nil {
		return nil, nil, err
	}
	tok, err := e.Tokenizer()
	return m, tok, err
}

// rng returns a generator determined by the run's seed and the given labels
// (a section name, then indices), so that every random choice has its own
// reproducible stream, independent of scheduling.
func (e *Env) rng(label string, idx ...uint64) *rand.Rand {
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
func (e *Env) key(cfg watermark.Config, label string, idx ...uint64) *watermark.Key {
	return randomKey(e.rng("key/"+label, idx...), cfg)
}

// randomKey draws a key's secret from rng.
func randomKey(rng *rand.Rand, cfg watermark.Config) *watermark.Key {
	var s [watermark.SecretSize]byte
	for i := 0; i < len(s); i += 8 {
		binary.LittleEndian.PutUint64(s[i:], rng.Uint64())
	}
	return watermark.NewKey(s, cfg, ngram.BuiltinTokenizer, time.Time{})
}

// scheme parses spec and binds it to a random key of the stream (label, idx...).
func (e *Env) scheme(spec, label string, idx ...uint64) (watermark.Scheme, error) {
	cfg, err := watermark.ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return watermark.NewScheme(e.key(cfg, label, idx...), cfg)
}

// parallel runs f(i) for i in [0, n) on the configured number of workers,
// stopping early when ctx is cancelled (the error is then ctx.Err()).
func (e *Env) parallel(ctx context.Context, n int, f func(worker, i int) error) error {
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
