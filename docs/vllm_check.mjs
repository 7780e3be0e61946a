// vllm_check.mjs: an independent JavaScript implementation of the vLLM schemes
// in docs/engines.md, written from that text, that recomputes every vector of
// watermark/testdata/vllm/vectors.json (outputs of vLLM's own code): the
// philox4x32-10-v1 and hmac-sha256-v1 PRF words and uniforms, the dual-key
// derivation, Gumbel samples from fixed logits, SBW green lists and argmax
// tokens, and vLLM's detector results (scored count, score, p-value) for the
// gumbel, dual_key_gumbel and sbw detectors. Node.js 18+, no dependencies.
//
//   node docs/vllm_check.mjs [path/to/vectors.json]
//
// Prints "vllm_check: N checks, M mismatches" and exits 0 when M is 0.
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;
const CONTEXT_DOMAIN = 0x574d4358, TOKEN_DOMAIN = 0x574d544b;
const U64 = (1n << 64n) - 1n;

// mulhilo returns [hi, lo] of the 64-bit product of two uint32 values,
// exactly, in double arithmetic (16-bit split keeps every partial < 2^53).
function mulhilo(a, b) {
  const lo16 = a * (b & 0xffff);
  const t = a * (b >>> 16) + Math.floor(lo16 / 65536);
  return [Math.floor(t / 65536) >>> 0, (((t % 65536) * 65536) + (lo16 % 65536)) >>> 0];
}

function philox(c, k0, k1) {
  let [c0, c1, c2, c3] = c;
  for (let r = 0; r < 10; r++) {
    const [h0, l0] = mulhilo(M0, c0);
    const [h1, l1] = mulhilo(M1, c2);
    [c0, c1, c2, c3] = [(h1 ^ c1 ^ k0) >>> 0, l1, (h0 ^ c3 ^ k1) >>> 0, l0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

const low32 = (x) => Number(BigInt.asUintN(32, BigInt(x)));

// Philox PRF: context entries are integers (token IDs or -1).
function philoxWord(key, ctx, t) {
  const k0 = Number(key & 0xffffffffn), k1 = Number(key >> 32n);
  let s = [CONTEXT_DOMAIN, ctx.length, 0, 0];
  for (let o = 0; o < ctx.length; o += 4) {
    const c = [0, 1, 2, 3].map((i) => ((s[i] ^ (o + i < ctx.length ? low32(ctx[o + i]) : (0xffffffff - i))) >>> 0));
    s = philox(c, (k0 ^ o) >>> 0, k1);
  }
  const out = philox([Math.floor(t / 4), s[0], s[1], s[2]], (k0 ^ s[3]) >>> 0, (k1 ^ TOKEN_DOMAIN) >>> 0);
  return out[t % 4];
}

const le = (x, bytes) => {
  const b = Buffer.alloc(bytes);
  let v = BigInt.asUintN(bytes * 8, BigInt(x));
  for (let i = 0; i < bytes; i++, v >>= 8n) b[i] = Number(v & 0xffn);
  return b;
};

function hmacWord(key, ctx, t) {
  const msg = Buffer.concat([Buffer.from("vllm-watermark-hmac-sha256-v1\0", "latin1"), le(ctx.length, 4),
    ...ctx.map((c) => le(c, 8)), le(t, 8)]);
  return createHmac("sha256", le(key, 32)).update(msg).digest().readUInt32LE(0);
}

const uniform = (w) => Math.fround((Math.floor(w / 256) + 1) / (2 ** 24 + 1));

function derive(key, domain) {
  const d = createHash("sha256").update(Buffer.concat([Buffer.from(domain, "latin1"), Buffer.from(le(key, 8).reverse())])).digest();
  return d.readBigUInt64BE(0);
}

// SBW: int64 wrapping arithmetic.
const i64 = (x) => BigInt.asIntN(64, x);
function jenkins(x) {
  let i = Number(BigInt.asIntN(32, BigInt(x) + 1n)) | 0;
  i = (i - (i << 6)) | 0;
  i ^= i >> 17;
  i = (i - (i << 9)) | 0;
  i ^= i << 4;
  i = (i - (i << 3)) | 0;
  i ^= i << 10;
  i ^= i >> 15;
  return BigInt(i);
}
function sbwGreen(seed, v, threshold) {
  const s = BigInt.asUintN(64, seed);
  const w = philox([Math.floor(v / 4), 0, 0, 0], Number(s & 0xffffffffn), Number(s >> 32n))[v % 4];
  return (w & 0x7fffffff) < threshold;
}
function sbwSeed(K, seeding, ctx, v, hashedLeft) {
  if (seeding === "lefthash") {
    let sum = 0n;
    for (const c of ctx) sum = i64(sum + (hashedLeft ? jenkins(c) : BigInt(c)));
    return i64(K * sum);
  }
  const hv = jenkins(v);
  let seed = i64(i64(K * hv) * hv);
  for (const c of ctx.slice(1)) {
    const x = i64(i64(K * jenkins(c)) * hv);
    if (x < seed) seed = x;
  }
  return seed;
}
const sbwThreshold = (gamma) => Math.floor(gamma * 0x7fffffff);

// Regularized upper incomplete gamma Q(a, x), by the series for P when
// x < a + 1 and Lentz's continued fraction otherwise (Numerical Recipes 6.2).
function lgamma(z) {
  const g = [676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (z < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * z))) - lgamma(1 - z);
  z -= 1;
  let a = 0.99999999999980993;
  const t = z + 7.5;
  for (let i = 0; i < 8; i++) a += g[i] / (z + i + 1);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}
function gammaQ(a, x) {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - lgamma(a);
  if (x < a + 1) {
    let sum = 1 / a, term = sum;
    for (let n = 1; n < 100000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-17) break;
    }
    return 1 - Math.exp(lead) * sum;
  }
  let b = x + 1 - a, c = 1 / 1e-300, d = 1 / b, h = d;
  for (let i = 1; i < 100000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return Math.exp(lead) * h;
}
// The one-sided normal tail, through Q(1/2, z²/2) = erfc(z/√2).
const normalTail = (z) => (z >= 0 ? 0.5 * gammaQ(0.5, (z * z) / 2) : 1 - 0.5 * gammaQ(0.5, (z * z) / 2));

let checks = 0;
const bad = [];
function expect(ok, what) {
  checks++;
  if (!ok && bad.length < 20) bad.push(what);
  if (!ok) bad.count = (bad.count || 0) + 1;
}
const rel = (a, b) => (a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b)));

const v = JSON.parse(readFileSync(process.argv[2] || "watermark/testdata/vllm/vectors.json", "utf8"));

for (const p of v.prf) {
  const key = BigInt(p.key);
  p.tokens.forEach((t, i) => {
    const w = philoxWord(key, p.context, t);
    expect(w === p.philox_words[i], `philox word key=${p.key} ctx=${p.context} t=${t}: ${w} != ${p.philox_words[i]}`);
    expect(uniform(w) === p.philox_uniforms[i], `philox uniform key=${p.key} t=${t}`);
    const hu = uniform(hmacWord(key, p.context, t));
    expect(hu === p.hmac_uniforms[i], `hmac uniform key=${p.key} ctx=${p.context} t=${t}: ${hu} != ${p.hmac_uniforms[i]}`);
  });
}

for (const d of v.derive) {
  expect(derive(BigInt(d.key), "key_a").toString() === d.key_a, `derive key_a of ${d.key}`);
  expect(derive(BigInt(d.key), "key_b").toString() === d.key_b, `derive key_b of ${d.key}`);
}

const f32 = Math.fround;
// null stands for -inf (a top-k filtered logit).
const logitOf = (x) => (x === null || x === "-inf" || x === "-Infinity" ? -Infinity : x === "inf" || x === "Infinity" ? Infinity : Number(x));
for (const s of v.gumbel_samples) {
  const key = BigInt(s.key);
  let best = -1, bestScore = -Infinity;
  s.logits.forEach((l, i) => {
    const w = s.prf === "hmac" ? hmacWord(key, s.context, i) : philoxWord(key, s.context, i);
    const noise = f32(-f32(Math.log(f32(-f32(Math.log(uniform(w)))))));
    const score = f32(logitOf(l) + noise);
    if (score !== -Infinity && (best < 0 || score > bestScore)) [best, bestScore] = [i, score];
  });
  expect(best === s.token, `gumbel sample key=${s.key} prf=${s.prf} ctx=${s.context}: ${best} != ${s.token}`);
}

for (const s of v.sbw_samples) {
  const K = BigInt.asIntN(64, BigInt(s.key));
  const thr = sbwThreshold(s.gamma);
  const green = [];
  let best = -1, bestVal = -Infinity;
  s.logits.forEach((l, i) => {
    const g = sbwGreen(sbwSeed(K, s.seeding, s.context, i, false), i, thr);
    if (g) green.push(i);
    const val = f32(logitOf(l) + (g ? s.delta : 0));
    if (best < 0 || val > bestVal) [best, bestVal] = [i, val];
  });
  expect(JSON.stringify(green.slice(0, s.green.length)) === JSON.stringify(s.green), `sbw green ${s.seeding} key=${s.key} ctx=${s.context}`);
  expect(best === s.token, `sbw argmax ${s.seeding} key=${s.key} ctx=${s.context}: ${best} != ${s.token}`);
}

// vLLM's detector: every token, contexts padded with -1, a repeated padded
// context skipped when dedup is on.
function positions(seq, h, dedup) {
  const out = [];
  const seen = new Set();
  for (let i = 0; i < seq.length; i++) {
    const ctx = [];
    for (let j = 0; j < h; j++) ctx.push(i - h + j >= 0 ? seq[i - h + j] : -1);
    const k = ctx.join(",");
    if (dedup && seen.has(k)) continue;
    seen.add(k);
    out.push([ctx, seq[i]]);
  }
  return out;
}
// vLLM's integer-shape Gamma survival: the Poisson sum in log space.
function survivalInt(x, shape) {
  if (shape <= 0 || x <= 0) return 1;
  const lx = Math.log(x);
  const terms = [0];
  let term = 0, max = 0;
  for (let k = 1; k < shape; k++) {
    term += lx - Math.log(k);
    terms.push(term);
    max = Math.max(max, term);
  }
  let sum = 0;
  for (const t of terms) sum += Math.exp(t - max);
  return Math.min(1, Math.exp(Math.min(0, -x + max + Math.log(sum))));
}
const expScore = (w) => -Math.log1p(-uniform(w));

let worstP = 0;
for (const d of v.detections) {
  const seq = v.sequences[d.sequence];
  const pos = positions(seq, d.context_width, d.dedup);
  const n = pos.length;
  let score = 0, p = 1;
  const word = d.prf === "hmac-sha256" || d.prf === "hmac"
    ? (key) => (ctx, t) => hmacWord(key, ctx, t)
    : (key) => (ctx, t) => philoxWord(key, ctx, t);
  if (d.algorithm === "gumbel") {
    const w = word(BigInt(d.key));
    for (const [ctx, t] of pos) score += expScore(w(ctx, t));
    if (n > 0) p = survivalInt(score, n);
  } else if (d.algorithm === "dual_key_gumbel") {
    const wa = word(derive(BigInt(d.key), "key_a")), wb = word(derive(BigInt(d.key), "key_b"));
    const a = d.alpha;
    for (const [ctx, t] of pos) score += expScore(wa(ctx, t)) * (1 - a) + expScore(wb(ctx, t)) * a;
    const vv = (1 - a) ** 2 + a ** 2;
    if (n > 0) p = a === 0 || a === 0.5 || a === 1 ? survivalInt(score / vv, Math.round(n / vv)) : gammaQ(n / vv, score / vv);
  } else {
    const K = BigInt.asIntN(64, BigInt(d.key));
    const thr = sbwThreshold(d.gamma);
    for (const [ctx, t] of pos) if (sbwGreen(sbwSeed(K, d.seeding, ctx, t, true), t, thr)) score++;
    if (n > 0) p = normalTail((score - n * d.gamma) / Math.sqrt(n * d.gamma * (1 - d.gamma)));
  }
  const what = `${d.algorithm} key=${d.key} h=${d.context_width} seq=${d.sequence}`;
  expect(n === d.num_scored_tokens, `${what}: scored ${n} != ${d.num_scored_tokens}`);
  expect(rel(score, d.score) <= 1e-12, `${what}: score ${score} != ${d.score}`);
  const want = d.p_value_exact ?? d.p_value;
  const r = rel(p, want);
  if (want > 1e-300) worstP = Math.max(worstP, r);
  expect(want <= 1e-300 ? p <= 1e-290 : r <= 1e-9, `${what}: p ${p} != ${want}`);
}

const m = bad.count || 0;
console.log(`vllm_check: ${checks} checks (${v.prf.length} PRF cases, ${v.derive.length} derivations, ${v.gumbel_samples.length} Gumbel samples, ` +
  `${v.sbw_samples.length} SBW samples, ${v.detections.length} detector results; worst p-value relative difference ${worstP.toExponential(2)}), ${m} mismatches`);
for (const b of bad) console.log("  " + b);
process.exit(m === 0 ? 0 : 1);
