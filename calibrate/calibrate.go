// Package calibrate measures the empirical false-positive rate of
// per-document detection under one fixed key on human text: it scans the
// corpora with package scan (the same readers and options as tracemark
// scan), counts the documents flagged at each level with Clopper–Pearson
// intervals, and checks the p-values for uniformity. Its result is an
// evidence.Calibration, which evidence files cite.
package calibrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/evidence"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// DefaultLevels are the levels measured besides the deployed threshold.
var DefaultLevels = []float64{1e-2, 1e-3, 1e-4}

// CILevel is the confidence level of the Clopper–Pearson intervals.
const CILevel = 0.95

// Config configures a calibration.
type Config struct {
	Scheme    watermark.Scheme // the deployed key's scheme
	Tokenizer tokenize.Tokenizer
	Read      corpora.ReadOptions
	Workers   int // 0: all cores
	// DocDedup is the per-document dedup mode, as scan's.
	DocDedup scan.DocDedup
	// Alpha is the deployed threshold, measured beside Levels; 0 means
	// detect.DefaultAlpha.
	Alpha float64
	// Levels are the levels to measure; nil means DefaultLevels.
	Levels []float64
	// Normalize records that the tokenizer normalizes text first.
	Normalize bool
}

// pvalues is a scan sink that keeps each document's p-value.
type pvalues struct {
	p        []float64 // every document's
	scored   []float64 // the documents' with a scored token
	unscored int
}

func (s *pvalues) Begin(scan.FileEvent) error { return nil }
func (s *pvalues) Doc(d scan.Doc) error {
	s.p = append(s.p, d.PValue)
	if d.Scored == 0 {
		s.unscored++
	} else {
		s.scored = append(s.scored, d.PValue)
	}
	return nil
}
func (s *pvalues) Diagnostic(scan.Diagnostic) error { return nil }
func (s *pvalues) End(scan.FileEvent) error         { return nil }
func (s *pvalues) Summary(scan.Summary) error       { return nil }

// Run scans files (already expanded) under cfg.Scheme's one key and
// returns the calibration. Unreadable records and files are counted in
// Errors and skipped.
func Run(ctx context.Context, cfg Config, files []string) (*evidence.Calibration, error) {
	if cfg.Scheme == nil || cfg.Tokenizer == nil {
		return nil, errors.New("calibrate: a scheme and a tokenizer are needed")
	}
	levels := cfg.Levels
	if levels == nil {
		levels = DefaultLevels
	}
	s, err := scan.New(scan.Config{Schemes: []watermark.Scheme{cfg.Scheme}, Tokenizer: cfg.Tokenizer, Read: cfg.Read,
		Workers: cfg.Workers, Alpha: cfg.Alpha, DocDedup: cfg.DocDedup})
	if err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	sink := &pvalues{}
	sum, err := s.Run(ctx, files, sink)
	if err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	if len(sink.p) == 0 {
		return nil, errors.New("calibrate: the corpora hold no documents")
	}
	tok, err := evidence.TokenizerHash(cfg.Tokenizer)
	if err != nil {
		return nil, err
	}
	c := &evidence.Calibration{Format: evidence.CalibrationFormat, Version: evidence.Version, Tool: evidence.ToolInfo(),
		CreatedAt: time.Now().UTC().Format(time.RFC3339Nano), KeyID: cfg.Scheme.KeyID(), Scheme: cfg.Scheme.Spec(),
		Tokenizer: tok.Name, Corpora: []evidence.Input{}, Documents: len(sink.p), Unscored: sink.unscored, Errors: sum.Errors,
		Options: evidence.Options{Alpha: sum.Alpha, Dedup: "tuple", DocDedup: string(sum.DocDedup), Normalize: cfg.Normalize,
			Read: map[string]string{"format": cfg.Read.Format, "split": cfg.Read.Split, "role": cfg.Read.Role}}}
	for _, f := range files {
		n, h, err := evidence.HashFile(f)
		if err != nil {
			return nil, fmt.Errorf("calibrate: %w", err)
		}
		c.Corpora = append(c.Corpora, evidence.Input{Name: f, Size: n, SHA256: h})
	}
	all := append(slices.Clone(levels), sum.Alpha)
	slices.Sort(all)
	all = slices.Compact(all)
	slices.Reverse(all)
	c.Levels = FPR(sink.p, all)
	c.Uniformity = Uniform(sink.scored)
	return c, nil
}

// FPR returns, for each level, how many of the p-values are at or below
// it, their rate and its Clopper–Pearson interval (level CILevel).
func FPR(p []float64, levels []float64) []evidence.FPRLevel {
	out := make([]evidence.FPRLevel, 0, len(levels))
	for _, a := range levels {
		k := 0
		for _, v := range p {
			if v <= a {
				k++
			}
		}
		lo, hi := stats.ClopperPearson(k, len(p), 1-CILevel)
		out = append(out, evidence.FPRLevel{Alpha: a, Flagged: k, Rate: float64(k) / float64(len(p)),
			CILow: lo, CIHigh: hi, CILevel: CILevel, Consistent: lo <= a})
	}
	return out
}

// Uniform checks p-values against U(0,1) with Kolmogorov–Smirnov tests.
func Uniform(p []float64) evidence.Uniformity {
	u := evidence.Uniformity{N: len(p), P: 1, ExcessP: 1}
	if len(p) > 0 {
		u.D, u.P = stats.KSUniform(p)
		u.ExcessD, u.ExcessP = stats.KSUniformExcess(p)
	}
	return u
}
