package watermark

import (
	"strings"
	"testing"
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
		"":                         "missing scheme name",
		"gumbo:gamma=1":            `unknown scheme "gumbo"`,
		"kgw:":                     "nothing after ':'",
		"kgw:gamma=0.25,":          "stray comma",
		"kgw:gamma":                `"gamma" has no value`,
		"kgw:=3":                   "no parameter name",
		"kgw:gamma=0.2,gamma=0.3":  `"gamma" given twice`,
		"kgw:gama=0.2":             `unknown parameter "gama"`,
		"kgw:gamma=1":              "gamma must be in (0, 1)",
		"kgw:gamma=0":              "gamma must be in (0, 1)",
		"kgw:gamma=abc":            "not a finite number",
		"kgw:gamma=NaN":            "not a finite number",
		"kgw:delta=-1":             "delta must be finite and >= 0",
		"kgw:delta=Inf":            "not a finite number",
		"kgw:h=-1":                 "h must be in [0, 32]",
		"kgw:h=33":                 "h must be in [0, 32]",
		"kgw:h=2.5":                "not an integer",
		"kgw:seeding=minhash":      `seeding must be "lefthash" or "selfhash"`,
		"kgw:h=0,seeding=selfhash": "needs h >= 1",
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
	for _, s := range []string{DefaultSpec, "kgw", "kgw:h=0", "kgw:gamma=0.5,delta=1e-3", "x:y=z", ":", "kgw:,,"} {
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
