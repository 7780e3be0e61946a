package scan

import (
	"fmt"
	"math"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/watermark"
)

// This file is the API for running a scan's steps on an engine that is not
// Scanner.Run, such as a distributed pipeline: score single documents as
// Run's workers do, turn read problems into the same records, and finish
// the summary from the parts' counts and the pooled tallies.

// DedupKey returns the key of the scanner's tuple fingerprints.
func (s *Scanner) DedupKey() detect.DedupKey { return s.key }

// DocScorer scores single documents exactly as the workers of Run do: the
// same tokenizer, keys, exclusions and Holm combination over keys. It is
// not safe for concurrent use; make one per goroutine.
type DocScorer struct {
	sc  *scorer
	obs *docTuples
}

// docTuples is the observer of a DocScorer: it passes each key's
// observations to the caller's function.
type docTuples struct {
	f func(k int, obs []watermark.Observation) error
}

func (d *docTuples) observe(_ *job, k int, obs []watermark.Observation) error {
	if d.f == nil {
		return nil
	}
	return d.f(k, obs)
}

func (d *docTuples) ordered(*job) {}

// NewDocScorer returns a scorer of single documents under the scanner's
// configuration.
func (s *Scanner) NewDocScorer() *DocScorer {
	obs := &docTuples{}
	return &DocScorer{sc: s.newScorer(obs), obs: obs}
}

// Score scores doc, read from the input file (as named in records), and
// returns its record (without q-value: see Doc.SetQValue) and its token
// count. tuples, if not nil, is called with the document's observations
// under each key k (each distinct tuple once; obs is reused after the
// call), as the pooled test needs them; its error is returned.
func (d *DocScorer) Score(file string, doc corpora.Document, tuples func(k int, obs []watermark.Observation) error) (Doc, int, error) {
	d.obs.f = tuples
	defer func() { d.obs.f = nil }()
	j := &job{kind: jobDoc, name: file, doc: doc}
	if err := d.sc.score(j); err != nil {
		return Doc{}, 0, err
	}
	return j.result, j.tokens, nil
}

// SetQValue records the document's Benjamini–Hochberg q-value, given as
// log10, and flags it as a scan does: by q <= fdr when fdr > 0, else by its
// p-value (Detected). It reports whether the document is flagged.
func (d *Doc) SetQValue(log10q, fdr float64) bool { return d.setQValue(log10q, fdr) }

// NewDiagnostic is the "error" record of a problem a reader reported in
// the input file (as named in records).
func NewDiagnostic(file string, d corpora.Diagnostic) Diagnostic {
	return Diagnostic{Type: "error", File: file, Location: d.Location, Message: d.Err.Error()}
}

// FileErrors is how many errors an input adds to the summary beyond its
// error records: the diagnostics past the reader's cap (announced in one
// record) and one more when the rest of the file could not be read
// (failed).
func FileErrors(st corpora.FileStats, failed bool) int {
	n := hiddenErrors(st)
	if failed {
		n++
	}
	return n
}

// FinishSummary completes a summary whose counts (files, documents,
// flagged, errors, bytes, tokens) are filled: it records alpha, the FDR
// level, the dedup mode and the tokenizer, and the pooled test of every
// key (tallies[k] for schemes[k], each distinct tuple of the corpus once),
// with Holm's correction over keys, as a scan's summary has them.
func FinishSummary(sum *Summary, schemes []watermark.Scheme, tallies []detect.Tally, exact bool, alpha, fdr float64, tokenizer string) error {
	if len(tallies) != len(schemes) {
		return fmt.Errorf("scan: %d pooled tallies for %d keys", len(tallies), len(schemes))
	}
	if alpha == 0 {
		alpha = detect.DefaultAlpha
	}
	sum.Type, sum.Alpha, sum.FDR, sum.Tokenizer, sum.DocDedup = "summary", alpha, fdr, tokenizer, DocDedupDocument
	sum.PerKey = nil
	var pooled []detect.PooledResult
	for k, sch := range schemes {
		t := tallies[k]
		r := detect.Evaluate(sch.Config(), sch.KeyID(), &t, alpha)
		pooled = append(pooled, detect.PooledResult{Result: r, Exact: exact, Tally: t})
	}
	pooledSummary(sum, pooled, alpha)
	return nil
}

// BHTable holds what the Benjamini–Hochberg q-values of a corpus of M
// documents need to be exact for every document whose q-value is at most
// Cap: the sorted log10 p-values of the documents with p <= Cap (a little
// above it, against rounding) and their q-values. No document with p above
// Cap can have q <= Cap (see BHCandidates), so these few are all that
// flagging at an FDR level <= Cap needs: the other p-values never have to
// be in one place.
type BHTable struct {
	M      int       // documents in the corpus
	Cap    float64   // the q-values <= Cap are exact
	Log10P []float64 // ascending: the candidates' log10 p-values
	Log10Q []float64 // Log10Q[i] is the q-value of Log10P[i], as log10
}

// BHCandidates reports whether a document of log10 p-value lp must be in
// the candidates of a BHTable with cap qcap.
//
// The argument: sorted ascending, the i-th of M p-values gets q_(i) = min
// over j >= i of M·p_(j)/j (capped at 1). For a p-value above the cap,
// M·p/j >= p > cap since j <= M; so a q-value <= cap is a minimum reached
// at a candidate j, and candidates' q-values are the minimum over later
// candidates when that is <= cap. The margin (1e-9 in log10) keeps
// rounding in the sum of logs from moving a document across the cap.
func BHCandidates(lp, qcap float64) bool { return lp <= math.Log10(qcap)+1e-9 }

// NewBHTable builds the table of a corpus of m documents from the log10
// p-values of its candidates (BHCandidates; any order, modified in place).
// The q-values come from the same expression as the in-memory
// detect.BenjaminiHochberg, so they are bit-identical to it.
func NewBHTable(m int, qcap float64, candidates []float64) (BHTable, error) {
	if !(qcap > 0 && qcap <= 1) {
		return BHTable{}, fmt.Errorf("scan: q-value cap must be in (0, 1], got %v", qcap)
	}
	if len(candidates) > m {
		return BHTable{}, fmt.Errorf("scan: %d Benjamini–Hochberg candidates among %d documents", len(candidates), m)
	}
	idx := sortedIndex(candidates)
	sorted := make([]float64, len(candidates))
	for r, i := range idx {
		sorted[r] = candidates[i]
	}
	t := BHTable{M: m, Cap: qcap, Log10P: sorted, Log10Q: make([]float64, len(sorted))}
	lm := math.Log10(float64(m))
	running := 0.0
	for r := len(sorted) - 1; r >= 0; r-- {
		v := math.Min(0, sorted[r]+lm-math.Log10(float64(r+1)))
		if r == len(sorted)-1 || v < running {
			running = v
		}
		t.Log10Q[r] = running
	}
	return t, nil
}

// sortedIndex returns the indices of xs in ascending order of value (ties
// in index order), as detect.BenjaminiHochberg sorts.
func sortedIndex(xs []float64) []int { return detect.SortedIndex(xs) }

// Lookup returns the log10 q-value of a document of log10 p-value lp and
// whether it is exact: q <= Cap, found among the candidates. When it is
// not, the document's q-value is above Cap (and so is not flagged at any
// FDR level <= Cap).
func (t BHTable) Lookup(lp float64) (float64, bool) {
	// The last candidate of this value: tied p-values share one q-value,
	// the running minimum from their highest rank.
	lo, hi := 0, len(t.Log10P)
	for lo < hi {
		mid := (lo + hi) / 2
		if t.Log10P[mid] <= lp {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	i := lo - 1
	if i < 0 || t.Log10P[i] != lp {
		return 0, false
	}
	q := t.Log10Q[i]
	if t.Cap < 1 && q > math.Log10(t.Cap) {
		return q, false
	}
	return q, true
}
