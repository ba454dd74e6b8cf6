// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the executor's command decoder, fed hostile channels.
 *
 * Each input is one session's worth of submission ring traffic, in one of
 * two forms (chosen by the first byte):
 *   framed: a sequence of [u16 opcode][u16 flags][u32 ctx][u16 len][len bytes]
 *           that the harness turns into correctly sealed records, so the
 *           fuzzer reaches deep into every call's argument checks (ids,
 *           bulk offsets and lengths, names, parameter sizes);
 *   raw:    bytes written straight over the ring, so the ring parser itself
 *           meets forged seals and sizes.
 * Calls run against the CI test double of the driver (tests/fakecuda), in
 * process; every object is released after each input.  The executor must
 * neither crash nor read or write outside the channel (ASan watches).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "session.h"
#include "vgpu/calls.h"
#include "vgpu/regs.h"

#define BAR1_SIZE	(16u << 20)

static uint8_t *bar1;
static struct vgpu_worker_channel chan;
static struct vgpu_session sess;
static struct vgpu_real_driver drv;
static uint8_t rec[1 << 16];

static void put_record(struct vgpu_sq_producer *p, uint16_t op, uint16_t flags, uint32_t ctx,
		       const uint8_t *payload, size_t len)
{
	uint32_t size = vgpu_rec_size(len);
	struct vgpu_cmd_hdr *h;
	uint64_t pos;

	h = vgpu_sq_reserve(p, size, &pos);
	if (!h)
		return;
	h->size = size;
	h->opcode = op;
	h->flags = flags;
	h->tag = pos;
	h->ctx = ctx;
	memcpy(h + 1, payload, len);
	vgpu_sq_commit(p, h, pos);
}

/* Run everything on the ring, as the worker's loop does. */
static void drain(void)
{
	for (;;) {
		enum vgpu_sq_result r = vgpu_sq_pop(&sess.sq, sess.cmd_buf, sess.cmd_buf_size);
		struct vgpu_completion e;
		struct vgpu_cq_consumer c = { (void *)(vgpu_channel_base(bar1, &chan.layout, 0) +
						       chan.layout.cq_offset),
					      chan.layout.cq_entries,
					      sess.ctrl->cq_head, sess.ctrl };

		if (r != VGPU_SQ_RECORD)
			break;
		vgpu_dispatch(&sess, sess.cmd_buf, ((struct vgpu_cmd_hdr *)sess.cmd_buf)->size);
		/* Consume answers as a guest would, so the completion ring never fills. */
		while (vgpu_cq_pop(&c, &e))
			;
		if (sess.closing)
			break;
	}
}

static void start_session(void)
{
	struct vgpu_sq_producer p;
	struct vgpu_hello_args hello = { VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR, 1 };
	struct vgpu_primary_ctx_args retain = { .device = 0, .ctx_id = VGPU_FIRST_ID };

	memset(bar1, 0, BAR1_SIZE);
	vgpu_layout_write_header(&chan.layout, 1, chan.mem_quota, (void *)bar1);
	if (vgpu_session_init(&sess, &chan))
		abort();
	/* The driver stays loaded across inputs, as in a long-lived worker. */
	sess.drv = drv;
	sess.driver_ready = drv.handle != NULL;
	p = (struct vgpu_sq_producer){ sess.sq.ring, sess.sq.size, sess.ctrl };
	put_record(&p, VGPU_OP_HELLO, VGPU_CMD_F_REPLY, 0, (uint8_t *)&hello, sizeof(hello));
	put_record(&p, VGPU_OP_PRIMARY_CTX_RETAIN, VGPU_CMD_F_REPLY, 0, (uint8_t *)&retain,
		   sizeof(retain));
	drain();
	if (!drv.handle && sess.driver_ready)
		drv = sess.drv;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/vgpu-fuzz-cache-XXXXXX";

	(void)argc;
	(void)argv;
	setenv("VGPU_LIBCUDA", FAKECUDA_PATH, 0);
	setenv("FAKECUDA_MEM_LIMIT", "67108864", 0);
	if (mkdtemp(dir))
		setenv("VGPU_CACHE_DIR", dir, 0);
	bar1 = aligned_alloc(4096, BAR1_SIZE);
	if (!bar1 || vgpu_layout_compute(BAR1_SIZE, 4, 1u << 20, &chan.layout))
		abort();
	chan.bar1 = bar1;
	chan.channel = 0;
	chan.doorbell_fd = eventfd(0, EFD_NONBLOCK);
	chan.irq_fd = eventfd(0, EFD_NONBLOCK);
	chan.mem_quota = 64u << 20;
	chan.session_id = 1;
	start_session();
	if (!drv.handle) {
		fprintf(stderr, "fuzz_dispatch: the test double did not load (%s)\n",
			sess.driver_error);
		abort();
	}
	vgpu_session_release_objects(&sess);
	vgpu_session_teardown(&sess);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vgpu_sq_producer p;
	uint64_t v;

	if (size < 1)
		return 0;
	start_session();
	p = (struct vgpu_sq_producer){ sess.sq.ring, sess.sq.size, sess.ctrl };
	if (data[0] & 1) {
		/* Raw: the input lands where the next record would be. */
		size_t off = sess.sq.head & (sess.sq.size - 1), n = size - 1;

		if (n > sess.sq.size - off)
			n = sess.sq.size - off;
		memcpy(sess.sq.ring + off, data + 1, n);
		drain();
	} else {
		for (size_t i = 1; i + 10 <= size && !sess.closing;) {
			uint16_t op, flags, len;
			uint32_t ctx;

			memcpy(&op, data + i, 2);
			memcpy(&flags, data + i + 2, 2);
			memcpy(&ctx, data + i + 4, 4);
			memcpy(&len, data + i + 8, 2);
			i += 10;
			if (len > size - i)
				len = (uint16_t)(size - i);
			if (len > sizeof(rec))
				len = sizeof(rec);
			memcpy(rec, data + i, len);
			i += len;
			put_record(&p, op, flags, ctx, rec, len);
			drain();
		}
	}
	while (read(chan.irq_fd, &v, sizeof(v)) > 0)
		;
	vgpu_session_teardown(&sess);
	return 0;
}
