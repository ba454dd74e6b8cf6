/* SPDX-License-Identifier: MIT */
/* The local transport's server side (include/vgpu/local.h). */
#ifndef VGPU_LOCAL_LISTENER_H
#define VGPU_LOCAL_LISTENER_H

#include <stdint.h>

#include "quota_service.h"

/* Whose sessions share one memory account. */
enum vgpu_quota_group {
	VGPU_QUOTA_PER_SESSION = 0,	/* each client session is an instance of its own */
	VGPU_QUOTA_PER_UID,		/* all sessions of one client uid share one account */
};

struct vgpu_local_options {
	const char *socket_path;
	uint64_t bar1_size;		/* per client */
	uint64_t heap_size;		/* per client, beyond bar1_size: pinned host memory (DMA) */
	uint64_t mem_limit;		/* bytes per account, 0: mem_share of the device */
	uint32_t mem_share;		/* percent of the device per account, when mem_limit is 0 */
	enum vgpu_quota_group quota_group;
	uint64_t staging_limit;		/* host bytes of images being received, per account */
	uint32_t request_timeout_ms;	/* a connection must have said what it wants by then */
	uint32_t max_sessions_per_uid;
	uint32_t max_pending_per_uid;	/* connections that have not said what they want yet */
	struct vgpu_quota_service *quota;	/* the accounts; NULL: sessions account alone */
	int ready_fd;			/* written "ready\n" and closed once listening, or -1 */
};

/* Defaults of the options above (main.c). */
#define VGPU_LOCAL_REQUEST_TIMEOUT_MS	10000u
#define VGPU_LOCAL_SESSIONS_PER_UID	64u
#define VGPU_LOCAL_PENDING_PER_UID	16u

/* Serve clients until SIGTERM or SIGINT; returns the exit status. */
int vgpu_local_listen(const struct vgpu_local_options *opt);

#endif /* VGPU_LOCAL_LISTENER_H */
