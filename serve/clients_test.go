package serve

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/tracemark/tracemark/internal/npmtest"
)

// openaiNPM is the official OpenAI client the server is tested against
// (6.x runs on node 20).
const openaiNPM = "openai@6.30.1"

// openaiModules installs the openai npm package into the cache directory
// once and returns its node_modules directory.
func openaiModules(t *testing.T) string { return npmtest.Install(t, openaiNPM) }

// requireTool finds a program, skipping the test without it unless
// TRACEMARK_REQUIRE_NODE is set.
func requireTool(t *testing.T, name string) string { return npmtest.Tool(t, name) }

func TestOfficialOpenAIClient(t *testing.T) {
	node := requireTool(t, "node")
	modules := openaiModules(t)
	f := newFixture(t, testScheme(t, "kgw:payload_bits=8"), nil)
	cmd := exec.Command(node, "testdata/openai_client.mjs", modules, f.url+"/v1", "tracemark-ngram")
	cmd.Env = append(os.Environ(), "TRACEMARK_TEST_API_KEY="+f.keys["B"])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var r struct {
		Chat struct {
			ID, Object, Text, Finish string
			Usage                    usage
		}
		ChatStream struct {
			Text, Finish, Role string
			Usage              *usage
			Chunks             int
		}
		Completion struct {
			Object string
			Texts  []string
			Usage  usage
		}
		CompletionStream struct {
			Text, Finish string
			Usage        *usage
		}
		Models                             []string
		NotFound, BadRequest, Unauthorized struct {
			Status int
			Class  string
			Code   *string
		}
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.Chat.Object != "chat.completion" || r.Chat.Text == "" || r.Chat.Finish != "length" || r.Chat.Usage.CompletionTokens != 25 {
		t.Errorf("chat: %+v", r.Chat)
	}
	if r.ChatStream.Text != r.Chat.Text || r.ChatStream.Finish != "length" || r.ChatStream.Role != "assistant" || r.ChatStream.Usage == nil || *r.ChatStream.Usage != r.Chat.Usage || r.ChatStream.Chunks < 5 {
		t.Errorf("chat stream %+v, non-streamed %q", r.ChatStream, r.Chat.Text)
	}
	if r.Completion.Object != "text_completion" || len(r.Completion.Texts) != 2 {
		t.Errorf("completion: %+v", r.Completion)
	}
	if len(r.Completion.Texts) > 0 && r.CompletionStream.Text != r.Completion.Texts[0] || r.CompletionStream.Usage == nil {
		t.Errorf("completion stream %+v vs %q", r.CompletionStream, r.Completion.Texts)
	}
	if len(r.Models) != 1 || r.Models[0] != "tracemark-ngram" {
		t.Errorf("models %v", r.Models)
	}
	if r.NotFound.Status != 404 || r.NotFound.Class != "NotFoundError" || r.NotFound.Code == nil || *r.NotFound.Code != "model_not_found" {
		t.Errorf("not found: %+v", r.NotFound)
	}
	if r.BadRequest.Status != 400 || r.BadRequest.Class != "BadRequestError" {
		t.Errorf("bad request: %+v", r.BadRequest)
	}
	if r.Unauthorized.Status != 401 || r.Unauthorized.Class != "AuthenticationError" {
		t.Errorf("unauthorized: %+v", r.Unauthorized)
	}
	// 4 generations logged (chat, chat stream, completion, completion
	// stream), all for B with B's payload.
	recs := f.records(t)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for _, rec := range recs {
		if rec.Customer != "B" || rec.Payload != "2" || !rec.Watermarked {
			t.Fatalf("record %+v", rec)
		}
	}
}

// TestCurlSSEFraming checks the raw event stream as curl -N receives it.
func TestCurlSSEFraming(t *testing.T) {
	curl := requireTool(t, "curl")
	f := newFixture(t, testScheme(t, "kgw"), nil)
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"tracemark-ngram","messages":[{"role":"user","content":"hi"}],"max_tokens":12,"stream":true}`},
		{"/v1/completions", `{"model":"tracemark-ngram","prompt":"hi","max_tokens":12,"stream":true,"stream_options":{"include_usage":true}}`},
	} {
		out, err := exec.Command(curl, "-sS", "-N", "-i", "-H", "Authorization: Bearer "+f.keys["A"], "-H", "Content-Type: application/json",
			"-d", tc.body, f.url+tc.path).Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		head, body, ok := bytes.Cut(out, []byte("\r\n\r\n"))
		if !ok || !bytes.Contains(bytes.ToLower(head), []byte("content-type: text/event-stream")) || !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) {
			t.Fatalf("%s: headers %q", tc.path, head)
		}
		body = sseBody(t, body)
		events := sseEvents(t, body)
		if len(events) < 4 {
			t.Fatalf("%s: %d events", tc.path, len(events))
		}
		for _, ev := range events[:len(events)-1] {
			if !json.Valid([]byte(ev)) {
				t.Fatalf("%s: event is not one JSON object: %q", tc.path, ev)
			}
		}
	}
}

// sseBody checks that the body (curl undoes the chunked transfer
// encoding) starts with an SSE data line and returns it.
func sseBody(t *testing.T, body []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(body, []byte("data: ")) {
		t.Fatalf("body does not start with an SSE data line: %q", body[:min(len(body), 80)])
	}
	return body
}
