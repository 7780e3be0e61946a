#!/bin/sh
# Instructions per token of the vLLM schemes' detection, counted by
# valgrind (callgrind), robust to the machine's load. Usage, from the
# repository root: benchmarks/vllm_instructions.sh [SPEC...]
# For each scheme and path (engine: EngineDetect, vLLM's own result;
# tokens: Detector.Tokens, tracemark's evidence) it counts a run of 1 and
# of 3 passes over 100,000 token IDs (TestEngineInstructions) and prints
# (Ir(3) - Ir(1)) / 200,000. Valgrind does not emulate AVX-512: under it
# the Philox kernel is the AVX2 one (8 lanes).
set -e
specs=${*:-"vllm-gumbel vllm-dual-gumbel vllm-sbw vllm-sbw:seeding=lefthash kgw"}
dir=$(mktemp -d)
go test -c -o "$dir/detect.test" ./detect/
count() { # spec path passes
	TRACEMARK_INSTR_SPEC=$1 TRACEMARK_INSTR_PATH=$2 TRACEMARK_INSTR_PASSES=$3 GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 \
		valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$dir/detect.test" -test.run '^TestEngineInstructions$' >/dev/null 2>"$dir/err" ||
		{ cat "$dir/err" >&2; exit 1; }
	sed -n 's/^summary: //p' "$dir/cg.out"
}
for spec in $specs; do
	paths="engine tokens"
	[ "$spec" = kgw ] && paths=tokens
	for path in $paths; do
		s=$spec
		[ "$spec" = kgw ] && s=kgw:gamma=0.25,delta=2,h=4,seeding=selfhash
		one=$(count "$s" "$path" 1)
		three=$(count "$s" "$path" 3)
		echo "$spec $path: $(( (three - one) / 200000 )) instructions per token"
	done
done
rm -rf "$dir"
