package serve

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tracemark/tracemark/detect"
)

// TestServedTextCarriesTheCustomersFingerprint: completions served to
// customer B are detected from their text with the server's key, and the
// payload decoded from them is B's; an opted-out trusted response is not
// detected.
func TestServedTextCarriesTheCustomersFingerprint(t *testing.T) {
	scheme := testScheme(t, "kgw:payload_bits=8")
	f := newFixture(t, scheme, nil)
	var texts []string
	for i := 0; i < 4; i++ {
		resp, b := f.post(t, "/v1/chat/completions", "B", fmt.Sprintf(`{"model":"tracemark-ngram","messages":[{"role":"user","content":"Tell me a story, number %d."}],"max_tokens":150}`, i))
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		var r chatResponse
		json.Unmarshal(b, &r)
		texts = append(texts, r.Choices[0].Message.Content)
	}
	d, err := detect.New(scheme, detect.Options{Alpha: 1e-6})
	if err != nil {
		t.Fatal(err)
	}
	tok := testBackend(t).Tokenizer()
	res, err := d.Text(tok, strings.Join(texts, "\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Detected || !res.PayloadClaimed || res.Payload != "2" {
		t.Fatalf("pooled B text: detected %v p %g, payload %q claimed %v (want 2)", res.Detected, res.PValue, res.Payload, res.PayloadClaimed)
	}
	for i, text := range texts {
		r, _ := d.Text(tok, text)
		if r.Log10P > -3 {
			t.Errorf("completion %d alone: log10 p %.1f", i, r.Log10P)
		}
	}
	_, b := f.post(t, "/v1/completions", "T", `{"model":"tracemark-ngram","prompt":"Tell me a story.","max_tokens":300,"tracemark":{"watermark":false}}`)
	var r completionResponse
	json.Unmarshal(b, &r)
	if res, _ := d.Text(tok, r.Choices[0].Text); res.Detected {
		t.Fatalf("opted-out text detected: p %g", res.PValue)
	}
}
