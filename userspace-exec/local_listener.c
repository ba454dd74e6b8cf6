// SPDX-License-Identifier: MIT
/*
 * The local transport: every client gets its own BAR0 and BAR1 in shared
 * memory (laid out exactly as the PCI device's), a doorbell and an interrupt
 * eventfd, and a worker process serving its channel.
 *
 * The parent is shared by every client, so nothing a client does may stop
 * or hurt it (decision 7):
 *  - it never maps guest memory: it formats BAR0 and BAR1 with pwrite before
 *    handing them out, seals them (no client can shrink or grow them), and
 *    later writes only the two words that tell a guest its session ended,
 *    with pwrite; it reads nothing of them, ever.  What it shows in STATUS is
 *    its own state, its accounts' and the worker's private stats page;
 *  - it never blocks on what a client can fill: one thread, one epoll set,
 *    every socket non-blocking, each connection given a deadline to say what
 *    it wants, answers sent as the socket takes them; it never writes the
 *    interrupt eventfd (closing the client's socket ends a session);
 *  - no client uid takes more than its share: pending connections and
 *    sessions are counted per SO_PEERCRED uid.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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
#include "log.h"
#include "vgpu/bar1.h"
#include "vgpu/local.h"
#include "vgpu/regs.h"
#include "worker.h"
#include "worker_stats.h"

#define MAX_SESSIONS	256
#define MAX_PENDING	256	/* connections of every uid together */
#define REQ_MAX		16	/* the longest request line, its newline included */

#define CUDA_ERROR_OUT_OF_MEMORY_	2	/* no session: the executor is at a limit */
#define CUDA_ERROR_DEVICE_UNAVAILABLE_	46	/* the worker is gone */

/* epoll tags: kind in the top 32 bits, slot below. */
enum tag_kind { TAG_LISTEN = 1, TAG_SIGNAL, TAG_PENDING, TAG_SESSION };
#define TAG(kind, i)	(((uint64_t)(kind) << 32) | (uint32_t)(i))

struct pending {
	bool used;
	int fd;
	uid_t uid;
	pid_t pid;
	uint64_t deadline_ns;
	char req[REQ_MAX];
	size_t len;
	char *out;		/* a STATUS answer being sent */
	size_t out_len, out_off;
};

struct local_session {
	bool used;
	bool ending;		/* the client left; the worker was killed and is being reaped */
	int sock;		/* the client's connection, -1 once closed */
	uid_t uid;
	pid_t client_pid;
	pid_t worker;
	int bar0_fd, bar1_fd;	/* for the end-of-session words; never mapped */
	struct vgpu_layout layout;
	uint64_t session_id;
	const struct vgpu_worker_stats *stats;
	struct vgpu_account *account;
	int link;		/* the worker's quota link, 0 if none */
	uint64_t started_ns;
	uint64_t calls_then, calls_rate;	/* the last second's sample */
};

static struct local_session sessions[MAX_SESSIONS];
static struct pending pendings[MAX_PENDING];
static uint64_t next_session_id = 1;
static int ep = -1;
static struct vgpu_log_limit refusal_log;

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void refused(const char *why, uid_t uid, pid_t pid)
{
	uint32_t dropped;

	if (vgpu_log_allow(&refusal_log, &dropped))
		vgpu_log_event("warn", "refused", "reason=%s uid=%u pid=%d suppressed=%u", why,
			       (unsigned int)uid, (int)pid, dropped);
}

/* ---- shared memory the parent writes and never maps ---- */

static int put(int fd, const void *p, size_t len, off_t off)
{
	return pwrite(fd, p, len, off) == (ssize_t)len ? 0 : -1;
}

/* Format BAR0 and BAR1 (before anyone else has them) and seal both. */
static int format_bars(int bar0_fd, int bar1_fd, const struct vgpu_layout *l, uint64_t id,
		       uint64_t quota)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	uint32_t regs[VGPU_REG_COUNT] = { 0 };
	struct vgpu_bar1_header h;

	regs[VGPU_REG_MAGIC / 4] = VGPU_MAGIC;
	regs[VGPU_REG_VERSION / 4] = VGPU_VERSION_VALUE(VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR);
	regs[VGPU_REG_FEATURES / 4] = VGPU_FEATURE_DOORBELL_SUPPRESSION;
	regs[VGPU_REG_BAR1_SIZE_LO / 4] = (uint32_t)l->bar1_size;
	regs[VGPU_REG_BAR1_SIZE_HI / 4] = (uint32_t)(l->bar1_size >> 32);
	regs[VGPU_REG_FB_SIZE_LO / 4] = (uint32_t)quota;
	regs[VGPU_REG_FB_SIZE_HI / 4] = (uint32_t)(quota >> 32);
	regs[VGPU_REG_STATUS / 4] = VGPU_STATUS_EXECUTOR_READY;
	vgpu_layout_write_header(l, id, quota, &h);
	if (ftruncate(bar0_fd, VGPU_BAR0_SIZE) || ftruncate(bar1_fd, (off_t)l->bar1_size) ||
	    put(bar0_fd, regs, sizeof(regs), 0) || put(bar1_fd, &h, sizeof(h), 0))
		return -1;
	return fcntl(bar0_fd, F_ADD_SEALS, seals) || fcntl(bar1_fd, F_ADD_SEALS, seals) ? -1 : 0;
}

/* Tell the guest its session is over: the channel CLOSED, the executor not READY. */
static void mark_closed(struct local_session *s)
{
	off_t ctrl = (off_t)s->layout.channel_offset;
	uint32_t err = CUDA_ERROR_DEVICE_UNAVAILABLE_, state = VGPU_EXEC_CLOSED, status = 0;

	put(s->bar1_fd, &err, sizeof(err), ctrl + (off_t)offsetof(struct vgpu_channel_ctrl, exec_error));
	put(s->bar1_fd, &state, sizeof(state),
	    ctrl + (off_t)offsetof(struct vgpu_channel_ctrl, exec_state));
	put(s->bar0_fd, &status, sizeof(status), VGPU_REG_STATUS);
}

/* ---- connections that have not said what they want ---- */

static uint32_t pending_of(uid_t uid)
{
	uint32_t n = 0;

	for (int i = 0; i < MAX_PENDING; i++)
		n += pendings[i].used && pendings[i].uid == uid;
	return n;
}

static uint32_t sessions_of(uid_t uid)
{
	uint32_t n = 0;

	for (int i = 0; i < MAX_SESSIONS; i++)
		n += sessions[i].used && sessions[i].uid == uid;
	return n;
}

static void pending_close(struct pending *p)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
	close(p->fd);
	free(p->out);
	memset(p, 0, sizeof(*p));
}

static void accept_all(int lfd, const struct vgpu_local_options *opt)
{
	/* A bounded batch: the loop comes back for the rest. */
	for (int k = 0; k < 64; k++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct ucred cred = { 0, (uid_t)-1, (gid_t)-1 };
		socklen_t cl = sizeof(cred);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		struct pending *p = NULL;

		if (fd < 0)
			return;	/* EAGAIN, or out of descriptors: the backlog waits */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl)) {
			close(fd);
			continue;
		}
		for (int i = 0; i < MAX_PENDING && !p; i++)
			if (!pendings[i].used)
				p = &pendings[i];
		if (!p || pending_of(cred.uid) >= opt->max_pending_per_uid) {
			refused(p ? "pending_per_uid" : "pending", cred.uid, cred.pid);
			close(fd);
			continue;
		}
		*p = (struct pending){ .used = true, .fd = fd, .uid = cred.uid, .pid = cred.pid,
				       .deadline_ns = now_ns() +
						      (uint64_t)opt->request_timeout_ms * 1000000 };
		ev.data.u64 = TAG(TAG_PENDING, p - pendings);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			pending_close(p);
	}
}

/* ---- sessions ---- */

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
	/* The first message on a fresh connection: it fits its socket, so this never waits. */
	return sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(*a) ? 0 : -1;
}

static void refuse(int sock, int status)
{
	struct vgpu_local_attach a = { .magic = VGPU_LOCAL_MAGIC, .status = status };

	send_attach(sock, &a, NULL, 0);
}

/* Give back what a session held once its worker is gone (or never ran). */
static void session_free(struct local_session *s, struct vgpu_quota_service *q)
{
	if (s->sock >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->sock, NULL);
		close(s->sock);
	}
	if (s->link && q)
		vgpu_quota_unlink(q, s->link);
	if (s->account && q)
		vgpu_quota_account_put(q, s->account);
	vgpu_worker_stats_unmap(s->stats);
	if (s->bar0_fd >= 0)
		close(s->bar0_fd);
	if (s->bar1_fd >= 0)
		close(s->bar1_fd);
	memset(s, 0, sizeof(*s));
}

static void account_name(char *out, size_t len, const struct vgpu_local_options *opt,
			 uid_t uid, uint64_t id)
{
	if (opt->quota_group == VGPU_QUOTA_PER_UID)
		snprintf(out, len, "local-uid-%u", (unsigned int)uid);
	else
		snprintf(out, len, "local-%lu", (unsigned long)id);
}

static void attach(struct pending *p, const struct vgpu_local_options *opt)
{
	struct vgpu_local_attach a = { .magic = VGPU_LOCAL_MAGIC };
	int db = -1, irq = -1, control = -1, stats_fd = -1;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct local_session *s = NULL;
	struct vgpu_worker_channel ch;
	char name[64];
	int sock = p->fd;

	for (int i = 0; i < MAX_SESSIONS && !s; i++)
		if (!sessions[i].used)
			s = &sessions[i];
	if (!s || sessions_of(p->uid) >= opt->max_sessions_per_uid) {
		refused(s ? "sessions_per_uid" : "sessions", p->uid, p->pid);
		refuse(sock, CUDA_ERROR_OUT_OF_MEMORY_);
		pending_close(p);
		return;
	}
	memset(s, 0, sizeof(*s));
	s->bar0_fd = s->bar1_fd = s->sock = -1;
	s->uid = p->uid;
	s->client_pid = p->pid;
	s->session_id = next_session_id++;
	/* The pinned-memory heap comes on top of the channel's memory. */
	if (opt->heap_size > UINT64_MAX - opt->bar1_size ||
	    vgpu_layout_compute(opt->bar1_size + opt->heap_size, 1, opt->heap_size, &s->layout))
		goto fail;
	s->bar0_fd = memfd_create("vgpu-bar0", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	s->bar1_fd = memfd_create("vgpu-bar1", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	/* The parent never writes these; non-blocking all the same, for the worker. */
	db = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->bar0_fd < 0 || s->bar1_fd < 0 || db < 0 || irq < 0)
		goto fail;
	if (opt->quota) {
		account_name(name, sizeof(name), opt, p->uid, s->session_id);
		s->account = vgpu_quota_account_get(opt->quota, name, opt->mem_limit,
						    opt->mem_limit ? 0 : opt->mem_share,
						    opt->staging_limit);
		if (!s->account)
			goto fail;
		s->link = vgpu_quota_link(opt->quota, s->account, s->session_id, &control);
		if (s->link < 0) {
			s->link = 0;
			goto fail;
		}
	}
	s->stats = vgpu_worker_stats_create(&stats_fd);
	if (!s->stats ||
	    format_bars(s->bar0_fd, s->bar1_fd, &s->layout, s->session_id, opt->mem_limit))
		goto fail;

	ch = (struct vgpu_worker_channel){
		.layout = s->layout,
		.channel = 0,
		.bar1_fd = s->bar1_fd,
		.bar0_fd = s->bar0_fd,
		.doorbell_fd = db,
		.irq_fd = irq,
		.control_fd = control,
		.stats_fd = stats_fd,
		.mem_quota = opt->mem_limit,
		.session_id = s->session_id,
	};
	s->worker = vgpu_worker_spawn(&ch, NULL, NULL);
	if (s->worker < 0) {
		s->worker = 0;
		goto fail;
	}
	if (s->link)
		vgpu_quota_link_pid(opt->quota, s->link, s->worker);
	a.bar0_size = VGPU_BAR0_SIZE;
	a.bar1_size = s->layout.bar1_size;
	a.session_id = s->session_id;
	a.channel = 0;
	s->used = true;
	s->started_ns = now_ns();
	if (send_attach(sock, &a, (int[]){ s->bar0_fd, s->bar1_fd, db, irq }, 4)) {
		/* The client went already: the worker goes too, and is reaped. */
		kill(s->worker, SIGKILL);
		s->ending = true;
		pending_close(p);
	} else {
		/* The connection is the session's now. */
		ev.data.u64 = TAG(TAG_SESSION, s - sessions);
		epoll_ctl(ep, EPOLL_CTL_MOD, sock, &ev);
		s->sock = sock;
		p->fd = -1;
		free(p->out);
		memset(p, 0, sizeof(*p));
		vgpu_log_event("info", "session_start",
			       "session=%lu instance=%s uid=%u pid=%d worker=%d",
			       (unsigned long)s->session_id,
			       s->account ? s->account->name : "none", (unsigned int)s->uid,
			       (int)s->client_pid, (int)s->worker);
	}
	close(db);
	close(irq);
	close(control);
	close(stats_fd);
	return;
fail:
	vgpu_log_event("error", "attach_failed", "uid=%u pid=%d errno=%d", (unsigned int)p->uid,
		       (int)p->pid, errno);
	for (int i = 0, f[] = { db, irq, control, stats_fd }; i < 4; i++)
		if (f[i] >= 0)
			close(f[i]);
	refuse(sock, CUDA_ERROR_OUT_OF_MEMORY_);
	pending_close(p);
	session_free(s, opt->quota);
}

/* The client left (or sent something after ATTACH): its worker goes. */
static void end_session(struct local_session *s)
{
	if (s->ending)
		return;
	s->ending = true;
	if (s->worker > 0)
		kill(s->worker, SIGKILL);
	epoll_ctl(ep, EPOLL_CTL_DEL, s->sock, NULL);
	close(s->sock);
	s->sock = -1;
}

/* A worker was reaped: its session is over, whoever ended it. */
static void worker_gone(pid_t pid, int wstatus, struct vgpu_quota_service *q)
{
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct local_session *s = &sessions[i];
		uint64_t calls;

		if (!s->used || s->worker != pid)
			continue;
		calls = s->stats ? __atomic_load_n(&s->stats->calls, __ATOMIC_RELAXED) : 0;
		if (!s->ending)
			mark_closed(s);	/* the guest may be waiting: it gets an error */
		vgpu_log_event(s->ending || (WIFEXITED(wstatus) && !WEXITSTATUS(wstatus)) ? "info"
											 : "warn",
			       "session_end",
			       "session=%lu reason=%s status=%d seconds=%lu calls=%lu",
			       (unsigned long)s->session_id,
			       s->ending ? "client_left"
			       : WIFSIGNALED(wstatus) ? "worker_killed"
			       : WEXITSTATUS(wstatus) == 0 ? "goodbye"
			       : WEXITSTATUS(wstatus) == 2 ? "hostile_input"
							   : "worker_failed",
			       WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : WEXITSTATUS(wstatus),
			       (unsigned long)((now_ns() - s->started_ns) / 1000000000ull),
			       (unsigned long)calls);
		session_free(s, q);
		return;
	}
}

/* ---- STATUS ---- */

static void append(char **buf, size_t *len, size_t *cap, const char *line)
{
	size_t n = strlen(line);

	if (*len + n + 1 > *cap) {
		size_t c = (*cap ? *cap * 2 : 4096) + n;
		char *b = realloc(*buf, c);

		if (!b)
			return;
		*buf = b;
		*cap = c;
	}
	memcpy(*buf + *len, line, n + 1);
	*len += n;
}

static char *status_text(struct vgpu_quota_service *q, size_t *out_len)
{
	char *buf = NULL, line[512], gpu[32];
	size_t len = 0, cap = 0;
	uint64_t now = now_ns();

	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct local_session *s = &sessions[i];
		struct vgpu_quota_view v = { 0 };
		uint64_t calls, gns;

		if (!s->used)
			continue;
		if (s->link && q)
			vgpu_quota_view(q, s->link, &v);
		calls = __atomic_load_n(&s->stats->calls, __ATOMIC_RELAXED);
		gns = __atomic_load_n(&s->stats->gpu_time_ns, __ATOMIC_RELAXED);
		if (gns)
			snprintf(gpu, sizeof(gpu), "%.3fs", (double)gns / 1e9);
		else
			snprintf(gpu, sizeof(gpu), "-");
		snprintf(line, sizeof(line),
			 "session %lu  instance %s  client pid %d uid %u  guest pid %u  worker pid %d"
			 "  %s  up %lus  mem %lu MiB of %lu MiB (instance %lu MiB)  calls %lu (%lu/s)"
			 "  gpu %s\n",
			 (unsigned long)s->session_id, v.account[0] ? v.account : "none",
			 (int)s->client_pid, (unsigned int)s->uid, v.guest_pid, (int)s->worker,
			 s->ending ? "ending" : "serving",
			 (unsigned long)((now - s->started_ns) / 1000000000ull),
			 (unsigned long)(v.session >> 20), (unsigned long)(v.limit >> 20),
			 (unsigned long)(v.used >> 20), (unsigned long)calls,
			 (unsigned long)s->calls_rate, gpu);
		append(&buf, &len, &cap, line);
	}
	if (!len)
		append(&buf, &len, &cap, "no sessions\n");
	*out_len = len;
	return buf;
}

/* Send what the socket takes now; true when all of it went (or the client is gone). */
static bool status_send(struct pending *p)
{
	while (p->out_off < p->out_len) {
		ssize_t n = send(p->fd, p->out + p->out_off, p->out_len - p->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno != EAGAIN;
		p->out_off += (size_t)n;
	}
	return true;
}

static void request(struct pending *p, const struct vgpu_local_options *opt)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = TAG(TAG_PENDING, p - pendings) };
	ssize_t n = recv(p->fd, p->req + p->len, sizeof(p->req) - 1 - p->len, MSG_DONTWAIT);
	char *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		pending_close(p);
		return;
	}
	p->len += (size_t)n;
	p->req[p->len] = '\0';
	nl = memchr(p->req, '\n', p->len);
	if (!nl) {
		if (p->len >= sizeof(p->req) - 1) {
			refused("bad_request", p->uid, p->pid);
			pending_close(p);
		}
		return;	/* the rest is still on its way */
	}
	if (p->len == strlen(VGPU_LOCAL_ATTACH) && !memcmp(p->req, VGPU_LOCAL_ATTACH, p->len)) {
		attach(p, opt);
	} else if (p->len == strlen(VGPU_LOCAL_STATUS) &&
		   !memcmp(p->req, VGPU_LOCAL_STATUS, p->len)) {
		p->out = status_text(opt->quota, &p->out_len);
		if (!p->out || status_send(p))
			pending_close(p);
		else
			epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &ev);
	} else {
		refused("bad_request", p->uid, p->pid);
		pending_close(p);
	}
}

/* ---- the loop ---- */

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
	    listen(fd, 128) || fcntl(fd, F_SETFL, O_NONBLOCK)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Once a second: connections past their deadline go, call rates are sampled. */
static void tick(void)
{
	uint64_t now = now_ns();

	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &pendings[i];

		if (p->used && now > p->deadline_ns) {
			if (!p->out)
				refused("request_timeout", p->uid, p->pid);
			pending_close(p);
		}
	}
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct local_session *s = &sessions[i];
		uint64_t calls;

		if (!s->used || !s->stats)
			continue;
		calls = __atomic_load_n(&s->stats->calls, __ATOMIC_RELAXED);
		s->calls_rate = calls >= s->calls_then ? calls - s->calls_then : 0;
		s->calls_then = calls;
	}
}

static int stop_all(int lfd, const struct vgpu_local_options *opt)
{
	int left = 0;

	for (int i = 0; i < MAX_PENDING; i++)
		if (pendings[i].used)
			pending_close(&pendings[i]);
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].used) {
			end_session(&sessions[i]);
			left++;
		}
	/* Killed workers die in their own time; the executor waits for each. */
	while (left > 0) {
		int ws;
		pid_t pid = waitpid(-1, &ws, 0);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;
		worker_gone(pid, ws, opt->quota);
		left--;
	}
	close(lfd);
	unlink(opt->socket_path);
	return 0;
}

int vgpu_local_listen(const struct vgpu_local_options *opt)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[64];
	uint64_t last_tick = now_ns();
	sigset_t mask;
	int lfd, sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(opt->socket_path);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || sfd < 0 || ep < 0) {
		perror("vgpu-executor: listen");
		return 1;
	}
	ev.data.u64 = TAG(TAG_LISTEN, 0);
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.u64 = TAG(TAG_SIGNAL, 0);
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	vgpu_log_event("info", "listening", "socket=%s",
		       vgpu_log_str((char[256]){ 0 }, 256, opt->socket_path));
	if (opt->ready_fd >= 0) {
		if (write(opt->ready_fd, "ready\n", 6) != 6)
			perror("vgpu-executor: ready");
		close(opt->ready_fd);
	}

	for (;;) {
		int n = epoll_wait(ep, evs, 64, 200);

		if (n < 0 && errno != EINTR) {
			perror("vgpu-executor: epoll");
			break;
		}
		for (int i = 0; i < n; i++) {
			uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32);
			uint32_t slot = (uint32_t)evs[i].data.u64;

			if (kind == TAG_LISTEN) {
				accept_all(lfd, opt);
			} else if (kind == TAG_SIGNAL) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					int ws;
					pid_t pid;

					if (si.ssi_signo != SIGCHLD)
						return stop_all(lfd, opt);
					while ((pid = waitpid(-1, &ws, WNOHANG)) > 0)
						worker_gone(pid, ws, opt->quota);
				}
			} else if (kind == TAG_PENDING && slot < MAX_PENDING && pendings[slot].used) {
				struct pending *p = &pendings[slot];

				if (p->out) {
					if (status_send(p))
						pending_close(p);
				} else {
					request(p, opt);
				}
			} else if (kind == TAG_SESSION && slot < MAX_SESSIONS && sessions[slot].used) {
				/* Clients send nothing after attaching: data or EOF both end it. */
				end_session(&sessions[slot]);
			}
		}
		if (now_ns() - last_tick >= 1000000000ull) {
			last_tick = now_ns();
			tick();
		} else {
			/* Deadlines are checked on time even while the loop is busy. */
			for (int i = 0; i < MAX_PENDING; i++)
				if (pendings[i].used && now_ns() > pendings[i].deadline_ns) {
					tick();
					break;
				}
		}
	}
	stop_all(lfd, opt);
	return 1;
}
