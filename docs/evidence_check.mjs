// evidence_check.mjs: an independent check of a tracemark evidence file
// (docs/evidence.md), written from the documentation only, with Node.js's
// standard library: the RFC 8785 canonical form, the content digest, the
// Ed25519 signature, and optionally a disclosed key file against its
// commitment.
//
//   node docs/evidence_check.mjs EVIDENCE.json [KEYFILE]
//
// Prints one line per check and "ok" at the end; exits 1 if a check fails.
import { readFileSync } from "node:fs";
import { createHash, createPublicKey, verify } from "node:crypto";

// RFC 8785: members sorted by UTF-16 code units (JavaScript's default
// string order), no white space, ECMAScript number and string forms
// (JSON.stringify's).
function canonical(v) {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}";
}
const sha256 = (s) => createHash("sha256").update(s).digest();

const [file, keyFile] = process.argv.slice(2);
const ev = JSON.parse(readFileSync(file, "utf8"));
let failed = false;
const report = (ok, what) => {
  console.log((ok ? "pass " : "FAIL ") + what);
  if (!ok) failed = true;
};

const sig = ev.signature;
if (!sig) {
  report(false, "the file is not signed");
} else {
  const content = { ...ev };
  delete content.signature;
  const digest = sha256(canonical(content)).toString("hex");
  report(digest === sig.content_sha256, "content SHA-256 " + digest);
  for (const [name, value] of Object.entries(content)) {
    report(sha256(canonical(value)).toString("hex") === sig.member_sha256[name], "member " + name);
  }
  const block = { ...sig };
  delete block.value;
  const raw = Buffer.from(sig.public_key, "base64");
  // An Ed25519 SubjectPublicKeyInfo is a fixed 12-byte prefix and the key.
  const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]);
  const pub = createPublicKey({ key: spki, format: "der", type: "spki" });
  report(verify(null, Buffer.from(canonical(block), "utf8"), pub, Buffer.from(sig.value, "base64")), "Ed25519 signature");
  report(sha256(raw).toString("hex").slice(0, 16) === sig.public_key_id, "public key ID " + sig.public_key_id);
}

if (keyFile) {
  const key = JSON.parse(readFileSync(keyFile, "utf8"));
  let kind, secret;
  if (key.secret) {
    kind = "secret";
    secret = Buffer.from(key.secret, "base64");
  } else {
    kind = "engine";
    const words = key.engine_key.map(BigInt);
    secret = Buffer.alloc(4 + 8 * words.length);
    secret.writeUInt32BE(words.length, 0);
    words.forEach((w, i) => secret.writeBigUInt64BE(w, 4 + 8 * i));
  }
  const kc = ev.keys.find((k) => k.key_id === key.id);
  if (!kc) {
    report(false, "key " + key.id + " is not committed in the file");
  } else {
    const msg = Buffer.concat([Buffer.from("tracemark/evidence/v1/key-commitment" + kind, "utf8"), Buffer.from([0]),
      Buffer.from(kc.nonce, "hex"), secret]);
    report(kc.kind === kind && sha256(msg).toString("hex") === kc.commitment, "key " + key.id + " opens its commitment");
  }
}
console.log(failed ? "FAILED" : "ok");
process.exit(failed ? 1 : 0);
