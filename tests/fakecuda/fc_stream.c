/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Streams and events, on the execution engine of fc_queue.c.  A created
 * stream has its queue from the start; the legacy (NULL) stream of a
 * context and the per-thread default stream of each thread in it get theirs
 * when first named.  An event is its most recent record: cuEventQuery
 * answers CUDA_ERROR_NOT_READY until that operation ran, cuStreamWaitEvent
 * waits for the record that was the most recent when it was called, and an
 * event never recorded is complete.  A record takes CLOCK_MONOTONIC when it
 * runs.
 *
 * Error codes follow cuda.h and, where it is vague, the real driver on an
 * H200: cuEventElapsedTime answers CUDA_ERROR_INVALID_HANDLE when either
 * event was never recorded or was created with CU_EVENT_DISABLE_TIMING
 * (and, as the real driver does, when the result pointer is NULL).  NULL
 * handles get the real driver's errors; forged and stale ones abort
 * (fc_forged).
 */
#include "fakecuda.h"

#include <stdlib.h>

struct fc_stream *fc_streams;
struct fc_event *fc_events;

static bool special_stream(CUstream s)
{
	return s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD;
}

static struct fc_stream *find_stream(CUstream h)
{
	for (struct fc_stream *x = fc_streams; x; x = x->next)
		if ((CUstream)x == h && x->magic == FC_MAGIC_STREAM)
			return x;
	return NULL;
}

/* The calling thread's per-thread default stream in @c, made when first needed. */
static struct fc_queue *per_thread_queue(struct fc_ctx *c)
{
	pthread_t self = pthread_self();

	for (struct fc_queue *q = c->queues; q; q = q->ctx_next)
		if (q->kind == FC_QUEUE_PER_THREAD && pthread_equal(q->owner, self))
			return q;
	/* blocking: it synchronises with the legacy stream, not with other streams */
	return fc_queue_new(c, FC_QUEUE_PER_THREAD, true);
}

CUresult fc_stream_resolve(const char *call, CUstream h, struct fc_stream **stream,
			   struct fc_ctx **ctx, struct fc_queue **queue)
{
	struct fc_stream *s = NULL;
	struct fc_queue *q = NULL;
	struct fc_ctx *c;
	CUresult r;

	if (!special_stream(h)) {
		if (!(s = find_stream(h)))
			return fc_forged(call, "stream", CUDA_ERROR_INVALID_HANDLE);
		/* a created stream dies with its context, so its context is live */
		c = s->ctx;
		if (fc_sticky)
			return fc_sticky;
		q = s->queue;
	} else {
		if ((r = fc_current(&c)))
			return r;
		if (queue) {
			if (h == CU_STREAM_PER_THREAD)
				q = per_thread_queue(c);
			else
				q = c->legacy ? c->legacy : (c->legacy = fc_queue_new(c, FC_QUEUE_LEGACY, false));
			if (!q)
				return CUDA_ERROR_OUT_OF_MEMORY;
		}
	}
	if (stream)
		*stream = s;
	if (ctx)
		*ctx = c;
	if (queue)
		*queue = q;
	return CUDA_SUCCESS;
}

/* NULL is an error the real driver answers; anything else not live is forged. */
static CUresult find_event(const char *call, CUevent h, struct fc_event **out)
{
	*out = NULL;
	if (!h)
		return CUDA_ERROR_INVALID_HANDLE;
	for (struct fc_event *x = fc_events; x; x = x->next) {
		if ((CUevent)x == h && x->magic == FC_MAGIC_EVENT) {
			*out = x;
			return CUDA_SUCCESS;
		}
	}
	return fc_forged(call, "event", CUDA_ERROR_INVALID_HANDLE);
}

/* ------------------------------------------------------------------ streams */

static CUresult stream_create(CUstream *ph, unsigned int flags, int priority)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!ph || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING))
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_current(&c)))
		return r;
	struct fc_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (!(s->queue = fc_queue_new(c, FC_QUEUE_CREATED, !(flags & CU_STREAM_NON_BLOCKING)))) {
		free(s);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	/* clamped to [-5, 0], the range cuCtxGetStreamPriorityRange reports (as on the H200) */
	if (priority > FC_STREAM_PRIO_LEAST)
		priority = FC_STREAM_PRIO_LEAST;
	if (priority < FC_STREAM_PRIO_GREATEST)
		priority = FC_STREAM_PRIO_GREATEST;
	s->magic = FC_MAGIC_STREAM;
	s->ctx = c;
	s->flags = flags;
	s->priority = priority;
	s->next = fc_streams;
	fc_streams = s;
	*ph = (CUstream)s;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority)
{
	FC_LOCKED(stream_create(phStream, flags, priority));
}

/* Either output may be NULL (documented); lower numbers are greater priorities. */
static CUresult ctx_get_stream_priority_range(int *least, int *greatest)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((r = fc_current(&c)))
		return r;
	if (least)
		*least = FC_STREAM_PRIO_LEAST;
	if (greatest)
		*greatest = FC_STREAM_PRIO_GREATEST;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority)
{
	FC_LOCKED(ctx_get_stream_priority_range(leastPriority, greatestPriority));
}

/* Returns at once; work still queued runs, then the queue goes (cuda.h). */
static CUresult stream_destroy(CUstream h)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (special_stream(h))
		return CUDA_ERROR_INVALID_HANDLE;
	for (struct fc_stream **pp = &fc_streams; *pp; pp = &(*pp)->next) {
		struct fc_stream *s = *pp;
		if ((CUstream)s == h && s->magic == FC_MAGIC_STREAM) {
			*pp = s->next;
			fc_queue_orphan(s->queue);
			s->magic = 0;
			free(s);
			return CUDA_SUCCESS;
		}
	}
	return fc_forged("cuStreamDestroy", "stream", CUDA_ERROR_INVALID_HANDLE);
}

FC_EXPORT CUresult cuStreamDestroy_v2(CUstream hStream)
{
	FC_LOCKED(stream_destroy(hStream));
}

static CUresult stream_synchronize(CUstream h)
{
	struct fc_queue *q;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve("cuStreamSynchronize", h, NULL, NULL, &q)))
		return r;
	fc_queue_sync(q);
	return fc_sticky;
}

FC_EXPORT CUresult cuStreamSynchronize(CUstream hStream)
{
	FC_LOCKED(stream_synchronize(hStream));
}

static CUresult stream_query(CUstream h)
{
	struct fc_queue *q;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve("cuStreamQuery", h, NULL, NULL, &q)))
		return r;
	return fc_queue_busy(q) ? CUDA_ERROR_NOT_READY : CUDA_SUCCESS;
}

FC_EXPORT CUresult cuStreamQuery(CUstream hStream)
{
	FC_LOCKED(stream_query(hStream));
}

/* The NULL and per-thread streams were created without flags. */
static CUresult stream_get_flags(CUstream h, unsigned *flags)
{
	struct fc_stream *s;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve("cuStreamGetFlags", h, &s, NULL, NULL)))
		return r;
	if (!flags)
		return CUDA_ERROR_INVALID_VALUE;
	*flags = s ? s->flags : CU_STREAM_DEFAULT;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuStreamGetFlags(CUstream hStream, unsigned int *flags)
{
	FC_LOCKED(stream_get_flags(hStream, flags));
}

static CUresult stream_wait_event(CUstream h, CUevent he, unsigned int flags)
{
	static const char call[] = "cuStreamWaitEvent";
	struct fc_queue *q;
	struct fc_event *e;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve(call, h, NULL, NULL, &q)) || (r = find_event(call, he, &e)))
		return r;
	if (flags == CU_EVENT_WAIT_EXTERNAL)	/* only meaningful while capturing, which never happens here */
		return CUDA_ERROR_ILLEGAL_STATE;
	if (flags != CU_EVENT_WAIT_DEFAULT)
		return CUDA_ERROR_INVALID_VALUE;
	/* the record as of now; a later cuEventRecord does not move this wait */
	if (!e->last || e->last->done)
		return CUDA_SUCCESS;
	struct fc_op *op = fc_op_new(FC_OP_WAIT, call);
	if (!op)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((r = fc_op_depend(op, e->last))) {
		fc_op_unref(op);
		return r;
	}
	return fc_submit(q, op, false);
}

FC_EXPORT CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
	FC_LOCKED(stream_wait_event(hStream, hEvent, Flags));
}

/* ------------------------------------------------------------------ events */

#define FC_EVENT_FLAGS (CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS)

static CUresult event_create(CUevent *ph, unsigned int flags)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!ph || (flags & ~FC_EVENT_FLAGS))
		return CUDA_ERROR_INVALID_VALUE;
	/* documented: an interprocess event must not take timestamps */
	if ((flags & CU_EVENT_INTERPROCESS) && !(flags & CU_EVENT_DISABLE_TIMING))
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_current(&c)))
		return r;
	struct fc_event *e = calloc(1, sizeof(*e));
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	e->magic = FC_MAGIC_EVENT;
	e->ctx = c;
	e->flags = flags;
	e->next = fc_events;
	fc_events = e;
	*ph = (CUevent)e;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
	FC_LOCKED(event_create(phEvent, Flags));
}

/* Returns at once; a record still queued runs all the same (cuda.h). */
static CUresult event_destroy(CUevent h)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!h)
		return CUDA_ERROR_INVALID_HANDLE;
	for (struct fc_event **pp = &fc_events; *pp; pp = &(*pp)->next) {
		struct fc_event *e = *pp;
		if ((CUevent)e == h && e->magic == FC_MAGIC_EVENT) {
			*pp = e->next;
			if (e->last)
				fc_op_unref(e->last);
			e->magic = 0;
			free(e);
			return CUDA_SUCCESS;
		}
	}
	return fc_forged("cuEventDestroy", "event", CUDA_ERROR_INVALID_HANDLE);
}

FC_EXPORT CUresult cuEventDestroy_v2(CUevent hEvent)
{
	FC_LOCKED(event_destroy(hEvent));
}

CUresult fc_event_record(const char *call, CUevent h, CUstream s)
{
	struct fc_queue *q;
	struct fc_event *e;
	CUresult r = fc_check_init();

	if (r || (r = find_event(call, h, &e)) || (r = fc_stream_resolve(call, s, NULL, NULL, &q)))
		return r;
	struct fc_op *op = fc_op_new(FC_OP_RECORD, call);
	if (!op)
		return CUDA_ERROR_OUT_OF_MEMORY;
	op->refs++;	/* the event's */
	if ((r = fc_submit(q, op, false))) {
		fc_op_unref(op);	/* fc_submit dropped the caller's */
		return r;
	}
	if (e->last)
		fc_op_unref(e->last);
	e->last = op;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuEventRecord(CUevent hEvent, CUstream hStream)
{
	FC_LOCKED(fc_event_record("cuEventRecord", hEvent, hStream));
}

static CUresult event_synchronize(CUevent h)
{
	struct fc_event *e;
	CUresult r = fc_check_init();

	if (r || (r = find_event("cuEventSynchronize", h, &e)))
		return r;
	struct fc_op *op = e->last;	/* the event may go while this waits */
	if (op) {
		op->refs++;
		fc_op_wait(op);
		fc_op_unref(op);
	}
	return fc_sticky;
}

FC_EXPORT CUresult cuEventSynchronize(CUevent hEvent)
{
	FC_LOCKED(event_synchronize(hEvent));
}

static CUresult event_query(CUevent h)
{
	struct fc_event *e;
	CUresult r = fc_check_init();

	if (r || (r = find_event("cuEventQuery", h, &e)))
		return r;
	if (fc_sticky)
		return fc_sticky;
	return e->last && !e->last->done ? CUDA_ERROR_NOT_READY : CUDA_SUCCESS;
}

FC_EXPORT CUresult cuEventQuery(CUevent hEvent)
{
	FC_LOCKED(event_query(hEvent));
}

static CUresult event_elapsed(float *ms, CUevent hs, CUevent he)
{
	static const char call[] = "cuEventElapsedTime";
	struct fc_event *s, *e;
	CUresult r = fc_check_init();

	if (r || (r = find_event(call, hs, &s)) || (r = find_event(call, he, &e)))
		return r;
	if (!ms)
		return CUDA_ERROR_INVALID_HANDLE;	/* what the real driver answers */
	if ((s->flags | e->flags) & CU_EVENT_DISABLE_TIMING)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!s->last || !e->last)
		return CUDA_ERROR_INVALID_HANDLE;
	if (fc_sticky)
		return fc_sticky;
	if (!s->last->done || !e->last->done)	/* cuda.h: recorded, not yet complete */
		return CUDA_ERROR_NOT_READY;
	const struct timespec *a = &s->last->when, *b = &e->last->when;
	double d = (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
	*ms = (float)d;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	FC_LOCKED(event_elapsed(pMilliseconds, hStart, hEnd));
}
