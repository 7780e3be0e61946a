#!/usr/bin/env bash
# Scans one shard of a prepared scan (deploy/prepare.sh) into its own
# --out directory, with the shared manifest. The shard index comes from
# the scheduler: SLURM_ARRAY_TASK_ID (Slurm array job) or
# JOB_COMPLETION_INDEX (Kubernetes Indexed Job), or SHARD.
#
#   deploy/scan-shard.sh OUTDIR KEYFILE [scan flags...]
#
# A rerun of the same index resumes: finished inputs are skipped. Exit 0
# when the shard is done (flagged or not), 2 on errors.
set -euo pipefail
out=${1:?output dir}; key=${2:?key file}; shift 2
i=${SHARD:-${SLURM_ARRAY_TASK_ID:-${JOB_COMPLETION_INDEX:?no shard index: set SHARD, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX}}}
TRACEMARK=${TRACEMARK:-tracemark}
dir="$out/task-$i"
mkdir -p "$dir"
[ -f "$dir/scan.json" ] || cp "$out/scan.json" "$dir/scan.json"
set +e
"$TRACEMARK" scan --key "$key" --out "$dir" --files-from "$out/shards/shard-$i.txt" --json --soft-errors-ok "$@" > "$dir/shard.log.jsonl"
rc=$?
set -e
# scan exits 0 (something flagged) or 1 (nothing flagged) on success.
if [ "$rc" -gt 1 ]; then
  echo "shard $i: tracemark scan exited $rc" >&2
  exit 2
fi
echo "shard $i done"
