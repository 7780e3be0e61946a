#!/usr/bin/env bash
# Runs the light path locally as the schedulers would: deploy/prepare.sh,
# then one process per shard index, as Slurm array tasks
# (SLURM_ARRAY_TASK_ID, through slurm-scan.sbatch) and as Kubernetes
# Indexed Job pods (JOB_COMPLETION_INDEX, through scan-shard.sh, the
# container's command), then merge; checks that both merges equal one
# `tracemark scan` over all the files.
#
#   deploy/simulate.sh KEYFILE N PATH...     (TRACEMARK=path/to/tracemark)
#
# The Slurm tasks run slurm-scan.sbatch as sbatch does, from a spooled
# copy in another directory (task i: i mod 3 = 0, found through
# SLURM_SUBMIT_DIR, the checkout holding deploy/; 1, through
# TRACEMARK_DEPLOY_DIR, with a submit directory that holds no deploy/)
# or by hand (2: beside the script); a spooled copy that can find neither
# must stop with an error. Needs bash, awk and the tracemark binary only.
# Prints one line per scheduler and "... both merges equal it" on success.
set -euo pipefail
key=${1:?key file}; n=${2:?shards}; shift 2
abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }
# Absolute paths: the spooled tasks run in other directories.
key=$(abs "$key")
TRACEMARK=${TRACEMARK:-tracemark}
case $TRACEMARK in */*) TRACEMARK=$(abs "$TRACEMARK") ;; esac
export TRACEMARK
unset TRACEMARK_DEPLOY_DIR SLURM_SUBMIT_DIR
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
w=$(mktemp -d "${TMPDIR:-/tmp}/tracemark-simulate.XXXXXX")
find "$@" -type f | sort | while IFS= read -r f; do abs "$f"; done > "$w/files.txt"

# field KEY RECORD: the value after the first KEY in a JSON record as
# tracemark writes it (no spaces), up to the next , or }.
field() { awk -v k="$1" '{ i = index($0, k); if (i) { s = substr($0, i + length(k)); sub(/[,}].*/, "", s); print s } }' <<<"$2"; }
# summary OUT: files documents flagged errors tokens pooled-n pooled-log10p
# of the summary record ending the JSON Lines file OUT.
summary() {
  local s out="" k v
  s=$(tail -n 1 "$1")
  if [ "$(field '"type":' "$s")" != '"summary"' ]; then
    echo "$1: the last record is not a summary: ${s:0:200}" >&2
    return 1
  fi
  for k in '"files":' '"documents":' '"flagged":' '"errors":' '"tokens":' '"tally":{"n":' '"pooled_log10_p":'; do
    v=$(field "$k" "$s")
    if [ -z "$v" ]; then
      echo "$1: no $k in the summary" >&2
      return 1
    fi
    out+="${out:+ }$v"
  done
  printf '%s\n' "$out"
}
# run OUT CMD...: runs a tracemark command that writes JSON Lines to OUT;
# exit 0 (something flagged) and 1 (nothing flagged) are both success.
run() {
  local out=$1 rc=0
  shift
  "$@" > "$out" || rc=$?
  if [ "$rc" -gt 1 ]; then
    echo "$* exited $rc" >&2
    return 1
  fi
}
run "$w/one.jsonl" "$TRACEMARK" scan --json --soft-errors-ok --key "$key" --files-from "$w/files.txt"
summary "$w/one.jsonl" > "$w/one.txt"

# A spooled copy with no deploy directory to find stops, naming the way out.
mkdir -p "$w/spool/lost"
cp "$here/slurm-scan.sbatch" "$w/spool/lost/slurm_script"
if (cd "$w" && SLURM_SUBMIT_DIR=$w SLURM_ARRAY_TASK_ID=0 bash "$w/spool/lost/slurm_script" "$w/none" "$key") 2> "$w/lost.err"; then
  echo "a spooled slurm-scan.sbatch without its deploy directory ran" >&2
  exit 1
fi
if ! grep -q TRACEMARK_DEPLOY_DIR "$w/lost.err"; then
  echo "a spooled slurm-scan.sbatch without its deploy directory: $(cat "$w/lost.err")" >&2
  exit 1
fi

for sched in slurm k8s; do
  bash "$here/prepare.sh" "$w/files.txt" "$n" "$w/$sched" "$key"
  pids=()
  for ((i = 0; i < n; i++)); do
    if [ $sched = k8s ]; then
      JOB_COMPLETION_INDEX=$i bash "$here/scan-shard.sh" "$w/$sched" "$key" -j 1 & pids+=($!)
      continue
    fi
    spool="$w/spool/job$i"
    mkdir -p "$spool"
    cp "$here/slurm-scan.sbatch" "$spool/slurm_script"
    case $((i % 3)) in
      0) (cd "$repo" && SLURM_SUBMIT_DIR=$repo SLURM_ARRAY_TASK_ID=$i SLURM_CPUS_PER_TASK=1 bash "$spool/slurm_script" "$w/$sched" "$key") & pids+=($!) ;;
      1) (cd "$spool" && SLURM_SUBMIT_DIR=$spool TRACEMARK_DEPLOY_DIR=$here SLURM_ARRAY_TASK_ID=$i SLURM_CPUS_PER_TASK=1 bash "$spool/slurm_script" "$w/$sched" "$key") & pids+=($!) ;;
      2) SLURM_ARRAY_TASK_ID=$i SLURM_CPUS_PER_TASK=1 bash "$here/slurm-scan.sbatch" "$w/$sched" "$key" & pids+=($!) ;;
    esac
  done
  for p in "${pids[@]}"; do wait "$p"; done
  run "$w/$sched.jsonl" "$TRACEMARK" merge --json "$w/$sched"/task-*
  summary "$w/$sched.jsonl" > "$w/$sched.txt"
  echo "$sched: files documents flagged errors tokens pooled-n pooled-log10p = $(cat "$w/$sched.txt")"
  if ! cmp -s "$w/one.txt" "$w/$sched.txt"; then
    echo "MISMATCH: one scan gives $(cat "$w/one.txt")" >&2
    exit 1
  fi
done
echo "one scan: $(cat "$w/one.txt"): both merges equal it"
rm -rf "$w"
