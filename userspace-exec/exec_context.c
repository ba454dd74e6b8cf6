// SPDX-License-Identifier: MIT
/* Session start, devices and contexts. */
#include <stdio.h>
#include <string.h>

#include "dispatch.h"
#include "vgpu/regs.h"

/* Pin the bulk area once a context exists, so copies through it are real DMA. */
static void register_bulk(struct vgpu_session *s)
{
	if (s->bulk_registered || !s->current)
		return;
	if (s->drv.MemHostRegister(s->bulk, s->bulk_size, CU_MEMHOSTREGISTER_PORTABLE) ==
	    CUDA_SUCCESS)
		s->bulk_registered = true;
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
	out.mem_quota = s->ch->mem_quota;
	if (!out.mem_quota && out.device_count > 0 && s->drv.DeviceTotalMem(&total_b, 0) == 0)
		out.mem_quota = total_b;
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
	info->total_mem = s->ch->mem_quota && s->ch->mem_quota < total ? s->ch->mem_quota : total;
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

/* Bind @id to context @ctx; an id already bound must name the same context. */
static CUresult bind_ctx(struct vgpu_session *s, uint64_t id, CUcontext ctx, int device)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->handles, id);

	if (id < VGPU_FIRST_ID || id > UINT32_MAX)
		return CUDA_ERROR_INVALID_VALUE;
	if (e) {
		if (e->type != VGPU_OBJ_CTX)
			return CUDA_ERROR_INVALID_VALUE;
		e->obj = ctx;
		return CUDA_SUCCESS;
	}
	e = vgpu_idmap_insert(&s->handles, id, VGPU_OBJ_CTX);
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	e->obj = ctx;
	e->aux32 = (uint32_t)device;
	e->aux = 1;	/* primary context */
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_primary_ctx_retain(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_primary_ctx_args *a = (const void *)c->args;
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
	r = bind_ctx(s, a->ctx_id, ctx, a->device);
	if (r != CUDA_SUCCESS) {
		s->drv.DevicePrimaryCtxRelease(dev);
		return r;
	}
	/* The bulk area is registered once a context exists to register it in. */
	if (!s->bulk_registered && s->drv.CtxSetCurrent(ctx) == CUDA_SUCCESS) {
		s->current = ctx;
		s->current_id = a->ctx_id;
		register_bulk(s);
	}
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_primary_ctx_release(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_primary_ctx_args *a = (const void *)c->args;
	CUdevice dev;
	CUresult r = s->drv.DeviceGet(&dev, a->device);

	return r ? r : s->drv.DevicePrimaryCtxRelease(dev);
}

CUresult vgpu_exec_primary_ctx_reset(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_primary_ctx_args *a = (const void *)c->args;
	CUdevice dev;
	CUresult r = s->drv.DeviceGet(&dev, a->device);

	if (r == CUDA_SUCCESS)
		r = s->drv.DevicePrimaryCtxReset(dev);
	if (r == CUDA_SUCCESS && a->ctx_id) {
		/* Streams, events, modules and memory of the context are gone. */
		vgpu_forget_ctx_objects(s, a->ctx_id);
		if (s->current_id == a->ctx_id) {
			s->current = NULL;
			s->current_id = 0;
		}
		s->bulk_registered = false;
	}
	return r;
}

CUresult vgpu_exec_primary_ctx_set_flags(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_primary_ctx_args *a = (const void *)c->args;
	CUdevice dev;
	CUresult r = s->drv.DeviceGet(&dev, a->device);

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
	struct vgpu_idmap_entry *e;
	CUcontext ctx;
	CUdevice dev;
	CUresult r;

	if (a->ctx_id < VGPU_FIRST_ID || a->ctx_id > UINT32_MAX ||
	    vgpu_idmap_find(&s->handles, a->ctx_id))
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.DeviceGet(&dev, a->device);
	if (r == CUDA_SUCCESS)
		r = s->drv.CtxCreate(&ctx, NULL, a->flags, dev);
	if (r != CUDA_SUCCESS)
		return r;
	e = vgpu_idmap_insert(&s->handles, a->ctx_id, VGPU_OBJ_CTX);
	if (!e) {
		s->drv.CtxDestroy(ctx);
		/* cuCtxCreate made it current; it is gone again. */
		s->drv.CtxSetCurrent(s->current);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	e->obj = ctx;
	e->aux32 = (uint32_t)a->device;
	s->current = ctx;
	s->current_id = a->ctx_id;
	register_bulk(s);
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_ctx_destroy(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_ctx_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->ctx_id, VGPU_OBJ_CTX);
	CUresult r;

	if (!e || e->aux == 1)	/* unknown, or a primary context */
		return CUDA_ERROR_INVALID_CONTEXT;
	r = s->drv.CtxDestroy(e->obj);
	if (r != CUDA_SUCCESS)
		return r;
	vgpu_forget_ctx_objects(s, a->ctx_id);
	vgpu_idmap_remove(&s->handles, e);
	if (s->current_id == a->ctx_id) {
		s->current = NULL;
		s->current_id = 0;
		s->drv.CtxSetCurrent(NULL);
	}
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_ctx_synchronize(struct vgpu_session *s, struct vgpu_call *c)
{
	return s->drv.CtxSynchronize();
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

	return s->drv.CtxSetLimit((CUlimit)a->limit, (size_t)a->value);
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
