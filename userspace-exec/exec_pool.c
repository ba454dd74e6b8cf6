// SPDX-License-Identifier: MIT
/*
 * Stream-ordered allocation: cuMemAllocAsync, cuMemAllocFromPoolAsync,
 * cuMemFreeAsync, cuMemPoolCreate/Destroy/TrimTo/SetAttribute/GetAttribute
 * and the device's pools (cuDeviceGetDefaultMemPool, Get/SetMemPool).
 *
 * How pools are charged (vmm.h): a pool holds VGPU_CHARGE_POOL for what the
 * driver says it reserves (RESERVED_MEM_CURRENT), at least the bytes of its
 * live allocations.  An allocation is charged its size before the driver
 * allocates; after every call that changes a pool the charge follows the
 * driver's figure, and when the quota refuses more the pool's cache is
 * trimmed first (an allocation that still does not fit is freed again and
 * is CUDA_ERROR_OUT_OF_MEMORY).  The release threshold the driver gets is
 * capped at the instance's limit, so a pool never keeps more than the quota
 * could grant; the guest reads back the value it set.  Memory a pool frees
 * on its own (at a synchronisation, below its threshold) is given back at
 * the pool's next call, at cuMemGetInfo, or when a charge is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "vmm.h"

static CUresult check_device(struct vgpu_session *s, int32_t dev)
{
	int n = 0;

	if (s->drv.DeviceGetCount(&n) != CUDA_SUCCESS || dev < 0 || dev >= n ||
	    dev >= VGPU_VMM_MAX_DEVICES)
		return CUDA_ERROR_INVALID_DEVICE;
	return CUDA_SUCCESS;
}

static struct vgpu_xpool *pool_of(struct vgpu_session *s, uint64_t id)
{
	struct vgpu_idmap_entry *e = vgpu_obj(s, id, VGPU_OBJ_POOL);

	return e ? e->obj : NULL;
}

/* Device @dev's default pool, fetched from the driver once. */
static struct vgpu_xpool *default_pool(struct vgpu_session *s, struct vgpu_vmm *v, int dev)
{
	struct vgpu_xpool *p;
	CUmemoryPool h;
	CUdevice d;

	if (v->dflt[dev])
		return v->dflt[dev];
	if (s->drv.DeviceGet(&d, dev) != CUDA_SUCCESS ||
	    s->drv.DeviceGetDefaultMemPool(&h, d) != CUDA_SUCCESS)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->h = h;
	p->device = dev;
	p->is_default = true;
	p->next = v->pools;
	v->pools = p;
	v->dflt[dev] = p;
	return p;
}

/* Make the pool's charge what the driver says it reserves (at least its live bytes). */
static CUresult pool_settle(struct vgpu_session *s, struct vgpu_xpool *p)
{
	cuuint64_t reserved = 0;
	uint64_t need;

	if (p->destroyed || s->drv.MemPoolGetAttribute(p->h, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT,
						       &reserved) != CUDA_SUCCESS)
		reserved = 0;
	need = reserved > p->live ? reserved : p->live;
	if (need < p->charged) {
		vgpu_quota_release(s, VGPU_CHARGE_POOL, p->charged - need);
		p->charged = need;
		return CUDA_SUCCESS;
	}
	if (need == p->charged)
		return CUDA_SUCCESS;
	if (vgpu_quota_charge(s, VGPU_CHARGE_POOL, need - p->charged) == CUDA_SUCCESS) {
		p->charged = need;
		return CUDA_SUCCESS;
	}
	/* Over the quota: what the pool caches goes first. */
	s->drv.MemPoolTrimTo(p->h, (size_t)p->live);
	if (s->drv.MemPoolGetAttribute(p->h, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved) !=
	    CUDA_SUCCESS)
		reserved = p->live;
	need = reserved > p->live ? reserved : p->live;
	if (need <= p->charged) {
		vgpu_quota_release(s, VGPU_CHARGE_POOL, p->charged - need);
		p->charged = need;
		return CUDA_SUCCESS;
	}
	if (vgpu_quota_charge(s, VGPU_CHARGE_POOL, need - p->charged) != CUDA_SUCCESS)
		return CUDA_ERROR_OUT_OF_MEMORY;
	p->charged = need;
	return CUDA_SUCCESS;
}

void vgpu_vmm_settle_pools(struct vgpu_session *s, bool trim)
{
	struct vgpu_vmm *v = s->vmm;

	if (!v)
		return;
	for (struct vgpu_xpool *p = v->pools; p; p = p->next) {
		if (trim && !p->destroyed)
			s->drv.MemPoolTrimTo(p->h, (size_t)p->live);
		pool_settle(s, p);
	}
}

static void pool_free_if_done(struct vgpu_session *s, struct vgpu_vmm *v, struct vgpu_xpool *p)
{
	if (!p->destroyed || p->nlive)
		return;
	vgpu_quota_release(s, VGPU_CHARGE_POOL, p->charged);
	for (struct vgpu_xpool **pp = &v->pools; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	free(p);
}

/*
 * The driver handed out @d again: what the table still holds there went
 * with its context (destroyed or reset, which frees its allocations).
 */
static void forget_stale(struct vgpu_session *s, struct vgpu_vmm *v, CUdeviceptr d)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&v->async, d);
	struct vgpu_xpool *p;

	if (!e)
		return;
	p = e->obj;
	p->live -= e->aux;
	p->nlive--;
	vgpu_idmap_remove(&v->async, e);
	pool_settle(s, p);
	pool_free_if_done(s, v, p);
}

/* What an allocation of @bytes may take beyond what the pool holds charged and unused. */
static CUresult charge_for(struct vgpu_session *s, struct vgpu_xpool *p, uint64_t bytes)
{
	for (int pass = 0;; pass++) {
		uint64_t spare = p->charged > p->live ? p->charged - p->live : 0;
		uint64_t extra = bytes > spare ? bytes - spare : 0;

		if (vgpu_quota_charge(s, VGPU_CHARGE_POOL, extra) == CUDA_SUCCESS) {
			p->charged += extra;
			return CUDA_SUCCESS;
		}
		if (pass)
			return CUDA_ERROR_OUT_OF_MEMORY;
		/* What pools cache (this one's may not fit the size) goes back; then ask again. */
		vgpu_vmm_settle_pools(s, true);
	}
}

CUresult vgpu_exec_mem_alloc_async(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_mem_alloc_async_args *a = (const void *)c->args;
	struct vgpu_vmm *v = vgpu_vmm_get(s);
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);
	struct vgpu_idmap_entry *e;
	struct vgpu_xpool *p;
	struct vgpu_xctx *x;
	uint64_t bytes = vgpu_quota_alloc_bytes(a->size);
	CUdeviceptr d = 0;
	CUresult r;

	if (!v)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	if (a->size == 0)
		return CUDA_ERROR_INVALID_VALUE;
	x = vgpu_xctx_of(s, xs->ctx_id);
	if (!x || x->device < 0 || x->device >= VGPU_VMM_MAX_DEVICES)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (a->pool == VGPU_POOL_CURRENT) {
		p = v->current[x->device] ? v->current[x->device] : default_pool(s, v, x->device);
		if (!p)
			return CUDA_ERROR_OUT_OF_MEMORY;
	} else if (!(p = pool_of(s, a->pool))) {
		return CUDA_ERROR_INVALID_VALUE;	/* what the driver says of a bad pool */
	}
	/* Charged before the driver allocates (its cache counts); settled after. */
	if ((r = charge_for(s, p, bytes)) != CUDA_SUCCESS)
		return r;
	r = s->drv.MemAllocFromPoolAsync(&d, (size_t)a->size, p->h, xs->h);
	if (r == CUDA_SUCCESS)
		forget_stale(s, v, d);
	if (r == CUDA_SUCCESS && !(e = vgpu_idmap_insert(&v->async, d, 1))) {
		s->drv.MemFreeAsync(d, xs->h);
		r = CUDA_ERROR_OUT_OF_MEMORY;
	}
	if (r != CUDA_SUCCESS) {
		pool_settle(s, p);
		return r;
	}
	e->aux = bytes;
	e->obj = p;
	p->live += bytes;
	p->nlive++;
	if (pool_settle(s, p) != CUDA_SUCCESS) {
		s->drv.MemFreeAsync(d, xs->h);
		vgpu_idmap_remove(&v->async, e);
		p->live -= bytes;
		p->nlive--;
		pool_settle(s, p);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	vgpu_answer(c, &d, sizeof(d));
	return CUDA_SUCCESS;
}

/* Only the session's stream-ordered allocations. */
CUresult vgpu_exec_mem_free_async(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_mem_free_async_args *a = (const void *)c->args;
	struct vgpu_vmm *v = s->vmm;
	struct vgpu_idmap_entry *e = v ? vgpu_idmap_find(&v->async, a->dptr) : NULL;
	struct vgpu_xstream *xs;
	struct vgpu_xpool *p;
	CUresult r;

	if (!e)
		return CUDA_ERROR_INVALID_VALUE;
	xs = vgpu_stream(s, c, a->stream);
	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	r = s->drv.MemFreeAsync(a->dptr, xs->h);
	if (r != CUDA_SUCCESS)
		return r;
	p = e->obj;
	p->live -= e->aux;
	p->nlive--;
	vgpu_idmap_remove(&v->async, e);
	pool_settle(s, p);
	pool_free_if_done(s, v, p);
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_pool_create(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_pool_create_args *a = (const void *)c->args;
	struct vgpu_vmm *v = vgpu_vmm_get(s);
	CUmemPoolProps props;
	struct vgpu_idmap_entry *e;
	struct vgpu_xpool *p;
	CUresult r;

	if (!v)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (a->id < VGPU_FIRST_ID || vgpu_idmap_find(&s->handles, a->id))
		return CUDA_ERROR_INVALID_HANDLE;
	if (a->alloc_type != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    a->loc_type != CU_MEM_LOCATION_TYPE_DEVICE || a->reserved0 || a->reserved)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = check_device(s, a->loc_id)) != CUDA_SUCCESS)
		return r;
	/* As for cuMemCreate: export is not offered, so only a POSIX fd type may be asked for. */
	if ((a->handle_types & ~(uint32_t)CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) || a->usage)
		return CUDA_ERROR_NOT_SUPPORTED;
	memset(&props, 0, sizeof(props));
	props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
	props.handleTypes = (CUmemAllocationHandleType)a->handle_types;
	props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	props.location.id = a->loc_id;
	props.maxSize = (size_t)a->max_size;
	p = calloc(1, sizeof(*p));
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = s->drv.MemPoolCreate(&p->h, &props);
	if (r == CUDA_SUCCESS && !(e = vgpu_idmap_insert(&s->handles, a->id, VGPU_OBJ_POOL))) {
		s->drv.MemPoolDestroy(p->h);
		r = CUDA_ERROR_OUT_OF_MEMORY;
	}
	if (r != CUDA_SUCCESS) {
		free(p);
		return r;
	}
	p->id = a->id;
	p->device = a->loc_id;
	p->next = v->pools;
	v->pools = p;
	e->obj = p;
	return CUDA_SUCCESS;
}

/* As the driver: at once; what is still allocated from it stays until freed. */
CUresult vgpu_exec_pool_destroy(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_pool_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->id, VGPU_OBJ_POOL);
	struct vgpu_xpool *p = e ? e->obj : NULL;
	struct vgpu_vmm *v = s->vmm;
	CUresult r;

	if (!p || !v)
		return CUDA_ERROR_INVALID_HANDLE;
	if (p->is_default)
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.MemPoolDestroy(p->h);
	if (r != CUDA_SUCCESS)
		return r;
	if (v->current[p->device] == p)
		v->current[p->device] = NULL;	/* the driver went back to the default pool */
	vgpu_idmap_remove(&s->handles, e);
	p->destroyed = true;
	pool_settle(s, p);
	pool_free_if_done(s, v, p);
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_pool_trim(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_pool_args *a = (const void *)c->args;
	struct vgpu_xpool *p = pool_of(s, a->id);
	CUresult r;

	if (!p)
		return CUDA_ERROR_INVALID_HANDLE;
	r = s->drv.MemPoolTrimTo(p->h, a->value > SIZE_MAX ? SIZE_MAX : (size_t)a->value);
	pool_settle(s, p);
	return r;
}

CUresult vgpu_exec_pool_set_attr(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_pool_attr_args *a = (const void *)c->args;
	struct vgpu_xpool *p = pool_of(s, a->id);
	cuuint64_t v64 = a->value;
	int vint = a->value != 0;
	CUresult r;

	if (!p)
		return CUDA_ERROR_INVALID_HANDLE;
	switch (a->attr) {
	case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
	case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
	case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
		return s->drv.MemPoolSetAttribute(p->h, (CUmemPool_attribute)a->attr, &vint);
	case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
		/* The pool never keeps more than the instance may have (UINT64_MAX is common). */
		if (s->quota.limit && v64 > s->quota.limit)
			v64 = s->quota.limit;
		r = s->drv.MemPoolSetAttribute(p->h, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v64);
		if (r == CUDA_SUCCESS)
			p->threshold = a->value;
		pool_settle(s, p);
		return r;
	case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
	case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
		return s->drv.MemPoolSetAttribute(p->h, (CUmemPool_attribute)a->attr, &v64);
	default:
		return CUDA_ERROR_INVALID_VALUE;	/* the current figures are the driver's to set */
	}
}

CUresult vgpu_exec_pool_get_attr(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_pool_attr_args *a = (const void *)c->args;
	struct vgpu_xpool *p = pool_of(s, a->id);
	cuuint64_t v64 = 0;
	uint64_t out;
	int vint = 0;
	CUresult r;

	if (!p)
		return CUDA_ERROR_INVALID_HANDLE;
	switch (a->attr) {
	case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
	case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
	case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
		r = s->drv.MemPoolGetAttribute(p->h, (CUmemPool_attribute)a->attr, &vint);
		out = (uint64_t)vint;
		break;
	case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
		r = s->drv.MemPoolGetAttribute(p->h, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &v64);
		/* What the guest set, not the cap it was given. */
		out = r == CUDA_SUCCESS && p->threshold > v64 ? p->threshold : v64;
		break;
	case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
	case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
	case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
	case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
		r = s->drv.MemPoolGetAttribute(p->h, (CUmemPool_attribute)a->attr, &v64);
		out = v64;
		break;
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (r != CUDA_SUCCESS)
		return r;
	pool_settle(s, p);	/* a chance to give back what the pool released meanwhile */
	vgpu_answer(c, &out, sizeof(out));
	return CUDA_SUCCESS;
}

/* The default pool's id: the one it has, or the one the guest offers now. */
CUresult vgpu_exec_device_get_pool(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_device_pool_args *a = (const void *)c->args;
	struct vgpu_vmm *v = vgpu_vmm_get(s);
	struct vgpu_idmap_entry *e;
	struct vgpu_xpool *p;
	CUresult r;

	if (!v)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (a->which != VGPU_POOL_DEFAULT)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = check_device(s, a->device)) != CUDA_SUCCESS)
		return r;
	if (!(p = default_pool(s, v, a->device)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (!p->id) {
		if (a->id < VGPU_FIRST_ID || vgpu_idmap_find(&s->handles, a->id))
			return CUDA_ERROR_INVALID_HANDLE;
		e = vgpu_idmap_insert(&s->handles, a->id, VGPU_OBJ_POOL);
		if (!e)
			return CUDA_ERROR_OUT_OF_MEMORY;
		e->obj = p;
		p->id = a->id;
	}
	vgpu_answer(c, &p->id, sizeof(p->id));
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_device_set_pool(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_device_pool_args *a = (const void *)c->args;
	struct vgpu_xpool *p = pool_of(s, a->id);
	struct vgpu_vmm *v = s->vmm;
	CUdevice d;
	CUresult r;

	if ((r = check_device(s, a->device)) != CUDA_SUCCESS)
		return r;
	if (!p || !v)
		return CUDA_ERROR_INVALID_HANDLE;
	if (p->device != a->device)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = s->drv.DeviceGet(&d, a->device)) != CUDA_SUCCESS)
		return r;
	r = s->drv.DeviceSetMemPool(d, p->h);
	if (r == CUDA_SUCCESS)
		v->current[a->device] = p->is_default ? NULL : p;
	return r;
}
