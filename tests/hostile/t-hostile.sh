#!/bin/bash
# The malicious-client suite: `vgpu-executor --listen` with the driver TEST
# DOUBLE (tests/fakecuda, not a driver) behind it, attacked by a raw client
# of the local transport (tests/hostile/hostile.c), one case at a time, each
# beside a healthy session that must keep working.  After every case the
# executor must still be alive; at the end no worker, account or cache file
# may be left behind, and the executor must stop cleanly.
#
#   tests/hostile/t-hostile.sh [CASE...]     (default: every case)
#
# HC_STALL_MS bounds how long any one wait may go without progress.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
make -s "$B/tests/hostile/hostile" "$B/fakecuda/libcuda.so.1" executor >/dev/null || exit 1
NVCC=${NVCC:-${CUDA_HOME:-/usr/local/cuda}/bin/nvcc}
cubin=
if [ -x "$NVCC" ] && make -s "$B/tests/hostile/big_globals.cubin" >/dev/null 2>&1; then
	cubin=$PWD/$B/tests/hostile/big_globals.cubin
else
	echo "note: nvcc not found: the module-globals quota check is left out"
fi
hostile=$PWD/$B/tests/hostile/hostile
exe_bin=$PWD/$B/bin/vgpu-executor

tmp=$(mktemp -d /tmp/vgpu-hostile.XXXXXX)
chmod 755 "$tmp"	# the second uid of the slots case must reach the socket
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
export VGPU_LIBCUDA=$PWD/$B/fakecuda/libcuda.so.1 FAKECUDA_MEM_LIMIT=$((1 << 30))
status=0

# start NAME ARGS...: an executor on $tmp/NAME.sock, its pid in $exe_pid.
start() {
	local name=$1
	shift
	VGPU_CACHE_DIR=$tmp/$name.cache "$exe_bin" --listen "$tmp/$name.sock" "$@" \
		2>"$tmp/$name.log" &
	exe_pid=$!
	pids+=("$exe_pid")
	for _ in $(seq 600); do
		[ -S "$tmp/$name.sock" ] && break
		kill -0 "$exe_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -S "$tmp/$name.sock" ]; then
		echo "FAIL: executor $name did not start"
		sed 's/^/   log: /' "$tmp/$name.log"
		exit 1
	fi
	chmod 666 "$tmp/$name.sock"
}

want() {	# is case $1 selected?
	[ ${#selected[@]} -eq 0 ] && return 0
	local c
	for c in "${selected[@]}"; do [ "$c" = "$1" ] && return 0; done
	return 1
}

# run EXECUTOR-PID SOCKET-NAME CASE ARGS...
run() {
	local pid=$1 name=$2 case=$3 rc
	shift 3
	want "$case" || return 0
	echo "== $case"
	"$hostile" "$case" "$tmp/$name.sock" "$@" | sed 's/^/   /'
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 77 ]; then
		echo "   (skipped)"
	elif [ "$rc" -ne 0 ]; then
		echo "FAIL: case $case"
		status=1
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "FAIL: the executor died during case $case"
		sed 's/^/   log: /' "$tmp/$name.log" | tail -n 20
		exit 1
	fi
}

# Nothing of ended sessions may be left: workers, sessions, temporary files.
leftovers() {
	local pid=$1 name=$2 n
	for _ in $(seq 600); do
		n=$(pgrep -P "$pid" | wc -l)
		[ "$n" -eq 0 ] && break
		sleep 0.1
	done
	[ "$n" -eq 0 ] || { echo "FAIL: $name: workers left: $(pgrep -P "$pid" | tr '\n' ' ')"; status=1; }
	if ! VGPU_SOCKET=$tmp/$name.sock "$B/bin/vgpu" status 2>/dev/null | grep -q "no sessions"; then
		echo "FAIL: $name: sessions left:"
		VGPU_SOCKET=$tmp/$name.sock "$B/bin/vgpu" status 2>&1 | sed 's/^/   /'
		status=1
	fi
	if [ -n "$(find "$tmp/$name.cache" -name '*.tmp' 2>/dev/null)" ]; then
		echo "FAIL: $name: temporary files left in the cache"
		status=1
	fi
	kill -TERM "$pid"
	wait "$pid"
	n=$?
	[ "$n" -eq 0 ] || { echo "FAIL: $name: the executor exited $n on SIGTERM"; status=1; }
	[ -e "$tmp/$name.sock" ] && { echo "FAIL: $name: its socket is left"; status=1; }
	echo "$name: nothing left behind; stopped with exit $n"
}

selected=("$@")

start main --request-timeout 600 --max-pending-per-uid 16 --max-sessions-per-uid 6 \
	--cache-size 96M --image-memory 96M
main=$exe_pid
run "$main" main seal
run "$main" main irq-full "$tmp/main.log"
run "$main" main silent
run "$main" main pending 16
run "$main" main slots 6
run "$main" main ctx-rebind
run "$main" main ctx-flags
run "$main" main image
run "$main" main cache "$tmp/main.cache" 96M 96M
run "$main" main ring
run "$main" main never-answers
run "$main" main sandbox "$main" 1
run "$main" main status "$tmp/main.log"
leftovers "$main" main

start quota --mem-limit 64M --ctx-mem 4M --quota-group uid
run "$exe_pid" quota quota 64M "$cubin"
leftovers "$exe_pid" quota

echo "executor log lines of interest:"
grep -h "event=" "$tmp"/*.log | grep -v "event=session_\(start\|end\)" | sort -u -t' ' -k5,5 |
	head -n 20 | sed 's/^/   /'
exit $status
