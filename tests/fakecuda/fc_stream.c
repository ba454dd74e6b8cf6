/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Streams and events.  All work runs when it is submitted, so a stream is
 * always idle and an event is complete as soon as it is recorded; an event
 * records CLOCK_MONOTONIC.  Error codes follow cuda.h and, where it is
 * vague, the real driver on an H200: cuEventElapsedTime answers
 * CUDA_ERROR_INVALID_HANDLE when either event was never recorded or was
 * created with CU_EVENT_DISABLE_TIMING (and, as the real driver does, when
 * the result pointer is NULL).
 */
#include "fakecuda.h"

#include <stdlib.h>

struct fc_stream *fc_streams;
struct fc_event *fc_events;

CUresult fc_check_stream(CUstream s, struct fc_stream **out)
{
	if (out)
		*out = NULL;
	if (s == NULL || s == CU_STREAM_LEGACY || s == CU_STREAM_PER_THREAD)
		return CUDA_SUCCESS;
	for (struct fc_stream *x = fc_streams; x; x = x->next) {
		if ((CUstream)x == s && x->magic == FC_MAGIC_STREAM) {
			if (out)
				*out = x;
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_INVALID_HANDLE;
}

CUresult fc_stream_ctx(CUstream s, struct fc_stream **stream, struct fc_ctx **ctx)
{
	struct fc_stream *x;
	CUresult r = fc_check_stream(s, &x);

	if (r)
		return r;
	if (stream)
		*stream = x;
	if (!x)
		return fc_current(ctx);
	/* a created stream dies with its context, so its context is live */
	*ctx = x->ctx;
	return fc_sticky;
}

static struct fc_event *find_event(CUevent e)
{
	for (struct fc_event *x = fc_events; x; x = x->next)
		if ((CUevent)x == e && x->magic == FC_MAGIC_EVENT)
			return x;
	return NULL;
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

static CUresult stream_destroy(CUstream h)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	for (struct fc_stream **pp = &fc_streams; *pp; pp = &(*pp)->next) {
		struct fc_stream *s = *pp;
		if ((CUstream)s == h && s->magic == FC_MAGIC_STREAM) {
			*pp = s->next;
			s->magic = 0;
			free(s);
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_INVALID_HANDLE;	/* also NULL and the special streams */
}

FC_EXPORT CUresult cuStreamDestroy_v2(CUstream hStream)
{
	FC_LOCKED(stream_destroy(hStream));
}

/* Query and synchronize: nothing is ever pending. */
static CUresult stream_idle(CUstream h)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	return fc_stream_ctx(h, NULL, &c);
}

FC_EXPORT CUresult cuStreamSynchronize(CUstream hStream)
{
	FC_LOCKED(stream_idle(hStream));
}

FC_EXPORT CUresult cuStreamQuery(CUstream hStream)
{
	FC_LOCKED(stream_idle(hStream));
}

static CUresult stream_wait_event(CUstream h, CUevent e, unsigned int flags)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((r = fc_stream_ctx(h, NULL, &c)))
		return r;
	if (!find_event(e))
		return CUDA_ERROR_INVALID_HANDLE;
	if (flags == CU_EVENT_WAIT_EXTERNAL)	/* only meaningful while capturing, which never happens here */
		return CUDA_ERROR_ILLEGAL_STATE;
	if (flags != CU_EVENT_WAIT_DEFAULT)
		return CUDA_ERROR_INVALID_VALUE;
	return CUDA_SUCCESS;	/* the event's work is already done */
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

static CUresult event_destroy(CUevent h)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	for (struct fc_event **pp = &fc_events; *pp; pp = &(*pp)->next) {
		struct fc_event *e = *pp;
		if ((CUevent)e == h && e->magic == FC_MAGIC_EVENT) {
			*pp = e->next;
			e->magic = 0;
			free(e);
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_INVALID_HANDLE;
}

FC_EXPORT CUresult cuEventDestroy_v2(CUevent hEvent)
{
	FC_LOCKED(event_destroy(hEvent));
}

static CUresult event_record(CUevent h, CUstream s)
{
	struct fc_ctx *c;
	struct fc_event *e;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!(e = find_event(h)))
		return CUDA_ERROR_INVALID_HANDLE;
	if ((r = fc_stream_ctx(s, NULL, &c)))
		return r;
	clock_gettime(CLOCK_MONOTONIC, &e->when);
	e->recorded = true;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuEventRecord(CUevent hEvent, CUstream hStream)
{
	FC_LOCKED(event_record(hEvent, hStream));
}

/* Query and synchronize: a recorded event is complete, an unrecorded one has nothing to wait for. */
static CUresult event_idle(CUevent h)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!find_event(h))
		return CUDA_ERROR_INVALID_HANDLE;
	return fc_sticky;
}

FC_EXPORT CUresult cuEventSynchronize(CUevent hEvent)
{
	FC_LOCKED(event_idle(hEvent));
}

FC_EXPORT CUresult cuEventQuery(CUevent hEvent)
{
	FC_LOCKED(event_idle(hEvent));
}

static CUresult event_elapsed(float *ms, CUevent hs, CUevent he)
{
	struct fc_event *s, *e;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!(s = find_event(hs)) || !(e = find_event(he)))
		return CUDA_ERROR_INVALID_HANDLE;
	if (!ms)
		return CUDA_ERROR_INVALID_HANDLE;	/* what the real driver answers */
	if ((s->flags | e->flags) & CU_EVENT_DISABLE_TIMING)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!s->recorded || !e->recorded)
		return CUDA_ERROR_INVALID_HANDLE;
	if (fc_sticky)
		return fc_sticky;
	double d = (double)(e->when.tv_sec - s->when.tv_sec) * 1e3 +
		   (double)(e->when.tv_nsec - s->when.tv_nsec) / 1e6;
	*ms = (float)d;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	FC_LOCKED(event_elapsed(pMilliseconds, hStart, hEnd));
}
