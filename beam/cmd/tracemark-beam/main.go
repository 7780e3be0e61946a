// Command tracemark-beam runs `tracemark scan` as an Apache Beam pipeline:
// on the embedded Prism runner by default (one machine), or on Dataflow,
// Flink or Spark with --runner. It writes the document and error records
// (the JSON of `tracemark scan --json`) in shards, the inputs' end records
// and the summary under --output. See docs/distributed.md.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	"github.com/tracemark/tracemark/beam/tmbeam"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	ev "github.com/tracemark/tracemark/evidence"

	// Filesystems: local paths, Google Cloud Storage, Amazon S3.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"

	// Runners: --runner prism (default), dataflow, flink, spark, universal.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/spark"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

var (
	keys, fields, inputs, globs, excludes list
	scheme                                = flag.String("scheme", "", "scheme `SPEC` (default: each key's)")
	tokenizer                             = flag.String("tokenizer", "", "tokenizer `NAME` (default: the keys')")
	normalizeText                         = flag.Bool("normalize", false, "remove zero-width characters and fold look-alikes before tokenizing")
	format                                = flag.String("format", "auto", "input format: "+strings.Join(corpora.Formats, ", "))
	idField                               = flag.String("id-field", "id", "JSON `PATH` or CSV column of the document ID")
	role                                  = flag.String("role", "", "score only chat turns of this role")
	split                                 = flag.String("split", "file", "plain text units: file, lines or paragraphs")
	alpha                                 = flag.Float64("alpha", detect.DefaultAlpha, "significance level per document and for the pooled test")
	fdr                                   = flag.Float64("fdr", 0, "flag documents by Benjamini-Hochberg q-value <= `Q` instead of p <= alpha")
	qcap                                  = flag.Float64("q-cap", 0.05, "compute q-values exactly up to `Q` (at least --fdr); larger ones are null; 1: all (collects every p-value in one place)")
	excludeNgrams                         = flag.String("exclude-ngrams", "", "text `FILE` whose (h+1)-grams are not scored")
	showText                              = flag.Int("show-text", 0, "keep the first `N` characters of each document in its record")
	hidden                                = flag.Bool("hidden", false, "also read hidden files and directories in local directories")
	output                                = flag.String("output", "", "output `PREFIX` (a local directory, gs://bucket/dir, s3://bucket/dir)")
	shards                                = flag.Int("shards", 16, "number of document record files")
	bucketBits                            = flag.Int("bucket-bits", 10, "shuffle the pooled test's tuples in 2^`B` buckets per key (each bucket's distinct tuples, 26 bytes each, are merged in one worker's memory)")
	tallyGroups                           = flag.Int("tally-groups", 8, "shuffle and tally the pooled test's buckets in `N` groups, one after another (bounds Prism's memory)")
	splitBytes                            = flag.Int64("split-bytes", tmbeam.DefaultSplitBytes, "read local plain JSON Lines files larger than `N` bytes in ranges of N bytes, in parallel (0: never)")
	dedupKey                              = flag.String("dedup-key", "", "dedup key as two hex words `A:B` (default: random; not secret)")
	cpuProfile                            = flag.String("cpuprofile", "", "write a CPU profile of the launcher process to `FILE` (with Prism: the runner and the in-process workers)")
	memoryLimit                           = flag.String("memory-limit", "auto", "Go soft memory `LIMIT` of this process (e.g. 1536MiB, 2GiB; off: none; auto: 1536MiB with Prism unless GOMEMLIMIT is set, none with other runners)")
	evidenceOut                           = flag.String("evidence", "", "after the run, write an evidence file of it to `FILE`, as tracemark scan --evidence (needs --fdr or --q-cap 1; docs/evidence.md)")
	signingKey                            = flag.String("signing-key", "", "sign the evidence file with the Ed25519 key in `FILE` (tracemark evidence keygen)")
	calibration                           = flag.String("calibration", "", "cite the calibration result in `FILE` (tracemark calibrate --out) in the evidence file")
	tokenizerMismatchOK                   = flag.Bool("tokenizer-mismatch-ok", false, "test with a --tokenizer other than the keys' (by name or file hash): the verdict is then not the key's (experts only)")
	memProfile                            = flag.String("memprofile", "", "write a heap profile of the launcher process to `FILE`, taken when its heap was largest (with Prism: the runner and the in-process workers)")
)

func main() {
	flag.Var(&keys, "key", "key `FILE` (local, gs:// or s3://, readable by the workers); repeatable")
	flag.Var(&fields, "field", "JSON `PATH` or CSV column of the text; repeatable")
	flag.Var(&inputs, "input", "input file, directory or glob (local), or gs:// / s3:// glob; repeatable (also positional)")
	flag.Var(&globs, "glob", "in local directories, read only files matching `GLOB`; repeatable")
	flag.Var(&excludes, "exclude", "in local directories, leave out files matching `GLOB`; repeatable")
	flag.Parse()
	beam.Init()
	err := profiled(*cpuProfile, func() error {
		return heapProfiled(*memProfile, func() error { return run(context.Background()) })
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracemark-beam:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context) error {
	key, err := parseDedupKey(*dedupKey)
	if err != nil {
		return err
	}
	opts := tmbeam.Options{
		Config: tmbeam.Config{KeyPaths: keys, Scheme: *scheme, Tokenizer: *tokenizer, TokenizerMismatchOK: *tokenizerMismatchOK, Normalize: *normalizeText,
			Read:          corpora.ReadOptions{Format: *format, Fields: fields, IDField: *idField, Role: *role, Split: *split},
			ExcludeNgrams: *excludeNgrams, Alpha: *alpha, FDR: *fdr, ShowText: max(0, *showText), DedupKey: key},
		Inputs: append(inputs, flag.Args()...),
		Walk:   corpora.WalkOptions{Globs: globs, Exclude: excludes, Hidden: *hidden},
		Output: *output, Shards: *shards, QCap: *qcap, BucketBits: *bucketBits, Start: time.Now(),
		SplitBytes: *splitBytes, TallyGroups: *tallyGroups,
	}
	if *splitBytes == 0 {
		opts.SplitBytes = -1
	}
	if len(opts.KeyPaths) == 0 {
		if k := os.Getenv("TRACEMARK_KEY_FILE"); k != "" {
			opts.KeyPaths = []string{k}
		}
	}
	opts.Evidence = *evidenceOut != ""
	eo, err := evidenceOptions(opts.Start)
	if err != nil {
		return err
	}
	p, s := beam.NewPipelineWithRoot()
	if err := tmbeam.Build(ctx, s, opts); err != nil {
		return err
	}
	runner := *runners.Runner
	if runner == "" {
		runner = "prism"
	}
	if _, err := applyMemoryLimit(*memoryLimit, runner); err != nil {
		return fmt.Errorf("--memory-limit: %w", err)
	}
	res, err := beam.Run(ctx, runner, p)
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	if res != nil {
		for _, c := range res.Metrics().AllMetrics().Counters() {
			if c.Key.Namespace == "tracemark" {
				fmt.Fprintf(os.Stderr, "tracemark-beam: %s: %d\n", c.Key.Name, c.Result())
			}
		}
	}
	if opts.Evidence {
		if err := tmbeam.WriteEvidence(ctx, opts, eo); err != nil {
			return fmt.Errorf("--evidence: %w", err)
		}
		signed := "unsigned"
		if eo.Signer != nil {
			signed = "signed by public key " + ev.PublicKeyID(eo.Signer.Public().(ed25519.PublicKey))
		}
		fmt.Fprintf(os.Stderr, "tracemark-beam: evidence written to %s (%s)\n", eo.Path, signed)
	}
	return nil
}

// evidenceOptions reads --signing-key and --calibration (before the run,
// so that a bad one fails before any work).
func evidenceOptions(started time.Time) (tmbeam.EvidenceOptions, error) {
	eo := tmbeam.EvidenceOptions{Path: *evidenceOut, Command: os.Args, Started: started}
	if eo.Path == "" {
		if *signingKey != "" || *calibration != "" {
			return eo, errors.New("--signing-key and --calibration go with --evidence FILE")
		}
		return eo, nil
	}
	if *signingKey != "" {
		data, err := os.ReadFile(*signingKey)
		if err != nil {
			return eo, fmt.Errorf("--signing-key: %w", err)
		}
		if eo.Signer, err = ev.ParsePrivateKey(data); err != nil {
			return eo, fmt.Errorf("--signing-key %s: %w", *signingKey, err)
		}
	}
	if *calibration != "" {
		data, err := os.ReadFile(*calibration)
		if err != nil {
			return eo, fmt.Errorf("--calibration: %w", err)
		}
		if eo.Calibration, err = ev.CiteCalibration(*calibration, data); err != nil {
			return eo, fmt.Errorf("--calibration: %w", err)
		}
	}
	return eo, nil
}

// profiled runs f under a CPU profile written to path ("" = no profile).
func profiled(path string, f func() error) error {
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	err = f()
	pprof.StopCPUProfile()
	if cerr := out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("--cpuprofile: %w", cerr)
	}
	return err
}

// parseDedupKey parses A:B (hex), or returns a random key for "".
func parseDedupKey(s string) (detect.DedupKey, error) {
	if s == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return detect.DedupKey{}, err
		}
		return detect.DedupKey{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}, nil
	}
	var k detect.DedupKey
	if _, err := fmt.Sscanf(s, "%x:%x", &k[0], &k[1]); err != nil {
		return k, fmt.Errorf("--dedup-key: want two hex words A:B: %w", err)
	}
	return k, nil
}
