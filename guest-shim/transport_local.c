// SPDX-License-Identifier: MIT
/*
 * The local backend: attach to the executor's Unix socket, receive BAR0,
 * BAR1, the doorbell and the interrupt eventfd, and keep the socket open
 * for as long as the session lives (the executor ends it when it closes).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "transport.h"
#include "vgpu/local.h"
#include "vgpu/regs.h"

struct local_priv {
	int sock;
	int doorbell;
	int irq;
	uint64_t bar0_size;
};

static int recv_attach(int sock, struct vgpu_local_attach *a, int fds[4])
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { a, sizeof(*a) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*a) || a->magic != VGPU_LOCAL_MAGIC)
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(4 * sizeof(int)))
		return a->status ? 0 : -1;
	memcpy(fds, CMSG_DATA(c), 4 * sizeof(int));
	return 0;
}

static int local_open(struct vgpu_transport *t, char *err, size_t err_len)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct vgpu_local_attach a = { 0 };
	struct local_priv *p = calloc(1, sizeof(*p));
	int fds[4] = { -1, -1, -1, -1 };
	char path[108];
	void *b0 = MAP_FAILED, *b1 = MAP_FAILED;

	if (!p || vgpu_local_socket_path(path, sizeof(path))) {
		snprintf(err, err_len, "no memory or socket path too long");
		free(p);
		return -1;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	p->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->sock < 0 || connect(p->sock, (struct sockaddr *)&addr, sizeof(addr))) {
		snprintf(err, err_len,
			 "no executor at %s: %s (start one with 'vgpu run' or "
			 "'vgpu-executor --listen')",
			 path, strerror(errno));
		goto fail;
	}
	if (write(p->sock, VGPU_LOCAL_ATTACH, strlen(VGPU_LOCAL_ATTACH)) < 0 ||
	    recv_attach(p->sock, &a, fds)) {
		snprintf(err, err_len, "the executor at %s did not attach us", path);
		goto fail;
	}
	if (a.status) {
		snprintf(err, err_len, "the executor at %s refused a session (error %d)", path,
			 a.status);
		goto fail;
	}
	b0 = mmap(NULL, a.bar0_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	/* Populated now, so the first copies do not pay a page fault per 4 KiB. */
	b1 = mmap(NULL, a.bar1_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fds[1], 0);
	if (b0 == MAP_FAILED || b1 == MAP_FAILED || a.bar0_size < VGPU_BAR0_SIZE) {
		snprintf(err, err_len, "cannot map the executor's shared memory: %s",
			 strerror(errno));
		goto fail;
	}
	close(fds[0]);
	close(fds[1]);
	p->doorbell = fds[2];
	p->irq = fds[3];
	p->bar0_size = a.bar0_size;
	t->bar0 = b0;
	t->bar1 = b1;
	t->bar1_size = a.bar1_size;
	t->channel = a.channel;
	t->session_id = a.session_id;
	t->priv = p;
	return 0;
fail:
	if (b0 != MAP_FAILED)
		munmap(b0, a.bar0_size);
	if (b1 != MAP_FAILED)
		munmap(b1, a.bar1_size);
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (p->sock >= 0)
		close(p->sock);
	free(p);
	return -1;
}

static void local_doorbell(struct vgpu_transport *t)
{
	struct local_priv *p = t->priv;
	uint64_t one = 1;

	if (write(p->doorbell, &one, sizeof(one)) < 0)
		return;	/* an eventfd write fails only on overflow: the executor is awake */
}

static int local_wait_irq(struct vgpu_transport *t, int timeout_ms)
{
	struct local_priv *p = t->priv;
	struct pollfd pf[2] = {
		{ .fd = p->irq, .events = POLLIN },
		{ .fd = p->sock, .events = POLLIN },
	};
	uint64_t v;
	int n = poll(pf, 2, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -1;
	if (pf[1].revents)
		return -1;	/* the executor closed our session */
	if (pf[0].revents & POLLIN) {
		if (read(p->irq, &v, sizeof(v)) < 0)
			return 0;
		return 1;
	}
	return 0;
}

static void local_close(struct vgpu_transport *t)
{
	struct local_priv *p = t->priv;

	if (!p)
		return;
	munmap((void *)t->bar0, p->bar0_size);
	munmap(t->bar1, t->bar1_size);
	close(p->doorbell);
	close(p->irq);
	close(p->sock);
	free(p);
	t->priv = NULL;
}

const struct vgpu_transport_ops vgpu_transport_local = {
	.name = "local",
	.open = local_open,
	.doorbell = local_doorbell,
	.wait_irq = local_wait_irq,
	.close = local_close,
};

int vgpu_transport_open(struct vgpu_transport *t, char *err, size_t err_len)
{
	const char *want = getenv("VGPU_TRANSPORT");

	memset(t, 0, sizeof(*t));
	if (want && *want && strcmp(want, "local")) {
		snprintf(err, err_len, "transport '%s' is not available in this build", want);
		return -1;
	}
	t->ops = &vgpu_transport_local;
	if (t->ops->open(t, err, err_len))
		return -1;
	if (t->bar0[VGPU_REG_MAGIC / 4] != VGPU_MAGIC ||
	    t->bar0[VGPU_REG_VERSION / 4] >> 16 != VGPU_PROTOCOL_MAJOR) {
		snprintf(err, err_len, "the device speaks another protocol (version %#x)",
			 t->bar0[VGPU_REG_VERSION / 4]);
		t->ops->close(t);
		return -1;
	}
	if (vgpu_layout_from_header((const struct vgpu_bar1_header *)t->bar1, t->bar1_size,
				    &t->layout) || t->channel >= t->layout.channel_count) {
		snprintf(err, err_len, "the shared memory's header is not valid");
		t->ops->close(t);
		return -1;
	}
	return 0;
}
