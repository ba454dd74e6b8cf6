// SPDX-License-Identifier: MIT
/*
 * The local transport: every client gets its own BAR0 and BAR1 in shared
 * memory (laid out exactly as the PCI device's), a doorbell and an interrupt
 * eventfd, and a worker process serving its channel.  The parent never
 * touches CUDA (it forks workers, and CUDA does not survive a fork); it
 * watches client sockets and workers, and ends each session when either side
 * goes away.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "local_listener.h"
#include "vgpu/bar1.h"
#include "vgpu/local.h"
#include "vgpu/regs.h"
#include "worker.h"

#define MAX_SESSIONS	256

struct local_session {
	bool used;
	int sock;
	pid_t client_pid;
	pid_t worker;
	int irq_fd;
	uint32_t *bar0;
	void *bar1;
	struct vgpu_worker_channel ch;
	time_t started;
};

static struct local_session sessions[MAX_SESSIONS];
static uint64_t next_session_id = 1;

/* In a new worker: no mapping of another session stays in its address space. */
static void drop_other_sessions(void *self)
{
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct local_session *s = &sessions[i];

		if (!s->used || s == self)
			continue;
		munmap(s->bar0, VGPU_BAR0_SIZE);
		munmap(s->bar1, s->ch.layout.bar1_size);
	}
}

static void bar0_init(uint32_t *regs, uint64_t bar1_size, uint64_t quota)
{
	regs[VGPU_REG_MAGIC / 4] = VGPU_MAGIC;
	regs[VGPU_REG_VERSION / 4] = VGPU_VERSION_VALUE(VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR);
	regs[VGPU_REG_FEATURES / 4] = VGPU_FEATURE_DOORBELL_SUPPRESSION;
	regs[VGPU_REG_BAR1_SIZE_LO / 4] = (uint32_t)bar1_size;
	regs[VGPU_REG_BAR1_SIZE_HI / 4] = (uint32_t)(bar1_size >> 32);
	regs[VGPU_REG_FB_SIZE_LO / 4] = (uint32_t)quota;
	regs[VGPU_REG_FB_SIZE_HI / 4] = (uint32_t)(quota >> 32);
	__atomic_store_n(&regs[VGPU_REG_STATUS / 4], VGPU_STATUS_EXECUTOR_READY, __ATOMIC_RELEASE);
}

static int send_attach(int sock, const struct vgpu_local_attach *a, const int fds[4], int nfds)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { (void *)a, sizeof(*a) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf;
		m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)sizeof(*a) ? 0 : -1;
}

static void refuse(int sock, int status)
{
	struct vgpu_local_attach a = { .magic = VGPU_LOCAL_MAGIC, .status = status };

	send_attach(sock, &a, NULL, 0);
	close(sock);
}

static void attach(int sock, const struct vgpu_local_options *opt)
{
	struct local_session *s = NULL;
	struct vgpu_local_attach a = { .magic = VGPU_LOCAL_MAGIC };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int bar0_fd = -1, bar1_fd = -1, db = -1, irq = -1;
	struct vgpu_layout l;

	for (int i = 0; i < MAX_SESSIONS; i++)
		if (!sessions[i].used) {
			s = &sessions[i];
			break;
		}
	if (!s || vgpu_layout_compute(opt->bar1_size, 1, 0, &l)) {
		fprintf(stderr, "vgpu-executor: %s\n", s ? "bad BAR1 size" : "too many sessions");
		refuse(sock, 2 /* CUDA_ERROR_OUT_OF_MEMORY */);
		return;
	}
	memset(s, 0, sizeof(*s));
	bar0_fd = memfd_create("vgpu-bar0", MFD_CLOEXEC);
	bar1_fd = memfd_create("vgpu-bar1", MFD_CLOEXEC);
	db = eventfd(0, EFD_CLOEXEC);
	irq = eventfd(0, EFD_CLOEXEC);
	if (bar0_fd < 0 || bar1_fd < 0 || db < 0 || irq < 0 || ftruncate(bar0_fd, VGPU_BAR0_SIZE) ||
	    ftruncate(bar1_fd, (off_t)opt->bar1_size))
		goto fail;
	s->bar0 = mmap(NULL, VGPU_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, bar0_fd, 0);
	s->bar1 = mmap(NULL, opt->bar1_size, PROT_READ | PROT_WRITE, MAP_SHARED, bar1_fd, 0);
	if (s->bar0 == MAP_FAILED || s->bar1 == MAP_FAILED)
		goto fail;

	s->ch = (struct vgpu_worker_channel){
		.bar1 = s->bar1,
		.layout = l,
		.channel = 0,
		.doorbell_fd = db,
		.irq_fd = irq,
		.bar0_irq_status = &s->bar0[VGPU_REG_IRQ_STATUS / 4],
		.mem_quota = opt->mem_quota,
		.session_id = next_session_id++,
	};
	vgpu_layout_write_header(&l, s->ch.session_id, opt->mem_quota, s->bar1);
	bar0_init(s->bar0, opt->bar1_size, opt->mem_quota);

	s->worker = vgpu_worker_spawn(&s->ch, drop_other_sessions, s);
	if (s->worker < 0)
		goto fail;
	a.bar0_size = VGPU_BAR0_SIZE;
	a.bar1_size = opt->bar1_size;
	a.session_id = s->ch.session_id;
	a.channel = 0;
	if (send_attach(sock, &a, (int[]){ bar0_fd, bar1_fd, db, irq }, 4)) {
		kill(s->worker, SIGKILL);
		waitpid(s->worker, NULL, 0);
		goto fail;
	}
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		s->client_pid = cred.pid;
	close(bar0_fd);
	close(bar1_fd);
	close(db);
	s->sock = sock;
	s->irq_fd = irq;
	s->started = time(NULL);
	s->used = true;
	return;
fail:
	perror("vgpu-executor: attach");
	if (s->bar0 && s->bar0 != MAP_FAILED)
		munmap(s->bar0, VGPU_BAR0_SIZE);
	if (s->bar1 && s->bar1 != MAP_FAILED)
		munmap(s->bar1, opt->bar1_size);
	for (int fd, i = 0; i < 4; i++)
		if ((fd = (int[]){ bar0_fd, bar1_fd, db, irq }[i]) >= 0)
			close(fd);
	memset(s, 0, sizeof(*s));
	refuse(sock, 2);
}

static void status(int sock)
{
	char line[256];
	FILE *f = fdopen(sock, "w");
	int n = 0;

	if (!f) {
		close(sock);
		return;
	}
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct local_session *s = &sessions[i];
		struct vgpu_channel_ctrl *c;
		uint32_t st;

		if (!s->used)
			continue;
		c = vgpu_channel_ctrl(s->bar1, &s->ch.layout, 0);
		st = __atomic_load_n(&c->exec_state, __ATOMIC_ACQUIRE);
		char quota[32];

		if (s->ch.mem_quota)
			snprintf(quota, sizeof(quota), "%lu MiB", (unsigned long)(s->ch.mem_quota >> 20));
		else
			snprintf(quota, sizeof(quota), "the whole device");
		snprintf(line, sizeof(line),
			 "session %lu  client pid %d  worker pid %d  %s  up %lds  quota %s\n",
			 (unsigned long)s->ch.session_id, (int)s->client_pid, (int)s->worker,
			 s->worker <= 0 ? "ended" : st == VGPU_EXEC_SERVING ? "serving" : "closing",
			 (long)(time(NULL) - s->started), quota);
		fputs(line, f);
		n++;
	}
	if (!n)
		fputs("no sessions\n", f);
	fclose(f);
}

static void end_session(struct local_session *s, uint64_t bar1_size)
{
	if (s->worker > 0) {
		kill(s->worker, SIGKILL);
		waitpid(s->worker, NULL, 0);
	}
	close(s->sock);
	close(s->irq_fd);
	munmap(s->bar0, VGPU_BAR0_SIZE);
	munmap(s->bar1, bar1_size);
	memset(s, 0, sizeof(*s));
}

/* A worker ended: tell its guest, which may be waiting for an answer. */
static void worker_gone(pid_t pid, int wstatus)
{
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct local_session *s = &sessions[i];
		struct vgpu_channel_ctrl *c;
		uint64_t one = 1;

		if (!s->used || s->worker != pid)
			continue;
		s->worker = 0;
		c = vgpu_channel_ctrl(s->bar1, &s->ch.layout, 0);
		if (__atomic_load_n(&c->exec_state, __ATOMIC_ACQUIRE) != VGPU_EXEC_CLOSED) {
			fprintf(stderr, "vgpu-executor: session %lu: worker %d %s %d\n",
				(unsigned long)s->ch.session_id, (int)pid,
				WIFSIGNALED(wstatus) ? "killed by signal" : "exited with",
				WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus));
			__atomic_store_n(&c->exec_error, 46 /* CUDA_ERROR_DEVICE_UNAVAILABLE */,
					 __ATOMIC_RELEASE);
			__atomic_store_n(&c->exec_state, VGPU_EXEC_CLOSED, __ATOMIC_RELEASE);
		}
		__atomic_fetch_and(&s->bar0[VGPU_REG_STATUS / 4], ~VGPU_STATUS_EXECUTOR_READY,
				   __ATOMIC_RELEASE);
		if (write(s->irq_fd, &one, sizeof(one)) < 0)
			perror("vgpu-executor: interrupt");
	}
}

static int listen_on(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	/* A socket file nobody listens on is left over from a crash: replace it. */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
		fprintf(stderr, "vgpu-executor: an executor already listens on %s\n", path);
		close(fd);
		return -1;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || chmod(path, 0600) ||
	    listen(fd, 64)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void handle_request(int sock, const struct vgpu_local_options *opt)
{
	char req[16] = "";
	struct pollfd p = { .fd = sock, .events = POLLIN };
	ssize_t n = 0;

	/* A client says what it wants at once; one that does not is dropped. */
	if (poll(&p, 1, 2000) == 1)
		n = recv(sock, req, sizeof(req) - 1, 0);
	if (n == (ssize_t)strlen(VGPU_LOCAL_ATTACH) && !memcmp(req, VGPU_LOCAL_ATTACH, (size_t)n))
		attach(sock, opt);
	else if (n == (ssize_t)strlen(VGPU_LOCAL_STATUS) &&
		 !memcmp(req, VGPU_LOCAL_STATUS, (size_t)n))
		status(sock);
	else
		close(sock);
}

int vgpu_local_listen(const struct vgpu_local_options *opt)
{
	struct pollfd pfd[2 + MAX_SESSIONS];
	int idx[2 + MAX_SESSIONS];
	sigset_t mask;
	int lfd, sfd, rc = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(opt->socket_path);
	if (lfd < 0 || sfd < 0) {
		perror("vgpu-executor: listen");
		return 1;
	}
	if (opt->ready_fd >= 0) {
		if (write(opt->ready_fd, "ready\n", 6) != 6)
			perror("vgpu-executor: ready");
		close(opt->ready_fd);
	}

	for (;;) {
		int n = 0;

		pfd[n] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		idx[n++] = -1;
		pfd[n] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		idx[n++] = -2;
		for (int i = 0; i < MAX_SESSIONS; i++)
			if (sessions[i].used) {
				pfd[n] = (struct pollfd){ .fd = sessions[i].sock, .events = POLLIN };
				idx[n++] = i;
			}
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("vgpu-executor: poll");
			rc = 1;
			break;
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;
			int ws;
			pid_t pid;

			if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGCHLD)
				break;
			while ((pid = waitpid(-1, &ws, WNOHANG)) > 0)
				worker_gone(pid, ws);
		}
		for (int i = 2; i < n; i++) {
			/* Clients send nothing after attaching: data or EOF both end the session. */
			if (pfd[i].revents)
				end_session(&sessions[idx[i]], opt->bar1_size);
		}
		if (pfd[0].revents & POLLIN) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0)
				handle_request(c, opt);
		}
	}

	for (int i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].used)
			end_session(&sessions[i], opt->bar1_size);
	close(lfd);
	unlink(opt->socket_path);
	return rc;
}
