// SPDX-License-Identifier: MIT
/* cuGetErrorName and cuGetErrorString, answered in the guest. */
#include "errors.h"
#include "shim.h"

static const struct vgpu_error_entry *find(CUresult e)
{
	size_t lo = 0, hi = vgpu_error_count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (vgpu_error_table[mid].value == (int)e)
			return &vgpu_error_table[mid];
		if (vgpu_error_table[mid].value < (int)e)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

CUresult CUDAAPI cuGetErrorName(CUresult error, const char **pStr)
{
	const struct vgpu_error_entry *e = find(error);

	if (!pStr)
		return CUDA_ERROR_INVALID_VALUE;
	*pStr = e ? e->name : NULL;
	return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuGetErrorString(CUresult error, const char **pStr)
{
	const struct vgpu_error_entry *e = find(error);

	if (!pStr)
		return CUDA_ERROR_INVALID_VALUE;
	*pStr = e ? e->description : NULL;
	return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
