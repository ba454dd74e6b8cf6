// SPDX-License-Identifier: GPL-2.0
/*
 * VGPU-STUB event queue: what the executor reads from /dev/vgpu-stub.
 *
 * A bounded ring of fixed-size events.  When it is full, further events are
 * dropped and, once the reader has drained what was queued, a single
 * OVERFLOW event tells it to resynchronise.  Doorbells of channels without
 * an eventfd are coalesced: at most one queued event per (instance, channel),
 * tracked in a per-instance pending bitmap the caller owns.
 */
#include <linux/bits.h>
#include <linux/string.h>

#include "vgpu_logic.h"

void vgpu_evq_init(struct vgpu_evq *q)
{
	memset(q, 0, sizeof(*q));
}

bool vgpu_evq_push(struct vgpu_evq *q, u32 type, u32 instance, u64 data)
{
	struct vgpu_kmod_event *e;

	if (q->tail - q->head >= VGPU_EVQ_LEN) {
		q->overflow = true;
		return false;
	}
	e = &q->ev[q->tail % VGPU_EVQ_LEN];
	e->type = type;
	e->instance = instance;
	e->seq = 0;	/* numbered when read, so OVERFLOW keeps the order */
	e->data = data;
	e->reserved = 0;
	q->tail++;
	return true;
}

bool vgpu_evq_ready(const struct vgpu_evq *q)
{
	return q->tail != q->head || q->overflow;
}

bool vgpu_evq_pop(struct vgpu_evq *q, struct vgpu_kmod_event *out)
{
	if (q->tail != q->head) {
		*out = q->ev[q->head % VGPU_EVQ_LEN];
		q->head++;
	} else if (q->overflow) {
		memset(out, 0, sizeof(*out));
		out->type = VGPU_KMOD_EV_OVERFLOW;
		q->overflow = false;
	} else {
		return false;
	}
	out->seq = ++q->seq;
	return true;
}

enum vgpu_db_result vgpu_evq_doorbell(struct vgpu_evq *q, u64 *pending,
				      u32 instance, u32 channel)
{
	if (channel >= VGPU_KMOD_MAX_CHANNELS)
		return VGPU_DB_DROPPED;
	if (*pending & BIT_ULL(channel))
		return VGPU_DB_COALESCED;
	if (!vgpu_evq_push(q, VGPU_KMOD_EV_DOORBELL, instance, channel))
		return VGPU_DB_LOST;
	*pending |= BIT_ULL(channel);
	return VGPU_DB_QUEUED;
}

void vgpu_evq_doorbell_taken(u64 *pending, u64 channel)
{
	if (channel < VGPU_KMOD_MAX_CHANNELS)
		*pending &= ~BIT_ULL(channel);
}
