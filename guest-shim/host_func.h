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

/*
 * Streams can wait for host functions on this channel (learnt once, with a
 * host function that does nothing on @st when not known yet), and the
 * calling thread may launch one.
 */
bool vgpu_host_funcs_usable(CUstream st, bool per_thread);

/* No host function is submitted and not yet run (so none can still write host memory). */
bool vgpu_host_funcs_idle(void);

#endif /* VGPU_HOST_FUNC_H */
