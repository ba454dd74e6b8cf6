#!/bin/bash
# System test of vgpu_stub.ko on the newest kernel Debian ships (experimental/sid) under QEMU.
exec "$(dirname "$0")/system-test.sh" newest
