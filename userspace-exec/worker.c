// SPDX-License-Identifier: MIT
/*
 * A worker: one process serving one channel on the real GPU.
 *
 * The loop consumes the submission ring while there is work, keeps polling
 * for a short while after the last record (a busy guest then never needs
 * the doorbell, decision 4), and only then announces that it sleeps and
 * blocks on the doorbell eventfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "worker.h"

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t poll_window_ns(void)
{
	const char *env = getenv("VGPU_POLL_US");
	long us = env ? strtol(env, NULL, 10) : 200;

	return us > 0 ? (uint64_t)us * 1000 : 0;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void drain_doorbell(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

int vgpu_worker_main(const struct vgpu_worker_channel *ch)
{
	struct vgpu_session s;
	uint64_t window = poll_window_ns(), idle_since = 0;
	int status = 0;

	if (vgpu_session_init(&s, ch)) {
		fprintf(stderr, "vgpu-executor: session %lu: out of memory\n",
			(unsigned long)ch->session_id);
		return 1;
	}
	fcntl(ch->doorbell_fd, F_SETFL, fcntl(ch->doorbell_fd, F_GETFL) | O_NONBLOCK);

	while (!s.closing) {
		enum vgpu_sq_result res = vgpu_sq_pop(&s.sq, s.cmd_buf, s.cmd_buf_size);

		if (res == VGPU_SQ_RECORD) {
			vgpu_dispatch(&s, s.cmd_buf, ((struct vgpu_cmd_hdr *)s.cmd_buf)->size);
			idle_since = 0;
			continue;
		}
		if (res == VGPU_SQ_CORRUPT) {
			fprintf(stderr, "vgpu-executor: session %lu: malformed record at %lu\n",
				(unsigned long)ch->session_id, (unsigned long)s.sq.head);
			vgpu_store32(&s.ctrl->exec_error, CUDA_ERROR_INVALID_VALUE);
			status = 2;
			break;
		}
		vgpu_session_retire(&s, false);
		if (!idle_since)
			idle_since = now_ns();
		if (now_ns() - idle_since < window) {
			cpu_relax();
			continue;
		}

		/* Announce the sleep, then look once more: a producer sees one or the other. */
		vgpu_store32(&s.ctrl->sq_need_doorbell, 1);
		vgpu_full_fence();
		if (!vgpu_sq_ready(&s.sq)) {
			if (s.retire_head != s.retire_tail) {
				/* Copies still read bulk: wait for the oldest, the guest may need room. */
				vgpu_session_retire(&s, true);
			} else {
				struct pollfd p = { .fd = ch->doorbell_fd, .events = POLLIN };

				if (poll(&p, 1, -1) < 0 && errno != EINTR)
					break;
			}
		}
		drain_doorbell(ch->doorbell_fd);
		vgpu_store32(&s.ctrl->sq_need_doorbell, 0);
		idle_since = 0;
	}

	vgpu_session_teardown(&s);
	vgpu_store32(&s.ctrl->exec_state, VGPU_EXEC_CLOSED);
	/* Wake any guest thread still waiting, so it sees the session is over. */
	{
		uint64_t one = 1;

		if (write(ch->irq_fd, &one, sizeof(one)) < 0)
			status = status ? status : 1;
	}
	return status;
}

/* Close every descriptor but stdio and @keep_a, @keep_b. */
static void close_others(int keep_a, int keep_b)
{
	int lo = keep_a < keep_b ? keep_a : keep_b, hi = keep_a < keep_b ? keep_b : keep_a;

	close_range(3, (unsigned int)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned int)lo + 1, (unsigned int)hi - 1, 0);
	close_range((unsigned int)hi + 1, ~0u, 0);
}

pid_t vgpu_worker_spawn(const struct vgpu_worker_channel *ch, void (*in_child)(void *arg),
			void *arg)
{
	sigset_t none;
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The worker must not outlive the executor that tracks it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(1);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	close_others(ch->doorbell_fd, ch->irq_fd);
	if (in_child)
		in_child(arg);
	_exit(vgpu_worker_main(ch));
}
