package scan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// TestDetectScanMergeNameTheSameKey scans human documents under two keys,
// where Holm often ties the keys' adjusted p-values (both capped at 1), and
// checks that every document names the key and p-value detect.Multi names
// for the same text, and that merge's pooled verdict names the scan's key.
func TestDetectScanMergeNameTheSameKey(t *testing.T) {
	k1, _ := watermark.NewKGW(newKey(21), watermark.DefaultKGW())
	k2, _ := watermark.NewKGW(newKey(22), watermark.DefaultKGW())
	f := makeFixture(t, k2, 4)
	dir, _ := writeCorpus(t, f)
	schemes := []watermark.Scheme{k1, k2}
	paths := []string{filepath.Join(dir, "a.jsonl.zst")}
	out := filepath.Join(t.TempDir(), "out")
	// Document mode: each document's evidence is what detect gives its text.
	c := scanDir(t, schemes, paths, func(c *Config) { c.OutDir, c.DocDedup = out, DocDedupDocument })
	tok, _ := tokenize.Get(tokenize.Default)
	m, _ := detect.NewMulti(schemes, detect.Options{})
	texts := map[string]string{}
	for i, h := range f.human {
		texts["h"+strconv.Itoa(i)] = h
	}
	for i, mk := range f.marked {
		texts["m"+strconv.Itoa(i)] = mk
	}
	ties := 0
	for _, d := range c.docs {
		text, ok := texts[d.ID]
		if !ok {
			t.Fatalf("document %q not in the fixture", d.ID)
		}
		r, err := m.Text(tok, text)
		if err != nil {
			t.Fatal(err)
		}
		if r.PerKey[0].AdjustedLog10 == r.PerKey[1].AdjustedLog10 && r.PerKey[0].Log10P != r.PerKey[1].Log10P {
			ties++
		}
		if d.KeyID != r.KeyID || d.Log10P != r.Log10P || d.Detected != r.Detected {
			t.Errorf("%s: scan names key %s (log10 p %v), detect names %s (%v)", d.ID, d.KeyID, d.Log10P, r.KeyID, r.Log10P)
		}
	}
	if ties == 0 {
		t.Fatal("no document with tied adjusted p-values: the test tests nothing")
	}
	merged := &collector{}
	if _, err := Merge([]string{out}, MergeOptions{DocDedup: DocDedupDocument}, merged); err != nil {
		t.Fatal(err)
	}
	if merged.sum.PooledKeyID != c.sum.PooledKeyID || merged.sum.PooledLog10P != c.sum.PooledLog10P {
		t.Errorf("merge names pooled key %s (%v), scan %s (%v)", merged.sum.PooledKeyID, merged.sum.PooledLog10P, c.sum.PooledKeyID, c.sum.PooledLog10P)
	}
	for i := range c.docs {
		if merged.docs[i].KeyID != c.docs[i].KeyID {
			t.Errorf("merge doc %d names %s, scan %s", i, merged.docs[i].KeyID, c.docs[i].KeyID)
		}
	}
}

// TestManifestStoresSpecsOnly: the output directory's manifest records keys
// by ID and SPEC, no numeric null-model enums.
func TestManifestStoresSpecsOnly(t *testing.T) {
	k1, _ := watermark.NewKGW(newKey(23), watermark.DefaultKGW())
	f := makeFixture(t, k1, 1)
	dir, _ := writeCorpus(t, f)
	out := filepath.Join(t.TempDir(), "out")
	scanDir(t, []watermark.Scheme{k1}, []string{filepath.Join(dir, "a.jsonl.zst")}, func(c *Config) { c.OutDir = out })
	b, err := os.ReadFile(filepath.Join(out, "scan.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range m["keys"].([]any) {
		entry := k.(map[string]any)
		if _, has := entry["null"]; has || entry["scheme"] != k1.Spec() {
			t.Errorf("manifest key entry %v: want key_id and scheme only", entry)
		}
	}
}

// copyFiles copies the regular files of src matching pattern into dst.
func copyFiles(t *testing.T, src, pattern, dst string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(src, pattern))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(m)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMergeSeveralMachines: two copies of one input scanned on two
// "machines" (two --out directories). Copied together into one directory,
// their tuples would be counted twice under two dedup keys (a false
// accusation): Merge refuses the foreign files, naming them, and refuses
// directories with different manifests. With one shared scan.json, merging
// both directories counts every tuple once, as one scan over both copies
// does, and an input finished in both directories counts once.
func TestMergeSeveralMachines(t *testing.T) {
	k, _ := watermark.NewKGW(newKey(31), watermark.DefaultKGW())
	f := makeFixture(t, k, 2)
	dir, _ := writeCorpus(t, f)
	data, _ := os.ReadFile(filepath.Join(dir, "a.jsonl.zst"))
	x1, x2 := filepath.Join(dir, "x1", "a.jsonl.zst"), filepath.Join(dir, "x2", "a.jsonl.zst")
	os.MkdirAll(filepath.Dir(x1), 0o755)
	os.MkdirAll(filepath.Dir(x2), 0o755)
	os.WriteFile(x1, data, 0o644)
	os.WriteFile(x2, data, 0o644)
	schemes := []watermark.Scheme{k}
	direct := scanDir(t, schemes, []string{x1, x2}, nil)

	tmp := t.TempDir()
	out1, out2 := filepath.Join(tmp, "m1"), filepath.Join(tmp, "m2")
	scanDir(t, schemes, []string{x1}, func(c *Config) { c.OutDir = out1 })
	scanDir(t, schemes, []string{x2}, func(c *Config) { c.OutDir = out2 })

	// Copied together: refused, naming the foreign marker.
	both := filepath.Join(tmp, "both")
	os.MkdirAll(both, 0o755)
	copyFiles(t, out1, "*", both)
	copyFiles(t, out2, "a.jsonl.zst-*", both)
	_, err := Merge([]string{both}, MergeOptions{}, &collector{})
	if err == nil || !strings.Contains(err.Error(), "belongs to another scan") || !strings.Contains(err.Error(), ".done") {
		t.Fatalf("merge of copied-together directories: %v, want a refusal naming the foreign .done", err)
	}
	// Two directories with their own manifests: refused.
	_, err = Merge([]string{out1, out2}, MergeOptions{}, &collector{})
	if err == nil || !strings.Contains(err.Error(), "cannot be deduplicated exactly") {
		t.Fatalf("merge of directories with different manifests: %v", err)
	}

	// The documented way: scan.json made once, copied to the other machine.
	out3 := filepath.Join(tmp, "m3")
	os.MkdirAll(out3, 0o755)
	copyFiles(t, out1, "scan.json", out3)
	scanDir(t, schemes, []string{x2}, func(c *Config) { c.OutDir = out3 })
	merged := &collector{}
	if _, err := Merge([]string{out1, out3}, MergeOptions{}, merged); err != nil {
		t.Fatal(err)
	}
	if merged.sum.PerKey[0].Scored != direct.sum.PerKey[0].Scored || merged.sum.PooledLog10P != direct.sum.PooledLog10P ||
		merged.sum.Documents != direct.sum.Documents || merged.sum.Files != 2 {
		t.Errorf("shared manifest: %d tuples, log10 p %v, %d docs, %d files; one scan: %d, %v, %d docs",
			merged.sum.PerKey[0].Scored, merged.sum.PooledLog10P, merged.sum.Documents, merged.sum.Files,
			direct.sum.PerKey[0].Scored, direct.sum.PooledLog10P, direct.sum.Documents)
	}
	// The same input finished in two directories counts once.
	out4 := filepath.Join(tmp, "m4")
	os.MkdirAll(out4, 0o755)
	copyFiles(t, out1, "scan.json", out4)
	scanDir(t, schemes, []string{x1}, func(c *Config) { c.OutDir = out4 })
	twice := &collector{}
	if _, err := Merge([]string{out1, out3, out4}, MergeOptions{}, twice); err != nil {
		t.Fatal(err)
	}
	if twice.sum.Documents != direct.sum.Documents || twice.sum.Files != 2 {
		t.Errorf("input finished in two directories: %d docs in %d files, want %d in 2", twice.sum.Documents, twice.sum.Files, direct.sum.Documents)
	}
}

// TestSummaryCountsCappedErrors: a file with more diagnostics than the
// per-file cap shows ten and announces the rest, and the summary counts
// them all, in a scan and after merge.
func TestSummaryCountsCappedErrors(t *testing.T) {
	k1, _ := watermark.NewKGW(newKey(31), watermark.DefaultKGW())
	dir := t.TempDir()
	var b strings.Builder
	for i := 0; i < 50; i++ {
		b.WriteString("{not json\n")
	}
	b.WriteString(`{"text":"one good line of text to read"}` + "\n")
	path := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(path, []byte(b.String()), 0o644)
	out := filepath.Join(t.TempDir(), "out")
	c := scanDir(t, []watermark.Scheme{k1}, []string{path}, func(c *Config) { c.OutDir = out })
	if c.sum.Errors != 50 || len(c.diags) != 11 {
		t.Errorf("scan: %d errors in the summary, %d records; want 50 and 11", c.sum.Errors, len(c.diags))
	}
	merged := &collector{}
	if _, err := Merge([]string{out}, MergeOptions{}, merged); err != nil {
		t.Fatal(err)
	}
	if merged.sum.Errors != 50 {
		t.Errorf("merge: %d errors, want 50", merged.sum.Errors)
	}
}

// TestBeginRecordsNameTheFormat: begin records carry the input's format
// and compression, in a scan and after merge (they were written before the
// input was read, with "format":"").
func TestBeginRecordsNameTheFormat(t *testing.T) {
	k1, _ := watermark.NewKGW(newKey(32), watermark.DefaultKGW())
	f := makeFixture(t, k1, 2)
	dir, _ := writeCorpus(t, f)
	out := filepath.Join(t.TempDir(), "out")
	paths := []string{filepath.Join(dir, "a.jsonl.zst"), filepath.Join(dir, "b.csv.gz")}
	for _, opts := range []func(*Config){nil, func(c *Config) { c.OutDir = out }} {
		c := scanDir(t, []watermark.Scheme{k1}, paths, opts)
		if len(c.begins) != 2 {
			t.Fatalf("%d begin records", len(c.begins))
		}
		for i, want := range []string{"jsonl", "csv"} {
			if b := c.begins[i]; b.Format != want || b.Compression == "" {
				t.Errorf("begin %d: format %q compression %q, want %s", i, b.Format, b.Compression, want)
			}
		}
	}
	merged := &collector{}
	if _, err := Merge([]string{out}, MergeOptions{}, merged); err != nil {
		t.Fatal(err)
	}
	for i, b := range merged.begins {
		if b.Format == "" {
			t.Errorf("merged begin %d has no format", i)
		}
	}
}
