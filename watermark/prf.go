package watermark

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"

	"github.com/dchest/siphash"
)

// PRFVersion names the version of the keyed functions defined in docs/SPEC.md.
// Any change to how a key turns into green lists or scores bumps it.
const PRFVersion = "v1"

// golden is the 64-bit golden-ratio increment (2^64/φ, odd) used to spread
// token IDs before mixing, as in the SplitMix64 generator.
const golden = 0x9e3779b97f4a7c15

// mix64 is the SplitMix64 output finalizer (Stafford's "Mix13" constants):
// a bijection on 64-bit words with full avalanche. It is the cheap
// per-candidate mixer of PRF v1; the keyed cryptographic part is SipHash.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// spread maps a token ID to the SplitMix64 increment position (t+1)·golden.
// The +1 keeps token 0 away from the fixed point of the unmixed state.
func spread(t uint32) uint64 {
	return (uint64(t) + 1) * golden
}

// sipKey is a 128-bit SipHash-2-4 key.
type sipKey struct{ k0, k1 uint64 }

// hash returns SipHash-2-4 of msg under k.
func (k sipKey) hash(msg []byte) uint64 { return siphash.Hash(k.k0, k.k1, msg) }

// hashToken returns SipHash-2-4 under k of the 4-byte little-endian encoding of t.
func (k sipKey) hashToken(t uint32) uint64 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], t)
	return siphash.Hash(k.k0, k.k1, b[:])
}

// deriveSubkey returns HMAC-SHA256(secret, "tracemark/v1/" || domain), the
// per-use subkey from which every keyed function of PRF v1 takes its key.
// Distinct domains give independent subkeys (domain separation).
func deriveSubkey(secret *[SecretSize]byte, domain string) [32]byte {
	mac := hmac.New(sha256.New, secret[:])
	mac.Write([]byte("tracemark/" + PRFVersion + "/" + domain))
	var out [32]byte
	copy(out[:], mac.Sum(nil))
	return out
}

// deriveSipKey returns the SipHash key of a domain: the first 16 bytes of its
// subkey read as two little-endian 64-bit words.
func deriveSipKey(secret *[SecretSize]byte, domain string) sipKey {
	sk := deriveSubkey(secret, domain)
	return sipKey{binary.LittleEndian.Uint64(sk[0:8]), binary.LittleEndian.Uint64(sk[8:16])}
}

// deriveWord returns the 64-bit word subkey of a domain: the first 8 bytes of
// its subkey, little-endian.
func deriveWord(secret *[SecretSize]byte, domain string) uint64 {
	sk := deriveSubkey(secret, domain)
	return binary.LittleEndian.Uint64(sk[0:8])
}
