package corpora_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tracemark/tracemark/corpora"
)

// The extension wins when it names a format; content decides only for
// unknown extensions.
func TestExtensionWinsOverContent(t *testing.T) {
	dir := t.TempDir()
	// A .txt whose body starts with { or [ is text: one document.
	for _, body := range []string{`{"text": "not json"} and more`, "[1] a footnote\n\n[2] another"} {
		docs, diags, st, err := collect(t, write(t, dir, "note.txt", []byte(body)), corpora.ReadOptions{})
		if err != nil || len(diags) != 0 || st.Format != "text" || len(docs) != 1 || docs[0].Text != body {
			t.Errorf("%q: %v %v %+v %d docs", body, err, diags, st, len(docs))
		}
	}
	docs, _, st, _ := collect(t, write(t, dir, "README.md", []byte("WARC/1.0 is a format")), corpora.ReadOptions{})
	if st.Format != "text" || len(docs) != 1 {
		t.Errorf(".md: %+v", st)
	}
	// A JSONL record with a NUL byte in the first 8 KiB: one bad record,
	// not a binary file.
	paras := paragraphs(t, 30)
	lines := bytes.Split(bytes.TrimSpace(jsonlOf(t, paras)), []byte("\n"))
	lines[1] = []byte("{\"id\":\"nul\",\"text\":\"a\x00b\"}")
	docs, diags, st, err := collect(t, write(t, dir, "nul.jsonl", bytes.Join(lines, []byte("\n"))), corpora.ReadOptions{})
	if err != nil || len(docs) != 29 || len(diags) != 1 || diags[0].Location != "line 2" || st.Skipped != "" {
		t.Errorf("NUL in JSONL: %v, %d docs, %v, %+v", err, len(docs), diags, st)
	}
	// Unknown extensions are sniffed.
	for name, want := range map[string]string{"part-0000": "jsonl", "data.dat": "json", "crawl.out": "warc", "notes": "text"} {
		body := map[string]string{"jsonl": `{"text":"a"}` + "\n", "json": `[{"text":"a"}]`, "warc": "WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 1\r\n\r\na\r\n\r\n", "text": "hello"}[want]
		_, _, st, err := collect(t, write(t, dir, name, []byte(body)), corpora.ReadOptions{})
		if err != nil || st.Format != want {
			t.Errorf("%s: %v, format %q, want %q", name, err, st.Format, want)
		}
	}
	// Compression suffixes are stripped first.
	_, _, st, _ = collect(t, write(t, dir, "x.txt.gz", compress(t, corpora.Gzip, []byte(`{"text":"a"}`))), corpora.ReadOptions{})
	if st.Format != "text" {
		t.Errorf(".txt.gz: %+v", st)
	}
}

// Binary and empty files are skipped and counted, quietly: no diagnostic,
// no error.
func TestBinaryAndEmptyFilesSkipped(t *testing.T) {
	dir := t.TempDir()
	tar := make([]byte, 1024)
	copy(tar, "file.txt")
	copy(tar[257:], "ustar\x0000")
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"_SUCCESS":      {nil, "empty"},
		"blank.txt":     {[]byte(" \n\n"), "empty"},
		"empty.jsonl":   {nil, "empty"},
		"empty.gz":      {compress(t, corpora.Gzip, nil), "empty"},
		"image.png":     {[]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "binary"},
		"archive":       {tar, "binary"},
		"program":       {[]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00"), "binary"},
		"words.txt":     {bytes.Repeat([]byte("ab\x00\x00"), 100), "binary"},
		"junk.bin":      {[]byte{0x7f, 'E', 'L', 'F', 0, 0, 1, 2}, "binary"},
		"pic.png.gz":    {compress(t, corpora.Gzip, []byte("\x89PNG\r\n\x1a\n\x00\x00")), "binary"},
		"lib.so":        {append([]byte("\x7fELF"), bytes.Repeat([]byte{0xff, 0xfe, 0x00, 0x93}, 500)...), "binary"},
		"random.dat":    {bytes.Repeat([]byte{0x93, 0xf1, 0xa7, 0x8e, 0x12, 0xc4}, 400), "binary"},
		"ok-latin1.txt": {[]byte("caf\xe9 au lait, cr\xe8me br\xfbl\xe9e, et voil\xe0 une phrase assez longue"), ""},
	} {
		docs, diags, st, err := collect(t, write(t, dir, name, c.data), corpora.ReadOptions{})
		if c.want == "" {
			if st.Skipped != "" || len(docs) != 1 {
				t.Errorf("%s: skipped %q", name, st.Skipped)
			}
			continue
		}
		if err != nil || len(docs) != 0 || len(diags) != 0 || st.Skipped != c.want {
			t.Errorf("%s: %v, %d docs, %v, skipped %q, want %q", name, err, len(docs), diags, st.Skipped, c.want)
		}
	}
}

// Repeated errors in one file: the first 10 are shown, the rest counted.
func TestDiagnosticsCappedPerFile(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "{bad %d\n", i)
	}
	b.WriteString(`{"text":"good"}` + "\n")
	docs, diags, st, err := collect(t, write(t, t.TempDir(), "bad.jsonl", b.Bytes()), corpora.ReadOptions{})
	if err != nil || len(docs) != 1 {
		t.Fatalf("%v, %d docs", err, len(docs))
	}
	if len(diags) != 11 || st.Diagnostics != 1000 || st.ErrorsNotShown != 990 || !strings.Contains(diags[10].Err.Error(), "and 990 more errors in this file") {
		t.Errorf("%d diagnostics, stats %+v, last %v", len(diags), st, diags[len(diags)-1])
	}
	// Negative: all of them.
	_, diags, _, _ = collect(t, write(t, t.TempDir(), "bad.jsonl", b.Bytes()), corpora.ReadOptions{MaxDiagnostics: -1})
	if len(diags) != 1000 {
		t.Errorf("unlimited: %d", len(diags))
	}
}

// Special files named as inputs are refused at once, never opened (a FIFO's
// open blocks until a writer comes); so are directories.
func TestSpecialFilesRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/urandom", "/dev/null", dir} {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		done := make(chan error, 1)
		go func() {
			_, _, _, err := collect(t, path, corpora.ReadOptions{})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: %v", path, err)
			}
			if path != dir && !errors.Is(err, corpora.ErrNotRegular) {
				t.Errorf("%s: %v is not ErrNotRegular", path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: reading hangs", path)
		}
	}
}

// Reading stops at cancellation between records, even when no document
// is emitted (a file of records without text).
func TestReadHonoursContext(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 200000; i++ {
		b.WriteString(`{"other":"x"}` + "\n")
	}
	path := write(t, t.TempDir(), "a.jsonl", b.Bytes())
	r, _ := corpora.NewReader(corpora.ReadOptions{Fields: []string{"text"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err := r.ReadFile(ctx, path, func(corpora.Document) error { return nil }, func(corpora.Diagnostic) {})
	if !errors.Is(err, context.Canceled) || st.Records > 1000 {
		t.Errorf("%v after %d records", err, st.Records)
	}
}
