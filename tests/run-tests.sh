#!/bin/bash
# Run unit test binaries (arguments) and every system test script
# tests/*/t-*.sh; print one line per test and a closing summary line
# "N passed, N failed" (skips are counted and listed with their reason).
#
# Exit status of a test: 0 pass, 77 skip, anything else fail.  A skip must
# say why: 77 with no output, or with a sanitizer's or libFuzzer's report in
# it (they exit 77 too), is a failure.
#
# Timeout: a test fails when it prints nothing new for its idle limit
# (TEST_IDLE_TIMEOUT seconds, default 600), however long it runs while it
# makes progress: a slow, loaded machine is no failure, a hang is.  A test
# raises its own limit with a line "idle-timeout: SECONDS" in its script or
# in its unit test source (tests/unit/NAME.c).  The whole process group of a
# test that hangs is killed.
#
# Lines a passing test prints that start with "REPORT: " are shown under its
# PASS line (the fuzzer's exec/s and coverage, for example).
set -u
cd "$(dirname "$0")/.."
idle_default=${TEST_IDLE_TIMEOUT:-600}
poll=${TEST_POLL_SECONDS:-2}
pass=0 fail=0 skip=0
failed=()

# The idle limit of a test: its own "idle-timeout: N" line, else the default.
idle_limit() {
	local src=$1 n
	[ -f "$src" ] || { echo "$idle_default"; return; }
	n=$(grep -m1 -oE 'idle-timeout: *[0-9]+' "$src" | grep -oE '[0-9]+$')
	echo "${n:-$idle_default}"
}

# Run "$@" in its own session (so a hang can be killed with everything it
# started), its output in $log; sets rc, and hung=1 if it went idle.
run_watched() {
	local limit=$1; shift
	local pid size last_size=-1 last_change now
	hung=0
	setsid "$@" >"$log" 2>&1 </dev/null &
	pid=$!
	last_change=$(date +%s)
	while kill -0 "$pid" 2>/dev/null; do
		size=$(stat -c %s "$log" 2>/dev/null || echo 0)
		now=$(date +%s)
		if [ "$size" != "$last_size" ]; then
			last_size=$size
			last_change=$now
		elif [ $((now - last_change)) -ge "$limit" ]; then
			hung=1
			kill -TERM -- "-$pid" 2>/dev/null
			sleep 5
			kill -KILL -- "-$pid" 2>/dev/null
			break
		fi
		# Wake up at once when the test ends, else after $poll seconds.
		timeout "$poll" tail -s 0.2 --pid="$pid" -f /dev/null 2>/dev/null
	done
	wait "$pid"
	rc=$?
}

run_one() {
	local name=$1 src=$2; shift 2
	local start end secs limit reason
	log=$(mktemp)
	limit=$(idle_limit "$src")
	start=$(date +%s.%N)
	run_watched "$limit" "$@"
	end=$(date +%s.%N)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
	reason=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
	if [ "$hung" = 1 ]; then
		rc=124
		echo "(no output for ${limit}s: killed; the limit is idle-timeout in $src or TEST_IDLE_TIMEOUT)" >>"$log"
	elif [ "$rc" = 77 ]; then
		# 77 is also the exit status of libFuzzer's and the sanitizers' reports.
		if [ -z "$reason" ]; then
			rc=1
			echo "(exit 77 without a reason: a skip must name what is missing)" >>"$log"
		elif grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|==[0-9]+==ERROR' "$log"; then
			rc=1
			echo "(exit 77 with a sanitizer or fuzzer report: a failure, not a skip)" >>"$log"
		fi
	fi
	case $rc in
	0) pass=$((pass + 1)); echo "PASS  $name (${secs}s)"
	   grep '^REPORT: ' "$log" | sed 's/^REPORT: /      /' ;;
	77) skip=$((skip + 1)); echo "SKIP  $name: $reason" ;;
	*) fail=$((fail + 1)); failed+=("$name")
	   if [ "$hung" = 1 ]; then
		echo "FAIL  $name (hung: no output for ${limit}s, ${secs}s)"
	   else
		echo "FAIL  $name (exit $rc, ${secs}s)"
	   fi
	   sed 's/^/      /' "$log" | tail -n 40 ;;
	esac
	rm -f "$log"
}
for bin in "$@"; do
	name=$(basename "$bin")
	run_one "$name" "tests/unit/$name.c" "$bin"
done
for t in tests/*/t-*.sh; do
	[ -e "$t" ] || continue
	run_one "$t" "$t" "$t"
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$skip skipped"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
