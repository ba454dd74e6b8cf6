// SPDX-License-Identifier: MIT
/*
 * cuBLAS through the driver: cublasCreate (export tables, occupancy,
 * module loading, cuLaunchKernelEx), then SGEMM and GemmEx with FP16
 * inputs, on sizes that take different kernels (square, odd, skinny).
 * Prints one line per product with the FNV-1a hash of the result's bits;
 * tests/gpu/run.sh runs it natively and through vgpu and requires the
 * lines to be identical.  Each result is also checked against a host
 * product (within FP32 rounding), so a wrong answer fails even natively.
 * Exit 0 iff every call succeeded and every product was close.
 */
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

static int failures;

#define CHECK_CUDA(call)                                                                     \
	do {                                                                                 \
		cudaError_t e_ = (call);                                                     \
		if (e_ != cudaSuccess) {                                                     \
			printf("FAIL  %s: %s\n", #call, cudaGetErrorName(e_));               \
			exit(1);                                                             \
		}                                                                            \
	} while (0)
#define CHECK_BLAS(call)                                                                     \
	do {                                                                                 \
		cublasStatus_t s_ = (call);                                                  \
		if (s_ != CUBLAS_STATUS_SUCCESS) {                                           \
			printf("FAIL  %s: %s\n", #call, cublasGetStatusName(s_));            \
			exit(1);                                                             \
		}                                                                            \
	} while (0)

static uint64_t fnv(const void *p, size_t n)
{
	const uint8_t *b = (const uint8_t *)p;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* Small exact-ish values so the host reference is close: multiples of 1/16 in [-2, 2). */
static float value(size_t i, unsigned seed)
{
	return (float)((int)((i * 2654435761u + seed * 40503u) % 64u) - 32) / 16.0f;
}

/* Column-major C = A (m x k) * B (k x n) on the host, in double. */
static void host_gemm(int m, int n, int k, const std::vector<float> &a, const std::vector<float> &b,
		      std::vector<double> &c)
{
	c.assign((size_t)m * n, 0.0);
	for (int j = 0; j < n; j++)
		for (int p = 0; p < k; p++)
			for (int i = 0; i < m; i++)
				c[(size_t)j * m + i] += (double)a[(size_t)p * m + i] * b[(size_t)j * k + p];
}

static void check_close(const char *what, int m, int n, int k, const std::vector<float> &got,
			const std::vector<double> &want)
{
	size_t bad = 0;

	for (size_t i = 0; i < got.size(); i++)
		bad += fabs(got[i] - want[i]) > 1e-3 * (1.0 + fabs(want[i]));
	if (bad) {
		printf("FAIL  %s %dx%dx%d: %zu elements differ from the host product\n", what, m, n,
		       k, bad);
		failures++;
	}
}

static void sgemm(cublasHandle_t h, int m, int n, int k)
{
	std::vector<float> a((size_t)m * k), b((size_t)k * n), c((size_t)m * n);
	std::vector<double> want;
	float *da, *db, *dc, one = 1.0f, zero = 0.0f;

	for (size_t i = 0; i < a.size(); i++)
		a[i] = value(i, 1);
	for (size_t i = 0; i < b.size(); i++)
		b[i] = value(i, 2);
	CHECK_CUDA(cudaMalloc(&da, a.size() * sizeof(float)));
	CHECK_CUDA(cudaMalloc(&db, b.size() * sizeof(float)));
	CHECK_CUDA(cudaMalloc(&dc, c.size() * sizeof(float)));
	CHECK_CUDA(cudaMemcpy(da, a.data(), a.size() * sizeof(float), cudaMemcpyHostToDevice));
	CHECK_CUDA(cudaMemcpy(db, b.data(), b.size() * sizeof(float), cudaMemcpyHostToDevice));
	CHECK_BLAS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, da, m, db, k, &zero, dc,
			       m));
	CHECK_CUDA(cudaMemcpy(c.data(), dc, c.size() * sizeof(float), cudaMemcpyDeviceToHost));
	host_gemm(m, n, k, a, b, want);
	check_close("sgemm", m, n, k, c, want);
	printf("sgemm %dx%dx%d %016llx\n", m, n, k, (unsigned long long)fnv(c.data(), c.size() * 4));
	cudaFree(da);
	cudaFree(db);
	cudaFree(dc);
}

/* FP16 inputs, FP32 accumulation and output (the tensor-core path). */
static void gemm_ex_fp16(cublasHandle_t h, int m, int n, int k)
{
	std::vector<__half> a((size_t)m * k), b((size_t)k * n);
	std::vector<float> af(a.size()), bf(b.size()), c((size_t)m * n);
	std::vector<double> want;
	__half *da, *db;
	float *dc, one = 1.0f, zero = 0.0f;

	for (size_t i = 0; i < a.size(); i++) {
		a[i] = __float2half(value(i, 3));
		af[i] = __half2float(a[i]);
	}
	for (size_t i = 0; i < b.size(); i++) {
		b[i] = __float2half(value(i, 4));
		bf[i] = __half2float(b[i]);
	}
	CHECK_CUDA(cudaMalloc(&da, a.size() * sizeof(__half)));
	CHECK_CUDA(cudaMalloc(&db, b.size() * sizeof(__half)));
	CHECK_CUDA(cudaMalloc(&dc, c.size() * sizeof(float)));
	CHECK_CUDA(cudaMemcpy(da, a.data(), a.size() * sizeof(__half), cudaMemcpyHostToDevice));
	CHECK_CUDA(cudaMemcpy(db, b.data(), b.size() * sizeof(__half), cudaMemcpyHostToDevice));
	CHECK_BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, da, CUDA_R_16F, m, db,
				CUDA_R_16F, k, &zero, dc, CUDA_R_32F, m, CUBLAS_COMPUTE_32F,
				CUBLAS_GEMM_DEFAULT));
	CHECK_CUDA(cudaMemcpy(c.data(), dc, c.size() * sizeof(float), cudaMemcpyDeviceToHost));
	host_gemm(m, n, k, af, bf, want);
	check_close("gemmex_fp16", m, n, k, c, want);
	printf("gemmex_fp16 %dx%dx%d %016llx\n", m, n, k,
	       (unsigned long long)fnv(c.data(), c.size() * 4));
	cudaFree(da);
	cudaFree(db);
	cudaFree(dc);
}

int main()
{
	setvbuf(stdout, nullptr, _IOLBF, 0);	/* a crash or a hang keeps what was printed */
	cublasHandle_t h;
	int version = 0;

	CHECK_BLAS(cublasCreate(&h));
	CHECK_BLAS(cublasGetVersion(h, &version));
	printf("cublas version %d\n", version);
	static const int shapes[][3] = { { 256, 256, 256 }, { 127, 65, 33 }, { 1024, 8, 512 },
					 { 8, 1024, 64 } };
	for (auto &s : shapes)
		sgemm(h, s[0], s[1], s[2]);
	for (auto &s : shapes)
		gemm_ex_fp16(h, s[0], s[1], s[2]);
	CHECK_CUDA(cudaDeviceSynchronize());
	CHECK_BLAS(cublasDestroy(h));
	printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
	return failures ? 1 : 0;
}
