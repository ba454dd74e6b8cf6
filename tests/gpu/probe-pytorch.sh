#!/bin/bash
# Informational, not a test: run a small PyTorch program through vgpu with
# VGPU_LOG on and list the driver calls it needed that the shim does not
# offer yet (what the next issues must add).  Usage: tests/gpu/probe-pytorch.sh [BUILD]
set -u
cd "$(dirname "$0")/../.."
B=${1:-build}
log=$(mktemp)
VGPU_LOG=$log timeout 180 "$B/bin/vgpu" run -- python3 -c '
import torch
x = torch.randn(1024, 1024, device="cuda")
y = (x @ x).relu().sum()
torch.cuda.synchronize()
print("pytorch through vgpu:", torch.cuda.get_device_name(0), float(y))
' 2>&1 | tail -n 15
echo "exit status: ${PIPESTATUS[0]}"
echo "calls the shim refused (first 40):"
sed -n 's/.*: \(cu[A-Za-z0-9_]*\) is not supported.*/\1/p' "$log" | sort | uniq -c | sort -rn | head -n 40
echo "the shim's log (last 20 lines):"; tail -n 20 "$log"
rm -f "$log"
