package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// servedProcess is a tracemark serve run in-process by a test.
type servedProcess struct {
	addr   string
	stderr syncBuffer
	cancel context.CancelFunc
	done   chan int
	code   int
}

// startServe runs tracemark serve with args (and an --addr-file of its
// own) in-process until it listens; stop shuts it down as SIGTERM would
// and returns its exit code.
func startServe(t *testing.T, args ...string) *servedProcess {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	ctx, cancel := context.WithCancel(context.Background())
	p := &servedProcess{cancel: cancel, done: make(chan int, 1)}
	var out syncBuffer
	args = append([]string{"tracemark", "serve", "--addr", "127.0.0.1:0", "--addr-file", addrFile}, args...)
	go func() { p.done <- run(ctx, args, strings.NewReader(""), &out, &p.stderr) }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(addrFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			p.addr = strings.TrimSpace(string(b))
			t.Cleanup(func() { p.stop() })
			return p
		}
		select {
		case c := <-p.done:
			cancel()
			t.Fatalf("serve exited %d: %s", c, p.stderr.String())
		default:
		}
	}
	cancel()
	t.Fatalf("serve did not start: %s", p.stderr.String())
	return nil
}

// stop shuts the server down and returns its exit code (once; later
// calls return the same code).
func (p *servedProcess) stop() int {
	p.cancel()
	c, ok := <-p.done
	if ok {
		close(p.done)
		p.code = c
	}
	return p.code
}

// TestNgramTrainAndServeRoundTrip trains a model file with ngram train,
// adds a customer, serves the model watermarked with a payload scheme,
// completes once, and shuts the server down by cancelling its context.
func TestNgramTrainAndServeRoundTrip(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "student.txt")
	os.WriteFile(text, []byte(strings.Repeat("The harvest of the sea was rich that year, and the boats came home full. ", 50)), 0o644)
	jsonl := filepath.Join(dir, "harvest.jsonl")
	os.WriteFile(jsonl, []byte(`{"text":"Completions from the API were saved here."}`+"\n"+`{"text":"Another one, with more words in it."}`+"\n"), 0o644)
	model := filepath.Join(dir, "student.ngram")
	if code, _, stderr := cliRun(t, "", "ngram", "train", "--out", model, text, jsonl); code != 0 || !strings.Contains(stderr, "3 documents") {
		t.Fatalf("ngram train: %d %s", code, stderr)
	}
	if code, _, stderr := cliRun(t, "", "ngram", "train", "--out", model, filepath.Join(dir, "missing.txt")); code != 2 || !strings.Contains(stderr, "missing.txt") {
		t.Fatalf("ngram train of a missing file: %d %s", code, stderr)
	}
	keyPath, _ := newKey(t, "--scheme", "kgw:payload_bits=8")
	creds := filepath.Join(dir, "creds.json")
	code, apiKey, stderr := cliRun(t, "", "serve", "customer", "add", "--credentials", creds, "--id", "acme", "--payload", "2a")
	apiKey = strings.TrimSpace(apiKey)
	if code != 0 || !strings.HasPrefix(apiKey, "tm-") || strings.Contains(stderr, apiKey) {
		t.Fatalf("customer add: %d %q %s", code, apiKey, stderr)
	}
	if data, _ := os.ReadFile(creds); bytes.Contains(data, []byte(apiKey)) {
		t.Fatal("the credentials file holds the API key")
	}
	if code, _, stderr := cliRun(t, "", "serve", "--key", keyPath, "--credentials", creds); code != 2 || !strings.Contains(stderr, "--log-dir") {
		t.Fatalf("serve without --log-dir: %d %s", code, stderr)
	}
	srv := startServe(t, "--key", keyPath, "--credentials", creds, "--log-dir", filepath.Join(dir, "log"), "--model-file", model)
	addr, errb := srv.addr, &srv.stderr
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/completions", strings.NewReader(`{"model":"student","prompt":"The harvest","max_tokens":8}`))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Choices []struct{ Text string } `json:"choices"`
	}
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(r.Choices) != 1 || r.Choices[0].Text == "" {
		t.Fatalf("completion: %d %+v", resp.StatusCode, r)
	}
	// A customer added while serving is unknown until SIGHUP.
	code, key2, _ := cliRun(t, "", "serve", "customer", "add", "--credentials", creds, "--id", "late", "--payload-bits", "8")
	key2 = strings.TrimSpace(key2)
	status := func() int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+key2)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code != 0 || status() != 401 {
		t.Fatalf("late customer before SIGHUP: add exit %d", code)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(errb.String(), "credentials reloaded") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := status(); got != 200 {
		t.Fatalf("late customer after SIGHUP: %d; stderr %s", got, errb.String())
	}
	if c := srv.stop(); c != 0 {
		t.Fatalf("serve exit %d: %s", c, errb.String())
	}
	if !strings.Contains(errb.String(), "1 responses logged") || strings.Contains(errb.String(), apiKey) {
		t.Fatalf("stderr: %s", errb.String())
	}
}
