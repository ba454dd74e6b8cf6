#!/bin/bash
# Informational: the real driver's answers on waits once a context faulted
# (tests/gpu/probe_fault.c), natively.  Usage: tests/gpu/probe-fault.sh [BUILD]
set -u
cd "$(dirname "$0")/../.."
B=${1:-build}
"$B/tests/gpu/probe_fault" "$B/tests/gpu/test_kernels.cubin"
