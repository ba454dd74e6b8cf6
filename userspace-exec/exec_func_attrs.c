// SPDX-License-Identifier: MIT
/*
 * Function and kernel attributes in bulk, and their cache configuration.
 * The guest asks for every attribute once per function and answers
 * cuFuncGetAttribute and the occupancy calculator from that copy; only
 * changes travel afterwards.  With them comes one occupancy answer of the
 * driver's (struct vgpu_func_attrs.probe_blocks).
 */
#include <string.h>

#include "dispatch.h"

CUresult vgpu_exec_func_get_attributes(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_func_attrs_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *f = vgpu_obj(s, a->func, VGPU_OBJ_FUNCTION);
	uint8_t *out = vgpu_bulk(s, &a->out);
	struct vgpu_func_attrs at;
	CUresult first = CUDA_SUCCESS;

	if (!out || a->out.len < sizeof(at))
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	memset(&at, 0, sizeof(at));
	for (int i = 0; i < CU_FUNC_ATTRIBUTE_MAX && i < VGPU_FUNC_ATTRS; i++) {
		int v = 0;
		CUresult r = f->type == VGPU_OBJ_KERNEL
				     ? s->drv.KernelGetAttribute(&v, (CUfunction_attribute)i, f->obj,
								 a->device)
				     : s->drv.FuncGetAttribute(&v, (CUfunction_attribute)i, f->obj);

		if (r == CUDA_SUCCESS) {
			at.value[i] = v;
			at.valid |= 1u << i;
		} else if (r != CUDA_ERROR_INVALID_VALUE && first == CUDA_SUCCESS) {
			/* INVALID_VALUE: this driver lacks that attribute; anything else is the call's. */
			first = r;
		}
	}
	if (first != CUDA_SUCCESS)
		return first;
	{
		int n = -1;

		/* One warp: the guest learns from it the limits attributes do not show. */
		if (s->drv.OccupancyMaxActiveBlocksPerMultiprocessor(&n, f->obj, 32 /* warp */, 0) !=
		    CUDA_SUCCESS)
			n = -1;
		at.probe_blocks = n;
	}
	memcpy(out, &at, sizeof(at));
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_func_set_cache_config(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_func_config_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *f = vgpu_obj(s, a->func, VGPU_OBJ_FUNCTION);

	if (a->config > CU_FUNC_CACHE_PREFER_EQUAL)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	return f->type == VGPU_OBJ_KERNEL
		       ? s->drv.KernelSetCacheConfig(f->obj, (CUfunc_cache)a->config, a->device)
		       : s->drv.FuncSetCacheConfig(f->obj, (CUfunc_cache)a->config);
}

CUresult vgpu_exec_func_set_shared_config(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_func_config_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *f = vgpu_obj(s, a->func, VGPU_OBJ_FUNCTION);

	if (a->config > CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	/* No per-kernel form exists: the driver judges a CUkernel here as it would natively. */
	return s->drv.FuncSetSharedMemConfig(f->obj, (CUsharedconfig)a->config);
}
