package corpora

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
)

// warc reads WARC or WET records (Common Crawl): "conversion" records (the
// extracted text of WET files) and "response" records (HTTP responses,
// whose headers are dropped and whose HTML is reduced to text). The ID is
// the WARC-Record-ID; the location names the target URI and the record's
// byte offset in the uncompressed stream. Gzip members are read one after
// another.
func (c *fileCtx) warc(_ *input, br *bufio.Reader) error {
	var offset int64 // uncompressed bytes consumed
	readLine := func() ([]byte, error) {
		line, err := br.ReadSlice('\n')
		offset += int64(len(line))
		if err == bufio.ErrBufferFull {
			return nil, errors.New("WARC header line too long")
		}
		return bytes.TrimRight(line, "\r\n"), err
	}
	for {
		start := offset
		line, err := readLine()
		if err == io.EOF && len(line) == 0 {
			if c.st.Records == 0 {
				c.diag(Diagnostic{c.path, "", errors.New("no WARC records (empty input)")})
			}
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("byte %d: %w", start, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // blank lines between records
		}
		if !bytes.HasPrefix(line, []byte("WARC/")) {
			return fmt.Errorf("byte %d: not a WARC record (expected a WARC/1.x line)", start)
		}
		headers := map[string]string{}
		for {
			h, err := readLine()
			if err != nil {
				return fmt.Errorf("byte %d: truncated WARC header: %w", start, unexpected(err))
			}
			if len(h) == 0 {
				break
			}
			if k, v, ok := strings.Cut(string(h), ":"); ok {
				headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		c.st.Records++
		length, err := strconv.ParseInt(headers["content-length"], 10, 64)
		if err != nil || length < 0 {
			return fmt.Errorf("byte %d: WARC record without a valid Content-Length", start)
		}
		where := fmt.Sprintf("byte %d", start)
		if uri := headers["warc-target-uri"]; uri != "" {
			where = uri + " @ byte " + strconv.FormatInt(start, 10)
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

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// httpBodyText drops the HTTP headers of a response record and, for HTML,
// keeps the text between tags (scripts and styles removed, entities
// decoded).
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

// htmlText is a small tag stripper: enough to score the visible text of a
// crawled page, not an HTML parser.
func htmlText(b []byte) string {
	var out strings.Builder
	lower := bytes.ToLower(b)
	for i := 0; i < len(b); {
		if b[i] != '<' {
			j := bytes.IndexByte(b[i:], '<')
			if j < 0 {
				j = len(b) - i
			}
			out.WriteString(html.UnescapeString(string(b[i : i+j])))
			i += j
			continue
		}
		for _, skip := range []string{"script", "style"} {
			if bytes.HasPrefix(lower[i+1:], []byte(skip)) {
				if end := bytes.Index(lower[i:], []byte("</"+skip)); end >= 0 {
					i += end
				}
			}
		}
		j := bytes.IndexByte(b[i:], '>')
		if j < 0 {
			break
		}
		out.WriteByte(' ')
		i += j + 1
	}
	return strings.Join(strings.Fields(out.String()), " ")
}
