package watermark

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testEngineKey returns an engine key of one word, w, with the default
// tracemark scheme recorded (schemes that bind it come later).
func testEngineKey(t testing.TB, w uint64) *Key {
	t.Helper()
	cfg, err := ParseSpec(DefaultSpec)
	if err != nil {
		t.Fatal(err)
	}
	return NewEngineKey([]uint64{w}, cfg, DefaultTokenizer, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
}

func TestEngineKeyFileRoundTrip(t *testing.T) {
	for _, words := range [][]uint64{{42}, {0}, {1<<64 - 1}, {1<<53 + 1, 7, 1 << 63}} {
		k := NewEngineKey(words, DefaultKGW(), DefaultTokenizer, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
		words[0] ^= 1 // the key holds a copy
		words[0] ^= 1
		path := filepath.Join(t.TempDir(), "k.json")
		if err := k.WriteKeyFile(path, false); err != nil {
			t.Fatal(err)
		}
		got, err := LoadKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if !got.IsEngine() || !slices.Equal(got.EngineWords(), words) || got.ID() != k.ID() || got.ID() != EngineKeyID(words) {
			t.Fatalf("round trip of %d words: engine %v, id %s vs %s", len(words), got.IsEngine(), got.ID(), k.ID())
		}
		// Words are decimal strings, exact beyond 2^53.
		if !strings.Contains(string(k.EncodeKeyFile()), `"`+strconv.FormatUint(words[0], 10)+`"`) {
			t.Errorf("key file does not hold the word as a decimal string")
		}
		if strings.Contains(string(k.EncodeKeyFile()), `"secret"`) {
			t.Errorf("engine key file has a secret field")
		}
		w := got.EngineWords()
		w[0]++
		if got.EngineWords()[0] != words[0] {
			t.Errorf("EngineWords returned the key's own slice")
		}
	}
	s := testKey(t, 1)
	if s.IsEngine() || s.EngineWords() != nil {
		t.Errorf("a 32-byte key claims to be an engine key")
	}
}

// TestEngineKeyIDIsOneWayAndDistinct: the ID is the documented hash, not
// the words, and differs between keys, word orders and word counts, and
// from the 32-byte key ID of the same bytes.
func TestEngineKeyIDIsOneWayAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range [][]uint64{{0}, {1}, {42}, {0, 0}, {1, 2}, {2, 1}, {1<<64 - 1}} {
		id := EngineKeyID(w)
		if len(id) != 16 || seen[id] {
			t.Fatalf("id %q of %v: wrong length or repeated", id, w)
		}
		seen[id] = true
		for _, x := range w {
			if x > 9 && strings.Contains(id, strconv.FormatUint(x, 16)) {
				t.Errorf("id %s shows the word", id)
			}
		}
	}
	var zero [SecretSize]byte
	if EngineKeyID([]uint64{0, 0, 0, 0}) == KeyID(zero) {
		t.Errorf("engine and secret key IDs share a domain")
	}
	// Pinned: SHA-256("tracemark/v1/engine-key-id" || 00000001 || 000000000000002a)[:8].
	if got := EngineKeyID([]uint64{42}); got != pinnedEngineID42 {
		t.Errorf("EngineKeyID([42]) = %s, want %s", got, pinnedEngineID42)
	}
}

func TestEngineKeyNeverPrinted(t *testing.T) {
	const w = 12345678901234567890
	k := testEngineKey(t, w)
	forms := []string{"12345678901234567890", fmt.Sprintf("%x", uint64(w)), fmt.Sprintf("%X", uint64(w))}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, struct{ K *Key }{k}))
	}
	j, _ := json.Marshal(k)
	outs = append(outs, string(j), k.String())
	for _, out := range outs {
		for _, s := range forms {
			if strings.Contains(out, s) {
				t.Fatalf("engine key printed: %q", out)
			}
		}
		if !strings.Contains(out, k.ID()) {
			t.Errorf("output %q does not name the key ID", out)
		}
	}
	if !strings.Contains(string(j), `"kind":"engine"`) {
		t.Errorf("MarshalJSON does not say the key is an engine key: %s", j)
	}
	if j2, _ := json.Marshal(testKey(t, 1)); strings.Contains(string(j2), "kind") {
		t.Errorf("a 32-byte key's JSON changed: %s", j2)
	}
}

func TestParseEngineKeyFileErrors(t *testing.T) {
	k := testEngineKey(t, 18446744073709551615)
	good := string(k.EncodeKeyFile())
	word := `"18446744073709551615"`
	cases := map[string]string{
		strings.Replace(good, word, `"18446744073709551616"`, 1): "not below 2^64",
		strings.Replace(good, word, `"-1"`, 1):                   "not a decimal integer",
		strings.Replace(good, word, `"+1"`, 1):                   "not a decimal integer",
		strings.Replace(good, word, `"1.5"`, 1):                  "not a decimal integer",
		strings.Replace(good, word, `""`, 1):                     "not a decimal integer",
		strings.Replace(good, word, `"0x10"`, 1):                 "not a decimal integer",
		strings.Replace(good, word, `18446744073709551615`, 1):   "wrong type",
		`{"version": 1, "id": "x", "engine_key": [], "scheme": "kgw", "tokenizer": "t", "created": "2026-12-02T00:00:00Z"}`: "0 words",
		strings.Replace(good, `"engine_key"`, `"secret": "AAAA", "engine_key"`, 1):                                          "both",
		strings.Replace(good, k.ID(), "0000000000000000", 1):                                                                "does not match",
	}
	for in, want := range cases {
		_, err := ParseKeyFile([]byte(in))
		if err == nil {
			t.Errorf("accepted %q", in)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
		if strings.Contains(err.Error(), "1844674407370955161") {
			t.Errorf("error leaks the key: %q", err)
		}
	}
}

// TestTracemarkSchemesRefuseEngineKeys: a scheme keyed by tracemark's
// 32-byte secret never binds an engine key (it would key itself with
// zeros).
func TestTracemarkSchemesRefuseEngineKeys(t *testing.T) {
	k := testEngineKey(t, 42)
	for _, spec := range []string{"kgw", "gumbel", "tournament"} {
		cfg, err := ParseSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.Bind(k); !errors.Is(err, ErrEngineKey) {
			t.Errorf("%s bound an engine key: %v", spec, err)
		}
	}
	if _, err := testKey(t, 1).requireEngine(1); !errors.Is(err, ErrSecretKey) {
		t.Errorf("requireEngine accepted a 32-byte key: %v", err)
	}
	if _, err := k.requireEngine(2); err == nil {
		t.Errorf("requireEngine accepted 1 word for 2")
	}
}

func TestGenerateEngineKey(t *testing.T) {
	a, err := GenerateEngineKey(1, DefaultKGW(), DefaultTokenizer)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateEngineKey(1, DefaultKGW(), DefaultTokenizer)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() == b.ID() || !a.IsEngine() || len(a.EngineWords()) != 1 {
		t.Errorf("two generated engine keys are equal, or malformed")
	}
	if _, err := GenerateEngineKey(0, DefaultKGW(), DefaultTokenizer); err == nil {
		t.Errorf("made an engine key of 0 words")
	}
}

// pinnedEngineID42 is EngineKeyID([42]), computed independently (Python hashlib).
const pinnedEngineID42 = "c950c1ba53b488c6"
