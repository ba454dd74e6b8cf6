// SPDX-License-Identifier: MIT
/* The parent's memory accounts and its links to workers (see quota_service.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "quota_service.h"

#define TAG_WAKE	0xffffffffffff0001ull
#define TAG_TIMER	0xffffffffffff0002ull
#define MSGS_PER_WAKE	64	/* one worker cannot keep the thread to itself */
#define MAX_SAMPLE	1024

struct account_node {
	struct vgpu_account a;
	uint32_t refs;		/* gets not yet put, and links */
	struct account_node *next;
};

struct link_slot {
	bool used;
	bool watched;		/* fd is in the epoll set */
	int fd;			/* the parent's end, non-blocking */
	int pidfd;		/* the worker, for a kill that cannot hit a reused pid */
	struct account_node *node;
	struct vgpu_account_link l;
	struct vgpu_log_limit log;
};

struct vgpu_quota_service {
	pthread_mutex_t lock;
	pthread_t thread;
	int ep, wake, timer;
	volatile int stop;
	struct vgpu_gpu_usage *usage;
	struct account_node *accounts;
	struct link_slot links[VGPU_QUOTA_MAX_LINKS];
	struct vgpu_pid_usage sample[MAX_SAMPLE];
};

static void unwatch(struct vgpu_quota_service *svc, struct link_slot *ls)
{
	if (!ls->watched)
		return;
	epoll_ctl(svc->ep, EPOLL_CTL_DEL, ls->fd, NULL);
	ls->watched = false;
}

/* A worker that broke the link's rules: it goes (the frontend reaps it and unlinks). */
static void kill_worker(struct vgpu_quota_service *svc, struct link_slot *ls, const char *why)
{
	uint32_t dropped;

	if (vgpu_log_allow(&ls->log, &dropped))
		vgpu_log_event("warn", "hostile_input",
			       "session=%lu account=%s what=%s action=kill suppressed=%u",
			       (unsigned long)ls->l.session_id, ls->node->a.name, why, dropped);
	unwatch(svc, ls);
	if (ls->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, ls->pidfd, SIGKILL, NULL, 0);
}

static void reply(struct vgpu_quota_service *svc, struct link_slot *ls, uint32_t op, int granted)
{
	struct vgpu_account *a = &ls->node->a;
	struct vgpu_acct_reply r = {
		.op = op,
		.granted = granted,
		.limit = a->limit,
		.used = vgpu_account_device_used(a),
		.staging_limit = a->staging_limit,
	};

	if (send(ls->fd, &r, sizeof(r), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(r))
		kill_worker(svc, ls, "control_unread");
}

static void handle(struct vgpu_quota_service *svc, struct link_slot *ls,
		   const struct vgpu_acct_msg *m)
{
	struct vgpu_account *a = &ls->node->a;

	switch (m->op) {
	case VGPU_ACCT_HELLO:
		ls->l.guest_pid = (uint32_t)m->arg;
		vgpu_account_resolve(a, m->bytes);
		reply(svc, ls, m->op, 1);
		break;
	case VGPU_ACCT_CHARGE:
		reply(svc, ls, m->op, vgpu_account_charge(&ls->l, m->kind, m->bytes));
		break;
	case VGPU_ACCT_RELEASE:
		vgpu_account_release(&ls->l, m->kind, m->bytes);
		break;
	case VGPU_ACCT_QUERY:
		reply(svc, ls, m->op, 1);
		break;
	default:
		kill_worker(svc, ls, "control_garbage");
	}
}

static void serve_link(struct vgpu_quota_service *svc, struct link_slot *ls)
{
	for (int i = 0; i < MSGS_PER_WAKE && ls->watched; i++) {
		struct vgpu_acct_msg m;
		ssize_t n = recv(ls->fd, &m, sizeof(m), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			/* The worker closed its end: its charges stay until it is reaped. */
			unwatch(svc, ls);
			return;
		}
		if (n != (ssize_t)sizeof(m)) {
			kill_worker(svc, ls, "control_garbage");
			return;
		}
		handle(svc, ls, &m);
	}
}

/* The driver's figures: each link's, each account's, and who is far over. */
static void reconcile(struct vgpu_quota_service *svc)
{
	int n = svc->usage->sample(svc->usage, svc->sample, MAX_SAMPLE);

	if (n < 0)
		return;
	for (struct account_node *an = svc->accounts; an; an = an->next)
		an->a.measured = 0;
	for (int i = 0; i < VGPU_QUOTA_MAX_LINKS; i++) {
		struct link_slot *ls = &svc->links[i];

		if (!ls->used)
			continue;
		ls->l.measured = 0;
		for (int j = 0; j < n && ls->l.pid; j++)
			if (svc->sample[j].pid == ls->l.pid)
				ls->l.measured = svc->sample[j].bytes;
		ls->node->a.measured += ls->l.measured;
	}
	for (struct account_node *an = svc->accounts; an; an = an->next) {
		struct link_slot *worst = NULL;

		if (!an->a.limit || an->a.measured <= an->a.limit + vgpu_account_slack(&an->a))
			continue;
		for (int i = 0; i < VGPU_QUOTA_MAX_LINKS; i++) {
			struct link_slot *ls = &svc->links[i];

			if (ls->used && ls->node == an && ls->pidfd >= 0 &&
			    (!worst || ls->l.measured > worst->l.measured))
				worst = ls;
		}
		if (!worst)
			continue;
		vgpu_log_event("warn", "quota_exceeded",
			       "account=%s source=%s measured=%lu limit=%lu session=%lu action=kill",
			       an->a.name, svc->usage->name, (unsigned long)an->a.measured,
			       (unsigned long)an->a.limit, (unsigned long)worst->l.session_id);
		unwatch(svc, worst);
		syscall(SYS_pidfd_send_signal, worst->pidfd, SIGKILL, NULL, 0);
	}
}

static void *service_thread(void *arg)
{
	struct vgpu_quota_service *svc = arg;
	struct epoll_event evs[64];
	sigset_t all;

	/* Signals are the frontend's: this thread takes none. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!svc->stop) {
		int n = epoll_wait(svc->ep, evs, 64, -1);

		if (n < 0 && errno != EINTR)
			break;
		pthread_mutex_lock(&svc->lock);
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64, v;

			if (tag == TAG_WAKE) {
				if (read(svc->wake, &v, sizeof(v)) < 0)
					continue;
			} else if (tag == TAG_TIMER) {
				if (read(svc->timer, &v, sizeof(v)) == sizeof(v))
					reconcile(svc);
			} else if (tag < VGPU_QUOTA_MAX_LINKS && svc->links[tag].used &&
				   svc->links[tag].watched) {
				serve_link(svc, &svc->links[tag]);
			}
		}
		pthread_mutex_unlock(&svc->lock);
	}
	return NULL;
}

struct vgpu_quota_service *vgpu_quota_service_start(struct vgpu_gpu_usage *usage)
{
	struct vgpu_quota_service *svc = calloc(1, sizeof(*svc));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!svc)
		return NULL;
	pthread_mutex_init(&svc->lock, NULL);
	svc->usage = usage;
	svc->timer = -1;
	svc->ep = epoll_create1(EPOLL_CLOEXEC);
	svc->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (svc->ep < 0 || svc->wake < 0)
		goto fail;
	ev.data.u64 = TAG_WAKE;
	if (epoll_ctl(svc->ep, EPOLL_CTL_ADD, svc->wake, &ev))
		goto fail;
	if (usage) {
		struct itimerspec its = {
			.it_interval = { VGPU_QUOTA_SAMPLE_MS / 1000, (VGPU_QUOTA_SAMPLE_MS % 1000) * 1000000 },
			.it_value = { VGPU_QUOTA_SAMPLE_MS / 1000, (VGPU_QUOTA_SAMPLE_MS % 1000) * 1000000 },
		};

		svc->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		ev.data.u64 = TAG_TIMER;
		if (svc->timer < 0 || timerfd_settime(svc->timer, 0, &its, NULL) ||
		    epoll_ctl(svc->ep, EPOLL_CTL_ADD, svc->timer, &ev))
			goto fail;
	}
	if (pthread_create(&svc->thread, NULL, service_thread, svc))
		goto fail;
	return svc;
fail:
	if (svc->timer >= 0)
		close(svc->timer);
	if (svc->wake >= 0)
		close(svc->wake);
	if (svc->ep >= 0)
		close(svc->ep);
	free(svc);
	return NULL;
}

void vgpu_quota_service_stop(struct vgpu_quota_service *svc)
{
	uint64_t one = 1;

	if (!svc)
		return;
	svc->stop = 1;
	if (write(svc->wake, &one, sizeof(one)) < 0)
		pthread_cancel(svc->thread);
	pthread_join(svc->thread, NULL);
	for (int i = 0; i < VGPU_QUOTA_MAX_LINKS; i++)
		if (svc->links[i].used)
			vgpu_quota_unlink(svc, i + 1);
	while (svc->accounts) {
		struct account_node *an = svc->accounts;

		svc->accounts = an->next;
		free(an);
	}
	if (svc->usage)
		svc->usage->close(svc->usage);
	if (svc->timer >= 0)
		close(svc->timer);
	close(svc->wake);
	close(svc->ep);
	free(svc);
}

static struct account_node *node_of(struct vgpu_account *a)
{
	return (struct account_node *)((char *)a - offsetof(struct account_node, a));
}

/* Drop one reference; the last frees the account (called with the lock). */
static void node_put(struct vgpu_quota_service *svc, struct account_node *an)
{
	if (--an->refs)
		return;
	for (struct account_node **p = &svc->accounts; *p; p = &(*p)->next)
		if (*p == an) {
			*p = an->next;
			break;
		}
	free(an);
}

struct vgpu_account *vgpu_quota_account_get(struct vgpu_quota_service *svc, const char *name,
					    uint64_t limit, uint32_t share,
					    uint64_t staging_limit)
{
	struct account_node *an;

	pthread_mutex_lock(&svc->lock);
	for (an = svc->accounts; an; an = an->next)
		if (!strncmp(an->a.name, name, sizeof(an->a.name) - 1))
			break;
	if (!an) {
		an = calloc(1, sizeof(*an));
		if (an) {
			vgpu_account_init(&an->a, name, limit, share, staging_limit);
			an->next = svc->accounts;
			svc->accounts = an;
		}
	}
	if (an)
		an->refs++;
	pthread_mutex_unlock(&svc->lock);
	return an ? &an->a : NULL;
}

void vgpu_quota_account_put(struct vgpu_quota_service *svc, struct vgpu_account *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&svc->lock);
	node_put(svc, node_of(a));
	pthread_mutex_unlock(&svc->lock);
}

int vgpu_quota_link(struct vgpu_quota_service *svc, struct vgpu_account *a,
		    uint64_t session_id, int *worker_fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int sv[2], id = -1;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -1;
	pthread_mutex_lock(&svc->lock);
	for (int i = 0; i < VGPU_QUOTA_MAX_LINKS; i++) {
		struct link_slot *ls = &svc->links[i];

		if (ls->used)
			continue;
		memset(ls, 0, sizeof(*ls));
		ls->fd = sv[0];
		ls->pidfd = -1;
		ls->node = node_of(a);
		ev.data.u64 = (uint64_t)i;
		if (fcntl(ls->fd, F_SETFL, O_NONBLOCK) || epoll_ctl(svc->ep, EPOLL_CTL_ADD, ls->fd, &ev))
			break;
		ls->used = true;
		ls->watched = true;
		ls->node->refs++;
		vgpu_account_attach(&ls->l, a, session_id);
		id = i + 1;
		break;
	}
	pthread_mutex_unlock(&svc->lock);
	if (id < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	*worker_fd = sv[1];
	return id;
}

static struct link_slot *slot(struct vgpu_quota_service *svc, int id)
{
	if (id < 1 || id > VGPU_QUOTA_MAX_LINKS || !svc->links[id - 1].used)
		return NULL;
	return &svc->links[id - 1];
}

void vgpu_quota_link_pid(struct vgpu_quota_service *svc, int id, pid_t pid)
{
	struct link_slot *ls;

	pthread_mutex_lock(&svc->lock);
	ls = slot(svc, id);
	if (ls) {
		ls->l.pid = pid;
		ls->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	}
	pthread_mutex_unlock(&svc->lock);
}

void vgpu_quota_unlink(struct vgpu_quota_service *svc, int id)
{
	struct link_slot *ls;

	pthread_mutex_lock(&svc->lock);
	ls = slot(svc, id);
	if (ls) {
		struct account_node *an = ls->node;

		unwatch(svc, ls);
		close(ls->fd);
		if (ls->pidfd >= 0)
			close(ls->pidfd);
		vgpu_account_detach(&ls->l);
		ls->used = false;
		node_put(svc, an);
	}
	pthread_mutex_unlock(&svc->lock);
}

bool vgpu_quota_view(struct vgpu_quota_service *svc, int id, struct vgpu_quota_view *out)
{
	struct link_slot *ls;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&svc->lock);
	ls = slot(svc, id);
	if (ls) {
		const struct vgpu_account *a = &ls->node->a;

		out->limit = a->limit;
		out->used = vgpu_account_device_used(a);
		for (uint32_t k = 0; k < VGPU_CHARGE_DEVICE_KINDS; k++)
			out->session += ls->l.charged[k];
		out->measured = ls->l.measured;
		out->guest_pid = ls->l.guest_pid;
		memcpy(out->account, a->name, sizeof(out->account));
	}
	pthread_mutex_unlock(&svc->lock);
	return ls != NULL;
}
