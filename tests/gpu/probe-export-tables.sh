#!/bin/bash
# Informational: the real driver's export tables that the shim does not
# emulate yet (tests/gpu/probe_export_tables.c), natively.
# Usage: tests/gpu/probe-export-tables.sh [BUILD]
set -u
cd "$(dirname "$0")/../.."
B=${1:-build}
"$B/tests/gpu/probe_export_tables"
