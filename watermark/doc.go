// Package watermark is the keyed signal of tracemark: keys, the keyed
// functions they drive, and the schemes that embed a mark while a model
// samples and observe it in token sequences. It imports nothing else of
// tracemark; the byte-level rules are specified in docs/SPEC.md, with test
// vectors, so that other languages can reproduce them.
//
// The pieces, in the order a provider meets them:
//
//   - A [Key] is a 32-byte secret with a public ID (a one-way hash), the
//     scheme SPEC detection uses by default, and the tokenizer whose IDs it
//     marks. [GenerateKey] makes one; [Key.WriteKeyFile], [LoadKey] and
//     [LoadKeys] store and read key files (or $TRACEMARK_KEY). The secret is
//     never printed.
//   - A [Config] is a parsed SPEC string such as
//     "kgw:gamma=0.25,delta=2,h=4,seeding=selfhash" ([ParseSpec]): a
//     scheme's parameters without a key. Its [Config.Null] says how
//     observations are distributed in text written without the key, which
//     is all that evaluating recorded evidence needs.
//   - [Config.Bind] (or [NewScheme]) binds a Config to a Key, giving a
//     [Scheme]: its [Embedder] side (SampleLogits, SampleProbs,
//     ArgmaxLogits) is what a sampler calls per token, allocating nothing;
//     its [Observer] side turns a token sequence into one [Observation] per
//     position that has a full context.
//   - A scheme that carries a multi-bit payload, such as a customer ID, is a
//     [Payloader]; [CarriesPayload] and [RandomPayload] reach it without
//     naming a concrete type.
//
// Schemes: [KGW] (green lists, optionally with a payload), [Gumbel]
// (distortion-free Gumbel-max) and [Tournament] (SynthID-style tournament
// sampling). Each lives in one file with its Config, SPEC parser and
// validation, and is registered by name in spec.go; [SchemeNames] lists
// them. Package detect turns observations into p-values.
package watermark
