// SPDX-License-Identifier: MIT
/* Waits the worker polls instead of blocking, their wake-ups, and messages to the guest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch.h"
#include "waits.h"

/* The eventfd the helper streams' host functions write (one session per worker process). */
static int notify_fd = -1;

void vgpu_waits_set_notify_fd(int fd)
{
	notify_fd = fd;
}

struct vgpu_wait *vgpu_wait_new(enum vgpu_wait_kind kind, struct vgpu_xctx *x, uint32_t nev)
{
	struct vgpu_wait *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->kind = kind;
	w->ctx_id = x ? (uint32_t)x->id : 0;
	w->evcap = nev;
	w->ev = w->inline_ev;
	if (nev > VGPU_WAIT_INLINE_EVENTS) {
		w->ev = calloc(nev, sizeof(*w->ev));
		if (!w->ev) {
			free(w);
			return NULL;
		}
	}
	return w;
}

static void free_wait(struct vgpu_wait *w)
{
	if (w->ev != w->inline_ev)
		free(w->ev);
	free(w);
}

CUresult vgpu_wait_record(struct vgpu_session *s, struct vgpu_wait *w, struct vgpu_xctx *x,
			  struct vgpu_xstream *xs)
{
	CUevent ev;
	CUresult r;

	if (w->nev == w->evcap)
		return CUDA_ERROR_INVALID_VALUE;
	/*
	 * A context that faulted refuses new events with its sticky error: that
	 * error is the answer (a synchronise must say ILLEGAL_ADDRESS, not
	 * OUT_OF_MEMORY), whether the fault came before or after this call.
	 */
	r = vgpu_event_get(s, x, &ev);
	if (r != CUDA_SUCCESS)
		return r;
	r = s->drv.EventRecord(ev, xs->h);
	if (r != CUDA_SUCCESS) {
		vgpu_event_put(s, x, ev);
		return r;
	}
	/* One stream: a later wait on it cannot be ready before this one (see poll). */
	w->xs = w->nev == 0 ? xs : NULL;
	w->ev[w->nev++] = ev;
	return CUDA_SUCCESS;
}

void vgpu_wait_queue(struct vgpu_session *s, struct vgpu_wait *w)
{
	w->next = NULL;
	*s->waits_tail = w;
	s->waits_tail = &w->next;
	s->nwaits++;
	if (w->kind == VGPU_WAIT_ANSWER || w->kind == VGPU_WAIT_MEM_FREE)
		s->nwaits_answer++;
}

void vgpu_wait_discard(struct vgpu_session *s, struct vgpu_wait *w)
{
	struct vgpu_xctx *x = vgpu_xctx_of(s, w->ctx_id);

	for (uint32_t i = 0; i < w->nev; i++)
		if (x)
			vgpu_event_put(s, x, w->ev[i]);
	if (w->borrowed)
		vgpu_xevent_unpoll(s, w->borrowed);
	free_wait(w);
}

static void answer(struct vgpu_session *s, struct vgpu_wait *w, CUresult r)
{
	if (r == CUDA_SUCCESS && w->flags & VGPU_CMD_F_REPORT_ASYNC)
		r = vgpu_take_error(s, w->thread, w->ctx_id, w->stream);
	if (w->flags & VGPU_CMD_F_REPLY)
		vgpu_session_reply(s, w->tag, (uint32_t)r, NULL, 0);
	else if (r != CUDA_SUCCESS)
		vgpu_keep_error(s, w->thread, w->ctx_id, w->stream, r);
}

static void complete(struct vgpu_session *s, struct vgpu_wait *w)
{
	CUresult r = w->status ? w->status : w->err;

	switch (w->kind) {
	case VGPU_WAIT_ANSWER:
		/* The stage fallback: the bytes reach bulk only once the copy is over. */
		if (r == CUDA_SUCCESS && w->copy_len)
			memcpy(w->copy_dst, w->copy_src, w->copy_len);
		answer(s, w, r);
		break;
	case VGPU_WAIT_RETIRE:
		vgpu_session_retire_now(s, w->slot, w->seq);
		break;
	case VGPU_WAIT_HOST_FUNC:
		/* A callback hears the stream's status; a host function runs regardless. */
		w->msg.status = (uint32_t)w->err;
		vgpu_msg_send(s, VGPU_MSG_RUN_HOST_FUNC, &w->msg, sizeof(w->msg));
		break;
	case VGPU_WAIT_MEM_FREE:
		if (r == CUDA_SUCCESS)
			r = vgpu_mem_free_now(s, w->dptr);
		answer(s, w, r);
		break;
	}
}

/* True when every event of @w completed (each is returned to the pool as it does). */
static bool events_done(struct vgpu_session *s, struct vgpu_wait *w)
{
	struct vgpu_xctx *x = NULL;

	if (w->xs && w->xs->blocked_pass == s->pass)
		return false;
	while (w->nev) {
		CUevent ev = w->ev[w->nev - 1];
		CUresult q = s->drv.EventQuery(ev);

		if (q == CUDA_ERROR_NOT_READY) {
			/* Later waits on this stream come after this one: skip them this pass. */
			if (w->xs)
				w->xs->blocked_pass = s->pass;
			return false;
		}
		if (q != CUDA_SUCCESS && !w->err)
			w->err = q;
		if (!x)
			x = vgpu_xctx_of(s, w->ctx_id);
		if (x)
			vgpu_event_put(s, x, ev);
		w->nev--;
	}
	if (w->borrowed) {
		CUresult q = s->drv.EventQuery(w->borrowed->h);

		if (q == CUDA_ERROR_NOT_READY)
			return false;
		if (q != CUDA_SUCCESS && !w->err)
			w->err = q;
		vgpu_xevent_unpoll(s, w->borrowed);
		w->borrowed = NULL;
	}
	return true;
}

static void unlink_done(struct vgpu_session *s, struct vgpu_wait **pp, struct vgpu_wait *w)
{
	*pp = w->next;
	if (s->waits_tail == &w->next)
		s->waits_tail = pp;
	s->nwaits--;
	if (w->kind == VGPU_WAIT_ANSWER || w->kind == VGPU_WAIT_MEM_FREE)
		s->nwaits_answer--;
}

bool vgpu_waits_poll(struct vgpu_session *s)
{
	struct vgpu_wait **pp = &s->waits, *w;
	bool any = false;

	if (!s->waits)
		return false;
	s->pass++;
	while ((w = *pp)) {
		if (!events_done(s, w)) {
			pp = &w->next;
			continue;
		}
		unlink_done(s, pp, w);
		complete(s, w);
		free_wait(w);
		any = true;
	}
	return any;
}

void vgpu_session_drain(struct vgpu_session *s)
{
	while (s->waits) {
		for (struct vgpu_wait *w = s->waits; w; w = w->next) {
			for (uint32_t i = 0; i < w->nev; i++)
				s->drv.EventSynchronize(w->ev[i]);
			if (w->borrowed)
				s->drv.EventSynchronize(w->borrowed->h);
		}
		vgpu_waits_poll(s);
		vgpu_msgs_flush(s);
	}
}

static void notify_cb(void *arg)
{
	uint64_t one = 1;

	/* On the driver's callback thread: no CUDA call, nothing that blocks. */
	__atomic_store_n((int *)arg, 0, __ATOMIC_RELEASE);
	if (notify_fd >= 0 && write(notify_fd, &one, sizeof(one)) < 0) {
		/* A full counter already wakes the worker. */
	}
}

/* A helper stream of @x whose last wake-up already fired, or a new one. */
static struct vgpu_helper *free_helper(struct vgpu_session *s, struct vgpu_xctx *x)
{
	for (uint32_t i = 0; i < x->nhelpers; i++) {
		int idle = 0;

		if (__atomic_compare_exchange_n(&x->helpers[i].busy, &idle, 1, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return &x->helpers[i];
	}
	if (x->nhelpers == VGPU_HELPERS_MAX)
		return NULL;
	/* Non-blocking: it must not wait for the legacy stream, nor hold it up. */
	if (s->drv.StreamCreateWithPriority(&x->helpers[x->nhelpers].h, CU_STREAM_NON_BLOCKING,
					    0) != CUDA_SUCCESS)
		return NULL;
	x->helpers[x->nhelpers].busy = 1;
	return &x->helpers[x->nhelpers++];
}

static bool arm(struct vgpu_session *s, struct vgpu_wait *w)
{
	struct vgpu_xctx *x = vgpu_xctx_of(s, w->ctx_id);
	struct vgpu_helper *h;
	bool ok = true;

	if (!x || x->dead)
		return false;
	if (s->current != x->h)
		s->drv.CtxSetCurrent(x->h);
	h = free_helper(s, x);
	if (!h) {
		ok = false;
		goto out;
	}
	for (uint32_t i = 0; i < w->nev && ok; i++)
		ok = s->drv.StreamWaitEvent(h->h, w->ev[i], 0) == CUDA_SUCCESS;
	if (ok && w->borrowed)
		ok = s->drv.StreamWaitEvent(h->h, w->borrowed->h, 0) == CUDA_SUCCESS;
	if (ok)
		ok = s->drv.LaunchHostFunc(h->h, notify_cb, &h->busy) == CUDA_SUCCESS;
	if (!ok)
		/* Nothing will clear it; a stream left waiting is only a stream, not a leak. */
		__atomic_store_n(&h->busy, 0, __ATOMIC_RELEASE);
	w->armed = ok;
out:
	if (s->current != x->h)
		s->drv.CtxSetCurrent(s->current);
	return ok;
}

bool vgpu_waits_arm(struct vgpu_session *s)
{
	bool all = true;

	s->arm_round++;
	for (struct vgpu_wait *w = s->waits; w; w = w->next) {
		/*
		 * Waits on one stream complete in the order they were queued:
		 * the first pending one wakes the worker, which then arms the
		 * next.  So a stream takes one helper, however many chunks wait.
		 */
		if (w->xs) {
			if (w->xs->armed_round == s->arm_round)
				continue;
			w->xs->armed_round = s->arm_round;
		}
		if (!w->armed && !arm(s, w))
			all = false;
	}
	return all;
}

void vgpu_waits_abort_ctx(struct vgpu_session *s, uint32_t ctx_id, CUresult err,
			  bool driver_gone)
{
	struct vgpu_xctx *x = vgpu_xctx_of(s, ctx_id);
	struct vgpu_wait **pp = &s->waits, *w;

	while ((w = *pp)) {
		if (w->ctx_id != ctx_id) {
			pp = &w->next;
			continue;
		}
		unlink_done(s, pp, w);
		/* Events of a context that went are forgotten, not destroyed. */
		for (uint32_t i = 0; i < w->nev; i++)
			if (!driver_gone && x)
				vgpu_event_put(s, x, w->ev[i]);
		w->nev = 0;
		if (w->borrowed) {
			struct vgpu_xevent *ev = w->borrowed;

			if (--ev->polled == 0 && ev->destroyed) {
				if (!driver_gone)
					s->drv.EventDestroy(ev->h);
				free(ev);
			}
			w->borrowed = NULL;
		}
		if (!w->err)
			w->err = err;
		if (w->kind == VGPU_WAIT_MEM_FREE)
			w->kind = VGPU_WAIT_ANSWER;
		complete(s, w);
		free_wait(w);
	}
}

void vgpu_waits_forget_stream(struct vgpu_session *s, struct vgpu_xstream *xs)
{
	for (struct vgpu_wait *w = s->waits; w; w = w->next)
		if (w->xs == xs)
			w->xs = NULL;
}

/* ---- messages ---- */

/* Messages the guest has not consumed yet, judged from its published head. */
static uint32_t msgs_outstanding(struct vgpu_session *s)
{
	uint64_t head = vgpu_load_acquire(&s->ctrl->cq_head);

	/* An impossible head consumes nothing: the budget then stays used up. */
	if (head > s->cq.tail)
		head = 0;
	while (s->msg_head != s->msg_tail && s->msg_pos[s->msg_head % 64] < head)
		s->msg_head++;
	return s->msg_tail - s->msg_head;
}

static bool post_msg(struct vgpu_session *s, uint32_t type, const void *data, uint32_t len)
{
	if (msgs_outstanding(s) >= s->msg_budget)
		return false;
	s->msg_pos[s->msg_tail++ % 64] = s->cq.tail;
	vgpu_session_reply(s, VGPU_TAG_MESSAGE | s->cq.tail, type, data, len);
	return true;
}

void vgpu_msg_send(struct vgpu_session *s, uint32_t type, const void *data, uint32_t len)
{
	struct vgpu_msg_queued *m;

	if (!s->msgs && post_msg(s, type, data, len))
		return;
	m = calloc(1, sizeof(*m));
	if (!m) {
		fprintf(stderr, "vgpu-executor: session %lu: out of memory for a message\n",
			(unsigned long)s->ch->session_id);
		s->closing = true;
		return;
	}
	m->type = type;
	m->len = len < VGPU_CQ_INLINE ? len : VGPU_CQ_INLINE;
	memcpy(m->data, data, m->len);
	*s->msgs_tail = m;
	s->msgs_tail = &m->next;
}

bool vgpu_msgs_flush(struct vgpu_session *s)
{
	bool any = false;

	while (s->msgs && post_msg(s, s->msgs->type, s->msgs->data, s->msgs->len)) {
		struct vgpu_msg_queued *m = s->msgs;

		s->msgs = m->next;
		if (!s->msgs)
			s->msgs_tail = &s->msgs;
		free(m);
		any = true;
	}
	return any;
}
