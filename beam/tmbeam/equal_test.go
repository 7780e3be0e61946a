package tmbeam

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/internal/testtext"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"

	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
)

func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }

// collector keeps a scan's records.
type collector struct {
	docs  []scan.Doc
	diags []scan.Diagnostic
	ends  []scan.FileEvent
	sum   scan.Summary
}

func (c *collector) Begin(scan.FileEvent) error         { return nil }
func (c *collector) Doc(d scan.Doc) error               { c.docs = append(c.docs, d); return nil }
func (c *collector) Diagnostic(d scan.Diagnostic) error { c.diags = append(c.diags, d); return nil }
func (c *collector) End(f scan.FileEvent) error         { c.ends = append(c.ends, f); return nil }
func (c *collector) Summary(s scan.Summary) error       { c.sum = s; return nil }

func put(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return out.Bytes()
}

type row struct {
	ID   string `parquet:"id"`
	Text string `parquet:"text"`
}

// writeCorpus writes a mixed corpus: plain text, JSONL (with a bad line),
// JSONL.zst, Parquet, a truncated .zst; human paragraphs of Opticks and
// watermarked text from the embedding API.
func writeCorpus(t *testing.T, sch watermark.Scheme, tok tokenize.Tokenizer) string {
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	var human []string
	for _, p := range strings.Split(refcorpus.UnwrapParagraphs(doc.Text), "\n\n") {
		if len(p) > 300 && len(human) < 80 {
			human = append(human, p)
		}
	}
	words := testtext.SingleTokenWords(tok, doc.Text)
	rng := rand.New(rand.NewPCG(7, 8))
	var marked []string
	for i := 0; i < 12; i++ {
		n := 40 + 30*(i%4) // weak to strong
		_, text, err := testtext.Watermarked(sch, tok, words, n, rng)
		if err != nil {
			t.Fatal(err)
		}
		marked = append(marked, strings.TrimSpace(text))
	}
	dir := t.TempDir()
	put(t, dir, "a.txt", []byte(human[0]+"\n\n"+marked[0]))
	var j1, j2 bytes.Buffer
	for i, h := range human[1:40] {
		line, _ := json.Marshal(map[string]string{"id": fmt.Sprint("h", i), "text": h})
		j1.Write(append(line, '\n'))
		if i == 5 {
			j1.WriteString("{\"id\": broken\n")
		}
		if i < 6 {
			line, _ := json.Marshal(map[string]string{"id": fmt.Sprint("m", i), "text": marked[1+i]})
			j1.Write(append(line, '\n'))
		}
	}
	// A repeated document: its tuples count once in the pooled test.
	line, _ := json.Marshal(map[string]string{"id": "dup", "text": marked[1]})
	j1.Write(append(line, '\n'))
	put(t, dir, "b.jsonl", j1.Bytes())
	for i, h := range human[40:70] {
		line, _ := json.Marshal(map[string]string{"id": fmt.Sprint("z", i), "text": h})
		j2.Write(append(line, '\n'))
		if i < 3 {
			line, _ := json.Marshal(map[string]string{"id": fmt.Sprint("zm", i), "text": marked[7+i]})
			j2.Write(append(line, '\n'))
		}
	}
	put(t, dir, "c.jsonl.zst", zstdBytes(t, j2.Bytes()))
	var rows []row
	for i, h := range human[70:] {
		rows = append(rows, row{ID: fmt.Sprint("p", i), Text: h})
	}
	rows = append(rows, row{ID: "pm", Text: marked[10]}, row{ID: "pm2", Text: marked[11]})
	var pq bytes.Buffer
	w := parquet.NewGenericWriter[row](&pq)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	put(t, dir, "d.parquet", pq.Bytes())
	bad := zstdBytes(t, j2.Bytes())
	put(t, dir, "e-truncated.jsonl.zst", bad[:len(bad)/2])
	return dir
}

// readBeam reads a pipeline's outputs.
func readBeam(t *testing.T, out string) (docs []scan.Doc, diags []scan.Diagnostic, ends []scan.FileEvent, sum scan.Summary) {
	t.Helper()
	shards, _ := filepath.Glob(filepath.Join(out, "docs-*.jsonl"))
	for _, p := range shards {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var probe struct{ Type string }
			json.Unmarshal(sc.Bytes(), &probe)
			switch probe.Type {
			case "doc":
				var d scan.Doc
				if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
					t.Fatal(err)
				}
				docs = append(docs, d)
			case "error":
				var d scan.Diagnostic
				if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
					t.Fatal(err)
				}
				diags = append(diags, d)
			default:
				t.Fatalf("%s: record of type %q", p, probe.Type)
			}
		}
		f.Close()
	}
	data, err := os.ReadFile(filepath.Join(out, "files.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev scan.FileEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, ev)
	}
	data, err = os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	return
}

func docKey(d scan.Doc) string { return d.File + "\x00" + d.Location }

// compare checks that got (a pipeline's result, with q-values exact up to
// qcap) equals want (a scan's).
func compare(t *testing.T, name string, want *collector, got []scan.Doc, gotDiags []scan.Diagnostic, sum scan.Summary, qcap float64) {
	t.Helper()
	if len(got) != len(want.docs) {
		t.Fatalf("%s: %d documents, scan %d", name, len(got), len(want.docs))
	}
	byKey := map[string]scan.Doc{}
	for _, d := range got {
		byKey[docKey(d)] = d
	}
	exactQ, nullQ := 0, 0
	for _, w := range want.docs {
		g, ok := byKey[docKey(w)]
		if !ok {
			t.Fatalf("%s: document %s %s missing", name, w.File, w.Location)
		}
		if g.ID != w.ID || g.PValue != w.PValue || g.Log10P != w.Log10P || g.Tokens != w.Tokens || g.Scored != w.Scored ||
			g.Detected != w.Detected || g.Flagged != w.Flagged || g.KeyID != w.KeyID {
			t.Errorf("%s: %s %s: got %+v, scan %+v", name, w.File, w.Location, g, w)
		}
		switch {
		case *w.QValue <= qcap:
			exactQ++
			if g.QValue == nil || *g.QValue != *w.QValue || *g.Log10Q != *w.Log10Q {
				t.Errorf("%s: %s %s: q-value %v, scan %v", name, w.File, w.Location, g.QValue, *w.QValue)
			}
		default:
			nullQ++
			if g.QValue != nil && *g.QValue != *w.QValue {
				t.Errorf("%s: %s %s: q-value %v above the cap, scan %v", name, w.File, w.Location, *g.QValue, *w.QValue)
			}
		}
	}
	t.Logf("%s: %d documents equal; %d q-values <= %v equal, %d above", name, len(got), exactQ, qcap, nullQ)
	diagSet := func(ds []scan.Diagnostic) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.File+"|"+d.Location+"|"+d.Message)
		}
		sort.Strings(out)
		return out
	}
	if a, b := diagSet(gotDiags), diagSet(want.diags); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("%s: error records\n%s\nscan:\n%s", name, strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	ws := want.sum
	if sum.Files != ws.Files || sum.Documents != ws.Documents || sum.Flagged != ws.Flagged || sum.Errors != ws.Errors ||
		sum.FailedFiles != ws.FailedFiles || sum.Bytes != ws.Bytes || sum.Tokens != ws.Tokens {
		t.Errorf("%s: summary counts %+v, scan %+v", name, sum, ws)
	}
	if sum.PooledLog10P != ws.PooledLog10P || sum.PooledPValue != ws.PooledPValue || sum.Detected != ws.Detected || len(sum.PerKey) != len(ws.PerKey) {
		t.Fatalf("%s: pooled %v (log10 %v), scan %v (log10 %v)", name, sum.PooledPValue, sum.PooledLog10P, ws.PooledPValue, ws.PooledLog10P)
	}
	for k := range ws.PerKey {
		gt, _ := json.Marshal(sum.PerKey[k].Tally)
		wt, _ := json.Marshal(ws.PerKey[k].Tally)
		if string(gt) != string(wt) || sum.PerKey[k].Log10P != ws.PerKey[k].Log10P || sum.PerKey[k].Scored != ws.PerKey[k].Scored {
			t.Errorf("%s: key %d pooled tally %s (log10 p %v), scan %s (%v)", name, k, gt, sum.PerKey[k].Log10P, wt, ws.PerKey[k].Log10P)
		}
	}
	t.Logf("%s: pooled tally %+v, log10 p %v equal", name, ws.PerKey[0].Tally, ws.PooledLog10P)
}

// TestPrismEqualsScan runs the pipeline on Prism over a mixed corpus and
// checks it against `scan` in memory and against `scan --out` + `merge`.
// testKey returns the tests' key, its scheme and tokenizer, and the key
// file written in work.
func testKey(t *testing.T, work string) (watermark.Scheme, tokenize.Tokenizer, string) {
	t.Helper()
	tok, err := tokenize.Get(tokenize.Default)
	if err != nil {
		t.Fatal(err)
	}
	var secret [watermark.SecretSize]byte
	for i := range secret {
		secret[i] = byte(3*i + 1)
	}
	k := watermark.NewKey(secret, watermark.DefaultKGW(), tokenize.Default, time.Time{})
	sch, err := watermark.NewScheme(k, k.Scheme)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(work, "k.key")
	if err := k.WriteKeyFile(keyPath, false); err != nil {
		t.Fatal(err)
	}
	return sch, tok, keyPath
}

func TestPrismEqualsScan(t *testing.T) {
	work := t.TempDir()
	sch, tok, keyPath := testKey(t, work)
	dir := writeCorpus(t, sch, tok)
	dk := detect.DedupKey{0x1234, 0x5678}
	const fdr = 0.1
	ctx := context.Background()
	walked, err := corpora.Walk(ctx, []string{dir}, corpora.WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	read := corpora.ReadOptions{Format: "auto", IDField: "id", Split: "paragraphs"}
	newScan := func(out string) *scan.Scanner {
		s, err := scan.New(scan.Config{Schemes: []watermark.Scheme{sch}, Tokenizer: tok, Read: read, FDR: fdr, DedupKey: &dk, OutDir: out})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mem := &collector{}
	if _, err := newScan("").Run(ctx, walked.Files, mem); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(work, "out")
	if _, err := newScan(outDir).Run(ctx, walked.Files, &collector{}); err != nil {
		t.Fatal(err)
	}
	merged := &collector{}
	if _, err := scan.Merge([]string{outDir}, scan.MergeOptions{FDR: fdr}, merged); err != nil {
		t.Fatal(err)
	}
	flagged := 0
	for _, d := range mem.docs {
		if d.Flagged {
			flagged++
		}
	}
	if flagged < 5 || mem.sum.FailedFiles != 1 || mem.sum.Errors < 2 || !mem.sum.Detected {
		t.Fatalf("fixture: %d flagged, %d failed files, %d errors, pooled detected %v", flagged, mem.sum.FailedFiles, mem.sum.Errors, mem.sum.Detected)
	}
	cfg := Config{KeyPaths: []string{keyPath}, Read: read, FDR: fdr, DedupKey: dk}
	for _, qcap := range []float64{0.2, 1} {
		out := filepath.Join(work, fmt.Sprint("beam-", qcap))
		p, s := beam.NewPipelineWithRoot()
		if err := Build(ctx, s, Options{Config: cfg, Inputs: []string{dir}, Output: out, Shards: 3, QCap: qcap}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := prism.Execute(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Logf("prism run (q cap %v): %v", qcap, time.Since(start))
		docs, diags, ends, sum := readBeam(t, out)
		compare(t, fmt.Sprint("beam vs scan, q cap ", qcap), mem, docs, diags, sum, qcap)
		if qcap == 1 {
			compare(t, "beam vs scan --out + merge", merged, docs, diags, sum, qcap)
		}
		if len(ends) != len(mem.ends) {
			t.Fatalf("%d end records, scan %d", len(ends), len(mem.ends))
		}
		for i, e := range ends {
			w := mem.ends[i]
			if e.File != w.File || e.Bytes != w.Bytes || e.Documents != w.Documents || e.Format != w.Format || e.Error != w.Error || e.Diagnostics != w.Diagnostics {
				t.Errorf("end record %+v, scan %+v", e, w)
			}
		}
	}
}

// writeSplitCorpus writes JSON Lines files of several hundred KB, to be
// read in many ranges: records without an ID (named by their line), bad
// JSON (more errors than a file shows), blank and CRLF lines, records
// without text and non-objects before the first record with text (which
// decides the field), repeated watermarked documents; and a .jsonl.zst,
// read whole.
func writeSplitCorpus(t *testing.T, sch watermark.Scheme, tok tokenize.Tokenizer) string {
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	var human []string
	for _, p := range strings.Split(refcorpus.UnwrapParagraphs(doc.Text), "\n\n") {
		if len(p) > 200 {
			human = append(human, p)
		}
	}
	words := testtext.SingleTokenWords(tok, doc.Text)
	rng := rand.New(rand.NewPCG(9, 10))
	var marked []string
	for i := 0; i < 10; i++ {
		_, text, err := testtext.Watermarked(sch, tok, words, 40+20*(i%4), rng)
		if err != nil {
			t.Fatal(err)
		}
		marked = append(marked, strings.TrimSpace(text))
	}
	dir := t.TempDir()
	jsonl := func(field string, n, seed int) []byte {
		var b bytes.Buffer
		b.WriteString("[1, 2]\n{\"title\": \"no text\"}\n\n")
		for i := 0; i < n; i++ {
			text := human[(i*7+seed)%len(human)]
			if i%9 == 4 {
				text = marked[(i/9+seed)%len(marked)]
			}
			rec := map[string]string{"id": fmt.Sprint(field, seed, "-", i), field: text}
			switch {
			case i%7 == 3:
				delete(rec, "id")
			case i%23 == 5:
				b.WriteString("{\"id\": broken\n")
			case i%29 == 6:
				rec = map[string]string{"title": "no text here"}
			}
			line, _ := json.Marshal(rec)
			b.Write(line)
			if i%13 == 0 {
				b.WriteString("\r\n\n")
			} else {
				b.WriteString("\n")
			}
		}
		return b.Bytes()
	}
	put(t, dir, "big1.jsonl", jsonl("text", 700, 1))
	put(t, dir, "big2.jsonl", jsonl("content", 500, 2))
	put(t, dir, "c.jsonl.zst", zstdBytes(t, jsonl("text", 200, 3)))
	return dir
}

// TestPrismSplitEqualsScan reads JSON Lines files in 16 KiB ranges (tens
// per file) on Prism and checks every document, error record, end record,
// q-value and the pooled tally against scan, and each file's records in
// scan's order.
func TestPrismSplitEqualsScan(t *testing.T) {
	work := t.TempDir()
	sch, tok, keyPath := testKey(t, work)
	dir := writeSplitCorpus(t, sch, tok)
	dk := detect.DedupKey{0x9abc, 0xdef0}
	ctx := context.Background()
	walked, err := corpora.Walk(ctx, []string{dir}, corpora.WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	read := corpora.ReadOptions{Format: "auto", IDField: "id"}
	const split = 16 << 10
	r, err := corpora.NewReader(read)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range walked.Files {
		idx, err := r.IndexJSONL(ctx, f, split)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".zst") != (idx == nil) || (idx != nil && idx.Size < 10*split) {
			t.Fatalf("%s: index %v: the fixture must split the plain files in at least 10 ranges", f, idx)
		}
	}
	sc, err := scan.New(scan.Config{Schemes: []watermark.Scheme{sch}, Tokenizer: tok, Read: read, DedupKey: &dk})
	if err != nil {
		t.Fatal(err)
	}
	mem := &collector{}
	if _, err := sc.Run(ctx, walked.Files, mem); err != nil {
		t.Fatal(err)
	}
	detected := 0
	for _, d := range mem.docs {
		if d.Detected {
			detected++
		}
	}
	if mem.sum.Errors < 25 || detected < 10 || mem.sum.Documents < 1000 {
		t.Fatalf("fixture: %d errors, %d documents, %d detected", mem.sum.Errors, mem.sum.Documents, detected)
	}
	out := filepath.Join(work, "beam")
	p, s := beam.NewPipelineWithRoot()
	cfg := Config{KeyPaths: []string{keyPath}, Read: read, DedupKey: dk}
	if err := Build(ctx, s, Options{Config: cfg, Inputs: []string{dir}, Output: out, Shards: 2, QCap: 1, SplitBytes: split}); err != nil {
		t.Fatal(err)
	}
	if _, err := prism.Execute(ctx, p); err != nil {
		t.Fatal(err)
	}
	docs, diags, ends, sum := readBeam(t, out)
	compare(t, "split beam vs scan", mem, docs, diags, sum, 1)
	order := func(ds []scan.Doc) map[string][]string {
		m := map[string][]string{}
		for _, d := range ds {
			m[d.File] = append(m[d.File], d.Location+" "+d.ID)
		}
		return m
	}
	if got, want := order(docs), order(mem.docs); !reflect.DeepEqual(got, want) {
		t.Errorf("records not in scan's order")
	}
	if len(ends) != len(mem.ends) {
		t.Fatalf("%d end records, scan %d", len(ends), len(mem.ends))
	}
	for i, e := range ends {
		w := mem.ends[i]
		if e.File != w.File || !reflect.DeepEqual(e.FileStats, w.FileStats) || e.Error != w.Error {
			t.Errorf("end record %+v, scan %+v", e, w)
		}
	}
}
