package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// CalibrationFormat is the "format" member of a calibration file.
const CalibrationFormat = "tracemark-calibration"

// Calibration is the result of tracemark calibrate: the empirical
// false-positive rate of per-document detection under one fixed key on
// human text, with exact intervals and a uniformity check of the
// p-values. An evidence file cites it (CalibrationCitation).
type Calibration struct {
	Format    string  `json:"format"`  // CalibrationFormat
	Version   int     `json:"version"` // Version
	Tool      Tool    `json:"tool"`
	CreatedAt string  `json:"created_at"`
	KeyID     string  `json:"key_id"`
	Scheme    string  `json:"scheme"`
	Tokenizer string  `json:"tokenizer"`
	Corpora   []Input `json:"corpora"`
	Options   Options `json:"options"`
	// Documents is the number of documents tested (each level's rate is
	// over all of them); Unscored of them had no scored token (p-value 1).
	Documents int `json:"documents"`
	Unscored  int `json:"unscored"`
	// Errors counts bad records and unreadable files (skipped).
	Errors int        `json:"errors"`
	Levels []FPRLevel `json:"levels"`
	// Uniformity checks the p-values against U(0,1).
	Uniformity Uniformity `json:"uniformity"`
}

// FPRLevel is the false-positive rate at one significance level.
type FPRLevel struct {
	Alpha   float64 `json:"alpha"`
	Flagged int     `json:"flagged"` // documents with p <= Alpha
	Rate    float64 `json:"rate"`    // Flagged / Documents
	// CILow and CIHigh bound the rate: Clopper–Pearson, level CILevel.
	CILow   float64 `json:"ci_low"`
	CIHigh  float64 `json:"ci_high"`
	CILevel float64 `json:"ci_level"`
	// Consistent: Alpha is not below the interval (the rate is not shown
	// to exceed Alpha).
	Consistent bool `json:"consistent"`
}

// Uniformity is a Kolmogorov–Smirnov check of the p-values of the scored
// documents against U(0,1).
type Uniformity struct {
	N int `json:"n"`
	// ExcessD and ExcessP are the one-sided statistic D+ (too many small
	// p-values) and its p-value bound; this is the check that matters.
	ExcessD float64 `json:"excess_d"`
	ExcessP float64 `json:"excess_p_value"`
	// D and P are the two-sided statistic and p-value; discrete tests on
	// short documents are conservative, which only this one detects.
	D float64 `json:"d"`
	P float64 `json:"p_value"`
}

// ParseCalibration reads a calibration file.
func ParseCalibration(data []byte) (*Calibration, error) {
	if _, err := Canonical(data); err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	var c Calibration
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	if c.Format != CalibrationFormat || c.Version != Version {
		return nil, fmt.Errorf("calibration: format %q version %d, want %q version %d", c.Format, c.Version, CalibrationFormat, Version)
	}
	return &c, nil
}

// CiteCalibration returns the citation of the calibration file name whose
// bytes are data.
func CiteCalibration(name string, data []byte) (*CalibrationCitation, error) {
	c, err := ParseCalibration(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sum := sha256.Sum256(data)
	return &CalibrationCitation{Name: name, SHA256: hex.EncodeToString(sum[:]), Result: *c}, nil
}
