// SPDX-License-Identifier: MIT
/* Contexts' streams, per-thread default streams, guest threads and kept errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "waits.h"

struct vgpu_xctx *vgpu_xctx_new(CUcontext h, uint64_t id, int device, bool primary)
{
	struct vgpu_xctx *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->h = h;
	x->id = id;
	x->device = device;
	x->primary = primary;
	x->legacy.h = CU_STREAM_LEGACY;
	x->legacy.id = VGPU_STREAM_LEGACY;
	x->legacy.ctx_id = (uint32_t)id;
	return x;
}

static void forget_pt_stream(struct vgpu_session *s, struct vgpu_xstream *st)
{
	struct vgpu_idmap_entry *e;

	if (st->id != VGPU_STREAM_PER_THREAD)
		return;
	e = vgpu_idmap_find(&s->pt_streams, (uint64_t)st->ctx_id << 32 | st->thread);
	if (e && e->obj == st)
		vgpu_idmap_remove(&s->pt_streams, e);
}

void vgpu_xctx_release(struct vgpu_session *s, struct vgpu_xctx *x, bool driver_gone)
{
	struct vgpu_xstream *st, *next;
	bool current = s->current == x->h && x->h;

	/* Everything below is the context's: make it current to release it. */
	if (!driver_gone && !current)
		s->drv.CtxSetCurrent(x->h);
	vgpu_waits_abort_ctx(s, (uint32_t)x->id, CUDA_ERROR_CONTEXT_IS_DESTROYED, driver_gone);
	for (st = x->streams; st; st = next) {
		next = st->next;
		vgpu_waits_forget_stream(s, st);
		forget_pt_stream(s, st);
		if (!driver_gone)
			s->drv.StreamDestroy(st->h);
		free(st);
	}
	x->streams = NULL;
	for (uint32_t i = 0; i < x->npool; i++)
		if (!driver_gone)
			s->drv.EventDestroy(x->pool[i]);
	x->npool = 0;
	for (uint32_t i = 0; i < x->nhelpers; i++)
		if (!driver_gone)
			s->drv.StreamDestroy(x->helpers[i].h);
	x->nhelpers = 0;
	x->dead = true;
	if (!driver_gone && !current)
		s->drv.CtxSetCurrent(s->current);
}

void vgpu_xctx_free(struct vgpu_xctx *x)
{
	free(x);
}

struct vgpu_xctx *vgpu_xctx_of(struct vgpu_session *s, uint32_t ctx_id)
{
	struct vgpu_idmap_entry *e;

	if (s->cur && s->cur->id == ctx_id)
		return s->cur;
	e = vgpu_idmap_find(&s->handles, ctx_id);
	if (!e || e->type != VGPU_OBJ_CTX)
		return NULL;
	return e->obj;
}

static struct vgpu_xstream *per_thread_stream(struct vgpu_session *s, uint32_t thread)
{
	struct vgpu_xctx *x = s->cur;
	uint64_t key = (uint64_t)x->id << 32 | thread;
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->pt_streams, key);
	struct vgpu_xstream *st;

	if (e)
		return e->obj;
	/*
	 * A blocking stream is what the per-thread default stream is: it
	 * synchronises with the legacy stream and with no other stream.
	 */
	st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	if (s->drv.StreamCreateWithPriority(&st->h, CU_STREAM_DEFAULT, 0) != CUDA_SUCCESS) {
		free(st);
		return NULL;
	}
	e = vgpu_idmap_insert(&s->pt_streams, key, 1);
	if (!e) {
		s->drv.StreamDestroy(st->h);
		free(st);
		return NULL;
	}
	st->id = VGPU_STREAM_PER_THREAD;
	st->ctx_id = (uint32_t)x->id;
	st->thread = thread;
	st->next = x->streams;
	x->streams = st;
	e->obj = st;
	return st;
}

struct vgpu_xstream *vgpu_xstream_find(struct vgpu_session *s, uint64_t id, uint32_t thread)
{
	struct vgpu_idmap_entry *e;

	switch (id) {
	case VGPU_STREAM_NULL:
	case VGPU_STREAM_LEGACY:
		return s->cur ? &s->cur->legacy : NULL;
	case VGPU_STREAM_PER_THREAD:
		return s->cur ? per_thread_stream(s, thread) : NULL;
	}
	e = vgpu_obj(s, id, VGPU_OBJ_STREAM);
	return e ? e->obj : NULL;
}

CUresult vgpu_xstream_create(struct vgpu_session *s, uint64_t id, unsigned int flags,
			     int priority)
{
	struct vgpu_xstream *st;
	struct vgpu_idmap_entry *e;
	CUresult r;

	if (id < VGPU_FIRST_ID || vgpu_idmap_find(&s->handles, id))
		return CUDA_ERROR_INVALID_VALUE;
	if (!s->cur)
		return CUDA_ERROR_INVALID_CONTEXT;
	st = calloc(1, sizeof(*st));
	if (!st)
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = s->drv.StreamCreateWithPriority(&st->h, flags, priority);
	if (r != CUDA_SUCCESS) {
		free(st);
		return r;
	}
	e = vgpu_idmap_insert(&s->handles, id, VGPU_OBJ_STREAM);
	if (!e) {
		s->drv.StreamDestroy(st->h);
		free(st);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	st->id = id;
	st->ctx_id = (uint32_t)s->cur->id;
	st->next = s->cur->streams;
	s->cur->streams = st;
	e->obj = st;
	e->aux32 = st->ctx_id;
	return CUDA_SUCCESS;
}

static void unlink_stream(struct vgpu_session *s, struct vgpu_xstream *st)
{
	struct vgpu_xctx *x = vgpu_xctx_of(s, st->ctx_id);

	if (!x)
		return;
	for (struct vgpu_xstream **p = &x->streams; *p; p = &(*p)->next)
		if (*p == st) {
			*p = st->next;
			return;
		}
}

CUresult vgpu_xstream_destroy(struct vgpu_session *s, struct vgpu_xstream *st)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->handles, st->id);
	CUresult r = s->drv.StreamDestroy(st->h);

	if (r != CUDA_SUCCESS)
		return r;
	vgpu_waits_forget_stream(s, st);
	unlink_stream(s, st);
	if (e && e->obj == st)
		vgpu_idmap_remove(&s->handles, e);
	free(st);
	return CUDA_SUCCESS;
}

static struct vgpu_gthread *gthread(struct vgpu_session *s, uint32_t id, bool create)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->gthreads, id);
	struct vgpu_gthread *t;

	if (e || !create)
		return e ? e->obj : NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	e = vgpu_idmap_insert(&s->gthreads, id, 1);
	if (!e) {
		free(t);
		return NULL;
	}
	t->id = id;
	e->obj = t;
	return t;
}

struct pt_exit {
	struct vgpu_session *s;
	uint32_t thread;
};

static void drop_pt_stream(struct vgpu_idmap_entry *e, void *arg)
{
	struct pt_exit *a = arg;
	struct vgpu_xstream *st = e->obj;
	struct vgpu_xctx *x;

	if (st->thread != a->thread)
		return;
	x = vgpu_xctx_of(a->s, st->ctx_id);
	vgpu_idmap_remove(&a->s->pt_streams, e);
	vgpu_waits_forget_stream(a->s, st);
	unlink_stream(a->s, st);
	if (x && !x->dead) {
		/* Its queued work still runs: the driver destroys a stream when it is idle. */
		a->s->drv.CtxSetCurrent(x->h);
		a->s->drv.StreamDestroy(st->h);
		a->s->drv.CtxSetCurrent(a->s->current);
	}
	free(st);
}

void vgpu_gthread_exit(struct vgpu_session *s, uint32_t thread)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->gthreads, thread);
	struct pt_exit a = { s, thread };

	vgpu_idmap_each(&s->pt_streams, drop_pt_stream, &a);
	if (e) {
		free(e->obj);
		vgpu_idmap_remove(&s->gthreads, e);
	}
}

void vgpu_keep_error(struct vgpu_session *s, uint32_t thread, uint32_t ctx_id, uint64_t stream,
		     CUresult err)
{
	struct vgpu_gthread *t = gthread(s, thread, true);

	if (!t)
		return;
	/* The first error of each (context, stream) is the one a native call would have seen first. */
	for (uint32_t i = 0; i < t->nkept; i++)
		if (t->kept[i].ctx_id == ctx_id && t->kept[i].stream == stream)
			return;
	if (t->nkept == VGPU_KEPT_MAX) {
		if (t->dropped++ == 0)
			fprintf(stderr,
				"vgpu-executor: session %lu: thread %u: more failed asynchronous "
				"calls than can be kept; later ones are not reported\n",
				(unsigned long)s->ch->session_id, thread);
		return;
	}
	t->kept[t->nkept++] = (struct vgpu_kept){ ctx_id, stream, err };
}

CUresult vgpu_take_error(struct vgpu_session *s, uint32_t thread, uint32_t ctx_id,
			 uint64_t stream)
{
	struct vgpu_gthread *t = gthread(s, thread, false);
	bool ctx_wide = stream == VGPU_KEPT_ANY_STREAM;
	CUresult r = CUDA_SUCCESS;
	uint32_t n = 0;

	if (!t)
		return CUDA_SUCCESS;
	for (uint32_t i = 0; i < t->nkept; i++) {
		struct vgpu_kept *k = &t->kept[i];
		bool match = k->ctx_id == ctx_id &&
			     (ctx_wide || k->stream == stream || k->stream == VGPU_KEPT_ANY_STREAM);

		/* A stream's call takes one error; a context-wide call takes them all. */
		if (match && (r == CUDA_SUCCESS || ctx_wide)) {
			if (r == CUDA_SUCCESS)
				r = k->err;
			continue;
		}
		t->kept[n++] = *k;
	}
	t->nkept = n;
	return r;
}

CUresult vgpu_event_get(struct vgpu_session *s, struct vgpu_xctx *x, CUevent *out)
{
	if (x->npool) {
		*out = x->pool[--x->npool];
		return CUDA_SUCCESS;
	}
	/* Blocking sync: a helper that waits on it sleeps instead of spinning. */
	return s->drv.EventCreate(out, CU_EVENT_DISABLE_TIMING | CU_EVENT_BLOCKING_SYNC);
}

void vgpu_event_put(struct vgpu_session *s, struct vgpu_xctx *x, CUevent ev)
{
	if (x->npool < VGPU_EVENT_POOL_MAX && !x->dead)
		x->pool[x->npool++] = ev;
	else if (!x->dead)
		s->drv.EventDestroy(ev);
}

void vgpu_xevent_unpoll(struct vgpu_session *s, struct vgpu_xevent *e)
{
	if (--e->polled == 0 && e->destroyed) {
		s->drv.EventDestroy(e->h);
		free(e);
	}
}
