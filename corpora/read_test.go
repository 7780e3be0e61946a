package corpora_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/ulikunitz/xz"
)

// collect reads a file and returns its documents, diagnostics and error.
func collect(t testing.TB, path string, opts corpora.ReadOptions) ([]corpora.Document, []corpora.Diagnostic, corpora.FileStats, error) {
	t.Helper()
	r, err := corpora.NewReader(opts)
	if err != nil {
		t.Fatal(err)
	}
	var docs []corpora.Document
	var diags []corpora.Diagnostic
	st, err := r.ReadFile(context.Background(), path,
		func(d corpora.Document) error { docs = append(docs, d); return nil },
		func(d corpora.Diagnostic) { diags = append(diags, d) })
	return docs, diags, st, err
}

func write(t testing.TB, dir, name string, data []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func compress(t testing.TB, kind corpora.Compression, data []byte) []byte {
	var b bytes.Buffer
	switch kind {
	case corpora.Gzip:
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
	case corpora.Zstd:
		w, _ := zstd.NewWriter(&b)
		w.Write(data)
		w.Close()
	case corpora.XZ:
		w, _ := xz.NewWriter(&b)
		w.Write(data)
		w.Close()
	default:
		return data
	}
	return b.Bytes()
}

// paragraphs returns n real paragraphs of Opticks.
func paragraphs(t testing.TB, n int) []string {
	d, err := refcorpus.Opticks()
	if err != nil {
		t.Skip(err)
	}
	var out []string
	for _, p := range strings.Split(refcorpus.UnwrapParagraphs(d.Text), "\n\n") {
		if len(p) > 200 {
			out = append(out, p)
		}
		if len(out) == n {
			break
		}
	}
	return out
}

func jsonlOf(t testing.TB, paras []string) []byte {
	var b bytes.Buffer
	for i, p := range paras {
		line, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("doc-%d", i), "text": p, "meta": map[string]int{"n": i}})
		b.Write(append(line, '\n'))
	}
	return b.Bytes()
}

func TestJSONLCompressions(t *testing.T) {
	paras := paragraphs(t, 30)
	data := jsonlOf(t, paras)
	dir := t.TempDir()
	for _, c := range []struct {
		kind corpora.Compression
		name string
	}{{corpora.NoCompression, "a.jsonl"}, {corpora.Gzip, "a.jsonl.gz"}, {corpora.Zstd, "a.jsonl.zst"}, {corpora.XZ, "a.jsonl.xz"}, {corpora.Zstd, "misnamed.txt"}} {
		path := write(t, dir, c.name, compress(t, c.kind, data))
		opts := corpora.ReadOptions{}
		if c.name == "misnamed.txt" {
			opts.Format = "jsonl" // compression is still found by magic bytes
		}
		docs, diags, st, err := collect(t, path, opts)
		if err != nil || len(diags) != 0 || st.Compression != c.kind {
			t.Fatalf("%s: %v %v %+v", c.name, err, diags, st)
		}
		if len(docs) != len(paras) || docs[3].ID != "doc-3" || docs[3].Text != paras[3] || docs[3].Location != "line 4" {
			t.Fatalf("%s: %d docs, doc 3 = %+v", c.name, len(docs), docs[3])
		}
	}
	// Concatenated gzip members read as one stream.
	two := append(compress(t, corpora.Gzip, data[:len(data)/2]), compress(t, corpora.Gzip, data[len(data)/2:])...)
	if docs, _, _, _ := collect(t, write(t, dir, "two.jsonl.gz", two), corpora.ReadOptions{}); len(docs) < len(paras)-1 {
		t.Errorf("multi-member gzip: %d docs", len(docs))
	}
}

func TestFieldPathsAndRoles(t *testing.T) {
	dir := t.TempDir()
	chat := `{"id":7,"conversation":[{"role":"user","content":"Hello there"},{"role":"assistant","content":"Hi! How can I help?"},{"role":"assistant","content":"Second answer."}]}
{"id":"x","conversations":[{"from":"human","value":"q"},{"from":"gpt","value":"sharegpt answer"}]}
{"id":"y","raw_content":"red pajama text","meta":{"body":"nested body"}}
`
	path := write(t, dir, "chat.jsonl", []byte(chat))
	docs, _, _, _ := collect(t, path, corpora.ReadOptions{Field: "conversation[].content", Role: "assistant"})
	if len(docs) != 1 || docs[0].Text != "Hi! How can I help?\n\nSecond answer." || docs[0].ID != "7" {
		t.Errorf("conversation[].content: %+v", docs)
	}
	docs, _, _, _ = collect(t, path, corpora.ReadOptions{Field: "conversations[].value", Role: "assistant"})
	if len(docs) != 1 || docs[0].Text != "sharegpt answer" {
		t.Errorf("conversations[].value from=gpt: %+v", docs)
	}
	docs, _, _, _ = collect(t, path, corpora.ReadOptions{Field: "raw_content"})
	if len(docs) != 1 || docs[0].Text != "red pajama text" || docs[0].ID != "y" {
		t.Errorf("raw_content: %+v", docs)
	}
	docs, _, _, _ = collect(t, path, corpora.ReadOptions{Field: "meta.body", IDField: "nope"})
	if len(docs) != 1 || docs[0].Text != "nested body" || !strings.HasSuffix(docs[0].ID, ":line 3") {
		t.Errorf("meta.body: %+v", docs)
	}
	for _, bad := range []string{"", "a..b", "a[]]"} {
		if _, err := corpora.NewReader(corpora.ReadOptions{Field: bad}); err == nil && bad != "" {
			t.Errorf("field %q accepted", bad)
		}
	}
}

func TestJSONArrayCSVTextWARC(t *testing.T) {
	paras := paragraphs(t, 12)
	dir := t.TempDir()
	// ShareGPT-style array, streamed.
	var items []map[string]any
	for i, p := range paras {
		items = append(items, map[string]any{"id": fmt.Sprint("s", i), "conversations": []map[string]string{{"from": "human", "value": "question"}, {"from": "gpt", "value": p}}})
	}
	arr, _ := json.Marshal(items)
	docs, diags, _, err := collect(t, write(t, dir, "sharegpt.json", arr), corpora.ReadOptions{Field: "conversations[].value", Role: "assistant"})
	if err != nil || len(diags) != 0 || len(docs) != len(paras) || docs[5].Text != paras[5] || docs[5].ID != "s5" {
		t.Errorf("json array: %v %v %d", err, diags, len(docs))
	}
	// CSV and TSV.
	var csvb, tsvb strings.Builder
	csvb.WriteString("id,text\n")
	tsvb.WriteString("id\ttext\n")
	for i, p := range paras {
		fmt.Fprintf(&csvb, "r%d,\"%s\"\n", i, strings.ReplaceAll(p, `"`, `""`))
		fmt.Fprintf(&tsvb, "r%d\t%s\n", i, strings.ReplaceAll(p, "\t", " "))
	}
	for name, data := range map[string]string{"a.csv": csvb.String(), "a.tsv.gz": tsvb.String()} {
		raw := []byte(data)
		if strings.HasSuffix(name, ".gz") {
			raw = compress(t, corpora.Gzip, raw)
		}
		docs, diags, _, err := collect(t, write(t, dir, name, raw), corpora.ReadOptions{})
		if err != nil || len(diags) != 0 || len(docs) != len(paras) || docs[2].ID != "r2" || docs[2].Text != strings.ReplaceAll(paras[2], "\t", " ") {
			t.Errorf("%s: %v %v %d", name, err, diags, len(docs))
		}
	}
	// Plain text split three ways.
	text := strings.Join(paras, "\n\n")
	p := write(t, dir, "book.txt", []byte(text))
	if docs, _, _, _ := collect(t, p, corpora.ReadOptions{}); len(docs) != 1 || docs[0].Text != text {
		t.Errorf("whole file: %d docs", len(docs))
	}
	if docs, _, _, _ := collect(t, p, corpora.ReadOptions{Split: "paragraphs"}); len(docs) != len(paras) || docs[1].Text != paras[1] {
		t.Errorf("paragraphs: %d docs", len(docs))
	}
	if docs, _, _, _ := collect(t, p, corpora.ReadOptions{Split: "lines"}); len(docs) != len(paras) {
		t.Errorf("lines: %d docs", len(docs))
	}
	// A text larger than MaxPart is scored in parts cut at white space.
	docs, _, _, _ = collect(t, p, corpora.ReadOptions{MaxPart: 1000})
	joined := ""
	for i, d := range docs {
		joined += d.Text
		if len(d.Text) > 1000 || d.ID != fmt.Sprintf("%s#part%d", p, i+1) {
			t.Fatalf("part %d: %d bytes, id %s", i, len(d.Text), d.ID)
		}
	}
	if len(docs) < 3 || joined != text {
		t.Errorf("parts: %d, rejoined equal: %v", len(docs), joined == text)
	}
	// WET: one gzip member per record, conversion records kept.
	wet := wetFile(paras[:5])
	docs, diags, _, err = collect(t, write(t, dir, "crawl.warc.wet.gz", wet), corpora.ReadOptions{})
	if err != nil || len(diags) != 0 || len(docs) != 5 {
		t.Fatalf("wet: %v %v %d", err, diags, len(docs))
	}
	if docs[2].ID != "urn:uuid:rec-2" || docs[2].Text != paras[2] || !strings.HasPrefix(docs[2].Location, "https://example.org/2 @ byte ") {
		t.Errorf("wet doc: %+v", docs[2])
	}
}

// wetFile builds a WET file: a warcinfo record, then one conversion record
// per text, each in its own gzip member.
func wetFile(texts []string) []byte {
	var out bytes.Buffer
	rec := func(kind, id, uri, body string) {
		var b bytes.Buffer
		fmt.Fprintf(&b, "WARC/1.0\r\nWARC-Type: %s\r\nWARC-Record-ID: <%s>\r\n", kind, id)
		if uri != "" {
			fmt.Fprintf(&b, "WARC-Target-URI: %s\r\n", uri)
		}
		fmt.Fprintf(&b, "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n", len(body), body)
		w := gzip.NewWriter(&out)
		w.Write(b.Bytes())
		w.Close()
	}
	rec("warcinfo", "urn:uuid:info", "", "software: tracemark test")
	for i, t := range texts {
		rec("conversion", fmt.Sprintf("urn:uuid:rec-%d", i), fmt.Sprintf("https://example.org/%d", i), t)
	}
	return out.Bytes()
}

func TestHTMLResponseRecord(t *testing.T) {
	body := "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><head><style>p{}</style><script>var x=1;</script></head><body><p>Hello &amp; welcome</p><p>to the page.</p></body></html>"
	wet := fmt.Sprintf("WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:r>\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n", len(body), body)
	docs, _, _, err := collect(t, write(t, t.TempDir(), "x.warc", []byte(wet)), corpora.ReadOptions{})
	if err != nil || len(docs) != 1 || docs[0].Text != "Hello & welcome\nto the page." {
		t.Errorf("html response: %v %+v", err, docs)
	}
}

func TestBadInputs(t *testing.T) {
	paras := paragraphs(t, 10)
	dir := t.TempDir()
	good := jsonlOf(t, paras)
	// A malformed line, an overlong line, invalid UTF-8 and a non-string
	// field: each one diagnostic with its line; the other lines are read.
	lines := bytes.Split(bytes.TrimSpace(good), []byte("\n"))
	lines[2] = []byte(`{"id": "broken", "text": "unterminated`)
	lines[4] = []byte(`{"id":"long","text":"` + strings.Repeat("x", 3000) + `"}`)
	lines[6] = []byte("{\"id\":\"utf\",\"text\":\"caf\xe9\"}")
	lines[8] = []byte(`{"id":"num","text":42}`)
	path := write(t, dir, "bad.jsonl", bytes.Join(lines, []byte("\n")))
	docs, diags, st, err := collect(t, path, corpora.ReadOptions{MaxRecord: 2000})
	if err != nil {
		t.Fatal(err)
	}
	wantDiags := map[string]string{"line 3": "invalid JSON", "line 5": "longer than 2000", "line 9": "not a string"}
	for _, d := range diags {
		if want, ok := wantDiags[d.Location]; ok && strings.Contains(d.Err.Error(), want) && d.Source == path {
			delete(wantDiags, d.Location)
		}
	}
	if len(wantDiags) != 0 {
		t.Errorf("missing diagnostics %v in %v", wantDiags, diags)
	}
	// encoding/json repairs invalid UTF-8 inside strings itself.
	if len(docs) != 7 || st.Diagnostics != len(diags) || st.Records != 10 {
		t.Errorf("%d docs, stats %+v, %d diags", len(docs), st, len(diags))
	}
	// Invalid UTF-8 in plain text: a diagnostic, and the repaired text.
	docs, diags, _, _ = collect(t, write(t, dir, "latin1.txt", []byte("caf\xe9 au lait")), corpora.ReadOptions{})
	if len(docs) != 1 || docs[0].Text != "caf\uFFFD au lait" || len(diags) != 1 || !strings.Contains(diags[0].Err.Error(), "UTF-8") {
		t.Errorf("invalid UTF-8: %+v %v", docs, diags)
	}
	// Binary junk and empty files: skipped and counted, quietly (see
	// TestBinaryAndEmptyFilesSkipped).
	for name, data := range map[string][]byte{"junk.bin": {0x7f, 'E', 'L', 'F', 0, 0, 1, 2}, "empty.txt": nil, "empty.jsonl": nil} {
		docs, diags, st, err := collect(t, write(t, dir, name, data), corpora.ReadOptions{})
		if err != nil || len(docs) != 0 || len(diags) != 0 || st.Skipped == "" {
			t.Errorf("%s: %v %d docs %v", name, err, len(docs), diags)
		}
	}
	// A truncated gzip archive: the documents before the cut are kept, then
	// one error naming the truncation.
	gz := compress(t, corpora.Gzip, good)
	docs, _, _, err = collect(t, write(t, dir, "cut.jsonl.gz", gz[:len(gz)*2/3]), corpora.ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), "truncated gzip") || len(docs) == 0 || len(docs) >= len(paras) {
		t.Errorf("truncated gzip: %v, %d docs", err, len(docs))
	}
	// A broken JSON array: elements before the break are kept.
	docs, _, _, err = collect(t, write(t, dir, "broken.json", []byte(`[{"text":"one"},{"text":"two"},{"text":`)), corpora.ReadOptions{})
	if err == nil || !strings.Contains(err.Error(), "element 2 at byte") || len(docs) != 2 {
		t.Errorf("broken array: %v, %d docs", err, len(docs))
	}
	// A CSV without the column.
	if _, _, _, err := collect(t, write(t, dir, "nocol.csv", []byte("a,b\n1,2\n")), corpora.ReadOptions{}); err == nil || !strings.Contains(err.Error(), `no column of the fields text, content`) {
		t.Errorf("missing column: %v", err)
	}
	// A missing file.
	if _, _, _, err := collect(t, filepath.Join(dir, "nope.jsonl"), corpora.ReadOptions{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A truncated WARC record.
	wet := wetFile(paras[:3])
	plain := decompressAll(t, wet)
	if docs, _, _, err := collect(t, write(t, dir, "cut.warc", plain[:len(plain)-40]), corpora.ReadOptions{}); err == nil || !strings.Contains(err.Error(), "truncated WARC record") || len(docs) != 2 {
		t.Errorf("truncated warc: %v, %d docs", err, len(docs))
	}
}

func decompressAll(t testing.TB, gz []byte) []byte {
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(r)
	return b.Bytes()
}

func TestReadCancelled(t *testing.T) {
	paras := paragraphs(t, 10)
	path := write(t, t.TempDir(), "a.jsonl", jsonlOf(t, paras))
	r, _ := corpora.NewReader(corpora.ReadOptions{})
	n := 0
	stop := errors.New("enough")
	_, err := r.ReadFile(context.Background(), path, func(corpora.Document) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	}, func(corpora.Diagnostic) {})
	if n != 3 || err != nil && !errors.Is(err, context.Canceled) && err.Error() != "" {
		t.Errorf("stop after 3: n=%d err=%v", n, err)
	}
}

// fuzzRead feeds data to every format and checks that reading never
// panics and always accounts for what it reports.
func fuzzRead(t *testing.T, data []byte, format string) {
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, data, 0o644)
	for _, opts := range []corpora.ReadOptions{
		{Format: format, MaxRecord: 4096, MaxPart: 512, Field: "conversations[].value", Role: "gpt"},
		{Format: format, MaxRecord: 4096, MaxPart: 512, Fields: []string{"text", "a.b"}, MaxDiagnostics: 3},
		{Format: format, MaxRecord: 4096, MaxPart: 512}, // fields detected
	} {
		r, _ := corpora.NewReader(opts)
		var n, nd int
		st, _ := r.ReadFile(context.Background(), path, func(d corpora.Document) error {
			n++
			if d.Text == "" {
				t.Fatal("empty document emitted")
			}
			return nil
		}, func(corpora.Diagnostic) { nd++ })
		shown := st.Diagnostics - st.ErrorsNotShown
		if st.ErrorsNotShown > 0 {
			shown++ // "and N more errors"
		}
		if st.Documents != n || shown != nd || st.NoText > st.Records {
			t.Fatalf("stats %+v, saw %d docs %d diagnostics", st, n, nd)
		}
	}
}

func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"conversations":[{"from":"gpt","value":"hi"}]}` + "\n{bad\n"))
	f.Add([]byte("{\"text\":\"a\x00b\"}\n{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, "jsonl") })
}

func FuzzReadJSONArray(f *testing.F) {
	f.Add([]byte(`[{"conversations":[{"from":"gpt","value":"hi"}]},{}]`))
	f.Add([]byte(`[{"text":"a"}, {"text": bad}, "s", [1, {"x": "]"}], {"text":"b"}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, "json") })
}

func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("id,conversations[].value\n1,\"a\"\"b\"\n"))
	f.Add([]byte("id,text\n1,\"open\n2,ok\n3,\"multi\nline\"\n4,a\"b\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, "csv") })
}

func FuzzReadWARC(f *testing.F) {
	f.Add(decompressAll(f, wetFile([]string{"hello world", "second"})))
	body := "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<!DOCTYPE html><p>a  b</p><!-- <p>c</p> --><noscript>d</noscript><template>e</template>&amp;"
	f.Add([]byte(fmt.Sprintf("WARC/1.0\r\nWARC-Type: response\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n", len(body), body)))
	f.Add([]byte("WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 40\r\n\r\nshort\r\n\r\nWARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 2\r\n\r\nlonger body\r\n\r\nWARC/1.0\r\nContent-Length: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, "warc") })
}

func FuzzReadText(f *testing.F) {
	f.Add([]byte("para one\n\npara two\xff\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, "text") })
}

func FuzzReadAuto(f *testing.F) {
	f.Add(compress(f, corpora.Gzip, []byte(`{"text":"x"}`)))
	f.Add(compress(f, corpora.Zstd, []byte("[1,2]")))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, "auto") })
}

type fineWebRow struct {
	ID   string `parquet:"id"`
	Text string `parquet:"text"`
	URL  string `parquet:"url"`
}

func TestParquet(t *testing.T) {
	paras := paragraphs(t, 25)
	var rows []fineWebRow
	for i, p := range paras {
		rows = append(rows, fineWebRow{ID: fmt.Sprint("fw-", i), Text: p, URL: "https://example.org"})
	}
	var b bytes.Buffer
	w := parquet.NewGenericWriter[fineWebRow](&b, parquet.PageBufferSize(2048), parquet.MaxRowsPerRowGroup(10))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	w.Close()
	dir := t.TempDir()
	path := write(t, dir, "fineweb.parquet", b.Bytes())
	docs, diags, st, err := collect(t, path, corpora.ReadOptions{})
	if err != nil || len(diags) != 0 || st.Format != "parquet" || len(docs) != len(paras) {
		t.Fatalf("parquet: %v %v %+v, %d docs", err, diags, st, len(docs))
	}
	if docs[13].ID != "fw-13" || docs[13].Text != paras[13] || docs[13].Location != "row 13" {
		t.Errorf("doc 13: %+v", docs[13])
	}
	// Found by magic bytes too, and a missing column is a clear error.
	if docs, _, _, _ := collect(t, write(t, dir, "noext", b.Bytes()), corpora.ReadOptions{}); len(docs) != len(paras) {
		t.Errorf("by magic: %d docs", len(docs))
	}
	if _, _, _, err := collect(t, path, corpora.ReadOptions{Field: "body"}); err == nil || !strings.Contains(err.Error(), `no column "body" (columns: id, text, url)`) {
		t.Errorf("missing column: %v", err)
	}
	// Truncated or corrupted files are errors, never panics.
	for _, bad := range [][]byte{b.Bytes()[:b.Len()/2], append([]byte("PAR1"), bytes.Repeat([]byte{0xff}, 300)...)} {
		if _, _, _, err := collect(t, write(t, dir, "bad.parquet", bad), corpora.ReadOptions{}); err == nil {
			t.Errorf("bad parquet of %d bytes accepted", len(bad))
		}
	}
}

func FuzzReadParquet(f *testing.F) {
	var b bytes.Buffer
	w := parquet.NewGenericWriter[fineWebRow](&b)
	w.Write([]fineWebRow{{ID: "a", Text: "hello"}, {ID: "b", Text: "world"}})
	w.Close()
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.parquet")
		os.WriteFile(path, data, 0o644)
		r, _ := corpora.NewReader(corpora.ReadOptions{})
		r.ReadFile(context.Background(), path, func(corpora.Document) error { return nil }, func(corpora.Diagnostic) {})
	})
}

type chatTurn struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

type lmsysRow struct {
	ID           string     `parquet:"conversation_id"`
	Conversation []chatTurn `parquet:"conversation,list"`
}

func TestParquetChatTurns(t *testing.T) {
	paras := paragraphs(t, 12)
	var rows []lmsysRow
	for i := 0; i < 6; i++ {
		rows = append(rows, lmsysRow{ID: fmt.Sprint("c", i), Conversation: []chatTurn{
			{"user", "question " + fmt.Sprint(i)}, {"assistant", paras[2*i]}, {"user", "more?"}, {"assistant", paras[2*i+1]}}})
	}
	rows = append(rows, lmsysRow{ID: "empty"})
	var b bytes.Buffer
	w := parquet.NewGenericWriter[lmsysRow](&b, parquet.MaxRowsPerRowGroup(3))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	w.Close()
	path := write(t, t.TempDir(), "lmsys.parquet", b.Bytes())
	docs, diags, _, err := collect(t, path, corpora.ReadOptions{Field: "conversation[].content", IDField: "conversation_id", Role: "assistant"})
	if err != nil || len(diags) != 0 {
		t.Fatalf("%v %v", err, diags)
	}
	if len(docs) != 6 {
		t.Fatalf("%d docs, want 6 (the empty conversation has no text)", len(docs))
	}
	for i, d := range docs {
		if d.ID != fmt.Sprint("c", i) || d.Text != paras[2*i]+"\n\n"+paras[2*i+1] || d.Location != fmt.Sprint("row ", i) {
			t.Fatalf("doc %d: %s %s %.60q", i, d.ID, d.Location, d.Text)
		}
	}
	// Without a role filter every turn is read.
	docs, _, _, _ = collect(t, path, corpora.ReadOptions{Field: "conversation[].content", IDField: "conversation_id"})
	if len(docs) != 6 || !strings.HasPrefix(docs[0].Text, "question 0\n\n") {
		t.Errorf("all turns: %d docs, %.40q", len(docs), docs[0].Text)
	}
}
