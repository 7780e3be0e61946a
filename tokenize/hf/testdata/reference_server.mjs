// Serves Hugging Face's tokenizers (the Rust library, npm package
// "tokenizers") to the Go tests: each input line is a JSON object
// {"f": TOKENIZER.json path, "t": text} or, for bytes that need not be
// UTF-8, {"f": path, "b": base64 of the bytes}, decoded as WHATWG's
// TextDecoder does (each maximal ill-formed subsequence becomes U+FFFD, as
// Python's decode(errors="replace") does); each output line the JSON array of
// the text's IDs, with added tokens matched and without the post-processor
// (addSpecialTokens: false), as reference.mjs writes them.
//
//   node reference_server.mjs NODE_MODULES_DIR
import { createRequire } from 'module';
import { createInterface } from 'readline';
import { join } from 'path';

const require = createRequire(join(process.argv[2], 'x.js'));
const { Tokenizer } = require('tokenizers');
const loaded = new Map();
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  const { f, t, b } = JSON.parse(line);
  const text = b === undefined ? t : new TextDecoder().decode(Buffer.from(b, 'base64'));
  if (!loaded.has(f)) loaded.set(f, Tokenizer.fromFile(f));
  const e = await loaded.get(f).encode(text, null, { addSpecialTokens: false });
  process.stdout.write(JSON.stringify(e.getIds()) + '\n');
}
