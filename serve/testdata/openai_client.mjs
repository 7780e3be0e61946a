// Drives tracemark serve with the official openai npm client. Usage:
//   node openai_client.mjs NODE_MODULES_DIR BASE_URL MODEL
// The API key comes from the environment variable TRACEMARK_TEST_API_KEY.
// Prints one JSON object with what each call returned.
import { createRequire } from "node:module";
import { join } from "node:path";

const [nodeModules, baseURL, model] = process.argv.slice(2);
const require = createRequire(join(nodeModules, "noop.js"));
const OpenAI = require("openai").default ?? require("openai");
const client = new OpenAI({ baseURL, apiKey: process.env.TRACEMARK_TEST_API_KEY, maxRetries: 0 });
const out = {};

const messages = [{ role: "user", content: "Tell me about the sea." }];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 25, seed: 5 });
out.chat = { id: chat.id, object: chat.object, text: chat.choices[0].message.content, finish: chat.choices[0].finish_reason, usage: chat.usage };

let text = "", finish = null, usage = null, chunks = 0, role = null;
const stream = await client.chat.completions.create({ model, messages, max_tokens: 25, seed: 5, stream: true, stream_options: { include_usage: true } });
for await (const c of stream) {
  chunks++;
  if (c.usage) usage = c.usage;
  for (const ch of c.choices) {
    if (ch.delta.role) role = ch.delta.role;
    text += ch.delta.content ?? "";
    if (ch.finish_reason) finish = ch.finish_reason;
  }
}
out.chatStream = { text, finish, usage, chunks, role };

const comp = await client.completions.create({ model, prompt: "It was a dark and stormy night", max_tokens: 20, seed: 9, n: 2 });
out.completion = { object: comp.object, texts: comp.choices.map((c) => c.text), usage: comp.usage };

text = ""; finish = null; usage = null;
const cs = await client.completions.create({ model, prompt: "It was a dark and stormy night", max_tokens: 20, seed: 9, stream: true, stream_options: { include_usage: true } });
for await (const c of cs) {
  if (c.usage) usage = c.usage;
  for (const ch of c.choices) { text += ch.text; if (ch.finish_reason) finish = ch.finish_reason; }
}
out.completionStream = { text, finish, usage };

const models = await client.models.list();
out.models = models.data.map((m) => m.id);

for (const [name, call] of [
  ["notFound", () => client.chat.completions.create({ model: "no-such-model", messages })],
  ["badRequest", () => client.completions.create({ model, prompt: "x", max_tokens: 0 })],
  ["unauthorized", () => new OpenAI({ baseURL, apiKey: "tm-wrong", maxRetries: 0 }).models.list()],
]) {
  try { await call(); out[name] = { status: 0 }; }
  catch (e) { out[name] = { status: e.status, class: e.constructor.name, code: e.code ?? null, type: e.type ?? null }; }
}
console.log(JSON.stringify(out));
