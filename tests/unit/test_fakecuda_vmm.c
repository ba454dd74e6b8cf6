/* SPDX-License-Identifier: MIT */
/*
 * The driver test double (tests/fakecuda/, a libcuda.so.1 for CI that is NOT
 * a driver) as a model of virtual memory management and pools, called
 * directly: the executor's own checks refuse most bad requests before the
 * double sees them, so the double's answers are shown here.  Mapping grants
 * no access, access makes copies and kernels work, one physical allocation
 * mapped twice is one memory, release before unmap keeps the memory, unmap
 * takes whole mappings (several at once), and a handle released as often as
 * it was held aborts (in a child), as the real driver would crash.
 *
 *   FAKECUDA_TEST_LIB=path      another build of the double
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "real_driver.h"

#ifndef FAKECUDA_LIB
#define FAKECUDA_LIB "build/fakecuda/libcuda.so.1"
#endif

#define MiB (1ull << 20)
#define G (2 * MiB)

static struct vgpu_real_driver D;
static int failures;

#define EXPECT(call, want)								\
	do {										\
		CUresult _r = (call);							\
		if (_r != (want)) {							\
			fprintf(stderr, "%s:%d: %s = %d, want %s\n", __FILE__, __LINE__,	\
				#call, (int)_r, #want);					\
			failures++;							\
		}									\
	} while (0)
#define OK(call) EXPECT(call, CUDA_SUCCESS)
#define CHECK(cond)									\
	do {										\
		if (!(cond)) {								\
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			failures++;							\
		}									\
	} while (0)

static void load(void)
{
	const char *path = getenv("FAKECUDA_TEST_LIB");
	CUcontext ctx;

	D.handle = dlopen(path && *path ? path : FAKECUDA_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!D.handle) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		exit(1);
	}
#define RESOLVE(member, sym, pfn)							\
	if (!(D.member = (pfn)dlsym(D.handle, sym))) {					\
		fprintf(stderr, "the double does not export %s\n", sym);		\
		exit(1);								\
	}
	VGPU_REAL_DRIVER_FUNCS(RESOLVE)
#undef RESOLVE
	if (D.Init(0) || D.DevicePrimaryCtxRetain(&ctx, 0) || D.CtxSetCurrent(ctx)) {
		fprintf(stderr, "no primary context\n");
		exit(1);
	}
}

static const CUmemAllocationProp PROP = { .type = CU_MEM_ALLOCATION_TYPE_PINNED,
					  .location = { CU_MEM_LOCATION_TYPE_DEVICE, 0 } };
static const CUmemAccessDesc RW = { { CU_MEM_LOCATION_TYPE_DEVICE, 0 },
				    CU_MEM_ACCESS_FLAGS_PROT_READWRITE };

static uint64_t free_mem(void)
{
	size_t f = 0, t = 0;

	OK(D.MemGetInfo(&f, &t));
	return f;
}

static void vmm(void)
{
	CUmemGenericAllocationHandle h1, h2, back;
	CUmemAllocationProp prop = PROP, got;
	CUdeviceptr r, hint;
	size_t g = 0;
	uint8_t buf[64], out[64];
	uint64_t before = free_mem();

	OK(D.MemGetAllocationGranularity(&g, &PROP, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
	CHECK(g == G);
	prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_FABRIC;
	EXPECT(D.MemCreate(&h1, G, &prop, 0), CUDA_ERROR_NOT_SUPPORTED);
	prop = PROP;
	prop.location.id = 1;
	EXPECT(D.MemCreate(&h1, G, &prop, 0), CUDA_ERROR_INVALID_DEVICE);
	EXPECT(D.MemCreate(&h1, G + 4096, &PROP, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemAddressReserve(&r, G + 4096, 0, 0, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemAddressReserve(&r, G, 3 * G, 0, 0), CUDA_ERROR_INVALID_VALUE);

	OK(D.MemAddressReserve(&r, 16 * G, 0, 0, 0));
	CHECK(r % G == 0);
	/* A free, aligned hint is taken. */
	OK(D.MemAddressReserve(&hint, 2 * G, 0, r + 32 * G, 0));
	CHECK(hint == r + 32 * G);
	OK(D.MemAddressFree(hint, 2 * G));

	OK(D.MemCreate(&h1, 2 * G, &PROP, 0));
	OK(D.MemCreate(&h2, G, &PROP, 0));
	CHECK(free_mem() == before - 3 * G);
	EXPECT(D.MemMap(r + 15 * G, 2 * G, 0, h1, 0), CUDA_ERROR_INVALID_VALUE);	/* past the end */
	EXPECT(D.MemMap(r, G, 2 * G, h1, 0), CUDA_ERROR_INVALID_VALUE);	/* past the memory */
	EXPECT(D.MemMap(r + 1, G, 0, h1, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemMap(r + 40 * G, G, 0, h1, 0), CUDA_ERROR_INVALID_VALUE);	/* unreserved */
	OK(D.MemMap(r, 2 * G, 0, h1, 0));
	EXPECT(D.MemMap(r + G, G, 0, h2, 0), CUDA_ERROR_INVALID_VALUE);	/* mapped already */
	OK(D.MemMap(r + 2 * G, G, 0, h2, 0));

	/* No access yet: copies are refused. */
	memset(buf, 0x11, sizeof(buf));
	EXPECT(D.MemcpyHtoDAsync(r, buf, sizeof(buf), NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemSetAccess(r, G, &RW, 1), CUDA_ERROR_INVALID_VALUE);	/* cuts a mapping */
	EXPECT(D.MemSetAccess(r, 4 * G, &RW, 1), CUDA_ERROR_INVALID_VALUE);	/* beyond the mappings */
	OK(D.MemSetAccess(r, 3 * G, &RW, 1));
	unsigned long long flags = 0;
	CUmemLocation loc = RW.location;
	OK(D.MemGetAccess(&flags, &loc, r + 2 * G + 5));
	CHECK(flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE);

	/* Fresh memory is poison; a copy spans the two allocations. */
	OK(D.MemcpyDtoHAsync(out, r, 16, NULL));
	CHECK(out[0] == 0xcd && out[15] == 0xcd);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i + 1);
	OK(D.MemcpyHtoDAsync(r + 2 * G - 32, buf, sizeof(buf), NULL));
	OK(D.MemsetD32Async(r + 2 * G, 0x01020304, 4, NULL));
	OK(D.StreamSynchronize(NULL));
	OK(D.MemcpyDtoHAsync(out, r + 2 * G - 32, sizeof(out), NULL));
	CHECK(!memcmp(out, buf, 32) && out[32] == 0x04 && out[35] == 0x01);

	/* The same memory at a second address, read-only there. */
	CUmemAccessDesc ro = RW;
	ro.flags = CU_MEM_ACCESS_FLAGS_PROT_READ;
	OK(D.MemMap(r + 8 * G, G, G, h1, 0));	/* h1's second granule */
	OK(D.MemSetAccess(r + 8 * G, G, &ro, 1));
	OK(D.MemcpyDtoHAsync(out, r + 9 * G - 32, 32, NULL));
	CHECK(!memcmp(out, buf, 32));

	/* Retain by address, properties. */
	OK(D.MemRetainAllocationHandle(&back, (void *)(uintptr_t)(r + 8 * G + 7)));
	CHECK(back == h1);
	OK(D.MemGetAllocationPropertiesFromHandle(&got, back));
	CHECK(got.type == CU_MEM_ALLOCATION_TYPE_PINNED && got.location.id == 0);
	OK(D.MemRelease(back));
	EXPECT(D.MemRetainAllocationHandle(&back, (void *)(uintptr_t)(r + 12 * G)),
	       CUDA_ERROR_INVALID_VALUE);

	/* Release before unmap: the memory stays while mapped. */
	OK(D.MemRelease(h1));
	OK(D.MemRelease(h2));
	CHECK(free_mem() == before - 3 * G);
	OK(D.MemcpyDtoHAsync(out, r + 2 * G - 32, sizeof(out), NULL));
	CHECK(!memcmp(out, buf, 32));

	/* Unmap: whole mappings only, several at once. */
	EXPECT(D.MemUnmap(r, G), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemUnmap(r + 4 * G, G), CUDA_ERROR_INVALID_VALUE);	/* nothing there */
	EXPECT(D.MemAddressFree(r, 16 * G), CUDA_ERROR_INVALID_VALUE);	/* mappings inside */
	OK(D.MemUnmap(r, 3 * G));
	CHECK(free_mem() == before - 2 * G);	/* h2 went; h1 is mapped at r + 8G */
	EXPECT(D.MemcpyDtoHAsync(out, r, 16, NULL), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemUnmap(r + 8 * G, G));
	CHECK(free_mem() == before);
	EXPECT(D.MemAddressFree(r, 8 * G), CUDA_ERROR_INVALID_VALUE);	/* not the whole range */
	OK(D.MemAddressFree(r, 16 * G));
}

/*
 * A memset queued before the unmap, run after it (every operation of the
 * double is delayed for this one), faults: the page tables changed.
 */
static void unmap_under_work(void)
{
	CUmemGenericAllocationHandle h;
	CUdeviceptr r;
	uint8_t b[16] = { 0 };

	OK(D.MemAddressReserve(&r, G, 0, 0, 0));
	OK(D.MemCreate(&h, G, &PROP, 0));
	OK(D.MemMap(r, G, 0, h, 0));
	OK(D.MemSetAccess(r, G, &RW, 1));
	OK(D.MemsetD8Async(r, 1, G, NULL));
	OK(D.MemUnmap(r, G));
	EXPECT(D.StreamSynchronize(NULL), CUDA_ERROR_ILLEGAL_ADDRESS);
	(void)b;
}

static void pools(void)
{
	CUmemoryPool dflt, cur, p;
	CUmemPoolProps props = { .allocType = CU_MEM_ALLOCATION_TYPE_PINNED,
				 .location = { CU_MEM_LOCATION_TYPE_DEVICE, 0 } };
	CUdeviceptr a, b;
	cuuint64_t v, max = UINT64_MAX;
	uint64_t before = free_mem();

	OK(D.DeviceGetDefaultMemPool(&dflt, 0));
	OK(D.DeviceGetMemPool(&cur, 0));
	CHECK(cur == dflt);
	EXPECT(D.MemPoolDestroy(dflt), CUDA_ERROR_INVALID_VALUE);
	props.handleTypes = CU_MEM_HANDLE_TYPE_FABRIC;
	EXPECT(D.MemPoolCreate(&p, &props), CUDA_ERROR_NOT_SUPPORTED);
	props.handleTypes = 0;
	OK(D.MemPoolCreate(&p, &props));
	OK(D.MemPoolSetAttribute(p, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &max));
	OK(D.MemAllocFromPoolAsync(&a, 1000, p, NULL));
	OK(D.MemPoolGetAttribute(p, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &v));
	CHECK(v == 1024);
	OK(D.MemFreeAsync(a, NULL));
	OK(D.MemPoolGetAttribute(p, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &v));
	CHECK(v == 1024);	/* kept under the threshold */
	CHECK(free_mem() == before - 1024);
	OK(D.MemAllocFromPoolAsync(&b, 512, p, NULL));	/* reuses the cache */
	CHECK(free_mem() == before - 1024);
	OK(D.MemFreeAsync(b, NULL));
	OK(D.MemPoolTrimTo(p, 0));
	OK(D.MemPoolGetAttribute(p, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &v));
	CHECK(v == 0 && free_mem() == before);
	EXPECT(D.MemPoolSetAttribute(p, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &v), CUDA_ERROR_INVALID_VALUE);
	/* The current pool, and a pool destroyed with memory still out. */
	OK(D.DeviceSetMemPool(0, p));
	OK(D.MemAllocAsync(&a, 4096, NULL));
	OK(D.MemPoolGetAttribute(p, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &v));
	CHECK(v == 4096);
	OK(D.MemPoolDestroy(p));
	OK(D.DeviceGetMemPool(&cur, 0));
	CHECK(cur == dflt);
	OK(D.MemFreeAsync(a, NULL));
	OK(D.StreamSynchronize(NULL));
	CHECK(free_mem() == before);
}

/* Run @fn in a child (with FAKECUDA_OP_DELAY_US=@delay if set); its exit status (or 128 + signal). */
static int child(void (*fn)(void), const char *delay)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		failures = 0;
		if (delay)
			setenv("FAKECUDA_OP_DELAY_US", delay, 1);	/* read by cuInit */
		load();
		fn();
		fflush(stderr);
		_exit(failures ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (st)
		fprintf(stderr, "(the child ended with %d)\n", st);
	return st;
}

static void release_twice(void)
{
	CUmemGenericAllocationHandle h;

	OK(D.MemCreate(&h, G, &PROP, 0));
	OK(D.MemRelease(h));
	D.MemRelease(h);	/* aborts */
}

int main(void)
{
	CHECK(child(vmm, NULL) == 0);
	CHECK(child(unmap_under_work, "200000") == 0);
	CHECK(child(pools, NULL) == 0);
	fprintf(stderr, "(a handle released twice, which must abort:)\n");
	CHECK(child(release_twice, NULL) == 128 + SIGABRT);
	if (failures)
		fprintf(stderr, "%d checks failed\n", failures);
	return failures ? 1 : 0;
}
