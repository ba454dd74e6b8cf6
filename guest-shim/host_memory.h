/* SPDX-License-Identifier: MIT */
/*
 * Pinned host memory (host_memory.c): cuMemHostAlloc / cuMemAllocHost
 * allocations and cuMemHostRegister registrations, as ranges of the guest
 * process the shim keeps in a table.
 */
#ifndef VGPU_HOST_MEMORY_H
#define VGPU_HOST_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objects.h"

struct vgpu_host_range;

/* What a pointer query learns of a range. */
struct vgpu_host_info {
	uintptr_t base;
	size_t size;
	unsigned int flags;	/* CU_MEMHOSTALLOC_* or CU_MEMHOSTREGISTER_* */
	bool registered;	/* cuMemHostRegister'ed, not allocated by the shim */
	bool heap;		/* in the heap the executor registered: copies are DMA */
	uint64_t heap_off;	/* then: base's offset within BAR1 */
	struct vgpu_ctx *ctx;
};

/* The range containing @p, or false. */
bool vgpu_host_find(uintptr_t p, struct vgpu_host_info *out);

/*
 * The range wholly containing [@p, @p + @n), with one deferred copy counted
 * on it (it stays mapped, and cuMemHostUnregister waits, until
 * vgpu_host_put), or NULL.
 */
struct vgpu_host_range *vgpu_host_get(uintptr_t p, size_t n);
void vgpu_host_put(struct vgpu_host_range *r);

#endif /* VGPU_HOST_MEMORY_H */
