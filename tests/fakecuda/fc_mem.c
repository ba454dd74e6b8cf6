/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * "Device" memory is host memory: a CUdeviceptr is the address of a
 * 512-byte-aligned host block, poisoned with 0xcd when allocated, charged
 * against FAKECUDA_MEM_LIMIT.  Copies and memsets check that every device
 * range lies inside one live allocation (or inside registered host memory,
 * which unified addressing lets the device use) and then do the work at
 * once; the stream only has to be valid.  Checks and their order follow what
 * the real driver returned on an H200: ranges are checked against the size
 * asked for, a zero-length operation succeeds without looking at pointers,
 * D16/D32 memsets need aligned addresses, 2D pitches matter only when more
 * than one row is written.
 */
#include "fakecuda.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct fc_alloc *fc_allocs;
struct fc_hostreg *fc_hostregs;

struct fc_alloc *fc_alloc_find(uint64_t p, size_t n)
{
	for (struct fc_alloc *a = fc_allocs; a; a = a->next)
		if (p >= a->base && p - a->base <= a->size && n <= a->size - (p - a->base))
			return a;
	return NULL;
}

struct fc_hostreg *fc_hostreg_find(uint64_t p, size_t n)
{
	for (struct fc_hostreg *h = fc_hostregs; h; h = h->next)
		if (p >= h->base && p - h->base <= h->size && n <= h->size - (p - h->base))
			return h;
	return NULL;
}

/* A device range a copy or memset may touch. */
static bool range_ok(uint64_t p, size_t n)
{
	return fc_alloc_find(p, n) || fc_hostreg_find(p, n);
}

CUresult fc_alloc_new(size_t size, struct fc_ctx *ctx, struct fc_module *owner, bool zero,
		      struct fc_alloc **out)
{
	if (size == 0 || size > FC_TOTAL_MEM)
		return size ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_INVALID_VALUE;
	size_t charged = (size + FC_ALLOC_ALIGN - 1) / FC_ALLOC_ALIGN * FC_ALLOC_ALIGN;
	if (charged > fc_mem_limit - fc_mem_used)
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct fc_alloc *a = calloc(1, sizeof(*a));
	void *mem = aligned_alloc(FC_ALLOC_ALIGN, charged);
	if (!a || !mem) {
		free(a);
		free(mem);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	memset(mem, zero ? 0 : FC_POISON, charged);
	a->magic = FC_MAGIC_ALLOC;
	a->base = (uint64_t)(uintptr_t)mem;
	a->size = size;
	a->charged = charged;
	a->ctx = ctx;
	a->owner = owner;
	a->next = fc_allocs;
	fc_allocs = a;
	fc_mem_used += charged;
	*out = a;
	return CUDA_SUCCESS;
}

/* Unlinked by the caller. */
void fc_alloc_free(struct fc_alloc *a)
{
	fc_mem_used -= a->charged;
	a->magic = 0;
	free((void *)(uintptr_t)a->base);
	free(a);
}

static CUresult mem_alloc(CUdeviceptr *dptr, size_t bytesize)
{
	struct fc_ctx *c;
	struct fc_alloc *a;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!dptr)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_current(&c)))
		return r;
	if (bytesize == 0)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_alloc_new(bytesize, c, NULL, false, &a)))
		return r;
	*dptr = a->base;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	FC_LOCKED(mem_alloc(dptr, bytesize));
}

/* No current context is needed: the pointer says whose memory it is (as on the real driver). */
static CUresult mem_free(CUdeviceptr dptr)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (fc_sticky)
		return fc_sticky;
	if (dptr == 0)	/* the real driver: success, nothing to do */
		return CUDA_SUCCESS;
	for (struct fc_alloc **pp = &fc_allocs; *pp; pp = &(*pp)->next) {
		struct fc_alloc *a = *pp;
		if (a->base == dptr && !a->owner) {	/* module globals are not the caller's to free */
			*pp = a->next;
			fc_alloc_free(a);
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_INVALID_VALUE;
}

FC_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	FC_LOCKED(mem_free(dptr));
}

/* Both outputs are optional: the real driver accepts NULL for either. */
static CUresult mem_get_info(size_t *free_bytes, size_t *total)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((r = fc_current(&c)))
		return r;
	if (free_bytes)
		*free_bytes = fc_mem_limit - fc_mem_used;
	if (total)
		*total = FC_TOTAL_MEM;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemGetInfo_v2(size_t *free, size_t *total)
{
	FC_LOCKED(mem_get_info(free, total));
}

/* ------------------------------------------------------------ copies */

/* The checks every stream operation starts with. */
static CUresult stream_op_begin(CUstream s)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	return fc_stream_ctx(s, NULL, &c);
}

static CUresult memcpy_htod(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
	CUresult r = stream_op_begin(s);
	if (r || n == 0)
		return r;
	if (!src || !range_ok(dst, n))
		return CUDA_ERROR_INVALID_VALUE;
	memmove((void *)(uintptr_t)dst, src, n);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
					CUstream hStream)
{
	FC_LOCKED(memcpy_htod(dstDevice, srcHost, ByteCount, hStream));
}

static CUresult memcpy_dtoh(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
	CUresult r = stream_op_begin(s);
	if (r || n == 0)
		return r;
	if (!dst || !range_ok(src, n))
		return CUDA_ERROR_INVALID_VALUE;
	memmove(dst, (const void *)(uintptr_t)src, n);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
					CUstream hStream)
{
	FC_LOCKED(memcpy_dtoh(dstHost, srcDevice, ByteCount, hStream));
}

static CUresult memcpy_dtod(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	CUresult r = stream_op_begin(s);
	if (r || n == 0)
		return r;
	if (!range_ok(dst, n) || !range_ok(src, n))
		return CUDA_ERROR_INVALID_VALUE;
	memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);	/* overlap allowed */
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
					CUstream hStream)
{
	FC_LOCKED(memcpy_dtod(dstDevice, srcDevice, ByteCount, hStream));
}

/* ------------------------------------------------------------ memsets */

static void fill(uint8_t *p, uint32_t value, size_t elem, size_t count)
{
	switch (elem) {
	case 1:
		memset(p, (int)value, count);
		break;
	case 2:
		for (size_t i = 0; i < count; i++) {
			uint16_t v = (uint16_t)value;
			memcpy(p + 2 * i, &v, 2);
		}
		break;
	default:
		for (size_t i = 0; i < count; i++)
			memcpy(p + 4 * i, &value, 4);
		break;
	}
}

/* height 0: 1D of width elements */
static CUresult memset_any(CUdeviceptr dst, size_t pitch, uint32_t value, size_t elem, size_t width,
			   size_t height, bool two_d, CUstream s)
{
	CUresult r = stream_op_begin(s);
	if (r)
		return r;
	size_t rows = two_d ? height : 1;
	if (width == 0 || rows == 0)
		return CUDA_SUCCESS;
	if (dst % elem)
		return CUDA_ERROR_INVALID_VALUE;
	if (width > SIZE_MAX / elem)
		return CUDA_ERROR_INVALID_VALUE;
	size_t row_bytes = width * elem;
	size_t span = row_bytes;
	if (rows > 1) {	/* the pitch is unused for a single row */
		if (pitch < row_bytes || pitch % elem)
			return CUDA_ERROR_INVALID_VALUE;
		if ((rows - 1) > (SIZE_MAX - row_bytes) / pitch)
			return CUDA_ERROR_INVALID_VALUE;
		span = pitch * (rows - 1) + row_bytes;
	}
	if (!range_ok(dst, span))
		return CUDA_ERROR_INVALID_VALUE;
	for (size_t y = 0; y < rows; y++)
		fill((uint8_t *)(uintptr_t)(dst + y * pitch), value, elem, width);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)
{
	FC_LOCKED(memset_any(dstDevice, 0, uc, 1, N, 1, false, hStream));
}

FC_EXPORT CUresult cuMemsetD16Async(CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream)
{
	FC_LOCKED(memset_any(dstDevice, 0, us, 2, N, 1, false, hStream));
}

FC_EXPORT CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream)
{
	FC_LOCKED(memset_any(dstDevice, 0, ui, 4, N, 1, false, hStream));
}

FC_EXPORT CUresult cuMemsetD2D8Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned char uc,
				     size_t Width, size_t Height, CUstream hStream)
{
	FC_LOCKED(memset_any(dstDevice, dstPitch, uc, 1, Width, Height, true, hStream));
}

FC_EXPORT CUresult cuMemsetD2D16Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned short us,
				      size_t Width, size_t Height, CUstream hStream)
{
	FC_LOCKED(memset_any(dstDevice, dstPitch, us, 2, Width, Height, true, hStream));
}

FC_EXPORT CUresult cuMemsetD2D32Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned int ui,
				      size_t Width, size_t Height, CUstream hStream)
{
	FC_LOCKED(memset_any(dstDevice, dstPitch, ui, 4, Width, Height, true, hStream));
}

/* ------------------------------------------------------------ host registration */

#define FC_HOSTREG_FLAGS (CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP | \
			  CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY)

/* Is every page of [p, p + n) mapped?  (The real driver pins them.) */
static bool mapped(uint64_t p, size_t n)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t start = p & ~(uint64_t)(page - 1);
	size_t len = (size_t)(p + n - start);
	size_t pages = (len + (size_t)page - 1) / (size_t)page;
	unsigned char *vec = malloc(pages ? pages : 1);

	if (!vec)
		return false;
	int rc = mincore((void *)(uintptr_t)start, len, vec);
	free(vec);
	return rc == 0 || errno != ENOMEM;
}

static CUresult host_register(void *p, size_t size, unsigned int flags)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((r = fc_current(&c)))
		return r;
	uint64_t base = (uint64_t)(uintptr_t)p;
	if (!p || size == 0 || base + size < base || (flags & ~FC_HOSTREG_FLAGS))
		return CUDA_ERROR_INVALID_VALUE;
	/* IOMEMORY is for device BARs; what the double is given is ordinary memory */
	if (flags & CU_MEMHOSTREGISTER_IOMEMORY)
		return CUDA_ERROR_INVALID_VALUE;
	for (struct fc_hostreg *h = fc_hostregs; h; h = h->next)
		if (base < h->base + h->size && h->base < base + size)
			return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
	if (!mapped(base, size))
		return CUDA_ERROR_INVALID_VALUE;
	struct fc_hostreg *h = calloc(1, sizeof(*h));
	if (!h)
		return CUDA_ERROR_OUT_OF_MEMORY;
	h->magic = FC_MAGIC_HOSTREG;
	h->base = base;
	h->size = size;
	h->flags = flags;
	h->ctx = c;
	h->next = fc_hostregs;
	fc_hostregs = h;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)
{
	FC_LOCKED(host_register(p, bytesize, Flags));
}

static CUresult host_unregister(void *p)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((r = fc_current(&c)))
		return r;
	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	uint64_t base = (uint64_t)(uintptr_t)p;
	for (struct fc_hostreg **pp = &fc_hostregs; *pp; pp = &(*pp)->next) {
		struct fc_hostreg *h = *pp;
		if (h->base == base) {
			*pp = h->next;
			h->magic = 0;
			free(h);
			return CUDA_SUCCESS;
		}
		if (base > h->base && base < h->base + h->size)
			return CUDA_ERROR_INVALID_VALUE;	/* inside, not the start: as the real driver */
	}
	return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
}

FC_EXPORT CUresult cuMemHostUnregister(void *p)
{
	FC_LOCKED(host_unregister(p));
}
