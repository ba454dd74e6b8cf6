// SPDX-License-Identifier: MIT
/*
 * Stream-ordered allocation and memory pools, forwarded: cuMemAllocAsync,
 * cuMemAllocFromPoolAsync, cuMemFreeAsync (and their _ptsz forms),
 * cuMemPoolCreate/Destroy/TrimTo/SetAttribute/GetAttribute and the
 * device's pools.
 *
 * A CUmemoryPool is a shim object naming the executor's id; each device's
 * default pool gets its id from the executor the first time it is named.
 * The allocation call waits for its answer (the caller needs the pointer);
 * cuMemFreeAsync is checked here and sent without waiting, as the real call
 * returns at once.  Allocations are noted as device memory for cuMemcpy
 * and pointer attributes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "context.h"
#include "memory.h"
#include "shim.h"
#include "state.h"
#include "stream_ref.h"

struct vgpu_pool {
	struct vgpu_obj o;	/* VGPU_KIND_POOL */
	CUdevice dev;
	bool is_default;
};

static struct {
	pthread_mutex_t lock;
	struct vgpu_pool dflt[VGPU_MAX_DEVICES];	/* o.id 0 until the executor named it */
	struct vgpu_pool *current[VGPU_MAX_DEVICES];	/* NULL: the default */
	CUdeviceptr *live;	/* stream-ordered allocations not yet freed */
	size_t nlive, caplive;
} pools = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint32_t wire_ctx(void)
{
	struct vgpu_ctx *c = vgpu_current();

	return c ? vgpu_ctx_wire(c) : 0;
}

static CUresult check_dev(CUdevice dev)
{
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	return vgpu_valid_device(dev) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

/* Device @dev's default pool, named by the executor on first use. */
static CUresult default_pool(CUdevice dev, struct vgpu_pool **out)
{
	struct vgpu_pool *p = &pools.dflt[dev];
	struct vgpu_device_pool_args a = { .device = dev, .which = VGPU_POOL_DEFAULT };
	struct vgpu_answer ans = { 0 };
	CUresult r = CUDA_SUCCESS;

	pthread_mutex_lock(&pools.lock);
	if (!p->o.id) {
		a.id = vgpu_new_id();
		r = vgpu_call_sync(VGPU_OP_DEVICE_GET_POOL, wire_ctx(), &a, sizeof(a), &ans);
		if (r == CUDA_SUCCESS) {
			memcpy(&p->o.id, ans.data, sizeof(p->o.id));
			p->o.kind = VGPU_KIND_POOL;
			p->dev = dev;
			p->is_default = true;
		}
	}
	pthread_mutex_unlock(&pools.lock);
	*out = p;
	return r;
}

CUresult CUDAAPI cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)
{
	struct vgpu_pool *p;
	CUresult r = check_dev(dev);

	if (r != CUDA_SUCCESS)
		return r;
	if (!pool_out)
		return CUDA_ERROR_INVALID_VALUE;
	r = default_pool(dev, &p);
	if (r == CUDA_SUCCESS)
		*pool_out = (CUmemoryPool)p;
	return r;
}

CUresult CUDAAPI cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev)
{
	struct vgpu_pool *cur;
	CUresult r = check_dev(dev);

	if (r != CUDA_SUCCESS)
		return r;
	if (!pool)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&pools.lock);
	cur = pools.current[dev];
	pthread_mutex_unlock(&pools.lock);
	if (cur) {
		*pool = (CUmemoryPool)cur;
		return CUDA_SUCCESS;
	}
	return cuDeviceGetDefaultMemPool(pool, dev);
}

CUresult CUDAAPI cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool)
{
	struct vgpu_pool *p = vgpu_check(pool, VGPU_KIND_POOL);
	struct vgpu_device_pool_args a = { .device = dev };
	CUresult r = check_dev(dev);

	if (r != CUDA_SUCCESS)
		return r;
	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	a.id = p->o.id;
	r = vgpu_call_sync(VGPU_OP_DEVICE_SET_POOL, wire_ctx(), &a, sizeof(a), NULL);
	if (r == CUDA_SUCCESS) {
		pthread_mutex_lock(&pools.lock);
		pools.current[dev] = p->is_default ? NULL : p;
		pthread_mutex_unlock(&pools.lock);
	}
	return r;
}

CUresult CUDAAPI cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *props)
{
	static const unsigned char zero[sizeof(props->reserved)];
	struct vgpu_pool_create_args a;
	struct vgpu_pool *p;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	/* A host pointer of the guest's means nothing on the host: it must be NULL. */
	if (!pool || !props || props->win32SecurityAttributes ||
	    memcmp(props->reserved, zero, sizeof(zero)))
		return CUDA_ERROR_INVALID_VALUE;
	p = calloc(1, sizeof(*p));
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	a = (struct vgpu_pool_create_args){
		.id = vgpu_new_id(), .max_size = props->maxSize, .alloc_type = props->allocType,
		.handle_types = props->handleTypes, .loc_type = props->location.type,
		.loc_id = props->location.id, .usage = props->usage,
	};
	r = vgpu_call_sync(VGPU_OP_POOL_CREATE, wire_ctx(), &a, sizeof(a), NULL);
	if (r != CUDA_SUCCESS) {
		free(p);
		return r;
	}
	*p = (struct vgpu_pool){ { VGPU_KIND_POOL, a.id }, props->location.id, false };
	*pool = (CUmemoryPool)p;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemPoolDestroy(CUmemoryPool pool)
{
	struct vgpu_pool *p = vgpu_check(pool, VGPU_KIND_POOL);
	struct vgpu_pool_args a = { 0 };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	if (p->is_default)
		return CUDA_ERROR_INVALID_VALUE;
	a.id = p->o.id;
	r = vgpu_call_sync(VGPU_OP_POOL_DESTROY, wire_ctx(), &a, sizeof(a), NULL);
	if (r != CUDA_SUCCESS)
		return r;
	pthread_mutex_lock(&pools.lock);
	if (vgpu_valid_device(p->dev) && pools.current[p->dev] == p)
		pools.current[p->dev] = NULL;	/* the device is back on its default pool */
	pthread_mutex_unlock(&pools.lock);
	p->o.kind = VGPU_KIND_DEAD;
	free(p);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep)
{
	struct vgpu_pool *p = vgpu_check(pool, VGPU_KIND_POOL);
	struct vgpu_pool_args a = { .value = minBytesToKeep };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	a.id = p->o.id;
	return vgpu_call_sync(VGPU_OP_POOL_TRIM, wire_ctx(), &a, sizeof(a), NULL);
}

/* The REUSE_* attributes are ints; the others 64-bit (cuda.h). */
static bool int_attr(CUmemPool_attribute attr)
{
	return attr == CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES ||
	       attr == CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC ||
	       attr == CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES;
}

CUresult CUDAAPI cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
	struct vgpu_pool *p = vgpu_check(pool, VGPU_KIND_POOL);
	struct vgpu_pool_attr_args a = { .attr = attr };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!p || !value)
		return CUDA_ERROR_INVALID_VALUE;
	a.id = p->o.id;
	if (int_attr(attr))
		a.value = (uint64_t)(int64_t)*(const int *)value;
	else
		a.value = *(const cuuint64_t *)value;
	return vgpu_call_sync(VGPU_OP_POOL_SET_ATTR, wire_ctx(), &a, sizeof(a), NULL);
}

CUresult CUDAAPI cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value)
{
	struct vgpu_pool *p = vgpu_check(pool, VGPU_KIND_POOL);
	struct vgpu_pool_attr_args a = { .attr = attr };
	struct vgpu_answer ans = { 0 };
	uint64_t v;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!p || !value)
		return CUDA_ERROR_INVALID_VALUE;
	a.id = p->o.id;
	r = vgpu_call_sync(VGPU_OP_POOL_GET_ATTR, wire_ctx(), &a, sizeof(a), &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&v, ans.data, sizeof(v));
	if (int_attr(attr))
		*(int *)value = (int)v;
	else
		*(cuuint64_t *)value = v;
	return CUDA_SUCCESS;
}

/* ---- allocations ---- */

static bool live_add(CUdeviceptr d)
{
	bool ok = true;

	pthread_mutex_lock(&pools.lock);
	if (pools.nlive == pools.caplive) {
		size_t cap = pools.caplive ? pools.caplive * 2 : 64;
		CUdeviceptr *v = realloc(pools.live, cap * sizeof(*v));

		if (v) {
			pools.live = v;
			pools.caplive = cap;
		} else {
			ok = false;
		}
	}
	if (ok)
		pools.live[pools.nlive++] = d;
	pthread_mutex_unlock(&pools.lock);
	return ok;
}

static bool live_take(CUdeviceptr d)
{
	bool found = false;

	pthread_mutex_lock(&pools.lock);
	for (size_t i = 0; i < pools.nlive && !found; i++) {
		if (pools.live[i] == d) {
			pools.live[i] = pools.live[--pools.nlive];
			found = true;
		}
	}
	pthread_mutex_unlock(&pools.lock);
	return found;
}

static CUresult alloc_async(CUdeviceptr *dptr, size_t size, struct vgpu_pool *p, CUstream st,
			    bool pt)
{
	struct vgpu_mem_alloc_async_args a = { .size = size, .pool = VGPU_POOL_CURRENT };
	struct vgpu_answer ans = { 0 };
	struct vgpu_stream_ref s;
	CUdeviceptr d;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!dptr || size == 0)
		return CUDA_ERROR_INVALID_VALUE;
	a.stream = s.id;
	if (p)
		a.pool = p->o.id;
	/* The executor's answer also returns earlier errors of this stream, as the driver would. */
	r = vgpu_call(VGPU_OP_MEM_ALLOC_ASYNC, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC,
		      vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0, &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&d, ans.data, sizeof(d));
	if (!live_add(d)) {
		struct vgpu_mem_free_async_args f = { .dptr = d, .stream = s.id };

		vgpu_call(VGPU_OP_MEM_FREE_ASYNC, 0, vgpu_ctx_wire(s.ctx), &f, sizeof(f), NULL, 0,
			  NULL);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	vgpu_alloc_note_global(d, size, s.ctx);
	*dptr = d;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	return alloc_async(dptr, bytesize, NULL, hStream, false);
}

CUresult CUDAAPI cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	return alloc_async(dptr, bytesize, NULL, hStream, true);
}

static CUresult alloc_from_pool(CUdeviceptr *dptr, size_t size, CUmemoryPool pool, CUstream st,
				bool pt)
{
	struct vgpu_pool *p = vgpu_check(pool, VGPU_KIND_POOL);

	if (!p)
		return vgpu_ready() ? vgpu_ready() : CUDA_ERROR_INVALID_VALUE;
	return alloc_async(dptr, size, p, st, pt);
}

CUresult CUDAAPI cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
					 CUstream hStream)
{
	return alloc_from_pool(dptr, bytesize, pool, hStream, false);
}

CUresult CUDAAPI cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize,
					      CUmemoryPool pool, CUstream hStream)
{
	return alloc_from_pool(dptr, bytesize, pool, hStream, true);
}

static CUresult free_async(CUdeviceptr d, CUstream st, bool pt)
{
	struct vgpu_mem_free_async_args a = { .dptr = d };
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	/* Only what cuMemAllocAsync gave, once: checked here, as the driver answers at once. */
	if (!live_take(d))
		return CUDA_ERROR_INVALID_VALUE;
	vgpu_alloc_forget_global(d);
	a.stream = s.id;
	return vgpu_call(VGPU_OP_MEM_FREE_ASYNC, 0, vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0,
			 NULL);
}

CUresult CUDAAPI cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
	return free_async(dptr, hStream, false);
}

CUresult CUDAAPI cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
	return free_async(dptr, hStream, true);
}

CUresult vgpu_mempool_free(CUdeviceptr d)
{
	struct vgpu_mem_free_async_args a = { .dptr = d, .stream = VGPU_STREAM_LEGACY };
	struct vgpu_ctx *c;
	CUresult r;

	if (!live_take(d))
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = vgpu_current_checked(&c)) != CUDA_SUCCESS) {
		live_add(d);	/* still the caller's */
		return r;
	}
	vgpu_alloc_forget_global(d);
	/* The legacy stream follows every blocking stream's work, as cuMemFree waits for it. */
	return vgpu_call(VGPU_OP_MEM_FREE_ASYNC, VGPU_CMD_F_REPLY, vgpu_ctx_wire(c), &a, sizeof(a),
			 NULL, 0, NULL);
}
