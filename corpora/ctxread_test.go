package corpora

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/gzip"
	"time"
)

// failAfter is how long a test waits for a cancelled read to return: far
// more than it takes, so that the test fails only on a read that hangs.
const failAfter = 10 * time.Second

// blockingReader blocks in Read until released, saying when it is entered.
type blockingReader struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	close(b.entered)
	<-b.release
	return copy(p, "late"), nil
}

// within runs f and fails the test if it has not returned after failAfter.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(failAfter):
		t.Fatalf("%s: still blocked %v after the context was cancelled", what, failAfter)
	}
}

func TestCtxReaderCancelsABlockedRead(t *testing.T) {
	src := &blockingReader{entered: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	r := newCtxReader(ctx, src).(*ctxReader)
	go func() { <-src.entered; cancel() }() // cancel only once the source's Read blocks
	var n int
	var err error
	within(t, "Read", func() { n, err = r.Read(make([]byte, 10)) })
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Read = %d, %v; want 0, context.Canceled", n, err)
	}
	close(src.release) // the late read finishes; what it read is dropped
	if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancellation = %d, %v; want 0, context.Canceled", n, err)
	}
	r.Close()
}

func TestCtxReaderPassesEveryByte(t *testing.T) {
	want := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(rng.Uint32())
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() { // pieces of random sizes, so reads return short
		wrng := rand.New(rand.NewPCG(5, 6))
		for rest := want; len(rest) > 0; {
			k := min(len(rest), 1+wrng.IntN(100000))
			pw.Write(rest[:k])
			rest = rest[k:]
		}
		pw.Close()
	}()
	r := newCtxReader(context.Background(), pr)
	if _, ok := r.(*ctxReader); !ok {
		t.Fatalf("a pipe is read directly (%T), not through a ctxReader", r)
	}
	var got []byte
	buf := make([]byte, 3*ctxReadSize) // larger than one read: Read returns at most ctxReadSize
	for {
		n, err := r.Read(buf[:1+rng.IntN(len(buf))])
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(want))
	}
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after EOF = %d, %v", n, err)
	}
	r.(*ctxReader).Close()
}

func TestCtxReaderLeavesRegularFilesAlone(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "in")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if r := newCtxReader(context.Background(), f); r != io.Reader(f) {
		t.Fatalf("a regular file is wrapped (%T)", r)
	}
}

// neverWritten returns the read end of a pipe that never gets data (nor
// EOF until the test ends).
func neverWritten(t *testing.T) *os.File {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close(); pr.Close() })
	return pr
}

func TestOpenTextStdinCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stdin := neverWritten(t)
	var err error
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	within(t, "OpenText of a pipe that never delivers", func() {
		var in io.ReadCloser
		if in, err = OpenText(ctx, "-", stdin); err == nil {
			_, err = io.ReadAll(in)
			in.Close()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestReadFileStdinCancelled(t *testing.T) {
	for _, format := range []string{"auto", "jsonl", "text", "csv", "json", "warc"} {
		t.Run(format, func(t *testing.T) {
			r, err := NewReader(ReadOptions{Format: format})
			if err != nil {
				t.Fatal(err)
			}
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			defer pw.Close()
			r.Stdin = pr
			// One record (longer than the sniffed head, which is read
			// before anything) arrives, then nothing: the first document
			// is emitted, and cancelling then ends the blocked read.
			rec := strings.Repeat("first record ", sniffSize/10)
			first := map[string]string{
				"auto": `{"text":"` + rec + `"}` + "\n", "jsonl": `{"text":"` + rec + `"}` + "\n",
				"text": "", "csv": "text\n" + rec + "\n", "json": `[{"text":"` + rec + `"},`,
				"warc": fmt.Sprintf("WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n", len(rec), rec),
			}[format]
			pw.WriteString(first)
			ctx, cancel := context.WithCancel(context.Background())
			docs := 0
			emitted := make(chan struct{}, 1)
			go func() {
				// Cancel once the reader has gone on to wait for the
				// next record (or after a second, if no document comes).
				select {
				case <-emitted:
					time.Sleep(50 * time.Millisecond)
				case <-time.After(time.Second):
				}
				cancel()
			}()
			var rerr error
			within(t, "ReadFile of a pipe that stops delivering", func() {
				_, rerr = r.ReadFile(ctx, "-", func(Document) error {
					docs++
					select {
					case emitted <- struct{}{}:
					default:
					}
					return nil
				}, func(Diagnostic) {})
			})
			if !errors.Is(rerr, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", rerr)
			}
			if first != "" && docs != 1 {
				t.Fatalf("%d documents before the cancellation, want 1", docs)
			}
		})
	}
}

// countdownCtx is a context that is cancelled once its Err has been asked
// n times: it stands for a cancellation that comes while a record is
// being read, without timing.
type countdownCtx struct {
	context.Context
	n atomic.Int64
}

func (c *countdownCtx) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestCancelInsideAHugeRecord: a record that runs for 32 MiB (a line, an
// unclosed CSV quote, a WARC header, a JSON element) is read and dropped
// in 64 KiB steps, and a cancellation during it ends the read there, not
// at the end of the record: the document after it is never reached.
func TestCancelInsideAHugeRecord(t *testing.T) {
	huge := strings.Repeat("long record ", (32<<20)/12)
	inputs := map[string][]string{
		"lines.jsonl": {`{"text":"`, huge, `"}` + "\n" + `{"text":"after"}` + "\n"},
		"lines.txt":   {huge, "\n\nafter\n"},
		"quote.csv":   {"id,text\n1,\"", strings.ReplaceAll(huge, "record ", "record\n"), "\n2,after\n"},
		"header.warc": {"WARC/1.0\r\nX-Huge: ", huge, "\r\nContent-Length: 5\r\n\r\nafter\r\n\r\n"},
		"elem.json":   {`[{"text":"`, huge, `"},{"text":"after"}]`},
	}
	dir := t.TempDir()
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			z := gzip.NewWriter(&b)
			for _, piece := range data {
				z.Write([]byte(piece))
			}
			z.Close()
			path := filepath.Join(dir, name+".gz")
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			split := ""
			if strings.HasSuffix(name, ".txt") {
				split = "paragraphs"
			}
			r, err := NewReader(ReadOptions{Split: split, MaxRecord: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			// 32 MiB is over 500 reads of 64 KiB; records are checked
			// between far fewer than 50 times.
			ctx := &countdownCtx{Context: context.Background()}
			ctx.n.Store(50)
			var docs []string
			_, err = r.ReadFile(ctx, path, func(d Document) error { docs = append(docs, d.Text); return nil }, func(Diagnostic) {})
			if !errors.Is(err, context.Canceled) || len(docs) > 0 {
				t.Fatalf("err %v, documents %q: want context.Canceled inside the huge record, before any document", err, docs)
			}
		})
	}
}
