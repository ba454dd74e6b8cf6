#!/bin/bash
# Run the micro-benchmarks natively and through vgpu, in this one run on
# this one machine, and print vgpu's speed as a fraction of native (1.00x is
# native speed; higher is better for every row).  Usage: bench/run.sh [BUILD]
set -u
cd "$(dirname "$0")/.."
B=${1:-build}
. tests/gpu/gpu-check.sh
if [ -n "$GPU_MISSING" ]; then
	echo "bench/run.sh needs a GPU host: $GPU_MISSING"
	exit 1
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
native=$(timeout 300 "$B/bench/micro") || { echo "native run failed"; exit 1; }
vgpu=$(timeout 300 "$B/bin/vgpu" run -- "$B/bench/micro") || { echo "vgpu run failed"; exit 1; }
printf '%-24s %14s %14s %8s\n' benchmark native vgpu ratio
while read -r _ name value unit; do
	v=$(echo "$vgpu" | awk -v n="$name" '$2 == n { print $3 }')
	[ -n "$v" ] || continue
	# Times: smaller is better; rates (GB/s): larger is better.
	ratio=$(awk -v a="$value" -v b="$v" -v u="$unit" \
		'BEGIN { printf "%.2fx", (u == "GB/s") ? b / a : a / b }')
	printf '%-24s %10.3f %-3s %10.3f %-3s %8s\n' "$name" "$value" "$unit" "$v" "$unit" "$ratio"
done <<<"$(echo "$native" | grep '^BENCH')"
