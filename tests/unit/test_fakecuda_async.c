/* SPDX-License-Identifier: MIT */
/*
 * The driver test double (tests/fakecuda/, a libcuda.so.1 for CI that is NOT
 * a driver) as an asynchronous device: work runs after the call that
 * submitted it, streams run concurrently, and the ordering rules of cuda.h
 * hold (legacy-stream barriers, cuStreamWaitEvent, stream memory
 * operations, host functions, copies into registered memory landing when
 * the stream gets there).
 *
 * Ordering is shown without timing: a stream is held by a "gate", a
 * cuStreamWaitValue32 on a flag in registered host memory that the test
 * opens with a plain store when it chooses, so what may not have happened
 * yet can be checked while the gate is closed.  The one check that needs
 * FAKECUDA_OP_DELAY_US only judges a query made within the delay (it
 * measures, and tries again when the machine was too slow to tell).
 *
 * Each scenario runs in a child of its own that sets its environment and
 * then loads the double.  A scenario that stops making progress (a wait
 * that never ends: what a synchronous double does with a gate or a
 * spinning kernel) is killed after FAKECUDA_TEST_STALL_S seconds without
 * progress (default 120) and fails.
 *
 *   test_fakecuda_async [scenario...]       all, or the ones named
 *   FAKECUDA_TEST_LIB=path                  another build of the double
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "real_driver.h"

#ifndef FAKECUDA_LIB
#define FAKECUDA_LIB "build/fakecuda/libcuda.so.1"
#endif

static struct vgpu_real_driver D;
static int failures;
/* Reads go through a non-blocking stream, which no held blocking stream delays. */
static CUstream reader;
static int progress_fd = -1;

/* Tell the parent this child is still moving. */
static void progress(void)
{
	if (progress_fd >= 0 && write(progress_fd, ".", 1) < 0)
		progress_fd = -1;
}

static const char *ename(CUresult r)
{
	const char *s = NULL;
	if (D.GetErrorName && D.GetErrorName(r, &s) == CUDA_SUCCESS && s)
		return s;
	return "?";
}

#define CHECK(cond)									\
	do {										\
		progress();								\
		if (!(cond)) {								\
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			failures++;							\
		}									\
	} while (0)

#define EXPECT(call, want)								\
	do {										\
		CUresult _r = (call);							\
		progress();								\
		if (_r != (want)) {							\
			fprintf(stderr, "%s:%d: %s = %d %s, want %s\n", __FILE__, __LINE__,	\
				#call, (int)_r, ename(_r), #want);			\
			failures++;							\
		}									\
	} while (0)

#define OK(call) EXPECT(call, CUDA_SUCCESS)

static const char *WAIT_FLAG = "_Z19vgpu_test_wait_flagPVKjjPj";
static const char *SET_FLAG = "_Z18vgpu_test_set_flagPVjj";
static const char *FILL = "_Z14vgpu_test_fillPjjy";

static const char PTX[] =
	".version 9.0\n.target sm_90\n.address_size 64\n"
	".visible .entry _Z14vgpu_test_fillPjjy() { ret; }\n"
	".visible .entry _Z19vgpu_test_wait_flagPVKjjPj() { ret; }\n"
	".visible .entry _Z18vgpu_test_set_flagPVjj() { ret; }\n";

/* ================================================================ setup */

/* In the child: load the double, take every entry point it has, make the primary context current. */
static void load(void)
{
	const char *path = getenv("FAKECUDA_TEST_LIB");
	CUcontext ctx;

	D.handle = dlopen(path && *path ? path : FAKECUDA_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!D.handle) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		exit(1);
	}
	bool missing = false;
#define RESOLVE(member, sym, pfn)							\
	if (!(D.member = (pfn)dlsym(D.handle, sym))) {					\
		fprintf(stderr, "the double does not export %s\n", sym);		\
		missing = true;								\
	}
	VGPU_REAL_DRIVER_FUNCS(RESOLVE)
#undef RESOLVE
	if (missing)
		exit(1);
	if (D.Init(0) || D.DevicePrimaryCtxRetain(&ctx, 0) || D.CtxSetCurrent(ctx) ||
	    D.StreamCreateWithPriority(&reader, CU_STREAM_NON_BLOCKING, 0)) {
		fprintf(stderr, "no primary context\n");
		exit(1);
	}
}

static CUdeviceptr dalloc(size_t n)
{
	CUdeviceptr p = 0;
	OK(D.MemAlloc(&p, n));
	OK(D.MemsetD8Async(p, 0, n, NULL));
	OK(D.StreamSynchronize(NULL));
	return p;
}

static CUstream stream(unsigned flags)
{
	CUstream s = NULL;
	OK(D.StreamCreateWithPriority(&s, flags, 0));
	return s;
}

/* Registered host memory (one page each), mapped for the device: its device pointer is its address. */
static void *pinned(void)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = aligned_alloc((size_t)page, (size_t)page);
	CUdeviceptr d = 0;

	memset(p, 0, (size_t)page);
	OK(D.MemHostRegister(p, (size_t)page, CU_MEMHOSTREGISTER_DEVICEMAP));
	OK(D.MemHostGetDevicePointer(&d, p, 0));
	CHECK(d == (CUdeviceptr)(uintptr_t)p);
	return p;
}

struct gate {
	uint32_t *flag;
};

/* Stream @s stops here until gate_open(). */
static struct gate gate_close(CUstream s)
{
	struct gate g = { pinned() };
	OK(D.StreamWaitValue32(s, (CUdeviceptr)(uintptr_t)g.flag, 1, CU_STREAM_WAIT_VALUE_EQ));
	return g;
}

static void gate_open(struct gate g)
{
	__atomic_store_n(g.flag, 1, __ATOMIC_RELEASE);
}

static uint32_t read_u32(CUdeviceptr p)
{
	uint32_t v = 0xffffffff;
	OK(D.MemcpyDtoHAsync(&v, p, 4, reader));	/* pageable: back when it landed */
	return v;
}

/* Wait (with progress) until the query stops saying NOT_READY. */
static CUresult settle(CUresult (*query)(void *), void *arg)
{
	CUresult r;
	while ((r = query(arg)) == CUDA_ERROR_NOT_READY) {
		progress();
		usleep(1000);
	}
	return r;
}

static CUresult query_stream(void *s)
{
	return D.StreamQuery(s);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ================================================================ scenarios */

/*
 * FAKECUDA_OP_DELAY_US=200000: a query right after submitting says NOT_READY
 * (judged only when the query came within the delay), synchronising waits
 * at least the delay, and afterwards everything is complete.
 */
static void s_not_ready(void)
{
	CUstream s = stream(CU_STREAM_NON_BLOCKING);
	CUdeviceptr d = dalloc(64);
	CUevent e0, e1;
	float ms;
	int judged = 0;

	OK(D.EventCreate(&e0, CU_EVENT_DEFAULT));
	OK(D.EventCreate(&e1, CU_EVENT_DEFAULT));
	for (int attempt = 0; attempt < 20 && judged < 1; attempt++) {
		OK(D.StreamSynchronize(s));
		double t0 = now_s();
		OK(D.EventRecord(e0, s));
		OK(D.MemsetD32Async(d, 0x1234, 16, s));
		OK(D.EventRecord(e1, s));
		CUresult qs = D.StreamQuery(s), qe = D.EventQuery(e1);
		CUresult el = D.EventElapsedTime(&ms, e0, e1);
		CUresult qn = D.StreamQuery(NULL);	/* s is non-blocking: not the legacy stream's */
		double t1 = now_s();
		if (t1 - t0 < 0.2) {	/* within the first operation's delay: nothing can be done */
			EXPECT(qs, CUDA_ERROR_NOT_READY);
			EXPECT(qe, CUDA_ERROR_NOT_READY);
			EXPECT(el, CUDA_ERROR_NOT_READY);
			EXPECT(qn, CUDA_SUCCESS);
			judged++;
		}
		OK(D.StreamSynchronize(s));
		CHECK(now_s() - t0 >= 0.6);	/* three operations of at least 0.2 s each */
		OK(D.StreamQuery(s));
		OK(D.EventQuery(e1));
		OK(D.EventElapsedTime(&ms, e0, e1));
		CHECK(ms >= 399.0f);	/* the memset and the second record ran in between */
	}
	CHECK(judged > 0);
	CHECK(read_u32(d) == 0x1234);
}

/* FAKECUDA_SYNC=1: the old behaviour: work is done when the call returns. */
static void s_sync_mode(void)
{
	CUstream s = stream(0);
	CUdeviceptr d = dalloc(64);
	uint32_t *h = pinned();

	OK(D.MemsetD32Async(d, 0x77, 16, s));
	OK(D.StreamQuery(s));
	OK(D.MemcpyDtoHAsync(h, d, 64, s));	/* into registered memory: landed at return all the same */
	CHECK(h[0] == 0x77 && h[15] == 0x77);
}

/* A kernel spinning on a flag completes because another stream's kernel writes it. */
static void s_concurrent_kernels(void)
{
	CUmodule m;
	CUfunction wait, set;
	CUstream s1 = stream(CU_STREAM_NON_BLOCKING), s2 = stream(CU_STREAM_NON_BLOCKING);
	CUdeviceptr flag = dalloc(4), done = dalloc(4);
	unsigned v = 7;

	OK(D.ModuleLoadData(&m, PTX));
	OK(D.ModuleGetFunction(&wait, m, WAIT_FLAG));
	OK(D.ModuleGetFunction(&set, m, SET_FLAG));
	void *wp[] = { &flag, &v, &done };
	void *sp[] = { &flag, &v };
	OK(D.LaunchKernel(wait, 1, 1, 1, 1, 1, 1, 0, s1, wp, NULL));
	EXPECT(D.StreamQuery(s1), CUDA_ERROR_NOT_READY);	/* nothing wrote the flag yet */
	OK(D.LaunchKernel(set, 1, 1, 1, 1, 1, 1, 0, s2, sp, NULL));
	OK(D.StreamSynchronize(s1));
	OK(D.StreamSynchronize(s2));
	CHECK(read_u32(done) == 8);

	/* the same through a stream memory operation, and through a host thread's store */
	uint32_t *h = pinned();
	CUdeviceptr hd = (CUdeviceptr)(uintptr_t)h;
	v = 9;
	void *wh[] = { &hd, &v, &done };
	OK(D.LaunchKernel(wait, 1, 1, 1, 1, 1, 1, 0, s1, wh, NULL));
	OK(D.StreamWriteValue32(s2, hd, 9, 0));
	OK(D.StreamSynchronize(s1));
	CHECK(read_u32(done) == 10);
	v = 11;
	OK(D.LaunchKernel(wait, 1, 1, 1, 1, 1, 1, 0, s1, wh, NULL));
	EXPECT(D.StreamQuery(s1), CUDA_ERROR_NOT_READY);
	__atomic_store_n(h, 11, __ATOMIC_RELEASE);
	OK(D.StreamSynchronize(s1));
	CHECK(read_u32(done) == 12);
	OK(D.ModuleUnload(m));
}

/* The legacy stream and the blocking streams wait for each other; non-blocking ones do not. */
static void s_legacy_barriers(void)
{
	CUdeviceptr x = dalloc(4), y = dalloc(4);

	/* legacy work waits for a blocking stream's earlier work */
	CUstream b = stream(0);
	struct gate g = gate_close(b);
	OK(D.MemsetD32Async(x, 2, 1, b));
	OK(D.MemsetD32Async(x, 1, 1, NULL));	/* must run after b's memset */
	EXPECT(D.StreamQuery(b), CUDA_ERROR_NOT_READY);
	gate_open(g);
	OK(D.CtxSynchronize());
	CHECK(read_u32(x) == 1);

	/* a blocking stream's work waits for the legacy stream's earlier work */
	g = gate_close(CU_STREAM_LEGACY);
	OK(D.MemsetD32Async(x, 3, 1, NULL));
	OK(D.MemsetD32Async(x, 4, 1, b));	/* must run after the legacy memset */
	EXPECT(D.StreamQuery(b), CUDA_ERROR_NOT_READY);
	gate_open(g);
	OK(D.CtxSynchronize());
	CHECK(read_u32(x) == 4);

	/* the per-thread default stream is a blocking stream too */
	g = gate_close(CU_STREAM_PER_THREAD);
	OK(D.MemsetD32Async(x, 5, 1, CU_STREAM_PER_THREAD));
	OK(D.MemsetD32Async(x, 6, 1, CU_STREAM_LEGACY));
	gate_open(g);
	OK(D.CtxSynchronize());
	CHECK(read_u32(x) == 6);

	/* a non-blocking stream is not waited for: the legacy stream goes on while it is held */
	CUstream nb = stream(CU_STREAM_NON_BLOCKING);
	g = gate_close(nb);
	OK(D.MemsetD32Async(x, 7, 1, nb));
	OK(D.MemsetD32Async(y, 8, 1, NULL));
	OK(D.StreamSynchronize(NULL));	/* returns although nb is held */
	CHECK(read_u32(y) == 8);
	EXPECT(D.StreamQuery(nb), CUDA_ERROR_NOT_READY);
	gate_open(g);
	OK(D.StreamSynchronize(nb));
	CHECK(read_u32(x) == 7);

	/* two blocking streams do not wait for each other */
	CUstream b2 = stream(0);
	g = gate_close(b);
	OK(D.MemsetD32Async(y, 9, 1, b2));
	OK(D.StreamSynchronize(b2));
	CHECK(read_u32(y) == 9);
	gate_open(g);
	OK(D.CtxSynchronize());
}

struct other_thread {
	CUcontext ctx;
	CUdeviceptr y;
	CUresult r;
};

static void *per_thread_worker(void *p)
{
	struct other_thread *a = p;

	a->r = D.CtxSetCurrent(a->ctx);
	if (!a->r)
		a->r = D.MemsetD32Async(a->y, 10, 1, CU_STREAM_PER_THREAD);
	if (!a->r)
		a->r = D.StreamSynchronize(CU_STREAM_PER_THREAD);
	return NULL;
}

/* Each thread's per-thread default stream is its own. */
static void s_per_thread_streams(void)
{
	CUdeviceptr y = dalloc(4);
	struct other_thread a = { .y = y };
	pthread_t t;

	OK(D.CtxGetCurrent(&a.ctx));
	struct gate g = gate_close(CU_STREAM_PER_THREAD);	/* this thread's */
	pthread_create(&t, NULL, per_thread_worker, &a);
	pthread_join(t, NULL);	/* its stream is not held by this one's gate */
	OK(a.r);
	CHECK(read_u32(y) == 10);
	EXPECT(D.StreamQuery(CU_STREAM_PER_THREAD), CUDA_ERROR_NOT_READY);
	gate_open(g);
	OK(D.StreamSynchronize(CU_STREAM_PER_THREAD));
}

/* cuStreamWaitEvent waits for the record that was latest at the call, not for a later one. */
static void s_wait_event(void)
{
	CUstream s1 = stream(CU_STREAM_NON_BLOCKING), s2 = stream(CU_STREAM_NON_BLOCKING);
	CUstream s3 = stream(CU_STREAM_NON_BLOCKING);
	CUdeviceptr x = dalloc(4);
	CUevent e, never;

	OK(D.EventCreate(&e, CU_EVENT_DISABLE_TIMING));
	OK(D.EventCreate(&never, CU_EVENT_DISABLE_TIMING));
	struct gate g = gate_close(s1);
	OK(D.MemsetD32Async(x, 1, 1, s1));
	OK(D.EventRecord(e, s1));
	OK(D.StreamWaitEvent(s2, e, 0));
	OK(D.MemsetD32Async(x, 2, 1, s2));	/* after s1's memset */
	OK(D.EventRecord(e, s3));	/* a newer record, complete at once: s2 still waits for s1 */
	OK(D.EventSynchronize(e));
	EXPECT(D.StreamQuery(s2), CUDA_ERROR_NOT_READY);
	EXPECT(D.StreamQuery(s1), CUDA_ERROR_NOT_READY);
	/* a wait on an event never recorded has nothing to wait for */
	OK(D.StreamWaitEvent(s3, never, 0));
	OK(D.MemsetD32Async(x, 3, 1, s3));
	OK(D.StreamSynchronize(s3));
	CHECK(read_u32(x) == 3);
	gate_open(g);
	OK(D.StreamSynchronize(s2));
	CHECK(read_u32(x) == 2);
	OK(D.EventDestroy(e));
	OK(D.EventDestroy(never));
}

struct storer {
	uint64_t *where;
	uint64_t value;
};

static void *store_later(void *p)
{
	struct storer *st = p;
	__atomic_store_n(st->where, st->value, __ATOMIC_RELEASE);
	return NULL;
}

/* Waits on registered memory, released by a host thread's store; every condition. */
static void s_wait_value(void)
{
	CUstream s = stream(CU_STREAM_NON_BLOCKING);
	uint64_t *h = pinned();
	CUdeviceptr hd = (CUdeviceptr)(uintptr_t)h, x = dalloc(4);
	pthread_t t;

	/* GEQ (the default) is cyclic: 0xfffffff0 is "before" 5 */
	h[0] = 0xfffffff0u;
	OK(D.StreamWaitValue32(s, hd, 5, CU_STREAM_WAIT_VALUE_GEQ));
	OK(D.MemsetD32Async(x, 1, 1, s));
	EXPECT(D.StreamQuery(s), CUDA_ERROR_NOT_READY);
	struct storer st = { h, 6 };
	pthread_create(&t, NULL, store_later, &st);
	pthread_join(t, NULL);
	OK(D.StreamSynchronize(s));
	CHECK(read_u32(x) == 1);

	/* satisfied at once: EQ, AND, NOR, and the 64-bit forms */
	h[0] = 0x0f;
	OK(D.StreamWaitValue32(s, hd, 0x0f, CU_STREAM_WAIT_VALUE_EQ));
	OK(D.StreamWaitValue32(s, hd, 0x01, CU_STREAM_WAIT_VALUE_AND));
	OK(D.StreamWaitValue32(s, hd, 0xf0, CU_STREAM_WAIT_VALUE_NOR));	/* ~(0xff) has bits */
	h[1] = 0x100000000ull;
	OK(D.StreamWaitValue64(s, hd + 8, 0x100000000ull, CU_STREAM_WAIT_VALUE_GEQ));
	OK(D.StreamSynchronize(s));

	/* not satisfied until written: AND on 64 bits by a write operation of another stream */
	CUstream w = stream(CU_STREAM_NON_BLOCKING);
	h[2] = 0;
	OK(D.StreamWaitValue64(s, hd + 16, 1ull << 40, CU_STREAM_WAIT_VALUE_AND));
	OK(D.MemsetD32Async(x, 2, 1, s));
	EXPECT(D.StreamQuery(s), CUDA_ERROR_NOT_READY);
	CHECK(read_u32(x) == 1);
	OK(D.StreamWriteValue64(w, hd + 16, (1ull << 40) | 3, 0));
	OK(D.StreamSynchronize(s));
	CHECK(read_u32(x) == 2);
	CHECK(h[2] == ((1ull << 40) | 3));

	/* NOR on 32 bits: all ones never satisfies ~(v | 0) until a bit clears */
	h[3] = 0xffffffffu;
	OK(D.StreamWaitValue32(s, hd + 24, 0, CU_STREAM_WAIT_VALUE_NOR));
	EXPECT(D.StreamQuery(s), CUDA_ERROR_NOT_READY);
	OK(D.StreamWriteValue32(w, hd + 24, 0xfffffffeu, 0));
	OK(D.StreamSynchronize(s));

	/* a write to device memory, read back */
	OK(D.StreamWriteValue32(s, x, 0xabcd, 0));
	OK(D.StreamSynchronize(s));
	CHECK(read_u32(x) == 0xabcd);
}

static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
static int order[64], norder;
static uint32_t *seen_by_fn;	/* registered memory a host function looks at */
static uint32_t seen_value;
static volatile int hold_fn;	/* a host function spins while this is set */

static void note(int v)
{
	pthread_mutex_lock(&order_lock);
	if (norder < 64)
		order[norder++] = v;
	pthread_mutex_unlock(&order_lock);
}

static void CUDA_CB host_fn(void *arg)
{
	note((int)(intptr_t)arg);
}

static void CUDA_CB host_fn_look(void *arg)
{
	seen_value = __atomic_load_n(seen_by_fn, __ATOMIC_ACQUIRE);
	note((int)(intptr_t)arg);
}

static void CUDA_CB host_fn_hold(void *arg)
{
	while (__atomic_load_n(&hold_fn, __ATOMIC_ACQUIRE))
		usleep(1000);
	note((int)(intptr_t)arg);
}

static void CUDA_CB callback(CUstream s, CUresult status, void *arg)
{
	note(status == CUDA_SUCCESS ? (int)(intptr_t)arg : -1);
}

/* Host functions run in stream order, after the work before them, and hold their stream. */
static void s_host_functions(void)
{
	CUstream s = stream(CU_STREAM_NON_BLOCKING), s2 = stream(CU_STREAM_NON_BLOCKING);
	CUdeviceptr x = dalloc(4);

	seen_by_fn = pinned();
	norder = 0;
	OK(D.LaunchHostFunc(s, host_fn, (void *)1));
	OK(D.MemsetD32Async(x, 0x55, 1, s));
	OK(D.MemcpyDtoHAsync(seen_by_fn, x, 4, s));	/* lands before the next function runs */
	OK(D.LaunchHostFunc(s, host_fn_look, (void *)2));
	OK(D.StreamAddCallback(s, callback, (void *)3, 0));
	OK(D.LaunchHostFunc(s, host_fn, (void *)4));
	OK(D.StreamSynchronize(s));
	CHECK(norder == 4 && order[0] == 1 && order[1] == 2 && order[2] == 3 && order[3] == 4);
	CHECK(seen_value == 0x55);

	/* the stream waits for a host function to return */
	norder = 0;
	hold_fn = 1;
	OK(D.LaunchHostFunc(s, host_fn_hold, (void *)5));
	OK(D.MemsetD32Async(x, 0x66, 1, s));
	OK(D.LaunchHostFunc(s2, host_fn, (void *)6));	/* another stream goes on meanwhile */
	OK(D.StreamSynchronize(s2));
	CHECK(norder == 1 && order[0] == 6);
	EXPECT(D.StreamQuery(s), CUDA_ERROR_NOT_READY);
	CHECK(read_u32(x) == 0x55);	/* the memset after the function has not run */
	__atomic_store_n(&hold_fn, 0, __ATOMIC_RELEASE);
	OK(D.StreamSynchronize(s));
	CHECK(norder == 2 && order[1] == 5);
	CHECK(read_u32(x) == 0x66);

	/* and in order on several streams at once */
	CUstream ss[4];
	norder = 0;
	for (int i = 0; i < 4; i++)
		ss[i] = stream(CU_STREAM_NON_BLOCKING);
	struct gate g[4];
	for (int i = 0; i < 4; i++)
		g[i] = gate_close(ss[i]);
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 4; i++)
			OK(D.LaunchHostFunc(ss[i], host_fn, (void *)(intptr_t)(10 * i + k)));
	for (int i = 3; i >= 0; i--) {	/* released last stream first */
		gate_open(g[i]);
		OK(D.StreamSynchronize(ss[i]));
	}
	CHECK(norder == 12);
	for (int i = 0; i < 4; i++)	/* stream i's three, in order, before stream i-1's */
		for (int k = 0; k < 3; k++)
			CHECK(order[3 * (3 - i) + k] == 10 * i + k);
}

/*
 * Copies into and out of registered memory happen when the stream gets
 * there: the host must not touch the buffer before.  Pageable memory is
 * staged (host to device) or waited for (device to host).
 */
static void s_copies(void)
{
	CUstream s = stream(CU_STREAM_NON_BLOCKING);
	CUdeviceptr d = dalloc(64), d2 = dalloc(64);
	uint8_t *reg = pinned(), *reg2 = pinned(), page[64];

	OK(D.MemsetD8Async(d, 0xaa, 64, NULL));
	OK(D.StreamSynchronize(NULL));
	memset(reg, 0x11, 64);
	struct gate g = gate_close(s);
	OK(D.MemcpyDtoHAsync(reg, d, 64, s));
	CHECK(reg[0] == 0x11 && reg[63] == 0x11);	/* not yet: the stream is held */
	gate_open(g);
	OK(D.StreamSynchronize(s));
	CHECK(reg[0] == 0xaa && reg[63] == 0xaa);	/* landed with the stream */

	/* host to device from registered memory: the bytes as they are when the copy runs */
	memset(reg2, 0x22, 64);
	g = gate_close(s);
	OK(D.MemcpyHtoDAsync(d2, reg2, 64, s));
	memset(reg2, 0x33, 64);	/* too early, as an executor reusing its buffer would */
	gate_open(g);
	OK(D.StreamSynchronize(s));
	CHECK(read_u32(d2) == 0x33333333);

	/* ... and from pageable memory: staged by the call */
	memset(page, 0x44, 64);
	g = gate_close(s);
	OK(D.MemcpyHtoDAsync(d2, page, 64, s));
	memset(page, 0x55, 64);
	gate_open(g);
	OK(D.StreamSynchronize(s));
	CHECK(read_u32(d2) == 0x44444444);

	/* device to host into pageable memory returns once landed (after the work before it) */
	OK(D.MemsetD8Async(d, 0x66, 64, s));
	memset(page, 0, 64);
	OK(D.MemcpyDtoHAsync(page, d, 64, s));
	CHECK(page[0] == 0x66 && page[63] == 0x66);

	/* pinned memory of cuMemAllocHost behaves as registered memory */
	uint8_t *ph = NULL;
	OK(D.MemAllocHost((void **)&ph, 64));
	memset(ph, 0x01, 64);
	g = gate_close(s);
	OK(D.MemcpyDtoHAsync(ph, d, 64, s));
	CHECK(ph[0] == 0x01);
	gate_open(g);
	OK(D.StreamSynchronize(s));
	CHECK(ph[0] == 0x66);
	OK(D.MemFreeHost(ph));
}

/*
 * What goes away while work is queued: memory freed right after the work
 * that uses it was submitted is still there for that work; a destroyed
 * stream's work still runs; a destroyed context's queued work is dropped
 * without the call waiting for it.
 */
static void s_lifetimes(void)
{
	CUstream s = stream(CU_STREAM_NON_BLOCKING);
	CUdeviceptr a, b = dalloc(64);

	OK(D.MemAlloc(&a, 64));
	OK(D.MemsetD8Async(a, 0x5a, 64, NULL));
	OK(D.StreamSynchronize(NULL));
	struct gate g = gate_close(s);
	OK(D.MemcpyDtoDAsync(b, a, 64, s));
	OK(D.MemFree(a));	/* before the copy ran */
	gate_open(g);
	OK(D.StreamSynchronize(s));
	CHECK(read_u32(b) == 0x5a5a5a5a);

	CUstream gone = stream(0);
	g = gate_close(gone);
	OK(D.MemsetD32Async(b, 0x77, 1, gone));
	OK(D.StreamDestroy(gone));	/* returns at once; the work is still done */
	gate_open(g);
	OK(D.CtxSynchronize());
	CHECK(read_u32(b) == 0x77);

	CUcontext c, primary;
	OK(D.CtxGetCurrent(&primary));
	OK(D.CtxCreate(&c, NULL, 0, 0));
	CUstream cs = stream(0);
	g = gate_close(cs);	/* never opened */
	OK(D.MemsetD32Async(b, 0x88, 1, cs));
	OK(D.CtxDestroy(c));	/* does not wait for the held stream */
	OK(D.CtxSetCurrent(primary));
	CHECK(read_u32(b) == 0x77);	/* the dropped memset did not run */
}

/* A fault is reported by the next synchronising call, not by the launch. */
static void s_fault(void)
{
	CUmodule m;
	CUfunction fill;
	CUstream s = stream(CU_STREAM_NON_BLOCKING);
	CUdeviceptr bad = 0x10000;
	unsigned v = 1;
	unsigned long long n = 1;
	void *kp[] = { &bad, &v, &n };

	OK(D.ModuleLoadData(&m, PTX));
	OK(D.ModuleGetFunction(&fill, m, FILL));
	struct gate g = gate_close(s);
	OK(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, s, kp, NULL));
	EXPECT(D.StreamQuery(s), CUDA_ERROR_NOT_READY);	/* not run yet: no error yet */
	gate_open(g);
	EXPECT(settle(query_stream, s), CUDA_ERROR_ILLEGAL_ADDRESS);
	EXPECT(D.StreamSynchronize(s), CUDA_ERROR_ILLEGAL_ADDRESS);
	EXPECT(D.CtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
}

/*
 * Registered memory unregistered before the copy into it ran: the copy
 * finds it gone and faults, as the GPU's DMA would, instead of writing into
 * memory the application may have unmapped (what an executor that lets go
 * of its buffer too early would cause).
 */
static void s_unregistered_early(void)
{
	CUstream s = stream(CU_STREAM_NON_BLOCKING);
	CUdeviceptr d = dalloc(64);
	uint8_t *reg = pinned();

	memset(reg, 0x11, 64);
	struct gate g = gate_close(s);
	OK(D.MemcpyDtoHAsync(reg, d, 64, s));
	OK(D.MemHostUnregister(reg));
	gate_open(g);
	EXPECT(D.StreamSynchronize(s), CUDA_ERROR_ILLEGAL_ADDRESS);
	CHECK(reg[0] == 0x11);	/* not written */
}

/* FAKECUDA_LENIENT=1: a forged handle is answered as before, not aborted on. */
static void s_lenient(void)
{
	int x;
	EXPECT(D.StreamQuery((CUstream)&x), CUDA_ERROR_INVALID_HANDLE);
	EXPECT(D.EventQuery((CUevent)&x), CUDA_ERROR_INVALID_HANDLE);
	EXPECT(D.ModuleUnload((CUmodule)&x), CUDA_ERROR_INVALID_HANDLE);
	EXPECT(D.CtxSetCurrent((CUcontext)&x), CUDA_ERROR_INVALID_CONTEXT);
}

/* Without it: the process stops, naming the call (checked one by one in test_fakecuda). */
static void s_forged_aborts(void)
{
	int x;
	fprintf(stderr, "expecting an abort now\n");
	D.StreamSynchronize((CUstream)&x);
	CHECK(!"cuStreamSynchronize answered a forged stream");
}

struct scenario {
	const char *name;
	void (*fn)(void);
	const char *env;	/* NAME=value for the child, or NULL */
	bool aborts;		/* must end in SIGABRT with the double's message */
};

static const struct scenario scenarios[] = {
	{ "not_ready", s_not_ready, "FAKECUDA_OP_DELAY_US=200000", false },
	{ "sync_mode", s_sync_mode, "FAKECUDA_SYNC=1", false },
	{ "concurrent_kernels", s_concurrent_kernels, NULL, false },
	{ "legacy_barriers", s_legacy_barriers, NULL, false },
	{ "per_thread_streams", s_per_thread_streams, NULL, false },
	{ "wait_event", s_wait_event, NULL, false },
	{ "wait_value", s_wait_value, NULL, false },
	{ "host_functions", s_host_functions, NULL, false },
	{ "copies", s_copies, NULL, false },
	{ "copies_delayed", s_copies, "FAKECUDA_OP_DELAY_US=2000", false },
	{ "lifetimes", s_lifetimes, NULL, false },
	{ "fault", s_fault, NULL, false },
	{ "unregistered_early", s_unregistered_early, NULL, false },
	{ "lenient", s_lenient, "FAKECUDA_LENIENT=1", false },
	{ "forged_aborts", s_forged_aborts, NULL, true },
};

/* ================================================================ the parent */

static int stall_limit_s(void)
{
	const char *e = getenv("FAKECUDA_TEST_STALL_S");
	int v = e ? atoi(e) : 0;
	return v > 0 ? v : 120;
}

/* Run one scenario in a child; true if it passed. */
static bool run(const struct scenario *sc)
{
	int pfd[2], efd[2];

	fflush(NULL);
	if (pipe(pfd) || pipe(efd))
		return false;
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		close(pfd[0]);
		close(efd[0]);
		dup2(efd[1], 2);
		progress_fd = pfd[1];
		if (sc->env)
			putenv((char *)sc->env);
		load();
		sc->fn();
		fflush(NULL);
		_exit(failures ? 1 : 0);
	}
	close(pfd[1]);
	close(efd[1]);
	char err[16384];
	size_t elen = 0;
	int quiet = 0;
	bool eof_p = false, eof_e = false, hung = false;
	while (!eof_e || !eof_p) {
		struct pollfd p[2] = { { eof_p ? -1 : pfd[0], POLLIN, 0 }, { eof_e ? -1 : efd[0], POLLIN, 0 } };
		int n = poll(p, 2, 1000);
		if (n < 0 && errno != EINTR)
			break;
		if (n == 0) {
			if (++quiet >= stall_limit_s()) {
				hung = true;
				kill(pid, SIGKILL);
				break;
			}
			continue;
		}
		char buf[4096];
		if (p[0].revents) {
			ssize_t r = read(pfd[0], buf, sizeof(buf));
			if (r <= 0)
				eof_p = true;
			else
				quiet = 0;
		}
		if (p[1].revents) {
			ssize_t r = read(efd[0], buf, sizeof(buf));
			if (r <= 0) {
				eof_e = true;
			} else {
				quiet = 0;
				size_t c = (size_t)r < sizeof(err) - 1 - elen ? (size_t)r : sizeof(err) - 1 - elen;
				memcpy(err + elen, buf, c);
				elen += c;
			}
		}
	}
	err[elen] = '\0';
	close(pfd[0]);
	close(efd[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	bool ok;
	if (hung)
		ok = false;
	else if (sc->aborts)
		ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT &&
		     strstr(err, "fakecuda: cuStreamSynchronize got a handle that is not a live stream");
	else
		ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	printf("%s  %s%s\n", ok ? "PASS" : "FAIL", sc->name,
	       hung ? ": no progress: killed" : "");
	if (!ok && elen)
		fprintf(stderr, "%s", err);
	return ok;
}

int main(int argc, char **argv)
{
	int failed = 0, ran = 0;

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		bool wanted = argc < 2;
		for (int a = 1; a < argc; a++)
			wanted |= !strcmp(argv[a], scenarios[i].name);
		if (!wanted)
			continue;
		ran++;
		failed += !run(&scenarios[i]);
	}
	if (!ran) {
		fprintf(stderr, "no such scenario\n");
		return 2;
	}
	printf("%d of %d scenario(s) failed\n", failed, ran);
	return failed ? 1 : 0;
}
