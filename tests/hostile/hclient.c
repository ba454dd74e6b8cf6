// SPDX-License-Identifier: MIT
/* The malicious-client suite's raw client of the local transport (see hclient.h). */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../common/sha256.h"
#include "hclient.h"
#include "vgpu/regs.h"

int hc_stall_ms(void)
{
	const char *e = getenv("HC_STALL_MS");
	int v = e ? atoi(e) : 0;

	return v > 0 ? v : 120000;
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

int hc_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Wait until @fd is readable; false after hc_stall_ms() without. */
static bool wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, hc_stall_ms());
	while (r < 0 && errno == EINTR);
	return r == 1;
}

int hc_attach(const char *path, struct hc_session *s)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct vgpu_local_attach a = { 0 };
	struct iovec iov = { &a, sizeof(a) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fds[4];
	ssize_t n;

	memset(s, 0, sizeof(*s));
	s->sock = s->bar0_fd = s->bar1_fd = s->db = s->irq = -1;
	s->sock = hc_connect(path);
	if (s->sock < 0)
		return -1;
	if (write(s->sock, VGPU_LOCAL_ATTACH, strlen(VGPU_LOCAL_ATTACH)) < 0 ||
	    !wait_readable(s->sock))
		goto broken;
	n = recvmsg(s->sock, &m, MSG_CMSG_CLOEXEC);
	if (n != (ssize_t)sizeof(a) || a.magic != VGPU_LOCAL_MAGIC)
		goto broken;
	s->attach_status = a.status;
	c = CMSG_FIRSTHDR(&m);
	if (a.status)
		return 1;
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(4 * sizeof(int)))
		goto broken;
	memcpy(fds, CMSG_DATA(c), sizeof(fds));
	s->bar0_fd = fds[0];
	s->bar1_fd = fds[1];
	s->db = fds[2];
	s->irq = fds[3];
	s->bar0_size = a.bar0_size;
	s->bar1_size = a.bar1_size;
	s->session_id = a.session_id;
	s->bar0 = mmap(NULL, a.bar0_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->bar0_fd, 0);
	s->bar1 = mmap(NULL, a.bar1_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->bar1_fd, 0);
	if (s->bar0 == MAP_FAILED || s->bar1 == MAP_FAILED ||
	    vgpu_layout_from_header((void *)s->bar1, a.bar1_size, &s->l) ||
	    a.channel >= s->l.channel_count) {
		if (s->bar0 == MAP_FAILED)
			s->bar0 = NULL;
		if (s->bar1 == MAP_FAILED)
			s->bar1 = NULL;
		goto broken;
	}
	s->ctrl = vgpu_channel_ctrl(s->bar1, &s->l, a.channel);
	s->sq = (struct vgpu_sq_producer){ vgpu_channel_base(s->bar1, &s->l, a.channel) +
						   s->l.sq_offset,
					   s->l.sq_size, s->ctrl };
	s->cq = (struct vgpu_cq_consumer){
		(struct vgpu_completion *)(vgpu_channel_base(s->bar1, &s->l, a.channel) +
					   s->l.cq_offset),
		s->l.cq_entries, __atomic_load_n(&s->ctrl->cq_head, __ATOMIC_ACQUIRE), s->ctrl
	};
	s->bulk = vgpu_channel_base(s->bar1, &s->l, a.channel) + s->l.bulk_offset;
	s->bulk_size = s->l.bulk_size;
	s->bulk_seq = 0;
	s->next_tag = 1;
	return 0;
broken:
	hc_close(s);
	return -1;
}

void hc_close(struct hc_session *s)
{
	if (s->bar0)
		munmap((void *)s->bar0, s->bar0_size);
	if (s->bar1)
		munmap(s->bar1, s->bar1_size);
	s->bar0 = NULL;
	s->bar1 = NULL;
	for (int *fd = &s->sock; fd <= &s->irq; fd++) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

static bool session_gone(struct hc_session *s)
{
	struct pollfd p = { .fd = s->sock, .events = POLLIN };

	if (__atomic_load_n(&s->ctrl->exec_state, __ATOMIC_ACQUIRE) == VGPU_EXEC_CLOSED)
		return true;
	return poll(&p, 1, 0) == 1;
}

static void doorbell(struct hc_session *s)
{
	uint64_t one = 1;

	if (write(s->db, &one, sizeof(one)) < 0)
		return;	/* a full counter: the worker has a doorbell pending anyway */
}

/* Wait for the answer tagged @tag. */
static uint32_t wait_answer(struct hc_session *s, uint64_t tag, struct vgpu_completion *ans)
{
	uint64_t start = now_ms();
	struct vgpu_completion e;

	for (;;) {
		while (vgpu_cq_pop(&s->cq, &e)) {
			if (e.tag != tag)
				continue;	/* an earlier call's, given up on */
			if (ans)
				*ans = e;
			return e.status;
		}
		if (session_gone(s))
			return HC_GONE;
		if (now_ms() - start > (uint64_t)hc_stall_ms())
			return HC_STALLED;
		vgpu_store32(&s->ctrl->cq_need_irq, 1);
		vgpu_full_fence();
		if (s->cq.ring[s->cq.head & (s->cq.entries - 1)].seal != s->cq.head + 1) {
			struct pollfd p[2] = { { .fd = s->irq, .events = POLLIN },
					       { .fd = s->sock, .events = POLLIN } };
			uint64_t v;

			if (poll(p, 2, 100) > 0 && (p[0].revents & POLLIN) &&
			    read(s->irq, &v, sizeof(v)) != sizeof(v))
				v = 0;	/* nothing taken: the ring is looked at again anyway */
		}
		vgpu_store32(&s->ctrl->cq_need_irq, 0);
	}
}

/* Place one record; its tag in *@tag.  0 or HC_*. */
static uint32_t put(struct hc_session *s, uint16_t op, uint16_t flags, uint32_t ctx,
		    const void *args, size_t len, const void *tail, size_t tail_len, uint64_t *tag)
{
	uint32_t size = vgpu_rec_size(len + tail_len);
	uint64_t pos, start = now_ms();
	struct vgpu_cmd_hdr *h;

	while (!(h = vgpu_sq_reserve(&s->sq, size, &pos))) {
		if (size > vgpu_sq_max_record(&s->sq))
			return HC_NO_ROOM;
		if (session_gone(s))
			return HC_GONE;
		if (now_ms() - start > (uint64_t)hc_stall_ms())
			return HC_NO_ROOM;
		doorbell(s);
		usleep(100);
	}
	*tag = s->next_tag++;
	h->size = size;
	h->opcode = op;
	h->flags = flags;
	h->tag = *tag;
	h->ctx = ctx;
	h->thread = 1;
	if (len)
		memcpy(h + 1, args, len);
	/* Outgoing bulk data carries its record's seal as sequence number (protocol 1.1). */
	if (op == VGPU_OP_MEMCPY_HTOD || op == VGPU_OP_IMAGE_UPLOAD) {
		size_t off = op == VGPU_OP_MEMCPY_HTOD
				     ? offsetof(struct vgpu_memcpy_htod_args, bulk_seq)
				     : offsetof(struct vgpu_image_upload_args, bulk_seq);

		s->bulk_seq = pos + 1;
		if (len >= off + sizeof(uint64_t))
			memcpy((uint8_t *)(h + 1) + off, &s->bulk_seq, sizeof(uint64_t));
	}
	if (tail_len)
		memcpy((uint8_t *)(h + 1) + len, tail, tail_len);
	if (vgpu_sq_commit(&s->sq, h, pos))
		doorbell(s);
	return 0;
}

uint32_t hc_call(struct hc_session *s, uint16_t op, bool reply, uint32_t ctx, const void *args,
		 size_t len, const void *tail, size_t tail_len, struct vgpu_completion *ans)
{
	bool want = reply || ans;
	uint64_t tag;
	uint32_t r = put(s, op, want ? VGPU_CMD_F_REPLY : 0, ctx, args, len, tail, tail_len, &tag);

	if (r || !want)
		return r;
	return wait_answer(s, tag, ans);
}

uint32_t hc_submit(struct hc_session *s, uint16_t op, uint16_t flags, uint32_t ctx,
		   const void *args, size_t len)
{
	uint64_t tag;

	return put(s, op, flags, ctx, args, len, NULL, 0, &tag);
}

uint32_t hc_start(struct hc_session *s)
{
	struct vgpu_hello_args hello = { VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR,
					 (uint32_t)getpid() };
	struct vgpu_primary_ctx_args retain = { .device = 0, .ctx_id = HC_CTX };
	struct vgpu_completion ans;
	uint32_t r;

	r = hc_call(s, VGPU_OP_HELLO, true, 0, &hello, sizeof(hello), NULL, 0, &ans);
	if (r)
		return r;
	memcpy(&s->hello, ans.data, sizeof(s->hello));
	return hc_call(s, VGPU_OP_PRIMARY_CTX_RETAIN, true, 0, &retain, sizeof(retain), NULL, 0,
		       NULL);
}

/* Wait until the executor no longer reads bulk sequence @seq, which starts at offset 0. */
static bool wait_retired(struct hc_session *s, uint64_t seq)
{
	uint64_t start = now_ms();

	while (__atomic_load_n(&s->ctrl->bulk_slot_retired[0], __ATOMIC_ACQUIRE) != seq) {
		if (session_gone(s) || now_ms() - start > (uint64_t)hc_stall_ms())
			return false;
		doorbell(s);
		usleep(200);
	}
	return true;
}

int hc_roundtrip(struct hc_session *s, uint64_t bytes)
{
	struct vgpu_mem_alloc_args alloc = { .size = bytes };
	struct vgpu_completion ans;
	struct vgpu_memcpy_htod_args h2d = { 0 };
	struct vgpu_memcpy_dtoh_args d2h = { 0 };
	struct vgpu_mem_free_args fr;
	uint64_t dptr;
	uint32_t r;

	if (2 * bytes > s->bulk_size)
		return -1;
	r = hc_call(s, VGPU_OP_MEM_ALLOC, true, HC_CTX, &alloc, sizeof(alloc), NULL, 0, &ans);
	if (r) {
		fprintf(stderr, "roundtrip: MEM_ALLOC of %lu: status %#x\n", (unsigned long)bytes, r);
		return -1;
	}
	memcpy(&dptr, ans.data, sizeof(dptr));
	for (uint64_t i = 0; i < bytes; i++)
		s->bulk[i] = (uint8_t)(i * 7 + s->session_id);
	memset(s->bulk + bytes, 0, bytes);
	h2d = (struct vgpu_memcpy_htod_args){ .dst = dptr, .stream = 0, .src = { 0, bytes },
					      .bulk_seq = 0 /* the seal, set by put() */ };
	r = hc_call(s, VGPU_OP_MEMCPY_HTOD, true, HC_CTX, &h2d, sizeof(h2d), NULL, 0, NULL);
	if (r || !wait_retired(s, s->bulk_seq)) {
		fprintf(stderr, "roundtrip: MEMCPY_HTOD: status %#x\n", r);
		return -1;
	}
	d2h = (struct vgpu_memcpy_dtoh_args){ .src = dptr, .stream = 0, .dst = { bytes, bytes } };
	r = hc_call(s, VGPU_OP_MEMCPY_DTOH, true, HC_CTX, &d2h, sizeof(d2h), NULL, 0, NULL);
	if (r) {
		fprintf(stderr, "roundtrip: MEMCPY_DTOH: status %#x\n", r);
		return -1;
	}
	for (uint64_t i = 0; i < bytes; i++)
		if (s->bulk[bytes + i] != (uint8_t)(i * 7 + s->session_id)) {
			fprintf(stderr, "roundtrip: byte %lu differs\n", (unsigned long)i);
			return -1;
		}
	fr.dptr = dptr;
	r = hc_call(s, VGPU_OP_MEM_FREE, true, HC_CTX, &fr, sizeof(fr), NULL, 0, NULL);
	if (r) {
		fprintf(stderr, "roundtrip: MEM_FREE: status %#x\n", r);
		return -1;
	}
	return 0;
}

uint32_t hc_upload_image(struct hc_session *s, const void *img, uint64_t len,
			 uint8_t hash[VGPU_HASH_SIZE])
{
	uint64_t chunk = s->bulk_size < (4u << 20) ? s->bulk_size : (4u << 20);

	vgpu_sha256(img, len, hash);
	for (uint64_t off = 0; off < len; off += chunk) {
		uint64_t n = len - off < chunk ? len - off : chunk;
		struct vgpu_image_upload_args up = { .total = len, .offset = off, .src = { 0, n } };
		uint32_t r;

		memcpy(up.hash, hash, VGPU_HASH_SIZE);
		memcpy(s->bulk, (const uint8_t *)img + off, n);
		r = hc_call(s, VGPU_OP_IMAGE_UPLOAD, false, 0, &up, sizeof(up), NULL, 0, NULL);
		up.bulk_seq = s->bulk_seq;
		if (r)
			return r;
		if (!wait_retired(s, up.bulk_seq))
			return session_gone(s) ? HC_GONE : HC_STALLED;
	}
	return 0;
}

char *hc_status(const char *path)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1);
	int fd = hc_connect(path);
	ssize_t n;

	if (!buf || fd < 0 || write(fd, VGPU_LOCAL_STATUS, strlen(VGPU_LOCAL_STATUS)) < 0) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (len < cap && wait_readable(fd) && (n = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return buf;
}
