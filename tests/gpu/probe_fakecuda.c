/* SPDX-License-Identifier: MIT */
/*
 * Ask a driver the questions where the driver test double (tests/fakecuda,
 * NOT a driver) follows cuda.h or a guess rather than an observation of the
 * real driver, and print one "question = answer" line each, so that
 * tests/gpu/probe-fakecuda.sh can diff the real driver's answers with the
 * double's.  Only valid handles are used: the real driver crashes on forged
 * ones.
 *
 *   probe_fakecuda LIBCUDA PTX          the questions
 *   probe_fakecuda LIBCUDA PTX fault    what happens to host functions after a fault
 *   probe_fakecuda LIBCUDA PTX destroy  cuCtxDestroy with a stream held for ever
 *                                       (may never return: run it under timeout)
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "real_driver.h"

static struct vgpu_real_driver D;

static const char *ename(CUresult r)
{
	const char *s = NULL;
	return D.GetErrorName(r, &s) == CUDA_SUCCESS && s ? s : "?";
}

#define ASK(label, call) printf("%-58s = %s\n", label, ename(call))

static void die(const char *what, CUresult r)
{
	fprintf(stderr, "probe: %s: %s\n", what, ename(r));
	exit(2);
}

#define MUST(call) do { CUresult r_ = (call); if (r_) die(#call, r_); } while (0)

static void *page_registered(unsigned flags)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = aligned_alloc((size_t)page, (size_t)page);
	memset(p, 0, (size_t)page);
	MUST(D.MemHostRegister(p, (size_t)page, flags));
	return p;
}

/* A stream held until *flag becomes 1. */
static uint32_t *hold(CUstream s)
{
	uint32_t *flag = page_registered(CU_MEMHOSTREGISTER_DEVICEMAP);
	CUdeviceptr d;
	MUST(D.MemHostGetDevicePointer(&d, flag, 0));
	MUST(D.StreamWaitValue32(s, d, 1, CU_STREAM_WAIT_VALUE_EQ));
	return flag;
}

static void release(uint32_t *flag)
{
	__atomic_store_n(flag, 1, __ATOMIC_RELEASE);
}

static volatile int fn_calls, cb_calls;
static CUresult cb_status = (CUresult)-1;

static void CUDA_CB host_fn(void *arg)
{
	fn_calls++;
}

static void CUDA_CB callback(CUstream s, CUresult status, void *arg)
{
	cb_status = status;
	cb_calls++;
}

/* Wait up to 5 s for @v to become non-zero. */
static int within_5s(volatile int *v)
{
	for (int i = 0; i < 500 && !*v; i++)
		usleep(10000);
	return *v;
}

static void questions(void)
{
	CUstream b, nb;
	unsigned flags = 0;
	CUdeviceptr dp = 0;
	int v;

	MUST(D.StreamCreateWithPriority(&b, 0, 0));
	MUST(D.StreamCreateWithPriority(&nb, CU_STREAM_NON_BLOCKING, 0));

	/* the legacy stream's query while a blocking / a non-blocking stream is held */
	uint32_t *g = hold(b);
	ASK("cuStreamQuery(NULL), a blocking stream held", D.StreamQuery(NULL));
	ASK("cuStreamQuery(held blocking stream)", D.StreamQuery(b));
	release(g);
	MUST(D.StreamSynchronize(b));
	g = hold(nb);
	ASK("cuStreamQuery(NULL), a non-blocking stream held", D.StreamQuery(NULL));
	ASK("cuStreamQuery(CU_STREAM_PER_THREAD), a non-blocking held", D.StreamQuery(CU_STREAM_PER_THREAD));

	/* an event recorded behind the held stream */
	CUevent e0, e1;
	float ms;
	MUST(D.EventCreate(&e0, 0));
	MUST(D.EventCreate(&e1, 0));
	MUST(D.EventRecord(e0, NULL));
	MUST(D.EventSynchronize(e0));
	MUST(D.EventRecord(e1, nb));
	ASK("cuEventQuery(record behind a held stream)", D.EventQuery(e1));
	ASK("cuEventElapsedTime(done, pending)", D.EventElapsedTime(&ms, e0, e1));
	release(g);
	MUST(D.StreamSynchronize(nb));

	/* registered and pinned host memory */
	void *plain = page_registered(0), *mapped = page_registered(CU_MEMHOSTREGISTER_DEVICEMAP);
	ASK("cuMemHostGetDevicePointer(registered without DEVICEMAP)", D.MemHostGetDevicePointer(&dp, plain, 0));
	ASK("cuMemHostGetDevicePointer(registered, DEVICEMAP)", D.MemHostGetDevicePointer(&dp, mapped, 0));
	printf("%-58s = %s\n", "  ... equals the host address", dp == (CUdeviceptr)(uintptr_t)mapped ? "yes" : "no");
	ASK("cuMemHostGetDevicePointer(flags 1)", D.MemHostGetDevicePointer(&dp, mapped, 1));
	ASK("cuMemHostGetFlags(registered, DEVICEMAP)", D.MemHostGetFlags(&flags, mapped));
	void *ph = NULL;
	ASK("cuMemAllocHost(0 bytes)", D.MemAllocHost(&ph, 0));
	MUST(D.MemAllocHost(&ph, 100));
	flags = 0;
	ASK("cuMemHostGetFlags(cuMemAllocHost memory)", D.MemHostGetFlags(&flags, ph));
	printf("%-58s = 0x%x\n", "  ... flags", flags);
	ASK("cuMemHostGetDevicePointer(cuMemAllocHost memory)", D.MemHostGetDevicePointer(&dp, ph, 0));
	printf("%-58s = %s\n", "  ... equals the host address", dp == (CUdeviceptr)(uintptr_t)ph ? "yes" : "no");
	ASK("cuMemHostUnregister(cuMemAllocHost memory)", D.MemHostUnregister(ph));
	ASK("cuMemHostRegister(inside cuMemAllocHost memory)", D.MemHostRegister(ph, 64, 0));
	MUST(D.MemFreeHost(ph));

	/* stream memory operations: what is refused */
	uint32_t stack_word = 0;
	CUdeviceptr m;
	MUST(D.MemHostGetDevicePointer(&m, mapped, 0));
	ASK("cuStreamWaitValue32(pageable memory)",
	    D.StreamWaitValue32(nb, (CUdeviceptr)(uintptr_t)&stack_word, 0, 0));
	ASK("cuStreamWaitValue32(registered without DEVICEMAP, host ptr)",
	    D.StreamWaitValue32(nb, (CUdeviceptr)(uintptr_t)plain, 0, 0));
	ASK("cuStreamWaitValue32(address + 2)", D.StreamWaitValue32(nb, m + 2, 0, 0));
	ASK("cuStreamWaitValue64(address + 4)", D.StreamWaitValue64(nb, m + 4, 0, 0));
	ASK("cuStreamWaitValue32(flags 4)", D.StreamWaitValue32(nb, m, 0, 4));
	ASK("cuStreamWaitValue32(CU_STREAM_WAIT_VALUE_FLUSH)", D.StreamWaitValue32(nb, m, 0, CU_STREAM_WAIT_VALUE_FLUSH));
	ASK("cuStreamWriteValue32(NO_MEMORY_BARRIER)",
	    D.StreamWriteValue32(nb, m, 0, CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER));
	ASK("cuStreamWriteValue32(flags 2)", D.StreamWriteValue32(nb, m, 0, 2));
	ASK("cuLaunchHostFunc(NULL function)", D.LaunchHostFunc(nb, NULL, NULL));
	ASK("cuStreamAddCallback(flags 1)", D.StreamAddCallback(nb, callback, NULL, 1));
	MUST(D.StreamSynchronize(nb));	/* whatever was accepted above ran */

	/* flags and the current context */
	flags = 99;
	ASK("cuStreamGetFlags(CU_STREAM_PER_THREAD)", D.StreamGetFlags(CU_STREAM_PER_THREAD, &flags));
	printf("%-58s = %u\n", "  ... flags", flags);
	flags = 99;
	ASK("cuStreamGetFlags(NULL stream)", D.StreamGetFlags(NULL, &flags));
	printf("%-58s = %u\n", "  ... flags", flags);
	ASK("cuStreamGetFlags(stream, NULL)", D.StreamGetFlags(nb, NULL));
	static const CUdevice_attribute attrs[] = {
		CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_MEM_OPS_V1, CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS_V1,
		CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR_V1, CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS,
		CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR, CU_DEVICE_ATTRIBUTE_CAN_FLUSH_REMOTE_WRITES,
		CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM,
	};
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		v = -1;
		D.DeviceGetAttribute(&v, attrs[i], 0);
		printf("device attribute %-41d = %d\n", (int)attrs[i], v);
	}

	/* a destroyed stream's held work still runs once released */
	CUstream gone;
	CUdeviceptr x;
	uint32_t hx = 0;
	MUST(D.MemAlloc(&x, 4));
	MUST(D.MemsetD32Async(x, 0, 1, NULL));
	MUST(D.StreamCreateWithPriority(&gone, CU_STREAM_NON_BLOCKING, 0));
	g = hold(gone);
	MUST(D.MemsetD32Async(x, 7, 1, gone));
	ASK("cuStreamDestroy(held stream)", D.StreamDestroy(gone));
	release(g);
	MUST(D.CtxSynchronize());
	MUST(D.MemcpyDtoHAsync(&hx, x, 4, NULL));
	printf("%-58s = %s\n", "  ... its work ran after release", hx == 7 ? "yes" : "no");

	CUcontext cur = (CUcontext)1;
	MUST(D.CtxSetCurrent(NULL));
	ASK("cuCtxGetCurrent(nothing current)", D.CtxGetCurrent(&cur));
	printf("%-58s = %s\n", "  ... context", cur ? "not NULL" : "NULL");
	MUST(D.CtxSetCurrent(cur ? cur : NULL));

	/* last, in case the driver does not survive them */
	fflush(stdout);
	ASK("cuMemFreeHost(registered memory)", D.MemFreeHost(plain));
	fflush(stdout);
	ASK("cuMemFreeHost(NULL)", D.MemFreeHost(NULL));
}

/* Returns if cuCtxDestroy does not wait for a stream held for ever. */
/*
 * Virtual memory management and pools, where the double (fc_vmm.c,
 * fc_pool.c) and the executor's checks follow cuda.h or a guess.
 */
static void vmm_questions(void)
{
	CUmemAllocationProp prop = { .type = CU_MEM_ALLOCATION_TYPE_PINNED,
				     .location = { CU_MEM_LOCATION_TYPE_DEVICE, 0 } };
	CUmemAccessDesc rw = { { CU_MEM_LOCATION_TYPE_DEVICE, 0 }, CU_MEM_ACCESS_FLAGS_PROT_READWRITE };
	CUmemGenericAllocationHandle h1, h2, h3, again = 0;
	size_t gmin = 0, grec = 0, rs = 0;
	CUdeviceptr r, p, rb = 0;
	CUcontext ctx;
	char line[96];

	MUST(D.DevicePrimaryCtxRetain(&ctx, 0));	/* the questions before left none current */
	MUST(D.CtxSetCurrent(ctx));
	MUST(D.MemGetAllocationGranularity(&gmin, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM));
	MUST(D.MemGetAllocationGranularity(&grec, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
	printf("%-58s = %zu %zu\n", "VMM granularity: minimum, recommended", gmin, grec);
	size_t g = gmin;
	ASK("cuMemAddressReserve(alignment 3 granules)", D.MemAddressReserve(&p, 4 * g, 3 * g, 0, 0));
	ASK("cuMemAddressReserve(hint off the granularity)", D.MemAddressReserve(&p, 4 * g, 0, 4096, 0));
	if (D.MemAddressReserve(&p, 4 * g, 0, 4096, 0) == CUDA_SUCCESS)
		D.MemAddressFree(p, 4 * g);
	MUST(D.MemAddressReserve(&r, 16 * g, 0, 0, 0));
	CUmemAllocationProp fab = prop;
	fab.requestedHandleTypes = CU_MEM_HANDLE_TYPE_FABRIC;
	ASK("cuMemCreate(fabric handle type)", D.MemCreate(&h3, g, &fab, 0));
	MUST(D.MemCreate(&h1, 2 * g, &prop, 0));
	MUST(D.MemCreate(&h2, g, &prop, 0));
	MUST(D.MemMap(r, g, 0, h1, 0));
	ASK("cuMemMap over an existing mapping", D.MemMap(r, g, 0, h2, 0));
	MUST(D.MemMap(r + 2 * g, g, 0, h2, 0));	/* a hole at r + g */
	ASK("cuMemSetAccess over a hole", D.MemSetAccess(r, 3 * g, &rw, 1));
	ASK("cuMemSetAccess over part of a mapping", D.MemSetAccess(r, g / 2, &rw, 1));
	ASK("cuMemcpyHtoD into mapped memory without access",
	    D.MemcpyHtoDAsync(r + 2 * g, &gmin, sizeof(gmin), NULL));
	ASK("  ... then cuCtxSynchronize", D.CtxSynchronize());
	MUST(D.MemSetAccess(r, g, &rw, 1));
	/* Not an entry point the executor loads (the shim answers it): looked up here. */
	PFN_cuMemGetAddressRange_v3020 range =
		(PFN_cuMemGetAddressRange_v3020)dlsym(D.handle, "cuMemGetAddressRange_v2");
	ASK("cuMemGetAddressRange(mapped VMM address)",
	    range ? range(&rb, &rs, r + 100) : CUDA_ERROR_NOT_FOUND);
	snprintf(line, sizeof(line), "%s", rb == r && rs == g ? "the mapping"
					   : rb == r && rs == 16 * g ? "the reservation" : "other");
	printf("%-58s = %s\n", "  ... the range it gives", line);
	MUST(D.MemRetainAllocationHandle(&again, (void *)(uintptr_t)(r + 100)));
	printf("%-58s = %s\n", "cuMemRetainAllocationHandle: the handle cuMemCreate gave",
	       again == h1 ? "same" : "different");
	MUST(D.MemRelease(again));
	ASK("cuMemUnmap of part of a mapping", D.MemUnmap(r, g / 2));
	ASK("cuMemAddressFree with mappings inside", D.MemAddressFree(r, 16 * g));
	ASK("cuMemUnmap over two mappings and a hole", D.MemUnmap(r, 3 * g));
	D.MemUnmap(r, g);
	D.MemUnmap(r + 2 * g, g);
	MUST(D.MemRelease(h1));
	MUST(D.MemRelease(h2));
	ASK("cuMemAddressFree (nothing mapped)", D.MemAddressFree(r, 16 * g));

	/* Pools: what the default pool keeps after a free, and a free of cuMemAlloc memory. */
	CUmemoryPool pool;
	cuuint64_t reserved = 0;
	MUST(D.DeviceGetDefaultMemPool(&pool, 0));
	MUST(D.MemAllocAsync(&p, 4 << 20, NULL));
	MUST(D.MemFreeAsync(p, NULL));
	MUST(D.StreamSynchronize(NULL));
	MUST(D.MemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved));
	printf("%-58s = %s\n", "default pool reserved after free + synchronize",
	       reserved ? "kept" : "released");
	MUST(D.MemAlloc(&p, 4096));
	ASK("cuMemFreeAsync(cuMemAlloc memory)", D.MemFreeAsync(p, NULL));
	D.StreamSynchronize(NULL);
}

static void destroy_held(void)
{
	CUcontext c;
	CUstream cs;

	MUST(D.CtxCreate(&c, NULL, 0, 0));
	MUST(D.StreamCreateWithPriority(&cs, 0, 0));
	hold(cs);
	fflush(stdout);
	ASK("cuCtxDestroy(a stream held for ever)", D.CtxDestroy(c));
}

/* After a kernel fault: are host functions and callbacks still called, and with what status? */
static void after_fault(const char *ptx)
{
	CUmodule mod;
	CUfunction fill;
	CUstream s;
	CUdeviceptr bad = 0x10000;
	unsigned val = 1;
	unsigned long long n = 1;
	void *kp[] = { &bad, &val, &n };

	MUST(D.ModuleLoadData(&mod, ptx));
	MUST(D.ModuleGetFunction(&fill, mod, "_Z14vgpu_test_fillPjjy"));
	MUST(D.StreamCreateWithPriority(&s, CU_STREAM_NON_BLOCKING, 0));
	ASK("cuLaunchKernel(a kernel that faults)", D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, s, kp, NULL));
	ASK("cuLaunchHostFunc after it", D.LaunchHostFunc(s, host_fn, NULL));
	ASK("cuStreamAddCallback after it", D.StreamAddCallback(s, callback, NULL, 0));
	ASK("cuStreamSynchronize", D.StreamSynchronize(s));
	printf("%-58s = %s\n", "  ... the host function was called", within_5s(&fn_calls) ? "yes" : "no");
	printf("%-58s = %s\n", "  ... the callback was called", within_5s(&cb_calls) ? "yes" : "no");
	if (cb_calls)
		printf("%-58s = %s\n", "  ... with status", ename(cb_status));
	ASK("cuLaunchHostFunc once the fault is known", D.LaunchHostFunc(s, host_fn, NULL));
}

int main(int argc, char **argv)
{
	CUcontext ctx;

	if (argc < 3) {
		fprintf(stderr, "usage: %s LIBCUDA PTX [fault]\n", argv[0]);
		return 2;
	}
	if (!(D.handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL))) {
		fprintf(stderr, "probe: %s\n", dlerror());
		return 2;
	}
#define RESOLVE(member, sym, pfn)							\
	if (!(D.member = (pfn)dlsym(D.handle, sym))) {					\
		fprintf(stderr, "probe: %s has no %s\n", argv[1], sym);			\
		return 2;								\
	}
	VGPU_REAL_DRIVER_FUNCS(RESOLVE)
#undef RESOLVE
	FILE *f = fopen(argv[2], "rb");
	static char ptx[1 << 20];
	size_t len = f ? fread(ptx, 1, sizeof(ptx) - 1, f) : 0;
	if (f)
		fclose(f);
	if (!len) {
		fprintf(stderr, "probe: cannot read %s\n", argv[2]);
		return 2;
	}
	ptx[len] = '\0';
	MUST(D.Init(0));
	MUST(D.DevicePrimaryCtxRetain(&ctx, 0));
	MUST(D.CtxSetCurrent(ctx));
	if (argc > 3 && !strcmp(argv[3], "fault"))
		after_fault(ptx);
	else if (argc > 3 && !strcmp(argv[3], "destroy"))
		destroy_held();
	else {
		questions();
		vmm_questions();
	}
	return 0;
}
