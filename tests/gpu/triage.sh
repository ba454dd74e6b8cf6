#!/bin/bash
# Triage, not a test: every CUDA program of tests/cuda natively and through
# vgpu, all at once (each through its own executor), each under a time
# limit, keeping each run's whole output, exit status and, for a run that
# hangs, where its threads wait.  For a GPU session whose minutes are few:
# one call says which programs fail where, natively and through vgpu.
#
#   tests/gpu/triage.sh OUTDIR [BUILD] [LIMIT_S]
#
# OUTDIR/<program>.<native|vgpu>.txt: the output, then "exit N";
# OUTDIR/<program>.<native|vgpu>.stacks: threads' stacks (gdb) or kernel
# wait channels (without gdb) of a run that hit the limit;
# OUTDIR/summary.txt: one line per run.
set -u
cd "$(dirname "$0")/../.."
out=${1:?usage: triage.sh OUTDIR [BUILD] [LIMIT_S]}
B=${2:-build}
limit=${3:-90}
mkdir -p "$out"
[ -d /usr/local/cuda/lib64 ] && export LD_LIBRARY_PATH=/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CUBLAS_WORKSPACE_CONFIG=:4096:8

descendants() {	# pid: it and every process below it
	local c
	echo "$1"
	for c in $(pgrep -P "$1"); do descendants "$c"; done
}

stacks() {	# pid file
	local p t
	for p in $(descendants "$1"); do
		echo "== pid $p: $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null)"
		if command -v gdb >/dev/null; then
			timeout 20 gdb -p "$p" -batch -ex 'thread apply all bt 12' 2>/dev/null |
				grep -E '^(Thread|#)'
		else
			for t in /proc/"$p"/task/*; do
				echo "   tid ${t##*/}: $(cat "$t"/wchan 2>/dev/null) syscall $(cut -d' ' -f1 "$t"/syscall 2>/dev/null)"
			done
		fi
	done >>"$2"
}

one() {		# name mode cmd...
	local name=$1 mode=$2 f=$out/$1.$2
	shift 2
	"$@" >"$f.txt" 2>&1 &
	local pid=$! t=0
	while kill -0 "$pid" 2>/dev/null && [ $t -lt "$limit" ]; do sleep 1; t=$((t + 1)); done
	if kill -0 "$pid" 2>/dev/null; then
		stacks "$pid" "$f.stacks"
		kill -KILL $(descendants "$pid") 2>/dev/null
		wait "$pid" 2>/dev/null
		echo "exit timeout after ${limit}s" >>"$f.txt"
	else
		wait "$pid"
		echo "exit $?" >>"$f.txt"
	fi
	printf '%-28s %-6s %-22s %s\n' "$name" "$mode" "$(tail -n 1 "$f.txt")" \
		"$(grep -c '^FAIL' "$f.txt") FAIL lines" >>"$out/summary.txt"
}

: >"$out/summary.txt"
progs=(e2e_runtime_static e2e_runtime_shared concurrency vmm_pool occupancy cublas_gemm graphs host_memory)
for p in "${progs[@]}"; do
	[ -x "$B/tests/cuda/$p" ] || continue
	one "$p" native "$B/tests/cuda/$p" &
	VGPU_SOCKET=/tmp/vgpu-triage-$p.sock VGPU_LOG=$out/$p.shim.log \
		one "$p" vgpu "$B/bin/vgpu" run -- "$B/tests/cuda/$p" &
done
wait
sort "$out/summary.txt"
