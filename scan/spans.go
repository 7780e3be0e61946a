package scan

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/spans"
	"github.com/tracemark/tracemark/tokenize"
)

// checkSpans validates the span options of cfg.
func checkSpans(cfg *Config) error {
	if cfg.ViewDir != "" {
		cfg.Spans = true
	}
	if cfg.Spans && cfg.DocDedup == DocDedupCorpus {
		return fmt.Errorf("scan: the span test scores each document on its own tuples (document dedup), not with corpus dedup")
	}
	if cfg.ViewDir != "" {
		if err := os.MkdirAll(cfg.ViewDir, 0o755); err != nil {
			return fmt.Errorf("scan: view directory: %w", err)
		}
	}
	return nil
}

// spanScorer is a score worker's span test: one scanner per key.
type spanScorer struct {
	scanners []*spans.Scanner
	offsets  []int
}

// newSpanScorer returns nil unless cfg asks for the span test.
func newSpanScorer(cfg *Config, dets []*detect.Detector) *spanScorer {
	if !cfg.Spans {
		return nil
	}
	ss := &spanScorer{}
	for _, d := range dets {
		sc, err := spans.New(d, spans.Options{})
		if err != nil {
			// spans.New fails only without a detector or with a bad
			// window option, neither of which can happen here.
			panic(err)
		}
		ss.scanners = append(ss.scanners, sc)
	}
	return ss
}

// score runs the span test of key k on ids: the returned result is the
// key's whole-document result with its p-value replaced by the span
// test's (a valid p-value, so Holm and the q-values stay valid), and the
// detector's observations are those of the whole document.
func (ss *spanScorer) score(tok tokenize.Tokenizer, k int, ids []uint32) (detect.Result, spans.Result) {
	var offsets []int
	if o, err := tokenize.AppendByteOffsets(ss.offsets[:0], tok, ids); err == nil {
		ss.offsets, offsets = o, o
	}
	sc := ss.scanners[k]
	sr := sc.Scan(ids, offsets)
	r := sc.Global()
	r.PValue, r.Log10P, r.Detected = sr.PValue, sr.Log10P, sr.Detected
	return r, sr
}

// view writes the HTML view of a detected document as dir/doc-SEQ.html
// and returns its path.
func (ss *spanScorer) view(cfg *Config, k, seq int, name string, ids []uint32, sr spans.Result) (string, error) {
	doc, err := ss.scanners[k].View(cfg.Tokenizer, name, ids, sr)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := spans.WriteHTML(&b, []spans.Doc{doc}); err != nil {
		return "", err
	}
	path := filepath.Join(cfg.ViewDir, fmt.Sprintf("doc-%07d.html", seq))
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("view of %s: %w", name, err)
	}
	return path, nil
}

// spanEvidence attaches the best key's span test to d (and writes its view
// when d is detected) and stores d as j's result.
func (sc *scorer) spanEvidence(j *job, d *Doc, results []detect.Result, srs []spans.Result) error {
	for k, r := range results {
		if r.KeyID != d.KeyID {
			continue
		}
		sr := srs[k]
		d.Spans = &sr
		if sc.cfg.ViewDir != "" && d.Detected {
			where := j.name
			if d.Location != "" {
				where += " " + d.Location
			}
			path, err := sc.span.view(sc.cfg, k, j.seq, where, sc.ids, sr)
			if err != nil {
				return err
			}
			d.View = path
		}
		break
	}
	j.result = *d
	return nil
}
