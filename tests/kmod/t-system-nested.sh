#!/bin/bash
# System test on Debian 12's kernel, plus QEMU 7.2 inside the VM giving the
# instance to a nested guest that binds uio_pci_generic and sends HELLO.
exec "$(dirname "$0")/system-test.sh" 6.1 nested
