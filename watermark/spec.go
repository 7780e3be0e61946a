package watermark

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Config is a parsed scheme SPEC string such as
// "kgw:gamma=0.25,delta=2,h=4,seeding=selfhash": a scheme's parameters,
// without a key. Its String method prints the canonical form: every
// parameter, in a fixed order, numbers in their shortest round-trip form, so
// that ParseSpec(c.String()) == c. The null distribution depends only on the
// parameters, so evaluating recorded evidence needs a Config, not a key.
type Config interface {
	// SchemeName is the part of the SPEC before the colon, e.g. "kgw".
	SchemeName() string
	// String returns the canonical SPEC string.
	String() string
	// ContextWidth is the number of preceding tokens the keyed rule reads (h).
	ContextWidth() int
	// Validate reports the first parameter that is out of range.
	Validate() error
	// Null says how the scheme's observations are distributed in text
	// written without the key.
	Null() Null
	// Bind binds the parameters to a key.
	Bind(key *Key) (Scheme, error)
}

// DefaultSpec is the scheme a new key gets unless told otherwise.
const DefaultSpec = "kgw:gamma=0.25,delta=2,h=4,seeding=selfhash"

// MaxContextWidth is the largest context width h a scheme may use.
const MaxContextWidth = 32

// schemeParser parses the parameters of one scheme (name=value pairs in the
// order given, names distinct) into its validated Config.
type schemeParser func(params []specParam) (Config, error)

// schemeParsers is the registry of SPEC scheme names. A new scheme lives in
// one file (its Config, parser, validation, keyed rule and observations) and
// registers here with one line.
func schemeParsers() map[string]schemeParser {
	return map[string]schemeParser{
		"kgw":              parseKGW,
		"gumbel":           parseGumbel,
		"tournament":       parseTournament,
		"vllm-gumbel":      parseVLLMGumbel,
		"vllm-dual-gumbel": parseVLLMDualGumbel,
		"vllm-sbw":         parseVLLMSBW,
		"synthid":          parseSynthID,
	}
}

// SchemeNames returns the registered SPEC scheme names, sorted.
func SchemeNames() []string {
	names := make([]string, 0, 8)
	for n := range schemeParsers() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// specParam is one name=value pair of a SPEC string.
type specParam struct{ name, value string }

// ParseSpec parses a SPEC string "scheme[:name=value,...]". Parameters may
// come in any order; missing ones take their defaults. SchemeNames lists
// the known schemes; each scheme's file documents its parameters.
func ParseSpec(spec string) (Config, error) {
	name, params, hasParams := strings.Cut(strings.TrimSpace(spec), ":")
	fail := func(format string, args ...any) (Config, error) {
		return nil, fmt.Errorf("scheme spec %q: %s", spec, fmt.Sprintf(format, args...))
	}
	if name == "" {
		return fail("missing scheme name (want e.g. %q)", DefaultSpec)
	}
	var kv []specParam
	if hasParams {
		if params == "" {
			return fail("nothing after ':' (want name=value pairs separated by commas)")
		}
		seen := map[string]bool{}
		for _, p := range strings.Split(params, ",") {
			k, v, ok := strings.Cut(p, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case p == "":
				return fail("empty parameter (stray comma?)")
			case !ok || v == "":
				return fail("parameter %q has no value (want name=value)", k)
			case k == "":
				return fail("value %q has no parameter name (want name=value)", v)
			case seen[k]:
				return fail("parameter %q given twice", k)
			}
			seen[k] = true
			kv = append(kv, specParam{k, v})
		}
	}
	parse, ok := schemeParsers()[name]
	if !ok {
		return fail("unknown scheme %q (known: %s)", name, strings.Join(SchemeNames(), ", "))
	}
	c, err := parse(kv)
	if err != nil {
		return fail("%v", err)
	}
	return c, nil
}

// paramSetter parses one parameter's value into its field.
type paramSetter func(value string) error

// applyParams sets each parameter through its setter and returns the names
// that were given. An unknown name is an error listing the known ones.
func applyParams(scheme string, kv []specParam, setters map[string]paramSetter) (map[string]bool, error) {
	given := map[string]bool{}
	for _, p := range kv {
		set, ok := setters[p.name]
		if !ok {
			names := make([]string, 0, len(setters))
			for n := range setters {
				names = append(names, n)
			}
			slices.Sort(names)
			return nil, fmt.Errorf("unknown parameter %q for %s (known: %s)", p.name, scheme, strings.Join(names, ", "))
		}
		if err := set(p.value); err != nil {
			return nil, fmt.Errorf("parameter %s=%q: %v", p.name, p.value, err)
		}
		given[p.name] = true
	}
	return given, nil
}

// intParam parses a decimal integer into dst.
func intParam(dst *int) paramSetter {
	return func(v string) error {
		x, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not an integer")
		}
		*dst = x
		return nil
	}
}

// floatParam parses a finite number into dst.
func floatParam(dst *float64) paramSetter {
	return func(v string) error {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("not a finite number")
		}
		*dst = x
		return nil
	}
}

// stringParam stores the value as given.
func stringParam[T ~string](dst *T) paramSetter {
	return func(v string) error { *dst = T(v); return nil }
}

func formatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// checkContextWidth reports h outside [lo, MaxContextWidth].
func checkContextWidth(h, lo int) error {
	if h < lo || h > MaxContextWidth {
		return fmt.Errorf("h must be in [%d, %d], got %d", lo, MaxContextWidth, h)
	}
	return nil
}
