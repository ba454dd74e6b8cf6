// SPDX-License-Identifier: MIT
/*
 * Extended launches (cuLaunchKernelEx, cuLaunchCooperativeKernel) and the
 * occupancy questions that depend on a launch configuration (cluster size,
 * active clusters): the guest cannot answer those itself, as they depend
 * on how the driver places clusters on this GPU.
 */
#include <string.h>

#include "dispatch.h"
#include "launch_attrs.h"

/*
 * The attributes after a fixed struct of @fixed bytes, decoded; *@end gets
 * the offset of what follows them.
 */
static CUresult attrs_after(struct vgpu_session *s, const struct vgpu_call *c, size_t fixed,
			    uint32_t n, bool for_launch, CUlaunchAttribute *attrs,
			    unsigned int *nattrs, size_t *end)
{
	const uint8_t *wire;

	if (n > VGPU_MAX_LAUNCH_ATTRS)
		return vgpu_launch_attrs_decode(s, NULL, n, for_launch, attrs, nattrs);
	wire = vgpu_trailing(c, fixed, (uint64_t)n * sizeof(struct vgpu_launch_attr));
	if (!wire)
		return CUDA_ERROR_INVALID_VALUE;
	*end = fixed + (size_t)n * sizeof(struct vgpu_launch_attr);
	return vgpu_launch_attrs_decode(s, wire, n, for_launch, attrs, nattrs);
}

CUresult vgpu_exec_launch_kernel_ex(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_launch_ex_args *a = (const void *)c->args;
	CUlaunchAttribute attrs[VGPU_MAX_LAUNCH_ATTRS];
	unsigned int nattrs = 0;
	size_t end = 0, size = a->param_size;
	const uint8_t *params;
	struct vgpu_idmap_entry *f;
	struct vgpu_xstream *xs;
	CUresult r;

	/* Attributes first: a bad one is the guest's fault whatever the function. */
	r = attrs_after(s, c, sizeof(*a), a->num_attrs, true, attrs, &nattrs, &end);
	if (r != CUDA_SUCCESS)
		return r;
	params = vgpu_trailing(c, end, a->param_size);
	if (!params || a->param_size > VGPU_MAX_PARAM_BYTES)
		return CUDA_ERROR_INVALID_VALUE;
	f = vgpu_obj(s, a->func, VGPU_OBJ_FUNCTION);
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	xs = vgpu_stream(s, c, a->stream);
	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	{
		void *extra[] = {
			CU_LAUNCH_PARAM_BUFFER_POINTER, (void *)params,
			CU_LAUNCH_PARAM_BUFFER_SIZE, &size,
			CU_LAUNCH_PARAM_END,
		};
		CUlaunchConfig cfg = {
			.gridDimX = a->grid[0], .gridDimY = a->grid[1], .gridDimZ = a->grid[2],
			.blockDimX = a->block[0], .blockDimY = a->block[1], .blockDimZ = a->block[2],
			.sharedMemBytes = a->shared_mem,
			.hStream = xs->h,
			.attrs = nattrs ? attrs : NULL,
			.numAttrs = nattrs,
		};

		/* The driver copies the parameter buffer at launch: the record may be reused. */
		return s->drv.LaunchKernelEx(&cfg, f->obj, NULL, a->param_size ? extra : NULL);
	}
}

CUresult vgpu_exec_occupancy_cluster(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_occupancy_cluster_args *a = (const void *)c->args;
	CUlaunchAttribute attrs[VGPU_MAX_LAUNCH_ATTRS];
	unsigned int nattrs = 0;
	struct vgpu_idmap_entry *f;
	struct vgpu_xstream *xs;
	size_t end = 0;
	int32_t v = 0;
	int out = 0;
	CUresult r;

	r = attrs_after(s, c, sizeof(*a), a->num_attrs, false, attrs, &nattrs, &end);
	if (r != CUDA_SUCCESS)
		return r;
	if (a->query != VGPU_OCC_CLUSTER_SIZE && a->query != VGPU_OCC_ACTIVE_CLUSTERS)
		return CUDA_ERROR_INVALID_VALUE;
	f = vgpu_obj(s, a->func, VGPU_OBJ_FUNCTION);
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	xs = vgpu_stream(s, c, a->stream);
	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	{
		CUlaunchConfig cfg = {
			.gridDimX = a->grid[0], .gridDimY = a->grid[1], .gridDimZ = a->grid[2],
			.blockDimX = a->block[0], .blockDimY = a->block[1], .blockDimZ = a->block[2],
			.sharedMemBytes = a->shared_mem,
			.hStream = xs->h,
			.attrs = nattrs ? attrs : NULL,
			.numAttrs = nattrs,
		};

		r = a->query == VGPU_OCC_CLUSTER_SIZE
			    ? s->drv.OccupancyMaxPotentialClusterSize(&out, f->obj, &cfg)
			    : s->drv.OccupancyMaxActiveClusters(&out, f->obj, &cfg);
	}
	v = out;
	vgpu_answer(c, &v, sizeof(v));
	return r;
}
