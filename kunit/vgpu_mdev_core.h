/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The mdev core's private interface (drivers/vfio/mdev/mdev_private.h), which
 * its sysfs "create"/"remove" files use.  Only built-in code such as this
 * KUnit suite can reach it: nothing here is exported to modules.
 */
#ifndef VGPU_MDEV_CORE_H
#define VGPU_MDEV_CORE_H

#include <linux/device.h>
#include <linux/mdev.h>
#include <linux/uuid.h>

extern struct bus_type mdev_bus_type;
int mdev_device_create(struct mdev_type *type, const guid_t *uuid);
int mdev_device_remove(struct mdev_device *mdev);

#endif /* VGPU_MDEV_CORE_H */
