/* SPDX-License-Identifier: MIT */
#ifndef VGPU_MEMORY_H
#define VGPU_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

#include "objects.h"
#include "stream_ref.h"

/* The device allocation containing @p: base, size and context; false if none. */
bool vgpu_alloc_find(CUdeviceptr p, CUdeviceptr *base, size_t *size, struct vgpu_ctx **ctx);

/* A module global's range is device memory too (for unified copies and pointer queries). */
void vgpu_alloc_note_global(CUdeviceptr base, size_t size, struct vgpu_ctx *ctx);
void vgpu_alloc_forget_global(CUdeviceptr base);

/*
 * cuMemFree of a stream-ordered allocation (mempool.c): freed on the legacy
 * stream, after the work before it.  CUDA_ERROR_INVALID_VALUE for any other
 * pointer.
 */
CUresult vgpu_mempool_free(CUdeviceptr dptr);

/* Copies between guest memory and the device, in stream order. */
CUresult vgpu_copy_htod(CUdeviceptr dst, const void *src, size_t n, const struct vgpu_stream_ref *s,
			bool wait);
CUresult vgpu_copy_dtoh(void *dst, CUdeviceptr src, size_t n, const struct vgpu_stream_ref *s);

#endif /* VGPU_MEMORY_H */
