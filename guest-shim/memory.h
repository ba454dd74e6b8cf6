/* SPDX-License-Identifier: MIT */
#ifndef VGPU_MEMORY_H
#define VGPU_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

#include "objects.h"
#include "stream_ref.h"

/* The device allocation containing @p: base, size and context; false if none. */
bool vgpu_alloc_find(CUdeviceptr p, CUdeviceptr *base, size_t *size, struct vgpu_ctx **ctx);

/* Copies between guest memory and the device, in stream order. */
CUresult vgpu_copy_htod(CUdeviceptr dst, const void *src, size_t n, const struct vgpu_stream_ref *s,
			bool wait);
CUresult vgpu_copy_dtoh(void *dst, CUdeviceptr src, size_t n, const struct vgpu_stream_ref *s);

#endif /* VGPU_MEMORY_H */
