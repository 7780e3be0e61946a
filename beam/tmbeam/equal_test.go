package tmbeam

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
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
	"github.com/tracemark/tracemark/normalize"
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
// opticksText returns Opticks' paragraphs longer than minLen bytes (at
// most limit of them; 0: all), the human text of the corpora, and its
// single-token words under tok, which testtext.Watermarked draws from.
func opticksText(t *testing.T, tok tokenize.Tokenizer, minLen, limit int) (human []string, words []uint32) {
	t.Helper()
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Split(refcorpus.UnwrapParagraphs(doc.Text), "\n\n") {
		if len(p) > minLen && (limit == 0 || len(human) < limit) {
			human = append(human, p)
		}
	}
	return human, testtext.SingleTokenWords(tok, doc.Text)
}

func writeCorpus(t *testing.T, sch watermark.Scheme, tok tokenize.Tokenizer) string {
	human, words := opticksText(t, tok, 300, 80)
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
	// A Gumbel-type key's tally sums float scores, whose last bits depend
	// on the order of addition (which differs between scan's workers, its
	// --out + merge and the pipeline's buckets): its sum is compared to a
	// relative 1e-12 and its p-values to 1e-9 (the Gamma tail's
	// evaluation turns the sums' last bits into a few 1e-12 of log10 p),
	// its count exactly. Every other tally holds integer counts,
	// bit-identical whatever the order.
	within := func(a, b, rel float64) bool { return a == b || math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b)) }
	near := func(a, b float64) bool { return within(a, b, 1e-9) }
	floatSums := false
	for _, k := range ws.PerKey {
		floatSums = floatSums || floatSum(t, k.Scheme)
	}
	pooledEqual := sum.PooledLog10P == ws.PooledLog10P && sum.PooledPValue == ws.PooledPValue
	if floatSums {
		pooledEqual = near(sum.PooledLog10P, ws.PooledLog10P) && near(sum.PooledPValue, ws.PooledPValue)
	}
	if !pooledEqual || sum.PooledKeyID != ws.PooledKeyID || sum.Detected != ws.Detected || len(sum.PerKey) != len(ws.PerKey) || sum.Tokenizer != ws.Tokenizer {
		t.Fatalf("%s: pooled %v (log10 %v, key %s, tokenizer %s), scan %v (log10 %v, key %s, tokenizer %s)", name,
			sum.PooledPValue, sum.PooledLog10P, sum.PooledKeyID, sum.Tokenizer, ws.PooledPValue, ws.PooledLog10P, ws.PooledKeyID, ws.Tokenizer)
	}
	for k, w := range ws.PerKey {
		g := sum.PerKey[k]
		gt, _ := json.Marshal(g.Tally)
		wt, _ := json.Marshal(w.Tally)
		same := string(gt) == string(wt) && g.Log10P == w.Log10P && g.AdjustedLog10P == w.AdjustedLog10P
		if floatSum(t, w.Scheme) {
			gs, wsum := g.Tally, w.Tally
			gs.Sum, wsum.Sum = 0, 0
			gt0, _ := json.Marshal(gs)
			wt0, _ := json.Marshal(wsum)
			same = string(gt0) == string(wt0) && within(g.Tally.Sum, w.Tally.Sum, 1e-12) && near(g.Log10P, w.Log10P) && near(g.AdjustedLog10P, w.AdjustedLog10P)
		}
		if !same || g.KeyID != w.KeyID || g.Scheme != w.Scheme || g.Scored != w.Scored || g.DedupExact != w.DedupExact {
			t.Errorf("%s: key %d (%s) pooled tally %s (log10 p %v), scan %s (%v)", name, k, w.Scheme, gt, g.Log10P, wt, w.Log10P)
			continue
		}
		t.Logf("%s: key %d (%s): pooled tally %s, log10 p %v equal (pipeline's sum %v)", name, k, w.Scheme, wt, w.Log10P, g.Tally.Sum)
	}
}

// floatSum reports whether a scheme spec's tally sums float scores (a
// Gamma null: Gumbel and its vLLM variants).
func floatSum(t *testing.T, spec string) bool {
	t.Helper()
	cfg, err := watermark.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Null().Kind == watermark.GammaNull
}

// testKey returns the tests' key (the default KGW scheme), its scheme and
// tokenizer, and the key file written in work.
func testKey(t *testing.T, work string) (watermark.Scheme, tokenize.Tokenizer, string) {
	t.Helper()
	tok, err := tokenize.Get(tokenize.Default)
	if err != nil {
		t.Fatal(err)
	}
	sch, keyPath := writeKey(t, work, "k.key", watermark.DefaultKGW(), 3)
	return sch, tok, keyPath
}

// writeKey writes a key of scheme cfg for the default tokenizer, with a
// secret made from mul, to work/name, and returns its scheme and path.
func writeKey(t *testing.T, work, name string, cfg watermark.Config, mul byte) (watermark.Scheme, string) {
	t.Helper()
	var secret [watermark.SecretSize]byte
	for i := range secret {
		secret[i] = mul*byte(i) + 1
	}
	k := watermark.NewKey(secret, cfg, tokenize.Default, time.Time{})
	sch, err := watermark.NewScheme(k, k.Scheme)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(work, name)
	if err := k.WriteKeyFile(keyPath, false); err != nil {
		t.Fatal(err)
	}
	return sch, keyPath
}

// attack hides text from a plain tokenizer as the normalize package's
// attacks do: a zero-width space inside every word of four letters or
// more, and the Latin a of every third word swapped for the Cyrillic а.
func attack(text string) string {
	words := strings.Fields(text)
	for i, w := range words {
		if i%3 == 0 {
			w = strings.ReplaceAll(w, "a", "\u0430")
		}
		if r := []rune(w); len(r) >= 4 {
			w = string(r[:2]) + "\u200b" + string(r[2:])
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}

// chatTurn is one turn of a chat record of writeChat.
type chatTurn struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// writeChat adds f-chat.jsonl to dir: chat records (messages[].content)
// whose assistant turns hold text watermarked with second (another key) or,
// hidden by attack, with first; a record watermarked with first only in its
// user turn; and one with no assistant turn. It returns the IDs of the
// records whose assistant turn is watermarked with second, with first under
// the attack, and with first in the user turn only.
func writeChat(t *testing.T, dir string, first, second watermark.Scheme, tok tokenize.Tokenizer) (secondIDs []string, attacked, userOnly string) {
	t.Helper()
	human, words := opticksText(t, tok, 300, 0)
	rng := rand.New(rand.NewPCG(11, 12))
	marked := func(sch watermark.Scheme, n int) string {
		_, text, err := testtext.Watermarked(sch, tok, words, n, rng)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(text)
	}
	var b bytes.Buffer
	rec := func(id string, turns ...chatTurn) {
		line, _ := json.Marshal(map[string]any{"id": id, "messages": turns})
		b.Write(append(line, '\n'))
	}
	for i := 0; i < 12; i++ {
		user := chatTurn{"user", human[len(human)-1-i]}
		switch {
		case i%4 == 1:
			id := fmt.Sprint("chat-gumbel-", i)
			rec(id, user, chatTurn{"assistant", marked(second, 60+20*(i%3))})
			secondIDs = append(secondIDs, id)
		default:
			rec(fmt.Sprint("chat-", i), user, chatTurn{"assistant", human[i]})
		}
	}
	attacked, userOnly = "chat-attacked", "chat-user-marked"
	rec(attacked, chatTurn{"user", human[20]}, chatTurn{"assistant", attack(marked(first, 150))})
	rec(userOnly, chatTurn{"user", marked(first, 150)}, chatTurn{"assistant", human[21]})
	rec("chat-no-answer", chatTurn{"user", human[22]})
	put(t, dir, "f-chat.jsonl", b.Bytes())
	return secondIDs, attacked, userOnly
}

// equalCase is one configuration TestPrismEqualsScan checks the pipeline
// against scan (and scan --out + merge) with.
type equalCase struct {
	name string
	// gumbel adds a second key, of the Gumbel scheme, and chat records
	// (writeChat) whose assistant turns hold its watermark, the first key's
	// under a look-alike attack, and the first key's in a user turn only.
	gumbel    bool
	normalize bool   // Config.Normalize (and scan's normalizing tokenizer)
	role      string // ReadOptions.Role
	// exclude excludes the n-grams of one strongly watermarked JSON Lines
	// document (ID excludedID), as scan --exclude-ngrams does.
	exclude bool
	qcaps   []float64 // a pipeline run per q-value cap
}

// excludedID is the document of writeCorpus whose text an equalCase with
// exclude puts in the exclusion file.
const excludedID = "m2"

// TestPrismEqualsScan runs the pipeline on Prism over a mixed corpus and
// checks it against `scan` in memory and against `scan --out` + `merge`,
// with the same configuration: one default KGW key; and a KGW and a Gumbel
// key with normalization, a role filter on chat records and an n-gram
// exclusion file.
func TestPrismEqualsScan(t *testing.T) {
	cases := []equalCase{
		{name: "kgw", qcaps: []float64{0.2, 1}},
		{name: "kgw+gumbel,normalize,role,exclude", gumbel: true, normalize: true, role: "assistant", exclude: true, qcaps: []float64{1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { testPrismEqualsScan(t, c) })
	}
}

func testPrismEqualsScan(t *testing.T, c equalCase) {
	work := t.TempDir()
	sch, tok, keyPath := testKey(t, work)
	dir := writeCorpus(t, sch, tok)
	schemes, keyPaths := []watermark.Scheme{sch}, []string{keyPath}
	var secondIDs []string
	var attacked, userOnly string
	if c.gumbel {
		sch2, keyPath2 := writeKey(t, work, "k2.key", watermark.DefaultGumbel(), 5)
		schemes, keyPaths = append(schemes, sch2), append(keyPaths, keyPath2)
		secondIDs, attacked, userOnly = writeChat(t, dir, sch, sch2, tok)
	}
	dk := detect.DedupKey{0x1234, 0x5678}
	const fdr = 0.1
	ctx := context.Background()
	walked, err := corpora.Walk(ctx, []string{dir}, corpora.WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	read := corpora.ReadOptions{Format: "auto", IDField: "id", Split: "paragraphs", Role: c.role}
	cfg := Config{KeyPaths: keyPaths, Read: read, FDR: fdr, DedupKey: dk, Normalize: c.normalize}
	// scan's configuration, as the scan command makes it from the same
	// options (keysFor and runScan in cmd/tracemark).
	scanTok := tok
	if c.normalize {
		scanTok = normalize.Tokenizer(tok)
	}
	var exclude [][]uint32
	if c.exclude {
		text := ""
		for _, l := range strings.Split(readFile(t, filepath.Join(dir, "b.jsonl")), "\n") {
			var r struct{ ID, Text string }
			if json.Unmarshal([]byte(l), &r) == nil && r.ID == excludedID {
				text = r.Text
			}
		}
		// Two paragraphs: the document's text, and one line of no document.
		data := "a line of no document in the corpus\n" + text + "\n"
		cfg.ExcludeNgrams = filepath.Join(work, "exclude.txt")
		if err := os.WriteFile(cfg.ExcludeNgrams, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, para := range strings.Split(data, "\n") {
			if ids, _ := scanTok.AppendEncode(nil, para); len(ids) > 0 {
				exclude = append(exclude, ids)
			}
		}
	}
	newScan := func(out string) *scan.Scanner {
		s, err := scan.New(scan.Config{Schemes: schemes, Tokenizer: scanTok, Read: read, FDR: fdr, DedupKey: &dk, OutDir: out, Exclude: exclude})
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
	checkEqualFixture(t, c, mem, schemes, secondIDs, attacked, userOnly)
	for _, qcap := range c.qcaps {
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
			if e.File != w.File || !reflect.DeepEqual(e.FileStats, w.FileStats) || e.Error != w.Error {
				t.Errorf("end record %+v, scan %+v", e, w)
			}
		}
	}
}

// checkEqualFixture checks that scan's results on an equalCase's corpus
// exercise what the case compares: documents flagged, a failed file,
// error records, a pooled detection; with the second key, its documents
// detected by it, the attacked one detected (normalization), the user-only
// watermark not (the role filter); the excluded document not detected.
func checkEqualFixture(t *testing.T, c equalCase, mem *collector, schemes []watermark.Scheme, secondIDs []string, attacked, userOnly string) {
	t.Helper()
	flagged := 0
	byID := map[string]scan.Doc{}
	for _, d := range mem.docs {
		if d.Flagged {
			flagged++
		}
		byID[d.ID] = d
	}
	if flagged < 5 || mem.sum.FailedFiles != 1 || mem.sum.Errors < 2 || !mem.sum.Detected {
		t.Fatalf("fixture: %d flagged, %d failed files, %d errors, pooled detected %v", flagged, mem.sum.FailedFiles, mem.sum.Errors, mem.sum.Detected)
	}
	if c.gumbel {
		second := schemes[1].KeyID()
		for _, id := range secondIDs {
			if d := byID[id]; !d.Flagged || d.KeyID != second {
				t.Errorf("fixture: %s (the second key's watermark): %+v", id, d)
			}
		}
		if d := byID[attacked]; d.Flagged != c.normalize {
			t.Errorf("fixture: %s (attacked), normalize %v: flagged %v (log10 p %v)", attacked, c.normalize, d.Flagged, d.Log10P)
		}
		if d, ok := byID[userOnly]; !ok || (c.role != "") == d.Detected {
			t.Errorf("fixture: %s (watermark in the user turn), role %q: %+v", userOnly, c.role, d)
		}
		if len(mem.sum.PerKey) != 2 || mem.sum.PerKey[1].Tally.N == 0 {
			t.Errorf("fixture: pooled tests %+v", mem.sum.PerKey)
		}
	}
	if d, ok := byID[excludedID]; !ok || d.Detected == c.exclude {
		t.Errorf("fixture: %s, exclusion %v: %+v", excludedID, c.exclude, d)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// writeSplitCorpus writes JSON Lines files of several hundred KB, to be
// read in many ranges: records without an ID (named by their line), bad
// JSON (more errors than a file shows), blank and CRLF lines, records
// without text and non-objects before the first record with text (which
// decides the field), repeated watermarked documents; and a .jsonl.zst,
// read whole.
func writeSplitCorpus(t *testing.T, sch watermark.Scheme, tok tokenize.Tokenizer) string {
	human, words := opticksText(t, tok, 200, 0)
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
