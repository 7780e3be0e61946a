package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/tracemark/tracemark/detect"
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
		UsageText: "tracemark detect [--key KEYFILE] [--scheme SPEC] [--tokenizer NAME] [--alpha A] [--json] [--ids] [FILE|-]...\n\n" +
			"With no FILE, or FILE -, reads standard input. With --ids, every input line is a JSON array\n" +
			"of token IDs and gets its own verdict. Exit codes: 0 watermark found in at least one input,\n" +
			"1 none found, 2 error (then the other inputs are still tested).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Aliases: []string{"k"}, Usage: "key `FILE` (default: the contents of $TRACEMARK_KEY)"},
			&cli.StringFlag{Name: "scheme", Usage: "scheme `SPEC` (default: the scheme stored with the key)"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer `NAME` (default: the key's; known: o200k_base, cl100k_base, p50k_base, r50k_base)"},
			&cli.Float64Flag{Name: "alpha", Value: detect.DefaultAlpha, Usage: "significance level: call a text watermarked when p <= `A`"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per input"},
			&cli.BoolFlag{Name: "ids", Usage: "inputs hold token IDs, one JSON array per line, instead of text"},
			&cli.BoolFlag{Name: "no-dedup", Usage: "count repeated (context, token) tuples again (p-values are then INVALID on repetitive text; for experiments only)"},
		},
		Action: func(c *cli.Context) error { return runDetect(c, e) },
	}
}

// detection is one line of `detect --json` output.
type detection struct {
	Input string `json:"input"`
	detect.Result
}

type detectRun struct {
	env      *env
	det      *detect.Detector
	tok      tokenize.Tokenizer
	json     bool
	found    int
	failures int
}

func runDetect(c *cli.Context, e *env) error {
	key, err := watermark.LoadKey(c.String("key"))
	if err != nil {
		return err
	}
	cfg := key.Scheme
	if s := c.String("scheme"); s != "" {
		if cfg, err = watermark.ParseSpec(s); err != nil {
			return err
		}
	}
	kgwCfg, ok := cfg.(watermark.KGWConfig)
	if !ok {
		return fmt.Errorf("scheme %s cannot be detected yet", cfg)
	}
	scheme, err := watermark.NewKGW(key, kgwCfg)
	if err != nil {
		return err
	}
	tokName := key.Tokenizer
	if c.IsSet("tokenizer") {
		tokName = c.String("tokenizer")
	}
	tok, err := tokenize.Get(tokName)
	if err != nil {
		return err
	}
	if a := c.Float64("alpha"); !(a > 0 && a < 1) {
		return fmt.Errorf("--alpha: alpha must be in (0, 1), got %v", a)
	}
	det, err := detect.New(scheme, detect.Options{Alpha: c.Float64("alpha"), NoDedup: c.Bool("no-dedup"), Tokenizer: tok.Name()})
	if err != nil {
		return err
	}
	r := &detectRun{env: e, det: det, tok: tok, json: c.Bool("json")}
	inputs := c.Args().Slice()
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	for _, name := range inputs {
		if err := c.Context.Err(); err != nil {
			return err
		}
		if err := r.input(name, c.Bool("ids")); err != nil {
			r.fail(err)
		}
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

// openInput opens a named input ("-" is standard input) and returns the
// name to show for it.
func openInput(e *env, name string) (io.ReadCloser, string, error) {
	if name == "-" {
		return io.NopCloser(e.stdin), "<stdin>", nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, name, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, name, fmt.Errorf("%s: is a directory", name)
	}
	return f, name, nil
}

// readInput reads a whole named input.
func readInput(e *env, name string) (string, []byte, error) {
	in, display, err := openInput(e, name)
	if err != nil {
		return display, nil, err
	}
	defer in.Close()
	data, err := io.ReadAll(in)
	if err != nil {
		return display, nil, fmt.Errorf("%s: %w", display, err)
	}
	return display, data, nil
}

// input tests one named input ("-" is standard input).
func (r *detectRun) input(name string, ids bool) error {
	if ids {
		in, display, err := openInput(r.env, name)
		if err != nil {
			return err
		}
		defer in.Close()
		return r.idLines(in, display)
	}
	display, data, err := readInput(r.env, name)
	if err != nil {
		return err
	}
	res, err := r.det.Text(r.tok, string(data))
	if err != nil {
		return fmt.Errorf("%s: %w", display, err)
	}
	return r.report(display, res)
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
			} else if rerr := r.report(where, r.det.Tokens(ids)); rerr != nil {
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
	if res.Detected {
		r.found++
	}
	if r.json {
		enc := json.NewEncoder(r.env.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(detection{Input: name, Result: res})
	}
	verdict := "no watermark"
	if res.Detected {
		verdict = "WATERMARKED"
	}
	p := strconv.FormatFloat(res.PValue, 'g', 3, 64)
	if res.PValue == 0 {
		p = "<1e-308"
	}
	_, err := fmt.Fprintf(r.env.stdout, "%s: %s (p=%s, log10_p=%.2f, z=%.2f; %d of %d scored tokens green, %d tokens; alpha %g; key %s)\n",
		name, verdict, p, res.Log10P, res.Z, res.Green, res.Scored, res.Tokens, res.Alpha, res.KeyID)
	return err
}
