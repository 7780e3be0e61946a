// Writes the reference token IDs of texts.json for one tokenizer.json, as
// Hugging Face's tokenizers (the Rust library, npm package "tokenizers",
// which ships it compiled for node) encode them, with added tokens matched
// and without the post-processor (addSpecialTokens: false).
//
//   node reference.mjs TOKENIZER.json SOURCE OUT.json
//
// SOURCE records where the tokenizer.json came from (npm package@version and
// path). Run with NODE_PATH naming the node_modules that holds tokenizers.
import { createRequire } from 'module';
import { readFileSync, writeFileSync } from 'fs';
import { createHash } from 'crypto';
import { join } from 'path';

const require = createRequire(join(process.env.NODE_PATH || '.', 'x.js'));
const { Tokenizer } = require('tokenizers');
const version = require('tokenizers/package.json').version;
const [path, source, out] = process.argv.slice(2);
const tok = Tokenizer.fromFile(path);
const texts = JSON.parse(readFileSync(new URL('./texts.json', import.meta.url), 'utf8')).texts;
const ids = [];
for (const t of texts) {
  const e = await tok.encode(t, null, { addSpecialTokens: false });
  ids.push(e.getIds());
}
const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
const lines = ids.map((x) => JSON.stringify(x)).join(',\n');
writeFileSync(out, `{"reference": "tokenizers@${version} (npm)", "source": ${JSON.stringify(source)}, "sha256": "${sha256}",\n"ids": [\n${lines}\n]}\n`);
