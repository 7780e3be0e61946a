package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testKey = "sk-test-SECRET-0123456789abcdef"

// chatBody is an OpenAI chat completion answering text.
func chatBody(text string, tokens int) []byte {
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": text}}},
		"usage": map[string]any{"prompt_tokens": 3, "completion_tokens": tokens, "total_tokens": tokens + 3},
	})
	return b
}

func promptsOf(n int) []Prompt {
	var ps []Prompt
	for i := 0; i < n; i++ {
		p := Prompt{Line: i + 1, Prompt: fmt.Sprintf("prompt number %d", i)}
		p.ID = PromptID(true, &p)
		ps = append(ps, p)
	}
	return ps
}

func fastConfig(url, dir string) Config {
	return Config{Endpoint: url + "/v1", Model: "m", APIKey: testKey, Dir: dir, Concurrency: 1, MaxAttempts: 4,
		Timeout: 2 * time.Second, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxRetryAfter: 2 * time.Second}
}

// promptOf returns the user message of a chat request.
func promptOf(r *http.Request) string {
	var req struct {
		Messages []Message `json:"messages"`
	}
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &req)
	if len(req.Messages) == 0 {
		return ""
	}
	return req.Messages[len(req.Messages)-1].Content
}

func TestFailuresAreNamed(t *testing.T) {
	cases := []struct {
		name     string
		handler  func(n int, w http.ResponseWriter, r *http.Request)
		kind     FailureKind // "" = answered
		requests int
		timeout  time.Duration
	}{
		{"hang", func(n int, w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // the server notices a closed connection only after the body
			<-r.Context().Done()
		}, FailTimeout, 4, 50 * time.Millisecond},
		{"closes mid-body", func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			w.Write([]byte(`{"choices": [{"message": {"content": "cut`))
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, FailTruncated, 4, 0},
		{"429 with Retry-After, then an answer", func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(429)
				w.Write([]byte(`{"error": {"message": "slow down", "type": "rate_limit"}}`))
				return
			}
			w.Write(chatBody("fine", 1))
		}, "", 2, 0},
		{"500 three times, then an answer", func(n int, w http.ResponseWriter, r *http.Request) {
			if n <= 3 {
				w.WriteHeader(500)
				return
			}
			w.Write(chatBody("fine", 1))
		}, "", 4, 0},
		{"always 503", func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, FailServer, 4, 0},
		{"HTML error page", func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html><head><title>502 Bad Gateway</title></head></html>"))
		}, FailHTML, 4, 0},
		{"not JSON", func(n int, w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }, FailNonJSON, 4, 0},
		{"empty choices", func(n int, w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"id": "x", "choices": []}`)) }, FailNoChoices, 1, 0},
		{"200 with an error body", func(n int, w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"error": {"message": "overloaded", "type": "server_error"}}`))
		}, FailErrorBody, 4, 0},
		{"401", func(n int, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
			w.Write([]byte(`{"error": {"message": "bad key ` + r.Header.Get("Authorization") + `", "type": "invalid_request_error"}}`))
		}, FailClient, 1, 0},
		{"no text in the choice", func(n int, w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"choices": [{"index": 0}]}`)) }, FailBadShape, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c.handler(int(n.Add(1)), w, r)
			}))
			defer srv.Close()
			cfg := fastConfig(srv.URL, t.TempDir())
			if c.timeout > 0 {
				cfg.Timeout = c.timeout
			}
			start := time.Now()
			col, err := Collect(context.Background(), cfg, promptsOf(1))
			if err != nil {
				t.Fatal(err)
			}
			if int(n.Load()) != c.requests || col.Requests != c.requests {
				t.Errorf("server got %d requests, probe counted %d, want %d", n.Load(), col.Requests, c.requests)
			}
			if c.kind == "" {
				if col.Answered != 1 || len(col.Failed) != 0 {
					t.Errorf("not answered: %+v", col)
				}
				if strings.HasPrefix(c.name, "429") && time.Since(start) < 900*time.Millisecond {
					t.Errorf("Retry-After: 1 not honoured (%v)", time.Since(start))
				}
				return
			}
			if col.Answered != 0 || len(col.Failed) != 1 || col.Failed[0].Kind != c.kind || col.FailedByKind[c.kind] != 1 {
				t.Fatalf("want one %s failure: %+v", c.kind, col)
			}
			f := col.Failed[0]
			if f.Line != 1 || f.Attempts != c.requests || f.Message == "" {
				t.Errorf("failure: %+v", f)
			}
			if strings.Contains(f.Message, testKey) {
				t.Errorf("the API key is in the failure message: %q", f.Message)
			}
			if _, err := Test(context.Background(), cfg.Dir, TestConfig{Schemes: testSchemes(t, "kgw"), Tokenizer: testTok(t)}); err != ErrNoAnswers {
				t.Errorf("test of a probe without answers: %v, want ErrNoAnswers", err)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	col, err := Collect(context.Background(), fastConfig(url, t.TempDir()), promptsOf(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(col.Failed) != 2 || col.FailedByKind[FailConnection] != 2 || col.Requests != 8 {
		t.Errorf("%+v", col)
	}
}

// TestAPIKeyNeverStored: a server that echoes the Authorization header in
// its answers and errors; the key must be nowhere in the directory or the
// results.
func TestAPIKeyNeverStored(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth != "Bearer "+testKey {
			w.WriteHeader(401)
			return
		}
		if n.Add(1)%2 == 0 {
			w.WriteHeader(400)
			w.Write([]byte(`{"error": {"message": "you sent ` + auth + `"}}`))
			return
		}
		w.Write(chatBody("the header was "+auth, 5))
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := fastConfig(srv.URL, dir)
	res, err := Run(context.Background(), cfg, Prompts{Prompts: promptsOf(4)}, "prompts.txt",
		TestConfig{Schemes: testSchemes(t, "kgw"), Tokenizer: testTok(t)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Collection.Answered != 2 || len(res.Collection.Failed) != 2 {
		t.Fatalf("%+v", res.Collection)
	}
	out, _ := json.Marshal(res)
	if strings.Contains(string(out), testKey) {
		t.Error("the API key is in the result")
	}
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(path)
			if strings.Contains(string(b), testKey) {
				t.Errorf("the API key is in %s", path)
			}
		}
		return nil
	})
}

// countingServer answers every prompt and counts requests per prompt.
type countingServer struct {
	mu     sync.Mutex
	counts map[string]int
	hang   string // a prompt whose request never gets an answer
}

func (c *countingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := promptOf(r)
	c.mu.Lock()
	c.counts[p]++
	hang := p == c.hang
	c.mu.Unlock()
	if hang {
		<-r.Context().Done()
		return
	}
	w.Write(chatBody("an answer to "+p, 10))
}

func TestResumeSendsNothingTwice(t *testing.T) {
	cs := &countingServer{counts: map[string]int{}}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	dir := t.TempDir()
	ps := promptsOf(10)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := fastConfig(srv.URL, dir)
	cfg.Progress = func(e Event) {
		if e.TotalAnswered == 4 {
			cancel() // the "kill" after 4 answers
		}
	}
	col, err := Collect(ctx, cfg, ps)
	if err == nil || !col.Canceled || col.Answered != 4 || col.NotSent != 6 {
		t.Fatalf("first run: %v %+v", err, col)
	}
	cfg.Progress = nil
	cfg.Concurrency = 3
	col, err = Collect(context.Background(), cfg, ps)
	if err != nil || col.AlreadyAnswered != 4 || col.Answered != 6 || col.TotalAnswered != 10 || col.Sent != 6 {
		t.Fatalf("second run: %v %+v", err, col)
	}
	col, err = Collect(context.Background(), cfg, ps)
	if err != nil || col.Sent != 0 || col.AlreadyAnswered != 10 {
		t.Fatalf("third run: %v %+v", err, col)
	}
	for p, n := range cs.counts {
		if n != 1 {
			t.Errorf("%q was sent %d times", p, n)
		}
	}
	if len(cs.counts) != 10 {
		t.Errorf("%d prompts reached the server", len(cs.counts))
	}
	// A damaged answer is sent again.
	answers, _, _ := LoadAnswers(dir)
	os.WriteFile(filepath.Join(dir, "answers", answers[0].ID+".response.json"), []byte("{}"), 0o600)
	col, err = Collect(context.Background(), cfg, ps)
	if err != nil || col.Damaged != 1 || col.Sent != 1 || col.TotalAnswered != 10 {
		t.Errorf("damaged answer: %v %+v", err, col)
	}
	// Another model into the same directory is refused.
	cfg.Model = "other"
	if _, err := Collect(context.Background(), cfg, ps); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("another model in the same directory: %v", err)
	}
}

func TestInterruptedRequestIsReported(t *testing.T) {
	ps := promptsOf(3)
	cs := &countingServer{counts: map[string]int{}, hang: ps[1].Prompt}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	dir := t.TempDir()
	cfg := fastConfig(srv.URL, dir)
	cfg.Timeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			cs.mu.Lock()
			n := cs.counts[ps[1].Prompt]
			cs.mu.Unlock()
			if n > 0 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	col, err := Collect(ctx, cfg, ps)
	if err == nil || col.Answered != 1 {
		t.Fatalf("%v %+v", err, col)
	}
	cs.mu.Lock()
	cs.hang = ""
	cs.mu.Unlock()
	col, err = Collect(context.Background(), cfg, ps)
	if err != nil || col.Interrupted != 1 || col.Answered != 2 || col.TotalAnswered != 3 {
		t.Errorf("%v %+v", err, col)
	}
}

func TestBudgetStops(t *testing.T) {
	cs := &countingServer{counts: map[string]int{}}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	cfg := fastConfig(srv.URL, t.TempDir())
	cfg.BudgetTokens = 35 // 10 per answer
	col, err := Collect(context.Background(), cfg, promptsOf(10))
	if err != nil || !col.BudgetReached || col.Answered != 4 || col.CompletionTokens != 40 || col.NotSent != 6 {
		t.Errorf("%v %+v", err, col)
	}
	// The rerun counts the stored tokens: nothing more is sent.
	col, err = Collect(context.Background(), cfg, promptsOf(10))
	if err != nil || col.Sent != 0 || !col.BudgetReached {
		t.Errorf("rerun: %v %+v", err, col)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "0.5": 500 * time.Millisecond, "-1": 0, "soon": 0,
		"Thu, 01 Jan 2026 00:00:10 GMT": 10 * time.Second,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

func TestReadPrompts(t *testing.T) {
	in := "plain prompt\n\n{\"prompt\": \"json prompt\", \"id\": \"q2\"}\n{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \"hi\"}]}\n" +
		"{bad json\n{\"other\": 1}\nplain prompt\n\xff\xfe\n"
	ps, err := ReadPrompts(strings.NewReader(in), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps.Prompts) != 3 || ps.Duplicates != 1 || len(ps.Bad) != 3 || ps.Bad[0].Line != 5 || ps.Bad[2].Line != 8 {
		t.Fatalf("%+v", ps)
	}
	if ps.Prompts[1].Name != "q2" || len(ps.Prompts[2].Messages) != 2 || ps.Bytes != int64(len(in)) {
		t.Errorf("%+v", ps.Prompts)
	}
	ps, _ = ReadPrompts(strings.NewReader(in), false)
	if len(ps.Prompts) != 2 || len(ps.Bad) != 4 {
		t.Errorf("completions: %+v", ps)
	}
}

func FuzzReadPrompts(f *testing.F) {
	f.Add([]byte("a\nb\n"))
	f.Add([]byte(`{"prompt": "x"}` + "\n" + `{"messages": [{"role": "user", "content": "y"}]}`))
	f.Add([]byte("{\"id\": 3, \"prompt\": \"\"}\r\n\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := ReadPrompts(strings.NewReader(string(data)), true)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps.Prompts {
			if p.ID == "" || p.Line < 1 || (p.Prompt == "" && p.Messages == nil) {
				t.Fatalf("bad prompt %+v", p)
			}
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(chatBody("hello", 1)), "application/json")
	f.Add([]byte(`{"choices": [{"text": "x"}], "usage": {"completion_tokens": -3}}`), "")
	f.Add([]byte(`{"error": "busy"}`), "")
	f.Add([]byte(`<html><title>x</title>`), "text/html")
	f.Add([]byte(`{"choices": [{"message": {"content": null}}]}`), "")
	cfg := Config{APIKey: testKey}
	cl := &client{cfg: &cfg, redact: cfg.redactor()}
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {ctype}}}
		r, e := cl.parse(resp, body)
		switch {
		case (r == nil) == (e == nil):
			t.Fatalf("reply %v and error %v", r, e)
		case e != nil && (e.kind == "" || e.msg == ""):
			t.Fatalf("unnamed failure %+v", e)
		case r != nil && (len(r.texts) == 0 || len(r.texts) != len(r.finish) || r.completionTokens < 0):
			t.Fatalf("bad reply %+v", r)
		}
		if e != nil && strings.Contains(e.msg, testKey) {
			t.Fatal("the key is in a message")
		}
	})
}

func TestTornJournalLine(t *testing.T) {
	cs := &countingServer{counts: map[string]int{}}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	dir := t.TempDir()
	cfg := fastConfig(srv.URL, dir)
	ps := promptsOf(3)
	if _, err := Collect(context.Background(), cfg, ps[:2]); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(filepath.Join(dir, "journal.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time": "2026-01-01T00:00:00Z", "event": "inte`) // a crash mid-write
	f.Close()
	col, err := Collect(context.Background(), cfg, ps)
	if err != nil || col.AlreadyAnswered != 2 || col.Answered != 1 || len(cs.counts) != 3 {
		t.Errorf("%v %+v", err, col)
	}
	last, err := readJournal(dir)
	if err != nil || last[ps[2].ID] != "answer" {
		t.Errorf("the event after the torn line was lost: %v %v", err, last)
	}
}

// TestOfflineSendsNothing: Offline counts the stored answers and sends
// no request, and refuses a directory that is no probe directory.
func TestOfflineSendsNothing(t *testing.T) {
	cs := &countingServer{counts: map[string]int{}}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	cfg := fastConfig(srv.URL, t.TempDir())
	if _, err := Collect(context.Background(), cfg, promptsOf(3)); err != nil {
		t.Fatal(err)
	}
	cfg.Offline = true
	col, err := Collect(context.Background(), cfg, promptsOf(5))
	total := 0
	cs.mu.Lock()
	for _, n := range cs.counts {
		total += n
	}
	cs.mu.Unlock()
	if err != nil || total != 3 || col.Sent != 0 || col.AlreadyAnswered != 3 || col.NotSent != 2 || col.TotalAnswered != 3 || col.CompletionTokens != 30 {
		t.Fatalf("offline: %v, %d requests in all, %+v", err, total, col)
	}
	cfg.Dir = t.TempDir()
	if _, err := Collect(context.Background(), cfg, promptsOf(1)); err == nil {
		t.Fatal("offline on an empty directory: no error")
	}
}
