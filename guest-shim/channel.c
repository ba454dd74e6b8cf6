// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel.h"
#include "log.h"
#include "vgpu/regs.h"

/* How long a waiting thread spins on the completion ring before it sleeps. */
#define SPIN_NS		(50 * 1000)
/* How often a sleeping thread looks whether the session is still there. */
#define LIVENESS_MS	200
/* A copy's chunk: large enough for DMA to run at speed, small enough to overlap. */
#define CHUNK_MAX	(1u << 20)

enum slot_state {
	SLOT_FREE = 0,
	SLOT_HELD,	/* the guest's: being filled, or answers being read */
	SLOT_OUT,	/* the executor's until it retires the slot's sequence number */
	SLOT_OUT_TAIL,	/* a later slot of an outgoing run: freed with the run's first */
};

struct bulk_slot {
	uint8_t state;
	uint32_t run;	/* slots in the allocation starting here */
	uint64_t seq;
};

static struct {
	bool open;
	bool dead;
	bool sync_mode;
	bool host_funcs;
	struct vgpu_transport t;
	struct vgpu_channel_ctrl *ctrl;
	struct vgpu_sq_producer sq;
	uint64_t next_tag;

	/* Waiters, the interrupt sleeper and the condition others sleep on. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool irq_sleeper;
	struct vgpu_pending *waiters;
	sem_t reply_slots;	/* answers outstanding at most: the ring less the message budget */
	/* The completion ring's consumer: whoever holds pop_lock drains for everyone. */
	pthread_mutex_t pop_lock;
	struct vgpu_cq_consumer cq;
	vgpu_msg_handler handler;

	/* Bulk: slots, allocated in runs, in any order. */
	pthread_mutex_t bulk_lock;
	uint8_t *bulk;
	uint64_t bulk_size, slot_size;
	uint32_t nslots;
	struct bulk_slot slots[VGPU_BULK_SLOTS_MAX];
} ch = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.pop_lock = PTHREAD_MUTEX_INITIALIZER,
	.bulk_lock = PTHREAD_MUTEX_INITIALIZER,
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

/* ---- threads ---- */

static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;
static __thread uint32_t my_thread;
static uint32_t next_thread = 1;

static void submit_thread_exit(uint32_t thread);

/* A thread that used the shim ends: its per-thread default streams go too. */
static void thread_gone(void *value)
{
	submit_thread_exit((uint32_t)(uintptr_t)value);
}

static void make_thread_key(void)
{
	pthread_key_create(&thread_key, thread_gone);
}

uint32_t vgpu_thread_id(void)
{
	if (!my_thread) {
		my_thread = __atomic_fetch_add(&next_thread, 1, __ATOMIC_RELAXED);
		pthread_once(&thread_key_once, make_thread_key);
		pthread_setspecific(thread_key, (void *)(uintptr_t)my_thread);
	}
	return my_thread;
}

/* ---- opening ---- */

uint8_t *vgpu_channel_bar1_range(uint64_t off, uint64_t len)
{
	if (!ch.t.bar1 || off > ch.t.bar1_size || len > ch.t.bar1_size - off)
		return NULL;
	return ch.t.bar1 + off;
}

int vgpu_channel_open(char *err, size_t err_len)
{
	const struct vgpu_layout *l;
	const char *sync = getenv("VGPU_SYNC");
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
	vgpu_bulk_geometry(ch.bulk_size, &ch.slot_size, &ch.nslots);
	memset(ch.slots, 0, sizeof(ch.slots));
	ch.next_tag = 1;
	ch.sync_mode = sync && *sync && strcmp(sync, "0");
	sem_init(&ch.reply_slots, 0, l->cq_entries - vgpu_msg_budget(l->cq_entries));
	ch.open = true;
	return 0;
}

void vgpu_channel_hello_done(uint16_t exec_minor, uint32_t features)
{
	ch.host_funcs = exec_minor >= 1 && (features & VGPU_FEATURE_HOST_FUNC);
}

bool vgpu_channel_host_funcs(void)
{
	return ch.host_funcs;
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

/* ---- submission ---- */

static void mark_out(struct vgpu_bulk_buf *b, uint64_t seq);

/*
 * Put one record on the ring.  With @b, the record carries outgoing bulk
 * data: its sequence number is the record's seal, written at @seq_off in
 * the arguments, and @b turns into the executor's before the record is
 * published.
 */
static CUresult submit(uint16_t op, uint16_t flags, uint32_t ctx, uint32_t thread, uint64_t tag,
		       const void *args, size_t len, const void *tail, size_t tail_len,
		       size_t seq_off, struct vgpu_bulk_buf *b)
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
	h->thread = thread;
	if (len)
		memcpy(h + 1, args, len);
	if (tail_len)
		memcpy((uint8_t *)(h + 1) + len, tail, tail_len);
	if (b) {
		uint64_t seq = pos + 1;

		memcpy((uint8_t *)(h + 1) + seq_off, &seq, sizeof(seq));
		mark_out(b, seq);
	}
	if (vgpu_sq_commit(&ch.sq, h, pos))
		ch.t.ops->doorbell(&ch.t);
	return CUDA_SUCCESS;
}

static void submit_thread_exit(uint32_t thread)
{
	if (ch.open && !ch.dead)
		submit(VGPU_OP_THREAD_EXIT, 0, 0, thread, 0, NULL, 0, NULL, 0, 0, NULL);
}

/* ---- completions ---- */

void vgpu_channel_set_msg_handler(vgpu_msg_handler fn)
{
	__atomic_store_n(&ch.handler, fn, __ATOMIC_RELEASE);
}

/* Hand every posted completion to its waiter or the message handler. */
static void drain(void)
{
	struct vgpu_completion e;
	bool any = false;

	if (pthread_mutex_trylock(&ch.pop_lock))
		return;	/* someone else drains right now, for everyone */
	while (vgpu_cq_pop(&ch.cq, &e)) {
		uint32_t len = e.len <= VGPU_CQ_INLINE ? e.len : VGPU_CQ_INLINE;

		any = true;
		if (e.tag & VGPU_TAG_MESSAGE) {
			vgpu_msg_handler fn = __atomic_load_n(&ch.handler, __ATOMIC_ACQUIRE);

			/* In ring order, under the pop lock: the handler only queues. */
			if (fn)
				fn(e.status, e.data, len);
			else
				vgpu_log("a message of type %u came with no handler", e.status);
			continue;
		}
		pthread_mutex_lock(&ch.lock);
		for (struct vgpu_pending *w = ch.waiters; w; w = w->next) {
			if (w->tag != e.tag)
				continue;
			w->ans.status = e.status;
			w->ans.len = len;
			memcpy(w->ans.data, e.data, len);
			__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
			break;
		}
		pthread_mutex_unlock(&ch.lock);
	}
	pthread_mutex_unlock(&ch.pop_lock);
	if (any)
		vgpu_channel_kick();
}

void vgpu_channel_set_host_flag(uint32_t slot, uint64_t gen)
{
	if (slot < VGPU_HOST_FLAGS)
		vgpu_store_release(&ch.ctrl->host_flag[slot], gen);
}

void vgpu_channel_kick(void)
{
	pthread_mutex_lock(&ch.lock);
	pthread_cond_broadcast(&ch.cond);
	pthread_mutex_unlock(&ch.lock);
}

bool vgpu_channel_wait(bool (*ready)(void *arg), void *arg, bool irq)
{
	uint64_t start = now_ns();

	for (;;) {
		drain();
		if (ready(arg))
			return true;
		if (!ch.open || ch.dead)
			return false;
		if (!irq && now_ns() - start < SPIN_NS) {
			cpu_relax();
			continue;
		}
		pthread_mutex_lock(&ch.lock);
		if (!ch.irq_sleeper) {
			/* One thread sleeps on the interrupt; it wakes the others. */
			ch.irq_sleeper = true;
			pthread_mutex_unlock(&ch.lock);
			vgpu_store32(&ch.ctrl->cq_need_irq, 1);
			vgpu_full_fence();
			drain();
			if (!ready(arg)) {
				int r = ch.t.ops->wait_irq(&ch.t, LIVENESS_MS);

				if (r < 0 || (r == 0 && !alive_while_waiting()))
					ch.dead = true;
			}
			vgpu_store32(&ch.ctrl->cq_need_irq, 0);
			pthread_mutex_lock(&ch.lock);
			ch.irq_sleeper = false;
			pthread_cond_broadcast(&ch.cond);
			pthread_mutex_unlock(&ch.lock);
		} else {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += LIVENESS_MS * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&ch.cond, &ch.lock, &ts);
			pthread_mutex_unlock(&ch.lock);
			if (!alive_while_waiting())
				ch.dead = true;
		}
		start = now_ns();
	}
}

static CUresult begin(uint16_t op, uint16_t flags, uint32_t ctx, const void *args, size_t len,
		      const void *tail, size_t tail_len, size_t seq_off, struct vgpu_bulk_buf *b,
		      struct vgpu_pending *p)
{
	CUresult r;

	/* Registered before it is submitted, so its answer always finds it. */
	pthread_mutex_lock(&ch.lock);
	p->next = ch.waiters;
	ch.waiters = p;
	pthread_mutex_unlock(&ch.lock);
	p->begun = true;
	r = submit(op, flags | VGPU_CMD_F_REPLY, ctx, vgpu_thread_id(), p->tag, args, len, tail,
		   tail_len, seq_off, b);
	if (r != CUDA_SUCCESS) {
		p->ans.status = r;
		p->done = true;
	}
	return r;
}

CUresult vgpu_call_begin(uint16_t op, uint16_t flags, uint32_t ctx, const void *args, size_t len,
			 const void *tail, size_t tail_len, struct vgpu_pending *p)
{
	memset(p, 0, sizeof(*p));
	if (!ch.open || ch.dead)
		return CUDA_ERROR_DEVICE_UNAVAILABLE;
	p->tag = __atomic_fetch_add(&ch.next_tag, 1, __ATOMIC_RELAXED);
	while (sem_wait(&ch.reply_slots) && errno == EINTR)
		;
	return begin(op, flags, ctx, args, len, tail, tail_len, 0, NULL, p);
}

CUresult vgpu_call_try_begin(uint16_t op, uint16_t flags, uint32_t ctx, const void *args,
			     size_t len, struct vgpu_pending *p)
{
	memset(p, 0, sizeof(*p));
	if (!ch.open || ch.dead)
		return CUDA_ERROR_DEVICE_UNAVAILABLE;
	if (sem_trywait(&ch.reply_slots))
		return CUDA_ERROR_NOT_READY;
	p->tag = __atomic_fetch_add(&ch.next_tag, 1, __ATOMIC_RELAXED);
	return begin(op, flags, ctx, args, len, NULL, 0, 0, NULL, p);
}

static bool answered(void *arg)
{
	return __atomic_load_n(&((struct vgpu_pending *)arg)->done, __ATOMIC_ACQUIRE);
}

CUresult vgpu_call_end(struct vgpu_pending *p)
{
	if (!p->begun)
		return p->done ? (CUresult)p->ans.status : CUDA_ERROR_DEVICE_UNAVAILABLE;
	vgpu_channel_wait(answered, p, false);
	pthread_mutex_lock(&ch.lock);
	for (struct vgpu_pending **q = &ch.waiters; *q; q = &(*q)->next)
		if (*q == p) {
			*q = p->next;
			break;
		}
	pthread_mutex_unlock(&ch.lock);
	sem_post(&ch.reply_slots);
	p->begun = false;
	return answered(p) ? (CUresult)p->ans.status : CUDA_ERROR_DEVICE_UNAVAILABLE;
}

CUresult vgpu_call(uint16_t op, uint16_t flags, uint32_t ctx, const void *args, size_t len,
		   const void *tail, size_t tail_len, struct vgpu_answer *ans)
{
	struct vgpu_pending p;
	CUresult r;

	if (ch.sync_mode)
		flags |= VGPU_CMD_F_REPLY;
	if (!(flags & VGPU_CMD_F_REPLY)) {
		if (!ch.open || ch.dead)
			return CUDA_ERROR_DEVICE_UNAVAILABLE;
		return submit(op, flags, ctx, vgpu_thread_id(), 0, args, len, tail, tail_len, 0,
			      NULL);
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
	uint32_t half = ch.nslots / 2;

	return (uint64_t)(half ? half : 1) * ch.slot_size;
}

uint64_t vgpu_bulk_chunk(void)
{
	uint64_t max = vgpu_bulk_max(), c = CHUNK_MAX;

	if (c < ch.slot_size)
		c = ch.slot_size;
	/* At most a quarter of the area, so several chunks are in flight at once. */
	if (ch.nslots >= 4 && c > (ch.nslots / 4) * ch.slot_size)
		c = (ch.nslots / 4) * ch.slot_size;
	return c < max ? c : max;
}

uint64_t vgpu_bulk_slot_size(void)
{
	return ch.slot_size;
}

uint32_t vgpu_bulk_slots(void)
{
	return ch.nslots;
}

/* Give back the runs the executor has retired (under bulk_lock). */
static void reclaim(void)
{
	for (uint32_t i = 0; i < ch.nslots; i++) {
		struct bulk_slot *s = &ch.slots[i];

		if (s->state != SLOT_OUT ||
		    vgpu_load_acquire(&ch.ctrl->bulk_slot_retired[i]) != s->seq)
			continue;
		for (uint32_t j = 0; j < s->run; j++)
			ch.slots[i + j].state = SLOT_FREE;
	}
}

/* The first run of @k free slots, or -1 (under bulk_lock). */
static int find_run(uint32_t k)
{
	for (uint32_t i = 0, n = 0; i < ch.nslots; i++) {
		n = ch.slots[i].state == SLOT_FREE ? n + 1 : 0;
		if (n == k)
			return (int)(i + 1 - k);
	}
	return -1;
}

bool vgpu_bulk_alloc(uint64_t len, bool wait, struct vgpu_bulk_buf *b)
{
	uint32_t k = (uint32_t)((len + ch.slot_size - 1) / ch.slot_size);
	uint64_t waited = 0;

	if (len == 0 || len > vgpu_bulk_max())
		return false;
	for (;;) {
		int first;

		pthread_mutex_lock(&ch.bulk_lock);
		first = find_run(k);
		if (first < 0) {
			reclaim();
			first = find_run(k);
		}
		if (first >= 0) {
			for (uint32_t j = 0; j < k; j++)
				ch.slots[first + j].state = SLOT_HELD;
			ch.slots[first].run = k;
			pthread_mutex_unlock(&ch.bulk_lock);
			b->slot = (uint32_t)first;
			b->nslots = k;
			b->ref.off = (uint64_t)first * ch.slot_size;
			b->ref.len = len;
			b->ptr = ch.bulk + b->ref.off;
			return true;
		}
		pthread_mutex_unlock(&ch.bulk_lock);
		if (!wait)
			return false;
		/* The executor retires slots as its copies finish: it needs no doorbell for that. */
		if (++waited % 256 == 0 && !alive_while_waiting())
			return false;
		if (waited < 64) {
			cpu_relax();
		} else {
			struct timespec ts = { 0, waited < 1024 ? 20000 : 200000 };

			nanosleep(&ts, NULL);
		}
	}
}

void vgpu_bulk_free(struct vgpu_bulk_buf *b)
{
	pthread_mutex_lock(&ch.bulk_lock);
	for (uint32_t j = 0; j < b->nslots; j++)
		ch.slots[b->slot + j].state = SLOT_FREE;
	pthread_mutex_unlock(&ch.bulk_lock);
}

static void mark_out(struct vgpu_bulk_buf *b, uint64_t seq)
{
	pthread_mutex_lock(&ch.bulk_lock);
	ch.slots[b->slot].seq = seq;
	ch.slots[b->slot].state = SLOT_OUT;
	/*
	 * Only the first slot of a run is retired under its number; a later
	 * slot must never be judged by a number it kept from an earlier run.
	 */
	for (uint32_t j = 1; j < b->nslots; j++)
		ch.slots[b->slot + j].state = SLOT_OUT_TAIL;
	pthread_mutex_unlock(&ch.bulk_lock);
}

CUresult vgpu_call_bulk_out(uint16_t op, uint16_t flags, uint32_t ctx, void *args, size_t len,
			    size_t seq_off, struct vgpu_bulk_buf *b)
{
	struct vgpu_pending p;
	CUresult r;

	if (ch.sync_mode)
		flags |= VGPU_CMD_F_REPLY;
	if (!ch.open || ch.dead) {
		vgpu_bulk_free(b);
		return CUDA_ERROR_DEVICE_UNAVAILABLE;
	}
	if (!(flags & VGPU_CMD_F_REPLY)) {
		r = submit(op, flags, ctx, vgpu_thread_id(), 0, args, len, NULL, 0, seq_off, b);
		if (r != CUDA_SUCCESS)
			vgpu_bulk_free(b);
		return r;
	}
	/*
	 * Waiting for an answer slot while holding bulk is safe: a thread that
	 * holds answer slots never waits for bulk (it only tries), so it always
	 * goes on to collect them.  Resources are taken in one order only.
	 */
	memset(&p, 0, sizeof(p));
	p.tag = __atomic_fetch_add(&ch.next_tag, 1, __ATOMIC_RELAXED);
	while (sem_wait(&ch.reply_slots) && errno == EINTR)
		;
	r = begin(op, flags, ctx, args, len, NULL, 0, seq_off, b, &p);
	if (r != CUDA_SUCCESS)
		vgpu_bulk_free(b);
	return vgpu_call_end(&p);
}
