// The harvester of the distillation end-to-end test: pulls completions
// from an OpenAI-compatible API with the official openai npm client, as a
// customer scraping outputs would. Usage:
//   node harvest.mjs NODE_MODULES_DIR BASE_URL MODEL PROMPTS_FILE OUT_JSONL MAX_TOKENS CONCURRENCY
// The API key comes from the environment variable HARVEST_API_KEY (never
// argv). Writes one {"prompt", "text"} JSON line per prompt, in prompt
// order, and prints {"requests", "completion_tokens"} on stdout.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [nodeModules, baseURL, model, promptsFile, outFile, maxTokens, concurrency] = process.argv.slice(2);
const require = createRequire(join(nodeModules, "noop.js"));
const OpenAI = require("openai").default ?? require("openai");
const client = new OpenAI({ baseURL, apiKey: process.env.HARVEST_API_KEY, maxRetries: 2 });

const prompts = readFileSync(promptsFile, "utf8").split("\n").filter((l) => l.trim() !== "");
const texts = new Array(prompts.length);
let next = 0, tokens = 0;
async function worker() {
  while (next < prompts.length) {
    const i = next++;
    const r = await client.completions.create({ model, prompt: prompts[i], max_tokens: Number(maxTokens), seed: i });
    texts[i] = r.choices[0].text;
    tokens += r.usage.completion_tokens;
  }
}
await Promise.all(Array.from({ length: Number(concurrency) }, worker));
writeFileSync(outFile, prompts.map((p, i) => JSON.stringify({ prompt: p, text: texts[i] })).join("\n") + "\n");
console.log(JSON.stringify({ requests: prompts.length, completion_tokens: tokens }));
