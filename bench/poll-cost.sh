#!/bin/bash
# What a session's worker costs in host CPU when its guest is idle or sends a
# few thousand records a second (ARCHITECTURE.md decision 4: the worker polls
# adaptively).  Runs bench/poll_cost through a private executor and reads the
# worker's user+system time from /proc.  On a GPU host it uses the real
# driver; elsewhere pass VGPU_LIBCUDA=build/fakecuda/libcuda.so.1 (the test
# double) to measure the executor alone.  Usage: bench/poll-cost.sh [BUILD]
set -u
cd "$(dirname "$0")/.."
B=${1:-build}
secs=${POLL_COST_SECONDS:-5}
make -s "$B/bench/poll_cost" all >/dev/null || exit 1
tmp=$(mktemp -d /tmp/vgpu-pollcost.XXXXXX)
export VGPU_SOCKET=$tmp/vgpu.sock VGPU_CACHE_DIR=$tmp/cache
"$B/bin/vgpu-executor" --listen 2>"$tmp/executor.log" &
exe=$!
trap 'kill $exe 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -S "$VGPU_SOCKET" ] && break; sleep 0.1; done
hz=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
printf '%-22s %10s %12s\n' "guest sends" "records" "worker CPU"
for rate in 0 100 1000 4000 20000; do
	LD_LIBRARY_PATH=$B/lib "$B/bench/poll_cost" "$rate" "$secs" >"$tmp/out" 2>&1 &
	prog=$!
	for _ in $(seq 100); do grep -q ready "$tmp/out" && break; sleep 0.05; done
	worker=$(pgrep -P $exe | head -n 1)
	c0=$(cpu "$worker")
	while ! grep -q '^records' "$tmp/out" && kill -0 $prog 2>/dev/null; do sleep 0.02; done
	c1=$(cpu "$worker")
	wait $prog
	recs=$(awk '/^records/ { print $2 }' "$tmp/out")
	pct=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$secs" \
		'BEGIN { printf "%.1f%%", 100 * (b - a) / hz / s }')
	label=$([ "$rate" = 0 ] && echo "nothing (idle)" || echo "$rate records/s")
	printf '%-22s %10s %12s\n' "$label" "${recs:-?}" "$pct"
done
