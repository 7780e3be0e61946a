package probe

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/generate"
	"github.com/tracemark/tracemark/internal/refcorpus"
	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/serve/servelog"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

func testTok(t *testing.T) tokenize.Tokenizer {
	t.Helper()
	tok, err := tokenize.Get(tokenize.Default)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testKeyFor returns a fixed key for spec.
func testKeyFor(t *testing.T, spec string) (*watermark.Key, watermark.Config) {
	t.Helper()
	cfg, err := watermark.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	var secret [watermark.SecretSize]byte
	copy(secret[:], "tracemark probe test key "+spec)
	return watermark.NewKey(secret, cfg, watermark.DefaultTokenizer, time.Unix(0, 0).UTC()), cfg
}

func testSchemes(t *testing.T, spec string) []watermark.Scheme {
	t.Helper()
	key, cfg := testKeyFor(t, spec)
	s, err := cfg.Bind(key)
	if err != nil {
		t.Fatal(err)
	}
	return []watermark.Scheme{s}
}

// textServer answers request i with texts[i mod len].
func textServer(texts []string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		w.Write(chatBody(texts[i%len(texts)], 100))
	}))
	return srv, &n
}

const payloadSpec = "kgw:payload_bits=16"

// customers are the served-output log's accounts and payloads.
var customers = map[string]uint64{"acme": 0x1234, "bob": 0xbeef, "carol": 0x0f0f}

func writeServedLog(t *testing.T, keyID, spec string, tok tokenize.Tokenizer) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "served")
	w, err := servelog.Create(dir, servelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range customers {
		ids, _ := tok.AppendEncode(nil, "user: a question from "+name+"\nassistant:")
		if err := w.Write(servelog.Record{RequestID: "req-" + name, Customer: name, Model: "m", Endpoint: "chat.completions", Watermarked: true,
			KeyID: keyID, Scheme: spec, Payload: strings.ToLower(strings.TrimLeft(hex16(v), "0")), Tokenizer: tok.Name(),
			PromptTokens: ids, Completions: [][]uint32{{1, 2, 3}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func hex16(v uint64) string {
	const digits = "0123456789abcdef"
	s := ""
	for v > 0 {
		s = string(digits[v%16]) + s
		v /= 16
	}
	if s == "" {
		return "0"
	}
	return s
}

// TestEndToEndWatermarkedAndHuman: a fake endpoint answering with text the
// generator watermarked with customer bob's payload is detected, with
// bob's payload decoded and bob identified from the served-output log; one
// answering with human text is not.
func TestEndToEndWatermarkedAndHuman(t *testing.T) {
	if testing.Short() {
		t.Skip("samples from the built-in model: runs without -short")
	}
	tok := testTok(t)
	model, _, err := ngram.Builtin(context.Background(), ngram.CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	schemes := testSchemes(t, payloadSpec)
	pl, ok := watermark.CarriesPayload(schemes[0])
	if !ok {
		t.Fatal("no payload scheme")
	}
	bob, err := pl.WithPayload(customers["bob"])
	if err != nil {
		t.Fatal(err)
	}
	sampler, err := generate.NewSampler(model.NewSession(), bob, generate.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var marked []string
	for i := 0; i < 12; i++ {
		prompt, _ := tok.AppendEncode(nil, []string{"The old house", "In the morning", "She said that", "It was a"}[i%4])
		c, err := sampler.Complete(context.Background(), tok, prompt, 120, rng)
		if err != nil {
			t.Fatal(err)
		}
		marked = append(marked, c.Text)
	}
	logDir := writeServedLog(t, schemes[0].KeyID(), schemes[0].Spec(), tok)
	tc := TestConfig{Schemes: schemes, Tokenizer: tok, ServedLogs: []string{logDir}, Workers: 1}

	srv, n := textServer(marked)
	defer srv.Close()
	cfg := fastConfig(srv.URL, t.TempDir())
	cfg.Concurrency = 3
	res, err := Run(context.Background(), cfg, Prompts{Prompts: promptsOf(len(marked))}, "p.txt", tc)
	if err != nil {
		t.Fatal(err)
	}
	if int(n.Load()) != len(marked) || res.Test == nil {
		t.Fatalf("%d requests; %+v", n.Load(), res)
	}
	kt := res.Test.Keys[0]
	t.Logf("watermarked: %d answers, %d tokens, %d tuples scored, pooled log10 p %.1f, payload %s; customers %+v",
		res.Test.Answers, res.Test.Summary.Tokens, kt.Scored, res.Test.Log10P, kt.Payload, kt.Customers)
	if !res.Test.Detected || res.Test.Log10P > -6 || kt.Payload != "beef" {
		t.Errorf("watermarked: detected %v log10 p %.1f payload %q", res.Test.Detected, res.Test.Log10P, kt.Payload)
	}
	if len(kt.Customers) != 3 || !kt.Customers[0].Identified || kt.Customers[0].Customers[0] != "bob" || kt.Customers[0].AdjustedLog10P > -6 {
		t.Fatalf("attribution: %+v", kt.Customers)
	}
	for _, c := range kt.Customers[1:] {
		if c.Identified {
			t.Errorf("%v identified too: %+v", c.Customers, c)
		}
	}
	if res.Test.Exclusion.PromptTexts != len(marked) || len(res.Test.Exclusion.Logs) != 1 || res.Test.Exclusion.Logs[0].PromptSequences != 3 || res.Test.Exclusion.Ngrams == 0 {
		t.Errorf("exclusion: %+v", res.Test.Exclusion)
	}

	docs, err := refcorpus.Gutenberg()
	if err != nil {
		t.Fatal(err)
	}
	var human []string
	for _, d := range docs {
		for _, p := range strings.Split(refcorpus.UnwrapParagraphs(d.Text), "\n\n") {
			if len(p) > 300 && len(human) < 12 {
				human = append(human, p)
			}
		}
	}
	hsrv, _ := textServer(human)
	defer hsrv.Close()
	res, err = Run(context.Background(), fastConfig(hsrv.URL, t.TempDir()), Prompts{Prompts: promptsOf(len(human))}, "p.txt", tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("human: %d tuples scored, pooled log10 p %.2f", res.Test.Summary.PerKey[0].Scored, res.Test.Log10P)
	if res.Test.Detected || res.Test.Log10P < -3 || res.Test.Summary.PerKey[0].Scored < 500 {
		t.Errorf("human text: detected %v log10 p %.2f scored %d", res.Test.Detected, res.Test.Log10P, res.Test.Summary.PerKey[0].Scored)
	}
	for _, c := range res.Test.Keys[0].Customers {
		if c.Identified {
			t.Errorf("human text: %v identified", c.Customers)
		}
	}
}

// TestPromptEchoIsExcluded: a model that only echoes its (watermarked)
// prompts must not be found watermarked: the prompts' (h+1)-grams are
// excluded.
func TestPromptEchoIsExcluded(t *testing.T) {
	if testing.Short() {
		t.Skip("samples from the built-in model: runs without -short")
	}
	tok := testTok(t)
	schemes := testSchemes(t, "kgw")
	rng := rand.New(rand.NewPCG(5, 6))
	model, _, err := ngram.Builtin(context.Background(), ngram.CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	sampler, _ := generate.NewSampler(model.NewSession(), schemes[0], generate.DefaultSettings())
	var ps []Prompt
	for i := 0; i < 6; i++ {
		prompt, _ := tok.AppendEncode(nil, "Once upon a time")
		c, err := sampler.Complete(context.Background(), tok, prompt, 150, rng)
		if err != nil {
			t.Fatal(err)
		}
		p := Prompt{Line: i + 1, Prompt: c.Text}
		p.ID = PromptID(true, &p)
		ps = append(ps, p)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(chatBody(promptOf(r), 150))
	}))
	defer srv.Close()
	dir := t.TempDir()
	res, err := Run(context.Background(), fastConfig(srv.URL, dir), Prompts{Prompts: ps}, "p.txt", TestConfig{Schemes: schemes, Tokenizer: tok, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Test.Detected || res.Test.Summary.PerKey[0].Scored > 20 {
		t.Errorf("echoed prompts: detected %v, scored %d", res.Test.Detected, res.Test.Summary.PerKey[0].Scored)
	}
	// Without the exclusion the same answers are (wrongly) detected: the
	// exclusion is what keeps them out.
	tr, err := Test(context.Background(), dir, TestConfig{Schemes: schemes, Tokenizer: tok, Workers: 1})
	if err != nil || !tr.Detected {
		t.Errorf("without exclusion: %v %v", err, tr.Detected)
	}
	var texts []string
	for _, p := range ps {
		texts = append(texts, p.Prompt)
	}
	tr, err = Test(context.Background(), dir, TestConfig{Schemes: schemes, Tokenizer: tok, Workers: 1, ExcludeTexts: texts})
	if err != nil || tr.Detected || tr.Exclusion.OtherTexts != len(texts) {
		t.Errorf("with the prompts as other texts: %v %v %+v", err, tr.Detected, tr.Exclusion)
	}
}

// TestServedLogChecks: a log of another tokenizer and an incomplete log
// are errors (an incomplete one is accepted when allowed, and reported).
func TestServedLogChecks(t *testing.T) {
	tok := testTok(t)
	schemes := testSchemes(t, payloadSpec)
	srv, _ := textServer([]string{"some answer text that is long enough to hold a few tuples of tokens"})
	defer srv.Close()
	dir := t.TempDir()
	if _, err := Collect(context.Background(), fastConfig(srv.URL, dir), promptsOf(2)); err != nil {
		t.Fatal(err)
	}
	rec := servelog.Record{RequestID: "r", Customer: "c", Endpoint: "completions", Tokenizer: "cl100k_base", PromptTokens: []uint32{1, 2, 3, 4, 5, 6}}
	other := filepath.Join(t.TempDir(), "other")
	w, _ := servelog.Create(other, servelog.Options{})
	w.Write(rec)
	w.Close()
	if _, err := Test(context.Background(), dir, TestConfig{Schemes: schemes, Tokenizer: tok, ServedLogs: []string{other}}); err == nil || !strings.Contains(err.Error(), "cl100k_base token IDs") {
		t.Errorf("another tokenizer's log: %v", err)
	}
	torn := filepath.Join(t.TempDir(), "torn")
	w, _ = servelog.Create(torn, servelog.Options{})
	rec.Tokenizer = tok.Name()
	w.Write(rec) // never closed: the file is truncated
	if _, err := Test(context.Background(), dir, TestConfig{Schemes: schemes, Tokenizer: tok, ServedLogs: []string{torn}}); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("incomplete log: %v", err)
	}
	tr, err := Test(context.Background(), dir, TestConfig{Schemes: schemes, Tokenizer: tok, ServedLogs: []string{torn}, AllowIncompleteLog: true})
	if err != nil || tr.Exclusion.Logs[0].Complete || tr.Exclusion.Logs[0].PromptSequences != 1 {
		t.Errorf("allowed incomplete log: %v %+v", err, tr.Exclusion)
	}
}

// TestAttributeTwoCustomers: a tally carrying two payloads identifies
// both, and not a third that shares symbols with them.
func TestAttributeTwoCustomers(t *testing.T) {
	null := watermark.Null{Kind: watermark.PayloadNull, Radix: 4, Slots: 4}
	a, b, c := uint64(0b00_01_10_11), uint64(0b11_10_01_00), uint64(0b00_01_01_00) // c shares symbols with a and b
	rng := rand.New(rand.NewPCG(7, 8))
	var tl detect.Tally
	for i := 0; i < 4000; i++ {
		slot := rng.IntN(4)
		colour := rng.IntN(4)
		switch u := rng.Float64(); {
		case u < 0.2:
			colour = int(a >> (2 * slot) & 3)
		case u < 0.35:
			colour = int(b >> (2 * slot) & 3)
		}
		tl.Add(null, watermark.Observation{Slot: uint8(slot), Colour: uint8(colour), Bits: uint64(i)})
	}
	got := Attribute(null, &tl, map[uint64][]string{a: {"a"}, b: {"b"}, c: {"c"}}, 1e-6, true)
	if len(got) != 3 || !got[0].Identified || !got[1].Identified || got[2].Identified || got[0].Customers[0] != "a" || got[1].Customers[0] != "b" {
		t.Errorf("%+v", got)
	}
	// A candidate wider than the payload is no candidate.
	for _, r := range Attribute(null, &tl, map[uint64][]string{a | 1<<8: {"wide"}}, 1e-6, true) {
		if r.Identified || r.Slots != 0 {
			t.Errorf("wide candidate: %+v", r)
		}
	}
	// Without detection nothing is identified.
	for _, r := range Attribute(null, &tl, map[uint64][]string{a: {"a"}}, 1e-6, false) {
		if r.Identified {
			t.Error("identified without detection")
		}
	}
}

// TestAttributeNeverNamesALookAlike: with payloads that share all but one
// slot (1, 2, 3), a text carrying only 2's payload must not name 3 or 1,
// however strong the watermark: the shared slots cannot tell them apart.
// (Testing every slot against the global null named the wrong customer at
// log10 p -26 in the end-to-end run.)
func TestAttributeNeverNamesALookAlike(t *testing.T) {
	null := watermark.Null{Kind: watermark.PayloadNull, Radix: 4, Slots: 16}
	bob, alice, carol := uint64(2), uint64(1), uint64(3)
	rng := rand.New(rand.NewPCG(3, 4))
	var tl detect.Tally
	for i := 0; i < 20000; i++ {
		slot := rng.IntN(16)
		colour := rng.IntN(4)
		// Bob's payload in 30% of the tuples, except in slot 0 (his only
		// distinguishing slot), where a student lost it: there carol's
		// symbol happens to be a little frequent.
		if slot != 0 && rng.Float64() < 0.3 {
			colour = int(bob >> (2 * slot) & 3)
		}
		if slot == 0 && rng.Float64() < 0.05 {
			colour = int(carol & 3)
		}
		tl.Add(null, watermark.Observation{Slot: uint8(slot), Colour: uint8(colour), Bits: uint64(i)})
	}
	got := Attribute(null, &tl, map[uint64][]string{bob: {"bob"}, alice: {"alice"}, carol: {"carol"}}, 1e-6, true)
	for _, r := range got {
		if r.Slots != 1 {
			t.Errorf("%v: %d distinguishing slots, want 1", r.Customers, r.Slots)
		}
		if r.Identified {
			t.Errorf("%v identified (log10 p %.1f) from one slot's weak evidence", r.Customers, r.AdjustedLog10P)
		}
	}
}
