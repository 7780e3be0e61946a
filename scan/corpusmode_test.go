package scan

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// corpusModeFixture writes the scan fixture (three inputs whose documents
// share text across inputs: b.csv.gz repeats ten documents of a.jsonl.zst,
// the chats quote them) and returns the scheme and the inputs in path
// order, which is Merge's order.
func corpusModeFixture(t *testing.T, seed uint64) (watermark.Scheme, []string) {
	t.Helper()
	scheme, _ := watermark.NewKGW(newKey(seed), watermark.DefaultKGW())
	f := makeFixture(t, scheme, 6)
	dir, _ := writeCorpus(t, f)
	return scheme, []string{filepath.Join(dir, "a.jsonl.zst"), filepath.Join(dir, "b.csv.gz"), filepath.Join(dir, "chats", "sharegpt.json")}
}

// sameDocs fails unless two scans gave the same documents with the same
// evidence, q-values and flags, and the same summary counts and pooled test.
func sameDocs(t *testing.T, name string, a, b *collector) {
	t.Helper()
	if len(a.docs) != len(b.docs) || a.sum.Flagged != b.sum.Flagged || a.sum.DocDedup != b.sum.DocDedup {
		t.Fatalf("%s: %d/%d docs, %d/%d flagged, modes %q/%q", name, len(a.docs), len(b.docs), a.sum.Flagged, b.sum.Flagged, a.sum.DocDedup, b.sum.DocDedup)
	}
	for i := range a.docs {
		x, y := a.docs[i], b.docs[i]
		if x.File != y.File || x.ID != y.ID || x.Scored != y.Scored || x.Log10P != y.Log10P || *x.Log10Q != *y.Log10Q ||
			x.Flagged != y.Flagged || x.KeyID != y.KeyID || x.DocDedup != y.DocDedup {
			t.Fatalf("%s: doc %d differs:\n%+v\n%+v", name, i, x, y)
		}
	}
	if a.sum.PooledLog10P != b.sum.PooledLog10P || a.sum.PerKey[0].Scored != b.sum.PerKey[0].Scored {
		t.Fatalf("%s: pooled %v (%d tuples) vs %v (%d tuples)", name, a.sum.PooledLog10P, a.sum.PerKey[0].Scored, b.sum.PooledLog10P, b.sum.PerKey[0].Scored)
	}
}

// TestCorpusModeIndependentComputation checks each document's corpus-mode
// evidence against a computation from scratch: the document's distinct
// tuples (detect in document mode) minus every tuple of an earlier
// document, kept in a plain map of exact tuples, and the exact binomial
// tail of its green count. It also checks that the mode changes the
// evidence (the repeated documents score nothing), so the comparison can
// fail, and that document mode is still what it was.
func TestCorpusModeIndependentComputation(t *testing.T) {
	scheme, paths := corpusModeFixture(t, 31)
	show := func(c *Config) { c.ShowText = 1 << 30 }
	corpus := scanDir(t, []watermark.Scheme{scheme}, paths, func(c *Config) { show(c); c.DocDedup = DocDedupCorpus })
	document := scanDir(t, []watermark.Scheme{scheme}, paths, show)
	if corpus.sum.DocDedup != DocDedupCorpus || document.sum.DocDedup != DocDedupDocument {
		t.Fatalf("summary modes %q, %q", corpus.sum.DocDedup, document.sum.DocDedup)
	}
	tok, _ := tokenize.Get(tokenize.Default)
	det, _ := detect.New(scheme, detect.Options{})
	seen := map[watermark.Tuple]bool{}
	null := scheme.Config().Null()
	fewer, zero := 0, 0
	for i, d := range corpus.docs {
		if d.DocDedup != DocDedupCorpus || document.docs[i].DocDedup != DocDedupDocument {
			t.Fatalf("doc %d: modes %q, %q", i, d.DocDedup, document.docs[i].DocDedup)
		}
		r, err := det.Text(tok, d.Text)
		if err != nil {
			t.Fatal(err)
		}
		if document.docs[i].Log10P != r.Log10P || document.docs[i].Scored != r.Scored {
			t.Fatalf("doc %d in document mode: log10 p %v, %d scored; detect %v, %d", i, document.docs[i].Log10P, document.docs[i].Scored, r.Log10P, r.Scored)
		}
		n, green := 0, 0
		for _, o := range det.Observations() {
			if seen[o.Tuple] {
				continue
			}
			seen[o.Tuple] = true
			n++
			green += int(o.Score)
		}
		want := stats.Log10(stats.LogBinomialTail(green, n, null.P)) + 0
		if d.Scored != n || math.Abs(d.Log10P-want) > 1e-12*math.Max(1, -want) {
			t.Fatalf("doc %d (%s %s): corpus mode %d scored, log10 p %v; from scratch %d, %v", i, d.File, d.ID, d.Scored, d.Log10P, n, want)
		}
		if n < r.Scored {
			fewer++
		}
		if n == 0 && r.Scored > 0 {
			zero++
		}
	}
	if fewer < 10 || zero < 10 {
		t.Fatalf("only %d documents lost tuples to earlier ones (%d all of them): the fixture shares too little", fewer, zero)
	}
	if corpus.sum.PerKey[0].Scored != len(seen) {
		t.Errorf("pooled test scored %d tuples, the corpus holds %d", corpus.sum.PerKey[0].Scored, len(seen))
	}
}

// TestCorpusModeScanOutDirResumeMerge: in corpus mode, with 1 and 4
// workers, one scan, a scan into an output directory, a scan interrupted
// after its first input and resumed, and the inputs split over two
// directories (sharing one scan.json) and merged all give the same
// documents, q-values, flags and pooled test.
func TestCorpusModeScanOutDirResumeMerge(t *testing.T) {
	scheme, paths := corpusModeFixture(t, 32)
	schemes := []watermark.Scheme{scheme}
	var ref *collector
	for _, workers := range []int{1, 4} {
		jobs := func(c *Config) { c.Workers, c.DocDedup = workers, DocDedupCorpus }
		plain := scanDir(t, schemes, paths, jobs)
		if ref == nil {
			ref = plain
		}
		sameDocs(t, fmt.Sprint("-j ", workers), ref, plain)
		out := filepath.Join(t.TempDir(), "out")
		sameDocs(t, fmt.Sprint("--out, -j ", workers), ref, scanDir(t, schemes, paths, func(c *Config) { jobs(c); c.OutDir = out }))

		// Interrupted once the first input is finished, then resumed.
		killed := filepath.Join(t.TempDir(), "killed")
		tok, _ := tokenize.Get(tokenize.Default)
		ctx, cancel := context.WithCancel(context.Background())
		s, err := New(Config{Schemes: schemes, Tokenizer: tok, Workers: workers, OutDir: killed, DocDedup: DocDedupCorpus,
			Progress: func(p Progress) {
				if p.Files == 1 {
					cancel()
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Run(ctx, paths, &collector{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted scan: %v", err)
		}
		cancel()
		s, _ = New(Config{Schemes: schemes, Tokenizer: tok, Workers: workers, OutDir: killed, DocDedup: DocDedupCorpus})
		resumed := &collector{}
		if _, err := s.Run(context.Background(), paths, resumed); err != nil {
			t.Fatal(err)
		}
		if s.Resumed() != 1 {
			t.Errorf("resumed %d inputs", s.Resumed())
		}
		sameDocs(t, fmt.Sprint("killed and resumed, -j ", workers), ref, resumed)

		// Two machines: the second directory gets the first's scan.json.
		d1, d2 := filepath.Join(t.TempDir(), "m1"), filepath.Join(t.TempDir(), "m2")
		scanDir(t, schemes, paths[:1], func(c *Config) { jobs(c); c.OutDir = d1 })
		os.Mkdir(d2, 0o755)
		b, _ := os.ReadFile(filepath.Join(d1, "scan.json"))
		os.WriteFile(filepath.Join(d2, "scan.json"), b, 0o644)
		scanDir(t, schemes, paths[1:], func(c *Config) { jobs(c); c.OutDir = d2 })
		for _, maxExact := range []int{0, 300} {
			merged := &collector{}
			if _, err := Merge([]string{d2, d1}, MergeOptions{MaxExact: maxExact, DocDedup: DocDedupCorpus}, merged); err != nil {
				t.Fatal(err)
			}
			sameDocs(t, fmt.Sprint("two directories merged, -j ", workers, ", max exact ", maxExact), ref, merged)
		}
		// Merge computes document mode from the same directories.
		mergedDoc := &collector{}
		if _, err := Merge([]string{d1, d2}, MergeOptions{DocDedup: DocDedupDocument}, mergedDoc); err != nil {
			t.Fatal(err)
		}
		sameDocs(t, "merged in document mode", scanDir(t, schemes, paths, func(c *Config) { c.Workers = workers }), mergedDoc)
	}
}

// TestOutDirFormat1 turns an output directory into format 1 (tuple records
// without document ordinals, as earlier versions wrote them): merge reads
// it in document mode with the same results, refuses corpus mode with a
// clear error, and a scan does not resume into it.
func TestOutDirFormat1(t *testing.T) {
	scheme, paths := corpusModeFixture(t, 33)
	schemes := []watermark.Scheme{scheme}
	out := filepath.Join(t.TempDir(), "out")
	scanDir(t, schemes, paths, func(c *Config) { c.OutDir = out })
	downgrade(t, out)
	merged := &collector{}
	if _, err := Merge([]string{out}, MergeOptions{DocDedup: DocDedupDocument}, merged); err != nil {
		t.Fatal(err)
	}
	sameDocs(t, "format 1, document mode", scanDir(t, schemes, paths, func(c *Config) { c.DocDedup = DocDedupDocument }), merged)
	if _, err := Merge([]string{out}, MergeOptions{DocDedup: DocDedupCorpus}, &collector{}); err == nil || !strings.Contains(err.Error(), "output format 1") {
		t.Errorf("corpus mode on format 1: %v", err)
	}
	tok, _ := tokenize.Get(tokenize.Default)
	s, _ := New(Config{Schemes: schemes, Tokenizer: tok, OutDir: out})
	if _, err := s.Run(context.Background(), paths, &collector{}); err == nil || !strings.Contains(err.Error(), "another version") {
		t.Errorf("resume into format 1: %v", err)
	}
}

// downgrade rewrites an output directory in format 1: manifest version 1,
// 26-byte tuple records, markers naming the new manifest and file sums.
func downgrade(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "scan.json")
	var m dirManifest
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m.Version = 1
	b, _ = json.Marshal(m)
	os.WriteFile(path, b, 0o644)
	marks, _ := filepath.Glob(filepath.Join(dir, "*.done"))
	for _, mark := range marks {
		var d doneMarker
		b, _ := os.ReadFile(mark)
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		for name := range d.Files {
			if !strings.Contains(name, ".tuples.") {
				continue
			}
			p := filepath.Join(dir, name)
			f, _ := os.Open(p)
			zr, _ := zstd.NewReader(f)
			data, err := io.ReadAll(zr)
			zr.Close()
			f.Close()
			if err != nil || len(data)%30 != 0 {
				t.Fatalf("%s: %d bytes, %v", p, len(data), err)
			}
			var old []byte
			for i := 0; i < len(data); i += 30 {
				old = append(old, data[i:i+26]...)
			}
			os.WriteFile(p, zstdBytes(old), 0o644)
			d.Files[name], _ = sumFile(p)
		}
		d.Manifest = m.identity()
		b, _ = json.Marshal(d)
		os.WriteFile(mark, b, 0o644)
	}
}

// TestTupleFileOrdinals reads a tuple file back: every tuple once, with
// the ordinal of the first document holding it, in input order.
func TestTupleFileOrdinals(t *testing.T) {
	scheme, paths := corpusModeFixture(t, 34)
	out := filepath.Join(t.TempDir(), "out")
	c := scanDir(t, []watermark.Scheme{scheme}, paths[1:2], func(c *Config) { c.OutDir, c.ShowText, c.Workers, c.DocDedup = out, 1<<30, 4, DocDedupCorpus })
	tok, _ := tokenize.Get(tokenize.Default)
	det, _ := detect.New(scheme, detect.Options{})
	key := readManifestKey(t, out)
	want := map[uint64]uint32{}
	for i, d := range c.docs {
		det.Text(tok, d.Text)
		for _, o := range det.Observations() {
			fp := key.Fingerprint(o.Tuple)
			if _, ok := want[fp]; !ok {
				want[fp] = uint32(i)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.tuples.0.zst"))
	if len(files) != 1 {
		t.Fatalf("tuple files %v", files)
	}
	got := map[uint64]uint32{}
	err := readTuples(files[0], manifestVersion, func(fp uint64, _ watermark.Observation, doc uint32) error {
		if _, dup := got[fp]; dup {
			return fmt.Errorf("tuple %x twice", fp)
		}
		got[fp] = doc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d tuples in the file, %d in the input", len(got), len(want))
	}
	for fp, doc := range want {
		if got[fp] != doc {
			t.Fatalf("tuple %x: document %d in the file, first in document %d", fp, got[fp], doc)
		}
	}
}

func readManifestKey(t *testing.T, dir string) detect.DedupKey {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "scan.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m dirManifest
	if err := json.NewDecoder(bufio.NewReader(f)).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m.DedupKey
}
