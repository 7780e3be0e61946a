package scan

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// outDirFixture scans two inputs without and with --out.
func outDirFixture(t *testing.T, seed uint64) (scheme watermark.Scheme, paths []string, plain *collector, out string) {
	t.Helper()
	scheme, _ = watermark.NewKGW(newKey(seed), watermark.DefaultKGW())
	f := makeFixture(t, scheme, 3)
	dir, _ := writeCorpus(t, f)
	paths = []string{filepath.Join(dir, "a.jsonl.zst"), filepath.Join(dir, "b.csv.gz")}
	plain = scanDir(t, []watermark.Scheme{scheme}, paths, nil)
	out = filepath.Join(t.TempDir(), "out")
	scanDir(t, []watermark.Scheme{scheme}, paths, func(c *Config) { c.OutDir = out })
	return scheme, paths, plain, out
}

func runOut(t *testing.T, scheme watermark.Scheme, out string, paths []string) (*Scanner, *collector, error) {
	t.Helper()
	tok, _ := tokenize.Get(tokenize.Default)
	s, err := New(Config{Schemes: []watermark.Scheme{scheme}, Tokenizer: tok, Workers: 2, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	_, err = s.Run(context.Background(), paths, c)
	return s, c, err
}

// TestOutDirLocked: a second scan into a directory another scan holds is
// refused, naming the directory; the lock goes with the scan.
func TestOutDirLocked(t *testing.T) {
	scheme, paths, _, out := outDirFixture(t, 41)
	f, err := os.OpenFile(filepath.Join(out, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	_, _, err = runOut(t, scheme, out, paths)
	if err == nil || !strings.Contains(err.Error(), "another scan is writing "+out) {
		t.Errorf("scan into a locked directory: %v", err)
	}
	f.Close()
	if _, _, err := runOut(t, scheme, out, paths); err != nil {
		t.Errorf("after the lock is released: %v", err)
	}
}

// TestOutDirDuplicateInput: an input listed twice is scanned once and
// leaves the directory whole.
func TestOutDirDuplicateInput(t *testing.T) {
	scheme, paths, plain, _ := outDirFixture(t, 42)
	out := filepath.Join(t.TempDir(), "dup")
	_, c, err := runOut(t, scheme, out, []string{paths[0], paths[1], paths[0]})
	if err != nil {
		t.Fatal(err)
	}
	if c.sum.Documents != plain.sum.Documents || c.sum.Files != 2 {
		t.Errorf("input listed twice: %d docs in %d files, want %d in 2", c.sum.Documents, c.sum.Files, plain.sum.Documents)
	}
	merged := &collector{}
	if _, err := Merge([]string{out}, MergeOptions{}, merged); err != nil || merged.sum.Documents != plain.sum.Documents {
		t.Errorf("merge after a duplicate input: %v, %d docs", err, merged.sum.Documents)
	}
}

// TestOutDirDamagedFile: a finished input whose records file was damaged
// after its .done marker is refused by merge, naming the file, and read
// again on resume.
func TestOutDirDamagedFile(t *testing.T) {
	scheme, paths, plain, out := outDirFixture(t, 43)
	recs, _ := filepath.Glob(filepath.Join(out, "b.csv.gz-*.records.jsonl.zst"))
	if len(recs) != 1 {
		t.Fatalf("records: %v", recs)
	}
	b, _ := os.ReadFile(recs[0])
	os.WriteFile(recs[0], b[:len(b)/2], 0o644)
	_, err := Merge([]string{out}, MergeOptions{}, &collector{})
	if err == nil || !strings.Contains(err.Error(), recs[0]) {
		t.Errorf("merge of a damaged file: %v, want an error naming %s", err, recs[0])
	}
	s, c, err := runOut(t, scheme, out, paths)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resumed() != 1 || c.sum.Documents != plain.sum.Documents || c.sum.PooledLog10P != plain.sum.PooledLog10P {
		t.Errorf("resume over a damaged file: resumed %d, %d docs (want %d), pooled %v (want %v)",
			s.Resumed(), c.sum.Documents, plain.sum.Documents, c.sum.PooledLog10P, plain.sum.PooledLog10P)
	}
}

// TestMergeCountsUnfinished: inputs without a .done marker are reported,
// not silently dropped.
func TestMergeCountsUnfinished(t *testing.T) {
	_, _, _, out := outDirFixture(t, 44)
	marks, _ := filepath.Glob(filepath.Join(out, "b.csv.gz-*.done"))
	os.Remove(marks[0])
	c := &collector{}
	if _, err := Merge([]string{out}, MergeOptions{}, c); err != nil {
		t.Fatal(err)
	}
	if c.sum.Unfinished != 1 || c.sum.Files != 1 {
		t.Errorf("unfinished %d, files %d; want 1 and 1", c.sum.Unfinished, c.sum.Files)
	}
}

// TestMergeCarriesTokensAndSeconds: merge's and a resumed scan's summary
// count the tokens of every finished input, as the direct scan does, and
// the time of the runs.
func TestMergeCarriesTokensAndSeconds(t *testing.T) {
	scheme, paths, plain, out := outDirFixture(t, 45)
	if plain.sum.Tokens == 0 {
		t.Fatal("fixture has no tokens")
	}
	merged := &collector{}
	if _, err := Merge([]string{out}, MergeOptions{}, merged); err != nil {
		t.Fatal(err)
	}
	if merged.sum.Tokens != plain.sum.Tokens || merged.sum.Seconds <= 0 {
		t.Errorf("merge: %d tokens in %v s, direct scan %d tokens", merged.sum.Tokens, merged.sum.Seconds, plain.sum.Tokens)
	}
	_, resumed, err := runOut(t, scheme, out, paths) // everything finished: nothing read
	if err != nil {
		t.Fatal(err)
	}
	if resumed.sum.Tokens != plain.sum.Tokens || resumed.sum.Seconds <= 0 {
		t.Errorf("resume: %d tokens in %v s, direct scan %d tokens", resumed.sum.Tokens, resumed.sum.Seconds, plain.sum.Tokens)
	}
}

// TestDocRecordFields: every doc record has every field, before and after
// the q-values are known (null, [] or "" rather than missing), with the
// best key's green fraction and payload verdict.
func TestDocRecordFields(t *testing.T) {
	_, _, plain, out := outDirFixture(t, 46)
	check := func(name string, d Doc, withQ bool) {
		t.Helper()
		b, _ := json.Marshal(d)
		var m map[string]any
		json.Unmarshal(b, &m)
		for _, f := range []string{"q_value", "log10_q", "matched_keys", "payload", "green_fraction", "payload_claimed", "payload_log10_p"} {
			if _, ok := m[f]; !ok {
				t.Fatalf("%s: doc record without %q: %s", name, f, b)
			}
		}
		if _, ok := m["matched_keys"].([]any); !ok {
			t.Errorf("%s: matched_keys %v, want an array", name, m["matched_keys"])
		}
		if withQ && m["q_value"] == nil {
			t.Errorf("%s: q_value null after the scan", name)
		}
		if d.Scored > 0 && (d.GreenFraction == nil || *d.GreenFraction < 0 || *d.GreenFraction > 1) {
			t.Errorf("%s: KGW green_fraction %v", name, d.GreenFraction)
		}
	}
	for _, d := range plain.docs {
		check("scan", d, true)
	}
	recs, _ := filepath.Glob(filepath.Join(out, "*.records.jsonl.zst"))
	n := 0
	for _, r := range recs {
		readRecords(r, func(rec spilled) error {
			if rec.Doc != nil {
				n++
				check("stored", *rec.Doc, false)
			}
			return nil
		})
	}
	if n == 0 {
		t.Fatal("no stored doc records")
	}
}

// TestStaleSpillFilesRemoved: a scan removes spill files left by a killed
// scan (older than an hour, not locked), and keeps a live scan's (locked)
// and recent ones.
func TestStaleSpillFilesRemoved(t *testing.T) {
	scheme, paths, _, _ := outDirFixture(t, 47)
	dir := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	mk := func(name string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("{}\n"), 0o644)
		os.Chtimes(p, old, old)
		return p
	}
	stale, live, recent, other := mk("tracemark-scan-1.jsonl"), mk("tracemark-scan-2.jsonl"), filepath.Join(dir, "tracemark-scan-3.jsonl"), mk("unrelated.jsonl")
	os.WriteFile(recent, []byte("{}\n"), 0o644)
	f, _ := os.Open(live)
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	scanDir(t, []watermark.Scheme{scheme}, paths, func(c *Config) { c.SpillDir = dir })
	if _, err := os.Stat(stale); err == nil {
		t.Error("stale spill file not removed")
	}
	for _, p := range []string{live, recent, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}
