// SPDX-License-Identifier: MIT
/*
 * The bundled demo: an ordinary CUDA runtime program, unaware of vgpu.
 * `make run` runs it natively and through the shim and compares.
 *
 * It queries the device, copies 64 Mi floats to the GPU, runs a SAXPY kernel
 * with arguments, copies the result back and checks every element bit for
 * bit against the CPU (fmaf, which is what the GPU computes), then times
 * copies and kernel launches.  Exit status 0 only if every check passed.
 */
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

#define CHECK(call)                                                                    \
	do {                                                                           \
		cudaError_t e_ = (call);                                               \
		if (e_ != cudaSuccess) {                                               \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,  \
				cudaGetErrorString(e_));                               \
			exit(1);                                                       \
		}                                                                      \
	} while (0)

__global__ void saxpy(float a, const float *x, float *y, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		y[i] = a * x[i] + y[i];
}

__global__ void empty_kernel(int)
{
}

static double now_s()
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
		.count();
}

int main()
{
	const size_t n = 64ull << 20;
	const float a = 2.5f;
	cudaDeviceProp prop;
	int dev_count = 0, driver = 0, runtime = 0;

	CHECK(cudaGetDeviceCount(&dev_count));
	CHECK(cudaDriverGetVersion(&driver));
	CHECK(cudaRuntimeGetVersion(&runtime));
	CHECK(cudaGetDeviceProperties(&prop, 0));
	printf("devices: %d, driver %d, runtime %d\n", dev_count, driver, runtime);
	printf("device 0: %s, compute %d.%d, %d SMs, %.1f GiB\n", prop.name, prop.major,
	       prop.minor, prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0);

	std::vector<float> x(n), y(n), out(n);
	srand(12345);
	for (size_t i = 0; i < n; i++) {
		x[i] = (float)rand() / RAND_MAX - 0.5f;
		y[i] = (float)rand() / RAND_MAX * 4.0f;
	}
	float *dx, *dy;
	CHECK(cudaMalloc(&dx, n * sizeof(float)));
	CHECK(cudaMalloc(&dy, n * sizeof(float)));

	double t0 = now_s();
	CHECK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
	CHECK(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice));
	/*
	 * A copy from pageable memory may return once the data is staged, before
	 * its DMA ends (CUDA's documented behaviour, and vgpu's): wait, so that
	 * both runs time complete copies and the kernel alone.
	 */
	CHECK(cudaDeviceSynchronize());
	double t1 = now_s();
	saxpy<<<1024, 256>>>(a, dx, dy, n);
	CHECK(cudaGetLastError());
	CHECK(cudaDeviceSynchronize());
	double t2 = now_s();
	CHECK(cudaMemcpy(out.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
	double t3 = now_s();

	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		float want = fmaf(a, x[i], y[i]);
		if (memcmp(&want, &out[i], sizeof(float)) && bad++ < 5)
			fprintf(stderr, "y[%zu] = %.9g, expected %.9g\n", i, out[i], want);
	}
	printf("saxpy over %zu floats: %s (%zu mismatches)\n", n, bad ? "WRONG" : "correct", bad);

	/* Launch cost: asynchronous launches, and launch + synchronize. */
	const int launches = 20000, syncs = 2000;
	for (int i = 0; i < 100; i++)
		empty_kernel<<<1, 1>>>(i);
	CHECK(cudaDeviceSynchronize());
	double t4 = now_s();
	for (int i = 0; i < launches; i++)
		empty_kernel<<<1, 1>>>(i);
	CHECK(cudaDeviceSynchronize());
	double t5 = now_s();
	for (int i = 0; i < syncs; i++) {
		empty_kernel<<<1, 1>>>(i);
		CHECK(cudaDeviceSynchronize());
	}
	double t6 = now_s();

	double gb = 2.0 * n * sizeof(float) / 1e9;
	printf("timing: host-to-device %.2f GB/s, kernel %.3f ms, device-to-host %.2f GB/s\n",
	       gb / (t1 - t0), (t2 - t1) * 1e3, gb / 2 / (t3 - t2));
	printf("timing: launch %.2f us (async), launch+sync %.2f us\n",
	       (t5 - t4) / launches * 1e6, (t6 - t5) / syncs * 1e6);
	printf("TIMES h2d_gbps=%.3f d2h_gbps=%.3f kernel_ms=%.3f launch_us=%.3f launch_sync_us=%.3f\n",
	       gb / (t1 - t0), gb / 2 / (t3 - t2), (t2 - t1) * 1e3, (t5 - t4) / launches * 1e6,
	       (t6 - t5) / syncs * 1e6);

	CHECK(cudaFree(dx));
	CHECK(cudaFree(dy));
	return bad ? 1 : 0;
}
