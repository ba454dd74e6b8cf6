/* SPDX-License-Identifier: MIT */
/*
 * cuGetProcAddress's table.  guest-shim/gen/gen_driver_api.py generates it
 * into build/gen/procaddr_table.c from cudaTypedefs.h: one row per
 * PFN_<api>_v<version>[_ptds|_ptsz] typedef, naming the exported symbol whose
 * prototype matches that typedef.
 */
#ifndef VGPU_SHIM_PROCADDR_H
#define VGPU_SHIM_PROCADDR_H

#include <stdbool.h>
#include <stddef.h>

/* Any function; GCC's -Wcast-function-type accepts casts to this type. */
typedef void (*vgpu_fn)(void);

/*
 * From CUDA version @version on, @api (its per-thread default stream variant
 * when @per_thread) has the ABI of the exported function @fn.
 */
struct vgpu_procaddr_entry {
	const char *api;
	int version;
	bool per_thread;
	vgpu_fn fn;
};

/* Sorted by api (as strcmp orders it), then per_thread, then version. */
extern const struct vgpu_procaddr_entry vgpu_procaddr_table[];
extern const size_t vgpu_procaddr_count;

#endif /* VGPU_SHIM_PROCADDR_H */
