/* SPDX-License-Identifier: MIT */
/*
 * Host functions captured into graphs (graph_host.c): the host node the
 * driver runs at every launch asks the guest to run the function and
 * returns when the guest says it has.
 */
#ifndef VGPU_GRAPH_HOST_H
#define VGPU_GRAPH_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "real_driver.h"

struct vgpu_session;

/* Capture a host node on @h (a capturing stream) that runs the guest's @cookie. */
CUresult vgpu_graph_host_capture(struct vgpu_session *s, CUstream h, uint64_t cookie);

/* The guest ran run @run of @cookie. */
void vgpu_graph_host_done(struct vgpu_session *s, uint64_t cookie, uint64_t run);

/* Send the guest the runs host nodes asked for (the worker's loop); true if one went. */
bool vgpu_graph_host_flush(struct vgpu_session *s);

/* The session ends: host nodes waiting for the guest return, and none waits again. */
void vgpu_graph_host_abort(struct vgpu_session *s);

/* After the driver is gone: free what is left. */
void vgpu_graph_host_free(struct vgpu_session *s);

#endif /* VGPU_GRAPH_HOST_H */
