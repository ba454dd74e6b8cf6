/* SPDX-License-Identifier: MIT */
/*
 * The channel's slice of BAR1's pinned-memory heap (host_heap.c): memory the
 * executor registered with the driver, so copies from and to it are DMA.
 */
#ifndef VGPU_HOST_HEAP_H
#define VGPU_HOST_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver_api.h"
#include "objects.h"

/*
 * @len bytes (rounded up to whole pages) of the heap: the guest address and
 * the offset within BAR1 that copies name.  False when there is no heap
 * (the executor could not register one) or no room left: the caller falls
 * back to staged memory.  @c: the context to ask in, the first time.
 */
bool vgpu_heap_alloc(struct vgpu_ctx *c, size_t len, void **p, uint64_t *off);
void vgpu_heap_free(uint64_t off, size_t len);

/* The device address of heap offset @off (mapped memory), or 0 when none. */
CUdeviceptr vgpu_heap_device(uint64_t off);

/* The guest address of the heap's device address @p, or NULL when @p is not one. */
void *vgpu_heap_from_device(CUdeviceptr p);

#endif /* VGPU_HOST_HEAP_H */
