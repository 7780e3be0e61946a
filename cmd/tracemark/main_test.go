package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/benchmarks/attack"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/internal/testtext"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// cliRun runs the CLI in-process and returns its exit code and output.
func cliRun(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"tracemark"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func newKey(t *testing.T, extra ...string) (path string, key *watermark.Key) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "key.json")
	if code, _, stderr := cliRun(t, "", append([]string{"keygen", "--out", path}, extra...)...); code != 0 {
		t.Fatalf("keygen: %d %s", code, stderr)
	}
	key, err := watermark.LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, key
}

// secretOf reads the base64 secret back out of a key file.
func secretOf(t *testing.T, path string) string {
	var kf struct{ Secret string }
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &kf); err != nil || kf.Secret == "" {
		t.Fatalf("key file: %v", err)
	}
	return kf.Secret
}

func TestKeygen(t *testing.T) {
	path, key := newKey(t, "--scheme", "kgw:h=1,seeding=lefthash", "--tokenizer", "cl100k_base")
	if key.Scheme.String() != "kgw:gamma=0.25,delta=2,h=1,seeding=lefthash" || key.Tokenizer != "cl100k_base" {
		t.Errorf("key scheme %s tokenizer %s", key.Scheme, key.Tokenizer)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	code, _, stderr := cliRun(t, "", "keygen", "--out", path)
	if code != exitError || !strings.Contains(stderr, "--force") {
		t.Errorf("overwrite without --force: %d %q", code, stderr)
	}
	if code, _, _ := cliRun(t, "", "keygen", "--out", path, "--force"); code != 0 {
		t.Errorf("--force failed: %d", code)
	}
	for args, want := range map[string]string{
		"--scheme kgw:gamma=3": "gamma must be in (0, 1)",
		"--tokenizer gpt9":     "known: o200k_base",
		"":                     "Required flag",
	} {
		a := []string{"keygen"}
		if args != "" {
			a = append(a, "--out", filepath.Join(t.TempDir(), "k"))
			a = append(a, strings.Fields(args)...)
		}
		code, _, stderr := cliRun(t, "", a...)
		if code != exitError || !strings.Contains(stderr, want) {
			t.Errorf("keygen %s: code %d, stderr %q, want %q", args, code, stderr, want)
		}
	}
}

// watermarkedText samples n words of Opticks with the key's scheme from
// a toy model (see testtext) and returns the IDs and the decoded text.
func watermarkedText(t *testing.T, key *watermark.Key, n int, seed uint64) ([]uint32, string) {
	tok, _ := tokenize.Get(key.Tokenizer)
	s, err := watermark.NewKGW(key, key.Scheme.(watermark.KGWConfig))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Skip(err)
	}
	ids, text, err := testtext.Watermarked(s, tok, testtext.SingleTokenWords(tok, doc.Text), n, rand.New(rand.NewPCG(seed, seed)))
	if err != nil {
		t.Fatal(err)
	}
	return ids, text
}

func TestDetectEndToEnd(t *testing.T) {
	keyPath, key := newKey(t)
	dir := t.TempDir()
	_, marked := watermarkedText(t, key, 300, 1)
	markedPath := filepath.Join(dir, "marked.txt")
	os.WriteFile(markedPath, []byte(marked), 0o644)
	opticks := filepath.Join(t.TempDir(), "human.txt")
	os.WriteFile(opticks, []byte(strings.Repeat("Light is propagated from luminous bodies in time. ", 3)+
		"The rays which differ in refrangibility differ also in colour, as Newton showed with a prism."), 0o644)

	code, stdout, stderr := cliRun(t, "", "detect", "--key", keyPath, markedPath, opticks)
	if code != exitFound || !strings.Contains(stdout, markedPath+": WATERMARKED") || !strings.Contains(stdout, opticks+": no watermark") {
		t.Errorf("detect: code %d\n%s%s", code, stdout, stderr)
	}
	code, _, _ = cliRun(t, "", "detect", "--key", keyPath, opticks)
	if code != exitNotFound {
		t.Errorf("human text only: code %d, want 1", code)
	}
	// A missing file is an error (exit 2) but the other inputs are still tested.
	code, stdout, stderr = cliRun(t, "", "detect", "--key", keyPath, filepath.Join(dir, "missing.txt"), markedPath)
	if code != exitError || !strings.Contains(stderr, "missing.txt") || !strings.Contains(stdout, "WATERMARKED") {
		t.Errorf("missing file: code %d\n%s%s", code, stdout, stderr)
	}
	// Standard input, JSON, and the key from the environment.
	t.Setenv(watermark.KeyEnv, string(mustRead(t, keyPath)))
	code, stdout, _ = cliRun(t, marked, "detect", "--json", "-")
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || code != exitFound {
		t.Fatalf("json output %q: %v (code %d)", stdout, err, code)
	}
	for _, f := range []string{"input", "detected", "p_value", "log10_p", "z", "tokens", "scored", "green", "scheme", "key_id", "tokenizer", "alpha"} {
		if _, ok := res[f]; !ok {
			t.Errorf("JSON output lacks %q", f)
		}
	}
	if res["key_id"] != key.ID() || res["tokenizer"] != "o200k_base" || res["input"] != "<stdin>" || res["detected"] != true {
		t.Errorf("JSON output %v", res)
	}
	// A different key finds nothing.
	otherPath, _ := newKey(t)
	if code, stdout, _ := cliRun(t, "", "detect", "--key", otherPath, markedPath); code != exitNotFound {
		t.Errorf("other key: code %d %s", code, stdout)
	}
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDetectIDs(t *testing.T) {
	keyPath, key := newKey(t)
	ids, _ := watermarkedText(t, key, 200, 2)
	b, _ := json.Marshal(ids)
	input := string(b) + "\n[1,2.5]\nnot json\n\n[1,2,3,4,5,6]\n[1] [2]\n[-1]\n"
	code, stdout, stderr := cliRun(t, input, "detect", "--key", keyPath, "--ids", "--json")
	if code != exitError {
		t.Errorf("bad lines should give exit 2, got %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"input":"<stdin>:1"`) || !strings.Contains(lines[0], `"detected":true`) ||
		!strings.Contains(lines[1], `"input":"<stdin>:5"`) {
		t.Errorf("results:\n%s", stdout)
	}
	for _, want := range []string{"<stdin>:2: token 1", "<stdin>:3: not a JSON array", "<stdin>:6: data after", "<stdin>:7: token 0"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestDetectErrors(t *testing.T) {
	keyPath, _ := newKey(t)
	t.Setenv(watermark.KeyEnv, "")
	for args, want := range map[string]string{
		"detect -":                             "TRACEMARK_KEY",
		"detect --key /nonexistent/k.json -":   "/nonexistent/k.json",
		"detect --key KEY --scheme kgw:h=99 -": "h must be in",
		"detect --key KEY --tokenizer nope -":  "known: o200k_base",
		"detect --key KEY --alpha 0 -":         "alpha must be in (0, 1)",
		"detect --key KEY /":                   "is a directory",
	} {
		a := strings.Fields(strings.ReplaceAll(args, "KEY", keyPath))
		code, _, stderr := cliRun(t, "some text", a...)
		if code != exitError || !strings.Contains(stderr, want) {
			t.Errorf("%s: code %d stderr %q, want %q", args, code, stderr, want)
		}
	}
}

// TestSecretNeverInOutput runs every command, help and error path and checks
// that the secret never reaches stdout or stderr.
func TestSecretNeverInOutput(t *testing.T) {
	keyPath, _ := newKey(t)
	secret := secretOf(t, keyPath)
	raw, _ := base64.StdEncoding.DecodeString(secret)
	forms := []string{secret, secret[:16], base64.RawURLEncoding.EncodeToString(raw)}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(strings.Replace(string(mustRead(t, keyPath)), `"version": 1`, `"version": 9`, 1)), 0o600)
	t.Setenv(watermark.KeyEnv, string(mustRead(t, keyPath)))
	for _, args := range [][]string{
		{"--help"}, {"keygen", "--help"}, {"detect", "--help"}, {"version"},
		{"detect", "--key", keyPath, "-"}, {"detect", "--json", "-"}, {"detect", "--key", bad, "-"},
		{"detect", "--key", keyPath, "--ids", "-"}, {"keygen", "--out", keyPath},
	} {
		_, stdout, stderr := cliRun(t, "[1,2,3]\nhello", args...)
		for _, f := range forms {
			if strings.Contains(stdout+stderr, f) {
				t.Fatalf("%v printed the secret", args)
			}
		}
	}
}

// TestDetectNormalize: homoglyphs and zero-width characters hide the mark;
// --normalize brings it back, and says so in the tokenizer name.
func TestDetectNormalize(t *testing.T) {
	keyPath, key := newKey(t)
	_, marked := watermarkedText(t, key, 300, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	attacked, err := attack.Homoglyphs(rng, marked, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if attacked, err = attack.ZeroWidth(rng, attacked, 0.3); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "attacked.txt")
	os.WriteFile(path, []byte(attacked), 0o644)
	result := func(args ...string) map[string]any {
		_, stdout, stderr := cliRun(t, "", append([]string{"detect", "--json", "--key", keyPath}, args...)...)
		var res map[string]any
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("%v: %q %s", args, stdout, stderr)
		}
		return res
	}
	plain, norm := result(path), result("--normalize", path)
	if plain["detected"] == true {
		t.Errorf("attacked text still detected without normalization: %v", plain)
	}
	if norm["detected"] != true || norm["tokenizer"] != "o200k_base+normalize" {
		t.Errorf("with --normalize: %v", norm)
	}
	// scan takes the flag too.
	code, stdout, stderr := cliRun(t, "", "scan", "--key", keyPath, "--normalize", "--json", path)
	if code != exitFound || !strings.Contains(stdout, `"detected":true`) {
		t.Errorf("scan --normalize: code %d\n%s%s", code, stdout, stderr)
	}
}
