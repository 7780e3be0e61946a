package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/detect/stats"
	"github.com/tracemark/tracemark/internal/npmtest"
	"github.com/tracemark/tracemark/internal/refcorpus"
)

// The distillation case end to end, offline (docs/distillation.md):
//
//  1. the provider serves its model with a payload scheme to three
//     customers;
//  2. customer bob harvests completions with the official openai npm
//     client, the other two make ordinary requests;
//  3. a student n-gram model is trained on bob's harvest plus human text
//     and served unwatermarked as "the rival's API";
//  4. tracemark probe queries the rival with prompts disjoint from the
//     harvest's: the pooled test finds the watermark and names bob, with
//     the prompts of the served-output log excluded; a control student
//     trained on human text only is not detected, and its p-values under
//     many fresh keys are uniform;
//  5. the probe's signed evidence file verifies, and a tampered copy does
//     not.
//
// Sizes can be changed with TRACEMARK_E2E_HARVEST and TRACEMARK_E2E_PROBE
// (prompts, 200 tokens each; default 120) and TRACEMARK_E2E_HUMAN_TOKENS
// (the student's human text; default: as many tokens as the harvest).
func TestDistillationEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run: skipped under -short")
	}
	node := npmtest.Tool(t, "node")
	modules := npmtest.Install(t, "openai@6.30.1")
	harvestN := envInt(t, "TRACEMARK_E2E_HARVEST", 120)
	probeN := envInt(t, "TRACEMARK_E2E_PROBE", 120)
	const maxTokens = 200
	dir := t.TempDir()
	harvestPrompts, probePrompts := distillPrompts(t, harvestN, probeN)
	writeLines(t, filepath.Join(dir, "harvest-prompts.txt"), harvestPrompts)
	writeLines(t, filepath.Join(dir, "probe-prompts.txt"), probePrompts)

	// 1. The provider: a payload scheme, three customers.
	keyPath, _ := newKey(t, "--scheme", "kgw:payload_bits=32")
	creds := filepath.Join(dir, "credentials.json")
	apiKeys := map[string]string{}
	for _, c := range []string{"alice", "bob", "carol"} {
		code, out, stderr := cliRun(t, "", "serve", "customer", "add", "--credentials", creds, "--id", c)
		if code != 0 {
			t.Fatalf("customer add %s: %s", c, stderr)
		}
		apiKeys[c] = strings.TrimSpace(out)
	}
	served := filepath.Join(dir, "served")
	provider := startServe(t, "--key", keyPath, "--credentials", creds, "--log-dir", served)

	// 2. Bob harvests with the openai client; alice and carol ask a few
	// questions of their own.
	harvest := filepath.Join(dir, "harvest.jsonl")
	cmd := exec.Command(node, "testdata/harvest.mjs", modules, "http://"+provider.addr+"/v1", "tracemark-ngram",
		filepath.Join(dir, "harvest-prompts.txt"), harvest, strconv.Itoa(maxTokens), "4")
	cmd.Env = append(os.Environ(), "HARVEST_API_KEY="+apiKeys["bob"])
	var nodeErr bytes.Buffer
	cmd.Stderr = &nodeErr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("harvester: %v\n%s", err, nodeErr.String())
	}
	var harvested struct {
		Requests         int `json:"requests"`
		CompletionTokens int `json:"completion_tokens"`
	}
	if err := json.Unmarshal(out, &harvested); err != nil || harvested.Requests != harvestN {
		t.Fatalf("harvester output %q: %v", out, err)
	}
	for _, c := range []string{"alice", "carol"} {
		for i := 0; i < 5; i++ {
			complete(t, provider.addr, apiKeys[c], probePrompts[i%len(probePrompts)][:20], i)
		}
	}
	if code := provider.stop(); code != 0 {
		t.Fatalf("provider exit %d: %s", code, provider.stderr.String())
	}

	// 3. The students: one with the harvest, a control without.
	human := filepath.Join(dir, "human.txt")
	writeHumanText(t, human, envInt(t, "TRACEMARK_E2E_HUMAN_TOKENS", harvested.CompletionTokens))
	student := filepath.Join(dir, "student.ngram")
	control := filepath.Join(dir, "control.ngram")
	for _, m := range []struct {
		out    string
		inputs []string
	}{{student, []string{harvest, human}}, {control, []string{human}}} {
		if code, _, stderr := cliRun(t, "", append([]string{"ngram", "train", "--out", m.out, "--field", "text"}, m.inputs...)...); code != 0 {
			t.Fatalf("ngram train: %s", stderr)
		}
	}
	rival := startServe(t, "--no-watermark", "--model-file", student, "--model-name", "rival-1", "--log-dir", filepath.Join(dir, "rival-log"))
	controlSrv := startServe(t, "--no-watermark", "--model-file", control, "--model-name", "rival-1", "--log-dir", filepath.Join(dir, "control-log"))

	// 4. The probe.
	signKey := filepath.Join(dir, "sign.key")
	if code, _, stderr := cliRun(t, "", "evidence", "keygen", "--out", signKey); code != 0 {
		t.Fatalf("evidence keygen: %s", stderr)
	}
	evidenceFile := filepath.Join(dir, "evidence.json")
	res := runProbeJSON(t, -1, "--endpoint", "http://"+rival.addr+"/v1", "--model", "rival-1", "--api", "completions",
		"--prompts", filepath.Join(dir, "probe-prompts.txt"), "--key", keyPath, "--max-tokens", strconv.Itoa(maxTokens),
		"--exclude-from", served, "--out", filepath.Join(dir, "probe-rival"),
		"--evidence", evidenceFile, "--signing-key", signKey)
	pooled := res.Test.Scan.Pooled[0]
	t.Logf("rival: student of %d harvested + %d human tokens (bob), %d probe tokens: pooled log10 p %.1f, payload %s", harvested.CompletionTokens, envInt(t, "TRACEMARK_E2E_HUMAN_TOKENS", harvested.CompletionTokens), res.Collection.CompletionTokens, pooled.Log10P, pooled.Payload)
	identified := map[string]float64{}
	tested := 0
	for _, c := range res.Test.Keys[0].Customers {
		tested++
		t.Logf("customer %v: identified %v, log10 p %.2f (adjusted %.2f)", c.Customers, c.Identified, c.Log10P, c.AdjustedLog10P)
		if c.Identified {
			identified[strings.Join(c.Customers, ",")] = c.AdjustedLog10P
		}
	}
	if pooled.Log10P > -6 {
		t.Fatalf("the student trained on bob's harvest was not detected: log10 p %.2f", pooled.Log10P)
	}
	if _, ok := identified["bob"]; !ok || len(identified) != 1 || tested != 3 {
		t.Fatalf("attribution: identified %v among %d customers tested; want bob alone", identified, tested)
	}

	// The control student: not detected under the provider's key, and
	// uniform p-values under many fresh keys of the default scheme.
	cres := runProbeJSON(t, 1, "--endpoint", "http://"+controlSrv.addr+"/v1", "--model", "rival-1", "--api", "completions",
		"--prompts", filepath.Join(dir, "probe-prompts.txt"), "--key", keyPath, "--max-tokens", strconv.Itoa(maxTokens),
		"--exclude-from", served, "--out", filepath.Join(dir, "probe-control"))
	if lp := cres.Test.Scan.Pooled[0].Log10P; lp < -3 {
		t.Fatalf("control student: log10 p %.2f under the provider's key", lp)
	}
	const nullKeys = 40
	keyDir := filepath.Join(dir, "null-keys")
	os.Mkdir(keyDir, 0o700)
	for i := 0; i < nullKeys; i++ {
		if code, _, stderr := cliRun(t, "", "keygen", "--out", filepath.Join(keyDir, fmt.Sprintf("k%02d.key", i))); code != 0 {
			t.Fatal(stderr)
		}
	}
	nres := runProbeJSON(t, -1, "--endpoint", "http://"+controlSrv.addr+"/v1", "--model", "rival-1", "--api", "completions",
		"--prompts", filepath.Join(dir, "probe-prompts.txt"), "--key", keyDir, "--max-tokens", strconv.Itoa(maxTokens),
		"--exclude-from", served, "--out", filepath.Join(dir, "probe-control"))
	if nres.Collection.Sent != 0 {
		t.Fatalf("the rerun sent %d prompts again", nres.Collection.Sent)
	}
	var ps []float64
	for _, p := range nres.Test.Scan.Pooled {
		ps = append(ps, p.PValue)
	}
	if len(ps) != nullKeys {
		t.Fatalf("%d pooled results for %d keys", len(ps), nullKeys)
	}
	sort.Float64s(ps)
	_, ks := stats.KSUniform(ps)
	t.Logf("control under %d fresh keys: min p %.3g, KS p %.3g", nullKeys, ps[0], ks)
	if ks < 1e-3 || ps[0]*nullKeys < 1e-3 {
		t.Fatalf("control p-values are not uniform: KS p %.3g, min p %.3g", ks, ps[0])
	}

	// 5. The evidence verifies; a tampered copy does not.
	code, vout, stderr := cliRun(t, "", "evidence", "verify", "--public-key", signKey+".pub", "--key", keyPath, evidenceFile)
	if code != 0 || !strings.Contains(vout, "recomputed") || strings.Contains(vout, "not checked") {
		t.Fatalf("evidence verify: exit %d\n%s\n%s", code, vout, stderr)
	}
	t.Logf("evidence verify:\n%s", vout)
	data, err := os.ReadFile(evidenceFile)
	if err != nil {
		t.Fatal(err)
	}
	tampered := regexp.MustCompile(`"log10_p": ?-[0-9.]+`).ReplaceAll(data, []byte(`"log10_p": -99`))
	if bytes.Equal(tampered, data) {
		t.Fatal("no log10_p in the evidence file to tamper with")
	}
	bad := filepath.Join(dir, "tampered.json")
	os.WriteFile(bad, tampered, 0o600)
	if code, _, _ := cliRun(t, "", "evidence", "verify", "--public-key", signKey+".pub", bad); code != 1 {
		t.Fatalf("a tampered evidence file: exit %d, want 1", code)
	}
}

// probeResult is the part of probe --json the end-to-end test reads.
type probeResult struct {
	Collection struct {
		Sent             int `json:"sent"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"collection"`
	Test struct {
		Scan struct {
			Pooled []struct {
				PValue  float64 `json:"p_value"`
				Log10P  float64 `json:"log10_p"`
				Payload string  `json:"payload"`
			} `json:"pooled"`
		} `json:"scan"`
		Keys []struct {
			Customers []struct {
				Customers      []string `json:"customers"`
				Identified     bool     `json:"identified"`
				Log10P         float64  `json:"log10_p"`
				AdjustedLog10P float64  `json:"adjusted_log10_p"`
			} `json:"customers"`
		} `json:"keys"`
	} `json:"test"`
}

// runProbeJSON runs tracemark probe --json and checks its exit code (want < 0:
// any verdict, 0 or 1).
func runProbeJSON(t *testing.T, want int, args ...string) probeResult {
	t.Helper()
	code, out, stderr := cliRun(t, "", append([]string{"probe", "--json"}, args...)...)
	if (want >= 0 && code != want) || code > 1 {
		t.Fatalf("probe: exit %d, want %d\n%s\n%.3000s", code, want, stderr, out)
	}
	var r probeResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("probe --json: %v\n%s", err, out)
	}
	if len(r.Test.Scan.Pooled) == 0 || len(r.Test.Keys) == 0 {
		t.Fatalf("probe --json has no pooled test:\n%s", out)
	}
	return r
}

// complete asks the server one completion with the API key.
func complete(t *testing.T, addr, apiKey, prompt string, seed int) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"model": "tracemark-ngram", "prompt": prompt, "max_tokens": 50, "seed": seed})
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("completion: HTTP %d", resp.StatusCode)
	}
}

// distillPrompts cuts Opticks into sentence openings of ten words: the
// first h for the harvest, the next p (disjoint) for the probe.
func distillPrompts(t *testing.T, h, p int) (harvest, probe []string) {
	t.Helper()
	doc, err := refcorpus.Opticks()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var prompts []string
	for _, s := range regexp.MustCompile(`[.;:?!]\s+`).Split(strings.Join(strings.Fields(doc.Text), " "), -1) {
		w := strings.Fields(s)
		if len(w) < 12 {
			continue
		}
		if p := strings.Join(w[:10], " "); !seen[p] {
			seen[p] = true
			prompts = append(prompts, p)
		}
	}
	if len(prompts) < h+p {
		t.Fatalf("Opticks has %d prompts, %d wanted", len(prompts), h+p)
	}
	return prompts[:h], prompts[h : h+p]
}

// writeHumanText writes Gutenberg books (whole paragraphs) of about
// tokens tokens (4 bytes a token) to path.
func writeHumanText(t *testing.T, path string, tokens int) {
	t.Helper()
	docs, err := refcorpus.Gutenberg()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, d := range docs {
		for _, para := range strings.Split(d.Text, "\n\n") {
			if b.Len() >= 4*tokens {
				break
			}
			b.WriteString(para)
			b.WriteString("\n\n")
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}
