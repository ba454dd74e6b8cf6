#!/bin/bash
# The demo natively and through the shim (static and shared cudart), with
# the times side by side.  Usage: tests/gpu/run-demo.sh [BUILD_DIR]
set -u
cd "$(dirname "$0")/../.."
B=${1:-build}
. tests/gpu/gpu-check.sh
if [ -n "$GPU_MISSING" ]; then
	echo "make run needs a GPU host: $GPU_MISSING."
	echo "What runs without one: make test."
	exit 1
fi
for f in "$B/bin/vgpu" "$B/lib/libcuda.so.1" "$B/demo/vgpu_demo_static" "$B/demo/vgpu_demo_shared"; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "missing $f: run make first"; exit 1; }
done

status=0
declare -A T
run() {	# name, command...
	local name=$1 out
	shift
	echo "== $name"
	out=$(timeout 300 "$@" 2>&1)
	local rc=$?
	echo "$out" | sed 's/^/   /'
	[ $rc -eq 0 ] || { echo "   FAILED (exit $rc)"; status=1; }
	T[$name]=$(echo "$out" | sed -n 's/^TIMES //p')
}
run native-static "$B/demo/vgpu_demo_static"
run vgpu-static "$B/bin/vgpu" run -- "$B/demo/vgpu_demo_static"
run native-shared "$B/demo/vgpu_demo_shared"
run vgpu-shared "$B/bin/vgpu" run -- "$B/demo/vgpu_demo_shared"

field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
echo
printf '%-16s %12s %12s %8s\n' "static cudart" native vgpu "ratio"
for k in h2d_gbps d2h_gbps kernel_ms launch_us launch_sync_us; do
	n=$(field "${T[native-static]}" $k) v=$(field "${T[vgpu-static]}" $k)
	[ -n "$n" ] && [ -n "$v" ] || continue
	# Ratio as "fraction of native speed": higher is better for both kinds.
	case $k in *gbps) r=$(awk -v a="$v" -v b="$n" 'BEGIN{printf "%.2fx", a/b}') ;;
		*) r=$(awk -v a="$v" -v b="$n" 'BEGIN{printf "%.2fx", b/a}') ;; esac
	printf '%-16s %12s %12s %8s\n' "$k" "$n" "$v" "$r"
done
echo "(ratio: vgpu's speed as a fraction of native; 1.00x is native speed)"
exit $status
