/* SPDX-License-Identifier: MIT */
/*
 * A session's virtual memory (cuMemAddressReserve/Create/Map...) and its
 * stream-ordered allocations, as the worker keeps them.
 *
 * Addresses are the driver's real ones (decision 5), so the worker keeps
 * every range it reserved and every mapping it made, and checks each
 * address a guest names against them: a guest can map, unmap, change
 * access to or free only what its own session reserved or mapped.
 * Physical allocations and pools are guest-chosen ids in the session's
 * handle table (VGPU_OBJ_VMM_ALLOC, VGPU_OBJ_POOL); the driver's handles
 * never leave the worker.
 *
 * Quota (decision 7): a physical allocation is charged its size
 * (VGPU_CHARGE_VMM) before the driver creates it and given back when the
 * driver frees it - released by the guest and unmapped, in either order.
 * A pool is charged (VGPU_CHARGE_POOL) what the driver says it reserves
 * (CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT), at least its live allocations,
 * re-read after every call that changes it; an allocation is charged its
 * size first, so the check comes before the driver allocates.
 */
#ifndef VGPU_VMM_H
#define VGPU_VMM_H

#include <cuda.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idmap.h"
#include "vgpu/calls.h"

#define VGPU_VMM_MAX_RANGES	(1u << 16)	/* reservations, and mappings, per session */
#define VGPU_VMM_MAX_DEVICES	16

struct vgpu_session;

/* A physical allocation (the handle table's object for VGPU_OBJ_VMM_ALLOC). */
struct vgpu_vmm_phys {
	uint64_t id;
	CUmemGenericAllocationHandle h;
	uint64_t size;
	uint32_t refs;		/* the guest's handles: created + retained - released */
	uint32_t maps;		/* mappings that use it */
	struct vgpu_vmm_prop prop;
};

struct vgpu_vmm_range {
	uint64_t base, size;
	struct vgpu_vmm_phys *phys;	/* mappings: what is mapped */
	uint64_t offset;
	uint32_t access;		/* mappings: CUmemAccess_flags last set */
};

/* A sorted array of disjoint ranges. */
struct vgpu_vmm_ranges {
	struct vgpu_vmm_range *v;
	size_t n, cap;
};

/* A pool (the handle table's object for VGPU_OBJ_POOL). */
struct vgpu_xpool {
	struct vgpu_xpool *next;	/* every pool of the session (vgpu_vmm.pools) */
	uint64_t id;		/* 0: a default pool the guest has not named yet */
	CUmemoryPool h;
	int device;
	bool is_default;
	bool destroyed;		/* by the guest; kept while its allocations live */
	uint64_t live;		/* bytes of its allocations not yet freed */
	uint32_t nlive;
	uint64_t charged;	/* what VGPU_CHARGE_POOL holds for it */
	uint64_t threshold;	/* the release threshold the guest set (the driver's is capped) */
};

struct vgpu_vmm {
	struct vgpu_vmm_ranges res;	/* reservations */
	struct vgpu_vmm_ranges maps;	/* mappings, each inside one reservation */
	uint64_t granularity[VGPU_VMM_MAX_DEVICES][2];	/* the driver's, per device and option */
	struct vgpu_idmap async;	/* stream-ordered allocation -> size (aux), pool (obj) */
	struct vgpu_xpool *pools;
	struct vgpu_xpool *dflt[VGPU_VMM_MAX_DEVICES];	/* each device's default pool, once used */
	struct vgpu_xpool *current[VGPU_VMM_MAX_DEVICES];	/* set by the guest; NULL: the default */
};

/* The session's state, created on first use; NULL if memory ran out. */
struct vgpu_vmm *vgpu_vmm_get(struct vgpu_session *s);

/*
 * Make every pool's charge what the driver says it reserves now (memory a
 * pool released at a synchronisation goes back); with @trim, the pools give
 * back what they cache first (exec_pool.c).
 */
void vgpu_vmm_settle_pools(struct vgpu_session *s, bool trim);

/* Everything the session still holds goes back to the driver and the quota (teardown). */
void vgpu_vmm_teardown(struct vgpu_session *s);

/* ---- ranges (no driver involved; the unit tests use these alone) ---- */

/* The range of @r that holds [p, p + n) whole, or NULL. */
struct vgpu_vmm_range *vgpu_vmm_holding(const struct vgpu_vmm_ranges *r, uint64_t p, uint64_t n);
/* Does any range of @r overlap [p, p + n)? */
bool vgpu_vmm_overlaps(const struct vgpu_vmm_ranges *r, uint64_t p, uint64_t n);
/* Insert a range (disjoint from the others); false if out of room. */
bool vgpu_vmm_insert(struct vgpu_vmm_ranges *r, const struct vgpu_vmm_range *x);
/* Remove the range at index @i. */
void vgpu_vmm_remove_at(struct vgpu_vmm_ranges *r, size_t i);
/* Index of the first range ending after @p. */
size_t vgpu_vmm_first_after(const struct vgpu_vmm_ranges *r, uint64_t p);
/*
 * Are the mappings of @r inside [p, p + n) whole (none cut by an end) and,
 * with @contiguous, do they cover every byte?  *@count: how many there are.
 */
bool vgpu_vmm_covers(const struct vgpu_vmm_ranges *r, uint64_t p, uint64_t n, bool contiguous,
		     size_t *count);
void vgpu_vmm_ranges_free(struct vgpu_vmm_ranges *r);

/*
 * Is [p, p + n) device memory of this session that the device may reach:
 * mapped throughout with access (READWRITE when @write)?  For the paths
 * that check device pointers they are given.
 */
bool vgpu_vmm_owns(struct vgpu_session *s, uint64_t p, uint64_t n, bool write);

#endif /* VGPU_VMM_H */
