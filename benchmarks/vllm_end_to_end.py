"""End to end against vLLM's own detectors: text that tracemark's embedder
marked with each vLLM scheme, and unmarked text, scored by vLLM's reference
detector (vllm/v1/watermarking/, torch on CPU) and by `tracemark detect`.

Usage: VLLM_SRC=DIR /usr/bin/python3 benchmarks/vllm_end_to_end.py TRACEMARK_BINARY [N [SPEC,...]]

DIR is set up as in watermark/testdata/vllm/README.md. For each scheme a
fresh key is made with `tracemark keygen --engine-config`, and the engine
configuration file it writes (the one a provider hands to `vllm serve
--watermark-config`) is what configures vLLM's detector, so the key and
parameters cross the boundary the way they do in a deployment. N
completions of 200 tokens are generated with the watermark and N without
(different seeds), and both detectors read the same token IDs. It exits
quietly (status 0, a note on stderr) without torch or the vLLM sources.
This script contains no vLLM code: it only imports it.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import torch
except ImportError:
    print("torch is not installed: skipping", file=sys.stderr)
    sys.exit(0)
src = os.environ.get("VLLM_SRC", "/tmp/vllmref")
if not os.path.isdir(os.path.join(src, "vllm", "v1", "watermarking")):
    print(f"no vLLM sources under {src}: skipping", file=sys.stderr)
    sys.exit(0)
if len(sys.argv) < 2:
    sys.exit(__doc__)
sys.path.insert(0, src)
if not hasattr(torch, "compile"):
    torch.compile = lambda f, **kw: f
torch.set_num_threads(1)

from vllm.v1.watermarking.gumbel import (  # noqa: E402
    DualKeyGumbelWatermarkDetector,
    GumbelWatermarkDetector,
)
from vllm.v1.watermarking.sbw import SBWWatermarkDetector  # noqa: E402

tm = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
work = tempfile.mkdtemp()


def vllm_detector(cfg):
    """vLLM's detector for an engine configuration written by keygen."""
    algo, key, width = cfg["algorithm"], int(cfg["key"]), int(cfg["context_width"])
    prf = cfg.get("prf", "philox")
    if algo == "gumbel":
        return GumbelWatermarkDetector(key, context_width=width, prf=prf)
    if algo == "dual_key_gumbel":
        return DualKeyGumbelWatermarkDetector(key, context_width=width, prf=prf)
    if algo == "sbw":  # vLLM's SBW detector is keyed through Philox only
        if prf != "philox":
            raise SystemExit(f"vLLM's SBW detector has no PRF {prf}")
        return SBWWatermarkDetector(key, context_width=width, scheme=cfg["sbw_scheme"],
                                    gamma=cfg["sbw_gamma"])
    raise SystemExit(f"unknown algorithm {algo}")


def tracemark_p(keyfile, ids):
    out = subprocess.run([tm, "detect", "--key", keyfile, "--ids", "--json"], input=json.dumps(ids),
                         capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise SystemExit(f"tracemark detect failed: {out.stderr}")
    return json.loads(out.stdout)["log10_p"]


# vLLM's configuration accepts only the Philox PRF, so no HMAC row.
schemes = sys.argv[3].split(",") if len(sys.argv) > 3 else [
    "vllm-gumbel", "vllm-dual-gumbel", "vllm-sbw", "vllm-sbw:seeding=lefthash"]
print(f"{n} marked and {n} unmarked completions of 200 tokens per scheme; "
      "log10 p: median [min, max]; hits at p < 0.01")
for spec in schemes:
    tag = spec.replace(":", "_").replace("=", "_")
    keyfile, cfgfile = os.path.join(work, tag + ".key"), os.path.join(work, tag + ".json")
    subprocess.run([tm, "keygen", "--out", keyfile, "--scheme", spec, "--engine-config", cfgfile],
                   check=True, capture_output=True)
    with open(cfgfile) as f:
        det = vllm_detector(json.load(f))
    for marked in (True, False):
        vl, tml = [], []
        for i in range(n):
            args = [tm, "generate", "--key", keyfile, "--json", "--seed", str(1000 * marked + i)]
            if not marked:
                args.append("--no-watermark")
            ids = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)["tokens"]
            p = float(det.detect(ids).p_value)
            vl.append(-float("inf") if p <= 0 else __import__("math").log10(p))
            tml.append(tracemark_p(keyfile, ids))

        def summary(xs):
            s = sorted(xs)
            return f"{s[len(s) // 2]:.1f} [{s[0]:.1f}, {s[-1]:.1f}], {sum(x < -2 for x in xs)}/{len(xs)}"

        print(f"{spec:28s} {'marked  ' if marked else 'unmarked'}  vLLM {summary(vl):28s}  tracemark {summary(tml)}")
