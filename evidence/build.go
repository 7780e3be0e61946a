package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// Builder assembles an evidence file from a run's results. A front end
// makes one at the start of a run (NewBuilder), records what it read and
// how (AddInputFile, SetTokenizer, AddKey, SetOptions, AddExclusionFile,
// AddSeed), adds the records detect computed (AddText, AddPooled, or
// AddStatistic), and calls File at the end; then Marshal, or SignFile and
// Marshal. It is not safe for concurrent use.
type Builder struct {
	f   File
	now func() time.Time
}

// NewBuilder starts the evidence of a run of the given kind (KindDetect,
// ...) with the given command line, which must not hold secrets (see
// RedactCommand).
func NewBuilder(kind string, command []string) *Builder {
	b := &Builder{now: time.Now}
	b.f = File{Format: Format, Version: Version, Kind: kind, Tool: ToolInfo(), Command: append([]string{}, command...),
		Inputs: []Input{}, Keys: []KeyCommitment{}, Exclusions: []Exclusion{}, Seeds: []Seed{},
		Statistics: []Statistic{}, Summary: map[string]int64{}, Options: Options{Read: map[string]string{}}}
	b.f.StartedAt = timestamp(b.now())
	return b
}

// SetStartedAt records when the run started, for a run that began before
// its Builder was made (a distributed job's launch).
func (b *Builder) SetStartedAt(t time.Time) { b.f.StartedAt = timestamp(t) }

// ToolInfo describes the running program from its build information.
func ToolInfo() Tool {
	t := Tool{Name: "tracemark", Version: "unknown"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return t
	}
	t.GoVersion, t.Module = info.GoVersion, info.Main.Path
	t.Version = info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			t.Commit = s.Value
		case "vcs.modified":
			t.Modified = s.Value == "true"
		}
	}
	if t.Version == "" || t.Version == "(devel)" {
		t.Version = "devel"
		if len(t.Commit) >= 12 {
			t.Version += "-" + t.Commit[:12]
		}
	}
	return t
}

// HashFile returns the size and lower-case hex SHA-256 of a file's bytes.
func HashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	return HashReader(f)
}

// HashReader returns the number and lower-case hex SHA-256 of the bytes
// read from r until its end.
func HashReader(r io.Reader) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// AddInputFile records an input file with its size and SHA-256.
func (b *Builder) AddInputFile(path string) error {
	n, sum, err := HashFile(path)
	if err != nil {
		return fmt.Errorf("evidence: input %s: %w", path, err)
	}
	b.f.Inputs = append(b.f.Inputs, Input{Name: path, Size: n, SHA256: sum})
	return nil
}

// AddHashedInput records an input hashed elsewhere (e.g. by the workers
// of a distributed scan, with HashReader).
func (b *Builder) AddHashedInput(in Input) { b.f.Inputs = append(b.f.Inputs, in) }

// AddHashedExclusion records an exclusion file hashed elsewhere.
func (b *Builder) AddHashedExclusion(x Exclusion) { b.f.Exclusions = append(b.f.Exclusions, x) }

// AddInput records an input given by its bytes (e.g. a stored answer).
func (b *Builder) AddInput(name string, data []byte) {
	sum := sha256.Sum256(data)
	b.f.Inputs = append(b.f.Inputs, Input{Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
}

// SetTokenizer records the tokenizer and the hash of its vocabulary.
func (b *Builder) SetTokenizer(tok tokenize.Tokenizer) error {
	t, err := TokenizerHash(tok)
	if err != nil {
		return err
	}
	b.f.Tokenizer = t
	return nil
}

// maxVocab bounds the token IDs TokenizerHash visits.
const maxVocab = 1 << 22

// TokenizerHash identifies a tokenizer: its name, the number V of token
// IDs 0, 1, ... that have bytes (the first ID without bytes ends the
// vocabulary), and SHA-256 over "tracemark/evidence/v1/vocab" and, for
// each ID below V in order, the 4-byte big-endian length of its bytes and
// the bytes. The name identifies the split rules (a built-in encoding or
// a tokenizer.json by its hash).
func TokenizerHash(tok tokenize.Tokenizer) (Tokenizer, error) {
	h := sha256.New()
	h.Write([]byte("tracemark/evidence/v1/vocab"))
	var buf []byte
	id := uint32(0)
	for ; id < maxVocab; id++ {
		var err error
		buf, err = tok.AppendBytes(buf[:0], []uint32{id})
		if err != nil || len(buf) == 0 {
			break
		}
		n := len(buf)
		h.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		h.Write(buf)
	}
	if id == 0 {
		return Tokenizer{}, fmt.Errorf("evidence: tokenizer %s has no token 0", tok.Name())
	}
	return Tokenizer{Name: tok.Name(), VocabSHA256: hex.EncodeToString(h.Sum(nil)), VocabSize: int(id)}, nil
}

// AddKey records a commitment to key, used with scheme (canonical SPEC).
func (b *Builder) AddKey(key *watermark.Key, scheme string) error {
	kc, err := Commit(key, scheme)
	if err != nil {
		return err
	}
	b.f.Keys = append(b.f.Keys, kc)
	return nil
}

// SetOptions records the options that shaped the statistics.
func (b *Builder) SetOptions(o Options) {
	if o.Read == nil {
		o.Read = map[string]string{}
	}
	b.f.Options = o
}

// AddExclusionFile records a file whose n-grams were excluded: what says
// how they were taken, ngrams how many distinct n-grams (-1 if unknown).
func (b *Builder) AddExclusionFile(path, what string, ngrams int) error {
	n, sum, err := HashFile(path)
	if err != nil {
		return fmt.Errorf("evidence: exclusion file %s: %w", path, err)
	}
	b.f.Exclusions = append(b.f.Exclusions, Exclusion{Name: path, Size: n, SHA256: sum, What: what, Ngrams: ngrams})
	return nil
}

// AddSeed records a random seed of the run.
func (b *Builder) AddSeed(s Seed) { b.f.Seeds = append(b.f.Seeds, s) }

// SetSummary records a run-wide count.
func (b *Builder) SetSummary(name string, v int64) { b.f.Summary[name] = v }

// Cite records the citation of a calibration file (CiteCalibration).
func (b *Builder) Cite(c *CalibrationCitation) { b.f.Calibration = c }

// AddStatistic records a statistic built by the front end.
func (b *Builder) AddStatistic(s Statistic) {
	if s.Corrections == nil {
		s.Corrections = []Correction{}
	}
	if s.PerKey == nil {
		s.PerKey = []KeyStatistic{}
	}
	b.f.Statistics = append(b.f.Statistics, s)
}

// AddText records the results of one text (unit UnitText) under each key
// (one detect.Result per key, in key order), combined as detect.Combine
// does (Holm over keys when there are several).
func (b *Builder) AddText(input string, results []detect.Result, alpha float64) error {
	s, err := Combined(UnitText, input, results, alpha)
	if err != nil {
		return err
	}
	b.AddStatistic(s)
	return nil
}

// AddPooled records a pooled corpus test (unit UnitCorpus) under each key.
func (b *Builder) AddPooled(input string, results []detect.PooledResult, alpha float64) error {
	rs := make([]detect.Result, len(results))
	for i, r := range results {
		rs[i] = r.Result
	}
	s, err := Combined(UnitCorpus, input, rs, alpha)
	if err != nil {
		return err
	}
	for i, r := range results {
		s.PerKey[i].DedupExact = r.Exact
	}
	b.AddStatistic(s)
	return nil
}

// Combined is the statistic of one test under each key: the keys' own
// results and, with several keys, Holm's correction over them
// (detect.Combine), so every front end records the same numbers it prints.
func Combined(unit, input string, results []detect.Result, alpha float64) (Statistic, error) {
	if len(results) == 0 {
		return Statistic{}, errors.New("evidence: a statistic needs at least one key's result")
	}
	s := Statistic{Unit: unit, Input: input, Corrections: []Correction{}}
	for _, r := range results {
		s.PerKey = append(s.PerKey, KeyStat(r))
	}
	best := results[0]
	if len(results) == 1 {
		s.Detected, s.PValue, s.Log10P = best.Detected, best.PValue, best.Log10P
	} else {
		m := detect.Combine(results, alpha)
		best = m.Result
		s.Detected, s.PValue, s.Log10P = m.Detected, m.PValue, m.Log10P
		s.Corrections = append(s.Corrections, Correction{Method: CorrectionHolm, Over: "keys", Family: m.KeysTested, AdjustedLog10P: m.Log10P})
	}
	s.Flagged = s.Detected
	s.Tokens, s.Scored = best.Tokens, best.Scored
	s.KeyID, s.Payload, s.PayloadClaimed = best.KeyID, best.Payload, best.PayloadClaimed
	if best.PayloadLog10P != nil {
		v := *best.PayloadLog10P
		s.PayloadLog10P = &v
	}
	return s, nil
}

// KeyStat is one key's raw result as recorded.
func KeyStat(r detect.Result) KeyStatistic {
	k := KeyStatistic{KeyID: r.KeyID, Scheme: r.Scheme, Test: r.Test, Tokens: r.Tokens, Scored: r.Scored, Score: r.Score,
		Duplicates: r.Duplicates, Excluded: r.Excluded, PValue: r.PValue, Log10P: r.Log10P, Z: r.Z, TooShort: r.TooShort,
		DedupExact: true, Payload: r.Payload}
	if r.PayloadLog10P != nil {
		v := *r.PayloadLog10P
		k.PayloadLog10P = &v
	}
	return k
}

// File finishes the evidence: it sets the finish time and returns the
// file (unsigned; see SignFile).
func (b *Builder) File() *File {
	b.f.FinishedAt = timestamp(b.now())
	f := b.f
	return &f
}
