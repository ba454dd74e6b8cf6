/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VGPU-STUB: the parts of the device model that need no VFIO or PCI core.
 *
 * Config space, the BAR0 register file, the interrupt state machine, the
 * executor's event queue and the vfio region table are plain data plus pure
 * functions here, so KUnit tests them without a device.  vgpu_main.c holds
 * the locks, the eventfds and the VFIO glue around them.
 */
#ifndef VGPU_LOGIC_H
#define VGPU_LOGIC_H

#include <linux/bits.h>
#include <linux/types.h>
#include <linux/vfio.h>

#include "vgpu/regs.h"
#include "vgpu/kmod_uapi.h"

/* ---- PCI config space ---- */

#define VGPU_CFG_SIZE		256
#define VGPU_CFG_MSI_CAP	0x40
#define VGPU_CFG_REVISION	0xa1

struct vgpu_cfg {
	u8 data[VGPU_CFG_SIZE];
	u8 wmask[VGPU_CFG_SIZE];	/* bits the guest may change */
	u8 w1cmask[VGPU_CFG_SIZE];	/* bits a written 1 clears */
};

/* What a config write changed: */
#define VGPU_CFG_CHG_COMMAND	BIT(0)
#define VGPU_CFG_CHG_MSI	BIT(1)

bool vgpu_bar1_size_valid(u64 size);
void vgpu_cfg_init(struct vgpu_cfg *cfg, u64 bar1_size);
int vgpu_cfg_read(const struct vgpu_cfg *cfg, u64 off, void *buf, size_t len);
int vgpu_cfg_write(struct vgpu_cfg *cfg, u64 off, const void *buf, size_t len,
		   u32 *changed);
u16 vgpu_cfg_command(const struct vgpu_cfg *cfg);
bool vgpu_cfg_msi_enabled(const struct vgpu_cfg *cfg);
void vgpu_cfg_set_intx_status(struct vgpu_cfg *cfg, bool pending);

/* ---- interrupt state machine ---- */

enum vgpu_irq_mode {
	VGPU_IRQ_MODE_NONE,
	VGPU_IRQ_MODE_INTX,
	VGPU_IRQ_MODE_MSI,
};

struct vgpu_irq {
	u32 status;			/* BAR0 IRQ_STATUS */
	enum vgpu_irq_mode mode;	/* which trigger eventfd is live */
	bool intx_masked;		/* VFIO mask: set on delivery (automask) */
	bool intx_disabled;		/* PCI COMMAND.INTX_DISABLE */
};

/* Returned by the state machine: signal this trigger. */
#define VGPU_IRQ_FIRE_NONE	0
#define VGPU_IRQ_FIRE_INTX	1
#define VGPU_IRQ_FIRE_MSI	2

void vgpu_irq_reset(struct vgpu_irq *s);
int vgpu_irq_raise(struct vgpu_irq *s, u32 causes);
void vgpu_irq_ack(struct vgpu_irq *s, u32 bits);
int vgpu_irq_set_mode(struct vgpu_irq *s, enum vgpu_irq_mode mode);
void vgpu_irq_mask(struct vgpu_irq *s);
int vgpu_irq_unmask(struct vgpu_irq *s);
int vgpu_irq_set_disabled(struct vgpu_irq *s, bool disabled);
bool vgpu_irq_intx_pending(const struct vgpu_irq *s);
int vgpu_irq_set_check(u32 index, u32 flags, u32 count);

/* ---- BAR0 register file ---- */

struct vgpu_regs {
	u32 vm_id;
	u32 status;		/* STATUS, set by the executor */
	u64 bar1_size;
	u64 fb_size;
};

enum vgpu_reg_action {
	VGPU_ACT_NONE,
	VGPU_ACT_DOORBELL,	/* *arg: the channel written */
	VGPU_ACT_IRQ_ACK,	/* *arg: the bits written */
};

u32 vgpu_regs_read(const struct vgpu_regs *r, const struct vgpu_irq *irq,
		   u64 off, size_t len);
enum vgpu_reg_action vgpu_regs_write(u64 off, size_t len, u32 val, u32 *arg);

/* ---- the executor's event queue ---- */

/*
 * Level-triggered and per instance, so that no instance can crowd out
 * another: each instance has a set of pending event types and of pending
 * doorbell channels, and a FIFO holds every instance with something pending
 * exactly once.  Nothing is ever dropped; repeats of a pending event merge
 * into it; each turn of the FIFO hands out one event of one instance.
 */
#define VGPU_EVQ_INSTANCES	256	/* instance ids 0..255 */

struct vgpu_evq_slot {
	u32 types;		/* BIT(enum vgpu_kmod_event_type) pending */
	u64 doorbells;		/* BIT(channel) rung with no eventfd */
	bool queued;		/* in the FIFO */
};

struct vgpu_evq {
	struct vgpu_evq_slot slot[VGPU_EVQ_INSTANCES];
	u16 fifo[VGPU_EVQ_INSTANCES];
	u32 head, tail;		/* free running; tail - head instances queued */
	u64 seq;
};

void vgpu_evq_init(struct vgpu_evq *q);
bool vgpu_evq_post(struct vgpu_evq *q, u32 type, u32 instance);
bool vgpu_evq_pop(struct vgpu_evq *q, struct vgpu_kmod_event *out);
bool vgpu_evq_ready(const struct vgpu_evq *q);

enum vgpu_db_result {
	VGPU_DB_DROPPED,	/* no such channel or instance */
	VGPU_DB_QUEUED,		/* now pending */
	VGPU_DB_COALESCED,	/* it was pending already */
};

enum vgpu_db_result vgpu_evq_doorbell(struct vgpu_evq *q, u32 instance,
				      u32 channel);

/* ---- vfio regions: offset = index << 40 ---- */

#define VGPU_REGION_SHIFT	40
#define VGPU_REGION_OFFSET(i)	((u64)(i) << VGPU_REGION_SHIFT)

struct vgpu_region {
	u64 size;
	u32 flags;		/* VFIO_REGION_INFO_FLAG_* */
};

struct vgpu_regions {
	struct vgpu_region r[VFIO_PCI_NUM_REGIONS];
};

void vgpu_regions_init(struct vgpu_regions *t, u64 bar1_size);
int vgpu_region_decode(const struct vgpu_regions *t, u64 pos, size_t count,
		       u32 *index, u64 *off);
int vgpu_region_mmap_check(const struct vgpu_regions *t, u64 pgoff,
			   u64 len, u64 *off);

#endif /* VGPU_LOGIC_H */
