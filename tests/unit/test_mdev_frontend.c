// SPDX-License-Identifier: MIT
/*
 * The executor's mdev frontend against a fake vgpu_stub.ko: the events of
 * ABI 2 are level-triggered per instance and come out in a fixed order, not
 * the order they happened in, so the frontend must go by an instance's
 * state; and one instance's endless events must not hold up its loop.
 *
 * The fake kernel plays /dev/vgpu-stub through struct vgpu_kmod_io: the
 * control fd is an eventfd that always polls readable, reads pop a scripted
 * event list, an instance fd is a memfd (its own inode, so the fake can tell
 * whether the frontend still holds it: closing it is the detach), and BAR1
 * is that memfd mapped.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mdev_frontend.h"
#include "test.h"
#include "vgpu/kmod_uapi.h"
#include "vgpu/regs.h"

#define FK_INSTANCES	8
#define FK_BAR1		(1u << 20)
#define FK_EVENTS	256

struct fk_inst {
	bool opened;		/* QEMU has it open: INST_INFO's state */
	int fd;			/* the frontend's instance fd, -1 */
	ino_t ino;		/* its memfd's inode, to tell it from a reused number */
	int attaches;
	uint32_t status;
};

static struct {
	int ctl;
	struct vgpu_kmod_event ev[FK_EVENTS];
	unsigned int head, tail;
	uint64_t seq;
	uint32_t endless_type, endless_inst;	/* 0: none */
	long reads, stop_after;
	volatile sig_atomic_t stop;
	struct fk_inst inst[FK_INSTANCES];
	/* when the script ran dry: attached? and STATUS */
	bool snap_attached[FK_INSTANCES];
	uint32_t snap_status[FK_INSTANCES];
} fk;

static void fk_reset(void)
{
	int i;

	memset(&fk, 0, sizeof(fk));
	fk.ctl = -1;
	for (i = 0; i < FK_INSTANCES; i++)
		fk.inst[i].fd = -1;
}

static void fk_post(uint32_t type, uint32_t inst)
{
	fk.ev[fk.tail % FK_EVENTS] = (struct vgpu_kmod_event){ .type = type, .instance = inst };
	fk.tail++;
}

/* Does the frontend still hold the instance fd?  Closing it detaches. */
static bool fk_attached(struct fk_inst *in)
{
	struct stat st;

	if (in->fd < 0)
		return false;
	if (fstat(in->fd, &st) == 0 && st.st_ino == in->ino)
		return true;
	in->fd = -1;
	in->status = 0;	/* the kernel clears STATUS at detach */
	return false;
}

static int fk_open(const char *path, int flags)
{
	(void)path;
	(void)flags;
	fk.ctl = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);	/* always readable */
	return fk.ctl;
}

static ssize_t fk_read(int fd, void *buf, size_t len)
{
	struct vgpu_kmod_event *out = buf;
	size_t n = 0;
	int i;

	if (fd != fk.ctl || len < sizeof(*out)) {
		errno = EINVAL;
		return -1;
	}
	if (++fk.reads == fk.stop_after)
		fk.stop = 1;
	while (n < len / sizeof(*out) && fk.head != fk.tail) {
		out[n] = fk.ev[fk.head % FK_EVENTS];
		out[n].seq = ++fk.seq;
		fk.head++;
		n++;
	}
	while (n < len / sizeof(*out) && fk.endless_type) {
		out[n] = (struct vgpu_kmod_event){ .type = fk.endless_type,
						   .instance = fk.endless_inst, .seq = ++fk.seq };
		n++;
	}
	if (n)
		return (ssize_t)(n * sizeof(*out));
	/* The script ran dry: note what is served, and stop the frontend. */
	for (i = 0; i < FK_INSTANCES; i++) {
		fk.snap_attached[i] = fk_attached(&fk.inst[i]);
		fk.snap_status[i] = fk.snap_attached[i] ? fk.inst[i].status : 0;
	}
	fk.stop = 1;
	errno = EAGAIN;
	return -1;
}

static struct fk_inst *fk_by_fd(int fd)
{
	int i;

	for (i = 0; i < FK_INSTANCES; i++)
		if (fk.inst[i].fd == fd && fk_attached(&fk.inst[i]))
			return &fk.inst[i];
	return NULL;
}

static int fk_ioctl(int fd, unsigned long request, void *arg)
{
	struct fk_inst *in;

	if (fd == fk.ctl && request == VGPU_KMOD_GET_VERSION) {
		struct vgpu_kmod_version *v = arg;

		memset(v, 0, sizeof(*v));
		v->abi_version = VGPU_KMOD_ABI_VERSION;
		v->event_size = sizeof(struct vgpu_kmod_event);
		v->max_channels = VGPU_KMOD_MAX_CHANNELS;
		return 0;
	}
	if (fd == fk.ctl && request == VGPU_KMOD_OPEN_INSTANCE) {
		const struct vgpu_kmod_open_instance *oi = arg;
		struct stat st;

		if (oi->instance >= FK_INSTANCES) {
			errno = ENOENT;
			return -1;
		}
		in = &fk.inst[oi->instance];
		if (fk_attached(in)) {
			errno = EBUSY;
			return -1;
		}
		in->fd = memfd_create("fk-instance", MFD_CLOEXEC);
		if (in->fd < 0 || ftruncate(in->fd, FK_BAR1) < 0 || fstat(in->fd, &st) < 0)
			abort();
		in->ino = st.st_ino;
		in->attaches++;
		return in->fd;
	}
	in = fk_by_fd(fd);
	if (!in) {
		errno = ENOTTY;
		return -1;
	}
	switch (request) {
	case VGPU_KMOD_INST_INFO: {
		struct vgpu_kmod_instance_info *info = arg;

		memset(info, 0, sizeof(*info));
		info->instance = (uint32_t)(in - fk.inst);
		info->bar1_size = FK_BAR1;
		info->fb_size = 1ull << 30;
		info->state = in->opened ? VGPU_KMOD_INST_OPENED : 0;
		strcpy(info->type, "fake");
		return 0;
	}
	case VGPU_KMOD_SET_DOORBELL:
	case VGPU_KMOD_SET_IRQFD:
		return 0;
	case VGPU_KMOD_SET_STATUS: {
		const struct vgpu_kmod_status *s = arg;

		in->status = (in->status & ~s->mask) | (s->value & s->mask);
		return 0;
	}
	}
	errno = ENOTTY;
	return -1;
}

static void *fk_mmap_bar1(int fd, size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
}

static const struct vgpu_kmod_io fk_io = {
	.open = fk_open, .ioctl = fk_ioctl, .read = fk_read, .mmap_bar1 = fk_mmap_bar1,
};

static int fk_run(void)
{
	struct vgpu_mdev_frontend_opts o = {
		.stop_fd = -1, .stop_flag = &fk.stop, .io = &fk_io,
	};
	int r = vgpu_mdev_frontend_run("/fake/vgpu-stub", &o);
	int i;

	/* Every instance fd is closed when it returns. */
	for (i = 0; i < FK_INSTANCES; i++)
		CHECK(!fk_attached(&fk.inst[i]));
	if (fk.ctl >= 0)
		close(fk.ctl);
	return r;
}

static bool served(int i)
{
	return fk.snap_attached[i] && (fk.snap_status[i] & VGPU_STATUS_EXECUTOR_READY);
}

/*
 * QEMU opened and closed instance 3 before the frontend read anything: the
 * kernel hands out CLOSED, then OPENED.  The instance is closed: no service.
 */
static void merged_open_close(void)
{
	fk_reset();
	fk.inst[3].opened = false;
	fk_post(VGPU_KMOD_EV_CREATED, 3);
	fk_post(VGPU_KMOD_EV_CLOSED, 3);
	fk_post(VGPU_KMOD_EV_OPENED, 3);
	CHECK(fk_run() == 0);
	CHECK(!fk.snap_attached[3]);
	CHECK(fk.snap_status[3] == 0);
}

/* Closed and opened again (a new session) before it was read: served afresh. */
static void merged_close_reopen(void)
{
	fk_reset();
	fk.inst[4].opened = true;
	fk_post(VGPU_KMOD_EV_CREATED, 4);
	fk_post(VGPU_KMOD_EV_OPENED, 4);
	fk_post(VGPU_KMOD_EV_CLOSED, 4);
	fk_post(VGPU_KMOD_EV_OPENED, 4);
	CHECK(fk_run() == 0);
	CHECK(served(4));
	CHECK(fk.inst[4].attaches == 2);
}

/* Another instance's resets leave an instance's service alone. */
static void resets_of_another(void)
{
	int i;

	fk_reset();
	fk.inst[1].opened = fk.inst[2].opened = true;
	fk_post(VGPU_KMOD_EV_CREATED, 1);
	fk_post(VGPU_KMOD_EV_OPENED, 1);
	fk_post(VGPU_KMOD_EV_CREATED, 2);
	fk_post(VGPU_KMOD_EV_OPENED, 2);
	for (i = 0; i < 20; i++)
		fk_post(VGPU_KMOD_EV_RESET, 2);
	/* A RESET of an instance nobody serves and one never opened: ignored. */
	fk_post(VGPU_KMOD_EV_RESET, 5);
	fk_post(VGPU_KMOD_EV_OPENED, 6);
	CHECK(fk_run() == 0);
	CHECK(served(1) && fk.inst[1].attaches == 1);
	CHECK(served(2) && fk.inst[2].attaches == 21);
	CHECK(!fk.snap_attached[5] && !fk.snap_attached[6]);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "the frontend's loop never came back from the event reads\n";

	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/*
 * Events that never stop coming (a guest that keeps posting): the loop must
 * still come round to everything else, here its stop flag.  It read until
 * EAGAIN before, and never came back.
 */
static void endless_events(void)
{
	fk_reset();
	fk.inst[1].opened = true;
	fk_post(VGPU_KMOD_EV_OPENED, 1);
	fk.endless_type = VGPU_KMOD_EV_CREATED;
	fk.endless_inst = 7;
	fk.stop_after = 100;
	signal(SIGALRM, on_alarm);
	alarm(60);
	CHECK(fk_run() == 0);
	alarm(0);
	CHECK(fk.reads < 200);
	CHECK(fk.inst[1].attaches == 1);
}

int main(void)
{
	merged_open_close();
	merged_close_reopen();
	resets_of_another();
	endless_events();
	return TEST_RESULT();
}
