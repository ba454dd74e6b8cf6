// SPDX-License-Identifier: MIT
/*
 * The occupancy calculator, in the guest: cuOccupancy* answers depend only
 * on the device's attributes and the function's (both cached here), and
 * cuOccupancyMaxPotentialBlockSize calls back into the application for
 * every block size it tries, which only the guest can do.  The arithmetic
 * is the toolkit's own (cuda_occupancy.h, the calculator cudart's
 * templates and the CUDA occupancy spreadsheet use); the inputs are filled
 * as cuda_occupancy.h's conversions from cudaDeviceProp and
 * cudaFuncAttributes fill them.
 *
 * What no attribute reports: the driver knows a kernel's block barrier
 * count and virtual resources (sm_100+) from its image; the calculator's
 * defaults are 1 barrier and none.  Both limit the blocks per SM by the
 * same number whatever the block size and shared memory, and every other
 * limit is largest for one warp without dynamic shared memory; so the
 * driver's answer for that configuration (fetched with the attributes,
 * vgpu_func_attrs.probe_blocks) is below the calculator's exactly when
 * such a limit binds, and is then that limit: it caps every answer.
 * tests/cuda/occupancy.cu prints every answer for real kernels (one with
 * named barriers) so that tests/gpu/run.sh compares them with the driver's.
 * Cluster questions depend on how the driver places clusters and are
 * forwarded (VGPU_OP_OCCUPANCY_CLUSTER).
 */
#include <limits.h>
#include <string.h>

#include <cuda_occupancy.h>

#include "channel.h"
#include "context.h"
#include "func_attrs.h"
#include "launch.h"
#include "log.h"
#include "module.h"
#include "shim.h"
#include "state.h"
#include "stream_ref.h"

struct occ_inputs {
	cudaOccDeviceProp prop;
	cudaOccFuncAttributes attrs;
	cudaOccDeviceState state;
	int max_block;		/* min(device, function) threads per block */
	int cap;		/* blocks per SM that limits no attribute shows allow */
};

static CUresult occ_status(cudaOccError e)
{
	switch (e) {
	case CUDA_OCC_SUCCESS:
		return CUDA_SUCCESS;
	case CUDA_OCC_ERROR_INVALID_INPUT:
		return CUDA_ERROR_INVALID_VALUE;
	default:
		/* A compute capability the toolkit's calculator does not know. */
		vgpu_log("cuOccupancy*: the device's compute capability is unknown to "
			 "cuda_occupancy.h %d.%d", __CUDA_OCC_MAJOR__, __CUDA_OCC_MINOR__);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
}

static CUresult gather(CUfunction func, unsigned int flags, struct occ_inputs *in)
{
	struct vgpu_func *f = vgpu_func_of(func);
	struct vgpu_func_attrs fa;
	CUfunc_cache cache = CU_FUNC_CACHE_PREFER_NONE;
	const int32_t *d;
	CUdevice dev;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if (flags & ~(unsigned int)CU_OCCUPANCY_DISABLE_CACHING_OVERRIDE)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_func_device(f, &dev);
	if (r == CUDA_SUCCESS)
		r = vgpu_func_attrs_get(f, dev, &fa, &cache);
	if (r != CUDA_SUCCESS)
		return r;
	/* The inputs the calculator needs; a driver that refused one of them leaves no answer. */
	static const int needed[] = { CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
				      CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES,
				      CU_FUNC_ATTRIBUTE_NUM_REGS,
				      CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES };
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
		if (!(fa.valid & (1u << needed[i])))
			return CUDA_ERROR_NOT_SUPPORTED;

	d = vgpu_state.devices[dev].attrs;
	memset(in, 0, sizeof(*in));
	in->prop = (cudaOccDeviceProp){
		.computeMajor = d[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR],
		.computeMinor = d[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR],
		.maxThreadsPerBlock = d[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK],
		.maxThreadsPerMultiprocessor = d[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR],
		.regsPerBlock = d[CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK],
		.regsPerMultiprocessor = d[CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR],
		.warpSize = d[CU_DEVICE_ATTRIBUTE_WARP_SIZE],
		.sharedMemPerBlock = (size_t)d[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK],
		.sharedMemPerMultiprocessor =
			(size_t)d[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR],
		.numSms = d[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT],
		.sharedMemPerBlockOptin = (size_t)d[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN],
		.reservedSharedMemPerBlock =
			(size_t)d[CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK],
	};
	/* As cuda_occupancy.h converts a cudaFuncAttributes. */
	in->attrs = (cudaOccFuncAttributes){
		.maxThreadsPerBlock = fa.value[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK],
		.numRegs = fa.value[CU_FUNC_ATTRIBUTE_NUM_REGS],
		.sharedSizeBytes = (size_t)fa.value[CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES],
		/* DISABLE_CACHING_OVERRIDE: caching is on and may not be turned off. */
		.partitionedGCConfig = flags & CU_OCCUPANCY_DISABLE_CACHING_OVERRIDE
					       ? PARTITIONED_GC_ON_STRICT
					       : PARTITIONED_GC_OFF,
		.shmemLimitConfig = FUNC_SHMEM_LIMIT_OPTIN,
		.maxDynamicSharedSizeBytes =
			(size_t)fa.value[CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES],
		.numBlockBarriers = 1,
		.virtualResourceCount = 0,
	};
	in->state = (cudaOccDeviceState){
		.cacheConfig = (cudaOccCacheConfig)cache,
		.carveoutConfig = fa.valid & (1u << CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT)
					  ? fa.value[CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT]
					  : SHAREDMEM_CARVEOUT_DEFAULT,
	};
	in->max_block = in->prop.maxThreadsPerBlock < in->attrs.maxThreadsPerBlock
				? in->prop.maxThreadsPerBlock
				: in->attrs.maxThreadsPerBlock;
	in->cap = INT_MAX;
	if (fa.probe_blocks >= 0) {
		cudaOccResult one_warp;

		if (cudaOccMaxActiveBlocksPerMultiprocessor(&one_warp, &in->prop, &in->attrs,
							    &in->state, in->prop.warpSize, 0) ==
			    CUDA_OCC_SUCCESS &&
		    fa.probe_blocks < one_warp.activeBlocksPerMultiprocessor)
			in->cap = fa.probe_blocks;
	}
	return CUDA_SUCCESS;
}

/* The calculator's blocks per SM, under the cap. */
static cudaOccError active_blocks(const struct occ_inputs *in, int block, size_t dyn, int *out)
{
	cudaOccResult res;
	cudaOccError e = cudaOccMaxActiveBlocksPerMultiprocessor(&res, &in->prop, &in->attrs,
								 &in->state, block, dyn);

	if (e == CUDA_OCC_SUCCESS)
		*out = res.activeBlocksPerMultiprocessor < in->cap ? res.activeBlocksPerMultiprocessor
								    : in->cap;
	return e;
}

static CUresult max_active(int *numBlocks, CUfunction func, int blockSize, size_t dynamicSMemSize,
			   unsigned int flags)
{
	struct occ_inputs in;
	CUresult r;

	if (!numBlocks)
		return CUDA_ERROR_INVALID_VALUE;
	r = gather(func, flags, &in);
	if (r != CUDA_SUCCESS)
		return r;
	return occ_status(active_blocks(&in, blockSize, dynamicSMemSize, numBlocks));
}

CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func,
							     int blockSize, size_t dynamicSMemSize)
{
	return max_active(numBlocks, func, blockSize, dynamicSMemSize, CU_OCCUPANCY_DEFAULT);
}

CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks,
								      CUfunction func,
								      int blockSize,
								      size_t dynamicSMemSize,
								      unsigned int flags)
{
	return max_active(numBlocks, func, blockSize, dynamicSMemSize, flags);
}

/*
 * The block size with the most resident threads per SM, trying multiples
 * of the warp size downwards from the limit, as cuda_runtime.h's
 * cudaOccupancyMaxPotentialBlockSizeVariableSMemWithFlags does (the one
 * place the toolkit shows how blockSizeLimit is applied).
 */
static CUresult max_potential(int *minGridSize, int *blockSize, CUfunction func,
			      CUoccupancyB2DSize b2d, size_t dynamicSMemSize, int blockSizeLimit,
			      unsigned int flags)
{
	int best_block = 0, best_blocks = 0, best_threads = 0;
	struct occ_inputs in;
	int limit, gran;
	CUresult r;

	if (!minGridSize || !blockSize)
		return CUDA_ERROR_INVALID_VALUE;
	r = gather(func, flags, &in);
	if (r != CUDA_SUCCESS)
		return r;
	limit = in.max_block;
	if (blockSizeLimit > 0 && blockSizeLimit < limit)
		limit = blockSizeLimit;
	gran = in.prop.warpSize > 0 ? in.prop.warpSize : 32;
	for (int aligned = (limit + gran - 1) / gran * gran; aligned > 0; aligned -= gran) {
		int try_size = aligned < limit ? aligned : limit;
		size_t smem = b2d ? b2d(try_size) : dynamicSMemSize;
		int blocks = 0;

		r = occ_status(active_blocks(&in, try_size, smem, &blocks));
		if (r != CUDA_SUCCESS)
			return r;
		if (try_size * blocks > best_threads) {
			best_block = try_size;
			best_blocks = blocks;
			best_threads = try_size * best_blocks;
		}
		if (best_threads == in.prop.maxThreadsPerMultiprocessor)
			break;
	}
	*minGridSize = best_blocks * in.prop.numSms;
	*blockSize = best_block;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuOccupancyMaxPotentialBlockSize(int *minGridSize, int *blockSize,
						  CUfunction func,
						  CUoccupancyB2DSize blockSizeToDynamicSMemSize,
						  size_t dynamicSMemSize, int blockSizeLimit)
{
	return max_potential(minGridSize, blockSize, func, blockSizeToDynamicSMemSize,
			     dynamicSMemSize, blockSizeLimit, CU_OCCUPANCY_DEFAULT);
}

CUresult CUDAAPI cuOccupancyMaxPotentialBlockSizeWithFlags(
	int *minGridSize, int *blockSize, CUfunction func,
	CUoccupancyB2DSize blockSizeToDynamicSMemSize, size_t dynamicSMemSize, int blockSizeLimit,
	unsigned int flags)
{
	return max_potential(minGridSize, blockSize, func, blockSizeToDynamicSMemSize,
			     dynamicSMemSize, blockSizeLimit, flags);
}

CUresult CUDAAPI cuOccupancyAvailableDynamicSMemPerBlock(size_t *dynamicSmemSize, CUfunction func,
							 int numBlocks, int blockSize)
{
	struct occ_inputs in;
	CUresult r;

	if (!dynamicSmemSize)
		return CUDA_ERROR_INVALID_VALUE;
	r = gather(func, CU_OCCUPANCY_DEFAULT, &in);
	if (r != CUDA_SUCCESS)
		return r;
	/* More blocks than fit at once: the calculator's own refusal, under the cap too. */
	if (numBlocks > in.cap)
		return CUDA_ERROR_INVALID_VALUE;
	return occ_status(cudaOccAvailableDynamicSMemPerBlock(dynamicSmemSize, &in.prop, &in.attrs,
							      &in.state, numBlocks, blockSize));
}

/* ---- cluster questions: the executor asks its driver ---- */

static CUresult cluster_query(uint32_t query, int *out, CUfunction func, const CUlaunchConfig *c)
{
	struct vgpu_func *f = vgpu_func_of(func);
	struct vgpu_launch_attr wire[VGPU_MAX_LAUNCH_ATTRS];
	struct vgpu_occupancy_cluster_args a = { .query = query };
	struct vgpu_answer ans = { 0 };
	struct vgpu_stream_ref s;
	int32_t v;
	CUresult r;

	if (!out || !c)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_stream_ref(c->hStream, false, &s);
	if (r != CUDA_SUCCESS)
		return r;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	r = vgpu_launch_attrs_to_wire(c->attrs, c->numAttrs, wire);
	if (r != CUDA_SUCCESS)
		return r;
	a.func = f->o.id;
	a.stream = s.id;
	a.grid[0] = c->gridDimX, a.grid[1] = c->gridDimY, a.grid[2] = c->gridDimZ;
	a.block[0] = c->blockDimX, a.block[1] = c->blockDimY, a.block[2] = c->blockDimZ;
	a.shared_mem = c->sharedMemBytes;
	a.num_attrs = c->numAttrs;
	r = vgpu_call(VGPU_OP_OCCUPANCY_CLUSTER, VGPU_CMD_F_REPLY, vgpu_ctx_wire(s.ctx), &a,
		      sizeof(a), wire, (size_t)c->numAttrs * sizeof(wire[0]), &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&v, ans.data, sizeof(v));
	*out = v;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuOccupancyMaxPotentialClusterSize(int *clusterSize, CUfunction func,
						    const CUlaunchConfig *config)
{
	return cluster_query(VGPU_OCC_CLUSTER_SIZE, clusterSize, func, config);
}

CUresult CUDAAPI cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func,
					      const CUlaunchConfig *config)
{
	return cluster_query(VGPU_OCC_ACTIVE_CLUSTERS, numClusters, func, config);
}
