// SPDX-License-Identifier: MIT
/*
 * Loading the real driver.  A worker inherits its environment from whoever
 * started the executor; if that put the shim's folder on LD_LIBRARY_PATH,
 * dlopen("libcuda.so.1") would find the shim and the worker would forward
 * calls to itself.  So a library that is the shim is refused, and the
 * well-known system locations are tried by full path.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "real_driver.h"

static const char *const system_paths[] = {
	"/usr/lib/x86_64-linux-gnu/libcuda.so.1",
	"/usr/local/nvidia/lib64/libcuda.so.1",
	"/usr/lib64/libcuda.so.1",
	"/lib/libcuda.so.1",
	"/usr/lib/libcuda.so.1",
	"/usr/lib/wsl/lib/libcuda.so.1",
};

/* The shim exports this; NVIDIA's driver does not. */
#define SHIM_MARKER "vgpu_shim_version"

static int try_load(struct vgpu_real_driver *d, const char *path, char *err, size_t err_len)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(err, err_len, "%s", dlerror());
		return -1;
	}
	if (dlsym(h, SHIM_MARKER)) {
		snprintf(err, err_len, "%s is the vgpu shim, not the NVIDIA driver", path);
		dlclose(h);
		return -1;
	}
#define VGPU_REAL_LOAD(m, sym, pfn)                                                         \
	d->m = (pfn)dlsym(h, sym);                                                          \
	if (!d->m) {                                                                        \
		snprintf(err, err_len, "%s lacks %s: not a CUDA 13 driver", path, sym);     \
		dlclose(h);                                                                 \
		return -1;                                                                  \
	}
	VGPU_REAL_DRIVER_FUNCS(VGPU_REAL_LOAD)
#undef VGPU_REAL_LOAD
	d->handle = h;
	snprintf(d->path, sizeof(d->path), "%s", path);
	return 0;
}

int vgpu_real_driver_load(struct vgpu_real_driver *d, char *err, size_t err_len)
{
	const char *env = getenv("VGPU_LIBCUDA");
	char first[512] = "";

	memset(d, 0, sizeof(*d));
	if (env && *env)
		return try_load(d, env, err, err_len);
	/* The loader's search first (ldconfig cache), then fixed paths. */
	if (try_load(d, "libcuda.so.1", first, sizeof(first)) == 0)
		return 0;
	for (size_t i = 0; i < sizeof(system_paths) / sizeof(system_paths[0]); i++)
		if (try_load(d, system_paths[i], err, err_len) == 0)
			return 0;
	snprintf(err, err_len, "no NVIDIA driver found (%s)", first);
	return -1;
}
