// Package servelog writes and reads the served-output log: one JSON line
// per served request, saying what was sent to whom, in zstd-compressed
// files rotated by size.
//
// The log is what attribution (which customer received a harvested text)
// and a probe's exclusion list (the text the provider itself sent) are
// built from. It holds token IDs, customer IDs and the public key ID, never
// a secret.
//
// A log is a directory of files named
//
//	served-<UTC time, 20060102T150405.000000000Z>-<sequence>.jsonl.zst
//
// whose names sort in writing order. Each file is one zstd stream of JSON
// lines (Record). The writer flushes a zstd block after every record, so a
// record is in the file (in the operating system's cache) before Write
// returns; a writer that died without Close leaves its last file without
// the stream's end, which Read reports as a truncated file, delivering
// every record before the cut.
package servelog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Record is one served request: the prompt's token IDs and one completion
// per choice, as sent to the customer.
type Record struct {
	// RequestID is the server's ID of the request (the response's "id").
	RequestID string `json:"request_id"`
	// Time is when the response was logged, in UTC.
	Time time.Time `json:"time"`
	// Customer is the customer ID the request's credentials map to.
	Customer string `json:"customer"`
	// Model is the model name the request asked for.
	Model string `json:"model"`
	// Endpoint is "chat.completions" or "completions".
	Endpoint string `json:"endpoint"`
	// Watermarked is false only when a trusted customer opted out.
	Watermarked bool `json:"watermarked"`
	// KeyID is the public ID of the watermark key (empty when not
	// watermarked).
	KeyID string `json:"key_id,omitempty"`
	// Scheme is the watermark scheme's SPEC string.
	Scheme string `json:"scheme,omitempty"`
	// Payload is the payload embedded in the completions (with a payload
	// scheme), as hexadecimal.
	Payload string `json:"payload,omitempty"`
	// Tokenizer names the tokenizer the token IDs belong to.
	Tokenizer string `json:"tokenizer"`
	// PromptTokens is the prompt as the model saw it (after the chat
	// template), as token IDs.
	PromptTokens []uint32 `json:"prompt_tokens"`
	// Completions holds each choice's completion token IDs, by index.
	Completions [][]uint32 `json:"completions"`
}

// Validate reports a record that cannot be used for attribution.
func (r *Record) Validate() error {
	switch {
	case r.RequestID == "":
		return errors.New("record has no request_id")
	case r.Time.IsZero():
		return errors.New("record has no time")
	case r.Endpoint == "":
		return errors.New("record has no endpoint")
	case r.Tokenizer == "":
		return errors.New("record has no tokenizer")
	case r.Watermarked && r.KeyID == "":
		return errors.New("watermarked record has no key_id")
	}
	return nil
}

// DefaultMaxFileBytes is the uncompressed size after which a Writer starts
// a new file.
const DefaultMaxFileBytes = 64 << 20

// Options configure a Writer.
type Options struct {
	// MaxFileBytes is the uncompressed size of the records after which the
	// writer closes the file and starts the next (0: DefaultMaxFileBytes).
	MaxFileBytes int64
	// Now returns the current time (nil: time.Now). Record times and file
	// names come from it.
	Now func() time.Time

	// CreateFile, if set, opens each new log file instead of os.OpenFile
	// (exclusive create, mode 0600): a test can inject a file that fails,
	// as a full disk does.
	CreateFile func(name string) (io.WriteCloser, error)

	// create opens a new log file; tests replace it to simulate a full
	// disk.
	create func(name string) (io.WriteCloser, error)
}

// Writer appends records to a log directory. It is safe for concurrent
// use. After a write error the Writer is failed: every later Write returns
// the error (Err reports it), so a server can refuse to serve output it
// cannot log.
type Writer struct {
	dir  string
	opts Options

	mu      sync.Mutex
	file    io.WriteCloser
	enc     *zstd.Encoder
	name    string
	written int64
	seq     int
	lines   int64
	err     error
	closed  bool
	buf     bytes.Buffer
}

// Create opens a log directory for writing, creating it (mode 0700) if
// needed. The first file is created by the first Write.
func Create(dir string, opts Options) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("served-output log: %w", err)
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.create == nil {
		opts.create = opts.CreateFile
	}
	if opts.create == nil {
		opts.create = func(name string) (io.WriteCloser, error) {
			return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	return &Writer{dir: dir, opts: opts}, nil
}

// Now returns the writer's clock reading, in UTC.
func (w *Writer) Now() time.Time { return w.opts.Now().UTC() }

// Write appends one record. A zero Time is set to the writer's clock.
// When Write returns nil the record is in the file; when it returns an
// error the record may be incomplete and the writer is failed.
func (w *Writer) Write(rec Record) error {
	if rec.Time.IsZero() {
		rec.Time = w.Now()
	}
	rec.Time = rec.Time.UTC()
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("served-output log: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("served-output log: writer is closed")
	}
	if w.err != nil {
		return w.err
	}
	w.buf.Reset()
	if err := json.NewEncoder(&w.buf).Encode(&rec); err != nil {
		return fmt.Errorf("served-output log: encoding record %s: %w", rec.RequestID, err)
	}
	if w.file != nil && w.written > 0 && w.written+int64(w.buf.Len()) > w.opts.MaxFileBytes {
		if err := w.closeFile(); err != nil {
			return w.fail(err)
		}
	}
	if w.file == nil {
		if err := w.openFile(); err != nil {
			return w.fail(err)
		}
	}
	if _, err := w.enc.Write(w.buf.Bytes()); err != nil {
		return w.fail(fmt.Errorf("writing %s: %w", w.name, err))
	}
	if err := w.enc.Flush(); err != nil {
		return w.fail(fmt.Errorf("writing %s: %w", w.name, err))
	}
	w.written += int64(w.buf.Len())
	w.lines++
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = fmt.Errorf("served-output log: %w", err)
	return w.err
}

func (w *Writer) openFile() error {
	w.seq++
	name := filepath.Join(w.dir, fmt.Sprintf("served-%s-%06d.jsonl.zst",
		w.Now().Format("20060102T150405.000000000Z"), w.seq))
	f, err := w.opts.create(name)
	if err != nil {
		return fmt.Errorf("creating log file: %w", err)
	}
	enc, err := zstd.NewWriter(f, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		f.Close()
		return fmt.Errorf("creating log file %s: %w", name, err)
	}
	w.file, w.enc, w.name, w.written = f, enc, name, 0
	return nil
}

func (w *Writer) closeFile() error {
	if w.file == nil {
		return nil
	}
	err := w.enc.Close()
	if s, ok := w.file.(interface{ Sync() error }); ok && err == nil {
		err = s.Sync()
	}
	if cerr := w.file.Close(); err == nil {
		err = cerr
	}
	name := w.name
	w.file, w.enc, w.name = nil, nil, ""
	if err != nil {
		return fmt.Errorf("closing %s: %w", name, err)
	}
	return nil
}

// Err returns the error that failed the writer, or nil.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Lines returns the number of records written since Create.
func (w *Writer) Lines() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// Rotate closes the current file (if any); the next record starts a new
// one.
func (w *Writer) Rotate() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err := w.closeFile(); err != nil {
		return w.fail(err)
	}
	return nil
}

// Close ends the current file's zstd stream, syncs it to disk and closes
// it. It returns the writer's earlier error, if any.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	if err := w.closeFile(); err != nil && w.err == nil {
		w.err = fmt.Errorf("served-output log: %w", err)
	}
	return w.err
}

// Stats counts what Read found.
type Stats struct {
	// Files is the number of log files read.
	Files int
	// Records is the number of records delivered.
	Records int64
	// BadLines counts lines that were not valid records (each is also in
	// Errors, up to MaxErrors).
	BadLines int64
	// Truncated lists the files whose zstd stream ends early (a writer
	// that did not close them); their records before the cut were read.
	Truncated []string
	// Errors holds the first MaxErrors problems, each naming file and line.
	Errors []error
}

// MaxErrors is the number of problems Stats keeps in Errors.
const MaxErrors = 20

// Complete reports whether every line of every file was read as a record.
func (s *Stats) Complete() bool {
	return s.BadLines == 0 && len(s.Truncated) == 0 && len(s.Errors) == 0
}

func (s *Stats) addError(err error) {
	if len(s.Errors) < MaxErrors {
		s.Errors = append(s.Errors, err)
	}
}

// maxLine bounds one record's JSON line (a prompt and completions of a
// few hundred thousand tokens).
const maxLine = 64 << 20

// Files lists the log files of path in writing order: path itself if it is
// a file, else the served-*.jsonl.zst and served-*.jsonl files in the
// directory.
func Files(path string) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("served-output log: %w", err)
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("served-output log: %w", err)
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, "served-") &&
			(strings.HasSuffix(n, ".jsonl.zst") || strings.HasSuffix(n, ".jsonl")) {
			files = append(files, filepath.Join(path, n))
		}
	}
	sort.Strings(files)
	return files, nil
}

// Read calls fn for every record of the log at path (a directory or one
// file), in writing order. Lines that are not valid records and truncated
// files are counted in the returned Stats, which the caller must check
// (Stats.Complete) before trusting that it saw the whole log. Read stops
// at the first error from fn or ctx, or an unreadable file, and returns
// it.
func Read(ctx context.Context, path string, fn func(Record) error) (Stats, error) {
	var st Stats
	files, err := Files(path)
	if err != nil {
		return st, err
	}
	for _, name := range files {
		if err := readFile(ctx, name, fn, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

func readFile(ctx context.Context, name string, fn func(Record) error, st *Stats) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("served-output log: %w", err)
	}
	defer f.Close()
	st.Files++
	var r io.Reader = f
	if strings.HasSuffix(name, ".zst") {
		dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return fmt.Errorf("served-output log %s: %w", name, err)
		}
		defer dec.Close()
		r = dec
	}
	return ReadStream(ctx, r, name, fn, st)
}

// ReadStream reads the JSON lines of one decompressed log stream, naming
// it name in errors, and adds what it found to st.
func ReadStream(ctx context.Context, r io.Reader, name string, fn func(Record) error, st *Stats) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		if line%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		rec, err := ParseLine(b)
		if err != nil {
			st.BadLines++
			st.addError(fmt.Errorf("%s:%d: %w", name, line, err))
			continue
		}
		st.Records++
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			st.Truncated = append(st.Truncated, name)
			st.addError(fmt.Errorf("%s: truncated after line %d (the writer did not close it)", name, line))
			return nil
		}
		if errors.Is(err, bufio.ErrTooLong) {
			st.BadLines++
			st.addError(fmt.Errorf("%s:%d: line longer than %d bytes; rest of file not read", name, line+1, maxLine))
			st.Truncated = append(st.Truncated, name)
			return nil
		}
		st.Truncated = append(st.Truncated, name)
		st.addError(fmt.Errorf("%s: after line %d: %w", name, line, err))
	}
	return nil
}

// ParseLine decodes one JSON line into a validated Record. Unknown fields
// are ignored (later versions may add some).
func ParseLine(line []byte) (Record, error) {
	var rec Record
	if err := json.Unmarshal(line, &rec); err != nil {
		return Record{}, fmt.Errorf("not a log record: %w", err)
	}
	if err := rec.Validate(); err != nil {
		return Record{}, err
	}
	return rec, nil
}
