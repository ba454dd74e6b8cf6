/* SPDX-License-Identifier: MIT */
#ifndef VGPU_MEMORY_H
#define VGPU_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objects.h"
#include "stream_ref.h"

/* The device allocation containing @p: base, size and context; false if none. */
bool vgpu_alloc_find(CUdeviceptr p, CUdeviceptr *base, size_t *size, struct vgpu_ctx **ctx);

/* A freeable allocation made elsewhere (cuMemAllocPitch); false if out of memory. */
bool vgpu_alloc_note(CUdeviceptr base, size_t size, struct vgpu_ctx *ctx);

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

/*
 * Bulk for the next chunk of a copy of @want bytes: all of it if free now,
 * else one slot if free now, else (with @may_wait, the caller holding no
 * bulk) one slot once free.
 */
struct vgpu_bulk_buf;
bool vgpu_copy_chunk_alloc(uint64_t want, bool may_wait, struct vgpu_bulk_buf *b);

/*
 * Copies with pinned host memory that keep stream order (memory_pinned.c):
 * the bytes are read from @src, or written to @dst, by host functions at
 * the point of the stream where the copy runs.  @st and @per_thread as the
 * caller named the stream.  @wait: return once the copy completed.
 */
CUresult vgpu_copy_htod_ordered(CUdeviceptr dst, const void *src, size_t n,
				const struct vgpu_stream_ref *s, CUstream st, bool per_thread,
				bool wait);
CUresult vgpu_copy_dtoh_ordered(void *dst, CUdeviceptr src, size_t n,
				const struct vgpu_stream_ref *s, CUstream st, bool per_thread);

#endif /* VGPU_MEMORY_H */
