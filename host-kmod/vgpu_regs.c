// SPDX-License-Identifier: GPL-2.0
/*
 * VGPU-STUB BAR0 register file (include/vgpu/regs.h, docs/protocol.md).
 *
 * Only naturally aligned 32-bit accesses reach a register; any other width
 * or alignment reads 0 and writes nothing.  Identity registers are
 * read-only, DOORBELL and IRQ_ACK are write-only and turn into actions the
 * caller carries out under its lock.
 */
#include <linux/kernel.h>

#include "vgpu_logic.h"

u32 vgpu_regs_read(const struct vgpu_regs *r, const struct vgpu_irq *irq,
		   u64 off, size_t len)
{
	if (len != 4 || off % 4 || off >= VGPU_BAR0_SIZE)
		return 0;
	switch (off) {
	case VGPU_REG_MAGIC:
		return VGPU_MAGIC;
	case VGPU_REG_VERSION:
		return VGPU_VERSION_VALUE(VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR);
	case VGPU_REG_FEATURES:
		return VGPU_FEATURE_DOORBELL_SUPPRESSION | VGPU_FEATURE_MSI;
	case VGPU_REG_VM_ID:
		return r->vm_id;
	case VGPU_REG_BAR1_SIZE_LO:
		return lower_32_bits(r->bar1_size);
	case VGPU_REG_BAR1_SIZE_HI:
		return upper_32_bits(r->bar1_size);
	case VGPU_REG_FB_SIZE_LO:
		return lower_32_bits(r->fb_size);
	case VGPU_REG_FB_SIZE_HI:
		return upper_32_bits(r->fb_size);
	case VGPU_REG_STATUS:
		return r->status;
	case VGPU_REG_IRQ_STATUS:
		return irq->status;
	default:
		return 0;
	}
}

enum vgpu_reg_action vgpu_regs_write(u64 off, size_t len, u32 val, u32 *arg)
{
	if (len != 4 || off % 4 || off >= VGPU_BAR0_SIZE)
		return VGPU_ACT_NONE;
	switch (off) {
	case VGPU_REG_DOORBELL:
		*arg = val;
		return VGPU_ACT_DOORBELL;
	case VGPU_REG_IRQ_ACK:
		*arg = val & VGPU_IRQ_ALL;
		return VGPU_ACT_IRQ_ACK;
	default:
		return VGPU_ACT_NONE;
	}
}
