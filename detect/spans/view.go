package spans

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// MarkKind says how detection treated one token.
type MarkKind uint8

// Kinds of tokens.
const (
	Context  MarkKind = iota // among the first h tokens: no full context, not scored
	Scored                   // scored: its observation is counted
	Repeated                 // a repeat of an earlier (seed, token) tuple, or an excluded n-gram: not counted
)

// Mark is one token's evidence for a view.
type Mark struct {
	Kind MarkKind
	// Level is the token's evidence in [0, 1], 0.5 being what the null
	// expects on average: green (1) or red (0) for green-list schemes,
	// 1-exp(-score) (the keyed uniform) for Gumbel schemes, the fraction
	// of tournament layers won, and for payload schemes 1 if the token's
	// colour is the decoded symbol of its slot, else 0.
	Level float64
	// Binary: the level is 0 or 1 (green-list and payload schemes).
	Binary bool
}

// Marks returns the marks of the last scan's n tokens. Payload tokens are
// coloured against syms (a span's or the text's decoded symbols; nil:
// every payload token is neutral).
func (s *Scanner) Marks(n int, syms []int) []Mark {
	marks := make([]Mark, n)
	h := s.det.Scheme().ContextWidth()
	for i := range marks {
		if i >= h {
			marks[i].Kind = Repeated
		}
	}
	for k, o := range s.obs {
		p := s.pos[k]
		if p >= n {
			break
		}
		m := Mark{Kind: Scored}
		switch s.null.Kind {
		case watermark.BinomialNull:
			m.Level = o.Score / float64(max(s.null.Trials, 1))
			m.Binary = s.null.Trials == 1
		case watermark.GammaNull:
			k := 1.0
			if s.null.Shape > 1 {
				k = float64(s.null.Shape)
			}
			m.Level = 1 - math.Exp(-o.Score/k)
		case watermark.PayloadNull:
			m.Level, m.Binary = 0.5, true
			if int(o.Slot) < len(syms) {
				m.Level = 0
				if syms[o.Slot] == int(o.Colour) {
					m.Level = 1
				}
			}
		}
		marks[p] = m
	}
	return marks
}

// Doc is one text to render: its tokens' text (one string per token, in
// order), their marks, and the span test's result.
type Doc struct {
	Name   string
	Tokens []string
	Marks  []Mark
	Result Result
	Scheme string
	KeyID  string
}

// colour returns the CSS background of a scored token's level: red
// through white (0.5) to green.
func colour(level float64) string {
	level = math.Max(0, math.Min(1, level))
	if level >= 0.5 {
		t := (level - 0.5) * 2
		return fmt.Sprintf("rgb(%d,%d,%d)", int(255-t*120), int(255-t*35), int(255-t*120))
	}
	t := (0.5 - level) * 2
	return fmt.Sprintf("rgb(%d,%d,%d)", int(255-t*15), int(255-t*135), int(255-t*135))
}

func formatP(log10p float64) string {
	if log10p > -300 {
		return strconv.FormatFloat(math.Pow(10, log10p), 'g', 3, 64)
	}
	return "1e" + strconv.FormatFloat(log10p, 'f', 1, 64)
}

// WriteHTML writes a self-contained HTML page (no scripts, no external
// resources) showing each document's tokens coloured by their evidence,
// repeated and context tokens marked, detected spans outlined, and the
// p-values in a header. All text is escaped.
func WriteHTML(w io.Writer, docs []Doc) error {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>tracemark span view</title>
<style>
body{font-family:sans-serif;margin:1.5em;max-width:70em;color:#111}
.doc{border-top:2px solid #444;margin-top:1.5em;padding-top:.5em}
.text{font-family:monospace;white-space:pre-wrap;line-height:1.7;word-wrap:break-word}
.t{border-radius:2px}
.ctx{color:#888}
.rep{color:#777;text-decoration:line-through;background:#e6e6e6}
.span{outline:3px solid #1a47c9;outline-offset:1px;background:rgba(26,71,201,.06)}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #bbb;padding:.15em .5em;text-align:left}
.legend span{padding:0 .4em;margin-right:.6em}
.verdict-yes{color:#0a6b0a;font-weight:bold}.verdict-no{color:#555;font-weight:bold}
</style></head><body>
<h1>tracemark span view</h1>
<p class="legend">Legend: <span style="background:` + colour(1) + `">evidence for the mark</span><span style="background:` + colour(0) + `">evidence against</span><span class="rep">repeated tuple (not counted)</span><span class="ctx">no full context (not scored)</span><span class="span">detected span</span></p>
`)
	for _, d := range docs {
		writeDoc(&b, d)
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeDoc(b *strings.Builder, d Doc) {
	r := d.Result
	verdict, class := "no watermark", "verdict-no"
	if r.Detected {
		verdict, class = "WATERMARKED", "verdict-yes"
	}
	e := html.EscapeString
	fmt.Fprintf(b, "<div class=\"doc\"><h2>%s: <span class=\"%s\">%s</span></h2>\n", e(d.Name), class, verdict)
	fmt.Fprintf(b, "<table><tr><th>span test p</th><td>%s</td><th>global p</th><td>%s</td><th>local p (%d windows)</th><td>%s</td><th>alpha</th><td>%g</td></tr>\n",
		formatP(r.Log10P), formatP(r.GlobalLog10P), r.Windows, formatP(r.LocalLog10P), r.Alpha)
	fmt.Fprintf(b, "<tr><th>scheme</th><td colspan=\"3\">%s</td><th>key</th><td colspan=\"3\">%s</td></tr></table>\n", e(d.Scheme), e(d.KeyID))
	if len(r.Spans) > 0 {
		b.WriteString("<table><tr><th>span</th><th>tokens</th><th>bytes</th><th>corrected p</th><th>window p</th><th>payload</th></tr>\n")
		for i, sp := range r.Spans {
			pay := ""
			if sp.PayloadPValue != nil {
				pay = fmt.Sprintf("%s (p=%.3g, %s)", sp.Evidence.Payload, *sp.PayloadPValue, map[bool]string{true: "claimed", false: "not claimed"}[sp.PayloadClaimed])
			}
			fmt.Fprintf(b, "<tr><td>%d</td><td>%d–%d</td><td>%d–%d</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
				i+1, sp.TokenStart, sp.TokenEnd, sp.ByteStart, sp.ByteEnd, formatP(sp.Log10P), formatP(sp.Evidence.Log10P), e(pay))
		}
		b.WriteString("</table>\n")
	} else {
		b.WriteString("<p>No window is significant on its own.</p>\n")
	}
	b.WriteString("<div class=\"text\">")
	si := 0
	open := false
	for i, tok := range d.Tokens {
		for si < len(r.Spans) && r.Spans[si].TokenEnd <= i {
			if open {
				b.WriteString("</span>")
				open = false
			}
			si++
		}
		if !open && si < len(r.Spans) && r.Spans[si].TokenStart <= i {
			fmt.Fprintf(b, "<span class=\"span\" title=\"span %d\">", si+1)
			open = true
		}
		var m Mark
		if i < len(d.Marks) {
			m = d.Marks[i]
		}
		switch m.Kind {
		case Context:
			fmt.Fprintf(b, "<span class=\"t ctx\">%s</span>", e(tok))
		case Repeated:
			fmt.Fprintf(b, "<span class=\"t rep\" title=\"repeat\">%s</span>", e(tok))
		default:
			fmt.Fprintf(b, "<span class=\"t\" style=\"background:%s\" title=\"%.2f\">%s</span>", colour(m.Level), m.Level, e(tok))
		}
	}
	if open {
		b.WriteString("</span>")
	}
	b.WriteString("</div></div>\n")
}

// View returns the view of the last scan, of ids with result res: each
// token's bytes as tokenizer tok gives them (a token holding part of a
// character shows U+FFFD once escaped), and marks against the decoded
// payload of the best span (of the whole text when there is none).
func (s *Scanner) View(tok tokenize.Tokenizer, name string, ids []uint32, res Result) (Doc, error) {
	g := s.global
	src := g.Symbols
	if len(res.Spans) > 0 {
		best := 0
		for i, sp := range res.Spans {
			if sp.Log10P < res.Spans[best].Log10P {
				best = i
			}
		}
		src = res.Spans[best].Evidence.Symbols
	}
	var syms []int
	for _, v := range src {
		syms = append(syms, v.Value)
	}
	toks := make([]string, len(ids))
	var buf []byte
	for i := range ids {
		var err error
		if buf, err = tok.AppendBytes(buf[:0], ids[i:i+1]); err != nil {
			return Doc{}, fmt.Errorf("view of %s: token %d: %w", name, i, err)
		}
		toks[i] = string(buf)
	}
	return Doc{Name: name, Tokens: toks, Marks: s.Marks(len(ids), syms), Result: res, Scheme: g.Scheme, KeyID: g.KeyID}, nil
}
