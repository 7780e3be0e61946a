#!/usr/bin/env python3
"""Times SynthID-Text's reference scoring against tracemark's on the same token IDs.

The reference side computes, as SynthID's detectors do before their score,
the g-values (compute_g_values), the repeated-context mask
(compute_context_repetition_mask) and the mean and weighted-mean scores
(detector_mean), on CPU torch with one thread, timed in thread CPU time,
the fastest of --repeat passes; for all documents in one batch and one
document at a time, each step also timed alone. The tracemark side is
`go test -bench BenchmarkSynthIDDetection ./detect/` on the same IDs
(TRACEMARK_BENCH_IDS), also thread CPU time and the fastest of its passes:
"evidence" is tracemark's detection (Detector.Tokens: g-values, dedup,
exact p-value), "engine" its computation of SynthID's own scores
(EngineDetect: the same mask and scores as the reference).

Without --ids the documents are the first 200 kB of Newton's Opticks in
o200k_base tokens (the Go test TestWriteSynthIDBenchIDs writes them), cut
into --doc-tokens documents.

The reference is not part of this repository: pass a checkout of
google-deepmind/synthid-text's src directory with --synthid-src. Its
processor is impl=deepmind. For impl=transformers the script uses
transformers' SynthIDTextWatermarkLogitsProcessor when transformers is
importable, else the reference's processor with transformers' two
differences (docs/engines-synthid.md) applied in a subclass of this script:
the hash starts from 1 and a g-value is the sampling-table entry at the
n-gram key modulo the table size. Missing optional modules the reference
imports (transformers, immutabledict, jax) are replaced by empty stand-ins,
and torch 1.13 gets the two names it lacks (torch.vmap, bare
@torch.no_grad).

Run from the repository root:

    python3 benchmarks/synthid/reference_speed.py --synthid-src PATH/src [--ids FILE] [--no-go]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
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


def table_processor(logits_processing, torch, table_size, table_seed, **kw):
    """The reference's processor with transformers' g-value rule."""

    class TableRule(logits_processing.SynthIDLogitsProcessor):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.hash_iv = 1
            gen = torch.Generator("cpu").manual_seed(table_seed)
            self.table = torch.randint(0, 2, (table_size,), generator=gen)

        def get_gvals(self, ngram_keys, *args, **kwargs):
            return self.table[ngram_keys % self.table.shape[0]]

    return TableRule(**kw)


def go_side(ids_path):
    out = subprocess.run(
        ["go", "test", "-run", "^$", "-bench", "^BenchmarkSynthIDDetection$", "-benchtime", "10x", "./detect/"],
        env=dict(os.environ, TRACEMARK_BENCH_IDS=ids_path), capture_output=True, text=True, check=True).stdout
    return {m.group(2): float(m.group(1)) for m in re.finditer(r"([0-9.]+) (\S+?)-ns/token", out)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthid-src", required=True)
    ap.add_argument("--ids", help="documents of token IDs, one JSON array per line (default: Opticks, via go test)")
    ap.add_argument("--doc-tokens", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-go", action="store_true", help="time the reference only")
    args = ap.parse_args()
    sys.path.insert(0, args.synthid_src)
    have_transformers = install_stand_ins()
    import numpy as np
    import torch
    from synthid_text import detector_mean, logits_processing, synthid_mixin

    work = tempfile.mkdtemp()
    src = args.ids
    if src is None:
        src = os.path.join(work, "opticks.jsonl")
        subprocess.run(["go", "test", "-count=1", "-run", "^TestWriteSynthIDBenchIDs$", "./detect/"],
                       env=dict(os.environ, TRACEMARK_SYNTHID_IDS=src), check=True, stdout=subprocess.DEVNULL)
    docs = []
    with open(src) as f:
        for line in f:
            ids = json.loads(line)
            while len(ids) >= args.doc_tokens:
                docs.append(ids[:args.doc_tokens])
                ids = ids[args.doc_tokens:]
    if not docs:
        sys.exit("no document of %d tokens in %s" % (args.doc_tokens, src))
    ids_path = os.path.join(work, "ids.jsonl")  # exactly the documents timed here
    with open(ids_path, "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")

    keys = list(synthid_mixin.DEFAULT_WATERMARKING_CONFIG["keys"])
    common = dict(ngram_len=5, keys=keys, context_history_size=1024, temperature=1.0, top_k=40,
                  device=torch.device("cpu"))
    processors = {"deepmind": ("synthid-text SynthIDLogitsProcessor",
                               logits_processing.SynthIDLogitsProcessor(**common))}
    if have_transformers:
        from transformers.generation.logits_process import SynthIDTextWatermarkLogitsProcessor
        processors["transformers"] = ("transformers SynthIDTextWatermarkLogitsProcessor",
                                      SynthIDTextWatermarkLogitsProcessor(
                                          ngram_len=5, keys=keys, sampling_table_size=2 ** 16, sampling_table_seed=0,
                                          context_history_size=1024, device=torch.device("cpu")))
    else:
        processors["transformers"] = ("the reference's processor with transformers' table rule",
                                      table_processor(logits_processing, torch, 2 ** 16, 0, **common))

    def steps(p, batch):
        ids = torch.tensor(batch)
        t0 = time.thread_time()
        g = p.compute_g_values(ids).numpy().astype(np.float64)
        t1 = time.thread_time()
        mask = p.compute_context_repetition_mask(ids).numpy().astype(np.float64)
        t2 = time.thread_time()
        detector_mean.mean_score(g.copy(), mask)
        detector_mean.weighted_mean_score(g, mask)
        t3 = time.thread_time()
        return t1 - t0, t2 - t1, t3 - t2

    tokens = len(docs) * args.doc_tokens
    torch.set_num_threads(1)
    ours = {} if args.no_go else go_side(ids_path)
    print("torch %s, 1 thread, thread CPU time, %d documents of %d tokens; ns per token" % (
        torch.__version__, len(docs), args.doc_tokens))
    if ours:
        print("tracemark: " + ", ".join("%s %.1f" % kv for kv in sorted(ours.items())))
    for impl, (what, p) in processors.items():
        steps(p, docs[:2])  # warm up
        for mode in ["batch", "per-document"]:
            best = None
            for _ in range(args.repeat):
                if mode == "batch":
                    t = steps(p, docs)
                else:
                    t = (0.0, 0.0, 0.0)
                    for d in docs:
                        t = tuple(a + b for a, b in zip(t, steps(p, [d])))
                if best is None or sum(t) < sum(best):
                    best = t
            ns = [x * 1e9 / tokens for x in best]
            line = "%s (%s), %s: %.0f (g-values %.0f, mask %.0f, scores %.0f)" % (
                impl, what, mode, sum(ns), ns[0], ns[1], ns[2])
            if ours:
                ev, eng = ours["synthid-" + impl], ours["synthid-" + impl + "/engine"]
                line += "; tracemark evidence %.1f (%.0fx), engine scores %.1f (%.0fx)" % (
                    ev, sum(ns) / ev, eng, sum(ns) / eng)
            print(line)


if __name__ == "__main__":
    main()
