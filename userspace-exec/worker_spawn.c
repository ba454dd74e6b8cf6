// SPDX-License-Identifier: MIT
/*
 * Starting a worker: fork, put the channel's descriptors at the numbers a
 * worker expects (worker_args.h), close every other one, and exec the
 * executor's own binary as `vgpu-executor --worker ...`.  The worker starts
 * from a fresh address space and layout (nothing of the parent's memory,
 * other sessions' included, survives exec), then enters its sandbox
 * (sandbox.h) before it serves.  Between fork and exec the child makes only
 * system calls: the parent may have threads.
 *
 * When the executor runs as root, each worker gets a uid of its own from the
 * configured range; a uid is free again once the worker that had it has
 * exited (a pidfd per uid tells).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"
#include "worker_args.h"

extern char **environ;

static struct vgpu_worker_config config = {
	.seccomp = true,
	.uid_first = VGPU_WORKER_UID_FIRST,
	.uid_count = VGPU_WORKER_UID_COUNT,
	.gid = VGPU_WORKER_UID_FIRST,
	.ctx_mem = VGPU_WORKER_CTX_MEM,
	.cache_size = VGPU_WORKER_CACHE_SIZE,
	.image_memory = VGPU_WORKER_IMAGE_MEMORY,
};
static int *uid_pidfds;		/* per uid of the range: its worker's pidfd, or -1 */

void vgpu_worker_configure(const struct vgpu_worker_config *c)
{
	config = *c;
	free(uid_pidfds);
	uid_pidfds = NULL;
}

const struct vgpu_worker_config *vgpu_worker_config(void)
{
	return &config;
}

/* A uid of the range no running worker has, or -1; @slot receives its index. */
static int64_t pick_uid(uint32_t *slot)
{
	uint32_t n = config.uid_count;

	if (!uid_pidfds) {
		uid_pidfds = malloc(n * sizeof(int));
		if (!uid_pidfds)
			return -1;
		for (uint32_t i = 0; i < n; i++)
			uid_pidfds[i] = -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct pollfd p = { .fd = uid_pidfds[i], .events = POLLIN };

		if (uid_pidfds[i] >= 0) {
			if (poll(&p, 1, 0) != 1)
				continue;	/* its worker still runs */
			close(uid_pidfds[i]);
			uid_pidfds[i] = -1;
		}
		*slot = i;
		return (int64_t)config.uid_first + i;
	}
	return -1;
}

/* In the child: move @from to @to, clearing close-on-exec; @from may be < 0 (then nothing). */
static int place(int from, int to)
{
	if (from <= 2)
		return 0;
	if (from == to)
		return fcntl(to, F_SETFD, 0);
	return dup2(from, to) == to ? 0 : -1;
}

pid_t vgpu_worker_spawn(const struct vgpu_worker_channel *ch, void (*in_child)(void *arg),
			void *arg)
{
	struct vgpu_worker_args a = {
		.session_id = ch->session_id,
		.bar1_size = ch->layout.bar1_size,
		.channels = ch->layout.channel_count,
		.channel = ch->channel,
		.heap_size = ch->layout.heap_size,
		.mem_quota = ch->mem_quota,
		.bar0 = ch->bar0_fd > 2,
		.control = ch->control_fd > 2,
		.stats = ch->stats_fd > 2,
		.parent = (int32_t)getpid(),
		.userns = geteuid() != 0 && config.userns,
		.seccomp = config.seccomp,
		.ctx_mem = config.ctx_mem,
		.cache_size = config.cache_size,
		.image_memory = config.image_memory,
		.log_rank = (uint32_t)vgpu_log_rank(),
	};
	int src[VGPU_WORKER_FD_LAST + 1] = { -1, -1, -1, ch->bar1_fd, ch->bar0_fd,
					     ch->doorbell_fd, ch->irq_fd, ch->control_fd,
					     ch->stats_fd };
	char *argv[VGPU_WORKER_ARGC + 1], buf[2048];
	uint32_t slot = 0;
	sigset_t none;
	pid_t pid;

	if (ch->bar1_fd <= 2 || ch->doorbell_fd <= 2 || ch->irq_fd <= 2) {
		errno = EBADF;
		return -1;
	}
	snprintf(a.cache_dir, sizeof(a.cache_dir), "%s", config.cache_dir);
	if (geteuid() == 0 && config.uid_count) {
		int64_t uid = pick_uid(&slot);

		if (uid < 0) {
			errno = EAGAIN;	/* every uid of the range is in use */
			return -1;
		}
		a.set_ids = true;
		a.uid = (uint32_t)uid;
		a.gid = config.gid;
	}
	if (vgpu_worker_args_format(&a, "/proc/self/exe", argv, buf, sizeof(buf)) < 0) {
		errno = E2BIG;
		return -1;
	}
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		if (a.set_ids)
			uid_pidfds[slot] = (int)syscall(SYS_pidfd_open, pid, 0);
		return pid;
	}

	/* The child.  System calls only from here to exec. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The worker must not outlive the executor that tracks it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != (pid_t)a.parent)
		_exit(1);
	/* Out of the way of the numbers they go to, then in place. */
	for (int i = 3; i <= VGPU_WORKER_FD_LAST; i++)
		if (src[i] > 2 && src[i] <= VGPU_WORKER_FD_LAST) {
			int moved = fcntl(src[i], F_DUPFD, 64);

			if (moved < 0)
				_exit(126);
			for (int j = i + 1; j <= VGPU_WORKER_FD_LAST; j++)
				if (src[j] == src[i])
					src[j] = moved;
			src[i] = moved;
		}
	for (int i = 3; i <= VGPU_WORKER_FD_LAST; i++)
		if (src[i] <= 2)
			close(i);	/* a number the worker has no descriptor at holds none */
	for (int i = 3; i <= VGPU_WORKER_FD_LAST; i++)
		if (place(src[i], i))
			_exit(126);
	close_range(VGPU_WORKER_FD_LAST + 1, ~0u, 0);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if (in_child)
		in_child(arg);
	execve("/proc/self/exe", argv, environ);
	_exit(127);
}
