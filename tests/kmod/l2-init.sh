#!/bin/sh
# /init of the nested (L2) guest: uio_pci_generic, then test/l2_guest.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "L2: kernel $(uname -r) up after $(cut -d' ' -f1 /proc/uptime)s"
insmod /lib/modules/uio.ko
insmod /lib/modules/uio_pci_generic.ko
/l2_guest
echo "L2: done at $(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
