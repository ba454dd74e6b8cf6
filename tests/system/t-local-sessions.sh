#!/bin/bash
# Sessions on the local transport, with the driver TEST DOUBLE
# (tests/fakecuda, not a driver) behind the executor:
#   - two programs at once on one executor, each in its own session and
#     worker, both right;
#   - `vgpu status` lists a running session;
#   - a worker killed under a running program: the program gets an error
#     within seconds instead of hanging, and the executor goes on serving;
#   - a program killed mid-session: its worker is reaped.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
NVCC=${NVCC:-${CUDA_HOME:-/usr/local/cuda}/bin/nvcc}
[ -x "$NVCC" ] || { echo "nvcc not found: the guest program cannot be built here"; exit 77; }
make -s "$B/tests/cuda/e2e_runtime_static" "$B/fakecuda/libcuda.so.1" all >/dev/null || exit 1
prog=$PWD/$B/tests/cuda/e2e_runtime_static

tmp=$(mktemp -d /tmp/vgpu-sessions.XXXXXX)
export VGPU_SOCKET=$tmp/vgpu.sock VGPU_LIBCUDA=$PWD/$B/fakecuda/libcuda.so.1
export VGPU_CACHE_DIR=$tmp/cache
"$B/bin/vgpu-executor" --listen 2>"$tmp/executor.log" &
exe=$!
trap 'kill $exe 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -S "$VGPU_SOCKET" ] && break; sleep 0.1; done
status=0
fail() { echo "FAIL: $*"; status=1; }
children() { pgrep -P "$exe" | sort; }

# Two at once.
LD_LIBRARY_PATH=$B/lib "$prog" >"$tmp/a" 2>&1 & a=$!
LD_LIBRARY_PATH=$B/lib "$prog" >"$tmp/b" 2>&1 & b=$!
wait $a; ra=$? ; wait $b; rb=$?
[ $ra -eq 0 ] && [ $rb -eq 0 ] || fail "concurrent programs: exit $ra and $rb"
[ "$(grep checksum "$tmp/a")" = "$(grep checksum "$tmp/b")" ] || fail "concurrent programs differ"
echo "two programs at once: exit $ra and $rb, $(grep checksum "$tmp/a")"

# A running session shows in vgpu status; killing its worker ends it with an error.
LD_LIBRARY_PATH=$B/lib timeout 60 "$prog" spin 30 >"$tmp/spin" 2>&1 & s=$!
for _ in $(seq 100); do grep -q spinning "$tmp/spin" && break; sleep 0.1; done
"$B/bin/vgpu" status | tee "$tmp/status"
grep -q "serving" "$tmp/status" || fail "vgpu status does not list the running session"
worker=$(children | head -n 1)
[ -n "$worker" ] || fail "no worker process for the running session"
start=$(date +%s)
kill -9 "$worker"
wait $s; rs=$?
took=$(($(date +%s) - start))
echo "worker $worker killed: the program exited $rs after ${took}s: $(tail -n 1 "$tmp/spin")"
[ $rs -eq 2 ] || fail "the program did not get an error (exit $rs)"
grep -q "cudaErrorDevicesUnavailable\|cudaErrorLaunchFailure\|error" "$tmp/spin" || fail "no error printed"
[ $took -le 5 ] || fail "the program took ${took}s to notice"

# The executor goes on serving.
LD_LIBRARY_PATH=$B/lib "$prog" >"$tmp/c" 2>&1 || fail "a new session after the killed one failed"

# A program killed mid-session: its worker goes too.
LD_LIBRARY_PATH=$B/lib "$prog" spin 30 >"$tmp/spin2" 2>&1 & s=$!
for _ in $(seq 100); do grep -q spinning "$tmp/spin2" && break; sleep 0.1; done
kill -9 $s; wait $s 2>/dev/null
for _ in $(seq 50); do [ -z "$(children)" ] && break; sleep 0.1; done
[ -z "$(children)" ] || fail "workers left after their program died: $(children)"
echo "program killed: workers left: $(children | wc -l)"
grep -v "^$" "$tmp/executor.log" | sed 's/^/executor: /'
exit $status
