package watermark

import (
	"strings"
	"testing"
	"time"
)

func TestParseVLLMConfig(t *testing.T) {
	at := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	good := map[string]string{
		`{"algorithm":"gumbel","key":42}`:                                                         "vllm-gumbel:context_width=4,prf=philox",
		`{"key":18446744073709551615}`:                                                            "vllm-gumbel:context_width=4,prf=philox",
		`{"algorithm":"dual_key_gumbel","key":7,"alpha":0.25,"context_width":6}`:                  "vllm-dual-gumbel:alpha=0.25,context_width=6,prf=philox",
		`{"algorithm":"sbw","key":"9","sbw_scheme":"lefthash"}`:                                   "vllm-sbw:seeding=lefthash,gamma=0.5,delta=2,context_width=1",
		`{"algorithm":"sbw","key":9,"sbw_gamma":0.25,"sbw_delta":3,"deduplicate_contexts":"all"}`: "vllm-sbw:seeding=selfhash,gamma=0.25,delta=3,context_width=4",
	}
	for in, want := range good {
		k, err := ParseVLLMConfig([]byte(in), DefaultTokenizer, at)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if k.Scheme.String() != want || !k.IsEngine() {
			t.Errorf("%s: scheme %s, want %s", in, k.Scheme, want)
		}
		// Round trip through the config tracemark writes.
		out, err := VLLMConfigJSON(k)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseVLLMConfig(out, DefaultTokenizer, at)
		if err != nil || again.ID() != k.ID() || again.Scheme != k.Scheme {
			t.Errorf("%s: round trip gave %v %v", in, again, err)
		}
	}
	if k, _ := ParseVLLMConfig([]byte(`{"key":18446744073709551615}`), DefaultTokenizer, at); k.EngineWords()[0] != 1<<64-1 {
		t.Errorf("key 2^64-1 lost precision")
	}
	bad := map[string]string{
		`{"algorithm":"gumbel"}`:                             "no key",
		`{"key":18446744073709551616}`:                       "2^64 or more",
		`{"key":-5}`:                                         "negative",
		`{"key":42.5}`:                                       "not an integer",
		`{"key":4.2e1}`:                                      "not an integer",
		`{"key":true}`:                                       "must be an integer",
		`{"key":42,"algorithm":"red_green"}`:                 "unknown",
		`{"key":42,"algorthm":"gumbel"}`:                     "unknown field",
		`{"key":42,"prf":"hmac"}`:                            "prf",
		`{"key":42,"context_width":0}`:                       "h must be",
		`{"key":42,"context_width":1.5}`:                     "context_width must be an integer",
		`{"key":42,"algorithm":"sbw","sbw_gamma":1}`:         "gamma",
		`{"key":42,"algorithm":"dual_key_gumbel","alpha":2}`: "alpha",
		`[42]`:         "not a JSON object",
		`{"key":42}{}`: "data after",
	}
	for in, want := range bad {
		_, err := ParseVLLMConfig([]byte(in), DefaultTokenizer, at)
		if err == nil {
			t.Errorf("accepted %s", in)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not say %q", in, err, want)
		}
		for _, secret := range []string{"42", "18446744073709551616", "-5"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q shows the key", in, err)
			}
		}
	}
}

func TestVLLMConfigJSONRefuses(t *testing.T) {
	if _, err := VLLMConfigJSON(testKey(t, 1)); err == nil {
		t.Errorf("wrote a vLLM config for a 32-byte key")
	}
	cfg := VLLMGumbelConfig{H: 4, PRF: VLLMHMAC}
	if _, err := VLLMConfigJSON(NewEngineKey([]uint64{1}, cfg, DefaultTokenizer, time.Time{})); err == nil {
		t.Errorf("wrote a vLLM config with the HMAC PRF, which vLLM's config does not accept")
	}
}

func FuzzParseVLLMConfig(f *testing.F) {
	for _, s := range []string{`{"algorithm":"gumbel","key":42}`, `{"key":"1","algorithm":"sbw","sbw_scheme":"lefthash"}`,
		`{"key":1,"algorithm":"dual_key_gumbel","alpha":0.3}`, `{"key":-1}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseVLLMConfig(data, DefaultTokenizer, time.Time{})
		if err != nil {
			return
		}
		if err := k.Scheme.Validate(); err != nil {
			t.Fatalf("accepted an invalid scheme: %v", err)
		}
		if _, err := ParseSpec(k.Scheme.String()); err != nil {
			t.Fatalf("scheme does not round-trip: %v", err)
		}
	})
}
