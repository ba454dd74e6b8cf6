// SPDX-License-Identifier: MIT
/*
 * The executor's virtual memory management and stream-ordered allocation,
 * record by record: what works (a ggml-style pool: reserve, map chunks,
 * access, copies across chunks, release before unmap, one unmap over
 * several mappings) and what hostile records get (another session's or an
 * unreserved range, double unmap and release, bad handles, overflowing
 * sizes, the quota).  Two sessions run in process against the CI test
 * double of the driver (tests/fakecuda, not a driver), which shares one
 * address space between them - so only the executor's own checks keep one
 * session out of the other's ranges - and aborts on a handle the executor
 * should have refused.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "session.h"
#include "test.h"
#include "vgpu/calls.h"
#include "vgpu/regs.h"
#include "vmm.h"

#define BAR1_SIZE	(16u << 20)
#define CTX		VGPU_FIRST_ID
#define THREAD		1u
#define MiB		(1ull << 20)
#define GRAN		(2 * MiB)	/* the double's granularity, an H200's */
#define QUOTA		(64 * MiB)

struct sess {
	uint8_t *bar1;
	struct vgpu_worker_channel chan;
	struct vgpu_session s;
	struct vgpu_sq_producer prod;
	struct vgpu_cq_consumer cons;
};

static struct sess A, B;

/* Submit one record and run it; the answer's status (or the kept error of an async call). */
static uint32_t callx(struct sess *x, uint16_t op, uint16_t flags, const void *args, size_t len,
		      const void *tail, size_t tail_len, struct vgpu_completion *ans)
{
	struct vgpu_completion e = { 0 };
	uint32_t size = vgpu_rec_size(len + tail_len);
	struct vgpu_cmd_hdr *h;
	uint64_t pos;

	h = vgpu_sq_reserve(&x->prod, size, &pos);
	if (!h)
		abort();
	h->size = size;
	h->opcode = op;
	h->flags = flags;
	h->tag = pos + 1;
	h->ctx = op == VGPU_OP_HELLO || op == VGPU_OP_PRIMARY_CTX_RETAIN ? 0 : CTX;
	h->thread = THREAD;
	memcpy(h + 1, args, len);
	if (tail_len)
		memcpy((uint8_t *)(h + 1) + len, tail, tail_len);
	vgpu_sq_commit(&x->prod, h, pos);
	if (vgpu_sq_pop(&x->s.sq, x->s.cmd_buf, x->s.cmd_buf_size) != VGPU_SQ_RECORD)
		return 0xffffffff;
	vgpu_dispatch(&x->s, x->s.cmd_buf, ((struct vgpu_cmd_hdr *)x->s.cmd_buf)->size);
	vgpu_session_drain(&x->s);
	if (!(flags & VGPU_CMD_F_REPLY))
		return vgpu_take_error(&x->s, THREAD, CTX, VGPU_KEPT_ANY_STREAM) ?:
		       vgpu_take_error(&x->s, THREAD, CTX, 0);
	if (!vgpu_cq_pop(&x->cons, &e) || e.tag != pos + 1)
		return 0xfffffffe;
	if (ans)
		*ans = e;
	return e.status;
}

#define SYNC(x, op, args) callx(x, op, VGPU_CMD_F_REPLY, &(args), sizeof(args), NULL, 0, NULL)
#define SYNCA(x, op, args, ans) callx(x, op, VGPU_CMD_F_REPLY, &(args), sizeof(args), NULL, 0, ans)
#define ASYNC(x, op, args) callx(x, op, 0, &(args), sizeof(args), NULL, 0, NULL)

static uint64_t u64(const struct vgpu_completion *c)
{
	uint64_t v;

	memcpy(&v, c->data, sizeof(v));
	return v;
}

static void open_session(struct sess *x, uint64_t id)
{
	struct vgpu_hello_args hello = { VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR, 1 };
	struct vgpu_primary_ctx_args retain = { .device = 0, .ctx_id = CTX };

	x->bar1 = aligned_alloc(4096, BAR1_SIZE);
	memset(x->bar1, 0, BAR1_SIZE);
	CHECK(vgpu_layout_compute(BAR1_SIZE, 4, 0, &x->chan.layout) == 0);
	x->chan.bar1 = x->bar1;
	x->chan.doorbell_fd = eventfd(0, 0);
	x->chan.irq_fd = eventfd(0, EFD_NONBLOCK);
	x->chan.mem_quota = QUOTA;
	x->chan.session_id = id;
	vgpu_layout_write_header(&x->chan.layout, 1, x->chan.mem_quota, (void *)x->bar1);
	CHECK(vgpu_session_init(&x->s, &x->chan) == 0);
	x->prod = (struct vgpu_sq_producer){ x->s.sq.ring, x->s.sq.size, x->s.ctrl };
	x->cons = (struct vgpu_cq_consumer){ x->s.cq.ring, x->s.cq.entries, 0, x->s.ctrl };
	CHECK(SYNC(x, VGPU_OP_HELLO, hello) == CUDA_SUCCESS);
	CHECK(SYNC(x, VGPU_OP_PRIMARY_CTX_RETAIN, retain) == CUDA_SUCCESS);
}

static const struct vgpu_vmm_prop PROP = { .type = CU_MEM_ALLOCATION_TYPE_PINNED,
					   .loc_type = CU_MEM_LOCATION_TYPE_DEVICE };

static uint32_t reserve(struct sess *x, uint64_t size, uint64_t align, uint64_t *out)
{
	struct vgpu_vmm_reserve_args a = { .size = size, .alignment = align };
	struct vgpu_completion ans;
	uint32_t r = SYNCA(x, VGPU_OP_VMM_RESERVE, a, &ans);

	if (r == CUDA_SUCCESS)
		*out = u64(&ans);
	return r;
}

static uint32_t create(struct sess *x, uint64_t id, uint64_t size)
{
	struct vgpu_vmm_create_args a = { .id = id, .size = size, .prop = PROP };

	return SYNC(x, VGPU_OP_VMM_CREATE, a);
}

static uint32_t map(struct sess *x, uint64_t ptr, uint64_t size, uint64_t off, uint64_t id)
{
	struct vgpu_vmm_map_args a = { .ptr = ptr, .size = size, .offset = off, .id = id };

	return SYNC(x, VGPU_OP_VMM_MAP, a);
}

static uint32_t unmap(struct sess *x, uint64_t ptr, uint64_t size)
{
	struct vgpu_vmm_range_args a = { .ptr = ptr, .size = size };

	return SYNC(x, VGPU_OP_VMM_UNMAP, a);
}

static uint32_t release(struct sess *x, uint64_t id)
{
	struct vgpu_vmm_handle_args a = { .id = id };

	return SYNC(x, VGPU_OP_VMM_RELEASE, a);
}

static uint32_t set_access(struct sess *x, uint64_t ptr, uint64_t size, uint32_t flags,
			   int32_t dev)
{
	struct vgpu_vmm_set_access_args a = { .ptr = ptr, .size = size, .count = 1 };
	struct vgpu_vmm_access d = { CU_MEM_LOCATION_TYPE_DEVICE, dev, flags, 0 };

	return callx(x, VGPU_OP_VMM_SET_ACCESS, VGPU_CMD_F_REPLY, &a, sizeof(a), &d, sizeof(d),
		     NULL);
}

/* Write @n bytes at @dst (inline), read them back through @src. */
static uint32_t put(struct sess *x, uint64_t dst, const void *data, uint64_t n)
{
	struct vgpu_memcpy_htod_inline_args a = { .dst = dst, .stream = 0, .len = n };

	return callx(x, VGPU_OP_MEMCPY_HTOD_INLINE, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC, &a,
		     sizeof(a), data, n, NULL);
}

static uint32_t get(struct sess *x, uint64_t src, void *out, uint64_t n)
{
	struct vgpu_memcpy_dtoh_args a = { .src = src, .stream = 0, .dst = { 0, n } };
	uint32_t r = SYNC(x, VGPU_OP_MEMCPY_DTOH, a);

	if (r == CUDA_SUCCESS)
		memcpy(out, x->s.bulk, n);
	return r;
}

/* The double's free device memory, straight from it (the same library the sessions loaded). */
static uint64_t double_free(void)
{
	static CUresult (*mem_get_info)(size_t *, size_t *);
	size_t f = 0, t = 0;

	if (!mem_get_info) {
		void *h = dlopen(FAKECUDA_PATH, RTLD_NOW | RTLD_NOLOAD);

		mem_get_info = h ? (CUresult(*)(size_t *, size_t *))dlsym(h, "cuMemGetInfo_v2") : NULL;
	}
	return mem_get_info && mem_get_info(&f, &t) == CUDA_SUCCESS ? f : 0;
}

static void test_granularity(void)
{
	struct vgpu_vmm_granularity_args g = { .prop = PROP, .option = 1 };
	struct vgpu_completion ans;

	CHECK(SYNCA(&A, VGPU_OP_VMM_GRANULARITY, g, &ans) == CUDA_SUCCESS && u64(&ans) == GRAN);
	g.option = 7;
	CHECK(SYNC(&A, VGPU_OP_VMM_GRANULARITY, g) == CUDA_ERROR_INVALID_VALUE);
	g.option = 0;
	g.prop.handle_types = CU_MEM_HANDLE_TYPE_FABRIC;	/* not offered */
	CHECK(SYNC(&A, VGPU_OP_VMM_GRANULARITY, g) == CUDA_ERROR_NOT_SUPPORTED);
	g.prop.handle_types = CU_MEM_HANDLE_TYPE_WIN32;
	CHECK(SYNC(&A, VGPU_OP_VMM_GRANULARITY, g) == CUDA_ERROR_NOT_SUPPORTED);
	g.prop.handle_types = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;	/* no export, no harm */
	CHECK(SYNC(&A, VGPU_OP_VMM_GRANULARITY, g) == CUDA_SUCCESS);
	g.prop = PROP;
	g.prop.loc_id = 3;
	CHECK(SYNC(&A, VGPU_OP_VMM_GRANULARITY, g) == CUDA_ERROR_INVALID_DEVICE);
	g.prop.loc_id = -1;
	CHECK(SYNC(&A, VGPU_OP_VMM_GRANULARITY, g) == CUDA_ERROR_INVALID_DEVICE);
	g.prop = PROP;
	g.prop.type = 2;
	CHECK(SYNC(&A, VGPU_OP_VMM_GRANULARITY, g) == CUDA_ERROR_INVALID_VALUE);
}

static void test_reserve(void)
{
	struct vgpu_vmm_reserve_args a = { .size = GRAN };
	uint64_t p;

	a.size = 0;
	CHECK(SYNC(&A, VGPU_OP_VMM_RESERVE, a) == CUDA_ERROR_INVALID_VALUE);
	a.size = GRAN + 4096;
	CHECK(SYNC(&A, VGPU_OP_VMM_RESERVE, a) == CUDA_ERROR_INVALID_VALUE);
	a.size = GRAN;
	a.flags = 1;
	CHECK(SYNC(&A, VGPU_OP_VMM_RESERVE, a) == CUDA_ERROR_INVALID_VALUE);
	a.flags = 0;
	a.alignment = 3 * GRAN;
	CHECK(SYNC(&A, VGPU_OP_VMM_RESERVE, a) == CUDA_ERROR_INVALID_VALUE);
	a.alignment = 0;
	a.addr = 12345;	/* a hint off the granularity */
	CHECK(SYNC(&A, VGPU_OP_VMM_RESERVE, a) == CUDA_ERROR_INVALID_VALUE);
	a.addr = UINT64_MAX - GRAN + 1;	/* hint + size wraps */
	a.size = 2 * GRAN;
	CHECK(SYNC(&A, VGPU_OP_VMM_RESERVE, a) == CUDA_ERROR_INVALID_VALUE);
	a.addr = 0;
	a.size = UINT64_MAX - GRAN + 1;	/* size + alignment wraps */
	a.alignment = 4 * GRAN;
	CHECK(SYNC(&A, VGPU_OP_VMM_RESERVE, a) == CUDA_ERROR_INVALID_VALUE);
	/* ggml's first reservation: 32 GiB of address space, no memory. */
	CHECK(reserve(&A, 1ull << 35, 0, &p) == CUDA_SUCCESS && p && p % GRAN == 0);
	struct vgpu_vmm_range_args f = { p, 1ull << 35 };
	CHECK(SYNC(&A, VGPU_OP_VMM_ADDRESS_FREE, f) == CUDA_SUCCESS);
	CHECK(SYNC(&A, VGPU_OP_VMM_ADDRESS_FREE, f) == CUDA_ERROR_INVALID_VALUE);
}

/* A ggml-style pool: one big reservation, chunks mapped at its end, released at once. */
static void test_pool_growth(void)
{
	const uint64_t H1 = 100, H2 = 101, H3 = 102;
	uint8_t buf[64], back[64];
	uint64_t r, rb;
	uint64_t before = double_free();
	struct vgpu_completion ans;

	CHECK(reserve(&A, 64 * MiB, 0, &r) == CUDA_SUCCESS);
	CHECK(reserve(&B, 8 * MiB, 0, &rb) == CUDA_SUCCESS);

	/* Creation: ids, sizes, properties, the quota. */
	CHECK(create(&A, 5, GRAN) == CUDA_ERROR_INVALID_HANDLE);	/* below the first id */
	CHECK(create(&A, CTX, GRAN) == CUDA_ERROR_INVALID_HANDLE);	/* the context's id */
	CHECK(create(&A, H1, GRAN + 512) == CUDA_ERROR_INVALID_VALUE);
	CHECK(create(&A, H1, 0) == CUDA_ERROR_INVALID_VALUE);
	struct vgpu_vmm_create_args c = { .id = H1, .size = GRAN, .prop = PROP };
	c.prop.handle_types = CU_MEM_HANDLE_TYPE_FABRIC;	/* PyTorch tries it first */
	CHECK(SYNC(&A, VGPU_OP_VMM_CREATE, c) == CUDA_ERROR_NOT_SUPPORTED);
	c.prop.handle_types = 0x80;
	CHECK(SYNC(&A, VGPU_OP_VMM_CREATE, c) == CUDA_ERROR_NOT_SUPPORTED);
	c.prop = PROP;
	c.flags = 1;
	CHECK(SYNC(&A, VGPU_OP_VMM_CREATE, c) == CUDA_ERROR_INVALID_VALUE);
	CHECK(create(&A, H1, 128 * MiB) == CUDA_ERROR_OUT_OF_MEMORY);	/* over the quota */
	CHECK(create(&A, H1, 1ull << 62) == CUDA_ERROR_OUT_OF_MEMORY);
	/* PyTorch's expandable segments then ask for POSIX fd handles (and never export here). */
	c.prop.handle_types = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
	c.flags = 0;
	c.id = 103;
	CHECK(SYNC(&A, VGPU_OP_VMM_CREATE, c) == CUDA_SUCCESS);
	struct vgpu_vmm_handle_args gp0 = { .id = 103 };
	struct vgpu_vmm_prop pr0;
	CHECK(SYNCA(&A, VGPU_OP_VMM_GET_PROP, gp0, &ans) == CUDA_SUCCESS);
	memcpy(&pr0, ans.data, sizeof(pr0));
	CHECK(pr0.handle_types == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
	CHECK(release(&A, 103) == CUDA_SUCCESS);
	CHECK(A.s.quota.charged[VGPU_CHARGE_VMM] == 0);
	CHECK(create(&A, H1, GRAN) == CUDA_SUCCESS);
	CHECK(create(&A, H1, GRAN) == CUDA_ERROR_INVALID_HANDLE);	/* its id is taken */
	CHECK(create(&A, H2, GRAN) == CUDA_SUCCESS);
	CHECK(A.s.quota.charged[VGPU_CHARGE_VMM] == 2 * GRAN);
	CHECK(double_free() == before - 2 * GRAN);

	/* Mapping: only the session's own handles, inside its own reservations. */
	CHECK(map(&A, r, GRAN, 0, 999) == CUDA_ERROR_INVALID_HANDLE);
	CHECK(map(&B, rb, GRAN, 0, H1) == CUDA_ERROR_INVALID_HANDLE);	/* A's handle in B */
	CHECK(map(&A, rb, GRAN, 0, H1) == CUDA_ERROR_INVALID_VALUE);	/* B's reservation */
	CHECK(map(&A, r + 64 * MiB, GRAN, 0, H1) == CUDA_ERROR_INVALID_VALUE);	/* past its end */
	CHECK(map(&A, r + GRAN / 2, GRAN, 0, H1) == CUDA_ERROR_INVALID_VALUE);	/* misaligned */
	CHECK(map(&A, r + 62 * MiB, 2 * GRAN, 0, H1) == CUDA_ERROR_INVALID_VALUE);	/* past it */
	CHECK(map(&A, r, GRAN, GRAN, H1) == CUDA_ERROR_INVALID_VALUE);	/* offset + size > size */
	CHECK(map(&A, r, GRAN, UINT64_MAX - GRAN + 1, H1) == CUDA_ERROR_INVALID_VALUE);
	CHECK(map(&A, r, UINT64_MAX - GRAN + 1, 0, H1) == CUDA_ERROR_INVALID_VALUE);
	CHECK(map(&A, 0x1000, GRAN, 0, H1) == CUDA_ERROR_INVALID_VALUE);	/* nowhere */
	struct vgpu_vmm_map_args mf = { .ptr = r, .size = GRAN, .id = H1, .flags = 1 };
	CHECK(SYNC(&A, VGPU_OP_VMM_MAP, mf) == CUDA_ERROR_INVALID_VALUE);
	CHECK(map(&A, r, GRAN, 0, H1) == CUDA_SUCCESS);
	CHECK(map(&A, r, GRAN, 0, H2) == CUDA_ERROR_INVALID_VALUE);	/* mapped already */
	CHECK(map(&A, r + GRAN, GRAN, 0, H2) == CUDA_SUCCESS);	/* the pool grows at its end */

	/* Mapped is not accessible: the access call grants it, over whole mappings. */
	memset(buf, 0x5a, sizeof(buf));
	CHECK(put(&A, r, buf, sizeof(buf)) != CUDA_SUCCESS);
	CHECK(set_access(&A, r, 3 * GRAN, CU_MEM_ACCESS_FLAGS_PROT_READWRITE, 0) ==
	      CUDA_ERROR_INVALID_VALUE);	/* a hole */
	CHECK(set_access(&A, r, GRAN / 2, CU_MEM_ACCESS_FLAGS_PROT_READWRITE, 0) ==
	      CUDA_ERROR_INVALID_VALUE);	/* cuts a mapping */
	CHECK(set_access(&A, r, 2 * GRAN, 2, 0) == CUDA_ERROR_INVALID_VALUE);	/* no such flags */
	CHECK(set_access(&A, r, 2 * GRAN, CU_MEM_ACCESS_FLAGS_PROT_READWRITE, 1) ==
	      CUDA_ERROR_INVALID_DEVICE);
	CHECK(set_access(&B, r, 2 * GRAN, CU_MEM_ACCESS_FLAGS_PROT_READWRITE, 0) ==
	      CUDA_ERROR_INVALID_VALUE);	/* A's mappings, from B */
	struct vgpu_vmm_set_access_args sa = { .ptr = r, .size = 2 * GRAN, .count = 0 };
	CHECK(SYNC(&A, VGPU_OP_VMM_SET_ACCESS, sa) == CUDA_ERROR_INVALID_VALUE);
	sa.count = 3;	/* more descriptors than the record holds */
	CHECK(SYNC(&A, VGPU_OP_VMM_SET_ACCESS, sa) == CUDA_ERROR_INVALID_VALUE);
	sa.count = VGPU_VMM_MAX_ACCESS + 1;
	CHECK(SYNC(&A, VGPU_OP_VMM_SET_ACCESS, sa) == CUDA_ERROR_INVALID_VALUE);
	CHECK(!vgpu_vmm_owns(&A.s, r, 16, false));
	CHECK(set_access(&A, r, 2 * GRAN, CU_MEM_ACCESS_FLAGS_PROT_READWRITE, 0) == CUDA_SUCCESS);
	CHECK(vgpu_vmm_owns(&A.s, r, 2 * GRAN, true));
	CHECK(!vgpu_vmm_owns(&A.s, r, 2 * GRAN + 1, false));
	CHECK(!vgpu_vmm_owns(&B.s, r, 16, false));

	/* Copies across the chunk boundary, and a memset, as ggml's buffers do. */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	CHECK(put(&A, r + GRAN - 32, buf, sizeof(buf)) == CUDA_SUCCESS);
	CHECK(get(&A, r + GRAN - 32, back, sizeof(back)) == CUDA_SUCCESS &&
	      !memcmp(buf, back, sizeof(buf)));
	struct vgpu_memset_args ms = { .dst = r + GRAN - 8, .stream = 0, .width = 16,
				       .value = 0xee, .elem_size = 1 };
	CHECK(callx(&A, VGPU_OP_MEMSET, VGPU_CMD_F_REPLY, &ms, sizeof(ms), NULL, 0, NULL) ==
	      CUDA_SUCCESS);
	CHECK(get(&A, r + GRAN - 8, back, 16) == CUDA_SUCCESS && back[0] == 0xee && back[15] == 0xee);
	struct vgpu_memcpy_dtod_args dd = { .dst = r + GRAN + 4096, .src = r + GRAN - 32,
					    .len = 64, .stream = 0 };
	CHECK(callx(&A, VGPU_OP_MEMCPY_DTOD, VGPU_CMD_F_REPLY, &dd, sizeof(dd), NULL, 0, NULL) ==
	      CUDA_SUCCESS);
	CHECK(get(&A, r + GRAN + 4096, back, 8) == CUDA_SUCCESS && !memcmp(back, buf, 8));

	/* One allocation mapped twice is one memory. */
	CHECK(map(&A, r + 8 * MiB, GRAN, 0, H1) == CUDA_SUCCESS);
	CHECK(set_access(&A, r + 8 * MiB, GRAN, CU_MEM_ACCESS_FLAGS_PROT_READ, 0) == CUDA_SUCCESS);
	CHECK(get(&A, r + 8 * MiB + GRAN - 32, back, 32) == CUDA_SUCCESS &&
	      !memcmp(back, buf, 24) && back[24] == 0xee);	/* the memset's bytes too */
	CHECK(vgpu_vmm_owns(&A.s, r + 8 * MiB, 8, false) && !vgpu_vmm_owns(&A.s, r + 8 * MiB, 8, true));

	/* Access and handles by address. */
	struct vgpu_vmm_get_access_args ga = { .ptr = r + 8 * MiB + 100,
					       .loc_type = CU_MEM_LOCATION_TYPE_DEVICE };
	CHECK(SYNCA(&A, VGPU_OP_VMM_GET_ACCESS, ga, &ans) == CUDA_SUCCESS &&
	      u64(&ans) == CU_MEM_ACCESS_FLAGS_PROT_READ);
	ga.ptr = r + 3 * GRAN;
	CHECK(SYNC(&A, VGPU_OP_VMM_GET_ACCESS, ga) == CUDA_ERROR_INVALID_VALUE);
	ga.ptr = r;
	CHECK(SYNC(&B, VGPU_OP_VMM_GET_ACCESS, ga) == CUDA_ERROR_INVALID_VALUE);
	struct vgpu_vmm_retain_args ra = { .ptr = r + GRAN + 77 };
	CHECK(SYNCA(&A, VGPU_OP_VMM_RETAIN, ra, &ans) == CUDA_SUCCESS && u64(&ans) == H2);
	CHECK(SYNC(&B, VGPU_OP_VMM_RETAIN, ra) == CUDA_ERROR_INVALID_VALUE);
	ra.ptr = r + 20 * MiB;
	CHECK(SYNC(&A, VGPU_OP_VMM_RETAIN, ra) == CUDA_ERROR_INVALID_VALUE);
	CHECK(release(&A, H2) == CUDA_SUCCESS);	/* the retained handle */
	struct vgpu_vmm_handle_args gp = { .id = H1 };
	CHECK(SYNCA(&A, VGPU_OP_VMM_GET_PROP, gp, &ans) == CUDA_SUCCESS);
	struct vgpu_vmm_prop pr;
	memcpy(&pr, ans.data, sizeof(pr));
	CHECK(pr.type == CU_MEM_ALLOCATION_TYPE_PINNED && pr.loc_id == 0 && pr.handle_types == 0);
	gp.id = CTX;	/* an id of another type */
	CHECK(SYNC(&A, VGPU_OP_VMM_GET_PROP, gp) == CUDA_ERROR_INVALID_HANDLE);

	/* Release before unmap (ggml does it at once): the memory stays while mapped. */
	CHECK(release(&A, H1) == CUDA_SUCCESS);
	CHECK(release(&A, H2) == CUDA_SUCCESS);
	CHECK(release(&A, H1) == CUDA_ERROR_INVALID_HANDLE);	/* the double would abort */
	CHECK(map(&A, r + 4 * GRAN, GRAN, 0, H1) == CUDA_ERROR_INVALID_HANDLE);
	gp.id = H1;
	CHECK(SYNC(&A, VGPU_OP_VMM_GET_PROP, gp) == CUDA_ERROR_INVALID_HANDLE);
	CHECK(A.s.quota.charged[VGPU_CHARGE_VMM] == 2 * GRAN);
	memset(buf + 24, 0xee, 16);	/* what the memset wrote */
	CHECK(get(&A, r + GRAN - 32, back, sizeof(back)) == CUDA_SUCCESS &&
	      !memcmp(buf, back, sizeof(buf)));
	/* Retaining by address gives the released allocation its handle back. */
	ra.ptr = r + 8;
	CHECK(SYNCA(&A, VGPU_OP_VMM_RETAIN, ra, &ans) == CUDA_SUCCESS && u64(&ans) == H1);
	CHECK(release(&A, H1) == CUDA_SUCCESS);

	/* Unmapping: whole mappings, several at once, once. */
	CHECK(unmap(&A, r, GRAN / 2) == CUDA_ERROR_INVALID_VALUE);	/* cuts a mapping */
	CHECK(unmap(&A, r + 20 * MiB, GRAN) == CUDA_ERROR_INVALID_VALUE);	/* nothing there */
	CHECK(unmap(&A, rb, GRAN) == CUDA_ERROR_INVALID_VALUE);	/* B's reservation */
	CHECK(unmap(&B, r, 2 * GRAN) == CUDA_ERROR_INVALID_VALUE);	/* A's mappings */
	CHECK(unmap(&A, r - GRAN, 2 * GRAN) == CUDA_ERROR_INVALID_VALUE);	/* outside */
	CHECK(unmap(&A, r, UINT64_MAX - GRAN + 1) == CUDA_ERROR_INVALID_VALUE);
	CHECK(unmap(&A, r, 2 * GRAN) == CUDA_SUCCESS);	/* two mappings in one call */
	CHECK(A.s.quota.charged[VGPU_CHARGE_VMM] == GRAN);	/* H2 is gone, H1 is still mapped */
	CHECK(double_free() == before - GRAN);
	CHECK(unmap(&A, r, 2 * GRAN) == CUDA_ERROR_INVALID_VALUE);	/* twice */
	CHECK(get(&A, r, back, 8) != CUDA_SUCCESS);
	CHECK(!vgpu_vmm_owns(&A.s, r, 8, false));

	/* The reservation goes whole, once nothing is mapped in it. */
	struct vgpu_vmm_range_args fr = { r, 64 * MiB };
	CHECK(SYNC(&A, VGPU_OP_VMM_ADDRESS_FREE, fr) == CUDA_ERROR_INVALID_VALUE);
	CHECK(unmap(&A, r + 8 * MiB, GRAN) == CUDA_SUCCESS);
	CHECK(A.s.quota.charged[VGPU_CHARGE_VMM] == 0);
	CHECK(double_free() == before);
	fr.size = 32 * MiB;
	CHECK(SYNC(&A, VGPU_OP_VMM_ADDRESS_FREE, fr) == CUDA_ERROR_INVALID_VALUE);
	fr.size = 64 * MiB;
	CHECK(SYNC(&B, VGPU_OP_VMM_ADDRESS_FREE, fr) == CUDA_ERROR_INVALID_VALUE);
	CHECK(SYNC(&A, VGPU_OP_VMM_ADDRESS_FREE, fr) == CUDA_SUCCESS);
	CHECK(SYNC(&A, VGPU_OP_VMM_ADDRESS_FREE, fr) == CUDA_ERROR_INVALID_VALUE);

	/* The quota counts physical memory, mapped or not. */
	for (uint64_t i = 0; i < 28; i++)
		CHECK(create(&A, 200 + i, GRAN) == CUDA_SUCCESS);
	CHECK(create(&A, 300, 8 * GRAN) == CUDA_ERROR_OUT_OF_MEMORY);
	for (uint64_t i = 0; i < 28; i++)
		CHECK(release(&A, 200 + i) == CUDA_SUCCESS);
	CHECK(A.s.quota.charged[VGPU_CHARGE_VMM] == 0);

	/* What a session leaves is undone at its end: mappings, handles held twice, ranges. */
	CHECK(reserve(&A, 16 * MiB, 0, &r) == CUDA_SUCCESS);
	CHECK(create(&A, H3, 2 * GRAN) == CUDA_SUCCESS);
	CHECK(map(&A, r, GRAN, GRAN, H3) == CUDA_SUCCESS);
	CHECK(set_access(&A, r, GRAN, CU_MEM_ACCESS_FLAGS_PROT_READWRITE, 0) == CUDA_SUCCESS);
	ra.ptr = r;
	CHECK(SYNCA(&A, VGPU_OP_VMM_RETAIN, ra, &ans) == CUDA_SUCCESS && u64(&ans) == H3);
	CHECK(double_free() == before - 2 * GRAN);
	vgpu_vmm_teardown(&A.s);
	CHECK(double_free() == before);
	CHECK(A.s.quota.charged[VGPU_CHARGE_VMM] == 0);
	CHECK(map(&A, r, GRAN, 0, H3) == CUDA_ERROR_INVALID_HANDLE);
	CHECK(reserve(&A, 16 * MiB, 0, &r) == CUDA_SUCCESS);	/* usable again */
}

static uint64_t pool_get(struct sess *x, uint64_t id, uint32_t attr)
{
	struct vgpu_pool_attr_args a = { .id = id, .attr = attr };
	struct vgpu_completion ans;

	return SYNCA(x, VGPU_OP_POOL_GET_ATTR, a, &ans) == CUDA_SUCCESS ? u64(&ans) : 0xdead;
}

static uint32_t alloc_async(struct sess *x, uint64_t size, uint64_t pool, uint64_t *out)
{
	struct vgpu_mem_alloc_async_args a = { .size = size, .stream = 0, .pool = pool };
	struct vgpu_completion ans;
	uint32_t r = SYNCA(x, VGPU_OP_MEM_ALLOC_ASYNC, a, &ans);

	if (r == CUDA_SUCCESS)
		*out = u64(&ans);
	return r;
}

static uint32_t free_async(struct sess *x, uint64_t d)
{
	struct vgpu_mem_free_async_args a = { .dptr = d, .stream = 0 };

	return SYNC(x, VGPU_OP_MEM_FREE_ASYNC, a);
}

static void test_pools(void)
{
	const uint64_t P0 = 400, P1 = 401;
	struct vgpu_device_pool_args dp = { .id = P0, .device = 0 };
	struct vgpu_completion ans;
	uint64_t d, d2, before = double_free();
	uint8_t buf[32] = { 1, 2, 3 }, back[32];

	/* The default pool gets the first id offered, and keeps it. */
	CHECK(SYNCA(&A, VGPU_OP_DEVICE_GET_POOL, dp, &ans) == CUDA_SUCCESS && u64(&ans) == P0);
	dp.id = 999;
	CHECK(SYNCA(&A, VGPU_OP_DEVICE_GET_POOL, dp, &ans) == CUDA_SUCCESS && u64(&ans) == P0);
	dp.device = 5;
	CHECK(SYNC(&A, VGPU_OP_DEVICE_GET_POOL, dp) == CUDA_ERROR_INVALID_DEVICE);
	dp = (struct vgpu_device_pool_args){ .id = CTX, .device = 0 };
	CHECK(SYNC(&B, VGPU_OP_DEVICE_GET_POOL, dp) == CUDA_ERROR_INVALID_HANDLE);	/* taken */

	/* Creation: properties checked, fabric handles refused. */
	struct vgpu_pool_create_args pc = { .id = P1, .alloc_type = CU_MEM_ALLOCATION_TYPE_PINNED,
					    .loc_type = CU_MEM_LOCATION_TYPE_DEVICE };
	pc.handle_types = CU_MEM_HANDLE_TYPE_FABRIC;
	CHECK(SYNC(&A, VGPU_OP_POOL_CREATE, pc) == CUDA_ERROR_NOT_SUPPORTED);
	pc.handle_types = 0;
	pc.loc_id = 2;
	CHECK(SYNC(&A, VGPU_OP_POOL_CREATE, pc) == CUDA_ERROR_INVALID_DEVICE);
	pc.loc_id = 0;
	pc.alloc_type = 0;
	CHECK(SYNC(&A, VGPU_OP_POOL_CREATE, pc) == CUDA_ERROR_INVALID_VALUE);
	pc.alloc_type = CU_MEM_ALLOCATION_TYPE_PINNED;
	pc.id = P0;
	CHECK(SYNC(&A, VGPU_OP_POOL_CREATE, pc) == CUDA_ERROR_INVALID_HANDLE);
	pc.id = P1;
	CHECK(SYNC(&A, VGPU_OP_POOL_CREATE, pc) == CUDA_SUCCESS);

	/* Allocation in stream order, usable by copies, charged, freed once. */
	CHECK(alloc_async(&A, 0, VGPU_POOL_CURRENT, &d) == CUDA_ERROR_INVALID_VALUE);
	CHECK(alloc_async(&A, 4096, 12345, &d) == CUDA_ERROR_INVALID_VALUE);	/* no such pool */
	CHECK(alloc_async(&B, 4096, P1, &d) == CUDA_ERROR_INVALID_VALUE);	/* A's pool */
	CHECK(alloc_async(&A, 128 * MiB, P1, &d) == CUDA_ERROR_OUT_OF_MEMORY);	/* the quota */
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 0);
	CHECK(alloc_async(&A, 1000, VGPU_POOL_CURRENT, &d) == CUDA_SUCCESS);
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 1024);
	CHECK(put(&A, d, buf, sizeof(buf)) == CUDA_SUCCESS);
	CHECK(get(&A, d, back, sizeof(back)) == CUDA_SUCCESS && !memcmp(buf, back, sizeof(buf)));
	CHECK(free_async(&B, d) == CUDA_ERROR_INVALID_VALUE);	/* not B's */
	CHECK(free_async(&A, d + 8) == CUDA_ERROR_INVALID_VALUE);
	CHECK(free_async(&A, d) == CUDA_SUCCESS);
	CHECK(free_async(&A, d) == CUDA_ERROR_INVALID_VALUE);	/* twice */
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 0);

	/* A pool's cache is charged while the driver keeps it, and the cap holds its threshold. */
	struct vgpu_pool_attr_args sa = { .id = P1, .value = UINT64_MAX,
					  .attr = CU_MEMPOOL_ATTR_RELEASE_THRESHOLD };
	CHECK(SYNC(&A, VGPU_OP_POOL_SET_ATTR, sa) == CUDA_SUCCESS);
	CHECK(pool_get(&A, P1, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD) == UINT64_MAX);
	CHECK(alloc_async(&A, 8 * MiB, P1, &d) == CUDA_SUCCESS);
	CHECK(alloc_async(&A, 8 * MiB, P1, &d2) == CUDA_SUCCESS);
	CHECK(pool_get(&A, P1, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 16 * MiB);
	CHECK(free_async(&A, d) == CUDA_SUCCESS);
	CHECK(free_async(&A, d2) == CUDA_SUCCESS);
	CHECK(pool_get(&A, P1, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT) == 16 * MiB);
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 16 * MiB);	/* cached, still memory */
	struct vgpu_pool_args tr = { .id = P1, .value = 0 };
	CHECK(SYNC(&A, VGPU_OP_POOL_TRIM, tr) == CUDA_SUCCESS);
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 0);
	/* Near the quota the pool's own cache is trimmed rather than refusing. */
	CHECK(alloc_async(&A, 40 * MiB, P1, &d) == CUDA_SUCCESS);
	CHECK(free_async(&A, d) == CUDA_SUCCESS);
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 40 * MiB);
	CHECK(alloc_async(&A, 40 * MiB, P1, &d) == CUDA_SUCCESS);
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 40 * MiB);
	CHECK(free_async(&A, d) == CUDA_SUCCESS);
	/* Physical memory the quota would refuse while a pool caches 40 MiB: the cache goes. */
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 40 * MiB);
	CHECK(create(&A, 700, 16 * GRAN) == CUDA_SUCCESS);
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 0);
	CHECK(release(&A, 700) == CUDA_SUCCESS);

	/* Attributes the driver owns, and bad ones. */
	sa.attr = CU_MEMPOOL_ATTR_USED_MEM_CURRENT;
	CHECK(SYNC(&A, VGPU_OP_POOL_SET_ATTR, sa) == CUDA_ERROR_INVALID_VALUE);
	sa.attr = 77;
	CHECK(SYNC(&A, VGPU_OP_POOL_SET_ATTR, sa) == CUDA_ERROR_INVALID_VALUE);
	CHECK(pool_get(&A, P1, 77) == 0xdead);
	sa.id = CTX;
	sa.attr = CU_MEMPOOL_ATTR_RELEASE_THRESHOLD;
	CHECK(SYNC(&A, VGPU_OP_POOL_SET_ATTR, sa) == CUDA_ERROR_INVALID_HANDLE);

	/* Ids of another kind are no pools, and pools are no allocations. */
	struct vgpu_pool_args bad = { .id = CTX };
	CHECK(SYNC(&A, VGPU_OP_POOL_TRIM, bad) == CUDA_ERROR_INVALID_HANDLE);
	CHECK(create(&A, 450, GRAN) == CUDA_SUCCESS);
	bad.id = 450;
	CHECK(SYNC(&A, VGPU_OP_POOL_DESTROY, bad) == CUDA_ERROR_INVALID_HANDLE);
	CHECK(alloc_async(&A, 4096, 450, &d) == CUDA_ERROR_INVALID_VALUE);
	CHECK(release(&A, 450) == CUDA_SUCCESS);
	CHECK(release(&A, P1) == CUDA_ERROR_INVALID_HANDLE);
	uint64_t rr;
	CHECK(reserve(&A, 4 * GRAN, 0, &rr) == CUDA_SUCCESS);
	CHECK(map(&A, rr, GRAN, 0, P1) == CUDA_ERROR_INVALID_HANDLE);
	struct vgpu_vmm_range_args fr = { rr, 4 * GRAN };
	CHECK(SYNC(&A, VGPU_OP_VMM_ADDRESS_FREE, fr) == CUDA_SUCCESS);

	/* The device's current pool. */
	dp = (struct vgpu_device_pool_args){ .id = P1, .device = 0 };
	CHECK(SYNC(&A, VGPU_OP_DEVICE_SET_POOL, dp) == CUDA_SUCCESS);
	CHECK(alloc_async(&A, 1 * MiB, VGPU_POOL_CURRENT, &d) == CUDA_SUCCESS);
	CHECK(pool_get(&A, P1, CU_MEMPOOL_ATTR_USED_MEM_CURRENT) == 1 * MiB);
	dp.id = 4242;
	CHECK(SYNC(&A, VGPU_OP_DEVICE_SET_POOL, dp) == CUDA_ERROR_INVALID_HANDLE);

	/* Destroying: never the default pool; a pool with live memory goes when it is freed. */
	struct vgpu_pool_args pd = { .id = P0 };
	CHECK(SYNC(&A, VGPU_OP_POOL_DESTROY, pd) == CUDA_ERROR_INVALID_VALUE);
	pd.id = P1;
	CHECK(SYNC(&A, VGPU_OP_POOL_DESTROY, pd) == CUDA_SUCCESS);
	CHECK(SYNC(&A, VGPU_OP_POOL_DESTROY, pd) == CUDA_ERROR_INVALID_HANDLE);
	CHECK(alloc_async(&A, 4096, P1, &d2) == CUDA_ERROR_INVALID_VALUE);
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 1 * MiB);
	CHECK(free_async(&A, d) == CUDA_SUCCESS);
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 0);
	CHECK(double_free() == before);

	/* What a session leaves: allocations, pools, a changed current pool. */
	pc.id = 402;
	CHECK(SYNC(&A, VGPU_OP_POOL_CREATE, pc) == CUDA_SUCCESS);
	dp.id = 402;
	CHECK(SYNC(&A, VGPU_OP_DEVICE_SET_POOL, dp) == CUDA_SUCCESS);
	CHECK(alloc_async(&A, 3 * MiB, VGPU_POOL_CURRENT, &d) == CUDA_SUCCESS);
	CHECK(alloc_async(&A, 1 * MiB, P0, &d2) == CUDA_SUCCESS);
	CHECK(double_free() == before - 4 * MiB);
	vgpu_vmm_teardown(&A.s);
	CHECK(double_free() == before);
	CHECK(A.s.quota.charged[VGPU_CHARGE_POOL] == 0);
	dp.id = P0 + 10;
	CHECK(SYNCA(&A, VGPU_OP_DEVICE_GET_POOL, dp, &ans) == CUDA_SUCCESS && u64(&ans) == P0 + 10);
}

/* Records too short for their arguments, and trailing data that is not there. */
static void test_short_records(void)
{
	static const uint16_t ops[] = {
		VGPU_OP_VMM_GRANULARITY, VGPU_OP_VMM_RESERVE,	 VGPU_OP_VMM_CREATE,
		VGPU_OP_VMM_MAP,	 VGPU_OP_VMM_SET_ACCESS, VGPU_OP_POOL_CREATE,
		VGPU_OP_MEM_ALLOC_ASYNC, VGPU_OP_POOL_SET_ATTR,
	};
	uint8_t zero[8] = { 0 };

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		CHECK(callx(&A, ops[i], VGPU_CMD_F_REPLY, zero, 0, NULL, 0, NULL) ==
		      CUDA_ERROR_INVALID_VALUE);
}

int main(void)
{
	setenv("VGPU_LIBCUDA", FAKECUDA_PATH, 1);
	setenv("VGPU_CACHE_DIR", "/nonexistent/vgpu-test-no-cache", 1);
	open_session(&A, 7);
	open_session(&B, 8);

	test_granularity();
	test_reserve();
	test_pool_growth();
	test_pools();
	test_short_records();
	CHECK(!A.s.closing && !B.s.closing);

	vgpu_session_teardown(&B.s);
	vgpu_session_teardown(&A.s);
	free(A.bar1);
	free(B.bar1);
	return TEST_RESULT();
}
