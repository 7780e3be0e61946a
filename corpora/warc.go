package corpora

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// warc reads WARC or WET records (Common Crawl): "conversion" records (the
// extracted text of WET files) and "response" records (HTTP responses,
// whose headers are dropped and whose HTML is reduced to text). The ID is
// the WARC-Record-ID; the location names the target URI and the record's
// byte offset in the uncompressed stream. Gzip members are read one after
// another.
//
// A bad record is one diagnostic, and reading resynchronizes at the next
// line that starts with "WARC/1.": a header line longer than the read
// buffer (64 KiB), headers longer than MaxRecord in all, a missing or
// invalid Content-Length, and a Content-Length that does not end the
// record (the body must be followed by blank lines and the next WARC/
// line, or the end of input). When the body read holds a "WARC/1." line,
// the length ran into the next record, which is read from there.
func (c *fileCtx) warc(_ *input, in *bufio.Reader) error {
	pb := &pushback{r: in}
	br := bufio.NewReaderSize(pb, 1<<16)
	var offset int64 // uncompressed bytes consumed
	readLine := func() (line []byte, tooLong bool, err error) {
		line, err = br.ReadSlice('\n')
		offset += int64(len(line))
		for err == bufio.ErrBufferFull {
			tooLong = true
			var more []byte
			more, err = br.ReadSlice('\n')
			offset += int64(len(more))
		}
		return bytes.TrimRight(line, "\r\n"), tooLong, err
	}
	var held []byte // a WARC/1. line found by resync, not yet handled
	heldStart, haveHeld := int64(0), false
	// resync skips to the next line that starts with "WARC/1.".
	resync := func() error {
		for {
			start := offset
			line, tooLong, err := readLine()
			if !tooLong && bytes.HasPrefix(line, []byte("WARC/1.")) {
				held, heldStart, haveHeld = append(held[:0], line...), start, true
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	bad := func(where string, err error) error {
		c.diag(Diagnostic{c.path, where, fmt.Errorf("%w; skipped to the next WARC/1. line", err)})
		if err := resync(); err != nil && err != io.EOF {
			return err
		}
		return nil
	}
	for {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		var start int64
		if haveHeld {
			start, haveHeld = heldStart, false
		} else {
			start = offset
			line, tooLong, err := readLine()
			if err == io.EOF && len(line) == 0 {
				if c.st.Records == 0 && c.st.Diagnostics == 0 {
					c.st.Skipped = "empty"
				}
				return nil
			}
			if err != nil && err != io.EOF {
				return fmt.Errorf("byte %d: %w", start, err)
			}
			if !tooLong && len(bytes.TrimSpace(line)) == 0 {
				continue // blank lines between records
			}
			if tooLong || !bytes.HasPrefix(line, []byte("WARC/")) {
				if err := bad(fmt.Sprintf("byte %d", start), errors.New("not a WARC record (expected a WARC/1.x line)")); err != nil {
					return err
				}
				continue
			}
		}
		where := fmt.Sprintf("byte %d", start)
		headers := map[string]string{}
		headerBytes := 0
		var herr error
		for {
			h, tooLong, err := readLine()
			headerBytes += len(h) + 2
			if tooLong {
				herr = errors.New("WARC header line longer than 64 KiB")
				break
			}
			if err != nil {
				return fmt.Errorf("%s: truncated WARC header: %w", where, unexpected(err))
			}
			if len(h) == 0 {
				break
			}
			if headerBytes > c.r.opts.MaxRecord {
				herr = fmt.Errorf("WARC headers longer than %d bytes", c.r.opts.MaxRecord)
				break
			}
			if k, v, ok := strings.Cut(string(h), ":"); ok {
				headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		c.st.Records++
		if herr != nil {
			if err := bad(where, herr); err != nil {
				return err
			}
			continue
		}
		if uri := headers["warc-target-uri"]; uri != "" {
			where = uri + " @ byte " + strconv.FormatInt(start, 10)
		}
		length, err := strconv.ParseInt(headers["content-length"], 10, 64)
		if err != nil || length < 0 {
			if err := bad(where, errors.New("WARC record without a valid Content-Length")); err != nil {
				return err
			}
			continue
		}
		kind := headers["warc-type"]
		keep := kind == "conversion" || kind == "response"
		if !keep || length > int64(c.r.opts.MaxRecord) {
			if keep {
				c.diag(Diagnostic{c.path, where, fmt.Errorf("record of %d bytes is longer than %d, skipped", length, c.r.opts.MaxRecord)})
			}
			n, err := io.CopyN(io.Discard, br, length)
			offset += n
			if err != nil {
				return fmt.Errorf("%s: truncated WARC record: %w", where, unexpected(err))
			}
			continue
		}
		body := make([]byte, length)
		n, err := io.ReadFull(br, body)
		offset += int64(n)
		if err != nil {
			return fmt.Errorf("%s: truncated WARC record: %w", where, unexpected(err))
		}
		if !recordEnds(br) {
			if i := bytes.Index(body, []byte("\nWARC/1.")); i >= 0 {
				// The length ran into the next record: read it from there.
				rest := body[i+1:]
				buffered, _ := br.Peek(br.Buffered())
				pb.prefix = append(append([]byte{}, rest...), buffered...)
				br.Reset(pb)
				offset -= int64(len(rest))
				c.diag(Diagnostic{c.path, where, fmt.Errorf("Content-Length %d runs into the next record (at byte %d); record skipped", length, offset)})
				continue
			}
			if err := bad(where, fmt.Errorf("Content-Length %d does not end the record (no blank line and WARC/ line after it); record skipped", length)); err != nil {
				return err
			}
			continue
		}
		text := string(body)
		if kind == "response" {
			text = httpBodyText(body)
		}
		id := strings.Trim(headers["warc-record-id"], "<>")
		if id == "" {
			id = c.path + ":" + strconv.FormatInt(start, 10)
		}
		if err := c.send(Document{ID: id, Location: where, Text: strings.TrimSpace(text)}); err != nil {
			return err
		}
	}
}

// recordEnds reports whether what follows a record's body is what should:
// line ends, then the next WARC/ line or the end of input.
func recordEnds(br *bufio.Reader) bool {
	p, _ := br.Peek(16)
	p = bytes.TrimLeft(p, "\r\n")
	return len(p) == 0 || bytes.HasPrefix(p, []byte("WARC/")) || bytes.HasPrefix([]byte("WARC/"), p)
}

// pushback reads prefix, then r: it puts back bytes read too far.
type pushback struct {
	prefix []byte
	r      io.Reader
}

func (p *pushback) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.r.Read(b)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// httpBodyText drops the HTTP headers of a response record and, when the
// headers mention HTML anywhere (a Content-Type of text/html or
// application/xhtml+xml, say), reduces the body to its text with htmlText.
// Any other body is kept as it is.
func httpBodyText(resp []byte) string {
	head, body, ok := bytes.Cut(resp, []byte("\r\n\r\n"))
	if !ok {
		head, body, _ = bytes.Cut(resp, []byte("\n\n"))
	}
	if !bytes.Contains(bytes.ToLower(head), []byte("html")) {
		return string(body)
	}
	return htmlText(body)
}

// htmlText returns the text of an HTML page, streaming it through the
// x/net/html tokenizer. Text keeps its own whitespace, byte for byte (only
// HTML's newline normalization applies: CR LF and CR become LF), so that a
// text embedded in a page tokenizes as it did on its own; entities are
// decoded. The contents of script, style, noscript, template, iframe,
// noembed and noframes elements are dropped, as are comments, doctypes and
// processing instructions. Where a block-level element starts or ends (see
// isBlock) and the text so far does not end in whitespace, a newline
// is inserted, so that the words of adjacent blocks stay apart.
func htmlText(b []byte) string {
	z := html.NewTokenizer(bytes.NewReader(b))
	var out strings.Builder
	out.Grow(len(b) / 2)
	templates := 0      // depth of open template elements
	skipRaw := false    // the next text token is the raw content of a dropped element
	endsInSpace := true // nothing written yet: no separator needed
	for {
		tt := z.Next()
		dropRaw := skipRaw
		skipRaw = false
		switch tt {
		case html.ErrorToken:
			// io.EOF, or a read error bytes.Reader never returns:
			// either way the page ends here.
			return out.String()
		case html.TextToken:
			if dropRaw || templates > 0 {
				continue
			}
			text := z.Text()
			if len(text) == 0 {
				continue
			}
			out.Write(text)
			r, _ := utf8.DecodeLastRune(text)
			endsInSpace = unicode.IsSpace(r)
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			switch {
			case isDropped(a):
				// The tokenizer reads the content of these elements
				// as one raw text token, even after a self-closing
				// start tag such as <script/>.
				skipRaw = tt != html.EndTagToken
			case a == atom.Template:
				switch {
				case tt == html.StartTagToken:
					templates++
				case tt == html.EndTagToken && templates > 0:
					templates--
				}
			case isBlock(a) && !endsInSpace:
				out.WriteByte('\n')
				endsInSpace = true
			}
		}
	}
}

// isDropped reports whether the content of element a is not page text:
// the tokenizer hands it over as one raw text token, which htmlText drops.
func isDropped(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Noscript, atom.Iframe, atom.Noembed, atom.Noframes:
		return true
	}
	return false
}

// isBlock reports whether the start and end of element a separate the text
// before them from the text after them, as a browser's layout does.
func isBlock(a atom.Atom) bool {
	switch a {
	case atom.Address, atom.Article, atom.Aside, atom.Blockquote, atom.Body,
		atom.Br, atom.Caption, atom.Center, atom.Dd, atom.Details, atom.Dialog,
		atom.Dir, atom.Div, atom.Dl, atom.Dt, atom.Fieldset, atom.Figcaption,
		atom.Figure, atom.Footer, atom.Form, atom.H1, atom.H2, atom.H3, atom.H4,
		atom.H5, atom.H6, atom.Head, atom.Header, atom.Hgroup, atom.Hr,
		atom.Html, atom.Legend, atom.Li, atom.Main, atom.Menu, atom.Nav,
		atom.Ol, atom.Optgroup, atom.Option, atom.P, atom.Pre, atom.Section,
		atom.Summary, atom.Table, atom.Tbody, atom.Td, atom.Textarea,
		atom.Tfoot, atom.Th, atom.Thead, atom.Title, atom.Tr, atom.Ul:
		return true
	}
	return false
}
