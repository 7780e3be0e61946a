package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestProbeCommand(t *testing.T) {
	const apiKey = "sk-probe-cli-SECRET-42"
	t.Setenv("PROBE_TEST_KEY", apiKey)
	keyPath, _ := newKey(t)
	keyFile, _ := os.ReadFile(keyPath)
	var secret struct{ Secret string }
	json.Unmarshal(keyFile, &secret)
	dir := t.TempDir()
	prompts := filepath.Join(dir, "prompts.txt")
	os.WriteFile(prompts, []byte("first question\n{\"prompt\": \"second question\"}\n{broken\n"), 0o644)
	words := strings.Fields("the a river house old morning light window road quiet evening garden letter friend winter stone")
	var n atomic.Int64 // the probe sends concurrently
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+apiKey {
			w.WriteHeader(401)
			return
		}
		k := int(n.Add(1))
		var b strings.Builder
		for i := 0; i < 300; i++ {
			b.WriteString(words[(i*7+k*3+i*i)%len(words)] + " ")
		}
		fmt.Fprintf(w, `{"id": "c%d", "choices": [{"index": 0, "message": {"role": "assistant", "content": %q}, "finish_reason": "stop"}], "usage": {"completion_tokens": 300}}`, k, b.String())
	}))
	defer srv.Close()
	out := filepath.Join(dir, "out")
	args := []string{"probe", "--endpoint", srv.URL + "/v1", "--model", "m", "--prompts", prompts, "--key", keyPath,
		"--out", out, "--api-key-env", "PROBE_TEST_KEY", "--json"}
	code, stdout, stderr := cliRun(t, "", args...)
	var res struct {
		Type           string
		BadPromptLines []any `json:"bad_prompt_lines"`
		Collection     struct {
			Answered int
		}
		Test struct {
			Detected bool
			Log10P   float64 `json:"log10_p"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %s %s", err, stdout, stderr)
	}
	// A bad prompt line makes the exit code 2 (it is also named on stderr).
	if code != exitError || res.Type != "probe" || res.Collection.Answered != 2 || len(res.BadPromptLines) != 1 || res.Test.Detected || !strings.Contains(stderr, "prompts.txt:3") {
		t.Errorf("code %d: %s %s", code, stdout, stderr)
	}
	code, stdout, stderr = cliRun(t, "", append(args[:len(args)-1], "--soft-errors-ok")...)
	if code != exitNotFound || !strings.Contains(stdout, "2 answered before, 0 sent now") || !strings.Contains(stdout, "not detected") {
		t.Errorf("rerun: code %d: %s %s", code, stdout, stderr)
	}
	// probe writes what scan reads: scan of DIR/answers.jsonl with the
	// prompts excluded gives the same pooled test.
	plain := filepath.Join(dir, "plain.txt")
	os.WriteFile(plain, []byte("first question\nthird question\n"), 0o644)
	code, stdout, stderr = cliRun(t, "", "probe", "--endpoint", srv.URL+"/v1", "--model", "m", "--prompts", plain, "--key", keyPath,
		"--out", filepath.Join(dir, "out3"), "--api-key-env", "PROBE_TEST_KEY", "--json")
	var pr struct {
		Test struct {
			Log10P float64 `json:"log10_p"`
			Scan   struct {
				Pooled []struct{ Scored int }
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &pr); err != nil || code != exitNotFound {
		t.Fatalf("plain prompts: %d %v %s %s", code, err, stdout, stderr)
	}
	code, stdout, _ = cliRun(t, "", "scan", "--key", keyPath, "--field", "text", "--exclude-ngrams", plain, "--json", filepath.Join(dir, "out3", "answers.jsonl"))
	var sum struct {
		Type   string
		Log10P float64 `json:"pooled_log10_p"`
		Pooled []struct{ Scored int }
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		json.Unmarshal([]byte(line), &sum)
	}
	if code != exitNotFound || sum.Type != "summary" || len(sum.Pooled) != 1 || len(pr.Test.Scan.Pooled) != 1 ||
		sum.Pooled[0].Scored != pr.Test.Scan.Pooled[0].Scored || sum.Log10P != pr.Test.Log10P || sum.Pooled[0].Scored < 20 {
		t.Errorf("scan of the probe's corpus: %d %+v, probe %+v", code, sum, pr.Test)
	}
	for _, s := range []string{apiKey, secret.Secret} {
		if s == "" {
			continue
		}
		if strings.Contains(stdout+stderr, s) {
			t.Errorf("a secret is in the output")
		}
	}
	// An endpoint that always fails: nothing answered is an error, and the
	// summary names the failures.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer bad.Close()
	code, stdout, stderr = cliRun(t, "", "probe", "--endpoint", bad.URL+"/v1", "--model", "m", "--prompts", prompts, "--key", keyPath,
		"--out", filepath.Join(dir, "out2"), "--max-attempts", "2", "--soft-errors-ok")
	if code != exitError || !strings.Contains(stdout, "server_error 2") || !strings.Contains(stdout, "line 1") || !strings.Contains(stderr, "no stored answer") {
		t.Errorf("failing endpoint: code %d: %s %s", code, stdout, stderr)
	}
	if code, _, stderr := cliRun(t, "", "probe", "--endpoint", srv.URL, "--model", "m", "--prompts", prompts, "--key", keyPath,
		"--out", out, "--api-key-env", "PROBE_TEST_UNSET"); code != exitError || !strings.Contains(stderr, "PROBE_TEST_UNSET is not set") {
		t.Errorf("unset key variable: %d %s", code, stderr)
	}
}
