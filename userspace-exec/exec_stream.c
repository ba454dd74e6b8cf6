// SPDX-License-Identifier: MIT
/* Streams and events.  Creation is asynchronous: the guest chose the id. */
#include "dispatch.h"

static CUresult add(struct vgpu_session *s, uint64_t id, enum vgpu_obj_type type, void *obj)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_insert(&s->handles, id, type);

	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	e->obj = obj;
	e->aux32 = (uint32_t)s->current_id;
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_stream_create(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_create_args *a = (const void *)c->args;
	CUstream st;
	CUresult r;

	if (a->id < VGPU_FIRST_ID || vgpu_idmap_find(&s->handles, a->id))
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.StreamCreateWithPriority(&st, a->flags, a->priority);
	if (r != CUDA_SUCCESS)
		return r;
	r = add(s, a->id, VGPU_OBJ_STREAM, st);
	if (r != CUDA_SUCCESS)
		s->drv.StreamDestroy(st);
	return r;
}

CUresult vgpu_exec_stream_destroy(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->stream, VGPU_OBJ_STREAM);
	CUresult r;

	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	r = s->drv.StreamDestroy(e->obj);
	if (r == CUDA_SUCCESS)
		vgpu_idmap_remove(&s->handles, e);
	return r;
}

CUresult vgpu_exec_stream_synchronize(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_args *a = (const void *)c->args;
	CUstream st;

	if (!vgpu_stream(s, a->stream, &st))
		return CUDA_ERROR_INVALID_HANDLE;
	return s->drv.StreamSynchronize(st);
}

CUresult vgpu_exec_stream_query(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_args *a = (const void *)c->args;
	CUstream st;

	if (!vgpu_stream(s, a->stream, &st))
		return CUDA_ERROR_INVALID_HANDLE;
	return s->drv.StreamQuery(st);
}

CUresult vgpu_exec_stream_wait_event(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_stream_wait_event_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->event, VGPU_OBJ_EVENT);
	CUstream st;

	if (!e || !vgpu_stream(s, a->stream, &st))
		return CUDA_ERROR_INVALID_HANDLE;
	return s->drv.StreamWaitEvent(st, e->obj, a->flags);
}

CUresult vgpu_exec_event_create(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_event_create_args *a = (const void *)c->args;
	CUevent ev;
	CUresult r;

	if (a->id < VGPU_FIRST_ID || vgpu_idmap_find(&s->handles, a->id))
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.EventCreate(&ev, a->flags);
	if (r != CUDA_SUCCESS)
		return r;
	r = add(s, a->id, VGPU_OBJ_EVENT, ev);
	if (r != CUDA_SUCCESS)
		s->drv.EventDestroy(ev);
	return r;
}

CUresult vgpu_exec_event_destroy(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_event_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->event, VGPU_OBJ_EVENT);
	CUresult r;

	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	r = s->drv.EventDestroy(e->obj);
	if (r == CUDA_SUCCESS)
		vgpu_idmap_remove(&s->handles, e);
	return r;
}

CUresult vgpu_exec_event_record(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_event_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->event, VGPU_OBJ_EVENT);
	CUstream st;

	if (!e || !vgpu_stream(s, a->stream, &st))
		return CUDA_ERROR_INVALID_HANDLE;
	return s->drv.EventRecord(e->obj, st);
}

CUresult vgpu_exec_event_synchronize(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_event_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->event, VGPU_OBJ_EVENT);

	return e ? s->drv.EventSynchronize(e->obj) : CUDA_ERROR_INVALID_HANDLE;
}

CUresult vgpu_exec_event_query(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_event_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->event, VGPU_OBJ_EVENT);

	return e ? s->drv.EventQuery(e->obj) : CUDA_ERROR_INVALID_HANDLE;
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
	r = s->drv.EventElapsedTime(&ms, e0->obj, e1->obj);
	vgpu_answer(c, &ms, sizeof(ms));
	return r;
}
