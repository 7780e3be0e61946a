package watermark

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// This file holds the keyed functions of vLLM's native watermarks
// (vllm/v1/watermarking, Model Runner V2) as docs/engines.md writes them
// down: the Philox4x32-10 PRF "philox4x32-10-v1", the HMAC-SHA256
// reference PRF "hmac-sha256-v1", the word-to-uniform map both share, and
// the key derivation of the dual-key scheme. Philox is a fast
// counter-based generator, not a cryptographic PRF: its 64-bit key can in
// principle be recovered from enough watermarked output, so prefer the HMAC
// PRF where the engine accepts it.

// Philox4x32-10 constants (Salmon et al., SC'11).
const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
	// vLLM's domain words for the context and token stages of its PRF.
	vllmContextDomain = 0x574D4358
	vllmTokenDomain   = 0x574D544B
)

// philox4x32 is Philox4x32-10: ten rounds on counter c under key (k0, k1).
// The rounds are written out (no loop counter or branch): this function is
// most of the cost of vLLM-scheme detection.
func philox4x32(c [4]uint32, k0, k1 uint32) [4]uint32 {
	c0, c1, c2, c3 := c[0], c[1], c[2], c[3]
	var p0, p1 uint64
	p0, p1 = uint64(c0)*philoxM0, uint64(c2)*philoxM1
	c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
	k0 += philoxW0
	k1 += philoxW1
	p0, p1 = uint64(c0)*philoxM0, uint64(c2)*philoxM1
	c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
	k0 += philoxW0
	k1 += philoxW1
	p0, p1 = uint64(c0)*philoxM0, uint64(c2)*philoxM1
	c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
	k0 += philoxW0
	k1 += philoxW1
	p0, p1 = uint64(c0)*philoxM0, uint64(c2)*philoxM1
	c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
	k0 += philoxW0
	k1 += philoxW1
	p0, p1 = uint64(c0)*philoxM0, uint64(c2)*philoxM1
	c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
	k0 += philoxW0
	k1 += philoxW1
	p0, p1 = uint64(c0)*philoxM0, uint64(c2)*philoxM1
	c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
	k0 += philoxW0
	k1 += philoxW1
	p0, p1 = uint64(c0)*philoxM0, uint64(c2)*philoxM1
	c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
	k0 += philoxW0
	k1 += philoxW1
	p0, p1 = uint64(c0)*philoxM0, uint64(c2)*philoxM1
	c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
	k0 += philoxW0
	k1 += philoxW1
	p0, p1 = uint64(c0)*philoxM0, uint64(c2)*philoxM1
	c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
	k0 += philoxW0
	k1 += philoxW1
	p0, p1 = uint64(c0)*philoxM0, uint64(c2)*philoxM1
	c0, c1, c2, c3 = uint32(p1>>32)^c1^k0, uint32(p1), uint32(p0>>32)^c3^k1, uint32(p0)
	return [4]uint32{c0, c1, c2, c3}
}

// vllmPhiloxState compresses a context into the 128-bit state of the
// philox4x32-10-v1 PRF under key: starting from (context domain, h, 0, 0),
// each block of four context words (missing words 0xFFFFFFFF-i) is XORed
// into the state, which is then Philox'ed under (key_lo ^ offset, key_hi).
// Context entries are token IDs, or -1 (0xFFFFFFFF) for vLLM's detector
// padding.
func vllmPhiloxState(key uint64, ctx []int64) [4]uint32 {
	k0, k1 := uint32(key), uint32(key>>32)
	st := [4]uint32{vllmContextDomain, uint32(len(ctx)), 0, 0}
	for off := 0; off < len(ctx); off += 4 {
		var c [4]uint32
		for i := 0; i < 4; i++ {
			w := uint32(0xFFFFFFFF) - uint32(i)
			if off+i < len(ctx) {
				w = uint32(ctx[off+i])
			}
			c[i] = st[i] ^ w
		}
		st = philox4x32(c, k0^uint32(off), k1)
	}
	return st
}

// vllmPhiloxWord is the 32-bit PRF word of token t under a context state:
// word t mod 4 of Philox((t>>2, s0, s1, s2), (key_lo ^ s3, key_hi ^ token
// domain)).
func vllmPhiloxWord(key uint64, st *[4]uint32, t uint32) uint32 {
	out := philox4x32([4]uint32{t >> 2, st[0], st[1], st[2]}, uint32(key)^st[3], uint32(key>>32)^vllmTokenDomain)
	return out[t&3]
}

// vllmUniform maps a PRF word to vLLM's float32 uniform: the top 24 bits m
// give (m+1)/(2^24+1), computed in float64 and rounded to float32. It lies
// in (0, 1) and never reaches 0 or 1. It multiplies by the float64
// reciprocal of 2^24+1 instead of dividing (a multiply is several times
// cheaper): the float64 product may differ from the quotient in its last
// bit, but rounded to float32 the two are equal for every one of the 2^24
// values of m (TestVLLMUniformReciprocal checks them all).
func vllmUniform(w uint32) float32 {
	return float32((float64(w>>8) + 1) * vllmUniformScale)
}

// vllmUniformScale is float64(1/(2^24+1)).
const vllmUniformScale = 1.0 / (1<<24 + 1)

// vllmHMACDomain prefixes every message of the hmac-sha256-v1 PRF.
const vllmHMACDomain = "vllm-watermark-hmac-sha256-v1\x00"

// vllmHMAC computes hmac-sha256-v1 words. Its key is the integer key as 32
// little-endian bytes; the message is the domain, the context length as 4
// little-endian bytes, each context entry and then the token as 8-byte
// little-endian signed integers; the word is the digest's first 4 bytes,
// little-endian. It reuses its buffers, so it is not safe for concurrent
// use: each goroutine makes its own (newVLLMHMAC).
type vllmHMAC struct {
	mac hash.Hash
	msg []byte
	sum []byte
}

// newVLLMHMAC returns an HMAC word function for key.
func newVLLMHMAC(key uint64) *vllmHMAC {
	var kb [32]byte
	binary.LittleEndian.PutUint64(kb[:8], key)
	return &vllmHMAC{mac: hmac.New(sha256.New, kb[:]), msg: make([]byte, 0, len(vllmHMACDomain)+4+8*(MaxContextWidth+1)), sum: make([]byte, 0, sha256.Size)}
}

// word returns the PRF word of token t after ctx.
func (h *vllmHMAC) word(ctx []int64, t uint32) uint32 {
	m := append(h.msg[:0], vllmHMACDomain...)
	m = binary.LittleEndian.AppendUint32(m, uint32(len(ctx)))
	for _, c := range ctx {
		m = binary.LittleEndian.AppendUint64(m, uint64(c))
	}
	m = binary.LittleEndian.AppendUint64(m, uint64(t))
	h.msg = m
	h.mac.Reset()
	h.mac.Write(m)
	h.sum = h.mac.Sum(h.sum[:0])
	return binary.LittleEndian.Uint32(h.sum[:4])
}

// vllmDeriveKey is vLLM's derive_watermark_key: the first 8 bytes,
// big-endian, of SHA-256(domain || key as 8 big-endian bytes). The dual-key
// scheme keys its two samplers with domains "key_a" and "key_b".
func vllmDeriveKey(key uint64, domain string) uint64 {
	h := sha256.New()
	h.Write([]byte(domain))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], key)
	h.Write(b[:])
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

// sbwHashInt is the Bob Jenkins integer hash of vLLM's SBW scheme, in 32-bit
// two's complement with arithmetic right shifts, sign-extended to 64 bits:
// i = int32(x+1); i -= i<<6; i ^= i>>17; i -= i<<9; i ^= i<<4; i -= i<<3;
// i ^= i<<10; i ^= i>>15.
func sbwHashInt(x int64) int64 {
	i := int32(x + 1)
	i -= i << 6
	i ^= i >> 17
	i -= i << 9
	i ^= i << 4
	i -= i << 3
	i ^= i << 10
	i ^= i >> 15
	return int64(i)
}

// sbwWord is the SBW PRF word of token v under a 64-bit seed: word v mod 4
// of Philox((v div 4, 0, 0, 0), (seed_lo, seed_hi)).
func sbwWord(seed uint64, v uint32) uint32 {
	out := philox4x32([4]uint32{v >> 2, 0, 0, 0}, uint32(seed), uint32(seed>>32))
	return out[v&3]
}
