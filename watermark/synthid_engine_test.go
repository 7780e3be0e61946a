package watermark

import (
	"strings"
	"testing"
	"time"
)

func TestImportSynthIDConfig(t *testing.T) {
	day := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	hf := `{"ngram_len": 5, "keys": [654, 400, 836, -9223372036854775808, 9223372036854775807], "context_history_size": 512, "sampling_table_seed": -1, "sampling_table_size": 1024, "skip_first_ngram_calls": false, "debug_mode": false}`
	key, cfg, err := ImportSynthIDConfig([]byte(hf), SynthIDTransformers, DefaultTokenizer, day)
	if err != nil {
		t.Fatal(err)
	}
	want := SynthIDConfig{NgramLen: 5, Depth: 5, Impl: SynthIDTransformers, TableSize: 1024, TableSeed: 0xffffffff, History: 512}
	if cfg != want || key.Scheme != Config(want) || !key.IsEngine() {
		t.Fatalf("imported %+v (key scheme %v)", cfg, key.Scheme)
	}
	w := key.EngineWords()
	if w[0] != 654 || w[3] != 1<<63 || w[4] != 1<<63-1 {
		t.Errorf("words %v", w)
	}
	// The file written for the engine reads back to the same key and scheme.
	out, err := SynthIDEngineConfig(key, cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, cfg2, err := ImportSynthIDConfig(out, SynthIDTransformers, DefaultTokenizer, day)
	if err != nil || cfg2 != cfg || again.ID() != key.ID() {
		t.Errorf("round trip: %v %+v %s", err, cfg2, out)
	}
	// Nested in a generation_config.json, defaults filled in.
	gen := `{"do_sample": true, "watermarking_config": {"ngram_len": 5, "keys": [1, 2, 3]}}`
	if _, cfg, err := ImportSynthIDConfig([]byte(gen), SynthIDTransformers, DefaultTokenizer, day); err != nil || cfg.String() != "synthid:ngram_len=5,depth=3,impl=transformers,table_size=65536,table_seed=0,history=1024" {
		t.Errorf("nested: %v %v", err, cfg)
	}
	dm := `{"ngram_len": 5, "keys": [1, 2], "context_history_size": 1024}`
	if _, cfg, err := ImportSynthIDConfig([]byte(dm), SynthIDDeepMind, DefaultTokenizer, day); err != nil || cfg.String() != "synthid:ngram_len=5,depth=2,impl=deepmind,history=1024" {
		t.Errorf("deepmind: %v %v", err, cfg)
	}
}

func TestImportSynthIDConfigErrors(t *testing.T) {
	const secret = "918273645546372819"
	cases := map[string]string{
		`[1, 2]`:                          "not a JSON object",
		`{"ngram_len": 5`:                 "invalid JSON",
		`{"keys": [1]}`:                   "ngram_len is missing",
		`{"ngram_len": 5}`:                "keys is missing",
		`{"ngram_len": 5, "keys": []}`:    "keys holds 0 values",
		`{"ngram_len": 5, "keys": [1.5]}`: "keys[0] is not an integer",
		`{"ngram_len": 5, "keys": ["` + secret + `"]}`:                   "wrong type",
		`{"ngram_len": 5, "keys": [1, ` + secret + `000000]}`:            "keys[1] is not an integer in the int64 range",
		`{"ngram_len": 1, "keys": [1]}`:                                  "ngram_len must be in [2, 33]",
		`{"ngram_len": 5.0, "keys": [1]}`:                                "ngram_len is not an integer",
		`{"ngram_len": 5, "keys": [1], "sampling_table_size": 16777217}`: "table_size must be in",
		`{"ngram_len": 5, "keys": [1], "context_history_size": 0}`:       "history must be in",
		`{"ngram_len": 5, "keys": [1], "sampling_table_seed": 1e3}`:      "sampling_table_seed is not an integer",
		`{"ngram_len": 5, "keys": [1], "key": 3}`:                        `unknown field "key"`,
		`{"ngram_len": 5, "keys": [1], "skip_first_ngram_calls": 1}`:     "wrong type",
		`{"watermarking_config": 3}`:                                     "watermarking_config is not a JSON object",
	}
	for in, want := range cases {
		_, _, err := ImportSynthIDConfig([]byte(in), SynthIDTransformers, DefaultTokenizer, time.Time{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error quotes the key: %v", in, err)
		}
	}
	if _, _, err := ImportSynthIDConfig([]byte(`{"ngram_len": 5, "keys": [1], "sampling_table_size": 8}`), SynthIDDeepMind, "", time.Time{}); err == nil || !strings.Contains(err.Error(), "belong to transformers") {
		t.Errorf("deepmind with a table: %v", err)
	}
	if _, err := SynthIDEngineConfig(NewKey([SecretSize]byte{1}, DefaultKGW(), DefaultTokenizer, time.Time{}), DefaultSynthID()); err == nil {
		t.Error("engine configuration from a 32-byte key")
	}
}

func FuzzImportSynthIDConfig(f *testing.F) {
	for _, s := range []string{`{"ngram_len": 5, "keys": [654, 400]}`, `{"watermarking_config": {"ngram_len": 2, "keys": [-1]}}`, `{}`, `[]`, `{"ngram_len": 5, "keys": [1], "sampling_table_seed": -3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		key, cfg, err := ImportSynthIDConfig(data, SynthIDTransformers, DefaultTokenizer, time.Time{})
		if err != nil {
			return
		}
		if cfg.Validate() != nil || len(key.EngineWords()) != cfg.Depth {
			t.Fatalf("accepted an invalid configuration %+v", cfg)
		}
		if _, err := NewSynthID(key, cfg); err != nil {
			t.Fatalf("imported key does not bind: %v", err)
		}
	})
}
