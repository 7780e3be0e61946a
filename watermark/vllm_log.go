package watermark

import "math"

// This file holds the logarithm of the Gumbel evidence fast path
// (appendPhiloxGumbel): the score -ln(1-u) of every position without the
// division math.Log spends on each call. It is within 2 units in the last
// place of math.Log's result, so within 3 of the true value, for every
// one of the 2^24 uniforms vLLM's PRF gives (TestNegLogExhaustive checks
// them all). A score off by 3 ulp (6.7e-16 relative) moves a sum S of
// scores by at most 6.7e-16·S, and the Gamma tail by at most as much
// relative (its hazard is at most 1): 7e-11 relative at S = 10^5, far
// inside the 1e-9 to which the p-values are stated.

// negLogEntry is one interval of the reduction: its centre c, inv = 1/c
// rounded, and lnc = ln c. With r = (m-c)·inv (m-c is exact, since m and
// c are within a factor of 2, and the product is within two roundings of
// (m-c)/c, relative), ln m = lnc + ln(1+r) with |r| below 2^-6.
type negLogEntry struct{ c, inv, lnc float64 }

// negLogTable holds the 64 intervals of [0.75, 1.5): 32 of width 1/128
// below 1 and 32 of width 1/64 above. The two next to 1 (indices 31 and
// 32, [1-1/128, 1+1/64)) have c = inv = 1 and lnc = 0 exactly, so that r
// = m-1 is exact there and scores near 0 keep their relative accuracy.
var negLogTable = func() (t [64]negLogEntry) {
	for j := range t {
		if j == 31 || j == 32 {
			t[j] = negLogEntry{c: 1, inv: 1}
			continue
		}
		lo, w := 0.75+float64(j)/128, 1.0/128
		if j >= 32 {
			lo, w = 1+float64(j-32)/64, 1.0/64
		}
		c := lo + w/2
		t[j] = negLogEntry{c: c, inv: 1 / c, lnc: math.Log(c)}
	}
	return t
}()

// ln2Hi + ln2Lo is ln 2; ln2Hi has 32 trailing zero bits, so k·ln2Hi is
// exact for every exponent k a score has.
const (
	ln2Hi = 6.93147180369123816490e-01 // 0x3fe62e42fee00000
	ln2Lo = 1.90821492927058770002e-10
)

// negLog returns -ln x for x in (0, 1): x = 2^k·m with m in [0.75, 1.5),
// ln m = lnc + ln(1+r) by negLogTable, and ln(1+r) its Taylor series to
// degree 9 (|r| < 2^-6, so the first term left out is below 2^-54·|r|)
// by Horner's rule.
//
// Its argument is a float64, not the float32 uniform: converting a
// float32 inside a call writes only the low half of a register, whose
// previous contents (the last call's result) then chain every call to
// the one before; the caller's conversion does not.
func negLog(x float64) float64 {
	b := math.Float64bits(x)
	d := b - 0x3FE8000000000000 // counts halvings from 0.75 in the exponent field
	k := int64(d) >> 52
	m := math.Float64frombits(b - uint64(k)<<52)
	e := &negLogTable[(d>>(52-6))&63]
	r := (m - e.c) * e.inv
	q := 1.0 / 9
	q = q*r - 1.0/8
	q = q*r + 1.0/7
	q = q*r - 1.0/6
	q = q*r + 1.0/5
	q = q*r - 1.0/4
	q = q*r + 1.0/3
	q = q*r - 0.5
	p := r + r*r*q // ln(1+r)
	kf := float64(k)
	return -((kf*ln2Hi + e.lnc) + (kf*ln2Lo + p))
}
