package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/serve/servelog"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// CorpusFile is the name, in the output directory, of the answers as a
// JSONL corpus: one {"id", "prompt_id", "text"} line per non-empty
// choice, which `tracemark scan --field text DIR/answers.jsonl` reads.
const CorpusFile = "answers.jsonl"

// TestConfig configures the test of the stored answers.
type TestConfig struct {
	// Schemes are the keyed schemes to test (one per key).
	Schemes []watermark.Scheme
	// Tokenizer re-tokenizes the answers' text.
	Tokenizer tokenize.Tokenizer
	// Alpha is the significance level (0: detect.DefaultAlpha).
	Alpha float64
	// Workers are scan's scoring workers (0: all cores).
	Workers int
	// Prompts are the probe's prompts: the (h+1)-grams of their texts
	// (each prompt, each message's content) are never scored.
	Prompts []Prompt
	// ExcludeTexts are more texts whose (h+1)-grams are never scored
	// (e.g. the prompts of an earlier probe, or other text the provider
	// sent).
	ExcludeTexts []string
	// ServedLogs are served-output logs (directories or files): the
	// (h+1)-grams of every record's prompt_tokens are never scored, and
	// the payloads of the records watermarked under a tested key name the
	// candidate customers of the attribution test.
	ServedLogs []string
	// AllowIncompleteLog accepts a served-output log with bad lines or
	// truncated files (their records before the damage are used);
	// otherwise such a log is an error, since an exclusion list with
	// holes can let the test count copied text.
	AllowIncompleteLog bool
}

// LogSource is what was read from one served-output log.
type LogSource struct {
	Path      string   `json:"path"`
	Files     int      `json:"files"`
	Records   int64    `json:"records"`
	BadLines  int64    `json:"bad_lines"`
	Truncated []string `json:"truncated"`
	Errors    []string `json:"errors"`
	Complete  bool     `json:"complete"`
	// PromptSequences is the number of prompt_tokens sequences excluded.
	PromptSequences int64 `json:"prompt_sequences"`
	// Candidates is the number of records naming a payload under a tested
	// key.
	Candidates int64 `json:"candidate_records"`
}

// Exclusion says what was kept out of the test.
type Exclusion struct {
	// PromptTexts is the number of probe prompt texts tokenized and
	// excluded.
	PromptTexts int `json:"prompt_texts"`
	// OtherTexts is the number of TestConfig.ExcludeTexts excluded.
	OtherTexts int `json:"other_texts"`
	// Logs are the served-output logs read.
	Logs []LogSource `json:"logs"`
	// Ngrams is the number of distinct (h+1)-grams excluded (first key's
	// h).
	Ngrams int `json:"ngrams"`
	// What says in words what is excluded.
	What string `json:"what"`
}

// CustomerTest is the attribution test of one candidate payload.
type CustomerTest struct {
	KeyID string `json:"key_id"`
	// Payload is the candidate payload (hex) and Customers the customer
	// IDs the served-output log shows receiving it.
	Payload   string   `json:"payload"`
	Customers []string `json:"customers"`
	// Step is the candidate's rank in Holm's step-down order (1: the
	// smallest p-value).
	Step int `json:"step"`
	// Slots is the number of distinguishing slots used (where the
	// candidate's symbol is no other candidate's), Trials the tuples
	// counted in them and Matches those with the candidate's symbol; if
	// the candidate's payload is absent each matches with probability at
	// most 1/Colours (Colours = the scheme's radix).
	Slots   int `json:"slots"`
	Trials  int `json:"trials"`
	Matches int `json:"matches"`
	Colours int `json:"colours"`
	// Log10P is the exact binomial log10 p-value of Matches; AdjustedLog10P
	// is it after Holm's step-down correction over all candidates.
	Log10P         float64 `json:"log10_p"`
	AdjustedLog10P float64 `json:"adjusted_log10_p"`
	// Identified is AdjustedLog10P <= log10 alpha, and the pooled test
	// detected the watermark.
	Identified bool `json:"identified"`
}

// KeyTest is the pooled test under one key.
type KeyTest struct {
	scan.KeyPooled
	// Detected is the Holm-adjusted pooled p-value <= alpha.
	Detected bool `json:"detected"`
	// Symbols are the decoded payload's slots (payload schemes).
	Symbols []detect.Symbol `json:"symbols,omitempty"`
	// Customers are the candidate payloads' attribution tests, identified
	// ones first (payload schemes with a served-output log).
	Customers []CustomerTest `json:"customers,omitempty"`
}

// TestResult is the outcome of Test.
type TestResult struct {
	// Corpus is the JSONL corpus written (DIR/answers.jsonl) and its
	// SHA-256.
	Corpus       string `json:"corpus"`
	CorpusSHA256 string `json:"corpus_sha256"`
	// Answers are the stored answers tested, Documents the non-empty
	// choices among them, EmptyChoices the empty ones (nothing to score).
	Answers      int `json:"answers"`
	Documents    int `json:"documents"`
	EmptyChoices int `json:"empty_choices"`
	// DamagedAnswers are stored answers that failed their check (not
	// tested).
	DamagedAnswers []string  `json:"damaged_answers"`
	Exclusion      Exclusion `json:"exclusion"`
	// Summary is scan's summary of the corpus (pooled test per key, Holm
	// over keys, tokens, errors).
	Summary scan.Summary `json:"scan"`
	// Diagnostics are scan's error records (none is expected: the corpus
	// is written by the probe).
	Diagnostics []scan.Diagnostic `json:"diagnostics"`
	// Keys is the pooled test per key, with payload and attribution.
	Keys []KeyTest `json:"keys"`
	// Detected, PValue and Log10P are the best key's Holm-adjusted pooled
	// test.
	Detected bool    `json:"detected"`
	PValue   float64 `json:"p_value"`
	Log10P   float64 `json:"log10_p"`
	KeyID    string  `json:"key_id"`
	Alpha    float64 `json:"alpha"`
}

// ErrNoAnswers is returned by Test when the directory holds no answer:
// nothing was tested, which is no verdict.
var ErrNoAnswers = errors.New("probe: no stored answer to test (nothing was answered)")

// Test writes the stored answers of dir as a JSONL corpus and runs scan's
// pooled test over it, with the exclusions of cfg, then the payload
// attribution. A directory without answers is ErrNoAnswers.
func Test(ctx context.Context, dir string, cfg TestConfig) (TestResult, error) {
	var res TestResult
	if len(cfg.Schemes) == 0 || cfg.Tokenizer == nil {
		return res, errors.New("probe: test needs keys and a tokenizer")
	}
	if cfg.Alpha == 0 {
		cfg.Alpha = detect.DefaultAlpha
	}
	res.Alpha = cfg.Alpha
	answers, damaged, err := LoadAnswers(dir)
	if err != nil {
		return res, err
	}
	res.DamagedAnswers = append([]string{}, damaged...)
	res.Answers = len(answers)
	if len(answers) == 0 {
		return res, ErrNoAnswers
	}
	res.Corpus = filepath.Join(dir, CorpusFile)
	if res.CorpusSHA256, res.Documents, res.EmptyChoices, err = writeCorpus(res.Corpus, answers); err != nil {
		return res, err
	}
	if res.Documents == 0 {
		return res, fmt.Errorf("probe: the %d stored answers are all empty: nothing to test", len(answers))
	}
	exclude, candidates, exc, err := exclusions(ctx, cfg)
	if err != nil {
		return res, err
	}
	s, err := scan.New(scan.Config{Schemes: cfg.Schemes, Tokenizer: cfg.Tokenizer, Workers: cfg.Workers, Alpha: cfg.Alpha,
		Exclude: exclude, Read: corpora.ReadOptions{Format: "jsonl", Fields: []string{"text"}, IDField: "id"}})
	if err != nil {
		return res, fmt.Errorf("probe: %w", err)
	}
	exc.Ngrams = s.ExcludedNgrams()
	res.Exclusion = exc
	sink := &collectSink{}
	sum, err := s.Run(ctx, []string{res.Corpus}, sink)
	if err != nil {
		return res, fmt.Errorf("probe: testing the answers: %w", err)
	}
	res.Summary, res.Diagnostics = sum, sink.diags
	if res.Diagnostics == nil {
		res.Diagnostics = []scan.Diagnostic{}
	}
	res.PValue, res.Log10P, res.KeyID, res.Detected = sum.PooledPValue, sum.PooledLog10P, sum.PooledKeyID, sum.Detected
	lnAlpha := math.Log10(cfg.Alpha)
	for i, kp := range sum.PerKey {
		kt := KeyTest{KeyPooled: kp, Detected: kp.AdjustedLog10P <= lnAlpha}
		sch := cfg.Schemes[i]
		if null := sch.Config().Null(); null.Kind == watermark.PayloadNull {
			r := detect.Evaluate(sch.Config(), sch.KeyID(), &kp.Tally, cfg.Alpha)
			kt.Symbols = r.Symbols
			kt.Customers = Attribute(null, &kp.Tally, candidates[sch.KeyID()], cfg.Alpha, kt.Detected)
			for j := range kt.Customers {
				kt.Customers[j].KeyID = sch.KeyID()
			}
		}
		res.Keys = append(res.Keys, kt)
	}
	return res, nil
}

type collectSink struct{ diags []scan.Diagnostic }

func (s *collectSink) Begin(scan.FileEvent) error { return nil }
func (s *collectSink) Doc(scan.Doc) error         { return nil }
func (s *collectSink) End(scan.FileEvent) error   { return nil }
func (s *collectSink) Summary(scan.Summary) error { return nil }
func (s *collectSink) Diagnostic(d scan.Diagnostic) error {
	s.diags = append(s.diags, d)
	return nil
}

// writeCorpus writes the answers' non-empty choices as JSONL (atomically)
// and returns its SHA-256 and the counts of documents and empty choices.
func writeCorpus(path string, answers []Answer) (sum string, docs, empty int, err error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, a := range answers {
		for i, t := range a.Texts {
			if strings.TrimSpace(t) == "" {
				empty++
				continue
			}
			docs++
			if err := enc.Encode(map[string]any{"id": a.ID + "/" + strconv.Itoa(i), "prompt_id": a.ID, "line": a.Line, "text": t}); err != nil {
				return "", 0, 0, fmt.Errorf("probe: %w", err)
			}
		}
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:]), docs, empty, writeAtomic(path, []byte(b.String()))
}

// baseTokenizer is a tokenizer name without the +normalize suffix (the
// normalized tokenizer emits the same vocabulary's IDs).
func baseTokenizer(name string) string { return strings.TrimSuffix(name, "+normalize") }

// exclusions builds the token sequences to exclude and the candidate
// payloads (by key ID: payload value -> customers).
func exclusions(ctx context.Context, cfg TestConfig) ([][]uint32, map[string]map[uint64][]string, Exclusion, error) {
	var exc Exclusion
	var seqs [][]uint32
	for i := range cfg.Prompts {
		for _, t := range cfg.Prompts[i].Texts() {
			ids, _ := cfg.Tokenizer.AppendEncode(nil, t)
			if len(ids) > 0 {
				seqs = append(seqs, ids)
				exc.PromptTexts++
			}
		}
	}
	for _, t := range cfg.ExcludeTexts {
		ids, _ := cfg.Tokenizer.AppendEncode(nil, t)
		if len(ids) > 0 {
			seqs = append(seqs, ids)
			exc.OtherTexts++
		}
	}
	keys := map[string]bool{}
	for _, s := range cfg.Schemes {
		keys[s.KeyID()] = true
	}
	cands := map[string]map[uint64][]string{}
	custSeen := map[string]bool{}
	for _, path := range cfg.ServedLogs {
		src := LogSource{Path: path, Truncated: []string{}, Errors: []string{}}
		st, err := servelog.Read(ctx, path, func(r servelog.Record) error {
			if baseTokenizer(r.Tokenizer) != baseTokenizer(cfg.Tokenizer.Name()) {
				return fmt.Errorf("record %s has %s token IDs, the test tokenizes with %s: its prompts cannot be excluded", r.RequestID, r.Tokenizer, cfg.Tokenizer.Name())
			}
			if len(r.PromptTokens) > 0 {
				seqs = append(seqs, r.PromptTokens)
				src.PromptSequences++
			}
			if r.Watermarked && r.Payload != "" && keys[r.KeyID] {
				v, err := strconv.ParseUint(r.Payload, 16, 64)
				if err != nil {
					return fmt.Errorf("record %s: payload %q is not hexadecimal", r.RequestID, r.Payload)
				}
				src.Candidates++
				if cands[r.KeyID] == nil {
					cands[r.KeyID] = map[uint64][]string{}
				}
				if k := r.KeyID + "\x00" + strconv.FormatUint(v, 16) + "\x00" + r.Customer; !custSeen[k] {
					custSeen[k] = true
					cands[r.KeyID][v] = append(cands[r.KeyID][v], r.Customer)
				}
			}
			return nil
		})
		src.Files, src.Records, src.BadLines, src.Complete = st.Files, st.Records, st.BadLines, st.Complete()
		src.Truncated = append(src.Truncated, st.Truncated...)
		for _, e := range st.Errors {
			src.Errors = append(src.Errors, e.Error())
		}
		if err != nil {
			return nil, nil, exc, fmt.Errorf("probe: served-output log %s: %w", path, err)
		}
		if !src.Complete && !cfg.AllowIncompleteLog {
			return nil, nil, exc, fmt.Errorf("probe: served-output log %s is incomplete (%d bad lines, %d truncated files; first: %s): its exclusion list would have holes",
				path, st.BadLines, len(st.Truncated), strings.Join(src.Errors[:min(1, len(src.Errors))], ""))
		}
		exc.Logs = append(exc.Logs, src)
	}
	if exc.Logs == nil {
		exc.Logs = []LogSource{}
	}
	exc.What = "the (h+1)-grams of the probe's prompt texts"
	if len(cfg.ExcludeTexts) > 0 {
		exc.What += ", of the other texts given"
	}
	if len(cfg.ServedLogs) > 0 {
		exc.What += " and of the prompt_tokens of every served-output log record (not its completions)"
	}
	return seqs, cands, exc, nil
}

// Attribute tests candidate payloads (value -> customers) against a
// payload tally. Each candidate is tested only on its distinguishing
// slots: the slots where its symbol differs from the symbol of every other
// candidate. The null of candidate v is "v's payload is absent from the
// text; any of the other candidates' payloads may be present". In a
// distinguishing slot a tuple then either carries no payload (its colour
// is uniform: v's symbol with probability 1/radix) or is biased towards
// another candidate's symbol, which lowers the probability of v's symbol
// below 1/radix. So Matches (the tuples of those slots with v's colour) is
// stochastically at most Binomial(Trials, 1/radix) and its exact binomial
// tail is a valid p-value whichever other candidates are present. Slots
// a candidate shares with another say nothing about which of the two it
// is, and are left out: testing them against the global null would name
// a customer whose payload merely resembles the one present. Holm's
// step-down correction over the candidates controls the chance of naming
// any absent customer; a customer is identified when its adjusted
// p-value is at most alpha and the pooled test detected the watermark.
func Attribute(null watermark.Null, t *detect.Tally, cands map[uint64][]string, alpha float64, detected bool) []CustomerTest {
	if len(cands) == 0 || null.Kind != watermark.PayloadNull || null.Radix < 2 {
		return nil
	}
	radix, slots := null.Radix, null.Slots
	bitsPer := 0
	for 1<<bitsPer < radix {
		bitsPer++
	}
	mask := uint64(1)<<bitsPer - 1
	symbol := func(v uint64, j int) int { return int(v >> (uint(j) * uint(bitsPer)) & mask) }
	fits := func(v uint64) bool {
		if bitsPer*slots < 64 && v>>(uint(bitsPer)*uint(slots)) != 0 {
			return false // wider than the scheme's payload
		}
		for j := 0; j < slots; j++ {
			if symbol(v, j) >= radix {
				return false
			}
		}
		return true
	}
	var values, valid []uint64
	for v := range cands {
		values = append(values, v)
	}
	sort.Slice(values, func(i, j int) bool { return values[i] < values[j] })
	for _, v := range values {
		if fits(v) {
			valid = append(valid, v)
		}
	}
	tests := make([]CustomerTest, 0, len(values))
	lnP := make([]float64, 0, len(values))
	for _, v := range values {
		ct := CustomerTest{Payload: strconv.FormatUint(v, 16), Customers: cands[v], Colours: radix}
		if fits(v) {
			for j := 0; j < slots; j++ {
				sv, distinct := symbol(v, j), true
				for _, w := range valid {
					if w != v && symbol(w, j) == sv {
						distinct = false
						break
					}
				}
				if !distinct {
					continue
				}
				ct.Slots++
				for c := 0; c < radix; c++ {
					ct.Trials += t.Count(j, c)
				}
				ct.Matches += t.Count(j, sv)
			}
		}
		ln := stats.LogBinomialTail(ct.Matches, ct.Trials, 1/float64(radix))
		ct.Log10P = stats.Log10(ln) + 0
		tests = append(tests, ct)
		lnP = append(lnP, ln)
	}
	// Holm's step-down over all candidates.
	order := make([]int, len(tests))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return lnP[order[a]] < lnP[order[b]] })
	lnAlpha, prev, m := math.Log(alpha), math.Inf(-1), len(tests)
	stopped := false
	for rank, i := range order {
		adj := math.Max(prev, math.Min(0, lnP[i]+math.Log(float64(m-rank))))
		prev = adj
		tests[i].Step = rank + 1
		tests[i].AdjustedLog10P = stats.Log10(adj) + 0
		if !stopped && detected && tests[i].Slots > 0 && adj <= lnAlpha {
			tests[i].Identified = true
		} else {
			stopped = true
		}
	}
	out := make([]CustomerTest, 0, len(tests))
	for _, i := range order {
		out = append(out, tests[i])
	}
	return out
}
