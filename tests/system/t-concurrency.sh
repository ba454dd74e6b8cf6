#!/bin/bash
# Multi-threaded CUDA programs through the real shim and the executor, with
# the driver TEST DOUBLE (tests/fakecuda, not a driver) behind it, on three
# channel sizes: the local default (64 MiB), a VM's (4 MiB: a 16 MiB BAR1 of
# 4 channels) and the smallest a VM with dozens of processes gives each
# (512 KiB).  tests/cuda/concurrency.cu says what each section checks; each
# failed on the executor that blocked in the driver (protocol 1.0).
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
NVCC=${NVCC:-${CUDA_HOME:-/usr/local/cuda}/bin/nvcc}
[ -x "$NVCC" ] || { echo "SKIP: nvcc not found: the guest program cannot be built here"; exit 77; }
make -s "$B/tests/cuda/concurrency" "$B/tests/cuda/graphs" "$B/tests/cuda/host_memory" \
	"$B/fakecuda/libcuda.so.1" all >/dev/null || exit 1
prog=$PWD/$B/tests/cuda/concurrency
graphs=$PWD/$B/tests/cuda/graphs
# Staged pinned-memory copies hold bulk until their stream gets there: they
# too must get through the smallest channel.
hostmem=$PWD/$B/tests/cuda/host_memory

tmp=$(mktemp -d /tmp/vgpu-concurrency.XXXXXX)
exe=
trap '[ -n "$exe" ] && kill $exe 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
export VGPU_LIBCUDA=$PWD/$B/fakecuda/libcuda.so.1 VGPU_CACHE_DIR=$tmp/cache
export FAKECUDA_MEM_LIMIT=$((1 << 30))
status=0

# The last run again on a VM-sized channel with every operation of the double
# delayed, so that an answer sent or a buffer reused before its copy finished
# shows as wrong bytes.
for run in 64M 4M 512K 4M-delayed; do
	size=${run%-delayed}
	if [ "$run" != "$size" ]; then
		export FAKECUDA_OP_DELAY_US=200
	fi
	export VGPU_SOCKET=$tmp/vgpu-$run.sock
	# Pinned memory: DMA from the executor's heap (64M), a heap too small for
	# the larger allocations (4M: both paths in one process), staged (the rest).
	case $run in
	64M) heap=64M ;;
	4M) heap=1M ;;
	*) heap=0 ;;
	esac
	"$B/bin/vgpu-executor" --listen --bar1-size $size --pinned-heap $heap \
		2>"$tmp/executor-$run.log" &
	exe=$!
	for _ in $(seq 100); do [ -S "$VGPU_SOCKET" ] && break; sleep 0.1; done
	[ -S "$VGPU_SOCKET" ] || { echo "FAIL: the executor did not start"; cat "$tmp/executor-$run.log"; exit 1; }
	LD_LIBRARY_PATH=$B/lib VGPU_TEST_SECONDS=${VGPU_TEST_SECONDS:-2} \
		"$prog" >"$tmp/out-$run" 2>&1
	rc=$?
	sed "s/^/   $run: /" "$tmp/out-$run"
	if [ $rc -ne 0 ] || ! grep -q '^PASSED' "$tmp/out-$run"; then
		echo "FAIL: channel of $run: exit $rc"
		sed "s/^/   executor: /" "$tmp/executor-$run.log"
		status=1
	fi
	# Capture and graphs on the same channel (tests/cuda/graphs.cu).
	LD_LIBRARY_PATH=$B/lib "$graphs" >"$tmp/graphs-$run" 2>&1
	rc=$?
	grep -v '^ok' "$tmp/graphs-$run" | grep -v '^mode:' | sed "s/^/   $run graphs: /"
	if [ $rc -ne 0 ] || ! grep -q '^PASSED' "$tmp/graphs-$run"; then
		echo "FAIL: graphs on a channel of $run: exit $rc"
		status=1
	fi
	LD_LIBRARY_PATH=$B/lib timeout 300 "$hostmem" >"$tmp/hostmem-$run" 2>&1
	rc=$?
	grep -v -e '^ok' -e '^sum ' "$tmp/hostmem-$run" | sed "s/^/   $run host_memory: /"
	if [ $rc -ne 0 ] || ! grep -q '^PASSED' "$tmp/hostmem-$run"; then
		echo "FAIL: host_memory on a channel of $run: exit $rc"
		status=1
	fi
	kill $exe; wait $exe 2>/dev/null; exe=
done
exit $status
