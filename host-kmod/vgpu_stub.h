/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VGPU-STUB: the driver's instance state, shared by the VFIO side
 * (vgpu_main.c) and the executor's char device (vgpu_chardev.c).
 */
#ifndef VGPU_STUB_H
#define VGPU_STUB_H

#include <linux/eventfd.h>
#include <linux/kref.h>
#include <linux/mdev.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/vfio.h>

#include "vgpu_logic.h"

#define VGPU_MAX_INSTANCES	VGPU_EVQ_INSTANCES

struct vgpu_type {
	struct mdev_type type;
	u64 fb_mib;		/* 0: the whole GPU (fb_total_mib) */
	u64 bar1_size;
};

/* BAR1 pages: freed with the last of the instance and every mapping. */
struct vgpu_bar1 {
	struct kref ref;
	void *vaddr;		/* vmalloc_user(): ordinary, pinnable pages */
	u64 size;
};

struct vgpu_inst {
	struct vfio_device vdev;	/* first: vfio_alloc_device() */
	const struct vgpu_type *type;
	u32 id;
	u8 uuid[16];
	u64 fb_size;
	/*
	 * This session's BAR1 pages.  Each open of the vfio device gets fresh
	 * ones (a tenant never sees what the last one left), so it changes
	 * under lock; between open_device and close_device it is stable.
	 */
	struct vgpu_bar1 *bar1;
	bool bar1_fresh;		/* never handed out yet: no need to replace */

	/* open/close/reset, SET_IRQS, executor attach/detach, flags below */
	struct mutex ops_lock;
	bool opened;			/* QEMU has the vfio device open */
	bool removed;
	bool attached;			/* an executor instance fd exists */

	/* device model, triggers and doorbells: taken from eventfd wakeups too */
	spinlock_t lock;
	struct vgpu_cfg cfg;
	struct vgpu_regs regs;
	struct vgpu_irq irq;
	struct vgpu_regions regions;
	struct eventfd_ctx *intx_trigger;
	struct eventfd_ctx *msi_trigger;
	struct eventfd_ctx *req_trigger;
	struct eventfd_ctx *doorbell[VGPU_KMOD_MAX_CHANNELS];
	struct virqfd *irqfd;		/* under ops_lock */
	struct virqfd *intx_unmask;	/* under ops_lock: QEMU's resample eventfd */
};

/* vgpu_main.c */
u64 vgpu_type_fb_mib(const struct vgpu_type *t);
void vgpu_inst_raise(struct vgpu_inst *inst, u32 causes);
void vgpu_inst_set_status(struct vgpu_inst *inst, u32 value, u32 mask);
int vgpu_bar1_mmap(struct vgpu_bar1 *b, struct vm_area_struct *vma, u64 off);
struct vgpu_bar1 *vgpu_inst_bar1_get(struct vgpu_inst *inst);
void vgpu_bar1_put(struct vgpu_bar1 *b);
struct vgpu_inst *vgpu_inst_get(u32 id);
void vgpu_inst_put(struct vgpu_inst *inst);
void vgpu_replay_instances(void);

/* vgpu_chardev.c */
int vgpu_chardev_init(void);
void vgpu_chardev_exit(void);
void vgpu_post(u32 type, u32 instance);
void vgpu_post_doorbell(struct vgpu_inst *inst, u32 channel);
void vgpu_replay_instance(u32 id, bool opened);

/* for the KUnit registration suite */
unsigned int vgpu_test_ntypes(void);
struct mdev_type *vgpu_test_type(unsigned int i);
u64 vgpu_test_fb_used_mib(void);

#endif /* VGPU_STUB_H */
