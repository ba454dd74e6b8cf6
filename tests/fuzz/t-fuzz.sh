#!/bin/bash
# Fuzz the executor's command decoder for FUZZ_SECONDS (default 60) against
# the CI test double of the driver.  Fails on any crash, leak, timeout or
# sanitizer report (the reproducer is left in build/fuzz/), and when a seed
# for some opcode is missing (gen_seeds.py).  Prints its figures (exec/s,
# libFuzzer's coverage cov and features ft) as REPORT: lines.
#
# libFuzzer's own exit status for a crash, a leak or a caught signal is 77 -
# the runner's "skipped" - so it is told to use other ones, and any status
# but 0 from it is turned into a failure here, never passed on.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
secs=${FUZZ_SECONDS:-60}
if ! command -v clang >/dev/null; then
	echo "SKIP: clang is not installed: cannot build the libFuzzer target"
	exit 77
fi
make -s "$B/fuzz/fuzz_dispatch" fakecuda >/dev/null || { echo "the fuzz target did not build"; exit 1; }
corpus=$B/fuzz/corpus
mkdir -p "$corpus"
python3 tests/fuzz/gen_seeds.py "$corpus" "$B/fuzz/fuzz.dict" || exit 1
cd "$B/fuzz"
log=$(mktemp)
./fuzz_dispatch -max_total_time="$secs" -max_len=8192 -timeout=30 -rss_limit_mb=2048 \
	-error_exitcode=2 -timeout_exitcode=3 -dict=fuzz.dict -print_final_stats=1 \
	corpus >"$log" 2>&1
rc=$?
tail -n 40 "$log"
# Figures: the last status line ("#N DONE cov: C ft: F corp: K/...") and the final stats.
last=$(grep -E '^#[0-9]+.*cov: [0-9]+' "$log" | tail -n 1)
cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
runs=$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' "$log")
eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
rm -f "$log"
echo "REPORT: fuzz_dispatch: ${runs:-?} inputs in ${secs}s, ${eps:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
if [ "$rc" != 0 ]; then
	echo "fuzzed for ${secs}s: libFuzzer exit $rc (a crash, leak, timeout or sanitizer report): FAIL"
	ls -1 crash-* leak-* timeout-* oom-* 2>/dev/null | sed 's/^/reproducer: build\/fuzz\//'
	exit 1
fi
echo "fuzzed for ${secs}s: no crash"
exit 0
