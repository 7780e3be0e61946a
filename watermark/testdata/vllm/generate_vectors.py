"""Generate vLLM watermark test vectors by running vLLM's own watermarking
modules (vllm/v1/watermarking) with torch on CPU.

Usage: VLLM_SRC=/tmp/vllmref python3 generate_vectors.py > vectors.json

VLLM_SRC must hold the vllm/ package tree (the watermarking modules and the
import stubs described in README.md). This script contains no vLLM code: it
only imports it.
"""
import json
import os
import random
import struct
import sys

import torch

sys.path.insert(0, os.environ.get("VLLM_SRC", "/tmp/vllmref"))
if not hasattr(torch, "compile"):  # torch 1.13: no compiler; run eagerly
    torch.compile = lambda f, **kw: f

from vllm.config.watermarking import derive_watermark_key  # noqa: E402
from vllm.v1.watermarking.gumbel import (  # noqa: E402
    DualKeyGumbelWatermarkDetector,
    GumbelWatermarkDetector,
    GumbelWatermarker,
)
from vllm.v1.watermarking.prfs.hmac_sha256 import HMACSHA256PRF  # noqa: E402
from vllm.v1.watermarking.prfs.philox import PhiloxPRF  # noqa: E402
from vllm.v1.watermarking.sbw import SBWWatermarkDetector, SBWWatermarker  # noqa: E402

UPSTREAM = {
    "repository": "vllm-project/vllm",
    "files": {
        "vllm/v1/watermarking/prfs/philox.py": "373305d65c78b7c368d46cd483a9fa92da71c8a6",
        "vllm/v1/watermarking/prfs/hmac_sha256.py": "ab44abbb27c2d80a935b18fd29aa0b22894a45c6",
        "vllm/v1/watermarking/prfs/base.py": "ecc30aeb8312aeb8e23c473f2121555ecef47f78",
        "vllm/v1/watermarking/gumbel.py": "01c268bcd2def3eec9548e33c94184eb6b905867",
        "vllm/v1/watermarking/detector.py": "a6d669adc4b8b8c0a4398e0491bcb6db73cafc7a",
        "vllm/v1/watermarking/sbw.py": "d6d2f2c25286dd06096b151cb2aed58167204c85",
        "vllm/v1/watermarking/watermarker.py": "01c268bcd2def3eec9548e33c94184eb6b905867",
        "vllm/config/watermarking.py": "01c268bcd2def3eec9548e33c94184eb6b905867",
    },
    "torch": torch.__version__,
}

rng = random.Random(20261202)
KEYS = [0, 1, 42, 2**32 + 5, 2**63 - 1, 2**64 - 1] + [rng.getrandbits(64) for _ in range(4)]
SBW_KEYS = [0, 1, 42, 2**32 + 5, 2**63 - 1] + [rng.getrandbits(63) for _ in range(4)]


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def rand_token():
    r = rng.random()
    if r < 0.1:
        return rng.choice([0, 1, 2, 3, 4, 2**31 - 1, 2**31, 2**32 - 1])
    if r < 0.2:
        return -1
    return rng.randrange(0, 200000)


def prf_vectors():
    out = []
    for key in KEYS:
        ph, hm = PhiloxPRF(key), HMACSHA256PRF(key)
        for width in (1, 2, 3, 4, 5, 8, 9, 16):
            for _ in range(6):
                ctx = [rand_token() for _ in range(width)]
                toks = [rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 2**32 - 1, 2**31]) if rng.random() < 0.2
                        else rng.randrange(0, 200000) for _ in range(5)]
                c = torch.tensor([ctx], dtype=torch.int64)
                t = torch.tensor(toks, dtype=torch.int64)
                pw = ph.uint32(c, t)[0].tolist()
                pu = ph.uniform(c, t)[0].tolist()
                hu = hm.uniform(c, t)[0].tolist()
                out.append({"key": str(key), "context": ctx, "tokens": toks,
                            "philox_words": pw, "philox_uniforms": pu, "hmac_uniforms": hu})
    return out


def derive_vectors():
    return [{"key": str(k), "key_a": str(derive_watermark_key(k, b"key_a")),
             "key_b": str(derive_watermark_key(k, b"key_b"))} for k in KEYS]


def gumbel_samples():
    out = []
    for i in range(110):
        key = KEYS[i % len(KEYS)]
        prf = "philox" if i % 4 else "hmac"
        width = rng.choice([1, 2, 4, 4, 4, 6, 8])
        vocab = rng.choice([8, 50, 200]) if prf == "philox" else rng.choice([8, 50, 100])
        rows = 3
        ctx = [[rng.randrange(0, 150000) for _ in range(width)] for _ in range(rows)]
        temp = rng.choice([0.7, 1.0, 1.5])
        logits = torch.randn(rows, vocab, generator=torch.Generator().manual_seed(i)).to(torch.float32) * 3 / temp
        if i % 5 == 0:  # top-k filtered candidates: -inf outside the top 10
            kth = torch.topk(logits, min(10, vocab), dim=-1).values[:, -1:]
            logits = torch.where(logits < kth, torch.tensor(float("-inf")), logits)
        w = GumbelWatermarker(key, width, PhiloxPRF(key) if prf == "philox" else HMACSHA256PRF(key))
        toks = w.sample(logits, torch.tensor(ctx, dtype=torch.int64)).token_ids.tolist()
        for r in range(rows):
            out.append({"key": str(key), "prf": prf, "context": ctx[r],
                        "logits": [x if x != float("-inf") else None for x in logits[r].tolist()],
                        "token": toks[r]})
    return out


def sbw_samples():
    out = []
    for i in range(80):
        key = SBW_KEYS[i % len(SBW_KEYS)]
        seeding = "selfhash" if i % 2 else "lefthash"
        width = rng.choice([1, 2, 3, 4, 5]) if i % 3 else None
        gamma = rng.choice([0.5, 0.25, 0.1, 0.9])
        delta = rng.choice([2.0, 1.0, 4.0])
        vocab = rng.choice([16, 64, 200])
        w = SBWWatermarker(key, width, seeding, gamma, delta)
        cw = w.context_width
        ctx = [[rng.randrange(0, 150000) for _ in range(cw)] for _ in range(2)]
        logits = torch.randn(2, vocab, generator=torch.Generator().manual_seed(1000 + i)).to(torch.float32)
        s = w.sample(logits, torch.tensor(ctx, dtype=torch.int64))
        green = (s.logits - logits).tolist()
        for r in range(2):
            out.append({"key": str(key), "seeding": seeding, "context_width": cw, "gamma": gamma, "delta": delta,
                        "context": ctx[r], "logits": logits[r].tolist(), "token": s.token_ids[r].item(),
                        "green": [j for j, g in enumerate(green[r]) if g != 0]})
    return out


def sequences():
    seqs = []
    for n in (0, 1, 2, 3, 4, 5, 8, 20, 64, 200):
        seqs.append([rng.randrange(0, 100000) for _ in range(n)])
    base = [rng.randrange(0, 1000) for _ in range(12)]
    seqs.append(base * 6)                      # repeated contexts
    seqs.append([7] * 40)                     # one token repeated
    seqs.append([1, 2] * 30 + [3, 4, 5] * 10)  # short cycles
    seqs.append([rng.randrange(0, 20) for _ in range(300)])  # tiny alphabet
    return seqs


def exact_gamma_tail(shape, x):
    """Q(shape, x) to 50 digits (mpmath), to judge torch's gammaincc."""
    import mpmath
    mpmath.mp.dps = 50
    return float(mpmath.gammainc(shape, x, mpmath.inf, regularized=True))


def detector_vectors():
    out = []
    seqs = sequences()
    long_seq = [rng.randrange(0, 100000) for _ in range(1000)]
    for key in KEYS[:3]:
        d = GumbelWatermarkDetector(key, 4)
        r = d.detect(long_seq)
        out.append({"algorithm": "gumbel", "prf": "philox", "key": str(key), "context_width": 4,
                    "dedup": True, "tokens": long_seq, "score": r.score, "p_value": r.p_value,
                    "num_scored_tokens": r.num_scored_tokens})
    for key in KEYS[:4]:
        for width in (1, 4, 5):
            for seq in seqs:
                for dedup in (True,):
                    d = GumbelWatermarkDetector(key, width, deduplicate_contexts=dedup)
                    r = d.detect(seq)
                    out.append({"algorithm": "gumbel", "prf": "philox", "key": str(key), "context_width": width,
                                "dedup": dedup, "tokens": seq, "score": r.score, "p_value": r.p_value,
                                "num_scored_tokens": r.num_scored_tokens})
            for seq in seqs[:9]:
                d = GumbelWatermarkDetector(key, width, prf=HMACSHA256PRF(key))
                r = d.detect(seq)
                out.append({"algorithm": "gumbel", "prf": "hmac", "key": str(key), "context_width": width,
                            "dedup": True, "tokens": seq, "score": r.score, "p_value": r.p_value,
                            "num_scored_tokens": r.num_scored_tokens})
            for alpha in (0.1, 0.5, 0.3, 0.0, 1.0):
                for seq in seqs:
                    d = DualKeyGumbelWatermarkDetector(key, width, alpha=alpha)
                    r = d.detect(seq)
                    vec = {"algorithm": "dual_key_gumbel", "prf": "philox", "key": str(key),
                           "context_width": width, "alpha": alpha, "dedup": True, "tokens": seq,
                           "score": r.score, "p_value": r.p_value, "num_scored_tokens": r.num_scored_tokens}
                    if alpha not in (0, 0.5, 1) and r.num_scored_tokens:
                        var = (1 - alpha) ** 2 + alpha**2
                        vec["p_value_exact"] = exact_gamma_tail(r.num_scored_tokens / var, r.score / var)
                    out.append(vec)
    for key in SBW_KEYS[:4]:
        for seeding in ("selfhash", "lefthash"):
            for width in (None, 1, 4):
                for gamma in (0.5, 0.25):
                    for seq in seqs:
                        d = SBWWatermarkDetector(key, width, seeding, gamma)
                        r = d.detect(seq)
                        out.append({"algorithm": "sbw", "seeding": seeding, "key": str(key),
                                    "context_width": d.context_width, "gamma": gamma, "dedup": True,
                                    "tokens": seq, "score": r.score, "p_value": r.p_value,
                                    "num_scored_tokens": r.num_scored_tokens})
    return out


detections = detector_vectors()
seq_index, seq_list = {}, []
for d in detections:  # store each token sequence once
    k = tuple(d.pop("tokens"))
    if k not in seq_index:
        seq_index[k] = len(seq_list)
        seq_list.append(list(k))
    d["sequence"] = seq_index[k]
json.dump({"upstream": UPSTREAM, "prf": prf_vectors(), "derive": derive_vectors(),
           "gumbel_samples": gumbel_samples(), "sbw_samples": sbw_samples(),
           "sequences": seq_list, "detections": detections}, sys.stdout, separators=(",", ":"))
