// SPDX-License-Identifier: MIT
/*
 * Device memory and copies.  Host data only ever moves through the channel's
 * bulk area or the record itself: no guest-supplied host address is used, so
 * a copy can never reach the executor's own memory (decision 6).
 */
#include <string.h>

#include "dispatch.h"
#include "vmm.h"
#include "waits.h"

CUresult vgpu_exec_mem_alloc(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_mem_alloc_args *a = (const void *)c->args;
	uint64_t charge = vgpu_quota_alloc_bytes(a->size);
	struct vgpu_idmap_entry *e;
	CUdeviceptr p = 0;
	CUresult r;

	/* The quota is the instance's: asked before the driver allocates, not trusted to the guest. */
	r = vgpu_quota_charge(s, VGPU_CHARGE_ALLOC, charge);
	if (r != CUDA_SUCCESS)
		return r;
	r = s->drv.MemAlloc(&p, (size_t)a->size);
	if (r != CUDA_SUCCESS) {
		vgpu_quota_release(s, VGPU_CHARGE_ALLOC, charge);
		return r;
	}
	e = vgpu_idmap_insert(&s->allocs, p, 1);
	if (!e) {
		s->drv.MemFree(p);
		vgpu_quota_release(s, VGPU_CHARGE_ALLOC, charge);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	e->aux = a->size;
	e->aux32 = (uint32_t)s->current_id;
	s->mem_used += a->size;
	vgpu_answer(c, &p, sizeof(p));
	return CUDA_SUCCESS;
}

CUresult vgpu_mem_free_now(struct vgpu_session *s, uint64_t dptr)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->allocs, dptr);
	CUresult r;

	if (!e)
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.MemFree(dptr);
	if (r != CUDA_SUCCESS)
		return r;
	s->mem_used -= e->aux;
	vgpu_quota_release(s, VGPU_CHARGE_ALLOC, vgpu_quota_alloc_bytes(e->aux));
	vgpu_idmap_remove(&s->allocs, e);
	return CUDA_SUCCESS;
}

/*
 * cuMemFree waits for the device's work before it frees.  The worker must
 * not wait in the driver: it records an event on every stream of the
 * allocation's context and frees once they all completed (waits.c).
 */
CUresult vgpu_exec_mem_free(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_mem_free_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->allocs, a->dptr);
	struct vgpu_xctx *x;
	struct vgpu_wait *w;
	uint32_t n = 1;

	/* Only what this session allocated; module globals and the like are not its to free. */
	if (!e)
		return a->dptr ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
	x = vgpu_xctx_of(s, e->aux32);
	if (!x || x->dead || !(c->hdr->flags & VGPU_CMD_F_REPLY))
		return vgpu_mem_free_now(s, a->dptr);
	if (x != s->cur && s->drv.CtxSetCurrent(x->h) != CUDA_SUCCESS)
		return vgpu_mem_free_now(s, a->dptr);
	for (struct vgpu_xstream *st = x->streams; st; st = st->next)
		n++;
	w = vgpu_wait_new(VGPU_WAIT_MEM_FREE, x, n);
	if (w && vgpu_wait_record(s, w, x, &x->legacy) == CUDA_SUCCESS) {
		CUresult r = CUDA_SUCCESS;

		for (struct vgpu_xstream *st = x->streams; st && !r; st = st->next)
			r = vgpu_wait_record(s, w, x, st);
		if (r == CUDA_SUCCESS) {
			if (x != s->cur)
				s->drv.CtxSetCurrent(s->current);
			w->xs = NULL;
			w->tag = c->hdr->tag;
			w->flags = c->hdr->flags;
			w->thread = c->hdr->thread;
			w->stream = VGPU_KEPT_ANY_STREAM;
			w->dptr = a->dptr;
			vgpu_wait_queue(s, w);
			c->deferred = true;
			return VGPU_DEFERRED;
		}
	}
	if (w)
		vgpu_wait_discard(s, w);
	if (x != s->cur)
		s->drv.CtxSetCurrent(s->current);
	return vgpu_mem_free_now(s, a->dptr);
}

CUresult vgpu_exec_mem_get_info(struct vgpu_session *s, struct vgpu_call *c)
{
	struct vgpu_mem_info_reply out;
	size_t free_b = 0, total_b = 0;
	uint64_t used, limit, left;
	CUresult r;

	vgpu_vmm_settle_pools(s, false);	/* what pools released meanwhile is free again */
	r = s->drv.MemGetInfo(&free_b, &total_b);

	if (r != CUDA_SUCCESS)
		return r;
	/* The instance's quota is its device: what all its sessions use is gone from it. */
	vgpu_quota_usage(s, &used, &limit);
	if (!limit || limit > total_b)
		limit = total_b;
	left = used < limit ? limit - used : 0;
	out.total = limit;
	out.free = left < free_b ? left : free_b;
	vgpu_answer(c, &out, sizeof(out));
	return CUDA_SUCCESS;
}

/*
 * Outgoing bulk data is read by DMA after the call returned (the bulk area
 * is registered): its slot retires once the stream passed the copy.  When
 * the area could not be registered, the bytes go through a pinned mirror
 * (s->stage) instead, never through pageable memory: the driver would wait
 * in the call for a pageable copy.
 */
CUresult vgpu_exec_memcpy_htod(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_htod_args *a = (const void *)c->args;
	uint8_t *src = vgpu_bulk(s, &a->src);
	struct vgpu_xstream *xs;
	uint32_t slot;
	CUresult r;

	if (!src || !vgpu_bulk_seq_ok(s, c, &a->src, a->bulk_seq, &slot))
		return CUDA_ERROR_INVALID_VALUE;
	xs = vgpu_stream(s, c, a->stream);
	if (!xs) {
		vgpu_session_retire_now(s, slot, a->bulk_seq);
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (s->stage) {
		memcpy(s->stage + a->src.off, src, a->src.len);
		src = s->stage + a->src.off;
	}
	r = s->drv.MemcpyHtoDAsync(a->dst, src, a->src.len, xs->h);
	if (r != CUDA_SUCCESS || !(s->bulk_registered || s->stage))
		vgpu_session_retire_now(s, slot, a->bulk_seq);	/* read already, or not at all */
	else
		vgpu_retire_after(s, slot, a->bulk_seq, xs);
	return r;
}

CUresult vgpu_exec_memcpy_htod_inline(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_htod_inline_args *a = (const void *)c->args;
	const uint8_t *src = vgpu_trailing(c, sizeof(*a), a->len);
	struct vgpu_xstream *xs;

	if (!src)
		return CUDA_ERROR_INVALID_VALUE;
	xs = vgpu_stream(s, c, a->stream);
	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	/*
	 * The record is pageable memory: the driver takes copies this small
	 * into its own buffers before it returns.
	 */
	return s->drv.MemcpyHtoDAsync(a->dst, src, a->len, xs->h);
}

/* Answered once the bytes are in bulk, where the guest reads them (a wait, not a block). */
CUresult vgpu_exec_memcpy_dtoh(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_dtoh_args *a = (const void *)c->args;
	uint8_t *dst = vgpu_bulk(s, &a->dst), *to;
	struct vgpu_xstream *xs;
	struct vgpu_wait *w;
	CUresult r;

	if (!dst)
		return CUDA_ERROR_INVALID_VALUE;
	xs = vgpu_stream(s, c, a->stream);
	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	to = s->stage ? s->stage + a->dst.off : dst;
	r = s->drv.MemcpyDtoHAsync(to, a->src, a->dst.len, xs->h);
	if (r != CUDA_SUCCESS)
		return r;
	if (!(c->hdr->flags & VGPU_CMD_F_REPLY))
		return CUDA_SUCCESS;	/* nobody reads the bytes: a hostile or broken guest */
	r = vgpu_answer_after(s, c, xs, &w);
	if (r == VGPU_DEFERRED && s->stage) {
		w->copy_src = to;
		w->copy_dst = dst;
		w->copy_len = a->dst.len;
	}
	return r;
}

CUresult vgpu_exec_memcpy_dtod(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_dtod_args *a = (const void *)c->args;
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);

	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	return s->drv.MemcpyDtoDAsync(a->dst, a->src, a->len, xs->h);
}

CUresult vgpu_exec_memset(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memset_args *a = (const void *)c->args;
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);
	CUstream st;

	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	st = xs->h;
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
