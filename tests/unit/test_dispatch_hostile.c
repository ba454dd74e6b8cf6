// SPDX-License-Identifier: MIT
/*
 * The executor's answers to hostile records, one by one (the fuzzer only
 * shows that nothing crashes; this shows each bad input gets its error and
 * leaves the session usable).  Runs the decoder in process against the CI
 * test double of the driver (tests/fakecuda, not a driver).
 */
#include <stddef.h>
#include <stdint.h>
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

static struct vgpu_worker_channel chan;
static struct vgpu_session s;
static struct vgpu_sq_producer prod;
static struct vgpu_cq_consumer cons;

#define THREAD	1u
#define NO_SEQ	SIZE_MAX

/*
 * Submit one record and run it; the answer's status (or the kept error for
 * async calls).  With @seq_off, the uint64_t there receives the record's
 * seal, as the shim writes bulk sequence numbers.
 */
static uint32_t call_seq(uint16_t op, uint16_t flags, uint32_t ctx, const void *args, size_t len,
			 size_t seq_off, struct vgpu_completion *ans)
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
	h->flags = flags;
	h->tag = pos + 1;
	h->ctx = ctx;
	h->thread = THREAD;
	memcpy(h + 1, args, len);
	if (seq_off != NO_SEQ) {
		uint64_t seq = pos + 1;

		memcpy((uint8_t *)(h + 1) + seq_off, &seq, sizeof(seq));
	}
	vgpu_sq_commit(&prod, h, pos);
	if (vgpu_sq_pop(&s.sq, s.cmd_buf, s.cmd_buf_size) != VGPU_SQ_RECORD)
		return 0xffffffff;
	vgpu_dispatch(&s, s.cmd_buf, ((struct vgpu_cmd_hdr *)s.cmd_buf)->size);
	/* Answers that wait for GPU work come when it is done. */
	vgpu_session_drain(&s);
	if (!(flags & VGPU_CMD_F_REPLY))
		return vgpu_take_error(&s, THREAD, ctx, VGPU_KEPT_ANY_STREAM);
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
 * Submit one record and dispatch it, but run none of the worker's waits:
 * what the executor did before the GPU work it waits for could finish.
 */
static void submit_only(uint16_t op, uint16_t flags, const void *args, size_t len, size_t seq_off)
{
	uint32_t size = vgpu_rec_size(len);
	struct vgpu_cmd_hdr *h;
	uint64_t pos;

	h = vgpu_sq_reserve(&prod, size, &pos);
	if (!h)
		abort();
	h->size = size;
	h->opcode = op;
	h->flags = flags;
	h->tag = pos + 1;
	h->ctx = CTX;
	h->thread = THREAD;
	memcpy(h + 1, args, len);
	if (seq_off != NO_SEQ) {
		uint64_t seq = pos + 1;

		memcpy((uint8_t *)(h + 1) + seq_off, &seq, sizeof(seq));
	}
	vgpu_sq_commit(&prod, h, pos);
	if (vgpu_sq_pop(&s.sq, s.cmd_buf, s.cmd_buf_size) != VGPU_SQ_RECORD)
		abort();
	vgpu_dispatch(&s, s.cmd_buf, ((struct vgpu_cmd_hdr *)s.cmd_buf)->size);
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
 * checks never run.
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
	struct vgpu_module_load_args ml = { .id = 299, .size = sizeof(test_ptx),
					    .kind = VGPU_IMAGE_MODULE };
	memcpy(ml.hash, bad.hash, sizeof(ml.hash));
	CHECK(SYNC(VGPU_OP_MODULE_LOAD, ml) == VGPU_STATUS_NEED_IMAGE);

	CHECK(load_test_module(300) == CUDA_SUCCESS);
	CHECK(get_function(300, 301, TEST_KERNEL, sizeof(TEST_KERNEL) - 1,
			   sizeof(TEST_KERNEL) - 1) == CUDA_SUCCESS);
	/* A NUL inside the name. */
	CHECK(get_function(300, 302, "ab\0cdefg", 8, 8) == CUDA_ERROR_INVALID_VALUE);
	/* Empty. */
	CHECK(get_function(300, 302, "", 0, 0) == CUDA_ERROR_INVALID_VALUE);
	/* A length past the end of the record. */
	CHECK(get_function(300, 302, TEST_KERNEL, 5000, sizeof(TEST_KERNEL) - 1) ==
	      CUDA_ERROR_INVALID_VALUE);
	/* A name the record really carries, longer than the executor's name buffer. */
	memset(name, 'a', sizeof(name));
	CHECK(get_function(300, 302, name, sizeof(name), sizeof(name)) == CUDA_ERROR_INVALID_VALUE);
	CHECK(get_function(300, 302, name, 4096, 4096) == CUDA_ERROR_INVALID_VALUE);
	/* The longest name that fits is the driver's to judge: not found. */
	CHECK(get_function(300, 302, name, 4095, 4095) == CUDA_ERROR_NOT_FOUND);
	/* The module id where a function is expected, and the other way round. */
	struct vgpu_func_attr_args fa = { .func = 300 };
	CHECK(SYNC(VGPU_OP_FUNC_GET_ATTRIBUTE, fa) == CUDA_ERROR_INVALID_HANDLE);
	CHECK(get_function(301, 303, TEST_KERNEL, sizeof(TEST_KERNEL) - 1,
			   sizeof(TEST_KERNEL) - 1) == CUDA_ERROR_INVALID_HANDLE);
	/* A launch of a real function whose parameters the record does not carry. */
	struct {
		struct vgpu_launch_args a;
		uint8_t p[24];
	} launch = { { .func = 301, .grid = { 1, 1, 1 }, .block = { 1, 1, 1 }, .param_size = 4096 },
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
	struct vgpu_module_args mu = { .id = 300, .kind = VGPU_IMAGE_MODULE };
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
	CHECK(vgpu_layout_compute(BAR1_SIZE, 4, 0, &chan.layout) == 0);
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

	/* A corrupt record ends the ring, not the process. */
	struct vgpu_cmd_hdr *h = (void *)(s.sq.ring + (s.sq.head & (s.sq.size - 1)));
	h->size = 40;
	h->seal = s.sq.head + 1;
	CHECK(vgpu_sq_pop(&s.sq, s.cmd_buf, s.cmd_buf_size) == VGPU_SQ_CORRUPT);

	vgpu_session_teardown(&s);
	free(bar1);
	return TEST_RESULT();
}
