package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"

	"github.com/tracemark/tracemark/watermark"
)

// Status is the outcome of one check.
type Status string

// Check outcomes. NotChecked is neither a pass nor a failure: the check
// could not be made (an input not present, no key disclosed) and says why.
const (
	Pass       Status = "pass"
	Fail       Status = "FAIL"
	NotChecked Status = "not checked"
)

// Check is one verification check.
type Check struct {
	What   string `json:"what"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// VerifySignature checks an evidence file's signature: that the signature
// block verifies under its public key, that this key is want (when want is
// not nil; else the signer is reported as not checked), and that the
// content is what was signed, naming each top-level member added, removed
// or changed since. It returns the parsed file and the checks; an error
// means the file cannot be read as an evidence file at all.
func VerifySignature(data []byte, want ed25519.PublicKey) (*File, []Check, error) {
	f, err := Parse(data)
	if err != nil {
		return nil, nil, err
	}
	m, err := members(data)
	if err != nil {
		return nil, nil, err
	}
	raw, ok := m["signature"]
	if !ok || string(raw) == "null" {
		return f, []Check{{What: "signature", Status: Fail, Detail: "the file is not signed"}}, nil
	}
	var sig Signature
	if err := json.Unmarshal(raw, &sig); err != nil {
		return f, []Check{{What: "signature", Status: Fail, Detail: fmt.Sprintf("the signature block is malformed: %v", err)}}, nil
	}
	checks := []Check{signatureCheck(raw, sig)}
	pub, _ := base64.StdEncoding.DecodeString(sig.PublicKey)
	switch {
	case want == nil:
		checks = append(checks, Check{What: "signer", Status: NotChecked,
			Detail: fmt.Sprintf("signed by public key %s, which the file itself names; give the signer's public key to check who signed", sig.PublicKeyID)})
	case bytes.Equal(pub, want):
		checks = append(checks, Check{What: "signer", Status: Pass, Detail: "signed by the expected public key " + PublicKeyID(want)})
	default:
		checks = append(checks, Check{What: "signer", Status: Fail,
			Detail: fmt.Sprintf("signed by public key %s, not by the expected %s", PublicKeyID(ed25519.PublicKey(pub)), PublicKeyID(want))})
	}
	checks = append(checks, contentCheck(m, sig))
	return f, checks, nil
}

// signatureCheck verifies the signature value over the block.
func signatureCheck(raw []byte, sig Signature) Check {
	c := Check{What: "signature", Status: Fail}
	pub, err := base64.StdEncoding.DecodeString(sig.PublicKey)
	value, verr := base64.StdEncoding.DecodeString(sig.Value)
	msg, merr := signedBlock(raw)
	switch {
	case sig.Algorithm != SignatureAlgorithm:
		c.Detail = fmt.Sprintf("algorithm %q, want %q", sig.Algorithm, SignatureAlgorithm)
	case err != nil || len(pub) != ed25519.PublicKeySize:
		c.Detail = "the public key is not 32 bytes in base64"
	case verr != nil || len(value) != ed25519.SignatureSize:
		c.Detail = "the signature value is not 64 bytes in base64"
	case merr != nil:
		c.Detail = merr.Error()
	case !ed25519.Verify(pub, msg, value):
		c.Detail = "the signature value does not verify under the block's public key: the signature block (its value, digests, key or time) was changed"
	default:
		c.Status, c.Detail = Pass, fmt.Sprintf("Ed25519 signature by public key %s, signed at %s", PublicKeyID(pub), sig.SignedAt)
	}
	return c
}

// contentCheck compares the content with the signed digests.
func contentCheck(m map[string]json.RawMessage, sig Signature) Check {
	content, perMember, err := contentDigests(m)
	if err != nil {
		return Check{What: "content", Status: Fail, Detail: err.Error()}
	}
	if content == sig.ContentSHA256 {
		return Check{What: "content", Status: Pass, Detail: "the content is what was signed (SHA-256 " + content + ")"}
	}
	var diffs []string
	for _, name := range sortedKeys(perMember) {
		old, ok := sig.MemberSHA256[name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("member %q added", name))
		case old != perMember[name]:
			diffs = append(diffs, fmt.Sprintf("member %q changed", name))
		}
	}
	for _, name := range sortedKeys(sig.MemberSHA256) {
		if _, ok := perMember[name]; !ok {
			diffs = append(diffs, fmt.Sprintf("member %q removed", name))
		}
	}
	if len(diffs) == 0 {
		diffs = append(diffs, "the member digests match but the content digest does not")
	}
	return Check{What: "content", Status: Fail, Detail: "the content differs from what was signed: " + strings.Join(diffs, "; ")}
}

// CheckInputs re-hashes every input and exclusion file of f that is
// present (named relative to the working directory, or as recorded): a
// changed size or SHA-256 fails; an input not present, or standard input,
// is reported as not checked, never as passed.
func CheckInputs(f *File) []Check {
	var out []Check
	for _, in := range f.Inputs {
		out = append(out, checkFile("input", in.Name, in.Size, in.SHA256))
	}
	for _, ex := range f.Exclusions {
		out = append(out, checkFile("exclusion file", ex.Name, ex.Size, ex.SHA256))
	}
	if c := f.Calibration; c != nil {
		out = append(out, checkFile("calibration file", c.Name, -1, c.SHA256))
	}
	return out
}

// checkFile re-hashes one file; size -1 skips the size check.
func checkFile(what, name string, size int64, sum string) Check {
	c := Check{What: what + " " + name}
	if name == "-" || name == "" {
		c.Status, c.Detail = NotChecked, "standard input cannot be re-read"
		return c
	}
	st, err := os.Stat(name)
	if err == nil && !st.Mode().IsRegular() {
		c.Status, c.Detail = NotChecked, "not a regular file, not re-hashed"
		return c
	}
	var n int64
	var got string
	if err == nil {
		n, got, err = HashFile(name)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.Status, c.Detail = NotChecked, "not present here, not re-hashed"
	case err != nil:
		c.Status, c.Detail = NotChecked, fmt.Sprintf("could not be read, not re-hashed: %v", err)
	case size >= 0 && n != size:
		c.Status, c.Detail = Fail, fmt.Sprintf("%d bytes, recorded %d (SHA-256 %s, recorded %s)", n, size, got, sum)
	case got != sum:
		c.Status, c.Detail = Fail, fmt.Sprintf("SHA-256 %s, recorded %s", got, sum)
	default:
		c.Status, c.Detail = Pass, "SHA-256 matches"
	}
	return c
}

// CheckKeys checks disclosed keys against the file's commitments: each key
// must open the commitment with its key ID; committed keys not disclosed
// are reported as not checked.
func CheckKeys(f *File, keys []*watermark.Key) []Check {
	var out []Check
	byID := map[string]*watermark.Key{}
	for _, k := range keys {
		byID[k.ID()] = k
	}
	known := map[string]bool{}
	for _, kc := range f.Keys {
		known[kc.KeyID] = true
		c := Check{What: "key " + kc.KeyID}
		k, ok := byID[kc.KeyID]
		switch {
		case !ok:
			c.Status, c.Detail = NotChecked, "not disclosed"
		default:
			if err := CheckKey(kc, k); err != nil {
				c.Status, c.Detail = Fail, strings.TrimPrefix(err.Error(), "evidence: ")
			} else {
				c.Status, c.Detail = Pass, "opens its commitment"
			}
		}
		out = append(out, c)
	}
	for _, k := range keys {
		if !known[k.ID()] {
			out = append(out, Check{What: "key " + k.ID(), Status: Fail,
				Detail: "the disclosed key is not one of the file's committed keys (" + strings.Join(committedIDs(f), ", ") + ")"})
		}
	}
	return out
}

func committedIDs(f *File) []string {
	var ids []string
	for _, kc := range f.Keys {
		ids = append(ids, kc.KeyID)
	}
	return ids
}

// maxDiffs bounds the differences Compare shows per member; maxListed
// bounds those it counts.
const (
	maxDiffs  = 20
	maxListed = 10000
)

// Compare checks recomputed evidence against recorded evidence: the
// statistics, summary, tokenizer, options, inputs, exclusions and the keys'
// IDs and schemes must be equal, number for number. Each check lists the
// differences (a JSON path with both values). Times, the command, the tool
// and the commitments' nonces are not compared.
func Compare(recorded, recomputed *File) []Check {
	pub := func(ks []KeyCommitment) []KeyCommitment {
		out := make([]KeyCommitment, len(ks))
		for i, k := range ks {
			out[i] = KeyCommitment{KeyID: k.KeyID, Kind: k.Kind, Scheme: k.Scheme}
		}
		return out
	}
	parts := []struct {
		name string
		a, b any
	}{
		{"statistics", recorded.Statistics, recomputed.Statistics},
		{"summary", recorded.Summary, recomputed.Summary},
		{"tokenizer", recorded.Tokenizer, recomputed.Tokenizer},
		{"options", recorded.Options, recomputed.Options},
		{"inputs", recorded.Inputs, recomputed.Inputs},
		{"exclusions", recorded.Exclusions, recomputed.Exclusions},
		{"keys", pub(recorded.Keys), pub(recomputed.Keys)},
	}
	var out []Check
	for _, p := range parts {
		diffs := jsonDiff(p.a, p.b)
		c := Check{What: "recomputed " + p.name, Status: Pass, Detail: "equal to the recorded ones"}
		if len(diffs) > 0 {
			c.Status = Fail
			more := ""
			if len(diffs) > maxDiffs {
				more = fmt.Sprintf("; and %d more", len(diffs)-maxDiffs)
				diffs = diffs[:maxDiffs]
			}
			c.Detail = "differ from the recorded ones: " + strings.Join(diffs, "; ") + more
			if p.name == "statistics" && usedBloom(recorded) {
				c.Detail += " (the recorded run's pooled dedup used a Bloom filter keyed by a random per-run key, so small differences in the pooled test are expected)"
			}
		}
		out = append(out, c)
	}
	return out
}

// usedBloom reports whether some recorded test's dedup was not exact.
func usedBloom(f *File) bool {
	for _, s := range f.Statistics {
		for _, k := range s.PerKey {
			if !k.DedupExact {
				return true
			}
		}
	}
	return false
}

// jsonDiff lists the differences between the JSON forms of a and b as
// "path: recorded X, recomputed Y".
func jsonDiff(a, b any) []string {
	var x, y any
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	_ = json.Unmarshal(ra, &x)
	_ = json.Unmarshal(rb, &y)
	var out []string
	diffValues("", x, y, &out)
	return out
}

func diffValues(path string, x, y any, out *[]string) {
	if len(*out) >= maxListed {
		return
	}
	switch xv := x.(type) {
	case map[string]any:
		if yv, ok := y.(map[string]any); ok {
			seen := map[string]bool{}
			for _, k := range sortedKeys(xv) {
				seen[k] = true
				diffValues(path+"."+k, xv[k], yv[k], out)
			}
			for _, k := range sortedKeys(yv) {
				if !seen[k] {
					diffValues(path+"."+k, nil, yv[k], out)
				}
			}
			return
		}
	case []any:
		if yv, ok := y.([]any); ok {
			for i := 0; i < max(len(xv), len(yv)); i++ {
				var a, b any
				if i < len(xv) {
					a = xv[i]
				}
				if i < len(yv) {
					b = yv[i]
				}
				diffValues(fmt.Sprintf("%s[%d]", path, i), a, b, out)
			}
			return
		}
	}
	if !reflect.DeepEqual(x, y) {
		*out = append(*out, fmt.Sprintf("%s: recorded %s, recomputed %s", strings.TrimPrefix(path, "."), short(x), short(y)))
	}
}

// short prints a JSON value briefly.
func short(v any) string {
	if v == nil {
		return "nothing"
	}
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// ReadFile reads an evidence file of at most MaxFileSize bytes.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, larger than the %d an evidence file may have", path, st.Size(), MaxFileSize)
	}
	return os.ReadFile(path)
}
