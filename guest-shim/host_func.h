/* SPDX-License-Identifier: MIT */
/* Host functions run in the guest (host_func.c). */
#ifndef VGPU_HOST_FUNC_H
#define VGPU_HOST_FUNC_H

#include <stdbool.h>

#include "driver_api.h"

/* The calling thread is running a host function: calls that wait for streams are refused. */
bool vgpu_in_host_func(void);

/* cuLaunchHostFunc (@fn) or cuStreamAddCallback (@callback) on @st. */
CUresult vgpu_launch_host_func(CUstream st, bool per_thread, CUhostFn fn,
			       CUstreamCallback callback, void *data);

#endif /* VGPU_HOST_FUNC_H */
