/* SPDX-License-Identifier: MIT */
/* The shim's process-wide state, filled by cuInit. */
#ifndef VGPU_STATE_H
#define VGPU_STATE_H

#include "objects.h"
#include "vgpu/calls.h"

#define VGPU_MAX_DEVICES	16

struct vgpu_state {
	int driver_version;
	int device_count;
	uint64_t mem_quota;
	struct vgpu_device_info devices[VGPU_MAX_DEVICES];
	struct vgpu_ctx primary[VGPU_MAX_DEVICES];	/* each device's primary context */
};

extern struct vgpu_state vgpu_state;

/* Zero the attributes of capabilities the shim does not offer yet (device.c). */
void vgpu_device_mask_unoffered(struct vgpu_device_info *info);

/* CUDA_SUCCESS when calls may go to the executor, else the error to return. */
CUresult vgpu_ready(void);

/* A device ordinal within range. */
static inline bool vgpu_valid_device(CUdevice d)
{
	return d >= 0 && d < vgpu_state.device_count;
}

#endif /* VGPU_STATE_H */
