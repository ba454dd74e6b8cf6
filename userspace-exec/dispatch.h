/* SPDX-License-Identifier: MIT */
/* What the executor's call handlers share (see dispatch.c). */
#ifndef VGPU_DISPATCH_H
#define VGPU_DISPATCH_H

#include "session.h"
#include "vgpu/calls.h"

/* One call being executed: its private record, arguments and answer. */
struct vgpu_call {
	const struct vgpu_cmd_hdr *hdr;
	const uint8_t *args;	/* after the header */
	uint32_t args_len;	/* bytes from args to the end of the record */
	uint8_t out[VGPU_CQ_INLINE];
	uint32_t out_len;
	uint64_t stream;	/* the stream the call ran on (for kept errors), or VGPU_KEPT_ANY_STREAM */
	bool deferred;		/* a wait answers it later (the handler queued one) */
};

/* A handler's answer when it queued a wait that will answer (or keep the error) later. */
#define VGPU_DEFERRED	((CUresult)0x7fff0000)

typedef CUresult (*vgpu_handler)(struct vgpu_session *s, struct vgpu_call *c);

/* Handlers, by area. */
CUresult vgpu_exec_hello(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_goodbye(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_device_get_count(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_device_get_info(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_primary_ctx_retain(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_primary_ctx_release(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_primary_ctx_reset(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_primary_ctx_set_flags(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_primary_ctx_get_state(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_ctx_create(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_ctx_destroy(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_ctx_synchronize(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_ctx_get_limit(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_ctx_set_limit(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_ctx_get_stream_priority_range(struct vgpu_session *s, struct vgpu_call *c);

CUresult vgpu_exec_mem_alloc(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_mem_free(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_mem_get_info(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_memcpy_htod(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_memcpy_htod_inline(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_memcpy_dtoh(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_memcpy_dtod(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_memset(struct vgpu_session *s, struct vgpu_call *c);

CUresult vgpu_exec_image_upload(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_module_load(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_module_unload(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_module_get_function(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_module_get_global(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_library_get_kernel(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_kernel_get_function(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_func_get_param_info(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_func_get_attribute(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_func_set_attribute(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_launch_kernel(struct vgpu_session *s, struct vgpu_call *c);

CUresult vgpu_exec_stream_create(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_stream_destroy(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_stream_synchronize(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_stream_query(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_stream_wait_event(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_launch_host_func(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_stream_wait_value(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_stream_write_value(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_thread_exit(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_event_create(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_event_destroy(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_event_record(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_event_synchronize(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_event_query(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_event_elapsed(struct vgpu_session *s, struct vgpu_call *c);

CUresult vgpu_exec_vmm_granularity(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_vmm_reserve(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_vmm_address_free(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_vmm_create(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_vmm_release(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_vmm_map(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_vmm_unmap(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_vmm_set_access(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_vmm_get_access(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_vmm_retain(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_vmm_get_prop(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_mem_alloc_async(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_mem_free_async(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_pool_create(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_pool_destroy(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_pool_trim(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_pool_set_attr(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_pool_get_attr(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_device_get_pool(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_device_set_pool(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_launch_kernel_ex(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_func_get_attributes(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_func_set_cache_config(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_func_set_shared_config(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_occupancy_cluster(struct vgpu_session *s, struct vgpu_call *c);

/* Helpers for handlers. */

/* The object of @type (or, for VGPU_OBJ_FUNCTION, a kernel) named @id, or NULL. */
struct vgpu_idmap_entry *vgpu_obj(struct vgpu_session *s, uint64_t id, enum vgpu_obj_type type);

/*
 * Resolve the stream a call names (0, 1 the legacy stream, 2 the calling
 * guest thread's per-thread default stream) and note it in @c for kept
 * errors.  NULL for an unknown id.
 */
struct vgpu_xstream *vgpu_stream(struct vgpu_session *s, struct vgpu_call *c, uint64_t id);

/*
 * Queue a wait that answers @c once @xs reached this point (status and kept
 * errors then), and give it in *@out if @out is not NULL.  Returns
 * VGPU_DEFERRED, or an error to answer at once.
 */
CUresult vgpu_answer_after(struct vgpu_session *s, struct vgpu_call *c, struct vgpu_xstream *xs,
			   struct vgpu_wait **out);

/* Free @dptr in the driver and forget it (a wait's completion; the work using it is done). */
CUresult vgpu_mem_free_now(struct vgpu_session *s, uint64_t dptr);

/* Record that @slot's outgoing data of @seq is read once @xs reached this point. */
void vgpu_retire_after(struct vgpu_session *s, uint32_t slot, uint64_t seq,
		       struct vgpu_xstream *xs);

/*
 * Check an outgoing bulk reference's sequence number: it must be the
 * record's own (its seal), which makes sequence order ring order.  A
 * violation closes the session.  Returns the slot the data starts at.
 */
bool vgpu_bulk_seq_ok(struct vgpu_session *s, const struct vgpu_call *c,
		      const struct vgpu_bulk_ref *r, uint64_t seq, uint32_t *slot);

/* The bulk bytes @r names, or NULL when it does not lie inside the bulk area. */
uint8_t *vgpu_bulk(struct vgpu_session *s, const struct vgpu_bulk_ref *r);

/* Forget every handle owned by context @ctx_id (it was destroyed or reset). */
void vgpu_forget_ctx_objects(struct vgpu_session *s, uint64_t ctx_id);

/* The call's answer (inline). */
static inline void vgpu_answer(struct vgpu_call *c, const void *data, uint32_t len)
{
	if (len > sizeof(c->out))
		len = sizeof(c->out);
	memcpy(c->out, data, len);
	c->out_len = len;
}

/* The @n-byte trailing part after a fixed argument struct of @fixed bytes, or NULL. */
static inline const uint8_t *vgpu_trailing(const struct vgpu_call *c, size_t fixed, uint64_t n)
{
	if (c->args_len < fixed || n > c->args_len - fixed)
		return NULL;
	return c->args + fixed;
}

#endif /* VGPU_DISPATCH_H */
