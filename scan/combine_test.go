package scan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
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
	c := scanDir(t, schemes, paths, func(c *Config) { c.OutDir = out })
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
	if _, err := Merge(out, MergeOptions{}, merged); err != nil {
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
