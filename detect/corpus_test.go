package detect

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/internal/templated"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// templatedDocs tokenizes n generated documents of a templated kind.
func templatedDocs(t testing.TB, kind string, n int, seed uint64) [][]uint32 {
	t.Helper()
	texts, err := templated.Corpus(kind, n, seed)
	if err != nil {
		t.Skip(err)
	}
	tok, err := tokenize.Get(tokenize.Default)
	if err != nil {
		t.Fatal(err)
	}
	docs := make([][]uint32, len(texts))
	for i, text := range texts {
		if docs[i], err = tok.AppendEncode(nil, text); err != nil {
			t.Fatal(err)
		}
	}
	return docs
}

// TestCorpusDocsAgainstMap checks CorpusDocs against a plain map of exact
// tuples: each document keeps the observations no earlier document held,
// its p-value is the exact binomial tail of those, repeats are counted, and
// the pooled tally is the sum.
func TestCorpusDocsAgainstMap(t *testing.T) {
	docs := templatedDocs(t, templated.Letters, 300, 1)
	rng := rand.New(rand.NewPCG(5, 6))
	s := scheme(t, randomKey(rng), watermark.DefaultSpec)
	d, _ := New(s, Options{})
	cd := NewCorpusDocs(s.Config(), s.KeyID(), NewDedupKey(), 0)
	seen := map[watermark.Tuple]bool{}
	total, green, repeated := 0, 0, 0
	for i, ids := range docs {
		d.Tokens(ids)
		n, g := 0, 0
		for _, o := range d.Observations() {
			if !seen[o.Tuple] {
				seen[o.Tuple] = true
				n++
				g += int(o.Score)
			}
		}
		r, rep := cd.Document(d.Observations())
		want := stats.Log10(stats.LogBinomialTail(g, n, 0.25)) + 0
		if r.Scored != n || r.Green != g || rep != len(d.Observations())-n || math.Abs(r.Log10P-want) > 1e-12*math.Max(1, -want) {
			t.Fatalf("doc %d: scored %d green %d repeats %d log10 p %v; want %d, %d, %d, %v", i, r.Scored, r.Green, rep, r.Log10P, n, g, len(d.Observations())-n, want)
		}
		total, green, repeated = total+n, green+g, repeated+rep
	}
	if repeated < total {
		t.Fatalf("templated letters repeat only %d tuples of %d: the test tests little", repeated, total)
	}
	p := cd.Pooled()
	if p.Scored != total || p.Green != green || p.Scored != len(seen) || !p.Exact {
		t.Fatalf("pooled: %d scored, %d green (exact %v); want %d, %d", p.Scored, p.Green, p.Exact, total, green)
	}
}

// TestCorpusSeenKeepAllocates nothing once its buffer is large enough.
func TestCorpusSeenKeepAllocatesNothing(t *testing.T) {
	docs := templatedDocs(t, templated.Logs, 20, 2)
	s := scheme(t, randomKey(rand.New(rand.NewPCG(1, 1))), watermark.DefaultSpec)
	d, _ := New(s, Options{})
	d.Tokens(docs[0])
	obs := append([]watermark.Observation(nil), d.Observations()...)
	seen := NewCorpusSeen(NewDedupKey(), 1<<10, 1<<16)
	dst := make([]watermark.Observation, 0, len(obs))
	if a := testing.AllocsPerRun(100, func() { dst = seen.Keep(dst[:0], obs) }); a != 0 {
		t.Errorf("Keep allocates %v times per call", a)
	}
}

// TestCorpusDocsNullCalibration: under random keys (a fresh key for each
// replicate of the whole corpus, documents in order), the corpus-disjoint
// p-values of templated and human-written documents are calibrated.
// Within a replicate the documents' observations are disjoint, so all the
// tests are independent, as KS and the binomial bounds assume.
func TestCorpusDocsNullCalibration(t *testing.T) {
	skipCalibrationUnderRace(t)
	corpora := map[string][][]uint32{
		"letters":   templatedDocs(t, templated.Letters, 400, 3),
		"logs":      templatedDocs(t, templated.Logs, 200, 4),
		"go source": goSourceDocs(t, 400),
	}
	for name, docs := range corpora {
		for i, spec := range []string{watermark.DefaultSpec, "kgw:gamma=0.5,h=1,seeding=lefthash"} {
			rng := rand.New(rand.NewPCG(uint64(400+i), 7))
			var sum nullSummary
			var randomized []float64
			for k := 0; k < nullKeys(); k++ {
				s := scheme(t, randomKey(rng), spec)
				d, _ := New(s, Options{})
				cd := NewCorpusDocs(s.Config(), s.KeyID(), NewDedupKey(), 0)
				for _, ids := range docs {
					d.Tokens(ids)
					r, _ := cd.Document(d.Observations())
					randomized = sum.add(randomized, r, rng.Float64())
				}
			}
			sum.finish(randomized)
			sum.log(t, name+", corpus-disjoint, "+spec)
			if bad := sum.calibrated(0.25 + 0.25*float64(i)); len(bad) > 0 {
				t.Errorf("%s, %s: %v", name, spec, bad)
			}
		}
	}
}

// flaggedCounts scores docs, in order, under keys fixed keys and returns,
// per key, how many documents are flagged at alpha in document mode and
// in corpus-disjoint mode.
func flaggedCounts(t *testing.T, docs [][]uint32, keys int, alpha float64, seed uint64) (document, corpus []float64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	for k := 0; k < keys; k++ {
		s := scheme(t, randomKey(rng), watermark.DefaultSpec)
		d, _ := New(s, Options{})
		cd := NewCorpusDocs(s.Config(), s.KeyID(), NewDedupKey(), 0)
		nd, nc := 0, 0
		for _, ids := range docs {
			if d.Tokens(ids).PValue <= alpha {
				nd++
			}
			if r, _ := cd.Document(d.Observations()); r.PValue <= alpha {
				nc++
			}
		}
		document, corpus = append(document, float64(nd)), append(corpus, float64(nc))
	}
	return document, corpus
}

// varianceRatio is the sample variance of counts over n documents divided
// by the binomial variance n·p(1-p) at the counts' mean rate p: the
// variance independent documents with that mean could have at most (a sum
// of independent Bernoulli variables of unequal rates has less).
func varianceRatio(counts []float64, n int) float64 {
	mean := 0.0
	for _, c := range counts {
		mean += c
	}
	mean /= float64(len(counts))
	v := 0.0
	for _, c := range counts {
		v += (c - mean) * (c - mean)
	}
	v /= float64(len(counts) - 1)
	p := mean / float64(n)
	return v / (float64(n) * p * (1 - p))
}

// TestFixedKeyFlaggedCountVariance: under 200 fixed keys, the number of
// templated documents flagged at alpha 0.01 has about the binomial variance
// in corpus-disjoint mode (within 1.5×), and far more in document mode,
// where documents sharing a template share tuples (so the test can fail).
func TestFixedKeyFlaggedCountVariance(t *testing.T) {
	skipCalibrationUnderRace(t)
	for _, c := range []struct {
		kind string
		n    int
	}{{templated.Letters, 1500}, {templated.Boilerplate, 800}} {
		docs := templatedDocs(t, c.kind, c.n, 11)
		document, corpus := flaggedCounts(t, docs, 200, 0.01, 12)
		rd, rc := varianceRatio(document, len(docs)), varianceRatio(corpus, len(docs))
		t.Logf("%s (%d documents, 200 fixed keys): flagged-count variance / binomial: document mode %.2f, corpus mode %.2f", c.kind, len(docs), rd, rc)
		if rc > 1.5 {
			t.Errorf("%s: corpus mode variance ratio %.2f > 1.5", c.kind, rc)
		}
		if rd < 3 {
			t.Errorf("%s: document mode variance ratio %.2f: the corpus does not show the dependence the test is about", c.kind, rd)
		}
	}
}
