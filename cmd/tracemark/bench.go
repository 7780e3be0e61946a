package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tracemark/tracemark/benchmarks"
	"github.com/urfave/cli/v2"
)

// benchSections are the subcommands of `tracemark bench`, in report order;
// each name is a section of benchmarks.Run.
var benchSections = []struct{ name, usage string }{
	{"fpr", "false-positive rate on human text (prose and code) under many random keys"},
	{"power", "tokens needed to reach p < 1e-6, and TPR against length"},
	{"robustness", "TPR at alpha 1e-6 after edits of increasing strength"},
	{"quality", "perplexity (generator and judge model) and distinct-n of watermarked text"},
	{"distill", "does the watermark survive distillation into a student model?"},
	{"speed", "whole-run speed: start-up, end-to-end generation and scan throughput (micro-timings: go test -bench)"},
	{"spans", "span test (detect --spans): null FPR on 1k-20k-token human documents, power on marked passages inside them (not part of all)"},
}

func benchCommand(e *env) *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "bench-results", Usage: "output `DIR`: REPORT.md, results.json and PNG plots (sections of earlier runs in DIR are kept)"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of every random choice (keys, prompts, sampling, attacks)"},
		&cli.BoolFlag{Name: "quick", Usage: "smoke-test sizes (about a minute for all sections); numbers too small to quote"},
		&cli.IntFlag{Name: "jobs", Aliases: []string{"j"}, Usage: "worker goroutines (default: all cores)"},
		&cli.IntFlag{Name: "span-tests", Usage: "null tests per scheme of the spans section (default 100000; quick 60)"},
	}
	var subs []*cli.Command
	for i := range benchSections {
		s := benchSections[i]
		f := flags
		if s.name == "fpr" {
			f = append(f[:len(f):len(f)], &cli.StringSliceFlag{Name: "scheme", Usage: "run only the schemes whose SPEC (as listed in the report) or scheme name (before the colon) is `SPEC`; repeat for several (default: all; then the fixed-key section is skipped)"})
		}
		subs = append(subs, &cli.Command{
			Name:   s.name,
			Usage:  s.usage,
			Flags:  f,
			Action: func(c *cli.Context) error { return runBench(c, e, s.name) },
		})
	}
	subs = append(subs, &cli.Command{
		Name:  "report",
		Usage: "rewrite DIR/REPORT.md and the plots from DIR/results.json, running nothing",
		Flags: flags[:1],
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("bench report: unexpected argument %q", c.Args().First())
			}
			dir := c.String("out")
			r, err := benchmarks.LoadResults(dir)
			if err != nil {
				return err
			}
			if r.Tool == "" {
				return fmt.Errorf("bench report: no %s in %s", benchmarks.ResultsFile, dir)
			}
			if err := benchmarks.WriteReport(dir, r); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", filepath.Join(dir, benchmarks.ReportFile))
			return nil
		},
	}, &cli.Command{
		Name:   "all",
		Usage:  "every section, one report",
		Flags:  flags,
		Action: func(c *cli.Context) error { return runBench(c, e, "all") },
	})
	return &cli.Command{
		Name:  "bench",
		Usage: "benchmark false-positive rates, power, robustness, quality, distillation and speed",
		Description: "Writes DIR/REPORT.md (a short paper: setup, tables, plots), DIR/results.json (raw numbers)\n" +
			"and PNG plots. Reproducible from --seed. The default run of `all` takes about 8 minutes on 2 cores (the committed run: 468 s); --quick about 15 s.",
		Subcommands: subs,
	}
}

func runBench(c *cli.Context, e *env, which string) error {
	if c.NArg() > 0 {
		return fmt.Errorf("bench %s: unexpected argument %q", which, c.Args().First())
	}
	if c.Int("jobs") < 0 {
		return fmt.Errorf("bench %s: --jobs must be positive", which)
	}
	cfg := benchmarks.Config{Seed: c.Uint64("seed"), Quick: c.Bool("quick"), Workers: c.Int("jobs"), Log: e.stderr, SpanTests: c.Int("span-tests")}
	if which == "fpr" {
		cfg.Schemes = c.StringSlice("scheme")
	}
	if cfg.SpanTests < 0 {
		return fmt.Errorf("bench %s: --span-tests must be positive", which)
	}
	if exe, err := os.Executable(); err == nil {
		cfg.Executable = exe // the speed section times this binary's start-up
	}
	dir := c.String("out")
	prev, err := benchmarks.LoadResults(dir)
	if err != nil {
		return err
	}
	if prev.Tool != "" && (prev.Seed != cfg.Seed || prev.Quick != cfg.Quick) {
		// Sections from another seed or size do not belong in one report.
		prev = &benchmarks.Results{}
	}
	prev.Tool = "tracemark " + version()
	var names []string
	for _, s := range benchSections {
		if which == "all" && s.name != "spans" || which == s.name {
			names = append(names, s.name)
		}
	}
	err = benchmarks.Run(c.Context, cfg, prev, names, func(string) error {
		prev.Written = time.Now().UTC()
		return benchmarks.WriteReport(dir, prev)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s\n", filepath.Join(dir, benchmarks.ReportFile))
	return nil
}
