/* SPDX-License-Identifier: MIT */
/*
 * The executor's frontend for VMs: serves every VGPU-STUB instance of
 * vgpu_stub.ko through its char device (include/vgpu/kmod_uapi.h,
 * docs/kmod.md), beside the local transport.
 *
 * For each instance QEMU opens, it maps BAR1, formats it (header, every
 * channel asking for a doorbell), registers a doorbell eventfd per channel
 * and one irqfd, sets STATUS.EXECUTOR_READY and starts a worker for a
 * channel on that channel's first doorbell (workers load CUDA, so only the
 * channels a guest uses get one).  When QEMU closes the device, resets it or
 * the instance is removed, that instance's workers are killed, READY is
 * cleared and BAR1 unmapped; a reset instance is formatted and served again.
 */
#ifndef VGPU_MDEV_FRONTEND_H
#define VGPU_MDEV_FRONTEND_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

struct vgpu_quota_service;

#define VGPU_MDEV_DEFAULT_CHARDEV	"/dev/vgpu-stub"

/*
 * How the frontend reaches the char device: the system calls, or a test's
 * fake kernel (tests/unit/test_mdev_frontend.c).  Every fd these return must
 * be a real one that close(2) and epoll accept (the fake hands out eventfds).
 */
struct vgpu_kmod_io {
	int (*open)(const char *path, int flags);
	int (*ioctl)(int fd, unsigned long request, void *arg);
	ssize_t (*read)(int fd, void *buf, size_t len);
	void *(*mmap_bar1)(int fd, size_t len);	/* RW, shared, offset 0; MAP_FAILED */
};

struct vgpu_mdev_frontend_opts {
	const char *libcuda_path;	/* passed to each worker; NULL: the system's driver */
	int stop_fd;			/* readable: return 0 (e.g. an eventfd); -1 if none */
	const volatile sig_atomic_t *stop_flag;	/* nonzero: return 0; may be NULL */
	int verbose;			/* log events to stderr */
	/* The instances' memory accounts: one per instance, shared by its channels; may be NULL. */
	struct vgpu_quota_service *quota;
	const struct vgpu_kmod_io *io;	/* NULL: the real char device */
};

/*
 * Serve the instances of @chardev_path (NULL: VGPU_MDEV_DEFAULT_CHARDEV)
 * until stopped.  Workers are this process's children and are reaped with
 * waitpid() on their pids: SIGCHLD may be blocked, not ignored.  @opts may be NULL.  Returns 0 when stopped, or -1 with a
 * message on stderr when the char device cannot be used (missing module,
 * not root, another executor holds it, ABI mismatch).  Every worker it
 * started is gone when it returns.
 */
int vgpu_mdev_frontend_run(const char *chardev_path, const struct vgpu_mdev_frontend_opts *opts);

#endif /* VGPU_MDEV_FRONTEND_H */
