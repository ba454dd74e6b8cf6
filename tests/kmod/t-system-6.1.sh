#!/bin/bash
# System test of vgpu_stub.ko on Debian 12's 6.1 kernel under QEMU.
exec "$(dirname "$0")/system-test.sh" 6.1
