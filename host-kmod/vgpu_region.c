// SPDX-License-Identifier: GPL-2.0
/*
 * VGPU-STUB vfio regions: which region an access names and whether it fits.
 *
 * A vfio device fd addresses region i at offset i << 40.  Config space is
 * 256 bytes, BAR0 the 4 KiB register page (trapped, never mapped), BAR1 the
 * shared memory (read, write and mmap); every other region has size 0 and
 * refuses access.  Offsets and lengths are checked without overflow.
 */
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/nospec.h>

#include "vgpu_logic.h"

void vgpu_regions_init(struct vgpu_regions *t, u64 bar1_size)
{
	memset(t, 0, sizeof(*t));
	t->r[VFIO_PCI_CONFIG_REGION_INDEX].size = VGPU_CFG_SIZE;
	t->r[VFIO_PCI_CONFIG_REGION_INDEX].flags =
		VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	t->r[VFIO_PCI_BAR0_REGION_INDEX].size = VGPU_BAR0_SIZE;
	t->r[VFIO_PCI_BAR0_REGION_INDEX].flags =
		VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	t->r[VFIO_PCI_BAR1_REGION_INDEX].size = bar1_size;
	t->r[VFIO_PCI_BAR1_REGION_INDEX].flags =
		VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		VFIO_REGION_INFO_FLAG_MMAP;
}

int vgpu_region_decode(const struct vgpu_regions *t, u64 pos, size_t count,
		       u32 *index, u64 *off)
{
	u64 i = pos >> VGPU_REGION_SHIFT;
	u64 o = pos & (VGPU_REGION_OFFSET(1) - 1);
	u64 size;

	if (i >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	/* The user picks the region: no speculative read past the table. */
	i = array_index_nospec((u32)i, VFIO_PCI_NUM_REGIONS);
	size = t->r[i].size;
	if (!count || o >= size || count > size - o)
		return -EINVAL;
	*index = i;
	*off = o;
	return 0;
}

int vgpu_region_mmap_check(const struct vgpu_regions *t, u64 pgoff, u64 len,
			   u64 *off)
{
	u64 pos, i, o, size;

	if (pgoff > (U64_MAX >> PAGE_SHIFT))
		return -EINVAL;
	pos = pgoff << PAGE_SHIFT;
	i = pos >> VGPU_REGION_SHIFT;
	o = pos & (VGPU_REGION_OFFSET(1) - 1);
	if (i >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	i = array_index_nospec((u32)i, VFIO_PCI_NUM_REGIONS);
	if (!(t->r[i].flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -EINVAL;
	size = t->r[i].size;
	if (!len || o >= size || len > size - o)
		return -EINVAL;
	*off = o;
	return (int)i;
}
