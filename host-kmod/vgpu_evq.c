// SPDX-License-Identifier: GPL-2.0
/*
 * VGPU-STUB event queue: what the executor reads from /dev/vgpu-stub.
 *
 * Events are level-triggered per instance.  A guest controls how often its
 * instance posts (every VFIO_DEVICE_RESET, every open and close of the vfio
 * device, every doorbell of a channel without an eventfd), so a bounded
 * ring shared by all instances would let one guest overflow it and make the
 * executor drop everybody's service to resynchronise.  Instead each instance
 * has a set of pending event types and pending doorbell channels, and a
 * FIFO of the instances with something pending, each in it at most once:
 * it cannot overflow, repeats merge, and an instance that posts without end
 * gets one event per turn like any other.
 *
 * What merging loses is the order among one instance's events.  They come
 * out in a fixed order instead, and the executor reconciles with the
 * instance's state (docs/kmod.md):
 *
 *   REMOVED  first: posted before the id can be reused, it clears what the
 *            removed instance still had pending, so whatever follows it in
 *            the slot belongs to the next instance of that id;
 *   CREATED  the start of an instance;
 *   CLOSED, RESET  end of a session: stop serving;
 *   OPENED   after them: serve if it is (still) open;
 *   DOORBELL one per channel, lowest first.
 */
#include <linux/bitops.h>
#include <linux/nospec.h>
#include <linux/string.h>

#include "vgpu_logic.h"

static const u32 vgpu_evq_order[] = {
	VGPU_KMOD_EV_REMOVED,
	VGPU_KMOD_EV_CREATED,
	VGPU_KMOD_EV_CLOSED,
	VGPU_KMOD_EV_RESET,
	VGPU_KMOD_EV_OPENED,
};

#define VGPU_EVQ_TYPES	(BIT(VGPU_KMOD_EV_REMOVED) | BIT(VGPU_KMOD_EV_CREATED) | \
			 BIT(VGPU_KMOD_EV_CLOSED) | BIT(VGPU_KMOD_EV_RESET) |	 \
			 BIT(VGPU_KMOD_EV_OPENED))

void vgpu_evq_init(struct vgpu_evq *q)
{
	memset(q, 0, sizeof(*q));
}

static struct vgpu_evq_slot *evq_slot(struct vgpu_evq *q, u32 instance)
{
	if (instance >= VGPU_EVQ_INSTANCES)
		return NULL;
	return &q->slot[array_index_nospec(instance, VGPU_EVQ_INSTANCES)];
}

/* Put a slot with something pending in line, once. */
static void evq_enqueue(struct vgpu_evq *q, u32 instance)
{
	struct vgpu_evq_slot *s = &q->slot[instance];

	if (s->queued)
		return;
	/* At most VGPU_EVQ_INSTANCES slots are ever queued: no overflow. */
	q->fifo[q->tail % VGPU_EVQ_INSTANCES] = instance;
	q->tail++;
	s->queued = true;
}

/*
 * Make @type pending for @instance.  Returns true when that is news (the
 * reader may need waking), false when it was pending already or is not a
 * type that can be posted (DOORBELL has vgpu_evq_doorbell()).
 */
bool vgpu_evq_post(struct vgpu_evq *q, u32 type, u32 instance)
{
	struct vgpu_evq_slot *s = evq_slot(q, instance);

	if (!s || type >= 32 || !(BIT(type) & VGPU_EVQ_TYPES))
		return false;
	if (type == VGPU_KMOD_EV_REMOVED) {
		/* What the removed instance had pending is moot now. */
		if (s->types == BIT(type) && !s->doorbells)
			return false;
		s->types = BIT(type);
		s->doorbells = 0;
	} else {
		if (s->types & BIT(type))
			return false;
		s->types |= BIT(type);
	}
	evq_enqueue(q, s - q->slot);
	return true;
}

enum vgpu_db_result vgpu_evq_doorbell(struct vgpu_evq *q, u32 instance,
				      u32 channel)
{
	struct vgpu_evq_slot *s = evq_slot(q, instance);

	if (!s || channel >= VGPU_KMOD_MAX_CHANNELS)
		return VGPU_DB_DROPPED;
	if (s->doorbells & BIT_ULL(channel))
		return VGPU_DB_COALESCED;
	s->doorbells |= BIT_ULL(channel);
	evq_enqueue(q, s - q->slot);
	return VGPU_DB_QUEUED;
}

bool vgpu_evq_ready(const struct vgpu_evq *q)
{
	return q->tail != q->head;
}

/* Take the first pending event of the slot in vgpu_evq_order, then doorbells. */
static void evq_take(struct vgpu_evq_slot *s, struct vgpu_kmod_event *out)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(vgpu_evq_order); i++) {
		if (s->types & BIT(vgpu_evq_order[i])) {
			s->types &= ~BIT(vgpu_evq_order[i]);
			out->type = vgpu_evq_order[i];
			return;
		}
	}
	out->type = VGPU_KMOD_EV_DOORBELL;
	out->data = __ffs64(s->doorbells);
	s->doorbells &= ~BIT_ULL(out->data);
}

bool vgpu_evq_pop(struct vgpu_evq *q, struct vgpu_kmod_event *out)
{
	struct vgpu_evq_slot *s;
	u32 instance;

	while (q->tail != q->head) {
		instance = q->fifo[q->head % VGPU_EVQ_INSTANCES];
		q->head++;
		s = &q->slot[instance];
		s->queued = false;
		if (!s->types && !s->doorbells)
			continue;	/* cannot happen: a queued slot has work */
		memset(out, 0, sizeof(*out));
		out->instance = instance;
		evq_take(s, out);
		out->seq = ++q->seq;
		/* More of it: back in line behind every other instance. */
		if (s->types || s->doorbells)
			evq_enqueue(q, instance);
		return true;
	}
	return false;
}
