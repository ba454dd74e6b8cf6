#!/bin/bash
# Informational, not a test: ask the NVIDIA driver and the driver test double
# (tests/fakecuda, not a driver) the same questions - the answers where the
# double follows cuda.h or a guess, not yet an observation (legacy-stream
# queries, pinned/registered host memory, stream memory operations, host
# functions after a fault, cuCtxDestroy with a held stream, virtual memory
# management and memory pools) - and show where
# they differ.  On a GPU host, after `make fakecuda`:
#
#   tests/gpu/probe-fakecuda.sh [BUILD]
#
# Prints both answer lists side by side (real | double) and exits 0 when
# they agree, 1 when they differ: then the double should learn the real
# answer (tests/fakecuda/README.md says where each one comes from).
set -u
cd "$(dirname "$0")/../.."
B=${1:-build}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
real=${VGPU_REAL_LIBCUDA:-libcuda.so.1}
double=$PWD/$B/fakecuda/libcuda.so.1
[ -e "$double" ] || { echo "missing $double (make fakecuda)"; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$CUDA_HOME/bin/nvcc" -ptx -arch=sm_90 -o "$tmp/k.ptx" -x cu tests/cuda/test_kernels.cuh || exit 2
cc -std=c17 -O1 -D_GNU_SOURCE -Wall -isystem "$CUDA_HOME/include" -Iuserspace-exec \
	-o "$tmp/probe" tests/gpu/probe_fakecuda.c -ldl || exit 2
ask() {	# library -> answers on stdout
	"$tmp/probe" "$1" "$tmp/k.ptx" 2>&1
	echo "(exit $?)"
	"$tmp/probe" "$1" "$tmp/k.ptx" fault 2>&1
	echo "(exit $?)"
	timeout 10 "$tmp/probe" "$1" "$tmp/k.ptx" destroy 2>&1
	rc=$?
	[ $rc -eq 124 ] && echo "cuCtxDestroy(a stream held for ever)                      = blocks"
	echo "(exit $rc)"
}
# the double's own log lines ("fakecuda (test double): ...") are no answers
ask "$real" | grep -v '^fakecuda (test double)' >"$tmp/real"
ask "$double" | grep -v '^fakecuda (test double)' >"$tmp/double"
paste -d'|' "$tmp/real" "$tmp/double" | awk -F'|' '{ printf "%-72s | %s%s\n", $1, $2, ($1 != $2 ? "   <-- differs" : "") }'
cmp -s "$tmp/real" "$tmp/double"
