/* SPDX-License-Identifier: MIT */
/*
 * The worker's side of the memory quota (decision 7): before a session takes
 * device memory on any path it asks its instance's account, kept by the
 * parent (quota_proto.h, quota_service.c); it gives back what it frees.  A
 * session without a link to a parent (tests, the fuzzer) keeps an account
 * of its own, limited by its channel's mem_quota.
 *
 * Every path that takes device memory goes through here: allocations,
 * contexts (a measured cost, at least vgpu_quota_ctx_mem), context limits
 * above their initial values, module code and globals, memory pools and
 * virtual memory (VGPU_CHARGE_POOL/VMM, vmm.h) and - for calls to come -
 * graphs (VGPU_CHARGE_GRAPH).
 * Going over is CUDA_ERROR_OUT_OF_MEMORY.
 */
#ifndef VGPU_QUOTA_H
#define VGPU_QUOTA_H

#include <cuda.h>
#include <stdint.h>

#include "idmap.h"
#include "log.h"
#include "quota_proto.h"

/* Bytes charged per context at least (the driver reserves more than callers see). */
extern uint64_t vgpu_quota_ctx_mem;

struct vgpu_quota {
	int link;		/* > 2: the parent's account; otherwise this session's own */
	uint64_t limit;		/* device bytes the instance may use (known from HELLO on) */
	uint64_t staging_limit;	/* host bytes it may stage (0: the module cache's own cap) */
	uint64_t charged[VGPU_CHARGE_KINDS];	/* this session's */
	struct vgpu_idmap ctxs;	/* context id -> its cost and retains (see quota.c) */
	struct vgpu_idmap ctx_limits;	/* context id -> what its limits were charged */
	struct vgpu_log_limit refusals;
};

struct vgpu_session;

void vgpu_quota_init(struct vgpu_session *s);
void vgpu_quota_destroy(struct vgpu_session *s);

/*
 * At HELLO: the device has @device_total bytes.  Returns the limit the guest
 * sees (its device memory from then on).
 */
uint64_t vgpu_quota_hello(struct vgpu_session *s, uint64_t device_total, uint32_t guest_pid);

/* Take @bytes of @kind: CUDA_SUCCESS, or CUDA_ERROR_OUT_OF_MEMORY (logged) over the limit. */
CUresult vgpu_quota_charge(struct vgpu_session *s, enum vgpu_charge kind, uint64_t bytes);

/* Give back @bytes of @kind (at most what this session holds of it). */
void vgpu_quota_release(struct vgpu_session *s, enum vgpu_charge kind, uint64_t bytes);

/* The instance's device memory in use (all its sessions) and its limit. */
void vgpu_quota_usage(struct vgpu_session *s, uint64_t *used, uint64_t *limit);

/* Bytes a cuMemAlloc of @size takes from the quota (the driver's granule). */
uint64_t vgpu_quota_alloc_bytes(uint64_t size);

/* Device memory the driver reports free now, or 0 without a current context. */
uint64_t vgpu_quota_free_now(struct vgpu_session *s);

/*
 * Contexts.  A context's cost is charged once, when the session first gets
 * it (created, or the first retain of a primary context); @measured is what
 * the driver's free memory dropped by, if known.
 */
CUresult vgpu_quota_ctx_charge(struct vgpu_session *s, uint64_t ctx_id, uint64_t measured);
/* A primary context retained once more (after its first charge). */
void vgpu_quota_ctx_retained(struct vgpu_session *s, uint64_t ctx_id);
/* A primary context released once; true when that was its last retain (it is gone). */
int vgpu_quota_ctx_released(struct vgpu_session *s, uint64_t ctx_id);
/* The context is gone: its cost and its limits go back. */
void vgpu_quota_ctx_gone(struct vgpu_session *s, uint64_t ctx_id);

/*
 * What the driver freed with context @ctx_id (destroyed, reset, released for
 * the last time): its allocations leave the allocation table and their
 * bytes, and its modules' charges, go back.  Call before
 * vgpu_forget_ctx_objects(), which forgets the handles.
 */
void vgpu_quota_forget_ctx(struct vgpu_session *s, uint64_t ctx_id);

/* Set a limit of the current context @ctx_id, charging what it takes above what it took. */
CUresult vgpu_quota_set_limit(struct vgpu_session *s, uint64_t ctx_id, CUlimit limit,
			      uint64_t value);

/* Everything the session holds goes back (its objects were all released). */
void vgpu_quota_release_all(struct vgpu_session *s);

#endif /* VGPU_QUOTA_H */
