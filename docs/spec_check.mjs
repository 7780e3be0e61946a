// spec_check.mjs: an independent JavaScript implementation of docs/SPEC.md
// (PRF v1), written from the spec alone, that checks every value in
// watermark/testdata/vectors.json. Node.js 18+, no dependencies.
//
//   node docs/spec_check.mjs [path/to/vectors.json]
//
// Exits 0 when every vector matches, 1 otherwise.
import { createHmac, createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const MASK = (1n << 64n) - 1n;
const GOLDEN = 0x9e3779b97f4a7c15n;
const MINHASH_MUL = 0xbf58476d1ce4e5b9n;

const rotl = (x, b) => ((x << b) | (x >> (64n - b))) & MASK;
const hex64 = (x) => x.toString(16).padStart(16, "0");
const le64 = (buf, off) => buf.readBigUInt64LE(off);

// SipHash-2-4 with 64-bit output.
function siphash(k0, k1, msg) {
  let v0 = k0 ^ 0x736f6d6570736575n, v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n, v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & MASK; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & MASK; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & MASK; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & MASK; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const full = msg.length - (msg.length % 8);
  for (let i = 0; i < full; i += 8) {
    const m = le64(msg, i);
    v3 ^= m; round(); round(); v0 ^= m;
  }
  let b = BigInt(msg.length & 0xff) << 56n;
  for (let i = full; i < msg.length; i++) b |= BigInt(msg[i]) << BigInt(8 * (i - full));
  v3 ^= b; round(); round(); v0 ^= b;
  v2 ^= 0xffn; round(); round(); round(); round();
  return v0 ^ v1 ^ v2 ^ v3;
}

function mix64(z) {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

const spread = (t) => ((BigInt(t) + 1n) * GOLDEN) & MASK;
const le32s = (tokens) => {
  const b = Buffer.alloc(4 * tokens.length);
  tokens.forEach((t, i) => b.writeUInt32LE(t, 4 * i));
  return b;
};

function subkey(secret, domain) {
  return createHmac("sha256", secret).update("tracemark/v1/" + domain).digest();
}

function parseSpec(spec) {
  const [name, params] = spec.split(":");
  const p = Object.fromEntries(params.split(",").map((kv) => kv.split("=")));
  if (name === "kgw") {
    return { name, gamma: Number(p.gamma), h: Number(p.h), seeding: p.seeding ?? "selfhash",
      payloadBits: Number(p.payload_bits ?? 0), radix: Number(p.radix ?? 0) };
  }
  if (name === "gumbel") return { name, h: Number(p.h) };
  if (name === "tournament") return { name, h: Number(p.h), m: Number(p.m) };
  throw new Error("unknown scheme " + name);
}

let failures = 0, checks = 0;
function expect(what, got, want) {
  checks++;
  if (got !== want) {
    failures++;
    console.error(`MISMATCH ${what}: got ${got}, want ${want}`);
  }
}

// SipHash-2-4 reference vector (Aumasson and Bernstein, appendix A).
{
  const key = Buffer.from([...Array(16).keys()]);
  const msg = Buffer.from([...Array(15).keys()]);
  expect("siphash reference", hex64(siphash(le64(key, 0), le64(key, 8), msg)), "a129ca6149be45e5");
}

const path = process.argv[2] ?? new URL("../watermark/testdata/vectors.json", import.meta.url);
const vectors = JSON.parse(readFileSync(path, "utf8"));
expect("prf_version", vectors.prf_version, "v1");
for (const m of vectors.mix64) expect(`mix64(${m.in})`, hex64(mix64(BigInt("0x" + m.in))), m.out);

for (const kv of vectors.keys) {
  const secret = Buffer.from(kv.secret, "hex");
  const id = createHash("sha256").update("tracemark/v1/key-id").update(secret).digest().subarray(0, 8).toString("hex");
  expect("key_id", id, kv.key_id);
  for (const [domain, want] of Object.entries(kv.subkeys)) expect(`subkey ${domain}`, subkey(secret, domain).toString("hex"), want);
  const sip = (d) => { const s = subkey(secret, d); return [le64(s, 0), le64(s, 8)]; };
  const word = (d) => le64(subkey(secret, d), 0);
  const [ck0, ck1] = sip("kgw/context"), [tk0, tk1] = sip("kgw/token");
  const anchorWord = word("kgw/anchor"), greenWord = word("kgw/green");

  const tokenHash = (x) => siphash(tk0, tk1, le32s([x]));
  const anchor = (t) => mix64((anchorWord + spread(t)) & MASK);
  const leftSeed = (ctx) => siphash(ck0, ck1, le32s(ctx));
  const greenValue = (s, t) => mix64(((s ^ greenWord) + spread(t)) & MASK);
  const selfSeed = (ctx, t) => {
    const a = anchor(t);
    let s = a;
    for (const c of ctx) {
      const v = ((tokenHash(c) ^ a) * MINHASH_MUL) & MASK;
      if (v < s) s = v;
    }
    return s;
  };

  for (const v of kv.token_hashes) expect(`u(${v.token})`, hex64(tokenHash(v.token)), v.value);
  for (const v of kv.anchors) expect(`a(${v.token})`, hex64(anchor(v.token)), v.value);
  for (const v of kv.lefthash_seeds) expect(`lefthash seed [${v.context}]`, hex64(leftSeed(v.context)), v.seed);
  for (const v of kv.green_values) expect(`green value`, hex64(greenValue(BigInt("0x" + v.seed), v.token)), v.value);
  const [gk0, gk1] = sip("gumbel/context"), [tck0, tck1] = sip("tournament/context");
  const slotWord = word("kgw/slot"), uniformWord = word("gumbel/uniform"), gWord = word("tournament/g");
  for (const sq of kv.sequences) {
    const spec = parseSpec(sq.spec);
    const h = spec.h, toks = sq.tokens;
    expect(`${sq.spec}: scored positions`, sq.seeds.length, toks.length - h);
    for (let i = h; i < toks.length; i++) {
      const ctx = toks.slice(i - h, i), t = toks[i], at = `${sq.spec} @${i}`;
      if (spec.name === "kgw") {
        const s = spec.seeding === "lefthash" ? leftSeed(ctx) : selfSeed(ctx, t);
        const v = greenValue(s, t);
        expect(`${at} seed`, hex64(s), sq.seeds[i - h]);
        expect(`${at} value`, hex64(v), sq.values[i - h]);
        if (spec.payloadBits === 0) {
          const T = BigInt(spec.gamma * 2 ** 64); // exact: gamma * 2^64 is an integer-valued double
          expect(`${at} green`, v < T, sq.green[i - h]);
        } else {
          const b = BigInt(Math.log2(spec.radix)), slots = BigInt(spec.payloadBits) / b;
          const slot = (mix64(s ^ slotWord) * slots) >> 64n;          // high word of the 128-bit product
          const colour = v >> (64n - b);
          const symbol = (BigInt("0x" + sq.payload) >> (slot * b)) & ((1n << b) - 1n);
          expect(`${at} slot`, Number(slot), sq.slots[i - h]);
          expect(`${at} colour`, Number(colour), sq.colours[i - h]);
          expect(`${at} fold`, Number(mix64(s ^ slotWord) & 7n), sq.folds[i - h]);
          expect(`${at} favoured`, colour === symbol, sq.green[i - h]);
        }
      } else if (spec.name === "gumbel") {
        const s = siphash(gk0, gk1, le32s(ctx));
        const v = mix64(((s ^ uniformWord) + spread(t)) & MASK);
        const r = (Number(v >> 11n) + 0.5) * 2 ** -53;
        expect(`${at} seed`, hex64(s), sq.seeds[i - h]);
        expect(`${at} value`, hex64(v), sq.values[i - h]);
        checks++;
        if (Math.abs(-Math.log1p(-r) - Number(sq.scores[i - h])) > 1e-12 * Math.max(1, Number(sq.scores[i - h]))) {
          failures++;
          console.error(`MISMATCH ${at} score: ${-Math.log1p(-r)} vs ${sq.scores[i - h]}`);
        }
      } else {
        const s = siphash(tck0, tck1, le32s(ctx));
        const v = mix64(((s ^ gWord) + spread(t)) & MASK);
        const mask = spec.m === 64 ? MASK : (1n << BigInt(spec.m)) - 1n;
        expect(`${at} seed`, hex64(s), sq.seeds[i - h]);
        expect(`${at} value`, hex64(v), sq.values[i - h]);
        expect(`${at} g-values`, hex64(v & mask), sq.g_bits[i - h]);
      }
    }
  }
}
console.log(`${checks} checks, ${failures} mismatches`);
process.exit(failures === 0 ? 0 : 1);
