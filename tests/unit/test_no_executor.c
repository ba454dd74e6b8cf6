// SPDX-License-Identifier: MIT
/*
 * With no executor to talk to, cuInit fails with a real error (never
 * success: decision 2) and, with VGPU_LOG set, the shim says why in one
 * line.  Calls after the failed cuInit fail too, and cuDriverGetVersion
 * still answers (cudart asks before cuInit).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda.h>

#include "test.h"

int main(void)
{
	char log[] = "/tmp/vgpu-noexec-log-XXXXXX", line[512], extra[512];
	CUresult (*init)(unsigned int);
	CUresult (*count)(int *);
	CUresult (*version)(int *);
	int fd = mkstemp(log), n = -1, v = 0;
	FILE *f;
	void *lib;

	close(fd);
	setenv("VGPU_SOCKET", "/tmp/vgpu-test-nobody-listens-here.sock", 1);
	setenv("VGPU_LOG", log, 1);
	lib = dlopen(VGPU_SHIM_PATH, RTLD_NOW | RTLD_LOCAL);
	CHECK(lib != NULL);
	if (!lib)
		return 1;
	init = (CUresult(*)(unsigned int))dlsym(lib, "cuInit");
	count = (CUresult(*)(int *))dlsym(lib, "cuDeviceGetCount");
	version = (CUresult(*)(int *))dlsym(lib, "cuDriverGetVersion");

	CHECK(version(&v) == CUDA_SUCCESS && v >= 13000);
	CHECK(count(&n) == CUDA_ERROR_NOT_INITIALIZED);
	CHECK(init(0) == CUDA_ERROR_DEVICE_UNAVAILABLE);
	CHECK(init(0) == CUDA_ERROR_DEVICE_UNAVAILABLE);	/* stays failed, like the driver */
	CHECK(count(&n) != CUDA_SUCCESS);
	CHECK(init(1) == CUDA_ERROR_INVALID_VALUE);

	f = fopen(log, "r");
	CHECK(f != NULL);
	if (f) {
		CHECK(fgets(line, sizeof(line), f) != NULL);
		printf("log: %s", line);
		CHECK(strstr(line, "no executor at /tmp/vgpu-test-nobody-listens-here.sock") != NULL);
		CHECK(fgets(extra, sizeof(extra), f) == NULL);	/* one line, not one per call */
		fclose(f);
	}
	unlink(log);
	return TEST_RESULT();
}
