package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// Machine describes the computer a run was timed on.
type Machine struct {
	CPU       string `json:"cpu"`   // /proc/cpuinfo "model name", else GOARCH
	Cores     int    `json:"cores"` // runtime.NumCPU
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	GoVersion string `json:"go_version"`
}

// detectMachine describes the machine the process runs on.
func detectMachine() Machine {
	m := Machine{CPU: runtime.GOARCH, Cores: runtime.NumCPU(), OS: runtime.GOOS,
		Arch: runtime.GOARCH, GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if name := cpuModelName(string(b)); name != "" {
			m.CPU = name
		}
	}
	return m
}

// cpuModelName returns the first "model name" of a /proc/cpuinfo listing,
// with its spaces collapsed ("" if there is none).
func cpuModelName(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			if v = strings.Join(strings.Fields(v), " "); v != "" {
				return v
			}
		}
	}
	return ""
}

// SpeedResult is the speed section: every cost is reported next to a
// baseline timed in the same run, on the same machine, and read as a ratio.
type SpeedResult struct {
	Machine   Machine        `json:"machine"`
	Repeats   int            `json:"repeats"` // each figure is the median of this many repeats
	Seconds   float64        `json:"seconds"`
	Embedding SpeedEmbedding `json:"embedding"`
	Detection SpeedDetection `json:"detection"`
	Scan      SpeedScan      `json:"scan"`
}

// SpeedEmbedding is the cost of marking a token at generation time.
type SpeedEmbedding struct {
	// Contexts is the number of Opticks positions whose top-K candidates
	// (from the built-in model) every pass samples from.
	Contexts int `json:"contexts"`
	K        int `json:"k"`
	// Candidates: SampleLogits on the K candidates against the plain
	// sampler (watermark.SampleLogitsUnmarked) on the same lists.
	Candidates []SpeedPair `json:"candidates"`
	// FullVocab: one draw from a whole vocabulary of Vocab logits (ids ==
	// nil), marked by SampleLogits or by BiasLogits followed by the plain
	// sampler, against the plain sampler.
	Vocab     int         `json:"full_vocab_size"`
	FullVocab []SpeedPair `json:"full_vocab"`
	// Step: a whole generation step, the model's TopK then the (marked or
	// plain) draw, per token.
	Step []SpeedPair `json:"generation_step"`
}

// SpeedPair is one marked operation against its unmarked baseline, timed
// alternately in the same run.
type SpeedPair struct {
	Scheme   string  `json:"scheme"`
	Method   string  `json:"method"`
	Calls    int     `json:"calls"`     // marked calls timed, over all repeats
	PlainNs  float64 `json:"plain_ns"`  // per call, median over repeats
	MarkedNs float64 `json:"marked_ns"` // per call, median over repeats
	Ratio    float64 `json:"ratio"`     // MarkedNs / PlainNs
}

// SpeedRate is a throughput.
type SpeedRate struct {
	TokensPerSec float64 `json:"tokens_per_s"`
	MBPerSec     float64 `json:"mb_per_s"` // 10^6 bytes of text per second
}

// SpeedDetection is detection against tokenization alone.
type SpeedDetection struct {
	Corpora   []SpeedDetectCorpus `json:"corpora"`
	Reference SpeedReference      `json:"reference_tokenizer"`
}

// SpeedDetectCorpus is tokenization and detection on one corpus, cut into
// documents of about speedDocBytes.
type SpeedDetectCorpus struct {
	Name      string        `json:"name"`
	Source    string        `json:"source"`
	Documents int           `json:"documents"`
	Bytes     int           `json:"bytes"`
	Tokens    int           `json:"tokens"`
	Tokenize  SpeedRate     `json:"tokenize"` // tok.AppendEncode alone
	Schemes   []SpeedDetect `json:"schemes"`
}

// SpeedDetect is tokenization plus detect.Detector.Tokens under one scheme.
type SpeedDetect struct {
	Scheme string    `json:"scheme"`
	Rate   SpeedRate `json:"rate"`
	// TimeRatio is the time of tokenize+detect over that of tokenization
	// alone: Tokenize.TokensPerSec / Rate.TokensPerSec.
	TimeRatio float64 `json:"time_ratio"`
}

// SpeedReference compares the built-in tokenizer with tiktoken-go on the
// same (smaller) sample.
type SpeedReference struct {
	Name      string    `json:"name"`
	Bytes     int       `json:"bytes"`
	Tokens    int       `json:"tokens"`
	Builtin   SpeedRate `json:"builtin"`
	Reference SpeedRate `json:"reference"`
	// Speedup is Builtin.MBPerSec / Reference.MBPerSec.
	Speedup float64 `json:"speedup"`
	// SameTokens reports whether both produced the same token IDs.
	SameTokens bool `json:"same_tokens"`
}

// SpeedScan is `tracemark scan` on a .jsonl.zst file against in-memory
// tokenization and detection of the same documents.
type SpeedScan struct {
	Scheme    string `json:"scheme"`
	Documents int    `json:"documents"`
	TextBytes int    `json:"text_bytes"`
	FileBytes int    `json:"file_bytes"` // compressed .jsonl.zst
	Tokens    int    `json:"tokens"`
	Workers   int    `json:"workers"` // "all": runtime.NumCPU
	// Tokenize and Detect run on one goroutine over the texts in memory.
	Tokenize SpeedRate `json:"tokenize"`
	Detect   SpeedRate `json:"detect"`
	Scan1    SpeedRate `json:"scan_1"`
	ScanAll  SpeedRate `json:"scan_all"`
	// Ratios of MB/s: Scan1/Tokenize, Scan1/Detect and ScanAll/Scan1.
	Scan1VsTokenize float64 `json:"scan1_vs_tokenize"`
	Scan1VsDetect   float64 `json:"scan1_vs_detect"`
	AllVs1          float64 `json:"all_vs_1"`
}

const (
	speedK          = 40      // candidates per step, as generate.DefaultSettings
	speedFullVocab  = 200_019 // logits dimension of o200k_base models
	speedDocBytes   = 4000    // detection documents: about 1,000 tokens
	speedScanDoc    = 2000    // scan documents: about 500 tokens
	speedCodePkg    = "net/http"
	speedSchemeSeed = "speed/scheme"
)

// speed sizes, scaled by Config.Quick.
func (c Config) speedRepeats() int    { return c.scale(3, 1) }
func (c Config) speedContexts() int   { return c.scale(2000, 300) }
func (c Config) speedProseBytes() int { return c.scale(4_000_000, 200_000) }
func (c Config) speedCodeBytes() int  { return c.scale(4_000_000, 100_000) }
func (c Config) speedScanBytes() int  { return c.scale(8_000_000, 300_000) }
func (c Config) speedMinDur() time.Duration {
	return time.Duration(c.scale(60, 10)) * time.Millisecond
}

// runSpeed times, in one run: the embedding overhead of each scheme against
// the plain sampler (on the built-in model's top-40 candidate lists, on a
// full vocabulary, and for a whole generation step), tokenization plus
// detection against tokenization alone (prose and code, with tiktoken-go
// for reference), and the scanner on a .jsonl.zst file with one and all
// workers against in-memory tokenization and detection. Every figure is the
// median of a few repeats; marked and plain passes alternate so that drift
// in the machine's speed falls on both.
func runSpeed(ctx context.Context, e *env) (*SpeedResult, error) {
	start := time.Now()
	res := &SpeedResult{Machine: detectMachine(), Repeats: e.cfg.speedRepeats()}
	tok, err := e.tokenizer()
	if err != nil {
		return nil, err
	}
	m, err := e.model()
	if err != nil {
		return nil, err
	}
	schemes, err := e.speedSchemes()
	if err != nil {
		return nil, err
	}
	if err := e.speedEmbedding(ctx, res, tok, m, schemes); err != nil {
		return nil, err
	}
	if err := e.speedDetection(ctx, res, tok, schemes); err != nil {
		return nil, err
	}
	if err := e.speedScan(ctx, res, tok, schemes[0]); err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	e.logf("speed: done in %.1fs", res.Seconds)
	return res, nil
}

// speedSchemes binds defaultSchemes to keys; payload schemes get a payload.
func (e *env) speedSchemes() ([]watermark.Scheme, error) {
	out := make([]watermark.Scheme, len(defaultSchemes))
	for i, spec := range defaultSchemes {
		s, err := e.scheme(spec, speedSchemeSeed, uint64(i))
		if err != nil {
			return nil, err
		}
		if s, _, err = watermark.RandomPayload(s, e.rng("speed/payload", uint64(i))); err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// speedLabel names a scheme in tables: its canonical spec, with a note when
// it carries a payload.
func speedLabel(s watermark.Scheme) string {
	if k, ok := watermark.CarriesPayload(s); ok {
		if _, set := k.Payload(); set {
			return s.Spec() + " (payload set)"
		}
	}
	return s.Spec()
}

// speedMedian returns the median of xs (NaN for none).
func speedMedian(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// speedAlternate runs plain and marked passes alternately, swapping which
// goes first every round so that drift and cache warmth fall on both alike,
// until each ran minRounds times and marked passes took minDur in total, or
// maxRounds is reached. Each pass returns the time it measured.
func speedAlternate(ctx context.Context, minRounds, maxRounds int, minDur time.Duration,
	plain, marked func() (time.Duration, error)) (tp, tm time.Duration, rounds int, err error) {
	for rounds < maxRounds && (rounds < minRounds || tm < minDur) {
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		first, second := plain, marked
		if rounds%2 == 1 {
			first, second = marked, plain
		}
		a, err := first()
		if err != nil {
			return 0, 0, 0, err
		}
		b, err := second()
		if err != nil {
			return 0, 0, 0, err
		}
		if rounds%2 == 1 {
			a, b = b, a
		}
		tp += a
		tm += b
		rounds++
	}
	return tp, tm, rounds, nil
}

// speedPair repeats speedAlternate and returns the median time per call of
// each side (a pass makes calls calls) and the number of marked calls.
func speedPair(ctx context.Context, repeats, calls, minRounds, maxRounds int, minDur time.Duration,
	plain, marked func() (time.Duration, error)) (plainNs, markedNs float64, total int, err error) {
	var ps, ms []float64
	for r := 0; r < repeats; r++ {
		tp, tm, rounds, err := speedAlternate(ctx, minRounds, maxRounds, minDur, plain, marked)
		if err != nil {
			return 0, 0, 0, err
		}
		n := float64(rounds * calls)
		ps = append(ps, float64(tp.Nanoseconds())/n)
		ms = append(ms, float64(tm.Nanoseconds())/n)
		total += rounds * calls
	}
	return speedMedian(ps), speedMedian(ms), total, nil
}

func newSpeedPair(scheme, method string, calls int, plainNs, markedNs float64) SpeedPair {
	return SpeedPair{Scheme: scheme, Method: method, Calls: calls, PlainNs: plainNs, MarkedNs: markedNs, Ratio: markedNs / plainNs}
}

// speedCands holds the candidate lists of the embedding benchmark.
type speedCands struct {
	toks []uint32  // Opticks, tokenized
	pos  []int     // context j is toks[:pos[j]]
	ids  []uint32  // candidates of context j at [j*speedK, j*speedK+cnt[j])
	lp   []float32 // their natural-log probabilities (the logits)
	cnt  []int
	sink uint32 // the sampled tokens, folded, so no draw is optimized away
}

func (c *speedCands) cand(j int) ([]uint32, []float32) {
	lo := j * speedK
	return c.ids[lo : lo+c.cnt[j]], c.lp[lo : lo+c.cnt[j]]
}

// draw samples one token from candidates ids with logits lp after ctx,
// marked by s, or with the unmarked sampler when s is nil (the branch goes
// the same way for a whole timing, so the processor predicts it and it costs
// nothing beside a draw).
func draw(s watermark.Scheme, ctx, ids []uint32, lp []float32, rng *rand.Rand) (uint32, error) {
	if s == nil {
		return watermark.SampleLogitsUnmarked(ids, lp, rng)
	}
	return s.SampleLogits(ctx, ids, lp, rng)
}

// draws samples every context's candidates, marked by s, or plain when s is
// nil.
func (c *speedCands) draws(s watermark.Scheme, rng *rand.Rand) (time.Duration, error) {
	var acc uint32
	t0 := time.Now()
	for j, p := range c.pos {
		ids, lp := c.cand(j)
		t, err := draw(s, c.toks[:p], ids, lp, rng)
		if err != nil {
			return 0, err
		}
		acc ^= t
	}
	d := time.Since(t0)
	c.sink ^= acc
	return d, nil
}

// step runs a whole generation step on every context: the model's top-K,
// then the draw (marked by s, or plain when s is nil).
func (c *speedCands) step(sess *ngram.Session, s watermark.Scheme, rng *rand.Rand, ids []uint32, lp []float32) (time.Duration, error) {
	var acc uint32
	t0 := time.Now()
	for _, p := range c.pos {
		ctx := c.toks[:p]
		n := sess.TopK(ctx, speedK, ids, lp)
		t, err := draw(s, ctx, ids[:n], lp[:n], rng)
		if err != nil {
			return 0, err
		}
		acc ^= t
	}
	d := time.Since(t0)
	c.sink ^= acc
	return d, nil
}

func (e *env) speedEmbedding(ctx context.Context, res *SpeedResult, tok tokenize.Tokenizer, m *ngram.Model, schemes []watermark.Scheme) error {
	reps := e.cfg.speedRepeats()
	minDur := e.cfg.speedMinDur()
	doc, err := corpora.Opticks()
	if err != nil {
		return err
	}
	toks, err := tok.AppendEncode(nil, doc.Text)
	if err != nil {
		return err
	}
	if len(toks) < 100 {
		return fmt.Errorf("speed: Opticks has only %d tokens", len(toks))
	}
	n := e.cfg.speedContexts()
	c := &speedCands{toks: toks, pos: make([]int, n), ids: make([]uint32, n*speedK),
		lp: make([]float32, n*speedK), cnt: make([]int, n)}
	sess := m.NewSession()
	prng := e.rng("speed/contexts")
	for j := range n {
		p := 8 + prng.IntN(len(toks)-8)
		c.pos[j] = p
		lo := j * speedK
		c.cnt[j] = sess.TopK(toks[:p], speedK, c.ids[lo:lo+speedK], c.lp[lo:lo+speedK])
		if c.cnt[j] == 0 {
			return fmt.Errorf("speed: the model gives no candidates at Opticks token %d", p)
		}
	}
	emb := &res.Embedding
	emb.Contexts, emb.K, emb.Vocab = n, speedK, speedFullVocab
	rng := e.rng("speed/sample")
	runtime.GC()

	// Sampling from the K candidates.
	for _, s := range schemes {
		pn, mn, calls, err := speedPair(ctx, reps, n, 2, 1000, minDur,
			func() (time.Duration, error) { return c.draws(nil, rng) },
			func() (time.Duration, error) { return c.draws(s, rng) })
		if err != nil {
			return err
		}
		emb.Candidates = append(emb.Candidates, newSpeedPair(speedLabel(s), "SampleLogits", calls, pn, mn))
		e.logf("speed: %s: sample k=%d: %.0f vs %.0f ns/call (×%.2f)", s.Spec(), speedK, mn, pn, mn/pn)
	}

	// The whole vocabulary: the model's dense log-probabilities at a few
	// contexts, special tokens (beyond the model's vocabulary) masked.
	const nVecs = 4
	vecs := make([][]float32, nVecs)
	for i := range vecs {
		v := make([]float32, speedFullVocab)
		for j := range v {
			v[j] = float32(math.Inf(-1))
		}
		sess.Logits(toks[:c.pos[i]], v[:min(m.VocabSize(), speedFullVocab)])
		vecs[i] = v
	}
	work := make([]float32, speedFullVocab)
	var call int
	// one times a single draw on a fresh copy of a logits vector (the copy
	// is not timed, and is made for both sides alike).
	one := func(f func(ctx []uint32, logits []float32) (uint32, error)) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			copy(work, vecs[call%nVecs])
			ctx := toks[:c.pos[call%n]]
			call++
			t0 := time.Now()
			t, err := f(ctx, work)
			d := time.Since(t0)
			c.sink ^= t
			return d, err
		}
	}
	plainFull := one(func(_ []uint32, l []float32) (uint32, error) { return watermark.SampleLogitsUnmarked(nil, l, rng) })
	maxCalls := e.cfg.scale(100, 10)
	for _, s := range schemes {
		type method struct {
			name string
			f    func([]uint32, []float32) (uint32, error)
		}
		methods := []method{{"SampleLogits(ids=nil)", func(ctx []uint32, l []float32) (uint32, error) { return s.SampleLogits(ctx, nil, l, rng) }}}
		if k, ok := s.(interface {
			BiasLogits(ctx []uint32, logits []float32)
		}); ok {
			methods = append(methods, method{"BiasLogits + plain sampler", func(ctx []uint32, l []float32) (uint32, error) {
				k.BiasLogits(ctx, l)
				return watermark.SampleLogitsUnmarked(nil, l, rng)
			}})
		}
		for _, mt := range methods {
			pn, mn, calls, err := speedPair(ctx, reps, 1, 2, maxCalls, 2*minDur, plainFull, one(mt.f))
			if err != nil {
				return err
			}
			emb.FullVocab = append(emb.FullVocab, newSpeedPair(speedLabel(s), mt.name, calls, pn, mn))
			e.logf("speed: %s: full vocabulary, %s: %.0f vs %.0f µs/call (×%.2f)", s.Spec(), mt.name, mn/1e3, pn/1e3, mn/pn)
		}
	}
	work, vecs = nil, nil
	runtime.GC()

	// A whole generation step: top-K from the model, then the draw.
	ids, lp := make([]uint32, speedK), make([]float32, speedK)
	for _, s := range schemes {
		pn, mn, calls, err := speedPair(ctx, reps, n, 1, 1000, minDur,
			func() (time.Duration, error) { return c.step(sess, nil, rng, ids, lp) },
			func() (time.Duration, error) { return c.step(sess, s, rng, ids, lp) })
		if err != nil {
			return err
		}
		emb.Step = append(emb.Step, newSpeedPair(speedLabel(s), "TopK + SampleLogits", calls, pn, mn))
		e.logf("speed: %s: generation step: %.0f vs %.0f ns/token (×%.3f)", s.Spec(), mn, pn, mn/pn)
	}
	return nil
}

// speedDocs is a corpus cut into documents.
type speedDocs struct {
	texts  []string
	bytes  int
	tokens int
}

// cutDocs cuts the texts into documents of about size bytes (at line ends)
// until total bytes are taken.
func cutDocs(texts []string, size, total int) *speedDocs {
	d := &speedDocs{}
	for _, t := range texts {
		for len(t) > 0 && d.bytes < total {
			n := len(t)
			if n > size {
				if i := strings.IndexByte(t[size:], '\n'); i >= 0 {
					n = size + i + 1
				}
			}
			d.texts = append(d.texts, t[:n])
			d.bytes += n
			t = t[n:]
		}
	}
	return d
}

// countTokens tokenizes the documents once (also growing *buf).
func (d *speedDocs) countTokens(tok tokenize.Tokenizer, buf *[]uint32) error {
	d.tokens = 0
	for _, t := range d.texts {
		ids, err := tok.AppendEncode((*buf)[:0], t)
		if err != nil {
			return err
		}
		*buf = ids
		d.tokens += len(ids)
	}
	return nil
}

// tokenizePass tokenizes every document.
func (d *speedDocs) tokenizePass(tok tokenize.Tokenizer, buf *[]uint32) (time.Duration, error) {
	ids := *buf
	var err error
	t0 := time.Now()
	for _, t := range d.texts {
		if ids, err = tok.AppendEncode(ids[:0], t); err != nil {
			return 0, err
		}
	}
	dur := time.Since(t0)
	*buf = ids
	return dur, nil
}

// detectPass tokenizes and scores every document.
func (d *speedDocs) detectPass(tok tokenize.Tokenizer, det *detect.Detector, buf *[]uint32) (time.Duration, error) {
	ids := *buf
	var err error
	var acc int
	t0 := time.Now()
	for _, t := range d.texts {
		if ids, err = tok.AppendEncode(ids[:0], t); err != nil {
			return 0, err
		}
		acc += det.Tokens(ids).Tokens
	}
	dur := time.Since(t0)
	*buf = ids
	if acc != d.tokens {
		return 0, fmt.Errorf("speed: detection scored %d tokens, tokenization gave %d", acc, d.tokens)
	}
	return dur, nil
}

// rate converts a time for all the documents into a throughput.
func speedRate(tokens, bytes int, ns float64) SpeedRate {
	s := ns / 1e9
	return SpeedRate{TokensPerSec: float64(tokens) / s, MBPerSec: float64(bytes) / 1e6 / s}
}

func (e *env) speedDetection(ctx context.Context, res *SpeedResult, tok tokenize.Tokenizer, schemes []watermark.Scheme) error {
	reps := e.cfg.speedRepeats()
	minDur := e.cfg.speedMinDur()
	books, err := corpora.Gutenberg()
	if err != nil {
		return err
	}
	code, err := corpora.GoSource(speedCodePkg)
	if err != nil {
		return err
	}
	textsOf := func(ds []corpora.Document) []string {
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = d.Text
		}
		return out
	}
	sets := []struct {
		name, source string
		docs         *speedDocs
	}{
		{"prose", "Project Gutenberg books (corpora.Gutenberg)", cutDocs(textsOf(books), speedDocBytes, e.cfg.speedProseBytes())},
		{"code", "Go source of " + speedCodePkg + " (corpora.GoSource)", cutDocs(textsOf(code), speedDocBytes, e.cfg.speedCodeBytes())},
	}
	var buf []uint32
	for _, set := range sets {
		d := set.docs
		if err := d.countTokens(tok, &buf); err != nil {
			return err
		}
		runtime.GC()
		var tokNs []float64
		var rows []SpeedDetect
		rowNs := make([]float64, len(schemes))
		for i, s := range schemes {
			det, err := detect.New(s, detect.Options{Tokenizer: tok.Name()})
			if err != nil {
				return err
			}
			var ms []float64
			for r := 0; r < reps; r++ {
				tp, tm, rounds, err := speedAlternate(ctx, 1, 1000, minDur,
					func() (time.Duration, error) { return d.tokenizePass(tok, &buf) },
					func() (time.Duration, error) { return d.detectPass(tok, det, &buf) })
				if err != nil {
					return err
				}
				tokNs = append(tokNs, float64(tp.Nanoseconds())/float64(rounds))
				ms = append(ms, float64(tm.Nanoseconds())/float64(rounds))
			}
			rowNs[i] = speedMedian(ms)
		}
		c := SpeedDetectCorpus{Name: set.name, Source: set.source, Documents: len(d.texts), Bytes: d.bytes, Tokens: d.tokens,
			Tokenize: speedRate(d.tokens, d.bytes, speedMedian(tokNs))}
		for i, s := range schemes {
			r := speedRate(d.tokens, d.bytes, rowNs[i])
			rows = append(rows, SpeedDetect{Scheme: speedLabel(s), Rate: r, TimeRatio: c.Tokenize.TokensPerSec / r.TokensPerSec})
			e.logf("speed: %s: %s: tokenize+detect %.1f MB/s, tokenize %.1f MB/s", set.name, s.Spec(), r.MBPerSec, c.Tokenize.MBPerSec)
		}
		c.Schemes = rows
		res.Detection.Corpora = append(res.Detection.Corpora, c)
	}

	// tiktoken-go for reference, on the first eighth of each corpus.
	ref, err := tokenize.Get(tokenize.ReferencePrefix + tok.Name())
	if err != nil {
		return err
	}
	sample := &speedDocs{}
	for _, set := range sets {
		part := cutDocs(set.docs.texts, speedDocBytes, set.docs.bytes/8)
		sample.texts = append(sample.texts, part.texts...)
		sample.bytes += part.bytes
	}
	if err := sample.countTokens(tok, &buf); err != nil {
		return err
	}
	same := true
	var a, b []uint32
	for _, t := range sample.texts {
		if a, err = tok.AppendEncode(a[:0], t); err != nil {
			return err
		}
		if b, err = ref.AppendEncode(b[:0], t); err != nil {
			return err
		}
		same = same && slices.Equal(a, b)
	}
	runtime.GC()
	bn, rn, _, err := speedPair(ctx, reps, 1, 1, 1000, 3*minDur,
		func() (time.Duration, error) { return sample.tokenizePass(tok, &buf) },
		func() (time.Duration, error) { return sample.tokenizePass(ref, &buf) })
	if err != nil {
		return err
	}
	rr := &res.Detection.Reference
	*rr = SpeedReference{Name: tokenize.ReferencePrefix + tok.Name(), Bytes: sample.bytes, Tokens: sample.tokens,
		Builtin: speedRate(sample.tokens, sample.bytes, bn), Reference: speedRate(sample.tokens, sample.bytes, rn), SameTokens: same}
	rr.Speedup = rr.Builtin.MBPerSec / rr.Reference.MBPerSec
	e.logf("speed: tokenizer %.1f MB/s, %s %.1f MB/s", rr.Builtin.MBPerSec, rr.Name, rr.Reference.MBPerSec)
	return nil
}

// speedNullSink discards the scanner's records.
type speedNullSink struct{}

func (speedNullSink) Begin(scan.FileEvent) error       { return nil }
func (speedNullSink) Doc(scan.Doc) error               { return nil }
func (speedNullSink) Diagnostic(scan.Diagnostic) error { return nil }
func (speedNullSink) End(scan.FileEvent) error         { return nil }
func (speedNullSink) Summary(scan.Summary) error       { return nil }

// writeScanCorpus writes the books as a .jsonl.zst file of documents of
// about speedScanDoc bytes (paragraphs joined), up to total bytes of text,
// and returns the documents.
func writeScanCorpus(path string, total int) (*speedDocs, int, error) {
	books, err := corpora.Gutenberg()
	if err != nil {
		return nil, 0, err
	}
	d := &speedDocs{}
	for _, book := range books {
		var cur strings.Builder
		flush := func() {
			if cur.Len() > 0 && d.bytes < total {
				d.texts = append(d.texts, cur.String())
				d.bytes += cur.Len()
			}
			cur.Reset()
		}
		for _, p := range strings.Split(book.Text, "\n\n") {
			cur.WriteString(p)
			cur.WriteString("\n\n")
			if cur.Len() > speedScanDoc {
				flush()
			}
		}
		flush()
		if d.bytes >= total {
			break
		}
	}
	var raw bytes.Buffer
	for i, t := range d.texts {
		line, err := json.Marshal(map[string]string{"id": strconv.Itoa(i), "text": t, "source": "gutenberg"})
		if err != nil {
			return nil, 0, err
		}
		raw.Write(line)
		raw.WriteByte('\n')
	}
	var z bytes.Buffer
	w, err := zstd.NewWriter(&z)
	if err != nil {
		return nil, 0, err
	}
	if _, err := w.Write(raw.Bytes()); err != nil {
		return nil, 0, err
	}
	if err := w.Close(); err != nil {
		return nil, 0, err
	}
	if err := os.WriteFile(path, z.Bytes(), 0o644); err != nil {
		return nil, 0, err
	}
	return d, z.Len(), nil
}

func (e *env) speedScan(ctx context.Context, res *SpeedResult, tok tokenize.Tokenizer, scheme watermark.Scheme) error {
	dir, err := os.MkdirTemp("", "tracemark-speed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "gutenberg.jsonl.zst")
	d, fileBytes, err := writeScanCorpus(path, e.cfg.speedScanBytes())
	if err != nil {
		return err
	}
	var buf []uint32
	if err := d.countTokens(tok, &buf); err != nil {
		return err
	}
	det, err := detect.New(scheme, detect.Options{Tokenizer: tok.Name()})
	if err != nil {
		return err
	}
	all := runtime.NumCPU()
	scanOnce := func(workers int) (time.Duration, error) {
		s, err := scan.New(scan.Config{Schemes: []watermark.Scheme{scheme}, Tokenizer: tok, Workers: workers, SpillDir: dir})
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		sum, err := s.Run(ctx, []string{path}, speedNullSink{})
		dur := time.Since(t0)
		if err != nil {
			return 0, err
		}
		if sum.Documents != len(d.texts) || sum.Errors != 0 {
			return 0, fmt.Errorf("speed: scan read %d documents (%d errors), wrote %d", sum.Documents, sum.Errors, len(d.texts))
		}
		return dur, nil
	}
	var tTok, tDet, t1, tAll []float64
	for r := 0; r < e.cfg.speedRepeats(); r++ {
		runtime.GC()
		steps := []struct {
			dst *[]float64
			f   func() (time.Duration, error)
		}{
			{&tTok, func() (time.Duration, error) { return d.tokenizePass(tok, &buf) }},
			{&tDet, func() (time.Duration, error) { return d.detectPass(tok, det, &buf) }},
			{&t1, func() (time.Duration, error) { return scanOnce(1) }},
			{&tAll, func() (time.Duration, error) { return scanOnce(all) }},
		}
		for _, st := range steps {
			if err := ctx.Err(); err != nil {
				return err
			}
			dur, err := st.f()
			if err != nil {
				return err
			}
			*st.dst = append(*st.dst, float64(dur.Nanoseconds()))
		}
	}
	sc := &res.Scan
	*sc = SpeedScan{Scheme: scheme.Spec(), Documents: len(d.texts), TextBytes: d.bytes, FileBytes: fileBytes, Tokens: d.tokens, Workers: all,
		Tokenize: speedRate(d.tokens, d.bytes, speedMedian(tTok)),
		Detect:   speedRate(d.tokens, d.bytes, speedMedian(tDet)),
		Scan1:    speedRate(d.tokens, d.bytes, speedMedian(t1)),
		ScanAll:  speedRate(d.tokens, d.bytes, speedMedian(tAll)),
	}
	sc.Scan1VsTokenize = sc.Scan1.MBPerSec / sc.Tokenize.MBPerSec
	sc.Scan1VsDetect = sc.Scan1.MBPerSec / sc.Detect.MBPerSec
	sc.AllVs1 = sc.ScanAll.MBPerSec / sc.Scan1.MBPerSec
	e.logf("speed: scan %.1f MB/s (1 worker), %.1f MB/s (%d workers)", sc.Scan1.MBPerSec, sc.ScanAll.MBPerSec, all)
	return nil
}

// markdown writes the section body: the machine, the tables and what they
// mean.
func (r *SpeedResult) markdown(b *strings.Builder) {
	m := r.Machine
	fmt.Fprintf(b, "Machine: %s, %d cores, %s/%s, %s. Each figure is the median of %d repeat%s (the section took %.0f s). "+
		"Absolute timings depend on the machine and its load; the ratios compare work timed alternately in the same run and are what to read.\n\n",
		m.CPU, m.Cores, m.OS, m.Arch, m.GoVersion, r.Repeats, speedPlural(r.Repeats), r.Seconds)

	e := &r.Embedding
	fmt.Fprintf(b, "**Embedding: one draw from the top-%d candidates** the built-in model gives at %d positions of Newton's *Opticks* "+
		"(`SampleLogits` against the plain sampler `watermark.SampleLogitsUnmarked` on the same lists):\n\n", e.K, e.Contexts)
	b.WriteString("| Scheme | plain (ns/call) | marked (ns/call) | marked / plain |\n|---|---:|---:|---:|\n")
	for _, p := range e.Candidates {
		fmt.Fprintf(b, "| `%s` | %.0f | %.0f | %.2f |\n", p.Scheme, p.PlainNs, p.MarkedNs, p.Ratio)
	}
	fmt.Fprintf(b, "\n**Embedding: one draw from the whole vocabulary** (%d logits, `ids == nil`; the model's log-probabilities, special tokens masked):\n\n", e.Vocab)
	b.WriteString("| Scheme | marked by | plain (µs/call) | marked (µs/call) | marked / plain | calls |\n|---|---|---:|---:|---:|---:|\n")
	for _, p := range e.FullVocab {
		fmt.Fprintf(b, "| `%s` | %s | %.0f | %.0f | %.2f | %d |\n", p.Scheme, p.Method, p.PlainNs/1e3, p.MarkedNs/1e3, p.Ratio, p.Calls)
	}
	fmt.Fprintf(b, "\n**A whole generation step** (the model's top-%d, then the draw), per token:\n\n", e.K)
	b.WriteString("| Scheme | plain step (µs/token) | marked step (µs/token) | marked / plain |\n|---|---:|---:|---:|\n")
	for _, p := range e.Step {
		fmt.Fprintf(b, "| `%s` | %.2f | %.2f | %.3f |\n", p.Scheme, p.PlainNs/1e3, p.MarkedNs/1e3, p.Ratio)
	}

	b.WriteString("\n**Detection against tokenization alone** (one goroutine, documents of about 4 kB in memory; the time ratio is that of tokenizing and scoring over tokenizing alone):\n\n")
	b.WriteString("| Corpus | Work | MB/s | M tokens/s | time / tokenization |\n|---|---|---:|---:|---:|\n")
	for _, c := range r.Detection.Corpora {
		name := fmt.Sprintf("%s (%s; %d documents, %.1f MB, %d tokens)", c.Name, c.Source, c.Documents, float64(c.Bytes)/1e6, c.Tokens)
		fmt.Fprintf(b, "| %s | tokenization alone | %.1f | %.2f | 1 |\n", name, c.Tokenize.MBPerSec, c.Tokenize.TokensPerSec/1e6)
		for _, s := range c.Schemes {
			fmt.Fprintf(b, "| %s | tokenize + detect `%s` | %.1f | %.2f | %.2f |\n", c.Name, s.Scheme, s.Rate.MBPerSec, s.Rate.TokensPerSec/1e6, s.TimeRatio)
		}
	}
	ref := &r.Detection.Reference
	same := "the same tokens"
	if !ref.SameTokens {
		same = "**different tokens** on some documents"
	}
	fmt.Fprintf(b, "\nFor reference, on a %.2f MB sample of both corpora (%s): tracemark's tokenizer %.1f MB/s (%.2f M tokens/s), "+
		"%s %.1f MB/s (%.2f M tokens/s): ×%.1f faster.\n\n",
		float64(ref.Bytes)/1e6, same, ref.Builtin.MBPerSec, ref.Builtin.TokensPerSec/1e6,
		ref.Name, ref.Reference.MBPerSec, ref.Reference.TokensPerSec/1e6, ref.Speedup)

	s := &r.Scan
	fmt.Fprintf(b, "**Scan** (`%s`) of a .jsonl.zst file of %d Gutenberg documents of about 2 kB (%.1f MB of text, %.1f MB compressed, %d tokens):\n\n",
		s.Scheme, s.Documents, float64(s.TextBytes)/1e6, float64(s.FileBytes)/1e6, s.Tokens)
	b.WriteString("| Work | MB/s of text | M tokens/s | ratio |\n|---|---:|---:|---|\n")
	fmt.Fprintf(b, "| tokenize in memory (1 goroutine) | %.1f | %.2f | |\n", s.Tokenize.MBPerSec, s.Tokenize.TokensPerSec/1e6)
	fmt.Fprintf(b, "| tokenize + detect in memory (1 goroutine) | %.1f | %.2f | |\n", s.Detect.MBPerSec, s.Detect.TokensPerSec/1e6)
	fmt.Fprintf(b, "| scan, 1 worker | %.1f | %.2f | %.2f of tokenize, %.2f of detect |\n", s.Scan1.MBPerSec, s.Scan1.TokensPerSec/1e6, s.Scan1VsTokenize, s.Scan1VsDetect)
	fmt.Fprintf(b, "| scan, %d workers | %.1f | %.2f | ×%.2f of 1 worker |\n", s.Workers, s.ScanAll.MBPerSec, s.ScanAll.TokensPerSec/1e6, s.AllVs1)

	share := math.NaN()
	if len(e.Candidates) > 0 && len(e.Step) > 0 {
		share = 1 - e.Candidates[0].PlainNs/e.Step[0].PlainNs
	}
	fmt.Fprintf(b, "\n**What the numbers mean.** The first table is the cost of the marked draw itself: the keyed hashes of %d candidates "+
		"(and, for the tournament, its layers) against a plain softmax draw over the same list. "+
		"The whole-vocabulary table is the cost for a stack that samples from all logits: there every token of the vocabulary is hashed "+
		"(`BiasLogits` adds δ in place, for stacks that apply logits processors before their own sampler); "+
		"the tournament recomputes each token's weight layer by layer there (O(m²·V)) and belongs after top-k. "+
		"The generation-step table is the ratio a serving stack sees: with tracemark's n-gram model the model's top-%d query takes %.0f%% of a plain step, "+
		"so the mark adds little to it; with a neural model, whose forward pass takes milliseconds per token, the overhead of the mark is smaller still. "+
		"Detection is reported against tokenization, which every detector must do anyway: its time ratio is what scoring adds to reading the text as tokens. "+
		"The scan's ratios show what reading, decompressing and parsing the file, ordering results and the pooled test add to in-memory detection (1 worker), "+
		"and how it scales to all %d cores of this machine (which other work may share).\n",
		e.K, e.K, 100*share, s.Workers)
}

func speedPlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
