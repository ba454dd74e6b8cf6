// SPDX-License-Identifier: MIT
/*
 * The parent's memory accounts: the rules (quota_account.c) and the service
 * that applies them to workers' links (quota_service.c).  Workers are played
 * by the test on the other end of each link; where the service must kill a
 * worker, the worker is a child that sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "quota_service.h"
#include "test.h"

#define MIB (1ull << 20)

static void rules(void)
{
	struct vgpu_account a, s;
	struct vgpu_account_link l1, l2;

	vgpu_account_init(&a, "vm-1", 64 * MIB, 0, 8 * MIB);
	vgpu_account_attach(&l1, &a, 1);
	vgpu_account_attach(&l2, &a, 2);
	/* One account for both links: what one holds, the other cannot take. */
	CHECK(vgpu_account_charge(&l1, VGPU_CHARGE_ALLOC, 40 * MIB));
	CHECK(!vgpu_account_charge(&l2, VGPU_CHARGE_ALLOC, 40 * MIB));
	CHECK(vgpu_account_charge(&l2, VGPU_CHARGE_CONTEXT, 24 * MIB));
	CHECK(!vgpu_account_charge(&l2, VGPU_CHARGE_MODULE, 1));
	CHECK(vgpu_account_device_used(&a) == 64 * MIB);
	/* A release gives back no more than the link was granted. */
	vgpu_account_release(&l2, VGPU_CHARGE_ALLOC, 40 * MIB);
	CHECK(vgpu_account_device_used(&a) == 64 * MIB);
	vgpu_account_release(&l2, VGPU_CHARGE_CONTEXT, 100 * MIB);
	CHECK(vgpu_account_device_used(&a) == 40 * MIB && l2.charged[VGPU_CHARGE_CONTEXT] == 0);
	/* Staging is host memory, with its own limit. */
	CHECK(vgpu_account_charge(&l2, VGPU_CHARGE_STAGING, 8 * MIB));
	CHECK(!vgpu_account_charge(&l1, VGPU_CHARGE_STAGING, 1));
	CHECK(vgpu_account_device_used(&a) == 40 * MIB);
	CHECK(!vgpu_account_charge(&l1, VGPU_CHARGE_KINDS, 1));	/* no such kind */
	/* The driver's figure counts when it is the larger. */
	a.measured = 60 * MIB;
	CHECK(vgpu_account_device_used(&a) == 60 * MIB);
	CHECK(!vgpu_account_charge(&l1, VGPU_CHARGE_ALLOC, 8 * MIB));
	a.measured = 0;
	/* A worker gone gives back all it held. */
	vgpu_account_detach(&l1);
	CHECK(vgpu_account_device_used(&a) == 0 && a.used[VGPU_CHARGE_STAGING] == 8 * MIB);
	vgpu_account_detach(&l2);
	CHECK(a.used[VGPU_CHARGE_STAGING] == 0 && a.links == 0);
	/* No limit is larger than the device. */
	vgpu_account_resolve(&a, 32 * MIB);
	CHECK(a.limit == 32 * MIB);

	/* A share becomes bytes at the first report; nothing is granted before. */
	vgpu_account_init(&s, "local-1", 0, 50, 0);
	vgpu_account_attach(&l1, &s, 3);
	CHECK(!vgpu_account_charge(&l1, VGPU_CHARGE_ALLOC, 1));
	vgpu_account_resolve(&s, 80 * 1024 * MIB);
	CHECK(s.limit == 40 * 1024 * MIB);
	vgpu_account_resolve(&s, 160 * 1024 * MIB);	/* a later, larger report changes nothing */
	CHECK(s.limit == 40 * 1024 * MIB);
	CHECK(vgpu_account_charge(&l1, VGPU_CHARGE_ALLOC, 40 * 1024 * MIB));
	vgpu_account_detach(&l1);
}

/* ---- the service, with the test as the workers ---- */

static pid_t sleeper(void)
{
	pid_t p = fork();

	if (p == 0) {
		pause();
		_exit(0);
	}
	return p;
}

/* Whether @pid was killed (it is reaped if so); waits for progress, not a fixed time. */
static bool killed(pid_t pid)
{
	int ws;

	for (int i = 0; i < 600; i++) {
		pid_t r = waitpid(pid, &ws, WNOHANG);

		if (r == pid)
			return WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL;
		usleep(100000);
	}
	return false;
}

static bool ask(int fd, uint32_t op, uint32_t kind, uint64_t bytes, uint64_t arg,
		struct vgpu_acct_reply *r)
{
	struct vgpu_acct_msg m = { op, kind, bytes, arg };
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (send(fd, &m, sizeof(m), 0) != sizeof(m))
		return false;
	if (op == VGPU_ACCT_RELEASE)
		return true;
	return poll(&p, 1, 60000) == 1 && recv(fd, r, sizeof(*r), 0) == sizeof(*r) && r->op == op;
}

static int fake_sample(struct vgpu_gpu_usage *u, struct vgpu_pid_usage *out, int max)
{
	struct vgpu_pid_usage *fig = u->priv;
	int n = 0;

	while (n < max && fig[n].pid)
		out[n] = fig[n], n++;
	return n;
}

static void fake_close(struct vgpu_gpu_usage *u)
{
	(void)u;
}

static void service(void)
{
	static struct vgpu_pid_usage figures[4];
	static struct vgpu_gpu_usage fake = { "fake", fake_sample, fake_close, figures };
	struct vgpu_quota_service *svc = vgpu_quota_service_start(&fake);
	struct vgpu_account *acct, *again;
	struct vgpu_quota_view v;
	struct vgpu_acct_reply r;
	int fd1, fd2, fd3, id1, id2, id3;
	pid_t w1 = sleeper(), w2 = sleeper(), w3 = sleeper();

	CHECK(svc != NULL);
	if (!svc)
		return;
	acct = vgpu_quota_account_get(svc, "vm-7", 64 * MIB, 0, 16 * MIB);
	again = vgpu_quota_account_get(svc, "vm-7", 1, 0, 1);	/* the same, its own limits */
	CHECK(acct && acct == again && acct->limit == 64 * MIB);
	vgpu_quota_account_put(svc, again);
	id1 = vgpu_quota_link(svc, acct, 1, &fd1);
	id2 = vgpu_quota_link(svc, acct, 2, &fd2);
	id3 = vgpu_quota_link(svc, acct, 3, &fd3);
	CHECK(id1 > 0 && id2 > 0 && id3 > 0);
	vgpu_quota_link_pid(svc, id1, w1);
	vgpu_quota_link_pid(svc, id2, w2);
	vgpu_quota_link_pid(svc, id3, w3);

	/* HELLO: the device is larger than the limit; the limit stays. */
	CHECK(ask(fd1, VGPU_ACCT_HELLO, 0, 80 * 1024 * MIB, 777, &r) && r.limit == 64 * MIB &&
	      r.staging_limit == 16 * MIB);
	CHECK(ask(fd1, VGPU_ACCT_CHARGE, VGPU_CHARGE_ALLOC, 40 * MIB, 0, &r) && r.granted);
	CHECK(ask(fd2, VGPU_ACCT_CHARGE, VGPU_CHARGE_ALLOC, 40 * MIB, 0, &r) && !r.granted);
	CHECK(ask(fd2, VGPU_ACCT_QUERY, 0, 0, 0, &r) && r.used == 40 * MIB);
	CHECK(vgpu_quota_view(svc, id1, &v) && v.session == 40 * MIB && v.used == 40 * MIB &&
	      v.guest_pid == 777 && !strcmp(v.account, "vm-7"));
	/* A worker that is gone gives back what it held. */
	vgpu_quota_unlink(svc, id1);
	close(fd1);
	CHECK(ask(fd2, VGPU_ACCT_CHARGE, VGPU_CHARGE_ALLOC, 40 * MIB, 0, &r) && r.granted);
	CHECK(ask(fd2, VGPU_ACCT_RELEASE, VGPU_CHARGE_ALLOC, 1ull << 60, 0, &r));
	CHECK(ask(fd2, VGPU_ACCT_QUERY, 0, 0, 0, &r) && r.used == 0);
	kill(w1, SIGKILL);
	waitpid(w1, NULL, 0);

	/* Garbage on a link: its worker is killed, the others go on. */
	CHECK(send(fd3, "garbage", 7, 0) == 7);
	CHECK(killed(w3));
	vgpu_quota_unlink(svc, id3);
	close(fd3);
	CHECK(ask(fd2, VGPU_ACCT_QUERY, 0, 0, 0, &r));

	/* The driver's figures: far over the limit, the largest worker goes. */
	figures[0] = (struct vgpu_pid_usage){ w2, 512 * MIB };
	CHECK(killed(w2));
	vgpu_quota_unlink(svc, id2);
	close(fd2);

	/* A worker that never reads its answers is killed, not waited for. */
	{
		pid_t w4 = sleeper();
		int fd4, id4 = vgpu_quota_link(svc, acct, 4, &fd4), sent = 0;
		struct vgpu_acct_msg m = { VGPU_ACCT_QUERY, 0, 0, 0 };

		figures[0].pid = 0;
		vgpu_quota_link_pid(svc, id4, w4);
		fcntl(fd4, F_SETFL, O_NONBLOCK);
		int ws = 0;
		bool gone = false;

		/*
		 * Keep the link full until the service gives up on the worker: on a
		 * loaded machine the service may read late, and what one fill of the
		 * link holds may fit its answers; a worker that never reads must be
		 * killed all the same once the answers back up.
		 */
		while (sent < 100000) {
			if (send(fd4, &m, sizeof(m), 0) == sizeof(m)) {
				sent++;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				break;
			if (waitpid(w4, &ws, WNOHANG) == w4) {
				gone = true;
				break;
			}
			usleep(1000);
		}
		CHECK(gone ? WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL : killed(w4));
		vgpu_quota_unlink(svc, id4);
		close(fd4);
	}
	vgpu_quota_account_put(svc, acct);
	vgpu_quota_service_stop(svc);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	rules();
	service();
	return TEST_RESULT();
}
