#!/bin/bash
# The GPU suite.  Runs from a build folder made by `make test-gpu` (or
# `make all demo bench cuda-tests` on another machine), without building:
#
#   tests/gpu/run.sh [BUILD_DIR]
#
# 1. the end-to-end runtime test, static and shared cudart: natively, then
#    through vgpu (shim -> local transport -> executor -> the NVIDIA driver);
#    every check must pass and the checksums of both runs must be equal;
# 2. the sticky-fault case through vgpu; the multi-threaded programs and the
#    VMM pool / stream-ordered allocation program, natively and through vgpu;
# 3. every occupancy answer, and cuBLAS SGEMM/GemmEx results, natively and
#    through vgpu, compared line by line;
# 4. cuInit with no executor: an error, and one log line saying why;
# 5. the demo (make run), natively and through vgpu;
# 6. the micro-benchmarks, with ratios to native.
set -u
cd "$(dirname "$0")/../.."
B=${1:-build}
. tests/gpu/gpu-check.sh
if [ -n "$GPU_MISSING" ]; then
	echo "the GPU suite needs a GPU host: $GPU_MISSING"
	echo "skipped: every GPU test (make test runs the rest)"
	exit 77
fi
# libcudart.so.13 for the shared builds.
[ -d /usr/local/cuda/lib64 ] && export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export VGPU_SOCKET=/tmp/vgpu-gpu-suite.sock
pass=0 fail=0
result() {	# name, rc
	if [ "$2" -eq 0 ]; then pass=$((pass + 1)); echo "PASS  $1"
	else fail=$((fail + 1)); echo "FAIL  $1"; fi
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/GPU: /'

for rt in static shared; do
	bin=$B/tests/cuda/e2e_runtime_$rt
	native=$(timeout 300 "$bin" 2>&1); nrc=$?
	shim=$(timeout 300 "$B/bin/vgpu" run -- "$bin" 2>&1); src=$?
	echo "$shim" | grep -v '^ok' | sed "s/^/   vgpu $rt: /"
	[ $nrc -eq 0 ] || echo "$native" | grep -v '^ok' | sed "s/^/   native $rt: /"
	result "e2e_runtime ($rt cudart) natively" $nrc
	result "e2e_runtime ($rt cudart) through vgpu" $src
	nsum=$(echo "$native" | sed -n 's/^checksum //p') ssum=$(echo "$shim" | sed -n 's/^checksum //p')
	echo "   checksums: native $nsum, vgpu $ssum"
	[ -n "$nsum" ] && [ "$nsum" = "$ssum" ]
	result "e2e_runtime ($rt cudart) results identical to native" $?
	out=$(timeout 120 "$B/bin/vgpu" run -- "$bin" fault 2>&1); rc=$?
	[ $rc -eq 0 ] || echo "$out" | sed "s/^/   /"
	result "sticky illegal-address fault through vgpu ($rt)" $rc
done

# Multi-threaded programs (tests/cuda/concurrency.cu): every check natively and through vgpu.
bin=$B/tests/cuda/concurrency
native=$(timeout 600 "$bin" 2>&1); nrc=$?
shim=$(timeout 600 "$B/bin/vgpu" run -- "$bin" 2>&1); src=$?
echo "$native" | grep -v '^ok' | sed "s/^/   native: /"
echo "$shim" | grep -v '^ok' | sed "s/^/   vgpu: /"
result "concurrency natively" $nrc
result "concurrency through vgpu" $src
# As many checks passed in both (their texts say where an error surfaced, which may differ).
nok=$(echo "$native" | grep -c '^ok') sok=$(echo "$shim" | grep -c '^ok')
echo "   checks passed: native $nok, vgpu $sok"
[ "$nok" -gt 0 ] && [ "$nok" = "$sok" ]
result "concurrency: the same checks natively and through vgpu" $?

# A ggml-style VMM pool and stream-ordered allocation (tests/cuda/vmm_pool.cu):
# every check natively and through vgpu, and the same checksums line by line.
bin=$B/tests/cuda/vmm_pool
native=$(timeout 300 "$bin" 2>&1); nrc=$?
shim=$(timeout 300 "$B/bin/vgpu" run -- "$bin" 2>&1); src=$?
echo "$native" | grep -v '^ok' | sed "s/^/   native: /"
echo "$shim" | grep -v '^ok' | sed "s/^/   vgpu: /"
result "vmm_pool natively" $nrc
result "vmm_pool through vgpu" $src
nsum=$(echo "$native" | grep '^checksum') ssum=$(echo "$shim" | grep '^checksum')
[ -n "$nsum" ] && [ "$nsum" = "$ssum" ]
result "vmm_pool: checksums identical to native, line by line" $?
# Occupancy (tests/cuda/occupancy.cu): every answer natively and through vgpu, line by line
# (the shim computes them with cuda_occupancy.h; "differs" marks where the driver does not).
bin=$B/tests/cuda/occupancy
native=$(timeout 300 "$bin" 2>&1); nrc=$?
shim=$(timeout 300 "$B/bin/vgpu" run -- "$bin" 2>&1); src=$?
echo "   native: $(echo "$native" | grep -c ' differs$') answer(s) where the driver and cuda_occupancy.h differ"
echo "$native" | grep ' differs$' | head -n 10 | sed 's/^/   native: /'
result "occupancy natively" $nrc
result "occupancy through vgpu" $src
strip() { sed -e 's/ header=.*//' -e '/answer(s) differ from/d'; }
d=$(diff <(echo "$native" | strip) <(echo "$shim" | strip))
[ -n "$d" ] && echo "$d" | head -n 30 | sed 's/^/   diff native vgpu: /'
[ -z "$d" ] && [ -n "$native" ]
result "occupancy: every answer through vgpu equals the driver's" $?

# cuBLAS (tests/cuda/cublas_gemm.cu): cublasCreate, SGEMM and FP16 GemmEx, bit for bit.
bin=$B/tests/cuda/cublas_gemm
native=$(CUBLAS_WORKSPACE_CONFIG=:4096:8 timeout 300 "$bin" 2>&1); nrc=$?
shim=$(CUBLAS_WORKSPACE_CONFIG=:4096:8 timeout 300 "$B/bin/vgpu" run -- "$bin" 2>&1); src=$?
echo "$native" | grep -v '^sgemm\|^gemmex' | sed 's/^/   native: /'
echo "$shim" | grep -v '^sgemm\|^gemmex' | sed 's/^/   vgpu: /'
result "cublas_gemm natively" $nrc
result "cublas_gemm through vgpu" $src
nres=$(echo "$native" | grep '^sgemm\|^gemmex') sres=$(echo "$shim" | grep '^sgemm\|^gemmex')
[ -n "$nres" ] && [ "$nres" = "$sres" ]
result "cublas_gemm: SGEMM and GemmEx results bit-identical to native" $?

log=$(mktemp)
out=$(VGPU_SOCKET=/tmp/vgpu-nobody-here.sock VGPU_LOG=$log LD_LIBRARY_PATH=$B/lib:$LD_LIBRARY_PATH \
	"$B/tests/cuda/e2e_runtime_static" 2>&1); rc=$?
echo "   no executor: exit $rc; log: $(cat "$log")"
[ $rc -ne 0 ] && [ "$(wc -l <"$log")" -eq 1 ] && grep -q "no executor" "$log"
result "no executor: cuInit fails and says why in one line" $?
rm -f "$log"

echo
tests/gpu/run-demo.sh "$B"
result "demo natively and through vgpu (static and shared cudart)" $?
echo
bench/run.sh "$B"
result "micro-benchmarks ran" $?
echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
