// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the executor's command decoder, fed hostile channels.
 *
 * Each input is one session's worth of submission ring traffic, in one of
 * two forms (chosen by the first byte):
 *   framed: a sequence of [u16 opcode][u16 flags][u32 ctx][u16 len][len bytes]
 *           that the harness turns into correctly sealed records, so the
 *           fuzzer reaches deep into every call's argument checks (ids,
 *           bulk offsets and lengths, names, parameter sizes).  The low
 *           byte of flags is the header's flags, the high byte its guest
 *           thread.
 *   raw:    bytes written straight over the ring, so the ring parser itself
 *           meets forged seals and sizes.
 *
 * Structure, so that inputs get past the first checks to module loads,
 * function lookups and launches (tests/fuzz/gen_seeds.py writes seeds and a
 * dictionary that use these):
 *   - opcode FUZZ_OP_BULK_WRITE is no call: its payload [u32 offset][bytes]
 *     is written into the bulk area, as a guest stages data; the bytes'
 *     SHA-256 becomes "the last image hash";
 *   - in a record's payload, an 8-byte-aligned word FUZZ_SEAL becomes the
 *     record's seal (what a bulk sequence number must be), FUZZ_DPTR the
 *     device pointer the last MEM_ALLOC answered, and four FUZZ_HASH words
 *     in a row the last image hash.
 * Records of one input share one session, so objects created by one are
 * there for the next.  Two kinds of record could make a session wait
 * forever by design (tame_waits): stream waits on values and host functions
 * numbered out of order; the harness keeps them from doing so.
 *
 * Memory: the control block, the two rings and the bulk area are separate
 * allocations, so ASan sees a read or write past any of them (one BAR1
 * allocation would hide an overrun of one region into the next).  Between
 * inputs only what the input touched is cleared: the control block, the
 * ring bytes written, the completions posted and the bulk bytes the harness
 * wrote or the executor named (every bulk reference goes through
 * vgpu_bulk(), wrapped here at link time).
 *
 * Calls run against the CI test double of the driver (tests/fakecuda), in
 * process; every object is released after each input.  The executor must
 * neither crash nor read or write outside the channel (ASan watches).
 */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/sha256.h"
#include "dispatch.h"
#include "session.h"
#include "vgpu/calls.h"
#include "vgpu/regs.h"

/*
 * A small BAR1 (one channel and a 256 KiB pinned heap, for ops 144-146) is as
 * hostile as a large one and cheap to clear.
 */
#define BAR1_SIZE		(1u << 20)
#define FUZZ_OP_BULK_WRITE	0xffffu
#define FUZZ_SEAL		0x4c4145535f554756ull	/* "VGU_SEAL" */
#define FUZZ_DPTR		0x525450445f554756ull	/* "VGU_DPTR" */
#define FUZZ_HASH		0x485341485f554756ull	/* "VGU_HASH" */
#define MAX_TAGS		256

static uint8_t *bar1;		/* only for the header and vgpu_session_init's arithmetic */
static struct vgpu_worker_channel chan;
static struct vgpu_session sess;
static struct vgpu_real_driver drv;
static uint8_t rec[1 << 16];	/* any u16 length fits */

/* The channel's regions, each its own allocation. */
static struct vgpu_channel_ctrl *ctrl;
static uint8_t *sq, *bulk;
static struct vgpu_completion *cq;
static uint64_t sq_size, bulk_size;
static uint32_t cq_entries;

/* What an input touched, for the next input's reset. */
static uint64_t sq_dirty, bulk_lo, bulk_hi;

/* Session state the structure placeholders draw on. */
static uint8_t last_hash[VGPU_HASH_SIZE];
static uint64_t last_dptr;
static uint64_t alloc_tags[MAX_TAGS];	/* tags of MEM_ALLOC records not answered yet */
static uint32_t nalloc_tags;

/*
 * The double's sticky fault.  A kernel that touched bad memory makes the
 * double answer CUDA_ERROR_ILLEGAL_ADDRESS for the rest of the process, as a
 * GPU does; a real worker is a fresh process per session, but here every
 * input is a session in one process, so one faulting input would poison all
 * later ones.  The flag is the double's internal fc_sticky (not exported:
 * the double's interface stays the driver's), found in its symbol table and
 * cleared between inputs.
 */
static int *double_sticky;

static int find_base(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	if (info->dlpi_name && !strcmp(info->dlpi_name, FAKECUDA_PATH)) {
		*(uintptr_t *)arg = info->dlpi_addr;
		return 1;
	}
	return 0;
}

static int *find_double_sticky(void)
{
	uintptr_t base = 0;
	struct stat st;
	int *found = NULL;
	int fd;

	if (!dl_iterate_phdr(find_base, &base) || (fd = open(FAKECUDA_PATH, O_RDONLY)) < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && (size_t)st.st_size > sizeof(Elf64_Ehdr)) {
		const uint8_t *f = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		const Elf64_Ehdr *eh = (const void *)f;

		if (f != MAP_FAILED && eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) <=
					       (uint64_t)st.st_size) {
			const Elf64_Shdr *sh = (const void *)(f + eh->e_shoff);

			for (unsigned i = 0; i < eh->e_shnum && !found; i++) {
				const Elf64_Sym *sym = (const void *)(f + sh[i].sh_offset);
				const char *names;

				if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
					continue;
				names = (const char *)f + sh[sh[i].sh_link].sh_offset;
				for (size_t k = 0; k < sh[i].sh_size / sizeof(*sym); k++)
					if (!strcmp(names + sym[k].st_name, "fc_sticky"))
						found = (int *)(base + sym[k].st_value);
			}
		}
		if (f != MAP_FAILED)
			munmap((void *)f, st.st_size);
	}
	close(fd);
	return found;
}

static void bulk_touched(uint64_t off, uint64_t len)
{
	if (off >= bulk_size)
		return;
	if (len > bulk_size - off)
		len = bulk_size - off;
	if (off < bulk_lo)
		bulk_lo = off;
	if (off + len > bulk_hi)
		bulk_hi = off + len;
}

/* Every bulk reference the executor resolves: its bytes are this input's. */
uint8_t *__real_vgpu_bulk(struct vgpu_session *s, const struct vgpu_bulk_ref *r);
uint8_t *__wrap_vgpu_bulk(struct vgpu_session *s, const struct vgpu_bulk_ref *r)
{
	uint8_t *p = __real_vgpu_bulk(s, r);

	if (p)
		bulk_touched(r->off, r->len);
	return p;
}

static void fill_placeholders(uint8_t *p, size_t len, uint64_t seal)
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		if (w == FUZZ_SEAL) {
			memcpy(p + i, &seal, 8);
		} else if (w == FUZZ_DPTR) {
			memcpy(p + i, &last_dptr, 8);
		} else if (w == FUZZ_HASH && i + VGPU_HASH_SIZE <= len) {
			uint64_t w3[3];

			memcpy(w3, p + i + 8, sizeof(w3));
			if (w3[0] == FUZZ_HASH && w3[1] == FUZZ_HASH && w3[2] == FUZZ_HASH) {
				memcpy(p + i, last_hash, VGPU_HASH_SIZE);
				i += VGPU_HASH_SIZE - 8;
			}
		}
	}
}

/*
 * Stream waits on a value (cuStreamWaitValue*) that nothing ever writes keep
 * the session's end waiting forever, in the harness as in a real worker
 * (where the parent's watchdog ends it), and an input easily asks for one
 * (== 5 and == 7 on one word).  The executor passes address, value and
 * condition to the driver unchecked; the harness fuzzes the rest of the
 * record and gives every wait a width the executor refuses, so that no
 * input waits forever.
 *
 * Host functions: the guest numbers them in order, and the session's end
 * releases a stream waiting for one by storing the latest generation.  An
 * input that goes back in generations would wait forever at that end (a
 * hang of its own session only, which the parent's watchdog ends); the
 * harness numbers them as a guest does instead.
 */
static uint64_t host_gen;

static void tame_waits(uint16_t op, uint8_t *payload, size_t len)
{
	if (op == VGPU_OP_LAUNCH_HOST_FUNC && len >= sizeof(struct vgpu_host_func_args)) {
		uint64_t gen = ++host_gen;

		memcpy(payload + offsetof(struct vgpu_host_func_args, gen), &gen, sizeof(gen));
	}
	if (op == VGPU_OP_STREAM_WAIT_VALUE && len >= sizeof(struct vgpu_stream_value_args)) {
		uint32_t width = 0;

		memcpy(payload + offsetof(struct vgpu_stream_value_args, width), &width,
		       sizeof(width));
	}
}

static void put_record(struct vgpu_sq_producer *p, uint16_t op, uint16_t flags, uint32_t ctx,
		       uint8_t *payload, size_t len)
{
	uint32_t size = vgpu_rec_size(len);
	struct vgpu_cmd_hdr *h;
	uint64_t pos;

	h = vgpu_sq_reserve(p, size, &pos);
	if (!h)
		return;
	/*
	 * The record is whole granules: what the input did not give is zero,
	 * never bytes an earlier record left in the ring (they would make the
	 * input's meaning depend on what ran before it).
	 */
	if (payload != rec)
		payload = memcpy(rec, payload, len);
	memset(payload + len, 0, size - sizeof(*h) - len);
	len = size - sizeof(*h);
	fill_placeholders(payload, len, pos + 1);
	h->size = size;
	h->opcode = op;
	h->flags = flags & 0xff;
	h->tag = pos + 1;
	h->ctx = ctx;
	h->thread = flags >> 8;
	tame_waits(op, payload, len);
	memcpy(h + 1, payload, len);
	if (op == VGPU_OP_MEM_ALLOC && (flags & VGPU_CMD_F_REPLY) && nalloc_tags < MAX_TAGS)
		alloc_tags[nalloc_tags++] = pos + 1;
	if (ctrl->sq_reserve > sq_dirty)
		sq_dirty = ctrl->sq_reserve;
	vgpu_sq_commit(p, h, pos);
}

static bool trace;	/* FUZZ_TRACE=1: print every answer (to check what a seed reaches) */

/* A completion, as the guest would take it; MEM_ALLOC answers give FUZZ_DPTR its value. */
static void take_answer(const struct vgpu_completion *e)
{
	if (trace)
		fprintf(stderr, "fuzz_dispatch: answer tag %lu status %u\n", (unsigned long)e->tag,
			e->status);
	for (uint32_t i = 0; i < nalloc_tags; i++) {
		if (alloc_tags[i] != e->tag)
			continue;
		if (e->status == CUDA_SUCCESS && e->len >= sizeof(uint64_t))
			memcpy(&last_dptr, e->data, sizeof(last_dptr));
		alloc_tags[i] = alloc_tags[--nalloc_tags];
		return;
	}
}

static struct vgpu_cq_consumer cq_cons;

static void take_answers(void)
{
	struct vgpu_completion e;

	/* Consume answers as a guest would, so the completion ring never fills. */
	while (vgpu_cq_pop(&cq_cons, &e))
		take_answer(&e);
}

/* Run everything on the ring, as the worker's loop does. */
static void drain(void)
{
	for (;;) {
		enum vgpu_sq_result r = vgpu_sq_pop(&sess.sq, sess.cmd_buf, sess.cmd_buf_size);

		if (r != VGPU_SQ_RECORD)
			break;
		if (trace)
			fprintf(stderr, "fuzz_dispatch: record at %lu: opcode %u\n",
				(unsigned long)(sess.sq.head -
						((struct vgpu_cmd_hdr *)sess.cmd_buf)->size + 1),
				((struct vgpu_cmd_hdr *)sess.cmd_buf)->opcode);
		vgpu_dispatch(&sess, sess.cmd_buf, ((struct vgpu_cmd_hdr *)sess.cmd_buf)->size);
		vgpu_session_poll(&sess);
		take_answers();
		if (sess.closing)
			break;
	}
	vgpu_session_poll(&sess);
	take_answers();
}

/* Point the session at the separate regions instead of the BAR1 arithmetic. */
static void use_regions(void)
{
	sess.ctrl = ctrl;
	sess.channel = (uint8_t *)ctrl;	/* what gets pinned: the control block (host-function flags) */
	sess.sq = (struct vgpu_sq_consumer){ sq, sq_size, 0, ctrl };
	sess.cq = (struct vgpu_cq_producer){ cq, cq_entries, 0, ctrl };
	sess.bulk = bulk;
	vgpu_store32(&ctrl->exec_state, VGPU_EXEC_SERVING);
	cq_cons = (struct vgpu_cq_consumer){ cq, cq_entries, 0, ctrl };
}

/* Clear what the last input touched, so each input starts from the same channel. */
static void reset_regions(void)
{
	uint64_t posted = sess.cq.tail < cq_entries ? sess.cq.tail : cq_entries;

	memset(ctrl, 0, sizeof(*ctrl));
	memset(sq, 0, sq_dirty < sq_size ? sq_dirty : sq_size);
	memset(cq, 0, posted * sizeof(*cq));
	if (bulk_hi > bulk_lo)
		memset(bulk + bulk_lo, 0, bulk_hi - bulk_lo);
	sq_dirty = 0;
	bulk_lo = bulk_size;
	bulk_hi = 0;
	memset(last_hash, 0, sizeof(last_hash));
	last_dptr = 0;
	nalloc_tags = 0;
}

static void start_session(void)
{
	struct vgpu_sq_producer p;
	struct vgpu_hello_args hello = { VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR, 1 };
	struct vgpu_primary_ctx_args retain = { .device = 0, .ctx_id = VGPU_FIRST_ID };

	if (vgpu_session_init(&sess, &chan))
		abort();
	use_regions();
	/* The driver stays loaded across inputs, as in a long-lived worker. */
	sess.drv = drv;
	sess.driver_ready = drv.handle != NULL;
	p = (struct vgpu_sq_producer){ sq, sq_size, ctrl };
	put_record(&p, VGPU_OP_HELLO, VGPU_CMD_F_REPLY | 1u << 8, 0, (uint8_t *)&hello,
		   sizeof(hello));
	put_record(&p, VGPU_OP_PRIMARY_CTX_RETAIN, VGPU_CMD_F_REPLY | 1u << 8, 0,
		   (uint8_t *)&retain, sizeof(retain));
	drain();
	if (!drv.handle && sess.driver_ready)
		drv = sess.drv;
}

static void end_session(void)
{
	uint64_t v;

	while (read(chan.irq_fd, &v, sizeof(v)) > 0)
		;
	host_gen = 0;
	vgpu_session_teardown(&sess);
	reset_regions();
	/* The next input is a new session, as if in a new worker process. */
	if (double_sticky)
		__atomic_store_n(double_sticky, 0, __ATOMIC_SEQ_CST);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	trace = getenv("FUZZ_TRACE") && !strcmp(getenv("FUZZ_TRACE"), "1");
	setenv("VGPU_LIBCUDA", FAKECUDA_PATH, 0);
	setenv("FAKECUDA_MEM_LIMIT", "67108864", 0);
	/* The double runs kernels on the CPU: a GPU-sized grid would take it hours. */
	setenv("FAKECUDA_MAX_LAUNCH_THREADS", "65536", 0);
	/* No disk cache: an image one input uploaded must not change how the next runs. */
	setenv("VGPU_CACHE_DIR", "/nonexistent/vgpu-fuzz-no-cache", 0);
	bar1 = aligned_alloc(4096, BAR1_SIZE);
	if (!bar1 || vgpu_layout_compute(BAR1_SIZE, 1, 256u << 10, &chan.layout))
		abort();
	memset(bar1, 0, BAR1_SIZE);
	vgpu_layout_write_header(&chan.layout, 1, 64u << 20, (void *)bar1);
	sq_size = chan.layout.sq_size;
	cq_entries = chan.layout.cq_entries;
	bulk_size = chan.layout.bulk_size;
	/* Only the control block is pinned (see use_regions). */
	chan.layout.channel_stride = sizeof(*ctrl);
	ctrl = aligned_alloc(4096, sizeof(*ctrl));
	sq = aligned_alloc(4096, sq_size);
	cq = aligned_alloc(4096, cq_entries * sizeof(*cq));
	bulk = aligned_alloc(4096, bulk_size);
	if (!ctrl || !sq || !cq || !bulk)
		abort();
	memset(ctrl, 0, sizeof(*ctrl));
	memset(sq, 0, sq_size);
	memset(cq, 0, cq_entries * sizeof(*cq));
	memset(bulk, 0, bulk_size);
	bulk_lo = bulk_size;
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
	double_sticky = find_double_sticky();
	if (!double_sticky) {
		fprintf(stderr, "fuzz_dispatch: no fc_sticky in %s's symbol table\n", FAKECUDA_PATH);
		abort();
	}
	fprintf(stderr, "fuzz_dispatch: ring %lu bytes, %u completions, bulk %lu bytes\n",
		(unsigned long)sq_size, cq_entries, (unsigned long)bulk_size);
	end_session();
	return 0;
}

/* FUZZ_OP_BULK_WRITE: stage bytes in the bulk area, as a guest does before a call. */
static void bulk_write(const uint8_t *p, size_t len)
{
	uint32_t off;

	if (len < 4)
		return;
	memcpy(&off, p, 4);
	p += 4;
	len -= 4;
	off %= (uint32_t)bulk_size;
	if (len > bulk_size - off)
		len = bulk_size - off;
	memcpy(bulk + off, p, len);
	bulk_touched(off, len);
	vgpu_sha256(p, len, last_hash);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vgpu_sq_producer p;

	if (size < 1)
		return 0;
	start_session();
	p = (struct vgpu_sq_producer){ sq, sq_size, ctrl };
	if (data[0] & 1) {
		/* Raw: the input lands where the next record would be. */
		size_t off = sess.sq.head & (sq_size - 1), n = size - 1;

		if (n > sq_size - off)
			n = sq_size - off;
		memcpy(sq + off, data + 1, n);
		if (off + n > sq_dirty)
			sq_dirty = off + n;
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
			memcpy(rec, data + i, len);
			i += len;
			if (op == FUZZ_OP_BULK_WRITE) {
				bulk_write(rec, len);
				continue;
			}
			put_record(&p, op, flags, ctx, rec, len);
			drain();
		}
	}
	end_session();
	return 0;
}
