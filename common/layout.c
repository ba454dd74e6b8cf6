// SPDX-License-Identifier: MIT
/*
 * BAR1 layout: where the channels, their rings and the heap sit.
 *
 * The executor computes the layout, writes the header and keeps its own copy;
 * the guest reads the header back and checks that it is self-consistent.
 */
#include "vgpu/bar1.h"
#include "vgpu/regs.h"
#include "vgpu/ring.h"

#define PAGE 4096ull

static uint64_t round_down_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p <= v / 2)
		p *= 2;
	return p;
}

uint32_t vgpu_layout_default_channels(uint64_t bar1_size)
{
	uint64_t n = bar1_size / (4ull << 20);

	if (n < 1)
		n = 1;
	if (n > VGPU_MAX_CHANNELS)
		n = VGPU_MAX_CHANNELS;
	return (uint32_t)n;
}

int vgpu_layout_compute(uint64_t bar1_size, uint32_t channel_count, uint64_t heap_size,
			struct vgpu_layout *out)
{
	uint64_t avail, stride, sq, cq_entries, cq_bytes;

	if (channel_count == 0 || channel_count > VGPU_MAX_CHANNELS || bar1_size % PAGE ||
	    heap_size % PAGE || bar1_size < VGPU_BAR1_HEADER_SIZE + heap_size)
		return -1;
	avail = bar1_size - VGPU_BAR1_HEADER_SIZE - heap_size;
	stride = avail / channel_count / PAGE * PAGE;
	if (stride < VGPU_CHANNEL_MIN_SIZE)
		return -1;

	/* An eighth of the channel for commands, within [64 KiB, 1 MiB]. */
	sq = round_down_pow2(stride / 8);
	if (sq < (64u << 10))
		sq = 64u << 10;
	if (sq > (1u << 20))
		sq = 1u << 20;
	cq_entries = stride >= (4ull << 20) ? 256 : 64;
	cq_bytes = cq_entries * sizeof(struct vgpu_completion);

	out->bar1_size = bar1_size;
	out->channel_count = channel_count;
	out->channel_offset = VGPU_BAR1_HEADER_SIZE;
	out->channel_stride = stride;
	out->sq_offset = VGPU_CHANNEL_CTRL_SIZE;
	out->sq_size = sq;
	out->cq_offset = out->sq_offset + sq;
	out->cq_entries = (uint32_t)cq_entries;
	out->cq_size = cq_bytes;
	out->bulk_offset = (out->cq_offset + cq_bytes + PAGE - 1) / PAGE * PAGE;
	if (out->bulk_offset + (64u << 10) > stride)
		return -1;
	out->bulk_size = stride - out->bulk_offset;
	out->heap_offset = bar1_size - heap_size;
	out->heap_size = heap_size;
	return 0;
}

void vgpu_bulk_geometry(uint64_t bulk_size, uint64_t *slot_size, uint32_t *count)
{
	uint64_t sz = VGPU_BULK_SLOT_MIN;

	while (bulk_size / sz > VGPU_BULK_SLOTS_MAX)
		sz *= 2;
	*slot_size = sz;
	*count = (uint32_t)(bulk_size / sz);
}

void vgpu_layout_write_header(const struct vgpu_layout *l, uint64_t generation,
			      uint64_t mem_quota, struct vgpu_bar1_header *h)
{
	memset(h, 0, sizeof(*h));
	h->version_major = VGPU_PROTOCOL_MAJOR;
	h->version_minor = VGPU_PROTOCOL_MINOR;
	h->header_size = VGPU_BAR1_HEADER_SIZE;
	h->channel_count = l->channel_count;
	h->bar1_size = l->bar1_size;
	h->generation = generation;
	h->channel_offset = l->channel_offset;
	h->channel_stride = l->channel_stride;
	h->sq_offset = l->sq_offset;
	h->sq_size = l->sq_size;
	h->cq_offset = l->cq_offset;
	h->cq_entries = l->cq_entries;
	h->cq_entry_size = sizeof(struct vgpu_completion);
	h->bulk_offset = l->bulk_offset;
	h->bulk_size = l->bulk_size;
	h->heap_offset = l->heap_offset;
	h->heap_size = l->heap_size;
	h->mem_quota = mem_quota;
	/* The magic last: a reader that sees it sees a complete header. */
	__atomic_store_n(&h->magic, VGPU_BAR1_MAGIC, __ATOMIC_RELEASE);
}

static int is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int vgpu_layout_from_header(const struct vgpu_bar1_header *h, uint64_t bar1_size,
			    struct vgpu_layout *out)
{
	struct vgpu_bar1_header c;
	uint64_t end;

	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != VGPU_BAR1_MAGIC)
		return -1;
	memcpy(&c, h, sizeof(c));
	if (c.version_major != VGPU_PROTOCOL_MAJOR || c.header_size != VGPU_BAR1_HEADER_SIZE ||
	    c.bar1_size != bar1_size || c.channel_count == 0 ||
	    c.channel_count > VGPU_MAX_CHANNELS || !is_pow2(c.sq_size) ||
	    !is_pow2(c.cq_entries) || c.cq_entry_size != sizeof(struct vgpu_completion))
		return -1;
	if (c.channel_offset < VGPU_BAR1_HEADER_SIZE || c.channel_stride == 0 ||
	    c.channel_stride > bar1_size || c.sq_offset < VGPU_CHANNEL_CTRL_SIZE ||
	    c.sq_offset + c.sq_size > c.cq_offset ||
	    c.cq_offset + (uint64_t)c.cq_entries * c.cq_entry_size > c.bulk_offset ||
	    c.bulk_offset + c.bulk_size > c.channel_stride)
		return -1;
	end = c.channel_offset + c.channel_stride * c.channel_count;
	if (end > bar1_size || end > c.heap_offset || c.heap_offset + c.heap_size > bar1_size)
		return -1;

	out->bar1_size = c.bar1_size;
	out->channel_count = c.channel_count;
	out->cq_entries = c.cq_entries;
	out->channel_offset = c.channel_offset;
	out->channel_stride = c.channel_stride;
	out->sq_offset = c.sq_offset;
	out->sq_size = c.sq_size;
	out->cq_offset = c.cq_offset;
	out->cq_size = (uint64_t)c.cq_entries * c.cq_entry_size;
	out->bulk_offset = c.bulk_offset;
	out->bulk_size = c.bulk_size;
	out->heap_offset = c.heap_offset;
	out->heap_size = c.heap_size;
	return 0;
}
