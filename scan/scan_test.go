package scan

import (
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

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/internal/testtext"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// collector is a Sink that keeps every record.
type collector struct {
	begins, ends []FileEvent
	docs         []Doc
	diags        []Diagnostic
	sum          Summary
	order        []string
}

func (c *collector) Begin(f FileEvent) error {
	c.begins = append(c.begins, f)
	c.order = append(c.order, "begin:"+f.File)
	return nil
}
func (c *collector) Doc(d Doc) error {
	c.docs = append(c.docs, d)
	c.order = append(c.order, "doc:"+d.File)
	return nil
}
func (c *collector) Diagnostic(d Diagnostic) error { c.diags = append(c.diags, d); return nil }
func (c *collector) End(f FileEvent) error {
	c.ends = append(c.ends, f)
	c.order = append(c.order, "end:"+f.File)
	return nil
}
func (c *collector) Summary(s Summary) error { c.sum = s; return nil }

func newKey(seed uint64) *watermark.Key {
	rng := rand.New(rand.NewPCG(seed, seed))
	var s [watermark.SecretSize]byte
	for i := range s {
		s[i] = byte(rng.Uint32())
	}
	return watermark.NewKey(s, watermark.DefaultKGW(), tokenize.Default, time.Time{})
}

// fixture is human text (Opticks paragraphs, Go source) and watermarked
// text made with the embedding API from a word-level toy model whose text
// re-tokenizes to the same IDs.
type fixture struct {
	human  []string
	marked []string
}

func makeFixture(t testing.TB, scheme watermark.Scheme, nMarked int) fixture {
	t.Helper()
	tok, _ := tokenize.Get(tokenize.Default)
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Skip(err)
	}
	var f fixture
	for _, p := range strings.Split(refcorpus.UnwrapParagraphs(doc.Text), "\n\n") {
		if len(p) > 400 && len(f.human) < 60 {
			f.human = append(f.human, p)
		}
	}
	code, err := refcorpus.GoSource("strconv", "go/ast")
	if err != nil {
		t.Skip(err)
	}
	for _, c := range code[:10] {
		f.human = append(f.human, c.Text)
	}
	words := testtext.SingleTokenWords(tok, doc.Text)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < nMarked; i++ {
		_, text, err := testtext.Watermarked(scheme, tok, words, 250, rng)
		if err != nil {
			t.Fatal(err)
		}
		f.marked = append(f.marked, strings.TrimSpace(text))
	}
	return f
}

func zstdBytes(b []byte) []byte {
	var out bytes.Buffer
	w, _ := zstd.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// writeCorpus writes the fixture in several formats; marked documents get
// IDs "m<i>", human ones "h<i>". It returns the directory and the IDs of
// the marked documents.
func writeCorpus(t testing.TB, f fixture) (string, map[string]bool) {
	dir := t.TempDir()
	marked := map[string]bool{}
	var jsonl, csvb bytes.Buffer
	csvb.WriteString("id,text\n")
	for i, h := range f.human {
		line, _ := json.Marshal(map[string]string{"id": fmt.Sprint("h", i), "text": h})
		jsonl.Write(append(line, '\n'))
		if i < 10 {
			fmt.Fprintf(&csvb, "c%d,\"%s\"\n", i, strings.ReplaceAll(h, `"`, `""`))
		}
	}
	var chat []map[string]any
	for i, m := range f.marked {
		id := fmt.Sprint("m", i)
		marked[id] = true
		switch i % 3 {
		case 0:
			line, _ := json.Marshal(map[string]string{"id": id, "text": m})
			jsonl.Write(append(line, '\n'))
		case 1:
			fmt.Fprintf(&csvb, "%s,\"%s\"\n", id, m)
		default:
			chat = append(chat, map[string]any{"id": id, "conversations": []map[string]string{
				{"from": "human", "value": f.human[i%len(f.human)]}, {"from": "gpt", "value": m}}})
		}
	}
	os.WriteFile(filepath.Join(dir, "a.jsonl.zst"), zstdBytes(jsonl.Bytes()), 0o644)
	os.WriteFile(filepath.Join(dir, "b.csv.gz"), gzipBytes(csvb.Bytes()), 0o644)
	sub := filepath.Join(dir, "chats")
	os.Mkdir(sub, 0o755)
	arr, _ := json.Marshal(chat)
	os.WriteFile(filepath.Join(sub, "sharegpt.json"), arr, 0o644)
	return dir, marked
}

func scanDir(t testing.TB, schemes []watermark.Scheme, paths []string, opts func(*Config)) *collector {
	t.Helper()
	tok, _ := tokenize.Get(tokenize.Default)
	cfg := Config{Schemes: schemes, Tokenizer: tok, Workers: 2}
	if opts != nil {
		opts(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	files, err := ExpandInputs(paths)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	if _, err := s.Run(context.Background(), files, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func flaggedIDs(c *collector) map[string]bool {
	out := map[string]bool{}
	for _, d := range c.docs {
		if d.Flagged {
			out[d.ID] = true
		}
	}
	return out
}

func TestScanFlagsExactlyTheWatermarkedDocuments(t *testing.T) {
	scheme, _ := watermark.NewKGW(newKey(1), watermark.DefaultKGW())
	f := makeFixture(t, scheme, 12)
	dir, marked := writeCorpus(t, f)
	// The chat file holds human turns too: only assistant turns are scored.
	chat := scanDir(t, []watermark.Scheme{scheme}, []string{filepath.Join(dir, "chats")}, func(c *Config) {
		c.Read.Field, c.Read.Role = "conversations[].value", "assistant"
	})
	rest := scanDir(t, []watermark.Scheme{scheme}, []string{filepath.Join(dir, "a.jsonl.zst"), filepath.Join(dir, "b.csv.gz")}, nil)
	got := flaggedIDs(chat)
	for id := range flaggedIDs(rest) {
		got[id] = true
	}
	if len(got) != len(marked) {
		t.Errorf("flagged %d documents, want the %d watermarked ones: %v", len(got), len(marked), got)
	}
	for id := range marked {
		if !got[id] {
			t.Errorf("watermarked %s not flagged", id)
		}
	}
	if !rest.sum.Detected || rest.sum.PooledLog10P > -6 {
		t.Errorf("pooled test not significant: %+v", rest.sum)
	}
	if rest.sum.Documents != len(f.human)+10+8 || rest.sum.Errors != 0 || rest.sum.Files != 2 {
		t.Errorf("summary: %+v", rest.sum)
	}
	for _, d := range rest.docs {
		if d.QValue == nil || *d.QValue < d.PValue*(1-1e-9) {
			t.Fatalf("q-value missing or below p: %+v", d)
		}
	}
	// Records come per file, in order: begin, the file's docs, end.
	var files []string
	for _, o := range rest.order {
		if strings.HasPrefix(o, "begin:") {
			files = append(files, o)
		}
	}
	if len(files) != 2 || rest.order[0] != "begin:"+filepath.Join(dir, "a.jsonl.zst") || rest.order[len(rest.order)-1] != "end:"+filepath.Join(dir, "b.csv.gz") {
		t.Errorf("record order: %v", rest.order[:3])
	}
}

func TestScanHumanCorpusIsClean(t *testing.T) {
	scheme, _ := watermark.NewKGW(newKey(2), watermark.DefaultKGW())
	f := makeFixture(t, scheme, 0)
	dir, _ := writeCorpus(t, f)
	c := scanDir(t, []watermark.Scheme{scheme}, []string{dir}, nil)
	if len(flaggedIDs(c)) != 0 || c.sum.Detected || c.sum.PooledPValue < 1e-3 {
		t.Errorf("human corpus flagged: %v, pooled p %v", flaggedIDs(c), c.sum.PooledPValue)
	}
	// With --fdr the flags come from q-values: still none.
	c = scanDir(t, []watermark.Scheme{scheme}, []string{dir}, func(c *Config) { c.FDR = 0.05 })
	if len(flaggedIDs(c)) != 0 {
		t.Errorf("human corpus flagged at FDR 5%%: %v", flaggedIDs(c))
	}
}

func TestScanExcludeNgrams(t *testing.T) {
	scheme, _ := watermark.NewKGW(newKey(3), watermark.DefaultKGW())
	f := makeFixture(t, scheme, 6)
	dir, _ := writeCorpus(t, f)
	tok, _ := tokenize.Get(tokenize.Default)
	var exclude [][]uint32
	for _, m := range f.marked {
		ids, _ := tok.AppendEncode(nil, m)
		exclude = append(exclude, ids)
	}
	c := scanDir(t, []watermark.Scheme{scheme}, []string{filepath.Join(dir, "a.jsonl.zst"), filepath.Join(dir, "b.csv.gz")}, func(c *Config) { c.Exclude = exclude })
	if len(flaggedIDs(c)) != 0 || c.sum.Detected {
		t.Errorf("excluded text still flagged: %v, pooled %v", flaggedIDs(c), c.sum.PooledLog10P)
	}
}

func TestScanSeveralKeysAndWorkers(t *testing.T) {
	k1, _ := watermark.NewKGW(newKey(4), watermark.DefaultKGW())
	k2, _ := watermark.NewKGW(newKey(5), watermark.DefaultKGW())
	f := makeFixture(t, k2, 6)
	dir, marked := writeCorpus(t, f)
	paths := []string{filepath.Join(dir, "a.jsonl.zst"), filepath.Join(dir, "b.csv.gz")}
	one := scanDir(t, []watermark.Scheme{k1, k2}, paths, func(c *Config) { c.Workers = 1 })
	two := scanDir(t, []watermark.Scheme{k1, k2}, paths, func(c *Config) { c.Workers = 2 })
	for _, d := range two.docs {
		if marked[d.ID] && (!d.Flagged || d.KeyID != k2.KeyID() || len(d.Matched) != 1) {
			t.Errorf("%s: %+v", d.ID, d)
		}
	}
	if two.sum.PooledKeyID != k2.KeyID() || !two.sum.Detected || len(two.sum.PerKey) != 2 {
		t.Errorf("pooled: %+v", two.sum)
	}
	// One worker or two: the same records in the same order.
	if len(one.docs) != len(two.docs) {
		t.Fatalf("%d vs %d docs", len(one.docs), len(two.docs))
	}
	for i := range one.docs {
		a, b := one.docs[i], two.docs[i]
		if a.ID != b.ID || a.Log10P != b.Log10P || *a.QValue != *b.QValue {
			t.Fatalf("doc %d differs: %+v vs %+v", i, a, b)
		}
	}
	var ids []string
	for _, d := range two.docs {
		ids = append(ids, d.ID)
	}
	if sort.StringsAreSorted(ids) && len(ids) > 20 {
		t.Log("(documents happen to be sorted by ID)")
	}
}

func TestScanBadInputsGoOn(t *testing.T) {
	scheme, _ := watermark.NewKGW(newKey(6), watermark.DefaultKGW())
	f := makeFixture(t, scheme, 3)
	dir, marked := writeCorpus(t, f)
	good := zstdBytes([]byte(`{"id":"ok","text":"fine"}` + "\n"))
	os.WriteFile(filepath.Join(dir, "cut.jsonl.zst"), good[:len(good)-3], 0o644)
	os.WriteFile(filepath.Join(dir, "junk.jsonl"), []byte("{\"id\":1,\"text\":\"a\"}\nnot json\n"), 0o644)
	c := scanDir(t, []watermark.Scheme{scheme}, []string{dir, filepath.Join(dir, "missing.jsonl")}, nil)
	if c.sum.Errors < 3 || c.sum.FailedFiles < 2 {
		t.Errorf("errors not counted: %+v", c.sum)
	}
	got := flaggedIDs(c)
	for _, id := range []string{"m0", "m1"} { // m2 is a chat turn, not read with the default field
		if !marked[id] || !got[id] {
			t.Errorf("%s not flagged after bad inputs", id)
		}
	}
}

func TestOutDirResumeAndMerge(t *testing.T) {
	scheme, _ := watermark.NewKGW(newKey(7), watermark.DefaultKGW())
	f := makeFixture(t, scheme, 6)
	dir, _ := writeCorpus(t, f)
	paths := []string{filepath.Join(dir, "a.jsonl.zst"), filepath.Join(dir, "b.csv.gz")}
	plain := scanDir(t, []watermark.Scheme{scheme}, paths, nil)
	out := filepath.Join(t.TempDir(), "out")
	withOut := scanDir(t, []watermark.Scheme{scheme}, paths, func(c *Config) { c.OutDir = out })
	same := func(name string, a, b *collector) {
		t.Helper()
		if len(a.docs) != len(b.docs) || a.sum.Documents != b.sum.Documents || a.sum.Flagged != b.sum.Flagged {
			t.Fatalf("%s: %d/%d docs, %d/%d flagged", name, len(a.docs), len(b.docs), a.sum.Flagged, b.sum.Flagged)
		}
		for i := range a.docs {
			if a.docs[i].ID != b.docs[i].ID || a.docs[i].Log10P != b.docs[i].Log10P || *a.docs[i].Log10Q != *b.docs[i].Log10Q {
				t.Fatalf("%s: doc %d differs", name, i)
			}
		}
		if a.sum.PooledLog10P != b.sum.PooledLog10P || a.sum.PerKey[0].Scored != b.sum.PerKey[0].Scored {
			t.Fatalf("%s: pooled %v (%d tuples) vs %v (%d tuples)", name, a.sum.PooledLog10P, a.sum.PerKey[0].Scored, b.sum.PooledLog10P, b.sum.PerKey[0].Scored)
		}
	}
	same("--out", plain, withOut)
	// A crash before the second file finished: its marker is missing, so a
	// rerun reads it again and only it.
	marks, _ := filepath.Glob(filepath.Join(out, "b.csv.gz-*.done"))
	if len(marks) != 1 {
		t.Fatalf("markers: %v", marks)
	}
	os.Remove(marks[0])
	tok, _ := tokenize.Get(tokenize.Default)
	s, _ := New(Config{Schemes: []watermark.Scheme{scheme}, Tokenizer: tok, Workers: 2, OutDir: out})
	resumed := &collector{}
	if _, err := s.Run(context.Background(), paths, resumed); err != nil {
		t.Fatal(err)
	}
	if s.Resumed() != 1 {
		t.Errorf("resumed %d files, want 1", s.Resumed())
	}
	same("resume", plain, resumed)
	// Merge, also in several hash-partitioned passes.
	for _, maxExact := range []int{0, 500} {
		merged := &collector{}
		if _, err := Merge([]string{out}, MergeOptions{MaxExact: maxExact}, merged); err != nil {
			t.Fatal(err)
		}
		same(fmt.Sprint("merge, max exact ", maxExact), plain, merged)
	}
	// Another key cannot write into the directory.
	other, _ := watermark.NewKGW(newKey(8), watermark.DefaultKGW())
	s2, _ := New(Config{Schemes: []watermark.Scheme{other}, Tokenizer: tok, OutDir: out})
	if _, err := s2.Run(context.Background(), paths, &collector{}); err == nil || !strings.Contains(err.Error(), "was made with key") {
		t.Errorf("other key: %v", err)
	}
}

// TestSpillToDiskSameRecords checks that a scan whose records overflow the
// in-memory buffer into a spill file emits exactly what an in-memory scan
// emits, diagnostics included, and removes the spill file.
func TestSpillToDiskSameRecords(t *testing.T) {
	scheme, _ := watermark.NewKGW(newKey(8), watermark.DefaultKGW())
	f := makeFixture(t, scheme, 4)
	dir, _ := writeCorpus(t, f)
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"text\": \"fine line of text here\"}\n{broken\n{\"text\": \"another one\"}\n"), 0o644)
	paths := []string{filepath.Join(dir, "a.jsonl.zst"), bad, filepath.Join(dir, "b.csv.gz")}
	tok, _ := tokenize.Get(tokenize.Default)
	run := func(limit int) (*collector, string) {
		spillDir := t.TempDir()
		s, err := New(Config{Schemes: []watermark.Scheme{scheme}, Tokenizer: tok, Workers: 2, SpillDir: spillDir})
		if err != nil {
			t.Fatal(err)
		}
		s.spillMemory = limit
		c := &collector{}
		if _, err := s.Run(context.Background(), paths, c); err != nil {
			t.Fatal(err)
		}
		return c, spillDir
	}
	mem, _ := run(defaultSpillMemory)
	disk, spillDir := run(3)
	if len(mem.docs) < 10 || len(mem.diags) == 0 {
		t.Fatalf("fixture too small: %d docs, %d diagnostics", len(mem.docs), len(mem.diags))
	}
	if !reflect.DeepEqual(mem.docs, disk.docs) || !reflect.DeepEqual(mem.diags, disk.diags) ||
		!reflect.DeepEqual(mem.order, disk.order) || !reflect.DeepEqual(mem.ends, disk.ends) {
		t.Errorf("records differ between in-memory and spilled scans:\n%v\n%v", mem.order, disk.order)
	}
	if left, _ := os.ReadDir(spillDir); len(left) != 0 {
		t.Errorf("spill directory not cleaned: %v", left)
	}
}
