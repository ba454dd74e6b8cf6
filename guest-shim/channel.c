// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "log.h"
#include "vgpu/regs.h"

/* How long a waiting thread spins on the completion ring before it sleeps. */
#define SPIN_NS		(50 * 1000)
/* How often a sleeping thread looks whether the session is still there. */
#define LIVENESS_MS	200
#define BULK_SLOTS	256u

struct bulk_slot {
	uint64_t end;
	uint64_t seq;
	bool done;
};

static struct {
	bool open;
	bool dead;
	struct vgpu_transport t;
	struct vgpu_channel_ctrl *ctrl;
	struct vgpu_sq_producer sq;
	uint64_t next_tag;

	/* Completions: one thread at a time polls for everyone. */
	pthread_mutex_t cq_lock;
	pthread_cond_t cq_cond;
	struct vgpu_cq_consumer cq;
	bool polling;
	struct vgpu_pending *waiters;
	sem_t reply_slots;	/* answers outstanding at most: the completion ring's size */

	/* Bulk: a FIFO of allocations; the guest frees in order. */
	pthread_mutex_t bulk_lock;	/* held from allocation to submission of outgoing data */
	pthread_mutex_t bulk_state;
	uint8_t *bulk;
	uint64_t bulk_size;
	uint64_t alloc_pos, free_pos, next_seq;
	struct bulk_slot slots[BULK_SLOTS];
	uint32_t slot_head, slot_tail;
} ch = {
	.cq_lock = PTHREAD_MUTEX_INITIALIZER,
	.cq_cond = PTHREAD_COND_INITIALIZER,
	.bulk_lock = PTHREAD_MUTEX_INITIALIZER,
	.bulk_state = PTHREAD_MUTEX_INITIALIZER,
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

int vgpu_channel_open(char *err, size_t err_len)
{
	const struct vgpu_layout *l;
	uint8_t *base;

	if (vgpu_transport_open(&ch.t, err, err_len))
		return -1;
	l = &ch.t.layout;
	base = vgpu_channel_base(ch.t.bar1, l, ch.t.channel);
	ch.ctrl = vgpu_channel_ctrl(ch.t.bar1, l, ch.t.channel);
	ch.sq = (struct vgpu_sq_producer){ base + l->sq_offset, l->sq_size, ch.ctrl };
	ch.cq = (struct vgpu_cq_consumer){ (struct vgpu_completion *)(base + l->cq_offset),
					   l->cq_entries, 0, ch.ctrl };
	/* A channel may have served an earlier session: continue from its positions. */
	ch.cq.head = __atomic_load_n(&ch.ctrl->cq_head, __ATOMIC_ACQUIRE);
	ch.bulk = base + l->bulk_offset;
	ch.bulk_size = l->bulk_size;
	ch.next_tag = 1;
	ch.next_seq = __atomic_load_n(&ch.ctrl->bulk_retired, __ATOMIC_ACQUIRE) + 1;
	sem_init(&ch.reply_slots, 0, l->cq_entries);
	ch.open = true;
	return 0;
}

static bool mark_dead(const char *why)
{
	if (!ch.dead)
		vgpu_log("%s (error %u)", why,
			 __atomic_load_n(&ch.ctrl->exec_error, __ATOMIC_ACQUIRE));
	ch.dead = true;
	return false;
}

/*
 * On every call: only shared memory is read.  In a VM a BAR0 read is a
 * trapped access (a VM exit), which the per-call path must not pay.
 */
bool vgpu_channel_alive(void)
{
	if (!ch.open || ch.dead)
		return false;
	if (__atomic_load_n(&ch.ctrl->exec_state, __ATOMIC_ACQUIRE) == VGPU_EXEC_CLOSED)
		return mark_dead("the executor ended this session");
	return true;
}

/*
 * While waiting: an executor that died without closing the session shows
 * only in BAR0's STATUS (the host clears EXECUTOR_READY), so look there too.
 */
static bool alive_while_waiting(void)
{
	if (!vgpu_channel_alive())
		return false;
	if (!(ch.t.bar0[VGPU_REG_STATUS / 4] & VGPU_STATUS_EXECUTOR_READY))
		return mark_dead("the executor is gone");
	return true;
}

void vgpu_channel_forget(void)
{
	ch.dead = true;
}

size_t vgpu_max_tail(size_t args_len)
{
	size_t max = vgpu_sq_max_record(&ch.sq) - sizeof(struct vgpu_cmd_hdr);

	return args_len >= max ? 0 : max - args_len;
}

static CUresult submit(uint16_t op, uint16_t flags, uint32_t ctx, uint64_t tag, const void *args,
		       size_t len, const void *tail, size_t tail_len)
{
	uint32_t size = vgpu_rec_size(len + tail_len);
	struct vgpu_cmd_hdr *h;
	uint64_t pos, spins = 0;

	if (size > vgpu_sq_max_record(&ch.sq))
		return CUDA_ERROR_INVALID_VALUE;
	while (!(h = vgpu_sq_reserve(&ch.sq, size, &pos))) {
		/* Full: the executor is busy with what is there; make sure it runs. */
		if (++spins % 1024 == 0) {
			if (!alive_while_waiting())
				return CUDA_ERROR_DEVICE_UNAVAILABLE;
			ch.t.ops->doorbell(&ch.t);
			sched_yield();
		}
		cpu_relax();
	}
	h->size = size;
	h->opcode = op;
	h->flags = flags;
	h->tag = tag;
	h->ctx = ctx;
	h->reserved = 0;
	if (len)
		memcpy(h + 1, args, len);
	if (tail_len)
		memcpy((uint8_t *)(h + 1) + len, tail, tail_len);
	if (vgpu_sq_commit(&ch.sq, h, pos))
		ch.t.ops->doorbell(&ch.t);
	return CUDA_SUCCESS;
}

/* Hand every posted completion to its waiter; true if @self's arrived. */
static bool drain(struct vgpu_pending *self)
{
	struct vgpu_completion e;

	while (vgpu_cq_pop(&ch.cq, &e)) {
		pthread_mutex_lock(&ch.cq_lock);
		for (struct vgpu_pending *w = ch.waiters; w; w = w->next) {
			if (w->tag != e.tag)
				continue;
			w->ans.status = e.status;
			w->ans.len = e.len <= VGPU_CQ_INLINE ? e.len : VGPU_CQ_INLINE;
			memcpy(w->ans.data, e.data, w->ans.len);
			__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
			break;
		}
		pthread_cond_broadcast(&ch.cq_cond);
		pthread_mutex_unlock(&ch.cq_lock);
	}
	return __atomic_load_n(&self->done, __ATOMIC_ACQUIRE);
}

/* As the polling thread: wait until @self is answered or the session dies. */
static void poll_for(struct vgpu_pending *self)
{
	uint64_t start = now_ns();

	while (!drain(self)) {
		if (now_ns() - start < SPIN_NS) {
			cpu_relax();
			continue;
		}
		vgpu_store32(&ch.ctrl->cq_need_irq, 1);
		vgpu_full_fence();
		if (!drain(self)) {
			int r = ch.t.ops->wait_irq(&ch.t, LIVENESS_MS);

			if (r < 0 || (r == 0 && !alive_while_waiting())) {
				ch.dead = true;
				vgpu_store32(&ch.ctrl->cq_need_irq, 0);
				return;
			}
		}
		vgpu_store32(&ch.ctrl->cq_need_irq, 0);
		start = now_ns();
	}
}

CUresult vgpu_call_begin(uint16_t op, uint16_t flags, uint32_t ctx, const void *args, size_t len,
			 const void *tail, size_t tail_len, struct vgpu_pending *p)
{
	CUresult r;

	memset(p, 0, sizeof(*p));
	if (!ch.open || ch.dead)
		return CUDA_ERROR_DEVICE_UNAVAILABLE;
	p->tag = __atomic_fetch_add(&ch.next_tag, 1, __ATOMIC_RELAXED);
	while (sem_wait(&ch.reply_slots) && errno == EINTR)
		;
	/* Registered before it is submitted, so its answer always finds it. */
	pthread_mutex_lock(&ch.cq_lock);
	p->next = ch.waiters;
	ch.waiters = p;
	pthread_mutex_unlock(&ch.cq_lock);
	p->begun = true;
	r = submit(op, flags | VGPU_CMD_F_REPLY, ctx, p->tag, args, len, tail, tail_len);
	if (r != CUDA_SUCCESS) {
		p->ans.status = r;
		p->done = true;
	}
	return r;
}

CUresult vgpu_call_end(struct vgpu_pending *p)
{
	if (!p->begun)
		return p->done ? (CUresult)p->ans.status : CUDA_ERROR_DEVICE_UNAVAILABLE;
	pthread_mutex_lock(&ch.cq_lock);
	while (!p->done && !ch.dead) {
		if (ch.polling) {
			pthread_cond_wait(&ch.cq_cond, &ch.cq_lock);
			continue;
		}
		ch.polling = true;
		pthread_mutex_unlock(&ch.cq_lock);
		poll_for(p);
		pthread_mutex_lock(&ch.cq_lock);
		ch.polling = false;
		pthread_cond_broadcast(&ch.cq_cond);
	}
	for (struct vgpu_pending **q = &ch.waiters; *q; q = &(*q)->next)
		if (*q == p) {
			*q = p->next;
			break;
		}
	pthread_mutex_unlock(&ch.cq_lock);
	sem_post(&ch.reply_slots);
	p->begun = false;
	return p->done ? (CUresult)p->ans.status : CUDA_ERROR_DEVICE_UNAVAILABLE;
}

CUresult vgpu_call(uint16_t op, uint16_t flags, uint32_t ctx, const void *args, size_t len,
		   const void *tail, size_t tail_len, struct vgpu_answer *ans)
{
	struct vgpu_pending p;
	CUresult r;

	if (!(flags & VGPU_CMD_F_REPLY)) {
		if (!ch.open || ch.dead)
			return CUDA_ERROR_DEVICE_UNAVAILABLE;
		return submit(op, flags, ctx, 0, args, len, tail, tail_len);
	}
	vgpu_call_begin(op, flags, ctx, args, len, tail, tail_len, &p);
	r = vgpu_call_end(&p);
	if (ans)
		*ans = p.ans;
	return r;
}

/* ---- bulk ---- */

uint64_t vgpu_bulk_max(void)
{
	return ch.bulk_size / 2;
}

void vgpu_bulk_lock(void)
{
	pthread_mutex_lock(&ch.bulk_lock);
}

void vgpu_bulk_unlock(void)
{
	pthread_mutex_unlock(&ch.bulk_lock);
}

/* Free the allocations at the head of the FIFO that are done with (under bulk_state). */
static void reclaim(void)
{
	uint64_t retired = vgpu_load_acquire(&ch.ctrl->bulk_retired);

	while (ch.slot_head != ch.slot_tail) {
		struct bulk_slot *s = &ch.slots[ch.slot_head % BULK_SLOTS];

		if (!(s->seq ? s->seq <= retired : s->done))
			break;
		ch.free_pos = s->end;
		ch.slot_head++;
	}
}

static bool bulk_alloc(uint64_t len, uint64_t seq, struct vgpu_bulk_buf *b)
{
	uint64_t waited = 0;

	if (len == 0 || len > vgpu_bulk_max())
		return false;
	pthread_mutex_lock(&ch.bulk_state);
	for (;;) {
		uint64_t pos = ch.alloc_pos, off = pos % ch.bulk_size;

		/* An allocation never wraps: skip the rest of the lap instead. */
		if (off + len > ch.bulk_size)
			pos += ch.bulk_size - off;
		reclaim();
		if (pos + len - ch.free_pos <= ch.bulk_size &&
		    ch.slot_tail - ch.slot_head < BULK_SLOTS) {
			struct bulk_slot *s = &ch.slots[ch.slot_tail % BULK_SLOTS];

			s->end = pos + len;
			s->seq = seq;
			s->done = false;
			b->slot = ch.slot_tail++;
			ch.alloc_pos = pos + len;
			b->ref.off = pos % ch.bulk_size;
			b->ref.len = len;
			b->ptr = ch.bulk + b->ref.off;
			b->seq = seq;
			pthread_mutex_unlock(&ch.bulk_state);
			return true;
		}
		/* The executor retires as its copies finish; give it a moment. */
		pthread_mutex_unlock(&ch.bulk_state);
		if (++waited % 256 == 0 && !alive_while_waiting())
			return false;
		if (waited < 64) {
			cpu_relax();
		} else {
			struct timespec ts = { 0, 20000 };

			nanosleep(&ts, NULL);
		}
		pthread_mutex_lock(&ch.bulk_state);
	}
}

bool vgpu_bulk_alloc_out(uint64_t len, struct vgpu_bulk_buf *b)
{
	return bulk_alloc(len, ch.next_seq++, b);
}

bool vgpu_bulk_alloc_in(uint64_t len, struct vgpu_bulk_buf *b)
{
	return bulk_alloc(len, 0, b);
}

void vgpu_bulk_free_in(struct vgpu_bulk_buf *b)
{
	pthread_mutex_lock(&ch.bulk_state);
	ch.slots[b->slot % BULK_SLOTS].done = true;
	reclaim();
	pthread_mutex_unlock(&ch.bulk_state);
}
