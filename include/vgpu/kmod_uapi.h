/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * The executor's interface to vgpu_stub.ko: the char device /dev/vgpu-stub.
 *
 * One privileged process (the executor) opens the control device.  It reads a
 * stream of fixed-size events (struct vgpu_kmod_event) telling it that
 * instances exist, were opened or closed by QEMU, were reset or removed, and
 * that doorbells rang on channels it has no eventfd for.  For each instance it
 * serves it opens an *instance fd* (VGPU_KMOD_OPEN_INSTANCE), through which it
 *
 *   - maps the instance's BAR1 (mmap, offset 0, MAP_SHARED; ordinary pages
 *     that pin_user_pages and so cuMemHostRegister accept),
 *   - registers one doorbell eventfd per channel: a guest write of channel c
 *     to BAR0 DOORBELL signals that eventfd straight from the trap handler,
 *   - registers an irqfd: writing to it sets IRQ_STATUS.COMPLETION and
 *     raises the guest's MSI or INTx (or does it with VGPU_KMOD_RAISE_IRQ),
 *   - sets the STATUS register (EXECUTOR_READY).
 *
 * Closing the instance fd detaches the executor: its eventfds are dropped and
 * STATUS is cleared (a STATUS_CHANGE interrupt tells the guest).  BAR1 pages
 * stay alive until the last mapping of them, QEMU's or the executor's, is gone.
 *
 * Each open of the vfio device starts a session, perhaps of another tenant:
 * it gets fresh zeroed BAR1 pages and STATUS 0.  A mapping of the instance
 * fd made before that open keeps the previous session's pages, so map BAR1
 * after the OPENED event (and again after the next one).
 *
 * All structures have fixed-width fields and explicit padding, identical for
 * 32- and 64-bit userspace.  VGPU_KMOD_ABI_VERSION changes when any of them
 * or any meaning below changes incompatibly; new ioctls and event types may
 * be added without a change (ignore unknown event types).  docs/kmod.md is the
 * prose description.
 */
#ifndef VGPU_KMOD_UAPI_H
#define VGPU_KMOD_UAPI_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define VGPU_KMOD_DEVICE_NAME	"vgpu-stub"	/* /dev/vgpu-stub, mode 0600 */
#define VGPU_KMOD_ABI_VERSION	2	/* 2: events are level-triggered */
#define VGPU_KMOD_MAX_CHANNELS	64		/* doorbell indices 0..63 */

/* ---- events, read(2) from the control fd ---- */

enum vgpu_kmod_event_type {
	VGPU_KMOD_EV_CREATED	= 1,	/* instance exists (also replayed at open) */
	VGPU_KMOD_EV_OPENED	= 2,	/* QEMU opened the vfio device */
	VGPU_KMOD_EV_CLOSED	= 3,	/* QEMU closed it */
	VGPU_KMOD_EV_RESET	= 4,	/* device reset: STATUS is 0 again */
	VGPU_KMOD_EV_REMOVED	= 5,	/* instance removed; close its fd */
	VGPU_KMOD_EV_DOORBELL	= 6,	/* data: channel rung with no eventfd */
	VGPU_KMOD_EV_OVERFLOW	= 7,	/* ABI 1 only: never sent since 2 */
};

struct vgpu_kmod_event {
	__u32 type;		/* enum vgpu_kmod_event_type */
	__u32 instance;		/* instance id, stable while it exists */
	__u64 seq;		/* 1, 2, 3 ... per open of the control device */
	__u64 data;		/* DOORBELL: the channel index */
	__u64 reserved;
};

/*
 * read(2) returns whole events only: count must hold at least one.  It
 * blocks unless O_NONBLOCK (-EAGAIN); poll(2) reports EPOLLIN when an event
 * is ready.  When the control device is opened, a CREATED event (and an
 * OPENED event for each opened one) is queued for every existing instance.
 *
 * Events are level-triggered per instance (ABI 2), so no guest can flood
 * the stream: an event that is already pending for its instance is not
 * queued again (a thousand resets read as one or a few RESETs), nothing is
 * ever lost, and instances take turns, one event each.  The order among one
 * instance's pending events is fixed, not the order they happened in:
 * REMOVED, CREATED, CLOSED, RESET, OPENED, then DOORBELLs by channel.
 * REMOVED drops whatever else the removed instance had pending and comes
 * before any event of a later instance with the same id.  So an executor
 * treats CLOSED and RESET as "the session it served (if any) is over" and
 * OPENED as "serve it if VGPU_KMOD_INST_INFO still says OPENED".
 */

#define VGPU_KMOD_IOC_MAGIC	0xF7

/* ---- control fd ioctls ---- */

struct vgpu_kmod_version {
	__u32 abi_version;	/* VGPU_KMOD_ABI_VERSION */
	__u32 event_size;	/* sizeof(struct vgpu_kmod_event) */
	__u32 max_channels;	/* VGPU_KMOD_MAX_CHANNELS */
	__u32 reserved;
};

#define VGPU_KMOD_GET_VERSION	_IOR(VGPU_KMOD_IOC_MAGIC, 0x00, struct vgpu_kmod_version)

struct vgpu_kmod_open_instance {
	__u32 instance;		/* id from an event */
	__u32 flags;		/* must be 0 */
};

/*
 * Returns a new O_CLOEXEC instance fd.  One executor attachment per
 * instance: -EBUSY while another instance fd is open, -ENOENT for an unknown
 * or removed instance.
 */

#define VGPU_KMOD_OPEN_INSTANCE	_IOW(VGPU_KMOD_IOC_MAGIC, 0x01, struct vgpu_kmod_open_instance)

/* ---- instance fd ioctls ---- */

#define VGPU_KMOD_INST_OPENED	_BITUL(0)	/* QEMU has the vfio device open */
#define VGPU_KMOD_INST_REMOVED	_BITUL(1)

struct vgpu_kmod_instance_info {
	__u32 instance;
	__u32 vm_id;		/* the vm_id sysfs attribute (BAR0 VM_ID) */
	__u8 uuid[16];		/* the mdev's UUID */
	__u64 bar1_size;	/* bytes; mmap at most this much */
	__u64 fb_size;		/* device memory quota in bytes (BAR0 FB_SIZE) */
	__u32 state;		/* VGPU_KMOD_INST_* */
	__u32 reserved;
	char type[32];		/* the mdev type's sysfs name, NUL-terminated */
};

#define VGPU_KMOD_INST_INFO	_IOR(VGPU_KMOD_IOC_MAGIC, 0x10, struct vgpu_kmod_instance_info)

struct vgpu_kmod_eventfd {
	__u32 index;		/* channel (SET_DOORBELL), cause bits (SET_IRQFD) */
	__s32 fd;		/* an eventfd, or -1 to remove */
};

/* Doorbell of channel @index signals @fd (index < VGPU_KMOD_MAX_CHANNELS). */

#define VGPU_KMOD_SET_DOORBELL	_IOW(VGPU_KMOD_IOC_MAGIC, 0x11, struct vgpu_kmod_eventfd)
/*
 * Each write to @fd sets IRQ_STATUS |= @index (VGPU_IRQ_* bits, nonzero) and
 * raises the interrupt.  One irqfd per instance; replacing it is allowed.
 */

#define VGPU_KMOD_SET_IRQFD	_IOW(VGPU_KMOD_IOC_MAGIC, 0x12, struct vgpu_kmod_eventfd)
/* IRQ_STATUS |= causes (VGPU_IRQ_* bits) and raise the interrupt. */
#define VGPU_KMOD_RAISE_IRQ	_IOW(VGPU_KMOD_IOC_MAGIC, 0x13, __u32)

struct vgpu_kmod_status {
	__u32 value;		/* STATUS = (STATUS & ~mask) | (value & mask) */
	__u32 mask;
};

/* A change of STATUS raises IRQ_STATUS.STATUS_CHANGE. */

#define VGPU_KMOD_SET_STATUS	_IOW(VGPU_KMOD_IOC_MAGIC, 0x14, struct vgpu_kmod_status)

#endif /* VGPU_KMOD_UAPI_H */
