// SPDX-License-Identifier: MIT
/*
 * cuGetProcAddress: how cudart 13, PyTorch and cuBLASLt find every other
 * driver function.  An API name has one table row per ABI it has had; the
 * caller's cudaVersion (the CUDA version it was built against) picks the
 * newest row not newer than that, so a caller built for 11.3 gets the
 * 6-argument cuStreamGetCaptureInfo_v2 and one built for 12.3 the
 * 7-argument _v3.  Only entry points of the table (all exported symbols)
 * are ever handed out.
 *
 * Nothing here needs cuInit: cudart resolves every function before it calls
 * cuInit, and does so through these very calls.
 */
#include <string.h>

#include "procaddr.h"
#include "shim.h"

/* Index of the first row of @api in the table, or vgpu_procaddr_count. */
static size_t first_row(const char *api)
{
	size_t lo = 0, hi = vgpu_procaddr_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(vgpu_procaddr_table[mid].api, api) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < vgpu_procaddr_count && !strcmp(vgpu_procaddr_table[lo].api, api))
		return lo;
	return vgpu_procaddr_count;
}

/*
 * The newest row among rows [@row, @end) (those of one API) of variant
 * @per_thread whose version is at most @version, or NULL.  Rows of a variant
 * are in ascending version order, so the last match is the newest.
 */
static const struct vgpu_procaddr_entry *newest(size_t row, size_t end,
						bool per_thread, int version)
{
	const struct vgpu_procaddr_entry *best = NULL;

	for (; row < end; row++) {
		const struct vgpu_procaddr_entry *e = &vgpu_procaddr_table[row];

		if (e->per_thread == per_thread && e->version <= version)
			best = e;
	}
	return best;
}

static CUresult lookup(const char *symbol, void **pfn, int version,
		       cuuint64_t flags, CUdriverProcAddressQueryResult *status)
{
	const struct vgpu_procaddr_entry *e = NULL;
	size_t row, end;
	bool per_thread;

	if (pfn)
		*pfn = NULL;
	if (!symbol || !pfn) {
		if (status)
			*status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
		return CUDA_ERROR_INVALID_VALUE;
	}

	/* The empty name cudart probes with is simply unknown: never 34 (stub). */
	row = first_row(symbol);
	if (row == vgpu_procaddr_count) {
		if (status)
			*status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
		return CUDA_ERROR_NOT_FOUND;
	}
	for (end = row; end < vgpu_procaddr_count &&
	     !strcmp(vgpu_procaddr_table[end].api, symbol); end++)
		;

	/*
	 * PER_THREAD_DEFAULT_STREAM asks for the _ptds/_ptsz variant; an API
	 * without one (or without one old enough) has only the default one.
	 * DEFAULT (0) and LEGACY_STREAM mean the default variant, and so does
	 * asking for both (contradictory; the driver's answer is unknown).
	 * Other flag bits are ignored.
	 */
	per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) &&
		     !(flags & CU_GET_PROC_ADDRESS_LEGACY_STREAM);
	if (per_thread)
		e = newest(row, end, true, version);
	if (!e)
		e = newest(row, end, false, version);
	if (!e) {
		if (status)
			*status = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
		return CUDA_ERROR_NOT_FOUND;
	}

	*pfn = (void *)e->fn;
	if (status)
		*status = CU_GET_PROC_ADDRESS_SUCCESS;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetProcAddress_v2(const char *symbol, void **pfn,
				     int cudaVersion, cuuint64_t flags,
				     CUdriverProcAddressQueryResult *symbolStatus)
{
	return lookup(symbol, pfn, cudaVersion, flags, symbolStatus);
}

/* The CUDA 11.3 form, without the status. */
CUresult CUDAAPI cuGetProcAddress(const char *symbol, void **pfn,
				  int cudaVersion, cuuint64_t flags)
{
	return lookup(symbol, pfn, cudaVersion, flags, NULL);
}
