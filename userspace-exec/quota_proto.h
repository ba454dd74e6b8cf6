/* SPDX-License-Identifier: MIT */
/*
 * The link between a worker and the parent's account of its instance (a
 * SOCK_SEQPACKET socketpair, one per worker; quota_service.c serves the
 * parent's end, quota.c is the worker's).  The parent keeps the account: a
 * worker asks before it takes device memory (or host memory for staged
 * images) and says when it gave some back; what a worker held is given back
 * when it is gone, whatever it said.  Nothing a worker sends is believed
 * beyond its own charges: a release never gives back more than the link
 * was granted.
 */
#ifndef VGPU_QUOTA_PROTO_H
#define VGPU_QUOTA_PROTO_H

#include <stdint.h>

/* What takes memory: device memory by path, then host memory for staged images. */
enum vgpu_charge {
	VGPU_CHARGE_ALLOC = 0,	/* cuMemAlloc */
	VGPU_CHARGE_CONTEXT,	/* a context's own cost */
	VGPU_CHARGE_LIMITS,	/* context limits above their initial values (heap, stack, FIFO) */
	VGPU_CHARGE_MODULE,	/* module code and globals */
	VGPU_CHARGE_POOL,	/* memory pools: what each reserves (exec_pool.c) */
	VGPU_CHARGE_VMM,	/* physical memory of cuMemCreate (exec_vmm.c) */
	VGPU_CHARGE_GRAPH,	/* a hook for calls to come: graph allocations */
	VGPU_CHARGE_DEVICE_KINDS,
	VGPU_CHARGE_STAGING = VGPU_CHARGE_DEVICE_KINDS,	/* host memory: images being received */
	VGPU_CHARGE_KINDS
};

enum vgpu_acct_op {
	VGPU_ACCT_HELLO = 1,	/* bytes: the device's memory; arg: the guest's pid.  Answered. */
	VGPU_ACCT_CHARGE,	/* kind, bytes.  Answered: granted or not. */
	VGPU_ACCT_RELEASE,	/* kind, bytes.  Not answered. */
	VGPU_ACCT_QUERY,	/* Answered: the instance's use. */
};

struct vgpu_acct_msg {
	uint32_t op;
	uint32_t kind;
	uint64_t bytes;
	uint64_t arg;
};

struct vgpu_acct_reply {
	uint32_t op;		/* the request's */
	int32_t granted;	/* CHARGE: 1 granted, 0 refused */
	uint64_t limit;		/* device bytes the instance may use */
	uint64_t used;		/* device bytes the instance uses now (all its sessions) */
	uint64_t staging_limit;	/* host bytes the instance may stage */
};

#endif /* VGPU_QUOTA_PROTO_H */
