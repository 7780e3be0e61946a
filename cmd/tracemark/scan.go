package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/scan"
	"github.com/urfave/cli/v2"
)

func scanCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "scan",
		Usage: "scan corpora (text, JSONL, JSON arrays, CSV/TSV, WARC/WET; gzip, zstd, bzip2, xz) for the watermark",
		UsageText: "tracemark scan [--key KEYFILE|DIR]... [--scheme SPEC] [--normalize] [--field PATH] [--role R] [-j N] [--alpha A] [--fdr Q]\n" +
			"    [--json] [--exclude-ngrams FILE] [--files-from LIST] PATH...\n\n" +
			"PATH is a file, a directory (read recursively), a glob or - for standard input. Every document\n" +
			"gets an exact p-value; Benjamini-Hochberg q-values across all documents let you flag at a false-\n" +
			"discovery rate (--fdr); the pooled test counts each (context, token) tuple of the whole corpus\n" +
			"once and answers whether the corpus carries the watermark at all. Exit codes: 0 a document is\n" +
			"flagged or the pooled test is significant, 1 neither, 2 errors (bad records are reported, counted\n" +
			"and skipped; --soft-errors-ok keeps them from changing the exit code).",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "key", Aliases: []string{"k"}, Usage: "key `FILE` or directory of key files; repeat for several keys (default: $TRACEMARK_KEY)"},
			&cli.StringFlag{Name: "scheme", Usage: "scheme `SPEC` (default: each key's)"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer `NAME` (default: the key's)"},
			tokenizerMismatchOK(),
			normalizeFlag(),
			&cli.StringFlag{Name: "format", Value: "auto", Usage: "input format: " + strings.Join(corpora.Formats, ", ")},
			&cli.StringSliceFlag{Name: "field", Usage: "JSON `PATH` or CSV column of the text, e.g. raw_content, conversation[].content, conversations[].value; repeat for several (a document from each); default: per file, the first found of " + strings.Join(corpora.AutoFields(), ", ")},
			&cli.StringFlag{Name: "id-field", Value: "id", Usage: "JSON `PATH` or CSV column of the document ID"},
			&cli.StringFlag{Name: "role", Usage: "score only chat turns of this role (assistant also matches from=gpt)"},
			&cli.StringFlag{Name: "split", Value: "file", Usage: "plain text units: file, lines or paragraphs"},
			&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: runtime.NumCPU(), Usage: "worker goroutines"},
			&cli.Float64Flag{Name: "alpha", Value: detect.DefaultAlpha, Usage: "significance level per document and for the pooled test"},
			&cli.Float64Flag{Name: "fdr", Usage: "flag documents by Benjamini-Hochberg q-value <= `Q` instead of p <= alpha"},
			&cli.BoolFlag{Name: "json", Usage: "JSON Lines: begin, doc, error, end and summary records"},
			&cli.StringFlag{Name: "exclude-ngrams", Usage: "text `FILE` (e.g. the prompts sent to a suspect model): none of its (h+1)-grams is scored"},
			&cli.StringSliceFlag{Name: "glob", Aliases: []string{"g"}, Usage: "in directories, read only files matching `GLOB` (** for any directories; !GLOB excludes); repeatable"},
			&cli.StringSliceFlag{Name: "exclude", Usage: "in directories, leave out files and directories matching `GLOB`; repeatable"},
			&cli.IntFlag{Name: "show-text", Usage: "show the first `N` characters of each flagged document (and keep them in --json records)"},
			&cli.BoolFlag{Name: "hidden", Usage: "also read hidden files and directories (names starting with .) in directories"},
			&cli.StringFlag{Name: "files-from", Usage: "read input paths from `LIST`, one per line (- for stdin)"},
			&cli.BoolFlag{Name: "soft-errors-ok", Usage: "bad records and unreadable files do not make the exit code 2"},
			&cli.StringFlag{Name: "doc-dedup", Value: "document", Usage: "per-document dedup `MODE`: corpus (a tuple shared by several documents is scored only in the first, in input order: p-values independent across the corpus) or document (every document on all its tuples)"},
			&cli.StringFlag{Name: "out", Usage: "keep per-file results in `DIR`; a rerun skips finished files (resume); see tracemark merge"},
			&cli.BoolFlag{Name: "spans", Usage: "span test per document: find a watermarked passage inside long documents; p-values become the span test's (docs/spans.md)"},
			&cli.StringFlag{Name: "html", Usage: "write an HTML view of every detected document into `DIR` (implies --spans)"},
		},
		Action: func(c *cli.Context) error { return runScan(c, e) },
	}
}

// scanMemoryLimit is the Go heap's soft limit during a scan (unless
// GOMEMLIMIT is set): the garbage collector works harder instead of letting
// the heap grow past it.
const scanMemoryLimit = 768 << 20

func runScan(c *cli.Context, e *env) error {
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(scanMemoryLimit))
	}
	if err := checkLevels(c); err != nil {
		return err
	}
	schemes, tok, err := keysFor(c, e)
	if err != nil {
		return err
	}
	paths := c.Args().Slice()
	if list := c.String("files-from"); list != "" {
		extra, err := readList(c.Context, e, list)
		if err != nil {
			return err
		}
		paths = append(paths, extra...)
	}
	if len(paths) == 0 {
		return fmt.Errorf("scan: no input (give PATH... or --files-from LIST)")
	}
	walked, err := corpora.Walk(c.Context, paths, corpora.WalkOptions{Globs: c.StringSlice("glob"), Exclude: c.StringSlice("exclude"), Hidden: c.Bool("hidden")})
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	files := walked.Files
	if walked.Skipped.Total() > 0 {
		fmt.Fprintf(e.stderr, "tracemark: left out of the directories walked: %s\n", walked.Skipped)
	}
	var exclude [][]uint32
	if f := c.String("exclude-ngrams"); f != "" {
		_, data, err := readInput(c.Context, e, f)
		if err != nil {
			return fmt.Errorf("--exclude-ngrams: %w", err)
		}
		for _, para := range strings.Split(string(data), "\n") {
			if ids, _ := tok.AppendEncode(nil, para); len(ids) > 0 {
				exclude = append(exclude, ids)
			}
		}
	}
	mode, err := docDedupFlag(c)
	if err != nil {
		return err
	}
	evr, err := newEvidenceRun(c, e, "scan", schemes, tok)
	if err == nil {
		err = evr.inputs(files)
	}
	if err != nil {
		return err
	}
	bar, clearBar := progressBar(e, files)
	s, err := scan.New(scan.Config{
		Progress:  bar,
		Schemes:   schemes,
		Tokenizer: tok,
		Read: corpora.ReadOptions{Format: c.String("format"), Fields: c.StringSlice("field"), IDField: c.String("id-field"),
			Role: c.String("role"), Split: c.String("split")},
		Workers:  c.Int("jobs"),
		Alpha:    c.Float64("alpha"),
		FDR:      c.Float64("fdr"),
		Exclude:  exclude,
		OutDir:   c.String("out"),
		ShowText: max(0, c.Int("show-text")),
		DocDedup: mode,
		Spans:    c.Bool("spans"),
		ViewDir:  c.String("html"),
	})
	if err != nil {
		return err
	}
	s.SetStdin(e.stdin)
	out := bufio.NewWriterSize(e.stdout, 1<<16)
	var sink scan.Sink
	if c.Bool("json") {
		sink = &jsonSink{enc: json.NewEncoder(out)}
	} else {
		sink = &humanSink{w: out, errw: e.stderr, clearBar: clearBar}
	}
	sum, err := s.Run(c.Context, files, evr.scanSink(sink))
	if bar != nil {
		fmt.Fprintln(e.stderr)
	}
	if s.Resumed() > 0 {
		fmt.Fprintf(e.stderr, "tracemark: %d input files were already finished in %s and were not read again\n", s.Resumed(), c.String("out"))
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	if evr != nil {
		if err := evr.exclusion(c.String("exclude-ngrams"), s.ExcludedNgrams()); err != nil {
			return err
		}
		evr.scanSummary(sum)
		if err := evr.write(e); err != nil {
			return err
		}
	}
	return scanExit(sum, c.Bool("soft-errors-ok"))
}

// scanExit maps a summary to the exit code: 2 on errors (unless softOK),
// 0 if anything was found, else 1.
func scanExit(sum scan.Summary, softOK bool) error {
	switch {
	case sum.Errors > 0 && !softOK:
		return exitCode(exitError)
	case sum.Flagged > 0 || sum.Detected:
		return nil
	default:
		return exitCode(exitNotFound)
	}
}

// docDedupFlag parses --doc-dedup.
func docDedupFlag(c *cli.Context) (scan.DocDedup, error) {
	mode, err := scan.ParseDocDedup(c.String("doc-dedup"))
	if err != nil {
		return "", fmt.Errorf("--doc-dedup: %q is not a mode (corpus or document)", c.String("doc-dedup"))
	}
	return mode, nil
}

func mergeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "merge",
		Usage:     "fold the per-file results of scan --out DIR (from one or many machines) into the corpus result",
		UsageText: "tracemark merge [--json] [--alpha A] [--fdr Q] [--soft-errors-ok] DIR...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "JSON Lines, as scan --json"},
			&cli.Float64Flag{Name: "alpha", Value: detect.DefaultAlpha, Usage: "significance level"},
			&cli.Float64Flag{Name: "fdr", Usage: "flag documents by q-value <= `Q`"},
			&cli.BoolFlag{Name: "soft-errors-ok", Usage: "recorded errors do not make the exit code 2"},
			&cli.StringFlag{Name: "doc-dedup", Value: "document", Usage: "per-document dedup `MODE`: corpus (a tuple shared by several documents is scored only in the first, in merge order: inputs by path: p-values independent across the corpus) or document (every document on all its tuples)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return fmt.Errorf("merge takes one or more directories made by scan --out")
			}
			if err := checkLevels(c); err != nil {
				return err
			}
			mode, err := docDedupFlag(c)
			if err != nil {
				return err
			}
			out := bufio.NewWriterSize(e.stdout, 1<<16)
			var sink scan.Sink = &humanSink{w: out, errw: e.stderr}
			if c.Bool("json") {
				sink = &jsonSink{enc: json.NewEncoder(out)}
			}
			sum, err := scan.Merge(c.Args().Slice(), scan.MergeOptions{Alpha: c.Float64("alpha"), FDR: c.Float64("fdr"), DocDedup: mode}, sink)
			if ferr := out.Flush(); err == nil {
				err = ferr
			}
			if sum.Unfinished > 0 {
				fmt.Fprintf(e.stderr, "tracemark: %d inputs were left unfinished (no .done marker) and are not in the result; rerun the scan with the same --out to finish them\n", sum.Unfinished)
			}
			if err != nil {
				return err
			}
			return scanExit(sum, c.Bool("soft-errors-ok"))
		},
	}
}

// readList reads a shard list: one path per line, blank lines and # comments skipped.
func readList(ctx context.Context, e *env, name string) ([]string, error) {
	_, data, err := readInput(ctx, e, name)
	if err != nil {
		return nil, fmt.Errorf("--files-from: %w", err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

// jsonSink writes every record as a JSON line.
type jsonSink struct{ enc *json.Encoder }

func (s *jsonSink) Begin(f scan.FileEvent) error       { return s.enc.Encode(f) }
func (s *jsonSink) Doc(d scan.Doc) error               { return s.enc.Encode(d) }
func (s *jsonSink) Diagnostic(d scan.Diagnostic) error { return s.enc.Encode(d) }
func (s *jsonSink) End(f scan.FileEvent) error         { return s.enc.Encode(f) }
func (s *jsonSink) Summary(sum scan.Summary) error     { return s.enc.Encode(sum) }

// humanSink prints flagged documents and the summary on stdout, and
// diagnostics on stderr.
type humanSink struct {
	w     io.Writer
	errw  io.Writer
	files []scan.FileEvent // end records, for the per-file table
	// clearBar, if set, erases the progress bar's line before the first
	// diagnostic, so diagnostics never overwrite it.
	clearBar func()
}

// stderr returns the diagnostics stream, with the progress bar cleared.
func (s *humanSink) stderr() io.Writer {
	if s.clearBar != nil {
		s.clearBar()
		s.clearBar = nil
	}
	return s.errw
}

func (s *humanSink) Begin(scan.FileEvent) error { return nil }

func (s *humanSink) Doc(d scan.Doc) error {
	if !d.Flagged {
		return nil
	}
	q := ""
	if d.QValue != nil {
		q = fmt.Sprintf(", q=%.3g", *d.QValue)
	}
	payload := ""
	if d.Payload != "" {
		payload = " payload " + d.Payload
	}
	if d.GreenFraction != nil {
		payload = fmt.Sprintf(", %.0f%% green", 100**d.GreenFraction) + payload
	}
	if d.Payload != "" {
		if d.PayloadClaimed {
			payload += " (claimed)"
		} else {
			payload += " (not claimed: too weak)"
		}
	}
	scored := "tokens scored"
	if d.DocDedup == scan.DocDedupCorpus {
		scored = "tokens scored (not held by earlier documents)"
	}
	_, err := fmt.Fprintf(s.w, "%s: %s (%s): WATERMARKED p=%.3g%s, log10_p=%.2f, %d of %d %s, key %s%s\n",
		d.File, d.ID, d.Location, d.PValue, q, d.Log10P, d.Scored, d.Tokens, scored, d.KeyID, payload)
	if err == nil && d.Text != "" {
		_, err = fmt.Fprintf(s.w, "    %s\n", strings.Join(strings.Fields(d.Text), " "))
	}
	if err == nil && d.Spans != nil {
		err = describeSpans(s.w, *d.Spans)
	}
	if err == nil && d.View != "" {
		_, err = fmt.Fprintf(s.w, "  view: %s\n", d.View)
	}
	return err
}

func (s *humanSink) Diagnostic(d scan.Diagnostic) error {
	loc := d.File
	if d.Location != "" {
		loc += ": " + d.Location
	}
	_, err := fmt.Fprintf(s.stderr(), "tracemark: %s: %s\n", loc, d.Message)
	return err
}

func (s *humanSink) End(f scan.FileEvent) error {
	s.files = append(s.files, f)
	if f.Error != "" {
		_, err := fmt.Fprintf(s.stderr(), "tracemark: %s\n", f.Error)
		return err
	}
	return nil
}

// maxFileRows is how many files the per-file table lists in full; past
// it, only files with flagged documents or errors are listed.
const maxFileRows = 20

func (s *humanSink) Summary(sum scan.Summary) error {
	s.fileTable()
	var verdict string
	switch {
	case sum.Detected:
		verdict = fmt.Sprintf("THE CORPUS AS A WHOLE CARRIES THE WATERMARK (p <= alpha %g)", sum.Alpha)
	case sum.Flagged > 0:
		verdict = fmt.Sprintf("no corpus-wide evidence at alpha %g; the %d documents flagged above carry it on their own (the pooled test weighs them against the rest of the corpus)", sum.Alpha, sum.Flagged)
	default:
		verdict = fmt.Sprintf("no corpus-wide evidence at alpha %g", sum.Alpha)
	}
	_, err := fmt.Fprintf(s.w, "\n%d files, %d documents, %d tokens, %.1f MB in %.1f s; %d flagged (%s); %d errors\npooled test over the whole corpus (each tuple once): p=%.3g, log10_p=%.2f, key %s: %s\n",
		sum.Files, sum.Documents, sum.Tokens, float64(sum.Bytes)/1e6, sum.Seconds, sum.Flagged, docDedupNote(sum.DocDedup), sum.Errors,
		sum.PooledPValue, sum.PooledLog10P, sum.PooledKeyID, verdict)
	return err
}

// docDedupNote says how the documents' p-values were deduplicated.
func docDedupNote(m scan.DocDedup) string {
	if m == scan.DocDedupCorpus {
		return "document p-values in corpus dedup mode: each tuple scored in the first document holding it"
	}
	return "document p-values in document dedup mode: every document on all its tuples"
}

// fileTable prints flagged documents, documents and errors per file: every
// file when there are few, else those with flags or errors.
func (s *humanSink) fileTable() {
	if len(s.files) == 0 {
		return
	}
	rows := s.files
	hidden := 0
	if len(rows) > maxFileRows {
		rows = nil
		for _, f := range s.files {
			if f.Flagged > 0 || f.Diagnostics > 0 || f.Error != "" {
				rows = append(rows, f)
			}
		}
		hidden = len(s.files) - len(rows)
	}
	tw := tabwriter.NewWriter(s.w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(s.w)
	fmt.Fprintln(tw, "flagged\tdocuments\terrors\t  file (text from)")
	skipped := map[string]int{}
	for _, f := range s.files {
		if f.Skipped != "" {
			skipped[f.Skipped]++
		}
	}
	for _, f := range rows {
		errs := strconv.Itoa(f.Diagnostics)
		if f.Error != "" {
			errs += "+failed"
		}
		var notes []string
		switch {
		case f.Skipped != "":
			notes = append(notes, "skipped: "+f.Skipped)
		case f.Field != "":
			notes = append(notes, "field "+f.Field)
		}
		if f.NoText > 0 {
			notes = append(notes, fmt.Sprintf("%d records without text", f.NoText))
		}
		note := ""
		if len(notes) > 0 {
			note = " (" + strings.Join(notes, "; ") + ")"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t  %s%s\n", f.Flagged, f.Documents, errs, f.File, note)
	}
	tw.Flush()
	if len(skipped) > 0 {
		var parts []string
		for why, n := range skipped {
			parts = append(parts, fmt.Sprintf("%d %s", n, why))
		}
		slices.Sort(parts)
		fmt.Fprintf(s.w, "files skipped, not read (not errors): %s\n", strings.Join(parts, ", "))
	}
	if hidden > 0 {
		fmt.Fprintf(s.w, "(%d more files with no flagged documents and no errors)\n", hidden)
	}
}

// progressBar returns a progress callback drawing a bar on stderr and a
// function that erases it, or nils when stderr is not a terminal (bars
// only on a TTY).
func progressBar(e *env, files []string) (func(scan.Progress), func()) {
	f, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, nil
	}
	var total int64
	for _, p := range files {
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetDescription("scanning"))
	update := func(p scan.Progress) {
		bar.Describe(fmt.Sprintf("%d/%d files, %d docs, %d flagged, %d errors", p.Files, len(files), p.Documents, p.Flagged, p.Errors))
		bar.Set64(min(p.Bytes, total))
	}
	return update, func() { bar.Clear() }
}
