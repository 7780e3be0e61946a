package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/urfave/cli/v2"
)

func ngramCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "ngram",
		Usage: "train n-gram language models (students, rivals) that serve and generate can use",
		Subcommands: []*cli.Command{{
			Name:  "train",
			Usage: "train an order-4 Kneser-Ney n-gram model over o200k_base on text files and write it to a model file",
			UsageText: "tracemark ngram train --out MODEL [--format F] [--field PATH] [--role ROLE] [--split S] TEXT...\n\n" +
				"Reads TEXT files (any format scan reads: text, JSON Lines, JSON, CSV, ...; compressed or not; - is\n" +
				"standard input) and trains on every document (n-grams never cross documents). Serve the model\n" +
				"with 'tracemark serve --model-file MODEL'. Unreadable records are reported on stderr and counted;\n" +
				"an input that cannot be read at all is an error.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "model `FILE` to write (zstd; overwritten atomically)"},
				&cli.StringFlag{Name: "format", Usage: "input format (default: detected per file)"},
				&cli.StringFlag{Name: "field", Usage: "JSON path or CSV column of the text (default: text, content, messages[].content, ...)"},
				&cli.StringFlag{Name: "role", Usage: "keep only chat turns with this role (e.g. assistant)"},
				&cli.StringFlag{Name: "split", Usage: "cut plain text into documents: file (default), lines or paragraphs"},
			},
			Action: func(c *cli.Context) error { return runNgramTrain(c, e) },
		}},
	}
}

func runNgramTrain(c *cli.Context, e *env) error {
	if c.NArg() == 0 {
		return fmt.Errorf("ngram train needs at least one TEXT file (or - for standard input)")
	}
	start := time.Now()
	tok, err := tokenize.Get(ngram.BuiltinTokenizer)
	if err != nil {
		return err
	}
	r, err := corpora.NewReader(corpora.ReadOptions{Format: c.String("format"), Field: c.String("field"), Role: c.String("role"), Split: c.String("split")})
	if err != nil {
		return err
	}
	r.Stdin = e.stdin
	var docs [][]uint32
	tokens, diags := 0, 0
	for _, path := range c.Args().Slice() {
		_, err := r.ReadFile(c.Context, path, func(d corpora.Document) error {
			ids, err := tok.AppendEncode(nil, d.Text)
			if err != nil {
				return fmt.Errorf("%s %s: %w", d.Source, d.Location, err)
			}
			if len(ids) > 0 {
				docs = append(docs, ids)
				tokens += len(ids)
			}
			return nil
		}, func(d corpora.Diagnostic) {
			diags++
			fmt.Fprintf(e.stderr, "tracemark: %v\n", d)
		})
		if err != nil {
			return fmt.Errorf("ngram train: %s: %w", path, err)
		}
	}
	if tokens == 0 {
		return fmt.Errorf("ngram train: the inputs hold no text to train on")
	}
	m, err := ngram.Train(c.Context, docs, ngram.BuiltinVocab)
	if err != nil {
		return err
	}
	out := c.String("out")
	tmp, err := os.CreateTemp(filepath.Dir(out), ".ngram-*")
	if err != nil {
		return fmt.Errorf("ngram train: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := m.Save(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("ngram train: writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ngram train: writing %s: %w", out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("ngram train: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("ngram train: %w", err)
	}
	fmt.Fprintf(e.stderr, "tracemark: trained on %d documents, %d tokens (%s) in %.1f s; %d input problems; wrote %s\n",
		len(docs), tokens, ngram.BuiltinTokenizer, time.Since(start).Seconds(), diags, out)
	return nil
}

// loadModelFile reads an n-gram model file made by ngram train.
func loadModelFile(path string) (*ngram.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model file: %w", err)
	}
	defer f.Close()
	m, err := ngram.Load(f)
	if err != nil {
		return nil, fmt.Errorf("model file %s: %w", path, err)
	}
	return m, nil
}
