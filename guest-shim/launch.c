// SPDX-License-Identifier: MIT
/*
 * Kernel launches: validated in the guest (what the driver would refuse at
 * once is refused at once), parameters packed at the offsets the host's
 * driver reported, and submitted without waiting (decision 3).  A failure
 * the executor meets is kept and returned by the next synchronising call.
 */
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "channel.h"
#include "context.h"
#include "module.h"
#include "shim.h"
#include "state.h"
#include "stream_ref.h"

/* Packed parameters up to this size are built on the stack. */
#define STACK_PARAMS	4096u

static CUresult check_dims(CUdevice dev, const unsigned int grid[3], const unsigned int block[3])
{
	const int32_t *at = vgpu_state.devices[dev].attrs;
	static const CUdevice_attribute gmax[3] = { CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X,
						    CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y,
						    CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z };
	static const CUdevice_attribute bmax[3] = { CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X,
						    CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y,
						    CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z };
	uint64_t threads = 1;

	for (int i = 0; i < 3; i++) {
		if (grid[i] == 0 || block[i] == 0)
			return CUDA_ERROR_INVALID_VALUE;
		if (grid[i] > (uint32_t)at[gmax[i]] || block[i] > (uint32_t)at[bmax[i]])
			return CUDA_ERROR_INVALID_VALUE;
		threads *= block[i];
	}
	if (threads > (uint64_t)at[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK])
		return CUDA_ERROR_INVALID_VALUE;
	return CUDA_SUCCESS;
}

/* The parameter buffer an `extra` array describes, or an error. */
static CUresult parse_extra(void **extra, const void **buf, size_t *size)
{
	*buf = NULL;
	*size = 0;
	for (size_t i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
		if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
			*buf = extra[i + 1];
		else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE && extra[i + 1])
			*size = *(size_t *)extra[i + 1];
		else
			return CUDA_ERROR_INVALID_VALUE;
	}
	return *buf || !*size ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static CUresult launch(CUfunction fn, unsigned int gx, unsigned int gy, unsigned int gz,
		       unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
		       CUstream st, void **params, void **extra, bool per_thread)
{
	struct vgpu_func *f = vgpu_func_of(fn);
	const unsigned int grid[3] = { gx, gy, gz }, block[3] = { bx, by, bz };
	struct vgpu_launch_args a = {
		.grid = { gx, gy, gz }, .block = { bx, by, bz }, .shared_mem = shmem,
	};
	uint8_t stack_buf[STACK_PARAMS], *buf = stack_buf;
	const void *packed;
	struct vgpu_stream_ref s;
	size_t size;
	CUresult r = vgpu_stream_ref(st, per_thread, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if (params && extra)
		return CUDA_ERROR_INVALID_VALUE;
	r = check_dims(s.ctx->dev, grid, block);
	if (r != CUDA_SUCCESS)
		return r;
	r = vgpu_capture_use(st, &s, VGPU_USE_ASYNC);
	if (r != CUDA_SUCCESS)
		return r;

	if (extra) {
		r = parse_extra(extra, &packed, &size);
		if (r != CUDA_SUCCESS)
			return r;
	} else {
		r = vgpu_func_params(f);
		if (r != CUDA_SUCCESS)
			return r;
		if (f->param_count && !params)
			return CUDA_ERROR_INVALID_VALUE;
		size = f->param_bytes;
		if (size > sizeof(stack_buf)) {
			buf = malloc(size);
			if (!buf)
				return CUDA_ERROR_OUT_OF_MEMORY;
		}
		/* Padding between parameters is zeroed: the record must not leak guest stack. */
		memset(buf, 0, size);
		for (uint32_t i = 0; i < f->param_count; i++) {
			if (!params[i]) {
				r = CUDA_ERROR_INVALID_VALUE;
				goto out;
			}
			memcpy(buf + f->params[i].offset, params[i], f->params[i].size);
		}
		packed = buf;
	}
	if (size > VGPU_MAX_PARAM_BYTES) {
		r = CUDA_ERROR_INVALID_VALUE;
		goto out;
	}
	a.func = f->o.id;
	a.stream = s.id;
	a.param_size = (uint32_t)size;
	r = vgpu_call(VGPU_OP_LAUNCH_KERNEL, 0, vgpu_ctx_wire(s.ctx), &a, sizeof(a), packed, size,
		      NULL);
out:
	if (buf != stack_buf)
		free(buf);
	return r;
}

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
				unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
				unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
				void **kernelParams, void **extra)
{
	return launch(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
		      sharedMemBytes, hStream, kernelParams, extra, false);
}

CUresult CUDAAPI cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
				     unsigned int gridDimZ, unsigned int blockDimX,
				     unsigned int blockDimY, unsigned int blockDimZ,
				     unsigned int sharedMemBytes, CUstream hStream, void **kernelParams,
				     void **extra)
{
	return launch(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
		      sharedMemBytes, hStream, kernelParams, extra, true);
}
