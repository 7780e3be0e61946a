package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/serve/servelog"
	"github.com/tracemark/tracemark/watermark"
)

var (
	builtinOnce  sync.Once
	builtinModel *ngram.Model
	builtinErr   error
)

// testBackend is the built-in model (trained and cached on first use).
func testBackend(t testing.TB) Backend {
	t.Helper()
	builtinOnce.Do(func() { builtinModel, _, builtinErr = ngram.Builtin(context.Background(), ngram.CacheDir()) })
	if builtinErr != nil {
		t.Fatal(builtinErr)
	}
	b, err := NewNgramBackend("tracemark-ngram", builtinModel)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testKey returns a key and scheme for spec.
func testScheme(t testing.TB, spec string) watermark.Scheme {
	t.Helper()
	cfg, err := watermark.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	key, err := watermark.GenerateKey(cfg, ngram.BuiltinTokenizer)
	if err != nil {
		t.Fatal(err)
	}
	s, err := watermark.NewScheme(key, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is a running test server with its customers' API keys.
type fixture struct {
	srv    *Server
	url    string
	logDir string
	log    *servelog.Writer
	keys   map[string]string // customer ID -> API key
	creds  string
}

// newFixture starts a server with customers A (payload 1), B (payload 2,
// rpm/tpm as given) and T (trusted, payload 3). mod may change the config.
func newFixture(t testing.TB, scheme watermark.Scheme, mod func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{logDir: filepath.Join(dir, "log"), keys: map[string]string{}, creds: filepath.Join(dir, "creds.json")}
	for _, c := range []Customer{{ID: "A", Payload: "1"}, {ID: "B", Payload: "2"}, {ID: "T", Trusted: true, Payload: "3"}} {
		key, _, err := AddCustomer(f.creds, c, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[c.ID] = key
	}
	cfg := Config{Backends: []Backend{testBackend(t)}, Scheme: scheme, CredentialsPath: f.creds}
	if mod != nil {
		mod(&cfg)
	}
	if cfg.Log == nil {
		w, err := servelog.Create(f.logDir, servelog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Log = w
	}
	f.log = cfg.Log
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); f.log.Close() })
	f.url = hs.URL
	return f
}

// post sends a JSON body as customer id ("" for no credentials).
func (f *fixture) post(t testing.TB, path, id, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if id != "" {
		req.Header.Set("Authorization", "Bearer "+f.keys[id])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// records reads the whole served-output log.
func (f *fixture) records(t testing.TB) []servelog.Record {
	t.Helper()
	var out []servelog.Record
	if _, err := os.Stat(f.logDir); err != nil {
		return nil
	}
	st, err := servelog.Read(context.Background(), f.logDir, func(r servelog.Record) error { out = append(out, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.BadLines != 0 {
		t.Fatalf("log has bad lines: %v", st.Errors)
	}
	return out
}

// errorBody checks OpenAI's error shape and returns the error object.
func errorBody(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var e struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error == nil {
		t.Fatalf("not an OpenAI error body: %s", b)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := e.Error[k]; !ok {
			t.Fatalf("error body lacks %q: %s", k, b)
		}
	}
	if m, _ := e.Error["message"].(string); m == "" {
		t.Fatalf("error without a message: %s", b)
	}
	return e.Error
}

func TestChatCompletionShapeUsageAndLog(t *testing.T) {
	scheme := testScheme(t, "kgw:payload_bits=8")
	f := newFixture(t, scheme, nil)
	resp, b := f.post(t, "/v1/chat/completions", "B", `{"model":"tracemark-ngram","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Tell me of the sea."}]}],"max_tokens":40,"n":2,"seed":7}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var r chatResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Object != "chat.completion" || !strings.HasPrefix(r.ID, "chatcmpl-") || r.Model != "tracemark-ngram" || len(r.Choices) != 2 || r.Created == 0 {
		t.Fatalf("bad response: %s", b)
	}
	recs := f.records(t)
	if len(recs) != 1 {
		t.Fatalf("%d log records, want 1", len(recs))
	}
	rec := recs[0]
	if rec.RequestID != r.ID || rec.Customer != "B" || rec.Endpoint != "chat.completions" || !rec.Watermarked ||
		rec.KeyID != scheme.KeyID() || rec.Scheme != scheme.Spec() || rec.Payload != "2" || rec.Tokenizer != "o200k_base" {
		t.Fatalf("bad record: %+v", rec)
	}
	tok := testBackend(t).Tokenizer()
	want, _ := tok.AppendEncode(nil, "System: Be brief.\n\nUser: Tell me of the sea.\n\nAssistant:")
	if fmt.Sprint(rec.PromptTokens) != fmt.Sprint(want) {
		t.Fatalf("logged prompt %v, want the chat template's %v", rec.PromptTokens, want)
	}
	completion := 0
	for i, c := range r.Choices {
		if c.Index != i || c.Message.Role != "assistant" || c.FinishReason != "length" {
			t.Fatalf("choice %d: %+v", i, c)
		}
		if len(rec.Completions[i]) != 40 {
			t.Fatalf("choice %d: %d tokens logged, want 40", i, len(rec.Completions[i]))
		}
		text, err := tok.Decode(rec.Completions[i])
		if err != nil {
			t.Fatal(err)
		}
		if strings.ToValidUTF8(text, "") != strings.ToValidUTF8(c.Message.Content, "") && !strings.HasPrefix(text, c.Message.Content) {
			t.Fatalf("choice %d: sent %q, logged tokens decode to %q", i, c.Message.Content, text)
		}
		completion += len(rec.Completions[i])
	}
	if r.Usage.PromptTokens != len(want) || r.Usage.CompletionTokens != completion || r.Usage.TotalTokens != len(want)+completion {
		t.Fatalf("usage %+v, want prompt %d completion %d", r.Usage, len(want), completion)
	}
	// The same seed gives the same completions.
	_, b2 := f.post(t, "/v1/chat/completions", "B", `{"model":"tracemark-ngram","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Tell me of the sea."}],"max_tokens":40,"n":2,"seed":7}`)
	var r2 chatResponse
	json.Unmarshal(b2, &r2)
	if r2.Choices[0].Message.Content != r.Choices[0].Message.Content {
		t.Fatalf("seed 7 gave different completions:\n%q\n%q", r.Choices[0].Message.Content, r2.Choices[0].Message.Content)
	}
}

// sseEvents reads an SSE body: the data of each event, in order.
func sseEvents(t testing.TB, body []byte) []string {
	t.Helper()
	var out []string
	if !bytes.HasSuffix(body, []byte("data: [DONE]\n\n")) {
		t.Fatalf("stream does not end with data: [DONE]: %q", tail(body))
	}
	for _, ev := range strings.Split(strings.TrimSuffix(string(body), "\n\n"), "\n\n") {
		if !strings.HasPrefix(ev, "data: ") || strings.Contains(ev, "\n") {
			t.Fatalf("bad SSE event %q", ev)
		}
		out = append(out, strings.TrimPrefix(ev, "data: "))
	}
	return out
}

func tail(b []byte) []byte {
	if len(b) > 200 {
		return b[len(b)-200:]
	}
	return b
}

func TestStreamingMatchesNonStreaming(t *testing.T) {
	f := newFixture(t, testScheme(t, "kgw"), nil)
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"tracemark-ngram","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":30,"seed":11,"n":2%s}`},
		{"/v1/completions", `{"model":"tracemark-ngram","prompt":["Once upon a time","The sea"],"max_tokens":30,"seed":11,"n":2%s}`},
	} {
		resp, plain := f.post(t, tc.path, "A", fmt.Sprintf(tc.body, ""))
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tc.path, resp.StatusCode, plain)
		}
		resp, streamed := f.post(t, tc.path, "A", fmt.Sprintf(tc.body, `,"stream":true,"stream_options":{"include_usage":true}`))
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("%s stream: %d %s %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), streamed)
		}
		events := sseEvents(t, streamed)
		if events[len(events)-1] != "[DONE]" {
			t.Fatal("no [DONE]")
		}
		texts := map[int]string{}
		finished := map[int]string{}
		var id string
		var gotUsage *usage
		for i, ev := range events[:len(events)-1] {
			var c struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Choices []struct {
					Index int `json:"index"`
					Text  *string
					Delta *struct {
						Role    string  `json:"role"`
						Content *string `json:"content"`
					} `json:"delta"`
					FinishReason *string `json:"finish_reason"`
				} `json:"choices"`
				Usage *usage `json:"usage"`
			}
			if err := json.Unmarshal([]byte(ev), &c); err != nil {
				t.Fatalf("event %d: %v: %s", i, err, ev)
			}
			if id == "" {
				id = c.ID
			}
			wantObj := "text_completion"
			if tc.path == "/v1/chat/completions" {
				wantObj = "chat.completion.chunk"
			}
			if c.ID != id || c.Object != wantObj {
				t.Fatalf("event %d: id %q object %q", i, c.ID, c.Object)
			}
			if c.Usage != nil {
				if i != len(events)-2 || len(c.Choices) != 0 {
					t.Fatalf("usage chunk not last or with choices: %s", ev)
				}
				gotUsage = c.Usage
			}
			for _, ch := range c.Choices {
				if finished[ch.Index] != "" {
					t.Fatalf("choice %d continues after its finish_reason", ch.Index)
				}
				if ch.Text != nil {
					texts[ch.Index] += *ch.Text
				}
				if ch.Delta != nil && ch.Delta.Content != nil {
					texts[ch.Index] += *ch.Delta.Content
				}
				if ch.FinishReason != nil {
					finished[ch.Index] = *ch.FinishReason
				}
			}
		}
		if gotUsage == nil || gotUsage.CompletionTokens == 0 {
			t.Fatalf("%s: no usage chunk", tc.path)
		}
		var whole struct {
			Choices []struct {
				Index   int    `json:"index"`
				Text    string `json:"text"`
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
			Usage usage `json:"usage"`
		}
		if err := json.Unmarshal(plain, &whole); err != nil {
			t.Fatal(err)
		}
		if len(whole.Choices) != len(texts) {
			t.Fatalf("%s: %d choices plain, %d streamed", tc.path, len(whole.Choices), len(texts))
		}
		for _, ch := range whole.Choices {
			want := ch.Text + ch.Message.Content
			if texts[ch.Index] != want || finished[ch.Index] != ch.FinishReason {
				t.Fatalf("%s choice %d: streamed %q (%s), plain %q (%s)", tc.path, ch.Index, texts[ch.Index], finished[ch.Index], want, ch.FinishReason)
			}
		}
		if *gotUsage != whole.Usage {
			t.Fatalf("%s: streamed usage %+v, plain %+v", tc.path, *gotUsage, whole.Usage)
		}
	}
	// One record per prompt: chat 1+1, completions 2+2.
	if n := len(f.records(t)); n != 6 {
		t.Fatalf("%d log records, want 6", n)
	}
}

func TestStopSequences(t *testing.T) {
	f := newFixture(t, testScheme(t, "kgw"), nil)
	var sent []string
	for seed := 0; seed < 5; seed++ {
		_, b := f.post(t, "/v1/completions", "A", fmt.Sprintf(`{"model":"tracemark-ngram","prompt":"It was the best of times","max_tokens":200,"seed":%d,"stop":[".", "\n"]}`, seed))
		var r completionResponse
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		c := r.Choices[0]
		sent = append(sent, c.Text)
		if strings.ContainsAny(c.Text, ".\n") {
			t.Fatalf("text holds a stop sequence: %q", c.Text)
		}
		if *c.FinishReason != "stop" {
			t.Fatalf("finish_reason %s after 200 tokens without a period: %q", *c.FinishReason, c.Text)
		}
		if r.Usage.CompletionTokens >= 200 {
			t.Fatalf("completion_tokens %d", r.Usage.CompletionTokens)
		}
	}
	recs := f.records(t)
	tok := testBackend(t).Tokenizer()
	for i, rec := range recs {
		// The logged tokens cover the text sent: the tokens before the
		// stop sequence, and the one it begins in if it begins mid-token.
		text, _ := tok.Decode(rec.Completions[0])
		if !strings.HasPrefix(text, sent[i]) || len(text) > len(sent[i]) && !strings.ContainsAny(text[len(sent[i]):], ".\n") {
			t.Fatalf("logged tokens decode to %q, sent %q", text, sent[i])
		}
	}
}

func TestModelsEndpoint(t *testing.T) {
	f := newFixture(t, nil, nil)
	get := func(path, id string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, f.url+path, nil)
		if id != "" {
			req.Header.Set("Authorization", "Bearer "+f.keys[id])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, b := get("/v1/models", "A")
	var list struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}
	if json.Unmarshal(b, &list); code != 200 || list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != "tracemark-ngram" || list.Data[0].Object != "model" {
		t.Fatalf("%d %s", code, b)
	}
	if code, b = get("/v1/models/tracemark-ngram", "A"); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	if code, b = get("/v1/models/gpt-9", "A"); code != 404 || errorBody(t, b)["code"] != "model_not_found" {
		t.Fatalf("%d %s", code, b)
	}
	if code, b = get("/v1/models", ""); code != 401 {
		t.Fatalf("%d %s", code, b)
	}
	if code, b = get("/healthz", ""); code != 200 || !strings.Contains(string(b), `"ok"`) {
		t.Fatalf("%d %s", code, b)
	}
}

func TestErrorsInOpenAIShape(t *testing.T) {
	f := newFixture(t, testScheme(t, "kgw"), func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	const m = `"model":"tracemark-ngram"`
	cases := []struct {
		name, method, path, id, body string
		status                       int
		typ, param, code             string
	}{
		{"malformed JSON", "POST", "/v1/chat/completions", "A", `{"model":`, 400, typeInvalidRequest, "", ""},
		{"not an object", "POST", "/v1/chat/completions", "A", `[1,2]`, 400, typeInvalidRequest, "", ""},
		{"empty body", "POST", "/v1/completions", "A", ``, 400, typeInvalidRequest, "", ""},
		{"trailing garbage", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x"} {}`, 400, typeInvalidRequest, "", ""},
		{"wrong type", "POST", "/v1/chat/completions", "A", `{` + m + `,"messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, 400, typeInvalidRequest, "temperature", ""},
		{"no messages", "POST", "/v1/chat/completions", "A", `{` + m + `,"messages":[]}`, 400, typeInvalidRequest, "messages", ""},
		{"bad role", "POST", "/v1/chat/completions", "A", `{` + m + `,"messages":[{"role":"wizard","content":"x"}]}`, 400, typeInvalidRequest, "messages[0].role", ""},
		{"image part", "POST", "/v1/chat/completions", "A", `{` + m + `,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 400, typeInvalidRequest, "messages[0].content[0]", ""},
		{"no prompt", "POST", "/v1/completions", "A", `{` + m + `}`, 400, typeInvalidRequest, "prompt", ""},
		{"bad prompt", "POST", "/v1/completions", "A", `{` + m + `,"prompt":{"a":1}}`, 400, typeInvalidRequest, "prompt", ""},
		{"token out of vocabulary", "POST", "/v1/completions", "A", `{` + m + `,"prompt":[1,2,999999]}`, 400, typeInvalidRequest, "prompt", ""},
		{"max_tokens 0", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x","max_tokens":0}`, 400, typeInvalidRequest, "max_tokens", ""},
		{"max_tokens negative", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x","max_tokens":-5}`, 400, typeInvalidRequest, "max_tokens", ""},
		{"max_tokens huge", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x","max_tokens":1000000000000}`, 400, typeInvalidRequest, "max_tokens", ""},
		{"max_tokens beyond int64", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x","max_tokens":1e30}`, 400, typeInvalidRequest, "max_tokens", ""},
		{"max_completion_tokens huge", "POST", "/v1/chat/completions", "A", `{` + m + `,"messages":[{"role":"user","content":"x"}],"max_completion_tokens":99999999}`, 400, typeInvalidRequest, "max_completion_tokens", ""},
		{"n 0", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x","n":0}`, 400, typeInvalidRequest, "n", ""},
		{"n huge", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x","n":100000}`, 400, typeInvalidRequest, "n", ""},
		{"temperature 3", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x","temperature":3}`, 400, typeInvalidRequest, "temperature", ""},
		{"top_p 2", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x","top_p":2}`, 400, typeInvalidRequest, "top_p", ""},
		{"stop number", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x","stop":5}`, 400, typeInvalidRequest, "stop", ""},
		{"too many stops", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x","stop":["a","b","c","d","e"]}`, 400, typeInvalidRequest, "stop", ""},
		{"stream_options without stream", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"x","stream_options":{"include_usage":true}}`, 400, typeInvalidRequest, "stream_options", ""},
		{"no model", "POST", "/v1/completions", "A", `{"prompt":"x"}`, 400, typeInvalidRequest, "model", ""},
		{"unknown model", "POST", "/v1/chat/completions", "A", `{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}`, 404, typeInvalidRequest, "model", "model_not_found"},
		{"unknown URL", "POST", "/v1/embeddings", "A", `{}`, 404, typeInvalidRequest, "", "unknown_url"},
		{"GET completions", "GET", "/v1/completions", "A", ``, 405, typeInvalidRequest, "", "method_not_allowed"},
		{"POST models", "POST", "/v1/models", "A", `{}`, 405, typeInvalidRequest, "", "method_not_allowed"},
		{"no credentials", "POST", "/v1/completions", "", `{` + m + `,"prompt":"x"}`, 401, typeInvalidRequest, "", "missing_api_key"},
		{"wrong credentials", "POST", "/v1/completions", "nobody", `{` + m + `,"prompt":"x"}`, 401, typeInvalidRequest, "", "invalid_api_key"},
		{"huge body", "POST", "/v1/completions", "A", `{` + m + `,"prompt":"` + strings.Repeat("a", 100<<10) + `"}`, 413, typeInvalidRequest, "", "request_too_large"},
		{"prompt too long", "POST", "/v1/completions", "A", `{` + m + `,"prompt":[` + strings.Repeat("1,", 40000) + `1]}`, 413, typeInvalidRequest, "", "request_too_large"},
	}
	f.keys["nobody"] = "tm-not-a-real-key"
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, f.url+tc.path, strings.NewReader(tc.body))
		if tc.id != "" {
			req.Header.Set("Authorization", "Bearer "+f.keys[tc.id])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.StatusCode, tc.status, b)
			continue
		}
		e := errorBody(t, b)
		param, _ := e["param"].(string)
		code, _ := e["code"].(string)
		if e["type"] != tc.typ || param != tc.param || (tc.code != "" && code != tc.code) {
			t.Errorf("%s: error %v, want type %s param %q code %q", tc.name, e, tc.typ, tc.param, tc.code)
		}
		if tc.status == 405 && resp.Header.Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow", tc.name)
		}
	}
	if n := len(f.records(t)); n != 0 {
		t.Fatalf("%d records logged for failed requests", n)
	}
}

func TestPromptTooLongIs400(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.Limits.MaxPromptTokens = 10 })
	resp, b := f.post(t, "/v1/completions", "A", `{"model":"tracemark-ngram","prompt":"`+strings.Repeat("word ", 50)+`"}`)
	if resp.StatusCode != 400 || errorBody(t, b)["code"] != "context_length_exceeded" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestOddButValidInputIsServed(t *testing.T) {
	f := newFixture(t, testScheme(t, "kgw"), func(c *Config) { c.Limits.MaxTokens = 64 })
	for name, body := range map[string]string{
		"unknown fields":         `{"model":"tracemark-ngram","prompt":"x","frobnicate":{"deep":[1,2]},"logprobs":3,"user":"u1","echo":false}`,
		"invalid UTF-8":          "{\"model\":\"tracemark-ngram\",\"prompt\":\"caf\xc3 \xff\xfe end\",\"max_tokens\":5}",
		"escaped lone surrogate": `{"model":"tracemark-ngram","prompt":"a\ud800b","max_tokens":5}`,
		"NUL in prompt":          `{"model":"tracemark-ngram","prompt":"a\u0000b","max_tokens":5}`,
		"empty prompt":           `{"model":"tracemark-ngram","prompt":"","max_tokens":5}`,
		"token prompt":           `{"model":"tracemark-ngram","prompt":[1,2,3,4,5],"max_tokens":5}`,
		"token prompts":          `{"model":"tracemark-ngram","prompt":[[1,2],[3,4]],"max_tokens":5}`,
		"max_tokens max":         `{"model":"tracemark-ngram","prompt":"x","max_tokens":64,"stop":"\u0000never"}`,
		"top_p 0":                `{"model":"tracemark-ngram","prompt":"x","top_p":0,"max_tokens":5}`,
		"temperature 0":          `{"model":"tracemark-ngram","prompt":"x","temperature":0,"max_tokens":5}`,
		"null fields":            `{"model":"tracemark-ngram","prompt":"x","max_tokens":null,"stop":null,"n":null,"seed":null}`,
		"negative seed":          `{"model":"tracemark-ngram","prompt":"x","seed":-1,"max_tokens":3}`,
		"chat null content":      `{"model":"tracemark-ngram","messages":[{"role":"assistant","content":null},{"role":"user","content":"hi"}],"max_tokens":3}`,
	} {
		path := "/v1/completions"
		if strings.Contains(body, "messages") {
			path = "/v1/chat/completions"
		}
		resp, b := f.post(t, path, "A", body)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", name, resp.StatusCode, b)
			continue
		}
		if !json.Valid(b) {
			t.Errorf("%s: response is not JSON", name)
		}
	}
}

func TestRateLimits(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.RequestsPerMinute = 2; c.TokensPerMinute = 1000 })
	body := `{"model":"tracemark-ngram","prompt":"x","max_tokens":5}`
	for i := 0; i < 2; i++ {
		if resp, b := f.post(t, "/v1/completions", "A", body); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
	}
	resp, b := f.post(t, "/v1/completions", "A", body)
	if resp.StatusCode != 429 || errorBody(t, b)["type"] != typeRateLimit {
		t.Fatalf("third request: %d %s", resp.StatusCode, b)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// Limits are per customer: B is not limited by A's use.
	if resp, b := f.post(t, "/v1/completions", "B", body); resp.StatusCode != 200 {
		t.Fatalf("B: %d %s", resp.StatusCode, b)
	}
	// A request larger than the token limit can never pass.
	resp, b = f.post(t, "/v1/completions", "B", `{"model":"tracemark-ngram","prompt":"x","max_tokens":2000}`)
	if resp.StatusCode != 429 || !strings.Contains(string(b), "too large") {
		t.Fatalf("oversized: %d %s", resp.StatusCode, b)
	}
	if n := len(f.records(t)); n != 3 {
		t.Fatalf("%d records, want 3", n)
	}
}

func TestBucketRefill(t *testing.T) {
	var b bucket
	t0 := time.Unix(1000, 0)
	for i := 0; i < 60; i++ {
		if ok, _, _ := b.take(60, 1, t0); !ok {
			t.Fatalf("take %d refused", i)
		}
	}
	ok, wait, never := b.take(60, 1, t0)
	if ok || never || wait < 900*time.Millisecond || wait > time.Second {
		t.Fatalf("empty bucket: ok %v wait %v never %v", ok, wait, never)
	}
	if ok, _, _ := b.take(60, 1, t0.Add(time.Second)); !ok {
		t.Fatal("no refill after 1 s")
	}
	if ok, _, never := b.take(60, 61, t0.Add(time.Hour)); ok || !never {
		t.Fatal("a request above capacity passed")
	}
}

func TestOptOutOnlyForTrusted(t *testing.T) {
	f := newFixture(t, testScheme(t, "kgw:payload_bits=8"), nil)
	body := `{"model":"tracemark-ngram","prompt":"x","max_tokens":3,"tracemark":{"watermark":false}}`
	for _, id := range []string{"A", "T"} {
		if resp, b := f.post(t, "/v1/completions", id, body); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", id, resp.StatusCode, b)
		}
	}
	recs := f.records(t)
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		want := r.Customer != "T"
		if r.Watermarked != want {
			t.Fatalf("customer %s: watermarked %v, want %v", r.Customer, r.Watermarked, want)
		}
		if !want && (r.KeyID != "" || r.Payload != "") {
			t.Fatalf("unwatermarked record names a key: %+v", r)
		}
	}
}

func TestNoWatermarkServer(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.CredentialsPath = "" })
	if resp, b := f.post(t, "/v1/completions", "", `{"model":"tracemark-ngram","prompt":"x","max_tokens":3}`); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	r := f.records(t)[0]
	if r.Watermarked || r.KeyID != "" || r.Customer != Anonymous {
		t.Fatalf("%+v", r)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	w, _ := servelog.Create(filepath.Join(dir, "log"), servelog.Options{})
	defer w.Close()
	pay := testScheme(t, "kgw:payload_bits=4")
	if _, err := New(Config{Backends: []Backend{testBackend(t)}, Scheme: pay, Log: w}); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("payload scheme without credentials: %v", err)
	}
	creds := filepath.Join(dir, "c.json")
	os.WriteFile(creds, []byte(`{"customers":[{"id":"A","key_sha256":"`+HashAPIKey("k")+`","payload":"ff"}]}`), 0o600)
	if _, err := New(Config{Backends: []Backend{testBackend(t)}, Scheme: pay, Log: w, CredentialsPath: creds}); err == nil || !strings.Contains(err.Error(), "fit") {
		t.Fatalf("payload too wide for the scheme: %v", err)
	}
	os.WriteFile(creds, []byte(`{"customers":[{"id":"A","key_sha256":"`+HashAPIKey("k")+`"}]}`), 0o600)
	if _, err := New(Config{Backends: []Backend{testBackend(t)}, Scheme: pay, Log: w, CredentialsPath: creds}); err == nil || !strings.Contains(err.Error(), "no payload") {
		t.Fatalf("customer without payload: %v", err)
	}
	if _, err := New(Config{Backends: []Backend{testBackend(t), testBackend(t)}, Log: w}); err == nil {
		t.Fatal("two backends with one name accepted")
	}
}

func TestReloadCredentials(t *testing.T) {
	f := newFixture(t, testScheme(t, "kgw:payload_bits=8"), nil)
	key, d, err := AddCustomer(f.creds, Customer{ID: "D"}, 8)
	if err != nil {
		t.Fatal(err)
	}
	f.keys["D"] = key
	body := `{"model":"tracemark-ngram","prompt":"x","max_tokens":3}`
	if resp, _ := f.post(t, "/v1/completions", "D", body); resp.StatusCode != 401 {
		t.Fatalf("new customer before reload: %d", resp.StatusCode)
	}
	if err := f.srv.ReloadCredentials(); err != nil {
		t.Fatal(err)
	}
	if resp, b := f.post(t, "/v1/completions", "D", body); resp.StatusCode != 200 {
		t.Fatalf("after reload: %d %s", resp.StatusCode, b)
	}
	// A broken file keeps the old customers.
	os.WriteFile(f.creds, []byte("{broken"), 0o600)
	if err := f.srv.ReloadCredentials(); err == nil {
		t.Fatal("broken credentials reloaded")
	}
	if resp, _ := f.post(t, "/v1/completions", "D", body); resp.StatusCode != 200 {
		t.Fatalf("after failed reload: %d", resp.StatusCode)
	}
	if r := f.records(t); r[len(r)-1].Payload != d.Payload {
		t.Fatalf("customer D's payload %q, want %s", r[len(r)-1].Payload, d.Payload)
	}
}

// failingFile fails every write after the first n bytes, as a full disk.
type failingFile struct{ left int }

func (f *failingFile) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n := f.left
		f.left = 0
		return n, errors.New("no space left on device")
	}
	f.left -= len(p)
	return len(p), nil
}
func (f *failingFile) Close() error { return nil }

func TestFullDiskRefusesWith503(t *testing.T) {
	dir := t.TempDir()
	w, err := servelog.Create(dir, servelog.Options{CreateFile: func(string) (io.WriteCloser, error) { return &failingFile{left: 300}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, testScheme(t, "kgw"), func(c *Config) { c.Log = w })
	body := `{"model":"tracemark-ngram","prompt":"x","max_tokens":50}`
	var codes []int
	for i := 0; i < 4; i++ {
		resp, b := f.post(t, "/v1/completions", "A", body)
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 503 {
			if errorBody(t, b)["code"] != "log_unavailable" || strings.Contains(string(b), `"text"`) {
				t.Fatalf("503 body: %s", b)
			}
		}
	}
	if codes[len(codes)-1] != 503 || codes[len(codes)-2] != 503 {
		t.Fatalf("status codes %v: a failed log must refuse every later request", codes)
	}
	resp, err := http.Get(f.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("healthz %d with a failed log", resp.StatusCode)
	}
	// Every 200 answered was logged: the writer's count matches.
	ok := 0
	for _, c := range codes {
		if c == 200 {
			ok++
		}
	}
	if int(w.Lines()) != ok {
		t.Fatalf("%d answered, %d logged", ok, w.Lines())
	}
}

func TestQueueFullAndGenerationTimeout(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.MaxConcurrent = 1; c.MaxQueue = -1; c.Limits.MaxTokens = 1 << 20 })
	long := `{"model":"tracemark-ngram","prompt":"x","max_tokens":100000}`
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.url+"/v1/completions", strings.NewReader(long))
		req.Header.Set("Authorization", "Bearer "+f.keys["A"])
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.srv.slots) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	resp, b := f.post(t, "/v1/completions", "B", `{"model":"tracemark-ngram","prompt":"x","max_tokens":2}`)
	if resp.StatusCode != 503 || errorBody(t, b)["code"] != "overloaded" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with every slot busy and no queue: %d %s", resp.StatusCode, b)
	}
	cancel() // the client goes away mid-generation: the slot comes back, nothing is logged
	<-done
	deadline = time.Now().Add(10 * time.Second)
	for len(f.srv.slots) != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(f.srv.slots) != 0 {
		t.Fatal("generation slot not released after the client left")
	}
	if n := len(f.records(t)); n != 0 {
		t.Fatalf("%d records for a cancelled request", n)
	}

	g := newFixture(t, nil, func(c *Config) { c.GenerationTimeout = 20 * time.Millisecond; c.Limits.MaxTokens = 1 << 20 })
	resp, b = g.post(t, "/v1/completions", "A", long)
	if resp.StatusCode != 503 || errorBody(t, b)["code"] != "timeout" {
		t.Fatalf("generation timeout: %d %s", resp.StatusCode, b)
	}
}

// serveOn starts Serve on a loopback listener.
func serveOn(t *testing.T, srv *Server) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln) }()
	var once sync.Once
	var serr error
	stop = func() error {
		once.Do(func() { cancel(); serr = <-errc })
		return serr
	}
	t.Cleanup(func() { stop() })
	return ln.Addr().String(), stop
}

func TestSlowClientsAndDisconnects(t *testing.T) {
	f := newFixture(t, testScheme(t, "kgw"), nil)
	srv, err := New(Config{Backends: []Backend{testBackend(t)}, Log: f.log, CredentialsPath: f.creds, ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serveOn(t, srv)
	// Slowloris: headers that never end. The server must drop the
	// connection after ReadHeaderTimeout.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(conn)
	if time.Since(start) > 3*time.Second {
		t.Fatalf("slow-header connection kept %v (err %v)", time.Since(start), err)
	}
	// Slow body: headers sent, body trickles past ReadTimeout.
	conn2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	fmt.Fprintf(conn2, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{", f.keys["A"])
	start = time.Now()
	conn2.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(conn2)
	if time.Since(start) > 3*time.Second {
		t.Fatalf("slow-body connection kept %v: %q", time.Since(start), b)
	}
	// Disconnect mid-stream: read one event, hang up; the server goes on.
	for i := 0; i < 3; i++ {
		conn3, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		body := `{"model":"tracemark-ngram","prompt":"x","max_tokens":200,"stream":true}`
		fmt.Fprintf(conn3, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", f.keys["A"], len(body), body)
		br := bufio.NewReader(conn3)
		line, err := br.ReadString('\n')
		if err != nil || !strings.Contains(line, "200") {
			t.Fatalf("stream status line %q %v", line, err)
		}
		for !strings.HasPrefix(line, "data: ") {
			if line, err = br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
		conn3.Close()
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d after disconnects", resp.StatusCode)
	}
}

func TestGracefulShutdownFinishesInFlightAndClosesLog(t *testing.T) {
	f := newFixture(t, testScheme(t, "kgw"), nil)
	srv, err := New(Config{Backends: []Backend{testBackend(t)}, Scheme: testScheme(t, "kgw"), Log: f.log, CredentialsPath: f.creds})
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serveOn(t, srv)
	type result struct {
		code int
		body []byte
		err  error
	}
	const n = 4
	results := make(chan result, n)
	for i := 0; i < n; i++ {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/completions", strings.NewReader(`{"model":"tracemark-ngram","prompt":"x","max_tokens":200}`))
			req.Header.Set("Authorization", "Bearer "+f.keys["A"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{resp.StatusCode, b, err}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.slots)+int(srv.waiting.Load()) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for i := 0; i < n; i++ {
		r := <-results
		if r.err != nil || r.code != 200 {
			t.Fatalf("in-flight request: %d %v %s", r.code, r.err, r.body)
		}
	}
	if err := f.log.Write(servelog.Record{RequestID: "x", Endpoint: "completions", Tokenizer: "o200k_base"}); err == nil {
		t.Fatal("log still open after shutdown")
	}
	st, err := servelog.Read(context.Background(), f.logDir, func(servelog.Record) error { return nil })
	if err != nil || !st.Complete() || st.Records != n {
		t.Fatalf("log after shutdown: %+v %v", st, err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

// FuzzRequests sends arbitrary bodies to both endpoints: the server must
// answer every one with a 200 or an OpenAI-shaped 4xx, never panic.
func FuzzRequests(f *testing.F) {
	for _, s := range []string{
		`{"model":"tracemark-ngram","prompt":"x","max_tokens":2}`,
		`{"model":"tracemark-ngram","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"stream":true}`,
		`{"model":"tracemark-ngram","prompt":[[1,2]],"n":2,"max_tokens":1,"stop":["a"]}`,
		`{"model":"tracemark-ngram","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"max_tokens":1}`,
		`{`, `null`, "\xff",
	} {
		f.Add(s)
	}
	fx := newFixture(f, nil, func(c *Config) { c.Limits.MaxTokens = 8; c.Limits.MaxN = 2 })
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v1/completions", "/v1/chat/completions"} {
			resp, b := fx.post(t, path, "A", body)
			switch {
			case resp.StatusCode == 200:
			case resp.StatusCode >= 400 && resp.StatusCode < 500:
				errorBody(t, b)
			default:
				t.Fatalf("%s: status %d: %s", path, resp.StatusCode, b)
			}
		}
	})
}
