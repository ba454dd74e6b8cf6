#!/bin/bash
# Run unit test binaries (arguments) and every system test script
# tests/*/t-*.sh; print one line per test and a closing summary line
# "N passed, N failed" (skips are counted and listed with their reason).
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0 skip=0
failed=()
run_one() {
	local name=$1; shift
	local log start end rc
	log=$(mktemp)
	start=$(date +%s.%N)
	"$@" >"$log" 2>&1
	rc=$?
	end=$(date +%s.%N)
	local secs
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0) pass=$((pass + 1)); echo "PASS  $name (${secs}s)" ;;
	77) skip=$((skip + 1)); echo "SKIP  $name: $(tail -n 1 "$log")" ;;
	*) fail=$((fail + 1)); failed+=("$name"); echo "FAIL  $name (exit $rc, ${secs}s)"
	   sed 's/^/      /' "$log" | tail -n 40 ;;
	esac
	rm -f "$log"
}
for bin in "$@"; do
	run_one "$(basename "$bin")" "$bin"
done
for t in tests/*/t-*.sh; do
	[ -e "$t" ] || continue
	run_one "$t" "$t"
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$skip skipped"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
