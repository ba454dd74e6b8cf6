/* SPDX-License-Identifier: MIT */
/*
 * The three slots of the CONTEXT_LOCAL_STORAGE_V0301 export table
 * (export_tables.c hands them out; context_local_storage.c keeps the data).
 */
#ifndef VGPU_SHIM_CONTEXT_LOCAL_STORAGE_H
#define VGPU_SHIM_CONTEXT_LOCAL_STORAGE_H

#include <stdbool.h>

#include "shim.h"

/* Runs when the context goes: (the context, the key, the value). */
typedef void (*vgpu_cls_dtor)(CUcontext ctx, void *key, void *value);

/* Slot 0: store @value under (@ctx, @key), replacing what was there. */
CUresult vgpu_cls_put(CUcontext ctx, void *key, void *value, vgpu_cls_dtor dtor);
/* Slot 1: forget (@ctx, @key) without running its destructor. */
CUresult vgpu_cls_delete(CUcontext ctx, void *key);
/* Slot 2: the value under (@ctx, @key); an error when there is none. */
CUresult vgpu_cls_get(void **value, CUcontext ctx, void *key);

#endif /* VGPU_SHIM_CONTEXT_LOCAL_STORAGE_H */
