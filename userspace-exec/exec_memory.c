// SPDX-License-Identifier: MIT
/*
 * Device memory and copies.  Host data only ever moves through the channel's
 * bulk area or the record itself: no guest-supplied host address is used, so
 * a copy can never reach the executor's own memory (decision 6).
 */
#include <string.h>

#include "dispatch.h"

CUresult vgpu_exec_mem_alloc(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_mem_alloc_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e;
	CUdeviceptr p = 0;
	CUresult r;

	/* The quota is the instance's framebuffer: enforced here, not trusted to the guest. */
	if (s->ch->mem_quota && a->size > s->ch->mem_quota - s->mem_used)
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = s->drv.MemAlloc(&p, (size_t)a->size);
	if (r != CUDA_SUCCESS)
		return r;
	e = vgpu_idmap_insert(&s->allocs, p, 1);
	if (!e) {
		s->drv.MemFree(p);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	e->aux = a->size;
	e->aux32 = (uint32_t)s->current_id;
	s->mem_used += a->size;
	vgpu_answer(c, &p, sizeof(p));
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_mem_free(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_mem_free_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->allocs, a->dptr);
	CUresult r;

	/* Only what this session allocated; module globals and the like are not its to free. */
	if (!e)
		return a->dptr ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
	r = s->drv.MemFree(a->dptr);
	if (r != CUDA_SUCCESS)
		return r;
	s->mem_used -= e->aux;
	vgpu_idmap_remove(&s->allocs, e);
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_mem_get_info(struct vgpu_session *s, struct vgpu_call *c)
{
	struct vgpu_mem_info_reply out;
	size_t free_b = 0, total_b = 0;
	CUresult r = s->drv.MemGetInfo(&free_b, &total_b);

	if (r != CUDA_SUCCESS)
		return r;
	out.total = total_b;
	out.free = free_b;
	if (s->ch->mem_quota && s->ch->mem_quota < total_b) {
		uint64_t left = s->ch->mem_quota - s->mem_used;

		out.total = s->ch->mem_quota;
		out.free = left < free_b ? left : free_b;
	}
	vgpu_answer(c, &out, sizeof(out));
	return CUDA_SUCCESS;
}

/*
 * Bulk sequence @seq may be reused once the copy just issued on @stream has
 * read it.  Registered memory is read by DMA after the call returns, so an
 * event marks the end; pageable memory was staged before the call returned,
 * and a failed copy reads nothing: then nothing is in flight.
 */
static void retire_after(struct vgpu_session *s, uint64_t seq, bool in_flight, CUstream stream)
{
	struct vgpu_retire *slot;
	CUevent ev = NULL;

	if (seq == 0)
		return;
	if (s->retire_tail - s->retire_head == VGPU_RETIRE_SLOTS)
		vgpu_session_retire(s, true);
	if (in_flight && s->bulk_registered) {
		if (s->drv.EventCreate(&ev, CU_EVENT_DISABLE_TIMING) != CUDA_SUCCESS) {
			ev = NULL;
			s->drv.StreamSynchronize(stream);
		} else if (s->drv.EventRecord(ev, stream) != CUDA_SUCCESS) {
			s->drv.EventDestroy(ev);
			ev = NULL;
			s->drv.StreamSynchronize(stream);
		}
	}
	slot = &s->retire[s->retire_tail % VGPU_RETIRE_SLOTS];
	slot->seq = seq;
	slot->done = ev;
	s->retire_tail++;
}

CUresult vgpu_exec_memcpy_htod(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_htod_args *a = (const void *)c->args;
	uint8_t *src = vgpu_bulk(s, &a->src);
	CUstream st;
	CUresult r;

	if (!src || !vgpu_stream(s, a->stream, &st)) {
		retire_after(s, a->bulk_seq, false, NULL);
		return src ? CUDA_ERROR_INVALID_HANDLE : CUDA_ERROR_INVALID_VALUE;
	}
	r = s->drv.MemcpyHtoDAsync(a->dst, src, a->src.len, st);
	retire_after(s, a->bulk_seq, r == CUDA_SUCCESS, st);
	return r;
}

CUresult vgpu_exec_memcpy_htod_inline(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_htod_inline_args *a = (const void *)c->args;
	const uint8_t *src = vgpu_trailing(c, sizeof(*a), a->len);
	CUstream st;

	if (!src)
		return CUDA_ERROR_INVALID_VALUE;
	if (!vgpu_stream(s, a->stream, &st))
		return CUDA_ERROR_INVALID_HANDLE;
	/* The record is pageable memory: the driver stages it before returning. */
	return s->drv.MemcpyHtoDAsync(a->dst, src, a->len, st);
}

CUresult vgpu_exec_memcpy_dtoh(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_dtoh_args *a = (const void *)c->args;
	uint8_t *dst = vgpu_bulk(s, &a->dst);
	CUstream st;
	CUresult r;

	if (!dst)
		return CUDA_ERROR_INVALID_VALUE;
	if (!vgpu_stream(s, a->stream, &st))
		return CUDA_ERROR_INVALID_HANDLE;
	r = s->drv.MemcpyDtoHAsync(dst, a->src, a->dst.len, st);
	/* Answered once the bytes are in bulk, where the guest reads them. */
	if (r == CUDA_SUCCESS)
		r = s->drv.StreamSynchronize(st);
	return r;
}

CUresult vgpu_exec_memcpy_dtod(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_dtod_args *a = (const void *)c->args;
	CUstream st;

	if (!vgpu_stream(s, a->stream, &st))
		return CUDA_ERROR_INVALID_HANDLE;
	return s->drv.MemcpyDtoDAsync(a->dst, a->src, a->len, st);
}

CUresult vgpu_exec_memset(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memset_args *a = (const void *)c->args;
	CUstream st;

	if (!vgpu_stream(s, a->stream, &st))
		return CUDA_ERROR_INVALID_HANDLE;
	if (a->height == 0) {
		switch (a->elem_size) {
		case 1:
			return s->drv.MemsetD8Async(a->dst, (unsigned char)a->value, a->width, st);
		case 2:
			return s->drv.MemsetD16Async(a->dst, (unsigned short)a->value, a->width, st);
		case 4:
			return s->drv.MemsetD32Async(a->dst, a->value, a->width, st);
		}
		return CUDA_ERROR_INVALID_VALUE;
	}
	switch (a->elem_size) {
	case 1:
		return s->drv.MemsetD2D8Async(a->dst, a->dst_pitch, (unsigned char)a->value, a->width,
					      a->height, st);
	case 2:
		return s->drv.MemsetD2D16Async(a->dst, a->dst_pitch, (unsigned short)a->value,
					       a->width, a->height, st);
	case 4:
		return s->drv.MemsetD2D32Async(a->dst, a->dst_pitch, a->value, a->width, a->height,
					       st);
	}
	return CUDA_ERROR_INVALID_VALUE;
}
