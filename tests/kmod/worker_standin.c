// SPDX-License-Identifier: MIT
/*
 * TEST STAND-IN for userspace-exec/worker.c, used only until the real worker
 * is on this branch (tests/kmod/kmod.mk picks the real one when it exists).
 * It implements worker.h's interface with just enough protocol to answer
 * HELLO; every other call gets CUDA_ERROR_NOT_SUPPORTED (801).  No CUDA.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vgpu/calls.h"
#include "vgpu/regs.h"
#include "vgpu/ring.h"
#include "worker.h"

#define STANDIN_NOT_SUPPORTED	801u

static void raise_irq(const struct vgpu_worker_channel *ch)
{
	uint64_t one = 1;

	if (ch->bar0_irq_status)
		__atomic_fetch_or(ch->bar0_irq_status, VGPU_IRQ_COMPLETION, __ATOMIC_SEQ_CST);
	if (write(ch->irq_fd, &one, sizeof(one)) != sizeof(one))
		_exit(3);
}

int vgpu_worker_main(const struct vgpu_worker_channel *ch)
{
	const struct vgpu_layout *l = &ch->layout;
	struct vgpu_channel_ctrl *ctrl = vgpu_channel_ctrl(ch->bar1, l, ch->channel);
	uint8_t *base = vgpu_channel_base(ch->bar1, l, ch->channel);
	struct vgpu_sq_consumer sq = { .ring = base + l->sq_offset, .size = l->sq_size,
				       .ctrl = ctrl };
	struct vgpu_cq_producer cq = { .ring = (void *)(base + l->cq_offset),
				       .entries = l->cq_entries, .ctrl = ctrl };
	size_t bufsz = l->sq_size / 4;
	uint8_t *buf = malloc(bufsz);

	if (!buf)
		return 1;
	vgpu_store32(&ctrl->exec_state, VGPU_EXEC_SERVING);
	for (;;) {
		struct vgpu_cmd_hdr *h = (void *)buf;
		enum vgpu_sq_result r = vgpu_sq_pop(&sq, buf, bufsz);

		if (r == VGPU_SQ_CORRUPT)
			return 2;
		if (r == VGPU_SQ_EMPTY) {
			struct pollfd p = { .fd = ch->doorbell_fd, .events = POLLIN };
			uint64_t v;

			vgpu_store32(&ctrl->sq_need_doorbell, 1);
			vgpu_full_fence();
			if (vgpu_sq_ready(&sq))
				continue;
			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				return 1;
			if (read(ch->doorbell_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return 1;
			vgpu_store32(&ctrl->sq_need_doorbell, 0);
			continue;
		}
		if (h->opcode == VGPU_OP_GOODBYE)
			break;
		if (!(h->flags & VGPU_CMD_F_REPLY))
			continue;
		while (!vgpu_cq_space(&cq))
			usleep(1000);
		if (h->opcode == VGPU_OP_HELLO) {
			struct vgpu_hello_reply rep = {
				.major = VGPU_PROTOCOL_MAJOR, .minor = VGPU_PROTOCOL_MINOR,
				.session_id = ch->session_id, .mem_quota = ch->mem_quota,
			};

			if (vgpu_cq_post(&cq, h->tag, 0, &rep, sizeof(rep)))
				raise_irq(ch);
		} else if (vgpu_cq_post(&cq, h->tag, STANDIN_NOT_SUPPORTED, NULL, 0)) {
			raise_irq(ch);
		}
	}
	vgpu_store32(&ctrl->exec_state, VGPU_EXEC_CLOSED);
	return 0;
}

pid_t vgpu_worker_spawn(const struct vgpu_worker_channel *ch)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	for (int fd = 3; fd < 1024; fd++)
		if (fd != ch->doorbell_fd && fd != ch->irq_fd)
			close(fd);
	signal(SIGTERM, SIG_DFL);
	_exit(vgpu_worker_main(ch));
}
