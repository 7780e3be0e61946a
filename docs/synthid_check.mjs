// synthid_check.mjs: an independent JavaScript implementation of the SynthID-Text
// rule in docs/engines-synthid.md, written from that text, that checks the
// sampling tables, context hashes, g-values, repetition masks and mean scores in
// watermark/testdata/synthid_vectors.json. Node.js 18+, no dependencies.
//
//   node docs/synthid_check.mjs [path/to/synthid_vectors.json]
//
// Exits 0 when every vector matches, 1 otherwise.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const MASK = (1n << 64n) - 1n;
const MUL = 6364136223846793005n;
const step = (h, x) => (((h + x) & MASK) * MUL + 1n) & MASK;
const signed = (x) => (x >= 1n << 63n ? x - (1n << 64n) : x);
const unsigned = (x) => ((x % (1n << 64n)) + (1n << 64n)) % (1n << 64n);

function mt19937(seed) {
  const s = new Uint32Array(624);
  s[0] = seed >>> 0;
  for (let i = 1; i < 624; i++) {
    const p = s[i - 1] ^ (s[i - 1] >>> 30);
    s[i] = (Math.imul(1812433253, p) + i) >>> 0;
  }
  let i = 624;
  return () => {
    if (i >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (s[k] & 0x80000000) | (s[(k + 1) % 624] & 0x7fffffff);
        s[k] = s[(k + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      i = 0;
    }
    let y = s[i++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    return (y ^ (y >>> 18)) >>> 0;
  };
}

const tables = new Map();
function table(size, seed) {
  const id = size + "/" + seed;
  if (!tables.has(id)) {
    const next = mt19937(seed), t = new Uint8Array(size);
    for (let i = 0; i < size; i++) t[i] = next() & 1;
    tables.set(id, t);
  }
  return tables.get(id);
}

// scheme returns the context-hash and g-value functions of a vector case.
function scheme(c) {
  const keys = c.keys.map((k) => unsigned(BigInt(k)));
  let iv = 1n;
  if (c.impl === "deepmind") {
    const buf = Buffer.alloc(8 * keys.length);
    keys.forEach((k, i) => buf.writeBigUInt64LE(k, 8 * i));
    iv = BigInt("0x" + createHash("sha256").update(buf).digest("hex")) % ((1n << 63n) - 1n);
  }
  const ctxHash = (ctx) => ctx.reduce((h, t) => step(h, BigInt(t)), iv);
  const tab = c.impl === "transformers" ? table(c.table_size, c.table_seed) : null;
  const size = tab ? BigInt(c.table_size) : 0n;
  const g = (C, t) => {
    const U = step(C, BigInt(t));
    let bits = 0n;
    keys.forEach((k, l) => {
      let x = step(U, k), v;
      if (tab) {
        v = tab[Number(((signed(x) % size) + size) % size)];
      } else {
        for (let r = 0; r < 12; r++) x = unsigned(signed(step(x, 1n)) >> 5n);
        v = Number((x >> 30n) & 1n);
      }
      bits |= BigInt(v) << BigInt(l);
    });
    return bits;
  };
  return { ctxHash, g, depth: keys.length, h: c.ngram_len - 1 };
}

// mask: whether each position is scored (its context hash is not among the
// previous `history` context hashes; the window starts as zeros).
function mask(s, tokens, history) {
  const win = new Array(history).fill(0n), out = [];
  for (let i = s.h; i < tokens.length; i++) {
    const C = s.ctxHash(tokens.slice(i - s.h, i));
    out.push(!win.includes(C));
    win.unshift(C);
    win.pop();
  }
  return out;
}

function scores(s, tokens, history) {
  const d = s.depth, w = [];
  for (let l = 0; l < d; l++) w.push(d === 1 ? 10 : l === d - 1 ? 1 : 10 - (9 * l) / (d - 1));
  const sum = w.reduce((a, b) => a + b, 0);
  const m = mask(s, tokens, history);
  let n = 0, ones = 0, weighted = 0;
  m.forEach((ok, j) => {
    if (!ok) return;
    n++;
    const g = s.g(s.ctxHash(tokens.slice(j, j + s.h)), tokens[j + s.h]);
    for (let l = 0; l < d; l++) {
      const b = Number((g >> BigInt(l)) & 1n);
      ones += b;
      weighted += (b * w[l] * d) / sum;
    }
  });
  return { n, mean: ones / (d * n), weighted: weighted / (d * n) };
}

const path = process.argv[2] ?? new URL("../watermark/testdata/synthid_vectors.json", import.meta.url);
const v = JSON.parse(readFileSync(path, "utf8"));
let checks = 0, bad = 0;
const check = (ok, what) => {
  checks++;
  if (!ok) {
    bad++;
    if (bad <= 10) console.error("mismatch:", what);
  }
};

for (const t of v.tables) {
  const tab = table(t.size, t.seed);
  check(tab.reduce((a, b) => a + b, 0) === t.ones, `table ${t.seed}/${t.size} ones`);
  check(createHash("sha256").update(tab).digest("hex") === t.sha256, `table ${t.seed}/${t.size} sha256`);
}
for (const c of v.gvalues) {
  const s = scheme(c);
  c.g.forEach((want, i) => {
    const ctx = c.tokens.slice(i, i + s.h);
    const C = s.ctxHash(ctx);
    check(signed(C).toString() === c.context_hash[i], `context hash ${c.impl} position ${i}`);
    check(s.g(C, c.tokens[i + s.h]) === BigInt(want), `g-values ${c.impl} n=${c.ngram_len} position ${i}`);
  });
}
for (const c of v.masks) {
  const s = scheme(c), m = mask(s, c.tokens, c.history);
  c.mask.forEach((want, i) => check(m[i] === (want === 1), `mask ${c.impl} history ${c.history} position ${i}`));
}
for (const c of [...v.scores, ...v.generation]) {
  const r = scores(scheme(c), c.tokens, c.history);
  check(r.n === c.scored, `scored count ${c.impl} ${c.tokens.length} tokens`);
  check(Math.abs(r.mean - c.mean) <= 1e-12, `mean ${c.impl} ${c.tokens.length} tokens: ${r.mean} vs ${c.mean}`);
  check(Math.abs(r.weighted - c.weighted_mean) <= 1e-12, `weighted mean ${c.impl}: ${r.weighted} vs ${c.weighted_mean}`);
}
console.log(`synthid_check: ${checks} checks, ${bad} mismatches`);
process.exit(bad === 0 ? 0 : 1);
