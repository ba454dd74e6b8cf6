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
};

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
CUresult vgpu_exec_event_create(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_event_destroy(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_event_record(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_event_synchronize(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_event_query(struct vgpu_session *s, struct vgpu_call *c);
CUresult vgpu_exec_event_elapsed(struct vgpu_session *s, struct vgpu_call *c);

/* Helpers for handlers. */

/* The object of @type (or, for VGPU_OBJ_FUNCTION, a kernel) named @id, or NULL. */
struct vgpu_idmap_entry *vgpu_obj(struct vgpu_session *s, uint64_t id, enum vgpu_obj_type type);

/* Resolve a stream id: 0, 1, 2 are the default streams. False for an unknown id. */
bool vgpu_stream(struct vgpu_session *s, uint64_t id, CUstream *out);

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
