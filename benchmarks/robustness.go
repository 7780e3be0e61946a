package benchmarks

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/tracemark/tracemark/benchmarks/attack"
	"github.com/tracemark/tracemark/detect"
	"github.com/tracemark/tracemark/normalize"
)

// robustLengths are the text lengths (tokens) of the robustness section.
var robustLengths = []int{200, 500}

// robustStrengths are the attack strengths (fractions of tokens or
// characters edited). For copy-paste the strength is the fraction of
// human text around the watermarked span, so higher strengths are tried
// too (a span of 10% of the text at 0.9).
var (
	robustStrengths    = []float64{0.1, 0.2, 0.3, 0.4, 0.5}
	copyPasteStrengths = []float64{0.1, 0.3, 0.5, 0.7, 0.9}
)

// normalizedSuffix marks rows whose text attack is detected after
// normalize.Text (tracemark detect --normalize).
const normalizedSuffix = "+normalize"

// robustAlpha is the level at which robustness is measured.
const robustAlpha = 1e-6

// RobustnessResult is the robustness section.
type RobustnessResult struct {
	Completions int            `json:"completions_per_scheme"`
	Alpha       float64        `json:"alpha"`
	Lengths     []int          `json:"lengths"`
	HumanText   string         `json:"human_text"` // corpus copy-paste takes human text from
	Schemes     []RobustScheme `json:"schemes"`
	Seconds     float64        `json:"seconds"`
}

// RobustScheme is one scheme's detection rate after each attack.
type RobustScheme struct {
	Spec string      `json:"scheme"`
	Rows []RobustRow `json:"rows"`
}

// RobustRow is one attack at one strength: TPR[l] at robustLengths[l].
type RobustRow struct {
	Attack   string    `json:"attack"`
	Level    string    `json:"level"`
	Strength float64   `json:"strength"`
	TPR      []float64 `json:"tpr"`
}

// runRobustness attacks watermarked completions (the power section's, cut
// to 200 and 500 tokens) with every attack of package attack at increasing
// strength, plus decode → re-encode, and measures TPR at alpha 1e-6.
func runRobustness(ctx context.Context, e *env) (*RobustnessResult, error) {
	start := time.Now()
	m, tok, err := e.modelAndTokenizer()
	if err != nil {
		return nil, err
	}
	cs, _, err := e.corpora()
	if err != nil {
		return nil, err
	}
	human := corpusNamed(cs, "brown")
	if human == nil {
		human = corpusNamed(cs, "gutenberg")
	}
	var humanIDs []uint32
	for _, d := range human.docs {
		humanIDs = append(humanIDs, d...)
	}
	res := &RobustnessResult{Completions: e.cfg.completionsPerSetting(), Alpha: robustAlpha, Lengths: robustLengths, HumanText: human.Name}
	attacks := attack.Catalogue()
	type rowKey struct {
		attack   string
		level    attack.Level
		strength float64
	}
	var rows []rowKey
	rows = append(rows, rowKey{"none", attack.Token, 0}, rowKey{"re-encode", attack.Text, 0})
	for _, a := range attacks {
		ss := robustStrengths
		if a.Name == "copy-paste" {
			ss = copyPasteStrengths
		}
		for _, s := range ss {
			rows = append(rows, rowKey{a.Name, a.Level, s})
		}
		if a.Level == attack.Text {
			// The same edits, detected with --normalize.
			for _, s := range ss {
				rows = append(rows, rowKey{a.Name + normalizedSuffix, a.Level, s})
			}
		}
	}
	for si, spec := range defaultSchemes {
		p, err := e.pool(ctx, spec)
		if err != nil {
			return nil, err
		}
		// hits[c][r][l]: completion c detected after row r at length l.
		hits := make([][][]bool, len(p.comps))
		err = e.parallel(ctx, len(p.comps), func(_, ci int) error {
			c := p.comps[ci]
			in := attack.Inputs{Vocab: m.VocabSize(), Model: m.NewSession(), K: 40, Human: humanIDs, Codec: tok}
			det, err := detect.New(c.scheme, detect.Options{Alpha: robustAlpha})
			if err != nil {
				return err
			}
			hits[ci] = make([][]bool, len(rows))
			for ri, row := range rows {
				hits[ci][ri] = make([]bool, len(robustLengths))
				for li, L := range robustLengths {
					base := c.ids[:min(L, len(c.ids))]
					name, normalized := strings.CutSuffix(row.attack, normalizedSuffix)
					rng := e.rng("robust/"+name, uint64(si), uint64(ci), uint64(li), math.Float64bits(row.strength))
					var ids []uint32
					switch row.attack {
					case "none":
						ids = base
					case "re-encode":
						// The detector already sees re-encoded text; this
						// re-encodes the generated tokens themselves.
						gen := c.generated[:min(L, len(c.generated))]
						if ids, err = attack.ReEncode(tok, gen); err != nil {
							return err
						}
					default:
						a, err := attack.Lookup(name)
						if err != nil {
							return err
						}
						ain := in
						if normalized {
							ain.Codec = normalize.Tokenizer(tok)
						}
						if ids, err = a.ApplyTokens(rng, base, row.strength, ain); err != nil {
							return err
						}
						if a.Level == attack.Token {
							// The detector reads text: decode the edited
							// tokens and encode them again, as in the field.
							if ids, err = attack.ReEncode(ain.Codec, ids); err != nil {
								return err
							}
						}
					}
					hits[ci][ri][li] = det.Tokens(ids).Detected
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		rs := RobustScheme{Spec: p.spec}
		for ri, row := range rows {
			r := RobustRow{Attack: row.attack, Level: string(row.level), Strength: row.strength, TPR: make([]float64, len(robustLengths))}
			for li := range robustLengths {
				for ci := range hits {
					if hits[ci][ri][li] {
						r.TPR[li]++
					}
				}
				r.TPR[li] /= float64(len(hits))
			}
			rs.Rows = append(rs.Rows, r)
		}
		res.Schemes = append(res.Schemes, rs)
		e.logf("robustness %s done", p.spec)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// tpr returns the TPR of (attack, strength) at length index li, or NaN.
func (s RobustScheme) tpr(attackName string, strength float64, li int) float64 {
	for _, r := range s.Rows {
		if r.Attack == attackName && math.Abs(r.Strength-strength) < 1e-9 {
			return r.TPR[li]
		}
	}
	return math.NaN()
}
