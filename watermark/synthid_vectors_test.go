package watermark

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// synthIDVectors is testdata/synthid_vectors.json, written by running
// SynthID-Text's reference code (testdata/README.md says how).
type synthIDVectors struct {
	Source     map[string]any    `json:"source"`
	Tables     []synthIDTableVec `json:"tables"`
	GValues    []synthIDCase     `json:"gvalues"`
	Masks      []synthIDCase     `json:"masks"`
	Sampling   []synthIDCase     `json:"sampling"`
	Generation []synthIDCase     `json:"generation"`
	Scores     []synthIDCase     `json:"scores"`
}

type synthIDTableVec struct {
	Seed   uint32 `json:"seed"`
	Size   int    `json:"size"`
	Ones   int    `json:"ones"`
	SHA256 string `json:"sha256"`
	Head   []int  `json:"head"`
}

type synthIDCase struct {
	Impl         string        `json:"impl"`
	Keys         []string      `json:"keys"`
	NgramLen     int           `json:"ngram_len"`
	TableSeed    uint32        `json:"table_seed"`
	TableSize    int           `json:"table_size"`
	History      int           `json:"history"`
	Tokens       []uint32      `json:"tokens"`
	G            []uint64      `json:"g"`
	ContextHash  []string      `json:"context_hash"`
	Mask         []int         `json:"mask"`
	Vocab        int           `json:"vocab"`
	TopK         int           `json:"top_k"`
	LogitSeed    uint64        `json:"logit_seed"`
	Context      []uint32      `json:"context"`
	Candidates   []uint32      `json:"candidates"`
	Probs        []float64     `json:"probs"`
	Draws        []synthIDDraw `json:"draws"`
	Prompt       []uint32      `json:"prompt"`
	Mean         float64       `json:"mean"`
	WeightedMean float64       `json:"weighted_mean"`
	Scored       int           `json:"scored"`
}

type synthIDDraw struct {
	U     float64 `json:"u"`
	Index int     `json:"index"`
}

func loadSynthIDVectors(t *testing.T) synthIDVectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/synthid_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v synthIDVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// scheme binds the case's configuration to its key list.
func (c *synthIDCase) scheme(t *testing.T) *SynthID {
	t.Helper()
	keys := make([]int64, len(c.Keys))
	for i, k := range c.Keys {
		x, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = x
	}
	cfg := SynthIDConfig{NgramLen: c.NgramLen, Depth: len(keys), Impl: c.Impl, History: max(c.History, 1)}
	if c.Impl == SynthIDTransformers {
		cfg.TableSize, cfg.TableSeed = c.TableSize, c.TableSeed
	}
	s, err := NewSynthIDFromList("test", keys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The generator's logits and uniforms: SplitMix64 folded over the parts.
func vecSplitmix(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	z := x
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

func vecMix(parts ...uint64) uint64 {
	var h uint64
	for _, p := range parts {
		h = vecSplitmix(h ^ p)
	}
	return h
}

func vecLogits(seed, step uint64, vocab int) []float32 {
	l := make([]float32, vocab)
	for v := range l {
		l[v] = float32(float64(vecMix(seed, step, uint64(v))>>40)/(1<<24)*8 - 4)
	}
	return l
}

func vecUniform(seed, step uint64) float64 {
	return float64(vecMix(seed, step, 0xABCDEF)>>11) * 0x1p-53
}

type fixedUniform float64

func (u fixedUniform) Float64() float64 { return float64(u) }

// topK returns the indices of the k largest logits, largest first (ties by
// index), as torch.topk orders distinct values.
func topK(logits []float32, k int) []uint32 {
	idx := make([]uint32, len(logits))
	for i := range idx {
		idx[i] = uint32(i)
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	return idx[:k]
}

func TestSynthIDVectorsTables(t *testing.T) {
	v := loadSynthIDVectors(t)
	for _, c := range v.Tables {
		tb := newSynthIDTable(c.Size, c.Seed)
		buf := make([]byte, c.Size)
		for i := range buf {
			buf[i] = byte(tb.at(uint64(i)))
		}
		sum := sha256.Sum256(buf)
		if tb.ones != c.Ones || hex.EncodeToString(sum[:]) != c.SHA256 {
			t.Errorf("table seed %d size %d: ones %d sha %x, want %d %s", c.Seed, c.Size, tb.ones, sum, c.Ones, c.SHA256)
		}
		for i, b := range c.Head {
			if int(buf[i]) != b {
				t.Errorf("table seed %d size %d entry %d = %d, want %d", c.Seed, c.Size, i, buf[i], b)
			}
		}
		if c.Seed == 0 && c.Size == 1<<16 && c.Ones != synthIDDefaultTableOnes {
			t.Errorf("default table has %d ones, synthIDDefaultTableOnes is %d", c.Ones, synthIDDefaultTableOnes)
		}
	}
	if len(v.Tables) < 5 {
		t.Fatalf("only %d table vectors", len(v.Tables))
	}
}

func TestSynthIDVectorsGValues(t *testing.T) {
	v := loadSynthIDVectors(t)
	checked, mismatches := 0, 0
	for ci, c := range v.GValues {
		s := c.scheme(t)
		h := c.NgramLen - 1
		if len(c.G) != len(c.Tokens)-h || len(c.ContextHash) != len(c.G) {
			t.Fatalf("case %d: %d g-values for %d tokens", ci, len(c.G), len(c.Tokens))
		}
		obs := s.AppendObservations(nil, c.Tokens)
		for i, want := range c.G {
			g, ok := s.GValues(c.Tokens[:h+i], c.Tokens[h+i])
			ch := strconv.FormatInt(int64(s.ContextHash(c.Tokens[i:h+i])), 10)
			checked++
			if !ok || g != want || obs[i].Bits != want || ch != c.ContextHash[i] {
				mismatches++
				if mismatches < 10 {
					t.Errorf("case %d (%s, n=%d, depth %d) position %d: g %x (obs %x) hash %s, want %x %s", ci, c.Impl, c.NgramLen, len(c.Keys), i, g, obs[i].Bits, ch, want, c.ContextHash[i])
				}
			}
		}
	}
	t.Logf("%d g-value vectors (%d positions), %d mismatches", len(v.GValues), checked, mismatches)
	if checked < 1000 {
		t.Fatalf("only %d positions checked", checked)
	}
}

func TestSynthIDVectorsMasks(t *testing.T) {
	v := loadSynthIDVectors(t)
	checked, masked := 0, 0
	for ci, c := range v.Masks {
		s := c.scheme(t)
		got := s.RepetitionMask(nil, c.Tokens)
		if len(got) != len(c.Mask) {
			t.Fatalf("case %d: mask of %d, want %d", ci, len(got), len(c.Mask))
		}
		for i, m := range c.Mask {
			checked++
			if m == 0 {
				masked++
			}
			if got[i] != (m == 1) {
				t.Errorf("case %d (history %d) position %d: scored %v, want %d", ci, c.History, i, got[i], m)
			}
		}
	}
	t.Logf("%d mask vectors, %d positions, %d masked", len(v.Masks), checked, masked)
	if masked < 50 {
		t.Fatalf("only %d repeated contexts in the vectors", masked)
	}
}

func TestSynthIDVectorsSampling(t *testing.T) {
	v := loadSynthIDVectors(t)
	draws, probs := 0, 0
	for ci, c := range v.Sampling {
		s := c.scheme(t)
		logits := vecLogits(c.LogitSeed, 0, c.Vocab)
		var ids []uint32
		if c.TopK > 0 {
			ids = topK(logits, c.TopK)
			for i := range ids {
				if ids[i] != c.Candidates[i] {
					t.Fatalf("case %d: top-k order differs at %d", ci, i)
				}
			}
			sub := make([]float32, len(ids))
			for i, id := range ids {
				sub[i] = logits[id]
			}
			logits = sub
		}
		if c.Probs != nil {
			// The reweighted distribution, stated independently of tournamentDraw.
			q := make([]float64, len(logits))
			g := make([]uint64, len(logits))
			ctxHash, total := s.ContextHash(c.Context), 0.0
			for i := range q {
				q[i] = math.Exp(float64(logits[i]))
				total += q[i]
				g[i] = s.gvalues(synthIDStep(ctxHash, uint64(tokenAt(ids, i))))
			}
			for l := 0; l < s.cfg.Depth; l++ {
				mass := 0.0
				for i := range q {
					mass += q[i] / total * float64(g[i]>>l&1)
				}
				for i := range q {
					q[i] *= 1 + float64(g[i]>>l&1) - mass
				}
			}
			for i := range q {
				probs++
				if d := math.Abs(q[i]/total - c.Probs[i]); d > 1e-12 {
					t.Errorf("case %d candidate %d: probability %g, reference %g", ci, i, q[i]/total, c.Probs[i])
				}
			}
		}
		for _, d := range c.Draws {
			draws++
			tok, err := s.SampleLogits(c.Context, ids, logits, fixedUniform(d.U))
			if err != nil {
				t.Fatal(err)
			}
			if want := tokenAt(ids, d.Index); tok != want {
				t.Errorf("case %d (%s, vocab %d, top_k %d) u=%v: token %d, reference %d", ci, c.Impl, c.Vocab, c.TopK, d.U, tok, want)
			}
		}
	}
	t.Logf("%d sampling vectors: %d draws, %d probabilities", len(v.Sampling), draws, probs)
}

// TestSynthIDVectorsGeneration replays the reference's generation loop: its
// state starts from a zero context and skips marking contexts in the
// history; each step's logits and uniform come from the generator's
// formulas. The scores of the generated text are the reference's too.
func TestSynthIDVectorsGeneration(t *testing.T) {
	v := loadSynthIDVectors(t)
	steps := 0
	for ci, c := range v.Generation {
		s := c.scheme(t)
		h := c.NgramLen - 1
		hist := NewSynthIDHistory(s.cfg)
		ctx := make([]uint32, h, h+len(c.Tokens))
		for step := range c.Tokens {
			logits := vecLogits(c.LogitSeed, uint64(step), c.Vocab)
			var ids []uint32
			if c.TopK > 0 {
				ids = topK(logits, c.TopK)
				sub := make([]float32, len(ids))
				for i, id := range ids {
					sub[i] = logits[id]
				}
				logits = sub
			}
			u := fixedUniform(vecUniform(c.LogitSeed, uint64(step)))
			var tok uint32
			var err error
			if hist.Seen(s.ContextHash(ctx[len(ctx)-h:])) {
				tok, err = SampleLogitsUnmarked(ids, logits, u)
			} else {
				tok, err = s.SampleLogits(ctx[len(ctx)-h:], ids, logits, u)
			}
			if err != nil {
				t.Fatal(err)
			}
			steps++
			if tok != c.Tokens[step] {
				t.Fatalf("case %d (%s, vocab %d, top_k %d) step %d: token %d, reference %d", ci, c.Impl, c.Vocab, c.TopK, step, tok, c.Tokens[step])
			}
			ctx = append(ctx, tok)
		}
		checkSynthIDScore(t, s, c, ci)
	}
	t.Logf("%d generation vectors, %d steps", len(v.Generation), steps)
}

func checkSynthIDScore(t *testing.T, s *SynthID, c synthIDCase, ci int) {
	t.Helper()
	r := s.ReferenceScore(c.Tokens)
	if r.Scored != c.Scored || math.Abs(r.Mean-c.Mean) > 1e-12 || math.Abs(r.WeightedMean-c.WeightedMean) > 1e-12 {
		t.Errorf("case %d (%s, %d tokens): scored %d mean %.17g weighted %.17g, reference %d %.17g %.17g", ci, c.Impl, len(c.Tokens), r.Scored, r.Mean, r.WeightedMean, c.Scored, c.Mean, c.WeightedMean)
	}
}

func TestSynthIDVectorsScores(t *testing.T) {
	v := loadSynthIDVectors(t)
	for ci, c := range v.Scores {
		checkSynthIDScore(t, c.scheme(t), c, ci)
	}
	t.Logf("%d score vectors", len(v.Scores))
}

// TestSynthIDReimplementation runs docs/synthid_check.mjs, a JavaScript
// implementation of docs/engines-synthid.md, against the SynthID vectors
// (skipped without Node.js unless TRACEMARK_REQUIRE_NODE is set).
func TestSynthIDReimplementation(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("TRACEMARK_REQUIRE_NODE") != "" {
			t.Fatal("node is required (TRACEMARK_REQUIRE_NODE is set)")
		}
		t.Skip("node not installed")
	}
	out, err := exec.Command(node, "../docs/synthid_check.mjs", "testdata/synthid_vectors.json").CombinedOutput()
	if err != nil {
		t.Fatalf("synthid_check.mjs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), " 0 mismatches") {
		t.Fatalf("unexpected output: %s", out)
	}
	t.Log(strings.TrimSpace(string(out)))
}
