package evidence

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SignatureAlgorithm is the only signature algorithm of version 1.
const SignatureAlgorithm = "ed25519"

// GenerateSigningKey makes a new Ed25519 signing key from crypto/rand.
func GenerateSigningKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("evidence: generate signing key: %w", err)
	}
	return priv, nil
}

// EncodePrivateKey returns priv as a PEM "PRIVATE KEY" block (PKCS #8),
// the form OpenSSL and most libraries read. It holds the secret: store it
// with mode 0600.
func EncodePrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("evidence: encode signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodePublicKey returns pub as a PEM "PUBLIC KEY" block (PKIX).
func EncodePublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("evidence: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey reads an Ed25519 signing key in PEM PKCS #8 form. Its
// errors never quote the data.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("evidence: signing key: not a PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("evidence: signing key: not a PKCS #8 private key")
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("evidence: signing key: not an Ed25519 key")
	}
	return priv, nil
}

// ParsePublicKey reads an Ed25519 public key: a PEM "PUBLIC KEY" block
// (PKIX), or the raw 32 bytes in standard base64 (as a signature block's
// public_key).
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("evidence: public key: PEM block %q, want PUBLIC KEY", block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("evidence: public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("evidence: public key: not an Ed25519 key")
		}
		return pub, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("evidence: public key: neither a PEM PUBLIC KEY block nor 32 bytes in base64")
	}
	return ed25519.PublicKey(raw), nil
}

// PublicKeyID returns the ID of a signing key's public key: the first 16
// hex digits of SHA-256 of its 32 raw bytes.
func PublicKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// signedBlock returns the canonical form of a signature block (its raw
// JSON) without its "value" member: the message Ed25519 signs.
func signedBlock(raw []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New("evidence: the signature member is not a JSON object")
	}
	delete(m, "value")
	out, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return Canonical(out)
}

// Sign signs an evidence file (data) with priv at time now and returns the
// signed file: data with its "signature" member set (replaced if it had
// one). It refuses files with members this version does not know, so it
// never vouches for content it cannot read.
func Sign(data []byte, priv ed25519.PrivateKey, now time.Time) ([]byte, error) {
	f, err := parseStrict(data)
	if err != nil {
		return nil, err
	}
	if err := SignFile(f, priv, now); err != nil {
		return nil, err
	}
	return Marshal(f)
}

// SignFile sets f.Signature: an Ed25519 signature by priv over f's content
// (everything but the signature) at time now.
func SignFile(f *File, priv ed25519.PrivateKey, now time.Time) error {
	if len(priv) != ed25519.PrivateKeySize {
		return errors.New("evidence: signing key has the wrong size")
	}
	f.Signature = nil
	data, err := Marshal(f)
	if err != nil {
		return err
	}
	m, err := members(data)
	if err != nil {
		return err
	}
	content, perMember, err := contentDigests(m)
	if err != nil {
		return err
	}
	pub := priv.Public().(ed25519.PublicKey)
	s := Signature{
		Algorithm:     SignatureAlgorithm,
		PublicKey:     base64.StdEncoding.EncodeToString(pub),
		PublicKeyID:   PublicKeyID(pub),
		SignedAt:      timestamp(now),
		ContentSHA256: content,
		MemberSHA256:  perMember,
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("evidence: sign: %w", err)
	}
	msg, err := signedBlock(raw)
	if err != nil {
		return fmt.Errorf("evidence: sign: %w", err)
	}
	s.Value = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg))
	f.Signature = &s
	return nil
}
