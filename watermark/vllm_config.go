package watermark

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxEngineConfigSize bounds an engine configuration file.
const MaxEngineConfigSize = 64 << 10

// vllmConfigFields are the fields of vLLM's WatermarkConfig.
var vllmConfigFields = map[string]bool{
	"key": true, "algorithm": true, "alpha": true, "context_width": true,
	"deduplicate_contexts": true, "deduplicate_contexts_max_history": true,
	"prf": true, "allow_target_only_watermarking": true,
	"sbw_scheme": true, "sbw_gamma": true, "sbw_delta": true,
}

// ParseVLLMConfig reads a vLLM watermark configuration (the JSON given to
// vllm serve --watermark-config) into an engine key whose scheme is the
// configuration's, with vLLM's defaults for what it leaves out. The key
// must be an integer in [0, 2^64) (a JSON integer, or a string of decimal
// digits). Errors name the field and what is wrong, never the key's value.
func ParseVLLMConfig(data []byte, tokenizer string, created time.Time) (*Key, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, errors.New("vLLM watermark config is not a JSON object")
	}
	if dec.More() {
		return nil, errors.New("vLLM watermark config has data after its JSON object")
	}
	for name := range raw {
		if !vllmConfigFields[name] {
			return nil, fmt.Errorf("vLLM watermark config has an unknown field %q", name)
		}
	}
	kv, ok := raw["key"]
	if !ok {
		return nil, errors.New("vLLM watermark config has no key")
	}
	key, err := vllmKeyValue(kv)
	if err != nil {
		return nil, err
	}
	str := func(name, def string) (string, error) {
		v, ok := raw[name]
		if !ok {
			return def, nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("vLLM watermark config field %s must be a string", name)
		}
		return s, nil
	}
	num := func(name string, def float64) (float64, error) {
		v, ok := raw[name]
		if !ok {
			return def, nil
		}
		n, ok := v.(json.Number)
		if !ok {
			return 0, fmt.Errorf("vLLM watermark config field %s must be a number", name)
		}
		x, err := n.Float64()
		if err != nil || math.IsInf(x, 0) {
			return 0, fmt.Errorf("vLLM watermark config field %s is not a finite number", name)
		}
		return x, nil
	}
	algorithm, err := str("algorithm", "gumbel")
	if err != nil {
		return nil, err
	}
	prf, err := str("prf", "philox")
	if err != nil {
		return nil, err
	}
	if prf != "philox" {
		return nil, fmt.Errorf("vLLM watermark config prf %q is not one vLLM accepts (philox)", prf)
	}
	width := -1
	if v, ok := raw["context_width"]; ok && v != nil {
		n, ok := v.(json.Number)
		w, err := strconv.Atoi(string(n))
		if !ok || err != nil {
			return nil, errors.New("vLLM watermark config field context_width must be an integer")
		}
		width = w
	}
	var cfg Config
	switch algorithm {
	case "gumbel":
		c := DefaultVLLMGumbel()
		if width >= 0 {
			c.H = width
		}
		cfg = c
	case "dual_key_gumbel":
		c := DefaultVLLMDualGumbel()
		if width >= 0 {
			c.H = width
		}
		if c.Alpha, err = num("alpha", c.Alpha); err != nil {
			return nil, err
		}
		cfg = c
	case "sbw":
		c := DefaultVLLMSBW()
		if c.Seeding, err = str("sbw_scheme", c.Seeding); err != nil {
			return nil, err
		}
		if c.Seeding == SBWLeftHash {
			c.H = 1
		}
		if width >= 0 {
			c.H = width
		}
		if c.Gamma, err = num("sbw_gamma", c.Gamma); err != nil {
			return nil, err
		}
		if c.Delta, err = num("sbw_delta", c.Delta); err != nil {
			return nil, err
		}
		cfg = c
	default:
		return nil, fmt.Errorf("vLLM watermark config algorithm %q is unknown (known: gumbel, dual_key_gumbel, sbw)", algorithm)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vLLM watermark config: %w", err)
	}
	return NewEngineKey([]uint64{key}, cfg, tokenizer, created), nil
}

// vllmKeyValue checks a configuration's key: an integer in [0, 2^64).
func vllmKeyValue(v any) (uint64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = x
	default:
		return 0, errors.New("vLLM watermark config key must be an integer")
	}
	switch {
	case strings.HasPrefix(s, "-"):
		return 0, errors.New("vLLM watermark config key is negative (want an integer in [0, 2^64))")
	case s == "" || strings.TrimLeft(s, "0123456789") != "":
		return 0, errors.New("vLLM watermark config key is not an integer (a fraction or exponent is not allowed)")
	}
	k, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("vLLM watermark config key is 2^64 or more (want an integer in [0, 2^64))")
	}
	return k, nil
}

// VLLMConfigJSON returns the vLLM watermark configuration of an engine key
// whose scheme is a vLLM scheme: the JSON to pass to vllm serve
// --watermark-config. It holds the secret: write it with mode 0600.
func VLLMConfigJSON(k *Key) ([]byte, error) {
	w, err := k.requireEngine(1)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	field := func(name, value string) { fmt.Fprintf(&b, ",\n  %q: %s", name, value) }
	prf := VLLMPhilox
	switch c := k.Scheme.(type) {
	case VLLMGumbelConfig:
		b.WriteString(`{"algorithm": "gumbel"`)
		field("context_width", strconv.Itoa(c.H))
		prf = c.PRF
	case VLLMDualGumbelConfig:
		b.WriteString(`{"algorithm": "dual_key_gumbel"`)
		field("alpha", formatFloat(c.Alpha))
		field("context_width", strconv.Itoa(c.H))
		prf = c.PRF
	case VLLMSBWConfig:
		b.WriteString(`{"algorithm": "sbw"`)
		field("sbw_scheme", strconv.Quote(c.Seeding))
		field("sbw_gamma", formatFloat(c.Gamma))
		field("sbw_delta", formatFloat(c.Delta))
		field("context_width", strconv.Itoa(c.H))
	default:
		return nil, fmt.Errorf("key scheme %s is not a vLLM scheme", specString(k.Scheme))
	}
	if prf != VLLMPhilox {
		return nil, fmt.Errorf("vLLM's configuration accepts only the philox PRF, not %s", prf)
	}
	field("prf", `"philox"`)
	field("key", strconv.FormatUint(w[0], 10))
	b.WriteString("\n}\n")
	return []byte(b.String()), nil
}
