// SPDX-License-Identifier: MIT
/*
 * Pitched memory and 2D/3D copies: cuMemAllocPitch, cuMemcpy2D(Unaligned),
 * cuMemcpy2DAsync, cuMemcpy3D, cuMemcpy3DAsync (and their _ptds/_ptsz
 * forms).  The pitch is the real driver's (the executor asks it).
 *
 * A copy's two sides are resolved here to host or device memory: a pointer
 * in the shim's pinned ranges is host memory whatever its memory type says
 * (unified addressing), and CU_MEMORYTYPE_UNIFIED is decided by the shim's
 * tables.  Host rows travel through bulk packed (width bytes apart), whole
 * rows per chunk; a row wider than a bulk slot goes row by row as 1D
 * copies.  A 3D copy is one 2D copy per slice.  CUDA arrays are not
 * supported by the shim (CUDA_ERROR_NOT_SUPPORTED).
 *
 * Device-to-host copies complete before the call returns, also the
 * asynchronous forms into pinned memory (correct, not overlapped); a
 * host-to-device copy from pinned memory while host functions are pending
 * (which may still write that memory, see memory_api.c) first waits for its
 * stream.  The executor checks every device region against its allocation
 * (exec_memory_2d.c); the checks here are the ones the driver makes first.
 */
#include <string.h>

#include "channel.h"
#include "context.h"
#include "host_func.h"
#include "host_memory.h"
#include "memory.h"
#include "shim.h"
#include "state.h"

CUresult CUDAAPI cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes,
				    size_t Height, unsigned int ElementSizeBytes)
{
	struct vgpu_mem_alloc_pitch_args a = {
		.width = WidthInBytes, .height = Height, .elem_size = ElementSizeBytes,
	};
	struct vgpu_mem_alloc_pitch_reply out;
	struct vgpu_answer ans = { 0 };
	struct vgpu_ctx *c;
	CUresult r;

	if (!dptr || !pPitch || !WidthInBytes || !Height ||
	    (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16))
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_current_checked(&c);
	if (r == CUDA_SUCCESS)
		r = vgpu_call_sync(VGPU_OP_MEM_ALLOC_PITCH, vgpu_ctx_wire(c), &a, sizeof(a), &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&out, ans.data, sizeof(out));
	if (!vgpu_alloc_note(out.dptr, (size_t)(out.pitch * Height), c)) {
		struct vgpu_mem_free_args f = { .dptr = out.dptr };

		vgpu_call_sync(VGPU_OP_MEM_FREE, vgpu_ctx_wire(c), &f, sizeof(f), NULL);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*dptr = out.dptr;
	*pPitch = out.pitch;
	return CUDA_SUCCESS;
}

/* One side of a copy, resolved. */
struct side {
	bool device;
	uint64_t start;		/* the first byte of the first row */
	size_t pitch;
};

static CUresult resolve(CUmemorytype type, const void *host, CUdeviceptr dev, size_t x, size_t y,
			size_t pitch, size_t width, size_t height, struct side *out)
{
	uint64_t base, off;

	switch (type) {
	case CU_MEMORYTYPE_HOST:
		base = (uintptr_t)host;
		out->device = false;
		/* Device memory is not in this process: reading it as host memory would crash. */
		if (vgpu_alloc_find(base, NULL, NULL, NULL) && !vgpu_host_find(base, NULL))
			return CUDA_ERROR_INVALID_VALUE;
		break;
	case CU_MEMORYTYPE_DEVICE:
		base = dev;
		out->device = !vgpu_host_find((uintptr_t)dev, NULL);
		break;
	case CU_MEMORYTYPE_UNIFIED:
		base = dev;
		out->device = !vgpu_host_find((uintptr_t)dev, NULL) &&
			      vgpu_alloc_find(dev, NULL, NULL, NULL);
		break;
	case CU_MEMORYTYPE_ARRAY:
		return vgpu_unsupported("cuMemcpy2D/3D with a CUDA array");
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (!base || (height > 1 && pitch < width))
		return CUDA_ERROR_INVALID_VALUE;
	if (__builtin_mul_overflow((uint64_t)y, (uint64_t)pitch, &off) ||
	    __builtin_add_overflow(off, (uint64_t)x, &off) ||
	    __builtin_add_overflow(base, off, &out->start))
		return CUDA_ERROR_INVALID_VALUE;
	out->pitch = pitch;
	return CUDA_SUCCESS;
}

/*
 * The side's rows lie in pinned memory that asynchronous work may still
 * write: while host functions are pending (staged ranges), or DMA into it
 * may be (heap ranges).
 */
static bool side_pending(const struct side *sd, size_t width, size_t height)
{
	struct vgpu_host_info h;
	uint64_t span = (uint64_t)(height - 1) * sd->pitch + width;

	if (!vgpu_host_find((uintptr_t)sd->start, &h))
		return false;
	return h.heap || (span <= h.size - ((uintptr_t)sd->start - h.base) &&
			  !vgpu_host_funcs_idle());
}

static CUresult stream_sync(const struct vgpu_stream_ref *s)
{
	struct vgpu_stream_args a = { .stream = s->id };

	return vgpu_call(VGPU_OP_STREAM_SYNCHRONIZE, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC,
			 vgpu_ctx_wire(s->ctx), &a, sizeof(a), NULL, 0, NULL);
}

/* Rows that fit a chunk of bulk just allocated (never 0: a row fits a slot). */
static size_t chunk_rows(struct vgpu_bulk_buf *b, size_t width, size_t left)
{
	size_t rows = b->ref.len / width;

	if (rows > left)
		rows = left;
	b->ref.len = (uint64_t)rows * width;
	return rows;
}

static CUresult htod_2d(const struct side *d, const struct side *h, size_t width, size_t height,
			const struct vgpu_stream_ref *s, bool sync)
{
	uint32_t ctx = vgpu_ctx_wire(s->ctx);
	uint64_t chunk = vgpu_bulk_chunk();
	const uint8_t *src = (const uint8_t *)(uintptr_t)h->start;
	CUresult r = CUDA_SUCCESS;

	if (width > vgpu_bulk_slot_size()) {
		for (size_t y = 0; y < height && r == CUDA_SUCCESS; y++)
			r = vgpu_copy_htod(d->start + (uint64_t)y * d->pitch, src + y * h->pitch,
					   width, s, sync && y + 1 == height);
		return r;
	}
	for (size_t y = 0; y < height && r == CUDA_SUCCESS;) {
		struct vgpu_memcpy_2d_htod_args a = {
			.dst = d->start + (uint64_t)y * d->pitch, .dst_pitch = d->pitch,
			.width = width, .stream = s->id,
		};
		uint64_t want = (uint64_t)(height - y) * width;
		struct vgpu_bulk_buf b;
		size_t rows;

		if (!vgpu_copy_chunk_alloc(want < chunk ? want : chunk / width * width, true, &b))
			return CUDA_ERROR_DEVICE_UNAVAILABLE;
		rows = chunk_rows(&b, width, height - y);
		for (size_t i = 0; i < rows; i++)
			memcpy(b.ptr + i * width, src + (y + i) * h->pitch, width);
		a.height = rows;
		a.src = b.ref;
		y += rows;
		r = vgpu_call_bulk_out(VGPU_OP_MEMCPY_2D_HTOD,
				       y == height && sync ? VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC : 0,
				       ctx, &a, sizeof(a),
				       offsetof(struct vgpu_memcpy_2d_htod_args, bulk_seq), &b);
	}
	return r;
}

static CUresult dtoh_2d(const struct side *h, const struct side *d, size_t width, size_t height,
			const struct vgpu_stream_ref *s)
{
	uint32_t ctx = vgpu_ctx_wire(s->ctx);
	uint64_t chunk = vgpu_bulk_chunk();
	uint8_t *dst = (uint8_t *)(uintptr_t)h->start;
	CUresult r = CUDA_SUCCESS;

	if (width > vgpu_bulk_slot_size()) {
		for (size_t y = 0; y < height && r == CUDA_SUCCESS; y++)
			r = vgpu_copy_dtoh(dst + y * h->pitch, d->start + (uint64_t)y * d->pitch,
					   width, s);
		return r;
	}
	for (size_t y = 0; y < height && r == CUDA_SUCCESS;) {
		struct vgpu_memcpy_2d_dtoh_args a = {
			.src = d->start + (uint64_t)y * d->pitch, .src_pitch = d->pitch,
			.width = width, .stream = s->id,
		};
		uint64_t want = (uint64_t)(height - y) * width;
		struct vgpu_bulk_buf b;
		size_t rows;

		if (!vgpu_copy_chunk_alloc(want < chunk ? want : chunk / width * width, true, &b))
			return CUDA_ERROR_DEVICE_UNAVAILABLE;
		rows = chunk_rows(&b, width, height - y);
		a.height = rows;
		a.dst = b.ref;
		/* Holding bulk while waiting for an answer is the one order allowed (channel.h). */
		r = vgpu_call(VGPU_OP_MEMCPY_2D_DTOH, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC, ctx,
			      &a, sizeof(a), NULL, 0, NULL);
		if (r == CUDA_SUCCESS)
			for (size_t i = 0; i < rows; i++)
				memcpy(dst + (y + i) * h->pitch, b.ptr + i * width, width);
		vgpu_bulk_free(&b);
		y += rows;
	}
	return r;
}

/* One 2D copy between resolved sides, in the order of stream @s. */
static CUresult copy_2d(const struct side *dst, const struct side *src, size_t width,
			size_t height, const struct vgpu_stream_ref *s, bool sync)
{
	bool packed_d = height == 1 || dst->pitch == width;
	bool packed_s = height == 1 || src->pitch == width;
	size_t n = width * height;	/* checked by the caller */

	if (!width || !height)
		return CUDA_SUCCESS;
	if (dst->device && src->device) {
		struct vgpu_memcpy_2d_dtod_args a = {
			.dst = dst->start, .dst_pitch = dst->pitch, .src = src->start,
			.src_pitch = src->pitch, .width = width, .height = height, .stream = s->id,
		};

		/* Never blocks; the synchronous form gets the executor's checks' answer. */
		return vgpu_call(VGPU_OP_MEMCPY_2D_DTOD,
				 sync ? VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC : 0,
				 vgpu_ctx_wire(s->ctx), &a, sizeof(a), NULL, 0, NULL);
	}
	if (dst->device) {
		CUresult r = CUDA_SUCCESS;

		/* Pinned rows that a pending host function may still write: let it first. */
		if (side_pending(src, width, height))
			r = stream_sync(s);
		if (r != CUDA_SUCCESS)
			return r;
		if (packed_d && packed_s)
			return vgpu_copy_htod(dst->start, (const void *)(uintptr_t)src->start, n, s,
					      sync);
		return htod_2d(dst, src, width, height, s, sync);
	}
	if (src->device) {
		if (packed_d && packed_s)
			return vgpu_copy_dtoh((void *)(uintptr_t)dst->start, src->start, n, s);
		return dtoh_2d(dst, src, width, height, s);
	}
	/* Host to host, in stream order. */
	{
		CUresult r = stream_sync(s);

		for (size_t y = 0; y < height && r == CUDA_SUCCESS; y++)
			memmove((uint8_t *)(uintptr_t)dst->start + y * dst->pitch,
				(const uint8_t *)(uintptr_t)src->start + y * src->pitch, width);
		return r;
	}
}

/* The whole region (rows * pitch) must be addressable: a row count that wraps is refused. */
static bool size_ok(size_t width, size_t height, size_t depth)
{
	size_t n;

	return !__builtin_mul_overflow(width, height, &n) && !__builtin_mul_overflow(n, depth, &n);
}

static CUresult memcpy_2d(const CUDA_MEMCPY2D *m, CUstream st, bool pt, bool sync)
{
	struct vgpu_stream_ref s;
	struct side src, dst;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!m || !size_ok(m->WidthInBytes, m->Height, 1))
		return CUDA_ERROR_INVALID_VALUE;
	r = resolve(m->srcMemoryType, m->srcHost, m->srcDevice, m->srcXInBytes, m->srcY,
		    m->srcPitch, m->WidthInBytes, m->Height, &src);
	if (r == CUDA_SUCCESS)
		r = resolve(m->dstMemoryType, m->dstHost, m->dstDevice, m->dstXInBytes, m->dstY,
			    m->dstPitch, m->WidthInBytes, m->Height, &dst);
	if (r != CUDA_SUCCESS)
		return r;
	return copy_2d(&dst, &src, m->WidthInBytes, m->Height, &s, sync);
}

static CUresult memcpy_3d(const CUDA_MEMCPY3D *m, CUstream st, bool pt, bool sync)
{
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!m || m->reserved0 || m->reserved1 || m->srcLOD || m->dstLOD ||
	    !size_ok(m->WidthInBytes, m->Height, m->Depth))
		return CUDA_ERROR_INVALID_VALUE;
	if (m->Depth > 1 && (m->srcHeight < m->Height || m->dstHeight < m->Height))
		return CUDA_ERROR_INVALID_VALUE;
	for (size_t z = 0; z < m->Depth && r == CUDA_SUCCESS; z++) {
		struct side src, dst;
		size_t sy, dy;

		/* Slice z of each side is rows (z + Z) * height + Y onwards, at its pitch. */
		if (__builtin_mul_overflow(m->srcZ + z, m->srcHeight, &sy) ||
		    __builtin_add_overflow(sy, m->srcY, &sy) ||
		    __builtin_mul_overflow(m->dstZ + z, m->dstHeight, &dy) ||
		    __builtin_add_overflow(dy, m->dstY, &dy))
			return CUDA_ERROR_INVALID_VALUE;
		r = resolve(m->srcMemoryType, m->srcHost, m->srcDevice, m->srcXInBytes, sy,
			    m->srcPitch, m->WidthInBytes, m->Height, &src);
		if (r == CUDA_SUCCESS)
			r = resolve(m->dstMemoryType, m->dstHost, m->dstDevice, m->dstXInBytes, dy,
				    m->dstPitch, m->WidthInBytes, m->Height, &dst);
		if (r == CUDA_SUCCESS)
			r = copy_2d(&dst, &src, m->WidthInBytes, m->Height, &s,
				    sync && z + 1 == m->Depth);
	}
	return r;
}

CUresult CUDAAPI cuMemcpy2D_v2(const CUDA_MEMCPY2D *pCopy)
{
	return memcpy_2d(pCopy, NULL, false, true);
}

CUresult CUDAAPI cuMemcpy2D_v2_ptds(const CUDA_MEMCPY2D *pCopy)
{
	return memcpy_2d(pCopy, NULL, true, true);
}

/* Unaligned pitches and offsets are what the general path takes anyway. */
CUresult CUDAAPI cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *pCopy)
{
	return memcpy_2d(pCopy, NULL, false, true);
}

CUresult CUDAAPI cuMemcpy2DUnaligned_v2_ptds(const CUDA_MEMCPY2D *pCopy)
{
	return memcpy_2d(pCopy, NULL, true, true);
}

CUresult CUDAAPI cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *pCopy, CUstream hStream)
{
	return memcpy_2d(pCopy, hStream, false, false);
}

CUresult CUDAAPI cuMemcpy2DAsync_v2_ptsz(const CUDA_MEMCPY2D *pCopy, CUstream hStream)
{
	return memcpy_2d(pCopy, hStream, true, false);
}

CUresult CUDAAPI cuMemcpy3D_v2(const CUDA_MEMCPY3D *pCopy)
{
	return memcpy_3d(pCopy, NULL, false, true);
}

CUresult CUDAAPI cuMemcpy3D_v2_ptds(const CUDA_MEMCPY3D *pCopy)
{
	return memcpy_3d(pCopy, NULL, true, true);
}

CUresult CUDAAPI cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *pCopy, CUstream hStream)
{
	return memcpy_3d(pCopy, hStream, false, false);
}

CUresult CUDAAPI cuMemcpy3DAsync_v2_ptsz(const CUDA_MEMCPY3D *pCopy, CUstream hStream)
{
	return memcpy_3d(pCopy, hStream, true, false);
}
