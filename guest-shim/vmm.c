// SPDX-License-Identifier: MIT
/*
 * Virtual memory management, forwarded: cuMemAddressReserve/Free,
 * cuMemCreate/Release, cuMemMap/Unmap, cuMemSetAccess/GetAccess,
 * cuMemRetainAllocationHandle, cuMemGetAllocationPropertiesFromHandle and
 * cuMemGetAllocationGranularity (asked once per device and option).
 *
 * Addresses are the host's real ones; a CUmemGenericAllocationHandle is
 * the session's id for the allocation (the executor checks it, and every
 * address, against what this session made).  Mapped ranges are noted as
 * device memory, so cuMemcpy, pointer attributes and cuMemGetAddressRange
 * know them as they know cuMemAlloc's.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "context.h"
#include "memory.h"
#include "shim.h"
#include "state.h"

/* What the shim remembers of its allocations and mappings, to note ranges. */
struct handle_rec {
	uint64_t id;
	CUdevice dev;
};

struct map_rec {
	CUdeviceptr base;
	size_t size;
};

static struct {
	pthread_mutex_t lock;
	uint64_t granularity[VGPU_MAX_DEVICES][2];
	struct handle_rec *h;
	size_t nh, caph;
	struct map_rec *m;
	size_t nm, capm;
} vmm = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The context a call runs in: the current one, or none (VMM calls need none). */
static uint32_t wire_ctx(void)
{
	struct vgpu_ctx *c = vgpu_current();

	return c ? vgpu_ctx_wire(c) : 0;
}

static CUresult prop_wire(const CUmemAllocationProp *p, struct vgpu_vmm_prop *w)
{
	static const unsigned char zero[sizeof(p->allocFlags.reserved)];

	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	/* A host pointer of the guest's means nothing to the host; it must be NULL (not Windows). */
	if (p->win32HandleMetaData || memcmp(p->allocFlags.reserved, zero, sizeof(zero)))
		return CUDA_ERROR_INVALID_VALUE;
	*w = (struct vgpu_vmm_prop){
		.type = p->type,
		.handle_types = p->requestedHandleTypes,
		.loc_type = p->location.type,
		.loc_id = p->location.id,
		.compression = p->allocFlags.compressionType,
		.rdma = p->allocFlags.gpuDirectRDMACapable,
		.usage = p->allocFlags.usage,
	};
	return CUDA_SUCCESS;
}

/* Properties whose granularity is the device's plain one (and so may be cached). */
static bool plain_prop(const struct vgpu_vmm_prop *w)
{
	return w->type == CU_MEM_ALLOCATION_TYPE_PINNED && w->handle_types == 0 &&
	       w->loc_type == CU_MEM_LOCATION_TYPE_DEVICE && vgpu_valid_device(w->loc_id) &&
	       w->compression == 0 && w->usage == 0;
}

CUresult CUDAAPI cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
					       CUmemAllocationGranularity_flags option)
{
	struct vgpu_vmm_granularity_args a = { .option = option };
	struct vgpu_answer ans = { 0 };
	uint64_t g = 0;
	bool plain;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!granularity || (r = prop_wire(prop, &a.prop)) != CUDA_SUCCESS)
		return CUDA_ERROR_INVALID_VALUE;
	if (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM && option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED)
		return CUDA_ERROR_INVALID_VALUE;
	plain = plain_prop(&a.prop);
	if (plain) {
		pthread_mutex_lock(&vmm.lock);
		g = vmm.granularity[a.prop.loc_id][option];
		pthread_mutex_unlock(&vmm.lock);
	}
	if (!g) {
		r = vgpu_call_sync(VGPU_OP_VMM_GRANULARITY, wire_ctx(), &a, sizeof(a), &ans);
		if (r != CUDA_SUCCESS)
			return r;
		memcpy(&g, ans.data, sizeof(g));
		if (plain) {
			pthread_mutex_lock(&vmm.lock);
			vmm.granularity[a.prop.loc_id][option] = g;
			pthread_mutex_unlock(&vmm.lock);
		}
	}
	*granularity = (size_t)g;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment,
				     CUdeviceptr addr, unsigned long long flags)
{
	struct vgpu_vmm_reserve_args a = { .size = size, .alignment = alignment, .addr = addr,
					   .flags = flags };
	struct vgpu_answer ans = { 0 };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!ptr)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_call_sync(VGPU_OP_VMM_RESERVE, wire_ctx(), &a, sizeof(a), &ans);
	if (r == CUDA_SUCCESS)
		memcpy(ptr, ans.data, sizeof(*ptr));
	return r;
}

CUresult CUDAAPI cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	struct vgpu_vmm_range_args a = { .ptr = ptr, .size = size };
	CUresult r = vgpu_ready();

	return r ? r : vgpu_call_sync(VGPU_OP_VMM_ADDRESS_FREE, wire_ctx(), &a, sizeof(a), NULL);
}

/* Remember which device an allocation id is on (for the ranges it gets mapped at). */
static void note_handle(uint64_t id, CUdevice dev)
{
	pthread_mutex_lock(&vmm.lock);
	for (size_t i = 0; i < vmm.nh; i++) {
		if (vmm.h[i].id == id) {
			pthread_mutex_unlock(&vmm.lock);
			return;
		}
	}
	if (vmm.nh == vmm.caph) {
		size_t cap = vmm.caph ? vmm.caph * 2 : 32;
		struct handle_rec *v = realloc(vmm.h, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&vmm.lock);
			return;	/* its ranges will be noted on device 0 */
		}
		vmm.h = v;
		vmm.caph = cap;
	}
	vmm.h[vmm.nh++] = (struct handle_rec){ id, dev };
	pthread_mutex_unlock(&vmm.lock);
}

static CUdevice handle_dev(uint64_t id)
{
	CUdevice dev = 0;

	pthread_mutex_lock(&vmm.lock);
	for (size_t i = 0; i < vmm.nh; i++)
		if (vmm.h[i].id == id)
			dev = vmm.h[i].dev;
	pthread_mutex_unlock(&vmm.lock);
	return vgpu_valid_device(dev) ? dev : 0;
}

CUresult CUDAAPI cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
			     const CUmemAllocationProp *prop, unsigned long long flags)
{
	struct vgpu_vmm_create_args a = { .id = vgpu_new_id(), .size = size, .flags = flags };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!handle || (r = prop_wire(prop, &a.prop)) != CUDA_SUCCESS)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_call_sync(VGPU_OP_VMM_CREATE, wire_ctx(), &a, sizeof(a), NULL);
	if (r != CUDA_SUCCESS)
		return r;
	note_handle(a.id, a.prop.loc_id);
	*handle = a.id;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemRelease(CUmemGenericAllocationHandle handle)
{
	struct vgpu_vmm_handle_args a = { .id = handle };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	r = vgpu_call_sync(VGPU_OP_VMM_RELEASE, wire_ctx(), &a, sizeof(a), NULL);
	if (r != CUDA_SUCCESS)
		return r;
	/*
	 * Forgotten here so the list stays as long as the live handles (its
	 * mappings were noted already; a handle retained later maps on device 0
	 * as far as the notes go, which only pointer attributes read).
	 */
	pthread_mutex_lock(&vmm.lock);
	for (size_t i = 0; i < vmm.nh; i++) {
		if (vmm.h[i].id == handle) {
			vmm.h[i] = vmm.h[--vmm.nh];
			break;
		}
	}
	pthread_mutex_unlock(&vmm.lock);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop,
							CUmemGenericAllocationHandle handle)
{
	struct vgpu_vmm_handle_args a = { .id = handle };
	struct vgpu_answer ans = { 0 };
	struct vgpu_vmm_prop w;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!prop)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_call_sync(VGPU_OP_VMM_GET_PROP, wire_ctx(), &a, sizeof(a), &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&w, ans.data, sizeof(w));
	memset(prop, 0, sizeof(*prop));
	prop->type = (CUmemAllocationType)w.type;
	prop->requestedHandleTypes = (CUmemAllocationHandleType)w.handle_types;
	prop->location.type = (CUmemLocationType)w.loc_type;
	prop->location.id = w.loc_id;
	prop->allocFlags.compressionType = w.compression;
	prop->allocFlags.gpuDirectRDMACapable = w.rdma;
	prop->allocFlags.usage = w.usage;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
			  CUmemGenericAllocationHandle handle, unsigned long long flags)
{
	struct vgpu_vmm_map_args a = { .ptr = ptr, .size = size, .offset = offset, .id = handle,
				       .flags = flags };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	r = vgpu_call_sync(VGPU_OP_VMM_MAP, wire_ctx(), &a, sizeof(a), NULL);
	if (r != CUDA_SUCCESS)
		return r;
	pthread_mutex_lock(&vmm.lock);
	if (vmm.nm == vmm.capm) {
		size_t cap = vmm.capm ? vmm.capm * 2 : 32;
		struct map_rec *v = realloc(vmm.m, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&vmm.lock);
			/* Unnoted, the range could not be forgotten later: undo the mapping. */
			struct vgpu_vmm_range_args u = { .ptr = ptr, .size = size };

			vgpu_call_sync(VGPU_OP_VMM_UNMAP, wire_ctx(), &u, sizeof(u), NULL);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		vmm.m = v;
		vmm.capm = cap;
	}
	vmm.m[vmm.nm++] = (struct map_rec){ ptr, size };
	pthread_mutex_unlock(&vmm.lock);
	vgpu_alloc_note_global(ptr, size, &vgpu_state.primary[handle_dev(handle)]);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	struct vgpu_vmm_range_args a = { .ptr = ptr, .size = size };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	r = vgpu_call_sync(VGPU_OP_VMM_UNMAP, wire_ctx(), &a, sizeof(a), NULL);
	if (r != CUDA_SUCCESS)
		return r;
	/* Every mapping inside the range went (the executor checked none was cut). */
	pthread_mutex_lock(&vmm.lock);
	for (size_t i = 0; i < vmm.nm;) {
		if (vmm.m[i].base >= ptr && vmm.m[i].base - ptr < size) {
			vgpu_alloc_forget_global(vmm.m[i].base);
			vmm.m[i] = vmm.m[--vmm.nm];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&vmm.lock);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc,
				size_t count)
{
	struct vgpu_vmm_set_access_args a = { .ptr = ptr, .size = size, .count = (uint32_t)count };
	struct vgpu_vmm_access w[VGPU_VMM_MAX_ACCESS];
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!desc || count == 0 || count > VGPU_VMM_MAX_ACCESS)
		return CUDA_ERROR_INVALID_VALUE;
	for (size_t i = 0; i < count; i++)
		w[i] = (struct vgpu_vmm_access){ desc[i].location.type, desc[i].location.id,
						 desc[i].flags, 0 };
	return vgpu_call(VGPU_OP_VMM_SET_ACCESS, VGPU_CMD_F_REPLY, wire_ctx(), &a, sizeof(a), w,
			 count * sizeof(w[0]), NULL);
}

CUresult CUDAAPI cuMemGetAccess(unsigned long long *flags, const CUmemLocation *location,
				CUdeviceptr ptr)
{
	struct vgpu_vmm_get_access_args a = { .ptr = ptr };
	struct vgpu_answer ans = { 0 };
	uint64_t f;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!flags || !location)
		return CUDA_ERROR_INVALID_VALUE;
	a.loc_type = location->type;
	a.loc_id = location->id;
	r = vgpu_call_sync(VGPU_OP_VMM_GET_ACCESS, wire_ctx(), &a, sizeof(a), &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&f, ans.data, sizeof(f));
	*flags = f;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr)
{
	struct vgpu_vmm_retain_args a = { .ptr = (uint64_t)(uintptr_t)addr };
	struct vgpu_answer ans = { 0 };
	uint64_t id;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!handle)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_call_sync(VGPU_OP_VMM_RETAIN, wire_ctx(), &a, sizeof(a), &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&id, ans.data, sizeof(id));
	*handle = id;
	return CUDA_SUCCESS;
}
