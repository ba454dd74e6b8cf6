#!/bin/bash
# System test without a GPU: tests/cuda/vmm_pool.cu - a ggml-style VMM pool
# and stream-ordered allocation on two streams - runs unmodified through the
# shim, the local transport and the executor, whose worker loads the driver
# TEST DOUBLE (build/fakecuda/, not a driver).  The double models
# reservations, physical allocations and mappings with host mappings, so a
# wrong address, a missing access grant or a handle released twice shows.
# Needs nvcc to build the program (skips without) and the builds of
# `make test`.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
NVCC=${NVCC:-${CUDA_HOME:-/usr/local/cuda}/bin/nvcc}
[ -x "$NVCC" ] || NVCC=$(command -v nvcc) || { echo "nvcc not found: the guest program cannot be built here"; exit 77; }
for f in "$B/bin/vgpu" "$B/bin/vgpu-executor" "$B/lib/libcuda.so.1" "$B/fakecuda/libcuda.so.1"; do
	[ -e "$f" ] || { echo "missing $f (make test builds it)"; exit 1; }
done

tmp=$(mktemp -d /tmp/vgpu-fakecuda-vmm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for rt in static shared; do
	"$NVCC" -O2 -gencode arch=compute_90,code=sm_90 -cudart $rt -Itests/cuda \
		-o "$tmp/vmm_pool_$rt" tests/cuda/vmm_pool.cu || { echo "nvcc failed"; exit 1; }
done

export VGPU_LIBCUDA=$PWD/$B/fakecuda/libcuda.so.1
CUDA_LIB=$(dirname "$(dirname "$NVCC")")/lib64	# libcudart.so.13 for the shared build
export LD_LIBRARY_PATH=$CUDA_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export VGPU_SOCKET=$tmp/vgpu.sock
status=0
run() {	# label, program
	local out rc
	out=$(timeout 300 "$B/bin/vgpu" run -- "$2" 2>&1)
	rc=$?
	echo "$out" | grep -v '^ok ' | sed "s|^|   $1: |"
	echo "   $1: $(grep -c '^ok ' <<<"$out") checks passed"
	if [ $rc -ne 0 ] || ! grep -q '^PASSED' <<<"$out"; then
		echo "FAILED: $1 (exit $rc)"
		status=1
	fi
	echo "$out" | grep '^checksum' >"$tmp/$1.sums"
}
run static "$tmp/vmm_pool_static"
run shared "$tmp/vmm_pool_shared"
# The same results whichever cudart, and with every operation of the
# (asynchronous) double delayed, so that ordering mistakes lose the race.
FAKECUDA_OP_DELAY_US=200 run delayed "$tmp/vmm_pool_static"
for r in shared delayed; do
	if ! cmp -s "$tmp/static.sums" "$tmp/$r.sums" || [ ! -s "$tmp/static.sums" ]; then
		echo "FAILED: checksums of the $r run differ from the static run's"
		diff "$tmp/static.sums" "$tmp/$r.sums" | sed 's/^/   /'
		status=1
	fi
done
exit $status
