package watermark

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestParseSpecCanonicalRoundTrip(t *testing.T) {
	cases := map[string]string{
		DefaultSpec:                      DefaultSpec,
		"kgw":                            DefaultSpec,
		"kgw:delta=4,gamma=0.5":          "kgw:gamma=0.5,delta=4,h=4,seeding=selfhash",
		" kgw:h=1,seeding=lefthash ":     "kgw:gamma=0.25,delta=2,h=1,seeding=lefthash",
		"kgw:h=0":                        "kgw:gamma=0.25,delta=2,h=0,seeding=lefthash",
		"kgw:gamma=0.5,h=0":              "kgw:gamma=0.5,delta=2,h=0,seeding=lefthash",
		"kgw:gamma=2.5e-1,delta=2.0,h=4": DefaultSpec,
		"kgw:gamma=0.1, delta=0 ,h=32,seeding=selfhash": "kgw:gamma=0.1,delta=0,h=32,seeding=selfhash",
		"kgw:payload_bits=32":                           "kgw:gamma=0.25,delta=2,h=4,seeding=selfhash,payload_bits=32,radix=4",
		"kgw:payload_bits=12,radix=8":                   "kgw:gamma=0.125,delta=2,h=4,seeding=selfhash,payload_bits=12,radix=8",
		"kgw:radix=2,payload_bits=64,gamma=0.5":         "kgw:gamma=0.5,delta=2,h=4,seeding=selfhash,payload_bits=64,radix=2",
		"kgw:payload_bits=0":                            DefaultSpec,
		"gumbel":                                        "gumbel:h=4",
		"gumbel:h=1":                                    "gumbel:h=1",
		"tournament":                                    "tournament:m=30,h=4",
		"tournament:h=2,m=64":                           "tournament:m=64,h=2",
		"synthid":                                       "synthid:ngram_len=5,depth=30,impl=transformers,table_size=65536,table_seed=0,history=1024",
		"synthid:impl=deepmind,depth=3":                 "synthid:ngram_len=5,depth=3,impl=deepmind,history=1024",
		"synthid:history=1,table_seed=4294967295,ngram_len=33,depth=64,table_size=16777216": "synthid:ngram_len=33,depth=64,impl=transformers,table_size=16777216,table_seed=4294967295,history=1",
	}
	for in, want := range cases {
		c, err := ParseSpec(in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", in, err)
			continue
		}
		if c.String() != want {
			t.Errorf("ParseSpec(%q) = %q, want %q", in, c, want)
		}
		again, err := ParseSpec(c.String())
		if err != nil || again != c {
			t.Errorf("round trip of %q: %v, %v", c, again, err)
		}
	}
}

func TestParseSpecErrorsSayWhatIsWrong(t *testing.T) {
	cases := map[string]string{
		"":                                      "missing scheme name",
		"gumbo:gamma=1":                         `unknown scheme "gumbo"`,
		"kgw:":                                  "nothing after ':'",
		"kgw:gamma=0.25,":                       "stray comma",
		"kgw:gamma":                             `"gamma" has no value`,
		"kgw:=3":                                "no parameter name",
		"kgw:gamma=0.2,gamma=0.3":               `"gamma" given twice`,
		"kgw:gama=0.2":                          `unknown parameter "gama"`,
		"kgw:gamma=1":                           "gamma must be in (0, 1)",
		"kgw:gamma=0":                           "gamma must be in (0, 1)",
		"kgw:gamma=abc":                         "not a finite number",
		"kgw:gamma=NaN":                         "not a finite number",
		"kgw:delta=-1":                          "delta must be finite and >= 0",
		"kgw:delta=Inf":                         "not a finite number",
		"kgw:h=-1":                              "h must be in [0, 32]",
		"kgw:h=33":                              "h must be in [0, 32]",
		"kgw:h=2.5":                             "not an integer",
		"kgw:seeding=minhash":                   `seeding must be "lefthash" or "selfhash"`,
		"kgw:h=0,seeding=selfhash":              "needs h >= 1",
		"kgw:payload_bits=65":                   "payload_bits must be in [0, 64]",
		"kgw:payload_bits=32,radix=3":           "radix must be 2, 4, 8 or 16",
		"kgw:payload_bits=10,radix=8":           "multiple of log2(radix) = 3",
		"kgw:payload_bits=32,radix=4,gamma=0.5": "gamma must be 1/radix",
		"kgw:radix=4":                           "radix needs payload_bits > 0",
		"kgw:payload_bits=x":                    "not an integer",
		"gumbel:h=0":                            "h must be in [1, 32]",
		"gumbel:gamma=0.5":                      `unknown parameter "gamma" for gumbel (known: h)`,
		"tournament:m=65":                       "m must be in [1, 64]",
		"tournament:m=3.5":                      "not an integer",
		"tournament:k=3":                        "known: h, m",
		"synthid:impl=deepmind,table_size=10":   "apply only to impl=transformers",
		"synthid:impl=deepmind,table_seed=0":    "apply only to impl=transformers",
		"synthid:impl=jax":                      "impl must be transformers or deepmind",
		"synthid:ngram_len=1":                   "ngram_len must be in [2, 33]",
		"synthid:depth=0":                       "depth must be in [1, 64]",
		"synthid:depth=65":                      "depth must be in [1, 64]",
		"synthid:table_seed=-1":                 "table_seed must be in [0, 4294967295]",
		"synthid:table_size=16777217":           "table_size must be in [1, 16777216]",
		"synthid:history=0":                     "history must be in [1, 1048576]",
		"synthid:keys=1":                        "known: depth, history, impl, ngram_len, table_seed, table_size",
	}
	for in, want := range cases {
		_, err := ParseSpec(in)
		if err == nil {
			t.Errorf("ParseSpec(%q) accepted", in)
			continue
		}
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "scheme spec") {
			t.Errorf("ParseSpec(%q) error %q does not say %q", in, err, want)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{DefaultSpec, "kgw", "kgw:h=0", "kgw:gamma=0.5,delta=1e-3", "x:y=z", ":", "kgw:,,", "gumbel:h=3", "tournament:m=7", "synthid", "synthid:impl=deepmind,depth=2", "synthid:table_size=3", "kgw:payload_bits=8,radix=16,gamma=0.0625",
		"vllm-gumbel", "vllm-gumbel:context_width=2,prf=hmac-sha256", "vllm-dual-gumbel:alpha=0.25", "vllm-sbw:seeding=lefthash", "vllm-sbw:gamma=0.1,delta=0,context_width=7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseSpec(s)
		if err != nil {
			return
		}
		again, err := ParseSpec(c.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", c, s, err)
		}
		if again.String() != c.String() {
			t.Fatalf("not canonical: %q -> %q", c, again)
		}
	})
}

// TestRegistryBindsEveryScheme: every registered scheme parses its bare
// name, binds to a key, reports its own Config and null model, and its
// canonical SPEC names the scheme.
func TestRegistryBindsEveryScheme(t *testing.T) {
	key := NewKey([SecretSize]byte{1}, DefaultKGW(), DefaultTokenizer, time.Time{})
	names := SchemeNames()
	if len(names) < 3 {
		t.Fatalf("registered schemes: %v", names)
	}
	for _, name := range names {
		cfg, err := ParseSpec(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.SchemeName() != name || !strings.HasPrefix(cfg.String(), name+":") {
			t.Errorf("%s: parsed as %s (%s)", name, cfg.SchemeName(), cfg)
		}
		key := key
		if e, ok := cfg.(EngineConfig); ok {
			if _, err := cfg.Bind(key); !errors.Is(err, ErrSecretKey) {
				t.Errorf("%s bound a 32-byte key: %v", name, err)
			}
			key = NewEngineKey(make([]uint64, e.EngineKeyWords()), cfg, DefaultTokenizer, time.Time{})
		} else if _, err := cfg.Bind(NewEngineKey([]uint64{1}, cfg, DefaultTokenizer, time.Time{})); !errors.Is(err, ErrEngineKey) {
			t.Errorf("%s bound an engine key: %v", name, err)
		}
		s, err := cfg.Bind(key)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Config() != cfg || s.Spec() != cfg.String() || s.ContextWidth() != cfg.ContextWidth() || s.KeyID() != key.ID() {
			t.Errorf("%s: bound scheme reports %v %s %d %s", name, s.Config(), s.Spec(), s.ContextWidth(), s.KeyID())
		}
		if k := cfg.Null().Kind; k != BinomialNull && k != GammaNull && k != PayloadNull {
			t.Errorf("%s: null kind %q", name, k)
		}
	}
	if _, err := ParseSpec("nosuch"); err == nil || !strings.Contains(err.Error(), strings.Join(names, ", ")) {
		t.Errorf("unknown scheme error does not list the known ones: %v", err)
	}
}

// TestConfigNull: the null model comes from the parameters alone.
func TestConfigNull(t *testing.T) {
	cases := map[string]Null{
		DefaultSpec:                     {Kind: BinomialNull, P: 0.25, Trials: 1},
		"tournament:m=12":               {Kind: BinomialNull, P: 0.5, Trials: 12},
		"synthid":                       {Kind: BinomialNull, P: 32743.0 / 65536, Trials: 30},
		"synthid:impl=deepmind,depth=4": {Kind: BinomialNull, P: 0.5, Trials: 4},
		"gumbel":                        {Kind: GammaNull},
		"kgw:payload_bits=32":           {Kind: PayloadNull, Radix: 4, Slots: 16},
		"kgw:payload_bits=12,radix=8":   {Kind: PayloadNull, Radix: 8, Slots: 4},
	}
	for spec, want := range cases {
		cfg, err := ParseSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Null(); got != want {
			t.Errorf("%s: null %+v, want %+v", spec, got, want)
		}
	}
}

// TestRandomPayload: payload schemes get a payload that fits their width,
// drawn from the source; other schemes are returned unchanged.
func TestRandomPayload(t *testing.T) {
	key := NewKey([SecretSize]byte{2}, DefaultKGW(), DefaultTokenizer, time.Time{})
	for _, spec := range []string{"kgw:payload_bits=8,radix=2,gamma=0.5", "kgw:payload_bits=64,radix=16", DefaultSpec, "gumbel"} {
		cfg, _ := ParseSpec(spec)
		s, _ := cfg.Bind(key)
		rng := rand.New(rand.NewPCG(3, 4))
		got, v, err := RandomPayload(s, rng)
		if err != nil {
			t.Fatal(err)
		}
		p, carries := CarriesPayload(s)
		if !carries {
			if got != s || v != 0 {
				t.Errorf("%s: changed a scheme without a payload", spec)
			}
			continue
		}
		want := rand.New(rand.NewPCG(3, 4)).Uint64()
		if p.PayloadBits() < 64 {
			want &= 1<<p.PayloadBits() - 1
		}
		if v != want {
			t.Errorf("%s: payload %x, want %x", spec, v, want)
		}
		if set, ok := got.(Payloader).Payload(); !ok || set != v {
			t.Errorf("%s: scheme embeds %x (%v), want %x", spec, set, ok, v)
		}
	}
}
