// SPDX-License-Identifier: MIT
/*
 * A worker: one process serving one channel on the real GPU.
 *
 * The loop consumes the submission ring and polls the waits (waits.c): it
 * never blocks inside the driver.  When neither moves it keeps polling for
 * a while (a busy guest then never needs the doorbell, decision 4), then
 * announces that it sleeps and blocks on the doorbell - and, when waits are
 * pending, on the notify eventfd their armed helper streams write.
 *
 * How long it polls adapts, as KVM's halt polling does: an idle stretch that
 * ended within the longest window means polling longer would have caught
 * the work, so the window grows; a longer one means polling was wasted, so
 * it shrinks.  An idle or lightly loaded session thus costs little CPU, a
 * busy one never sleeps.  While a guest thread waits for an answer the
 * window may grow further (VGPU_WAIT_POLL_US), as the driver itself spins
 * while a host thread synchronises.
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
#include "waits.h"
#include "worker.h"

#define POLL_GROW_MIN_NS	(10ull * 1000)
/* How often a sleeping worker looks at armed waits anyway (see the sleep below). */
#define ARMED_RECHECK_MS	50
/* Records consumed before the waits get another look. */
#define RECORD_BATCH		64

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t env_us(const char *name, long dflt)
{
	const char *env = getenv(name);
	long us = env ? strtol(env, NULL, 10) : dflt;

	return us > 0 ? (uint64_t)us * 1000 : 0;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void drain_fd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

struct poll_window {
	uint64_t cur, max;
};

/* After an idle stretch of @idle ns: grow the window if polling that long would have caught it. */
static void adapt(struct poll_window *w, uint64_t idle)
{
	if (!w->max)
		return;
	if (idle <= w->max) {
		w->cur = w->cur ? w->cur * 2 : POLL_GROW_MIN_NS;
		if (w->cur > w->max)
			w->cur = w->max;
	} else {
		w->cur /= 2;
		if (w->cur < POLL_GROW_MIN_NS)
			w->cur = 0;
	}
}

int vgpu_worker_main(const struct vgpu_worker_channel *ch)
{
	struct vgpu_session s;
	struct poll_window idle = { 0, env_us("VGPU_POLL_US", 200) };
	struct poll_window waiting = { 0, env_us("VGPU_WAIT_POLL_US", 2000) };
	uint64_t idle_since = 0;
	int status = 0;

	idle.cur = idle.max;
	waiting.cur = waiting.max;
	if (vgpu_session_init(&s, ch)) {
		fprintf(stderr, "vgpu-executor: session %lu: out of memory\n",
			(unsigned long)ch->session_id);
		return 1;
	}
	fcntl(ch->doorbell_fd, F_SETFL, fcntl(ch->doorbell_fd, F_GETFL) | O_NONBLOCK);

	while (!s.closing) {
		enum vgpu_sq_result res = VGPU_SQ_EMPTY;
		bool moved = false;
		struct poll_window *win;
		uint64_t t;
		bool armed;
		int n;

		for (n = 0; n < RECORD_BATCH && !s.closing; n++) {
			res = vgpu_sq_pop(&s.sq, s.cmd_buf, s.cmd_buf_size);
			if (res != VGPU_SQ_RECORD)
				break;
			vgpu_dispatch(&s, s.cmd_buf, ((struct vgpu_cmd_hdr *)s.cmd_buf)->size);
		}
		if (res == VGPU_SQ_CORRUPT) {
			fprintf(stderr, "vgpu-executor: session %lu: malformed record at %lu\n",
				(unsigned long)ch->session_id, (unsigned long)s.sq.head);
			vgpu_store32(&s.ctrl->exec_error, CUDA_ERROR_INVALID_VALUE);
			status = 2;
			break;
		}
		moved = n > 0;
		if (vgpu_session_poll(&s))
			moved = true;
		t = now_ns();
		if (moved) {
			idle_since = 0;
			continue;
		}
		if (!idle_since)
			idle_since = t;
		win = s.nwaits_answer ? &waiting : &idle;
		if (t - idle_since < win->cur) {
			cpu_relax();
			continue;
		}

		/* Announce the sleep, then look once more: a producer sees one or the other. */
		vgpu_store32(&s.ctrl->sq_need_doorbell, 1);
		vgpu_full_fence();
		armed = vgpu_waits_arm(&s);
		if (!vgpu_sq_ready(&s.sq) && !vgpu_session_poll(&s)) {
			struct pollfd p[2] = {
				{ .fd = ch->doorbell_fd, .events = POLLIN },
				{ .fd = s.notify_fd, .events = POLLIN },
			};
			/*
			 * A wait that could not be armed is looked at every
			 * millisecond.  An armed one is looked at now and then
			 * too: once a context has faulted, the driver runs no
			 * host function any more (so no wake-up comes), while its
			 * events report the fault when queried.
			 */
			int timeout = !s.nwaits ? -1 : armed ? ARMED_RECHECK_MS : 1;

			if (poll(p, 2, timeout) < 0 && errno != EINTR)
				break;
		}
		drain_fd(ch->doorbell_fd);
		drain_fd(s.notify_fd);
		vgpu_store32(&s.ctrl->sq_need_doorbell, 0);
		/* The whole idle stretch, polling included: would a longer poll have caught it? */
		adapt(win, now_ns() - idle_since);
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
