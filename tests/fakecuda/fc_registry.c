/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Host implementations of the kernels of tests/cuda/test_kernels.cuh.
 *
 * How the names and layouts below were obtained (CUDA 13.0, nvcc V13.0.88;
 * this toolkit ships no cuobjdump, so the cubin was read directly):
 *
 *   nvcc -x cu -cubin -arch=sm_90 -Xptxas -v -o k.cubin tests/cuda/test_kernels.cuh
 *   readelf -S -W k.cubin                      # one .nv.info.<mangled> per kernel
 *   readelf -x .nv.info.<mangled> k.cubin       # EIATTR_KPARAM_INFO (0x17): u32 index,
 *       u16 ordinal, u16 offset, u32 flags, size = flags >> 18; EIATTR_CBANK_PARAM_SIZE
 *       (0x19) = total bytes
 *   readelf -x .nv.info k.cubin                 # EIATTR_REGCOUNT (0x2f): symbol, registers
 *   readelf -s -W k.cubin                       # vgpu_test_global: OBJECT, 32 bytes, .nv.global
 *
 * ptxas -v agrees on the register counts (8, 18, 10, 10, and 8 for the flag
 * pair; 0 bytes stack, shared, local), and on an H200 (driver 580, CUDA
 * 13.0) the real driver's cuFuncGetParamInfo and cuFuncGetAttribute(NUM_REGS)
 * returned the same numbers for the first four kernels (the flag pair came
 * later and has not been on a GPU yet).  tests/unit/test_fakecuda_kernels.c
 * re-derives all of it from a fresh nvcc build whenever nvcc is present.
 */
#include "fc_registry.h"

#include <math.h>
#include <string.h>

#define countof(a) (sizeof(a) / sizeof((a)[0]))

/* Read parameter @i (of size @n) from the packed buffer, through the layout. */
static void arg(const struct fc_thread *t, unsigned i, void *dst, size_t n)
{
	const struct fc_param *p = &t->def->params[i];
	memcpy(dst, t->params + p->offset, n < p->size ? n : p->size);
}

static uint64_t gtid_x(const struct fc_thread *t)
{
	return (uint64_t)t->block[0] * t->bdim[0] + t->thread[0];
}

/* ---- vgpu_test_fill(unsigned int *out, unsigned int value, unsigned long long n) */
static const struct fc_param fill_params[] = { { 0, 8 }, { 8, 4 }, { 16, 8 } };

static void fill_run(struct fc_thread *t)
{
	uint64_t out, n;
	uint32_t value;

	arg(t, 0, &out, 8);
	arg(t, 1, &value, 4);
	arg(t, 2, &n, 8);
	uint64_t stride = (uint64_t)t->grid[0] * t->bdim[0];
	for (uint64_t i = gtid_x(t); i < n; i += stride) {
		uint32_t v = value + (uint32_t)i;
		if (!t->store(t->mem, out + i * 4, &v, 4))
			return;
	}
}

/* ---- vgpu_test_axpy(float a, const float *x, float *y, int n) */
static const struct fc_param axpy_params[] = { { 0, 4 }, { 8, 8 }, { 16, 8 }, { 24, 4 } };

static void axpy_run(struct fc_thread *t)
{
	float a, xi, yi;
	uint64_t x, y;
	int32_t n;

	arg(t, 0, &a, 4);
	arg(t, 1, &x, 8);
	arg(t, 2, &y, 8);
	arg(t, 3, &n, 4);
	/* int i = blockIdx.x * blockDim.x + threadIdx.x: 32-bit, wrapping */
	int32_t i = (int32_t)(t->block[0] * t->bdim[0] + t->thread[0]);
	if (i >= n)
		return;
	if (!t->load(t->mem, x + (uint64_t)(int64_t)i * 4, &xi, 4) ||
	    !t->load(t->mem, y + (uint64_t)(int64_t)i * 4, &yi, 4))
		return;
	yi = fmaf(a, xi, yi);	/* nvcc emits FFMA for a * x[i] + y[i] */
	t->store(t->mem, y + (uint64_t)(int64_t)i * 4, &yi, 4);
}

/* ---- vgpu_test_mixed(char c, double d, short s, const int *in, long long *out) */
static const struct fc_param mixed_params[] = { { 0, 1 }, { 8, 8 }, { 16, 2 }, { 24, 8 }, { 32, 8 } };

/* cvt.rzi.s64.f64: truncate, saturate, NaN -> INT64_MIN (seen on an H200). */
static int64_t cvt_rzi_s64(double x)
{
	if (isnan(x) || x < -9223372036854775808.0)
		return INT64_MIN;
	if (x >= 9223372036854775808.0)
		return INT64_MAX;
	return (int64_t)x;
}

static void mixed_run(struct fc_thread *t)
{
	int8_t c;	/* char is signed for nvcc on x86-64 hosts */
	double d;
	int16_t s;
	uint64_t in, out;
	int32_t v[2];

	if (t->block[0] != 0 || t->thread[0] != 0)
		return;
	arg(t, 0, &c, 1);
	arg(t, 1, &d, 8);
	arg(t, 2, &s, 2);
	arg(t, 3, &in, 8);
	arg(t, 4, &out, 8);
	if (!t->load(t->mem, in, v, 8))
		return;
	int64_t r[4] = { c, cvt_rzi_s64(d * 1000), s, (int64_t)v[0] + v[1] };
	t->store(t->mem, out, r, sizeof(r));
}

/* ---- vgpu_test_global_add(unsigned long long v) */
static const struct fc_param global_add_params[] = { { 0, 8 } };

static void global_add_run(struct fc_thread *t)
{
	uint64_t v, g;
	uint32_t i = t->block[0] * t->bdim[0] + t->thread[0];

	if (i >= 4)
		return;
	arg(t, 0, &v, 8);
	uint64_t addr = t->global(t->mem, 0) + i * 8ull;	/* fc_globals[0] */
	if (!t->load(t->mem, addr, &g, 8))
		return;
	g += v;
	t->store(t->mem, addr, &g, 8);
}

/* ---- vgpu_test_wait_flag(const volatile unsigned int *flag, unsigned int value, unsigned int *done) */
static const struct fc_param wait_flag_params[] = { { 0, 8 }, { 8, 4 }, { 16, 8 } };

static void wait_flag_run(struct fc_thread *t)
{
	uint64_t flag, done;
	uint32_t value, seen;

	if (t->block[0] != 0 || t->thread[0] != 0)
		return;
	arg(t, 0, &flag, 8);
	arg(t, 1, &value, 4);
	arg(t, 2, &done, 8);
	for (;;) {
		if (!t->load(t->mem, flag, &seen, 4))
			return;
		if (seen == value)
			break;
		if (!t->relax(t->mem))
			return;
	}
	value += 1;
	t->store(t->mem, done, &value, 4);
}

/* ---- vgpu_test_set_flag(volatile unsigned int *flag, unsigned int value) */
static const struct fc_param set_flag_params[] = { { 0, 8 }, { 8, 4 } };

static void set_flag_run(struct fc_thread *t)
{
	uint64_t flag;
	uint32_t value;

	if (t->block[0] != 0 || t->thread[0] != 0)
		return;
	arg(t, 0, &flag, 8);
	arg(t, 1, &value, 4);
	t->store(t->mem, flag, &value, 4);
}

#define KERNEL(mangled, declaration, p, bytes, regs, fn) \
	{ mangled, declaration, countof(p), p, bytes, regs, 0, 0, 0, fn }

const struct fc_kernel_def fc_kernels[] = {
	KERNEL("_Z14vgpu_test_fillPjjy",
	       "vgpu_test_fill(unsigned int *, unsigned int, unsigned long long)",
	       fill_params, 24, 10, fill_run),
	KERNEL("_Z14vgpu_test_axpyfPKfPfi",
	       "vgpu_test_axpy(float, const float *, float *, int)",
	       axpy_params, 28, 10, axpy_run),
	KERNEL("_Z15vgpu_test_mixedcdsPKiPx",
	       "vgpu_test_mixed(char, double, short, const int *, long long *)",
	       mixed_params, 40, 18, mixed_run),
	KERNEL("_Z20vgpu_test_global_addy",
	       "vgpu_test_global_add(unsigned long long)",
	       global_add_params, 8, 8, global_add_run),
	KERNEL("_Z19vgpu_test_wait_flagPVKjjPj",
	       "vgpu_test_wait_flag(const volatile unsigned int *, unsigned int, unsigned int *)",
	       wait_flag_params, 24, 8, wait_flag_run),
	KERNEL("_Z18vgpu_test_set_flagPVjj",
	       "vgpu_test_set_flag(volatile unsigned int *, unsigned int)",
	       set_flag_params, 12, 8, set_flag_run),
};
const unsigned fc_kernel_count = countof(fc_kernels);

const struct fc_global_def fc_globals[] = {
	{ "vgpu_test_global", 32 },	/* __device__ unsigned long long [4] */
};
const unsigned fc_global_count = countof(fc_globals);

_Static_assert(countof(fc_kernels) <= FC_MAX_KERNELS, "registry too large for the module masks");
_Static_assert(countof(fc_globals) <= FC_MAX_GLOBALS, "too many globals");
