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

#include <stdint.h>
#include <sys/types.h>

#include "vgpu/bar1.h"

struct vgpu_worker_channel {
	void *bar1;			/* the whole BAR1, MAP_SHARED */
	struct vgpu_layout layout;	/* the executor's own copy */
	uint32_t channel;
	int doorbell_fd;		/* eventfd, readable when the guest rang */
	int irq_fd;			/* eventfd the worker writes to interrupt the guest */
	uint32_t *bar0_irq_status;	/* where VGPU_IRQ_COMPLETION is ORed in before irq_fd, or NULL */
	uint64_t mem_quota;		/* bytes of device memory the session may allocate */
	uint64_t session_id;
	const char *libcuda_path;	/* NULL: find the system's driver */
};

/*
 * Fork a worker for @ch.  In the child, every fd except the channel's
 * doorbell and irq fds is closed, @in_child (if not NULL) runs with @arg so
 * the frontend can unmap every other instance's memory (a worker must hold
 * nothing of another guest), then the channel is served until the guest
 * says goodbye, breaks the protocol or the parent kills it.  Returns the
 * child's pid, or -1 with errno set.
 */
pid_t vgpu_worker_spawn(const struct vgpu_worker_channel *ch, void (*in_child)(void *arg),
			void *arg);

/* Serve @ch in this process; returns the process exit status. */
int vgpu_worker_main(const struct vgpu_worker_channel *ch);

#endif /* VGPU_WORKER_H */
