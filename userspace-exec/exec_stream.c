// SPDX-License-Identifier: MIT
/*
 * Streams, events, host functions and stream memory operations.  Creation is
 * asynchronous: the guest chose the id.  Nothing here waits in the driver:
 * a synchronisation becomes a wait that answers when its event completed.
 */
#include <stdlib.h>

#include "dispatch.h"
#include "waits.h"

CUresult vgpu_exec_stream_create(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_create_args *a = (const void *)c->args;

	return vgpu_xstream_create(s, a->id, a->flags, a->priority);
}

CUresult vgpu_exec_stream_destroy(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->stream, VGPU_OBJ_STREAM);

	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	return vgpu_xstream_destroy(s, e->obj);
}

CUresult vgpu_exec_stream_synchronize(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_args *a = (const void *)c->args;
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);

	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	return vgpu_answer_after(s, c, xs, NULL);
}

CUresult vgpu_exec_stream_query(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_args *a = (const void *)c->args;
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);

	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	/* A query never blocks in the driver. */
	return s->drv.StreamQuery(xs->h);
}

CUresult vgpu_exec_stream_wait_event(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_wait_event_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->event, VGPU_OBJ_EVENT);
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);

	if (!e || !xs)
		return CUDA_ERROR_INVALID_HANDLE;
	return s->drv.StreamWaitEvent(xs->h, ((struct vgpu_xevent *)e->obj)->h, a->flags);
}

/*
 * A host function runs in the guest (decision 12).  The stream records an
 * event and then waits on the GPU for the guest's flag; when the event
 * completes, the worker asks the guest to run the function, and the guest
 * stores the flag when it returned.  The worker waits for nothing.
 */
CUresult vgpu_exec_launch_host_func(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_host_func_args *a = (const void *)c->args;
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);
	struct vgpu_wait *w;
	CUresult r;

	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	if (a->slot >= VGPU_HOST_FLAGS)
		return CUDA_ERROR_INVALID_VALUE;
	/*
	 * In a graph the message would have to be sent at every launch, and a
	 * captured wait on the flag compares with one fixed generation: host
	 * functions are not offered in captures.
	 */
	if (vgpu_stream_capturing(s, xs))
		return CUDA_ERROR_NOT_SUPPORTED;
	if (!s->host_flags)
		return CUDA_ERROR_NOT_SUPPORTED;
	w = vgpu_wait_new(VGPU_WAIT_HOST_FUNC, s->cur, 1);
	if (!w)
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = vgpu_wait_record(s, w, s->cur, xs);
	if (r == CUDA_SUCCESS)
		/* The guest's flag word, 32 bits: GEQ compares wrapping generations. */
		r = s->drv.StreamWaitValue32(xs->h,
					     s->host_flags + a->slot * sizeof(uint64_t),
					     (cuuint32_t)a->gen, CU_STREAM_WAIT_VALUE_GEQ);
	if (r != CUDA_SUCCESS) {
		vgpu_wait_discard(s, w);
		return r;
	}
	/*
	 * Teardown releases the slot's waits by setting its flag to this: keep
	 * the newest generation in wrapping order (as GEQ compares), not the
	 * last that came, or a guest sending them out of order leaves a wait
	 * for a newer one behind at the end of the session.
	 */
	if (!s->host_gen_set[a->slot] ||
	    (int32_t)((uint32_t)a->gen - s->host_gen[a->slot]) > 0) {
		s->host_gen[a->slot] = (uint32_t)a->gen;
		s->host_gen_set[a->slot] = true;
	}
	w->msg.cookie = a->cookie;
	w->msg.gen = a->gen;
	w->msg.slot = a->slot;
	w->callback = a->callback != 0;
	vgpu_wait_queue(s, w);
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_stream_wait_value(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_value_args *a = (const void *)c->args;
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);

	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	/* The address is device memory: the GPU's own checks apply, as natively. */
	if (a->width == 4)
		return s->drv.StreamWaitValue32(xs->h, a->addr, (cuuint32_t)a->value, a->flags);
	if (a->width == 8)
		return s->drv.StreamWaitValue64(xs->h, a->addr, a->value, a->flags);
	return CUDA_ERROR_INVALID_VALUE;
}

CUresult vgpu_exec_stream_write_value(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_value_args *a = (const void *)c->args;
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);

	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	if (a->width == 4)
		return s->drv.StreamWriteValue32(xs->h, a->addr, (cuuint32_t)a->value, a->flags);
	if (a->width == 8)
		return s->drv.StreamWriteValue64(xs->h, a->addr, a->value, a->flags);
	return CUDA_ERROR_INVALID_VALUE;
}

CUresult vgpu_exec_thread_exit(struct vgpu_session *s, struct vgpu_call *c)
{
	vgpu_gthread_exit(s, c->hdr->thread);
	return CUDA_SUCCESS;
}

/* ---- events ---- */

CUresult vgpu_exec_event_create(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_event_create_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e;
	struct vgpu_xevent *ev;
	CUresult r;

	if (a->id < VGPU_FIRST_ID || vgpu_idmap_find(&s->handles, a->id))
		return CUDA_ERROR_INVALID_VALUE;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = s->drv.EventCreate(&ev->h, a->flags);
	if (r != CUDA_SUCCESS) {
		free(ev);
		return r;
	}
	e = vgpu_idmap_insert(&s->handles, a->id, VGPU_OBJ_EVENT);
	if (!e) {
		s->drv.EventDestroy(ev->h);
		free(ev);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	ev->ctx_id = (uint32_t)s->current_id;
	e->obj = ev;
	e->aux32 = (uint32_t)s->current_id;
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_event_destroy(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_event_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->event, VGPU_OBJ_EVENT);
	struct vgpu_xevent *ev;

	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	ev = e->obj;
	vgpu_idmap_remove(&s->handles, e);
	/* A wait still polls it: the driver's event goes when that wait is done. */
	if (ev->polled) {
		ev->destroyed = true;
		return CUDA_SUCCESS;
	}
	s->drv.EventDestroy(ev->h);
	free(ev);
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_event_record(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_event_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->event, VGPU_OBJ_EVENT);
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);

	if (!e || !xs)
		return CUDA_ERROR_INVALID_HANDLE;
	return s->drv.EventRecord(((struct vgpu_xevent *)e->obj)->h, xs->h);
}

/* Polls the guest's event itself: it completes with the record it had when the call came. */
CUresult vgpu_exec_event_synchronize(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_event_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->event, VGPU_OBJ_EVENT);
	struct vgpu_xevent *ev;
	struct vgpu_xctx *x;
	struct vgpu_wait *w;
	CUresult q;

	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	ev = e->obj;
	q = s->drv.EventQuery(ev->h);
	if (q != CUDA_ERROR_NOT_READY)
		return q;
	x = vgpu_xctx_of(s, ev->ctx_id);
	w = x ? vgpu_wait_new(VGPU_WAIT_ANSWER, x, 0) : NULL;
	if (!w)
		return CUDA_ERROR_OUT_OF_MEMORY;
	ev->polled++;
	w->borrowed = ev;
	w->tag = c->hdr->tag;
	w->flags = c->hdr->flags;
	w->thread = c->hdr->thread;
	w->stream = VGPU_KEPT_ANY_STREAM;
	vgpu_wait_queue(s, w);
	c->deferred = true;
	return VGPU_DEFERRED;
}

CUresult vgpu_exec_event_query(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_event_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->event, VGPU_OBJ_EVENT);

	return e ? s->drv.EventQuery(((struct vgpu_xevent *)e->obj)->h) : CUDA_ERROR_INVALID_HANDLE;
}

CUresult vgpu_exec_event_elapsed(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_event_elapsed_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e0 = vgpu_obj(s, a->start, VGPU_OBJ_EVENT);
	struct vgpu_idmap_entry *e1 = vgpu_obj(s, a->end, VGPU_OBJ_EVENT);
	float ms = 0;
	CUresult r;

	if (!e0 || !e1)
		return CUDA_ERROR_INVALID_HANDLE;
	r = s->drv.EventElapsedTime(&ms, ((struct vgpu_xevent *)e0->obj)->h,
				    ((struct vgpu_xevent *)e1->obj)->h);
	vgpu_answer(c, &ms, sizeof(ms));
	return r;
}
