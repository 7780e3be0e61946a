package servelog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func record(i int) Record {
	return Record{
		RequestID:    fmt.Sprintf("req-%d", i),
		Customer:     fmt.Sprintf("cust-%d", i%3),
		Model:        "tracemark-ngram",
		Endpoint:     "chat.completions",
		Watermarked:  true,
		KeyID:        "0123456789abcdef",
		Scheme:       "kgw",
		Tokenizer:    "o200k_base",
		PromptTokens: []uint32{1, 2, uint32(i)},
		Completions:  [][]uint32{{uint32(i), 5, 6}, {7}},
	}
}

func readAll(t *testing.T, path string) ([]Record, Stats) {
	t.Helper()
	var got []Record
	st, err := Read(context.Background(), path, func(r Record) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, st
}

func TestWriteRotateRead(t *testing.T) {
	dir := t.TempDir()
	clock := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	w, err := Create(dir, Options{MaxFileBytes: 1000, Now: func() time.Time {
		clock = clock.Add(time.Millisecond)
		return clock
	}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := 0; i < n; i++ {
		if err := w.Write(record(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("%d files for %d records with a 1000-byte limit: no rotation", len(files), n)
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	got, st := readAll(t, dir)
	if !st.Complete() || st.Files != len(files) || st.Records != n {
		t.Fatalf("stats %+v", st)
	}
	for i, r := range got {
		want := record(i)
		if r.RequestID != want.RequestID || r.Customer != want.Customer || r.PromptTokens[2] != uint32(i) ||
			len(r.Completions) != 2 || r.Completions[0][0] != uint32(i) || r.Time.IsZero() {
			t.Fatalf("record %d = %+v", i, r)
		}
		if i > 0 && !r.Time.After(got[i-1].Time) {
			t.Fatalf("record %d not in writing order", i)
		}
	}
}

func TestConcurrentWritersLoseNothing(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, Options{MaxFileBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	const writers, each = 8, 200
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := w.Write(record(g*each + i)); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if w.Lines() != writers*each {
		t.Fatalf("Lines() = %d", w.Lines())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, st := readAll(t, dir)
	seen := map[string]bool{}
	for _, r := range got {
		seen[r.RequestID] = true
	}
	if !st.Complete() || len(seen) != writers*each {
		t.Fatalf("read %d distinct of %d, stats %+v", len(seen), writers*each, st)
	}
}

// A writer that dies without Close leaves a file without the stream's
// end: its records are read and the file is reported truncated.
func TestUnclosedFileIsReadAndReported(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := w.Write(record(i)); err != nil {
			t.Fatal(err)
		}
	}
	// No Close: the process "died". Copy the file as it is on disk.
	files, _ := Files(dir)
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	crash := t.TempDir()
	name := filepath.Join(crash, filepath.Base(files[0]))
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, st := readAll(t, crash)
	if len(got) != 3 {
		t.Fatalf("read %d records of 3 from an unclosed file", len(got))
	}
	if st.Complete() {
		t.Fatalf("an unclosed file was reported complete: %+v", st)
	}
	// Cut the file in the middle of a block: earlier records survive,
	// the cut is reported.
	if err := os.WriteFile(name, data[:len(data)-5], 0o600); err != nil {
		t.Fatal(err)
	}
	got, st = readAll(t, crash)
	if st.Complete() || len(st.Truncated) != 1 || len(got) > 3 {
		t.Fatalf("cut file: %d records, stats %+v", len(got), st)
	}
	w.Close()
}

type fullDisk struct{ n int }

func (f *fullDisk) Write(p []byte) (int, error) {
	if f.n+len(p) > 100 {
		return 0, syscall.ENOSPC
	}
	f.n += len(p)
	return len(p), nil
}
func (f *fullDisk) Close() error { return nil }

func TestFullDiskFailsTheWriter(t *testing.T) {
	w, err := Create(t.TempDir(), Options{create: func(string) (io.WriteCloser, error) { return &fullDisk{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	var failed error
	for i := 0; i < 50 && failed == nil; i++ {
		failed = w.Write(record(i))
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v", failed)
	}
	if w.Err() == nil || w.Write(record(99)) == nil {
		t.Fatal("the writer accepted records after a failed write")
	}
	if !errors.Is(w.Close(), syscall.ENOSPC) {
		t.Fatal("Close forgot the write error")
	}
}

func TestBadLinesAreCountedWithTheirPlace(t *testing.T) {
	dir := t.TempDir()
	good := `{"request_id":"a","time":"2026-12-02T04:00:00Z","customer":"c","endpoint":"completions","tokenizer":"o200k_base","prompt_tokens":[1],"completions":[[2]]}`
	body := good + "\nnot json\n" + `{"request_id":"b"}` + "\n\n" + strings.Replace(good, `"a"`, `"c"`, 1) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "served-x.jsonl"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	got, st := readAll(t, dir)
	if len(got) != 2 || st.BadLines != 2 || st.Complete() {
		t.Fatalf("%d records, stats %+v", len(got), st)
	}
	if !strings.Contains(st.Errors[0].Error(), "served-x.jsonl:2") || !strings.Contains(st.Errors[1].Error(), "served-x.jsonl:3") {
		t.Fatalf("errors do not name file and line: %v", st.Errors)
	}
}

func TestWriteRejectsInvalidRecords(t *testing.T) {
	w, err := Create(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := record(1)
	r.KeyID = ""
	if w.Write(r) == nil {
		t.Fatal("a watermarked record without key ID was logged")
	}
	if w.Err() != nil {
		t.Fatal("an invalid record failed the writer")
	}
}

func TestReadStopsOnCallbackError(t *testing.T) {
	dir := t.TempDir()
	w, _ := Create(dir, Options{})
	for i := 0; i < 3; i++ {
		w.Write(record(i))
	}
	w.Close()
	stop := errors.New("stop")
	n := 0
	_, err := Read(context.Background(), dir, func(Record) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err %v after %d records", err, n)
	}
	if _, err := Read(context.Background(), filepath.Join(dir, "missing"), func(Record) error { return nil }); err == nil {
		t.Fatal("a missing log read without error")
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"request_id":"a","time":"2026-12-02T04:00:00Z","customer":"c","endpoint":"completions","tokenizer":"o200k_base","prompt_tokens":[1],"completions":[[2]]}`))
	f.Add([]byte(`{"request_id":"a","time":"bad"}`))
	f.Add([]byte(`{"completions":[[4294967296]]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := ParseLine(line)
		if err == nil && rec.Validate() != nil {
			t.Fatal("ParseLine returned an invalid record")
		}
	})
}
