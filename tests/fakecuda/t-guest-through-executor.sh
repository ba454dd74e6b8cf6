#!/bin/bash
# System test without a GPU: an unmodified CUDA runtime program (static and
# shared cudart) runs through the shim, the local transport and the
# executor, whose worker loads the driver TEST DOUBLE (build/fakecuda/, not
# a driver) through $VGPU_LIBCUDA.  Needs nvcc to build the program (skips
# without) and the builds of `make test` (vgpu, the executor, the shim, the
# double).
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
NVCC=${NVCC:-${CUDA_HOME:-/usr/local/cuda}/bin/nvcc}
[ -x "$NVCC" ] || NVCC=$(command -v nvcc) || { echo "nvcc not found: the guest program cannot be built here"; exit 77; }
for f in "$B/bin/vgpu" "$B/bin/vgpu-executor" "$B/lib/libcuda.so.1" "$B/fakecuda/libcuda.so.1"; do
	[ -e "$f" ] || { echo "missing $f (make test builds it)"; exit 1; }
done

tmp=$(mktemp -d /tmp/vgpu-fakecuda-e2e.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for rt in static shared; do
	"$NVCC" -O2 -gencode arch=compute_90,code=sm_90 -cudart $rt -Itests/cuda \
		-o "$tmp/guest_$rt" tests/cuda/e2e_runtime.cu || { echo "nvcc failed"; exit 1; }
done
"$NVCC" -O2 -gencode arch=compute_90,code=sm_90 -cudart static -Itests/cuda \
	-o "$tmp/occupancy" tests/cuda/occupancy.cu || { echo "nvcc failed"; exit 1; }

# A private socket, so that the executor started here (with the double) is
# the one the program talks to.
export VGPU_LIBCUDA=$PWD/$B/fakecuda/libcuda.so.1
CUDA_LIB=$(dirname "$(dirname "$NVCC")")/lib64	# libcudart.so.13 for the shared build
export LD_LIBRARY_PATH=$CUDA_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export VGPU_SOCKET=$tmp/vgpu.sock
status=0
run() {	# expected-output-line, args...
	local want=$1 out rc
	shift
	out=$(timeout 120 "$B/bin/vgpu" run -- "$@" 2>&1)
	rc=$?
	echo "$out" | sed "s|^|   $(basename "$1") ${2:-}: |"
	if [ $rc -ne 0 ] || ! grep -q "$want" <<<"$out"; then
		echo "FAILED: $* (exit $rc)"
		status=1
	fi
}
for rt in static shared; do
	run "^PASSED" "$tmp/guest_$rt"
	run "^PASSED" "$tmp/guest_$rt" fault
done
# What the executor hands the driver's cuLaunchKernelEx is what the program asked for:
# programmatic serialisation on, priority -1, clusters of 2x1x1, a launch completion
# event with default flags, and the cooperative launch's attribute.
out=$(FAKECUDA_TRACE_LAUNCH=1 timeout 120 "$B/bin/vgpu" run -- "$tmp/guest_static" 2>&1)
for want in "attribute 6: 1" "attribute 8: -1" "attribute 4: 2x1x1" \
	"attribute 12: event set flags 0" "attribute 2: 1"; do
	if ! grep -q "cuLaunchKernelEx $want\$" <<<"$out"; then
		echo "FAILED: the driver never saw cuLaunchKernelEx $want"
		status=1
	fi
done
# Every occupancy answer the shim computes must be cuda_occupancy.h's for the
# attributes the (double's) driver reports.
# With kernels that use 8 block barriers (which no attribute reports), the
# shim's answers must follow the driver's limit.
for nb in 1 8; do
	out=$(FAKECUDA_BLOCK_BARRIERS=$nb timeout 120 "$B/bin/vgpu" run -- "$tmp/occupancy" --same \
		--barriers $nb 2>&1); rc=$?
	echo "$out" | grep -v 'driver=[0-9,:]*$' | sed "s/^/   occupancy ($nb barriers): /"
	if [ $rc -ne 0 ] || ! grep -q "^PASSED" <<<"$out"; then
		echo "FAILED: occupancy --same --barriers $nb (exit $rc)"
		status=1
	fi
done
# Once more with every operation of the (asynchronous) double taking 200 us,
# so that an executor answering before a copy landed, or letting go of a
# buffer a queued copy still reads, gets caught rather than winning the race.
FAKECUDA_OP_DELAY_US=200 run "^PASSED" "$tmp/guest_static"
# A fault that shows only after the worker went to sleep on an armed wait:
# the driver runs no host function after a fault, so the wake-up the worker
# armed never comes (seen on an H200); it must look at its waits anyway.
FAKECUDA_OP_DELAY_US=100000 run "^PASSED" "$tmp/guest_static" fault
exit $status
