// SPDX-License-Identifier: MIT
/*
 * Drives a VGPU-STUB instance exactly as QEMU 7.2's vfio-pci does (the ioctl
 * sequence of shared/reference/kernel-mdev.md), while the executor frontend
 * serves the other side, and checks what comes back.  Runs inside the
 * system-test VM.  TAP-like output; exit status 0 only if every check held.
 *
 *   vfio_client qemu SYSFSDEV      QEMU's open sequence, HELLO through the
 *                                  mmap and through pwrite, doorbell -> MSI,
 *                                  INTx with automask and INTX_DISABLE,
 *                                  reset, hostile accesses
 *   vfio_client hold SYSFSDEV FILE open and map the device, touch FILE, wait
 *                                  for the REQ interrupt of a removal, close,
 *                                  check the mapping outlives the device
 *   vfio_client restart SYSFSDEV FILE  served, touch FILE; the executor is
 *                                  killed (READY drops, STATUS_CHANGE) and a new
 *                                  one serves again
 *   vfio_client stress SYSFSDEV S  S seconds of random region accesses and
 *                                  interrupt reconfiguration from several
 *                                  threads while HELLOs flow; then it must work
 *   vfio_client chardev UUID       hostile use of /dev/vgpu-stub (no executor)
 *   vfio_client tenants SYSFSDEV   (no executor running: it plays the executor)
 *                                  a second session sees nothing of the first:
 *                                  STATUS 0 at open, BAR1 zero, fresh pages
 *   vfio_client flood SYSFSDEV_A SYSFSDEV_B N  while A is served, B resets N
 *                                  times: A keeps its service untouched
 *   vfio_client chardev-busy       a second executor is refused
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "vgpu/bar1.h"
#include "vgpu/calls.h"
#include "vgpu/kmod_uapi.h"
#include "vgpu/regs.h"
#include "vgpu/ring.h"

static int failures, checks;
static int irq_grace_ms = 3000;	/* how long a completion's interrupt may lag */

static bool quiet_ok;	/* print only failures (the stress loop) */

#define CHECK(cond, ...)						\
	do {								\
		checks++;						\
		if (cond) {						\
			if (quiet_ok)					\
				break;					\
			printf("ok - ");				\
		} else {						\
			failures++;					\
			printf("not ok - [%s:%d] ", __FILE__, __LINE__);	\
		}							\
		printf(__VA_ARGS__);					\
		printf("\n");						\
		fflush(stdout);						\
	} while (0)

#define CHECK_ERR(expr, err, ...)					\
	do {								\
		long _r = (long)(expr);					\
		int _e = errno;						\
		CHECK(_r < 0 && _e == (err), __VA_ARGS__);		\
		if (!(_r < 0 && _e == (err)))				\
			printf("#   got %ld errno %d (%s), want %s\n", _r, _r < 0 ? _e : 0, \
			       _r < 0 ? strerror(_e) : "-", strerror(err)); \
	} while (0)

static void die(const char *what)
{
	printf("not ok - %s: %s\nBail out!\n", what, strerror(errno));
	exit(1);
}

struct dev {
	int container, group, fd;
	struct vfio_region_info reg[VFIO_PCI_NUM_REGIONS];
	uint8_t *bar1;
	uint64_t bar1_size;
	int intx_efd, msi_efd, req_efd;
	struct vgpu_layout l;
	uint64_t cq_head[VGPU_MAX_CHANNELS];
};

/* ---- small helpers ---- */

/*
 * Pin @len bytes at @p the way a driver pins host memory for DMA
 * (pin_user_pages with FOLL_LONGTERM, as cuMemHostRegister does): register
 * them as an io_uring fixed buffer.  0, or -errno.
 */
static int longterm_pin(void *p, size_t len)
{
	struct io_uring_params prm;
	struct iovec iov = { .iov_base = p, .iov_len = len };
	int fd, r, e;

	memset(&prm, 0, sizeof(prm));
	fd = (int)syscall(__NR_io_uring_setup, 1, &prm);
	if (fd < 0)
		return -errno;
	r = (int)syscall(__NR_io_uring_register, fd, IORING_REGISTER_BUFFERS, &iov, 1);
	e = errno;
	close(fd);
	return r < 0 ? -e : 0;
}

static uint32_t cfg_read32(struct dev *d, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	if (pread(d->fd, &v, 4, d->reg[VFIO_PCI_CONFIG_REGION_INDEX].offset + off) != 4)
		return 0xdeadbeef;
	return v;
}

static uint16_t cfg_read16(struct dev *d, uint32_t off)
{
	uint16_t v = 0xdead;

	if (pread(d->fd, &v, 2, d->reg[VFIO_PCI_CONFIG_REGION_INDEX].offset + off) != 2)
		return 0xdead;
	return v;
}

static int cfg_write32(struct dev *d, uint32_t off, uint32_t v)
{
	return pwrite(d->fd, &v, 4, d->reg[VFIO_PCI_CONFIG_REGION_INDEX].offset + off) == 4 ? 0 : -1;
}

static int cfg_write16(struct dev *d, uint32_t off, uint16_t v)
{
	return pwrite(d->fd, &v, 2, d->reg[VFIO_PCI_CONFIG_REGION_INDEX].offset + off) == 2 ? 0 : -1;
}

static uint32_t bar0_read(struct dev *d, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	if (pread(d->fd, &v, 4, d->reg[VFIO_PCI_BAR0_REGION_INDEX].offset + off) != 4)
		return 0xdeadbeef;
	return v;
}

static int bar0_write(struct dev *d, uint32_t off, uint32_t v)
{
	return pwrite(d->fd, &v, 4, d->reg[VFIO_PCI_BAR0_REGION_INDEX].offset + off) == 4 ? 0 : -1;
}

static int bar1_pread(struct dev *d, void *buf, size_t len, uint64_t off)
{
	return pread(d->fd, buf, len, d->reg[VFIO_PCI_BAR1_REGION_INDEX].offset + off) ==
	       (ssize_t)len ? 0 : -1;
}

static int bar1_pwrite(struct dev *d, const void *buf, size_t len, uint64_t off)
{
	return pwrite(d->fd, buf, len, d->reg[VFIO_PCI_BAR1_REGION_INDEX].offset + off) ==
	       (ssize_t)len ? 0 : -1;
}

/* Did @efd fire within @ms?  Consumes the count. */
static bool fired(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, ms) != 1)
		return false;
	return read(efd, &v, sizeof(v)) == sizeof(v);
}

static int set_irq(struct dev *d, uint32_t index, uint32_t action, int fd)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *s = (void *)buf;

	memset(buf, 0, sizeof(buf));
	s->argsz = sizeof(buf);
	s->index = index;
	s->start = 0;
	if (action == VFIO_IRQ_SET_ACTION_TRIGGER && fd == -2) {
		/* disable: DATA_NONE, count 0 */
		s->argsz = sizeof(*s);
		s->flags = VFIO_IRQ_SET_DATA_NONE | action;
		s->count = 0;
	} else if (action == VFIO_IRQ_SET_ACTION_TRIGGER) {
		s->flags = VFIO_IRQ_SET_DATA_EVENTFD | action;
		s->count = 1;
		memcpy(s->data, &fd, sizeof(int32_t));
	} else {
		s->argsz = sizeof(*s);
		s->flags = VFIO_IRQ_SET_DATA_NONE | action;
		s->count = 1;
	}
	return ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s);
}

/* SET_IRQS with one eventfd (-1: remove it) for an action other than TRIGGER too. */
static int set_irq_efd(struct dev *d, uint32_t index, uint32_t action, int32_t fd)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *s = (void *)buf;

	memset(buf, 0, sizeof(buf));
	s->argsz = sizeof(buf);
	s->index = index;
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | action;
	s->count = 1;
	memcpy(s->data, &fd, sizeof(fd));
	return ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s);
}

/* SET_IRQS with DATA_NONE and any flags and count: for malformed headers. */
static int set_irq_raw(struct dev *d, uint32_t index, uint32_t flags, uint32_t count)
{
	struct vfio_irq_set s = {
		.argsz = sizeof(s), .index = index, .flags = flags, .count = count,
	};

	return ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &s);
}

static bool wait_ready(struct dev *d, int ms)
{
	for (int i = 0; i < ms / 20; i++) {
		if (bar0_read(d, VGPU_REG_STATUS) & VGPU_STATUS_EXECUTOR_READY)
			return true;
		usleep(20000);
	}
	return false;
}

/* ---- QEMU's open sequence ---- */

static void qemu_open(struct dev *d, const char *sysfsdev, bool quiet)
{
	char path[PATH_MAX], link[PATH_MAX], gpath[64];
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	char *uuid;
	ssize_t n;
	unsigned int i;
	int iommu;

	memset(d, 0, sizeof(*d));
	d->intx_efd = d->msi_efd = d->req_efd = -1;
	snprintf(path, sizeof(path), "%s/iommu_group", sysfsdev);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		die("iommu_group link");
	link[n] = 0;
	snprintf(gpath, sizeof(gpath), "/dev/vfio/%s", basename(link));
	d->group = open(gpath, O_RDWR);
	if (d->group < 0)
		die(gpath);
	if (ioctl(d->group, VFIO_GROUP_GET_STATUS, &gs) < 0)
		die("GROUP_GET_STATUS");
	if (!quiet)
		CHECK(gs.flags & VFIO_GROUP_FLAGS_VIABLE, "group %s is viable", gpath);
	d->container = open("/dev/vfio/vfio", O_RDWR);
	if (d->container < 0)
		die("/dev/vfio/vfio");
	if (!quiet) {
		CHECK(ioctl(d->container, VFIO_GET_API_VERSION) == VFIO_API_VERSION, "API version");
		CHECK(ioctl(d->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1,
		      "TYPE1v2 supported");
	}
	if (ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &d->container) < 0)
		die("GROUP_SET_CONTAINER");
	iommu = VFIO_TYPE1v2_IOMMU;
	if (ioctl(d->container, VFIO_SET_IOMMU, iommu) < 0)
		die("SET_IOMMU");
	{
		/* Guest RAM, as QEMU maps it. */
		size_t ram = 2 << 20;
		void *mem = mmap(NULL, ram, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct vfio_iommu_type1_dma_map map = {
			.argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)mem, .iova = 0, .size = ram,
		};
		int r = ioctl(d->container, VFIO_IOMMU_MAP_DMA, &map);

		if (!quiet)
			CHECK(r == 0, "IOMMU_MAP_DMA of guest RAM");
	}
	strncpy(path, sysfsdev, sizeof(path) - 1);
	uuid = basename(path);
	d->fd = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, uuid);
	if (d->fd < 0)
		die("GROUP_GET_DEVICE_FD");
	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info) < 0)
		die("DEVICE_GET_INFO");
	if (!quiet) {
		CHECK(info.flags & VFIO_DEVICE_FLAGS_PCI, "device is PCI");
		CHECK(info.flags & VFIO_DEVICE_FLAGS_RESET, "reset works");
		CHECK(info.num_regions >= VFIO_PCI_NUM_REGIONS, "%u regions", info.num_regions);
		CHECK(info.num_irqs >= 3, "%u irqs (QEMU needs >= 3)", info.num_irqs);
	}
	for (i = 0; i < VFIO_PCI_NUM_REGIONS; i++) {
		d->reg[i].argsz = sizeof(d->reg[i]);
		d->reg[i].index = i;
		if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &d->reg[i]) < 0)
			die("GET_REGION_INFO");
	}
	d->bar1_size = d->reg[VFIO_PCI_BAR1_REGION_INDEX].size;
	if (!quiet) {
		struct vfio_region_info *r = d->reg;

		CHECK(r[VFIO_PCI_CONFIG_REGION_INDEX].size == 256, "config region is 256 bytes");
		CHECK(r[VFIO_PCI_BAR0_REGION_INDEX].size == 4096 &&
		      !(r[0].flags & VFIO_REGION_INFO_FLAG_MMAP), "BAR0 4 KiB, trapped");
		CHECK(r[1].size >= (16 << 20) && (r[1].flags & VFIO_REGION_INFO_FLAG_MMAP) &&
		      (r[1].flags & VFIO_REGION_INFO_FLAG_READ) &&
		      (r[1].flags & VFIO_REGION_INFO_FLAG_WRITE),
		      "BAR1 %llu MiB, read/write/mmap", (unsigned long long)r[1].size >> 20);
		CHECK(r[2].size == 0 && r[5].size == 0 && r[VFIO_PCI_ROM_REGION_INDEX].size == 0,
		      "BAR2..5 and ROM are empty");
		CHECK(r[1].offset == (1ull << 40), "BAR1 at index << 40");
	}
	for (i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = i };
		int r = ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, &ii);

		if (quiet)
			continue;
		if (i == VFIO_PCI_INTX_IRQ_INDEX)
			CHECK(r == 0 && ii.count == 1 &&
			      (ii.flags & (VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED)) ==
			      (VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED),
			      "INTx: one, maskable, automasked");
		if (i == VFIO_PCI_MSI_IRQ_INDEX)
			CHECK(r == 0 && ii.count == 1, "MSI: one vector");
		if (i == VFIO_PCI_ERR_IRQ_INDEX)
			CHECK(r == 0, "GET_IRQ_INFO(ERR) answers");
		if (i == VFIO_PCI_REQ_IRQ_INDEX)
			CHECK(r == 0 && ii.count == 1, "REQ: one");
	}
	d->bar1 = mmap(NULL, d->bar1_size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		       d->reg[VFIO_PCI_BAR1_REGION_INDEX].offset);
	if (d->bar1 == MAP_FAILED)
		die("mmap BAR1");
	/*
	 * Non-blocking: in the stress phase two threads poll and read the same
	 * eventfd, and one may take the count between the other's poll and read.
	 */
	d->intx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->msi_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->req_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* The interrupt pin is set: QEMU wires INTx at realize, and REQ. */
	if (set_irq(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, d->intx_efd) < 0)
		die("SET_IRQS INTx");
	if (set_irq(d, VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, d->req_efd) < 0)
		die("SET_IRQS REQ");
}

/* The guest enables MSI: QEMU drops INTx and installs the MSI eventfd. */
static void guest_enable_msi(struct dev *d)
{
	uint16_t flags = cfg_read16(d, 0x40 + PCI_MSI_FLAGS);

	cfg_write32(d, 0x40 + PCI_MSI_ADDRESS_LO, 0xfee00000);
	cfg_write32(d, 0x40 + PCI_MSI_ADDRESS_HI, 0);
	cfg_write16(d, 0x40 + PCI_MSI_DATA_64, 0x4041);
	cfg_write16(d, 0x40 + PCI_MSI_FLAGS, flags | PCI_MSI_FLAGS_ENABLE);
	CHECK(set_irq(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, -2) == 0,
	      "INTx trigger dropped");
	CHECK(set_irq(d, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, d->msi_efd) == 0,
	      "MSI trigger installed");
}

/* ---- the guest side of the protocol ---- */

static bool read_layout(struct dev *d)
{
	struct vgpu_bar1_header h;

	/* Through the mapping and through pread: the same bytes. */
	if (vgpu_layout_from_header((const void *)d->bar1, d->bar1_size, &d->l) < 0)
		return false;
	if (bar1_pread(d, &h, sizeof(h), 0) < 0)
		return false;
	memset(d->cq_head, 0, sizeof(d->cq_head));
	return memcmp(&h, d->bar1, sizeof(h)) == 0;
}

/*
 * The HELLO status the executor must answer: 0 with a CUDA driver (the
 * fake one in the VM), or what VGPU_EXPECT_HELLO_STATUS says (the real
 * worker answers CUDA_ERROR_NO_DEVICE, 100, when there is no driver).
 */
static uint32_t expected_hello_status(void)
{
	const char *e = getenv("VGPU_EXPECT_HELLO_STATUS");

	return e ? (uint32_t)strtoul(e, NULL, 0) : 0;
}

static bool check_reply(const struct vgpu_completion *c, uint64_t tag, const char *how)
{
	uint32_t want = expected_hello_status();
	struct vgpu_hello_reply r;

	if (want) {
		CHECK(c->tag == tag && c->status == want,
		      "HELLO %s answered: tag %#" PRIx64 " status %u (expected %u: no driver)", how,
		      c->tag, c->status, want);
		return c->tag == tag && c->status == want;
	}
	memcpy(&r, c->data, sizeof(r));
	CHECK(c->tag == tag && c->status == 0 && c->len >= sizeof(r) &&
	      r.major == VGPU_PROTOCOL_MAJOR,
	      "HELLO %s answered: tag %#" PRIx64 " status %u major %u session %" PRIu64, how,
	      c->tag, c->status, r.major, r.session_id);
	return c->status == 0;
}

/* Wait for the completion of channel @ch, with the interrupt armed. */
static bool wait_completion(struct dev *d, uint32_t ch, int irq_efd, struct vgpu_completion *out,
			    bool *irq_seen)
{
	struct vgpu_channel_ctrl *ctrl = vgpu_channel_ctrl(d->bar1, &d->l, ch);
	struct vgpu_cq_consumer cq = {
		.ring = (void *)(vgpu_channel_base(d->bar1, &d->l, ch) + d->l.cq_offset),
		.entries = d->l.cq_entries, .head = d->cq_head[ch], .ctrl = ctrl,
	};

	*irq_seen = false;
	for (int i = 0; i < 100; i++) {
		vgpu_store32(&ctrl->cq_need_irq, 1);
		vgpu_full_fence();
		if (vgpu_cq_pop(&cq, out)) {
			vgpu_store32(&ctrl->cq_need_irq, 0);
			d->cq_head[ch] = cq.head;
			/* The executor raises after posting: give it a moment. */
			*irq_seen = *irq_seen || fired(irq_efd, irq_grace_ms);
			return true;
		}
		if (fired(irq_efd, 100))
			*irq_seen = true;
	}
	return false;
}

static void build_hello(struct vgpu_cmd_hdr *h, uint64_t tag)
{
	struct vgpu_hello_args a = {
		.major = VGPU_PROTOCOL_MAJOR, .minor = VGPU_PROTOCOL_MINOR, .guest_pid = getpid(),
	};

	h->size = vgpu_rec_size(sizeof(a));
	h->opcode = VGPU_OP_HELLO;
	h->flags = VGPU_CMD_F_REPLY;
	h->tag = tag;
	h->ctx = 0;
	h->thread = 1;
	memcpy(h + 1, &a, sizeof(a));
}

/* HELLO through the mapping (QEMU's mmap of BAR1); doorbell through BAR0. */
static bool hello_mmap(struct dev *d, uint32_t ch, uint64_t tag, int irq_efd, bool *irq_seen,
		       bool *rang)
{
	struct vgpu_channel_ctrl *ctrl = vgpu_channel_ctrl(d->bar1, &d->l, ch);
	struct vgpu_sq_producer p = {
		.ring = vgpu_channel_base(d->bar1, &d->l, ch) + d->l.sq_offset,
		.size = d->l.sq_size, .ctrl = ctrl,
	};
	struct vgpu_completion c;
	struct vgpu_cmd_hdr *h;
	uint64_t pos;

	/* Drain stale interrupts; ask for one before the executor can answer. */
	fired(irq_efd, 0);
	vgpu_store32(&ctrl->cq_need_irq, 1);
	vgpu_full_fence();
	h = vgpu_sq_reserve(&p, vgpu_rec_size(sizeof(struct vgpu_hello_args)), &pos);
	if (!h)
		return false;
	build_hello(h, tag);
	*rang = vgpu_sq_commit(&p, h, pos);
	if (*rang)
		bar0_write(d, VGPU_REG_DOORBELL, ch);
	if (!wait_completion(d, ch, irq_efd, &c, irq_seen)) {
		CHECK(0, "HELLO via mmap on channel %u: no completion", ch);
		return false;
	}
	return check_reply(&c, tag, "via mmap");
}

/* HELLO with every BAR1 byte moved by pwrite/pread (QEMU with mmaps disabled). */
static bool hello_pwrite(struct dev *d, uint32_t ch, uint64_t tag, bool *irq_seen)
{
	uint64_t base = d->l.channel_offset + (uint64_t)ch * d->l.channel_stride;
	uint64_t ctrl_off = base, reserve, seal, head;
	uint8_t rec[64] = { 0 };
	struct vgpu_cmd_hdr *h = (void *)rec;
	struct vgpu_completion c;
	uint32_t need = 0, on = 1, size;

	build_hello(h, tag);
	size = h->size;
	fired(d->msi_efd, 0);
	bar1_pwrite(d, &on, 4, ctrl_off + offsetof(struct vgpu_channel_ctrl, cq_need_irq));
	if (bar1_pread(d, &reserve, 8, ctrl_off + offsetof(struct vgpu_channel_ctrl, sq_reserve)))
		return false;
	if ((reserve & (d->l.sq_size - 1)) + size > d->l.sq_size)
		return false;	/* would need a PAD: not in this test */
	seal = reserve + 1;
	uint64_t at = base + d->l.sq_offset + (reserve & (d->l.sq_size - 1));
	uint64_t next = reserve + size;

	bar1_pwrite(d, &next, 8, ctrl_off + offsetof(struct vgpu_channel_ctrl, sq_reserve));
	bar1_pwrite(d, rec + 8, size - 8, at + 8);
	bar1_pwrite(d, &seal, 8, at);	/* the seal last */
	bar1_pread(d, &need, 4, ctrl_off + offsetof(struct vgpu_channel_ctrl, sq_need_doorbell));
	if (need)
		bar0_write(d, VGPU_REG_DOORBELL, ch);
	head = d->cq_head[ch];
	for (int i = 0; i < 500; i++) {
		uint64_t eoff = base + d->l.cq_offset + (head & (d->l.cq_entries - 1)) * 64;

		bar1_pread(d, &c, sizeof(c), eoff);
		if (c.seal == head + 1) {
			head++;
			d->cq_head[ch] = head;
			bar1_pwrite(d, &head, 8, ctrl_off + offsetof(struct vgpu_channel_ctrl, cq_head));
			*irq_seen = fired(d->msi_efd, 3000);
			return check_reply(&c, tag, "via pwrite/pread");
		}
		usleep(10000);
	}
	CHECK(0, "HELLO via pwrite: no completion");
	return false;
}

/*
 * DEVICE_GET_INFO: the executor writes a struct vgpu_device_info into the
 * channel's bulk area; read it back through pread and through the mapping.
 */
static void device_info(struct dev *d, uint64_t fb_size)
{
	struct vgpu_channel_ctrl *ctrl = vgpu_channel_ctrl(d->bar1, &d->l, 0);
	struct vgpu_sq_producer p = {
		.ring = vgpu_channel_base(d->bar1, &d->l, 0) + d->l.sq_offset,
		.size = d->l.sq_size, .ctrl = ctrl,
	};
	struct vgpu_device_info_args a = { .device = 0,
					   .out = { .off = 0, .len = sizeof(struct vgpu_device_info) } };
	uint64_t bulk = d->l.channel_offset + d->l.bulk_offset;
	struct vgpu_device_info *info = calloc(1, sizeof(*info));
	struct vgpu_completion c;
	struct vgpu_cmd_hdr *h;
	bool irq = false;
	uint64_t pos;

	fired(d->msi_efd, 0);
	vgpu_store32(&ctrl->cq_need_irq, 1);
	vgpu_full_fence();
	h = vgpu_sq_reserve(&p, vgpu_rec_size(sizeof(a)), &pos);
	if (!h || !info) {
		CHECK(0, "DEVICE_GET_INFO: no room");
		free(info);
		return;
	}
	h->size = vgpu_rec_size(sizeof(a));
	h->opcode = VGPU_OP_DEVICE_GET_INFO;
	h->flags = VGPU_CMD_F_REPLY;
	h->tag = 0x7001;
	h->ctx = 0;
	h->thread = 1;
	memcpy(h + 1, &a, sizeof(a));
	if (vgpu_sq_commit(&p, h, pos))
		bar0_write(d, VGPU_REG_DOORBELL, 0);
	CHECK(wait_completion(d, 0, d->msi_efd, &c, &irq) && c.tag == 0x7001 && c.status == 0,
	      "DEVICE_GET_INFO answered (status %u)", c.status);
	CHECK(bar1_pread(d, info, sizeof(*info), bulk) == 0 &&
	      !memcmp(info, d->bar1 + bulk, sizeof(*info)),
	      "the executor's bulk answer reads the same through pread and the mapping");
	info->name[sizeof(info->name) - 1] = 0;
	CHECK(info->name[0] && info->total_mem && info->total_mem <= fb_size,
	      "device \"%s\", %llu MiB: within the type's %llu MiB", info->name,
	      (unsigned long long)info->total_mem >> 20, (unsigned long long)fb_size >> 20);
	free(info);
}

/* ---- hostile accesses ---- */

static void hostile(struct dev *d)
{
	uint64_t cfg = d->reg[VFIO_PCI_CONFIG_REGION_INDEX].offset;
	uint64_t b0 = d->reg[VFIO_PCI_BAR0_REGION_INDEX].offset;
	uint64_t b1 = d->reg[VFIO_PCI_BAR1_REGION_INDEX].offset;
	uint8_t buf[512];
	uint32_t v = 0;
	char irqbuf[sizeof(struct vfio_irq_set) + 8];
	struct vfio_irq_set *s = (void *)irqbuf;
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	struct vfio_irq_info ii = { .argsz = sizeof(ii) };

	/* out-of-range offsets */
	CHECK_ERR(pread(d->fd, buf, 4, cfg + 256), EINVAL, "config read at 256");
	CHECK_ERR(pread(d->fd, buf, 16, cfg + 250), EINVAL, "config read across its end");
	CHECK_ERR(pwrite(d->fd, buf, 512, cfg), EINVAL, "config write of 512 bytes");
	CHECK_ERR(pread(d->fd, buf, 4, b0 + 4096), EINVAL, "BAR0 read at 4096");
	CHECK_ERR(pwrite(d->fd, &v, 4, b0 + 4094), EINVAL, "BAR0 write across its end");
	CHECK_ERR(pread(d->fd, buf, 8, b1 + d->bar1_size - 4), EINVAL, "BAR1 read across its end");
	CHECK_ERR(pwrite(d->fd, buf, 4, b1 + d->bar1_size), EINVAL, "BAR1 write at its end");
	CHECK_ERR(pread(d->fd, buf, 4, 2ull << 40), EINVAL, "read of empty BAR2");
	CHECK_ERR(pread(d->fd, buf, 4, 6ull << 40), EINVAL, "read of empty ROM");
	CHECK_ERR(pread(d->fd, buf, 4, 9ull << 40), EINVAL, "read of region 9");
	CHECK_ERR(pread(d->fd, buf, 4, 0xffffull << 40), EINVAL, "read of region 0xffff");
	CHECK_ERR(pread(d->fd, buf, 4, (off_t)(0x7fffffffffffffffull)), EINVAL, "read at 2^63-1");
	CHECK_ERR(mmap(NULL, 4096, PROT_READ, MAP_SHARED, d->fd, b0) == MAP_FAILED ? -1 : 0,
		  EINVAL, "mmap of BAR0 refused");
	CHECK_ERR(mmap(NULL, 4096, PROT_READ, MAP_SHARED, d->fd, cfg + (7ull << 40)) == MAP_FAILED ?
		  -1 : 0, EINVAL, "mmap of config refused");
	CHECK_ERR(mmap(NULL, d->bar1_size + 4096, PROT_READ, MAP_SHARED, d->fd, b1) == MAP_FAILED ?
		  -1 : 0, EINVAL, "mmap past BAR1 refused");
	CHECK_ERR(mmap(NULL, 4096, PROT_READ, MAP_SHARED, d->fd, b1 + d->bar1_size) == MAP_FAILED ?
		  -1 : 0, EINVAL, "mmap at BAR1's end refused");
	CHECK_ERR(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, d->fd, b1) == MAP_FAILED ?
		  -1 : 0, EINVAL, "private mmap of BAR1 refused");

	/* bad ioctls */
	CHECK_ERR(ioctl(d->fd, _IO(';', 200)), ENOTTY, "unknown ioctl");
	ri.index = 100;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri), EINVAL, "region info index 100");
	ri.index = 1;
	ri.argsz = 8;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri), EINVAL, "region info argsz 8");
	ii.index = 99;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, &ii), EINVAL, "irq info index 99");
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_GET_INFO, (void *)8), EFAULT, "GET_INFO at a bad pointer");
	memset(irqbuf, 0, sizeof(irqbuf));
	s->argsz = sizeof(irqbuf);
	s->index = VFIO_PCI_ERR_IRQ_INDEX;
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	s->count = 1;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s), EINVAL, "SET_IRQS on ERR (none)");
	s->index = VFIO_PCI_MSIX_IRQ_INDEX;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s), EINVAL, "SET_IRQS on MSI-X (none)");
	s->index = VFIO_PCI_MSI_IRQ_INDEX;
	s->count = 0xfffffff0;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s), EINVAL, "SET_IRQS count 0xfffffff0");
	s->count = 1;
	s->start = 1;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s), EINVAL, "SET_IRQS start 1");
	s->start = 0;
	*(int32_t *)s->data = 9999;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s), EBADF, "SET_IRQS with a closed fd");
	*(int32_t *)s->data = 0;	/* stdin: not an eventfd */
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s), EINVAL, "SET_IRQS with a non-eventfd");
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s), EINVAL, "SET_IRQS two data types");
	s->index = VFIO_PCI_INTX_IRQ_INDEX;
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s), EINVAL, "SET_IRQS unmask with a non-eventfd");
	*(int32_t *)s->data = -7;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s), EINVAL, "SET_IRQS unmask eventfd -7");
	s->argsz = 4;
	CHECK_ERR(ioctl(d->fd, VFIO_DEVICE_SET_IRQS, s), EINVAL, "SET_IRQS argsz 4");
	/* Action bits as vfio-pci checks them: exactly one, and one the index has. */
	CHECK_ERR(set_irq_raw(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE, 1), EINVAL,
		  "SET_IRQS INTx with no action");
	CHECK_ERR(set_irq_raw(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE |
			      VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK, 1), EINVAL,
		  "SET_IRQS INTx mask and unmask at once");
	CHECK_ERR(set_irq_raw(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE |
			      VFIO_IRQ_SET_ACTION_MASK, 0), EINVAL, "SET_IRQS INTx mask of no vector");
	CHECK_ERR(set_irq_efd(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_MASK, d->intx_efd),
		  ENOTTY, "SET_IRQS INTx mask by eventfd (vfio-pci has none)");
	CHECK_ERR(set_irq_raw(d, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE |
			      VFIO_IRQ_SET_ACTION_MASK, 1), ENOTTY, "SET_IRQS MSI mask");
	CHECK_ERR(set_irq_raw(d, VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE |
			      VFIO_IRQ_SET_ACTION_UNMASK, 1), ENOTTY, "SET_IRQS REQ unmask");

	/* BAR sizing tricks */
	cfg_write32(d, PCI_BASE_ADDRESS_0, 0xffffffff);
	CHECK(cfg_read32(d, PCI_BASE_ADDRESS_0) == 0xfffff000, "BAR0 sizes to 4 KiB");
	cfg_write32(d, PCI_BASE_ADDRESS_1, 0xffffffff);
	cfg_write32(d, PCI_BASE_ADDRESS_2, 0xffffffff);
	CHECK(cfg_read32(d, PCI_BASE_ADDRESS_1) == ((uint32_t)~(d->bar1_size - 1) | 0xc) &&
	      cfg_read32(d, PCI_BASE_ADDRESS_2) == 0xffffffff,
	      "BAR1 sizes to %llu MiB, 64-bit prefetchable (%#x %#x)",
	      (unsigned long long)d->bar1_size >> 20, cfg_read32(d, PCI_BASE_ADDRESS_1),
	      cfg_read32(d, PCI_BASE_ADDRESS_2));
	cfg_write32(d, PCI_BASE_ADDRESS_3, 0xffffffff);
	cfg_write32(d, PCI_ROM_ADDRESS, 0xffffffff);
	CHECK(cfg_read32(d, PCI_BASE_ADDRESS_3) == 0 && cfg_read32(d, PCI_ROM_ADDRESS) == 0,
	      "BAR3 and ROM stay absent");
	cfg_write32(d, PCI_BASE_ADDRESS_1, 0x0000000c);
	cfg_write32(d, PCI_BASE_ADDRESS_2, 0);
	memset(buf, 0xff, 256);
	CHECK(pwrite(d->fd, buf, 256, cfg) == 256, "256 bytes of ones over config space");
	CHECK(cfg_read32(d, 0) == 0x233110de && (cfg_read32(d, 8) >> 8) == 0x030200 &&
	      cfg_read32(d, PCI_CAPABILITY_LIST) == 0x40,
	      "identity and capability list survive it");
	cfg_write16(d, PCI_COMMAND, 0);
	cfg_write16(d, 0x40 + PCI_MSI_FLAGS, 0);

	/* odd BAR0 accesses: ignored, never harmful */
	CHECK(pread(d->fd, buf, 2, b0) == 2 && buf[0] == 0 && buf[1] == 0, "2-byte BAR0 read is 0");
	CHECK(pread(d->fd, buf, 4, b0 + 1) == 4 && !memcmp(buf, "\0\0\0\0", 4),
	      "misaligned BAR0 read is 0");
	v = 1000;
	CHECK(pwrite(d->fd, &v, 4, b0 + VGPU_REG_DOORBELL) == 4, "doorbell 1000 is dropped");
	v = 0xffffffff;
	CHECK(pwrite(d->fd, &v, 4, b0 + VGPU_REG_MAGIC) == 4 &&
	      bar0_read(d, VGPU_REG_MAGIC) == VGPU_MAGIC, "MAGIC is read-only");
	CHECK(pwrite(d->fd, &v, 4, b0 + VGPU_REG_STATUS) == 4 &&
	      (bar0_read(d, VGPU_REG_STATUS) & VGPU_STATUS_EXECUTOR_READY),
	      "STATUS is read-only to the guest");
	CHECK(pwrite(d->fd, &v, 1, b0 + VGPU_REG_DOORBELL) == 1, "1-byte doorbell write ignored");
}

/* ---- modes ---- */

static int mode_qemu(const char *sysfsdev)
{
	struct dev d;
	struct vgpu_completion dummy;
	bool irq = false, rang = false;
	uint64_t gen;

	qemu_open(&d, sysfsdev, false);
	(void)dummy;
	CHECK(cfg_read32(&d, 0) == 0x233110de, "config: 10de:2331");
	CHECK((cfg_read32(&d, PCI_CLASS_REVISION) >> 8) == 0x030200, "config: class 030200");
	CHECK((cfg_read16(&d, PCI_STATUS) & PCI_STATUS_CAP_LIST) &&
	      (cfg_read32(&d, PCI_CAPABILITY_LIST) & 0xff) == 0x40 &&
	      (cfg_read32(&d, 0x40) & 0xff) == PCI_CAP_ID_MSI, "config: MSI capability at 0x40");
	CHECK((cfg_read32(&d, PCI_INTERRUPT_LINE) >> 8 & 0xff) == 1, "config: INTA#");
	{
		uint8_t full[256];

		CHECK(pread(d.fd, full, 256, d.reg[VFIO_PCI_CONFIG_REGION_INDEX].offset) == 256 &&
		      full[0] == 0xde && full[1] == 0x10, "config: one 256-byte pread, as QEMU does");
	}
	CHECK(bar0_read(&d, VGPU_REG_MAGIC) == VGPU_MAGIC, "BAR0 MAGIC");
	CHECK(bar0_read(&d, VGPU_REG_VERSION) ==
	      VGPU_VERSION_VALUE(VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR),
	      "BAR0 VERSION %u.%u", VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR);
	CHECK(bar0_read(&d, VGPU_REG_BAR1_SIZE_LO) == d.bar1_size, "BAR0 BAR1_SIZE");
	printf("# vm_id %u fb %u MiB\n", bar0_read(&d, VGPU_REG_VM_ID),
	       (bar0_read(&d, VGPU_REG_FB_SIZE_HI) << 12) | (bar0_read(&d, VGPU_REG_FB_SIZE_LO) >> 20));

	guest_enable_msi(&d);
	CHECK(wait_ready(&d, 10000), "executor sets STATUS.EXECUTOR_READY");
	CHECK(read_layout(&d), "BAR1 header valid, same through mmap and pread (%u channels)",
	      d.l.channel_count);
	gen = ((struct vgpu_bar1_header *)d.bar1)->generation;

	/* doorbell -> executor -> completion -> MSI */
	CHECK(hello_mmap(&d, 0, 0x1001, d.msi_efd, &irq, &rang), "HELLO on channel 0 via mmap");
	CHECK(rang, "the idle executor asked for the doorbell");
	CHECK(irq, "the completion raised MSI");
	CHECK(bar0_read(&d, VGPU_REG_IRQ_STATUS) & VGPU_IRQ_COMPLETION, "IRQ_STATUS.COMPLETION set");
	bar0_write(&d, VGPU_REG_IRQ_ACK, VGPU_IRQ_ALL);
	CHECK(bar0_read(&d, VGPU_REG_IRQ_STATUS) == 0, "IRQ_ACK clears it");
	CHECK(hello_pwrite(&d, 0, 0x1002, &irq), "HELLO on channel 0 via pwrite");
	CHECK(irq, "MSI again");
	if (expected_hello_status() == 0)
		device_info(&d, ((uint64_t)bar0_read(&d, VGPU_REG_FB_SIZE_HI) << 32) |
				bar0_read(&d, VGPU_REG_FB_SIZE_LO));
	if (d.l.channel_count > 1)
		CHECK(hello_mmap(&d, 1, 0x2001, d.msi_efd, &irq, &rang) && irq,
		      "HELLO on channel 1 (a second worker) with MSI");

	/* BAR1 coherence between the mapping and read/write */
	{
		uint64_t off = d.l.channel_offset + (uint64_t)(d.l.channel_count - 1) *
			       d.l.channel_stride + d.l.bulk_offset;
		char msg[] = "written through pwrite", back[sizeof(msg)];

		bar1_pwrite(&d, msg, sizeof(msg), off);
		CHECK(!memcmp(d.bar1 + off, msg, sizeof(msg)), "pwrite is seen through the mapping");
		memcpy(d.bar1 + off, "written through mmap!!", sizeof(msg));
		bar1_pread(&d, back, sizeof(back), off);
		CHECK(!memcmp(back, "written through mmap!!", sizeof(msg)),
		      "the mapping is seen through pread");
	}

	/* INTx: automask, unmask, PCI 2.3 disable and status */
	bar0_write(&d, VGPU_REG_IRQ_ACK, VGPU_IRQ_ALL);
	CHECK(set_irq(&d, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, -2) == 0 &&
	      set_irq(&d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, d.intx_efd) == 0,
	      "back to INTx");
	CHECK(hello_mmap(&d, 0, 0x3001, d.intx_efd, &irq, &rang) && irq, "completion raised INTx");
	CHECK(cfg_read16(&d, PCI_STATUS) & PCI_STATUS_INTERRUPT, "PCI STATUS.INTERRUPT set");
	CHECK(hello_mmap(&d, 0, 0x3002, d.intx_efd, &irq, &rang) && !irq,
	      "automasked: no second INTx before unmask");
	CHECK(set_irq(&d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 0) == 0 &&
	      fired(d.intx_efd, 1000), "unmask while asserted re-delivers");
	bar0_write(&d, VGPU_REG_IRQ_ACK, VGPU_IRQ_ALL);
	CHECK(!(cfg_read16(&d, PCI_STATUS) & PCI_STATUS_INTERRUPT), "ack clears STATUS.INTERRUPT");
	CHECK(set_irq(&d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 0) == 0 &&
	      !fired(d.intx_efd, 300), "unmask when quiet: nothing");
	cfg_write16(&d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	CHECK(cfg_read16(&d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE, "INTX_DISABLE sticks");
	CHECK(hello_mmap(&d, 0, 0x3003, d.intx_efd, &irq, &rang) && !irq,
	      "INTX_DISABLE holds the interrupt back");
	CHECK(cfg_read16(&d, PCI_STATUS) & PCI_STATUS_INTERRUPT, "...while STATUS.INTERRUPT shows it");
	cfg_write16(&d, PCI_COMMAND, PCI_COMMAND_MEMORY);
	CHECK(fired(d.intx_efd, 1000), "clearing INTX_DISABLE delivers it");
	bar0_write(&d, VGPU_REG_IRQ_ACK, VGPU_IRQ_ALL);
	set_irq(&d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 0);

	/*
	 * QEMU under KVM unmasks INTx by eventfd (KVM's resampler signals it at
	 * the guest's EOI); only if the device takes one does INTx stay in the
	 * kernel and the BAR mmaps stay on.
	 */
	{
		int un = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		uint64_t one = 1;

		CHECK(set_irq_efd(&d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, un) == 0,
		      "INTx unmask by eventfd accepted (QEMU's KVM fast path)");
		CHECK(hello_mmap(&d, 0, 0x3101, d.intx_efd, &irq, &rang) && irq,
		      "completion raised INTx");
		CHECK(hello_mmap(&d, 0, 0x3102, d.intx_efd, &irq, &rang) && !irq,
		      "automasked until the unmask eventfd");
		CHECK(write(un, &one, sizeof(one)) == sizeof(one) && fired(d.intx_efd, 2000),
		      "a write to the unmask eventfd re-delivers while asserted");
		bar0_write(&d, VGPU_REG_IRQ_ACK, VGPU_IRQ_ALL);
		CHECK(write(un, &one, sizeof(one)) == sizeof(one) && !fired(d.intx_efd, 300),
		      "unmask eventfd when quiet: nothing");
		CHECK(hello_mmap(&d, 0, 0x3103, d.intx_efd, &irq, &rang) && irq,
		      "and the next completion is delivered");
		CHECK(set_irq_efd(&d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, un) == 0,
		      "the unmask eventfd can be replaced");
		CHECK(set_irq_efd(&d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, -1) == 0,
		      "and removed");
		CHECK(write(un, &one, sizeof(one)) == sizeof(one) && !fired(d.intx_efd, 300),
		      "a removed unmask eventfd does nothing");
		bar0_write(&d, VGPU_REG_IRQ_ACK, VGPU_IRQ_ALL);
		set_irq(&d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 0);
		close(un);
	}

	hostile(&d);

	/* reset: the executor formats BAR1 anew and serves again */
	guest_enable_msi(&d);
	CHECK(ioctl(d.fd, VFIO_DEVICE_RESET) == 0, "DEVICE_RESET");
	CHECK(!(cfg_read16(&d, PCI_COMMAND) & PCI_COMMAND_MEMORY) ||
	      cfg_read32(&d, 0) == 0x233110de, "config after reset");
	usleep(200000);
	CHECK(wait_ready(&d, 10000), "READY again after reset");
	CHECK(read_layout(&d) && ((struct vgpu_bar1_header *)d.bar1)->generation != gen,
	      "BAR1 formatted anew (new generation)");
	CHECK(hello_mmap(&d, 0, 0x4001, d.msi_efd, &irq, &rang) && irq, "HELLO after reset");

	munmap(d.bar1, d.bar1_size);
	close(d.fd);
	close(d.group);
	close(d.container);
	printf("# %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}

static int mode_hold(const char *sysfsdev, const char *ready)
{
	struct dev d;
	uint64_t cookie = 0x5a5a5a5a12345678ull, got;
	int fd;

	qemu_open(&d, sysfsdev, true);
	guest_enable_msi(&d);
	/* Busy: the executor serves it and a worker holds channel 0. */
	{
		bool irq, rang;

		CHECK(wait_ready(&d, 10000) && read_layout(&d), "held instance is served");
		CHECK(hello_mmap(&d, 0, 0x5001, d.msi_efd, &irq, &rang), "a worker serves it");
	}
	memcpy(d.bar1 + d.bar1_size - 8, &cookie, 8);
	fd = open(ready, O_CREAT | O_WRONLY, 0644);
	close(fd);
	CHECK(fired(d.req_efd, 30000), "removal asks for the device back (REQ)");
	close(d.fd);
	close(d.group);
	close(d.container);
	/* The instance goes; the pages stay until this mapping does. */
	sleep(1);
	memcpy(&got, d.bar1 + d.bar1_size - 8, 8);
	CHECK(got == cookie, "BAR1 mapping outlives the device");
	munmap(d.bar1, d.bar1_size);
	return failures ? 1 : 0;
}

/* ---- stress: everything at once, then the device must still work ---- */

static volatile bool stress_stop;

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Random config, BAR0 and BAR1 accesses, in range and out of it. */
static void *stress_access(void *arg)
{
	struct dev *d = arg;
	uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t)pthread_self(), n = 0;
	uint8_t buf[64];

	while (!stress_stop) {
		uint64_t r = xorshift(&x);
		uint32_t idx = r % 3 == 0 ? VFIO_PCI_CONFIG_REGION_INDEX : (uint32_t)(r % 2);
		uint64_t off = (r >> 8) % (d->reg[idx].size + 64);
		size_t len = 1 + (r >> 40) % 8;

		if (idx == VFIO_PCI_CONFIG_REGION_INDEX && off < 0x40)
			continue;	/* keep the BARs and COMMAND as QEMU left them */
		if (idx == VFIO_PCI_BAR1_REGION_INDEX)
			off %= d->l.channel_offset;	/* not the rings another thread uses */
		if (r & (1ull << 60)) {
			memcpy(buf, &r, 8);
			if (pwrite(d->fd, buf, len, d->reg[idx].offset + off) < 0 && errno != EINVAL)
				break;
		} else if (pread(d->fd, buf, len, d->reg[idx].offset + off) < 0 && errno != EINVAL) {
			break;
		}
		if (idx == VFIO_PCI_BAR0_REGION_INDEX && (r & 0xff) == 7)
			bar0_write(d, VGPU_REG_DOORBELL, (uint32_t)(r >> 16) % 80);
		n++;
	}
	return (void *)(uintptr_t)n;
}

/* Interrupt plumbing changing under the traffic. */
static void *stress_irqs(void *arg)
{
	struct dev *d = arg;
	uint64_t n = 0;

	while (!stress_stop) {
		set_irq(d, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, -2);
		set_irq(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, d->intx_efd);
		set_irq(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 0);
		set_irq(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_MASK, 0);
		set_irq(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, -2);
		set_irq(d, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, d->msi_efd);
		bar0_write(d, VGPU_REG_IRQ_ACK, VGPU_IRQ_ALL);
		fired(d->intx_efd, 0);
		fired(d->msi_efd, 0);
		n++;
	}
	return (void *)(uintptr_t)n;
}

static int mode_stress(const char *sysfsdev, int seconds)
{
	pthread_t t[3];
	struct dev d;
	void *n[3];
	bool irq, rang;
	int i, hellos = 0;

	qemu_open(&d, sysfsdev, true);
	guest_enable_msi(&d);
	CHECK(wait_ready(&d, 10000) && read_layout(&d), "instance is served");
	irq_grace_ms = 0;	/* interrupts are being rewired: don't wait for them */
	quiet_ok = true;
	pthread_create(&t[0], NULL, stress_access, &d);
	pthread_create(&t[1], NULL, stress_access, &d);
	pthread_create(&t[2], NULL, stress_irqs, &d);
	for (time_t end = time(NULL) + seconds; time(NULL) < end;) {
		struct vgpu_completion c;

		/* Commands keep flowing on channel 0 meanwhile. */
		if (hello_mmap(&d, 0, 0x8000 + hellos, d.msi_efd, &irq, &rang))
			hellos++;
		else
			break;
		(void)c;
	}
	stress_stop = true;
	for (i = 0; i < 3; i++)
		pthread_join(t[i], &n[i]);
	printf("# stress: %llu + %llu random accesses, %llu irq reconfigurations, %d HELLOs\n",
	       (unsigned long long)(uintptr_t)n[0], (unsigned long long)(uintptr_t)n[1],
	       (unsigned long long)(uintptr_t)n[2], hellos);
	quiet_ok = false;
	irq_grace_ms = 3000;
	CHECK(hellos > 0, "HELLOs kept being answered under the storm");
	guest_enable_msi(&d);
	bar0_write(&d, VGPU_REG_IRQ_ACK, VGPU_IRQ_ALL);
	CHECK(bar0_read(&d, VGPU_REG_MAGIC) == VGPU_MAGIC && cfg_read32(&d, 0) == 0x233110de,
	      "the device is intact afterwards");
	CHECK(hello_mmap(&d, 0, 0x8fff, d.msi_efd, &irq, &rang) && irq,
	      "and answers HELLO with MSI");
	munmap(d.bar1, d.bar1_size);
	close(d.fd);
	close(d.group);
	close(d.container);
	return failures ? 1 : 0;
}

/* The executor dies while serving and another takes over. */
static int mode_restart(const char *sysfsdev, const char *ready)
{
	struct dev d;
	bool irq, rang, dropped = false;
	int fd;

	qemu_open(&d, sysfsdev, true);
	guest_enable_msi(&d);
	CHECK(wait_ready(&d, 10000) && read_layout(&d), "instance is served");
	CHECK(hello_mmap(&d, 0, 0x6001, d.msi_efd, &irq, &rang), "HELLO before the executor dies");
	fired(d.msi_efd, 0);
	fd = open(ready, O_CREAT | O_WRONLY, 0644);
	close(fd);
	for (int i = 0; i < 200 && !dropped; i++) {
		dropped = !(bar0_read(&d, VGPU_REG_STATUS) & VGPU_STATUS_EXECUTOR_READY);
		if (!dropped)
			usleep(50000);
	}
	CHECK(dropped, "EXECUTOR_READY drops when the executor dies");
	CHECK(bar0_read(&d, VGPU_REG_IRQ_STATUS) & VGPU_IRQ_STATUS_CHANGE,
	      "IRQ_STATUS.STATUS_CHANGE tells the guest");
	CHECK(fired(d.msi_efd, 2000), "...with an MSI");
	bar0_write(&d, VGPU_REG_IRQ_ACK, VGPU_IRQ_ALL);
	CHECK(wait_ready(&d, 20000) && read_layout(&d), "a new executor serves it again");
	CHECK(hello_mmap(&d, 0, 0x6002, d.msi_efd, &irq, &rang) && irq,
	      "HELLO with the new executor, MSI");
	munmap(d.bar1, d.bar1_size);
	close(d.fd);
	close(d.group);
	close(d.container);
	return failures ? 1 : 0;
}

static int mode_chardev(const char *uuid)
{
	char path[128], id[16] = "";
	struct vgpu_kmod_version v;
	struct vgpu_kmod_open_instance oi = { 0 };
	struct vgpu_kmod_eventfd e;
	struct vgpu_kmod_instance_info info;
	struct vgpu_kmod_event ev[4];
	uint32_t causes;
	int ctl, ifd, efd;
	FILE *f;
	void *p;

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/vgpu_instance", uuid);
	f = fopen(path, "r");
	if (!f || !fgets(id, sizeof(id), f))
		die(path);
	fclose(f);
	ctl = open("/dev/vgpu-stub", O_RDWR | O_NONBLOCK);
	if (ctl < 0)
		die("/dev/vgpu-stub");
	CHECK(ioctl(ctl, VGPU_KMOD_GET_VERSION, &v) == 0 && v.abi_version == VGPU_KMOD_ABI_VERSION &&
	      v.event_size == sizeof(struct vgpu_kmod_event), "chardev ABI version %u", v.abi_version);
	CHECK_ERR(open("/dev/vgpu-stub", O_RDWR), EBUSY, "one executor at a time");
	CHECK_ERR(read(ctl, ev, 8), EINVAL, "read smaller than an event");
	CHECK(read(ctl, ev, sizeof(ev)) >= (ssize_t)sizeof(ev[0]) && ev[0].type == VGPU_KMOD_EV_CREATED,
	      "existing instances are replayed at open");
	CHECK_ERR(ioctl(ctl, _IO(VGPU_KMOD_IOC_MAGIC, 0x7f)), ENOTTY, "unknown ioctl");
	oi.instance = 100000;
	CHECK_ERR(ioctl(ctl, VGPU_KMOD_OPEN_INSTANCE, &oi), ENOENT, "unknown instance");
	oi.instance = (uint32_t)atoi(id);
	oi.flags = 1;
	CHECK_ERR(ioctl(ctl, VGPU_KMOD_OPEN_INSTANCE, &oi), EINVAL, "flags must be 0");
	oi.flags = 0;
	ifd = ioctl(ctl, VGPU_KMOD_OPEN_INSTANCE, &oi);
	CHECK(ifd >= 0, "open instance %u", oi.instance);
	CHECK_ERR(ioctl(ctl, VGPU_KMOD_OPEN_INSTANCE, &oi), EBUSY, "one attachment per instance");
	CHECK(ioctl(ifd, VGPU_KMOD_INST_INFO, &info) == 0 && info.bar1_size >= (16 << 20),
	      "instance info: type %s, BAR1 %llu MiB, vm_id %u", info.type,
	      (unsigned long long)info.bar1_size >> 20, info.vm_id);
	efd = eventfd(0, EFD_CLOEXEC);
	e.index = 64;
	e.fd = efd;
	CHECK_ERR(ioctl(ifd, VGPU_KMOD_SET_DOORBELL, &e), EINVAL, "doorbell channel 64");
	e.index = 0;
	e.fd = -5;
	CHECK_ERR(ioctl(ifd, VGPU_KMOD_SET_DOORBELL, &e), EINVAL, "doorbell fd -5");
	e.fd = 0;
	CHECK_ERR(ioctl(ifd, VGPU_KMOD_SET_DOORBELL, &e), EINVAL, "doorbell non-eventfd");
	e.fd = efd;
	CHECK(ioctl(ifd, VGPU_KMOD_SET_DOORBELL, &e) == 0, "doorbell eventfd accepted");
	e.index = 0x80;
	CHECK_ERR(ioctl(ifd, VGPU_KMOD_SET_IRQFD, &e), EINVAL, "irqfd with unknown cause");
	causes = 0;
	CHECK_ERR(ioctl(ifd, VGPU_KMOD_RAISE_IRQ, &causes), EINVAL, "raise nothing");
	causes = 1u << 5;
	CHECK_ERR(ioctl(ifd, VGPU_KMOD_RAISE_IRQ, &causes), EINVAL, "raise unknown cause");
	{
		struct vgpu_kmod_status st = { .value = 0x10, .mask = 0x10 };

		CHECK_ERR(ioctl(ifd, VGPU_KMOD_SET_STATUS, &st), EINVAL, "unknown STATUS bit");
	}
	CHECK_ERR(ioctl(ifd, VGPU_KMOD_INST_INFO, (void *)16), EFAULT, "info to a bad pointer");
	p = mmap(NULL, info.bar1_size + 4096, PROT_READ, MAP_SHARED, ifd, 0);
	CHECK_ERR(p == MAP_FAILED ? -1 : 0, EINVAL, "mmap past BAR1");
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ifd, (off_t)info.bar1_size);
	CHECK_ERR(p == MAP_FAILED ? -1 : 0, EINVAL, "mmap at BAR1's end");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, ifd, 0);
	CHECK_ERR(p == MAP_FAILED ? -1 : 0, EINVAL, "private mmap");
	p = mmap(NULL, info.bar1_size, PROT_READ | PROT_WRITE, MAP_SHARED, ifd, 0);
	CHECK(p != MAP_FAILED, "BAR1 maps");
	if (p != MAP_FAILED) {
		int r = longterm_pin(p, 1 << 20);

		/* io_uring of 6.1 refuses every non-shmem file mapping on its own. */
		if (r == -EOPNOTSUPP)
			printf("# long-term pin: this kernel's io_uring takes no file-backed buffers, no verdict\n");
		else
			CHECK(r == 0, "the executor's BAR1 mapping takes a long-term pin (%s)",
			      r ? strerror(-r) : "io_uring fixed buffer");
		munmap(p, info.bar1_size);
	}
	close(efd);
	close(ifd);
	close(ctl);
	printf("# %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}

/* ---- isolation between tenants and between instances ---- */

static void qemu_close(struct dev *d)
{
	munmap(d->bar1, d->bar1_size);
	close(d->fd);
	close(d->group);
	close(d->container);
	close(d->intx_efd);
	close(d->msi_efd);
	close(d->req_efd);
}

static int read_instance_id(const char *sysfsdev)
{
	char path[PATH_MAX], id[16] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/vgpu_instance", sysfsdev);
	f = fopen(path, "r");
	if (!f || !fgets(id, sizeof(id), f))
		die(path);
	fclose(f);
	return atoi(id);
}

/* Is all of BAR1 zero, through pread and through the mapping? */
static bool bar1_all_zero(struct dev *d)
{
	static uint8_t buf[1 << 20], zero[1 << 20];
	uint64_t off;

	for (off = 0; off < d->bar1_size; off += sizeof(buf)) {
		if (bar1_pread(d, buf, sizeof(buf), off) < 0 || memcmp(buf, zero, sizeof(buf)) ||
		    memcmp(d->bar1 + off, zero, sizeof(buf))) {
			printf("# BAR1 not zero in [%#" PRIx64 ", +1 MiB)\n", off);
			return false;
		}
	}
	return true;
}

/*
 * One tenant's session ends, the next one's begins: nothing of the first may
 * show.  Run with no executor: this program attaches as the executor would
 * and leaves READY set across the sessions, as a slow executor would.
 */
static int mode_tenants(const char *sysfsdev)
{
	static const char secret[] = "tenant one's secret";
	struct vgpu_kmod_open_instance oi = { .instance = (uint32_t)read_instance_id(sysfsdev) };
	struct vgpu_kmod_status ready = {
		.value = VGPU_STATUS_EXECUTOR_READY, .mask = VGPU_STATUS_EXECUTOR_READY,
	};
	uint8_t *exe_old, *exe_new;
	uint64_t mid;
	struct dev d;
	int ctl, ifd;

	ctl = open("/dev/vgpu-stub", O_RDWR | O_NONBLOCK);
	if (ctl < 0)
		die("/dev/vgpu-stub");
	ifd = ioctl(ctl, VGPU_KMOD_OPEN_INSTANCE, &oi);
	if (ifd < 0)
		die("OPEN_INSTANCE");
	CHECK(ioctl(ifd, VGPU_KMOD_SET_STATUS, &ready) == 0, "the executor says READY before any session");

	/* Tenant one: READY must not be taken for its own session's. */
	qemu_open(&d, sysfsdev, true);
	CHECK(bar0_read(&d, VGPU_REG_STATUS) == 0, "a new session starts with STATUS 0");
	CHECK(bar1_all_zero(&d), "the first session's BAR1 is zero");
	exe_old = mmap(NULL, d.bar1_size, PROT_READ | PROT_WRITE, MAP_SHARED, ifd, 0);
	if (exe_old == MAP_FAILED)
		die("executor mmap");
	CHECK(ioctl(ifd, VGPU_KMOD_SET_STATUS, &ready) == 0, "the executor serves it");
	mid = d.bar1_size / 2;
	memcpy(d.bar1, secret, sizeof(secret));
	memcpy(d.bar1 + d.bar1_size - sizeof(secret), secret, sizeof(secret));
	CHECK(bar1_pwrite(&d, secret, sizeof(secret), mid) == 0 &&
	      !memcmp(exe_old + mid, secret, sizeof(secret)) && !memcmp(exe_old, secret, sizeof(secret)),
	      "tenant one's writes reach the executor's mapping");
	qemu_close(&d);

	/* Tenant two: nothing of tenant one, and READY only once re-served. */
	qemu_open(&d, sysfsdev, true);
	CHECK(bar0_read(&d, VGPU_REG_STATUS) == 0,
	      "the next session starts with STATUS 0, not the last one's READY");
	CHECK(bar1_all_zero(&d), "the next session's BAR1 is zero: nothing of tenant one");
	memcpy(d.bar1 + mid, "tenant two", 10);
	CHECK(!memcmp(exe_old + mid, secret, sizeof(secret)),
	      "a mapping from the last session keeps the last session's pages");
	exe_new = mmap(NULL, d.bar1_size, PROT_READ | PROT_WRITE, MAP_SHARED, ifd, 0);
	CHECK(exe_new != MAP_FAILED && !memcmp(exe_new + mid, "tenant two", 10),
	      "the executor's new mapping is this session's BAR1");
	if (exe_new != MAP_FAILED)
		munmap(exe_new, d.bar1_size);
	munmap(exe_old, d.bar1_size);
	qemu_close(&d);
	close(ifd);
	close(ctl);
	printf("# %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}

static uint64_t bar1_generation(struct dev *d)
{
	return vgpu_load_acquire(&((struct vgpu_bar1_header *)d->bar1)->generation);
}

/* Served, and the service stays the same for a while (no more resets queued). */
static bool wait_settled(struct dev *d, int ms)
{
	uint64_t gen = 0;
	int stable = 0;

	for (int i = 0; i < ms / 100; i++) {
		bool ready = bar0_read(d, VGPU_REG_STATUS) & VGPU_STATUS_EXECUTOR_READY;
		uint64_t g = ready ? bar1_generation(d) : 0;

		stable = ready && g && g == gen ? stable + 1 : 0;
		gen = g;
		if (stable >= 20)
			return read_layout(d);
		usleep(100000);
	}
	return false;
}

/*
 * Instance B's guest resets its device @n times as fast as it can while A
 * is served: A must not notice.  With one event queue shared by every
 * instance, B's RESET events overflowed it and the executor's recovery
 * stopped and restarted the service of every instance, A's included.
 */
static int mode_flood(const char *dev_a, const char *dev_b, int n)
{
	struct dev a, b;
	bool irq, rang;
	uint64_t gen;
	int i, done = 0;

	qemu_open(&a, dev_a, true);
	guest_enable_msi(&a);
	CHECK(wait_ready(&a, 20000) && read_layout(&a), "A is served");
	CHECK(hello_mmap(&a, 0, 0xa001, a.msi_efd, &irq, &rang), "A: HELLO");
	gen = bar1_generation(&a);
	qemu_open(&b, dev_b, true);
	guest_enable_msi(&b);
	CHECK(wait_ready(&b, 20000), "B is served");
	bar0_write(&a, VGPU_REG_IRQ_ACK, VGPU_IRQ_ALL);

	for (i = 0; i < n; i++)
		if (ioctl(b.fd, VFIO_DEVICE_RESET) == 0)
			done++;
	CHECK(done == n, "B: %d of %d resets done", done, n);

	guest_enable_msi(&b);
	CHECK(wait_settled(&b, 120000), "B is served again once its flood is over");
	CHECK(hello_mmap(&b, 0, 0xb001, b.msi_efd, &irq, &rang) && irq, "B: HELLO with MSI");
	CHECK(!(bar0_read(&a, VGPU_REG_IRQ_STATUS) & VGPU_IRQ_STATUS_CHANGE) &&
	      (bar0_read(&a, VGPU_REG_STATUS) & VGPU_STATUS_EXECUTOR_READY),
	      "A: READY never dropped (no STATUS_CHANGE) while B flooded");
	CHECK(bar1_generation(&a) == gen, "A: its BAR1 was not formatted anew");
	CHECK(hello_mmap(&a, 0, 0xa002, a.msi_efd, &irq, &rang) && irq,
	      "A: HELLO on the same session, with MSI");
	qemu_close(&b);
	qemu_close(&a);
	printf("# %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "qemu"))
		return mode_qemu(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return mode_hold(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "stress"))
		return mode_stress(argv[2], atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "restart"))
		return mode_restart(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "chardev"))
		return mode_chardev(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "tenants"))
		return mode_tenants(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "flood"))
		return mode_flood(argv[2], argv[3], atoi(argv[4]));
	if (argc == 2 && !strcmp(argv[1], "chardev-busy")) {
		CHECK_ERR(open("/dev/vgpu-stub", O_RDWR), EBUSY, "a second executor is refused");
		return failures ? 1 : 0;
	}
	fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);
	return 2;
}
