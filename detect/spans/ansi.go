package spans

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// WriteANSI writes d's tokens to a terminal with ANSI colours: scored
// tokens on a red-to-green background by their evidence, repeated tuples
// dim and struck through, tokens without a full context dim, detected
// spans underlined. Control characters of the text (which could drive the
// terminal) are shown as escapes, never sent.
func WriteANSI(w io.Writer, d Doc) error {
	var b strings.Builder
	si := 0
	for i, tok := range d.Tokens {
		for si < len(d.Result.Spans) && d.Result.Spans[si].TokenEnd <= i {
			si++
		}
		inSpan := si < len(d.Result.Spans) && d.Result.Spans[si].TokenStart <= i
		var m Mark
		if i < len(d.Marks) {
			m = d.Marks[i]
		}
		style := ""
		switch m.Kind {
		case Context:
			style = "2"
		case Repeated:
			style = "2;9"
		default:
			style = "30;48;5;" + ansiLevel(m.Level)
		}
		if inSpan {
			style += ";4"
		}
		for _, line := range strings.SplitAfter(tok, "\n") {
			if line == "" {
				continue
			}
			text, nl := strings.CutSuffix(line, "\n")
			if text != "" {
				fmt.Fprintf(&b, "\x1b[%sm%s\x1b[0m", style, sanitize(text))
			}
			if nl {
				b.WriteByte('\n')
			}
		}
	}
	b.WriteString("\x1b[0m\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// ansiLevel maps an evidence level to a 256-colour background: reds
// below 0.5, white at 0.5, greens above.
func ansiLevel(level float64) string {
	switch {
	case level >= 0.9:
		return "114"
	case level >= 0.6:
		return "151"
	case level > 0.4:
		return "255"
	case level > 0.1:
		return "224"
	default:
		return "210"
	}
}

// sanitize replaces control characters (C0 but tab, DEL, C1) and invalid
// UTF-8 by visible escapes.
func sanitize(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r != '\t' && unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r != '\t' && unicode.IsControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
