/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Stream-ordered allocation and memory pools.  An allocation from a pool is
 * an ordinary allocation of the double (fc_mem.c) that names its pool; it is
 * made when the call is made and released when cuMemFreeAsync is called,
 * through the graveyard, so work submitted before the free still finds it
 * and work after it faults (use after a stream-ordered free is undefined on
 * a GPU too).  A pool keeps freed bytes cached up to its release threshold
 * (CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, 0 by default) - they stay charged to
 * FAKECUDA_MEM_LIMIT and count in RESERVED_MEM_CURRENT until reused or
 * trimmed - so an executor that charges what a pool reserves sees it grow
 * and shrink.  Unlike a GPU's pool, a synchronisation releases nothing.
 */
#include "fakecuda.h"

#include <stdlib.h>
#include <string.h>

#define FC_MAGIC_POOL	0x66706f6c	/* "fpol" */

struct fc_pool {
	uint32_t magic;
	struct fc_pool *next;
	bool destroyed;		/* by cuMemPoolDestroy: goes once its allocations are gone */
	size_t max_size;	/* 0: none */
	uint64_t threshold;
	int reuse[3];		/* FOLLOW_EVENT_DEPENDENCIES, ALLOW_OPPORTUNISTIC, ALLOW_INTERNAL */
	uint64_t used, used_high, cached, reserved_high;
	unsigned live;		/* allocations not released */
};

static struct fc_pool default_pool = { .magic = FC_MAGIC_POOL, .reuse = { 1, 1, 1 } };
static struct fc_pool *pools = &default_pool;
static struct fc_pool *current_pool = &default_pool;

static struct fc_pool *pool_live(CUmemoryPool h)
{
	for (struct fc_pool *p = pools; p; p = p->next)
		if ((void *)p == (void *)h && !p->destroyed)
			return p;
	return NULL;
}

static void pool_unlink(struct fc_pool *p)
{
	for (struct fc_pool **pp = &pools; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	fc_mem_used -= p->cached;
	p->magic = 0;
	free(p);
}

static void note_reserved(struct fc_pool *p)
{
	if (p->used + p->cached > p->reserved_high)
		p->reserved_high = p->used + p->cached;
	if (p->used > p->used_high)
		p->used_high = p->used;
}

void fc_pool_alloc_gone(struct fc_alloc *a)
{
	struct fc_pool *p = a->pool;

	p->used -= a->charged;
	p->live--;
	/* Kept up to the threshold, still the double's memory. */
	if (!p->destroyed && p->used + p->cached + a->charged <= p->threshold) {
		p->cached += a->charged;
		fc_mem_used += a->charged;
	}
	if (p->destroyed && p->live == 0)
		pool_unlink(p);
}

static CUresult alloc_from(CUdeviceptr *dptr, size_t size, struct fc_pool *p, CUstream s,
			   const char *call)
{
	struct fc_ctx *c;
	struct fc_alloc *a;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!dptr)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_stream_resolve(call, s, NULL, &c, NULL)))
		return r;
	if (size == 0)
		return CUDA_ERROR_INVALID_VALUE;
	size_t charged = (size + FC_ALLOC_ALIGN - 1) / FC_ALLOC_ALIGN * FC_ALLOC_ALIGN;
	if (p->max_size && (p->used > p->max_size || charged > p->max_size - p->used))
		return CUDA_ERROR_OUT_OF_MEMORY;
	/* Cached bytes are reused first: they are already the double's. */
	uint64_t reuse = p->cached < charged ? p->cached : charged;
	p->cached -= reuse;
	fc_mem_used -= reuse;
	if ((r = fc_alloc_new(size, c, NULL, false, &a))) {
		p->cached += reuse;
		fc_mem_used += reuse;
		return r;
	}
	a->pool = p;
	p->used += a->charged;
	p->live++;
	note_reserved(p);
	*dptr = a->base;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	FC_LOCKED(alloc_from(dptr, bytesize, current_pool, hStream, "cuMemAllocAsync"));
}

static CUresult alloc_from_pool(CUdeviceptr *dptr, size_t size, CUmemoryPool h, CUstream s)
{
	struct fc_pool *p;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!(p = pool_live(h)))
		return fc_forged("cuMemAllocFromPoolAsync", "memory pool", CUDA_ERROR_INVALID_VALUE);
	return alloc_from(dptr, size, p, s, "cuMemAllocFromPoolAsync");
}

FC_EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
					   CUstream hStream)
{
	FC_LOCKED(alloc_from_pool(dptr, bytesize, pool, hStream));
}

/* Any allocation of the caller's may be freed in stream order; pool memory goes back to its pool. */
static CUresult free_async(CUdeviceptr dptr, CUstream s)
{
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve("cuMemFreeAsync", s, NULL, NULL, NULL)))
		return r;
	for (struct fc_alloc *a = fc_allocs; a; a = a->next) {
		if (a->base == dptr && !a->owner) {
			fc_alloc_release(a);
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_INVALID_VALUE;
}

FC_EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
	FC_LOCKED(free_async(dptr, hStream));
}

static CUresult pool_create(CUmemoryPool *out, const CUmemPoolProps *props)
{
	static const unsigned char zero[sizeof(props->reserved)];
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!out || !props || props->allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    props->location.type != CU_MEM_LOCATION_TYPE_DEVICE || props->win32SecurityAttributes ||
	    memcmp(props->reserved, zero, sizeof(zero)))
		return CUDA_ERROR_INVALID_VALUE;
	if (props->location.id != 0)
		return CUDA_ERROR_INVALID_DEVICE;
	if (props->handleTypes & ~(unsigned)CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
		return CUDA_ERROR_NOT_SUPPORTED;
	struct fc_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	p->magic = FC_MAGIC_POOL;
	p->max_size = props->maxSize;
	p->reuse[0] = p->reuse[1] = p->reuse[2] = 1;
	p->next = pools;
	pools = p;
	*out = (CUmemoryPool)p;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *poolProps)
{
	FC_LOCKED(pool_create(pool, poolProps));
}

/* cuda.h: returns at once; the pool goes once its allocations are freed. */
static CUresult pool_destroy(CUmemoryPool h)
{
	struct fc_pool *p;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!(p = pool_live(h)))
		return fc_forged("cuMemPoolDestroy", "memory pool", CUDA_ERROR_INVALID_VALUE);
	if (p == &default_pool)
		return CUDA_ERROR_INVALID_VALUE;
	if (current_pool == p)
		current_pool = &default_pool;
	p->destroyed = true;
	fc_mem_used -= p->cached;
	p->cached = 0;
	if (p->live == 0)
		pool_unlink(p);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
	FC_LOCKED(pool_destroy(pool));
}

static CUresult pool_trim(CUmemoryPool h, size_t keep)
{
	struct fc_pool *p;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!(p = pool_live(h)))
		return fc_forged("cuMemPoolTrimTo", "memory pool", CUDA_ERROR_INVALID_VALUE);
	uint64_t want = keep > p->used ? keep - p->used : 0;
	if (p->cached > want) {
		fc_mem_used -= p->cached - want;
		p->cached = want;
	}
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
	FC_LOCKED(pool_trim(pool, minBytesToKeep));
}

static CUresult pool_attr(CUmemoryPool h, CUmemPool_attribute attr, void *value, bool set)
{
	struct fc_pool *p;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!(p = pool_live(h)))
		return fc_forged(set ? "cuMemPoolSetAttribute" : "cuMemPoolGetAttribute",
				 "memory pool", CUDA_ERROR_INVALID_VALUE);
	if (!value)
		return CUDA_ERROR_INVALID_VALUE;
	switch (attr) {
	case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
	case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
	case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES: {
		int *v = &p->reuse[attr - CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES];
		if (set)
			*v = *(int *)value != 0;
		else
			*(int *)value = *v;
		return CUDA_SUCCESS;
	}
	case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
		if (set)
			p->threshold = *(cuuint64_t *)value;
		else
			*(cuuint64_t *)value = p->threshold;
		return CUDA_SUCCESS;
	case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
	case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
		if (set)
			return CUDA_ERROR_INVALID_VALUE;
		*(cuuint64_t *)value = attr == CU_MEMPOOL_ATTR_USED_MEM_CURRENT ? p->used
										: p->used + p->cached;
		return CUDA_SUCCESS;
	case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
	case CU_MEMPOOL_ATTR_USED_MEM_HIGH: {
		uint64_t *v = attr == CU_MEMPOOL_ATTR_USED_MEM_HIGH ? &p->used_high
								     : &p->reserved_high;
		if (!set) {
			*(cuuint64_t *)value = *v;
			return CUDA_SUCCESS;
		}
		/* Only a reset to 0 is allowed; it starts again from the current figure. */
		if (*(cuuint64_t *)value != 0)
			return CUDA_ERROR_INVALID_VALUE;
		*v = attr == CU_MEMPOOL_ATTR_USED_MEM_HIGH ? p->used : p->used + p->cached;
		return CUDA_SUCCESS;
	}
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
}

FC_EXPORT CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
	FC_LOCKED(pool_attr(pool, attr, value, true));
}

FC_EXPORT CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
	FC_LOCKED(pool_attr(pool, attr, value, false));
}

static CUresult device_pool(CUmemoryPool *out, CUdevice dev, bool current)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_check_device(dev)))
		return r;
	*out = (CUmemoryPool)(current ? current_pool : &default_pool);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)
{
	FC_LOCKED(device_pool(pool_out, dev, false));
}

FC_EXPORT CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev)
{
	FC_LOCKED(device_pool(pool, dev, true));
}

static CUresult set_pool(CUdevice dev, CUmemoryPool h)
{
	struct fc_pool *p;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((r = fc_check_device(dev)))
		return r;
	if (!(p = pool_live(h)))
		return fc_forged("cuDeviceSetMemPool", "memory pool", CUDA_ERROR_INVALID_VALUE);
	current_pool = p;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool)
{
	FC_LOCKED(set_pool(dev, pool));
}
