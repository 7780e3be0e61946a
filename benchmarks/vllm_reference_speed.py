"""Time vLLM's reference watermark detectors (torch, CPU) against
`tracemark detect --ids` on the same token IDs, per scheme, and print the
ratio.

Usage: VLLM_SRC=DIR python3 benchmarks/vllm_reference_speed.py TRACEMARK_BINARY

DIR holds vLLM's vllm/ package tree with the import stubs described in
watermark/testdata/vllm/README.md. It exits quietly (status 0, a note on
stderr) when torch or the vLLM sources are not there. This script contains
no vLLM code: it only imports it.
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

try:
    import torch
except ImportError:
    print("torch is not installed: skipping the vLLM reference timing", file=sys.stderr)
    sys.exit(0)
src = os.environ.get("VLLM_SRC", "/tmp/vllmref")
if not os.path.isdir(os.path.join(src, "vllm", "v1", "watermarking")):
    print(f"no vLLM sources under {src}: skipping", file=sys.stderr)
    sys.exit(0)
sys.path.insert(0, src)
if not hasattr(torch, "compile"):
    torch.compile = lambda f, **kw: f
torch.set_num_threads(1)  # per core, as tracemark's -j 1

from vllm.v1.watermarking.gumbel import (  # noqa: E402
    DualKeyGumbelWatermarkDetector,
    GumbelWatermarkDetector,
)
from vllm.v1.watermarking.sbw import SBWWatermarkDetector  # noqa: E402

binary = sys.argv[1]
rng = random.Random(7)
docs = [[rng.randrange(0, 200000) for _ in range(20000)] for _ in range(40)]
total = sum(len(d) for d in docs[:5])  # vLLM's detectors are timed on the first 5
work = tempfile.mkdtemp()
ids = os.path.join(work, "ids.jsonl")
with open(ids, "w") as f:
    for d in docs:
        f.write(json.dumps(d) + "\n")
small = os.path.join(work, "small.jsonl")
with open(small, "w") as f:
    for d in docs[:2]:
        f.write(json.dumps(d) + "\n")
# tracemark's rate is the difference of a 40-document and a 2-document run,
# so its start-up (loading the tokenizer) cancels.
extra = sum(len(d) for d in docs[2:])


def detector(cfg):
    a = cfg["algorithm"]
    if a == "gumbel":
        return GumbelWatermarkDetector(cfg["key"], cfg["context_width"])
    if a == "dual_key_gumbel":
        return DualKeyGumbelWatermarkDetector(cfg["key"], cfg["context_width"], alpha=cfg["alpha"])
    return SBWWatermarkDetector(cfg["key"], cfg["context_width"], cfg["sbw_scheme"], cfg["sbw_gamma"])


def run(args):
    t0 = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


for spec in ["vllm-gumbel", "vllm-dual-gumbel", "vllm-sbw", "vllm-sbw:seeding=lefthash"]:
    key, conf = os.path.join(work, "k.json"), os.path.join(work, "c.json")
    subprocess.run([binary, "keygen", "--scheme", spec, "--out", key, "--engine-config", conf, "--force"],
                   stdout=subprocess.DEVNULL, check=True)
    with open(conf) as f:
        det = detector(json.load(f))
    t0 = time.perf_counter()
    for d in docs[:5]:
        det.detect(d)
    rate_vllm = total / (time.perf_counter() - t0)
    t_small = min(run([binary, "detect", "-k", key, "--ids", small]) for _ in range(3))
    t_big = min(run([binary, "detect", "-k", key, "--ids", ids]) for _ in range(3))
    rate_tm = extra / (t_big - t_small)
    print(f"{spec}: vLLM reference {rate_vllm:,.0f} tokens/s, tracemark detect --ids {rate_tm:,.0f} tokens/s, "
          f"ratio {rate_tm / rate_vllm:.1f}x")
