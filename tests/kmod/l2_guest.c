// SPDX-License-Identifier: MIT
/*
 * Runs in the nested (L2) guest of the system test, which QEMU gave a
 * VGPU-STUB through -device vfio-pci,sysfsdev=...: finds the device, binds it
 * to the mainline uio_pci_generic (which insists on PCI 2.3 INTx masking),
 * maps BAR0 and BAR1 through sysfs as the guest shim does, sends HELLO on
 * channel 0, rings the doorbell and sleeps on /dev/uioN for the interrupt.
 * Static, no dependencies.  Prints "L2: PASS" or "L2: FAIL ...".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vgpu/bar1.h"
#include "vgpu/calls.h"
#include "vgpu/regs.h"
#include "vgpu/ring.h"

static void fail(const char *what)
{
	printf("L2: FAIL %s: %s\n", what, strerror(errno));
	exit(1);
}

static int read_hex(const char *dir, const char *name)
{
	char path[512], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return (int)strtol(buf, NULL, 16);
}

static void write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, s, strlen(s)) < 0)
		fail(path);
	close(fd);
}

/* Clear COMMAND.INTX_DISABLE (PCI 2.3) through the config file. */
static void intx_enable(const char *dev)
{
	char path[400];
	uint16_t cmd;
	int fd;

	snprintf(path, sizeof(path), "%s/config", dev);
	fd = open(path, O_RDWR);
	if (fd < 0 || pread(fd, &cmd, 2, 4) != 2)
		fail("config read");
	cmd &= (uint16_t)~0x400;
	if (pwrite(fd, &cmd, 2, 4) != 2)
		fail("config write");
	close(fd);
}

static uint32_t rd(volatile uint32_t *bar0, uint32_t off)
{
	return bar0[off / 4];
}

int main(void)
{
	char dev[300] = "", path[400];
	struct dirent *de;
	DIR *d = opendir("/sys/bus/pci/devices");
	volatile uint32_t *bar0;
	uint8_t *bar1;
	struct stat st;
	struct vgpu_layout l;
	uint64_t bar1_size, pos, cnt;
	uint32_t one = 1;
	int fd0, fd1, uio = -1;

	setvbuf(stdout, NULL, _IONBF, 0);
	while (d && (de = readdir(d))) {
		char p[300];

		snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s", de->d_name);
		if (read_hex(p, "vendor") == VGPU_PCI_VENDOR_ID &&
		    read_hex(p, "device") == VGPU_PCI_DEVICE_ID) {
			snprintf(dev, sizeof(dev), "%s", p);
			printf("L2: found VGPU-STUB at %s, class %06x\n", de->d_name,
			       read_hex(p, "class"));
		}
	}
	if (!dev[0]) {
		errno = ENODEV;
		fail("no 10de:2331 device");
	}
	/* Bind to uio_pci_generic: its probe checks INTx masking support. */
	write_str("/sys/bus/pci/drivers/uio_pci_generic/new_id", "10de 2331");
	for (int i = 0; i < 50 && uio < 0; i++) {
		snprintf(path, sizeof(path), "%s/uio", dev);
		DIR *u = opendir(path);

		while (u && (de = readdir(u)))
			if (!strncmp(de->d_name, "uio", 3)) {
				snprintf(path, sizeof(path), "/dev/%s", de->d_name);
				uio = open(path, O_RDWR);
			}
		if (u)
			closedir(u);
		if (uio < 0)
			usleep(100000);
	}
	if (uio < 0)
		fail("uio_pci_generic did not bind");
	printf("L2: bound to uio_pci_generic (%s)\n", path);

	snprintf(path, sizeof(path), "%s/resource0", dev);
	fd0 = open(path, O_RDWR | O_SYNC);
	snprintf(path, sizeof(path), "%s/resource1", dev);
	fd1 = open(path, O_RDWR | O_SYNC);
	if (fd0 < 0 || fd1 < 0 || fstat(fd1, &st) < 0)
		fail("resource files");
	bar0 = mmap(NULL, VGPU_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd0, 0);
	bar1_size = (uint64_t)st.st_size;
	bar1 = mmap(NULL, bar1_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, 0);
	if (bar0 == MAP_FAILED || bar1 == MAP_FAILED)
		fail("mmap BARs");
	if (rd(bar0, VGPU_REG_MAGIC) != VGPU_MAGIC) {
		errno = EPROTO;
		fail("BAR0 MAGIC");
	}
	printf("L2: MAGIC ok, version %#x, vm_id %u, BAR1 %llu MiB\n", rd(bar0, VGPU_REG_VERSION),
	       rd(bar0, VGPU_REG_VM_ID), (unsigned long long)bar1_size >> 20);
	for (int i = 0; i < 300 && !(rd(bar0, VGPU_REG_STATUS) & VGPU_STATUS_EXECUTOR_READY); i++)
		usleep(100000);
	if (!(rd(bar0, VGPU_REG_STATUS) & VGPU_STATUS_EXECUTOR_READY) ||
	    vgpu_layout_from_header((void *)bar1, bar1_size, &l) < 0) {
		errno = EAGAIN;
		fail("executor not ready / bad header");
	}
	printf("L2: executor ready, %u channels\n", l.channel_count);

	struct vgpu_channel_ctrl *ctrl = vgpu_channel_ctrl(bar1, &l, 0);
	struct vgpu_sq_producer p = { .ring = vgpu_channel_base(bar1, &l, 0) + l.sq_offset,
				      .size = l.sq_size, .ctrl = ctrl };
	struct vgpu_cq_consumer cq = { .ring = (void *)(vgpu_channel_base(bar1, &l, 0) + l.cq_offset),
				       .entries = l.cq_entries, .ctrl = ctrl };
	struct vgpu_hello_args a = { .major = VGPU_PROTOCOL_MAJOR, .minor = VGPU_PROTOCOL_MINOR,
				     .guest_pid = (uint32_t)getpid() };
	struct vgpu_completion c;
	struct vgpu_cmd_hdr *h;
	struct pollfd pf = { .fd = uio, .events = POLLIN };

	/*
	 * Interrupts on.  uio_pci_generic has no irqcontrol (write() to
	 * /dev/uioN is ENOSYS): its handler masks with COMMAND.INTX_DISABLE
	 * and userspace unmasks through config space.
	 */
	if (write(uio, &one, sizeof(one)) != sizeof(one) && errno != ENOSYS)
		fail("uio irq enable");
	intx_enable(dev);
	vgpu_store32(&ctrl->cq_need_irq, 1);
	vgpu_full_fence();
	h = vgpu_sq_reserve(&p, vgpu_rec_size(sizeof(a)), &pos);
	if (!h)
		fail("reserve");
	h->size = vgpu_rec_size(sizeof(a));
	h->opcode = VGPU_OP_HELLO;
	h->flags = VGPU_CMD_F_REPLY;
	h->tag = 0x4c32;
	h->ctx = 0;
	h->thread = 1;	/* protocol 1.1: records name their guest thread */
	memcpy(h + 1, &a, sizeof(a));
	if (vgpu_sq_commit(&p, h, pos))
		bar0[VGPU_REG_DOORBELL / 4] = 0;
	if (poll(&pf, 1, 120000) != 1 || read(uio, &cnt, 4) != 4)
		fail("no interrupt on /dev/uio");
	printf("L2: interrupt arrived through uio_pci_generic (IRQ_STATUS %#x)\n",
	       rd(bar0, VGPU_REG_IRQ_STATUS));
	bar0[VGPU_REG_IRQ_ACK / 4] = VGPU_IRQ_ALL;
	intx_enable(dev);
	for (int i = 0; i < 100 && !vgpu_cq_pop(&cq, &c); i++)
		usleep(10000);
	if (c.seal != 1 || c.tag != 0x4c32) {
		errno = EPROTO;
		fail("completion");
	}
	printf("L2: HELLO answered, status %u\n", c.status);
	printf("L2: PASS\n");
	return 0;
}
