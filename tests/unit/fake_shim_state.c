// SPDX-License-Identifier: MIT
/*
 * Stands in for the transport-backed shim state (see fake_shim_state.h):
 * the functions of shim.h, answering from variables.
 */
#include <string.h>

#include "fake_shim_state.h"

bool fake_initialized;
int fake_driver_version;
int fake_device_count;
int fake_device_infos;
struct vgpu_device_info fake_devices[FAKE_MAX_DEVICES];
int fake_unsupported_calls;

static _Thread_local CUcontext fake_current;
/* Something to point primary context handles at. */
static char fake_primary[FAKE_MAX_DEVICES];

void fake_shim_reset(void)
{
	static const uint8_t uuid[16] = {
		0x9a, 0xfe, 0x2b, 0x8a, 0xac, 0x25, 0x2d, 0x38,
		0xea, 0x37, 0xae, 0xc5, 0x6d, 0x71, 0x32, 0x5f,
	};
	struct vgpu_device_info *d = &fake_devices[0];

	fake_initialized = true;
	fake_driver_version = 13000;
	fake_device_count = 1;
	fake_device_infos = 1;
	memset(fake_devices, 0, sizeof(fake_devices));
	strcpy(d->name, "Fake H100");
	memcpy(d->uuid, uuid, sizeof(uuid));
	d->attrs[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID] = 0;
	d->attrs[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID] = 2;
	d->attrs[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID] = 0;
}

void fake_set_current_ctx(CUcontext ctx)
{
	fake_current = ctx;
}

CUcontext fake_primary_ctx(CUdevice dev)
{
	return (CUcontext)(void *)&fake_primary[dev];
}

CUresult vgpu_unsupported(const char *name)
{
	__atomic_add_fetch(&fake_unsupported_calls, 1, __ATOMIC_RELAXED);
	return CUDA_ERROR_NOT_SUPPORTED;
}

bool vgpu_initialized(void)
{
	return fake_initialized;
}

int vgpu_driver_version(void)
{
	return fake_driver_version;
}

int vgpu_device_count(void)
{
	return fake_device_count;
}

const struct vgpu_device_info *vgpu_device_info(CUdevice dev)
{
	return dev >= 0 && dev < fake_device_infos ? &fake_devices[dev] : NULL;
}

CUresult vgpu_primary_ctx_get(CUdevice dev, CUcontext *out)
{
	if (dev < 0 || dev >= fake_device_count)
		return CUDA_ERROR_INVALID_DEVICE;
	*out = fake_primary_ctx(dev);
	return CUDA_SUCCESS;
}

CUcontext vgpu_ctx_current(void)
{
	return fake_current;
}
