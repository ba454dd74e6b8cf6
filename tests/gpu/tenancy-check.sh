#!/bin/bash
# The executor's tenant isolation on a GPU host, with the real NVIDIA driver:
#
#   tests/gpu/tenancy-check.sh [BUILD_DIR]     (as root, for the worker uids)
#
# Runs from a build folder made elsewhere (`make all cuda-tests hostile`),
# builds nothing.  It checks:
#  1. workers under the full sandbox (own uid, not dumpable, seccomp) run the
#     real driver: the malicious-client cases sandbox, image, ctx-flags and
#     ctx-rebind, and the end-to-end program through vgpu, all pass;
#  2. no system call the driver makes is missing from the seccomp allowlist
#     (a missing one ends the worker with "system call N is not allowed");
#  3. the quota is backed by NVML (quota_backing source=nvml), and what a
#     context costs by NVML's per-process figure (printed: the value for
#     --ctx-mem);
#  4. the quota case at a scale a real context fits in, with that cost.
# Prints PASS/FAIL per check, the measured context cost, and any seccomp
# denial with its call number; exits 0 when every check passed.
set -u
cd "$(dirname "$0")/../.."
B=${1:-build}
. tests/gpu/gpu-check.sh
if [ -n "$GPU_MISSING" ]; then
	echo "SKIP: needs a GPU host: $GPU_MISSING"
	exit 77
fi
for f in "$B/bin/vgpu-executor" "$B/bin/vgpu" "$B/lib/libcuda.so.1" "$B/tests/hostile/hostile" \
	"$B/tests/cuda/e2e_runtime_static"; do
	[ -e "$f" ] || { echo "missing $f (make all cuda-tests hostile builds it)"; exit 1; }
done
[ "$(id -u)" -eq 0 ] || echo "note: not root: workers get a user namespace, not uids of their own"
tmp=$(mktemp -d /tmp/vgpu-tenancy.XXXXXX)
chmod 755 "$tmp"
exe=
cleanup() { [ -n "$exe" ] && kill "$exe" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
unset VGPU_LIBCUDA
export VGPU_CACHE_DIR=$tmp/cache HC_STALL_MS=${HC_STALL_MS:-300000}
[ -d /usr/local/cuda/lib64 ] && export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
pass=0 fail=0
result() {	# name, rc
	if [ "$2" -eq 0 ]; then pass=$((pass + 1)); echo "PASS  $1"
	else fail=$((fail + 1)); echo "FAIL  $1"; fi
}
start() {	# name, options...
	local name=$1
	shift
	"$B/bin/vgpu-executor" --listen "$tmp/$name.sock" "$@" 2>"$tmp/$name.log" &
	exe=$!
	for _ in $(seq 300); do [ -S "$tmp/$name.sock" ] && break; sleep 0.1; done
	chmod 666 "$tmp/$name.sock" 2>/dev/null
}
stop() {
	kill -TERM "$exe" 2>/dev/null
	wait "$exe" 2>/dev/null
	exe=
}

# 1, 2: the sandboxed worker on the real driver.
start sandbox
for c in "sandbox $exe 1" image ctx-flags ctx-rebind; do
	"$B/tests/hostile/hostile" $c "$tmp/sandbox.sock" >"$tmp/case.out" 2>&1
	rc=$?
	grep -E "^(FAIL|ok)" "$tmp/case.out" | sed 's/^/   /'
	result "hostile case ${c%% *} on the real driver" $rc
done
VGPU_SOCKET=$tmp/sandbox.sock timeout 600 "$B/bin/vgpu" run -- "$B/tests/cuda/e2e_runtime_static" \
	>"$tmp/e2e.out" 2>&1
result "e2e_runtime_static through sandboxed workers" $?
grep -q "^PASSED" "$tmp/e2e.out" || tail -n 5 "$tmp/e2e.out" | sed 's/^/   /'

# 3: NVML backs the quota; what a context costs, by the driver's accounting.
grep -q "event=quota_backing source=nvml" "$tmp/sandbox.log"
result "the quota is backed by NVML" $?
VGPU_SOCKET=$tmp/sandbox.sock "$B/bin/vgpu" run -- "$B/tests/cuda/e2e_runtime_static" spin 20 \
	>"$tmp/spin.out" 2>&1 &
spin=$!
for _ in $(seq 200); do grep -q spinning "$tmp/spin.out" && break; sleep 0.1; done
worker=$(VGPU_SOCKET=$tmp/sandbox.sock "$B/bin/vgpu" status | sed -n 's/.*worker pid \([0-9]*\).*/\1/p' | head -n 1)
cost=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits |
	awk -F', *' -v p="$worker" '$1 == p { print $2 }')
VGPU_SOCKET=$tmp/sandbox.sock "$B/bin/vgpu" status | sed 's/^/   status: /'
echo "   a worker with one context and the e2e program's buffers: ${cost:-?} MiB by NVML"
kill "$spin" 2>/dev/null
wait "$spin" 2>/dev/null
[ -n "$cost" ]
result "NVML reports the worker's memory" $?

# 2: no seccomp denial in anything above.
if grep -h "is not allowed (seccomp)" "$tmp"/*.log "$tmp"/*.out 2>/dev/null | sort -u | sed 's/^/   /' | grep .; then
	result "the driver needs no call outside the seccomp allowlist" 1
else
	result "the driver needs no call outside the seccomp allowlist" 0
fi
stop

# 4: the quota case, scaled so that a context is at most an eighth of it.
ctx=${cost:-512}
quota=$(( (ctx * 8 + 1023) / 1024 ))G
start quota --mem-limit "$quota" --ctx-mem "${ctx}M" --quota-group uid
"$B/tests/hostile/hostile" quota "$tmp/quota.sock" "$quota" >"$tmp/case.out" 2>&1
rc=$?
grep -E "^(FAIL|ok)" "$tmp/case.out" | sed 's/^/   /'
result "hostile case quota ($quota, contexts charged ${ctx} MiB)" $rc
grep -h "event=quota_exceeded\|is not allowed" "$tmp/quota.log" | sed 's/^/   /'
stop

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
