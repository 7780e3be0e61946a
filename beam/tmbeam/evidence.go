package tmbeam

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/tracemark/tracemark/detect"
	ev "github.com/tracemark/tracemark/evidence"
	"github.com/tracemark/tracemark/scan"
)

// The evidence file of a pipeline run: the same file `tracemark scan
// --evidence` writes for the same corpus, so `tracemark evidence verify`
// recomputes it with the one-machine scan. The workers hash the inputs and
// collect the flagged documents (Options.Evidence); the launcher, after the
// run, reads them with the summary and writes the file (WriteEvidence).

func init() {
	register.DoFn3x1[context.Context, string, func(ev.Input), error](&hashInputFn{})
	register.Emitter1[ev.Input]()
	register.Function1x2(inputKey)
	register.DoFn3x1[context.Context, int, func(*ev.Input) bool, error](&writeInputsFn{})
	register.Iter1[ev.Input]()
	register.Function1x2(flaggedKey)
	register.DoFn3x1[context.Context, int, func(*FlaggedDoc) bool, error](&writeFlaggedFn{})
	register.Iter1[FlaggedDoc]()
}

// FlaggedDoc is a flagged document's record (JSON, as in the docs-*.jsonl
// shards) with its place in the input order.
type FlaggedDoc struct {
	File string
	Part int64
	Ord  int
	Doc  []byte
}

// addEvidenceOutputs writes Prefix/inputs.jsonl (every input's name, size
// and SHA-256, by name) and Prefix/flagged.jsonl (the flagged documents,
// by input name and reading order).
func addEvidenceOutputs(s beam.Scope, prefix string, files, flagged beam.PCollection) {
	hashes := beam.ParDo(s.Scope("hash inputs"), &hashInputFn{}, files)
	beam.ParDo0(s.Scope("write inputs"), &writeInputsFn{Prefix: prefix}, beam.GroupByKey(s, beam.ParDo(s, inputKey, hashes)))
	beam.ParDo0(s.Scope("write flagged"), &writeFlaggedFn{Prefix: prefix}, beam.GroupByKey(s, beam.ParDo(s, flaggedKey, flagged)))
}

// hashInputFn reads an input file through Beam's filesystems and emits its
// size and SHA-256 (of the bytes as stored, before decompression).
type hashInputFn struct{}

// ProcessElement hashes one file.
func (f *hashInputFn) ProcessElement(ctx context.Context, path string, emit func(ev.Input)) error {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return fmt.Errorf("tmbeam: hashing %s: %w", path, err)
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		return fmt.Errorf("tmbeam: hashing %s: %w", path, err)
	}
	defer r.Close()
	n, sum, err := ev.HashReader(r)
	if err != nil {
		return fmt.Errorf("tmbeam: hashing %s: %w", path, err)
	}
	emit(ev.Input{Name: path, Size: n, SHA256: sum})
	return nil
}

func inputKey(in ev.Input) (int, ev.Input)      { return 0, in }
func flaggedKey(d FlaggedDoc) (int, FlaggedDoc) { return 0, d }

// writeInputsFn writes the inputs' hashes, sorted by name.
type writeInputsFn struct{ Prefix string }

// ProcessElement writes Prefix/inputs.jsonl.
func (f *writeInputsFn) ProcessElement(ctx context.Context, _ int, iter func(*ev.Input) bool) error {
	var ins []ev.Input
	var in ev.Input
	for iter(&in) {
		ins = append(ins, in)
	}
	slices.SortFunc(ins, func(a, b ev.Input) int { return strings.Compare(a.Name, b.Name) })
	return writeFile(ctx, joinPath(f.Prefix, "inputs.jsonl"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, in := range ins {
			if err := enc.Encode(in); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeFlaggedFn writes the flagged documents' records in input order (by
// input name, then reading order), one JSON record a line.
type writeFlaggedFn struct{ Prefix string }

// ProcessElement writes Prefix/flagged.jsonl.
func (f *writeFlaggedFn) ProcessElement(ctx context.Context, _ int, iter func(*FlaggedDoc) bool) error {
	var docs []FlaggedDoc
	var d FlaggedDoc
	for iter(&d) {
		docs = append(docs, d)
	}
	slices.SortFunc(docs, func(a, b FlaggedDoc) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Part, b.Part), cmp.Compare(a.Ord, b.Ord))
	})
	return writeFile(ctx, joinPath(f.Prefix, "flagged.jsonl"), func(w io.Writer) error {
		for _, d := range docs {
			if _, err := w.Write(append(bytes.TrimSpace(d.Doc), '\n')); err != nil {
				return err
			}
		}
		return nil
	})
}

// EvidenceOptions are what WriteEvidence records beyond the pipeline's
// outputs.
type EvidenceOptions struct {
	Path        string                  // where to write the file (local, gs://, s3://)
	Command     []string                // the command line, without secrets
	Signer      ed25519.PrivateKey      // signs the file when not nil
	Calibration *ev.CalibrationCitation // cited when not nil
	Started     time.Time               // when the job started
}

// WriteEvidence writes the evidence file of a finished run of the pipeline
// built from opts (with opts.Evidence): the inputs' hashes, the keys'
// commitments, the tokenizer, the options, the flagged documents, the
// pooled test and the counts, as `tracemark scan --evidence` records them
// for the same corpus. The inputs are listed by name and the documents in
// that order, the order a verifier's scan of those names reads them in.
// It checks the outputs against the summary's counts first, so a missing or
// partial output is an error, never a shorter list.
func WriteEvidence(ctx context.Context, opts Options, eo EvidenceOptions) error {
	if !opts.Evidence {
		return errors.New("tmbeam: the pipeline was built without its evidence outputs")
	}
	ld, err := opts.Config.load(ctx)
	if err != nil {
		return err
	}
	var sum scan.Summary
	data, err := readAll(ctx, joinPath(opts.Output, "summary.json"))
	if err != nil {
		return fmt.Errorf("tmbeam: evidence: %w", err)
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		return fmt.Errorf("tmbeam: evidence: summary.json: %w", err)
	}
	var inputs []ev.Input
	if err := readJSONLines(ctx, joinPath(opts.Output, "inputs.jsonl"), sum.Files > 0, func(line []byte) error {
		var in ev.Input
		if err := json.Unmarshal(line, &in); err != nil {
			return err
		}
		inputs = append(inputs, in)
		return nil
	}); err != nil {
		return err
	}
	if len(inputs) != sum.Files {
		return fmt.Errorf("tmbeam: evidence: %d inputs hashed, the summary counts %d files", len(inputs), sum.Files)
	}
	var docs []ev.Statistic
	if err := readJSONLines(ctx, joinPath(opts.Output, "flagged.jsonl"), sum.Flagged > 0, func(line []byte) error {
		var d scan.Doc
		if err := json.Unmarshal(line, &d); err != nil {
			return err
		}
		docs = append(docs, ev.ScanDocument(d, len(ld.schemes), opts.FDR > 0))
		return nil
	}); err != nil {
		return err
	}
	if len(docs) != sum.Flagged {
		return fmt.Errorf("tmbeam: evidence: %d flagged documents recorded, the summary counts %d", len(docs), sum.Flagged)
	}

	b := ev.NewBuilder(ev.KindScan, eo.Command)
	if !eo.Started.IsZero() {
		b.SetStartedAt(eo.Started)
	}
	for _, in := range inputs {
		b.AddHashedInput(in)
	}
	if err := b.SetTokenizer(ld.tok); err != nil {
		return err
	}
	for i, sch := range ld.schemes {
		if err := b.AddKey(ld.keys[i], sch.Spec()); err != nil {
			return err
		}
	}
	alpha := opts.Alpha
	if alpha == 0 {
		alpha = detect.DefaultAlpha
	}
	b.SetOptions(ev.ScanOptions(alpha, opts.FDR, scan.DocDedupDocument, opts.Normalize, false, opts.Read))
	b.AddSeed(ev.Seed{Name: "dedup-key", Value: "",
		Note: "tuple fingerprints are keyed by a random key per run, independent of the watermark keys; while dedup_exact is true the statistics do not depend on it"})
	if opts.ExcludeNgrams != "" {
		data, err := readAll(ctx, opts.ExcludeNgrams)
		if err != nil {
			return fmt.Errorf("tmbeam: evidence: exclusion file: %w", err)
		}
		n, sha, _ := ev.HashReader(bytes.NewReader(data))
		b.AddHashedExclusion(ev.Exclusion{Name: opts.ExcludeNgrams, Size: n, SHA256: sha, What: "(h+1)-grams of every line", Ngrams: ld.scanner.ExcludedNgrams()})
	}
	if eo.Calibration != nil {
		b.Cite(eo.Calibration)
	}
	b.AddScan(sum, docs)
	f := b.File()
	if eo.Signer != nil {
		if err := ev.SignFile(f, eo.Signer, time.Now()); err != nil {
			return err
		}
	}
	out, err := ev.Marshal(f)
	if err != nil {
		return err
	}
	return writeFile(ctx, eo.Path, func(w io.Writer) error {
		_, err := w.Write(out)
		return err
	})
}

// readJSONLines calls line for each line of a JSON Lines output. A missing
// file is an error when must is set (the summary counts its records), else
// no lines.
func readJSONLines(ctx context.Context, path string, must bool, line func([]byte) error) error {
	data, err := readAll(ctx, path)
	if err != nil {
		if must {
			return fmt.Errorf("tmbeam: evidence: %w", err)
		}
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<26)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := line(sc.Bytes()); err != nil {
			return fmt.Errorf("tmbeam: evidence: %s:%d: %w", path, n, err)
		}
	}
	return sc.Err()
}
