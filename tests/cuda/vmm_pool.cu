// SPDX-License-Identifier: MIT
//
// Virtual memory management and stream-ordered allocation, the way ggml-cuda
// (llama.cpp, Ollama) and PyTorch's expandable segments use them:
//
//   1. a VMM pool: reserve a large range once, create and map chunks at its
//      end as the pool grows, release each handle at once (before it is
//      unmapped), grant access; kernels, copies and memsets over the mapped
//      range, across chunk boundaries; one cuMemUnmap over every mapping;
//      free the range;
//   2. cudaMallocAsync / cudaFreeAsync on two streams, a pool of its own with
//      a release threshold, trimming.
//
// Prints "ok <what>" per check and "checksum <name> <hex>" per result, line
// by line, so that tests/gpu/run.sh can compare a native run with one
// through vgpu; "PASSED" at the end when every check passed.  The driver
// calls are taken with cudaGetDriverEntryPointByVersion, as PyTorch does.
// The kernels are vgpu's test kernels, so the CI test double runs this too.
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_kernels.cuh"

static int failures;

#define CHECK(what, cond)                                                        \
	do {                                                                     \
		if (cond)                                                        \
			printf("ok %s\n", what);                                 \
		else {                                                           \
			printf("FAIL %s (%s:%d)\n", what, __FILE__, __LINE__);  \
			failures++;                                              \
		}                                                                \
	} while (0)
#define CU(what, call) CHECK(what, (call) == CUDA_SUCCESS)
#define RT(what, call) CHECK(what, (call) == cudaSuccess)

static PFN_cuMemGetAllocationGranularity_v10020 pGranularity;
static PFN_cuMemAddressReserve_v10020 pReserve;
static PFN_cuMemAddressFree_v10020 pAddressFree;
static PFN_cuMemCreate_v10020 pCreate;
static PFN_cuMemRelease_v10020 pRelease;
static PFN_cuMemMap_v10020 pMap;
static PFN_cuMemUnmap_v10020 pUnmap;
static PFN_cuMemSetAccess_v10020 pSetAccess;
static PFN_cuMemGetAccess_v10020 pGetAccess;
static PFN_cuMemRetainAllocationHandle_v11000 pRetain;
static PFN_cuMemGetAllocationPropertiesFromHandle_v10020 pGetProp;
static PFN_cuMemGetAddressRange_v3020 pAddressRange;
static PFN_cuDeviceGetAttribute_v2000 pDeviceGetAttribute;

template <typename T> static bool entry(const char *name, T *fn, int version)
{
	cudaDriverEntryPointQueryResult q;
	void *p = NULL;

	if (cudaGetDriverEntryPointByVersion(name, &p, version, cudaEnableDefault, &q) !=
		    cudaSuccess ||
	    q != cudaDriverEntryPointSuccess || !p) {
		printf("FAIL entry point %s\n", name);
		failures++;
		return false;
	}
	*fn = (T)p;
	return true;
}

static bool load_entries(void)
{
	return entry("cuMemGetAllocationGranularity", &pGranularity, 10020) &&
	       entry("cuMemAddressReserve", &pReserve, 10020) &&
	       entry("cuMemAddressFree", &pAddressFree, 10020) &&
	       entry("cuMemCreate", &pCreate, 10020) && entry("cuMemRelease", &pRelease, 10020) &&
	       entry("cuMemMap", &pMap, 10020) && entry("cuMemUnmap", &pUnmap, 10020) &&
	       entry("cuMemSetAccess", &pSetAccess, 10020) &&
	       entry("cuMemGetAccess", &pGetAccess, 10020) &&
	       entry("cuMemRetainAllocationHandle", &pRetain, 11000) &&
	       entry("cuMemGetAllocationPropertiesFromHandle", &pGetProp, 10020) &&
	       entry("cuMemGetAddressRange", &pAddressRange, 3020) &&
	       entry("cuDeviceGetAttribute", &pDeviceGetAttribute, 2000);
}

/* FNV-1a over the device bytes [p, p + n), read back with cudaMemcpy. */
static uint64_t checksum_dev(const void *p, size_t n)
{
	uint8_t *h = (uint8_t *)malloc(n);
	uint64_t x = 1469598103934665603ull;

	if (!h || cudaMemcpy(h, p, n, cudaMemcpyDeviceToHost) != cudaSuccess) {
		printf("FAIL read back %zu bytes\n", n);
		failures++;
		free(h);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		x = (x ^ h[i]) * 1099511628211ull;
	free(h);
	return x;
}

static void print_checksum(const char *name, const void *p, size_t n)
{
	printf("checksum %s %016llx\n", name, (unsigned long long)checksum_dev(p, n));
}

/* ---- 1. a ggml-style VMM pool ---- */

#define MAX_CHUNKS 8

static void vmm_pool(int dev)
{
	CUmemAllocationProp prop = {};
	CUmemAccessDesc access = {};
	size_t g = 0, used = 0;
	const size_t reserve = 1ull << 35;	/* ggml: 32 GiB of address space */
	CUdeviceptr base = 0;
	char name[64];
	int vmm = 0;

	/* As ggml asks: the driver's attribute decides between the VMM pool and cudaMalloc. */
	if (!load_entries())
		return;
	CU("VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED is readable",
	   pDeviceGetAttribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, dev));
	printf("vmm_supported %d\n", vmm);
	CHECK("the device offers VMM", vmm == 1);
	if (vmm != 1)
		return;
	prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
	prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
	prop.location.id = dev;
	CU("granularity", pGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
	printf("granularity %zu\n", g);
	CHECK("granularity is a power of two", g && !(g & (g - 1)));
	CU("reserve 32 GiB", pReserve(&base, reserve, 0, 0, 0));
	CHECK("reservation aligned", base && base % g == 0);
	access.location = prop.location;
	access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;

	/* Grow chunk by chunk, sizes 1, 2, 1, 3 granules: kernels over everything mapped so far. */
	static const int grow[] = { 1, 2, 1, 3 };
	for (int k = 0; k < 4; k++) {
		CUmemGenericAllocationHandle h = 0;
		size_t size = g * grow[k];

		snprintf(name, sizeof(name), "create chunk %d", k);
		CU(name, pCreate(&h, size, &prop, 0));
		snprintf(name, sizeof(name), "map chunk %d at the pool's end", k);
		CU(name, pMap(base + used, size, 0, h, 0));
		/* ggml releases at once: the mapping keeps the memory. */
		snprintf(name, sizeof(name), "release chunk %d before unmapping", k);
		CU(name, pRelease(h));
		snprintf(name, sizeof(name), "access to chunk %d", k);
		CU(name, pSetAccess(base + used, size, &access, 1));
		used += size;

		unsigned int *all = (unsigned int *)base;
		vgpu_test_fill<<<256, 256>>>(all, 1000u * (k + 1), used / 4);
		RT("fill over every chunk", cudaGetLastError());
		RT("fill done", cudaDeviceSynchronize());
		snprintf(name, sizeof(name), "grow%d", k);
		print_checksum(name, all, used);
	}

	/* Buffers that straddle chunk boundaries, as ggml's do. */
	float *x = (float *)(base + g - 4096), *y = (float *)(base + 3 * g - 8192);
	int n = (int)(g / sizeof(float));	/* each spans a boundary */
	float *hx = (float *)malloc(n * sizeof(float));
	for (int i = 0; i < n; i++)
		hx[i] = (float)(i % 977) * 0.25f;
	RT("upload across a boundary", cudaMemcpy(x, hx, n * sizeof(float), cudaMemcpyHostToDevice));
	RT("memset across a boundary", cudaMemset(y, 0, n * sizeof(float)));
	vgpu_test_axpy<<<(n + 255) / 256, 256>>>(3.0f, x, y, n);
	vgpu_test_axpy<<<(n + 255) / 256, 256>>>(-0.5f, x, y, n);
	RT("axpy across boundaries", cudaDeviceSynchronize());
	print_checksum("axpy", y, n * sizeof(float));
	float *z = (float *)(base + 5 * g + 64);
	RT("device copy between chunks", cudaMemcpy(z, y, n * sizeof(float) / 2,
						    cudaMemcpyDeviceToDevice));
	RT("unified copy knows the range", cudaMemcpy(hx, z, 64, cudaMemcpyDefault));
	print_checksum("copy", z, n * sizeof(float) / 2);
	free(hx);

	/* What the driver says of an address in the pool. */
	CUdeviceptr rb = 0;
	size_t rs = 0;
	CU("address range of pool memory", pAddressRange(&rb, &rs, base + 2 * g + 100));
	CHECK("the range is a mapping of the pool", rb >= base && rb + rs <= base + used && rs >= g);
	unsigned long long flags = 0;
	CU("access flags", pGetAccess(&flags, &prop.location, base + 4 * g));
	CHECK("read-write", flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
	CUmemGenericAllocationHandle again = 0;
	CUmemAllocationProp got = {};
	CU("retain by address", pRetain(&again, (void *)(base + 2 * g + 100)));
	CU("properties of the retained handle", pGetProp(&got, again));
	CHECK("pinned, on the device", got.type == CU_MEM_ALLOCATION_TYPE_PINNED &&
				       got.location.type == CU_MEM_LOCATION_TYPE_DEVICE &&
				       got.location.id == dev);
	CU("release the retained handle", pRelease(again));

	/*
	 * PyTorch's expandable segments ask for POSIX fd handles (after trying
	 * fabric ones) and export only for IPC: the creation must work.
	 */
	CUmemAllocationProp fdprop = prop;
	CUmemGenericAllocationHandle fdh = 0;
	fdprop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
	CU("create with a POSIX fd handle type", pCreate(&fdh, g, &fdprop, 0));
	CU("map it", pMap(base + used, g, 0, fdh, 0));
	CU("access to it", pSetAccess(base + used, g, &access, 1));
	CU("release it", pRelease(fdh));
	used += g;

	/* ggml's destruction: one unmap over every mapping, then the range. */
	CU("one unmap over every mapping", pUnmap(base, used));
	CU("free the reservation", pAddressFree(base, reserve));
	CHECK("unmapped memory is no device memory", pAddressRange(&rb, &rs, base) != CUDA_SUCCESS);
}

/* ---- 2. stream-ordered allocation ---- */

static void async_alloc(int dev)
{
	const int n = 1 << 18;
	cudaStream_t s1, s2;
	cudaEvent_t ev;
	unsigned int *a = NULL;
	float *x = NULL, *y = NULL;
	int pools = 0;

	RT("MEMORY_POOLS_SUPPORTED is readable",
	   cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, dev));
	printf("pools_supported %d\n", pools);
	CHECK("the device offers memory pools", pools == 1);
	if (pools != 1)
		return;
	RT("stream 1", cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
	RT("stream 2", cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
	RT("event", cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));

	/* Allocated on one stream, used on another after an event, freed there. */
	RT("malloc async on stream 1", cudaMallocAsync((void **)&a, n * sizeof(*a), s1));
	vgpu_test_fill<<<64, 256, 0, s1>>>(a, 7u, n);
	RT("record", cudaEventRecord(ev, s1));
	RT("stream 2 waits", cudaStreamWaitEvent(s2, ev, 0));
	RT("malloc async on stream 2", cudaMallocAsync((void **)&x, n * sizeof(float), s2));
	RT("malloc async on stream 2 again", cudaMallocAsync((void **)&y, n * sizeof(float), s2));
	RT("copy on stream 2", cudaMemcpyAsync(x, a, n * sizeof(float), cudaMemcpyDeviceToDevice, s2));
	RT("memset on stream 2", cudaMemsetAsync(y, 0, n * sizeof(float), s2));
	vgpu_test_axpy<<<(n + 255) / 256, 256, 0, s2>>>(2.0f, x, y, n);
	RT("free async on stream 2", cudaFreeAsync(x, s2));
	RT("stream 2 done", cudaStreamSynchronize(s2));
	print_checksum("async_fill", a, n * sizeof(*a));
	print_checksum("async_axpy", y, n * sizeof(float));
	RT("free async on stream 1", cudaFreeAsync(a, s1));
	RT("malloc async, freed with cudaFree", cudaMallocAsync((void **)&x, 4096, s1));
	RT("cudaFree of stream-ordered memory", cudaFree(x));
	RT("free async of stream 2's, on stream 1", cudaFreeAsync(y, s1));
	RT("stream 1 done", cudaStreamSynchronize(s1));

	/* A pool of its own that keeps what it frees, then trimmed. */
	cudaMemPool_t pool, dflt, cur;
	cudaMemPoolProps props = {};
	props.allocType = cudaMemAllocationTypePinned;
	props.location.type = cudaMemLocationTypeDevice;
	props.location.id = dev;
	RT("pool create", cudaMemPoolCreate(&pool, &props));
	uint64_t keep = UINT64_MAX, got = 0;
	RT("release threshold", cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
	RT("threshold reads back", cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &got));
	CHECK("the threshold set", got == UINT64_MAX);
	unsigned int *b = NULL;
	RT("malloc from pool", cudaMallocFromPoolAsync((void **)&b, 4 << 20, pool, s1));
	vgpu_test_fill<<<64, 256, 0, s1>>>(b, 99u, (4 << 20) / 4);
	RT("pool memory written", cudaStreamSynchronize(s1));
	print_checksum("pool_fill", b, 4 << 20);
	uint64_t used = 0;
	RT("used memory", cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
	CHECK("the pool counts the allocation", used >= (4u << 20));
	RT("free to the pool", cudaFreeAsync(b, s1));
	RT("freed", cudaStreamSynchronize(s1));
	uint64_t reserved = 0;
	RT("reserved memory", cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
	CHECK("the pool keeps what it freed", reserved >= (4u << 20));
	RT("trim", cudaMemPoolTrimTo(pool, 0));
	RT("reserved after trim", cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
	CHECK("trimmed to nothing", reserved == 0);

	/* The device's current pool. */
	RT("default pool", cudaDeviceGetDefaultMemPool(&dflt, dev));
	RT("set current pool", cudaDeviceSetMemPool(dev, pool));
	RT("get current pool", cudaDeviceGetMemPool(&cur, dev));
	CHECK("the current pool is ours", cur == pool);
	RT("malloc async from the current pool", cudaMallocAsync((void **)&b, 1 << 20, s2));
	RT("used memory again", cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
	CHECK("it came from our pool", used >= (1u << 20));
	RT("free it", cudaFreeAsync(b, s2));
	RT("default pool current again", cudaDeviceSetMemPool(dev, dflt));
	RT("sync", cudaStreamSynchronize(s2));
	RT("pool destroy", cudaMemPoolDestroy(pool));
	RT("stream 1 destroy", cudaStreamDestroy(s1));
	RT("stream 2 destroy", cudaStreamDestroy(s2));
	RT("event destroy", cudaEventDestroy(ev));
}

int main(void)
{
	setvbuf(stdout, nullptr, _IOLBF, 0);	/* a crash or a hang keeps what was printed */
	int dev = 0;

	RT("set device", cudaSetDevice(dev));
	RT("context", cudaFree(0));
	vmm_pool(dev);
	async_alloc(dev);
	RT("no error left", cudaDeviceSynchronize());
	if (failures) {
		printf("%d checks FAILED\n", failures);
		return 1;
	}
	printf("PASSED\n");
	return 0;
}
