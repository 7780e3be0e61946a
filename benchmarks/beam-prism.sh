#!/usr/bin/env bash
# Measures tracemark-beam on Prism against tracemark scan on the same
# .jsonl.zst files, in one session: wall and CPU seconds, peak RSS
# (/usr/bin/time -v), tuples shuffled. Usage (from the repository root):
#
#   benchmarks/beam-prism.sh [MB]    # MB of JSONL before compression (default 500;
#                                    # 1400 gives the ~500 MB of .jsonl.zst of issue 19)
#
# The data is generated under ${TMPDIR:-/tmp}/tm-beam-bench (random
# Opticks words, 8 files), never in the repository.
set -euo pipefail
MB=${1:-500}
W=${TMPDIR:-/tmp}/tm-beam-bench
mkdir -p "$W/data" "$W/bin"
go build -o "$W/bin/tracemark" ./cmd/tracemark
(cd beam && go build -o "$W/bin/tracemark-beam" ./cmd/tracemark-beam)
[ -f "$W/k.key" ] || "$W/bin/tracemark" keygen --out "$W/k.key"
if [ ! -f "$W/data/.mb-$MB" ]; then
  rm -f "$W"/data/*
  python3 - "$MB" "$W/data" "$(go env GOROOT)/src/testdata/Isaac.Newton-Opticks.txt" <<'PY'
import json, random, sys
mb, out, src = int(sys.argv[1]), sys.argv[2], sys.argv[3]
words = open(src, encoding="utf-8").read().split()
rng = random.Random(1)
per = mb * 1_000_000 // 8
for f in range(8):
    with open(f"{out}/part-{f}.jsonl", "w") as w:
        n = i = 0
        while n < per:
            text = " ".join(rng.choices(words, k=rng.randint(200, 600)))
            line = json.dumps({"id": f"{f}-{i}", "text": text}) + "\n"
            w.write(line); n += len(line); i += 1
PY
  for f in "$W"/data/part-*.jsonl; do zstd -q --rm -3 "$f"; done
  touch "$W/data/.mb-$MB"
fi
du -cb "$W"/data/*.zst | tail -1
echo "== tracemark scan"
/usr/bin/time -v "$W/bin/tracemark" scan --json --soft-errors-ok --key "$W/k.key" "$W"/data/*.zst > "$W/scan.jsonl" 2> "$W/scan.time" || true
grep -E "Elapsed|User time|System time|Maximum resident" "$W/scan.time"
tail -1 "$W/scan.jsonl" | python3 -c 'import json,sys; s=json.load(sys.stdin); print("documents", s["documents"], "tokens", s["tokens"], "bytes", s["bytes"], "pooled n", s["pooled"][0]["tally"]["n"], "exact", s["pooled"][0]["dedup_exact"])'
echo "== tracemark-beam on Prism"
rm -rf "$W/beam-out"
/usr/bin/time -v "$W/bin/tracemark-beam" --key "$W/k.key" --output "$W/beam-out" "$W"/data/*.zst 2> "$W/beam.time" >/dev/null
grep -E "Elapsed|User time|System time|Maximum resident|tracemark-beam:" "$W/beam.time"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("documents", s["documents"], "tokens", s["tokens"], "pooled n", s["pooled"][0]["tally"]["n"], "log10 p", s["pooled_log10_p"])' "$W/beam-out/summary.json"
