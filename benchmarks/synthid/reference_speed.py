#!/usr/bin/env python3
"""Times SynthID-Text's reference detector scoring on token IDs (CPU torch).

Reads documents of token IDs (one JSON array per line, as `tracemark tokenize`
and the Go test TestWriteSynthIDBenchIDs write them), then computes, as the
reference's detectors do before their score: g-values (compute_g_values), the
repeated-context mask (compute_context_repetition_mask) and the mean and
weighted-mean scores (detector_mean), for all documents in one batch and one
document at a time, and prints ns per token.

The reference is not part of this repository: pass a checkout of
google-deepmind/synthid-text's src directory with --synthid-src. When
transformers is importable its SynthIDTextWatermarkLogitsProcessor is timed
too. Missing optional modules the reference imports (transformers,
immutabledict, jax) are replaced by empty stand-ins, and torch 1.13 gets the
two names it lacks (torch.vmap, bare @torch.no_grad).

    python3 benchmarks/synthid/reference_speed.py --synthid-src PATH/src --ids /tmp/synthid_ids.jsonl
"""
import argparse
import json
import sys
import time
import types


def install_stand_ins():
    import torch
    if not hasattr(torch, "vmap"):
        import functorch
        torch.vmap = functorch.vmap
    try:
        torch.no_grad(lambda: None)
    except TypeError:
        base = torch.no_grad

        class NoGrad(base):
            def __new__(cls, fn=None):
                return base()(fn) if callable(fn) else base.__new__(cls)

            def __init__(self, fn=None):
                super().__init__()

        torch.no_grad = NoGrad
    try:
        import transformers  # noqa: F401
        have_transformers = True
    except ImportError:
        have_transformers = False
        t = types.ModuleType("transformers")
        for name in ["LogitsProcessor", "LogitsProcessorList", "GenerationMixin", "GPT2LMHeadModel",
                     "GemmaForCausalLM", "GenerationConfig", "StoppingCriteriaList", "BaseStreamer"]:
            setattr(t, name, type(name, (list,) if name.endswith("List") else (), {}))
        gen = types.SimpleNamespace(utils=types.SimpleNamespace(
            GenerateNonBeamOutput=object, GenerateEncoderDecoderOutput=object, GenerateDecoderOnlyOutput=object))
        t.generation = gen
        sys.modules["transformers"] = t
    try:
        import immutabledict  # noqa: F401
    except ImportError:
        m = types.ModuleType("immutabledict")
        m.immutabledict = dict
        sys.modules["immutabledict"] = m
    try:
        import jax.numpy  # noqa: F401
    except ImportError:
        import numpy
        jax = types.ModuleType("jax")
        jax.numpy = numpy
        sys.modules["jax"], sys.modules["jax.numpy"] = jax, numpy
    return have_transformers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthid-src", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--doc-tokens", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, args.synthid_src)
    have_transformers = install_stand_ins()
    import numpy as np
    import torch
    from synthid_text import detector_mean, logits_processing, synthid_mixin

    docs = []
    with open(args.ids) as f:
        for line in f:
            ids = json.loads(line)
            while len(ids) >= args.doc_tokens:
                docs.append(ids[:args.doc_tokens])
                ids = ids[args.doc_tokens:]
    if not docs:
        sys.exit("no document of %d tokens in %s" % (args.doc_tokens, args.ids))
    keys = list(synthid_mixin.DEFAULT_WATERMARKING_CONFIG["keys"])
    processors = {"deepmind": logits_processing.SynthIDLogitsProcessor(
        ngram_len=5, keys=keys, context_history_size=1024, temperature=1.0, top_k=40, device=torch.device("cpu"))}
    if have_transformers:
        from transformers.generation.logits_process import SynthIDTextWatermarkLogitsProcessor
        processors["transformers"] = SynthIDTextWatermarkLogitsProcessor(
            ngram_len=5, keys=keys, sampling_table_size=2 ** 16, sampling_table_seed=0,
            context_history_size=1024, device=torch.device("cpu"))

    def score(p, batch):
        ids = torch.tensor(batch)
        g = p.compute_g_values(ids).numpy().astype(np.float64)
        mask = p.compute_context_repetition_mask(ids).numpy().astype(np.float64)
        return detector_mean.mean_score(g.copy(), mask), detector_mean.weighted_mean_score(g, mask)

    tokens = len(docs) * args.doc_tokens
    torch.set_num_threads(1)
    print("torch %s, 1 thread, %d documents of %d tokens" % (torch.__version__, len(docs), args.doc_tokens))
    for name, p in processors.items():
        for mode in ["batch", "per-document"]:
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                if mode == "batch":
                    score(p, docs)
                else:
                    for d in docs:
                        score(p, [d])
                best = min(best, time.perf_counter() - t0)
            print("%s %s: %.0f ns/token" % (name, mode, best * 1e9 / tokens))


if __name__ == "__main__":
    main()
