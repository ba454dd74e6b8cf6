// SPDX-License-Identifier: MIT
/*
 * The executor's answers to hostile records, one by one (the fuzzer only
 * shows that nothing crashes; this shows each bad input gets its error and
 * leaves the session usable).  Runs the decoder in process against the CI
 * test double of the driver (tests/fakecuda, not a driver).
 */
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dispatch.h"
#include "../../common/sha256.h"
#include "session.h"
#include "test.h"
#include "vgpu/calls.h"
#include "vgpu/regs.h"

#define BAR1_SIZE	(16u << 20)
#define HEAP_SIZE	(1u << 20)	/* 256 KiB per channel */
#define CTX		VGPU_FIRST_ID

static struct vgpu_worker_channel chan;
static struct vgpu_session s;
static struct vgpu_sq_producer prod;
static struct vgpu_cq_consumer cons;

#define THREAD	1u
#define NO_SEQ	SIZE_MAX

/* The guest thread the next records name (another one for the capture cases). */
static uint32_t rec_thread = THREAD;

/*
 * Submit one record and run it; the answer's status (or the kept error for
 * async calls).  With @seq_off, the uint64_t there receives the record's
 * seal, as the shim writes bulk sequence numbers.
 */
/* Write one record as the shim does, then pop and dispatch it; false if it did not pop. */
static bool dispatch_one(uint16_t op, uint16_t flags, uint32_t ctx, uint32_t thread,
			 const void *args, size_t len, size_t seq_off, uint64_t *pos)
{
	uint32_t size = vgpu_rec_size(len);
	struct vgpu_cmd_hdr *h;

	h = vgpu_sq_reserve(&prod, size, pos);
	if (!h)
		abort();
	h->size = size;
	h->opcode = op;
	h->flags = flags;
	h->tag = *pos + 1;
	h->ctx = ctx;
	h->thread = thread;
	memcpy(h + 1, args, len);
	if (seq_off != NO_SEQ) {
		uint64_t seq = *pos + 1;

		memcpy((uint8_t *)(h + 1) + seq_off, &seq, sizeof(seq));
	}
	vgpu_sq_commit(&prod, h, *pos);
	if (vgpu_sq_pop(&s.sq, s.cmd_buf, s.cmd_buf_size) != VGPU_SQ_RECORD)
		return false;
	vgpu_dispatch(&s, s.cmd_buf, ((struct vgpu_cmd_hdr *)s.cmd_buf)->size);
	return true;
}

static uint32_t call_seq(uint16_t op, uint16_t flags, uint32_t ctx, const void *args, size_t len,
			 size_t seq_off, struct vgpu_completion *ans)
{
	struct vgpu_completion e = { 0 };
	uint64_t pos;

	if (!dispatch_one(op, flags, ctx, rec_thread, args, len, seq_off, &pos))
		return 0xffffffff;
	/* Answers that wait for GPU work come when it is done. */
	vgpu_session_drain(&s);
	if (!(flags & VGPU_CMD_F_REPLY))
		return vgpu_take_error(&s, rec_thread, ctx, VGPU_KEPT_ANY_STREAM);
	if (!vgpu_cq_pop(&cons, &e) || e.tag != pos + 1)
		return 0xfffffffe;
	if (ans)
		*ans = e;
	return e.status;
}

static uint32_t call(uint16_t op, uint16_t flags, uint32_t ctx, const void *args, size_t len,
		     struct vgpu_completion *ans)
{
	return call_seq(op, flags, ctx, args, len, NO_SEQ, ans);
}

#define SYNC(op, args) call(op, VGPU_CMD_F_REPLY, CTX, &(args), sizeof(args), NULL)
#define ASYNC(op, args) call(op, 0, CTX, &(args), sizeof(args), NULL)

/*
 * Pitched allocations and 2D copies (ops 140-143) and 2D memsets: pitches
 * that overflow, regions past their allocation, rows that overlap, host
 * memory of the worker named as device memory, packed rows that do not add
 * up; each refused, and the bulk of a refused copy still retired.
 */
static void hostile_2d(uint64_t bulk_size)
{
	struct vgpu_mem_alloc_pitch_args ap = { .width = 100, .height = 10, .elem_size = 4 };
	struct vgpu_mem_alloc_pitch_reply pr;
	struct vgpu_completion ans;
	const uint64_t big = 1ull << 62;

	ap.elem_size = 3;
	CHECK(SYNC(VGPU_OP_MEM_ALLOC_PITCH, ap) == CUDA_ERROR_INVALID_VALUE);
	ap.elem_size = 4;
	ap.height = big;	/* width * height wraps */
	CHECK(SYNC(VGPU_OP_MEM_ALLOC_PITCH, ap) == CUDA_ERROR_INVALID_VALUE);
	ap.width = 1u << 20;	/* 64 MiB: past the session's 32 MiB quota */
	ap.height = 64;
	CHECK(SYNC(VGPU_OP_MEM_ALLOC_PITCH, ap) == CUDA_ERROR_OUT_OF_MEMORY);
	ap.width = 100;
	ap.height = 10;
	CHECK(call(VGPU_OP_MEM_ALLOC_PITCH, VGPU_CMD_F_REPLY, CTX, &ap, sizeof(ap), &ans) ==
	      CUDA_SUCCESS);
	memcpy(&pr, ans.data, sizeof(pr));
	CHECK(pr.dptr && pr.pitch >= 100);

	/* Device to device: a good one, then the bad ones. */
	struct vgpu_memcpy_2d_dtod_args dd = {
		.dst = pr.dptr, .dst_pitch = pr.pitch, .src = pr.dptr + 50,
		.src_pitch = pr.pitch, .width = 50, .height = 10,
	};
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOD, dd) == CUDA_SUCCESS);
	dd.src_pitch = big;	/* (height - 1) * pitch wraps around */
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOD, dd) == CUDA_ERROR_INVALID_VALUE);
	dd.src_pitch = ~0ull / 9 + 1;
	CHECK(ASYNC(VGPU_OP_MEMCPY_2D_DTOD, dd) == CUDA_ERROR_INVALID_VALUE);	/* kept, then taken */
	/* 2^32 rows of 2^32 bytes after the first: the span wraps to exactly the width. */
	dd.src_pitch = dd.dst_pitch = 1ull << 32;
	dd.height = (1ull << 32) + 1;
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOD, dd) == CUDA_ERROR_INVALID_VALUE);
	dd.height = 10;
	dd.src_pitch = dd.dst_pitch = pr.pitch;
	/* The executor's own check, whatever the driver would have said. */
	CHECK(vgpu_exec_device_region_ok(&s, pr.dptr, pr.pitch, 100, 10));
	CHECK(!vgpu_exec_device_region_ok(&s, pr.dptr, 1ull << 32, 50, (1ull << 32) + 1));
	CHECK(vgpu_exec_device_region_ok(&s, pr.dptr + 1, pr.pitch, pr.pitch - 1, 10));
	CHECK(!vgpu_exec_device_region_ok(&s, pr.dptr + 9 * pr.pitch, pr.pitch, pr.pitch + 1, 1));
	CHECK(!vgpu_exec_device_region_ok(&s, pr.dptr + 1, pr.pitch, pr.pitch, 10));
	CHECK(!vgpu_exec_device_region_ok(&s, (uint64_t)(uintptr_t)s.bulk, 64, 64, 2));
	dd.height = 11;	/* one row past the allocation */
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOD, dd) == CUDA_ERROR_INVALID_VALUE);
	dd.height = 10;
	dd.width = pr.pitch - 49;	/* the last row of the source runs 1 byte past the end */
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOD, dd) == CUDA_ERROR_INVALID_VALUE);
	dd.width = 50;
	dd.dst_pitch = 10;	/* rows that overlap */
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOD, dd) == CUDA_ERROR_INVALID_VALUE);
	dd.dst_pitch = pr.pitch;
	dd.src = ~0ull - 100;	/* start + span wraps */
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOD, dd) == CUDA_ERROR_INVALID_VALUE);
	/* The worker's own registered host memory (the channel) is no device memory. */
	dd.src = (uint64_t)(uintptr_t)s.bulk;
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOD, dd) == CUDA_ERROR_INVALID_VALUE);
	dd.src = pr.dptr;
	dd.dst = (uint64_t)(uintptr_t)s.bulk;
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOD, dd) == CUDA_ERROR_INVALID_VALUE);

	/* Host to device: packed rows must be exactly width * height bytes. */
	struct vgpu_memcpy_2d_htod_args h2 = {
		.dst = pr.dptr, .dst_pitch = pr.pitch, .width = 100, .height = 10,
		.src = { 0, 1000 },
	};
	CHECK(call_seq(VGPU_OP_MEMCPY_2D_HTOD, VGPU_CMD_F_REPLY, CTX, &h2, sizeof(h2),
		       offsetof(struct vgpu_memcpy_2d_htod_args, bulk_seq), NULL) == CUDA_SUCCESS);
	h2.src.len = 999;
	CHECK(call_seq(VGPU_OP_MEMCPY_2D_HTOD, VGPU_CMD_F_REPLY, CTX, &h2, sizeof(h2),
		       offsetof(struct vgpu_memcpy_2d_htod_args, bulk_seq), NULL) ==
	      CUDA_ERROR_INVALID_VALUE);
	CHECK(s.ctrl->bulk_slot_retired[0] == s.sq.head - vgpu_rec_size(sizeof(h2)) + 1);
	h2.src.len = 1000;
	h2.width = 1000;	/* one row of 1000 bytes from the start fits the allocation... */
	h2.height = 1;
	CHECK(call_seq(VGPU_OP_MEMCPY_2D_HTOD, VGPU_CMD_F_REPLY, CTX, &h2, sizeof(h2),
		       offsetof(struct vgpu_memcpy_2d_htod_args, bulk_seq), NULL) == CUDA_SUCCESS);
	h2.dst = pr.dptr + pr.pitch * 9 + 1;	/* ...but 1000 bytes from the last row's second byte do not */
	CHECK(call_seq(VGPU_OP_MEMCPY_2D_HTOD, VGPU_CMD_F_REPLY, CTX, &h2, sizeof(h2),
		       offsetof(struct vgpu_memcpy_2d_htod_args, bulk_seq), NULL) ==
	      CUDA_ERROR_INVALID_VALUE);
	h2.dst = pr.dptr;
	h2.width = 8;
	h2.height = big;	/* 8 * 2^62 wraps to 0 */
	h2.src.len = 0;
	CHECK(call_seq(VGPU_OP_MEMCPY_2D_HTOD, VGPU_CMD_F_REPLY, CTX, &h2, sizeof(h2),
		       offsetof(struct vgpu_memcpy_2d_htod_args, bulk_seq), NULL) ==
	      CUDA_ERROR_INVALID_VALUE);
	CHECK(!s.closing);

	/* Device to host: into bulk that is not there, rows past the allocation. */
	struct vgpu_memcpy_2d_dtoh_args d2 = {
		.src = pr.dptr, .src_pitch = pr.pitch, .width = 100, .height = 10,
		.dst = { 0, 1000 },
	};
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOH, d2) == CUDA_SUCCESS);
	d2.dst = (struct vgpu_bulk_ref){ bulk_size - 500, 1000 };
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOH, d2) == CUDA_ERROR_INVALID_VALUE);
	d2.dst = (struct vgpu_bulk_ref){ 0, 1000 };
	d2.src = pr.dptr + pr.pitch;	/* 10 rows from row 1 */
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOH, d2) == CUDA_ERROR_INVALID_VALUE);
	d2.src = pr.dptr;
	d2.src_pitch = big;
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOH, d2) == CUDA_ERROR_INVALID_VALUE);

	/* 2D memsets: the same region checks. */
	struct vgpu_memset_args ms = {
		.dst = pr.dptr, .width = 25, .height = 10, .dst_pitch = pr.pitch, .value = 7,
		.elem_size = 4,
	};
	CHECK(SYNC(VGPU_OP_MEMSET, ms) == CUDA_SUCCESS);
	ms.height = 11;
	CHECK(SYNC(VGPU_OP_MEMSET, ms) == CUDA_ERROR_INVALID_VALUE);
	ms.height = 10;
	ms.dst_pitch = big;
	CHECK(SYNC(VGPU_OP_MEMSET, ms) == CUDA_ERROR_INVALID_VALUE);
	ms.dst_pitch = 1ull << 32;	/* the span wraps to exactly one row */
	ms.height = (1ull << 32) + 1;
	CHECK(SYNC(VGPU_OP_MEMSET, ms) == CUDA_ERROR_INVALID_VALUE);
	ms.height = 10;
	ms.dst_pitch = pr.pitch;
	ms.width = big;	/* width * elem_size wraps */
	CHECK(SYNC(VGPU_OP_MEMSET, ms) == CUDA_ERROR_INVALID_VALUE);
	ms.width = 25;
	ms.dst = (uint64_t)(uintptr_t)s.bulk;
	CHECK(SYNC(VGPU_OP_MEMSET, ms) == CUDA_ERROR_INVALID_VALUE);

	/* A pitched allocation is freed as any other. */
	struct vgpu_mem_free_args fr = { .dptr = pr.dptr };
	CHECK(SYNC(VGPU_OP_MEM_FREE, fr) == CUDA_SUCCESS);
	dd.dst = dd.src = pr.dptr;
	CHECK(SYNC(VGPU_OP_MEMCPY_2D_DTOD, dd) == CUDA_ERROR_INVALID_VALUE);
}

/*
 * The pinned-memory heap (ops 144-146): only this channel's slice of BAR1's
 * heap, named by offsets that must not wrap, reaches the driver.
 */
static void hostile_heap(uint64_t dptr)
{
	struct vgpu_heap_info_reply hi;
	struct vgpu_completion ans;

	CHECK(call(VGPU_OP_HEAP_INFO, VGPU_CMD_F_REPLY, CTX, NULL, 0, &ans) == CUDA_SUCCESS);
	memcpy(&hi, ans.data, sizeof(hi));
	CHECK(hi.off == chan.layout.heap_offset && hi.len == HEAP_SIZE / 4 && hi.dev);
	struct vgpu_memcpy_heap_args h = { .dev = dptr, .off = hi.off, .len = 64 };
	CHECK(SYNC(VGPU_OP_MEMCPY_HEAP_HTOD, h) == CUDA_SUCCESS);
	CHECK(SYNC(VGPU_OP_MEMCPY_HEAP_DTOH, h) == CUDA_SUCCESS);
	CHECK(ASYNC(VGPU_OP_MEMCPY_HEAP_DTOH, h) == CUDA_SUCCESS);
	h.off = hi.off + hi.len - 64;	/* the slice's last bytes */
	CHECK(SYNC(VGPU_OP_MEMCPY_HEAP_HTOD, h) == CUDA_SUCCESS);
	h.len = 65;	/* one byte into the next channel's slice */
	CHECK(SYNC(VGPU_OP_MEMCPY_HEAP_HTOD, h) == CUDA_ERROR_INVALID_VALUE);
	h.off = hi.off + hi.len;	/* the next channel's slice */
	h.len = 64;
	CHECK(SYNC(VGPU_OP_MEMCPY_HEAP_DTOH, h) == CUDA_ERROR_INVALID_VALUE);
	h.off = hi.off - 64;	/* below the heap: channel memory */
	CHECK(SYNC(VGPU_OP_MEMCPY_HEAP_DTOH, h) == CUDA_ERROR_INVALID_VALUE);
	h.off = hi.off + 64;
	h.len = ~0ull - 32;	/* off + len wraps */
	CHECK(SYNC(VGPU_OP_MEMCPY_HEAP_HTOD, h) == CUDA_ERROR_INVALID_VALUE);
	CHECK(ASYNC(VGPU_OP_MEMCPY_HEAP_DTOH, h) == CUDA_ERROR_INVALID_VALUE);
	h.len = 0;
	CHECK(SYNC(VGPU_OP_MEMCPY_HEAP_HTOD, h) == CUDA_ERROR_INVALID_VALUE);
	h.len = 64;
	h.stream = 4242;
	CHECK(SYNC(VGPU_OP_MEMCPY_HEAP_HTOD, h) == CUDA_ERROR_INVALID_HANDLE);
	/* Rows of a device range the driver refuses come back as its error. */
	h.stream = 0;
	h.dev = dptr + 4096 - 32;
	CHECK(SYNC(VGPU_OP_MEMCPY_HEAP_DTOH, h) == CUDA_ERROR_INVALID_VALUE);
}

/*
 * Submit one record and dispatch it, but run none of the worker's waits:
 * what the executor did before the GPU work it waits for could finish.
 */
static void submit_only(uint16_t op, uint16_t flags, const void *args, size_t len, size_t seq_off)
{
	uint64_t pos;

	if (!dispatch_one(op, flags, CTX, THREAD, args, len, seq_off, &pos))
		abort();
}

/* A PTX image the double loads (it names one of its registered kernels), with its NUL. */
static const char test_ptx[] =
	".version 8.0\n.target sm_90\n.address_size 64\n"
	".visible .entry _Z14vgpu_test_fillPjjy(.param .u64 p0, .param .u32 p1, .param .u64 p2)\n"
	"{\nret;\n}\n";
#define TEST_KERNEL "_Z14vgpu_test_fillPjjy"

/* A spy in the session's driver table: did a launch reach the driver at all? */
static PFN_cuLaunchKernel_v4000 real_launch;
static unsigned int launches;

static CUresult spy_launch(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
			   unsigned int bx, unsigned int by, unsigned int bz, unsigned int shared,
			   CUstream st, void **params, void **extra)
{
	launches++;
	return real_launch(f, gx, gy, gz, bx, by, bz, shared, st, params, extra);
}

/* Upload test_ptx through bulk and load it as module @id; the answer's status. */
static uint32_t load_test_module(uint64_t id)
{
	struct vgpu_image_upload_args up = { .total = sizeof(test_ptx), .src = { 0, sizeof(test_ptx) } };
	struct vgpu_module_load_args ml = { .id = id, .size = sizeof(test_ptx),
					    .kind = VGPU_IMAGE_MODULE };
	uint32_t r;

	vgpu_sha256(test_ptx, sizeof(test_ptx), up.hash);
	memcpy(ml.hash, up.hash, sizeof(ml.hash));
	memcpy(s.bulk, test_ptx, sizeof(test_ptx));
	r = call_seq(VGPU_OP_IMAGE_UPLOAD, 0, CTX, &up, sizeof(up),
		     offsetof(struct vgpu_image_upload_args, bulk_seq), NULL);
	return r ? r : SYNC(VGPU_OP_MODULE_LOAD, ml);
}

/* GET_FUNCTION of module @module with @name_len bytes of @name in the record. */
static uint32_t get_function(uint64_t module, uint64_t new_id, const char *name, uint32_t name_len,
			     uint32_t carried)
{
	static uint8_t buf[sizeof(struct vgpu_module_get_args) + 8192];
	struct vgpu_module_get_args a = { .module = module, .new_id = new_id,
					  .kind = VGPU_IMAGE_MODULE, .name_len = name_len };

	if (carried > sizeof(buf) - sizeof(a))
		abort();
	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), name, carried);
	return call(VGPU_OP_MODULE_GET_FUNCTION, VGPU_CMD_F_REPLY, CTX, buf, sizeof(a) + carried,
		    NULL);
}

/*
 * Names are checked after the module lookup, so these need a module that
 * really loaded: otherwise the answer comes from the lookup and the name
 * checks never run.  Ids 1299-1303: the capture and graph cases in main()
 * use 300-310.
 */
static void function_names(void)
{
	static char name[6000];

	/* An image whose bytes are not what its hash says is no image. */
	struct vgpu_image_upload_args bad = { .total = sizeof(test_ptx),
					      .src = { 0, sizeof(test_ptx) } };
	vgpu_sha256("something else", 14, bad.hash);
	memcpy(s.bulk, test_ptx, sizeof(test_ptx));
	CHECK(call_seq(VGPU_OP_IMAGE_UPLOAD, 0, CTX, &bad, sizeof(bad),
		       offsetof(struct vgpu_image_upload_args, bulk_seq), NULL) ==
	      CUDA_ERROR_INVALID_IMAGE);
	struct vgpu_module_load_args ml = { .id = 1299, .size = sizeof(test_ptx),
					    .kind = VGPU_IMAGE_MODULE };
	memcpy(ml.hash, bad.hash, sizeof(ml.hash));
	CHECK(SYNC(VGPU_OP_MODULE_LOAD, ml) == VGPU_STATUS_NEED_IMAGE);

	CHECK(load_test_module(1300) == CUDA_SUCCESS);
	CHECK(get_function(1300, 1301, TEST_KERNEL, sizeof(TEST_KERNEL) - 1,
			   sizeof(TEST_KERNEL) - 1) == CUDA_SUCCESS);
	/* A NUL inside the name. */
	CHECK(get_function(1300, 1302, "ab\0cdefg", 8, 8) == CUDA_ERROR_INVALID_VALUE);
	/* Empty. */
	CHECK(get_function(1300, 1302, "", 0, 0) == CUDA_ERROR_INVALID_VALUE);
	/* A length past the end of the record. */
	CHECK(get_function(1300, 1302, TEST_KERNEL, 5000, sizeof(TEST_KERNEL) - 1) ==
	      CUDA_ERROR_INVALID_VALUE);
	/* A name the record really carries, longer than the executor's name buffer. */
	memset(name, 'a', sizeof(name));
	CHECK(get_function(1300, 1302, name, sizeof(name), sizeof(name)) == CUDA_ERROR_INVALID_VALUE);
	CHECK(get_function(1300, 1302, name, 4096, 4096) == CUDA_ERROR_INVALID_VALUE);
	/* The longest name that fits is the driver's to judge: not found. */
	CHECK(get_function(1300, 1302, name, 4095, 4095) == CUDA_ERROR_NOT_FOUND);
	/* The module id where a function is expected, and the other way round. */
	struct vgpu_func_attr_args fa = { .func = 1300 };
	CHECK(SYNC(VGPU_OP_FUNC_GET_ATTRIBUTE, fa) == CUDA_ERROR_INVALID_HANDLE);
	CHECK(get_function(1301, 1303, TEST_KERNEL, sizeof(TEST_KERNEL) - 1,
			   sizeof(TEST_KERNEL) - 1) == CUDA_ERROR_INVALID_HANDLE);
	/* A launch of a real function whose parameters the record does not carry. */
	struct {
		struct vgpu_launch_args a;
		uint8_t p[24];
	} launch = { { .func = 1301, .grid = { 1, 1, 1 }, .block = { 1, 1, 1 }, .param_size = 4096 },
		     { 0 } };
	real_launch = s.drv.LaunchKernel;
	s.drv.LaunchKernel = spy_launch;
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL, launch) == CUDA_ERROR_INVALID_VALUE);
	launch.a.param_size = VGPU_MAX_PARAM_BYTES + 4;
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL, launch) == CUDA_ERROR_INVALID_VALUE);
	/* Just past what the record carries (its granule's padding included). */
	launch.a.param_size = 48 + sizeof(launch.p);
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL, launch) == CUDA_ERROR_INVALID_VALUE);
	CHECK(launches == 0);	/* none reached the driver */
	launch.a.param_size = sizeof(launch.p);
	/* All zero: the kernel fills 0 elements of a NULL array, which touches nothing. */
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL, launch) == CUDA_SUCCESS);
	CHECK(launches == 1);
	s.drv.LaunchKernel = real_launch;
	struct vgpu_module_args mu = { .id = 1300, .kind = VGPU_IMAGE_MODULE };
	CHECK(SYNC(VGPU_OP_MODULE_UNLOAD, mu) == CUDA_SUCCESS);
}

/* Memory the driver knows but the session never allocated is not the session's to free. */
static void foreign_free(void)
{
	CUdeviceptr other = 0;

	CHECK(s.drv.MemAlloc(&other, 4096) == CUDA_SUCCESS);	/* as another tenant's would be */
	struct vgpu_mem_free_args fr = { .dptr = other };
	CHECK(SYNC(VGPU_OP_MEM_FREE, fr) == CUDA_ERROR_INVALID_VALUE);
	CHECK(ASYNC(VGPU_OP_MEM_FREE, fr) == CUDA_ERROR_INVALID_VALUE);
	CHECK(s.drv.MemFree(other) == CUDA_SUCCESS);	/* still alive: nobody freed it */
}

/* The quota holds across calls: what was allocated counts against the next one. */
static void cumulative_quota(void)
{
	uint64_t d[3] = { 0 };
	struct vgpu_completion ans;
	struct vgpu_mem_alloc_args al = { .size = 12u << 20 };	/* 3 x 12 MiB > the 32 MiB quota */

	for (int i = 0; i < 2; i++) {
		CHECK(call(VGPU_OP_MEM_ALLOC, VGPU_CMD_F_REPLY, CTX, &al, sizeof(al), &ans) ==
		      CUDA_SUCCESS);
		memcpy(&d[i], ans.data, sizeof(d[i]));
	}
	CHECK(SYNC(VGPU_OP_MEM_ALLOC, al) == CUDA_ERROR_OUT_OF_MEMORY);
	/* ...and a free gives it back. */
	struct vgpu_mem_free_args fr = { .dptr = d[1] };
	CHECK(SYNC(VGPU_OP_MEM_FREE, fr) == CUDA_SUCCESS);
	CHECK(call(VGPU_OP_MEM_ALLOC, VGPU_CMD_F_REPLY, CTX, &al, sizeof(al), &ans) == CUDA_SUCCESS);
	memcpy(&d[2], ans.data, sizeof(d[2]));
	fr.dptr = d[0];
	CHECK(SYNC(VGPU_OP_MEM_FREE, fr) == CUDA_SUCCESS);
	fr.dptr = d[2];
	CHECK(SYNC(VGPU_OP_MEM_FREE, fr) == CUDA_SUCCESS);
}

/*
 * The worker never waits in the driver: a device-to-host copy is answered,
 * and a host-to-device copy's bulk slot retired, only once the stream passed
 * the copy - by a wait the worker's loop completes, never at dispatch.
 * The double runs every operation later on a device thread (slowly here:
 * FAKECUDA_OP_DELAY_US), so an early answer would also show stale bytes.
 */
static void copies_complete_first(uint64_t dptr)
{
	struct vgpu_completion e;
	uint64_t before;
	uint8_t pattern[64];

	/* Host to device from slot 1: the slot is the guest's again only after the copy. */
	uint64_t slot1 = s.bulk_slot_size;
	memset(s.bulk + slot1, 0x5a, sizeof(pattern));
	struct vgpu_memcpy_htod_args h2d = { .dst = dptr, .src = { slot1, sizeof(pattern) } };
	before = s.ctrl->bulk_slot_retired[1];
	submit_only(VGPU_OP_MEMCPY_HTOD, 0, &h2d, sizeof(h2d),
		    offsetof(struct vgpu_memcpy_htod_args, bulk_seq));
	CHECK(s.ctrl->bulk_slot_retired[1] == before);	/* not retired at dispatch */
	vgpu_session_drain(&s);
	CHECK(s.ctrl->bulk_slot_retired[1] == s.sq.head - vgpu_rec_size(sizeof(h2d)) + 1);
	CHECK(vgpu_take_error(&s, THREAD, CTX, VGPU_KEPT_ANY_STREAM) == CUDA_SUCCESS);

	/* Device to host into slot 2: no answer until the bytes are there, then they are. */
	uint64_t slot2 = 2 * s.bulk_slot_size;
	memset(s.bulk + slot2, 0, sizeof(pattern));
	struct vgpu_memcpy_dtoh_args d2h = { .src = dptr, .dst = { slot2, sizeof(pattern) } };
	submit_only(VGPU_OP_MEMCPY_DTOH, VGPU_CMD_F_REPLY, &d2h, sizeof(d2h), NO_SEQ);
	CHECK(!vgpu_cq_pop(&cons, &e));	/* not answered at dispatch */
	vgpu_session_drain(&s);
	CHECK(vgpu_cq_pop(&cons, &e) && e.status == CUDA_SUCCESS);
	memset(pattern, 0x5a, sizeof(pattern));
	CHECK(!memcmp(s.bulk + slot2, pattern, sizeof(pattern)));
}

/*
 * Each call runs in the context its header names, also when another valid
 * context was current: a limit set in one is not seen in the other.
 */
static void two_contexts(void)
{
	struct vgpu_ctx_create_args cc = { .ctx_id = 21, .device = 0 };
	struct vgpu_ctx_limit_args set = { .limit = CU_LIMIT_MAX_L2_FETCH_GRANULARITY, .value = 32 };
	struct vgpu_ctx_limit_args get = { .limit = CU_LIMIT_MAX_L2_FETCH_GRANULARITY };
	struct vgpu_completion ans;
	uint64_t v = 0;

	CHECK(call(VGPU_OP_CTX_CREATE, VGPU_CMD_F_REPLY, 0, &cc, sizeof(cc), NULL) == CUDA_SUCCESS);
	CHECK(call(VGPU_OP_CTX_GET_LIMIT, VGPU_CMD_F_REPLY, CTX, &get, sizeof(get), &ans) ==
	      CUDA_SUCCESS);
	memcpy(&v, ans.data, sizeof(v));
	CHECK(v == 64);
	CHECK(call(VGPU_OP_CTX_SET_LIMIT, VGPU_CMD_F_REPLY, 21, &set, sizeof(set), NULL) ==
	      CUDA_SUCCESS);
	CHECK(call(VGPU_OP_CTX_GET_LIMIT, VGPU_CMD_F_REPLY, CTX, &get, sizeof(get), &ans) ==
	      CUDA_SUCCESS);
	memcpy(&v, ans.data, sizeof(v));
	CHECK(v == 64);	/* the primary context's own */
	CHECK(call(VGPU_OP_CTX_GET_LIMIT, VGPU_CMD_F_REPLY, 21, &get, sizeof(get), &ans) ==
	      CUDA_SUCCESS);
	memcpy(&v, ans.data, sizeof(v));
	CHECK(v == 32);
	struct vgpu_ctx_args cd = { .ctx_id = 21 };
	CHECK(call(VGPU_OP_CTX_DESTROY, VGPU_CMD_F_REPLY, 0, &cd, sizeof(cd), NULL) ==
	      CUDA_SUCCESS);
}

int main(void)
{
	uint8_t *bar1 = aligned_alloc(4096, BAR1_SIZE);
	struct vgpu_hello_args hello = { VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR, 1 };
	struct vgpu_primary_ctx_args retain = { .device = 0, .ctx_id = CTX };
	struct vgpu_completion ans;
	uint64_t bulk_size, dptr;

	setenv("VGPU_LIBCUDA", FAKECUDA_PATH, 1);
	setenv("VGPU_CACHE_DIR", "/nonexistent/vgpu-test-no-cache", 1);
	/* Every device operation takes a while: work the executor must wait for is slow. */
	setenv("FAKECUDA_OP_DELAY_US", "20000", 1);
	memset(bar1, 0, BAR1_SIZE);
	CHECK(vgpu_layout_compute(BAR1_SIZE, 4, HEAP_SIZE, &chan.layout) == 0);
	chan.bar1 = bar1;
	chan.doorbell_fd = eventfd(0, 0);
	chan.irq_fd = eventfd(0, EFD_NONBLOCK);
	chan.mem_quota = 32u << 20;
	chan.session_id = 7;
	vgpu_layout_write_header(&chan.layout, 1, chan.mem_quota, (void *)bar1);
	CHECK(vgpu_session_init(&s, &chan) == 0);
	prod = (struct vgpu_sq_producer){ s.sq.ring, s.sq.size, s.ctrl };
	cons = (struct vgpu_cq_consumer){ s.cq.ring, s.cq.entries, 0, s.ctrl };
	bulk_size = chan.layout.bulk_size;

	/* Before HELLO nothing runs; a wrong major is refused. */
	struct vgpu_mem_alloc_args alloc = { .size = 4096 };
	CHECK(SYNC(VGPU_OP_MEM_ALLOC, alloc) == CUDA_ERROR_NOT_INITIALIZED);
	struct vgpu_hello_args bad_hello = { VGPU_PROTOCOL_MAJOR + 1, 0, 1 };
	CHECK(call(VGPU_OP_HELLO, VGPU_CMD_F_REPLY, 0, &bad_hello, sizeof(bad_hello), NULL) ==
	      CUDA_ERROR_NOT_SUPPORTED);
	CHECK(call(VGPU_OP_HELLO, VGPU_CMD_F_REPLY, 0, &hello, sizeof(hello), &ans) ==
	      CUDA_SUCCESS);
	CHECK(call(VGPU_OP_PRIMARY_CTX_RETAIN, VGPU_CMD_F_REPLY, 0, &retain, sizeof(retain),
		   NULL) == CUDA_SUCCESS);

	/*
	 * Unknown opcodes, and records too short for their arguments (records
	 * are whole 32-byte granules, so a short one is caught at that grain).
	 */
	CHECK(call(999, VGPU_CMD_F_REPLY, CTX, NULL, 0, NULL) == CUDA_ERROR_NOT_SUPPORTED);
	struct vgpu_memcpy_htod_args shortcopy = { 0 };
	CHECK(call(VGPU_OP_MEMCPY_HTOD, VGPU_CMD_F_REPLY, CTX, &shortcopy, 8, NULL) ==
	      CUDA_ERROR_INVALID_VALUE);

	/* A context id the session never created. */
	CHECK(call(VGPU_OP_MEM_ALLOC, VGPU_CMD_F_REPLY, 12345, &alloc, sizeof(alloc), NULL) ==
	      CUDA_ERROR_INVALID_CONTEXT);
	/* Context ids outside the 32-bit range the header carries. */
	struct vgpu_ctx_create_args big_ctx = { .ctx_id = 1ull << 40, .device = 0 };
	CHECK(SYNC(VGPU_OP_CTX_CREATE, big_ctx) == CUDA_ERROR_INVALID_VALUE);

	/* The memory quota is the executor's, whatever the guest asks. */
	struct vgpu_mem_alloc_args huge = { .size = 64u << 20 };
	CHECK(SYNC(VGPU_OP_MEM_ALLOC, huge) == CUDA_ERROR_OUT_OF_MEMORY);
	CHECK(call(VGPU_OP_MEM_ALLOC, VGPU_CMD_F_REPLY, CTX, &alloc, sizeof(alloc), &ans) ==
	      CUDA_SUCCESS);
	memcpy(&dptr, ans.data, sizeof(dptr));
	/* Freeing what the session did not allocate. */
	struct vgpu_mem_free_args wild = { .dptr = dptr + 16 };
	CHECK(SYNC(VGPU_OP_MEM_FREE, wild) == CUDA_ERROR_INVALID_VALUE);

	/* Bulk references outside the bulk area, including ones that overflow. */
	struct vgpu_memcpy_dtoh_args d2h = { .src = dptr, .stream = 0 };
	d2h.dst = (struct vgpu_bulk_ref){ bulk_size - 8, 16 };
	CHECK(SYNC(VGPU_OP_MEMCPY_DTOH, d2h) == CUDA_ERROR_INVALID_VALUE);
	d2h.dst = (struct vgpu_bulk_ref){ 8, ~0ull - 4 };
	CHECK(SYNC(VGPU_OP_MEMCPY_DTOH, d2h) == CUDA_ERROR_INVALID_VALUE);
	d2h.dst = (struct vgpu_bulk_ref){ 0, 64 };
	CHECK(SYNC(VGPU_OP_MEMCPY_DTOH, d2h) == CUDA_SUCCESS);
	struct vgpu_memcpy_htod_args h2d = { .dst = dptr, .src = { bulk_size, 1 } };
	CHECK(call_seq(VGPU_OP_MEMCPY_HTOD, 0, CTX, &h2d, sizeof(h2d),
		       offsetof(struct vgpu_memcpy_htod_args, bulk_seq), NULL) ==
	      CUDA_ERROR_INVALID_VALUE);
	/* A good copy's slot is retired once the copy read it, under its sequence number. */
	h2d.src = (struct vgpu_bulk_ref){ 0, 64 };
	CHECK(call_seq(VGPU_OP_MEMCPY_HTOD, 0, CTX, &h2d, sizeof(h2d),
		       offsetof(struct vgpu_memcpy_htod_args, bulk_seq), NULL) == CUDA_SUCCESS);
	CHECK(s.ctrl->bulk_slot_retired[0] == s.sq.head - vgpu_rec_size(sizeof(h2d)) + 1);
	/* ...and a copy whose stream is unknown gives its slot back too. */
	h2d.stream = 4242;
	CHECK(call_seq(VGPU_OP_MEMCPY_HTOD, 0, CTX, &h2d, sizeof(h2d),
		       offsetof(struct vgpu_memcpy_htod_args, bulk_seq), NULL) ==
	      CUDA_ERROR_INVALID_HANDLE);
	CHECK(s.ctrl->bulk_slot_retired[0] == s.sq.head - vgpu_rec_size(sizeof(h2d)) + 1);
	h2d.stream = 0;
	struct vgpu_device_info_args info = { .device = 0, .out = { 0, 100 } };
	CHECK(SYNC(VGPU_OP_DEVICE_GET_INFO, info) == CUDA_ERROR_INVALID_VALUE);	/* too small */
	/* An offset near the end whose length wraps the sum round to a small number. */
	info.out = (struct vgpu_bulk_ref){ bulk_size - 8, 0ull - bulk_size + 16 };
	CHECK(SYNC(VGPU_OP_DEVICE_GET_INFO, info) == CUDA_ERROR_INVALID_VALUE);

	/* Inline data longer than the record carries. */
	struct {
		struct vgpu_memcpy_htod_inline_args a;
		uint8_t data[8];
	} inl = { { dptr, 0, 4096 }, { 0 } };
	CHECK(SYNC(VGPU_OP_MEMCPY_HTOD_INLINE, inl) == CUDA_ERROR_INVALID_VALUE);

	/* Handles: unknown, of the wrong type, reused, reserved. */
	struct vgpu_stream_args st = { .stream = 4242 };
	CHECK(SYNC(VGPU_OP_STREAM_SYNCHRONIZE, st) == CUDA_ERROR_INVALID_HANDLE);
	struct vgpu_event_create_args ev = { .id = 100, .flags = 0 };
	CHECK(ASYNC(VGPU_OP_EVENT_CREATE, ev) == CUDA_SUCCESS);
	CHECK(ASYNC(VGPU_OP_EVENT_CREATE, ev) == CUDA_ERROR_INVALID_VALUE);	/* id reused */
	st.stream = 100;	/* an event's id where a stream is expected */
	CHECK(SYNC(VGPU_OP_STREAM_SYNCHRONIZE, st) == CUDA_ERROR_INVALID_HANDLE);
	st.stream = CTX;	/* a context's id */
	CHECK(SYNC(VGPU_OP_STREAM_SYNCHRONIZE, st) == CUDA_ERROR_INVALID_HANDLE);
	struct vgpu_stream_create_args sc = { .id = 3 };	/* below VGPU_FIRST_ID */
	CHECK(ASYNC(VGPU_OP_STREAM_CREATE, sc) == CUDA_ERROR_INVALID_VALUE);

	/* Launch: unknown function, oversized or truncated parameters. */
	struct {
		struct vgpu_launch_args a;
		uint8_t p[16];
	} launch = { { .func = 5555, .grid = { 1, 1, 1 }, .block = { 1, 1, 1 } }, { 0 } };
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL, launch) == CUDA_ERROR_INVALID_HANDLE);
	launch.a.func = 100;	/* an event */
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL, launch) == CUDA_ERROR_INVALID_HANDLE);

	/*
	 * Extended launches: the attributes are judged before the function, so
	 * a bad one is INVALID_VALUE (or INVALID_HANDLE for a foreign event)
	 * whatever the function, and good ones reach the function check.
	 */
	struct {
		struct vgpu_launch_ex_args a;
		struct vgpu_launch_attr at[2];
		uint8_t p[16];
	} lx;
	memset(&lx, 0, sizeof(lx));
	lx.a = (struct vgpu_launch_ex_args){ .func = 5555, .grid = { 2, 1, 1 },
					     .block = { 1, 1, 1 }, .param_size = 16,
					     .num_attrs = 2 };
	lx.at[0].id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
	lx.at[0].value[0] = 1;
	lx.at[1].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
	lx.at[1].value[0] = 2, lx.at[1].value[4] = 1, lx.at[1].value[8] = 1;
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_HANDLE);
	lx.a.num_attrs = VGPU_MAX_LAUNCH_ATTRS + 1;	/* more than any launch needs */
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_VALUE);
	lx.a.num_attrs = 0xffffffffu;			/* a count whose size overflows */
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_VALUE);
	lx.a.num_attrs = 3;				/* past the record's end */
	CHECK(call(VGPU_OP_LAUNCH_KERNEL_EX, 0, CTX, &lx, sizeof(lx.a) + sizeof(lx.at), NULL) ==
	      CUDA_ERROR_INVALID_VALUE);
	lx.a.num_attrs = 2;
	lx.a.param_size = 4096;				/* parameters past the record's end */
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_VALUE);
	lx.a.param_size = 16;
	lx.at[1].id = 15;				/* an id cuda.h 13.0 does not define */
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_VALUE);
	lx.at[1].id = 0x10000;
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_VALUE);
	lx.at[1].id = CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE;	/* graphs only */
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_VALUE);
	lx.at[1].id = CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY;
	memset(lx.at[1].value, 0, sizeof(lx.at[1].value));
	lx.at[1].value[0] = 9;				/* outside CUsynchronizationPolicy */
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_VALUE);
	lx.at[1].id = CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN;
	lx.at[1].value[0] = 2;
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_VALUE);
	lx.at[1].id = CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW;
	{
		CUaccessPolicyWindow apw = { .num_bytes = 4096, .hitRatio = 2.0f };

		memcpy(lx.at[1].value, &apw, sizeof(apw));	/* a hit ratio above 1 */
		CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_VALUE);
		apw.hitRatio = 0.5f;
		apw.hitProp = (CUaccessProperty)7;
		memcpy(lx.at[1].value, &apw, sizeof(apw));
		CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_VALUE);
	}
	/* Events: one the session never created, one of its own with bad record flags. */
	lx.at[1].id = CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT;
	memset(lx.at[1].value, 0, sizeof(lx.at[1].value));
	uint64_t evid = 4343;
	memcpy(lx.at[1].value, &evid, sizeof(evid));
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_HANDLE);
	evid = CTX;					/* a context's id */
	memcpy(lx.at[1].value, &evid, sizeof(evid));
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_HANDLE);
	evid = 100;					/* the event created above */
	memcpy(lx.at[1].value, &evid, sizeof(evid));
	lx.at[1].value[8] = CU_EVENT_RECORD_EXTERNAL;
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_VALUE);
	lx.at[1].value[8] = 0;
	CHECK(ASYNC(VGPU_OP_LAUNCH_KERNEL_EX, lx) == CUDA_ERROR_INVALID_HANDLE);	/* fine: func */

	/* Attributes and cache configurations of functions the session does not have. */
	struct vgpu_func_attrs_args fat = { .func = 5555, .out = { 0, sizeof(struct vgpu_func_attrs) } };
	CHECK(SYNC(VGPU_OP_FUNC_GET_ATTRIBUTES, fat) == CUDA_ERROR_INVALID_HANDLE);
	fat.out = (struct vgpu_bulk_ref){ bulk_size - 8, sizeof(struct vgpu_func_attrs) };
	CHECK(SYNC(VGPU_OP_FUNC_GET_ATTRIBUTES, fat) == CUDA_ERROR_INVALID_VALUE);
	fat.out = (struct vgpu_bulk_ref){ 0, 8 };	/* too small for the answer */
	CHECK(SYNC(VGPU_OP_FUNC_GET_ATTRIBUTES, fat) == CUDA_ERROR_INVALID_VALUE);
	struct vgpu_func_config_args fcc = { .func = 5555, .config = CU_FUNC_CACHE_PREFER_L1 };
	CHECK(SYNC(VGPU_OP_FUNC_SET_CACHE_CONFIG, fcc) == CUDA_ERROR_INVALID_HANDLE);
	fcc.config = 77;
	CHECK(SYNC(VGPU_OP_FUNC_SET_CACHE_CONFIG, fcc) == CUDA_ERROR_INVALID_VALUE);
	CHECK(SYNC(VGPU_OP_FUNC_SET_SHARED_CONFIG, fcc) == CUDA_ERROR_INVALID_VALUE);
	fcc.func = 100;					/* an event's id */
	fcc.config = 0;
	CHECK(SYNC(VGPU_OP_FUNC_SET_SHARED_CONFIG, fcc) == CUDA_ERROR_INVALID_HANDLE);

	/* Cluster occupancy: a query number out of range, an event attribute (launches only). */
	struct {
		struct vgpu_occupancy_cluster_args a;
		struct vgpu_launch_attr at[1];
	} oc;
	memset(&oc, 0, sizeof(oc));
	oc.a = (struct vgpu_occupancy_cluster_args){ .func = 5555, .grid = { 4, 1, 1 },
						     .block = { 64, 1, 1 },
						     .query = VGPU_OCC_ACTIVE_CLUSTERS,
						     .num_attrs = 1 };
	oc.at[0].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
	oc.at[0].value[0] = 2, oc.at[0].value[4] = 1, oc.at[0].value[8] = 1;
	CHECK(SYNC(VGPU_OP_OCCUPANCY_CLUSTER, oc) == CUDA_ERROR_INVALID_HANDLE);
	oc.a.query = 2;
	CHECK(SYNC(VGPU_OP_OCCUPANCY_CLUSTER, oc) == CUDA_ERROR_INVALID_VALUE);
	oc.a.query = VGPU_OCC_CLUSTER_SIZE;
	oc.at[0].id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT;
	memcpy(oc.at[0].value, &evid, sizeof(evid));
	CHECK(SYNC(VGPU_OP_OCCUPANCY_CLUSTER, oc) == CUDA_ERROR_INVALID_VALUE);
	oc.a.num_attrs = 40;
	CHECK(SYNC(VGPU_OP_OCCUPANCY_CLUSTER, oc) == CUDA_ERROR_INVALID_VALUE);

	/* Modules: an image nobody uploaded; a name with a NUL inside; a length past the record. */
	struct vgpu_module_load_args ml = { .id = 200, .size = 64, .kind = VGPU_IMAGE_MODULE };
	memset(ml.hash, 0x77, sizeof(ml.hash));
	CHECK(SYNC(VGPU_OP_MODULE_LOAD, ml) == VGPU_STATUS_NEED_IMAGE);
	ml.kind = 9;
	CHECK(SYNC(VGPU_OP_MODULE_LOAD, ml) == CUDA_ERROR_INVALID_VALUE);
	struct vgpu_image_upload_args up = { .total = 16, .offset = 8, .src = { 0, 16 } };
	CHECK(call_seq(VGPU_OP_IMAGE_UPLOAD, 0, CTX, &up, sizeof(up),
		       offsetof(struct vgpu_image_upload_args, bulk_seq), NULL) ==
	      CUDA_ERROR_INVALID_VALUE);	/* 8 + 16 > 16 */
	/* A module that never loaded. */
	struct {
		struct vgpu_module_get_args a;
		char name[8];
	} gf = { { .module = 200, .new_id = 201, .name_len = 8 }, "abcdefgh" };
	CHECK(SYNC(VGPU_OP_MODULE_GET_FUNCTION, gf) == CUDA_ERROR_INVALID_HANDLE);
	function_names();
	foreign_free();
	cumulative_quota();
	copies_complete_first(dptr);
	two_contexts();

	/* Asynchronous errors are kept for, and returned by, a call that may report them. */
	struct vgpu_memcpy_dtod_args dd = { .dst = 0x10, .src = dptr, .len = 64, .stream = 0 };
	CHECK(ASYNC(VGPU_OP_MEMCPY_DTOD, dd) == CUDA_ERROR_INVALID_VALUE);	/* kept, then taken */
	vgpu_keep_error(&s, THREAD, CTX, 0, CUDA_ERROR_INVALID_VALUE);	/* as a failed copy keeps it */
	vgpu_keep_error(&s, THREAD + 1, CTX, 0, CUDA_ERROR_LAUNCH_FAILED);	/* another thread's */
	CHECK(call(VGPU_OP_CTX_SYNCHRONIZE, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC, CTX, NULL,
		   0, NULL) == CUDA_ERROR_INVALID_VALUE);
	CHECK(call(VGPU_OP_CTX_SYNCHRONIZE, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC, CTX, NULL,
		   0, NULL) == CUDA_SUCCESS);	/* reported once, and never the other thread's */
	/* A stream's call reports what was kept on that stream, not on another. */
	vgpu_keep_error(&s, THREAD, CTX, 4242, CUDA_ERROR_INVALID_VALUE);
	st.stream = 0;
	CHECK(call(VGPU_OP_STREAM_SYNCHRONIZE, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC, CTX, &st,
		   sizeof(st), NULL) == CUDA_SUCCESS);
	CHECK(vgpu_take_error(&s, THREAD, CTX, 4242) == CUDA_ERROR_INVALID_VALUE);
	CHECK(vgpu_take_error(&s, THREAD + 1, CTX, 0) == CUDA_ERROR_LAUNCH_FAILED);

	/*
	 * Capture and graphs: bad modes and ids, work that must not be
	 * captured, a destroyed executable graph, another guest thread's stream.
	 */
	struct vgpu_stream_create_args cap_sc = { .id = 300 };
	CHECK(ASYNC(VGPU_OP_STREAM_CREATE, cap_sc) == CUDA_SUCCESS);
	struct vgpu_capture_begin_args cb = { .stream = 300, .mode = 7 };
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_ERROR_INVALID_VALUE);
	cb.mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
	cb.stream = 4242;
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_ERROR_INVALID_HANDLE);
	cb.stream = 100;	/* an event */
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_ERROR_INVALID_HANDLE);
	cb.stream = VGPU_STREAM_LEGACY;
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	cb.stream = 300;
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_SUCCESS);
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_ERROR_ILLEGAL_STATE);
	/* Captured copies may not refer to record bytes or bulk slots; no event of ours on it. */
	struct {
		struct vgpu_memcpy_htod_inline_args a;
		uint8_t data[32];
	} cap_inl = { { dptr, 300, 32 }, { 0 } };
	CHECK(SYNC(VGPU_OP_MEMCPY_HTOD_INLINE, cap_inl) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	struct vgpu_memcpy_dtoh_args cap_d2h = { .src = dptr, .stream = 300, .dst = { 0, 64 } };
	CHECK(SYNC(VGPU_OP_MEMCPY_DTOH, cap_d2h) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	struct vgpu_stream_args cap_st = { .stream = 300 };
	CHECK(SYNC(VGPU_OP_STREAM_SYNCHRONIZE, cap_st) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
	/*
	 * The refusals left the driver's capture alone (the shim invalidates
	 * captures by the mode rules and says so at the end): it ends with an
	 * empty graph, which the guest can destroy.
	 */
	struct vgpu_capture_end_args ce = { .stream = 300, .graph_id = 310 };
	CHECK(SYNC(VGPU_OP_STREAM_END_CAPTURE, ce) == CUDA_SUCCESS);
	CHECK(SYNC(VGPU_OP_STREAM_END_CAPTURE, ce) == CUDA_ERROR_ILLEGAL_STATE);
	struct vgpu_graph_args empty = { .id = 310 };
	CHECK(ASYNC(VGPU_OP_GRAPH_DESTROY, empty) == CUDA_SUCCESS);
	/* A memset captured, not run: it runs when the graph is launched. */
	memset((void *)(uintptr_t)dptr, 0, 64);	/* the double's device memory is host memory */
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_SUCCESS);
	struct vgpu_memset_args cap_ms = { .dst = dptr, .stream = 300, .width = 16, .value = 5,
					   .elem_size = 4 };
	CHECK(ASYNC(VGPU_OP_MEMSET, cap_ms) == CUDA_SUCCESS);
	ce.graph_id = CTX;	/* an id in use: the capture ends all the same */
	CHECK(SYNC(VGPU_OP_STREAM_END_CAPTURE, ce) == CUDA_ERROR_INVALID_VALUE);
	CHECK(SYNC(VGPU_OP_STREAM_END_CAPTURE, ce) == CUDA_ERROR_ILLEGAL_STATE);
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_SUCCESS);
	CHECK(ASYNC(VGPU_OP_MEMSET, cap_ms) == CUDA_SUCCESS);
	ce.graph_id = 301;
	CHECK(SYNC(VGPU_OP_STREAM_END_CAPTURE, ce) == CUDA_SUCCESS);
	CHECK(((uint32_t *)(uintptr_t)dptr)[0] == 0);
	/* Nodes: bad graphs and places; a memset node has no kernel parameters to set. */
	struct vgpu_graph_args gn = { .id = 4242 };
	CHECK(SYNC(VGPU_OP_GRAPH_GET_NODES, gn) == CUDA_ERROR_INVALID_VALUE);
	gn.id = 301;
	CHECK(call(VGPU_OP_GRAPH_GET_NODES, VGPU_CMD_F_REPLY, CTX, &gn, sizeof(gn), &ans) ==
	      CUDA_SUCCESS);
	CHECK(ans.len >= 8 && *(uint64_t *)ans.data == 1);
	struct vgpu_graph_node_args na = { .graph = 301, .index = 1 };
	CHECK(SYNC(VGPU_OP_GRAPH_NODE_GET, na) == CUDA_ERROR_INVALID_VALUE);	/* one node only */
	na.index = ~0ull;
	CHECK(SYNC(VGPU_OP_GRAPH_NODE_GET, na) == CUDA_ERROR_INVALID_VALUE);
	na.index = 0;
	na.out = (struct vgpu_bulk_ref){ bulk_size - 8, 64 };	/* outside bulk: unused for a memset */
	CHECK(call(VGPU_OP_GRAPH_NODE_GET, VGPU_CMD_F_REPLY, CTX, &na, sizeof(na), &ans) ==
	      CUDA_SUCCESS);
	CHECK(*(uint32_t *)ans.data == CU_GRAPH_NODE_TYPE_MEMSET);
	struct {
		struct vgpu_kernel_node_set_args a;
		uint8_t p[32];
	} ks = { { .graph = 301, .index = 0, .k = { .func = 4242, .grid = { 1, 1, 1 },
						     .block = { 1, 1, 1 }, .param_size = 32 } },
		 { 0 } };
	CHECK(SYNC(VGPU_OP_GRAPH_KERNEL_NODE_SET, ks) == CUDA_ERROR_INVALID_HANDLE);
	ks.a.k.func = 100;	/* an event */
	CHECK(SYNC(VGPU_OP_GRAPH_KERNEL_NODE_SET, ks) == CUDA_ERROR_INVALID_HANDLE);
	ks.a.k.param_size = 1u << 20;	/* more than the record carries */
	CHECK(SYNC(VGPU_OP_GRAPH_KERNEL_NODE_SET, ks) == CUDA_ERROR_INVALID_VALUE);
	ks.a.k.param_size = 32;
	ks.a.exec = 4242;
	CHECK(SYNC(VGPU_OP_GRAPH_KERNEL_NODE_SET, ks) == CUDA_ERROR_INVALID_HANDLE);
	/* Instantiate: not a graph, a reused exec id, flags that are not offered. */
	struct vgpu_graph_instantiate_args gi = { .graph = 100, .exec_id = 302 };
	CHECK(SYNC(VGPU_OP_GRAPH_INSTANTIATE, gi) == CUDA_ERROR_INVALID_VALUE);
	gi.graph = 301;
	gi.exec_id = 301;
	CHECK(SYNC(VGPU_OP_GRAPH_INSTANTIATE, gi) == CUDA_ERROR_INVALID_VALUE);
	gi.exec_id = 302;
	gi.flags = 1u << 20;
	CHECK(SYNC(VGPU_OP_GRAPH_INSTANTIATE, gi) == CUDA_ERROR_INVALID_VALUE);
	gi.flags = CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH;
	CHECK(SYNC(VGPU_OP_GRAPH_INSTANTIATE, gi) == CUDA_ERROR_NOT_SUPPORTED);
	gi.flags = 0;
	CHECK(SYNC(VGPU_OP_GRAPH_INSTANTIATE, gi) == CUDA_SUCCESS);
	/* Launch: unknown exec, a graph where an exec is expected, an unknown stream; then for real. */
	struct vgpu_graph_launch_args gl = { .exec = 4242, .stream = 300 };
	CHECK(ASYNC(VGPU_OP_GRAPH_LAUNCH, gl) == CUDA_ERROR_INVALID_VALUE);
	gl.exec = 301;
	CHECK(ASYNC(VGPU_OP_GRAPH_LAUNCH, gl) == CUDA_ERROR_INVALID_VALUE);
	gl.exec = 302;
	gl.stream = 4242;
	CHECK(ASYNC(VGPU_OP_GRAPH_LAUNCH, gl) == CUDA_ERROR_INVALID_HANDLE);
	gl.stream = 300;
	CHECK(ASYNC(VGPU_OP_GRAPH_UPLOAD, gl) == CUDA_SUCCESS);
	CHECK(ASYNC(VGPU_OP_GRAPH_LAUNCH, gl) == CUDA_SUCCESS);
	CHECK(SYNC(VGPU_OP_STREAM_SYNCHRONIZE, cap_st) == CUDA_SUCCESS);
	CHECK(((uint32_t *)(uintptr_t)dptr)[0] == 5 && ((uint32_t *)(uintptr_t)dptr)[15] == 5);
	/* Update: unknown ids; an update from the same graph succeeds. */
	struct vgpu_graph_update_args gu = { .exec = 4242, .graph = 301 };
	CHECK(SYNC(VGPU_OP_GRAPH_EXEC_UPDATE, gu) == CUDA_ERROR_INVALID_VALUE);
	gu.exec = 302;
	gu.graph = 302;
	CHECK(SYNC(VGPU_OP_GRAPH_EXEC_UPDATE, gu) == CUDA_ERROR_INVALID_VALUE);
	gu.graph = 301;
	CHECK(SYNC(VGPU_OP_GRAPH_EXEC_UPDATE, gu) == CUDA_SUCCESS);
	/* A destroyed executable graph is gone: launching or destroying it again is an error. */
	struct vgpu_graph_args gd = { .id = 302 };
	CHECK(ASYNC(VGPU_OP_GRAPH_EXEC_DESTROY, gd) == CUDA_SUCCESS);
	CHECK(ASYNC(VGPU_OP_GRAPH_LAUNCH, gl) == CUDA_ERROR_INVALID_VALUE);
	CHECK(ASYNC(VGPU_OP_GRAPH_EXEC_DESTROY, gd) == CUDA_ERROR_INVALID_VALUE);
	CHECK(ASYNC(VGPU_OP_GRAPH_DESTROY, gd) == CUDA_ERROR_INVALID_VALUE);	/* not a graph */
	gd.id = 301;
	CHECK(ASYNC(VGPU_OP_GRAPH_EXEC_DESTROY, gd) == CUDA_ERROR_INVALID_VALUE);	/* a graph */
	CHECK(ASYNC(VGPU_OP_GRAPH_DESTROY, gd) == CUDA_SUCCESS);
	CHECK(ASYNC(VGPU_OP_GRAPH_DESTROY, gd) == CUDA_ERROR_INVALID_VALUE);
	/* Create: a reused id, flags; a good one stays until the session ends. */
	struct vgpu_graph_create_args gc = { .id = CTX };
	CHECK(ASYNC(VGPU_OP_GRAPH_CREATE, gc) == CUDA_ERROR_INVALID_VALUE);
	gc.id = 303;
	gc.flags = 1;
	CHECK(ASYNC(VGPU_OP_GRAPH_CREATE, gc) == CUDA_ERROR_INVALID_VALUE);
	gc.flags = 0;
	CHECK(ASYNC(VGPU_OP_GRAPH_CREATE, gc) == CUDA_SUCCESS);
	/* Captured work the driver refused (kept on the stream): the capture yields no graph. */
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_SUCCESS);
	vgpu_keep_error(&s, THREAD, CTX, 300, CUDA_ERROR_INVALID_VALUE);
	ce.graph_id = 307;
	CHECK(SYNC(VGPU_OP_STREAM_END_CAPTURE, ce) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
	CHECK(vgpu_take_error(&s, THREAD, CTX, 300) == CUDA_SUCCESS);
	CHECK(!vgpu_idmap_find(&s.handles, 307));
	/* Graph host functions: only into a capture; answers for runs never asked are ignored. */
	struct vgpu_graph_host_func_args gh = { .stream = 4242, .cookie = 9 };
	CHECK(ASYNC(VGPU_OP_GRAPH_HOST_FUNC, gh) == CUDA_ERROR_INVALID_HANDLE);
	gh.stream = 300;
	CHECK(ASYNC(VGPU_OP_GRAPH_HOST_FUNC, gh) == CUDA_ERROR_INVALID_VALUE);	/* not capturing */
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_SUCCESS);
	CHECK(ASYNC(VGPU_OP_GRAPH_HOST_FUNC, gh) ==
	      (s.host_flags ? CUDA_SUCCESS : CUDA_ERROR_NOT_SUPPORTED));
	struct vgpu_msg_graph_host_func ghd = { .cookie = 9, .run = 1 };
	CHECK(ASYNC(VGPU_OP_GRAPH_HOST_DONE, ghd) == CUDA_SUCCESS);
	ghd.cookie = 12345;
	ghd.run = ~0ull;
	CHECK(ASYNC(VGPU_OP_GRAPH_HOST_DONE, ghd) == CUDA_SUCCESS);
	ce.graph_id = 308;
	ce.invalidated = 0;
	CHECK(SYNC(VGPU_OP_STREAM_END_CAPTURE, ce) == CUDA_SUCCESS);
	/* The guest invalidated the capture: it ends, and no graph gets the id. */
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_SUCCESS);
	ce.graph_id = 304;
	ce.invalidated = 1;
	CHECK(SYNC(VGPU_OP_STREAM_END_CAPTURE, ce) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
	gi.graph = 304;
	gi.exec_id = 305;
	CHECK(SYNC(VGPU_OP_GRAPH_INSTANTIATE, gi) == CUDA_ERROR_INVALID_VALUE);
	/* Another guest thread's per-thread stream is its own: ending "its" capture finds none. */
	cb.stream = VGPU_STREAM_PER_THREAD;
	rec_thread = THREAD + 5;
	CHECK(SYNC(VGPU_OP_STREAM_BEGIN_CAPTURE, cb) == CUDA_SUCCESS);
	rec_thread = THREAD;
	ce = (struct vgpu_capture_end_args){ .stream = VGPU_STREAM_PER_THREAD, .graph_id = 306 };
	CHECK(SYNC(VGPU_OP_STREAM_END_CAPTURE, ce) == CUDA_ERROR_ILLEGAL_STATE);
	rec_thread = THREAD + 5;
	CHECK(SYNC(VGPU_OP_STREAM_END_CAPTURE, ce) == CUDA_SUCCESS);
	rec_thread = THREAD;
	hostile_2d(bulk_size);
	hostile_heap(dptr);

	/* After all that the session still works. */
	d2h.dst = (struct vgpu_bulk_ref){ 4096, 64 };
	CHECK(SYNC(VGPU_OP_MEMCPY_DTOH, d2h) == CUDA_SUCCESS);
	CHECK(!s.closing);

	/* A bulk sequence number out of ring order closes the session. */
	h2d.src = (struct vgpu_bulk_ref){ 0, 64 };
	h2d.bulk_seq = 1;
	CHECK(ASYNC(VGPU_OP_MEMCPY_HTOD, h2d) == CUDA_ERROR_INVALID_VALUE);
	CHECK(s.closing);
	s.closing = false;

	/*
	 * Host functions whose generations come out of order on one slot: at
	 * teardown the slot's flag is set to its generation to release every
	 * wait on it, so it must keep the newest (in wrapping order), not the
	 * last that came - else the wait for 5 outlives the session.  Submitted
	 * only: nothing may wait for the guest's answers here.
	 */
	CHECK(s.host_flags != 0);
	struct vgpu_stream_create_args hs = { .id = 330 };
	struct vgpu_host_func_args hf = { .stream = 330, .cookie = 1, .gen = 5, .slot = 7 };

	submit_only(VGPU_OP_STREAM_CREATE, 0, &hs, sizeof(hs), NO_SEQ);
	submit_only(VGPU_OP_LAUNCH_HOST_FUNC, 0, &hf, sizeof(hf), NO_SEQ);
	hf.gen = 3;
	submit_only(VGPU_OP_LAUNCH_HOST_FUNC, 0, &hf, sizeof(hf), NO_SEQ);
	CHECK(s.host_gen[7] == 5);
	hf.gen = 0xfffffff0u;	/* behind 5 across the wrap */
	submit_only(VGPU_OP_LAUNCH_HOST_FUNC, 0, &hf, sizeof(hf), NO_SEQ);
	CHECK(s.host_gen[7] == 5);
	hf.gen = 0x100000006ull;	/* the flag is 32 bits: 6 */
	submit_only(VGPU_OP_LAUNCH_HOST_FUNC, 0, &hf, sizeof(hf), NO_SEQ);
	CHECK(s.host_gen[7] == 6);

	/* A corrupt record ends the ring, not the process. */
	struct vgpu_cmd_hdr *h = (void *)(s.sq.ring + (s.sq.head & (s.sq.size - 1)));
	h->size = 40;
	h->seal = s.sq.head + 1;
	CHECK(vgpu_sq_pop(&s.sq, s.cmd_buf, s.cmd_buf_size) == VGPU_SQ_CORRUPT);

	vgpu_session_teardown(&s);
	free(bar1);
	return TEST_RESULT();
}
