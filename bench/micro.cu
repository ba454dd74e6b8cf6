// SPDX-License-Identifier: MIT
/*
 * Micro-benchmarks of what remoting costs: launches (asynchronous and with
 * a synchronisation each), pageable copies of several sizes each way,
 * allocation, and event round trips.  bench/run.sh runs this natively and
 * through vgpu in one go and prints vgpu's speed as a fraction of native.
 * Each figure is the median of 5 repetitions.  Output: "BENCH name value unit".
 */
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

#define CK(call)                                                                       \
	do {                                                                           \
		cudaError_t e_ = (call);                                               \
		if (e_ != cudaSuccess) {                                               \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,             \
				cudaGetErrorString(e_));                               \
			exit(1);                                                       \
		}                                                                      \
	} while (0)

__global__ void empty(int) {}

__global__ void touch(float *p, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		p[i] += 1.0f;
}

static double now()
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
		.count();
}

template <typename F> static double median_of(F f)
{
	std::vector<double> v;
	for (int r = 0; r < 5; r++)
		v.push_back(f());
	std::sort(v.begin(), v.end());
	return v[2];
}

int main()
{
	CK(cudaFree(0));
	for (int i = 0; i < 1000; i++)
		empty<<<1, 1>>>(i);
	CK(cudaDeviceSynchronize());

	double us = median_of([] {
		const int n = 20000;
		double t = now();
		for (int i = 0; i < n; i++)
			empty<<<1, 1>>>(i);
		CK(cudaDeviceSynchronize());
		return (now() - t) / n * 1e6;
	});
	printf("BENCH launch_async %.3f us\n", us);

	us = median_of([] {
		const int n = 2000;
		double t = now();
		for (int i = 0; i < n; i++) {
			empty<<<1, 1>>>(i);
			CK(cudaStreamSynchronize(0));
		}
		return (now() - t) / n * 1e6;
	});
	printf("BENCH launch_sync %.3f us\n", us);

	/* A small kernel doing real work, back to back: the decode-like pattern. */
	float *work;
	CK(cudaMalloc(&work, 4096 * sizeof(float)));
	us = median_of([work] {
		const int n = 20000;
		double t = now();
		for (int i = 0; i < n; i++)
			touch<<<16, 256>>>(work, 4096);
		CK(cudaDeviceSynchronize());
		return (now() - t) / n * 1e6;
	});
	printf("BENCH small_kernel_stream %.3f us\n", us);

	const size_t sizes[] = { 4096, 1 << 20, 64 << 20 };
	std::vector<char> host(64 << 20, 1);
	char *dev;
	CK(cudaMalloc(&dev, 64 << 20));
	for (size_t sz : sizes) {
		int reps = sz < (1 << 20) ? 2000 : sz < (64 << 20) ? 200 : 10;
		double h2d = median_of([&] {
			double t = now();
			for (int i = 0; i < reps; i++)
				CK(cudaMemcpy(dev, host.data(), sz, cudaMemcpyHostToDevice));
			return (now() - t) / reps;
		});
		double d2h = median_of([&] {
			double t = now();
			for (int i = 0; i < reps; i++)
				CK(cudaMemcpy(host.data(), dev, sz, cudaMemcpyDeviceToHost));
			return (now() - t) / reps;
		});
		if (sz < (1 << 20)) {
			printf("BENCH h2d_%zuB %.3f us\n", sz, h2d * 1e6);
			printf("BENCH d2h_%zuB %.3f us\n", sz, d2h * 1e6);
		} else {
			printf("BENCH h2d_%zuMiB %.3f GB/s\n", sz >> 20, sz / h2d / 1e9);
			printf("BENCH d2h_%zuMiB %.3f GB/s\n", sz >> 20, sz / d2h / 1e9);
		}
	}

	us = median_of([] {
		const int n = 500;
		void *p;
		double t = now();
		for (int i = 0; i < n; i++) {
			CK(cudaMalloc(&p, 1 << 20));
			CK(cudaFree(p));
		}
		return (now() - t) / n * 1e6;
	});
	printf("BENCH malloc_free %.3f us\n", us);

	cudaEvent_t ev;
	CK(cudaEventCreate(&ev));
	us = median_of([ev] {
		const int n = 2000;
		double t = now();
		for (int i = 0; i < n; i++) {
			CK(cudaEventRecord(ev, 0));
			CK(cudaEventSynchronize(ev));
		}
		return (now() - t) / n * 1e6;
	});
	printf("BENCH event_record_sync %.3f us\n", us);
	CK(cudaFree(dev));
	CK(cudaFree(work));
	return 0;
}
