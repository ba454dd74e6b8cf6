/* SPDX-License-Identifier: MIT */
/*
 * A page shared by a worker and its parent only (never with the guest): what
 * the worker does, for `vgpu status`.  A sealed memfd the parent maps read
 * only, so a worker can neither resize it under the parent nor make the
 * parent act on it: the parent prints its numbers and decides nothing by
 * them.
 */
#ifndef VGPU_WORKER_STATS_H
#define VGPU_WORKER_STATS_H

#include <stdint.h>

#define VGPU_STATS_MAGIC	0x53545756u	/* "VWTS" */

struct vgpu_worker_stats {
	uint32_t magic;
	uint32_t reserved;
	uint64_t calls;		/* records dispatched */
	uint64_t gpu_time_ns;	/* GPU time the worker measured; 0: not measured */
};

/* This worker's page, or NULL (the parent, tests). */
extern struct vgpu_worker_stats *vgpu_worker_stats;

/* Count one dispatched call (the dispatcher's one line). */
static inline void vgpu_stats_count_call(void)
{
	if (vgpu_worker_stats)
		__atomic_fetch_add(&vgpu_worker_stats->calls, 1, __ATOMIC_RELAXED);
}

/* Add GPU time the worker measured (for calls that can measure it). */
static inline void vgpu_stats_add_gpu_time(uint64_t ns)
{
	if (vgpu_worker_stats)
		__atomic_fetch_add(&vgpu_worker_stats->gpu_time_ns, ns, __ATOMIC_RELAXED);
}

/* The parent: a new page, mapped read only; its descriptor (for the worker) in *@fd. */
const struct vgpu_worker_stats *vgpu_worker_stats_create(int *fd);
void vgpu_worker_stats_unmap(const struct vgpu_worker_stats *st);

/* The worker: map the page at @fd as vgpu_worker_stats.  0 or -1. */
int vgpu_worker_stats_attach(int fd);

#endif /* VGPU_WORKER_STATS_H */
