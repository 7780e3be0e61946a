package corpora_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/corpora"
)

// readRanges reads path in the ranges cut at cuts (ascending, inside the
// file) with ReadJSONLRange and merges them as a pipeline does: the
// ranges' shown diagnostics in order, cut to the file's limit, then the
// last one announcing the others.
func readRanges(t *testing.T, r *corpora.Reader, path string, idx *corpora.JSONLIndex, cuts []int64) ([]corpora.Document, []corpora.Diagnostic, corpora.FileStats, error) {
	t.Helper()
	bounds := append(append([]int64{0}, cuts...), idx.Size)
	var docs []corpora.Document
	var diags []corpora.Diagnostic
	var parts []corpora.RangeStats
	for i := 0; i+1 < len(bounds); i++ {
		end := bounds[i+1]
		rs, err := r.ReadJSONLRange(context.Background(), path, idx, bounds[i], func(pos int64) bool { return pos < end },
			func(d corpora.Document) error { docs = append(docs, d); return nil },
			func(d corpora.Diagnostic) { diags = append(diags, d) })
		if err != nil {
			t.Fatalf("range [%d, %d): %v", bounds[i], end, err)
		}
		parts = append(parts, rs)
	}
	st, err := r.MergeJSONLRanges(path, parts)
	if limit := r.DiagnosticLimit(); limit >= 0 && len(diags) > limit {
		diags = diags[:limit]
	}
	if st.ErrorsNotShown > 0 {
		diags = append(diags, corpora.MoreErrors(path, st))
	}
	return docs, diags, st, err
}

// splitCorpus writes JSON Lines of every kind a reader meets: records
// without an ID (named by their line), bad JSON, non-objects and records
// without text before the first with text, over-long lines, blank and
// CRLF lines, invalid UTF-8, several fields, no final newline.
func splitCorpus(rng *rand.Rand, lines int, final bool) []byte {
	var b bytes.Buffer
	b.WriteString("[1, 2]\n{\"other\": \"x\", \"meta\": {\"lang\": \"en\"}}\n\n{\"id\": broken\n")
	words := strings.Fields("the of light rays colours prism refraction glass red violet experiment observed")
	text := func() string {
		n := 5 + rng.IntN(60)
		ws := make([]string, n)
		for i := range ws {
			ws[i] = words[rng.IntN(len(words))]
		}
		return strings.Join(ws, " ")
	}
	for i := 0; i < lines; i++ {
		switch k := rng.IntN(20); k {
		case 0:
			b.WriteString("{\"text\": \"unterminated\n")
		case 1:
			b.WriteString("\n")
		case 2:
			fmt.Fprintf(&b, "{\"text\": %q}\r\n", text())
		case 3:
			fmt.Fprintf(&b, "{\"id\": \"long%d\", \"text\": %q}\n", i, strings.Repeat("refraction ", 80))
		case 4:
			b.WriteString("{\"content\": \"bad \xff utf8\", \"text\": \"bad \xfe utf8\"}\n")
		case 5:
			fmt.Fprintf(&b, "{\"title\": %q, \"content\": %q}\n", text(), text())
		case 6:
			b.WriteString("\"a string\"\n")
		default:
			fmt.Fprintf(&b, "{\"id\": \"d%d\", \"text\": %q, \"content\": %q}\n", i, text(), text())
		}
	}
	if final {
		fmt.Fprintf(&b, "{\"text\": %q}", text())
	}
	return b.Bytes()
}

// TestJSONLRangesEqualReadFile reads JSON Lines files in ranges cut at
// random offsets and on the index's grid, under several options, and
// checks documents (IDs, locations, text), diagnostics, stats and the
// error against one ReadFile.
func TestJSONLRangesEqualReadFile(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	const block = 1 << 14
	files := map[string][]byte{
		"a.jsonl":      splitCorpus(rng, 2000, true),
		"b.jsonl":      splitCorpus(rng, 1500, false),
		"c.data":       append([]byte("{\"text\": \"sniffed\"}\n"), splitCorpus(rng, 1000, true)...), // no format in the name
		"notext.jsonl": bytes.Repeat([]byte("{\"text\": \"  \", \"meta\": {\"a\": 1}}\n{\"x\": 2}\n"), 2000),
	}
	optsList := []corpora.ReadOptions{
		{},
		{Fields: []string{"text"}},
		{Fields: []string{"text", "content"}, MaxDiagnostics: 3},
		{MaxRecord: 500, MaxDiagnostics: -1},
		{Format: "jsonl", IDField: "title"},
	}
	for name, data := range files {
		path := write(t, dir, name, data)
		for oi, opts := range optsList {
			r, err := corpora.NewReader(opts)
			if err != nil {
				t.Fatal(err)
			}
			idx, err := r.IndexJSONL(context.Background(), path, block)
			if err != nil {
				t.Fatal(err)
			}
			if idx == nil {
				t.Fatalf("%s, options %d: not indexed", name, oi)
			}
			wantDocs, wantDiags, wantSt, wantErr := collect(t, path, opts)
			if (len(wantDocs) == 0) != (name == "notext.jsonl") || (wantErr != nil) != (name == "notext.jsonl") {
				t.Fatalf("%s: fixture gives %d documents, error %v", name, len(wantDocs), wantErr)
			}
			var grid []int64
			for c := int64(block); c < idx.Size; c += block {
				grid = append(grid, c)
			}
			var random []int64
			for range 40 {
				random = append(random, 1+rng.Int64N(idx.Size-1))
			}
			random = append(random, idx.Decided, idx.Decided+1, 1)
			slices.Sort(random)
			random = slices.Compact(random)
			for _, cuts := range [][]int64{nil, grid, random} {
				docs, diags, st, err := readRanges(t, r, path, idx, cuts)
				where := fmt.Sprintf("%s, options %d, %d cuts", name, oi, len(cuts))
				if fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Errorf("%s: error %v, ReadFile %v", where, err, wantErr)
				}
				if !reflect.DeepEqual(st, wantSt) {
					t.Errorf("%s: stats %+v, ReadFile %+v", where, st, wantSt)
				}
				if len(docs) != len(wantDocs) {
					t.Fatalf("%s: %d documents, ReadFile %d", where, len(docs), len(wantDocs))
				}
				for i, d := range docs {
					w := wantDocs[i]
					if d.ID != w.ID || d.Source != w.Source || d.Location != w.Location || d.Text != w.Text {
						t.Fatalf("%s: document %d: %q %q, ReadFile %q %q", where, i, d.ID, d.Location, w.ID, w.Location)
					}
				}
				if len(diags) != len(wantDiags) {
					t.Fatalf("%s: %d diagnostics, ReadFile %d:\n%v\n%v", where, len(diags), len(wantDiags), diags, wantDiags)
				}
				for i, d := range diags {
					if d.Error() != wantDiags[i].Error() {
						t.Fatalf("%s: diagnostic %d: %v, ReadFile %v", where, i, d, wantDiags[i])
					}
				}
			}
			if oi == 0 {
				t.Logf("%s: %d documents, %d diagnostics, %d lines indexed, field decided at byte %d", name, len(wantDocs), wantSt.Diagnostics, idx.Lines[len(idx.Lines)-1], idx.Decided)
			}
		}
	}
}

// TestIndexJSONLRefuses checks the files that are read whole.
func TestIndexJSONLRefuses(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	data := splitCorpus(rng, 1000, true)
	r, err := corpora.NewReader(corpora.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	late := append(bytes.Repeat([]byte("{\"x\": 1}\n"), 3000), data...)
	for name, b := range map[string][]byte{
		"z.jsonl.zst": compress(t, corpora.Zstd, data),
		"z.jsonl":     compress(t, corpora.Gzip, data), // compressed whatever its name
		"small.jsonl": data[:1<<13],
		"t.txt":       data,
		"late.jsonl":  late, // no record of the first block has a text field
	} {
		idx, err := r.IndexJSONL(context.Background(), write(t, dir, name, b), 1<<14)
		if err != nil || idx != nil {
			t.Errorf("%s: index %v, error %v; want neither", name, idx, err)
		}
	}
}
