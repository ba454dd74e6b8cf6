// SPDX-License-Identifier: MIT
/*
 * Function and kernel attributes (decision 3: answers that do not change
 * are answered in the guest).  The first question about a function on a
 * device fetches all its CU_FUNC_ATTRIBUTE_* values in one call; later
 * questions, and the occupancy calculator (occupancy.c), read that copy.
 * Setting an attribute or a cache configuration is forwarded and waits
 * for its answer; a successful set makes every copy stale, since the
 * driver may derive one attribute from another (a kernel's setting also
 * shows through the functions obtained from it), so the next question
 * fetches afresh.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "context.h"
#include "func_attrs.h"
#include "module.h"
#include "shim.h"
#include "state.h"

struct vgpu_func_attr_cache {
	struct {
		bool loaded;
		uint64_t gen;		/* attrs_gen when fetched */
		struct vgpu_func_attrs attrs;
		CUfunc_cache cache_config;
	} dev[VGPU_MAX_DEVICES];
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t attrs_gen = 1;

static uint32_t wire_ctx(void)
{
	struct vgpu_ctx *c = vgpu_current();

	return c ? vgpu_ctx_wire(c) : 0;
}

static CUresult fetch(struct vgpu_func *f, CUdevice dev, struct vgpu_func_attrs *out)
{
	struct vgpu_func_attrs_args a = { .func = f->o.id, .device = dev };
	struct vgpu_bulk_buf b;
	CUresult r;

	if (!vgpu_bulk_alloc(sizeof(*out), true, &b))
		return CUDA_ERROR_DEVICE_UNAVAILABLE;
	a.out = b.ref;
	r = vgpu_call_sync(VGPU_OP_FUNC_GET_ATTRIBUTES, wire_ctx(), &a, sizeof(a), NULL);
	if (r == CUDA_SUCCESS)
		memcpy(out, b.ptr, sizeof(*out));
	vgpu_bulk_free(&b);
	return r;
}

CUresult vgpu_func_device(const struct vgpu_func *f, CUdevice *dev)
{
	struct vgpu_ctx *c;

	if (f->o.kind == VGPU_KIND_FUNCTION && vgpu_valid_device(f->dev)) {
		*dev = f->dev;
		return CUDA_SUCCESS;
	}
	c = vgpu_current();
	if (!c)
		return CUDA_ERROR_INVALID_CONTEXT;
	*dev = c->dev;
	return CUDA_SUCCESS;
}

CUresult vgpu_func_attrs_get(struct vgpu_func *f, CUdevice dev, struct vgpu_func_attrs *out,
			     CUfunc_cache *cache_config)
{
	uint64_t gen = atomic_load(&attrs_gen);
	CUresult r = CUDA_SUCCESS;

	if (!vgpu_valid_device(dev))
		return CUDA_ERROR_INVALID_DEVICE;
	pthread_mutex_lock(&cache_lock);
	if (!f->attr_cache)
		f->attr_cache = calloc(1, sizeof(*f->attr_cache));
	if (!f->attr_cache) {
		r = CUDA_ERROR_OUT_OF_MEMORY;
	} else if (!f->attr_cache->dev[dev].loaded || f->attr_cache->dev[dev].gen != gen) {
		/* A set racing with this fetch bumps the generation again: no stale copy stays. */
		r = fetch(f, dev, &f->attr_cache->dev[dev].attrs);
		f->attr_cache->dev[dev].loaded = r == CUDA_SUCCESS;
		f->attr_cache->dev[dev].gen = gen;
	}
	if (r == CUDA_SUCCESS) {
		*out = f->attr_cache->dev[dev].attrs;
		if (cache_config)
			*cache_config = f->attr_cache->dev[dev].cache_config;
	}
	pthread_mutex_unlock(&cache_lock);
	return r;
}

static CUresult get_attr(struct vgpu_func *f, int attrib, CUdevice dev, int *pi)
{
	struct vgpu_func_attrs at;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!pi)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	/* Functions live in a context; kernels are asked about a device. */
	if (f->o.kind == VGPU_KIND_FUNCTION && !vgpu_current())
		return CUDA_ERROR_INVALID_CONTEXT;
	if (attrib < 0 || attrib >= VGPU_FUNC_ATTRS)
		return CUDA_ERROR_INVALID_VALUE;
	if (dev < 0 && (r = vgpu_func_device(f, &dev)) != CUDA_SUCCESS)
		return r;
	r = vgpu_func_attrs_get(f, dev, &at, NULL);
	if (r != CUDA_SUCCESS)
		return r;
	/* An attribute the host's driver refused is refused here too. */
	if (!(at.valid & (1u << attrib)))
		return CUDA_ERROR_INVALID_VALUE;
	*pi = at.value[attrib];
	return CUDA_SUCCESS;
}

static CUresult set_attr(struct vgpu_func *f, int attrib, int value, CUdevice dev)
{
	struct vgpu_func_attr_args a = { .attrib = attrib, .value = value, .device = dev };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if (f->o.kind == VGPU_KIND_FUNCTION && !vgpu_current())
		return CUDA_ERROR_INVALID_CONTEXT;
	a.func = f->o.id;
	r = vgpu_call_sync(VGPU_OP_FUNC_SET_ATTRIBUTE, wire_ctx(), &a, sizeof(a), NULL);
	if (r == CUDA_SUCCESS)
		atomic_fetch_add(&attrs_gen, 1);
	return r;
}

CUresult CUDAAPI cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)
{
	return get_attr(vgpu_func_of(hfunc), attrib, -1, pi);
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)
{
	struct vgpu_func *f = vgpu_func_of(hfunc);
	CUdevice dev = 0;

	/* A CUkernel given as a function is set for the current context's device. */
	if (f && f->o.kind == VGPU_KIND_KERNEL && vgpu_func_device(f, &dev) != CUDA_SUCCESS)
		return CUDA_ERROR_INVALID_CONTEXT;
	return set_attr(f, attrib, value, dev);
}

CUresult CUDAAPI cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel kernel,
				      CUdevice dev)
{
	if (!vgpu_valid_device(dev) && vgpu_ready() == CUDA_SUCCESS)
		return CUDA_ERROR_INVALID_DEVICE;
	return get_attr(vgpu_check(kernel, VGPU_KIND_KERNEL), attrib, dev, pi);
}

CUresult CUDAAPI cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel,
				      CUdevice dev)
{
	return set_attr(vgpu_check(kernel, VGPU_KIND_KERNEL), attrib, val, dev);
}

/* ---- cache and shared memory configuration ---- */

static CUresult set_config(struct vgpu_func *f, uint16_t op, uint32_t config, CUdevice dev)
{
	struct vgpu_func_config_args a = { .config = config, .device = dev };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if (f->o.kind == VGPU_KIND_FUNCTION && !vgpu_current())
		return CUDA_ERROR_INVALID_CONTEXT;
	if (op == VGPU_OP_FUNC_SET_CACHE_CONFIG && dev < 0 &&
	    (r = vgpu_func_device(f, &dev)) != CUDA_SUCCESS)
		return r;
	a.func = f->o.id;
	a.device = dev;
	r = vgpu_call_sync(op, wire_ctx(), &a, sizeof(a), NULL);
	if (r != CUDA_SUCCESS || op != VGPU_OP_FUNC_SET_CACHE_CONFIG || !vgpu_valid_device(dev))
		return r;
	/*
	 * The occupancy calculator reads the preference (cudaOccDeviceState.cacheConfig),
	 * and the driver's occupancy answer that came with the attributes is stale.
	 */
	atomic_fetch_add(&attrs_gen, 1);
	pthread_mutex_lock(&cache_lock);
	if (!f->attr_cache)
		f->attr_cache = calloc(1, sizeof(*f->attr_cache));
	if (f->attr_cache)
		f->attr_cache->dev[dev].cache_config = (CUfunc_cache)config;
	else
		r = CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_unlock(&cache_lock);
	return r;
}

CUresult CUDAAPI cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config)
{
	return set_config(vgpu_func_of(hfunc), VGPU_OP_FUNC_SET_CACHE_CONFIG, (uint32_t)config, -1);
}

CUresult CUDAAPI cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev)
{
	if (!vgpu_valid_device(dev) && vgpu_ready() == CUDA_SUCCESS)
		return CUDA_ERROR_INVALID_DEVICE;
	return set_config(vgpu_check(kernel, VGPU_KIND_KERNEL), VGPU_OP_FUNC_SET_CACHE_CONFIG,
			  (uint32_t)config, dev);
}

CUresult CUDAAPI cuFuncSetSharedMemConfig(CUfunction hfunc, CUsharedconfig config)
{
	return set_config(vgpu_func_of(hfunc), VGPU_OP_FUNC_SET_SHARED_CONFIG, (uint32_t)config,
			  0);
}
