// SPDX-License-Identifier: MIT
/*
 * NVML as the driver's per-process accounting (see gpu_usage.h).  The few
 * NVML types used are declared here: the toolkit does not ship nvml.h, and
 * only their stable, documented layouts are needed.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_usage.h"

typedef int nvml_return;
typedef struct nvml_device *nvml_device;

/* nvmlProcessInfo_t as nvmlDeviceGetComputeRunningProcesses_v3 fills it. */
struct nvml_process_info {
	unsigned int pid;
	unsigned long long used_gpu_memory;	/* ~0ull: not available */
	unsigned int gpu_instance_id;
	unsigned int compute_instance_id;
};

#define NVML_SUCCESS			0
#define NVML_ERROR_INSUFFICIENT_SIZE	7
#define NVML_MAX_PROCS			1024

struct nvml {
	void *h;
	nvml_return (*init)(void);
	nvml_return (*shutdown)(void);
	nvml_return (*count)(unsigned int *);
	nvml_return (*handle)(unsigned int, nvml_device *);
	nvml_return (*procs)(nvml_device, unsigned int *, struct nvml_process_info *);
	struct nvml_process_info buf[NVML_MAX_PROCS];
};

/* Where the driver's NVML lives; the loader's own search would find the shim's first. */
static const char *const nvml_paths[] = {
	"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
	"/usr/local/nvidia/lib64/libnvidia-ml.so.1",
	"/usr/lib64/libnvidia-ml.so.1",
	"/lib/libnvidia-ml.so.1",
	"/usr/lib/libnvidia-ml.so.1",
	"/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.1",
};

static int nvml_sample(struct vgpu_gpu_usage *u, struct vgpu_pid_usage *out, int max)
{
	struct nvml *n = u->priv;
	unsigned int devs = 0;
	int got = 0;

	if (n->count(&devs) != NVML_SUCCESS)
		return -1;
	for (unsigned int d = 0; d < devs; d++) {
		unsigned int cnt = NVML_MAX_PROCS;
		nvml_device dev;

		if (n->handle(d, &dev) != NVML_SUCCESS ||
		    n->procs(dev, &cnt, n->buf) != NVML_SUCCESS)
			return -1;
		for (unsigned int i = 0; i < cnt && i < NVML_MAX_PROCS; i++) {
			uint64_t b = n->buf[i].used_gpu_memory;
			int j;

			if (b == ~0ull)
				continue;
			/* One pid on several GPUs: one entry, the sum. */
			for (j = 0; j < got && out[j].pid != (pid_t)n->buf[i].pid; j++)
				;
			if (j == got) {
				if (got == max)
					continue;
				out[got].pid = (pid_t)n->buf[i].pid;
				out[got++].bytes = 0;
			}
			out[j].bytes += b;
		}
	}
	return got;
}

static void nvml_close(struct vgpu_gpu_usage *u)
{
	struct nvml *n = u->priv;

	n->shutdown();
	dlclose(n->h);
	free(n);
	free(u);
}

struct vgpu_gpu_usage *vgpu_gpu_usage_nvml(char *err, size_t err_len)
{
	struct vgpu_gpu_usage *u;
	struct nvml *n;
	void *h = NULL;

	for (size_t i = 0; i < sizeof(nvml_paths) / sizeof(nvml_paths[0]) && !h; i++)
		h = dlopen(nvml_paths[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, err_len, "no NVML library on this host");
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	n = calloc(1, sizeof(*n));
	if (!u || !n)
		goto fail;
	n->h = h;
	n->init = (nvml_return(*)(void))dlsym(h, "nvmlInit_v2");
	n->shutdown = (nvml_return(*)(void))dlsym(h, "nvmlShutdown");
	n->count = (nvml_return(*)(unsigned int *))dlsym(h, "nvmlDeviceGetCount_v2");
	n->handle = (nvml_return(*)(unsigned int, nvml_device *))dlsym(
		h, "nvmlDeviceGetHandleByIndex_v2");
	n->procs = (nvml_return(*)(nvml_device, unsigned int *, struct nvml_process_info *))dlsym(
		h, "nvmlDeviceGetComputeRunningProcesses_v3");
	if (!n->init || !n->shutdown || !n->count || !n->handle || !n->procs) {
		snprintf(err, err_len, "NVML lacks nvmlDeviceGetComputeRunningProcesses_v3");
		goto fail;
	}
	if (n->init() != NVML_SUCCESS) {
		snprintf(err, err_len, "nvmlInit failed");
		goto fail;
	}
	u->name = "nvml";
	u->sample = nvml_sample;
	u->close = nvml_close;
	u->priv = n;
	return u;
fail:
	free(u);
	free(n);
	dlclose(h);
	return NULL;
}
