// SPDX-License-Identifier: MIT
/*
 * The pinned-memory heap (decision 9): the guest carves pinned host
 * allocations from its channel's slice of BAR1's heap, which the worker
 * registered with the driver, so copies from and to them are real DMA in
 * stream order, with no staging through bulk.  A copy names its host side by
 * its offset within BAR1; only offsets inside this channel's slice are
 * taken (overflow-safe), so no guest number ever becomes a pointer outside
 * the memory it owns (decision 6).
 */
#include "dispatch.h"

/*
 * The slice is registered when the guest first asks for it (its first
 * pinned allocation), not with the channel: registering pins every page, and
 * most sessions never allocate pinned memory.  Only a channel that could be
 * registered itself gets a heap (the same driver limits apply).
 */
CUresult vgpu_exec_heap_info(struct vgpu_session *s, struct vgpu_call *c)
{
	struct vgpu_heap_info_reply out;

	if (!s->heap_registered && s->heap && s->bulk_registered &&
	    s->drv.MemHostRegister(s->heap, s->heap_len,
				   CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP) ==
		    CUDA_SUCCESS) {
		s->heap_registered = true;
		if (s->drv.MemHostGetDevicePointer(&s->heap_dev, s->heap, 0) != CUDA_SUCCESS)
			s->heap_dev = 0;
	}
	if (!s->heap_registered)
		return CUDA_ERROR_NOT_SUPPORTED;
	out = (struct vgpu_heap_info_reply){ s->heap_off, s->heap_len, s->heap_dev };
	vgpu_answer(c, &out, sizeof(out));
	return CUDA_SUCCESS;
}

/* The bytes [off, off + len) of BAR1, when they lie in this channel's registered slice. */
static uint8_t *heap_range(struct vgpu_session *s, uint64_t off, uint64_t len)
{
	uint64_t end;

	if (!s->heap_registered || !len || __builtin_add_overflow(off, len, &end) ||
	    off < s->heap_off || end > s->heap_off + s->heap_len)
		return NULL;
	return s->heap + (off - s->heap_off);
}

/* A synchronous copy is answered once it is done: the guest may reuse the memory then. */
static CUresult finish(struct vgpu_session *s, struct vgpu_call *c, struct vgpu_xstream *xs,
		       CUresult r)
{
	if (r != CUDA_SUCCESS || !(c->hdr->flags & VGPU_CMD_F_REPLY))
		return r;
	return vgpu_answer_after(s, c, xs, NULL);
}

CUresult vgpu_exec_memcpy_heap_htod(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_heap_args *a = (const void *)c->args;
	uint8_t *src = heap_range(s, a->off, a->len);
	struct vgpu_xstream *xs;

	if (!src)
		return s->heap_registered ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_SUPPORTED;
	xs = vgpu_stream(s, c, a->stream);
	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	return finish(s, c, xs, s->drv.MemcpyHtoDAsync(a->dev, src, a->len, xs->h));
}

CUresult vgpu_exec_memcpy_heap_dtoh(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_heap_args *a = (const void *)c->args;
	uint8_t *dst = heap_range(s, a->off, a->len);
	struct vgpu_xstream *xs;

	if (!dst)
		return s->heap_registered ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_SUPPORTED;
	xs = vgpu_stream(s, c, a->stream);
	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	return finish(s, c, xs, s->drv.MemcpyDtoHAsync(dst, a->dev, a->len, xs->h));
}
