package watermark

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// synthIDEngineJSON is transformers' SynthIDTextWatermarkingConfig as JSON
// (its to_dict), the form a deployment keeps: in a file of its own, or as
// "watermarking_config" inside a generation_config.json.
type synthIDEngineJSON struct {
	NgramLen           json.Number   `json:"ngram_len"`
	Keys               []json.Number `json:"keys"`
	ContextHistorySize json.Number   `json:"context_history_size,omitempty"`
	SamplingTableSeed  json.Number   `json:"sampling_table_seed,omitempty"`
	SamplingTableSize  json.Number   `json:"sampling_table_size,omitempty"`
	SkipFirstNgram     *bool         `json:"skip_first_ngram_calls,omitempty"`
	DebugMode          *bool         `json:"debug_mode,omitempty"`
}

// ImportSynthIDConfig reads a SynthID-Text configuration, transformers'
// SynthIDTextWatermarkingConfig as JSON (ngram_len and keys required;
// context_history_size, sampling_table_seed and sampling_table_size with
// transformers' defaults 1024, 0 and 65536), at the top level or under
// "watermarking_config", and returns an engine key holding the key list with
// the scheme it configures. impl is SynthIDTransformers or SynthIDDeepMind
// (the reference's configuration has no sampling table; its table fields
// must then be absent). Errors never quote the keys.
func ImportSynthIDConfig(data []byte, impl, tokenizer string, created time.Time) (*Key, SynthIDConfig, error) {
	fail := func(format string, args ...any) (*Key, SynthIDConfig, error) {
		return nil, SynthIDConfig{}, fmt.Errorf("synthid configuration: "+format, args...)
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(data, &outer); err != nil {
		return fail("not a JSON object: %v", jsonErrorWithoutText(err))
	}
	if inner, ok := outer["watermarking_config"]; ok {
		data, outer = inner, nil
		if err := json.Unmarshal(data, &outer); err != nil || outer == nil {
			return fail("watermarking_config is not a JSON object")
		}
	}
	known := map[string]bool{"ngram_len": true, "keys": true, "context_history_size": true, "sampling_table_seed": true,
		"sampling_table_size": true, "skip_first_ngram_calls": true, "debug_mode": true}
	for name := range outer {
		if !known[name] {
			return fail("unknown field %q (want SynthIDTextWatermarkingConfig's fields: ngram_len, keys, context_history_size, sampling_table_seed, sampling_table_size, skip_first_ngram_calls, debug_mode)", name)
		}
	}
	// Numbers must be JSON numbers, as Python's json gives the engine ints:
	// a quoted number is a string to it.
	for _, name := range []string{"ngram_len", "context_history_size", "sampling_table_seed", "sampling_table_size"} {
		if raw, ok := outer[name]; ok && len(raw) > 0 && raw[0] == '"' {
			return fail("field %s has the wrong type (string)", name)
		}
	}
	var rawKeys []json.RawMessage
	if raw, ok := outer["keys"]; ok {
		if err := json.Unmarshal(raw, &rawKeys); err != nil {
			return fail("field keys has the wrong type (want a list of integers)")
		}
		for i, k := range rawKeys {
			if len(k) > 0 && k[0] == '"' {
				return fail("field keys[%d] has the wrong type (string)", i)
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var j synthIDEngineJSON
	if err := dec.Decode(&j); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fail("field %s has the wrong type (%s)", te.Field, te.Value)
		}
		return fail("%v", jsonErrorWithoutText(err))
	}
	if j.NgramLen == "" {
		return fail("ngram_len is missing")
	}
	if j.Keys == nil {
		return fail("keys is missing")
	}
	if len(j.Keys) == 0 || len(j.Keys) > 64 {
		return fail("keys holds %d values, want 1 to 64", len(j.Keys))
	}
	cfg := DefaultSynthID()
	cfg.Impl, cfg.Depth = impl, len(j.Keys)
	var err error
	if cfg.NgramLen, err = configInt("ngram_len", j.NgramLen); err != nil {
		return fail("%v", err)
	}
	if j.ContextHistorySize != "" {
		if cfg.History, err = configInt("context_history_size", j.ContextHistorySize); err != nil {
			return fail("%v", err)
		}
	}
	switch impl {
	case SynthIDTransformers:
		if j.SamplingTableSize != "" {
			if cfg.TableSize, err = configInt("sampling_table_size", j.SamplingTableSize); err != nil {
				return fail("%v", err)
			}
		}
		if j.SamplingTableSeed != "" {
			// torch's manual_seed keeps the seed modulo 2^64; its CPU
			// generator uses the low 32 bits.
			s, ok := parseTorchSeed(string(j.SamplingTableSeed))
			if !ok {
				return fail("sampling_table_seed is not an integer in [-2^63, 2^64)")
			}
			cfg.TableSeed = s
		}
	case SynthIDDeepMind:
		if j.SamplingTableSize != "" || j.SamplingTableSeed != "" {
			return fail("sampling_table_size and sampling_table_seed belong to transformers' implementation, not %s", impl)
		}
		cfg.TableSize = 0
	default:
		return fail("impl must be %s or %s, got %q", SynthIDTransformers, SynthIDDeepMind, impl)
	}
	if err := cfg.Validate(); err != nil {
		return fail("%v", err)
	}
	words := make([]uint64, len(j.Keys))
	for i, k := range j.Keys {
		v, err := strconv.ParseInt(string(k), 10, 64)
		if err != nil {
			return fail("keys[%d] is not an integer in the int64 range", i)
		}
		words[i] = uint64(v)
	}
	return NewEngineKey(words, cfg, tokenizer, created), cfg, nil
}

// jsonErrorWithoutText keeps a JSON syntax error's position but not the
// offending text, which may be part of a key.
func jsonErrorWithoutText(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d", se.Offset)
	}
	return errors.New("invalid JSON")
}

func configInt(name string, n json.Number) (int, error) {
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%s is not an integer", name)
	}
	return int(v), nil
}

// parseTorchSeed maps an integer seed to the 32 bits torch's CPU generator
// uses: the value modulo 2^64, low 32 bits.
func parseTorchSeed(s string) (uint32, bool) {
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return uint32(u), true
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return uint32(uint64(v)), true
	}
	return 0, false
}

// SynthIDEngineConfig returns the transformers SynthIDTextWatermarkingConfig
// (JSON) that embeds what key and cfg detect, to hand to the engine
// (SynthIDTextWatermarkingConfig(**json.load(f))). It holds the secret key
// list: write it with mode 0600. The DeepMind implementation has no such
// configuration; its keys are the same list.
func SynthIDEngineConfig(key *Key, cfg SynthIDConfig) ([]byte, error) {
	if cfg.Impl != SynthIDTransformers {
		return nil, fmt.Errorf("synthid: only impl=%s has an engine configuration file", SynthIDTransformers)
	}
	words, err := key.requireEngine(cfg.Depth)
	if err != nil {
		return nil, fmt.Errorf("synthid: %w", err)
	}
	keys := make([]int64, len(words))
	for i, w := range words {
		keys[i] = int64(w)
	}
	return json.MarshalIndent(map[string]any{
		"ngram_len": cfg.NgramLen, "keys": keys, "context_history_size": cfg.History,
		"sampling_table_seed": cfg.TableSeed, "sampling_table_size": cfg.TableSize,
		"skip_first_ngram_calls": false, "debug_mode": false,
	}, "", "  ")
}
