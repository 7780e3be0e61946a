"""Time vLLM's reference watermark detectors (torch, CPU, one thread)
against tracemark's on the same token IDs, per scheme, and print the
ratios.

Usage: VLLM_SRC=DIR python3 benchmarks/vllm_reference_speed.py [TRACEMARK_BINARY]

Run it from the repository root. DIR holds vLLM's vllm/ package tree with
the import stubs described in watermark/testdata/vllm/README.md. It exits
quietly (status 0, a note on stderr) when torch or the vLLM sources are not
there. This script contains no vLLM code: it only imports it.

Two comparisons, both per core:
- in process: vLLM's detector.detect(ids) on a Python list against
  tracemark's BenchmarkEngineDetection (go test ./detect/) on the same IDs,
  both timed in thread CPU time, each the fastest of several passes (the
  machine may be shared). "engine" is tracemark's computation of vLLM's own
  result (EngineDetect: vLLM's padding, context dedup and p-value);
  "tokens" is tracemark's evidence (Detector.Tokens: dedup, exact p-value).
- end to end, when TRACEMARK_BINARY is given: `tracemark detect --ids` on a
  JSON-lines file, its start-up cancelled by differencing a 40- and a
  2-document run (wall time).
"""
import json
import os
import random
import re
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
torch.set_num_threads(1)  # per core

from vllm.v1.watermarking.gumbel import (  # noqa: E402
    DualKeyGumbelWatermarkDetector,
    GumbelWatermarkDetector,
)
from vllm.v1.watermarking.sbw import SBWWatermarkDetector  # noqa: E402

rng = random.Random(7)
docs = [[rng.randrange(0, 200000) for _ in range(20000)] for _ in range(5)]
total = sum(len(d) for d in docs)
work = tempfile.mkdtemp()
ids = os.path.join(work, "ids.jsonl")
with open(ids, "w") as f:
    for d in docs:
        f.write(json.dumps(d) + "\n")

# Ours, in process, on the same IDs.
out = subprocess.run(
    ["go", "test", "-run", "^$", "-bench", "^BenchmarkEngineDetection$", "-benchtime", "10x", "./detect/"],
    env=dict(os.environ, TRACEMARK_BENCH_IDS=ids), capture_output=True, text=True, check=True).stdout
ours = {m.group(2): float(m.group(1)) for m in re.finditer(r"([0-9.]+) (\S+?)-ns/token", out)}
kgw = next(v for k, v in ours.items() if k.startswith("kgw"))

refs = {
    "vllm-gumbel": GumbelWatermarkDetector(42),
    "vllm-dual-gumbel": DualKeyGumbelWatermarkDetector(42),
    "vllm-sbw": SBWWatermarkDetector(42),
    "vllm-sbw:seeding=lefthash": SBWWatermarkDetector(42, scheme="lefthash"),
}
print(f"{total} token IDs in {len(docs)} documents; ns per token per core; KGW Detector.Tokens {kgw:.1f} ns")
for spec, det in refs.items():
    det.detect(docs[0][:1000])  # warm up
    best = float("inf")
    for _ in range(3):
        t0 = time.thread_time()
        for d in docs:
            det.detect(d)
        best = min(best, time.thread_time() - t0)
    ref = best / total * 1e9
    eng, tok = ours[spec + "/engine"], ours[spec + "/tokens"]
    print(f"{spec}: vLLM reference {ref:,.0f} ns; tracemark engine result {eng:.1f} ns ({ref / eng:.0f}x), "
          f"tracemark evidence {tok:.1f} ns ({ref / tok:.0f}x); vs KGW: engine {eng / kgw:.2f}, evidence {tok / kgw:.2f}")

if len(sys.argv) > 1:
    binary = sys.argv[1]
    big = os.path.join(work, "big.jsonl")
    small = os.path.join(work, "small.jsonl")
    bdocs = [[rng.randrange(0, 200000) for _ in range(20000)] for _ in range(40)]
    with open(big, "w") as f:
        for d in bdocs:
            f.write(json.dumps(d) + "\n")
    with open(small, "w") as f:
        for d in bdocs[:2]:
            f.write(json.dumps(d) + "\n")
    extra = sum(len(d) for d in bdocs[2:])

    def run(args):
        t0 = time.perf_counter()
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return time.perf_counter() - t0

    for spec in refs:
        key = os.path.join(work, "k.json")
        subprocess.run([binary, "keygen", "--scheme", spec, "--out", key, "--force"], stdout=subprocess.DEVNULL, check=True)
        t_small = min(run([binary, "detect", "-k", key, "--ids", small]) for _ in range(3))
        t_big = min(run([binary, "detect", "-k", key, "--ids", big]) for _ in range(3))
        print(f"{spec}: tracemark detect --ids end to end {(t_big - t_small) / extra * 1e9:.0f} ns/token (wall)")
