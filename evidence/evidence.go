// Package evidence is the evidence file: a versioned JSON record of one
// detection run (tool, command, inputs with their SHA-256, tokenizer,
// scheme, a hiding and binding commitment to each watermark key, options,
// exclusions, every statistic with its exact p-value and the corrections
// applied, seeds, timestamps, an optional calibration citation), signed
// with Ed25519 over its canonical form (RFC 8785), so that another party
// can check it with other tools. Any front end (detect, scan, merge, probe)
// builds one with a Builder from the records detect computed; Verify and
// its helpers check a file: its signature, its inputs, a disclosed key
// against its commitment, and recomputed statistics against the recorded
// ones. The format is described field by field in docs/evidence.md.
package evidence

import (
	"time"
)

// Format is the value of every evidence file's "format" member.
const Format = "tracemark-evidence"

// Version is the evidence file version this package writes and reads.
const Version = 1

// Kinds of run, as recorded in File.Kind.
const (
	KindDetect = "detect"
	KindScan   = "scan"
	KindMerge  = "merge"
	KindProbe  = "probe"
)

// Units of a Statistic.
const (
	UnitText     = "text"     // one input of detect (or one line of --ids input)
	UnitDocument = "document" // one document of a scan
	UnitCorpus   = "corpus"   // a pooled test over all inputs
	UnitCustomer = "customer" // a probe's attribution test of one candidate customer
)

// Correction methods.
const (
	CorrectionHolm = "holm"               // Holm's step-down, family-wise error over keys
	CorrectionBH   = "benjamini-hochberg" // BH q-value, false discovery rate over documents
)

// File is an evidence file. JSON member names are the file format
// (docs/evidence.md); every member is present in every file except
// Calibration and Signature, which are omitted when absent.
type File struct {
	Format  string `json:"format"`  // Format
	Version int    `json:"version"` // Version
	Kind    string `json:"kind"`    // KindDetect, KindScan, ...
	Tool    Tool   `json:"tool"`
	// Command is the command line, with every value that could be a secret
	// replaced by "[redacted]"; watermark keys are never in it (they are
	// given as file paths or in the environment).
	Command    []string        `json:"command"`
	StartedAt  string          `json:"started_at"`  // RFC 3339, UTC, nanoseconds
	FinishedAt string          `json:"finished_at"` // RFC 3339, UTC, nanoseconds
	Inputs     []Input         `json:"inputs"`
	Tokenizer  Tokenizer       `json:"tokenizer"`
	Keys       []KeyCommitment `json:"keys"`
	Options    Options         `json:"options"`
	Exclusions []Exclusion     `json:"exclusions"`
	Seeds      []Seed          `json:"seeds"`
	Statistics []Statistic     `json:"statistics"`
	// Summary holds run-wide counts (documents, tokens, errors, ...) as
	// integers by name.
	Summary     map[string]int64     `json:"summary"`
	Calibration *CalibrationCitation `json:"calibration,omitempty"`
	Signature   *Signature           `json:"signature,omitempty"`
}

// Tool is the program that made the file.
type Tool struct {
	Name      string `json:"name"`       // "tracemark"
	Version   string `json:"version"`    // module version, or devel-<commit>
	Commit    string `json:"commit"`     // VCS revision ("" if unknown)
	Modified  bool   `json:"modified"`   // built from a modified work tree
	GoVersion string `json:"go_version"` // Go toolchain
	Module    string `json:"module"`     // main module path
}

// Input is one input read by the run.
type Input struct {
	Name   string `json:"name"`   // as given on the command line ("-" is standard input)
	Size   int64  `json:"size"`   // bytes as stored (before decompression)
	SHA256 string `json:"sha256"` // lower-case hex of the stored bytes
}

// Tokenizer identifies the tokenizer used.
type Tokenizer struct {
	Name string `json:"name"`
	// VocabSHA256 hashes the vocabulary: see TokenizerHash.
	VocabSHA256 string `json:"vocab_sha256"`
	VocabSize   int    `json:"vocab_size"`
}

// KeyCommitment is a watermark key's public part: its ID, the scheme it
// was used with, and a commitment to its secret (Commit).
type KeyCommitment struct {
	KeyID  string `json:"key_id"`
	Kind   string `json:"kind"`   // KeyKindSecret or KeyKindEngine
	Scheme string `json:"scheme"` // canonical SPEC used in this run
	// KeyScheme is the scheme stored with the key (detection's default).
	KeyScheme string `json:"key_scheme"`
	// Nonce is 32 random bytes (hex) drawn for this commitment.
	Nonce string `json:"nonce"`
	// Commitment is SHA-256(CommitmentDomain || kind || 0x00 || nonce ||
	// canonical key bytes), lower-case hex.
	Commitment string `json:"commitment"`
}

// Options are the settings that shape the statistics.
type Options struct {
	Alpha float64 `json:"alpha"`
	FDR   float64 `json:"fdr"` // 0: off
	// Dedup is the per-text dedup policy: "tuple" (each distinct (context,
	// token) tuple once) or "none" (--no-dedup).
	Dedup string `json:"dedup"`
	// DocDedup is a scan's per-document mode: "document" or "corpus" ("" for
	// detect).
	DocDedup string `json:"doc_dedup"`
	// PooledDedup is the pooled test's policy: "corpus-tuple" (each tuple
	// of the whole run once), or "" when there is no pooled test.
	PooledDedup string `json:"pooled_dedup"`
	Normalize   bool   `json:"normalize"`
	IDs         bool   `json:"ids"` // inputs are token-ID lines
	// Read holds a front end's reading options (format, fields, role,
	// split, ...) by name.
	Read map[string]string `json:"read"`
}

// Exclusion is a file whose n-grams were excluded from scoring.
type Exclusion struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// What says what was excluded, e.g. "(h+1)-grams of every line".
	What string `json:"what"`
	// Ngrams is the number of distinct n-grams excluded (-1 if unknown).
	Ngrams int `json:"ngrams"`
}

// Seed is a random seed or key the run drew, by name.
type Seed struct {
	Name  string `json:"name"`
	Value string `json:"value"` // decimal or hex, as a string (JSON numbers lose 64-bit integers)
	// Recorded tells whether replaying with Value reproduces the run
	// exactly; a note says why not when it does not matter.
	Note string `json:"note"`
}

// Statistic is one test's evidence: one text, one document or one pooled
// corpus test, under one or several keys.
type Statistic struct {
	Unit     string `json:"unit"`  // UnitText, UnitDocument, UnitCorpus
	Input    string `json:"input"` // the input (file) name
	ID       string `json:"id"`    // document ID ("" for texts)
	Location string `json:"location"`
	Tokens   int    `json:"tokens"`
	Scored   int    `json:"scored"` // the best key's independent observations
	// Detected: PValue <= alpha (after the corrections over keys).
	Detected bool `json:"detected"`
	// Flagged is the run's verdict: Detected, or with an FDR level the
	// BH q-value <= FDR.
	Flagged bool    `json:"flagged"`
	PValue  float64 `json:"p_value"` // after the corrections; 0 only below 1e-308
	Log10P  float64 `json:"log10_p"` // after the corrections
	KeyID   string  `json:"key_id"`  // best key
	Payload string  `json:"payload"` // best key's decoded payload (hex), "" if none
	// PayloadClaimed and PayloadLog10P are the best key's payload verdict
	// and its own p-value (null without a payload).
	PayloadClaimed bool     `json:"payload_claimed"`
	PayloadLog10P  *float64 `json:"payload_log10_p"`
	// Corrections lists, in the order applied, the multiple-testing
	// corrections behind PValue (Holm over keys) and beside it (BH q-value
	// over documents).
	Corrections []Correction `json:"corrections"`
	// PerKey is each key's own raw evidence, when the front end has it.
	PerKey []KeyStatistic `json:"per_key"`
}

// KeyStatistic is one key's raw evidence for one test.
type KeyStatistic struct {
	KeyID      string  `json:"key_id"`
	Scheme     string  `json:"scheme"`
	Test       string  `json:"test"` // exact test (detect.Test...)
	Tokens     int     `json:"tokens"`
	Scored     int     `json:"scored"`
	Score      float64 `json:"score"`
	Duplicates int     `json:"duplicates"`
	Excluded   int     `json:"excluded"`
	PValue     float64 `json:"p_value"`
	Log10P     float64 `json:"log10_p"`
	Z          float64 `json:"z"`
	TooShort   bool    `json:"too_short"`
	// DedupExact is false when a Bloom filter dropped some tuples (pooled
	// tests of very large corpora).
	DedupExact    bool     `json:"dedup_exact"`
	Payload       string   `json:"payload"`
	PayloadLog10P *float64 `json:"payload_log10_p"`
}

// Correction is one multiple-testing correction applied to a test.
type Correction struct {
	Method string `json:"method"` // CorrectionHolm, CorrectionBH
	Over   string `json:"over"`   // "keys" or "documents"
	Family int    `json:"family"` // number of tests corrected for
	// AdjustedLog10P is the adjusted p-value (the q-value for BH), log10.
	AdjustedLog10P float64 `json:"adjusted_log10_p"`
}

// CalibrationCitation cites a calibration result (tracemark calibrate
// --out FILE) by its file's hash, with its numbers.
type CalibrationCitation struct {
	Name   string      `json:"name"`
	SHA256 string      `json:"sha256"` // of the calibration file's bytes
	Result Calibration `json:"result"`
}

// Signature is the signature block (docs/evidence.md, "Signature").
type Signature struct {
	Algorithm string `json:"algorithm"` // "ed25519"
	PublicKey string `json:"public_key"`
	// PublicKeyID is the first 16 hex digits of SHA-256 of the raw public key.
	PublicKeyID string `json:"public_key_id"`
	SignedAt    string `json:"signed_at"`
	// ContentSHA256 is SHA-256 of the canonical form of the file without
	// its "signature" member.
	ContentSHA256 string `json:"content_sha256"`
	// MemberSHA256 is, for every top-level member but "signature", SHA-256
	// of its value's canonical form: verification uses them to say which
	// members changed.
	MemberSHA256 map[string]string `json:"member_sha256"`
	// Value is the Ed25519 signature (base64) of the canonical form of this
	// block without "value".
	Value string `json:"value"`
}

// timestamp formats t as evidence files record times.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
