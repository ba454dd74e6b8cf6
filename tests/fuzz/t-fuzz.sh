#!/bin/bash
# Fuzz the executor's command decoder for FUZZ_SECONDS (default 60) against
# the CI test double of the driver.  Fails on any crash, leak or sanitizer
# report; the reproducer is left in build/fuzz/.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
secs=${FUZZ_SECONDS:-60}
if ! command -v clang >/dev/null; then
	echo "clang is not installed: cannot build the libFuzzer target"
	exit 77
fi
make -s "$B/fuzz/fuzz_dispatch" fakecuda >/dev/null || exit 1
corpus=$B/fuzz/corpus
mkdir -p "$corpus"
python3 tests/fuzz/gen_seeds.py "$corpus" || exit 1
cd "$B/fuzz"
./fuzz_dispatch -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 corpus 2>&1 | tail -n 25
rc=${PIPESTATUS[0]}
echo "fuzzed for ${secs}s: exit $rc"
exit $rc
