package benchmarks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tracemark/tracemark/generate"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/watermark"
)

// unwatermarked is the pseudo-spec of completions generated without a mark.
const unwatermarked = "none"

// completion is one generated text and what it takes to test it.
type completion struct {
	prompt    []uint32 // prompt tokens
	generated []uint32 // tokens the sampler drew
	text      string   // decoded completion
	ids       []uint32 // tokens of text: what a detector sees
	scheme    watermark.Scheme
	payload   uint64 // payload schemes: the embedded customer ID
}

// pool is a set of completions of one scheme setting, each with its own
// random key (and payload) and prompt.
type pool struct {
	spec    string
	comps   []completion
	seconds float64
}

// completionLength is the number of tokens generated per completion.
func (c Config) completionLength() int { return c.scale(800, 300) }

// completionsPerSetting is the number of completions per scheme setting.
func (c Config) completionsPerSetting() int { return c.scale(200, 8) }

// allPrompts returns n prompts: the first eight words of paragraphs of
// Newton's Opticks, text the built-in model was not trained on (cycling if
// n exceeds the paragraphs).
func allPrompts(n int) ([]string, error) { return promptsOf(n, 1, 0) }

// promptsOf returns n prompts from the paragraphs whose index is rest
// modulo every (every = 2 splits them into two disjoint sets).
func promptsOf(n, every, rest int) ([]string, error) {
	doc, err := refcorpus.Opticks()
	if err != nil {
		return nil, err
	}
	var all []string
	i := 0
	for _, para := range strings.Split(refcorpus.UnwrapParagraphs(doc.Text), "\n\n") {
		if w := strings.Fields(para); len(w) >= 20 {
			if i%every == rest {
				all = append(all, strings.Join(w[:8], " "))
			}
			i++
		}
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("prompts: no paragraphs in %s", doc.Source)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = all[i%len(all)]
	}
	return out, nil
}

// pool returns the completions of a scheme setting (unwatermarked for none),
// generating them on first use with the built-in model and default decoding
// (temperature 1, top-k 40, top-p 0.95).
func (e *env) pool(ctx context.Context, spec string) (*pool, error) {
	e.poolMu.Lock()
	defer e.poolMu.Unlock()
	var cfg watermark.Config // nil: unwatermarked
	if spec != unwatermarked {
		var err error
		if cfg, err = watermark.ParseSpec(spec); err != nil {
			return nil, err
		}
		spec = cfg.String()
	}
	if p, ok := e.pools[spec]; ok {
		return p, nil
	}
	start := time.Now()
	m, tok, err := e.modelAndTokenizer()
	if err != nil {
		return nil, err
	}
	n, length := e.cfg.completionsPerSetting(), e.cfg.completionLength()
	prompts, err := allPrompts(n)
	if err != nil {
		return nil, err
	}
	p := &pool{spec: spec, comps: make([]completion, n)}
	err = e.parallel(ctx, n, func(_, i int) error {
		c := &p.comps[i]
		var mark generate.Watermark
		if cfg != nil {
			s, err := watermark.NewScheme(e.key(cfg, "pool/"+p.spec, uint64(i)), cfg)
			if err != nil {
				return err
			}
			if s, c.payload, err = watermark.RandomPayload(s, e.rng("pool/payload/"+p.spec, uint64(i))); err != nil {
				return err
			}
			c.scheme, mark = s, s
		}
		sampler, err := generate.NewSampler(m.NewSession(), mark, generate.DefaultSettings())
		if err != nil {
			return err
		}
		if c.prompt, err = tok.AppendEncode(nil, prompts[i]); err != nil {
			return err
		}
		out, err := sampler.Complete(ctx, tok, c.prompt, length, e.rng("pool/sample/"+p.spec, uint64(i)))
		if err != nil {
			return fmt.Errorf("generate %s #%d: %w", p.spec, i, err)
		}
		c.generated, c.text = out.Tokens, out.Text
		c.ids, err = tok.AppendEncode(nil, out.Text)
		return err
	})
	if err != nil {
		return nil, err
	}
	p.seconds = time.Since(start).Seconds()
	e.logf("generated %d × %d tokens with %s in %.1f s", n, length, p.spec, p.seconds)
	e.pools[spec] = p
	return p, nil
}
