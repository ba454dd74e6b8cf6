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
#include <stdio.h>
#include <string.h>

#include "dispatch.h"
#include "waits.h"
#include "worker_stats.h"

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
	OP0(VGPU_OP_THREAD_EXIT, vgpu_exec_thread_exit, 0),
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
	OP(VGPU_OP_LAUNCH_HOST_FUNC, vgpu_exec_launch_host_func, struct vgpu_host_func_args,
	   IN_CTX),
	OP(VGPU_OP_STREAM_WAIT_VALUE, vgpu_exec_stream_wait_value, struct vgpu_stream_value_args,
	   IN_CTX),
	OP(VGPU_OP_STREAM_WRITE_VALUE, vgpu_exec_stream_write_value, struct vgpu_stream_value_args,
	   IN_CTX),
	OP(VGPU_OP_EVENT_CREATE, vgpu_exec_event_create, struct vgpu_event_create_args, IN_CTX),
	OP(VGPU_OP_EVENT_DESTROY, vgpu_exec_event_destroy, struct vgpu_event_args, IN_CTX),
	OP(VGPU_OP_EVENT_RECORD, vgpu_exec_event_record, struct vgpu_event_args, IN_CTX),
	OP(VGPU_OP_EVENT_SYNCHRONIZE, vgpu_exec_event_synchronize, struct vgpu_event_args, IN_CTX),
	OP(VGPU_OP_EVENT_QUERY, vgpu_exec_event_query, struct vgpu_event_args, IN_CTX),
	OP(VGPU_OP_EVENT_ELAPSED, vgpu_exec_event_elapsed, struct vgpu_event_elapsed_args, IN_CTX),
	/* Virtual memory management and stream-ordered allocation (exec_vmm.c, exec_pool.c). */
	OP(VGPU_OP_VMM_GRANULARITY, vgpu_exec_vmm_granularity, struct vgpu_vmm_granularity_args,
	   IN_CTX),
	OP(VGPU_OP_VMM_RESERVE, vgpu_exec_vmm_reserve, struct vgpu_vmm_reserve_args, IN_CTX),
	OP(VGPU_OP_VMM_ADDRESS_FREE, vgpu_exec_vmm_address_free, struct vgpu_vmm_range_args,
	   IN_CTX),
	OP(VGPU_OP_VMM_CREATE, vgpu_exec_vmm_create, struct vgpu_vmm_create_args, IN_CTX),
	OP(VGPU_OP_VMM_RELEASE, vgpu_exec_vmm_release, struct vgpu_vmm_handle_args, IN_CTX),
	OP(VGPU_OP_VMM_MAP, vgpu_exec_vmm_map, struct vgpu_vmm_map_args, IN_CTX),
	OP(VGPU_OP_VMM_UNMAP, vgpu_exec_vmm_unmap, struct vgpu_vmm_range_args, IN_CTX),
	OP(VGPU_OP_VMM_SET_ACCESS, vgpu_exec_vmm_set_access, struct vgpu_vmm_set_access_args,
	   IN_CTX),
	OP(VGPU_OP_VMM_GET_ACCESS, vgpu_exec_vmm_get_access, struct vgpu_vmm_get_access_args,
	   IN_CTX),
	OP(VGPU_OP_VMM_RETAIN, vgpu_exec_vmm_retain, struct vgpu_vmm_retain_args, IN_CTX),
	OP(VGPU_OP_VMM_GET_PROP, vgpu_exec_vmm_get_prop, struct vgpu_vmm_handle_args, IN_CTX),
	OP(VGPU_OP_MEM_ALLOC_ASYNC, vgpu_exec_mem_alloc_async, struct vgpu_mem_alloc_async_args,
	   IN_CTX),
	OP(VGPU_OP_MEM_FREE_ASYNC, vgpu_exec_mem_free_async, struct vgpu_mem_free_async_args,
	   IN_CTX),
	OP(VGPU_OP_POOL_CREATE, vgpu_exec_pool_create, struct vgpu_pool_create_args, IN_CTX),
	OP(VGPU_OP_POOL_DESTROY, vgpu_exec_pool_destroy, struct vgpu_pool_args, IN_CTX),
	OP(VGPU_OP_POOL_TRIM, vgpu_exec_pool_trim, struct vgpu_pool_args, IN_CTX),
	OP(VGPU_OP_POOL_SET_ATTR, vgpu_exec_pool_set_attr, struct vgpu_pool_attr_args, IN_CTX),
	OP(VGPU_OP_POOL_GET_ATTR, vgpu_exec_pool_get_attr, struct vgpu_pool_attr_args, IN_CTX),
	OP(VGPU_OP_DEVICE_GET_POOL, vgpu_exec_device_get_pool, struct vgpu_device_pool_args,
	   IN_CTX),
	OP(VGPU_OP_DEVICE_SET_POOL, vgpu_exec_device_set_pool, struct vgpu_device_pool_args,
	   IN_CTX),
	OP(VGPU_OP_LAUNCH_KERNEL_EX, vgpu_exec_launch_kernel_ex, struct vgpu_launch_ex_args, IN_CTX),
	OP(VGPU_OP_FUNC_GET_ATTRIBUTES, vgpu_exec_func_get_attributes, struct vgpu_func_attrs_args,
	   IN_CTX),
	OP(VGPU_OP_FUNC_SET_CACHE_CONFIG, vgpu_exec_func_set_cache_config,
	   struct vgpu_func_config_args, IN_CTX),
	OP(VGPU_OP_FUNC_SET_SHARED_CONFIG, vgpu_exec_func_set_shared_config,
	   struct vgpu_func_config_args, IN_CTX),
	OP(VGPU_OP_OCCUPANCY_CLUSTER, vgpu_exec_occupancy_cluster,
	   struct vgpu_occupancy_cluster_args, IN_CTX),
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

struct vgpu_xstream *vgpu_stream(struct vgpu_session *s, struct vgpu_call *c, uint64_t id)
{
	struct vgpu_xstream *xs = vgpu_xstream_find(s, id, c->hdr->thread);

	/* Errors of work on it are kept under the guest's name for it. */
	if (xs)
		c->stream = id;
	return xs;
}

CUresult vgpu_answer_after(struct vgpu_session *s, struct vgpu_call *c, struct vgpu_xstream *xs,
			   struct vgpu_wait **out)
{
	struct vgpu_xctx *x = vgpu_xctx_of(s, xs->ctx_id);
	struct vgpu_wait *w = x ? vgpu_wait_new(VGPU_WAIT_ANSWER, x, 1) : NULL;
	CUresult r;

	if (!w)
		return x ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_INVALID_CONTEXT;
	r = vgpu_wait_record(s, w, x, xs);
	if (r != CUDA_SUCCESS) {
		vgpu_wait_discard(s, w);
		return r;
	}
	w->tag = c->hdr->tag;
	w->flags = c->hdr->flags;
	w->thread = c->hdr->thread;
	w->stream = c->stream;
	vgpu_wait_queue(s, w);
	c->deferred = true;
	if (out)
		*out = w;
	return VGPU_DEFERRED;
}

void vgpu_retire_after(struct vgpu_session *s, uint32_t slot, uint64_t seq,
		       struct vgpu_xstream *xs)
{
	struct vgpu_xctx *x = xs ? vgpu_xctx_of(s, xs->ctx_id) : NULL;
	struct vgpu_wait *w = x ? vgpu_wait_new(VGPU_WAIT_RETIRE, x, 1) : NULL;

	if (w && vgpu_wait_record(s, w, x, xs) == CUDA_SUCCESS) {
		w->slot = slot;
		w->seq = seq;
		vgpu_wait_queue(s, w);
		return;
	}
	if (w)
		vgpu_wait_discard(s, w);
	/* No event to wait on: the copy's end cannot be seen, so wait for it here. */
	if (xs)
		s->drv.StreamSynchronize(xs->h);
	vgpu_session_retire_now(s, slot, seq);
}

bool vgpu_bulk_seq_ok(struct vgpu_session *s, const struct vgpu_call *c,
		      const struct vgpu_bulk_ref *r, uint64_t seq, uint32_t *slot)
{
	if (seq != c->hdr->seal || r->off % s->bulk_slot_size) {
		fprintf(stderr,
			"vgpu-executor: session %lu: bulk sequence %lu at ring position %lu: "
			"out of ring order, closing the session\n",
			(unsigned long)s->ch->session_id, (unsigned long)seq,
			(unsigned long)(c->hdr->seal - 1));
		vgpu_store32(&s->ctrl->exec_error, CUDA_ERROR_INVALID_VALUE);
		s->closing = true;
		return false;
	}
	*slot = (uint32_t)(r->off / s->bulk_slot_size);
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
	if (e->type == VGPU_OBJ_CTX || e->type == VGPU_OBJ_LIBRARY || e->aux32 != a->ctx_id)
		return;
	if (e->type == VGPU_OBJ_EVENT) {
		struct vgpu_xevent *ev = e->obj;

		/* No wait polls it any more: the context's waits were aborted first. */
		if (ev->polled)
			ev->destroyed = true;
		else
			free(ev);
	}
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
	struct vgpu_xctx *x = NULL;
	CUresult r;

	if (ctx_id == s->current_id && (ctx_id == 0 || s->current))
		return CUDA_SUCCESS;
	if (ctx_id) {
		struct vgpu_idmap_entry *e = vgpu_obj(s, ctx_id, VGPU_OBJ_CTX);

		if (!e || ((struct vgpu_xctx *)e->obj)->dead)
			return CUDA_ERROR_INVALID_CONTEXT;
		x = e->obj;
	}
	r = s->drv.CtxSetCurrent(x ? x->h : NULL);
	if (r != CUDA_SUCCESS)
		return r;
	s->current = x ? x->h : NULL;
	s->current_id = ctx_id;
	s->cur = x;
	return CUDA_SUCCESS;
}

void vgpu_dispatch(struct vgpu_session *s, const void *rec, uint32_t size)
{
	const struct vgpu_cmd_hdr *h = rec;
	struct vgpu_call c = {
		.hdr = h,
		.args = (const uint8_t *)rec + sizeof(*h),
		.args_len = size - (uint32_t)sizeof(*h),
		.stream = VGPU_KEPT_ANY_STREAM,
	};
	const struct vgpu_op *op = h->opcode < VGPU_OP_COUNT ? &ops[h->opcode] : NULL;
	CUresult r;

	vgpu_stats_count_call();	/* for vgpu status: calls per second */
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

	/* A wait answers it when its work is done (waits.c). */
	if (c.deferred)
		return;
	/* Errors kept from this thread's earlier asynchronous work on the same stream. */
	if (h->flags & VGPU_CMD_F_REPORT_ASYNC && r == CUDA_SUCCESS)
		r = vgpu_take_error(s, h->thread, h->ctx, c.stream);
	if (h->flags & VGPU_CMD_F_REPLY)
		vgpu_session_reply(s, h->tag, (uint32_t)r, c.out, c.out_len);
	else if (r != CUDA_SUCCESS)
		vgpu_keep_error(s, h->thread, h->ctx, c.stream, r);
}
