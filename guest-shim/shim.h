/* SPDX-License-Identifier: MIT */
/*
 * What the parts of the shim offer each other.  The exported driver API is
 * declared, under its exact exported names, by the generated driver_api.h.
 */
#ifndef VGPU_SHIM_H
#define VGPU_SHIM_H

#include <stdbool.h>

#include "driver_api.h"
#include "vgpu/calls.h"

/*
 * Every exported function the shim does not implement: logs once per @name
 * (a string of static storage, kept by pointer), NOT_SUPPORTED.
 */
CUresult vgpu_unsupported(const char *name);

/* cuInit has succeeded: the transport is up and HELLO answered. */
bool vgpu_initialized(void);

/* The host driver's version, as cuDriverGetVersion reports it (>= 13000 for cudart 13). */
int vgpu_driver_version(void);

int vgpu_device_count(void);

/* Everything static about device @dev, or NULL when @dev is out of range. */
const struct vgpu_device_info *vgpu_device_info(CUdevice dev);

/*
 * The primary context's handle for @dev without retaining or activating it;
 * cuDevicePrimaryCtxRetain later returns the same handle.
 */
CUresult vgpu_primary_ctx_get(CUdevice dev, CUcontext *out);

/* The calling thread's current context, or NULL. */
CUcontext vgpu_ctx_current(void);

/*
 * Context-local storage (export_tables.c): the context code calls this when
 * @ctx is destroyed or a primary context is reset, so the stored values'
 * destructors run.
 */
void vgpu_cls_context_destroyed(CUcontext ctx);

/* The name of an export table real drivers have and the shim does not emulate, or NULL. */
const char *vgpu_export_table_not_emulated(const unsigned char id[16]);

#endif /* VGPU_SHIM_H */
