// SPDX-License-Identifier: MIT
/*
 * The command decoder: from a private copy of one record to a handler.
 *
 * Everything here treats the record as hostile (decision 6): the opcode
 * indexes a table only after a range check, each call's fixed arguments must
 * fit in the record, and the context a call names must be one the session
 * created.  Answers go back only when the guest asked for one; a failure of
 * a call that was not answered is kept and reported by the next call that
 * may report asynchronous errors.
 */
#include <string.h>

#include "dispatch.h"

/* Calls that run in the context the header names (the others take none). */
#define IN_CTX	1u

struct vgpu_op {
	vgpu_handler fn;
	uint32_t min_args;
	uint32_t flags;
};

#define OP(num, handler, args, fl) [num] = { handler, sizeof(args), fl }
#define OP0(num, handler, fl) [num] = { handler, 0, fl }

static const struct vgpu_op ops[VGPU_OP_COUNT] = {
	OP(VGPU_OP_HELLO, vgpu_exec_hello, struct vgpu_hello_args, 0),
	OP0(VGPU_OP_GOODBYE, vgpu_exec_goodbye, 0),
	OP0(VGPU_OP_DEVICE_GET_COUNT, vgpu_exec_device_get_count, 0),
	OP(VGPU_OP_DEVICE_GET_INFO, vgpu_exec_device_get_info, struct vgpu_device_info_args, 0),
	OP(VGPU_OP_PRIMARY_CTX_RETAIN, vgpu_exec_primary_ctx_retain, struct vgpu_primary_ctx_args, 0),
	OP(VGPU_OP_PRIMARY_CTX_RELEASE, vgpu_exec_primary_ctx_release, struct vgpu_primary_ctx_args, 0),
	OP(VGPU_OP_PRIMARY_CTX_RESET, vgpu_exec_primary_ctx_reset, struct vgpu_primary_ctx_args, 0),
	OP(VGPU_OP_PRIMARY_CTX_SET_FLAGS, vgpu_exec_primary_ctx_set_flags,
	   struct vgpu_primary_ctx_args, 0),
	OP(VGPU_OP_PRIMARY_CTX_GET_STATE, vgpu_exec_primary_ctx_get_state,
	   struct vgpu_primary_ctx_args, 0),
	OP(VGPU_OP_CTX_CREATE, vgpu_exec_ctx_create, struct vgpu_ctx_create_args, 0),
	OP(VGPU_OP_CTX_DESTROY, vgpu_exec_ctx_destroy, struct vgpu_ctx_args, 0),
	OP0(VGPU_OP_CTX_SYNCHRONIZE, vgpu_exec_ctx_synchronize, IN_CTX),
	OP(VGPU_OP_CTX_GET_LIMIT, vgpu_exec_ctx_get_limit, struct vgpu_ctx_limit_args, IN_CTX),
	OP(VGPU_OP_CTX_SET_LIMIT, vgpu_exec_ctx_set_limit, struct vgpu_ctx_limit_args, IN_CTX),
	OP0(VGPU_OP_CTX_GET_STREAM_PRIORITY_RANGE, vgpu_exec_ctx_get_stream_priority_range, IN_CTX),
	OP(VGPU_OP_MEM_ALLOC, vgpu_exec_mem_alloc, struct vgpu_mem_alloc_args, IN_CTX),
	OP(VGPU_OP_MEM_FREE, vgpu_exec_mem_free, struct vgpu_mem_free_args, IN_CTX),
	OP0(VGPU_OP_MEM_GET_INFO, vgpu_exec_mem_get_info, IN_CTX),
	OP(VGPU_OP_MEMCPY_HTOD, vgpu_exec_memcpy_htod, struct vgpu_memcpy_htod_args, IN_CTX),
	OP(VGPU_OP_MEMCPY_HTOD_INLINE, vgpu_exec_memcpy_htod_inline,
	   struct vgpu_memcpy_htod_inline_args, IN_CTX),
	OP(VGPU_OP_MEMCPY_DTOH, vgpu_exec_memcpy_dtoh, struct vgpu_memcpy_dtoh_args, IN_CTX),
	OP(VGPU_OP_MEMCPY_DTOD, vgpu_exec_memcpy_dtod, struct vgpu_memcpy_dtod_args, IN_CTX),
	OP(VGPU_OP_MEMSET, vgpu_exec_memset, struct vgpu_memset_args, IN_CTX),
	OP(VGPU_OP_IMAGE_UPLOAD, vgpu_exec_image_upload, struct vgpu_image_upload_args, 0),
	OP(VGPU_OP_MODULE_LOAD, vgpu_exec_module_load, struct vgpu_module_load_args, IN_CTX),
	OP(VGPU_OP_MODULE_UNLOAD, vgpu_exec_module_unload, struct vgpu_module_args, IN_CTX),
	OP(VGPU_OP_MODULE_GET_FUNCTION, vgpu_exec_module_get_function, struct vgpu_module_get_args,
	   IN_CTX),
	OP(VGPU_OP_MODULE_GET_GLOBAL, vgpu_exec_module_get_global, struct vgpu_module_get_args,
	   IN_CTX),
	OP(VGPU_OP_LIBRARY_GET_KERNEL, vgpu_exec_library_get_kernel, struct vgpu_module_get_args,
	   IN_CTX),
	OP(VGPU_OP_KERNEL_GET_FUNCTION, vgpu_exec_kernel_get_function,
	   struct vgpu_kernel_get_function_args, IN_CTX),
	OP(VGPU_OP_FUNC_GET_PARAM_INFO, vgpu_exec_func_get_param_info,
	   struct vgpu_func_param_info_args, IN_CTX),
	OP(VGPU_OP_FUNC_GET_ATTRIBUTE, vgpu_exec_func_get_attribute, struct vgpu_func_attr_args,
	   IN_CTX),
	OP(VGPU_OP_FUNC_SET_ATTRIBUTE, vgpu_exec_func_set_attribute, struct vgpu_func_attr_args,
	   IN_CTX),
	OP(VGPU_OP_LAUNCH_KERNEL, vgpu_exec_launch_kernel, struct vgpu_launch_args, IN_CTX),
	OP(VGPU_OP_STREAM_CREATE, vgpu_exec_stream_create, struct vgpu_stream_create_args, IN_CTX),
	OP(VGPU_OP_STREAM_DESTROY, vgpu_exec_stream_destroy, struct vgpu_stream_args, IN_CTX),
	OP(VGPU_OP_STREAM_SYNCHRONIZE, vgpu_exec_stream_synchronize, struct vgpu_stream_args,
	   IN_CTX),
	OP(VGPU_OP_STREAM_QUERY, vgpu_exec_stream_query, struct vgpu_stream_args, IN_CTX),
	OP(VGPU_OP_STREAM_WAIT_EVENT, vgpu_exec_stream_wait_event,
	   struct vgpu_stream_wait_event_args, IN_CTX),
	OP(VGPU_OP_EVENT_CREATE, vgpu_exec_event_create, struct vgpu_event_create_args, IN_CTX),
	OP(VGPU_OP_EVENT_DESTROY, vgpu_exec_event_destroy, struct vgpu_event_args, IN_CTX),
	OP(VGPU_OP_EVENT_RECORD, vgpu_exec_event_record, struct vgpu_event_args, IN_CTX),
	OP(VGPU_OP_EVENT_SYNCHRONIZE, vgpu_exec_event_synchronize, struct vgpu_event_args, IN_CTX),
	OP(VGPU_OP_EVENT_QUERY, vgpu_exec_event_query, struct vgpu_event_args, IN_CTX),
	OP(VGPU_OP_EVENT_ELAPSED, vgpu_exec_event_elapsed, struct vgpu_event_elapsed_args, IN_CTX),
};

struct vgpu_idmap_entry *vgpu_obj(struct vgpu_session *s, uint64_t id, enum vgpu_obj_type type)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->handles, id);

	if (!e)
		return NULL;
	if (e->type == type || (type == VGPU_OBJ_FUNCTION && e->type == VGPU_OBJ_KERNEL))
		return e;
	return NULL;
}

bool vgpu_stream(struct vgpu_session *s, uint64_t id, CUstream *out)
{
	struct vgpu_idmap_entry *e;

	switch (id) {
	case VGPU_STREAM_NULL:
		*out = NULL;
		return true;
	case VGPU_STREAM_LEGACY:
		*out = CU_STREAM_LEGACY;
		return true;
	case VGPU_STREAM_PER_THREAD:
		*out = CU_STREAM_PER_THREAD;
		return true;
	}
	e = vgpu_obj(s, id, VGPU_OBJ_STREAM);
	if (!e)
		return false;
	*out = e->obj;
	return true;
}

uint8_t *vgpu_bulk(struct vgpu_session *s, const struct vgpu_bulk_ref *r)
{
	if (r->off > s->bulk_size || r->len > s->bulk_size - r->off)
		return NULL;
	return s->bulk + r->off;
}

struct forget_arg {
	struct vgpu_session *s;
	uint64_t ctx_id;
};

static void forget_one(struct vgpu_idmap_entry *e, void *arg)
{
	struct forget_arg *a = arg;

	/* The driver freed these with their context; only the ids are left. */
	if (e->type != VGPU_OBJ_CTX && e->type != VGPU_OBJ_LIBRARY && e->aux32 == a->ctx_id)
		vgpu_idmap_remove(&a->s->handles, e);
}

void vgpu_forget_ctx_objects(struct vgpu_session *s, uint64_t ctx_id)
{
	struct forget_arg a = { s, ctx_id };

	vgpu_idmap_each(&s->handles, forget_one, &a);
}

/* Make the header's context the worker's current one. */
static CUresult enter_ctx(struct vgpu_session *s, uint64_t ctx_id)
{
	CUcontext want = NULL;
	CUresult r;

	if (ctx_id == s->current_id && (ctx_id == 0 || s->current))
		return CUDA_SUCCESS;
	if (ctx_id) {
		struct vgpu_idmap_entry *e = vgpu_obj(s, ctx_id, VGPU_OBJ_CTX);

		if (!e)
			return CUDA_ERROR_INVALID_CONTEXT;
		want = e->obj;
	}
	r = s->drv.CtxSetCurrent(want);
	if (r != CUDA_SUCCESS)
		return r;
	s->current = want;
	s->current_id = ctx_id;
	return CUDA_SUCCESS;
}

void vgpu_dispatch(struct vgpu_session *s, const void *rec, uint32_t size)
{
	const struct vgpu_cmd_hdr *h = rec;
	struct vgpu_call c = {
		.hdr = h,
		.args = (const uint8_t *)rec + sizeof(*h),
		.args_len = size - (uint32_t)sizeof(*h),
	};
	const struct vgpu_op *op = h->opcode < VGPU_OP_COUNT ? &ops[h->opcode] : NULL;
	CUresult r;

	if (!op || !op->fn)
		r = CUDA_ERROR_NOT_SUPPORTED;
	else if (c.args_len < op->min_args)
		r = CUDA_ERROR_INVALID_VALUE;
	else if (h->opcode != VGPU_OP_HELLO && !s->driver_ready)
		r = CUDA_ERROR_NOT_INITIALIZED;
	else if (op->flags & IN_CTX && (r = enter_ctx(s, h->ctx)) != CUDA_SUCCESS)
		;
	else
		r = op->fn(s, &c);

	if (h->flags & VGPU_CMD_F_REPORT_ASYNC && r == CUDA_SUCCESS && s->deferred) {
		r = s->deferred;
		s->deferred = CUDA_SUCCESS;
	}
	if (h->flags & VGPU_CMD_F_REPLY)
		vgpu_session_reply(s, h->tag, (uint32_t)r, c.out, c.out_len);
	else if (r != CUDA_SUCCESS && !s->deferred)
		s->deferred = r;
}
