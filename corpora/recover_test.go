package corpora_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/tracemark/tracemark/corpora"
)

// allocated runs f and returns how many bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The record limit applies to JSON-array elements: one over it is one
// diagnostic naming its byte offset, never held in memory, and reading
// goes on; one bad element loses only itself.
func TestJSONArrayElementsBoundedAndResynced(t *testing.T) {
	dir := t.TempDir()
	huge := `{"text":"` + strings.Repeat("x", 8<<20) + `"}`
	data := []byte(`[{"text":"one"}, ` + huge + `, {"text": bad}, {"text":"four", "n": [1, {"a": "]"}]}, "five",` + "\n" + `{"text":"six"}]`)
	path := write(t, dir, "big.json", data)
	var docs []corpora.Document
	var diags []corpora.Diagnostic
	var err error
	n := allocated(func() { docs, diags, _, err = collect(t, path, corpora.ReadOptions{MaxRecord: 64 << 10}) })
	if err != nil || len(docs) != 3 || docs[0].Text != "one" || docs[1].Text != "four" || docs[2].Text != "six" {
		t.Fatalf("%v, %d docs %+v", err, len(docs), docs)
	}
	if len(diags) != 3 || diags[0].Location != "element 1 at byte 17" || !strings.Contains(diags[0].Err.Error(), "longer than 65536") ||
		!strings.Contains(diags[1].Location, "element 2") || !strings.Contains(diags[2].Location, "element 4") {
		t.Errorf("diagnostics %v", diags)
	}
	if n > 4<<20 {
		t.Errorf("reading an 8 MiB element over a 64 KiB limit allocated %d bytes", n)
	}
}

// The record limit applies to CSV rows: an unclosed quote followed by
// megabytes is one diagnostic, memory stays bounded, and the rows after it
// are read (resynchronized at the next line).
func TestCSVUnclosedQuoteResyncs(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	b.WriteString("id,text\n1,first row\n2,\"unclosed quote here\n")
	for i := 3; i < 23; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, "%d,\"row %d, quoted\"\n", i, i)
		} else {
			fmt.Fprintf(&b, "%d,row %d plain\n", i, i)
		}
	}
	b.WriteString("23,\"a quoted\nnewline\"\n") // a legitimate multi-line row
	docs, diags, _, err := collect(t, write(t, dir, "q.csv", b.Bytes()), corpora.ReadOptions{})
	if err != nil || len(docs) != 22 || len(diags) != 1 || diags[0].Location != "line 3" {
		t.Fatalf("%v, %d docs, %v", err, len(docs), diags)
	}
	for _, d := range docs[1:21] {
		if !strings.HasPrefix(d.Text, "row ") {
			t.Errorf("garbage doc %+v", d)
		}
	}
	if docs[21].Text != "a quoted\nnewline" || docs[21].ID != "23" {
		t.Errorf("multi-line row: %+v", docs[21])
	}
	// An unclosed quote followed by 32 MiB: the heap stays bounded by the
	// limit, and the rows after it are read.
	b.Reset()
	b.WriteString("id,text\n1,\"open\n")
	rows := 0
	for b.Len() < 32<<20 {
		b.WriteString("2,more text on a line\n")
		rows++
	}
	path := write(t, dir, "big.csv", b.Bytes())
	b = bytes.Buffer{} // not live while reading
	runtime.GC()
	r, _ := corpora.NewReader(corpora.ReadOptions{MaxRecord: 1 << 20})
	var peak uint64
	n, nd := 0, 0
	var ms runtime.MemStats
	_, err = r.ReadFile(context.Background(), path, func(corpora.Document) error {
		if n++; n%20000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		return nil
	}, func(d corpora.Diagnostic) {
		nd++
		if !strings.Contains(d.Err.Error(), "not closed") {
			t.Errorf("diagnostic %v", d)
		}
	})
	if err != nil || nd != 1 || n != rows {
		t.Errorf("%v, %d diagnostics, %d of %d rows", err, nd, n, rows)
	}
	if peak > 48<<20 {
		t.Errorf("heap reached %d bytes reading a 32 MiB file", peak)
	}
}

func warcRecord(kind, id, body string, length int) string {
	return fmt.Sprintf("WARC/1.0\r\nWARC-Type: %s\r\nWARC-Record-ID: <%s>\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n", kind, id, length, body)
}

// A WARC record with a wrong Content-Length, an over-long header line or
// too many header bytes is one diagnostic; reading resynchronizes at the
// next WARC/1. line.
func TestWARCResyncs(t *testing.T) {
	good := func(i int) string {
		body := fmt.Sprintf("good record number %d", i)
		return warcRecord("conversion", fmt.Sprint("g", i), body, len(body))
	}
	var w strings.Builder
	w.WriteString(good(0))
	w.WriteString(warcRecord("conversion", "long", "claims too much", len("claims too much")+60)) // eats into the next record
	w.WriteString(good(1))
	w.WriteString(warcRecord("conversion", "short", "claims too little, by a lot", 5))
	w.WriteString(good(2))
	w.WriteString("WARC/1.0\r\nWARC-Type: conversion\r\nX-Junk: " + strings.Repeat("j", 200<<10) + "\r\nContent-Length: 3\r\n\r\nabc\r\n\r\n")
	w.WriteString(good(3))
	w.WriteString("WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: twelve\r\n\r\nno length\r\n\r\n")
	w.WriteString(good(4))
	w.WriteString("WARC/1.0\r\nWARC-Type: conversion\r\n" + strings.Repeat("X-Many: header\r\n", 20000) + "Content-Length: 3\r\n\r\nabc\r\n\r\n")
	w.WriteString(good(5))
	docs, diags, _, err := collect(t, write(t, t.TempDir(), "bad.warc", []byte(w.String())), corpora.ReadOptions{MaxRecord: 64 << 10, MaxDiagnostics: -1})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range docs {
		got = append(got, d.ID)
	}
	if strings.Join(got, " ") != "g0 g1 g2 g3 g4 g5" {
		t.Errorf("docs %q", got)
	}
	if len(diags) != 5 {
		t.Errorf("%d diagnostics: %v", len(diags), diags)
	}
	for _, d := range diags {
		if !strings.Contains(d.Location, "byte ") {
			t.Errorf("diagnostic without a byte offset: %v", d)
		}
	}
}

// One bad Parquet page that is its column chunk's only page (so there is
// no next page to resume at) loses the chunk (its row group's rows of that
// column, counted), not the file.
func TestParquetBadPageLosesOnlyItsRowGroup(t *testing.T) {
	var rows []fineWebRow
	for i := 0; i < 30; i++ {
		rows = append(rows, fineWebRow{ID: fmt.Sprint("r", i), Text: fmt.Sprintf("row %d says something", i), URL: "u"})
	}
	var b bytes.Buffer
	w := parquet.NewGenericWriter[fineWebRow](&b, parquet.MaxRowsPerRowGroup(10))
	w.Write(rows)
	w.Close()
	data := b.Bytes()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	chunk := f.Metadata().RowGroups[1].Columns[1].MetaData // row group 1, text
	bad := bytes.Clone(data)
	for i := chunk.DataPageOffset; i < chunk.DataPageOffset+8; i++ {
		bad[i] = 0xff
	}
	docs, diags, _, err := collect(t, write(t, t.TempDir(), "bad.parquet", bad), corpora.ReadOptions{})
	if err != nil || len(docs) != 20 || docs[10].ID != "r20" || len(diags) != 1 || !strings.Contains(diags[0].Location, "row group 1") || !strings.Contains(diags[0].Err.Error(), "10 of its 10 rows lost") {
		t.Errorf("%v, %d docs, %v", err, len(docs), diags)
	}
}

// A truncated .xz keeps the lines that decompressed before the cut, then
// reports the truncation. github.com/ulikunitz/xz returns nothing of the
// LZMA2 chunk (at most 2 MiB decompressed, 64 KiB compressed) in which
// the input ends, so what is lost is at most that chunk.
func TestTruncatedXZKeepsWhatWasRead(t *testing.T) {
	var b bytes.Buffer
	x := uint64(1)
	for i := 0; b.Len() < 3<<20; i++ {
		fmt.Fprintf(&b, `{"id":"d%d","text":"`, i)
		for w := 0; w < 40; w++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			fmt.Fprintf(&b, "w%x ", x%4096)
		}
		b.WriteString("\"}\n")
	}
	lines := bytes.Count(b.Bytes(), []byte("\n"))
	xzData := compress(t, corpora.XZ, b.Bytes())
	cut := xzData[:len(xzData)*2/3]
	r, _ := corpora.NewReader(corpora.ReadOptions{})
	n := 0
	_, err := r.ReadFile(context.Background(), write(t, t.TempDir(), "cut.jsonl.xz", cut), func(corpora.Document) error { n++; return nil }, func(corpora.Diagnostic) {})
	if err == nil || !strings.Contains(err.Error(), "truncated xz") || n < lines/2 {
		t.Errorf("%v, %d of %d docs", err, n, lines)
	}
}

// A JSONL file whose only line is over the record limit is one diagnostic
// for that line, and not "skipped: empty".
func TestJSONLOnlyLineTooLongIsNotEmpty(t *testing.T) {
	path := write(t, t.TempDir(), "one.jsonl", []byte(`{"text":"`+strings.Repeat("y", 100<<10)+`"}`+"\n"))
	docs, diags, st, err := collect(t, path, corpora.ReadOptions{MaxRecord: 64 << 10})
	if err != nil || len(docs) != 0 || len(diags) != 1 || st.Skipped != "" || st.Records != 1 {
		t.Fatalf("err %v, %d docs, diagnostics %v, skipped %q, records %d", err, len(docs), diags, st.Skipped, st.Records)
	}
}

// With a page index, one bad Parquet page loses only its own rows (one
// diagnostic naming them, counted in LostRows): reading resumes at the
// next page of the column chunk, and the other rows keep their IDs.
func TestParquetBadPageWithPageIndexLosesOnlyThePage(t *testing.T) {
	var rows []fineWebRow
	for i := 0; i < 400; i++ {
		rows = append(rows, fineWebRow{ID: fmt.Sprint("r", i), Text: fmt.Sprintf("row %d says something rather long so that pages fill up quickly %0200d", i, i), URL: "u"})
	}
	var b bytes.Buffer
	w := parquet.NewGenericWriter[fineWebRow](&b, parquet.PageBufferSize(4<<10), parquet.MaxRowsPerRowGroup(200))
	w.Write(rows)
	w.Close()
	data := b.Bytes()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	text := f.RowGroups()[1].ColumnChunks()[1] // row group 1 (rows 200 to 399), text
	index, err := text.OffsetIndex()
	if err != nil || index.NumPages() < 4 {
		t.Fatalf("the test needs a page index with several pages: %v", err)
	}
	const badPage = 2
	first, next := index.FirstRowIndex(badPage), index.FirstRowIndex(badPage+1)
	bad := bytes.Clone(data)
	for i := index.Offset(badPage); i < index.Offset(badPage)+8; i++ {
		bad[i] = 0xff // the page header
	}
	docs, diags, st, err := collect(t, write(t, t.TempDir(), "bad.parquet", bad), corpora.ReadOptions{MaxDiagnostics: -1})
	if err != nil || len(diags) != 1 {
		t.Fatalf("%v, diagnostics %v", err, diags)
	}
	lost := next - first
	if int64(len(docs)) != 400-lost || st.LostRows != lost || st.Records != 400 {
		t.Fatalf("%d documents, %d rows lost, %d records; want %d, %d, 400", len(docs), st.LostRows, st.Records, 400-lost, lost)
	}
	want := fmt.Sprintf("rows %d to %d", 200+first, 200+next-1)
	if diags[0].Location != want || !strings.Contains(diags[0].Err.Error(), fmt.Sprintf("its %d rows lost", lost)) {
		t.Fatalf("diagnostic %v, want one at %s", diags[0], want)
	}
	k := 0
	for i, r := range rows {
		if int64(i) >= 200+first && int64(i) < 200+next {
			continue
		}
		if docs[k].ID != r.ID || docs[k].Text != r.Text {
			t.Fatalf("document %d is %s %q, want %s", k, docs[k].ID, docs[k].Text, r.ID)
		}
		k++
	}
}
