package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/gowebpki/jcs"
)

// MaxFileSize bounds the evidence files Parse and Verify accept.
const MaxFileSize = 256 << 20

// Canonical returns the canonical form of a JSON text: RFC 8785 (JSON
// Canonicalization Scheme: members sorted by their UTF-16 code units, no
// white space, ECMAScript number formatting, minimal string escapes). It
// refuses duplicate member names and invalid UTF-8. The canonical form is
// what digests and signatures cover.
func Canonical(data []byte) ([]byte, error) {
	out, err := jcs.Transform(data)
	if err != nil {
		return nil, fmt.Errorf("evidence: not canonicalizable JSON: %w", err)
	}
	return out, nil
}

// members splits an evidence file into its top-level members (the raw
// JSON of each value) after checking that it is canonicalizable.
func members(data []byte) (map[string]json.RawMessage, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("evidence: file of %d bytes is larger than %d", len(data), MaxFileSize)
	}
	if _, err := Canonical(data); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, errors.New("evidence: not a JSON object")
	}
	return m, nil
}

// digest returns the lower-case hex SHA-256 of the canonical form of the
// JSON value raw.
func digest(raw []byte) (string, error) {
	c, err := Canonical(raw)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// contentDigests returns the digest of the file's content (every member
// but "signature", as one object) and of each member's value.
func contentDigests(m map[string]json.RawMessage) (content string, perMember map[string]string, err error) {
	rest := make(map[string]json.RawMessage, len(m))
	perMember = make(map[string]string, len(m))
	for name, v := range m {
		if name == "signature" {
			continue
		}
		rest[name] = v
		if perMember[name], err = digest(v); err != nil {
			return "", nil, fmt.Errorf("member %q: %w", name, err)
		}
	}
	raw, err := json.Marshal(rest)
	if err != nil {
		return "", nil, fmt.Errorf("evidence: %w", err)
	}
	content, err = digest(raw)
	return content, perMember, err
}

// ContentSHA256 returns the hex SHA-256 of the canonical form of data (an
// evidence file) without its "signature" member: the digest a signature
// covers (through Signature.ContentSHA256).
func ContentSHA256(data []byte) (string, error) {
	m, err := members(data)
	if err != nil {
		return "", err
	}
	c, _, err := contentDigests(m)
	return c, err
}

// Parse reads an evidence file. It checks that the file is valid JSON with
// no duplicate member names, of this Format and Version, and decodes the
// members this version knows; members it does not know are left for
// Verify to report (they fail the signature check when they were added
// after signing).
func Parse(data []byte) (*File, error) {
	if _, err := members(data); err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	if f.Format != Format {
		return nil, fmt.Errorf("evidence: format %q, want %q", f.Format, Format)
	}
	if f.Version != Version {
		return nil, fmt.Errorf("evidence: version %d, this tracemark reads version %d", f.Version, Version)
	}
	return &f, nil
}

// parseStrict is Parse that also refuses members this version does not
// know (Sign signs only what it understands).
func parseStrict(data []byte) (*File, error) {
	f, err := Parse(data)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var strict File
	if err := dec.Decode(&strict); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return f, nil
}

// Marshal encodes f as an evidence file (indented JSON, members in the
// order of File; the canonical form is computed from it when signing and
// verifying).
func Marshal(f *File) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return buf.Bytes(), nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
