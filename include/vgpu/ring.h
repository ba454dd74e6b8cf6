/* SPDX-License-Identifier: MIT */
/*
 * The two rings of a channel.
 *
 * Submission ring (guest -> executor): a byte ring of sq_size bytes (a power
 * of two) holding variable-length records, each a multiple of 32 bytes and
 * starting with struct vgpu_cmd_hdr.  Many guest threads produce: a producer
 * reserves space by advancing ctrl.sq_reserve with a CAS, writes its record
 * and then publishes it by storing seal = position + 1 with release order.  A
 * record never wraps: a producer that would cross the end first fills the tail
 * with a PAD record.  The executor consumes in position order, only records
 * whose seal matches their position, copies each record out of shared memory
 * before it looks at it, clears the seal words of what it consumed (so stale
 * payload bytes can never pass for a seal on a later lap) and publishes
 * ctrl.sq_head.
 *
 * Completion ring (executor -> guest): cq_entries fixed 64-byte entries,
 * one producer (the executor), consumed under a guest-side lock.  An entry is
 * valid when seal == index + 1.
 *
 * Suppression (as virtio's): the executor sets sq_need_doorbell before it
 * sleeps and re-checks the ring; a producer checks it after publishing.  The
 * guest sets cq_need_irq before it sleeps and re-checks; the executor checks
 * it after posting.  Both sides put a full fence between their store and
 * their load, so at least one of the two sees the other.
 */
#ifndef VGPU_RING_H
#define VGPU_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bar1.h"

#define VGPU_REC_ALIGN		32u
#define VGPU_CQ_INLINE		40u

struct vgpu_cmd_hdr {
	uint64_t seal;		/* position + 1 once the record is complete */
	uint32_t size;		/* bytes including this header, multiple of VGPU_REC_ALIGN */
	uint16_t opcode;	/* VGPU_OP_* (include/vgpu/calls.h) */
	uint16_t flags;		/* VGPU_CMD_F_* */
	uint64_t tag;		/* completion tag, 0 if no completion is wanted */
	uint32_t ctx;		/* session context id the call runs in, 0 for none */
	uint32_t thread;	/* the guest thread that made the call (>= 1), 0 for none */
};

#define VGPU_CMD_F_REPLY	(1u << 0)	/* post a completion with hdr.tag */
#define VGPU_CMD_F_REPORT_ASYNC	(1u << 1)	/* the call may report an earlier asynchronous error */

struct vgpu_completion {
	uint64_t seal;		/* index + 1 once valid */
	uint64_t tag;
	uint32_t status;	/* CUresult */
	uint32_t len;		/* bytes used in data[] */
	uint8_t data[VGPU_CQ_INLINE];
};

_Static_assert(sizeof(struct vgpu_cmd_hdr) == VGPU_REC_ALIGN, "command header is one granule");
_Static_assert(sizeof(struct vgpu_completion) == 64, "completion is one cache line");

static inline uint64_t vgpu_load_acquire(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void vgpu_store_release(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint32_t vgpu_load32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void vgpu_store32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void vgpu_full_fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline uint32_t vgpu_rec_size(size_t payload)
{
	return (uint32_t)((sizeof(struct vgpu_cmd_hdr) + payload + VGPU_REC_ALIGN - 1) &
			  ~(size_t)(VGPU_REC_ALIGN - 1));
}

/* ---- submission ring, producer side (guest) ---- */

struct vgpu_sq_producer {
	uint8_t *ring;
	uint64_t size;			/* power of two */
	struct vgpu_channel_ctrl *ctrl;
};

/* The largest record a producer may submit: a quarter of the ring. */
static inline uint32_t vgpu_sq_max_record(const struct vgpu_sq_producer *q)
{
	return (uint32_t)(q->size / 4);
}

/*
 * Reserve @size bytes (a vgpu_rec_size() value).  Returns the record, or NULL
 * when the ring has no room now (retry after the executor consumed) or @size
 * exceeds vgpu_sq_max_record().  *@pos receives the record's position.
 */
static inline struct vgpu_cmd_hdr *vgpu_sq_reserve(struct vgpu_sq_producer *q, uint32_t size,
						   uint64_t *pos)
{
	uint64_t mask = q->size - 1;
	uint64_t r = __atomic_load_n(&q->ctrl->sq_reserve, __ATOMIC_RELAXED);
	uint64_t pad, need;

	if (size < VGPU_REC_ALIGN || size % VGPU_REC_ALIGN || size > vgpu_sq_max_record(q))
		return NULL;
	for (;;) {
		uint64_t off = r & mask;

		pad = off + size > q->size ? q->size - off : 0;
		need = pad + size;
		if (r + need - vgpu_load_acquire(&q->ctrl->sq_head) > q->size)
			return NULL;
		if (__atomic_compare_exchange_n(&q->ctrl->sq_reserve, &r, r + need, true,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			break;
	}
	if (pad) {
		struct vgpu_cmd_hdr *p = (struct vgpu_cmd_hdr *)(q->ring + (r & mask));

		p->size = (uint32_t)pad;
		p->opcode = 0;	/* VGPU_OP_PAD */
		p->flags = 0;
		p->tag = 0;
		p->ctx = 0;
		p->thread = 0;
		vgpu_store_release(&p->seal, r + 1);
	}
	*pos = r + pad;
	return (struct vgpu_cmd_hdr *)(q->ring + ((r + pad) & mask));
}

/*
 * Publish a reserved record.  Returns true when the executor sleeps and the
 * caller must ring the doorbell.
 */
static inline bool vgpu_sq_commit(struct vgpu_sq_producer *q, struct vgpu_cmd_hdr *h, uint64_t pos)
{
	vgpu_store_release(&h->seal, pos + 1);
	vgpu_full_fence();
	return vgpu_load32(&q->ctrl->sq_need_doorbell) != 0;
}

/* ---- submission ring, consumer side (executor) ---- */

struct vgpu_sq_consumer {
	uint8_t *ring;
	uint64_t size;			/* the executor's own copy, never read from BAR1 */
	uint64_t head;			/* private; published to ctrl.sq_head */
	struct vgpu_channel_ctrl *ctrl;
};

enum vgpu_sq_result {
	VGPU_SQ_EMPTY = 0,	/* nothing published at head */
	VGPU_SQ_RECORD = 1,	/* a record was copied out */
	VGPU_SQ_CORRUPT = -1,	/* the guest broke the ring: close the session */
};

/* True if a record is published at the consumer's head. */
static inline bool vgpu_sq_ready(const struct vgpu_sq_consumer *c)
{
	const struct vgpu_cmd_hdr *h = (const void *)(c->ring + (c->head & (c->size - 1)));

	return vgpu_load_acquire(&h->seal) == c->head + 1;
}

/*
 * Copy the record at head into @buf (@buf_size bytes, at least the largest
 * record) and advance past it; PAD records are skipped.  The copy is the only
 * read of the record's shared bytes: the caller parses @buf alone.
 */
static inline enum vgpu_sq_result vgpu_sq_pop(struct vgpu_sq_consumer *c, void *buf,
					      size_t buf_size)
{
	for (;;) {
		uint64_t off = c->head & (c->size - 1);
		struct vgpu_cmd_hdr *h = (struct vgpu_cmd_hdr *)(c->ring + off);
		struct vgpu_cmd_hdr *out = buf;
		uint32_t size;

		if (vgpu_load_acquire(&h->seal) != c->head + 1)
			return VGPU_SQ_EMPTY;
		size = __atomic_load_n(&h->size, __ATOMIC_RELAXED);
		if (size < VGPU_REC_ALIGN || size % VGPU_REC_ALIGN || off + size > c->size ||
		    size > buf_size)
			return VGPU_SQ_CORRUPT;
		memcpy(buf, h, size);
		out->size = size;	/* the size checked above, whatever the guest wrote since */
		for (uint32_t i = 0; i < size; i += VGPU_REC_ALIGN)
			__atomic_store_n((uint64_t *)(c->ring + off + i), 0, __ATOMIC_RELAXED);
		c->head += size;
		vgpu_store_release(&c->ctrl->sq_head, c->head);
		if (out->opcode != 0)
			return VGPU_SQ_RECORD;
	}
}

/* ---- completion ring, producer side (executor) ---- */

struct vgpu_cq_producer {
	struct vgpu_completion *ring;
	uint32_t entries;		/* the executor's own copy */
	uint64_t tail;			/* private */
	struct vgpu_channel_ctrl *ctrl;
};

/*
 * Free entries, judged from the guest's published head.  A head the guest
 * could not have published (ahead of tail, or more than a ring behind) reads
 * as a full ring: the caller treats a ring that stays full as a broken guest.
 */
static inline uint32_t vgpu_cq_space(const struct vgpu_cq_producer *p)
{
	uint64_t head = vgpu_load_acquire(&p->ctrl->cq_head);

	if (head > p->tail || p->tail - head > p->entries)
		return 0;
	return p->entries - (uint32_t)(p->tail - head);
}

/*
 * Post one completion (the caller checked vgpu_cq_space()).  Returns true
 * when a guest thread sleeps and the caller must raise the interrupt.
 */
static inline bool vgpu_cq_post(struct vgpu_cq_producer *p, uint64_t tag, uint32_t status,
				const void *data, uint32_t len)
{
	struct vgpu_completion *e = &p->ring[p->tail & (p->entries - 1)];

	if (len > VGPU_CQ_INLINE)
		len = VGPU_CQ_INLINE;
	e->tag = tag;
	e->status = status;
	e->len = len;
	if (len)
		memcpy(e->data, data, len);
	vgpu_store_release(&e->seal, p->tail + 1);
	p->tail++;
	vgpu_full_fence();
	return vgpu_load32(&p->ctrl->cq_need_irq) != 0;
}

/* ---- completion ring, consumer side (guest, under the caller's lock) ---- */

struct vgpu_cq_consumer {
	struct vgpu_completion *ring;
	uint32_t entries;
	uint64_t head;
	struct vgpu_channel_ctrl *ctrl;
};

/* Take the next completion into @out; false if none is posted. */
static inline bool vgpu_cq_pop(struct vgpu_cq_consumer *c, struct vgpu_completion *out)
{
	struct vgpu_completion *e = &c->ring[c->head & (c->entries - 1)];

	if (vgpu_load_acquire(&e->seal) != c->head + 1)
		return false;
	memcpy(out, e, sizeof(*out));
	c->head++;
	vgpu_store_release(&c->ctrl->cq_head, c->head);
	return true;
}

#endif /* VGPU_RING_H */
