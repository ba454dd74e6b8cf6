// SPDX-License-Identifier: MIT
/*
 * The executor's frontend for vgpu_stub.ko (see mdev_frontend.h).
 *
 * One thread, one epoll set: the control fd (events), a stop fd, and the
 * doorbell eventfds of channels that have no worker yet.  A doorbell on such
 * a channel starts its worker, which then owns the eventfd; when a worker
 * exits, its channel waits for the next doorbell again.
 */
#include "mdev_frontend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "quota_service.h"
#include "vgpu/bar1.h"
#include "vgpu/kmod_uapi.h"
#include "vgpu/regs.h"
#include "vgpu/ring.h"
#include "worker.h"

#define FE_MAX_INSTANCES	256

/* epoll data: kind in the top byte, instance and channel below. */
#define FE_TAG_CTL		1ull
#define FE_TAG_STOP		2ull
#define FE_TAG_DOORBELL		3ull
#define FE_TAG(kind, inst, ch)	(((uint64_t)(kind) << 56) | ((uint64_t)(inst) << 8) | (ch))

struct fe_chan {
	int db_fd;		/* eventfd registered as this channel's doorbell */
	pid_t pid;		/* its worker, 0 if none */
	int link;		/* its worker's link to the instance's account, 0 if none */
	bool watched;		/* db_fd is in the frontend's epoll set */
};

struct fe_inst {
	bool serving;
	uint32_t id;
	int fd;			/* instance fd */
	int irq_fd;		/* irqfd: workers write it to interrupt the guest */
	void *bar1;
	struct vgpu_kmod_instance_info info;
	struct vgpu_layout layout;
	struct vgpu_account *account;	/* every channel's: the quota is the instance's */
	struct fe_chan ch[VGPU_MAX_CHANNELS];
};

struct fe {
	const struct vgpu_mdev_frontend_opts *opts;
	const struct vgpu_kmod_io *io;
	const char *path;
	int ctl;
	int ep;
	uint64_t next_session;
	struct fe_inst inst[FE_MAX_INSTANCES];
};

#define LOG(fe, ...)							\
	do {								\
		if ((fe)->opts->verbose)				\
			fprintf(stderr, "vgpu-mdev: " __VA_ARGS__);	\
	} while (0)

static void fe_warn(const char *what, uint32_t id)
{
	fprintf(stderr, "vgpu-mdev: instance %" PRIu32 ": %s: %s\n", id, what, strerror(errno));
}

static void fe_watch(struct fe *fe, struct fe_inst *in, uint32_t c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = FE_TAG(FE_TAG_DOORBELL, in->id, c) };

	if (in->ch[c].watched || in->ch[c].db_fd < 0)
		return;
	if (epoll_ctl(fe->ep, EPOLL_CTL_ADD, in->ch[c].db_fd, &ev) == 0)
		in->ch[c].watched = true;
}

static void fe_unwatch(struct fe *fe, struct fe_inst *in, uint32_t c)
{
	if (!in->ch[c].watched)
		return;
	epoll_ctl(fe->ep, EPOLL_CTL_DEL, in->ch[c].db_fd, NULL);
	in->ch[c].watched = false;
}

/* A worker is gone: what it held goes back to its instance's account. */
static void fe_unlink(struct fe *fe, struct fe_chan *ch)
{
	if (ch->link && fe->opts->quota)
		vgpu_quota_unlink(fe->opts->quota, ch->link);
	ch->link = 0;
}

static void fe_kill_worker(struct fe *fe, struct fe_chan *ch)
{
	if (ch->pid <= 0)
		return;
	kill(ch->pid, SIGKILL);
	while (waitpid(ch->pid, NULL, 0) < 0 && errno == EINTR)
		;
	ch->pid = 0;
	fe_unlink(fe, ch);
}

/* Stop serving: workers, READY, doorbells, irqfd, mapping, instance fd. */
static void fe_teardown(struct fe *fe, struct fe_inst *in)
{
	struct vgpu_kmod_status st = { .value = 0, .mask = VGPU_STATUS_EXECUTOR_READY };
	uint32_t c;

	if (!in->serving)
		return;
	for (c = 0; c < VGPU_MAX_CHANNELS; c++) {
		fe_unwatch(fe, in, c);
		fe_kill_worker(fe, &in->ch[c]);
	}
	if (in->account && fe->opts->quota)
		vgpu_quota_account_put(fe->opts->quota, in->account);
	in->account = NULL;
	/* Fails harmlessly on a removed instance: closing the fd clears it too. */
	fe->io->ioctl(in->fd, VGPU_KMOD_SET_STATUS, &st);
	for (c = 0; c < VGPU_MAX_CHANNELS; c++) {
		if (in->ch[c].db_fd >= 0)
			close(in->ch[c].db_fd);
		in->ch[c].db_fd = -1;
	}
	if (in->irq_fd >= 0)
		close(in->irq_fd);
	if (in->bar1)
		munmap(in->bar1, in->info.bar1_size);
	close(in->fd);
	in->irq_fd = -1;
	in->bar1 = NULL;
	in->fd = -1;
	in->serving = false;
	LOG(fe, "instance %" PRIu32 ": stopped serving\n", in->id);
}

/* Zero BAR1, write the header, make every channel ask for a doorbell. */
static void fe_format(struct fe *fe, struct fe_inst *in)
{
	struct timespec ts;
	uint64_t gen;
	uint32_t c;

	clock_gettime(CLOCK_REALTIME, &ts);
	gen = ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^ ++fe->next_session;
	memset(in->bar1, 0, in->info.bar1_size);
	for (c = 0; c < in->layout.channel_count; c++)
		vgpu_store32(&vgpu_channel_ctrl(in->bar1, &in->layout, c)->sq_need_doorbell, 1);
	vgpu_layout_write_header(&in->layout, gen, in->info.fb_size, in->bar1);
}

static int fe_setup(struct fe *fe, uint32_t id)
{
	struct vgpu_kmod_open_instance oi = { .instance = id };
	struct vgpu_kmod_status st = {
		.value = VGPU_STATUS_EXECUTOR_READY, .mask = VGPU_STATUS_EXECUTOR_READY,
	};
	struct vgpu_kmod_eventfd efd;
	struct fe_inst *in;
	uint32_t c;

	if (id >= FE_MAX_INSTANCES)
		return -1;
	in = &fe->inst[id];
	if (in->serving)
		return 0;
	memset(in, 0, sizeof(*in));
	in->id = id;
	in->irq_fd = -1;
	for (c = 0; c < VGPU_MAX_CHANNELS; c++)
		in->ch[c].db_fd = -1;
	in->fd = fe->io->ioctl(fe->ctl, VGPU_KMOD_OPEN_INSTANCE, &oi);
	if (in->fd < 0) {
		fe_warn("open", id);
		return -1;
	}
	in->serving = true;
	if (fe->io->ioctl(in->fd, VGPU_KMOD_INST_INFO, &in->info) < 0) {
		fe_warn("info", id);
		goto fail;
	}
	if (vgpu_layout_compute(in->info.bar1_size,
				vgpu_layout_default_channels(in->info.bar1_size), 0,
				&in->layout) < 0) {
		errno = EINVAL;
		fe_warn("layout", id);
		goto fail;
	}
	in->bar1 = fe->io->mmap_bar1(in->fd, in->info.bar1_size);
	if (in->bar1 == MAP_FAILED) {
		in->bar1 = NULL;
		fe_warn("mmap", id);
		goto fail;
	}
	in->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	efd.index = VGPU_IRQ_COMPLETION;
	efd.fd = in->irq_fd;
	if (in->irq_fd < 0 || fe->io->ioctl(in->fd, VGPU_KMOD_SET_IRQFD, &efd) < 0) {
		fe_warn("irqfd", id);
		goto fail;
	}
	fe_format(fe, in);
	for (c = 0; c < in->layout.channel_count; c++) {
		in->ch[c].db_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		efd.index = c;
		efd.fd = in->ch[c].db_fd;
		if (efd.fd < 0 || fe->io->ioctl(in->fd, VGPU_KMOD_SET_DOORBELL, &efd) < 0) {
			fe_warn("doorbell", id);
			goto fail;
		}
		fe_watch(fe, in, c);
	}
	if (fe->io->ioctl(in->fd, VGPU_KMOD_SET_STATUS, &st) < 0) {
		fe_warn("status", id);
		goto fail;
	}
	LOG(fe, "instance %" PRIu32 ": serving %" PRIu32 " channels, BAR1 %" PRIu64
	    " MiB, vm_id %" PRIu32 "\n", id, in->layout.channel_count,
	    (uint64_t)in->info.bar1_size >> 20, in->info.vm_id);
	return 0;
fail:
	fe_teardown(fe, in);
	return -1;
}

struct fe_child {
	struct fe *fe;
	uint32_t keep;
};

/* In the worker, before it serves: drop every other guest's BAR1. */
static void fe_in_child(void *arg)
{
	const struct fe_child *ch = arg;
	uint32_t i;

	for (i = 0; i < FE_MAX_INSTANCES; i++) {
		struct fe_inst *in = &ch->fe->inst[i];

		if (i != ch->keep && in->bar1)
			munmap(in->bar1, in->info.bar1_size);
	}
}

static void fe_start_worker(struct fe *fe, struct fe_inst *in, uint32_t c)
{
	struct fe_child child = { .fe = fe, .keep = in->id };
	struct vgpu_worker_channel wc = {
		.bar1 = in->bar1,
		.bar1_fd = in->fd,	/* the worker maps BAR1 itself */
		.bar0_fd = -1,
		.control_fd = -1,
		.stats_fd = -1,
		.layout = in->layout,
		.channel = c,
		.doorbell_fd = in->ch[c].db_fd,
		.irq_fd = in->irq_fd,
		.bar0_irq_status = NULL,	/* the kernel's irqfd sets IRQ_STATUS */
		.mem_quota = in->info.fb_size,
		.session_id = ++fe->next_session,
		.libcuda_path = fe->opts->libcuda_path,
	};
	struct vgpu_quota_service *q = fe->opts->quota;
	char name[64];
	int link = 0;
	pid_t pid;

	if (!in->serving || c >= in->layout.channel_count || in->ch[c].pid > 0)
		return;
	/* One account per instance, its framebuffer the limit, shared by all its channels. */
	if (q && !in->account) {
		snprintf(name, sizeof(name), "vm-%" PRIu32 "-%" PRIu32, in->id, in->info.vm_id);
		in->account = vgpu_quota_account_get(q, name, in->info.fb_size, 0,
						     vgpu_worker_config()->image_memory);
	}
	if (q && in->account) {
		link = vgpu_quota_link(q, in->account, wc.session_id, &wc.control_fd);
		if (link < 0) {
			fe_warn("quota link", in->id);
			return;
		}
	}
	pid = vgpu_worker_spawn(&wc, fe_in_child, &child);
	if (wc.control_fd >= 0)
		close(wc.control_fd);
	if (pid < 0) {
		fe_warn("worker", in->id);
		if (link)
			vgpu_quota_unlink(q, link);
		return;
	}
	if (link)
		vgpu_quota_link_pid(q, link, pid);
	in->ch[c].link = link;
	in->ch[c].pid = pid;
	fe_unwatch(fe, in, c);	/* the worker owns the doorbell now */
	LOG(fe, "instance %" PRIu32 " channel %" PRIu32 ": worker %d\n", in->id, c, (int)pid);
}

/* Workers that exited free their channel for the next doorbell. */
static void fe_reap(struct fe *fe)
{
	uint32_t i, c;
	int status;

	for (i = 0; i < FE_MAX_INSTANCES; i++) {
		struct fe_inst *in = &fe->inst[i];

		if (!in->serving)
			continue;
		for (c = 0; c < in->layout.channel_count; c++) {
			pid_t r;

			if (in->ch[c].pid <= 0)
				continue;
			/* ECHILD: reaped by someone else, gone all the same. */
			status = 0;
			r = waitpid(in->ch[c].pid, &status, WNOHANG);
			if (r == 0 || (r < 0 && errno != ECHILD))
				continue;
			LOG(fe, "instance %" PRIu32 " channel %" PRIu32 ": worker exited (%d)\n",
			    i, c, status);
			in->ch[c].pid = 0;
			fe_unlink(fe, &in->ch[c]);
			vgpu_store32(&vgpu_channel_ctrl(in->bar1, &in->layout, c)->sq_need_doorbell, 1);
			fe_watch(fe, in, c);
			/* Work published before the re-arm must not wait for a doorbell. */
			vgpu_full_fence();
			if (vgpu_load_acquire(&vgpu_channel_ctrl(in->bar1, &in->layout, c)->sq_reserve) !=
			    vgpu_load_acquire(&vgpu_channel_ctrl(in->bar1, &in->layout, c)->sq_head))
				fe_start_worker(fe, in, c);
		}
	}
}

static int fe_open_ctl(struct fe *fe)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = FE_TAG(FE_TAG_CTL, 0, 0) };
	struct vgpu_kmod_version v;

	fe->ctl = fe->io->open(fe->path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fe->ctl < 0) {
		fprintf(stderr, "vgpu-mdev: %s: %s (is vgpu_stub loaded, are we root?)\n",
			fe->path, strerror(errno));
		return -1;
	}
	if (fe->io->ioctl(fe->ctl, VGPU_KMOD_GET_VERSION, &v) < 0 ||
	    v.abi_version != VGPU_KMOD_ABI_VERSION ||
	    v.event_size != sizeof(struct vgpu_kmod_event)) {
		fprintf(stderr, "vgpu-mdev: %s: kernel ABI mismatch\n", fe->path);
		close(fe->ctl);
		return -1;
	}
	if (epoll_ctl(fe->ep, EPOLL_CTL_ADD, fe->ctl, &ev) < 0) {
		close(fe->ctl);
		return -1;
	}
	return 0;
}

static void fe_teardown_all(struct fe *fe)
{
	uint32_t i;

	for (i = 0; i < FE_MAX_INSTANCES; i++)
		fe_teardown(fe, &fe->inst[i]);
}

/*
 * Serve an instance QEMU has open.  Events are level-triggered (ABI 2): an
 * OPENED may be read after a close that came later, so the instance's state
 * decides, not the event.  If it closes after this check, its CLOSED event
 * is pending again and stops the service.
 */
static void fe_serve_if_open(struct fe *fe, uint32_t id)
{
	struct vgpu_kmod_instance_info info;
	struct fe_inst *in;

	if (fe_setup(fe, id) < 0)
		return;
	in = &fe->inst[id];
	if (fe->io->ioctl(in->fd, VGPU_KMOD_INST_INFO, &info) < 0 ||
	    !(info.state & VGPU_KMOD_INST_OPENED) || (info.state & VGPU_KMOD_INST_REMOVED))
		fe_teardown(fe, in);
}

/* Returns -1 when the control fd must be reopened. */
static int fe_event(struct fe *fe, const struct vgpu_kmod_event *e)
{
	struct fe_inst *in = e->instance < FE_MAX_INSTANCES ? &fe->inst[e->instance] : NULL;

	switch (e->type) {
	case VGPU_KMOD_EV_CREATED:
		LOG(fe, "instance %" PRIu32 " created\n", e->instance);
		break;
	case VGPU_KMOD_EV_OPENED:
		LOG(fe, "instance %" PRIu32 " opened\n", e->instance);
		fe_serve_if_open(fe, e->instance);
		break;
	case VGPU_KMOD_EV_CLOSED:
	case VGPU_KMOD_EV_REMOVED:
		LOG(fe, "instance %" PRIu32 " %s\n", e->instance,
		    e->type == VGPU_KMOD_EV_CLOSED ? "closed" : "removed");
		if (in)
			fe_teardown(fe, in);
		break;
	case VGPU_KMOD_EV_RESET:
		LOG(fe, "instance %" PRIu32 " reset\n", e->instance);
		if (!in || !in->serving)
			break;
		fe_teardown(fe, in);
		/* Still open: format and serve it afresh. */
		fe_serve_if_open(fe, e->instance);
		break;
	case VGPU_KMOD_EV_DOORBELL:
		if (in && in->serving && e->data < in->layout.channel_count)
			fe_start_worker(fe, in, (uint32_t)e->data);
		break;
	case VGPU_KMOD_EV_OVERFLOW:
		/* ABI 1's shared queue overflowed; ABI 2 never loses events. */
		fprintf(stderr, "vgpu-mdev: events lost, resynchronising\n");
		return -1;
	default:
		break;	/* newer kernel: ignore */
	}
	return 0;
}

/*
 * A few batches per wakeup, not until EAGAIN: a guest that resets its device
 * without end keeps its instance's events coming, and the doorbells and
 * workers of every other instance must get their turn in the loop meanwhile
 * (the control fd is level-triggered in epoll: what is left wakes us again).
 */
#define FE_EVENT_READS	4

static int fe_read_events(struct fe *fe)
{
	struct vgpu_kmod_event ev[16];
	ssize_t n;
	size_t i;
	int r;

	for (r = 0; r < FE_EVENT_READS; r++) {
		n = fe->io->read(fe->ctl, ev, sizeof(ev));
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		for (i = 0; i < (size_t)n / sizeof(ev[0]); i++)
			if (fe_event(fe, &ev[i]) < 0)
				return -1;
	}
	return 0;
}

static int sys_open(const char *path, int flags)
{
	return open(path, flags);
}

static int sys_ioctl(int fd, unsigned long request, void *arg)
{
	return ioctl(fd, request, arg);
}

static void *sys_mmap_bar1(int fd, size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}

static const struct vgpu_kmod_io fe_sys_io = {
	.open = sys_open, .ioctl = sys_ioctl, .read = read, .mmap_bar1 = sys_mmap_bar1,
};

int vgpu_mdev_frontend_run(const char *chardev_path, const struct vgpu_mdev_frontend_opts *opts)
{
	static const struct vgpu_mdev_frontend_opts defaults = { .stop_fd = -1 };
	struct epoll_event evs[32];
	struct fe *fe;
	int ret = 0, n, i;

	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return -1;
	fe->opts = opts ? opts : &defaults;
	fe->io = fe->opts->io ? fe->opts->io : &fe_sys_io;
	fe->path = chardev_path ? chardev_path : VGPU_MDEV_DEFAULT_CHARDEV;
	fe->ep = epoll_create1(EPOLL_CLOEXEC);
	if (fe->ep < 0 || fe_open_ctl(fe) < 0) {
		ret = -1;
		goto out;
	}
	if (fe->opts->stop_fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = FE_TAG(FE_TAG_STOP, 0, 0) };

		epoll_ctl(fe->ep, EPOLL_CTL_ADD, fe->opts->stop_fd, &ev);
	}
	LOG(fe, "serving %s\n", fe->path);

	for (;;) {
		if (fe->opts->stop_flag && *fe->opts->stop_flag)
			break;
		n = epoll_wait(fe->ep, evs, 32, 200);
		if (n < 0 && errno != EINTR) {
			ret = -1;
			break;
		}
		for (i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			uint32_t kind = (uint32_t)(tag >> 56);
			uint32_t id = (uint32_t)(tag >> 8) & 0xffff;
			uint32_t c = (uint32_t)tag & 0xff;

			if (kind == FE_TAG_STOP)
				goto stop;
			if (kind == FE_TAG_DOORBELL && id < FE_MAX_INSTANCES)
				fe_start_worker(fe, &fe->inst[id], c);
			if (kind == FE_TAG_CTL && fe_read_events(fe) < 0) {
				/* Lost events: start over from the kernel's replay. */
				fe_teardown_all(fe);
				epoll_ctl(fe->ep, EPOLL_CTL_DEL, fe->ctl, NULL);
				close(fe->ctl);
				if (fe_open_ctl(fe) < 0) {
					ret = -1;
					goto out;
				}
			}
		}
		fe_reap(fe);
	}
stop:
	fe_teardown_all(fe);
	close(fe->ctl);
out:
	if (fe->ep >= 0)
		close(fe->ep);
	free(fe);
	return ret;
}
