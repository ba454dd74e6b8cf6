// SPDX-License-Identifier: MIT
//
// The CUDA test kernels of vgpu's CI.
//
// On a GPU host they are compiled by nvcc and run by the real driver.  In CI,
// where no GPU exists, the test double of the driver (tests/fakecuda/, a
// replacement libcuda.so.1 that is NOT a driver) runs host implementations of
// exactly these kernels, found by mangled name in its registry
// (tests/fakecuda/fc_registry.c).  Change a kernel here and the registry must
// follow: tests/unit/test_fakecuda_kernels.c recompiles this file with nvcc
// (where nvcc exists) and compares names, parameter layouts and register
// counts with the registry.
//
// The kernels are C++ (no extern "C"), so their names are mangled as nvcc
// emits them by default.  Only blockIdx.x/threadIdx.x/blockDim.x/gridDim.x
// are used, so every launch shape has a defined result.

#ifndef VGPU_TEST_KERNELS_CUH
#define VGPU_TEST_KERNELS_CUH

// A module-scope variable, so that cuModuleGetGlobal/cuLibraryGetGlobal have
// something real to find.  Zero-initialised (.nv.global, NOBITS).
__device__ unsigned long long vgpu_test_global[4];

// out[i] = value + i for every i < n (grid-stride loop: any grid covers n).
__global__ void vgpu_test_fill(unsigned int *out, unsigned int value, unsigned long long n)
{
	unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
	for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
	     i < n; i += stride)
		out[i] = value + (unsigned int)i;
}

// y[i] = a * x[i] + y[i] for i < n.  nvcc contracts this into one fused
// multiply-add (FFMA), so the exact result is fmaf(a, x[i], y[i]).
__global__ void vgpu_test_axpy(float a, const float *x, float *y, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		y[i] = a * x[i] + y[i];
}

// Awkwardly aligned parameters (1, 8, 2, 8, 8 bytes at offsets 0, 8, 16, 24,
// 32): a caller that packs them naively gets wrong answers.
// The double -> long long conversion truncates toward zero and saturates
// (NaN gives LLONG_MIN), as cvt.rzi.s64.f64 does on the GPU.
__global__ void vgpu_test_mixed(char c, double d, short s, const int *in, long long *out)
{
	if (blockIdx.x == 0 && threadIdx.x == 0) {
		out[0] = c;
		out[1] = (long long)(d * 1000);
		out[2] = s;
		out[3] = (long long)in[0] + in[1];
	}
}

// vgpu_test_global[i] += v for i < 4: a kernel that uses a module global.
__global__ void vgpu_test_global_add(unsigned long long v)
{
	unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < 4)
		vgpu_test_global[i] += v;
}

// A producer and a consumer for tests of concurrent streams.  The consumer
// spins until *flag == value, then stores value + 1 into *done; it returns
// only once something running concurrently with it (the producer on another
// stream, a stream memory operation, a host thread writing mapped memory)
// has written the flag.  The producer stores value into *flag.  Block 0,
// thread 0 does the work; volatile makes every iteration read memory.
__global__ void vgpu_test_wait_flag(const volatile unsigned int *flag, unsigned int value,
				    unsigned int *done)
{
	if (blockIdx.x == 0 && threadIdx.x == 0) {
		while (*flag != value)
			;
		*done = value + 1;
	}
}

__global__ void vgpu_test_set_flag(volatile unsigned int *flag, unsigned int value)
{
	if (blockIdx.x == 0 && threadIdx.x == 0)
		*flag = value;
}

#endif /* VGPU_TEST_KERNELS_CUH */
