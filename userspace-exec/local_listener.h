/* SPDX-License-Identifier: MIT */
/* The local transport's server side (include/vgpu/local.h). */
#ifndef VGPU_LOCAL_LISTENER_H
#define VGPU_LOCAL_LISTENER_H

#include <stdint.h>

struct vgpu_local_options {
	const char *socket_path;
	uint64_t bar1_size;	/* per client */
	uint64_t mem_quota;	/* per session, 0: the whole device */
	int ready_fd;		/* written "ready\n" and closed once listening, or -1 */
};

/* Serve clients until SIGTERM or SIGINT; returns the exit status. */
int vgpu_local_listen(const struct vgpu_local_options *opt);

#endif /* VGPU_LOCAL_LISTENER_H */
