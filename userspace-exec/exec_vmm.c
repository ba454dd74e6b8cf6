// SPDX-License-Identifier: MIT
/*
 * Virtual memory management: cuMemAddressReserve/Free, cuMemCreate/Release,
 * cuMemMap/Unmap, cuMemSetAccess/GetAccess, cuMemRetainAllocationHandle,
 * cuMemGetAllocationPropertiesFromHandle, cuMemGetAllocationGranularity.
 *
 * Every address a guest names is checked against the session's own
 * reservations and mappings (vmm.h) before the driver sees it, every size
 * and offset against overflow and the granularity, and every allocation
 * is a guest id that maps to the driver's handle here.  Exported shareable
 * handles (POSIX fds, fabric handles) would hand host objects to a guest:
 * export is not offered (CUDA_ERROR_NOT_SUPPORTED), and neither are fabric
 * or Win32 handle types; a POSIX fd handle type may be asked for.
 */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "vmm.h"

/* A device the session may name; CUDA_ERROR_INVALID_DEVICE otherwise. */
static CUresult check_device(struct vgpu_session *s, int32_t dev)
{
	int n = 0;

	if (s->drv.DeviceGetCount(&n) != CUDA_SUCCESS || dev < 0 || dev >= n ||
	    dev >= VGPU_VMM_MAX_DEVICES)
		return CUDA_ERROR_INVALID_DEVICE;
	return CUDA_SUCCESS;
}

/* The wire's property block, checked, as the driver's. */
static CUresult prop_in(struct vgpu_session *s, const struct vgpu_vmm_prop *w,
			CUmemAllocationProp *p)
{
	CUresult r;

	if (w->type != CU_MEM_ALLOCATION_TYPE_PINNED || w->loc_type != CU_MEM_LOCATION_TYPE_DEVICE ||
	    w->reserved)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = check_device(s, w->loc_id)) != CUDA_SUCCESS)
		return r;
	/*
	 * Exporting a shareable handle would give the guest a host object (an
	 * fd, a fabric handle), so export is not offered.  Asking for a POSIX fd
	 * handle type is harmless without an export, and PyTorch's expandable
	 * segments need it to succeed (they try fabric handles first and take a
	 * refusal as "not here").
	 */
	if ((w->handle_types & ~(uint32_t)CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) || w->usage)
		return CUDA_ERROR_NOT_SUPPORTED;
	memset(p, 0, sizeof(*p));
	p->type = CU_MEM_ALLOCATION_TYPE_PINNED;
	p->requestedHandleTypes = (CUmemAllocationHandleType)w->handle_types;
	p->location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	p->location.id = w->loc_id;
	p->allocFlags.compressionType = w->compression;
	p->allocFlags.gpuDirectRDMACapable = w->rdma;
	return CUDA_SUCCESS;
}

static void prop_out(const CUmemAllocationProp *p, struct vgpu_vmm_prop *w)
{
	memset(w, 0, sizeof(*w));
	w->type = p->type;
	w->handle_types = p->requestedHandleTypes;
	w->loc_type = p->location.type;
	w->loc_id = p->location.id;
	w->compression = p->allocFlags.compressionType;
	w->rdma = p->allocFlags.gpuDirectRDMACapable;
	w->usage = p->allocFlags.usage;
}

/* The driver's granularity for @dev and @option, asked once. */
static CUresult granularity(struct vgpu_session *s, struct vgpu_vmm *v, int dev, uint32_t option,
			    uint64_t *out)
{
	CUmemAllocationProp p = { .type = CU_MEM_ALLOCATION_TYPE_PINNED,
				  .location = { CU_MEM_LOCATION_TYPE_DEVICE, dev } };
	size_t g = 0;
	CUresult r;

	if (option > CU_MEM_ALLOC_GRANULARITY_RECOMMENDED)
		return CUDA_ERROR_INVALID_VALUE;
	if (!v->granularity[dev][option]) {
		r = s->drv.MemGetAllocationGranularity(&g, &p, (CUmemAllocationGranularity_flags)option);
		if (r != CUDA_SUCCESS)
			return r;
		/* A power of two, or the size checks below mean nothing. */
		if (g == 0 || (g & (g - 1)))
			return CUDA_ERROR_UNKNOWN;
		v->granularity[dev][option] = g;
	}
	*out = v->granularity[dev][option];
	return CUDA_SUCCESS;
}

/* The minimum granularity every size and address of a VMM call must be a multiple of. */
static CUresult min_granule(struct vgpu_session *s, struct vgpu_vmm *v, int dev, uint64_t *g)
{
	return granularity(s, v, dev, CU_MEM_ALLOC_GRANULARITY_MINIMUM, g);
}

static struct vgpu_vmm_phys *phys_of(struct vgpu_session *s, uint64_t id)
{
	struct vgpu_idmap_entry *e = vgpu_obj(s, id, VGPU_OBJ_VMM_ALLOC);
	struct vgpu_vmm_phys *p = e ? e->obj : NULL;

	/* Released as often as held: the guest has no handle any more, even while it is mapped. */
	return p && p->refs ? p : NULL;
}

/* The driver freed it (released and unmapped): its charge and its id go. */
static void phys_maybe_gone(struct vgpu_session *s, struct vgpu_vmm_phys *p)
{
	struct vgpu_idmap_entry *e;

	if (p->refs || p->maps)
		return;
	vgpu_quota_release(s, VGPU_CHARGE_VMM, p->size);
	e = vgpu_idmap_find(&s->handles, p->id);
	if (e && e->obj == p)
		vgpu_idmap_remove(&s->handles, e);
	free(p);
}

CUresult vgpu_exec_vmm_granularity(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_vmm_granularity_args *a = (const void *)c->args;
	struct vgpu_vmm *v = vgpu_vmm_get(s);
	CUmemAllocationProp p;
	uint64_t g;
	CUresult r;

	if (!v)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((r = prop_in(s, &a->prop, &p)) != CUDA_SUCCESS)
		return r;
	if ((r = granularity(s, v, a->prop.loc_id, a->option, &g)) != CUDA_SUCCESS)
		return r;
	vgpu_answer(c, &g, sizeof(g));
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_vmm_reserve(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_vmm_reserve_args *a = (const void *)c->args;
	struct vgpu_vmm *v = vgpu_vmm_get(s);
	struct vgpu_vmm_range x = { 0 };
	CUdeviceptr p = 0;
	uint64_t g;
	CUresult r;

	if (!v)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((r = min_granule(s, v, 0, &g)) != CUDA_SUCCESS)
		return r;
	if (a->size == 0 || a->size % g || a->flags || (a->alignment & (a->alignment - 1)) ||
	    a->addr % g || a->size > UINT64_MAX - a->alignment || a->addr > UINT64_MAX - a->size)
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.MemAddressReserve(&p, (size_t)a->size, (size_t)a->alignment, a->addr, 0);
	if (r != CUDA_SUCCESS)
		return r;
	x.base = p;
	x.size = a->size;
	/* The driver gives disjoint ranges; anything else would break every check here. */
	if (p > UINT64_MAX - a->size || vgpu_vmm_overlaps(&v->res, p, a->size) ||
	    !vgpu_vmm_insert(&v->res, &x)) {
		s->drv.MemAddressFree(p, (size_t)a->size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	vgpu_answer(c, &p, sizeof(p));
	return CUDA_SUCCESS;
}

/* The whole reservation, once nothing is mapped in it. */
CUresult vgpu_exec_vmm_address_free(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_vmm_range_args *a = (const void *)c->args;
	struct vgpu_vmm *v = s->vmm;
	struct vgpu_vmm_range *x = v ? vgpu_vmm_holding(&v->res, a->ptr, a->size) : NULL;
	CUresult r;

	if (!x || x->base != a->ptr || x->size != a->size ||
	    vgpu_vmm_overlaps(&v->maps, a->ptr, a->size))
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.MemAddressFree(a->ptr, (size_t)a->size);
	if (r == CUDA_SUCCESS)
		vgpu_vmm_remove_at(&v->res, (size_t)(x - v->res.v));
	return r;
}

CUresult vgpu_exec_vmm_create(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_vmm_create_args *a = (const void *)c->args;
	struct vgpu_vmm *v = vgpu_vmm_get(s);
	struct vgpu_idmap_entry *e;
	struct vgpu_vmm_phys *p;
	CUmemAllocationProp prop;
	uint64_t g;
	CUresult r;

	if (!v)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (a->id < VGPU_FIRST_ID || vgpu_idmap_find(&s->handles, a->id))
		return CUDA_ERROR_INVALID_HANDLE;
	if ((r = prop_in(s, &a->prop, &prop)) != CUDA_SUCCESS)
		return r;
	if ((r = min_granule(s, v, a->prop.loc_id, &g)) != CUDA_SUCCESS)
		return r;
	if (a->flags || a->size == 0 || a->size % g)
		return CUDA_ERROR_INVALID_VALUE;
	p = calloc(1, sizeof(*p));
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	/* The quota is asked before the driver allocates; what pools cache may make room. */
	r = vgpu_quota_charge(s, VGPU_CHARGE_VMM, a->size);
	if (r == CUDA_ERROR_OUT_OF_MEMORY && s->vmm->pools) {
		vgpu_vmm_settle_pools(s, true);
		r = vgpu_quota_charge(s, VGPU_CHARGE_VMM, a->size);
	}
	if (r != CUDA_SUCCESS) {
		free(p);
		return r;
	}
	r = s->drv.MemCreate(&p->h, (size_t)a->size, &prop, 0);
	if (r == CUDA_SUCCESS && !(e = vgpu_idmap_insert(&s->handles, a->id, VGPU_OBJ_VMM_ALLOC))) {
		s->drv.MemRelease(p->h);
		r = CUDA_ERROR_OUT_OF_MEMORY;
	}
	if (r != CUDA_SUCCESS) {
		vgpu_quota_release(s, VGPU_CHARGE_VMM, a->size);
		free(p);
		return r;
	}
	p->id = a->id;
	p->size = a->size;
	p->refs = 1;
	prop_out(&prop, &p->prop);
	e->obj = p;
	return CUDA_SUCCESS;
}

/* As the driver: the memory stays while it is mapped, and goes with the last unmap. */
CUresult vgpu_exec_vmm_release(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_vmm_handle_args *a = (const void *)c->args;
	struct vgpu_vmm_phys *p = phys_of(s, a->id);
	CUresult r;

	if (!p)
		return CUDA_ERROR_INVALID_HANDLE;
	r = s->drv.MemRelease(p->h);
	if (r != CUDA_SUCCESS)
		return r;
	p->refs--;
	phys_maybe_gone(s, p);
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_vmm_get_prop(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_vmm_handle_args *a = (const void *)c->args;
	struct vgpu_vmm_phys *p = phys_of(s, a->id);
	CUmemAllocationProp prop;
	struct vgpu_vmm_prop out;
	CUresult r;

	if (!p)
		return CUDA_ERROR_INVALID_HANDLE;
	r = s->drv.MemGetAllocationPropertiesFromHandle(&prop, p->h);
	if (r != CUDA_SUCCESS)
		return r;
	prop_out(&prop, &out);
	vgpu_answer(c, &out, sizeof(out));
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_vmm_map(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_vmm_map_args *a = (const void *)c->args;
	struct vgpu_vmm *v = s->vmm;
	struct vgpu_vmm_phys *p = phys_of(s, a->id);
	struct vgpu_vmm_range x = { a->ptr, a->size, p, a->offset, 0 };
	uint64_t g;
	CUresult r;

	if (!p || !v)
		return CUDA_ERROR_INVALID_HANDLE;
	if ((r = min_granule(s, v, p->prop.loc_id, &g)) != CUDA_SUCCESS)
		return r;
	if (a->flags || a->size == 0 || a->ptr % g || a->size % g || a->offset % g ||
	    a->offset > p->size || a->size > p->size - a->offset)
		return CUDA_ERROR_INVALID_VALUE;
	/* Only inside the session's own reservations, and over nothing mapped. */
	if (!vgpu_vmm_holding(&v->res, a->ptr, a->size) || vgpu_vmm_overlaps(&v->maps, a->ptr, a->size))
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.MemMap(a->ptr, (size_t)a->size, (size_t)a->offset, p->h, 0);
	if (r != CUDA_SUCCESS)
		return r;
	if (!vgpu_vmm_insert(&v->maps, &x)) {
		s->drv.MemUnmap(a->ptr, (size_t)a->size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	p->maps++;
	return CUDA_SUCCESS;
}

/* One call may span several mappings (ggml unmaps its whole pool at once); none may be cut. */
CUresult vgpu_exec_vmm_unmap(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_vmm_range_args *a = (const void *)c->args;
	struct vgpu_vmm *v = s->vmm;
	size_t n = 0, i;
	CUresult r;

	if (!v || !vgpu_vmm_holding(&v->res, a->ptr, a->size) ||
	    !vgpu_vmm_covers(&v->maps, a->ptr, a->size, false, &n) || n == 0)
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.MemUnmap(a->ptr, (size_t)a->size);
	if (r != CUDA_SUCCESS)
		return r;
	i = vgpu_vmm_first_after(&v->maps, a->ptr);
	while (n--) {
		struct vgpu_vmm_phys *p = v->maps.v[i].phys;

		vgpu_vmm_remove_at(&v->maps, i);
		p->maps--;
		phys_maybe_gone(s, p);
	}
	return CUDA_SUCCESS;
}

static CUresult access_in(struct vgpu_session *s, const struct vgpu_vmm_access *w,
			  CUmemAccessDesc *d)
{
	CUresult r;

	if (w->loc_type != CU_MEM_LOCATION_TYPE_DEVICE || w->reserved ||
	    (w->flags != CU_MEM_ACCESS_FLAGS_PROT_NONE && w->flags != CU_MEM_ACCESS_FLAGS_PROT_READ &&
	     w->flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE))
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = check_device(s, w->loc_id)) != CUDA_SUCCESS)
		return r;
	d->location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	d->location.id = w->loc_id;
	d->flags = (CUmemAccess_flags)w->flags;
	return CUDA_SUCCESS;
}

/* The range must be mapped throughout by the session, in whole mappings. */
CUresult vgpu_exec_vmm_set_access(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_vmm_set_access_args *a = (const void *)c->args;
	const struct vgpu_vmm_access *w;
	CUmemAccessDesc d[VGPU_VMM_MAX_ACCESS];
	struct vgpu_vmm *v = s->vmm;
	size_t n = 0, i;
	CUresult r;

	if (a->count == 0 || a->count > VGPU_VMM_MAX_ACCESS)
		return CUDA_ERROR_INVALID_VALUE;
	w = (const void *)vgpu_trailing(c, sizeof(*a), (uint64_t)a->count * sizeof(*w));
	if (!w)
		return CUDA_ERROR_INVALID_VALUE;
	for (i = 0; i < a->count; i++)
		if ((r = access_in(s, &w[i], &d[i])) != CUDA_SUCCESS)
			return r;
	if (!v || !vgpu_vmm_holding(&v->res, a->ptr, a->size) ||
	    !vgpu_vmm_covers(&v->maps, a->ptr, a->size, true, &n))
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.MemSetAccess(a->ptr, (size_t)a->size, d, a->count);
	if (r != CUDA_SUCCESS)
		return r;
	for (i = vgpu_vmm_first_after(&v->maps, a->ptr); n--; i++)
		v->maps.v[i].access = d[a->count - 1].flags;
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_vmm_get_access(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_vmm_get_access_args *a = (const void *)c->args;
	struct vgpu_vmm *v = s->vmm;
	CUmemLocation loc = { CU_MEM_LOCATION_TYPE_DEVICE, a->loc_id };
	unsigned long long flags = 0;
	uint64_t out;
	CUresult r;

	if (a->loc_type != CU_MEM_LOCATION_TYPE_DEVICE)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = check_device(s, a->loc_id)) != CUDA_SUCCESS)
		return r;
	if (!v || !vgpu_vmm_holding(&v->maps, a->ptr, 1))
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.MemGetAccess(&flags, &loc, a->ptr);
	if (r != CUDA_SUCCESS)
		return r;
	out = flags;
	vgpu_answer(c, &out, sizeof(out));
	return CUDA_SUCCESS;
}

/* The allocation mapped at an address of the session's: one more handle to it, by its id. */
CUresult vgpu_exec_vmm_retain(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_vmm_retain_args *a = (const void *)c->args;
	struct vgpu_vmm *v = s->vmm;
	struct vgpu_vmm_range *m = v ? vgpu_vmm_holding(&v->maps, a->ptr, 1) : NULL;
	CUmemGenericAllocationHandle h = 0;
	struct vgpu_idmap_entry *e;
	struct vgpu_vmm_phys *p;
	CUresult r;

	if (!m)
		return CUDA_ERROR_INVALID_VALUE;
	p = m->phys;
	if (p->refs == UINT32_MAX)
		return CUDA_ERROR_OUT_OF_MEMORY;
	/* Released meanwhile, its id may have been taken by another object: it needs it back. */
	e = vgpu_idmap_find(&s->handles, p->id);
	if (e && e->obj != p)
		return CUDA_ERROR_NOT_SUPPORTED;
	r = s->drv.MemRetainAllocationHandle(&h, (void *)(uintptr_t)a->ptr);
	if (r != CUDA_SUCCESS)
		return r;
	/* The driver's handle is the same object; a different one could not be tracked. */
	if (h != p->h) {
		s->drv.MemRelease(h);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	p->refs++;
	vgpu_answer(c, &p->id, sizeof(p->id));
	return CUDA_SUCCESS;
}
