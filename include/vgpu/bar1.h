/* SPDX-License-Identifier: MIT */
/*
 * VGPU-STUB BAR1: the shared memory of one instance.
 *
 *   0                     header (struct vgpu_bar1_header), 4 KiB
 *   channel_offset        channel 0: control block | submission ring | completion ring | bulk
 *   + channel_stride      channel 1 ...
 *   heap_offset           shared host-memory heap (pinned allocations; may be empty)
 *
 * The executor writes the header once when it starts serving an instance.  The
 * guest reads the header; the executor never reads it back: it keeps its own
 * copy of the layout (struct vgpu_layout), because the guest can write any
 * byte of BAR1.
 *
 * Every shared index is written by exactly one side.  Fields are grouped by
 * writer on separate cache lines.  Accesses go through __atomic builtins
 * (include/vgpu/ring.h), so the layout is plain integers that the kernel,
 * the executor and the shim all agree on.
 */
#ifndef VGPU_BAR1_H
#define VGPU_BAR1_H

#include <stddef.h>
#include <stdint.h>

#define VGPU_BAR1_MAGIC		0x31424756u	/* "VGB1" */
#define VGPU_BAR1_HEADER_SIZE	4096u
#define VGPU_CHANNEL_CTRL_SIZE	4096u
#define VGPU_CACHELINE		64u
#define VGPU_MAX_CHANNELS	64u
#define VGPU_HOST_FLAGS		128u	/* host functions in flight per channel */
#define VGPU_BULK_SLOTS_MAX	256u	/* the bulk area is cut into at most this many slots */
#define VGPU_BULK_SLOT_MIN	(64u << 10)

struct vgpu_bar1_header {
	uint32_t magic;			/* VGPU_BAR1_MAGIC */
	uint16_t version_major;		/* VGPU_PROTOCOL_MAJOR */
	uint16_t version_minor;
	uint32_t header_size;		/* VGPU_BAR1_HEADER_SIZE */
	uint32_t channel_count;
	uint64_t bar1_size;
	uint64_t generation;		/* new value each time the executor formats BAR1 */
	uint64_t channel_offset;	/* channel i at channel_offset + i * channel_stride */
	uint64_t channel_stride;
	uint64_t sq_offset;		/* within a channel */
	uint64_t sq_size;		/* bytes, power of two */
	uint64_t cq_offset;		/* within a channel */
	uint32_t cq_entries;		/* power of two */
	uint32_t cq_entry_size;		/* sizeof(struct vgpu_completion) */
	uint64_t bulk_offset;		/* within a channel */
	uint64_t bulk_size;
	uint64_t heap_offset;		/* within BAR1 */
	uint64_t heap_size;
	uint64_t mem_quota;		/* device memory this instance may allocate */
};

/* Channel ownership (ctrl.owner), claimed by a guest process with a CAS. */
#define VGPU_CHANNEL_FREE	0u

/* Session state published by the executor (ctrl.exec_state). */
#define VGPU_EXEC_IDLE		0u	/* no session on this channel */
#define VGPU_EXEC_SERVING	1u
#define VGPU_EXEC_CLOSED	2u	/* the executor ended the session; see exec_error */

/*
 * Per-channel control block: one cache line per writer and purpose.  "G" is
 * written by the guest, "E" by the executor.
 */
struct vgpu_channel_ctrl {
	/* G: claimed by one guest process */
	uint32_t owner;			/* VGPU_CHANNEL_FREE or a nonzero claim token */
	uint32_t owner_pid;		/* informational */
	uint8_t pad0[VGPU_CACHELINE - 8];

	/* G: producers' reservation cursor of the submission ring (bytes) */
	uint64_t sq_reserve;
	uint8_t pad1[VGPU_CACHELINE - 8];

	/* E: consumer position of the submission ring and doorbell suppression */
	uint64_t sq_head;
	uint32_t sq_need_doorbell;	/* 1: the executor sleeps, ring the doorbell */
	uint8_t pad2[VGPU_CACHELINE - 12];

	/* G: consumer position of the completion ring and interrupt suppression */
	uint64_t cq_head;
	uint32_t cq_need_irq;		/* 1: a guest thread sleeps, raise the interrupt */
	uint8_t pad3[VGPU_CACHELINE - 12];

	/* E: session state */
	uint64_t unused0;		/* protocol 1.0's bulk_retired; see bulk_slot_retired */
	uint32_t exec_state;		/* VGPU_EXEC_* */
	uint32_t exec_error;		/* CUresult that closed the session */
	uint64_t session_id;		/* executor's id of the session on this channel */
	uint8_t pad4[VGPU_CACHELINE - 24];

	uint8_t pad5[1024 - 5 * VGPU_CACHELINE];

	/*
	 * G: host-function flags (protocol 1.1).  The GPU waits, in stream
	 * order, until host_flag[slot] >= gen; the guest's service thread
	 * stores gen once it has run the host function the executor asked for.
	 * The executor never reads these: the GPU does.
	 */
	uint64_t host_flag[VGPU_HOST_FLAGS];

	/*
	 * E: bulk retirement per slot (protocol 1.1).  bulk_slot_retired[i] ==
	 * seq once the executor no longer reads the outgoing data of sequence
	 * number seq that starts at bulk slot i.  Slots retire independently,
	 * so data of a stream that waits does not hold back other streams'.
	 */
	uint64_t bulk_slot_retired[VGPU_BULK_SLOTS_MAX];
};

_Static_assert(sizeof(struct vgpu_channel_ctrl) == VGPU_CHANNEL_CTRL_SIZE,
	       "the control block fills its page");

/* The layout both sides compute from (bar1_size, channel_count). */
struct vgpu_layout {
	uint64_t bar1_size;
	uint32_t channel_count;
	uint32_t cq_entries;
	uint64_t channel_offset;
	uint64_t channel_stride;
	uint64_t sq_offset, sq_size;
	uint64_t cq_offset, cq_size;
	uint64_t bulk_offset, bulk_size;
	uint64_t heap_offset, heap_size;
};

/* Smallest channel the layout accepts: control block, 64 KiB ring, 4 KiB completions, 256 KiB bulk. */
#define VGPU_CHANNEL_MIN_SIZE	(VGPU_CHANNEL_CTRL_SIZE + (64u << 10) + (4u << 10) + (256u << 10))

/*
 * Compute the layout of a BAR1 of @bar1_size bytes with @channel_count
 * channels, reserving @heap_size bytes at the end for the host-memory heap.
 * Returns 0, or -1 when it does not fit.
 */
int vgpu_layout_compute(uint64_t bar1_size, uint32_t channel_count,
			uint64_t heap_size, struct vgpu_layout *out);

/* Default channel count for a BAR1 size: 4 MiB or more per channel, 1 to VGPU_MAX_CHANNELS. */
uint32_t vgpu_layout_default_channels(uint64_t bar1_size);

/*
 * The bulk area's slots: @bulk_size bytes are cut into *@count slots of
 * *@slot_size bytes (a power of two, at least VGPU_BULK_SLOT_MIN; at most
 * VGPU_BULK_SLOTS_MAX slots).  An allocation is a run of whole slots and is
 * named by its first slot.  Both sides compute the same from the layout.
 */
void vgpu_bulk_geometry(uint64_t bulk_size, uint64_t *slot_size, uint32_t *count);

/*
 * Completion entries reserved for executor-to-guest messages: the guest
 * keeps at most cq_entries - budget answers outstanding, the executor at
 * most budget messages unconsumed, so neither crowds out the other.
 */
static inline uint32_t vgpu_msg_budget(uint32_t cq_entries)
{
	return cq_entries / 4;
}

/* Write the header for @l (the executor, once). */
void vgpu_layout_write_header(const struct vgpu_layout *l, uint64_t generation,
			      uint64_t mem_quota, struct vgpu_bar1_header *h);

/*
 * Read and check a header the executor wrote (the guest).  Returns 0 with
 * @out filled, or -1 if the header is not one this version understands or
 * does not fit @bar1_size.
 */
int vgpu_layout_from_header(const struct vgpu_bar1_header *h, uint64_t bar1_size,
			    struct vgpu_layout *out);

static inline struct vgpu_channel_ctrl *vgpu_channel_ctrl(void *bar1, const struct vgpu_layout *l,
							  uint32_t ch)
{
	return (struct vgpu_channel_ctrl *)((uint8_t *)bar1 + l->channel_offset +
					    (uint64_t)ch * l->channel_stride);
}

static inline uint8_t *vgpu_channel_base(void *bar1, const struct vgpu_layout *l, uint32_t ch)
{
	return (uint8_t *)bar1 + l->channel_offset + (uint64_t)ch * l->channel_stride;
}

#endif /* VGPU_BAR1_H */
