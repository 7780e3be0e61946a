package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/spans"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/urfave/cli/v2"
)

// spanFlags are detect's localized-detection flags (docs/spans.md).
func spanFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "spans", Usage: "also scan windows of each input for a watermarked passage; the verdict is then the span test's (docs/spans.md)"},
		&cli.StringFlag{Name: "html", Usage: "write a self-contained HTML view of every input (tokens coloured by evidence, spans outlined) to `OUT.html`; implies --spans"},
		&cli.BoolFlag{Name: "color", Usage: "print each input's text with ANSI colours (evidence per token, spans underlined) after its verdict; implies --spans"},
	}
}

// spanRun is the span test of a detect run: one scanner, and the
// documents the HTML view will show.
type spanRun struct {
	sc      *spans.Scanner
	tok     tokenize.Tokenizer
	html    string
	docs    []spans.Doc
	offsets []int
	text    bool       // inputs are text (byte offsets known)
	color   bool       // --color: print the ANSI view
	pending *spans.Doc // --color: the view to print after the verdict
}

// newSpanRun returns nil without --spans or --html.
func newSpanRun(c *cli.Context, dets []*detect.Detector, tok tokenize.Tokenizer) (*spanRun, error) {
	if !c.Bool("spans") && c.String("html") == "" && !c.Bool("color") {
		return nil, nil
	}
	if c.Bool("color") && c.Bool("json") {
		return nil, errors.New("--color prints coloured text, not JSON: drop --json or --color")
	}
	if len(dets) != 1 {
		return nil, errors.New("--spans and --html take one key")
	}
	sc, err := spans.New(dets[0], spans.Options{})
	if err != nil {
		return nil, err
	}
	return &spanRun{sc: sc, tok: tok, html: c.String("html"), text: !c.Bool("ids"), color: c.Bool("color")}, nil
}

// scan runs the span test on one input's tokens.
func (s *spanRun) scan(name string, ids []uint32) (spans.Result, error) {
	var offsets []int
	if s.text {
		var err error
		if s.offsets, err = tokenize.AppendByteOffsets(s.offsets[:0], s.tok, ids); err != nil {
			return spans.Result{}, fmt.Errorf("%s: %w", name, err)
		}
		offsets = s.offsets
	}
	res := s.sc.Scan(ids, offsets)
	if s.color {
		doc, err := s.doc(name, ids, res)
		if err != nil {
			return res, err
		}
		s.pending = &doc
	}
	if s.html != "" {
		doc, err := s.doc(name, ids, res)
		if err != nil {
			return res, err
		}
		s.docs = append(s.docs, doc)
	}
	return res, nil
}

// doc builds the view of one input.
func (s *spanRun) doc(name string, ids []uint32, res spans.Result) (spans.Doc, error) {
	return s.sc.View(s.tok, name, ids, res)
}

// writeHTML writes the view of all inputs, if --html was given.
func (s *spanRun) writeHTML() error {
	if s == nil || s.html == "" {
		return nil
	}
	f, err := os.Create(s.html)
	if err != nil {
		return fmt.Errorf("html view: %w", err)
	}
	if err := spans.WriteHTML(f, s.docs); err != nil {
		f.Close()
		return fmt.Errorf("html view %s: %w", s.html, err)
	}
	return f.Close()
}

// printColor prints the pending ANSI view of the last input (--color).
func (s *spanRun) printColor(w io.Writer) error {
	if s == nil || s.pending == nil {
		return nil
	}
	d := *s.pending
	s.pending = nil
	return spans.WriteANSI(w, d)
}

// describeSpans is the human-readable form of a span result.
func describeSpans(w io.Writer, res spans.Result) error {
	_, err := fmt.Fprintf(w, "  span test: %s (p=%.3g; global p=%.3g, local p=%.3g over %d windows)\n",
		verdict(res.Detected), res.PValue, res.GlobalPValue, res.LocalPValue, res.Windows)
	for i, sp := range res.Spans {
		if err != nil {
			return err
		}
		where := fmt.Sprintf("tokens %d-%d", sp.TokenStart, sp.TokenEnd)
		if sp.ByteStart >= 0 {
			where += fmt.Sprintf(", bytes %d-%d", sp.ByteStart, sp.ByteEnd)
		}
		pay := ""
		if sp.PayloadPValue != nil {
			claim := "not claimed"
			if sp.PayloadClaimed {
				claim = "claimed"
			}
			pay = fmt.Sprintf("; payload %s %s (p=%.3g)", sp.Evidence.Payload, claim, *sp.PayloadPValue)
		}
		_, err = fmt.Fprintf(w, "  span %d: %s: p=%.3g (log10_p=%.2f)%s\n", i+1, where, sp.PValue, sp.Log10P, pay)
	}
	return err
}
