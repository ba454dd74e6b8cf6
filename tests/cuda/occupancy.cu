// SPDX-License-Identifier: MIT
/*
 * Every occupancy answer, one per line, for several kernels, block sizes
 * and dynamic shared memory sizes: the driver's (through cudart, and
 * cuOccupancyMaxPotentialBlockSize directly with a block-size callback)
 * beside what the toolkit's own calculator (cuda_occupancy.h) computes from
 * cudaGetDeviceProperties and cudaFuncGetAttributes.
 *
 * tests/gpu/run.sh runs it natively and through vgpu and requires the
 * driver columns to be identical line by line; natively it also shows
 * where the real driver and cuda_occupancy.h disagree ("differs" lines,
 * informational).  Through vgpu the shim computes with that header, so
 * with --same every line must agree with it (what CI checks on the driver
 * double, where the kernels are those of tests/cuda/test_kernels.cuh).
 * Natively, "barriers8" (8 named barriers) is expected to differ from the
 * header, which assumes one barrier; through vgpu it must still equal the
 * driver's answers.
 *
 *   occupancy [--same] [--barriers N]
 *
 * --barriers N: the calculator's column assumes kernels with N block
 * barriers (CI runs the driver double with as many, FAKECUDA_BLOCK_BARRIERS,
 * to check that a limit no attribute reports reaches the shim's answers).
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <cuda.h>
#include <cuda_occupancy.h>
#include <cuda_runtime.h>

#include "test_kernels.cuh"

/* Kernels whose resources differ: static shared memory, many registers, a block limit. */
__global__ void occ_shared(float *out)
{
	__shared__ float buf[3072];	/* 12 KiB */

	buf[threadIdx.x % 3072] = (float)threadIdx.x;
	__syncthreads();
	out[blockIdx.x * blockDim.x + threadIdx.x] = buf[(threadIdx.x * 7) % 3072];
}

__global__ void __launch_bounds__(256) occ_bounded(float *out, float x)
{
	float acc[24];

#pragma unroll
	for (int i = 0; i < 24; i++)
		acc[i] = x * (float)(i + threadIdx.x);
#pragma unroll
	for (int r = 0; r < 8; r++)
#pragma unroll
		for (int i = 0; i < 24; i++)
			acc[i] = acc[i] * acc[(i + r) % 24] + x;
	float s = 0;
#pragma unroll
	for (int i = 0; i < 24; i++)
		s += acc[i];
	out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

/* Named barrier 7: the kernel uses 8 block barriers, a limit no attribute reports. */
__global__ void occ_barriers(float *out)
{
	out[blockIdx.x * blockDim.x + threadIdx.x] = 1.0f;
	asm volatile("bar.sync 7, %0;" ::"r"(blockDim.x) : "memory");
	out[blockIdx.x * blockDim.x + threadIdx.x] += 1.0f;
}

static int mismatches, failures;
static bool same;
static int barriers = 1;

static size_t dyn_of_block(int block)
{
	return (size_t)block * 16;	/* 16 bytes of dynamic shared memory per thread */
}

typedef CUresult (*max_potential_fn)(int *, int *, CUfunction, CUoccupancyB2DSize, size_t, int);
typedef CUresult (*max_potential_flags_fn)(int *, int *, CUfunction, CUoccupancyB2DSize, size_t,
					   int, unsigned int);

static void report(const char *what, long long driver, cudaError_t e, long long header,
		   cudaOccError oe)
{
	if (e != cudaSuccess) {
		/* An error is an answer too: it must be the same natively and through vgpu. */
		printf("%s driver=%s header=%s\n", what, cudaGetErrorName(e),
		       oe == CUDA_OCC_SUCCESS ? "ok" : "error");
		cudaGetLastError();
		if (same && oe == CUDA_OCC_SUCCESS)
			mismatches++;
		return;
	}
	printf("%s driver=%lld", what, driver);
	if (oe != CUDA_OCC_SUCCESS) {
		printf(" header=error\n");
		mismatches += same;
	} else if (header != driver) {
		printf(" header=%lld differs\n", header);
		mismatches++;
	} else {
		printf("\n");
	}
}

static void one_kernel(const char *name, const void *fn, const cudaDeviceProp &prop,
		       max_potential_fn max_potential, max_potential_flags_fn max_potential_flags)
{
	cudaFuncAttributes fa;
	cudaError_t e = cudaFuncGetAttributes(&fa, fn);
	char what[160];

	if (e != cudaSuccess) {
		printf("%s: cudaFuncGetAttributes %s\n", name, cudaGetErrorName(e));
		failures++;
		return;
	}
	printf("%s: %d threads/block, %d regs, %zu static shared, %d max dynamic shared\n", name,
	       fa.maxThreadsPerBlock, fa.numRegs, fa.sharedSizeBytes,
	       fa.maxDynamicSharedSizeBytes);
	for (int carve = 0; carve < 3; carve++) {
		cudaOccDeviceProp op(prop);
		cudaOccDeviceState st;

		/* The function's preferences, as the driver sees them. */
		if (carve == 1) {
			cudaFuncSetAttribute(fn, cudaFuncAttributePreferredSharedMemoryCarveout, 50);
			st.carveoutConfig = 50;
		} else if (carve == 2) {
			cudaFuncSetAttribute(fn, cudaFuncAttributePreferredSharedMemoryCarveout, -1);
			cudaFuncSetCacheConfig(fn, cudaFuncCachePreferL1);
			st.cacheConfig = CACHE_PREFER_L1;
		}
		cudaFuncGetAttributes(&fa, fn);
		cudaOccFuncAttributes oa(fa);
		oa.numBlockBarriers = barriers;

		static const int blocks[] = { 1, 32, 64, 96, 128, 200, 256, 512, 768, 1000, 1024 };
		static const size_t dyns[] = { 0, 1024, 40000 };
		for (int b : blocks)
			for (size_t dyn : dyns) {
				int n = -1;
				cudaOccResult res;
				cudaOccError oe = cudaOccMaxActiveBlocksPerMultiprocessor(
					&res, &op, &oa, &st, b, dyn);

				e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, fn, b, dyn);
				snprintf(what, sizeof(what), "%s carve%d maxActive(block %d, dyn %zu)",
					 name, carve, b, dyn);
				report(what, n, e, res.activeBlocksPerMultiprocessor, oe);
				e = cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(
					&n, fn, b, dyn, cudaOccupancyDisableCachingOverride);
				snprintf(what, sizeof(what), "%s carve%d maxActiveNoCacheOverride(block %d, dyn %zu)",
					 name, carve, b, dyn);
				printf("%s driver=%s%d\n", what, e ? cudaGetErrorName(e) : "",
				       e ? 0 : n);
				cudaGetLastError();
			}
		for (int nb : { 1, 2, 4, 32 })
			for (int b : { 32, 128, 256, 1024 }) {
				size_t avail = 0, havail = 0;
				cudaOccError oe = cudaOccAvailableDynamicSMemPerBlock(&havail, &op, &oa,
										   &st, nb, b);

				e = cudaOccupancyAvailableDynamicSMemPerBlock(&avail, fn, nb, b);
				snprintf(what, sizeof(what), "%s carve%d availableDynamicSMem(%d blocks of %d)",
					 name, carve, nb, b);
				report(what, (long long)avail, e, (long long)havail, oe);
			}
		for (int limit : { 0, 256, 100 }) {
			int grid = -1, block = -1;

			e = cudaOccupancyMaxPotentialBlockSize(&grid, &block, fn, 0, limit);
			snprintf(what, sizeof(what), "%s carve%d maxPotentialBlockSize(limit %d)", name,
				 carve, limit);
			printf("%s driver=%s%d,%d\n", what, e ? cudaGetErrorName(e) : "", grid, block);
			cudaGetLastError();
		}
		/* The driver's own search, with a callback for the dynamic shared memory. */
		CUfunction cf = nullptr;
		if (cudaGetFuncBySymbol(&cf, fn) == cudaSuccess && max_potential) {
			int grid = -1, block = -1;
			CUresult r = max_potential(&grid, &block, cf, dyn_of_block, 0, 0);

			printf("%s carve%d cuOccupancyMaxPotentialBlockSize(callback) driver=%d:%d,%d\n",
			       name, carve, (int)r, grid, block);
			r = max_potential(&grid, &block, cf, nullptr, 2048, 512);
			printf("%s carve%d cuOccupancyMaxPotentialBlockSize(2048, limit 512) driver=%d:%d,%d\n",
			       name, carve, (int)r, grid, block);
			if (max_potential_flags) {
				r = max_potential_flags(&grid, &block, cf, dyn_of_block, 0, 0,
							CU_OCCUPANCY_DISABLE_CACHING_OVERRIDE);
				printf("%s carve%d cuOccupancyMaxPotentialBlockSizeWithFlags driver=%d:%d,%d\n",
				       name, carve, (int)r, grid, block);
			}
		} else {
			cudaGetLastError();
		}
	}
	cudaFuncSetCacheConfig(fn, cudaFuncCachePreferNone);
	/* Clusters: forwarded to the driver. */
	for (int cx : { 1, 2, 4, 8 }) {
		cudaLaunchConfig_t cfg = {};
		cudaLaunchAttribute at;
		int v = -1;

		cfg.gridDim = dim3(64);
		cfg.blockDim = dim3(128);
		at.id = cudaLaunchAttributeClusterDimension;
		at.val.clusterDim.x = cx;
		at.val.clusterDim.y = 1;
		at.val.clusterDim.z = 1;
		cfg.attrs = &at;
		cfg.numAttrs = 1;
		e = cudaOccupancyMaxActiveClusters(&v, fn, &cfg);
		printf("%s maxActiveClusters(cluster %d) driver=%s%d\n", name, cx,
		       e ? cudaGetErrorName(e) : "", e ? 0 : v);
		cudaGetLastError();
		if (cx == 1) {
			cfg.numAttrs = 0;
			e = cudaOccupancyMaxPotentialClusterSize(&v, fn, &cfg);
			printf("%s maxPotentialClusterSize driver=%s%d\n", name,
			       e ? cudaGetErrorName(e) : "", e ? 0 : v);
			cudaGetLastError();
		}
	}
}

int main(int argc, char **argv)
{
	setvbuf(stdout, nullptr, _IOLBF, 0);	/* a crash or a hang keeps what was printed */
	cudaDeviceProp prop;
	max_potential_fn max_potential = nullptr;
	max_potential_flags_fn max_potential_flags = nullptr;
	cudaDriverEntryPointQueryResult q;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--same"))
			same = true;
		else if (!strcmp(argv[i], "--barriers") && i + 1 < argc)
			barriers = atoi(argv[++i]);
	}
	if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
		printf("FAIL  no device\n");
		return 1;
	}
	printf("device: cc %d.%d, %d SMs, %zu shared/SM, %zu shared/block optin, %zu reserved\n",
	       prop.major, prop.minor, prop.multiProcessorCount, prop.sharedMemPerMultiprocessor,
	       prop.sharedMemPerBlockOptin, prop.reservedSharedMemPerBlock);
	if (cudaGetDriverEntryPointByVersion("cuOccupancyMaxPotentialBlockSize",
					     (void **)&max_potential, 13000, cudaEnableDefault,
					     &q) != cudaSuccess)
		max_potential = nullptr;
	if (cudaGetDriverEntryPointByVersion("cuOccupancyMaxPotentialBlockSizeWithFlags",
					     (void **)&max_potential_flags, 13000, cudaEnableDefault,
					     &q) != cudaSuccess)
		max_potential_flags = nullptr;
	if (!max_potential) {
		printf("FAIL  cuOccupancyMaxPotentialBlockSize not found\n");
		failures++;
	}
	one_kernel("fill", (const void *)vgpu_test_fill, prop, max_potential, max_potential_flags);
	one_kernel("axpy", (const void *)vgpu_test_axpy, prop, max_potential, max_potential_flags);
	one_kernel("mixed", (const void *)vgpu_test_mixed, prop, max_potential, max_potential_flags);
	/* The driver double knows only the kernels of test_kernels.cuh. */
	if (!strstr(prop.name, "fakecuda")) {
		one_kernel("shared12k", (const void *)occ_shared, prop, max_potential,
			   max_potential_flags);
		one_kernel("bounded256", (const void *)occ_bounded, prop, max_potential,
			   max_potential_flags);
		one_kernel("barriers8", (const void *)occ_barriers, prop, max_potential,
			   max_potential_flags);
	}
	printf("%d answer(s) differ from cuda_occupancy.h\n", mismatches);
	printf("%s\n", failures || (same && mismatches) ? "FAILED" : "PASSED");
	return failures || (same && mismatches) ? 1 : 0;
}
