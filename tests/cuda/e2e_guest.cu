// SPDX-License-Identifier: MIT
//
// A CUDA runtime program that knows nothing of vgpu, for the CI system test
// tests/fakecuda/t-guest-through-executor.sh: it runs through the shim, the
// local transport and the executor, whose "GPU" there is the driver test
// double (tests/fakecuda/, not a driver).  It uses only the kernels of
// test_kernels.cuh, the ones the double can run, and checks every answer.
//
//   e2e_guest          device query, copies, every test kernel, a module
//                      global, events: exit 0 if all results are right
//   e2e_guest fault    a kernel that writes to no memory: the error must
//                      come back as cudaErrorIllegalAddress and stay

#include <cmath>
#include <cstdio>
#include <cstring>

#include <cuda_runtime.h>

#include "test_kernels.cuh"

#define CK(call)                                                                       \
	do {                                                                           \
		cudaError_t e_ = (call);                                               \
		if (e_ != cudaSuccess) {                                               \
			printf("%s:%d: %s: %s\n", __FILE__, __LINE__, #call,           \
			       cudaGetErrorName(e_));                                  \
			return 1;                                                      \
		}                                                                      \
	} while (0)

#define WANT(cond)                                                                     \
	do {                                                                           \
		if (!(cond)) {                                                         \
			printf("%s:%d: wrong result: %s\n", __FILE__, __LINE__, #cond);  \
			return 1;                                                      \
		}                                                                      \
	} while (0)

static int fault()
{
	void *p;
	vgpu_test_fill<<<1, 1>>>((unsigned int *)0x10000, 1, 1);
	CK(cudaGetLastError());	// the launch itself is accepted, as on a GPU
	WANT(cudaDeviceSynchronize() == cudaErrorIllegalAddress);
	WANT(cudaMalloc(&p, 16) == cudaErrorIllegalAddress);	// sticky
	printf("fault reported as on a GPU\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "fault"))
		return fault();

	cudaDeviceProp prop;
	CK(cudaGetDeviceProperties(&prop, 0));
	printf("device 0: %s, compute %d.%d, %d SMs\n", prop.name, prop.major, prop.minor,
	       prop.multiProcessorCount);
	WANT(prop.major == 9 && prop.minor == 0);

	// fill: grid-stride over more elements than threads
	enum { N = 4096 };
	static unsigned int h[N];
	unsigned int *d;
	CK(cudaMalloc(&d, sizeof(h)));
	vgpu_test_fill<<<4, 128>>>(d, 7, N);
	CK(cudaGetLastError());
	CK(cudaDeviceSynchronize());
	CK(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost));
	for (int i = 0; i < N; i++)
		WANT(h[i] == 7u + i);

	// axpy on a stream, bit for bit against fmaf
	static float hx[1000], hy[1000], hr[1000];
	for (int i = 0; i < 1000; i++) {
		hx[i] = i * 0.5f + 1.0f / 3.0f;
		hy[i] = 1.0f / (i + 1);
	}
	float *x, *y;
	cudaStream_t s;
	CK(cudaStreamCreate(&s));
	CK(cudaMalloc(&x, sizeof(hx)));
	CK(cudaMalloc(&y, sizeof(hy)));
	CK(cudaMemcpyAsync(x, hx, sizeof(hx), cudaMemcpyHostToDevice, s));
	CK(cudaMemcpyAsync(y, hy, sizeof(hy), cudaMemcpyHostToDevice, s));
	vgpu_test_axpy<<<4, 256, 0, s>>>(1.5f, x, y, 1000);
	CK(cudaGetLastError());
	CK(cudaMemcpyAsync(hr, y, sizeof(hr), cudaMemcpyDeviceToHost, s));
	CK(cudaStreamSynchronize(s));
	for (int i = 0; i < 1000; i++)
		WANT(hr[i] == fmaf(1.5f, hx[i], hy[i]));

	// mixed: the awkwardly aligned parameters survive the trip
	int hin[2] = { 2000000000, 2000000000 }, *in;
	long long ho[4], *out;
	CK(cudaMalloc(&in, sizeof(hin)));
	CK(cudaMalloc(&out, sizeof(ho)));
	CK(cudaMemcpy(in, hin, sizeof(hin), cudaMemcpyHostToDevice));
	vgpu_test_mixed<<<1, 32>>>(-3, 2.5, -1234, in, out);
	CK(cudaGetLastError());
	CK(cudaMemcpy(ho, out, sizeof(ho), cudaMemcpyDeviceToHost));
	WANT(ho[0] == -3 && ho[1] == 2500 && ho[2] == -1234 && ho[3] == 4000000000LL);

	// a module global, written by a kernel and read by symbol
	vgpu_test_global_add<<<1, 4>>>(5);
	CK(cudaGetLastError());
	unsigned long long g[4];
	CK(cudaMemcpyFromSymbol(g, vgpu_test_global, sizeof(g)));
	WANT(g[0] == 5 && g[3] == 5);

	// events
	cudaEvent_t a, b;
	float ms = -1;
	CK(cudaEventCreate(&a));
	CK(cudaEventCreate(&b));
	CK(cudaEventRecord(a, s));
	vgpu_test_fill<<<1, 32, 0, s>>>(d, 0, N);
	CK(cudaEventRecord(b, s));
	CK(cudaEventSynchronize(b));
	CK(cudaEventElapsedTime(&ms, a, b));
	WANT(ms >= 0);

	CK(cudaFree(d));
	CK(cudaFree(x));
	CK(cudaFree(y));
	CK(cudaFree(in));
	CK(cudaFree(out));
	CK(cudaStreamDestroy(s));
	printf("all results right\n");
	return 0;
}
