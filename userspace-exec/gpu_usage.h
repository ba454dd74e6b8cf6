/* SPDX-License-Identifier: MIT */
/*
 * The driver's own accounting of device memory per process, behind a small
 * interface, so the memory quota is backed by what the driver sees (memory
 * taken by paths the executor does not know is counted too) and CI runs
 * without it.  The one source today is NVML's
 * nvmlDeviceGetComputeRunningProcesses, loaded at run time from the system
 * (never from the shim's folder); tests/gpu/quota-nvml.sh checks it on a
 * GPU host.
 */
#ifndef VGPU_GPU_USAGE_H
#define VGPU_GPU_USAGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vgpu_pid_usage {
	pid_t pid;
	uint64_t bytes;		/* device memory the driver accounts to it, over all GPUs */
};

struct vgpu_gpu_usage {
	const char *name;
	/* Up to @max processes that use a GPU; their number, or -1 on an error. */
	int (*sample)(struct vgpu_gpu_usage *u, struct vgpu_pid_usage *out, int max);
	void (*close)(struct vgpu_gpu_usage *u);
	void *priv;
};

/* NVML, if the system has it; NULL with the reason in @err otherwise. */
struct vgpu_gpu_usage *vgpu_gpu_usage_nvml(char *err, size_t err_len);

#endif /* VGPU_GPU_USAGE_H */
