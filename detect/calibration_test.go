package detect

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tracemark/tracemark/internal/refcorpus"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// The null-calibration tests score real human text, which no one here
// watermarked, under many random keys. With dedup the p-values must be
// calibrated; without it, repetitive code must break calibration (so the
// check is able to fail).

const docTokens = 200

// cutDocs tokenizes each text and cuts it into documents of exactly n
// tokens (a shorter tail is dropped).
func cutDocs(t testing.TB, texts []string, n int) [][]uint32 {
	tok, err := tokenize.Get(tokenize.Default)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]uint32
	for _, text := range texts {
		ids, err := tok.AppendEncode(nil, text)
		if err != nil {
			t.Fatal(err)
		}
		for len(ids) >= n {
			docs = append(docs, ids[:n:n])
			ids = ids[n:]
		}
	}
	return docs
}

// opticksDocs returns Newton's Opticks in 200-token documents.
func opticksDocs(t testing.TB) [][]uint32 {
	d, err := refcorpus.Opticks()
	if err != nil {
		t.Skip(err)
	}
	return cutDocs(t, []string{d.Text}, docTokens)
}

// goSourceDocs returns standard-library Go source in 200-token documents,
// a deterministic sample of at most limit of them spread over packages.
func goSourceDocs(t testing.TB, limit int) [][]uint32 {
	files, err := refcorpus.GoSource("net/http", "encoding/json", "go/ast", "strconv", "text/template", "database/sql")
	if err != nil {
		t.Skip(err)
	}
	texts := make([]string, len(files))
	for i, f := range files {
		texts[i] = f.Text
	}
	docs := cutDocs(t, texts, docTokens)
	rand.New(rand.NewPCG(42, 42)).Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	if len(docs) > limit {
		docs = docs[:limit]
	}
	return docs
}

// nullSummary is what scoring unwatermarked documents under random keys gave.
type nullSummary struct {
	tests       int
	ksD, ksP    float64 // KS of the randomized p-values against U(0,1)
	below01     int     // exact (conservative) p-values below 0.01
	randBelow01 int     // randomized p-values below 0.01
	green       int
	scored      int
}

func scoreNull(t testing.TB, docs [][]uint32, spec string, keys int, noDedup bool, seed uint64) nullSummary {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	var sum nullSummary
	var randomized []float64
	for k := 0; k < keys; k++ {
		for _, doc := range docs {
			// A fresh key for every (document, replicate): documents share
			// frequent tuples, so under one key their p-values are
			// correlated; with independent keys all tests are independent,
			// as KS and the binomial bounds assume.
			d, err := New(scheme(t, randomKey(rng), spec), Options{NoDedup: noDedup})
			if err != nil {
				t.Fatal(err)
			}
			randomized = sum.add(randomized, d.Tokens(doc), rng.Float64())
		}
	}
	sum.finish(randomized)
	return sum
}

// add counts one binomial result, randomizing its p-value with u, and
// returns randomized with that p-value appended.
func (s *nullSummary) add(randomized []float64, r Result, u float64) []float64 {
	pr := stats.RandomizedBinomialP(r.Green, r.Scored, r.Gamma, u)
	if r.PValue < 0.01 {
		s.below01++
	}
	if pr < 0.01 {
		s.randBelow01++
	}
	s.green += r.Green
	s.scored += r.Scored
	return append(randomized, pr)
}

// finish sets the test count and the KS statistic of the randomized
// p-values.
func (s *nullSummary) finish(randomized []float64) {
	s.tests = len(randomized)
	s.ksD, s.ksP = stats.KSUniform(randomized)
}

// calibrated returns the reasons, if any, that a null summary is not
// consistent with exact, calibrated p-values at test level 0.001.
func (s nullSummary) calibrated(gamma float64) []string {
	var bad []string
	if s.ksP < 0.001 {
		bad = append(bad, "KS rejects uniformity of randomized p-values")
	}
	// Exact p-values of a discrete test are conservative: P(p < 0.01) <= 0.01.
	if math.Exp(stats.LogBinomialTail(s.below01, s.tests, 0.01)) < 0.001 {
		bad = append(bad, "too many p-values below 0.01")
	}
	if !stats.BinomialCountPlausible(s.randBelow01, s.tests, 0.01, 0.001) {
		bad = append(bad, "randomized p-values below 0.01 off their binomial bounds")
	}
	if !stats.BinomialCountPlausible(s.green, s.scored, gamma, 0.001) {
		bad = append(bad, "green fraction is not γ")
	}
	return bad
}

func (s nullSummary) log(t *testing.T, name string) {
	t.Logf("%s: %d tests, KS D=%.5f p=%.3f, p<0.01: %.5f (randomized %.5f), green fraction %.5f of %d",
		name, s.tests, s.ksD, s.ksP, float64(s.below01)/float64(s.tests),
		float64(s.randBelow01)/float64(s.tests), float64(s.green)/float64(s.scored), s.scored)
}

func nullKeys() int {
	if testing.Short() {
		return 40
	}
	return 200
}

func TestNullCalibrationProse(t *testing.T) {
	skipCalibrationUnderRace(t)
	docs := opticksDocs(t)
	if len(docs) < 400 {
		t.Fatalf("only %d documents from Opticks", len(docs))
	}
	for i, spec := range []string{watermark.DefaultSpec, "kgw:gamma=0.5,h=1,seeding=lefthash"} {
		s := scoreNull(t, docs, spec, nullKeys(), false, uint64(100+i))
		s.log(t, "Opticks "+spec)
		if bad := s.calibrated(0.25 + 0.25*float64(i)); len(bad) > 0 {
			t.Errorf("Opticks, %s: %v", spec, bad)
		}
	}
}

func TestNullCalibrationCode(t *testing.T) {
	skipCalibrationUnderRace(t)
	docs := goSourceDocs(t, 600)
	if len(docs) < 400 {
		t.Fatalf("only %d documents of Go source", len(docs))
	}
	for i, spec := range []string{watermark.DefaultSpec, "kgw:gamma=0.25,h=1,seeding=lefthash"} {
		s := scoreNull(t, docs, spec, nullKeys(), false, uint64(200+i))
		s.log(t, "Go source "+spec)
		if bad := s.calibrated(0.25); len(bad) > 0 {
			t.Errorf("Go source, %s: %v", spec, bad)
		}
	}
}

// TestNullCalibrationFailsOnCodeWithoutDedup is the same check with dedup
// off: repeated tuples in code are counted again and again, the binomial
// model no longer holds, and calibration must fail.
func TestNullCalibrationFailsOnCodeWithoutDedup(t *testing.T) {
	skipCalibrationUnderRace(t)
	docs := goSourceDocs(t, 600)
	for i, spec := range []string{watermark.DefaultSpec, "kgw:gamma=0.25,h=1,seeding=lefthash"} {
		s := scoreNull(t, docs, spec, nullKeys(), true, uint64(300+i))
		s.log(t, "Go source, dedup off, "+spec)
		if bad := s.calibrated(0.25); len(bad) == 0 {
			t.Errorf("Go source without dedup, %s: calibration did not fail", spec)
		}
	}
}
