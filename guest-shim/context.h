/* SPDX-License-Identifier: MIT */
#ifndef VGPU_CONTEXT_H
#define VGPU_CONTEXT_H

#include "objects.h"

/* The calling thread's current context, or NULL. */
struct vgpu_ctx *vgpu_current(void);

/* Initialised and a context current: CUDA_SUCCESS with *@out, else the error to return. */
CUresult vgpu_current_checked(struct vgpu_ctx **out);

/* The executor's name for @c, as a record header carries it. */
static inline uint32_t vgpu_ctx_wire(const struct vgpu_ctx *c)
{
	return (uint32_t)c->o.id;
}

#endif /* VGPU_CONTEXT_H */
