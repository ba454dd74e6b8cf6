// SPDX-License-Identifier: MIT
/*
 * What a session may do to the objects and memory it shares a GPU with, in
 * process, against the CI test double of the driver (tests/fakecuda, not a
 * driver): context ids are never rebound, context flags are allowlisted, an
 * image that fails the host's check never reaches the driver, and every path
 * that takes device memory is charged to the quota and given back.
 *
 * Where a test must know whether the driver was called at all, the session's
 * entry point is replaced by a spy that records the call and forwards it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../../common/sha256.h"
#include "session.h"
#include "test.h"
#include "vgpu/calls.h"
#include "vgpu/regs.h"

#define BAR1_SIZE	(16u << 20)
#define CTX		VGPU_FIRST_ID
#define MIB		(1ull << 20)

static struct vgpu_worker_channel chan;
static struct vgpu_session s;
static struct vgpu_sq_producer prod;
static struct vgpu_cq_consumer cons;
static uint8_t *bar1;

/* Submit one record and run it; the answer's status. */
static uint32_t call(uint16_t op, uint32_t ctx, const void *args, size_t len,
		     struct vgpu_completion *ans)
{
	struct vgpu_completion e = { 0 };
	uint32_t size = vgpu_rec_size(len);
	struct vgpu_cmd_hdr *h;
	uint64_t pos;

	h = vgpu_sq_reserve(&prod, size, &pos);
	if (!h)
		abort();
	h->size = size;
	h->opcode = op;
	h->flags = VGPU_CMD_F_REPLY;
	h->tag = pos + 1;
	h->ctx = ctx;
	memcpy(h + 1, args, len);
	/* Protocol 1.1: a record that names bulk data carries its ring position + 1. */
	if (op == VGPU_OP_IMAGE_UPLOAD)
		((struct vgpu_image_upload_args *)(h + 1))->bulk_seq = pos + 1;
	vgpu_sq_commit(&prod, h, pos);
	if (vgpu_sq_pop(&s.sq, s.cmd_buf, s.cmd_buf_size) != VGPU_SQ_RECORD)
		return 0xffffffff;
	vgpu_dispatch(&s, s.cmd_buf, ((struct vgpu_cmd_hdr *)s.cmd_buf)->size);
	vgpu_session_drain(&s);
	if (!vgpu_cq_pop(&cons, &e) || e.tag != pos + 1)
		return 0xfffffffe;
	if (ans)
		*ans = e;
	return e.status;
}

#define CALL(op, args) call(op, CTX, &(args), sizeof(args), NULL)

static void start(uint64_t quota)
{
	struct vgpu_hello_args hello = { VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR, 1 };
	struct vgpu_primary_ctx_args retain = { .device = 0, .ctx_id = CTX };

	memset(bar1, 0, BAR1_SIZE);
	chan.mem_quota = quota;
	vgpu_layout_write_header(&chan.layout, 1, chan.mem_quota, (void *)bar1);
	CHECK(vgpu_session_init(&s, &chan) == 0);
	prod = (struct vgpu_sq_producer){ s.sq.ring, s.sq.size, s.ctrl };
	cons = (struct vgpu_cq_consumer){ s.cq.ring, s.cq.entries, 0, s.ctrl };
	CHECK(call(VGPU_OP_HELLO, 0, &hello, sizeof(hello), NULL) == CUDA_SUCCESS);
	CHECK(call(VGPU_OP_PRIMARY_CTX_RETAIN, 0, &retain, sizeof(retain), NULL) == CUDA_SUCCESS);
}

static void stop(void)
{
	vgpu_session_teardown(&s);
}

/* ---- spies ---- */

static PFN_cuCtxCreate_v12050 real_ctx_create;
static unsigned int ctx_create_calls, ctx_create_flags;

static CUresult spy_ctx_create(CUcontext *c, CUctxCreateParams *p, unsigned int flags, CUdevice d)
{
	ctx_create_calls++;
	ctx_create_flags = flags;
	return real_ctx_create(c, p, flags, d);
}

static PFN_cuDevicePrimaryCtxSetFlags_v11000 real_set_flags;
static unsigned int set_flags_calls;

static CUresult spy_set_flags(CUdevice d, unsigned int flags)
{
	set_flags_calls++;
	return real_set_flags(d, flags);
}

static PFN_cuModuleLoadData_v2000 real_module_load;
static PFN_cuLibraryLoadData_v12000 real_library_load;
static unsigned int image_loads;

static CUresult spy_module_load(CUmodule *m, const void *img)
{
	image_loads++;
	return real_module_load(m, img);
}

static CUresult spy_library_load(CUlibrary *l, const void *img, CUjit_option *jo, void **jv,
				 unsigned int jn, CUlibraryOption *lo, void **lv, unsigned int ln)
{
	image_loads++;
	return real_library_load(l, img, jo, jv, jn, lo, lv, ln);
}

/* ---- context ids ---- */

static void ctx_ids(void)
{
	struct vgpu_ctx_create_args cc = { .ctx_id = 21, .device = 0 };
	struct vgpu_primary_ctx_args pr = { .device = 0, .ctx_id = 21 };
	struct vgpu_ctx_args cd = { .ctx_id = 21 };
	struct vgpu_mem_alloc_args al = { .size = 4096 };
	struct vgpu_idmap_entry *e;
	CUcontext created;

	start(0);
	CHECK(CALL(VGPU_OP_CTX_CREATE, cc) == CUDA_SUCCESS);
	e = vgpu_idmap_find(&s.handles, 21);
	created = e ? e->obj : NULL;
	/* The primary context cannot take over a created context's id... */
	CHECK(CALL(VGPU_OP_PRIMARY_CTX_RETAIN, pr) == CUDA_ERROR_INVALID_VALUE);
	e = vgpu_idmap_find(&s.handles, 21);
	CHECK(e && e->obj == created && e->aux != 1);
	/* ...nor may a retain under its own id name another device's. */
	pr = (struct vgpu_primary_ctx_args){ .device = 0, .ctx_id = CTX };
	CHECK(CALL(VGPU_OP_PRIMARY_CTX_RETAIN, pr) == CUDA_SUCCESS);	/* the same: fine */
	CHECK(call(VGPU_OP_MEM_ALLOC, 21, &al, sizeof(al), NULL) == CUDA_SUCCESS);
	CHECK(CALL(VGPU_OP_CTX_DESTROY, cd) == CUDA_SUCCESS);
	stop();
}

/* ---- context flags ---- */

static void ctx_flags(void)
{
	struct vgpu_ctx_create_args cc = { .ctx_id = 30, .device = 0 };
	struct vgpu_primary_ctx_args pf = { .device = 0 };
	struct vgpu_ctx_args cd = { .ctx_id = 30 };
	static const unsigned int refused[] = { CU_CTX_COREDUMP_ENABLE, CU_CTX_USER_COREDUMP_ENABLE,
						CU_CTX_SYNC_MEMOPS, 0x100, 0x80000000u };

	start(0);
	real_ctx_create = s.drv.CtxCreate;
	s.drv.CtxCreate = spy_ctx_create;
	real_set_flags = s.drv.DevicePrimaryCtxSetFlags;
	s.drv.DevicePrimaryCtxSetFlags = spy_set_flags;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		cc.flags = refused[i] | CU_CTX_SCHED_SPIN;
		pf.flags = refused[i];
		CHECK(CALL(VGPU_OP_CTX_CREATE, cc) == CUDA_ERROR_NOT_PERMITTED);
		CHECK(CALL(VGPU_OP_PRIMARY_CTX_SET_FLAGS, pf) == CUDA_ERROR_NOT_PERMITTED);
	}
	CHECK(ctx_create_calls == 0 && set_flags_calls == 0);	/* none reached the driver */
	cc.flags = CU_CTX_SCHED_BLOCKING_SYNC | CU_CTX_MAP_HOST | CU_CTX_LMEM_RESIZE_TO_MAX;
	CHECK(CALL(VGPU_OP_CTX_CREATE, cc) == CUDA_SUCCESS);
	CHECK(ctx_create_calls == 1 && ctx_create_flags == cc.flags);
	pf.flags = CU_CTX_SCHED_YIELD;
	CHECK(CALL(VGPU_OP_PRIMARY_CTX_SET_FLAGS, pf) == CUDA_SUCCESS && set_flags_calls == 1);
	CHECK(CALL(VGPU_OP_CTX_DESTROY, cd) == CUDA_SUCCESS);
	stop();
}

/* ---- images that fail the host's check never reach the driver ---- */

static uint32_t upload_and_load(const void *img, uint64_t len, uint64_t id, uint32_t kind)
{
	struct vgpu_image_upload_args up = { .total = len, .offset = 0, .src = { 0, len } };
	struct vgpu_module_load_args ml = { .id = id, .size = len, .kind = kind };
	uint32_t r;

	vgpu_sha256(img, len, up.hash);
	memcpy(ml.hash, up.hash, sizeof(ml.hash));
	memcpy(s.bulk, img, len);
	r = CALL(VGPU_OP_IMAGE_UPLOAD, up);
	return r ? r : CALL(VGPU_OP_MODULE_LOAD, ml);
}

static void images(void)
{
	static const char ptx[] = ".version 8.0\n.target sm_90\n.address_size 64\n";

	start(0);
	real_module_load = s.drv.ModuleLoadData;
	s.drv.ModuleLoadData = spy_module_load;
	real_library_load = s.drv.LibraryLoadData;
	s.drv.LibraryLoadData = spy_library_load;
	CHECK(upload_and_load(ptx, sizeof(ptx) - 1, 40, VGPU_IMAGE_MODULE) == CUDA_ERROR_INVALID_IMAGE);
	CHECK(upload_and_load(ptx, sizeof(ptx) - 1, 41, VGPU_IMAGE_LIBRARY) ==
	      CUDA_ERROR_INVALID_IMAGE);
	CHECK(image_loads == 0);
	/* With its NUL it is an image the driver gets to judge. */
	upload_and_load(ptx, sizeof(ptx), 42, VGPU_IMAGE_MODULE);
	CHECK(image_loads == 1);
	stop();
}

/* ---- the memory quota, every path, in a session's own account ---- */

static uint32_t alloc(uint32_t ctx, uint64_t size, uint64_t *dptr)
{
	struct vgpu_mem_alloc_args al = { .size = size };
	struct vgpu_completion ans;
	uint32_t r = call(VGPU_OP_MEM_ALLOC, ctx, &al, sizeof(al), &ans);

	if (r == 0 && dptr)
		memcpy(dptr, ans.data, sizeof(*dptr));
	return r;
}

static uint64_t free_mem(uint32_t ctx)
{
	struct vgpu_completion ans;
	struct vgpu_mem_info_reply mi = { 0 };

	if (call(VGPU_OP_MEM_GET_INFO, ctx, NULL, 0, &ans) == 0)
		memcpy(&mi, ans.data, sizeof(mi));
	return mi.free;
}

static void quota(void)
{
	struct vgpu_hello_args hello = { VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR, 1 };
	struct vgpu_primary_ctx_args pr = { .device = 0, .ctx_id = CTX };
	struct vgpu_ctx_limit_args heap = { .limit = CU_LIMIT_MALLOC_HEAP_SIZE,
					    .value = 32ull << 30 };
	struct vgpu_ctx_limit_args stack = { .limit = CU_LIMIT_STACK_SIZE, .value = 64 << 10 };
	struct vgpu_ctx_create_args cc = { .ctx_id = 50, .device = 0 };
	struct vgpu_ctx_args cd = { .ctx_id = 50 };
	struct vgpu_mem_free_args fr;
	struct vgpu_completion ans;
	uint64_t p40, p48;

	vgpu_quota_ctx_mem = 4 * MIB;
	start(64 * MIB);
	CHECK(call(VGPU_OP_HELLO, 0, &hello, sizeof(hello), &ans) == 0 &&
	      ((struct vgpu_hello_reply *)ans.data)->mem_quota == 64 * MIB);
	/* The primary context's cost is charged: 60 of 64 MiB left. */
	CHECK(free_mem(CTX) == 60 * MIB);
	CHECK(alloc(CTX, 40 * MIB, &p40) == 0);
	CHECK(free_mem(CTX) == 20 * MIB);
	CHECK(alloc(CTX, 24 * MIB, NULL) == CUDA_ERROR_OUT_OF_MEMORY);
	/* Limits: a 32 GiB heap, a stack for every resident thread. */
	CHECK(CALL(VGPU_OP_CTX_SET_LIMIT, heap) == CUDA_ERROR_OUT_OF_MEMORY);
	CHECK(CALL(VGPU_OP_CTX_SET_LIMIT, stack) == CUDA_ERROR_OUT_OF_MEMORY);
	heap.value = 16 * MIB;	/* 8 MiB more than the double's initial 8 MiB */
	CHECK(CALL(VGPU_OP_CTX_SET_LIMIT, heap) == 0 && free_mem(CTX) == 12 * MIB);
	heap.value = 8 * MIB;
	CHECK(CALL(VGPU_OP_CTX_SET_LIMIT, heap) == 0 && free_mem(CTX) == 20 * MIB);
	fr.dptr = p40;
	CHECK(CALL(VGPU_OP_MEM_FREE, fr) == 0 && free_mem(CTX) == 60 * MIB);
	/* A reset gives back what the driver freed with it; the context stays charged. */
	CHECK(alloc(CTX, 48 * MIB, &p48) == 0);
	CHECK(call(VGPU_OP_PRIMARY_CTX_RESET, 0, &pr, sizeof(pr), NULL) == 0);
	CHECK(call(VGPU_OP_PRIMARY_CTX_RETAIN, 0, &pr, sizeof(pr), NULL) == 0);
	CHECK(free_mem(CTX) == 60 * MIB);
	CHECK(alloc(CTX, 48 * MIB, &p48) == 0);
	/* A created context is charged; destroying it gives back it and its memory. */
	CHECK(call(VGPU_OP_CTX_CREATE, 0, &cc, sizeof(cc), NULL) == 0);
	CHECK(free_mem(50) == 8 * MIB);
	CHECK(alloc(50, 8 * MIB, NULL) == 0 && free_mem(50) == 0);
	CHECK(alloc(50, 4096, NULL) == CUDA_ERROR_OUT_OF_MEMORY);
	CHECK(call(VGPU_OP_CTX_DESTROY, 0, &cd, sizeof(cd), NULL) == 0);
	CHECK(free_mem(CTX) == 12 * MIB);
	/* A reset under another context's id is refused: it would give back what is held. */
	pr.ctx_id = 50;
	CHECK(call(VGPU_OP_PRIMARY_CTX_RESET, 0, &pr, sizeof(pr), NULL) == CUDA_ERROR_INVALID_CONTEXT);
	CHECK(call(VGPU_OP_PRIMARY_CTX_RELEASE, 0, &pr, sizeof(pr), NULL) ==
	      CUDA_ERROR_INVALID_CONTEXT);
	CHECK(free_mem(CTX) == 12 * MIB);
	/* Releasing the last retain destroys the primary context: all of it goes back. */
	pr.ctx_id = CTX;
	CHECK(call(VGPU_OP_PRIMARY_CTX_RELEASE, 0, &pr, sizeof(pr), NULL) == 0);
	CHECK(call(VGPU_OP_PRIMARY_CTX_RELEASE, 0, &pr, sizeof(pr), NULL) == 0);
	CHECK(call(VGPU_OP_PRIMARY_CTX_RETAIN, 0, &pr, sizeof(pr), NULL) == 0);
	CHECK(free_mem(CTX) == 60 * MIB);
	stop();
	vgpu_quota_ctx_mem = 0;
}

/* A module's globals count: a 128 MiB __device__ array does not load under 64 MiB. */
static void module_globals(void)
{
	char dir[] = "/tmp/vgpu-tenancy-XXXXXX", cmd[700];
	FILE *f;
	static uint8_t img[1 << 20];
	size_t n = 0;

	if (access(NVCC, X_OK) || !mkdtemp(dir)) {
		printf("nvcc not found at %s: module globals not checked\n", NVCC);
		return;
	}
	snprintf(cmd, sizeof(cmd), "%s -cubin -arch=sm_90 -o %s/g.cubin tests/hostile/big_globals.cu",
		 NVCC, dir);
	CHECK(system(cmd) == 0);
	snprintf(cmd, sizeof(cmd), "%s/g.cubin", dir);
	f = fopen(cmd, "rb");
	if (f) {
		n = fread(img, 1, sizeof(img), f);
		fclose(f);
	}
	CHECK(n > 0);
	start(64 * MIB);
	CHECK(upload_and_load(img, n, 60, VGPU_IMAGE_MODULE) == CUDA_ERROR_OUT_OF_MEMORY);
	CHECK(vgpu_idmap_find(&s.handles, 60) == NULL);
	CHECK(free_mem(CTX) == 64 * MIB);
	stop();
	start(512 * MIB);
	CHECK(upload_and_load(img, n, 61, VGPU_IMAGE_MODULE) == 0);
	CHECK(free_mem(CTX) <= 384 * MIB);
	stop();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		test_failures++;
}

int main(void)
{
	char cache[] = "/tmp/vgpu-tenancy-cache-XXXXXX";

	setenv("VGPU_LIBCUDA", FAKECUDA_PATH, 1);
	if (!mkdtemp(cache))
		return 1;
	setenv("VGPU_CACHE_DIR", cache, 1);
	bar1 = aligned_alloc(4096, BAR1_SIZE);
	CHECK(vgpu_layout_compute(BAR1_SIZE, 4, 0, &chan.layout) == 0);
	chan.bar1 = bar1;
	chan.doorbell_fd = eventfd(0, EFD_NONBLOCK);
	chan.irq_fd = eventfd(0, EFD_NONBLOCK);
	chan.session_id = 9;

	ctx_ids();
	ctx_flags();
	images();
	quota();
	module_globals();

	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", cache);
		if (system(cmd))
			test_failures++;
	}
	free(bar1);
	return TEST_RESULT();
}
