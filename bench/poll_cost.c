// SPDX-License-Identifier: MIT
/*
 * What a session's worker costs the host while its guest sends little or
 * nothing: holds a session and submits asynchronous memsets at a fixed rate
 * for a while.  bench/poll-cost.sh runs it through vgpu and reads the
 * worker's CPU time; natively it shows what the same program costs alone.
 *
 *   poll_cost RATE SECONDS     RATE records per second (0: idle)
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cuda.h>

#define LOAD(name) ((__typeof__(&name))dlsym(lib, #name))

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	double rate = argc > 1 ? atof(argv[1]) : 0, secs = argc > 2 ? atof(argv[2]) : 5;
	void *lib = dlopen("libcuda.so.1", RTLD_NOW);
	CUcontext ctx;
	CUdeviceptr p;
	long n = 0;

	if (!lib) {
		fprintf(stderr, "poll_cost: %s\n", dlerror());
		return 1;
	}
	CUresult (*init)(unsigned int) = (void *)dlsym(lib, "cuInit");
	CUresult (*retain)(CUcontext *, CUdevice) = (void *)dlsym(lib, "cuDevicePrimaryCtxRetain");
	CUresult (*set)(CUcontext) = (void *)dlsym(lib, "cuCtxSetCurrent");
	CUresult (*alloc)(CUdeviceptr *, size_t) = (void *)dlsym(lib, "cuMemAlloc_v2");
	CUresult (*memset32)(CUdeviceptr, unsigned int, size_t, CUstream) =
		(void *)dlsym(lib, "cuMemsetD32Async");
	CUresult (*sync)(void) = (void *)dlsym(lib, "cuCtxSynchronize");

	if (!init || init(0) || retain(&ctx, 0) || set(ctx) || alloc(&p, 4096)) {
		fprintf(stderr, "poll_cost: no CUDA device\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	double start = now(), next = start;

	while (now() - start < secs) {
		if (rate <= 0) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			continue;
		}
		memset32(p, (unsigned int)n++, 1024, NULL);
		next += 1.0 / rate;
		double wait = next - now();
		if (wait > 0) {
			struct timespec ts = { (time_t)wait, (long)((wait - (time_t)wait) * 1e9) };

			nanosleep(&ts, NULL);
		}
	}
	sync();
	printf("records %ld in %.2f s\n", n, now() - start);
	fflush(stdout);
	/* The script reads the worker's CPU time now, while the session is still there. */
	{
		struct timespec ts = { 1, 0 };

		nanosleep(&ts, NULL);
	}
	return 0;
}
