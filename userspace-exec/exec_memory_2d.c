// SPDX-License-Identifier: MIT
/*
 * Pitched allocations and 2D copies.  Every device region a guest names is
 * checked against the driver's own record of the allocations covering it
 * (cuMemGetAddressRange, and cuPointerGetAttribute saying they are device
 * memory), with overflow-safe arithmetic, before the driver sees the copy:
 * with unified addressing a "device" address could otherwise be any memory
 * the worker registered, and a pitch times a height could wrap around.
 * The host side of a copy is only ever the channel's bulk area (rows packed)
 * or its pinned mirror, as for the 1D copies (exec_memory.c).
 */
#include <string.h>

#include "dispatch.h"
#include "waits.h"

/*
 * The bytes a region of @height rows of @width bytes, @pitch apart, spans
 * from its first byte: (height - 1) * pitch + width.  False on overflow or
 * when rows would overlap (a pitch below the width), which the driver
 * refuses too.
 */
static bool region_span(uint64_t pitch, uint64_t width, uint64_t height, uint64_t *span)
{
	uint64_t rows;

	if (height > 1 && pitch < width)
		return false;
	if (__builtin_mul_overflow(height - 1, pitch, &rows) ||
	    __builtin_add_overflow(rows, width, span))
		return false;
	return true;
}

/*
 * Ranges one region may cross: adjacent allocations are legal (a VMM pool
 * maps its chunks side by side and one buffer may straddle two), but the
 * walk over them must stay short whatever the guest sends.
 */
#define MAX_RANGES	64

/*
 * Every byte of [p, p + span) is device memory the driver knows: the
 * allocations covering it follow each other without a gap, and each is of
 * memory type DEVICE.
 */
static bool device_range_ok(struct vgpu_session *s, uint64_t p, uint64_t span)
{
	uint64_t end, cur = p;

	if (__builtin_add_overflow(p, span, &end))
		return false;
	for (int i = 0; i < MAX_RANGES; i++) {
		CUdeviceptr base = 0;
		size_t size = 0;
		unsigned int type = 0;

		if (s->drv.MemGetAddressRange(&base, &size, cur) != CUDA_SUCCESS ||
		    s->drv.PointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, cur) !=
			    CUDA_SUCCESS ||
		    type != CU_MEMORYTYPE_DEVICE || cur < base || cur - base >= size)
			return false;
		if (end - base <= size)
			return true;
		cur = base + size;	/* no overflow: end is beyond it */
	}
	return false;
}

bool vgpu_exec_device_region_ok(struct vgpu_session *s, uint64_t p, uint64_t pitch,
				uint64_t width, uint64_t height)
{
	uint64_t span;

	return region_span(pitch, width, height, &span) && device_range_ok(s, p, span);
}

/*
 * The real driver chooses the pitch.  The quota is charged before it
 * allocates (decision 7) for the smallest pitch it could choose, the width;
 * the rest once the pitch is known, and the allocation goes if that fails.
 */
CUresult vgpu_exec_mem_alloc_pitch(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_mem_alloc_pitch_args *a = (const void *)c->args;
	struct vgpu_mem_alloc_pitch_reply out = { 0 };
	struct vgpu_idmap_entry *e;
	uint64_t guess, size, charge, more;
	CUdeviceptr p = 0;
	size_t pitch = 0;
	CUresult r;

	if (a->elem_size != 4 && a->elem_size != 8 && a->elem_size != 16)
		return CUDA_ERROR_INVALID_VALUE;
	if (!a->width || !a->height || __builtin_mul_overflow(a->width, a->height, &guess) ||
	    a->width > SIZE_MAX || a->height > SIZE_MAX)
		return CUDA_ERROR_INVALID_VALUE;
	charge = vgpu_quota_alloc_bytes(guess);
	r = vgpu_quota_charge(s, VGPU_CHARGE_ALLOC, charge);
	if (r != CUDA_SUCCESS)
		return r;
	r = s->drv.MemAllocPitch(&p, &pitch, (size_t)a->width, (size_t)a->height, a->elem_size);
	if (r != CUDA_SUCCESS) {
		vgpu_quota_release(s, VGPU_CHARGE_ALLOC, charge);
		return r;
	}
	if (pitch < a->width || __builtin_mul_overflow((uint64_t)pitch, a->height, &size)) {
		s->drv.MemFree(p);
		vgpu_quota_release(s, VGPU_CHARGE_ALLOC, charge);
		return CUDA_ERROR_UNKNOWN;	/* not a pitch a driver gives */
	}
	more = vgpu_quota_alloc_bytes(size) - charge;
	if (more && (r = vgpu_quota_charge(s, VGPU_CHARGE_ALLOC, more)) != CUDA_SUCCESS) {
		s->drv.MemFree(p);
		vgpu_quota_release(s, VGPU_CHARGE_ALLOC, charge);
		return r;
	}
	charge += more;
	e = vgpu_idmap_insert(&s->allocs, p, 1);
	if (!e) {
		s->drv.MemFree(p);
		vgpu_quota_release(s, VGPU_CHARGE_ALLOC, charge);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	/* Freed as any allocation (vgpu_mem_free_now): the size is what was charged for. */
	e->aux = size;
	e->aux32 = (uint32_t)s->current_id;
	s->mem_used += size;
	out.dptr = p;
	out.pitch = pitch;
	vgpu_answer(c, &out, sizeof(out));
	return CUDA_SUCCESS;
}

/* Packed rows in bulk: exactly width * height bytes. */
static bool packed_ok(const struct vgpu_bulk_ref *b, uint64_t width, uint64_t height)
{
	uint64_t n;

	return !__builtin_mul_overflow(width, height, &n) && n == b->len && n;
}

CUresult vgpu_exec_memcpy_2d_htod(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_2d_htod_args *a = (const void *)c->args;
	uint8_t *src = vgpu_bulk(s, &a->src);
	CUDA_MEMCPY2D m = { 0 };
	struct vgpu_xstream *xs;
	uint32_t slot;
	CUresult r;

	if (!src || !vgpu_bulk_seq_ok(s, c, &a->src, a->bulk_seq, &slot))
		return CUDA_ERROR_INVALID_VALUE;
	/* From here on the slot retires whatever happens: the guest waits for it. */
	if (!packed_ok(&a->src, a->width, a->height) ||
	    !vgpu_exec_device_region_ok(s, a->dst, a->dst_pitch, a->width, a->height)) {
		vgpu_session_retire_now(s, slot, a->bulk_seq);
		return CUDA_ERROR_INVALID_VALUE;
	}
	xs = vgpu_stream(s, c, a->stream);
	if (!xs) {
		vgpu_session_retire_now(s, slot, a->bulk_seq);
		return CUDA_ERROR_INVALID_HANDLE;
	}
	if (s->stage) {
		memcpy(s->stage + a->src.off, src, a->src.len);
		src = s->stage + a->src.off;
	}
	m.srcMemoryType = CU_MEMORYTYPE_HOST;
	m.srcHost = src;
	m.srcPitch = a->width;
	m.dstMemoryType = CU_MEMORYTYPE_DEVICE;
	m.dstDevice = a->dst;
	m.dstPitch = a->dst_pitch;
	m.WidthInBytes = a->width;
	m.Height = a->height;
	r = s->drv.Memcpy2DAsync(&m, xs->h);
	if (r != CUDA_SUCCESS || !(s->bulk_registered || s->stage))
		vgpu_session_retire_now(s, slot, a->bulk_seq);
	else
		vgpu_retire_after(s, slot, a->bulk_seq, xs);
	return r;
}

CUresult vgpu_exec_memcpy_2d_dtoh(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_2d_dtoh_args *a = (const void *)c->args;
	uint8_t *dst = vgpu_bulk(s, &a->dst), *to;
	CUDA_MEMCPY2D m = { 0 };
	struct vgpu_xstream *xs;
	struct vgpu_wait *w;
	CUresult r;

	if (!dst || !packed_ok(&a->dst, a->width, a->height) ||
	    !vgpu_exec_device_region_ok(s, a->src, a->src_pitch, a->width, a->height))
		return CUDA_ERROR_INVALID_VALUE;
	xs = vgpu_stream(s, c, a->stream);
	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	to = s->stage ? s->stage + a->dst.off : dst;
	m.srcMemoryType = CU_MEMORYTYPE_DEVICE;
	m.srcDevice = a->src;
	m.srcPitch = a->src_pitch;
	m.dstMemoryType = CU_MEMORYTYPE_HOST;
	m.dstHost = to;
	m.dstPitch = a->width;
	m.WidthInBytes = a->width;
	m.Height = a->height;
	r = s->drv.Memcpy2DAsync(&m, xs->h);
	if (r != CUDA_SUCCESS)
		return r;
	if (!(c->hdr->flags & VGPU_CMD_F_REPLY))
		return CUDA_SUCCESS;	/* nobody reads the rows */
	r = vgpu_answer_after(s, c, xs, &w);
	if (r == VGPU_DEFERRED && s->stage) {
		w->copy_src = to;
		w->copy_dst = dst;
		w->copy_len = a->dst.len;
	}
	return r;
}

CUresult vgpu_exec_memcpy_2d_dtod(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_memcpy_2d_dtod_args *a = (const void *)c->args;
	CUDA_MEMCPY2D m = { 0 };
	struct vgpu_xstream *xs;

	if (!a->width || !a->height)
		return CUDA_SUCCESS;
	if (!vgpu_exec_device_region_ok(s, a->dst, a->dst_pitch, a->width, a->height) ||
	    !vgpu_exec_device_region_ok(s, a->src, a->src_pitch, a->width, a->height))
		return CUDA_ERROR_INVALID_VALUE;
	xs = vgpu_stream(s, c, a->stream);
	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	m.srcMemoryType = CU_MEMORYTYPE_DEVICE;
	m.srcDevice = a->src;
	m.srcPitch = a->src_pitch;
	m.dstMemoryType = CU_MEMORYTYPE_DEVICE;
	m.dstDevice = a->dst;
	m.dstPitch = a->dst_pitch;
	m.WidthInBytes = a->width;
	m.Height = a->height;
	return s->drv.Memcpy2DAsync(&m, xs->h);
}
