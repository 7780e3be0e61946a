package evidence

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"

	"github.com/tracemark/tracemark/watermark"
)

// CommitmentDomain is the domain tag that begins every key commitment's
// hashed message.
const CommitmentDomain = "tracemark/evidence/v1/key-commitment"

// Key kinds, as recorded in KeyCommitment.Kind.
const (
	KeyKindSecret = "secret" // a tracemark key: 32 secret bytes
	KeyKindEngine = "engine" // an engine key: its 64-bit words
)

// NonceSize is the size in bytes of a commitment's random nonce.
const NonceSize = 32

// keyKind returns the kind of k.
func keyKind(k *watermark.Key) string {
	if k.IsEngine() {
		return KeyKindEngine
	}
	return KeyKindSecret
}

// commitment computes SHA-256(CommitmentDomain || kind || 0x00 || nonce ||
// secret bytes) (watermark.Key.AppendSecretBytes).
func commitment(k *watermark.Key, nonce []byte) [sha256.Size]byte {
	msg := []byte(CommitmentDomain)
	msg = append(msg, keyKind(k)...)
	msg = append(msg, 0)
	msg = append(msg, nonce...)
	msg = k.AppendSecretBytes(msg)
	sum := sha256.Sum256(msg)
	clear(msg) // it holds the secret
	return sum
}

// Commit returns a commitment to key, used with scheme (a canonical SPEC),
// under a fresh random nonce. The commitment hides the key (the nonce is
// 256 random bits, so the digest says nothing about the secret, even for a
// guessable engine key, beyond what the key ID says) and binds it (finding
// another key with the same commitment means a SHA-256 collision): the key
// can be disclosed later to an arbiter, who checks it with CheckKey.
func Commit(key *watermark.Key, scheme string) (KeyCommitment, error) {
	nonce := make([]byte, NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return KeyCommitment{}, fmt.Errorf("evidence: commitment nonce: %w", err)
	}
	sum := commitment(key, nonce)
	kc := KeyCommitment{KeyID: key.ID(), Kind: keyKind(key), Scheme: scheme, Nonce: hex.EncodeToString(nonce),
		Commitment: hex.EncodeToString(sum[:])}
	if key.Scheme != nil {
		kc.KeyScheme = key.Scheme.String()
	}
	return kc, nil
}

// CheckKey reports whether key opens the commitment kc: same key ID and
// kind, and SHA-256 over the domain tag, kind, nonce and key bytes equal to
// the recorded commitment. The error says what differs, never the key.
func CheckKey(kc KeyCommitment, key *watermark.Key) error {
	if kc.KeyID != key.ID() {
		return fmt.Errorf("evidence: key %s is not the committed key %s", key.ID(), kc.KeyID)
	}
	if kc.Kind != keyKind(key) {
		return fmt.Errorf("evidence: key %s is a %s key, the commitment is to a %s key", key.ID(), keyKind(key), kc.Kind)
	}
	nonce, err := hex.DecodeString(kc.Nonce)
	if err != nil || len(nonce) != NonceSize {
		return fmt.Errorf("evidence: key %s: the commitment's nonce is not %d bytes in hex", kc.KeyID, NonceSize)
	}
	want, err := hex.DecodeString(kc.Commitment)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("evidence: key %s: the commitment is not a SHA-256 digest in hex", kc.KeyID)
	}
	got := commitment(key, nonce)
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return fmt.Errorf("evidence: key %s does not open its commitment (the key's secret differs from the committed one, or the commitment was changed)", kc.KeyID)
	}
	return nil
}
