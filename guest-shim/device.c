// SPDX-License-Identifier: MIT
/*
 * Device queries, answered in the guest from what cuInit fetched: they
 * never change, and cudart and frameworks ask them often.
 */
#include <stdio.h>
#include <string.h>

#include "shim.h"
#include "state.h"

/*
 * Capabilities the device has but the shim does not offer yet.  Reporting
 * them would make programs take paths that then fail; reporting 0 sends
 * them down the paths that work (ggml, for one, falls back to cudaMalloc
 * pools when VMM reads 0).  Virtual memory management and memory pools are
 * offered (vmm.c, mempool.c) and read the host's values; the shareable
 * handle types they could export are not.
 */
static const CUdevice_attribute not_offered[] = {
	CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY,
	CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY,
	CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS,
	CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS,
	CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES,
	CU_DEVICE_ATTRIBUTE_DIRECT_MANAGED_MEM_ACCESS_FROM_HOST,
	CU_DEVICE_ATTRIBUTE_HOST_NATIVE_ATOMIC_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM,
	CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_WIN32_HANDLE_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_WIN32_KMT_HANDLE_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_FABRIC_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES,
	CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_FLUSH_WRITES_OPTIONS,
	CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WRITES_ORDERING,
	CU_DEVICE_ATTRIBUTE_TIMELINE_SEMAPHORE_INTEROP_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_SPARSE_CUDA_ARRAY_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_DEFERRED_MAPPING_CUDA_ARRAY_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_COOPERATIVE_MULTI_DEVICE_LAUNCH,
	CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_HOST_NUMA_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_HOST_NUMA_MEMORY_POOLS_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_HOST_MEMORY_POOLS_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_HOST_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED,
	CU_DEVICE_ATTRIBUTE_HOST_ALLOC_DMA_BUF_SUPPORTED,
};

/* Called by cuInit for each device it fetched. */
void vgpu_device_mask_unoffered(struct vgpu_device_info *info)
{
	for (size_t i = 0; i < sizeof(not_offered) / sizeof(not_offered[0]); i++)
		if ((int)not_offered[i] < VGPU_DEVICE_ATTRS)
			info->attrs[not_offered[i]] = 0;
}

int vgpu_device_count(void)
{
	return vgpu_initialized() ? vgpu_state.device_count : 0;
}

const struct vgpu_device_info *vgpu_device_info(CUdevice dev)
{
	return vgpu_initialized() && vgpu_valid_device(dev) ? &vgpu_state.devices[dev] : NULL;
}

/* The common prologue: initialised, and @dev a device. */
static CUresult check_dev(CUdevice dev)
{
	if (!vgpu_initialized())
		return vgpu_ready();
	return vgpu_valid_device(dev) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

CUresult CUDAAPI cuDeviceGetCount(int *count)
{
	if (!count)
		return CUDA_ERROR_INVALID_VALUE;
	if (!vgpu_initialized())
		return vgpu_ready();
	*count = vgpu_state.device_count;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice *device, int ordinal)
{
	CUresult r;

	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	r = check_dev(ordinal);
	if (r == CUDA_SUCCESS)
		*device = ordinal;
	return r;
}

CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice dev)
{
	CUresult r = check_dev(dev);

	if (r != CUDA_SUCCESS)
		return r;
	if (!name || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	snprintf(name, (size_t)len, "%s", vgpu_state.devices[dev].name);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
	CUresult r = check_dev(dev);

	if (r != CUDA_SUCCESS)
		return r;
	if (!uuid)
		return CUDA_ERROR_INVALID_VALUE;
	memcpy(uuid->bytes, vgpu_state.devices[dev].uuid, sizeof(uuid->bytes));
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
	return cuDeviceGetUuid_v2(uuid, dev);
}

CUresult CUDAAPI cuDeviceGetLuid(char *luid, unsigned int *deviceNodeMask, CUdevice dev)
{
	CUresult r = check_dev(dev);

	if (r != CUDA_SUCCESS)
		return r;
	if (!luid || !deviceNodeMask)
		return CUDA_ERROR_INVALID_VALUE;
	/* Whatever the host's driver answered (LUIDs are a Windows notion). */
	if (vgpu_state.devices[dev].luid_status != CUDA_SUCCESS)
		return (CUresult)vgpu_state.devices[dev].luid_status;
	memcpy(luid, vgpu_state.devices[dev].luid, sizeof(vgpu_state.devices[dev].luid));
	*deviceNodeMask = vgpu_state.devices[dev].luid_device_mask;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	CUresult r = check_dev(dev);

	if (r != CUDA_SUCCESS)
		return r;
	if (!bytes)
		return CUDA_ERROR_INVALID_VALUE;
	*bytes = vgpu_state.devices[dev].total_mem;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem(unsigned int *bytes, CUdevice dev)
{
	size_t b;
	CUresult r = cuDeviceTotalMem_v2(&b, dev);

	if (r == CUDA_SUCCESS)
		*bytes = b > 0xffffffffu ? 0xffffffffu : (unsigned int)b;
	return r;
}

CUresult CUDAAPI cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
	const struct vgpu_device_info *d;
	CUresult r = check_dev(dev);

	if (r != CUDA_SUCCESS)
		return r;
	if (!pi)
		return CUDA_ERROR_INVALID_VALUE;
	d = &vgpu_state.devices[dev];
	if ((int)attrib <= 0 || (int)attrib >= VGPU_DEVICE_ATTRS ||
	    !(d->attr_valid[attrib / 32] & (1u << (attrib % 32))))
		return CUDA_ERROR_INVALID_VALUE;
	*pi = d->attrs[attrib];
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceComputeCapability(int *major, int *minor, CUdevice dev)
{
	CUresult r = check_dev(dev);

	if (r != CUDA_SUCCESS)
		return r;
	if (!major || !minor)
		return CUDA_ERROR_INVALID_VALUE;
	*major = vgpu_state.devices[dev].attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR];
	*minor = vgpu_state.devices[dev].attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR];
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
	CUresult r = check_dev(dev);

	if (r != CUDA_SUCCESS)
		return r;
	if (!pciBusId || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	snprintf(pciBusId, (size_t)len, "%s", vgpu_state.devices[dev].pci_bus_id);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId)
{
	unsigned int dom = 0, bus, slot, want_dom = 0, want_bus, want_slot;

	if (!dev || !pciBusId)
		return CUDA_ERROR_INVALID_VALUE;
	if (!vgpu_initialized())
		return vgpu_ready();
	/* "domain:bus:device.function" or "bus:device.function", hexadecimal. */
	if (sscanf(pciBusId, "%x:%x:%x", &want_dom, &want_bus, &want_slot) != 3) {
		want_dom = 0;
		if (sscanf(pciBusId, "%x:%x", &want_bus, &want_slot) != 2)
			return CUDA_ERROR_INVALID_VALUE;
	}
	for (int i = 0; i < vgpu_state.device_count; i++) {
		const char *id = vgpu_state.devices[i].pci_bus_id;

		if (sscanf(id, "%x:%x:%x", &dom, &bus, &slot) == 3 && dom == want_dom &&
		    bus == want_bus && slot == want_slot) {
			*dev = i;
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_INVALID_DEVICE;
}
