package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/detect"
	ev "github.com/tracemark/tracemark/evidence"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/watermark"
)

// evidenceFixture makes a watermark key, a signing key and two inputs
// (one watermarked) in a temporary directory.
type evidenceFixture struct {
	dir, key, sign, marked, plain string
}

func newEvidenceFixture(t *testing.T) evidenceFixture {
	t.Helper()
	dir := t.TempDir()
	keyPath, key := newKey(t)
	_, text := watermarkedText(t, key, 300, 5)
	f := evidenceFixture{dir: dir, key: keyPath, sign: filepath.Join(dir, "sign.key"),
		marked: filepath.Join(dir, "marked.txt"), plain: filepath.Join(dir, "plain.txt")}
	os.WriteFile(f.marked, []byte(text), 0o644)
	os.WriteFile(f.plain, []byte("It was a bright cold day in April, and the clocks were striking thirteen. "+
		"Winston Smith, his chin nuzzled into his breast in an effort to escape the vile wind, slipped quickly "+
		"through the glass doors of Victory Mansions, though not quickly enough to prevent a swirl of gritty dust "+
		"from entering along with him."), 0o644)
	if code, out, stderr := cliRun(t, "", "evidence", "keygen", "--out", f.sign); code != 0 || !strings.Contains(out, "public key ID") {
		t.Fatalf("evidence keygen: %d %s %s", code, out, stderr)
	}
	return f
}

func TestEvidenceKeygen(t *testing.T) {
	f := newEvidenceFixture(t)
	st, err := os.Stat(f.sign)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("signing key mode: %v %v", st, err)
	}
	pub, err := ev.ParsePublicKey(mustRead(t, f.sign+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ev.ParsePrivateKey(mustRead(t, f.sign))
	if err != nil || !priv.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatalf("key pair: %v", err)
	}
	if code, _, stderr := cliRun(t, "", "evidence", "keygen", "--out", f.sign); code != 2 || !strings.Contains(stderr, "exists") {
		t.Errorf("overwrite without --force: %d %s", code, stderr)
	}
}

func TestDetectEvidenceVerify(t *testing.T) {
	f := newEvidenceFixture(t)
	out := filepath.Join(f.dir, "ev.json")
	code, _, stderr := cliRun(t, "", "detect", "--key", f.key, "--evidence", out, "--signing-key", f.sign, f.marked, f.plain)
	if code != 0 {
		t.Fatalf("detect: %d %s", code, stderr)
	}
	file, err := ev.Parse(mustRead(t, out))
	if err != nil {
		t.Fatal(err)
	}
	if len(file.Statistics) != 2 || !file.Statistics[0].Detected || file.Statistics[1].Detected || len(file.Inputs) != 2 || file.Signature == nil ||
		file.Summary["texts"] != 2 || file.Summary["errors"] != 0 {
		t.Fatalf("evidence: %+v", file)
	}
	// The full check: signer pinned, key disclosed, statistics recomputed.
	code, stdout, stderr := cliRun(t, "", "evidence", "verify", "--public-key", f.sign+".pub", "--key", f.key, out)
	if code != 0 || !strings.Contains(stdout, "pass        recomputed statistics") || strings.Contains(stdout, "FAIL") {
		t.Fatalf("verify: %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = cliRun(t, "", "evidence", "verify", "--json", "--key", f.key, out)
	var res struct {
		OK     bool       `json:"ok"`
		Checks []ev.Check `json:"checks"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil || !res.OK || len(res.Checks) < 8 {
		t.Errorf("verify --json: %d %v %s", code, err, stdout)
	}
	// A wrong key fails the commitment check.
	other, _ := newKey(t)
	if code, stdout, _ := cliRun(t, "", "evidence", "verify", "--key", other, out); code != 1 || !strings.Contains(stdout, "not one of the file's committed keys") {
		t.Errorf("wrong key: %d\n%s", code, stdout)
	}
	// A changed input is found on re-hash.
	os.WriteFile(f.plain, []byte("other text"), 0o644)
	if code, stdout, _ := cliRun(t, "", "evidence", "verify", out); code != 1 || !strings.Contains(stdout, "FAIL        input "+f.plain) {
		t.Errorf("changed input: %d\n%s", code, stdout)
	}
	// A missing input is not checked, not passed.
	os.Remove(f.plain)
	if code, stdout, _ := cliRun(t, "", "evidence", "verify", out); code != 0 || !strings.Contains(stdout, "not checked input "+f.plain+": not present") {
		t.Errorf("missing input: %d\n%s", code, stdout)
	}
}

// TestRecomputeFindsForgedStatistics: a file whose statistic was changed
// and re-signed by someone else's key passes the unpinned signature check,
// but recomputation with the disclosed key finds the difference.
func TestRecomputeFindsForgedStatistics(t *testing.T) {
	f := newEvidenceFixture(t)
	out := filepath.Join(f.dir, "ev.json")
	if code, _, stderr := cliRun(t, "", "detect", "--key", f.key, "--evidence", out, f.marked); code != 0 {
		t.Fatalf("detect: %d %s", code, stderr)
	}
	data := mustRead(t, out)
	var m map[string]any
	json.Unmarshal(data, &m)
	m["statistics"].([]any)[0].(map[string]any)["log10_p"] = -99.5
	forged, _ := json.Marshal(m)
	os.WriteFile(out, forged, 0o644)
	if code, _, stderr := cliRun(t, "", "evidence", "sign", "--signing-key", f.sign, out); code != 0 {
		t.Fatalf("sign: %d %s", code, stderr)
	}
	code, stdout, _ := cliRun(t, "", "evidence", "verify", "--key", f.key, out)
	if code != 1 || !strings.Contains(stdout, "FAIL        recomputed statistics: differ from the recorded ones: [0].log10_p: recorded -99.5, recomputed") {
		t.Errorf("forged statistic: %d\n%s", code, stdout)
	}
	// Pinning the real signer's key catches it too.
	other := filepath.Join(f.dir, "other.key")
	cliRun(t, "", "evidence", "keygen", "--out", other)
	if code, stdout, _ := cliRun(t, "", "evidence", "verify", "--public-key", other+".pub", out); code != 1 || !strings.Contains(stdout, "FAIL        signer") {
		t.Errorf("wrong signer: %d\n%s", code, stdout)
	}
}

func TestScanEvidenceVerify(t *testing.T) {
	skipInShortRace(t)
	f := newEvidenceFixture(t)
	k2, _ := newKey(t)
	out := filepath.Join(f.dir, "scan.json")
	excl := filepath.Join(f.dir, "prompts.txt")
	os.WriteFile(excl, []byte("It was a bright cold day in April\n"), 0o644)
	code, _, stderr := cliRun(t, "", "scan", "--key", f.key, "--key", k2, "--split", "paragraphs", "--fdr", "0.05",
		"--exclude-ngrams", excl, "--evidence", out, "--signing-key", f.sign, f.marked, f.plain)
	if code != 0 {
		t.Fatalf("scan: %d %s", code, stderr)
	}
	file, err := ev.Parse(mustRead(t, out))
	if err != nil {
		t.Fatal(err)
	}
	pooled := file.Statistics[len(file.Statistics)-1]
	if pooled.Unit != ev.UnitCorpus || len(pooled.PerKey) != 2 || pooled.Corrections[0].Method != ev.CorrectionHolm ||
		len(file.Exclusions) != 1 || file.Exclusions[0].Ngrams < 1 || file.Summary["files"] != 2 {
		t.Fatalf("scan evidence: %+v", file)
	}
	doc := file.Statistics[0]
	if doc.Unit != ev.UnitDocument || !doc.Flagged || len(doc.Corrections) != 2 || doc.Corrections[1].Method != ev.CorrectionBH {
		t.Fatalf("flagged document: %+v", doc)
	}
	code, stdout, _ := cliRun(t, "", "evidence", "verify", "--public-key", f.sign+".pub", "--key", f.key, "--key", k2, out)
	if code != 0 || !strings.Contains(stdout, "pass        recomputed statistics") || !strings.Contains(stdout, "pass        exclusion file") {
		t.Fatalf("verify scan: %d\n%s", code, stdout)
	}
	// Only one of the two keys disclosed: the commitment is checked, the
	// statistics (Holm over both keys) cannot be recomputed.
	code, stdout, _ = cliRun(t, "", "evidence", "verify", "--key", f.key, out)
	if code != 0 || !strings.Contains(stdout, "not checked recomputed statistics") {
		t.Errorf("one key of two: %d\n%s", code, stdout)
	}
}

func TestEvidenceNeverHoldsSecrets(t *testing.T) {
	skipInShortRace(t)
	f := newEvidenceFixture(t)
	secret := secretOf(t, f.key)
	raw, _ := base64.StdEncoding.DecodeString(secret)
	priv, _ := ev.ParsePrivateKey(mustRead(t, f.sign))
	forms := []string{secret, secret[:16], base64.RawURLEncoding.EncodeToString(raw), hex.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(priv.Seed()), hex.EncodeToString(priv.Seed()), base64.StdEncoding.EncodeToString(priv)}
	out := filepath.Join(f.dir, "ev.json")
	t.Setenv("TRACEMARK_KEY", string(mustRead(t, f.key)))
	for _, args := range [][]string{
		{"detect", "--key", f.key, "--evidence", out, "--signing-key", f.sign, f.marked},
		{"detect", "--evidence", out, "--signing-key", f.sign, f.marked}, // key from $TRACEMARK_KEY
		{"scan", "--evidence", out, "--signing-key", f.sign, f.marked},
		{"evidence", "verify", "--key", f.key, out},
		{"evidence", "sign", "--signing-key", f.sign, out},
		{"detect", "--evidence", out, "--signing-key", f.key, f.marked}, // a watermark key as signing key
	} {
		_, stdout, stderr := cliRun(t, "", args...)
		file := string(mustRead(t, out))
		for _, s := range forms {
			if strings.Contains(stdout+stderr+file, s) {
				t.Fatalf("%v: a secret appears in the output or the evidence file", args)
			}
		}
	}
}

func TestRedactCommand(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(make([]byte, 32))
	got := redactCommand([]string{"tracemark", "probe", "--api-key", "sk-live-123", "--password=hunter2", "--key", "k.key",
		"--tokenizer", "o200k_base", secret, "--x=" + secret, "--max-tokens", "5"})
	want := []string{"tracemark", "probe", "--api-key", "[redacted]", "--password=[redacted]", "--key", "k.key",
		"--tokenizer", "o200k_base", "[redacted]", "--x=[redacted]", "--max-tokens", "5"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("redacted\n%q\nwant\n%q", got, want)
	}
}

func TestEvidenceFlagErrors(t *testing.T) {
	f := newEvidenceFixture(t)
	out := filepath.Join(f.dir, "ev.json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"detect", "--key", f.key, "--signing-key", f.sign, f.marked}, "go with --evidence"},
		{[]string{"detect", "--key", f.key, "--evidence", out, "-"}, "standard input"},
		{[]string{"detect", "--key", f.key, "--evidence", out, "--signing-key", f.marked, f.marked}, "not a PEM PRIVATE KEY"},
		{[]string{"detect", "--key", f.key, "--evidence", out, "--calibration", f.marked, f.marked}, "--calibration"},
		{[]string{"evidence", "verify", f.marked}, "not canonicalizable JSON"},
	} {
		code, _, stderr := cliRun(t, "x", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: %d %s", tc.args, code, stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an evidence file was written by a failed run")
	}
}

func TestCalibrateAndCite(t *testing.T) {
	skipInShortRace(t)
	f := newEvidenceFixture(t)
	corpus := filepath.Join(f.dir, "human.txt")
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Skip(err)
	}
	os.WriteFile(corpus, []byte(doc.Text), 0o644)
	cal := filepath.Join(f.dir, "cal.json")
	// Under one random key, Opticks' paragraphs share many tuples, so with
	// document dedup their p-values move together and the uniformity test
	// rejected for about one key in eight (4 of 30 runs); corpus dedup
	// makes them independent (0 of 30), as docs/evidence.md advises.
	code, stdout, stderr := cliRun(t, "", "calibrate", "--key", f.key, "--split", "paragraphs", "--doc-dedup", "corpus", "--out", cal, corpus)
	if code != 0 || !strings.Contains(stdout, "calibrated") {
		t.Fatalf("calibrate: %d %s %s", code, stdout, stderr)
	}
	out := filepath.Join(f.dir, "ev.json")
	if code, _, stderr := cliRun(t, "", "detect", "--key", f.key, "--evidence", out, "--calibration", cal, "--signing-key", f.sign, f.marked); code != 0 {
		t.Fatalf("detect --calibration: %d %s", code, stderr)
	}
	file, _ := ev.Parse(mustRead(t, out))
	if file.Calibration == nil || file.Calibration.Result.Documents < 100 || len(file.Calibration.Result.Levels) != 4 {
		t.Fatalf("citation: %+v", file.Calibration)
	}
	code, stdout, _ = cliRun(t, "", "evidence", "verify", out)
	if code != 0 || !strings.Contains(stdout, "pass        calibration file") {
		t.Errorf("verify citation: %d\n%s", code, stdout)
	}
	os.WriteFile(cal, []byte("{}"), 0o644)
	if code, stdout, _ := cliRun(t, "", "evidence", "verify", out); code != 1 || !strings.Contains(stdout, "FAIL        calibration file") {
		t.Errorf("changed calibration: %d\n%s", code, stdout)
	}
	k2, _ := newKey(t)
	if code, _, stderr := cliRun(t, "", "calibrate", "--key", f.key, "--key", k2, corpus); code != 2 || !strings.Contains(stderr, "one fixed key") {
		t.Errorf("two keys: %d %s", code, stderr)
	}
}

// TestEvidenceRunPooled: the hook a front end with a pooled test (probe)
// calls records the pooled result with Holm over keys.
func TestEvidenceRunPooled(t *testing.T) {
	_, k1 := newKey(t)
	_, k2 := newKey(t)
	r := &evidenceRun{b: ev.NewBuilder(ev.KindProbe, []string{"tracemark", "probe"}), alpha: 1e-6}
	var results []detect.PooledResult
	for _, k := range []*watermark.Key{k1, k2} {
		s, err := watermark.NewScheme(k, k.Scheme)
		if err != nil {
			t.Fatal(err)
		}
		p, err := detect.NewPooled(s, detect.NewDedupKey(), detect.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := detect.New(s, detect.Options{})
		d.Tokens([]uint32{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		p.Add(d.Observations())
		results = append(results, p.Result())
	}
	r.pooled("answers", results)
	var nilRun *evidenceRun
	nilRun.pooled("answers", results) // no --evidence: a no-op
	f := r.b.File()
	if r.err != nil || len(f.Statistics) != 1 {
		t.Fatalf("pooled: %v %+v", r.err, f.Statistics)
	}
	st := f.Statistics[0]
	if st.Unit != ev.UnitCorpus || len(st.PerKey) != 2 || len(st.Corrections) != 1 || st.Corrections[0].Family != 2 || !st.PerKey[0].DedupExact {
		t.Errorf("pooled statistic: %+v", st)
	}
}

// skipInShortRace skips a test that runs the CLI many times in the -short
// run (CI's race run): it has no concurrency of its own, and the full run
// covers it.
func skipInShortRace(t *testing.T) {
	if testing.Short() {
		t.Skip("covered by the full (non-short) run")
	}
}

// TestDetectEvidenceCountsErrors: inputs that could not be tested are
// counted in the evidence, never silently left out.
func TestDetectEvidenceCountsErrors(t *testing.T) {
	f := newEvidenceFixture(t)
	ids := filepath.Join(f.dir, "ids.txt")
	os.WriteFile(ids, []byte("[1,2,3,4,5,6,7,8]\nnot json\n"), 0o644)
	out := filepath.Join(f.dir, "ev.json")
	if code, _, stderr := cliRun(t, "", "detect", "--ids", "--key", f.key, "--evidence", out, ids); code != 2 || !strings.Contains(stderr, "ids.txt:2") {
		t.Fatalf("detect: %d %s", code, stderr)
	}
	file, err := ev.Parse(mustRead(t, out))
	if err != nil || file.Summary["texts"] != 1 || file.Summary["errors"] != 1 || len(file.Statistics) != 1 || !file.Options.IDs {
		t.Fatalf("evidence: %v %+v", err, file)
	}
}
