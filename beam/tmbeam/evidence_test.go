package tmbeam

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	ev "github.com/tracemark/tracemark/evidence"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/watermark"
)

// TestPrismEvidenceMatchesScan writes the evidence file of a Prism run and
// checks it two ways: against the evidence of scan's own run on the same
// corpus, member by member (evidence.Compare, as verify does); and with
// the tracemark command's `evidence verify --key`, which re-hashes the
// inputs, opens the key commitment, checks the signature and recomputes
// every statistic with the one-machine scan.
func TestPrismEvidenceMatchesScan(t *testing.T) {
	work := t.TempDir()
	sch, tok, keyPath := testKey(t, work)
	dir := writeCorpus(t, sch, tok)
	ctx := context.Background()
	read := corpora.ReadOptions{Format: "auto", IDField: "id", Split: "paragraphs"}
	const fdr = 0.1
	cfg := Config{KeyPaths: []string{keyPath}, Read: read, FDR: fdr, DedupKey: detect.DedupKey{9, 10}}
	out := filepath.Join(work, "beam")
	opts := Options{Config: cfg, Inputs: []string{dir}, Output: out, Shards: 3, Evidence: true}
	_, s0 := beam.NewPipelineWithRoot()
	if err := Build(ctx, s0, Options{Config: Config{KeyPaths: []string{keyPath}, Read: read}, Inputs: []string{dir}, Output: out, Evidence: true}); err == nil ||
		!strings.Contains(err.Error(), "false discovery rate") {
		t.Errorf("evidence without an FDR or every q-value: %v", err)
	}
	p, s := beam.NewPipelineWithRoot()
	if err := Build(ctx, s, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := prism.Execute(ctx, p); err != nil {
		t.Fatal(err)
	}
	signer, err := ev.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	evPath := filepath.Join(work, "ev.json")
	if err := WriteEvidence(ctx, opts, EvidenceOptions{Path: evPath, Command: []string{"tracemark-beam", "(test)"}, Signer: signer}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(evPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ev.Parse(data)
	if err != nil {
		t.Fatal(err)
	}

	// A lost output is an error, never a shorter list.
	for _, name := range []string{"flagged.jsonl", "inputs.jsonl"} {
		lost := filepath.Join(work, "lost-"+name)
		os.Rename(filepath.Join(out, name), lost)
		if err := WriteEvidence(ctx, opts, EvidenceOptions{Path: filepath.Join(work, "ev2.json")}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("evidence without %s: %v", name, err)
		}
		os.Rename(lost, filepath.Join(out, name))
	}

	// The scan's evidence, built as the scan command builds it.
	walked, err := corpora.Walk(ctx, []string{dir}, corpora.WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files := slices.Sorted(slices.Values(walked.Files))
	sc, err := scan.New(scan.Config{Schemes: []watermark.Scheme{sch}, Tokenizer: tok, Read: read, FDR: fdr, DedupKey: &detect.DedupKey{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	mem := &collector{}
	if _, err := sc.Run(ctx, files, mem); err != nil {
		t.Fatal(err)
	}
	key, err := watermark.LoadKeys([]string{keyPath})
	if err != nil {
		t.Fatal(err)
	}
	b := ev.NewBuilder(ev.KindScan, []string{"tracemark", "scan"})
	for _, f := range files {
		if err := b.AddInputFile(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetTokenizer(tok); err != nil {
		t.Fatal(err)
	}
	if err := b.AddKey(key[0], sch.Spec()); err != nil {
		t.Fatal(err)
	}
	b.SetOptions(ev.ScanOptions(detect.DefaultAlpha, fdr, scan.DocDedupDocument, false, false, read))
	var flagged []ev.Statistic
	for _, d := range mem.docs {
		if d.Flagged {
			flagged = append(flagged, ev.ScanDocument(d, 1, true))
		}
	}
	b.AddScan(mem.sum, flagged)
	want := b.File()
	if len(flagged) < 5 || len(got.Inputs) != len(files) {
		t.Fatalf("fixture: %d flagged documents, %d inputs recorded of %d", len(flagged), len(got.Inputs), len(files))
	}
	for _, c := range ev.Compare(want, got) {
		if c.Status != ev.Pass {
			t.Errorf("beam evidence vs scan's: %s: %s", c.What, c.Detail)
		}
	}

	// The tracemark command verifies it, recomputing with scan.
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build tracemark with")
	}
	bin := filepath.Join(work, "tracemark")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tracemark")
	build.Dir = filepath.Join("..", "..")
	if outp, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building tracemark: %v\n%s", err, outp)
	}
	pub, err := ev.EncodePublicKey(signer.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(work, "sign.pub")
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	verify := exec.Command(bin, "evidence", "verify", "--json", "--public-key", pubPath, "--key", keyPath, evPath)
	outp, err := verify.Output()
	var res struct {
		OK     bool       `json:"ok"`
		Checks []ev.Check `json:"checks"`
	}
	if jerr := json.Unmarshal(outp, &res); jerr != nil {
		t.Fatalf("verify: %v, %v\n%s", err, jerr, outp)
	}
	recomputed := 0
	for _, c := range res.Checks {
		if strings.HasPrefix(c.What, "recomputed") {
			recomputed++
		}
		if c.Status != ev.Pass {
			t.Errorf("verify: %s: %s %s", c.What, c.Status, c.Detail)
		}
	}
	t.Logf("verify: %+v", res.Checks)
	if !res.OK || err != nil || recomputed < 7 {
		t.Errorf("verify: ok %v, %d recomputed checks, %v", res.OK, recomputed, err)
	}
}
