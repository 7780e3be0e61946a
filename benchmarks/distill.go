package benchmarks

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/generate"
	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/watermark"
)

// distillFractions are the shares of teacher (watermarked) text in the
// student's training corpus.
var distillFractions = []float64{0, 0.01, 0.05, 0.10, 0.50, 1}

// distillSchemes are the teacher's schemes: the default, and KGW lefthash
// with a 2-token window, the setting of the radioactivity paper.
var distillSchemes = []string{watermark.DefaultSpec, "kgw:gamma=0.25,delta=2,h=2,seeding=lefthash"}

// distillPayloadSpec is the teacher scheme of the payload-survival check.
const distillPayloadSpec = "kgw:payload_bits=32"

// distillPayloadFractions are the fractions of the payload-survival check
// (x = 0: the student trained on human text only).
var distillPayloadFractions = []float64{0, 0.05, 0.1, 0.5, 1}

// distillChunk is the length of each teacher and student completion.
const distillChunk = 200

// DistillResult is the distillation section.
type DistillResult struct {
	StudentTokens int             `json:"student_training_tokens"`
	HumanText     string          `json:"human_text"`
	Replicates    int             `json:"replicates"` // teacher keys per fraction
	QueryTokens   int             `json:"query_tokens"`
	Checkpoints   []int           `json:"checkpoints"` // student tokens queried
	Schemes       []DistillScheme `json:"schemes"`
	// NullKeys is the number of fresh keys of each scheme under which the
	// x = 0 student's answers are tested (DistillScheme.Null).
	NullKeys int `json:"null_keys"`
	// Payload: whether a 32-bit customer ID embedded by the teacher is
	// decoded from the student's answers.
	Payload []DistillPayload `json:"payload"`
	Seconds float64          `json:"seconds"`
}

// DistillScheme is one teacher scheme.
type DistillScheme struct {
	Spec string       `json:"scheme"`
	Rows []DistillRow `json:"rows"`
	Null DistillNull  `json:"null"`
}

// DistillNull is the student trained on human text only (x = 0), its
// answers tested under many fresh keys of the scheme: the pooled p-values
// must be uniform.
type DistillNull struct {
	// KSD and KSP: Kolmogorov–Smirnov against U(0,1) at each checkpoint.
	KSD []float64 `json:"ks_d"`
	KSP []float64 `json:"ks_p"`
	// Below05 and Below01: fractions of p <= 0.05 and <= 0.01 at the last
	// checkpoint, whose log10 p-values Log10P holds.
	Below05 float64   `json:"fraction_below_0.05"`
	Below01 float64   `json:"fraction_below_0.01"`
	Log10P  []float64 `json:"log10_p"`
}

// DistillRow is one fraction of watermarked training text.
type DistillRow struct {
	Fraction float64 `json:"fraction"`
	// Log10P[r][c] is the pooled test's log10 p-value for replicate r
	// after Checkpoints[c] student tokens.
	Log10P [][]float64 `json:"log10_p"`
	// Median over replicates at each checkpoint.
	Median []float64 `json:"median_log10_p"`
	// Scored and Excluded: tuples counted, and positions dropped as prompt
	// n-grams, at the last checkpoint (first replicate).
	Scored   int `json:"scored"`
	Excluded int `json:"excluded"`
}

// DistillPayload is one payload-survival trial.
type DistillPayload struct {
	Fraction float64 `json:"fraction"`
	Embedded string  `json:"embedded"`
	Decoded  string  `json:"decoded"`
	Exact    bool    `json:"exact"`
	Claimed  bool    `json:"claimed"`
	Log10P   float64 `json:"payload_log10_p"`
	// ZeroBit: the pooled zero-bit payload test (is any message there?)
	// at each checkpoint, with the fold counts (ZeroBitLog10P, test
	// ZeroBitTest at the last checkpoint) and as the test was before
	// the fold test existed (NoFoldsLog10P: the same tally without its
	// fold counts).
	ZeroBitLog10P []float64 `json:"zero_bit_log10_p"`
	NoFoldsLog10P []float64 `json:"zero_bit_no_folds_log10_p"`
	ZeroBitTest   string    `json:"zero_bit_test"`
}

func (c Config) distillTokens() int     { return c.scale(400_000, 30_000) }
func (c Config) distillQuery() int      { return c.scale(50_000, 4_000) }
func (c Config) distillReplicates() int { return c.scale(5, 1) }
func (c Config) distillNullKeys() int   { return c.scale(1000, 100) }

// distillCheckpoints are the numbers of student tokens at which the pooled
// test is read.
func distillCheckpoints(total int) []int {
	var out []int
	for _, c := range []int{1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000} {
		if c < total {
			out = append(out, c)
		}
	}
	return append(out, total)
}

// runDistill simulates distillation. A teacher (the built-in model with a
// watermark) writes completions; a student order-4 n-gram model is trained
// on a corpus where a fraction x of the tokens are the teacher's and the
// rest human text (Brown); the student answers prompts without any
// watermark; the pooled test (dedup of (context, token) tuples across all
// answers, prompt n-grams excluded) asks whether its answers carry the
// teacher's key.
func runDistill(ctx context.Context, e *env) (*DistillResult, error) {
	start := time.Now()
	cs, _, err := e.corpora()
	if err != nil {
		return nil, err
	}
	hc := corpusNamed(cs, "brown")
	if hc == nil {
		hc = corpusNamed(cs, "gutenberg")
	}
	total := e.cfg.distillTokens()
	var human [][]uint32
	for _, d := range hc.docs {
		human = append(human, d)
	}
	res := &DistillResult{StudentTokens: total, HumanText: hc.Name, Replicates: e.cfg.distillReplicates(),
		QueryTokens: e.cfg.distillQuery(), Checkpoints: distillCheckpoints(e.cfg.distillQuery()), NullKeys: e.cfg.distillNullKeys()}
	// The student is queried with other paragraphs than the teacher
	// answered (odd against even), so its answers share no prompt with the
	// teacher's text.
	queries, err := promptsOf(res.QueryTokens/distillChunk, 2, 1)
	if err != nil {
		return nil, err
	}
	// The x = 0 student does not depend on any key: train and query it once.
	nullStudent, err := e.student(ctx, nil, human, total, 0)
	if err != nil {
		return nil, err
	}
	nullAnswers, nullPrompts, err := e.studentAnswers(ctx, nullStudent, queries, "distill/answers/null")
	if err != nil {
		return nil, err
	}
	for si, spec := range distillSchemes {
		ds := DistillScheme{Spec: spec}
		// The teacher text of replicate r for a fraction x is the first
		// x·total tokens of its text for x = 1: generate that once.
		teachers := map[int][][]uint32{}
		for _, x := range distillFractions {
			row := DistillRow{Fraction: x}
			for r := 0; r < res.Replicates; r++ {
				scheme, err := e.scheme(spec, "distill/teacher", uint64(si), uint64(r))
				if err != nil {
					return nil, err
				}
				answers, prompts := nullAnswers, nullPrompts
				if x > 0 {
					if teachers[r] == nil {
						if teachers[r], err = e.teacherText(ctx, scheme, total, fmt.Sprintf("distill/teacher/%d/%d", si, r)); err != nil {
							return nil, err
						}
					}
					st, err := e.student(ctx, prefixTokens(teachers[r], int(math.Round(x*float64(total)))), human, total, x)
					if err != nil {
						return nil, err
					}
					if answers, prompts, err = e.studentAnswers(ctx, st, queries, fmt.Sprintf("distill/answers/%d/%d/%v", si, r, x)); err != nil {
						return nil, err
					}
				}
				ps, scored, excluded, _, err := pooledTest(scheme, answers, prompts, res.Checkpoints, e.dedupKey("distill/dedup", uint64(si), uint64(r), math.Float64bits(x)))
				if err != nil {
					return nil, err
				}
				row.Log10P = append(row.Log10P, ps)
				if r == 0 {
					row.Scored, row.Excluded = scored, excluded
				}
			}
			for c := range res.Checkpoints {
				var v []float64
				for _, ps := range row.Log10P {
					v = append(v, ps[c])
				}
				row.Median = append(row.Median, quantile(v, 0.5))
			}
			e.logf("distill %s x=%g: median log10 p %.2f after %d student tokens", spec, x, row.Median[len(row.Median)-1], res.QueryTokens)
			ds.Rows = append(ds.Rows, row)
		}
		if ds.Null, err = e.distillNull(spec, si, nullAnswers, nullPrompts, res.Checkpoints, res.NullKeys); err != nil {
			return nil, err
		}
		res.Schemes = append(res.Schemes, ds)
	}
	// Payload survival.
	cfg, err := watermark.ParseSpec(distillPayloadSpec)
	if err != nil {
		return nil, err
	}
	base, err := watermark.NewKGW(e.key(cfg, "distill/payload"), cfg.(watermark.KGWConfig))
	if err != nil {
		return nil, err
	}
	id := e.rng("distill/payload/id").Uint64() & 0xFFFFFFFF
	scheme, err := base.WithPayload(id)
	if err != nil {
		return nil, err
	}
	teacher, err := e.teacherText(ctx, scheme, total, "distill/payload/teacher")
	if err != nil {
		return nil, err
	}
	for _, x := range distillPayloadFractions {
		answers, prompts := nullAnswers, nullPrompts
		if x > 0 {
			st, err := e.student(ctx, prefixTokens(teacher, int(math.Round(x*float64(total)))), human, total, x)
			if err != nil {
				return nil, err
			}
			if answers, prompts, err = e.studentAnswers(ctx, st, queries, fmt.Sprintf("distill/payload/answers/%v", x)); err != nil {
				return nil, err
			}
		}
		var dp DistillPayload
		var r detect.Result
		for c := range res.Checkpoints {
			ps, _, _, pr, err := pooledTest(scheme, answers, prompts, res.Checkpoints[c:c+1], e.dedupKey("distill/payload/dedup", math.Float64bits(x)))
			if err != nil {
				return nil, err
			}
			noFolds := pr.Tally.WithoutFolds()
			old := detect.Evaluate(cfg, scheme.KeyID(), &noFolds, 0)
			dp.ZeroBitLog10P = append(dp.ZeroBitLog10P, ps[0])
			dp.NoFoldsLog10P = append(dp.NoFoldsLog10P, old.Log10P)
			r = pr.Result
		}
		dp.Fraction, dp.Embedded, dp.Decoded, dp.Claimed, dp.ZeroBitTest = x, strconv.FormatUint(id, 16), r.Payload, r.PayloadClaimed, r.Test
		dp.Exact = dp.Decoded == dp.Embedded
		if r.PayloadLog10P != nil {
			dp.Log10P = *r.PayloadLog10P
		}
		res.Payload = append(res.Payload, dp)
		e.logf("distill payload x=%g: embedded %s decoded %s, zero-bit log10 p %.2f (%s; without folds %.2f)", x, dp.Embedded, dp.Decoded,
			dp.ZeroBitLog10P[len(dp.ZeroBitLog10P)-1], dp.ZeroBitTest, dp.NoFoldsLog10P[len(dp.NoFoldsLog10P)-1])
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// distillNull tests the x = 0 student's answers under fresh keys of spec.
func (e *env) distillNull(spec string, si int, answers, prompts [][]uint32, checkpoints []int, keys int) (DistillNull, error) {
	var n DistillNull
	pv := make([][]float64, len(checkpoints))
	for k := 0; k < keys; k++ {
		scheme, err := e.scheme(spec, "distill/null", uint64(si), uint64(k))
		if err != nil {
			return n, err
		}
		ps, _, _, _, err := pooledTest(scheme, answers, prompts, checkpoints, e.dedupKey("distill/null/dedup", uint64(si), uint64(k)))
		if err != nil {
			return n, err
		}
		for c, l := range ps {
			pv[c] = append(pv[c], math.Pow(10, l))
		}
		n.Log10P = append(n.Log10P, ps[len(ps)-1])
	}
	for c := range checkpoints {
		d, p := stats.KSUniform(pv[c])
		n.KSD, n.KSP = append(n.KSD, d), append(n.KSP, p)
	}
	last := pv[len(pv)-1]
	for _, p := range last {
		if p <= 0.05 {
			n.Below05++
		}
		if p <= 0.01 {
			n.Below01++
		}
	}
	n.Below05 /= float64(len(last))
	n.Below01 /= float64(len(last))
	return n, nil
}

// dedupKey returns a DedupKey from the stream (label, idx...), so that even
// fingerprint collisions are reproducible from the seed.
func (e *env) dedupKey(label string, idx ...uint64) detect.DedupKey {
	r := e.rng(label, idx...)
	return detect.DedupKey{r.Uint64(), r.Uint64()}
}

// teacherText generates about n tokens of watermarked text with the built-in
// model, in completions of distillChunk tokens after Opticks prompts.
func (e *env) teacherText(ctx context.Context, scheme watermark.Scheme, n int, label string) ([][]uint32, error) {
	m, tok, err := e.modelAndTokenizer()
	if err != nil {
		return nil, err
	}
	k := (n + distillChunk - 1) / distillChunk
	prompts, err := promptsOf(k, 2, 0)
	if err != nil {
		return nil, err
	}
	out := make([][]uint32, k)
	err = e.parallel(ctx, k, func(_, i int) error {
		s, err := generate.NewSampler(m.NewSession(), scheme, generate.DefaultSettings())
		if err != nil {
			return err
		}
		prompt, err := tok.AppendEncode(nil, prompts[i])
		if err != nil {
			return err
		}
		c, err := s.Complete(ctx, tok, prompt, distillChunk, e.rng(label, uint64(i)))
		if err != nil {
			return err
		}
		out[i], err = tok.AppendEncode(nil, c.Text)
		return err
	})
	return out, err
}

// prefixTokens returns the leading documents of docs holding n tokens, the
// last one cut.
func prefixTokens(docs [][]uint32, n int) [][]uint32 {
	var out [][]uint32
	for _, d := range docs {
		if n <= 0 {
			break
		}
		d = d[:min(len(d), n)]
		out = append(out, d)
		n -= len(d)
	}
	return out
}

// student trains an order-4 Kneser–Ney model on teacher documents (all of
// them) followed by human documents up to total tokens in all.
func (e *env) student(ctx context.Context, teacher, human [][]uint32, total int, x float64) (*ngram.Model, error) {
	var docs [][]uint32
	n := 0
	for _, d := range teacher {
		docs = append(docs, d)
		n += len(d)
	}
	for _, d := range human {
		if n >= total {
			break
		}
		d = d[:min(len(d), total-n)]
		docs = append(docs, d)
		n += len(d)
	}
	m, err := ngram.Train(ctx, docs, ngram.BuiltinVocab)
	if err != nil {
		return nil, fmt.Errorf("train student (x=%g): %w", x, err)
	}
	return m, nil
}

// studentAnswers queries the student (no watermark) with each prompt for
// distillChunk tokens and returns the answers' tokens and the prompts'.
func (e *env) studentAnswers(ctx context.Context, m *ngram.Model, queries []string, label string) (answers, prompts [][]uint32, err error) {
	tok, err := e.tokenizer()
	if err != nil {
		return nil, nil, err
	}
	answers, prompts = make([][]uint32, len(queries)), make([][]uint32, len(queries))
	err = e.parallel(ctx, len(queries), func(_, i int) error {
		s, err := generate.NewSampler(m.NewSession(), nil, generate.DefaultSettings())
		if err != nil {
			return err
		}
		if prompts[i], err = tok.AppendEncode(nil, queries[i]); err != nil {
			return err
		}
		c, err := s.Complete(ctx, tok, prompts[i], distillChunk, e.rng(label, uint64(i)))
		if err != nil {
			return err
		}
		answers[i], err = tok.AppendEncode(nil, c.Text)
		return err
	})
	return answers, prompts, err
}

// pooledTest runs the corpus-level test of scheme over answers, in order,
// with the (h+1)-grams of the prompts excluded, and returns the log10
// p-value after each checkpoint (tokens of answers read), the tuples
// scored and positions excluded at the end, and the final result.
func pooledTest(scheme watermark.Scheme, answers, prompts [][]uint32, checkpoints []int, key detect.DedupKey) ([]float64, int, int, detect.PooledResult, error) {
	ex := detect.NewNgramSet(scheme.ContextWidth()+1, key)
	for _, p := range prompts {
		ex.AddText(p)
	}
	opts := detect.Options{Exclude: ex}
	pooled, err := detect.NewPooled(scheme, key, opts)
	if err != nil {
		return nil, 0, 0, detect.PooledResult{}, err
	}
	det, err := detect.New(scheme, opts)
	if err != nil {
		return nil, 0, 0, detect.PooledResult{}, err
	}
	var out []float64
	read, excluded := 0, 0
	next := 0
	var last detect.PooledResult
	for _, a := range answers {
		if next >= len(checkpoints) {
			break
		}
		r := det.Tokens(a)
		excluded += r.Excluded
		pooled.Add(det.Observations())
		read += len(a)
		for next < len(checkpoints) && read >= checkpoints[next] {
			last = pooled.Result()
			out = append(out, last.Log10P)
			next++
		}
	}
	for next < len(checkpoints) { // fewer tokens than the last checkpoint
		last = pooled.Result()
		out = append(out, last.Log10P)
		next++
	}
	return out, last.Scored, excluded, last, nil
}
