#!/usr/bin/env bash
# Runs the light path locally as the schedulers would: deploy/prepare.sh,
# then one process per shard index, as Slurm array tasks
# (SLURM_ARRAY_TASK_ID, through slurm-scan.sbatch) and as Kubernetes
# Indexed Job pods (JOB_COMPLETION_INDEX, through scan-shard.sh, the
# container's command), then merge; checks that both merges equal one
# `tracemark scan` over all the files.
#
#   deploy/simulate.sh KEYFILE N PATH...     (TRACEMARK=path/to/tracemark)
set -euo pipefail
key=${1:?key file}; n=${2:?shards}; shift 2
TRACEMARK=${TRACEMARK:-tracemark}; export TRACEMARK
here=$(cd "$(dirname "$0")" && pwd)
w=$(mktemp -d "${TMPDIR:-/tmp}/tracemark-simulate.XXXXXX")
find "$@" -type f | sort > "$w/files.txt"
summary() { tail -1 | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["files"], s["documents"], s["flagged"], s["errors"], s["tokens"], s["pooled"][0]["tally"]["n"], s["pooled_log10_p"])'; }
"$TRACEMARK" scan --json --soft-errors-ok --key "$key" --files-from "$w/files.txt" | summary > "$w/one.txt" || true
for sched in slurm k8s; do
  bash "$here/prepare.sh" "$w/files.txt" "$n" "$w/$sched" "$key"
  pids=()
  for ((i = 0; i < n; i++)); do
    if [ $sched = slurm ]; then
      SLURM_ARRAY_TASK_ID=$i SLURM_CPUS_PER_TASK=1 bash "$here/slurm-scan.sbatch" "$w/$sched" "$key" & pids+=($!)
    else
      JOB_COMPLETION_INDEX=$i bash "$here/scan-shard.sh" "$w/$sched" "$key" -j 1 & pids+=($!)
    fi
  done
  for p in "${pids[@]}"; do wait "$p"; done
  "$TRACEMARK" merge --json "$w/$sched"/task-* | summary > "$w/$sched.txt" || true
  echo "$sched: files documents flagged errors tokens pooled-n pooled-log10p = $(cat "$w/$sched.txt")"
  if ! cmp -s "$w/one.txt" "$w/$sched.txt"; then
    echo "MISMATCH: one scan gives $(cat "$w/one.txt")" >&2
    exit 1
  fi
done
echo "one scan: $(cat "$w/one.txt"): both merges equal it"
rm -rf "$w"
