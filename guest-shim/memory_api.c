// SPDX-License-Identifier: MIT
/*
 * The exported copy and memset entry points.  Each comes as the legacy
 * default-stream form and the per-thread default-stream form (_ptds/_ptsz);
 * they differ only in what the NULL stream means.
 */
#include <string.h>

#include "capture.h"
#include "channel.h"
#include "context.h"
#include "host_func.h"
#include "host_heap.h"
#include "host_memory.h"
#include "memory.h"
#include "shim.h"
#include "state.h"

/*
 * Synchronous host-to-device copies from pageable memory return once the
 * data is staged (CUDA's documented behaviour); the shim also waits for the
 * executor's answer so that errors such as a bad destination are returned.
 */
static CUresult htod(CUdeviceptr dst, const void *src, size_t n, CUstream st, bool pt, bool sync)
{
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	/* A graph would read the transport's staging buffers at every launch. */
	if (r == CUDA_SUCCESS)
		r = vgpu_capture_use(st, &s, sync ? VGPU_USE_SYNC : VGPU_USE_HOST_COPY);
	return r ? r : vgpu_copy_htod(dst, src, n, &s, sync);
}

/* Device-to-host copies into pageable memory complete before they return. */
static CUresult dtoh(void *dst, CUdeviceptr src, size_t n, CUstream st, bool pt)
{
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	/* The copy returns once the bytes landed: it waits for the stream. */
	if (r == CUDA_SUCCESS)
		r = vgpu_capture_use(st, &s, VGPU_USE_SYNC);
	return r ? r : vgpu_copy_dtoh(dst, src, n, &s);
}

/* Device-to-device copies never block the host. */
static CUresult dtod(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream st, bool pt)
{
	struct vgpu_memcpy_dtod_args a = { .dst = dst, .src = src, .len = n };
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS || n == 0)
		return r;
	r = vgpu_capture_use(st, &s, VGPU_USE_ASYNC);
	if (r != CUDA_SUCCESS)
		return r;
	a.stream = s.id;
	return vgpu_call(VGPU_OP_MEMCPY_DTOD, 0, vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0, NULL);
}

/*
 * Pinned host memory (host_memory.c) first.  A pointer in the shim's pinned
 * ranges is host memory whatever the call says (unified addressing lets a
 * pinned pointer stand for a device one), so it never goes to the executor
 * as a device address.  And natively the copy engine reads or writes pinned
 * memory when the stream gets to the copy: an asynchronous device-to-host
 * copy into it returns at once and lands in stream order, and a copy from it
 * reads it in stream order when a host function (a pending device-to-host
 * copy into pinned memory ends in one) may still write it first - otherwise
 * reading it now is the same (memory_pinned.c).
 */
static bool pinned(const void *p, size_t n)
{
	struct vgpu_host_info h;

	return vgpu_host_find((uintptr_t)p, &h) && n <= h.size - ((uintptr_t)p - h.base);
}

static bool is_host(CUdeviceptr p)
{
	return vgpu_host_find((uintptr_t)p, NULL);
}

static CUresult unified(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream st, bool pt,
			bool sync);

/*
 * What the host side [p, p + n) of a copy is, from one lookup: ordinary
 * memory, pinned memory the shim stages, or an allocation from the
 * executor's heap (then @off is its offset within BAR1, and copies are DMA).
 */
enum host_kind { HOST_PLAIN, HOST_PINNED, HOST_HEAP };

static enum host_kind host_kind(const void *p, size_t n, uint64_t *off)
{
	struct vgpu_host_info h;

	if (!n || !p || !vgpu_host_find((uintptr_t)p, &h) || n > h.size - ((uintptr_t)p - h.base))
		return HOST_PLAIN;
	if (!h.heap)
		return HOST_PINNED;
	*off = h.heap_off + ((uintptr_t)p - h.base);
	return HOST_HEAP;
}

/*
 * DMA between the heap and the device, in stream order; a synchronous one
 * is answered once the copy is done (host_heap.c).
 */
static CUresult heap_copy(uint16_t op, CUdeviceptr dev, uint64_t off, size_t n, CUstream st,
			  bool pt, bool sync)
{
	struct vgpu_memcpy_heap_args a = { .dev = dev, .off = off, .len = n };
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	a.stream = s.id;
	return vgpu_call(op, sync ? VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC : 0,
			 vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0, NULL);
}

static CUresult to_device(CUdeviceptr dst, const void *src, size_t n, CUstream st, bool pt,
			  bool sync)
{
	uint64_t off = 0;
	enum host_kind k;

	if (is_host(dst))
		return unified(dst, (CUdeviceptr)src, n, st, pt, sync);
	k = host_kind(src, n, &off);
	if (k == HOST_HEAP)
		return heap_copy(VGPU_OP_MEMCPY_HEAP_HTOD, dst, off, n, st, pt, sync);
	if (k == HOST_PINNED && !vgpu_host_funcs_idle()) {
		struct vgpu_stream_ref s;
		CUresult r = vgpu_stream_ref(st, pt, &s);

		if (r != CUDA_SUCCESS)
			return r;
		if (vgpu_host_funcs_usable(st, pt))
			return vgpu_copy_htod_ordered(dst, src, n, &s, st, pt, sync);
	}
	return htod(dst, src, n, st, pt, sync);
}

static CUresult to_host(void *dst, CUdeviceptr src, size_t n, CUstream st, bool pt, bool async)
{
	uint64_t off = 0;
	enum host_kind k;

	if (is_host(src))
		return unified((CUdeviceptr)dst, src, n, st, pt, !async);
	k = host_kind(dst, n, &off);
	if (k == HOST_HEAP)
		return heap_copy(VGPU_OP_MEMCPY_HEAP_DTOH, src, off, n, st, pt, !async);
	if (async && k == HOST_PINNED) {
		struct vgpu_stream_ref s;
		CUresult r = vgpu_stream_ref(st, pt, &s);

		if (r != CUDA_SUCCESS)
			return r;
		if (vgpu_host_funcs_usable(st, pt))
			return vgpu_copy_dtoh_ordered(dst, src, n, &s, st, pt);
	}
	return dtoh(dst, src, n, st, pt);
}

static CUresult on_device(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream st, bool pt)
{
	if (is_host(dst) || is_host(src))
		return unified(dst, src, n, st, pt, false);
	return dtod(dst, src, n, st, pt);
}

CUresult CUDAAPI cuMemcpyHtoD_v2(CUdeviceptr d, const void *h, size_t n)
{
	return to_device(d, h, n, NULL, false, true);
}

CUresult CUDAAPI cuMemcpyHtoD_v2_ptds(CUdeviceptr d, const void *h, size_t n)
{
	return to_device(d, h, n, NULL, true, true);
}

CUresult CUDAAPI cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *h, size_t n, CUstream s)
{
	return to_device(d, h, n, s, false, false);
}

CUresult CUDAAPI cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr d, const void *h, size_t n, CUstream s)
{
	return to_device(d, h, n, s, true, false);
}

CUresult CUDAAPI cuMemcpyDtoH_v2(void *h, CUdeviceptr d, size_t n)
{
	return to_host(h, d, n, NULL, false, false);
}

CUresult CUDAAPI cuMemcpyDtoH_v2_ptds(void *h, CUdeviceptr d, size_t n)
{
	return to_host(h, d, n, NULL, true, false);
}

CUresult CUDAAPI cuMemcpyDtoHAsync_v2(void *h, CUdeviceptr d, size_t n, CUstream s)
{
	return to_host(h, d, n, s, false, true);
}

CUresult CUDAAPI cuMemcpyDtoHAsync_v2_ptsz(void *h, CUdeviceptr d, size_t n, CUstream s)
{
	return to_host(h, d, n, s, true, true);
}

CUresult CUDAAPI cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n)
{
	return on_device(d, s, n, NULL, false);
}

CUresult CUDAAPI cuMemcpyDtoD_v2_ptds(CUdeviceptr d, CUdeviceptr s, size_t n)
{
	return on_device(d, s, n, NULL, true);
}

CUresult CUDAAPI cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st)
{
	return on_device(d, s, n, st, false);
}

CUresult CUDAAPI cuMemcpyDtoDAsync_v2_ptsz(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st)
{
	return on_device(d, s, n, st, true);
}

/*
 * Unified copies: the direction follows from which side is device memory.
 * The shim knows every allocation it made; any other address is host memory.
 */
static CUresult unified(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream st, bool pt,
			bool sync)
{
	/*
	 * A heap pointer's device address is its host memory here (mapped
	 * memory); where the worker mapped it at the guest's own address, the
	 * two are one.
	 */
	CUdeviceptr dh = (CUdeviceptr)vgpu_heap_from_device(dst);
	CUdeviceptr sh = (CUdeviceptr)vgpu_heap_from_device(src);

	if ((dh && dh != dst) || (sh && sh != src))
		return unified(dh ? dh : dst, sh ? sh : src, n, st, pt, sync);
	/* The shim's pinned ranges are host memory first: no host address goes out as a device one. */
	bool d_dev = !is_host(dst) && vgpu_alloc_find(dst, NULL, NULL, NULL);
	bool s_dev = !is_host(src) && vgpu_alloc_find(src, NULL, NULL, NULL);
	struct vgpu_stream_ref s;
	CUresult r;

	if (d_dev && s_dev)
		return dtod(dst, src, n, st, pt);
	if (d_dev)
		return to_device(dst, (const void *)src, n, st, pt, sync);
	if (s_dev)
		return to_host((void *)dst, src, n, st, pt, !sync);
	/* Host to host, in stream order: wait for the stream, then copy. */
	r = vgpu_stream_ref(st, pt, &s);
	if (r == CUDA_SUCCESS)
		r = vgpu_capture_use(st, &s, VGPU_USE_SYNC);
	if (r == CUDA_SUCCESS) {
		struct vgpu_stream_args a = { .stream = s.id };

		r = vgpu_call(VGPU_OP_STREAM_SYNCHRONIZE, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC,
			      vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0, NULL);
	}
	if (r == CUDA_SUCCESS && n)
		memmove((void *)dst, (const void *)src, n);
	return r;
}

CUresult CUDAAPI cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
	return unified(dst, src, n, NULL, false, true);
}

CUresult CUDAAPI cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
	return unified(dst, src, n, NULL, true, true);
}

CUresult CUDAAPI cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	return unified(dst, src, n, s, false, false);
}

CUresult CUDAAPI cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	return unified(dst, src, n, s, true, false);
}

/* ---- memset: asynchronous with respect to the host, whichever form ---- */

static CUresult memset_dev(CUdeviceptr dst, uint32_t value, uint32_t elem, size_t width,
			   size_t height, size_t pitch, CUstream st, bool pt)
{
	struct vgpu_memset_args a = {
		.dst = dst, .width = width, .height = height, .dst_pitch = pitch,
		.value = value, .elem_size = elem,
	};
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS || width == 0 || (height == 0 && pitch))
		return r;
	r = vgpu_capture_use(st, &s, VGPU_USE_ASYNC);
	if (r != CUDA_SUCCESS)
		return r;
	a.stream = s.id;
	return vgpu_call(VGPU_OP_MEMSET, 0, vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0, NULL);
}

/*
 * A memset of pinned host memory (legal with unified addressing): in stream
 * order, in the guest, as a host-to-host copy is.
 */
static CUresult memset_host(CUdeviceptr dst, uint32_t value, uint32_t elem, size_t width,
			    size_t height, size_t pitch, CUstream st, bool pt)
{
	size_t rows = height ? height : 1, row, span;
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS || width == 0)
		return r;
	if (__builtin_mul_overflow(width, (size_t)elem, &row) || (rows > 1 && pitch < row) ||
	    __builtin_mul_overflow(rows - 1, pitch, &span) ||
	    __builtin_add_overflow(span, row, &span) || !pinned((const void *)dst, span) ||
	    dst % elem)
		return CUDA_ERROR_INVALID_VALUE;
	{
		struct vgpu_stream_args a = { .stream = s.id };

		r = vgpu_call(VGPU_OP_STREAM_SYNCHRONIZE, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC,
			      vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0, NULL);
	}
	for (size_t y = 0; y < rows && r == CUDA_SUCCESS; y++) {
		uint8_t *p = (uint8_t *)dst + y * pitch;

		for (size_t x = 0; x < width; x++) {
			if (elem == 1) {
				p[x] = (uint8_t)value;
			} else if (elem == 2) {
				uint16_t v = (uint16_t)value;

				memcpy(p + 2 * x, &v, 2);
			} else {
				memcpy(p + 4 * x, &value, 4);
			}
		}
	}
	return r;
}

static CUresult memset_any(CUdeviceptr dst, uint32_t value, uint32_t elem, size_t width,
			   size_t height, size_t pitch, CUstream st, bool pt)
{
	if (is_host(dst))
		return memset_host(dst, value, elem, width, height, pitch, st, pt);
	return memset_dev(dst, value, elem, width, height, pitch, st, pt);
}

#define MEMSET_1D(name, T, elem, pt)                                                      \
	CUresult CUDAAPI name(CUdeviceptr d, T v, size_t n)                               \
	{                                                                                 \
		return memset_any(d, v, elem, n, 0, 0, NULL, pt);                         \
	}
#define MEMSET_1D_ASYNC(name, T, elem, pt)                                                \
	CUresult CUDAAPI name(CUdeviceptr d, T v, size_t n, CUstream s)                   \
	{                                                                                 \
		return memset_any(d, v, elem, n, 0, 0, s, pt);                            \
	}
#define MEMSET_2D(name, T, elem, pt)                                                      \
	CUresult CUDAAPI name(CUdeviceptr d, size_t pitch, T v, size_t w, size_t h)       \
	{                                                                                 \
		return h ? memset_any(d, v, elem, w, h, pitch, NULL, pt) : CUDA_SUCCESS;  \
	}
#define MEMSET_2D_ASYNC(name, T, elem, pt)                                                \
	CUresult CUDAAPI name(CUdeviceptr d, size_t pitch, T v, size_t w, size_t h,       \
			      CUstream s)                                                 \
	{                                                                                 \
		return h ? memset_any(d, v, elem, w, h, pitch, s, pt) : CUDA_SUCCESS;     \
	}

MEMSET_1D(cuMemsetD8_v2, unsigned char, 1, false)
MEMSET_1D(cuMemsetD8_v2_ptds, unsigned char, 1, true)
MEMSET_1D(cuMemsetD16_v2, unsigned short, 2, false)
MEMSET_1D(cuMemsetD16_v2_ptds, unsigned short, 2, true)
MEMSET_1D(cuMemsetD32_v2, unsigned int, 4, false)
MEMSET_1D(cuMemsetD32_v2_ptds, unsigned int, 4, true)
MEMSET_1D_ASYNC(cuMemsetD8Async, unsigned char, 1, false)
MEMSET_1D_ASYNC(cuMemsetD8Async_ptsz, unsigned char, 1, true)
MEMSET_1D_ASYNC(cuMemsetD16Async, unsigned short, 2, false)
MEMSET_1D_ASYNC(cuMemsetD16Async_ptsz, unsigned short, 2, true)
MEMSET_1D_ASYNC(cuMemsetD32Async, unsigned int, 4, false)
MEMSET_1D_ASYNC(cuMemsetD32Async_ptsz, unsigned int, 4, true)
MEMSET_2D(cuMemsetD2D8_v2, unsigned char, 1, false)
MEMSET_2D(cuMemsetD2D8_v2_ptds, unsigned char, 1, true)
MEMSET_2D(cuMemsetD2D16_v2, unsigned short, 2, false)
MEMSET_2D(cuMemsetD2D16_v2_ptds, unsigned short, 2, true)
MEMSET_2D(cuMemsetD2D32_v2, unsigned int, 4, false)
MEMSET_2D(cuMemsetD2D32_v2_ptds, unsigned int, 4, true)
MEMSET_2D_ASYNC(cuMemsetD2D8Async, unsigned char, 1, false)
MEMSET_2D_ASYNC(cuMemsetD2D8Async_ptsz, unsigned char, 1, true)
MEMSET_2D_ASYNC(cuMemsetD2D16Async, unsigned short, 2, false)
MEMSET_2D_ASYNC(cuMemsetD2D16Async_ptsz, unsigned short, 2, true)
MEMSET_2D_ASYNC(cuMemsetD2D32Async, unsigned int, 4, false)
MEMSET_2D_ASYNC(cuMemsetD2D32Async_ptsz, unsigned int, 4, true)

/* ---- pointer attributes, answered from the shim's allocation table ---- */

/*
 * Pinned host memory (host_memory.c): host memory of its context, mapped for
 * the device when it is in the executor's heap, honestly not mapped when it
 * is staged (the device cannot reach it).
 */
static CUresult host_pointer_attr(void *data, CUpointer_attribute attr, CUdeviceptr p,
				  const struct vgpu_host_info *h)
{
	switch (attr) {
	case CU_POINTER_ATTRIBUTE_CONTEXT:
		*(CUcontext *)data = (CUcontext)h->ctx;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
		*(unsigned int *)data = CU_MEMORYTYPE_HOST;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_HOST_POINTER:
		*(void **)data = (void *)p;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_DEVICE_POINTER: {
		/* Heap memory is mapped (cuMemHostGetDevicePointer); staged memory is not. */
		CUdeviceptr d = h->heap ? vgpu_heap_device(h->heap_off + (p - h->base)) : 0;

		if (!d)
			return CUDA_ERROR_NOT_SUPPORTED;
		*(CUdeviceptr *)data = d;
		return CUDA_SUCCESS;
	}
	case CU_POINTER_ATTRIBUTE_MAPPED:
		*(bool *)data = h->heap && vgpu_heap_device(h->heap_off);
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_IS_MANAGED:
	case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS:
	case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
	case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE:
		*(bool *)data = false;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
		*(int *)data = h->ctx->dev;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
		*(CUdeviceptr *)data = h->base;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
		*(size_t *)data = h->size;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_BUFFER_ID:
		*(unsigned long long *)data = h->base;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
		*(unsigned long long *)data = 0;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
		*(CUmemoryPool *)data = NULL;
		return CUDA_SUCCESS;
	default:
		return CUDA_ERROR_NOT_SUPPORTED;
	}
}

static CUresult pointer_attr(void *data, CUpointer_attribute attr, CUdeviceptr p)
{
	struct vgpu_host_info h;
	CUdeviceptr base;
	size_t size;
	struct vgpu_ctx *ctx;

	if (!data)
		return CUDA_ERROR_INVALID_VALUE;
	if (vgpu_host_find(p, &h))
		return host_pointer_attr(data, attr, p, &h);
	if (!vgpu_alloc_find(p, &base, &size, &ctx)) {
		/* Not device memory the shim knows: what the driver says of unregistered host memory. */
		if (attr == CU_POINTER_ATTRIBUTE_MEMORY_TYPE || attr == CU_POINTER_ATTRIBUTE_CONTEXT)
			return CUDA_ERROR_INVALID_VALUE;
		if (attr == CU_POINTER_ATTRIBUTE_IS_MANAGED || attr == CU_POINTER_ATTRIBUTE_MAPPED) {
			*(bool *)data = false;
			return CUDA_SUCCESS;
		}
		return CUDA_ERROR_INVALID_VALUE;
	}
	switch (attr) {
	case CU_POINTER_ATTRIBUTE_CONTEXT:
		*(CUcontext *)data = (CUcontext)ctx;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
		*(unsigned int *)data = CU_MEMORYTYPE_DEVICE;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
		*(CUdeviceptr *)data = p;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_HOST_POINTER:
		return CUDA_ERROR_INVALID_VALUE;
	case CU_POINTER_ATTRIBUTE_IS_MANAGED:
	case CU_POINTER_ATTRIBUTE_MAPPED:
		*(bool *)data = attr == CU_POINTER_ATTRIBUTE_MAPPED;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
		*(int *)data = ctx->dev;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
		*(CUdeviceptr *)data = base;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
		*(size_t *)data = size;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_BUFFER_ID:
		*(unsigned long long *)data = base;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS:
		*(bool *)data = false;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
	case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE:
		*(bool *)data = false;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
		*(unsigned long long *)data = 0;
		return CUDA_SUCCESS;
	case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
		*(CUmemoryPool *)data = NULL;
		return CUDA_SUCCESS;
	default:
		return CUDA_ERROR_NOT_SUPPORTED;
	}
}

CUresult CUDAAPI cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr)
{
	CUresult r = vgpu_ready();

	return r ? r : pointer_attr(data, attribute, ptr);
}

/* Bytes a value of @attr takes, to zero what cannot be answered. */
static size_t attr_size(CUpointer_attribute attr)
{
	switch (attr) {
	case CU_POINTER_ATTRIBUTE_IS_MANAGED:
	case CU_POINTER_ATTRIBUTE_MAPPED:
	case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS:
	case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
	case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE:
		return sizeof(bool);
	case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
	case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
	case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS:
		return sizeof(int);
	default:
		return sizeof(uint64_t);
	}
}

CUresult CUDAAPI cuPointerGetAttributes(unsigned int n, CUpointer_attribute *attrs, void **data,
					CUdeviceptr ptr)
{
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!attrs || !data)
		return CUDA_ERROR_INVALID_VALUE;
	/* The plural form leaves unknowable values zeroed instead of failing. */
	for (unsigned int i = 0; i < n; i++) {
		if (!data[i] || pointer_attr(data[i], attrs[i], ptr) == CUDA_SUCCESS)
			continue;
		memset(data[i], 0, attr_size(attrs[i]));
		if (attrs[i] == CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL)
			*(int *)data[i] = -2;	/* no device: host memory */
	}
	return CUDA_SUCCESS;
}
