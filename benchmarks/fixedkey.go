package benchmarks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/generate"
	"github.com/tracemark/tracemark/internal/templated"
	"github.com/tracemark/tracemark/watermark"
)

// The fixed-key section of the null benchmark: a provider scans one corpus
// with its one key. Each p-value is valid over keys, but under one key
// documents that share tuples (a template, boilerplate, idioms of code)
// have p-values that move together, so the number of documents flagged at
// α varies from key to key far more than a binomial count would. It
// measures that variance across many fixed keys per corpus, with each
// document deduplicated on its own (document mode) and corpus-disjointly
// (detect.CorpusDocs: each tuple scored only in the first document holding
// it, scan --doc-dedup corpus).

// fixedKeyAlpha is the level at which documents are counted as flagged.
const fixedKeyAlpha = 0.01

// fixedKeyLength is the window length (tokens) of the human corpora's
// documents in this section; templated documents are used whole.
const fixedKeyLength = 200

// FixedKeyRow is the flagged-count variance of one corpus under many fixed
// keys.
type FixedKeyRow struct {
	Corpus     string        `json:"corpus"`
	Kind       string        `json:"kind"` // "templated" or "human"
	Documents  int           `json:"documents"`
	Keys       int           `json:"keys"`
	Alpha      float64       `json:"alpha"`
	Document   FixedKeyStats `json:"document_mode"`
	CorpusMode FixedKeyStats `json:"corpus_mode"`
}

// FixedKeyStats is the distribution over keys of the number of documents
// flagged at Alpha in one dedup mode.
type FixedKeyStats struct {
	MeanFlagged float64 `json:"mean_flagged"`
	MaxFlagged  int     `json:"max_flagged"`
	Variance    float64 `json:"variance"` // sample variance over keys
	// BinomialVariance is n·p(1-p) at the mean rate p = MeanFlagged/n: the
	// largest variance independent documents with that mean can have.
	BinomialVariance float64 `json:"binomial_variance"`
	Ratio            float64 `json:"variance_ratio"` // Variance / BinomialVariance (0 when that is 0)
}

// fixedKeyKeys is the number of fixed keys per corpus (200 in quick runs
// too: the variance of a variance needs them; quick runs use fewer
// documents).
func (c Config) fixedKeyKeys() int { return 200 }

// fixedKeyDocs is the number of documents per corpus.
func (c Config) fixedKeyDocs() int { return c.scale(1500, 150) }

// fixedKeyCorpus is one corpus of the section.
type fixedKeyCorpus struct {
	name, kind string
	docs       [][]uint32
}

// fixedKeyMaxTokens caps each templated document (Go source files run to
// tens of thousands of tokens; their shared headers and imports come
// first).
func (c Config) fixedKeyMaxTokens() int { return c.scale(4000, 1000) }

// fixedKeyCorpora returns the templated corpora (generated, seed-fixed)
// and the human corpora cut into windows, each at most fixedKeyDocs
// documents.
func (e *env) fixedKeyCorpora(human []Corpus) ([]fixedKeyCorpus, error) {
	tok, err := e.tokenizer()
	if err != nil {
		return nil, err
	}
	n := e.cfg.fixedKeyDocs()
	var out []fixedKeyCorpus
	for i, kind := range templated.Kinds() {
		m := n
		if kind == templated.GoSource {
			files, err := templated.GoSourceFiles()
			if err != nil {
				return nil, err
			}
			m = min(n, files)
		}
		texts, err := templated.Corpus(kind, m, e.cfg.Seed+uint64(i))
		if err != nil {
			return nil, err
		}
		c := fixedKeyCorpus{name: "templated " + kind, kind: "templated"}
		for _, t := range texts {
			ids, err := tok.AppendEncode(nil, t)
			if err != nil {
				return nil, fmt.Errorf("templated %s: %w", kind, err)
			}
			c.docs = append(c.docs, ids[:min(len(ids), e.cfg.fixedKeyMaxTokens())])
		}
		out = append(out, c)
	}
	for ci := range human {
		docs := human[ci].chunks(fixedKeyLength)
		perm := e.rng("fixedkey/perm", uint64(ci)).Perm(len(docs))
		c := fixedKeyCorpus{name: human[ci].Name, kind: "human"}
		for _, j := range perm[:min(n, len(perm))] {
			c.docs = append(c.docs, docs[j])
		}
		out = append(out, c)
	}
	return out, nil
}

// runFixedKey scores each corpus, documents in a fixed order, under
// fixedKeyKeys fixed keys (the default KGW scheme) in both dedup modes and
// tabulates the variance of the flagged count.
func runFixedKey(ctx context.Context, e *env, human []Corpus) ([]FixedKeyRow, *FixedKeyPower, error) {
	cs, err := e.fixedKeyCorpora(human)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := watermark.ParseSpec(watermark.DefaultSpec)
	if err != nil {
		return nil, nil, err
	}
	keys := e.cfg.fixedKeyKeys()
	var rows []FixedKeyRow
	for ci, c := range cs {
		t0 := time.Now()
		doc, corp := make([]int, keys), make([]int, keys)
		dets := make([]*detect.Detector, e.cfg.workers())
		err := e.parallel(ctx, keys, func(w, k int) error {
			s, err := watermark.NewScheme(randomKey(e.rng("fixedkey/key", uint64(ci), uint64(k)), cfg), cfg)
			if err != nil {
				return err
			}
			if dets[w] == nil {
				if dets[w], err = detect.New(s, detect.Options{}); err != nil {
					return err
				}
			} else if err := dets[w].SetScheme(s); err != nil {
				return err
			}
			d := dets[w]
			r := e.rng("fixedkey/dedup", uint64(ci), uint64(k))
			cd := detect.NewCorpusDocs(cfg, s.KeyID(), detect.DedupKey{r.Uint64(), r.Uint64()}, 0)
			for _, ids := range c.docs {
				if d.Tokens(ids).PValue <= fixedKeyAlpha {
					doc[k]++
				}
				if res, _ := cd.Document(d.Observations()); res.PValue <= fixedKeyAlpha {
					corp[k]++
				}
			}
			return ctx.Err()
		})
		if err != nil {
			return nil, nil, err
		}
		row := FixedKeyRow{Corpus: c.name, Kind: c.kind, Documents: len(c.docs), Keys: keys, Alpha: fixedKeyAlpha,
			Document: fixedKeyStats(doc, len(c.docs)), CorpusMode: fixedKeyStats(corp, len(c.docs))}
		e.logf("fixed keys %s: %d documents × %d keys in %v: variance ratio %.2f (document mode), %.2f (corpus mode)",
			c.name, len(c.docs), keys, time.Since(t0).Round(time.Millisecond), row.Document.Ratio, row.CorpusMode.Ratio)
		rows = append(rows, row)
	}
	power, err := runFixedKeyPower(ctx, e, cs)
	if err != nil {
		return nil, nil, err
	}
	return rows, power, nil
}

// fixedKeyStats summarizes flagged counts over keys, of n documents each.
func fixedKeyStats(counts []int, n int) FixedKeyStats {
	var s FixedKeyStats
	for _, c := range counts {
		s.MeanFlagged += float64(c)
		s.MaxFlagged = max(s.MaxFlagged, c)
	}
	s.MeanFlagged /= float64(len(counts))
	for _, c := range counts {
		d := float64(c) - s.MeanFlagged
		s.Variance += d * d
	}
	if len(counts) > 1 {
		s.Variance /= float64(len(counts) - 1)
	}
	p := s.MeanFlagged / float64(n)
	s.BinomialVariance = float64(n) * p * (1 - p)
	if s.BinomialVariance > 0 {
		s.Ratio = s.Variance / s.BinomialVariance
	}
	return s
}

// fixedKeyMarkdown writes the fixed-key table.
func fixedKeyMarkdown(b *strings.Builder, rows []FixedKeyRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "\n### One fixed key over a corpus\n\nEach corpus scanned in one order under %d fixed keys (`%s`); per key, the number of documents flagged at α = %s. "+
		"Binomial variance is n·p(1−p) at the mean rate, the most that independent documents with that mean can vary. "+
		"Document mode scores every document on all its distinct tuples; corpus mode (`scan --doc-dedup corpus`) scores each tuple only in the first document holding it.\n\n",
		rows[0].Keys, watermark.DefaultSpec, sci(rows[0].Alpha))
	b.WriteString("| corpus | documents | mode | mean flagged | max flagged | variance | binomial variance | ratio |\n|---|---:|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		for _, m := range []struct {
			name string
			s    FixedKeyStats
		}{{"document", r.Document}, {"corpus", r.CorpusMode}} {
			fmt.Fprintf(b, "| %s | %d | %s | %.2f | %d | %.2f | %.2f | %s |\n", r.Corpus, r.Documents, m.name, m.s.MeanFlagged, m.s.MaxFlagged, m.s.Variance, m.s.BinomialVariance, fmtRatio(m.s))
		}
	}
}

// fmtRatio formats a variance ratio ("–" when undefined: nothing flagged).
func fmtRatio(s FixedKeyStats) string {
	if s.BinomialVariance == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", s.Ratio)
}

// FixedKeyPower is the power of the per-document tests in a mixed corpus
// scanned under one key: watermarked completions (the built-in model, the
// default scheme, that key) shuffled among human documents (templated
// letters and book windows), in both dedup modes.
type FixedKeyPower struct {
	Watermarked int     `json:"watermarked"`
	Human       int     `json:"human"`
	Length      int     `json:"length"` // tokens generated per completion
	Alpha       float64 `json:"alpha"`
	// TPR is the fraction of watermarked documents flagged at Alpha, FP
	// the number of human documents flagged, MeanScored the watermarked
	// documents' mean scored tuples, per mode.
	TPRDocument        float64 `json:"tpr_document_mode"`
	TPRCorpus          float64 `json:"tpr_corpus_mode"`
	FPDocument         int     `json:"human_flagged_document_mode"`
	FPCorpus           int     `json:"human_flagged_corpus_mode"`
	MeanScoredDocument float64 `json:"mean_scored_document_mode"`
	MeanScoredCorpus   float64 `json:"mean_scored_corpus_mode"`
}

// fixedKeyPowerAlpha is the level of the power table (the CLI default).
const fixedKeyPowerAlpha = detect.DefaultAlpha

// runFixedKeyPower generates the watermarked completions under one key,
// mixes them into human documents in a seeded random order and counts the
// documents flagged in each mode.
func runFixedKeyPower(ctx context.Context, e *env, cs []fixedKeyCorpus) (*FixedKeyPower, error) {
	m, tok, err := e.modelAndTokenizer()
	if err != nil {
		return nil, err
	}
	cfg, err := watermark.ParseSpec(watermark.DefaultSpec)
	if err != nil {
		return nil, err
	}
	s, err := watermark.NewScheme(e.key(cfg, "fixedkey/power"), cfg)
	if err != nil {
		return nil, err
	}
	n, length := e.cfg.scale(300, 20), e.cfg.scale(200, 150)
	prompts, err := allPrompts(n)
	if err != nil {
		return nil, err
	}
	marked := make([][]uint32, n)
	err = e.parallel(ctx, n, func(_, i int) error {
		sampler, err := generate.NewSampler(m.NewSession(), s, generate.DefaultSettings())
		if err != nil {
			return err
		}
		prompt, err := tok.AppendEncode(nil, prompts[i])
		if err != nil {
			return err
		}
		out, err := sampler.Complete(ctx, tok, prompt, length, e.rng("fixedkey/power/sample", uint64(i)))
		if err != nil {
			return fmt.Errorf("generate #%d: %w", i, err)
		}
		marked[i], err = tok.AppendEncode(nil, out.Text)
		return err
	})
	if err != nil {
		return nil, err
	}
	type doc struct {
		ids    []uint32
		marked bool
	}
	var docs []doc
	for _, c := range cs {
		if c.name == "templated "+templated.Letters || c.name == "gutenberg" {
			for _, ids := range c.docs {
				docs = append(docs, doc{ids: ids})
			}
		}
	}
	res := &FixedKeyPower{Watermarked: n, Human: len(docs), Length: length, Alpha: fixedKeyPowerAlpha}
	for _, ids := range marked {
		docs = append(docs, doc{ids: ids, marked: true})
	}
	rng := e.rng("fixedkey/power/order")
	rng.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	d, err := detect.New(s, detect.Options{Alpha: fixedKeyPowerAlpha})
	if err != nil {
		return nil, err
	}
	cd := detect.NewCorpusDocs(cfg, s.KeyID(), e.dedupKey("fixedkey/power/dedup"), fixedKeyPowerAlpha)
	for _, x := range docs {
		rd := d.Tokens(x.ids)
		rc, _ := cd.Document(d.Observations())
		switch {
		case x.marked:
			res.MeanScoredDocument += float64(rd.Scored)
			res.MeanScoredCorpus += float64(rc.Scored)
			if rd.Detected {
				res.TPRDocument++
			}
			if rc.Detected {
				res.TPRCorpus++
			}
		default:
			if rd.Detected {
				res.FPDocument++
			}
			if rc.Detected {
				res.FPCorpus++
			}
		}
	}
	res.TPRDocument /= float64(n)
	res.TPRCorpus /= float64(n)
	res.MeanScoredDocument /= float64(n)
	res.MeanScoredCorpus /= float64(n)
	e.logf("fixed key power: %d watermarked × %d tokens among %d human documents: TPR at %s %.3f (document mode), %.3f (corpus mode)",
		n, length, res.Human, sci(res.Alpha), res.TPRDocument, res.TPRCorpus)
	return res, nil
}

// fixedKeyPowerMarkdown writes the power table of the mixed corpus.
func fixedKeyPowerMarkdown(b *strings.Builder, p *FixedKeyPower) {
	if p == nil {
		return
	}
	fmt.Fprintf(b, "\nPower in a mixed corpus under one key: %d completions of %d tokens from the built-in model (`%s`, one key) shuffled among %d human documents (the templated letters and gutenberg windows above); documents flagged at α = %s:\n\n",
		p.Watermarked, p.Length, watermark.DefaultSpec, p.Human, sci(p.Alpha))
	b.WriteString("| mode | watermarked flagged (TPR) | mean scored tuples of a watermarked document | human documents flagged |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(b, "| document | %.3f | %.1f | %d |\n| corpus | %.3f | %.1f | %d |\n",
		p.TPRDocument, p.MeanScoredDocument, p.FPDocument, p.TPRCorpus, p.MeanScoredCorpus, p.FPCorpus)
}
