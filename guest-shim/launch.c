// SPDX-License-Identifier: MIT
/*
 * Kernel launches: validated in the guest (what the driver would refuse at
 * once is refused at once), parameters packed at the offsets the host's
 * driver reported, and submitted without waiting (decision 3).  Extended
 * launches (cuLaunchKernelEx, cooperative launches) carry their launch
 * attributes ahead of the parameters, events named by their ids.  A failure
 * the executor meets is kept and returned by the next synchronising call.
 */
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "launch.h"
#include "log.h"
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

/* A launch as the entry points describe it. */
struct launch_desc {
	unsigned int grid[3], block[3], shmem;
	CUstream stream;
	bool per_thread;
	const CUlaunchAttribute *attrs;	/* LAUNCH_KERNEL_EX only */
	unsigned int nattrs;
	bool ex;
};

/*
 * One attribute into its wire form: known ids only (cuda.h 13.0), events
 * by their executor id.  The executor checks again; this answers at once
 * what would fail there anyway, and logs an id the shim does not know.
 */
static CUresult attr_to_wire(const CUlaunchAttribute *at, struct vgpu_launch_attr *w)
{
	memset(w, 0, sizeof(*w));
	w->id = (uint32_t)at->id;
	switch (at->id) {
	case CU_LAUNCH_ATTRIBUTE_IGNORE:
		return CUDA_SUCCESS;
	case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
	case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
	case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY:
	case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
	case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
	case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
	case CU_LAUNCH_ATTRIBUTE_PRIORITY:
	case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
	case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
	case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
	case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
	case CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING:
		/* Plain values: the bytes as they are. */
		memcpy(w->value, &at->value, sizeof(w->value));
		return CUDA_SUCCESS;
	case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT:
	case CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT: {
		/* Same layout in both: the event, its record flags, (PDL) trigger at start. */
		const struct vgpu_event *ev = vgpu_check(at->value.programmaticEvent.event,
							  VGPU_KIND_EVENT);
		uint64_t id;

		if (!ev)
			return CUDA_ERROR_INVALID_HANDLE;
		id = ev->o.id;
		memcpy(w->value, &id, sizeof(id));
		memcpy(w->value + 8, &at->value.programmaticEvent.flags, sizeof(int));
		if (at->id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT)
			memcpy(w->value + 12, &at->value.programmaticEvent.triggerAtBlockStart,
			       sizeof(int));
		return CUDA_SUCCESS;
	}
	case CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE:
		/* Graphs only (cuda.h): a launch with it is an error natively too. */
		return CUDA_ERROR_INVALID_VALUE;
	default:
		vgpu_log("cuLaunchKernelEx: launch attribute %d unknown to the shim: refused",
			 (int)at->id);
		return CUDA_ERROR_INVALID_VALUE;
	}
}

CUresult vgpu_launch_attrs_to_wire(const CUlaunchAttribute *attrs, unsigned int n,
				   struct vgpu_launch_attr *out)
{
	if (n && !attrs)
		return CUDA_ERROR_INVALID_VALUE;
	if (n > VGPU_MAX_LAUNCH_ATTRS) {
		vgpu_log("cuLaunchKernelEx: %u launch attributes, more than the %u vgpu carries",
			 n, VGPU_MAX_LAUNCH_ATTRS);
		return CUDA_ERROR_INVALID_VALUE;
	}
	for (unsigned int i = 0; i < n; i++) {
		CUresult r = attr_to_wire(&attrs[i], &out[i]);

		if (r != CUDA_SUCCESS)
			return r;
	}
	return CUDA_SUCCESS;
}

/*
 * A cluster shape must divide the grid: refused at once, as the driver
 * refuses it at once (CUDA_ERROR_INVALID_CLUSTER_SIZE, seen on an H200),
 * rather than later by a synchronising call.  Its size limit depends on
 * the function's NON_PORTABLE setting: the driver judges that.
 */
static CUresult check_clusters(const struct launch_desc *d)
{
	for (unsigned int i = 0; i < d->nattrs; i++) {
		const CUlaunchAttribute *at = &d->attrs[i];
		const unsigned int c[3] = { at->value.clusterDim.x, at->value.clusterDim.y,
					    at->value.clusterDim.z };

		if (at->id != CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION)
			continue;
		for (int k = 0; k < 3; k++)
			if (c[k] == 0 || d->grid[k] % c[k])
				return CUDA_ERROR_INVALID_CLUSTER_SIZE;
	}
	return CUDA_SUCCESS;
}

static CUresult launch(CUfunction fn, const struct launch_desc *d, void **params, void **extra)
{
	struct vgpu_func *f = vgpu_func_of(fn);
	uint8_t stack_buf[STACK_PARAMS], *buf = stack_buf;
	size_t head = d->ex ? (size_t)d->nattrs * sizeof(struct vgpu_launch_attr) : 0;
	const void *packed;
	struct vgpu_stream_ref s;
	size_t size;
	CUresult r = vgpu_stream_ref(d->stream, d->per_thread, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if (params && extra)
		return CUDA_ERROR_INVALID_VALUE;
	r = check_dims(s.ctx->dev, d->grid, d->block);
	if (r != CUDA_SUCCESS)
		return r;
	if (d->ex && d->nattrs > VGPU_MAX_LAUNCH_ATTRS)
		return vgpu_launch_attrs_to_wire(d->attrs, d->nattrs, NULL);
	if (d->ex) {
		r = check_clusters(d);
		if (r != CUDA_SUCCESS)
			return r;
	}

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
		packed = NULL;
	}
	if (size > VGPU_MAX_PARAM_BYTES)
		return CUDA_ERROR_INVALID_VALUE;
	/* One tail: the attributes, then the parameters. */
	if (head + size > sizeof(stack_buf)) {
		buf = malloc(head + size);
		if (!buf)
			return CUDA_ERROR_OUT_OF_MEMORY;
	}
	if (d->ex) {
		r = vgpu_launch_attrs_to_wire(d->attrs, d->nattrs, (struct vgpu_launch_attr *)buf);
		if (r != CUDA_SUCCESS)
			goto out;
	}
	if (packed) {
		memcpy(buf + head, packed, size);
	} else {
		/* Padding between parameters is zeroed: the record must not leak guest stack. */
		memset(buf + head, 0, size);
		for (uint32_t i = 0; i < f->param_count; i++) {
			if (!params[i]) {
				r = CUDA_ERROR_INVALID_VALUE;
				goto out;
			}
			memcpy(buf + head + f->params[i].offset, params[i], f->params[i].size);
		}
	}
	if (d->ex) {
		struct vgpu_launch_ex_args a = {
			.func = f->o.id, .stream = s.id,
			.grid = { d->grid[0], d->grid[1], d->grid[2] },
			.block = { d->block[0], d->block[1], d->block[2] },
			.shared_mem = d->shmem, .param_size = (uint32_t)size, .num_attrs = d->nattrs,
		};

		r = vgpu_call(VGPU_OP_LAUNCH_KERNEL_EX, 0, vgpu_ctx_wire(s.ctx), &a, sizeof(a), buf,
			      head + size, NULL);
	} else {
		struct vgpu_launch_args a = {
			.func = f->o.id, .stream = s.id,
			.grid = { d->grid[0], d->grid[1], d->grid[2] },
			.block = { d->block[0], d->block[1], d->block[2] },
			.shared_mem = d->shmem, .param_size = (uint32_t)size,
		};

		r = vgpu_call(VGPU_OP_LAUNCH_KERNEL, 0, vgpu_ctx_wire(s.ctx), &a, sizeof(a), buf,
			      size, NULL);
	}
out:
	if (buf != stack_buf)
		free(buf);
	return r;
}

#define DESC(gx, gy, gz, bx, by, bz, sh, st, pt)                                           \
	(struct launch_desc){ .grid = { gx, gy, gz }, .block = { bx, by, bz }, .shmem = sh, \
			      .stream = st, .per_thread = pt }

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
				unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
				unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
				void **kernelParams, void **extra)
{
	struct launch_desc d = DESC(gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
				    sharedMemBytes, hStream, false);

	return launch(f, &d, kernelParams, extra);
}

CUresult CUDAAPI cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
				     unsigned int gridDimZ, unsigned int blockDimX,
				     unsigned int blockDimY, unsigned int blockDimZ,
				     unsigned int sharedMemBytes, CUstream hStream, void **kernelParams,
				     void **extra)
{
	struct launch_desc d = DESC(gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
				    sharedMemBytes, hStream, true);

	return launch(f, &d, kernelParams, extra);
}

static CUresult launch_ex(const CUlaunchConfig *c, CUfunction f, void **params, void **extra,
			  bool per_thread)
{
	struct launch_desc d;

	if (!c)
		return CUDA_ERROR_INVALID_VALUE;
	d = DESC(c->gridDimX, c->gridDimY, c->gridDimZ, c->blockDimX, c->blockDimY, c->blockDimZ,
		 c->sharedMemBytes, c->hStream, per_thread);
	d.ex = true;
	d.attrs = c->attrs;
	d.nattrs = c->numAttrs;
	if (d.nattrs && !d.attrs)
		return CUDA_ERROR_INVALID_VALUE;
	return launch(f, &d, params, extra);
}

CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
				  void **extra)
{
	return launch_ex(config, f, kernelParams, extra, false);
}

CUresult CUDAAPI cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f,
				       void **kernelParams, void **extra)
{
	return launch_ex(config, f, kernelParams, extra, true);
}

/* A cooperative launch is an extended one with the COOPERATIVE attribute (cuda.h). */
static CUresult launch_cooperative(CUfunction f, unsigned int gx, unsigned int gy,
				   unsigned int gz, unsigned int bx, unsigned int by,
				   unsigned int bz, unsigned int shmem, CUstream st, void **params,
				   bool per_thread)
{
	CUlaunchAttribute coop = { .id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE,
				   .value.cooperative = 1 };
	struct launch_desc d = DESC(gx, gy, gz, bx, by, bz, shmem, st, per_thread);

	d.ex = true;
	d.attrs = &coop;
	d.nattrs = 1;
	return launch(f, &d, params, NULL);
}

CUresult CUDAAPI cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX,
					   unsigned int gridDimY, unsigned int gridDimZ,
					   unsigned int blockDimX, unsigned int blockDimY,
					   unsigned int blockDimZ, unsigned int sharedMemBytes,
					   CUstream hStream, void **kernelParams)
{
	return launch_cooperative(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY,
				  blockDimZ, sharedMemBytes, hStream, kernelParams, false);
}

CUresult CUDAAPI cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX,
						unsigned int gridDimY, unsigned int gridDimZ,
						unsigned int blockDimX, unsigned int blockDimY,
						unsigned int blockDimZ, unsigned int sharedMemBytes,
						CUstream hStream, void **kernelParams)
{
	return launch_cooperative(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY,
				  blockDimZ, sharedMemBytes, hStream, kernelParams, true);
}
