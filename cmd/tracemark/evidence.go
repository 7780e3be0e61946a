package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/detect"
	ev "github.com/tracemark/tracemark/evidence"
	"github.com/tracemark/tracemark/scan"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
	"github.com/urfave/cli/v2"
)

// The evidence file of detect and scan (--evidence FILE) and the evidence
// command (keygen, sign, verify); the file format is package evidence's,
// described in docs/evidence.md. (The package is imported as ev: detect.go
// has a function named evidence.)

// withEvidence adds --evidence, --signing-key and --calibration to an
// evidence-producing command.
func withEvidence(cmd *cli.Command) *cli.Command {
	cmd.Flags = append(cmd.Flags,
		&cli.StringFlag{Name: "evidence", Usage: "write an evidence file of this run to `FILE` (docs/evidence.md)"},
		&cli.StringFlag{Name: "signing-key", Usage: "sign the evidence file with the Ed25519 key in `FILE` (tracemark evidence keygen)"},
		&cli.StringFlag{Name: "calibration", Usage: "cite the calibration result in `FILE` (tracemark calibrate --out) in the evidence file"},
	)
	return cmd
}

// evidenceRun builds the evidence file of one detect or scan run; nil when
// --evidence is not given (every method is then a no-op).
type evidenceRun struct {
	b      *ev.Builder
	path   string
	signer ed25519.PrivateKey
	alpha  float64
	fdr    float64 // scan: flagged by q-value <= fdr when > 0
	keys   int
	docs   []ev.Statistic // flagged documents of a scan
	texts  int            // texts recorded (detect)
	err    error
}

// newEvidenceRun prepares the evidence of a run of kind: it loads the
// signing key and the calibration (so a bad one fails before the run),
// commits to the keys and hashes the tokenizer. inputs are hashed by the
// caller (detect before reading them, scan after walking).
func newEvidenceRun(c *cli.Context, e *env, kind string, schemes []watermark.Scheme, tok tokenize.Tokenizer) (*evidenceRun, error) {
	path := c.String("evidence")
	if path == "" {
		if c.String("signing-key") != "" || c.String("calibration") != "" {
			return nil, errors.New("--signing-key and --calibration go with --evidence FILE")
		}
		return nil, nil
	}
	if looksLikeKeyMaterial(path) {
		return nil, errKeyMaterial("--evidence")
	}
	if c.Bool("spans") || c.String("html") != "" {
		// The span test changes the verdicts, and a replay could not
		// recompute it from the recorded options.
		return nil, errors.New("--evidence does not record span tests yet: run it without --spans and --html")
	}
	r := &evidenceRun{b: ev.NewBuilder(kind, redactCommand(e.args)), path: path, alpha: c.Float64("alpha"), keys: len(schemes)}
	if kind == ev.KindScan {
		r.fdr = c.Float64("fdr")
	}
	if p := c.String("signing-key"); p != "" {
		var err error
		if r.signer, err = loadSigningKey(e, p); err != nil {
			return nil, err
		}
	}
	if p := c.String("calibration"); p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--calibration: %w", err)
		}
		cite, err := ev.CiteCalibration(p, data)
		if err != nil {
			return nil, fmt.Errorf("--calibration: %w", err)
		}
		r.b.Cite(cite)
	}
	keys, err := loadKeys(e, c.StringSlice("key"))
	if err != nil {
		return nil, err
	}
	byID := map[string]*watermark.Key{}
	for _, k := range keys {
		byID[k.ID()] = k
	}
	for _, s := range schemes {
		k := byID[s.KeyID()]
		if k == nil {
			return nil, fmt.Errorf("evidence: no key loaded for key ID %s", s.KeyID())
		}
		if err := r.b.AddKey(k, s.Spec()); err != nil {
			return nil, err
		}
	}
	if err := r.b.SetTokenizer(tok); err != nil {
		return nil, err
	}
	opts := ev.Options{Alpha: c.Float64("alpha"), Dedup: "tuple", Normalize: c.Bool("normalize"), Read: map[string]string{}}
	if c.Bool("no-dedup") {
		opts.Dedup = "none"
	}
	switch kind {
	case ev.KindDetect:
		opts.IDs = c.Bool("ids")
	case ev.KindScan:
		opts = ev.ScanOptions(c.Float64("alpha"), c.Float64("fdr"), scan.DocDedup(c.String("doc-dedup")), c.Bool("normalize"), c.Bool("no-dedup"),
			corpora.ReadOptions{Format: c.String("format"), IDField: c.String("id-field"), Role: c.String("role"), Split: c.String("split"), Fields: c.StringSlice("field")})
	}
	// Other front ends (probe) complete the options with r.b.SetOptions.
	r.b.SetOptions(opts)
	r.b.AddSeed(ev.Seed{Name: "dedup-key", Value: "",
		Note: "tuple fingerprints are keyed by a fresh random key per run, independent of the watermark keys; while dedup_exact is true the statistics do not depend on it"})
	return r, nil
}

// inputs hashes the run's input files; standard input is refused, since
// no one could re-hash it.
func (r *evidenceRun) inputs(names []string) error {
	if r == nil {
		return nil
	}
	for _, n := range names {
		if n == "-" {
			return errors.New("--evidence needs named input files: standard input cannot be re-hashed by a verifier")
		}
		if err := r.b.AddInputFile(n); err != nil {
			return err
		}
	}
	return nil
}

// exclusion records the --exclude-ngrams file.
func (r *evidenceRun) exclusion(path string, ngrams int) error {
	if r == nil || path == "" {
		return nil
	}
	return r.b.AddExclusionFile(path, "(h+1)-grams of every line", ngrams)
}

// text records one detect input's results.
func (r *evidenceRun) text(name string, results []detect.Result) {
	if r == nil || r.err != nil {
		return
	}
	r.texts++
	r.err = r.b.AddText(name, results, r.alpha)
}

// count records a run-wide count (detect: the errors; the texts tested
// are counted by text).
func (r *evidenceRun) count(name string, n int) {
	if r == nil {
		return
	}
	r.b.SetSummary(name, int64(n))
	r.b.SetSummary("texts", int64(r.texts))
}

// pooled records a pooled corpus test under each key (probe: the pooled
// test over all answers).
func (r *evidenceRun) pooled(name string, results []detect.PooledResult) {
	if r == nil || r.err != nil {
		return
	}
	r.err = r.b.AddPooled(name, results, r.alpha)
}

// scanSink returns sink with the flagged documents recorded on the way.
func (r *evidenceRun) scanSink(sink scan.Sink) scan.Sink {
	if r == nil {
		return sink
	}
	return &evidenceSink{Sink: sink, r: r}
}

// evidenceSink records a scan's flagged documents.
type evidenceSink struct {
	scan.Sink
	r *evidenceRun
}

func (s *evidenceSink) Doc(d scan.Doc) error {
	if d.Flagged {
		s.r.docs = append(s.r.docs, ev.ScanDocument(d, s.r.keys, s.r.fdr > 0))
	}
	return s.Sink.Doc(d)
}

// scanSummary records a scan's flagged documents, pooled test and counts.
func (r *evidenceRun) scanSummary(sum scan.Summary) {
	if r == nil {
		return
	}
	r.b.AddScan(sum, r.docs)
}

// write finishes, signs (with --signing-key) and writes the evidence file.
func (r *evidenceRun) write(e *env) error {
	if r == nil {
		return nil
	}
	if r.err != nil {
		return r.err
	}
	f := r.b.File()
	if r.signer != nil {
		if err := ev.SignFile(f, r.signer, time.Now()); err != nil {
			return err
		}
	}
	data, err := ev.Marshal(f)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(r.path, data, 0o644); err != nil {
		return fmt.Errorf("--evidence: %w", err)
	}
	signed := "unsigned"
	if r.signer != nil {
		signed = "signed by public key " + ev.PublicKeyID(r.signer.Public().(ed25519.PublicKey))
	}
	fmt.Fprintf(e.stderr, "tracemark: evidence written to %s (%s)\n", r.path, signed)
	return nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so a reader never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tracemark-evidence-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// secretFlagWords are parts of flag names whose values are secrets.
var secretFlagWords = []string{"secret", "password", "passwd", "api-key", "apikey", "bearer", "credential", "auth-token"}

// redactCommand returns the command line with every value that could be
// a secret replaced: values that look like key material, and the values
// of flags named like secrets (--api-key, --password, ...). Watermark keys
// are never on the command line (they are paths or in $TRACEMARK_KEY), so
// nothing else of them can be in it.
func redactCommand(args []string) []string {
	out := make([]string, len(args))
	redactNext := false
	for i, a := range args {
		switch {
		case redactNext:
			out[i], redactNext = "[redacted]", false
			continue
		case looksLikeKeyMaterial(a):
			out[i] = "[redacted]"
			continue
		}
		out[i] = a
		if name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") {
			if secretFlagName(name) {
				if ok {
					out[i] = a[:len(a)-len(value)] + "[redacted]"
				} else {
					redactNext = true
				}
			} else if ok && looksLikeKeyMaterial(value) {
				out[i] = a[:len(a)-len(value)] + "[redacted]"
			}
		}
	}
	return out
}

func secretFlagName(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretFlagWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// loadSigningKey reads an Ed25519 signing key file, warning when others
// may read it. Errors never show the file's contents.
func loadSigningKey(e *env, path string) (ed25519.PrivateKey, error) {
	if looksLikeKeyMaterial(path) {
		return nil, errKeyMaterial("--signing-key")
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--signing-key: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() > 1<<16 {
		return nil, fmt.Errorf("--signing-key: %s is not a signing key file", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--signing-key: %w", err)
	}
	priv, err := ev.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("--signing-key %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(e.stderr, "tracemark: warning: signing key file %s can be read by other users: chmod 600 it\n", path)
	}
	return priv, nil
}

func evidenceCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "evidence",
		Usage: "make signing keys, sign and verify evidence files (detect/scan --evidence FILE; docs/evidence.md)",
		Subcommands: []*cli.Command{
			{
				Name:      "keygen",
				Usage:     "make an Ed25519 signing key: FILE (PEM PKCS #8, mode 0600) and FILE.pub (PEM)",
				UsageText: "tracemark evidence keygen --out FILE [--force]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "signing key `FILE` to write; the public key goes to FILE.pub"},
					&cli.BoolFlag{Name: "force", Usage: "overwrite existing files"},
				},
				Action: func(c *cli.Context) error { return evidenceKeygen(c, e) },
			},
			{
				Name:      "sign",
				Usage:     "sign an evidence file in place",
				UsageText: "tracemark evidence sign --signing-key KEY FILE",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "signing-key", Required: true, Usage: "Ed25519 signing key `FILE`"},
				},
				Action: func(c *cli.Context) error { return evidenceSign(c, e) },
			},
			{
				Name:  "verify",
				Usage: "check an evidence file: signature, inputs, disclosed keys, recomputed statistics",
				UsageText: "tracemark evidence verify [--public-key PUB] [--key KEYFILE]... [--no-recompute] [--json] FILE\n\n" +
					"Exit codes: 0 every check made passed, 1 a check failed (the file or an input was changed,\n" +
					"a key does not open its commitment, a statistic differs), 2 error. Checks that cannot be made\n" +
					"(an input not present, no key given) are reported as not checked.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "public-key", Usage: "the signer's public key `FILE` (PEM or base64); without it the signer is not checked"},
					&cli.StringSliceFlag{Name: "key", Aliases: []string{"k"}, Usage: "disclosed watermark key `FILE`: checked against its commitment, then the statistics are recomputed; repeat for several"},
					&cli.BoolFlag{Name: "no-recompute", Usage: "with --key, check the commitments only"},
					&cli.BoolFlag{Name: "json", Usage: "print the checks as JSON"},
				},
				Action: func(c *cli.Context) error { return evidenceVerify(c, e) },
			},
		},
	}
}

func evidenceKeygen(c *cli.Context, e *env) error {
	if c.NArg() > 0 {
		return fmt.Errorf("evidence keygen takes no arguments (got %q)", c.Args().First())
	}
	out := c.String("out")
	if looksLikeKeyMaterial(out) {
		return errKeyMaterial("--out")
	}
	priv, err := ev.GenerateSigningKey()
	if err != nil {
		return err
	}
	privPEM, err := ev.EncodePrivateKey(priv)
	if err != nil {
		return err
	}
	pub := priv.Public().(ed25519.PublicKey)
	pubPEM, err := ev.EncodePublicKey(pub)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(out + ".pub"); err == nil && !c.Bool("force") {
		return fmt.Errorf("write %s.pub: file exists (use --force to overwrite)", out)
	}
	if err := writeSecretFile(out, privPEM, c.Bool("force")); err != nil {
		return err
	}
	if err := writeFileAtomic(out+".pub", pubPEM, 0o644); err != nil {
		return fmt.Errorf("write %s.pub: %w", out, err)
	}
	fmt.Fprintf(e.stdout, "signing key written to %s (mode 0600; keep it secret), public key to %s.pub\npublic key ID %s, public key (base64) %s\n",
		out, out, ev.PublicKeyID(pub), base64.StdEncoding.EncodeToString(pub))
	return nil
}

func evidenceSign(c *cli.Context, e *env) error {
	if c.NArg() != 1 {
		return errors.New("evidence sign takes one evidence file")
	}
	priv, err := loadSigningKey(e, c.String("signing-key"))
	if err != nil {
		return err
	}
	path := c.Args().First()
	data, err := ev.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := ev.Sign(data, priv, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := writeFileAtomic(path, out, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: signed by public key %s\n", path, ev.PublicKeyID(priv.Public().(ed25519.PublicKey)))
	return nil
}

func evidenceVerify(c *cli.Context, e *env) error {
	if c.NArg() != 1 {
		return errors.New("evidence verify takes one evidence file")
	}
	path := c.Args().First()
	data, err := ev.ReadFile(path)
	if err != nil {
		return err
	}
	var pub ed25519.PublicKey
	if p := c.String("public-key"); p != "" {
		raw, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("--public-key: %w", err)
		}
		if pub, err = ev.ParsePublicKey(raw); err != nil {
			return fmt.Errorf("--public-key %s: %w", p, err)
		}
	}
	f, checks, err := ev.VerifySignature(data, pub)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	inputs := ev.CheckInputs(f)
	checks = append(checks, inputs...)
	if paths := c.StringSlice("key"); len(paths) > 0 {
		keys, err := loadKeys(e, paths)
		if err != nil {
			return err
		}
		keyChecks := ev.CheckKeys(f, keys)
		checks = append(checks, keyChecks...)
		if !c.Bool("no-recompute") {
			checks = append(checks, recompute(c, e, f, keys, keyChecks, inputs)...)
		}
	} else {
		checks = append(checks, ev.Check{What: "keys", Status: ev.NotChecked, Detail: "no key disclosed (--key): commitments and statistics not checked"})
	}
	if err := printChecks(e, checks, c.Bool("json")); err != nil {
		return err
	}
	if ev.Failed(checks) {
		return exitCode(exitNotFound)
	}
	return nil
}

// printChecks prints the verification checks.
func printChecks(e *env, checks []ev.Check, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(map[string]any{"ok": !ev.Failed(checks), "checks": checks})
	}
	for _, ch := range checks {
		if _, err := fmt.Fprintf(e.stdout, "%-11s %s: %s\n", ch.Status, ch.What, ch.Detail); err != nil {
			return err
		}
	}
	verdict := "all checks made passed"
	if ev.Failed(checks) {
		verdict = "VERIFICATION FAILED"
	}
	_, err := fmt.Fprintln(e.stdout, verdict)
	return err
}

// recompute re-runs the recorded detection with the disclosed keys (in the
// recorded key order) on the recorded inputs, in process, and compares
// the statistics. It runs only when every committed key was disclosed and
// opens its commitment and every input re-hashed unchanged.
func recompute(c *cli.Context, e *env, f *ev.File, keys []*watermark.Key, keyChecks, inputs []ev.Check) []ev.Check {
	skip := func(why string) []ev.Check {
		return []ev.Check{{What: "recomputed statistics", Status: ev.NotChecked, Detail: why}}
	}
	for _, ch := range keyChecks {
		if ch.Status != ev.Pass {
			return skip("not recomputed: " + ch.What + " " + string(ch.Status))
		}
	}
	for _, ch := range inputs {
		if ch.Status != ev.Pass {
			return skip("not recomputed: " + ch.What + " " + string(ch.Status))
		}
	}
	args, err := replayArgs(f, keys)
	if err != nil {
		return skip("not recomputed: " + err.Error())
	}
	dir, err := os.MkdirTemp("", "tracemark-verify-*")
	if err != nil {
		return skip("not recomputed: " + err.Error())
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "evidence.json")
	args = append(args[:2], append([]string{"--evidence", out}, args[2:]...)...)
	var stderr strings.Builder
	code := run(c.Context, args, strings.NewReader(""), discard{}, &stderr)
	if code == exitError {
		return []ev.Check{{What: "recomputed statistics", Status: ev.Fail, Detail: "the recomputation failed: " + strings.TrimSpace(stderr.String())}}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return []ev.Check{{What: "recomputed statistics", Status: ev.Fail, Detail: "the recomputation wrote no evidence: " + strings.TrimSpace(stderr.String())}}
	}
	g, err := ev.Parse(data)
	if err != nil {
		return skip("not recomputed: " + err.Error())
	}
	return ev.Compare(f, g)
}

// discard is an io.Writer that drops everything.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// replayArgs builds the command line that recomputes f's statistics from
// its recorded options (never from its recorded command, which a verifier
// need not trust), with the disclosed keys in the recorded order.
func replayArgs(f *ev.File, keys []*watermark.Key) ([]string, error) {
	if f.Kind != ev.KindDetect && f.Kind != ev.KindScan && f.Kind != ev.KindProbe {
		return nil, fmt.Errorf("recomputing %s evidence is not supported by this command", f.Kind)
	}
	byID := map[string]*watermark.Key{}
	for _, k := range keys {
		byID[k.ID()] = k
	}
	o := f.Options
	args := []string{"tracemark", f.Kind, "--alpha", strconv.FormatFloat(o.Alpha, 'g', -1, 64),
		"--tokenizer", strings.TrimSuffix(f.Tokenizer.Name, "+normalize")}
	scheme := ""
	for i, kc := range f.Keys {
		k := byID[kc.KeyID]
		if k.Source() == "" {
			return nil, fmt.Errorf("key %s was not given as a file", kc.KeyID)
		}
		args = append(args, "--key", k.Source())
		if i == 0 {
			scheme = kc.Scheme
		} else if kc.Scheme != scheme {
			scheme = "mixed"
		}
	}
	if scheme == "mixed" {
		for _, kc := range f.Keys {
			if kc.Scheme != kc.KeyScheme {
				return nil, errors.New("keys ran under different schemes, some not their own")
			}
		}
	} else if scheme != "" {
		args = append(args, "--scheme", scheme)
	}
	if o.Normalize {
		args = append(args, "--normalize")
	}
	if o.Dedup == "none" {
		args = append(args, "--no-dedup")
	}
	if f.Kind == ev.KindProbe {
		// The stored answers are re-tested; nothing is sent.
		return append(args, replayProbeArgs(f)...), nil
	}
	if f.Kind == ev.KindDetect {
		if o.IDs {
			args = append(args, "--ids")
		}
	} else {
		args = append(args, "--fdr", strconv.FormatFloat(o.FDR, 'g', -1, 64), "--doc-dedup", o.DocDedup, "--soft-errors-ok", "--jobs", "1")
		for _, name := range []string{"format", "id-field", "role", "split"} {
			if v := o.Read[name]; v != "" {
				args = append(args, "--"+name, v)
			}
		}
		if v := o.Read["field"]; v != "" {
			for _, fl := range strings.Split(v, "\n") {
				args = append(args, "--field", fl)
			}
		}
		for _, x := range f.Exclusions {
			args = append(args, "--exclude-ngrams", x.Name)
		}
	}
	args = append(args, "--")
	for _, in := range f.Inputs {
		args = append(args, in.Name)
	}
	return args, nil
}
