package watermark

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Config is a parsed scheme SPEC string such as
// "kgw:gamma=0.25,delta=2,h=4,seeding=selfhash". Its String method prints the
// canonical form: every parameter, in a fixed order, numbers in their
// shortest round-trip form, so that ParseSpec(c.String()) == c.
type Config interface {
	// SchemeName is the part of the SPEC before the colon, e.g. "kgw".
	SchemeName() string
	// String returns the canonical SPEC string.
	String() string
	// ContextWidth is the number of preceding tokens the keyed rule reads (h).
	ContextWidth() int
}

// DefaultSpec is the scheme a new key gets unless told otherwise.
const DefaultSpec = "kgw:gamma=0.25,delta=2,h=4,seeding=selfhash"

// MaxContextWidth is the largest context width h a scheme may use.
const MaxContextWidth = 32

// Seeding says how a KGW green list is seeded from the context.
type Seeding string

const (
	// LeftHash seeds the green list with a keyed hash of the previous h
	// tokens (h = 0 gives the Unigram scheme: one fixed green list per key).
	LeftHash Seeding = "lefthash"
	// SelfHash seeds each candidate's green decision with an anchored
	// min-hash over the previous h tokens and the candidate itself.
	SelfHash Seeding = "selfhash"
)

// KGWConfig holds the parameters of the green-list scheme of Kirchenbauer et
// al.: a γ-fraction of token IDs is green for each seed, and embedding adds δ
// to the logits of green tokens.
type KGWConfig struct {
	Gamma   float64 // fraction of token IDs that are green, 0 < Gamma < 1
	Delta   float64 // logit bias added to green tokens, finite, >= 0
	H       int     // context width, 0..MaxContextWidth
	Seeding Seeding // LeftHash or SelfHash (SelfHash needs H >= 1)
}

// DefaultKGW returns the default green-list parameters (γ 0.25, δ 2, h 4,
// selfhash), the "Reliability" paper's recommendation.
func DefaultKGW() KGWConfig {
	return KGWConfig{Gamma: 0.25, Delta: 2, H: 4, Seeding: SelfHash}
}

// SchemeName returns "kgw".
func (c KGWConfig) SchemeName() string { return "kgw" }

// ContextWidth returns h.
func (c KGWConfig) ContextWidth() int { return c.H }

// String returns the canonical SPEC string.
func (c KGWConfig) String() string {
	return "kgw:gamma=" + formatFloat(c.Gamma) + ",delta=" + formatFloat(c.Delta) +
		",h=" + strconv.Itoa(c.H) + ",seeding=" + string(c.Seeding)
}

// Validate reports the first parameter that is out of range.
func (c KGWConfig) Validate() error {
	switch {
	case !(c.Gamma > 0 && c.Gamma < 1):
		return fmt.Errorf("gamma must be in (0, 1), got %v", c.Gamma)
	case math.IsNaN(c.Delta) || math.IsInf(c.Delta, 0) || c.Delta < 0:
		return fmt.Errorf("delta must be finite and >= 0, got %v", c.Delta)
	case c.H < 0 || c.H > MaxContextWidth:
		return fmt.Errorf("h must be in [0, %d], got %d", MaxContextWidth, c.H)
	case c.Seeding != LeftHash && c.Seeding != SelfHash:
		return fmt.Errorf("seeding must be %q or %q, got %q", LeftHash, SelfHash, c.Seeding)
	case c.Seeding == SelfHash && c.H == 0:
		return fmt.Errorf("seeding=selfhash needs h >= 1 (h=0 is the Unigram scheme: use seeding=lefthash)")
	}
	return nil
}

func formatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// ParseSpec parses a SPEC string "scheme[:name=value,...]". Parameters may
// come in any order; missing ones take their defaults. Known schemes: kgw.
// For kgw, giving h=0 without a seeding selects lefthash (Unigram).
func ParseSpec(spec string) (Config, error) {
	name, params, hasParams := strings.Cut(strings.TrimSpace(spec), ":")
	fail := func(format string, args ...any) (Config, error) {
		return nil, fmt.Errorf("scheme spec %q: %s", spec, fmt.Sprintf(format, args...))
	}
	if name == "" {
		return fail("missing scheme name (want e.g. %q)", DefaultSpec)
	}
	var kv [][2]string
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
			kv = append(kv, [2]string{k, v})
		}
	}
	switch name {
	case "kgw":
		c, err := parseKGW(kv)
		if err != nil {
			return fail("%v", err)
		}
		return c, nil
	default:
		return fail("unknown scheme %q (known: kgw)", name)
	}
}

func parseKGW(kv [][2]string) (KGWConfig, error) {
	c := DefaultKGW()
	seedingGiven := false
	for _, p := range kv {
		k, v := p[0], p[1]
		var err error
		switch k {
		case "gamma":
			c.Gamma, err = parseFiniteFloat(v)
		case "delta":
			c.Delta, err = parseFiniteFloat(v)
		case "h":
			c.H, err = strconv.Atoi(v)
			if err != nil {
				err = fmt.Errorf("not an integer")
			}
		case "seeding":
			c.Seeding, seedingGiven = Seeding(v), true
		default:
			return c, fmt.Errorf("unknown parameter %q for kgw (known: gamma, delta, h, seeding)", k)
		}
		if err != nil {
			return c, fmt.Errorf("parameter %s=%q: %v", k, v, err)
		}
	}
	if c.H == 0 && !seedingGiven {
		c.Seeding = LeftHash
	}
	return c, c.Validate()
}

func parseFiniteFloat(s string) (float64, error) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("not a finite number")
	}
	return x, nil
}
