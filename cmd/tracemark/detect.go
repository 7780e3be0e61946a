package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/spans"
	"github.com/tracemark/tracemark/internal/bigbuf"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
	"github.com/urfave/cli/v2"
)

// maxIDLine bounds one line of --ids input; longer lines are reported and
// skipped, so memory stays bounded.
const maxIDLine = 64 << 20

func detectCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "detect",
		Usage: "test texts (or token-ID sequences) for the watermark; one verdict per input",
		UsageText: "tracemark detect [--key KEYFILE|DIR]... [--scheme SPEC] [--tokenizer NAME] [--normalize] [--alpha A] [--json] [--ids] [FILE|-]...\n\n" +
			"With no FILE, or FILE -, reads standard input. With --ids, every input line is a JSON array\n" +
			"of token IDs and gets its own verdict. Several keys (repeat --key, or a directory of key files)\n" +
			"test every input under each, with Holm's correction across keys. Exit codes: 0 watermark found\n" +
			"in at least one input, 1 none found, 2 error (then the other inputs are still tested).",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "key", Aliases: []string{"k"}, Usage: "key `FILE` or directory of key files; repeat for several keys (default: the contents of $TRACEMARK_KEY)"},
			&cli.StringFlag{Name: "scheme", Usage: "scheme `SPEC` (default: the scheme stored with each key)"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer `NAME` (default: the key's; known: o200k_base, cl100k_base, p50k_base, r50k_base)"},
			tokenizerMismatchOK(),
			normalizeFlag(),
			&cli.Float64Flag{Name: "alpha", Value: detect.DefaultAlpha, Usage: "significance level: call a text watermarked when p <= `A`"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per input"},
			&cli.BoolFlag{Name: "ids", Usage: "inputs hold token IDs, one JSON array per line, instead of text"},
			&cli.BoolFlag{Name: "no-dedup", Usage: "count repeated (context, token) tuples again (p-values are then INVALID on repetitive text; for experiments only)"},
		}, spanFlags()...),
		Action: func(c *cli.Context) error { return runDetect(c, e) },
	}
}

// detection is one line of `detect --json` output with one key.
type detection struct {
	Input string `json:"input"`
	detect.Result
	keyDefaults // the key's own scheme and tokenizer, beside the ones used
	// Engine is the serving engine's own detector result, for schemes
	// of an engine: vLLM's (docs/engines.md) or SynthID-Text's mean
	// scores (docs/engines-synthid.md).
	Engine *engineResult `json:"engine_detection,omitempty"`
	// Spans is the span test (detect --spans, docs/spans.md).
	Spans *spans.Result `json:"span_test,omitempty"`
}

// engineResult is an engine's own detector result for one key.
type engineResult struct {
	KeyID string `json:"key_id"`
	watermark.EngineDetection
}

// MarshalJSON writes key_id and then the engine result's own members
// (watermark.EngineDetection.MarshalJSON, which would otherwise be
// promoted and leave key_id out).
func (e engineResult) MarshalJSON() ([]byte, error) {
	inner, err := json.Marshal(e.EngineDetection)
	if err != nil {
		return nil, err
	}
	id, err := json.Marshal(e.KeyID)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"key_id":`), id...)
	if len(inner) > 2 { // inner is an object: {...}
		out = append(out, ',')
	}
	return append(out, inner[1:]...), nil
}

// multiDetection is one line of `detect --json` output with several keys.
type multiDetection struct {
	Input string `json:"input"`
	detect.MultiResult
	keyDefaults // the best key's own scheme and tokenizer
	// Engines are the engine detector results of the keys whose schemes
	// have one, in key order.
	Engines []engineResult `json:"engine_detections,omitempty"`
}

type detectRun struct {
	env      *env
	dets     []*detect.Detector // one per key
	schemes  []watermark.Scheme // one per key
	engine   bool               // some scheme has an engine detector
	all      []uint32           // the current input's tokens, when engine
	defaults map[string]keyDefaults
	alpha    float64
	tok      tokenize.Tokenizer
	json     bool
	ids      []uint32
	found    int
	failures int
	ev       *evidenceRun // --evidence; nil without
	spans    *spanRun     // --spans, --html
}

// schemesFor binds each key to its scheme, or to --scheme when given.
func schemesFor(c *cli.Context, keys []*watermark.Key) ([]watermark.Scheme, error) {
	var override watermark.Config
	if s := c.String("scheme"); s != "" {
		var err error
		if override, err = watermark.ParseSpec(s); err != nil {
			return nil, err
		}
	}
	var out []watermark.Scheme
	for _, k := range keys {
		cfg := k.Scheme
		if override != nil {
			cfg = override
		}
		s, err := watermark.NewScheme(k, cfg)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.ID(), err)
		}
		out = append(out, s)
	}
	return out, nil
}

// normalizeFlag is --normalize of detect and scan.
func normalizeFlag() cli.Flag {
	return &cli.BoolFlag{Name: "normalize", Usage: "remove zero-width characters and fold Cyrillic/Greek look-alikes in Latin text before tokenizing (undoes the cheapest attacks; the p-values stay exact)"}
}

func runDetect(c *cli.Context, e *env) error {
	schemes, tok, defaults, err := keysAndDefaults(c, e)
	if err != nil {
		return err
	}
	if err := checkLevels(c); err != nil {
		return err
	}
	opts := detect.Options{Alpha: c.Float64("alpha"), NoDedup: c.Bool("no-dedup"), Tokenizer: tok.Name()}
	r := &detectRun{env: e, tok: tok, json: c.Bool("json"), alpha: opts.Alpha, defaults: defaults}
	for _, s := range schemes {
		d, err := detect.New(s, opts)
		if err != nil {
			return err
		}
		r.dets = append(r.dets, d)
		if _, ok := s.(watermark.EngineDetector); ok {
			r.engine = true
		}
	}
	r.schemes = schemes
	if r.spans, err = newSpanRun(c, r.dets, tok); err != nil {
		return err
	}
	inputs := c.Args().Slice()
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	if r.ev, err = newEvidenceRun(c, e, "detect", schemes, tok); err == nil {
		err = r.ev.inputs(inputs)
	}
	if err != nil {
		return err
	}
	for _, name := range inputs {
		if err := c.Context.Err(); err != nil {
			return err
		}
		if err := r.input(c.Context, name, c.Bool("ids")); err != nil {
			r.fail(err)
		}
	}
	if err := r.spans.writeHTML(); err != nil {
		r.fail(err)
	}
	r.ev.count("errors", r.failures) // inputs or lines that could not be tested
	if err := r.ev.write(e); err != nil {
		return err
	}
	switch {
	case r.failures > 0:
		return exitCode(exitError)
	case r.found > 0:
		return nil
	default:
		return exitCode(exitNotFound)
	}
}

func (r *detectRun) fail(err error) {
	r.failures++
	fmt.Fprintf(r.env.stderr, "tracemark: %v\n", err)
}

// openInput opens a named input ("-" is standard input) as text: special
// files and binary content are refused, compression undone
// (corpora.OpenText), and reads end with ctx's error once ctx is done. It
// returns the name to show for it.
func openInput(ctx context.Context, e *env, name string) (io.ReadCloser, string, error) {
	display := name
	if name == "-" {
		display = "<stdin>"
	}
	in, err := corpora.OpenText(ctx, name, e.stdin)
	return in, display, err
}

// readInput reads a whole named input into memory the Go heap owns.
func readInput(ctx context.Context, e *env, name string) (string, []byte, error) {
	display, data, _, err := readWholeInput(ctx, e, name, false)
	return display, data, err
}

// readWholeInput reads a whole named input. A regular file's size is the
// capacity to start from (exact for plain text, a floor for compressed
// input): one buffer, no regrowth copies. With outsideHeap, that buffer is
// taken outside the Go heap (package bigbuf) and release frees it: data
// must not be used after release is called.
func readWholeInput(ctx context.Context, e *env, name string, outsideHeap bool) (display string, data []byte, release func(), err error) {
	in, display, err := openInput(ctx, e, name)
	if err != nil {
		return display, nil, func() {}, err
	}
	defer in.Close()
	hint := bytes.MinRead
	if fi, err := os.Stat(name); name != "-" && err == nil && fi.Mode().IsRegular() {
		// One byte more than the file, to see the end without growing.
		hint = int(min(fi.Size(), 1<<40)) + 1
	}
	var buf []byte
	release = func() {}
	if outsideHeap {
		buf, release = bigbuf.Alloc(hint)
	} else {
		buf = make([]byte, hint)
	}
	n := 0
	for {
		if n == len(buf) {
			// Longer than its size said (compressed, or growing): go on
			// in an ordinary slice.
			grown := make([]byte, 2*len(buf)+bytes.MinRead)
			copy(grown, buf[:n])
			release()
			buf, release = grown, func() {}
		}
		m, err := in.Read(buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			release()
			return display, nil, func() {}, fmt.Errorf("%s: %w", display, err)
		}
	}
	return display, buf[:n], release, nil
}

// input tests one named input ("-" is standard input).
//
// Compressed input (gzip, zstd, xz, bzip2) is decompressed, as scan does;
// binary input is refused with an error, never scored.
func (r *detectRun) input(ctx context.Context, name string, ids bool) error {
	keepAll := r.engine && r.json || r.spans != nil
	display := name
	if name == "-" {
		display = "<stdin>"
	}
	in, err := corpora.OpenText(ctx, name, r.env.stdin)
	if err != nil {
		return err
	}
	defer in.Close()
	if ids {
		return r.idLines(in, display)
	}
	streams := make([]*detect.Stream, len(r.dets))
	r.all = r.all[:0]
	key := detect.NewDedupKey()
	for i, d := range r.dets {
		streams[i] = d.NewStream(key)
	}
	err = readParts(in, detectPart, func(part []byte) error {
		var err error
		if r.ids, err = r.tok.AppendEncode(r.ids[:0], string(part)); err != nil {
			return fmt.Errorf("%s: %w", display, err)
		}
		for _, s := range streams {
			s.Add(r.ids)
		}
		if keepAll {
			r.all = append(r.all, r.ids...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	results := make([]detect.Result, len(streams))
	for i, s := range streams {
		results[i] = s.Result()
	}
	return r.results(display, results)
}

// detectPart is how much text detect tokenizes at a time: a long input is
// scored in parts with bounded memory (detect.Stream), cut where the
// tokens do not change (tokenize.CutPoint).
const detectPart = 4 << 20

// readParts reads in in parts of at most size bytes (more only to finish a
// UTF-8 sequence), each cut at tokenize.CutPoint where there is one, and
// calls f with each; the slice is reused.
func readParts(in io.Reader, size int, f func([]byte) error) error {
	buf := make([]byte, 0, size)
	for {
		n, err := io.ReadFull(in, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if len(buf) > 0 {
				return f(buf)
			}
			return nil
		}
		if err != nil {
			return err
		}
		cut := tokenize.CutPoint(buf)
		if cut < 0 {
			cut = tokenize.UTF8Cut(buf)
		}
		if err := f(buf[:cut]); err != nil {
			return err
		}
		buf = buf[:copy(buf, buf[cut:])]
	}
}

// tokens tests one token sequence and reports it.
func (r *detectRun) tokens(name string, ids []uint32) error {
	results := make([]detect.Result, len(r.dets))
	for i, d := range r.dets {
		results[i] = d.Tokens(ids)
	}
	r.all = append(r.all[:0], ids...)
	return r.results(name, results)
}

// results reports one input's results, one per key.
func (r *detectRun) results(name string, results []detect.Result) error {
	for i := range results {
		results[i].Tokenizer = r.tok.Name()
	}
	r.ev.text(name, results)
	if len(results) == 1 {
		return r.report(name, results[0])
	}
	return r.reportMulti(name, detect.Combine(results, r.alpha))
}

// engineResults computes the engine detector results of the keys whose
// schemes have one, on the current input's tokens.
func (r *detectRun) engineResults() []engineResult {
	if !r.engine || !r.json {
		return nil
	}
	var out []engineResult
	for _, s := range r.schemes {
		if e, ok := s.(watermark.EngineDetector); ok {
			out = append(out, engineResult{KeyID: s.KeyID(), EngineDetection: e.EngineDetect(r.all)})
		}
	}
	return out
}

// idLines tests every non-empty line of in as a JSON array of token IDs.
// A bad line is reported with its number and skipped.
func (r *detectRun) idLines(in io.Reader, display string) error {
	br := bufio.NewReaderSize(in, 1<<16)
	var line []byte
	for lineNo := 1; ; lineNo++ {
		var err error
		var tooLong bool
		line, tooLong, err = readLine(br, line[:0], maxIDLine)
		if len(bytes.TrimSpace(line)) > 0 || tooLong {
			where := fmt.Sprintf("%s:%d", display, lineNo)
			if tooLong {
				r.fail(fmt.Errorf("%s: line longer than %d bytes, skipped", where, maxIDLine))
			} else if ids, perr := parseIDs(line); perr != nil {
				r.fail(fmt.Errorf("%s: %w", where, perr))
			} else if rerr := r.tokens(where, ids); rerr != nil {
				return rerr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", display, lineNo, err)
		}
	}
}

// readLine appends the next line of br (without its newline) to buf. If the
// line is longer than limit it is consumed, not kept, and tooLong is set.
func readLine(br *bufio.Reader, buf []byte, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > limit+1 {
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		line = bytes.TrimSuffix(buf, []byte("\n"))
		if len(line) > limit {
			return buf[:0], true, err
		}
		return line, tooLong, err
	}
}

// parseIDs parses a JSON array of token IDs (integers in [0, 2^32)).
func parseIDs(line []byte) ([]uint32, error) {
	if ids, ok := parseIDsFast(line); ok {
		return ids, nil
	}
	return parseIDsJSON(line)
}

// parseIDsJSON is parseIDs through encoding/json.
func parseIDsJSON(line []byte) ([]uint32, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var raw []json.Number
	if err := dec.Decode(&raw); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, fmt.Errorf("not a JSON array of token IDs (syntax error at byte %d)", syn.Offset)
		}
		return nil, errors.New("not a JSON array of token IDs")
	}
	if dec.More() {
		return nil, errors.New("data after the JSON array (one array per line)")
	}
	ids := make([]uint32, len(raw))
	for i, n := range raw {
		v, err := strconv.ParseUint(string(n), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("token %d (%.40s) is not an integer in [0, 4294967295]", i, n)
		}
		ids[i] = uint32(v)
	}
	return ids, nil
}

func (r *detectRun) report(name string, res detect.Result) error {
	var sr *spans.Result
	if r.spans != nil {
		v, err := r.spans.scan(name, r.all)
		if err != nil {
			return err
		}
		sr = &v
	}
	if res.Detected && sr == nil || sr != nil && sr.Detected {
		r.found++
	}
	if r.json {
		d := detection{Input: name, Result: res, keyDefaults: r.defaults[res.KeyID], Spans: sr}
		if e := r.engineResults(); len(e) == 1 {
			d.Engine = &e[0]
		}
		return r.encode(d)
	}
	if res.TooShort {
		_, err := fmt.Fprintf(r.env.stdout, "%s: too short to test (%d scored tokens of %d; key %s)\n", name, res.Scored, res.Tokens, res.KeyID)
		return err
	}
	_, err := fmt.Fprintf(r.env.stdout, "%s: %s (%s; key %s)%s\n", name, verdict(res.Detected), evidence(res), res.KeyID, payloadNote(res))
	if err == nil && sr != nil {
		err = describeSpans(r.env.stdout, *sr)
	}
	if err == nil {
		err = r.spans.printColor(r.env.stdout)
	}
	return err
}

func (r *detectRun) reportMulti(name string, res detect.MultiResult) error {
	if res.Detected {
		r.found++
	}
	if r.json {
		res.Tokenizer = r.tok.Name()
		return r.encode(multiDetection{Input: name, MultiResult: res, keyDefaults: r.defaults[res.KeyID], Engines: r.engineResults()})
	}
	if res.TooShort {
		_, err := fmt.Fprintf(r.env.stdout, "%s: too short to test (%d scored tokens of %d; %d keys)\n", name, res.Scored, res.Tokens, res.KeysTested)
		return err
	}
	matched := "none"
	if len(res.MatchedKeys) > 0 {
		matched = strings.Join(res.MatchedKeys, ", ")
	}
	_, err := fmt.Fprintf(r.env.stdout, "%s: %s (best key %s: %s; Holm-adjusted over %d keys; matched keys: %s)%s\n",
		name, verdict(res.Detected), res.KeyID, evidence(res.Result), res.KeysTested, matched, payloadNote(res.Result))
	return err
}

func (r *detectRun) encode(v any) error {
	enc := json.NewEncoder(r.env.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func verdict(detected bool) string {
	if detected {
		return "WATERMARKED"
	}
	return "no watermark"
}

// evidence is the human-readable summary of a result's statistics.
func evidence(res detect.Result) string {
	p := strconv.FormatFloat(res.PValue, 'g', 3, 64)
	if res.PValue == 0 {
		p = "<1e-308"
	}
	what := fmt.Sprintf("%d of %d scored tokens green", res.Green, res.Scored)
	switch res.Test {
	case detect.TestGamma:
		what = fmt.Sprintf("score %.1f over %d scored tokens", res.Score, res.Scored)
	case detect.TestPayloadExact, detect.TestPayloadBonferro, detect.TestPayloadFold:
		what = fmt.Sprintf("payload support %.0f of %d scored tokens", res.Score, res.Scored)
	default:
		if res.MeanScore > 0 {
			what = fmt.Sprintf("mean g %.3f over %d scored tokens", res.MeanScore, res.Scored)
		}
	}
	return fmt.Sprintf("p=%s, log10_p=%.2f, z=%.2f; %s, %d tokens; alpha %g", p, res.Log10P, res.Z, what, res.Tokens, res.Alpha)
}

// payloadNote describes the decoded payload, if the scheme carries one.
func payloadNote(res detect.Result) string {
	if res.PayloadPValue == nil {
		return ""
	}
	claim := "not claimed"
	if res.PayloadClaimed {
		claim = "claimed"
	}
	return fmt.Sprintf(" payload %s %s (p=%.3g)", res.Payload, claim, *res.PayloadPValue)
}
