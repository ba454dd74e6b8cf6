#!/bin/bash
# The GPU suite as part of `make test`: on a machine without a GPU it is
# skipped with the reason printed (never silently absent); on a GPU host it
# builds what it needs and runs tests/gpu/run.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/gpu/gpu-check.sh
if [ -n "$GPU_MISSING" ]; then
	echo "GPU suite skipped: $GPU_MISSING (run make test-gpu on a GPU host)"
	exit 77
fi
make -s all demo bench cuda-tests || exit 1
exec tests/gpu/run.sh build
