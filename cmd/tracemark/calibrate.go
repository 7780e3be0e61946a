package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/tracemark/tracemark/calibrate"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	ev "github.com/tracemark/tracemark/evidence"
	"github.com/urfave/cli/v2"
)

// uniformityLevel is the level below which calibrate calls the p-values
// not uniform (too many small ones).
const uniformityLevel = 1e-3

func calibrateCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "calibrate",
		Usage: "measure the false-positive rate of per-document detection under one fixed key on human text",
		UsageText: "tracemark calibrate --key KEYFILE [--scheme SPEC] [--tokenizer NAME] [--normalize] [--format F] [--field PATH]...\n" +
			"    [--split S] [--doc-dedup MODE] [--alpha A] [--level L]... [-j N] [--out FILE] [--json] HUMAN_CORPUS...\n\n" +
			"Reads the corpora as scan does, tests every document under the key, and reports the fraction\n" +
			"flagged at 0.01, 0.001, 0.0001 and --alpha with 95% Clopper-Pearson intervals, and a Kolmogorov-\n" +
			"Smirnov check of the p-values. --out writes the result as JSON for --calibration FILE of detect\n" +
			"and scan. Exit codes: 0 every rate is consistent with its level and the p-values are not too\n" +
			"small, 1 a rate exceeds its level or the p-values are too small (p < 0.001), 2 error.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "key", Aliases: []string{"k"}, Usage: "the deployed key `FILE` (exactly one; default: $TRACEMARK_KEY)"},
			&cli.StringFlag{Name: "scheme", Usage: "scheme `SPEC` (default: the key's)"},
			&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer `NAME` (default: the key's)"},
			tokenizerMismatchOK(),
			normalizeFlag(),
			&cli.StringFlag{Name: "format", Value: "auto", Usage: "input format: " + strings.Join(corpora.Formats, ", ")},
			&cli.StringSliceFlag{Name: "field", Usage: "JSON `PATH` or CSV column of the text (as scan)"},
			&cli.StringFlag{Name: "id-field", Value: "id", Usage: "JSON `PATH` or CSV column of the document ID"},
			&cli.StringFlag{Name: "role", Usage: "score only chat turns of this role"},
			&cli.StringFlag{Name: "split", Value: "file", Usage: "plain text units: file, lines or paragraphs"},
			&cli.StringFlag{Name: "doc-dedup", Value: "document", Usage: "per-document dedup `MODE`: document or corpus (as scan)"},
			&cli.Float64Flag{Name: "alpha", Value: detect.DefaultAlpha, Usage: "the deployed threshold, measured beside the levels"},
			&cli.Float64SliceFlag{Name: "level", Usage: "levels to measure (default 0.01, 0.001, 0.0001); repeatable"},
			&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Value: runtime.NumCPU(), Usage: "worker goroutines"},
			&cli.StringFlag{Name: "out", Usage: "write the result as JSON to `FILE`"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
		},
		Action: func(c *cli.Context) error { return runCalibrate(c, e) },
	}
}

func runCalibrate(c *cli.Context, e *env) error {
	if c.NArg() == 0 {
		return errors.New("calibrate: no corpus (give HUMAN_CORPUS...)")
	}
	if err := checkLevels(c); err != nil {
		return err
	}
	schemes, tok, err := keysFor(c, e)
	if err != nil {
		return err
	}
	if len(schemes) != 1 {
		return fmt.Errorf("calibrate measures one fixed key; %d were given", len(schemes))
	}
	mode, err := docDedupFlag(c)
	if err != nil {
		return err
	}
	levels := c.Float64Slice("level")
	for _, l := range levels {
		if !(l > 0 && l < 1) {
			return fmt.Errorf("--level: a level must be in (0, 1), got %v", l)
		}
	}
	walked, err := corpora.Walk(c.Context, c.Args().Slice(), corpora.WalkOptions{})
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	for _, f := range walked.Files {
		if f == "-" {
			return errors.New("calibrate: standard input cannot be cited (its hash could not be checked); give files")
		}
	}
	cfg := calibrate.Config{Scheme: schemes[0], Tokenizer: tok, Workers: c.Int("jobs"), DocDedup: mode, Alpha: c.Float64("alpha"),
		Levels: levels, Normalize: c.Bool("normalize"),
		Read: corpora.ReadOptions{Format: c.String("format"), Fields: c.StringSlice("field"), IDField: c.String("id-field"),
			Role: c.String("role"), Split: c.String("split")}}
	res, err := calibrate.Run(c.Context, cfg, walked.Files)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if p := c.String("out"); p != "" {
		if err := writeFileAtomic(p, data, 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	ok := res.Uniformity.ExcessP >= uniformityLevel
	for _, l := range res.Levels {
		ok = ok && l.Consistent
	}
	if c.Bool("json") {
		_, err = e.stdout.Write(data)
	} else {
		err = printCalibration(e, res, ok)
	}
	if err != nil {
		return err
	}
	if res.Errors > 0 {
		fmt.Fprintf(e.stderr, "tracemark: %d bad records or files were skipped\n", res.Errors)
	}
	if !ok {
		return exitCode(exitNotFound)
	}
	return nil
}

func printCalibration(e *env, res *ev.Calibration, ok bool) error {
	w := e.stdout
	fmt.Fprintf(w, "key %s, scheme %s, tokenizer %s: %d documents (%d with nothing scored), %s per-document dedup\n",
		res.KeyID, res.Scheme, res.Tokenizer, res.Documents, res.Unscored, res.Options.DocDedup)
	fmt.Fprintf(w, "%10s %8s %12s  %s\n", "alpha", "flagged", "rate", "95% Clopper-Pearson interval")
	for _, l := range res.Levels {
		note := ""
		if !l.Consistent {
			note = "  EXCEEDS alpha"
		}
		fmt.Fprintf(w, "%10g %8d %12.3g  [%.3g, %.3g]%s\n", l.Alpha, l.Flagged, l.Rate, l.CILow, l.CIHigh, note)
	}
	u := res.Uniformity
	fmt.Fprintf(w, "uniformity of %d p-values: one-sided KS D+=%.4f (p<=%.3g; too many small p-values if < %g), two-sided D=%.4f (p=%.3g; discrete tests are conservative)\n",
		u.N, u.ExcessD, u.ExcessP, uniformityLevel, u.D, u.P)
	verdict := "calibrated: the false-positive rates are consistent with their levels"
	if !ok {
		verdict = "NOT CALIBRATED: see the rows above"
	}
	_, err := fmt.Fprintln(w, verdict)
	return err
}
