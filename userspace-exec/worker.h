/* SPDX-License-Identifier: MIT */
/*
 * One worker process serves one channel (one guest process's session) on the
 * real GPU.  Both frontends - the local transport (local_listener.c) and the
 * mdev char device - map an instance's BAR1, format it, then start a worker per
 * channel with vgpu_worker_spawn().  The worker holds that session's CUDA
 * context; when it exits, crashes or is killed, everything it held on the GPU
 * goes with its process.
 */
#ifndef VGPU_WORKER_H
#define VGPU_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vgpu/bar1.h"

/*
 * Descriptors below are -1 (or, as in a zeroed struct, 0-2: never a channel's,
 * the executor keeps stdio open) when the channel has none.
 */
struct vgpu_worker_channel {
	void *bar1;			/* the whole BAR1, MAP_SHARED (the worker maps bar1_fd) */
	int bar1_fd;			/* what a worker maps as BAR1: a memfd, or the instance fd */
	int bar0_fd;			/* local transport: the BAR0 memfd (IRQ_STATUS is set there) */
	int control_fd;			/* the link to the parent's memory account (quota_proto.h) */
	int stats_fd;			/* the private stats page (worker_stats.h) */
	struct vgpu_layout layout;	/* the executor's own copy */
	uint32_t channel;
	int doorbell_fd;		/* eventfd, readable when the guest rang */
	int irq_fd;			/* eventfd the worker writes to interrupt the guest */
	uint32_t *bar0_irq_status;	/* where VGPU_IRQ_COMPLETION is ORed in before irq_fd, or NULL */
	uint64_t mem_quota;		/* bytes of device memory the session may allocate */
	uint64_t session_id;
	const char *libcuda_path;	/* NULL: find the system's driver */
};

/* How workers are started (worker_spawn.c); main.c sets it from the options. */
struct vgpu_worker_config {
	bool seccomp;		/* false only with --no-seccomp */
	bool userns;		/* not root: a user namespace per worker */
	uint32_t uid_first;	/* root: each worker a uid of [first, first + count) */
	uint32_t uid_count;	/* 0: workers keep the parent's ids */
	uint32_t gid;		/* every worker's gid (the module cache's group) */
	uint64_t ctx_mem;	/* bytes charged per context at least */
	uint64_t cache_size;	/* the shared module cache directory's cap */
	uint64_t image_memory;	/* a session's and an instance's cap on images in memory */
	char cache_dir[512];	/* the shared module cache, "" for none */
};

/* The defaults (main.c's option defaults). */
#define VGPU_WORKER_UID_FIRST		1879048192u	/* 0x70000000 */
#define VGPU_WORKER_UID_COUNT		65536u
#define VGPU_WORKER_CTX_MEM		(32ull << 20)
#define VGPU_WORKER_CACHE_SIZE		(2ull << 30)
#define VGPU_WORKER_IMAGE_MEMORY	(1ull << 30)

void vgpu_worker_configure(const struct vgpu_worker_config *c);
const struct vgpu_worker_config *vgpu_worker_config(void);

/*
 * Start a worker for @ch: fork, and exec this executor as `vgpu-executor
 * --worker`, with the channel's descriptors and nothing else (worker_spawn.c;
 * a fresh address space holds nothing of another guest).  @in_child (if not
 * NULL) runs with @arg in the child just before exec.  The worker serves the
 * channel until the guest says goodbye, breaks the protocol or the parent
 * kills it.  Returns the child's pid, or -1 with errno set.
 */
pid_t vgpu_worker_spawn(const struct vgpu_worker_channel *ch, void (*in_child)(void *arg),
			void *arg);

/* Serve @ch in this process; returns the process exit status. */
int vgpu_worker_main(const struct vgpu_worker_channel *ch);

#endif /* VGPU_WORKER_H */
