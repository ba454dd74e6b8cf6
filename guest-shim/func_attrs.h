/* SPDX-License-Identifier: MIT */
#ifndef VGPU_FUNC_ATTRS_H
#define VGPU_FUNC_ATTRS_H

#include "objects.h"

/*
 * Every attribute of function or kernel @f on device @dev (kernels; a
 * function's own device otherwise), from the guest's copy, asked of the
 * executor once and again only after an attribute was set; and the cache
 * configuration last set (CU_FUNC_CACHE_PREFER_NONE if never).
 */
CUresult vgpu_func_attrs_get(struct vgpu_func *f, CUdevice dev, struct vgpu_func_attrs *out,
			     CUfunc_cache *cache_config);

/* The device questions about @f are asked for: a function's own, else the current context's. */
CUresult vgpu_func_device(const struct vgpu_func *f, CUdevice *dev);

#endif /* VGPU_FUNC_ATTRS_H */
