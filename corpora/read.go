package corpora

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Formats a Reader knows; "auto" picks one from the file name and content.
var Formats = []string{"auto", "text", "jsonl", "json", "csv", "tsv", "warc", "parquet"}

// Default limits.
const (
	DefaultMaxDiagnostics = 10       // per input
	DefaultMaxRecord      = 64 << 20 // a JSONL line, CSV row or WARC record
	DefaultMaxPart        = 1 << 20  // a text document is scored in parts of at most this size
)

// ReadOptions configure how inputs are read into documents.
type ReadOptions struct {
	Format  string // one of Formats; "" means auto
	Field   string // JSON path or CSV column of the text (Fields, when it is empty, holds just this)
	IDField string // JSON path or CSV column of the record ID; default "id"
	// Role keeps only chat turns with this role: an array element on the
	// field path is kept if its "role" or "from" field matches. assistant
	// also matches gpt, model and bot; user also matches human.
	Role string
	// Split cuts plain text: "file" (default: a file is a document),
	// "lines" or "paragraphs".
	Split     string
	MaxRecord int // bytes; longer records are reported and skipped
	MaxPart   int // bytes; longer text documents are scored in parts
	// MaxDiagnostics is how many diagnostics one input reports; the rest
	// are counted (FileStats.ErrorsNotShown) and announced in one last
	// diagnostic. 0 means DefaultMaxDiagnostics, < 0 no limit.
	MaxDiagnostics int
	// Fields are the JSON paths or CSV columns of the text; each field
	// of a record found gives a document. None: Field, else each file's
	// first of AutoFields that its records have.
	Fields []string
}

// Diagnostic is a problem at one place of an input. The reader reports it
// and goes on.
type Diagnostic struct {
	Source   string
	Location string
	Err      error
}

func (d Diagnostic) Error() string {
	if d.Location == "" {
		return fmt.Sprintf("%s: %v", d.Source, d.Err)
	}
	return fmt.Sprintf("%s: %s: %v", d.Source, d.Location, d.Err)
}

// FileStats counts what reading one input saw.
type FileStats struct {
	Format      string      `json:"format"`
	Compression Compression `json:"compression,omitempty"`
	Bytes       int64       `json:"bytes"` // input bytes read (compressed, if compressed)
	Records     int         `json:"records"`
	Documents   int         `json:"documents"`
	Diagnostics int         `json:"errors"`
	// ErrorsNotShown counts the diagnostics past ReadOptions.MaxDiagnostics,
	// counted in Diagnostics but not reported one by one.
	ErrorsNotShown int `json:"errors_not_shown,omitempty"`
	// Skipped says why the file was not read: "empty" (no bytes, or only
	// white space) or "binary" (not text: NUL bytes, a PNG, ZIP, tar or
	// ELF signature, mostly invalid UTF-8). It is not an error.
	Skipped string `json:"skipped,omitempty"`
	// Field is the field (or fields, joined by ", ") the text was taken
	// from: the one given, or the one detected.
	Field string `json:"field,omitempty"`
	// NoText counts the records that gave no text: the field missing or
	// empty, or no chat turn of the role.
	NoText int `json:"no_text,omitempty"`
	// LostRows counts the Parquet rows lost to row groups or column chunks
	// that could not be read (each such place is one diagnostic).
	LostRows int64 `json:"lost_rows,omitempty"`
}

// Reader reads inputs into documents.
type Reader struct {
	opts   ReadOptions
	fields []field // nil: each file's first of AutoFields it has
	auto   []field
	id     []segment
	roles  []string
	Stdin  io.Reader // for "-"; os.Stdin by default
}

// segment is one step of a field path: a key, and whether its value is an
// array whose elements are all visited ("conversation[]").
type segment struct {
	key  string
	each bool
}

// field is a text field: its path as given, and parsed.
type field struct {
	name string
	path []segment
}

// AutoFields are the fields looked for, in this order, when none is given:
// each file's first record that has one of them decides.
func AutoFields() []string {
	return []string{"text", "content", "raw_content", "messages[].content", "conversation[].content", "conversations[].value"}
}

// parsePath parses "a.b", "conversation[].content" and the like.
func parsePath(p string) ([]segment, error) {
	if p == "" {
		return nil, errors.New("empty field path")
	}
	var out []segment
	for _, part := range strings.Split(p, ".") {
		s := segment{key: part}
		if strings.HasSuffix(part, "[]") {
			s = segment{key: strings.TrimSuffix(part, "[]"), each: true}
		}
		if s.key == "" || strings.ContainsAny(s.key, "[]") {
			return nil, fmt.Errorf("bad field path %q (want e.g. text, meta.body or conversation[].content)", p)
		}
		out = append(out, s)
	}
	return out, nil
}

// roleAliases maps a role to the names chat formats use for it.
var roleAliases = map[string][]string{
	"assistant": {"assistant", "gpt", "model", "bot", "chatgpt"},
	"user":      {"user", "human"},
}

// NewReader validates opts and returns a Reader.
func NewReader(opts ReadOptions) (*Reader, error) {
	if opts.Format == "" {
		opts.Format = "auto"
	}
	if !slices.Contains(Formats, opts.Format) {
		return nil, fmt.Errorf("unknown format %q (known: %s)", opts.Format, strings.Join(Formats, ", "))
	}
	if len(opts.Fields) == 0 && opts.Field != "" {
		opts.Fields = []string{opts.Field}
	}
	if opts.IDField == "" {
		opts.IDField = "id"
	}
	switch opts.Split {
	case "":
		opts.Split = "file"
	case "file", "lines", "paragraphs":
	default:
		return nil, fmt.Errorf("unknown split %q (known: file, lines, paragraphs)", opts.Split)
	}
	if opts.MaxRecord <= 0 {
		opts.MaxRecord = DefaultMaxRecord
	}
	if opts.MaxDiagnostics == 0 {
		opts.MaxDiagnostics = DefaultMaxDiagnostics
	}
	if opts.MaxPart <= 0 {
		opts.MaxPart = DefaultMaxPart
	}
	r := &Reader{opts: opts, Stdin: os.Stdin}
	var err error
	for _, f := range opts.Fields {
		p, err := parsePath(f)
		if err != nil {
			return nil, err
		}
		r.fields = append(r.fields, field{f, p})
	}
	for _, f := range AutoFields() {
		p, _ := parsePath(f)
		r.auto = append(r.auto, field{f, p})
	}
	if r.id, err = parsePath(opts.IDField); err != nil {
		return nil, err
	}
	if opts.Role != "" {
		role := strings.ToLower(opts.Role)
		r.roles = roleAliases[role]
		if r.roles == nil {
			r.roles = []string{role}
		}
	}
	return r, nil
}

// ReadFile streams the documents of one input (a path, or "-" for standard
// input) to emit, and every bad record to diag, then goes on. It returns an
// error only when the rest of the input cannot be read (a missing file, a
// truncated archive, a broken JSON array), after emitting everything read
// before it. An error from emit (e.g. cancellation) stops reading, and so
// does ctx's cancellation, checked between records.
//
// The format is opts.Format; with "auto", the file name's extension
// decides when it names a format (.jsonl, .ndjson, .json, .csv, .tsv,
// .parquet, .warc, .wet, .txt, .md, ... after .gz, .zst, .xz, .bz2 are
// stripped; a .json file that does not start with "[" is read as JSON
// Lines), and the content only for other names. Special files (FIFOs,
// sockets, devices) and directories are refused before they are opened.
// Empty files and binary ones (read as text) are skipped without a
// diagnostic: FileStats.Skipped says so. After opts.MaxDiagnostics
// diagnostics, the rest are counted and announced in one last diagnostic.
func (r *Reader) ReadFile(ctx context.Context, path string, emit func(Document) error, diag func(Diagnostic)) (FileStats, error) {
	var st FileStats
	count := r.limitDiagnostics(&st, diag)
	defer func() {
		if st.ErrorsNotShown > 0 {
			diag(MoreErrors(path, st))
		}
	}()
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if path != "-" {
		if _, err := checkInput(path); err != nil {
			return st, err
		}
	}
	format := r.opts.Format
	if format == "auto" {
		format = extFormat(path)
	}
	if format == "parquet" {
		return r.readParquet(ctx, path, emit, count, &st)
	}
	in, err := openInput(ctx, path, r.Stdin)
	if err != nil {
		return st, err
	}
	defer in.Close()
	st.Compression = in.compression
	br := bufio.NewReaderSize(checkedReader{ctx, in.r}, 1<<16)
	head, peekErr := br.Peek(sniffSize)
	if peekErr != nil && len(bytes.TrimSpace(head)) == 0 && (peekErr == io.EOF || errors.Is(peekErr, io.EOF)) {
		st.Bytes = in.raw.n
		st.Skipped = "empty"
		return st, nil
	}
	if format = r.contentFormat(path, format, in.compression, head); format == "parquet" {
		in.Close()
		return r.readParquet(ctx, path, emit, count, &st)
	}
	st.Format = format
	if format == "binary" {
		st.Bytes = in.raw.n
		st.Format = ""
		st.Skipped = "binary"
		return st, nil
	}
	c := r.newFileCtx(ctx, path, emit, count, &st, in.raw)
	switch format {
	case "jsonl":
		err = c.jsonl(br)
	case "json":
		err = c.jsonArray(br)
	case "csv", "tsv":
		err = c.csv(br, format == "tsv")
	case "warc":
		err = c.warc(in, br)
	default:
		err = c.text(br)
	}
	st.Bytes = in.raw.n
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, errStop) {
		if in.compression != NoCompression && (errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected EOF")) {
			err = fmt.Errorf("truncated %s stream after %d compressed bytes: %w", in.compression, in.raw.n, err)
		}
		return st, fmt.Errorf("%s: %w", path, err)
	}
	if errors.Is(err, errStop) {
		err = ctx.Err()
	}
	return st, err
}

// limitDiagnostics returns diag counting into st and passing on only the
// first opts.MaxDiagnostics diagnostics of an input.
func (r *Reader) limitDiagnostics(st *FileStats, diag func(Diagnostic)) func(Diagnostic) {
	limit := r.opts.MaxDiagnostics
	return func(d Diagnostic) {
		st.Diagnostics++
		if limit >= 0 && st.Diagnostics > limit {
			st.ErrorsNotShown++
			return
		}
		diag(d)
	}
}

// MoreErrors is the last diagnostic of an input whose stats st count
// diagnostics that were not shown (st.ErrorsNotShown > 0).
func MoreErrors(path string, st FileStats) Diagnostic {
	return Diagnostic{path, "", fmt.Errorf("and %s more errors in this file (not shown; %s in all)", thousands(st.ErrorsNotShown), thousands(st.Diagnostics))}
}

// contentFormat is the format ReadFile reads an opened input in, given
// the format from the options or the file name ("" when neither names
// one), its compression and the head of its content: "parquet" for an
// uncompressed Parquet file not named so, the sniffed format of other
// unnamed inputs, "jsonl" for a .json file that is not an array (under
// auto), "binary" for text that is not.
func (r *Reader) contentFormat(path, format string, comp Compression, head []byte) string {
	switch format {
	case "":
		if comp == NoCompression && bytes.HasPrefix(head, []byte("PAR1")) && path != "-" {
			return "parquet"
		}
		format = sniffFormat(head)
	case "json":
		if r.opts.Format == "auto" && !bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n\ufeff"), []byte("[")) {
			format = "jsonl"
		}
	}
	if format == "text" {
		if _, bin := looksBinary(head); bin {
			format = "binary"
		}
	}
	return format
}

func (r *Reader) newFileCtx(ctx context.Context, path string, emit func(Document) error, diag func(Diagnostic), st *FileStats, raw *countingReader) *fileCtx {
	c := &fileCtx{r: r, ctx: ctx, path: path, emit: emit, diag: diag, st: st, raw: raw, fields: r.fields}
	if r.fields != nil {
		st.Field = strings.Join(r.opts.Fields, ", ")
	}
	return c
}

// readParquet reads a Parquet input (see parquetFile).
func (r *Reader) readParquet(ctx context.Context, path string, emit func(Document) error, count func(Diagnostic), st *FileStats) (FileStats, error) {
	st.Format = "parquet"
	c := r.newFileCtx(ctx, path, emit, count, st, &countingReader{})
	err := c.parquetFile()
	if err != nil && !errors.Is(err, errStop) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return *st, fmt.Errorf("%s: %w", path, err)
	}
	if errors.Is(err, errStop) {
		err = ctx.Err()
	}
	return *st, err
}

// thousands formats n with commas: 138,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// errStop wraps an error returned by emit.
var errStop = errors.New("stopped")

// fileCtx is the state of reading one input.
type fileCtx struct {
	r    *Reader
	ctx  context.Context
	path string
	emit func(Document) error
	diag func(Diagnostic)
	st   *FileStats
	raw  *countingReader
	// fields are the text fields: the given ones, or (nil until a record
	// decides) the detected one.
	fields []field
	// samples are the key paths of the first records without text (see
	// noText), for the error when the file gives no document.
	samples [][]string
}

// send emits a document, fixing invalid UTF-8 (with a diagnostic).
func (c *fileCtx) send(d Document) error {
	if d.Text == "" {
		return nil
	}
	if !utf8.ValidString(d.Text) {
		c.diag(Diagnostic{c.path, d.Location, errors.New("invalid UTF-8 replaced by U+FFFD")})
		d.Text = strings.ToValidUTF8(d.Text, "\uFFFD")
	}
	d.Source = c.path
	d.InputOffset = c.raw.n
	c.st.Documents++
	if err := c.emit(d); err != nil {
		return fmt.Errorf("%w: %w", errStop, err)
	}
	return nil
}

// text reads plain text as one document per file, line or paragraph.
func (c *fileCtx) text(br *bufio.Reader) error {
	maxPart := c.r.opts.MaxPart
	switch c.r.opts.Split {
	case "lines", "paragraphs":
		var para []byte
		start := 0
		flush := func() error {
			text := strings.TrimSpace(string(para))
			para = para[:0]
			if text == "" {
				return nil
			}
			c.st.Records++
			return c.send(Document{ID: fmt.Sprintf("%s:%d", c.path, start), Location: fmt.Sprintf("line %d", start), Text: text})
		}
		var lineBuf []byte
		for lineNo := 1; ; lineNo++ {
			if err := c.ctx.Err(); err != nil {
				return err
			}
			line, tooLong, err := readLimitedLine(br, c.r.opts.MaxRecord, &lineBuf)
			if tooLong {
				c.diag(Diagnostic{c.path, fmt.Sprintf("line %d", lineNo), fmt.Errorf("line longer than %d bytes, skipped", c.r.opts.MaxRecord)})
			} else if c.r.opts.Split == "lines" || len(bytes.TrimSpace(line)) == 0 {
				if c.r.opts.Split == "lines" {
					para, start = append(para[:0], line...), lineNo
				}
				if ferr := flush(); ferr != nil {
					return ferr
				}
			} else {
				if len(para) == 0 {
					start = lineNo
				}
				if len(para)+len(line) > c.r.opts.MaxRecord {
					c.diag(Diagnostic{c.path, fmt.Sprintf("line %d", start), fmt.Errorf("paragraph longer than %d bytes, skipped", c.r.opts.MaxRecord)})
					para = para[:0]
				} else {
					para = append(append(para, line...), '\n')
				}
			}
			if err == io.EOF {
				return flush()
			}
			if err != nil {
				return err
			}
		}
	}
	// A file is one document, in parts of at most maxPart bytes cut at
	// white space.
	buf := make([]byte, 0, min(maxPart, 1<<20))
	part, offset := 0, int64(0)
	chunk := make([]byte, 1<<16)
	multi := false
	emitPart := func(b []byte) error {
		part++
		id, loc := c.path, "whole file"
		if multi {
			id = fmt.Sprintf("%s#part%d", c.path, part)
			loc = fmt.Sprintf("part %d at byte %d", part, offset)
		}
		offset += int64(len(b))
		c.st.Records++
		return c.send(Document{ID: id, Location: loc, Text: string(b)})
	}
	for {
		n, err := br.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for len(buf) >= maxPart {
			multi = true
			cut := bytes.LastIndexAny(buf[:maxPart], " \n\t")
			if cut <= 0 {
				cut = maxPart
			}
			for cut > 0 && cut < len(buf) && !utf8.RuneStart(buf[cut]) {
				cut--
			}
			if cut == 0 { // no rune start at all: invalid UTF-8, cut anywhere
				cut = maxPart
			}
			if perr := emitPart(buf[:cut]); perr != nil {
				return perr
			}
			buf = append(buf[:0], buf[cut:]...)
		}
		if err == io.EOF {
			if len(bytes.TrimSpace(buf)) == 0 && part == 0 {
				c.st.Skipped = "empty"
				return nil
			}
			if len(buf) > 0 {
				return emitPart(buf)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if cerr := c.ctx.Err(); cerr != nil {
			return cerr
		}
	}
}

// readLimitedLine reads the next line (without its newline). A line longer
// than limit is consumed and dropped, with tooLong set. The line is built in
// *buf, which is kept for the next call (unless it grew past keptLineBuffer),
// so the line is valid only until then.
func readLimitedLine(br *bufio.Reader, limit int, buf *[]byte) (line []byte, tooLong bool, err error) {
	b := (*buf)[:0]
	defer func() {
		if cap(b) <= keptLineBuffer {
			*buf = b[:0]
		} else {
			*buf = nil
		}
	}()
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(b)+len(chunk) > limit+2 {
				tooLong, b = true, nil
			} else {
				b = append(b, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		line = bytes.TrimRight(b, "\r\n")
		if !tooLong && len(line) > limit {
			return nil, true, err
		}
		return line, tooLong, err
	}
}

// keptLineBuffer is the largest line buffer readLimitedLine keeps between
// lines; a longer line's buffer is left to the garbage collector.
const keptLineBuffer = 1 << 20

// fieldText is the text one field of a record gave.
type fieldText struct {
	field string
	text  string
}

// record extracts the texts (one per field that has text) and the ID of
// one JSON record. No text, and no error: the record is counted as
// NoText, and its keys are kept for the error if the file gives no
// document at all.
func (c *fileCtx) record(raw []byte, where string) (texts []fieldText, id string, err error) {
	if c.fields == nil { // auto: this record may decide
		if f, ok := c.r.autoField(raw); ok {
			c.fields = []field{f}
			c.st.Field = f.name
		}
		if c.fields == nil {
			if _, err := objectKey(raw, ""); err != nil {
				if errors.Is(err, errNotObject) {
					return nil, "", errors.New("record is not an object")
				}
				return nil, "", err
			}
			c.noText(raw)
			return nil, "", nil
		}
	}
	for _, f := range c.fields {
		got, err := c.r.extract(raw, f.path, c.r.roles, nil)
		if err != nil {
			return nil, "", err
		}
		if text := strings.Join(got, "\n\n"); strings.TrimSpace(text) != "" {
			texts = append(texts, fieldText{f.name, text})
		}
	}
	if len(texts) == 0 {
		c.noText(raw)
		return nil, "", nil
	}
	ids, _ := c.r.extractAny(raw, c.r.id)
	id = c.path + ":" + where
	if len(ids) > 0 && ids[0] != "" {
		id = ids[0]
	}
	return texts, id, nil
}

// autoField is the first of AutoFields that the record raw has text in:
// the first such record of a file decides its field.
func (r *Reader) autoField(raw []byte) (field, bool) {
	for _, f := range r.auto {
		if got, err := r.extract(raw, f.path, nil, nil); err == nil && len(got) > 0 {
			return f, true
		}
	}
	return field{}, false
}

// sendTexts emits the documents of one record: one per field, the field
// named in the ID and location when there are several.
func (c *fileCtx) sendTexts(texts []fieldText, id, where string) error {
	for _, t := range texts {
		d := Document{ID: id, Location: where, Text: t.text}
		if len(c.fields) > 1 {
			d.ID, d.Location = id+"#"+t.field, where+", field "+t.field
		}
		if err := c.send(d); err != nil {
			return err
		}
	}
	return nil
}

// maxKeySamples and maxKeys bound the keys kept from records without text.
const (
	maxKeySamples = 8
	maxKeys       = 24
)

// noText counts a record without text and keeps the key paths of the
// first few such records (raw is JSON; nil for other formats).
func (c *fileCtx) noText(raw []byte) {
	c.st.NoText++
	if raw == nil || len(c.samples) >= maxKeySamples {
		return
	}
	// A record's first maxKeys distinct paths are all it can add to the
	// keys (see sampledKeys): a later one finds maxKeys keys already.
	var sample []string
	keyPaths(raw, "", 0, func(p string) {
		if len(sample) < maxKeys && !slices.Contains(sample, p) {
			sample = append(sample, p)
		}
	})
	c.samples = append(c.samples, sample)
}

// sampledKeys are the key paths of the samples of noText (each sample a
// record's paths), in order, each once, at most maxKeys: when one record's
// i-th distinct path comes, at least i-1 keys are there, so no record
// adds its (maxKeys+1)-th.
func sampledKeys(samples [][]string) []string {
	var keys []string
	for _, sample := range samples {
		for _, p := range sample {
			if len(keys) < maxKeys && !slices.Contains(keys, p) {
				keys = append(keys, p)
			}
		}
	}
	return keys
}

// keyPaths calls f with the path of every leaf under the JSON value raw,
// written as field paths are: meta.lang, conversation[].content.
func keyPaths(raw []byte, prefix string, depth int, f func(string)) {
	if depth > 4 {
		f(prefix)
		return
	}
	i := skipWS(raw, 0)
	switch {
	case i < len(raw) && raw[i] == '{':
		objectEach(raw, func(k string, v []byte) {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			keyPaths(v, p, depth+1, f)
		})
	case i < len(raw) && raw[i] == '[' && prefix != "":
		n, objects := 0, false
		arrayElements(raw, func(item []byte) error {
			if j := skipWS(item, 0); j < len(item) && item[j] == '{' && n < 3 {
				n, objects = n+1, true
				keyPaths(item, prefix+"[]", depth+1, f)
			}
			return nil
		})
		if !objects {
			f(prefix)
		}
	case prefix != "":
		f(prefix)
	}
}

// noDocuments is the error for an input whose records gave no document at
// all, though some of them were read: it names what was looked for and
// the keys found instead.
func (c *fileCtx) noDocuments(keys []string) error {
	if c.st.Documents > 0 || c.st.NoText == 0 {
		return nil
	}
	var what string
	switch {
	case c.fields == nil:
		what = "any of the fields " + strings.Join(AutoFields(), ", ")
	case len(c.fields) == 1:
		what = "the field " + c.fields[0].name
	default:
		what = "the fields " + c.st.Field
	}
	if c.r.roles != nil {
		what += ", in a turn of role " + c.r.opts.Role
	}
	if keys == nil {
		keys = sampledKeys(c.samples)
	}
	found := "none"
	if len(keys) > 0 {
		found = strings.Join(keys, ", ")
	}
	return fmt.Errorf("no documents: none of its %d records has text in %s (keys found: %s)", c.st.Records, what, found)
}

// errMissing marks a field path that a record does not have.
var errMissing = errors.New("missing")

// extract collects the strings at path in raw, keeping only array elements
// of the wanted role. It checks that raw is well-formed JSON as it goes.
func (r *Reader) extract(raw []byte, path []segment, roles []string, out []string) ([]string, error) {
	if len(path) == 0 {
		if s, ok := jsonString(raw); ok {
			return append(out, s), nil
		}
		var list []string
		if err := json.Unmarshal(raw, &list); err == nil {
			return append(out, list...), nil
		}
		return out, errors.New("field is not a string")
	}
	v, err := objectKey(raw, path[0].key)
	if err != nil {
		if errors.Is(err, errNotObject) {
			return out, fmt.Errorf("field %q: not an object", path[0].key)
		}
		return out, err
	}
	if v == nil || string(v) == "null" {
		return out, nil // absent: nothing to score
	}
	if !path[0].each {
		return r.extract(v, path[1:], roles, out)
	}
	err = arrayElements(v, func(item []byte) error {
		if roles != nil && !roleMatches(item, roles) {
			return nil
		}
		var err error
		out, err = r.extract(item, path[1:], roles, out)
		return err
	})
	if err != nil && err.Error() == "not an array" {
		return out, fmt.Errorf("field %q: not an array", path[0].key)
	}
	return out, err
}

// roleMatches reports whether a chat turn's role or from field is one of
// the wanted names.
func roleMatches(item []byte, roles []string) bool {
	for _, k := range []string{"role", "from"} {
		if v, err := objectKey(item, k); err == nil && v != nil {
			s, ok := jsonString(v)
			if !ok {
				return false
			}
			for _, want := range roles {
				if len(s) == len(want) && strings.EqualFold(s, want) {
					return true
				}
			}
			return false
		}
	}
	return false
}

// extractAny returns the value at path as a string (numbers too), for IDs.
func (r *Reader) extractAny(raw []byte, path []segment) ([]string, error) {
	if len(path) == 0 {
		if s, ok := jsonString(raw); ok {
			return []string{s}, nil
		}
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return []string{n.String()}, nil
		}
		return nil, errMissing
	}
	v, err := objectKey(raw, path[0].key)
	if err != nil || v == nil || path[0].each {
		return nil, errMissing
	}
	return r.extractAny(v, path[1:])
}

// jsonl reads one JSON object per line.
func (c *fileCtx) jsonl(br *bufio.Reader) error { return c.jsonlLines(br, 1, nil) }

// jsonlLines reads JSON Lines from br, whose first line is line lineNo of
// the input. With next set (a byte range of a file: see ReadJSONLRange),
// next is asked before each line whether it is to be read, and the end of
// the range is not the end of the file: it does not decide whether the
// file gave no document.
func (c *fileCtx) jsonlLines(br *bufio.Reader, lineNo int, next func() bool) error {
	empty := true
	var lineBuf []byte
	for ; ; lineNo++ {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if next != nil && !next() {
			if empty {
				c.st.Skipped = "empty"
			}
			return nil
		}
		line, tooLong, err := readLimitedLine(br, c.r.opts.MaxRecord, &lineBuf)
		where := fmt.Sprintf("line %d", lineNo)
		switch {
		case tooLong:
			empty = false
			c.st.Records++
			c.diag(Diagnostic{c.path, where, fmt.Errorf("record longer than %d bytes, skipped", c.r.opts.MaxRecord)})
		case len(bytes.TrimSpace(line)) > 0:
			empty = false
			c.st.Records++
			texts, id, rerr := c.record(line, where)
			if rerr != nil {
				if !json.Valid(line) { // say where the syntax breaks
					rerr = jsonSyntax(line)
				}
				c.diag(Diagnostic{c.path, where, rerr})
				break
			}
			if serr := c.sendTexts(texts, id, where); serr != nil {
				return serr
			}
		}
		if err == io.EOF {
			if empty {
				c.st.Skipped = "empty"
			}
			if next != nil {
				return nil
			}
			return c.noDocuments(nil)
		}
		if err != nil {
			return err
		}
	}
}

// jsonSyntax describes why line is not valid JSON, with the byte offset.
func jsonSyntax(line []byte) error {
	var v any
	err := json.Unmarshal(line, &v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("invalid JSON at byte %d: %v", syn.Offset, syn)
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

// jsonArray streams the elements of one top-level JSON array (ShareGPT).
// Elements are cut by a scanner that follows only strings and nesting, so
// that one bad element is one diagnostic and reading goes on at the next,
// and an element longer than MaxRecord is skipped without being held in
// memory.
func (c *fileCtx) jsonArray(br *bufio.Reader) error {
	var off int64
	skipSpace := func() (byte, error) {
		for {
			b, err := br.ReadByte()
			if err != nil {
				return 0, err
			}
			off++
			switch b {
			case ' ', '\t', '\r', '\n':
				continue
			case 0xef: // a byte order mark
				if bom, _ := br.Peek(2); string(bom) == "\xbb\xbf" {
					br.Discard(2)
					off += 2
					continue
				}
			}
			return b, nil
		}
	}
	first, err := skipSpace()
	if err == io.EOF {
		c.st.Skipped = "empty"
		return nil
	}
	if err != nil {
		return fmt.Errorf("byte %d: %w", off, err)
	}
	if first != '[' {
		return fmt.Errorf("byte %d: not a JSON array (starts with %q)", off-1, first)
	}
	if b, err := skipSpace(); err == nil && b == ']' {
		return c.noDocuments(nil)
	} else if err == nil {
		br.UnreadByte()
		off--
	}
	var buf []byte
	for i := 0; ; i++ {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		for {
			b, err := br.Peek(1)
			if err != nil || (b[0] != ' ' && b[0] != '\t' && b[0] != '\r' && b[0] != '\n') {
				break
			}
			br.Discard(1)
			off++
		}
		start := off
		elem, tooLong, end, err := nextElement(br, &off, c.r.opts.MaxRecord, buf[:0])
		buf = elem
		if cap(buf) > keptLineBuffer {
			buf = nil
		}
		where := fmt.Sprintf("element %d at byte %d", i, start)
		if end == 0 {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("%s: unterminated JSON array: %w", where, err)
		}
		c.st.Records++
		elem = bytes.TrimSpace(elem)
		switch {
		case tooLong:
			c.diag(Diagnostic{c.path, where, fmt.Errorf("element longer than %d bytes, skipped", c.r.opts.MaxRecord)})
		default:
			texts, id, rerr := c.record(elem, fmt.Sprintf("element %d", i))
			if rerr != nil {
				if !json.Valid(elem) {
					rerr = jsonSyntax(elem)
				}
				c.diag(Diagnostic{c.path, where, rerr})
				break
			}
			if err := c.sendTexts(texts, id, where); err != nil {
				return err
			}
		}
		if end == ']' {
			return c.noDocuments(nil)
		}
	}
}

// nextElement reads one element of a JSON array, up to and including the
// "," or "]" after it (returned as end; 0 at the end of input), following
// only strings and nesting. The element is appended to buf unless it grows
// past limit (tooLong: the rest is read and dropped).
func nextElement(br *bufio.Reader, off *int64, limit int, buf []byte) (elem []byte, tooLong bool, end byte, err error) {
	depth, inString, escaped := 0, false, false
	for {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				return buf, tooLong, 0, err
			}
		}
		chunk, _ := br.Peek(br.Buffered())
		for k, b := range chunk {
			switch {
			case inString:
				switch {
				case escaped:
					escaped = false
				case b == '\\':
					escaped = true
				case b == '"':
					inString = false
				}
			case b == '"':
				inString = true
			case b == '{' || b == '[':
				depth++
			case (b == '}' || b == ']') && depth > 0:
				depth--
			case (b == ',' || b == ']') && depth == 0:
				if !tooLong {
					buf = append(buf, chunk[:k]...)
				}
				br.Discard(k + 1)
				*off += int64(k + 1)
				return buf, tooLong, b, nil
			}
		}
		if !tooLong && len(buf)+len(chunk) > limit {
			tooLong, buf = true, buf[:0]
		}
		if !tooLong {
			buf = append(buf, chunk...)
		}
		br.Discard(len(chunk))
		*off += int64(len(chunk))
	}
}
