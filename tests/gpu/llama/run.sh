#!/bin/bash
# llama.cpp (Ollama's engine) natively and through vgpu, in one run on one GPU:
#   1. test-backend-ops on CUDA0 for a few op groups: the same tests pass;
#   2. greedy generation on a random-weight model (make_model.py) quantized
#      to Q4_K_M: the same tokens;
#   3. llama-bench decode (tg) and prefill (pp): vgpu's speed as a fraction
#      of native.
# With ggml's defaults (CUDA graphs, the VMM pool, pinned memory): what
# Ollama runs.  The shim's log says which of those it served.
#
#   tests/gpu/llama/run.sh LLAMA_TARBALL [BUILD]     (see docs: .llama/ is
#   packed from a llama.cpp 0.5.0 build for sm_90 made on the CI machine)
# Environment: LLAMA_EMBD/LAYERS/FF (model shape, default a ~1B model),
# LLAMA_OPS (test-backend-ops groups), LLAMA_TG, LLAMA_PP.
set -u
cd "$(dirname "$0")/../../.."
tarball=${1:?usage: run.sh LLAMA_TARBALL [BUILD]}
B=${2:-build}
work=${LLAMA_WORK:-/tmp/vgpu-llama}
mkdir -p "$work"
[ -x "$work/bin/llama-bench" ] || tar -xJf "$tarball" -C "$work" || exit 1
bin=$work/bin
export LD_LIBRARY_PATH=$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
shim_env() { env LD_LIBRARY_PATH="$PWD/$B/lib:$LD_LIBRARY_PATH" VGPU_LOG="$work/shim.log" "$@"; }
export VGPU_SOCKET=$work/vgpu.sock
"$B/bin/vgpu-executor" --listen 2>"$work/executor.log" &
exe=$!
trap 'kill $exe 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S "$VGPU_SOCKET" ] && break; sleep 0.1; done
status=0

model=$work/model-f16.gguf q4=$work/model-q4km.gguf
if [ ! -s "$q4" ]; then
	PYTHONPATH=$work/gguf-py python3 tests/gpu/llama/make_model.py \
		"$work/models/ggml-vocab-llama-spm.gguf" "$model" \
		--embd "${LLAMA_EMBD:-2048}" --layers "${LLAMA_LAYERS:-16}" --ff "${LLAMA_FF:-5632}" || exit 1
	"$bin/llama-quantize" "$model" "$q4" Q4_K_M >"$work/quantize.log" 2>&1 || { tail "$work/quantize.log"; exit 1; }
fi

echo "== test-backend-ops"
for op in ${LLAMA_OPS:-ADD MUL_MAT SOFT_MAX ROPE}; do
	n=$(timeout 300 "$bin/test-backend-ops" test -b CUDA0 -o "$op" 2>&1 | grep -E 'tests passed' | tail -1)
	v=$(shim_env timeout 300 "$bin/test-backend-ops" test -b CUDA0 -o "$op" 2>&1 | grep -E 'tests passed' | tail -1)
	echo "   $op: native: ${n:-none}; vgpu: ${v:-none}"
	[ -n "$n" ] && [ "$n" = "$v" ] || status=1
done

echo "== greedy generation (Q4_K_M)"
gen() { "$@" "$bin/llama-completion" -m "$q4" -p "The meaning of life is" -n 32 --temp 0 -no-cnv -ngl 99 --seed 1 2>/dev/null; }
nt=$(gen timeout 300) vt=$(gen shim_env timeout 300)
echo "   native: $(echo "$nt" | tr '\n' ' ' | cut -c1-160)"
echo "   vgpu:   $(echo "$vt" | tr '\n' ' ' | cut -c1-160)"
[ -n "$nt" ] && [ "$nt" = "$vt" ] && echo "   same tokens" || { echo "   DIFFERENT"; status=1; }

echo "== llama-bench"
bench() { "$@" "$bin/llama-bench" -m "$q4" -p "${LLAMA_PP:-512}" -n "${LLAMA_TG:-128}" -r 3 -o csv 2>/dev/null; }
nb=$(bench timeout 300) vb=$(bench shim_env timeout 300)
for t in "pp${LLAMA_PP:-512}" "tg${LLAMA_TG:-128}"; do
	a=$(echo "$nb" | awk -F, -v t="$t" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i }
		NR > 1 { p = $h["\"n_prompt\""]; g = $h["\"n_gen\""]; gsub(/"/, "", p); gsub(/"/, "", g);
		 n = (p > 0 ? "pp" p : "tg" g); if (n == t) { v = $h["\"avg_ts\""]; gsub(/"/, "", v); print v } }')
	b=$(echo "$vb" | awk -F, -v t="$t" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i }
		NR > 1 { p = $h["\"n_prompt\""]; g = $h["\"n_gen\""]; gsub(/"/, "", p); gsub(/"/, "", g);
		 n = (p > 0 ? "pp" p : "tg" g); if (n == t) { v = $h["\"avg_ts\""]; gsub(/"/, "", v); print v } }')
	r=$(awk -v a="${a:-0}" -v b="${b:-0}" 'BEGIN { if (a > 0) printf "%.2fx", b / a; else print "?" }')
	echo "   $t: native ${a:-?} t/s, vgpu ${b:-?} t/s, ratio $r"
done
echo "== what the shim served (its log)"
grep -E "not supported|VMM|graph|pinned|host memory" "$work/shim.log" 2>/dev/null | sort | uniq -c | sort -rn | head -20
exit $status
