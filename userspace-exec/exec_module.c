// SPDX-License-Identifier: MIT
/* Modules, libraries, functions, kernels and launches. */
#include <string.h>

#include "../common/image.h"
#include "dispatch.h"
#include "log.h"

#define VGPU_MAX_NAME	4096u
#define VGPU_MAX_PARAMS	32768u

/* A new handle @id of @type for @obj, owned by the current context. */
static CUresult new_handle(struct vgpu_session *s, uint64_t id, enum vgpu_obj_type type, void *obj,
			   bool ctx_owned)
{
	struct vgpu_idmap_entry *e;

	if (id < VGPU_FIRST_ID)
		return CUDA_ERROR_INVALID_VALUE;
	e = vgpu_idmap_insert(&s->handles, id, type);
	if (!e)
		return vgpu_idmap_find(&s->handles, id) ? CUDA_ERROR_INVALID_VALUE
							: CUDA_ERROR_OUT_OF_MEMORY;
	e->obj = obj;
	e->aux32 = ctx_owned ? (uint32_t)s->current_id : 0;
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_image_upload(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_image_upload_args *a = (const void *)c->args;
	uint8_t *src = vgpu_bulk(s, &a->src);
	uint32_t slot;
	int r;

	if (!src || !vgpu_bulk_seq_ok(s, c, &a->src, a->bulk_seq, &slot))
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_module_cache_stage(&s->cache, a->hash, a->total, a->offset, src, a->src.len);
	/* Copied out already: the slot goes back to the guest at once. */
	vgpu_session_retire_now(s, slot, a->bulk_seq);
	return (CUresult)r;
}

CUresult vgpu_exec_module_load(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_module_load_args *a = (const void *)c->args;
	const struct vgpu_image *img;
	struct vgpu_image_span span;
	uint64_t before, after, charge;
	struct vgpu_idmap_entry *e;
	CUresult r;
	void *obj;

	if (a->id < VGPU_FIRST_ID || vgpu_idmap_find(&s->handles, a->id))
		return CUDA_ERROR_INVALID_VALUE;
	if (a->kind != VGPU_IMAGE_MODULE && a->kind != VGPU_IMAGE_LIBRARY)
		return CUDA_ERROR_INVALID_VALUE;
	img = vgpu_module_cache_get(&s->cache, a->hash);
	if (!img)
		return (CUresult)VGPU_STATUS_NEED_IMAGE;
	if (img->size != a->size)
		return CUDA_ERROR_INVALID_VALUE;
	/* The driver takes no length: every length the format gives must lie in what arrived. */
	if (vgpu_image_check(img->data, img->size, &span)) {
		static struct vgpu_log_limit limit;
		uint32_t dropped;

		if (vgpu_log_allow(&limit, &dropped))
			vgpu_log_event("warn", "hostile_input",
				       "session=%lu what=image bytes=%lu suppressed=%u",
				       (unsigned long)s->ch->session_id, (unsigned long)img->size,
				       dropped);
		vgpu_module_cache_loaded(&s->cache, a->hash);
		return CUDA_ERROR_INVALID_IMAGE;
	}
	before = vgpu_quota_free_now(s);
	/* @img is the cache's until it is told the image was loaded. */
	if (a->kind == VGPU_IMAGE_MODULE) {
		CUmodule m;

		r = s->drv.ModuleLoadData(&m, img->data);
		obj = m;
	} else {
		CUlibrary l;

		r = s->drv.LibraryLoadData(&l, img->data, NULL, NULL, 0, NULL, NULL, 0);
		obj = l;
	}
	if (r != CUDA_SUCCESS) {
		vgpu_module_cache_loaded(&s->cache, a->hash);
		return r;
	}
	/*
	 * Its code and globals are the quota's: what the driver's free memory
	 * dropped by, or what the image's headers say it takes, whichever is more
	 * (a driver that loads lazily takes it later).
	 */
	after = vgpu_quota_free_now(s);
	charge = vgpu_image_device_bytes(img->data, img->size);
	if (before > after && before - after > charge)
		charge = before - after;
	/* The driver has its own copy now. */
	vgpu_module_cache_loaded(&s->cache, a->hash);
	r = vgpu_quota_charge(s, VGPU_CHARGE_MODULE, charge);
	if (r == CUDA_SUCCESS)
		r = new_handle(s, a->id,
			       a->kind == VGPU_IMAGE_MODULE ? VGPU_OBJ_MODULE : VGPU_OBJ_LIBRARY, obj,
			       a->kind == VGPU_IMAGE_MODULE);
	else
		charge = 0;
	e = r == CUDA_SUCCESS ? vgpu_idmap_find(&s->handles, a->id) : NULL;
	if (e) {
		e->aux = charge;	/* given back at its unload */
		return CUDA_SUCCESS;
	}
	vgpu_quota_release(s, VGPU_CHARGE_MODULE, charge);
	if (a->kind == VGPU_IMAGE_MODULE)
		s->drv.ModuleUnload(obj);
	else
		s->drv.LibraryUnload(obj);
	return r;
}

CUresult vgpu_exec_module_unload(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_module_args *a = (const void *)c->args;
	bool lib = a->kind == VGPU_IMAGE_LIBRARY;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->id, lib ? VGPU_OBJ_LIBRARY : VGPU_OBJ_MODULE);
	CUresult r;

	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	r = lib ? s->drv.LibraryUnload(e->obj) : s->drv.ModuleUnload(e->obj);
	if (r == CUDA_SUCCESS) {
		vgpu_quota_release(s, VGPU_CHARGE_MODULE, e->aux);
		vgpu_idmap_remove(&s->handles, e);
	}
	return r;
}

/* The NUL-terminated name after a vgpu_module_get_args. */
static bool get_name(const struct vgpu_call *c, char *name)
{
	const struct vgpu_module_get_args *a = (const void *)c->args;
	const uint8_t *p = vgpu_trailing(c, sizeof(*a), a->name_len);

	if (!p || a->name_len == 0 || a->name_len >= VGPU_MAX_NAME || memchr(p, 0, a->name_len))
		return false;
	memcpy(name, p, a->name_len);
	name[a->name_len] = '\0';
	return true;
}

CUresult vgpu_exec_module_get_function(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_module_get_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *m = vgpu_obj(s, a->module, VGPU_OBJ_MODULE);
	char name[VGPU_MAX_NAME];
	CUfunction f;
	CUresult r;

	if (!m)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!get_name(c, name))
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.ModuleGetFunction(&f, m->obj, name);
	return r ? r : new_handle(s, a->new_id, VGPU_OBJ_FUNCTION, f, true);
}

CUresult vgpu_exec_library_get_kernel(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_module_get_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *l = vgpu_obj(s, a->module, VGPU_OBJ_LIBRARY);
	char name[VGPU_MAX_NAME];
	CUkernel k;
	CUresult r;

	if (!l)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!get_name(c, name))
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.LibraryGetKernel(&k, l->obj, name);
	return r ? r : new_handle(s, a->new_id, VGPU_OBJ_KERNEL, k, false);
}

CUresult vgpu_exec_module_get_global(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_module_get_args *a = (const void *)c->args;
	bool lib = a->kind == VGPU_IMAGE_LIBRARY;
	struct vgpu_idmap_entry *m = vgpu_obj(s, a->module, lib ? VGPU_OBJ_LIBRARY : VGPU_OBJ_MODULE);
	struct vgpu_global_reply out = { 0 };
	char name[VGPU_MAX_NAME];
	CUdeviceptr p = 0;
	size_t size = 0;
	CUresult r;

	if (!m)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!get_name(c, name))
		return CUDA_ERROR_INVALID_VALUE;
	r = lib ? s->drv.LibraryGetGlobal(&p, &size, m->obj, name)
		: s->drv.ModuleGetGlobal(&p, &size, m->obj, name);
	out.dptr = p;
	out.size = size;
	vgpu_answer(c, &out, sizeof(out));
	return r;
}

CUresult vgpu_exec_kernel_get_function(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_kernel_get_function_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *k = vgpu_obj(s, a->kernel, VGPU_OBJ_KERNEL);
	CUfunction f;
	CUresult r;

	if (!k)
		return CUDA_ERROR_INVALID_HANDLE;
	r = s->drv.KernelGetFunction(&f, k->obj);
	return r ? r : new_handle(s, a->new_id, VGPU_OBJ_FUNCTION, f, true);
}

CUresult vgpu_exec_func_get_param_info(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_func_param_info_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *f = vgpu_obj(s, a->func, VGPU_OBJ_FUNCTION);
	uint8_t *out = vgpu_bulk(s, &a->out);
	uint64_t cap = a->out.len / sizeof(struct vgpu_param_info);
	uint32_t n;

	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	/* Ask until the driver says there is no parameter i: the count is not capped. */
	for (n = 0; n < VGPU_MAX_PARAMS; n++) {
		struct vgpu_param_info pi;
		size_t off, size;
		CUresult r = f->type == VGPU_OBJ_KERNEL
				     ? s->drv.KernelGetParamInfo(f->obj, n, &off, &size)
				     : s->drv.FuncGetParamInfo(f->obj, n, &off, &size);

		if (r == CUDA_ERROR_INVALID_VALUE)
			break;
		if (r != CUDA_SUCCESS)
			return r;
		if (n < cap) {
			pi.offset = (uint32_t)off;
			pi.size = (uint32_t)size;
			memcpy(out + n * sizeof(pi), &pi, sizeof(pi));
		}
	}
	vgpu_answer(c, &n, sizeof(n));
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_func_get_attribute(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_func_attr_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *f = vgpu_obj(s, a->func, VGPU_OBJ_FUNCTION);
	int v = 0;
	CUresult r;

	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	r = f->type == VGPU_OBJ_KERNEL
		    ? s->drv.KernelGetAttribute(&v, (CUfunction_attribute)a->attrib, f->obj, a->device)
		    : s->drv.FuncGetAttribute(&v, (CUfunction_attribute)a->attrib, f->obj);
	vgpu_answer(c, &v, sizeof(v));
	return r;
}

CUresult vgpu_exec_func_set_attribute(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_func_attr_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *f = vgpu_obj(s, a->func, VGPU_OBJ_FUNCTION);

	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	return f->type == VGPU_OBJ_KERNEL
		       ? s->drv.KernelSetAttribute((CUfunction_attribute)a->attrib, a->value, f->obj,
						   a->device)
		       : s->drv.FuncSetAttribute(f->obj, (CUfunction_attribute)a->attrib, a->value);
}

CUresult vgpu_exec_launch_kernel(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_launch_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *f = vgpu_obj(s, a->func, VGPU_OBJ_FUNCTION);
	const uint8_t *params = vgpu_trailing(c, sizeof(*a), a->param_size);
	size_t size = a->param_size;
	void *extra[] = {
		CU_LAUNCH_PARAM_BUFFER_POINTER, (void *)params,
		CU_LAUNCH_PARAM_BUFFER_SIZE, &size,
		CU_LAUNCH_PARAM_END,
	};
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);

	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!params || a->param_size > VGPU_MAX_PARAM_BYTES)
		return CUDA_ERROR_INVALID_VALUE;
	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	/*
	 * The guest packed the parameters at the offsets the driver reported;
	 * the driver copies the buffer at launch, so the record may be reused.
	 */
	return s->drv.LaunchKernel(f->obj, a->grid[0], a->grid[1], a->grid[2], a->block[0],
				   a->block[1], a->block[2], a->shared_mem, xs->h, NULL,
				   a->param_size ? extra : NULL);
}
