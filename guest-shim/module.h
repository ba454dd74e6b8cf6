/* SPDX-License-Identifier: MIT */
#ifndef VGPU_MODULE_H
#define VGPU_MODULE_H

#include "objects.h"

/* The function's parameter layout, asked of the executor once (thread-safe). */
CUresult vgpu_func_params(struct vgpu_func *f);

/* A function or kernel handle as the launch path sees it, or NULL. */
static inline struct vgpu_func *vgpu_func_of(const void *h)
{
	const struct vgpu_obj *o = h;

	if (o && (o->kind == VGPU_KIND_FUNCTION || o->kind == VGPU_KIND_KERNEL))
		return (struct vgpu_func *)o;
	return NULL;
}

#endif /* VGPU_MODULE_H */
