// SPDX-License-Identifier: MIT
/* Session start, devices and contexts. */
#include <stdio.h>
#include <string.h>

#include "dispatch.h"
#include "log.h"
#include "waits.h"
#include "vgpu/regs.h"

/*
 * Context flags a guest may ask for: scheduling, MAP_HOST and
 * LMEM_RESIZE_TO_MAX.  The others are the host's business: the core-dump
 * flags make the driver write files where the worker runs.
 */
#define GUEST_CTX_FLAGS	(CU_CTX_SCHED_MASK | CU_CTX_MAP_HOST | CU_CTX_LMEM_RESIZE_TO_MAX)

static CUresult check_ctx_flags(struct vgpu_session *s, unsigned int flags)
{
	static struct vgpu_log_limit limit;
	uint32_t dropped;

	if (!(flags & ~GUEST_CTX_FLAGS))
		return CUDA_SUCCESS;
	if (vgpu_log_allow(&limit, &dropped))
		vgpu_log_event("info", "refused", "session=%lu what=ctx_flags flags=%#x suppressed=%u",
			       (unsigned long)s->ch->session_id, flags, dropped);
	return CUDA_ERROR_NOT_PERMITTED;
}

/*
 * Pin the channel once a context exists, so copies through its bulk area are
 * real DMA and the GPU can read the guest's host-function flags.  Without
 * that, copies go through a pinned mirror of the bulk area, and host
 * functions are refused.
 */
static void register_channel(struct vgpu_session *s)
{
	const struct vgpu_layout *l = &s->ch->layout;
	CUdeviceptr flags = 0;

	if (s->bulk_registered || s->stage || !s->current)
		return;
	if (s->drv.MemHostRegister(s->channel, l->channel_stride,
				   CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP) ==
	    CUDA_SUCCESS) {
		s->bulk_registered = true;
		if (s->drv.MemHostGetDevicePointer(&flags, s->ctrl->host_flag, 0) == CUDA_SUCCESS)
			s->host_flags = flags;
		return;
	}
	if (s->drv.MemAllocHost((void **)&s->stage, s->bulk_size) != CUDA_SUCCESS) {
		s->stage = NULL;
		fprintf(stderr, "vgpu-executor: session %lu: the channel cannot be pinned; copies "
				"wait in the driver\n", (unsigned long)s->ch->session_id);
	}
}

/* Make context entry @x the worker's current context. */
static void make_current(struct vgpu_session *s, struct vgpu_xctx *x)
{
	if (s->drv.CtxSetCurrent(x->h) == CUDA_SUCCESS) {
		s->current = x->h;
		s->current_id = x->id;
		s->cur = x;
	}
}

/* The context entry leaves the table; it stays allocated until the session ends. */
static void bury_ctx(struct vgpu_session *s, struct vgpu_xctx *x)
{
	if (s->cur == x) {
		s->cur = NULL;
		s->current = NULL;
		s->current_id = 0;
	}
	x->dead = true;
	x->dead_next = s->dead_ctxs;
	s->dead_ctxs = x;
}

CUresult vgpu_exec_hello(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_hello_args *a = (const void *)c->args;
	struct vgpu_hello_reply out = {
		.major = VGPU_PROTOCOL_MAJOR,
		.minor = VGPU_PROTOCOL_MINOR,
		.session_id = s->ch->session_id,
	};
	size_t total_b = 0;
	CUresult r;

	if (a->major != VGPU_PROTOCOL_MAJOR) {
		vgpu_answer(c, &out, sizeof(out));
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	if (!s->driver_ready) {
		if (vgpu_real_driver_load(&s->drv, s->driver_error, sizeof(s->driver_error))) {
			fprintf(stderr, "vgpu-executor: session %lu: %s\n",
				(unsigned long)s->ch->session_id, s->driver_error);
			return CUDA_ERROR_NO_DEVICE;
		}
		r = s->drv.Init(0);
		if (r != CUDA_SUCCESS)
			return r;
		s->driver_ready = true;
	}
	r = s->drv.DriverGetVersion(&out.driver_version);
	if (r == CUDA_SUCCESS)
		r = s->drv.DeviceGetCount(&out.device_count);
	if (r != CUDA_SUCCESS)
		return r;
	/* Host functions need the channel pinned; known only once a context exists. */
	out.features = VGPU_FEATURE_HOST_FUNC;
	/* The instance's quota is the guest's device memory from now on. */
	if (out.device_count > 0 && s->drv.DeviceTotalMem(&total_b, 0) == 0)
		out.mem_quota = vgpu_quota_hello(s, total_b, a->guest_pid);
	vgpu_answer(c, &out, sizeof(out));
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_goodbye(struct vgpu_session *s, struct vgpu_call *c)
{
	s->closing = true;
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_device_get_count(struct vgpu_session *s, struct vgpu_call *c)
{
	int n = 0;
	CUresult r = s->drv.DeviceGetCount(&n);

	vgpu_answer(c, &n, sizeof(n));
	return r;
}

CUresult vgpu_exec_device_get_info(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_device_info_args *a = (const void *)c->args;
	struct vgpu_device_info tmp, *info = &tmp;
	CUdevice dev;
	CUuuid uuid;
	size_t total = 0;
	uint8_t *out = vgpu_bulk(s, &a->out);
	CUresult r;

	if (!out || a->out.len < sizeof(*info))
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.DeviceGet(&dev, a->device);
	if (r != CUDA_SUCCESS)
		return r;
	/* Built privately, then copied out whole: BAR1 is never read back. */
	memset(info, 0, sizeof(*info));
	if ((r = s->drv.DeviceGetName(info->name, sizeof(info->name) - 1, dev)) ||
	    (r = s->drv.DeviceGetUuid(&uuid, dev)) || (r = s->drv.DeviceTotalMem(&total, dev)) ||
	    (r = s->drv.DeviceGetPCIBusId(info->pci_bus_id, sizeof(info->pci_bus_id) - 1, dev)))
		return r;
	memcpy(info->uuid, uuid.bytes, sizeof(info->uuid));
	info->luid_status = s->drv.DeviceGetLuid((char *)info->luid, &info->luid_device_mask, dev);
	/* The guest sees its quota as the device's memory. */
	info->total_mem = s->quota.limit && s->quota.limit < total ? s->quota.limit : total;
	for (int i = 1; i < VGPU_DEVICE_ATTRS; i++) {
		int v;

		if (s->drv.DeviceGetAttribute(&v, (CUdevice_attribute)i, dev) == CUDA_SUCCESS) {
			info->attrs[i] = v;
			info->attr_valid[i / 32] |= 1u << (i % 32);
		}
	}
	memcpy(out, info, sizeof(*info));
	return CUDA_SUCCESS;
}

struct find_primary {
	uint32_t device;
	uint64_t id;
};

static void match_primary(struct vgpu_idmap_entry *e, void *arg)
{
	struct find_primary *f = arg;

	if (e->type == VGPU_OBJ_CTX && e->aux == 1 && e->aux32 == f->device)
		f->id = e->key;
}

/* The id the session bound @device's primary context to, or 0. */
static uint64_t primary_id(struct vgpu_session *s, int device)
{
	struct find_primary f = { (uint32_t)device, 0 };

	vgpu_idmap_each(&s->handles, match_primary, &f);
	return f.id;
}

/*
 * Bind @id to the primary context @ctx of @device.  An id names one context
 * for the session's life: an id already bound may only be retained again for
 * the same primary context, never rebound (a created context's id would
 * otherwise come to name the primary one, and its teardown destroy it).
 */
static CUresult bind_ctx(struct vgpu_session *s, uint64_t id, CUcontext ctx, int device,
			 struct vgpu_xctx **out)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->handles, id);
	struct vgpu_xctx *x;

	if (id < VGPU_FIRST_ID || id > UINT32_MAX)
		return CUDA_ERROR_INVALID_VALUE;
	if (e) {
		x = e->obj;
		if (e->type != VGPU_OBJ_CTX || !x->primary || x->h != ctx || x->device != device)
			return CUDA_ERROR_INVALID_VALUE;
		/* Retained again after a reset: the entry serves the new life. */
		x->dead = false;
		*out = x;
		return CUDA_SUCCESS;
	}
	/* One id per primary context: its cost and its objects are accounted under that id. */
	if (primary_id(s, device))
		return CUDA_ERROR_INVALID_VALUE;
	x = vgpu_xctx_new(ctx, id, device, true);
	if (!x)
		return CUDA_ERROR_OUT_OF_MEMORY;
	e = vgpu_idmap_insert(&s->handles, id, VGPU_OBJ_CTX);
	if (!e) {
		vgpu_xctx_free(x);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	e->obj = x;
	e->aux32 = (uint32_t)device;
	e->aux = 1;	/* primary context */
	*out = x;
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_primary_ctx_retain(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_primary_ctx_args *a = (const void *)c->args;
	uint64_t before = vgpu_quota_free_now(s), after;
	bool bound = vgpu_idmap_find(&s->handles, a->ctx_id) != NULL;
	struct vgpu_xctx *x;
	CUcontext ctx;
	CUdevice dev;
	CUresult r;

	if (a->ctx_id < VGPU_FIRST_ID || a->ctx_id > UINT32_MAX)
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.DeviceGet(&dev, a->device);
	if (r == CUDA_SUCCESS)
		r = s->drv.DevicePrimaryCtxRetain(&ctx, dev);
	if (r != CUDA_SUCCESS)
		return r;
	r = bind_ctx(s, a->ctx_id, ctx, a->device, &x);
	if (r != CUDA_SUCCESS) {
		s->drv.DevicePrimaryCtxRelease(dev);
		return r;
	}
	/* Its cost is charged at its first retain; later retains only count. */
	if (vgpu_idmap_find(&s->quota.ctxs, a->ctx_id)) {
		vgpu_quota_ctx_retained(s, a->ctx_id);
	} else {
		after = vgpu_quota_free_now(s);
		r = vgpu_quota_ctx_charge(s, a->ctx_id, before > after ? before - after : 0);
		if (r != CUDA_SUCCESS) {
			struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->handles, a->ctx_id);

			if (!bound && e) {
				vgpu_idmap_remove(&s->handles, e);
				vgpu_xctx_free(x);
			}
			s->drv.DevicePrimaryCtxRelease(dev);
			return r;
		}
	}
	/* The channel is registered once a context exists to register it in. */
	if (!s->bulk_registered && !s->stage) {
		make_current(s, x);
		register_channel(s);
	}
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_primary_ctx_release(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_primary_ctx_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e;
	CUdevice dev;
	CUresult r;

	/* Accounted under its id: a guest cannot name another context here. */
	if (!a->ctx_id || primary_id(s, a->device) != a->ctx_id)
		return CUDA_ERROR_INVALID_CONTEXT;
	r = s->drv.DeviceGet(&dev, a->device);
	if (r == CUDA_SUCCESS)
		r = s->drv.DevicePrimaryCtxRelease(dev);
	if (r == CUDA_SUCCESS && vgpu_quota_ctx_released(s, a->ctx_id)) {
		/* Its last retain: the driver destroyed it and everything in it. */
		e = vgpu_obj(s, a->ctx_id, VGPU_OBJ_CTX);
		if (e)
			vgpu_xctx_release(s, e->obj, true);
		vgpu_quota_forget_ctx(s, a->ctx_id);
		vgpu_forget_ctx_objects(s, a->ctx_id);
		vgpu_quota_ctx_gone(s, a->ctx_id);
		if (s->current_id == a->ctx_id) {
			s->current = NULL;
			s->current_id = 0;
			s->cur = NULL;
		}
		s->bulk_registered = false;
		s->host_flags = 0;
		s->stage = NULL;
	}
	return r;
}

CUresult vgpu_exec_primary_ctx_reset(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_primary_ctx_args *a = (const void *)c->args;
	CUdevice dev;
	CUresult r;

	/* What the reset frees is accounted under the context's id: it must be that one. */
	if (!a->ctx_id || primary_id(s, a->device) != a->ctx_id)
		return CUDA_ERROR_INVALID_CONTEXT;
	r = s->drv.DeviceGet(&dev, a->device);
	if (r == CUDA_SUCCESS)
		r = s->drv.DevicePrimaryCtxReset(dev);
	if (r == CUDA_SUCCESS) {
		struct vgpu_idmap_entry *e = vgpu_obj(s, a->ctx_id, VGPU_OBJ_CTX);
		struct vgpu_xctx *x = e ? e->obj : NULL;

		/* Streams, events, modules and memory of the context are gone. */
		if (x && x->primary) {
			vgpu_xctx_release(s, x, true);
			if (s->cur == x) {
				s->cur = NULL;
				s->current = NULL;
				s->current_id = 0;
			}
		}
		vgpu_quota_forget_ctx(s, a->ctx_id);
		vgpu_forget_ctx_objects(s, a->ctx_id);
		/* The registration went with the context: the next context pins again. */
		s->bulk_registered = false;
		s->host_flags = 0;
		s->stage = NULL;
	}
	return r;
}

CUresult vgpu_exec_primary_ctx_set_flags(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_primary_ctx_args *a = (const void *)c->args;
	CUdevice dev;
	CUresult r = check_ctx_flags(s, a->flags);

	if (r == CUDA_SUCCESS)
		r = s->drv.DeviceGet(&dev, a->device);
	return r ? r : s->drv.DevicePrimaryCtxSetFlags(dev, a->flags);
}

CUresult vgpu_exec_primary_ctx_get_state(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_primary_ctx_args *a = (const void *)c->args;
	struct vgpu_primary_ctx_state st = { 0 };
	unsigned int flags = 0;
	CUdevice dev;
	CUresult r = s->drv.DeviceGet(&dev, a->device);

	if (r == CUDA_SUCCESS)
		r = s->drv.DevicePrimaryCtxGetState(dev, &flags, &st.active);
	st.flags = flags;
	vgpu_answer(c, &st, sizeof(st));
	return r;
}

CUresult vgpu_exec_ctx_create(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_ctx_create_args *a = (const void *)c->args;
	CUcontext ctx, prev = s->current;
	struct vgpu_idmap_entry *e = NULL;
	struct vgpu_xctx *x = NULL;
	uint64_t before, after;
	CUdevice dev;
	CUresult r;

	if (a->ctx_id < VGPU_FIRST_ID || a->ctx_id > UINT32_MAX ||
	    vgpu_idmap_find(&s->handles, a->ctx_id))
		return CUDA_ERROR_INVALID_VALUE;
	r = check_ctx_flags(s, a->flags);
	if (r != CUDA_SUCCESS)
		return r;
	r = s->drv.DeviceGet(&dev, a->device);
	before = vgpu_quota_free_now(s);
	if (r == CUDA_SUCCESS)
		r = s->drv.CtxCreate(&ctx, NULL, a->flags, dev);
	if (r != CUDA_SUCCESS)
		return r;
	/* cuCtxCreate made it current: the free memory it took can be read now. */
	s->current = ctx;
	after = vgpu_quota_free_now(s);
	s->current = prev;
	r = vgpu_quota_ctx_charge(s, a->ctx_id, before > after ? before - after : 0);
	if (r == CUDA_SUCCESS) {
		x = vgpu_xctx_new(ctx, a->ctx_id, a->device, false);
		e = x ? vgpu_idmap_insert(&s->handles, a->ctx_id, VGPU_OBJ_CTX) : NULL;
	}
	if (!e) {
		if (r == CUDA_SUCCESS) {
			vgpu_quota_ctx_gone(s, a->ctx_id);
			r = CUDA_ERROR_OUT_OF_MEMORY;
		}
		vgpu_xctx_free(x);
		s->drv.CtxDestroy(ctx);
		/* cuCtxCreate made it current; it is gone again. */
		s->drv.CtxSetCurrent(s->current);
		return r;
	}
	e->obj = x;
	e->aux32 = (uint32_t)a->device;
	s->current = ctx;
	s->current_id = a->ctx_id;
	s->cur = x;
	register_channel(s);
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_ctx_destroy(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_ctx_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->ctx_id, VGPU_OBJ_CTX);
	struct vgpu_xctx *x = e ? e->obj : NULL;
	CUresult r;

	if (!x || x->primary)	/* unknown, or a primary context */
		return CUDA_ERROR_INVALID_CONTEXT;
	vgpu_xctx_release(s, x, false);
	r = s->drv.CtxDestroy(x->h);
	if (r != CUDA_SUCCESS) {
		x->dead = false;	/* still there, only its streams went */
		return r;
	}
	vgpu_quota_forget_ctx(s, a->ctx_id);
	vgpu_forget_ctx_objects(s, a->ctx_id);
	vgpu_quota_ctx_gone(s, a->ctx_id);
	vgpu_idmap_remove(&s->handles, e);
	if (s->cur == x)
		s->drv.CtxSetCurrent(NULL);
	bury_ctx(s, x);
	return CUDA_SUCCESS;
}

/*
 * A barrier: an event on every stream of the current context (its legacy
 * stream, every created and per-thread stream), answered when all completed.
 */
CUresult vgpu_exec_ctx_synchronize(struct vgpu_session *s, struct vgpu_call *c)
{
	struct vgpu_xctx *x = s->cur;
	struct vgpu_wait *w;
	uint32_t n = 1;
	CUresult r;

	if (!x)
		return CUDA_ERROR_INVALID_CONTEXT;
	for (struct vgpu_xstream *st = x->streams; st; st = st->next)
		n++;
	w = vgpu_wait_new(VGPU_WAIT_ANSWER, x, n);
	if (!w)
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = vgpu_wait_record(s, w, x, &x->legacy);
	for (struct vgpu_xstream *st = x->streams; st && !r; st = st->next)
		r = vgpu_wait_record(s, w, x, st);
	if (r != CUDA_SUCCESS) {
		vgpu_wait_discard(s, w);
		return r;
	}
	w->xs = NULL;
	w->tag = c->hdr->tag;
	w->flags = c->hdr->flags;
	w->thread = c->hdr->thread;
	w->stream = VGPU_KEPT_ANY_STREAM;
	vgpu_wait_queue(s, w);
	c->deferred = true;
	return VGPU_DEFERRED;
}

CUresult vgpu_exec_ctx_get_limit(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_ctx_limit_args *a = (const void *)c->args;
	size_t v = 0;
	uint64_t out;
	CUresult r = s->drv.CtxGetLimit(&v, (CUlimit)a->limit);

	out = v;
	vgpu_answer(c, &out, sizeof(out));
	return r;
}

CUresult vgpu_exec_ctx_set_limit(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_ctx_limit_args *a = (const void *)c->args;

	/* What a limit takes on the device (a heap, every thread's stack) is the quota's. */
	return vgpu_quota_set_limit(s, s->current_id, (CUlimit)a->limit, a->value);
}

CUresult vgpu_exec_ctx_get_stream_priority_range(struct vgpu_session *s, struct vgpu_call *c)
{
	struct vgpu_priority_range out = { 0 };
	int least = 0, greatest = 0;
	CUresult r = s->drv.CtxGetStreamPriorityRange(&least, &greatest);

	out.least = least;
	out.greatest = greatest;
	vgpu_answer(c, &out, sizeof(out));
	return r;
}
