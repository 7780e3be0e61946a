package corpora

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// csv reads a CSV or TSV file with a header row. Rows are cut from lines
// by a small scanner and each is parsed by encoding/csv, so that no row
// grows past MaxRecord and one stray quote loses one row, not the rest of
// the file. The rule: a row that opens a quoted field and does not close
// it on its line runs over the next lines until the quote closes (a
// quoted newline); such a row is accepted only if it parses and has as
// many fields as the header. Otherwise (a parse error, another number of
// fields, a quote still open at the end of input or after MaxRecord
// bytes) its first line is reported, one diagnostic, and dropped, and
// reading starts again at the next line, which is taken as a row start.
func (c *fileCtx) csv(br *bufio.Reader, tab bool) error {
	comma := byte(',')
	if tab {
		comma = '\t'
	}
	rows := &csvRows{br: br, comma: comma, lazy: tab, limit: c.r.opts.MaxRecord, diag: func(line int, err error) {
		c.diag(Diagnostic{c.path, fmt.Sprintf("line %d", line), err})
	}}
	header, _, err := rows.next(-1)
	if errors.Is(err, io.EOF) {
		c.st.Skipped = "empty"
		return nil
	}
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	header = slices.Clone(header)
	for i, h := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	}
	var cols []int
	if c.fields == nil { // auto: the first of AutoFields that is a column
		for _, f := range c.r.auto {
			if i := slices.Index(header, f.name); i >= 0 {
				cols, c.fields, c.st.Field = []int{i}, []field{f}, f.name
				break
			}
		}
		if cols == nil {
			return fmt.Errorf("no column of the fields %s (columns: %s)", strings.Join(AutoFields(), ", "), strings.Join(header, ", "))
		}
	} else {
		for _, f := range c.fields {
			i := slices.Index(header, f.name)
			if i < 0 {
				return fmt.Errorf("no column %q (columns: %s)", f.name, strings.Join(header, ", "))
			}
			cols = append(cols, i)
		}
	}
	idCol := slices.Index(header, c.r.opts.IDField)
	for {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		rec, line, err := rows.next(len(header))
		if errors.Is(err, io.EOF) {
			return c.noDocuments(header)
		}
		if err != nil {
			return err
		}
		c.st.Records++
		where := fmt.Sprintf("line %d", line)
		id := c.path + ":" + strconv.Itoa(line)
		if idCol >= 0 && idCol < len(rec) && rec[idCol] != "" {
			id = rec[idCol]
		}
		var texts []fieldText
		short := false
		for k, col := range cols {
			if col >= len(rec) {
				c.diag(Diagnostic{c.path, where, fmt.Errorf("row has %d fields, no column %q", len(rec), c.fields[k].name)})
				short = true
				break
			}
			if strings.TrimSpace(rec[col]) != "" {
				texts = append(texts, fieldText{c.fields[k].name, rec[col]})
			}
		}
		if short {
			continue
		}
		if len(texts) == 0 {
			c.noText(nil)
			continue
		}
		if err := c.sendTexts(texts, id, where); err != nil {
			return err
		}
	}
}

// csvRows cuts CSV rows out of lines (see fileCtx.csv for the rule).
type csvRows struct {
	br      *bufio.Reader
	comma   byte
	lazy    bool
	limit   int
	diag    func(line int, err error)
	pending []csvLine // lines read ahead, for a restart after a bad row
	lineNo  int
	eof     error // the error that ended the input, once met
	lineBuf []byte
	src     rowSource   // the row being parsed
	cr      *csv.Reader // parses src; reused while rows parse
}

// rowSource hands one row at a time to a csv.Reader.
type rowSource struct {
	b   []byte
	off int
}

func (s *rowSource) Read(p []byte) (int, error) {
	if s.off >= len(s.b) {
		return 0, io.EOF
	}
	n := copy(p, s.b[s.off:])
	s.off += n
	return n, nil
}

type csvLine struct {
	no   int
	text []byte
}

// fill reads one more line into pending; false at the end of input.
func (r *csvRows) fill() bool {
	for r.eof == nil {
		line, tooLong, err := readLimitedLine(r.br, r.limit, &r.lineBuf)
		r.lineNo++
		if err != nil {
			r.eof = err
		}
		if tooLong {
			r.diag(r.lineNo, fmt.Errorf("line longer than %d bytes, skipped", r.limit))
			continue
		}
		if err == io.EOF && len(line) == 0 {
			return false
		}
		r.pending = append(r.pending, csvLine{r.lineNo, slices.Clone(line)})
		return true
	}
	return false
}

// next returns the next row and its line. With fields >= 0, a row over
// several lines must have that many fields. At the end of input it
// returns io.EOF (or the read error that ended it).
func (r *csvRows) next(fields int) ([]string, int, error) {
	for {
		if len(r.pending) == 0 && !r.fill() {
			if r.eof == nil || r.eof == io.EOF {
				return nil, 0, io.EOF
			}
			return nil, 0, r.eof
		}
		if len(bytes.TrimSpace(r.pending[0].text)) == 0 {
			r.pending = r.pending[1:]
			continue
		}
		n, size, open := 0, 0, false
		for {
			if n == len(r.pending) && !r.fill() {
				break
			}
			open = quoteOpen(r.pending[n].text, open, r.comma)
			size += len(r.pending[n].text) + 1
			n++
			if !open || size > r.limit {
				break
			}
		}
		first := r.pending[0].no
		r.src.b = r.src.b[:0]
		for i, l := range r.pending[:n] {
			if i > 0 {
				r.src.b = append(r.src.b, '\n')
			}
			r.src.b = append(r.src.b, l.text...)
		}
		r.src.b = append(r.src.b, '\n')
		r.src.off = 0
		if r.cr == nil {
			r.cr = csv.NewReader(&r.src)
			r.cr.Comma = rune(r.comma)
			r.cr.LazyQuotes = r.lazy
			r.cr.FieldsPerRecord = -1
			r.cr.ReuseRecord = true
		}
		row, err := r.cr.Read()
		if err != nil {
			r.cr = nil // it may hold the rest of the row
		} else if _, more := r.cr.Read(); more != io.EOF {
			// encoding/csv saw more than one row in what the scanner
			// took for one.
			err, r.cr = errors.New("malformed row"), nil
		}
		switch {
		case open && size > r.limit:
			err = fmt.Errorf("quoted field not closed within %d bytes; the row is skipped and reading goes on at the next line", r.limit)
		case open:
			err = errors.New("quoted field not closed before the end of input; the row is skipped and reading goes on at the next line")
		case err != nil:
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				err = pe.Err
			}
		case n > 1 && fields >= 0 && len(row) != fields:
			err = fmt.Errorf("a quoted field runs over %d lines and the row has %d fields, not %d: taken as a stray quote; the row is skipped and reading goes on at the next line", n, len(row), fields)
		}
		if err != nil {
			r.diag(first, err)
			r.pending = r.pending[1:]
			continue
		}
		r.pending = r.pending[n:]
		if len(r.pending) == 0 {
			r.pending = nil // let the read-ahead go
		}
		return row, first, nil
	}
}

// quoteOpen reports whether a quoted field is still open at the end of
// line, given whether one was open at its start. A quote opens a field
// only at the field's start; inside, "" is a quote and " closes it.
func quoteOpen(line []byte, open bool, comma byte) bool {
	fieldStart := !open
	for i := 0; i < len(line); i++ {
		b := line[i]
		if open {
			if b == '"' {
				if i+1 < len(line) && line[i+1] == '"' {
					i++
					continue
				}
				open = false
			}
			continue
		}
		switch {
		case b == comma:
			fieldStart = true
			continue
		case b == '"' && fieldStart:
			open = true
		}
		fieldStart = false
	}
	return open
}
