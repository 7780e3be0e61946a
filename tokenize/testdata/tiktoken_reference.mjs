// Reference token IDs from OpenAI's tiktoken (the npm package "tiktoken", a
// WebAssembly build of the Rust crate). Reads JSON lines {"e": ENCODING,
// "t": TEXT} on stdin and writes one JSON array of IDs per line on stdout.
// Usage: node tiktoken_reference.mjs NODE_MODULES_DIR
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import path from "node:path";

const require = createRequire(path.join(process.argv[2], "x.js"));
const { get_encoding } = require("tiktoken");
const encodings = new Map();
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  const { e, t } = JSON.parse(line);
  if (!encodings.has(e)) encodings.set(e, get_encoding(e));
  // allowed_special = none, disallowed_special = none: special-token text
  // is encoded as ordinary text, as tracemark does.
  process.stdout.write(JSON.stringify(Array.from(encodings.get(e).encode(t, [], []))) + "\n");
}
