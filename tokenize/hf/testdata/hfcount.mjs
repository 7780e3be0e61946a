// Counts the tokens Hugging Face's tokenizers (the Rust library, npm
// package "tokenizers") give a file, in one encode, with added tokens
// matched and without the post-processor: the reference side of the
// whole-process speed comparison in docs/tokenization.md.
//
//   node hfcount.mjs NODE_MODULES_DIR TOKENIZER.json FILE
import { createRequire } from 'module';
import { readFileSync } from 'fs';
import { join } from 'path';

const require = createRequire(join(process.argv[2], 'x.js'));
const { Tokenizer } = require('tokenizers');
const tok = Tokenizer.fromFile(process.argv[3]);
const text = readFileSync(process.argv[4], 'utf8');
const e = await tok.encode(text, null, { addSpecialTokens: false });
console.log(e.getIds().length);
