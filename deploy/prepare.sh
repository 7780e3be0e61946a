#!/usr/bin/env bash
# Prepares a sharded scan (the light path of docs/distributed.md): splits
# a list of input paths into N shard lists and makes the one manifest
# (scan.json: keys, tokenizer, read options, dedup key) that every shard
# must share for merge to deduplicate exactly.
#
#   deploy/prepare.sh FILELIST N OUTDIR KEYFILE [scan flags...]
#
# Writes OUTDIR/shards/shard-<i>.txt (i = 0..N-1) and OUTDIR/scan.json.
# The scan flags (e.g. --field, --role, --scheme) must be the same ones the
# shards use: they are part of the manifest.
set -euo pipefail
list=${1:?file list}; n=${2:?shard count}; out=${3:?output dir}; key=${4:?key file}; shift 4
TRACEMARK=${TRACEMARK:-tracemark}
mkdir -p "$out/shards" "$out/manifest"
rm -f "$out"/shards/shard-*.txt
# Round-robin, so shards get similar mixes of large and small files.
awk -v n="$n" -v d="$out/shards" 'NF { print > (d "/shard-" (NR-1)%n ".txt") }' "$list"
for ((i = 0; i < n; i++)); do touch "$out/shards/shard-$i.txt"; done
empty=$(mktemp "${TMPDIR:-/tmp}/tracemark-empty.XXXXXX.txt")
"$TRACEMARK" scan --key "$key" --out "$out/manifest" "$@" "$empty" > /dev/null || [ $? -eq 1 ]
rm -f "$empty"
cp "$out/manifest/scan.json" "$out/scan.json"
rm -rf "$out/manifest"
echo "prepared $n shards and $out/scan.json"
