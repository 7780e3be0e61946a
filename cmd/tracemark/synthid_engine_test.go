package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// synthIDScoreCase is a case of watermark/testdata/synthid_vectors.json
// that carries SynthID-Text's own scores: tokens and the reference's
// mean_score, weighted_mean_score and count of unmasked positions.
type synthIDScoreCase struct {
	Impl         string   `json:"impl"`
	Keys         []string `json:"keys"`
	NgramLen     int      `json:"ngram_len"`
	History      int      `json:"history"`
	TableSize    int      `json:"table_size"`
	TableSeed    uint32   `json:"table_seed"`
	Tokens       []uint32 `json:"tokens"`
	Mean         float64  `json:"mean"`
	WeightedMean float64  `json:"weighted_mean"`
	Scored       int      `json:"scored"`
}

// config is the case's engine configuration (transformers'
// SynthIDTextWatermarkingConfig fields), as key import reads it.
func (c synthIDScoreCase) config() string {
	cfg := fmt.Sprintf(`{"ngram_len": %d, "keys": [%s], "context_history_size": %d`, c.NgramLen, strings.Join(c.Keys, ", "), c.History)
	if c.Impl == "transformers" {
		cfg += fmt.Sprintf(`, "sampling_table_size": %d, "sampling_table_seed": %d`, c.TableSize, c.TableSeed)
	}
	return cfg + "}"
}

// TestDetectSynthIDEngineScores: detect --json reports SynthID-Text's own
// scores (engine_detection: its mean and weighted mean under its
// repetition mask, no p-value) equal to the reference's on every committed
// score and generation vector, keys imported from the engines'
// configuration, next to tracemark's own evidence (exact p-value, its
// dedup).
func TestDetectSynthIDEngineScores(t *testing.T) {
	raw, err := os.ReadFile("../../watermark/testdata/synthid_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Scores     []synthIDScoreCase `json:"scores"`
		Generation []synthIDScoreCase `json:"generation"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	// One key per configuration; its cases are the lines of one detect run.
	groups := map[string][]synthIDScoreCase{}
	var order []string
	for _, c := range append(v.Scores, v.Generation...) {
		id := c.Impl + " " + c.config()
		if groups[id] == nil {
			order = append(order, id)
		}
		groups[id] = append(groups[id], c)
	}
	dir := t.TempDir()
	checked, fewer, more := 0, 0, 0
	for gi, id := range order {
		cases := groups[id]
		cfgPath, keyPath := filepath.Join(dir, fmt.Sprint(gi)+".json"), filepath.Join(dir, fmt.Sprint(gi)+".key")
		if err := os.WriteFile(cfgPath, []byte(cases[0].config()), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := cliRun(t, "", "key", "import", "--synthid-impl", cases[0].Impl, "--out", keyPath, cfgPath); code != 0 {
			t.Fatalf("key import %s: %s", id, stderr)
		}
		var stdin strings.Builder
		for _, c := range cases {
			stdin.WriteString(idLine(c.Tokens))
		}
		code, stdout, stderr := cliRun(t, stdin.String(), "detect", "--key", keyPath, "--ids", "--json", "-")
		if code == 2 {
			t.Fatalf("detect %s: %s", id, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != len(cases) {
			t.Fatalf("%s: %d results for %d inputs", id, len(lines), len(cases))
		}
		wantEngine := map[string]string{"transformers": "transformers", "deepmind": "synthid-text"}[cases[0].Impl]
		for i, c := range cases {
			var row struct {
				KeyID  string                     `json:"key_id"`
				PValue *float64                   `json:"p_value"`
				Log10P *float64                   `json:"log10_p"`
				Scored int                        `json:"scored"`
				Engine map[string]json.RawMessage `json:"engine_detection"`
			}
			if err := json.Unmarshal([]byte(lines[i]), &row); err != nil || row.Engine == nil {
				t.Fatalf("%s case %d: %v in %s", id, i, err, lines[i])
			}
			var e struct {
				KeyID     string   `json:"key_id"`
				Engine    string   `json:"engine"`
				Algorithm string   `json:"algorithm"`
				Mean      *float64 `json:"mean_score"`
				Weighted  *float64 `json:"weighted_mean_score"`
				Scored    int      `json:"num_scored_tokens"`
			}
			if err := json.Unmarshal([]byte(lines[i]), &struct {
				E any `json:"engine_detection"`
			}{&e}); err != nil {
				t.Fatal(err)
			}
			_, hasP := row.Engine["p_value"]
			if e.KeyID != row.KeyID || e.Engine != wantEngine || e.Algorithm != "synthid" || hasP || len(row.Engine) != 6 {
				t.Errorf("%s case %d: engine_detection in %s", id, i, lines[i])
			}
			if e.Scored != c.Scored || e.Mean == nil || e.Weighted == nil || math.Abs(*e.Mean-c.Mean) > 1e-12 || math.Abs(*e.Weighted-c.WeightedMean) > 1e-12 {
				t.Errorf("%s case %d (%d tokens): engine scored %d mean %v weighted %v, reference %d %v %v", id, i, len(c.Tokens), e.Scored, e.Mean, e.Weighted, c.Scored, c.Mean, c.WeightedMean)
			}
			// tracemark's evidence beside it: an exact p-value over its own
			// dedup (distinct n-grams), which counts positions differently.
			if row.PValue == nil || row.Log10P == nil || row.Scored > len(c.Tokens)-(c.NgramLen-1) {
				t.Errorf("%s case %d: tracemark's evidence missing: %s", id, i, lines[i])
			}
			switch {
			case row.Scored < e.Scored:
				fewer++
			case row.Scored > e.Scored:
				more++
			}
			checked++
		}
	}
	if checked != len(v.Scores)+len(v.Generation) || checked < 40 {
		t.Fatalf("checked %d cases", checked)
	}
	t.Logf("%d cases in %d configurations; tracemark scores fewer positions than SynthID in %d, more in %d", checked, len(order), fewer, more)
}
