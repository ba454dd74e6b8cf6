// SPDX-License-Identifier: GPL-2.0
/*
 * VGPU-STUB PCI config space: 256 bytes, emulated byte by byte.
 *
 * Every byte has a write mask and a write-1-to-clear mask, as QEMU models
 * config space.  BAR sizing falls out of the masks: a BAR's address bits
 * below its size are read-only zero, its flag bits read-only, so writing all
 * ones reads back ~(size - 1) | flags, for both halves of the 64-bit BAR1.
 */
#include <linux/bits.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/nospec.h>
#include <linux/pci_regs.h>
#include <linux/sizes.h>
#include <linux/string.h>

#include "vgpu_logic.h"

#define VGPU_MSI_FLAGS		(VGPU_CFG_MSI_CAP + PCI_MSI_FLAGS)
#define VGPU_MSI_ADDR_LO	(VGPU_CFG_MSI_CAP + PCI_MSI_ADDRESS_LO)
#define VGPU_MSI_ADDR_HI	(VGPU_CFG_MSI_CAP + PCI_MSI_ADDRESS_HI)
#define VGPU_MSI_DATA		(VGPU_CFG_MSI_CAP + PCI_MSI_DATA_64)

bool vgpu_bar1_size_valid(u64 size)
{
	/* A power of two: 1 MiB up to 64 GiB, as a 64-bit prefetchable BAR. */
	return size >= SZ_1M && size <= (64ULL << 30) && is_power_of_2(size);
}

static void put8(struct vgpu_cfg *cfg, u32 off, u8 v, u8 wmask)
{
	cfg->data[off] = v;
	cfg->wmask[off] = wmask;
}

static void put16(struct vgpu_cfg *cfg, u32 off, u16 v, u16 wmask)
{
	put8(cfg, off, v & 0xff, wmask & 0xff);
	put8(cfg, off + 1, v >> 8, wmask >> 8);
}

static void put32(struct vgpu_cfg *cfg, u32 off, u32 v, u32 wmask)
{
	put16(cfg, off, v & 0xffff, wmask & 0xffff);
	put16(cfg, off + 2, v >> 16, wmask >> 16);
}

static u16 get16(const struct vgpu_cfg *cfg, u32 off)
{
	return cfg->data[off] | (cfg->data[off + 1] << 8);
}

void vgpu_cfg_init(struct vgpu_cfg *cfg, u64 bar1_size)
{
	u64 bar1_mask = ~(bar1_size - 1);

	memset(cfg, 0, sizeof(*cfg));
	put16(cfg, PCI_VENDOR_ID, VGPU_PCI_VENDOR_ID, 0);
	put16(cfg, PCI_DEVICE_ID, VGPU_PCI_DEVICE_ID, 0);
	put16(cfg, PCI_COMMAND, 0,
	      PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
	      PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	put16(cfg, PCI_STATUS, PCI_STATUS_CAP_LIST, 0);
	cfg->w1cmask[PCI_STATUS + 1] = (PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |
					PCI_STATUS_REC_TARGET_ABORT |
					PCI_STATUS_REC_MASTER_ABORT |
					PCI_STATUS_SIG_SYSTEM_ERROR |
					PCI_STATUS_DETECTED_PARITY) >> 8;
	put8(cfg, PCI_REVISION_ID, VGPU_CFG_REVISION, 0);
	put8(cfg, PCI_CLASS_PROG, VGPU_PCI_CLASS & 0xff, 0);
	put16(cfg, PCI_CLASS_DEVICE, VGPU_PCI_CLASS >> 8, 0);
	put8(cfg, PCI_CACHE_LINE_SIZE, 0, 0xff);
	put8(cfg, PCI_LATENCY_TIMER, 0, 0xff);
	put8(cfg, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL, 0);

	/* BAR0: 32-bit, non-prefetchable registers. */
	put32(cfg, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_SPACE_MEMORY |
	      PCI_BASE_ADDRESS_MEM_TYPE_32, (u32)~(VGPU_BAR0_SIZE - 1));
	/* BAR1 (+BAR2 as its upper half): 64-bit prefetchable memory. */
	put32(cfg, PCI_BASE_ADDRESS_1, PCI_BASE_ADDRESS_SPACE_MEMORY |
	      PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH,
	      lower_32_bits(bar1_mask) & PCI_BASE_ADDRESS_MEM_MASK);
	put32(cfg, PCI_BASE_ADDRESS_2, 0, upper_32_bits(bar1_mask));
	/* BAR3..5 and the expansion ROM are absent: read-only zero. */

	put16(cfg, PCI_SUBSYSTEM_VENDOR_ID, VGPU_PCI_SUBSYS_VENDOR_ID, 0);
	put16(cfg, PCI_SUBSYSTEM_ID, VGPU_PCI_SUBSYS_ID, 0);
	put8(cfg, PCI_CAPABILITY_LIST, VGPU_CFG_MSI_CAP, 0);
	put8(cfg, PCI_INTERRUPT_LINE, 0, 0xff);
	put8(cfg, PCI_INTERRUPT_PIN, 1, 0);	/* INTA# */

	/* MSI: one vector, 64-bit address. */
	put8(cfg, VGPU_CFG_MSI_CAP + PCI_CAP_LIST_ID, PCI_CAP_ID_MSI, 0);
	put8(cfg, VGPU_CFG_MSI_CAP + PCI_CAP_LIST_NEXT, 0, 0);
	put16(cfg, VGPU_MSI_FLAGS, PCI_MSI_FLAGS_64BIT,
	      PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
	put32(cfg, VGPU_MSI_ADDR_LO, 0, 0xfffffffc);
	put32(cfg, VGPU_MSI_ADDR_HI, 0, 0xffffffff);
	put16(cfg, VGPU_MSI_DATA, 0, 0xffff);
}

static bool cfg_range_ok(u64 off, size_t len)
{
	return len && off < VGPU_CFG_SIZE && len <= VGPU_CFG_SIZE - off;
}

int vgpu_cfg_read(const struct vgpu_cfg *cfg, u64 off, void *buf, size_t len)
{
	if (!cfg_range_ok(off, len))
		return -EINVAL;
	/* The guest picks the offset: no speculative read past the array. */
	off = array_index_nospec((u32)off, VGPU_CFG_SIZE);
	memcpy(buf, cfg->data + off, len);
	return 0;
}

int vgpu_cfg_write(struct vgpu_cfg *cfg, u64 off, const void *buf, size_t len,
		   u32 *changed)
{
	const u8 *src = buf;
	u32 chg = 0;
	size_t i;

	if (!cfg_range_ok(off, len))
		return -EINVAL;
	off = array_index_nospec((u32)off, VGPU_CFG_SIZE);
	for (i = 0; i < len; i++) {
		u32 o = off + i;
		u8 old = cfg->data[o];
		u8 v = (old & ~cfg->wmask[o]) | (src[i] & cfg->wmask[o]);

		v &= ~(src[i] & cfg->w1cmask[o]);
		cfg->data[o] = v;
		if (v == old)
			continue;
		if (o == PCI_COMMAND || o == PCI_COMMAND + 1)
			chg |= VGPU_CFG_CHG_COMMAND;
		if (o == VGPU_MSI_FLAGS)
			chg |= VGPU_CFG_CHG_MSI;
	}
	/* Multiple Message Enable can't exceed the one vector we have. */
	cfg->data[VGPU_MSI_FLAGS] &= ~PCI_MSI_FLAGS_QSIZE;
	if (changed)
		*changed = chg;
	return 0;
}

u16 vgpu_cfg_command(const struct vgpu_cfg *cfg)
{
	return get16(cfg, PCI_COMMAND);
}

bool vgpu_cfg_msi_enabled(const struct vgpu_cfg *cfg)
{
	return get16(cfg, VGPU_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE;
}

void vgpu_cfg_set_intx_status(struct vgpu_cfg *cfg, bool pending)
{
	if (pending)
		cfg->data[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		cfg->data[PCI_STATUS] &= ~PCI_STATUS_INTERRUPT;
}
