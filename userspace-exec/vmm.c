// SPDX-License-Identifier: MIT
/*
 * The session's reservations, mappings and stream-ordered allocations (see
 * vmm.h): the range bookkeeping every VMM call checks against, and the
 * teardown that gives it all back.
 */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "vmm.h"

struct vgpu_vmm *vgpu_vmm_get(struct vgpu_session *s)
{
	if (!s->vmm) {
		s->vmm = calloc(1, sizeof(*s->vmm));
		if (s->vmm)
			vgpu_idmap_init(&s->vmm->async, VGPU_MAX_ALLOCS);
	}
	return s->vmm;
}

size_t vgpu_vmm_first_after(const struct vgpu_vmm_ranges *r, uint64_t p)
{
	size_t lo = 0, hi = r->n;

	/* Ranges are disjoint and sorted, so their ends are sorted too. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->v[mid].base + r->v[mid].size <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct vgpu_vmm_range *vgpu_vmm_holding(const struct vgpu_vmm_ranges *r, uint64_t p, uint64_t n)
{
	size_t i = vgpu_vmm_first_after(r, p);
	struct vgpu_vmm_range *x;

	if (i == r->n)
		return NULL;
	x = &r->v[i];
	if (p < x->base || n > x->size - (p - x->base))
		return NULL;
	return x;
}

bool vgpu_vmm_overlaps(const struct vgpu_vmm_ranges *r, uint64_t p, uint64_t n)
{
	size_t i = vgpu_vmm_first_after(r, p);

	return n && i < r->n && r->v[i].base < p + n;
}

bool vgpu_vmm_insert(struct vgpu_vmm_ranges *r, const struct vgpu_vmm_range *x)
{
	size_t i;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct vgpu_vmm_range *v;

		if (cap > VGPU_VMM_MAX_RANGES)
			return false;
		v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return false;
		r->v = v;
		r->cap = cap;
	}
	i = vgpu_vmm_first_after(r, x->base);
	memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof(*r->v));
	r->v[i] = *x;
	r->n++;
	return true;
}

void vgpu_vmm_remove_at(struct vgpu_vmm_ranges *r, size_t i)
{
	memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(*r->v));
	r->n--;
}

bool vgpu_vmm_covers(const struct vgpu_vmm_ranges *r, uint64_t p, uint64_t n, bool contiguous,
		     size_t *count)
{
	uint64_t end = p + n, at = p;
	size_t i = vgpu_vmm_first_after(r, p), k = 0;

	if (n == 0 || end < p)
		return false;
	for (; i < r->n && r->v[i].base < end; i++, k++) {
		const struct vgpu_vmm_range *x = &r->v[i];

		if (x->base < p || x->size > end - x->base)
			return false;	/* cut by an end of the range */
		if (contiguous && x->base != at)
			return false;	/* a hole */
		at = x->base + x->size;
	}
	if (contiguous && at != end)
		return false;
	*count = k;
	return true;
}

void vgpu_vmm_ranges_free(struct vgpu_vmm_ranges *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

bool vgpu_vmm_owns(struct vgpu_session *s, uint64_t p, uint64_t n, bool write)
{
	struct vgpu_vmm *v = s->vmm;
	uint64_t end = p + n, at = p;

	if (!v || n == 0 || end < p)
		return false;
	for (size_t i = vgpu_vmm_first_after(&v->maps, p); at < end; i++) {
		const struct vgpu_vmm_range *x = &v->maps.v[i];

		if (i >= v->maps.n || x->base > at)
			return false;
		if (!(x->access & CU_MEM_ACCESS_FLAGS_PROT_READ) ||
		    (write && x->access != CU_MEM_ACCESS_FLAGS_PROT_READWRITE))
			return false;
		at = x->base + x->size;
	}
	return true;
}

/* ---- teardown ---- */

static void release_phys(struct vgpu_idmap_entry *e, void *arg)
{
	struct vgpu_session *s = arg;
	struct vgpu_vmm_phys *p = e->obj;

	if (e->type != VGPU_OBJ_VMM_ALLOC)
		return;
	/* Mappings went first: the handles the guest still holds are the driver's last references. */
	while (p->refs--)
		s->drv.MemRelease(p->h);
	vgpu_quota_release(s, VGPU_CHARGE_VMM, p->size);
	free(p);
	vgpu_idmap_remove(&s->handles, e);
}

static void free_async(struct vgpu_idmap_entry *e, void *arg)
{
	struct vgpu_session *s = arg;

	s->drv.MemFree(e->key);	/* frees stream-ordered memory too, after its work */
	vgpu_idmap_remove(&s->vmm->async, e);
}

static void forget_pool(struct vgpu_idmap_entry *e, void *arg)
{
	struct vgpu_session *s = arg;

	if (e->type == VGPU_OBJ_POOL)
		vgpu_idmap_remove(&s->handles, e);	/* the pools themselves go below */
}

void vgpu_vmm_teardown(struct vgpu_session *s)
{
	struct vgpu_vmm *v = s->vmm;

	if (!v)
		return;
	/* Unmap before release and free, as the driver wants; the work using them is drained. */
	for (size_t i = 0; i < v->maps.n; i++)
		s->drv.MemUnmap(v->maps.v[i].base, v->maps.v[i].size);
	vgpu_idmap_each(&s->handles, release_phys, s);
	for (size_t i = 0; i < v->res.n; i++)
		s->drv.MemAddressFree(v->res.v[i].base, v->res.v[i].size);
	vgpu_idmap_each(&v->async, free_async, s);
	for (int d = 0; d < VGPU_VMM_MAX_DEVICES; d++) {
		CUmemoryPool h;
		CUdevice dev;

		/* The device's current pool as it was, before the pools go. */
		if (v->current[d] && s->drv.DeviceGet(&dev, d) == CUDA_SUCCESS &&
		    s->drv.DeviceGetDefaultMemPool(&h, dev) == CUDA_SUCCESS)
			s->drv.DeviceSetMemPool(dev, h);
	}
	vgpu_idmap_each(&s->handles, forget_pool, s);
	while (v->pools) {
		struct vgpu_xpool *p = v->pools;

		v->pools = p->next;
		if (p->is_default) {
			cuuint64_t zero = 0;

			/* The device's own pool stays; what it kept for this session goes. */
			s->drv.MemPoolSetAttribute(p->h, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &zero);
			s->drv.MemPoolTrimTo(p->h, 0);
		} else if (!p->destroyed) {
			s->drv.MemPoolDestroy(p->h);
		}
		vgpu_quota_release(s, VGPU_CHARGE_POOL, p->charged);
		free(p);
	}
	vgpu_vmm_ranges_free(&v->maps);
	vgpu_vmm_ranges_free(&v->res);
	vgpu_idmap_destroy(&v->async);
	free(v);
	s->vmm = NULL;
}
