/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Pitched allocations, 2D copies and pointer queries.  A 2D copy becomes one
 * copy operation per row on its stream, each checked at submission like a
 * 1D copy (fc_mem.c) and again when it runs; every row of a device side must
 * lie inside one allocation, so a region that strays past its allocation is
 * refused before anything is queued.  Arrays do not exist in the double.
 *
 * The pitch: FC_PITCH_ALIGN, what the real driver returned for narrow rows
 * on recent GPUs (cudaMallocPitch answers 512 for a 40-byte row); the
 * executor only passes on what the driver says, so a test that depends on
 * the exact value compares with the native run, not with this constant.
 */
#include "fakecuda.h"

#define FC_PITCH_ALIGN	512

static CUresult mem_alloc_pitch(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height,
				unsigned elem)
{
	struct fc_ctx *c;
	struct fc_alloc *a;
	size_t p, size;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!dptr || !pitch || !width || !height || (elem != 4 && elem != 8 && elem != 16))
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_current(&c)))
		return r;
	if (width > SIZE_MAX - FC_PITCH_ALIGN)
		return CUDA_ERROR_INVALID_VALUE;
	p = (width + FC_PITCH_ALIGN - 1) / FC_PITCH_ALIGN * FC_PITCH_ALIGN;
	if (__builtin_mul_overflow(p, height, &size))
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((r = fc_alloc_new(size, c, NULL, false, &a)))
		return r;
	*dptr = a->base;
	*pitch = p;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes,
				      size_t Height, unsigned int ElementSizeBytes)
{
	FC_LOCKED(mem_alloc_pitch(dptr, pPitch, WidthInBytes, Height, ElementSizeBytes));
}

/* One side of a 2D copy: where its first row starts, and how it is reached. */
struct side {
	uint64_t start;
	size_t pitch;
	enum fc_side how;
};

static CUresult resolve_side(CUmemorytype type, const void *host, CUdeviceptr dev, size_t x,
			     size_t y, size_t pitch, size_t width, size_t height, struct side *out)
{
	uint64_t base, off;
	bool device;

	switch (type) {
	case CU_MEMORYTYPE_HOST:
		base = (uint64_t)(uintptr_t)host;
		device = false;
		break;
	case CU_MEMORYTYPE_DEVICE:
		base = dev;
		device = true;
		break;
	case CU_MEMORYTYPE_UNIFIED:	/* the address says which */
		base = dev;
		device = fc_range_ok(dev, 1) && !fc_hostreg_find(dev, 1);
		break;
	case CU_MEMORYTYPE_ARRAY:
		fc_log("cuMemcpy2DAsync: arrays do not exist in the double");
		return CUDA_ERROR_NOT_SUPPORTED;
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
	for (size_t row = 0; row < height; row++) {
		uint64_t p = out->start + row * (uint64_t)pitch;

		if (p < out->start || (device && !fc_range_ok(p, width)))
			return CUDA_ERROR_INVALID_VALUE;
	}
	if (device)
		out->how = FC_SIDE_DEVICE;
	else	/* pinned only if every row is */
		out->how = fc_host_side((const void *)(uintptr_t)out->start,
					(height - 1) * pitch + width);
	return CUDA_SUCCESS;
}

static CUresult memcpy_2d(const CUDA_MEMCPY2D *m, CUstream s)
{
	static const char call[] = "cuMemcpy2DAsync";
	struct side src, dst;
	struct fc_queue *q;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve(call, s, NULL, NULL, &q)))
		return r;
	if (!m)
		return CUDA_ERROR_INVALID_VALUE;
	if (!m->WidthInBytes || !m->Height)
		return CUDA_SUCCESS;
	if ((r = resolve_side(m->srcMemoryType, m->srcHost, m->srcDevice, m->srcXInBytes, m->srcY,
			      m->srcPitch, m->WidthInBytes, m->Height, &src)) ||
	    (r = resolve_side(m->dstMemoryType, m->dstHost, m->dstDevice, m->dstXInBytes, m->dstY,
			      m->dstPitch, m->WidthInBytes, m->Height, &dst)))
		return r;
	for (size_t row = 0; row < m->Height && !r; row++) {
		/* Into pageable memory the call returns once the last row landed (rows run in order). */
		bool last = row + 1 == m->Height;

		r = fc_submit_copy(call, q, dst.start + row * (uint64_t)dst.pitch, dst.how,
				   src.start + row * (uint64_t)src.pitch, src.how, m->WidthInBytes,
				   last && dst.how == FC_SIDE_PAGEABLE);
	}
	return r || dst.how != FC_SIDE_PAGEABLE ? r : fc_sticky;
}

FC_EXPORT CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *pCopy, CUstream hStream)
{
	FC_LOCKED(memcpy_2d(pCopy, hStream));
}

/*
 * Registered and pinned host memory have a range too, as unified addressing
 * suggests (tests/gpu/probe-fakecuda.sh asks the real driver): so a caller
 * that wants device memory must also ask for the memory type.
 */
static CUresult get_address_range(CUdeviceptr *pbase, size_t *psize, CUdeviceptr p)
{
	struct fc_alloc *a;
	struct fc_hostreg *h;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((a = fc_alloc_find(p, 1))) {
		if (pbase)
			*pbase = a->base;
		if (psize)
			*psize = a->size;
		return CUDA_SUCCESS;
	}
	if ((h = fc_hostreg_find(p, 1))) {
		if (pbase)
			*pbase = h->base;
		if (psize)
			*psize = h->size;
		return CUDA_SUCCESS;
	}
	return CUDA_ERROR_NOT_FOUND;
}

FC_EXPORT CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
	FC_LOCKED(get_address_range(pbase, psize, dptr));
}

/* Only what the executor asks: the memory type. */
static CUresult pointer_get_attribute(void *data, CUpointer_attribute attr, CUdeviceptr p)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!data)
		return CUDA_ERROR_INVALID_VALUE;
	if (attr != CU_POINTER_ATTRIBUTE_MEMORY_TYPE) {
		fc_log("cuPointerGetAttribute: attribute %d is not modelled", (int)attr);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	if (fc_alloc_find(p, 1))
		*(unsigned int *)data = CU_MEMORYTYPE_DEVICE;
	else if (fc_hostreg_find(p, 1))
		*(unsigned int *)data = CU_MEMORYTYPE_HOST;
	else
		return CUDA_ERROR_INVALID_VALUE;	/* unregistered host memory, as the driver says */
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
	FC_LOCKED(pointer_get_attribute(data, attribute, ptr));
}
