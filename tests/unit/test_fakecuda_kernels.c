/* SPDX-License-Identifier: MIT */
/*
 * The driver test double's kernel registry (tests/fakecuda/fc_registry.c)
 * against nvcc: compile tests/cuda/test_kernels.cuh afresh, read the cubin
 * the way the driver does (.nv.info.<kernel>: EIATTR_KPARAM_INFO and
 * EIATTR_CBANK_PARAM_SIZE; .nv.info: EIATTR_REGCOUNT; .nv.global symbols)
 * and require the registry to list exactly those kernels and globals with
 * exactly those names, parameter layouts and register counts.  Then load
 * nvcc's own images (cubin, fatbin, compressed PTX-only fatbin, PTX) into
 * the double and check what it reports and computes from them.
 *
 * Skipped (exit 77) where nvcc is not installed: the registry was derived
 * the same way by hand and test_fakecuda checks the layouts the real driver
 * reported.
 */
#include <dlfcn.h>
#include <elf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda.h>
#include <cudaTypedefs.h>

#include "fc_registry.h"

#ifndef FAKECUDA_LIB
#define FAKECUDA_LIB "build/fakecuda/libcuda.so.1"
#endif
#ifndef CUDA_HOME
#define CUDA_HOME "/usr/local/cuda"
#endif
#define KERNELS_CUH "tests/cuda/test_kernels.cuh"

static int failures;

#define CHECK(cond)									\
	do {										\
		if (!(cond)) {								\
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			failures++;							\
		}									\
	} while (0)

/* ---------------------------------------------------------------- what nvcc says */

#define EIATTR_KPARAM_INFO	0x17
#define EIATTR_CBANK_PARAM_SIZE	0x19
#define EIATTR_REGCOUNT		0x2f
#define EIFMT_SVAL		4

struct kernel {
	char name[256];
	unsigned nparams;
	struct fc_param params[64];
	uint32_t param_bytes;
	int regs;
	int symbol;
};

struct global {
	char name[256];
	uint64_t size;
};

static struct kernel kernels[FC_MAX_KERNELS];
static unsigned nkernels;
static struct global globals[FC_MAX_GLOBALS * 4];
static unsigned nglobals;

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = calloc(1, (size_t)n + 1);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* Walk one .nv.info section: calls @fn for every attribute record. */
static bool walk_info(const uint8_t *p, size_t len,
		      void (*fn)(uint8_t attr, const uint8_t *val, uint16_t size, void *arg), void *arg)
{
	size_t off = 0;
	while (off + 4 <= len) {
		uint8_t fmt = p[off], attr = p[off + 1];
		uint16_t v;
		memcpy(&v, p + off + 2, 2);
		if (fmt == EIFMT_SVAL) {
			if (off + 4 + v > len)
				return false;
			fn(attr, p + off + 4, v, arg);
			off += 4 + (size_t)v;
		} else if (fmt >= 1 && fmt <= 3) {	/* no value, byte, half: in the 2 bytes */
			fn(attr, p + off + 2, 2, arg);
			off += 4;
		} else {
			return false;
		}
	}
	return off == len;
}

static void kernel_attr(uint8_t attr, const uint8_t *val, uint16_t size, void *arg)
{
	struct kernel *k = arg;
	if (attr == EIATTR_KPARAM_INFO && size == 12) {
		uint16_t ordinal, offset;
		uint32_t flags;
		memcpy(&ordinal, val + 4, 2);
		memcpy(&offset, val + 6, 2);
		memcpy(&flags, val + 8, 4);
		if (ordinal < 64) {
			k->params[ordinal].offset = offset;
			k->params[ordinal].size = flags >> 18;
			if (ordinal + 1u > k->nparams)
				k->nparams = ordinal + 1u;
		}
	} else if (attr == EIATTR_CBANK_PARAM_SIZE) {
		uint16_t v;
		memcpy(&v, val, 2);
		k->param_bytes = v;
	}
}

static void global_attr(uint8_t attr, const uint8_t *val, uint16_t size, void *arg)
{
	(void)arg;
	if (attr == EIATTR_REGCOUNT && size == 8) {
		uint32_t sym, regs;
		memcpy(&sym, val, 4);
		memcpy(&regs, val + 4, 4);
		for (unsigned i = 0; i < nkernels; i++)
			if (kernels[i].symbol == (int)sym)
				kernels[i].regs = (int)regs;
	}
}

static bool parse_cubin(const uint8_t *p, size_t len)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)p;
	if (len < sizeof(*eh) || memcmp(p, ELFMAG, SELFMAG) || eh->e_machine != 190 ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > len)
		return false;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(p + eh->e_shoff);
	const char *shstr = (const char *)(p + sh[eh->e_shstrndx].sh_offset);
	const Elf64_Sym *syms = NULL;
	const char *symstr = NULL;
	size_t nsyms = 0;
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type == SHT_SYMTAB) {
			syms = (const Elf64_Sym *)(p + sh[i].sh_offset);
			nsyms = sh[i].sh_size / sizeof(Elf64_Sym);
			symstr = (const char *)(p + sh[sh[i].sh_link].sh_offset);
		}
	}
	if (!syms)
		return false;
	/* kernels: one .nv.info.<mangled> each */
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		const char *name = shstr + sh[i].sh_name;
		if (strncmp(name, ".nv.info.", 9) != 0 || nkernels == FC_MAX_KERNELS)
			continue;
		struct kernel *k = &kernels[nkernels++];
		snprintf(k->name, sizeof(k->name), "%s", name + 9);
		k->symbol = -1;
		for (size_t s = 0; s < nsyms; s++)
			if (ELF64_ST_TYPE(syms[s].st_info) == STT_FUNC && !strcmp(symstr + syms[s].st_name, k->name))
				k->symbol = (int)s;
		if (!walk_info(p + sh[i].sh_offset, sh[i].sh_size, kernel_attr, k))
			return false;
	}
	/* register counts, by symbol, in the global .nv.info */
	for (unsigned i = 0; i < eh->e_shnum; i++)
		if (!strcmp(shstr + sh[i].sh_name, ".nv.info") &&
		    !walk_info(p + sh[i].sh_offset, sh[i].sh_size, global_attr, NULL))
			return false;
	/* module-scope variables */
	for (size_t s = 0; s < nsyms; s++) {
		if (ELF64_ST_TYPE(syms[s].st_info) != STT_OBJECT || syms[s].st_shndx >= eh->e_shnum)
			continue;
		const char *sec = shstr + sh[syms[s].st_shndx].sh_name;
		if (strncmp(sec, ".nv.global", 10) != 0 || nglobals == sizeof(globals) / sizeof(globals[0]))
			continue;
		snprintf(globals[nglobals].name, sizeof(globals[0].name), "%s", symstr + syms[s].st_name);
		globals[nglobals++].size = syms[s].st_size;
	}
	return true;
}

/* ---------------------------------------------------------------- the comparison */

static void compare_registry(void)
{
	CHECK(nkernels == fc_kernel_count);
	for (unsigned i = 0; i < nkernels; i++) {
		const struct kernel *k = &kernels[i];
		const struct fc_kernel_def *d = NULL;
		for (unsigned j = 0; j < fc_kernel_count; j++)
			if (!strcmp(fc_kernels[j].name, k->name))
				d = &fc_kernels[j];
		if (!d) {
			fprintf(stderr, "nvcc builds %s; the registry has no such kernel\n", k->name);
			failures++;
			continue;
		}
		printf("%-32s %u params, %2u bytes, %2d registers:", k->name, k->nparams, k->param_bytes, k->regs);
		for (unsigned p = 0; p < k->nparams; p++)
			printf(" (%u,%u)", k->params[p].offset, k->params[p].size);
		printf("\n");
		CHECK(d->nparams == k->nparams);
		for (unsigned p = 0; p < k->nparams && p < d->nparams; p++) {
			if (d->params[p].offset != k->params[p].offset || d->params[p].size != k->params[p].size) {
				fprintf(stderr, "%s param %u: registry (%u,%u), nvcc (%u,%u)\n", k->name, p,
					d->params[p].offset, d->params[p].size, k->params[p].offset,
					k->params[p].size);
				failures++;
			}
		}
		CHECK(d->param_bytes == k->param_bytes);
		CHECK(d->num_regs == k->regs);
	}
	CHECK(nglobals == fc_global_count);
	for (unsigned i = 0; i < nglobals; i++) {
		bool found = false;
		for (unsigned j = 0; j < fc_global_count; j++)
			found |= !strcmp(fc_globals[j].name, globals[i].name) && fc_globals[j].size == globals[i].size;
		printf("global %s: %llu bytes\n", globals[i].name, (unsigned long long)globals[i].size);
		if (!found) {
			fprintf(stderr, "nvcc builds global %s (%llu bytes); the registry disagrees\n",
				globals[i].name, (unsigned long long)globals[i].size);
			failures++;
		}
	}
}

/* ---------------------------------------------------------------- nvcc's images in the double */

#define SYM(name, pfn) pfn name = (pfn)dlsym(h, #name)

static void through_the_double(const char *dir)
{
	void *h = dlopen(FAKECUDA_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen %s: %s\n", FAKECUDA_LIB, dlerror());
		failures++;
		return;
	}
	SYM(cuInit, PFN_cuInit_v2000);
	SYM(cuDevicePrimaryCtxRetain, PFN_cuDevicePrimaryCtxRetain_v7000);
	SYM(cuCtxSetCurrent, PFN_cuCtxSetCurrent_v4000);
	SYM(cuModuleLoadData, PFN_cuModuleLoadData_v2000);
	SYM(cuModuleUnload, PFN_cuModuleUnload_v2000);
	SYM(cuModuleGetFunction, PFN_cuModuleGetFunction_v2000);
	SYM(cuFuncGetParamInfo, PFN_cuFuncGetParamInfo_v12040);
	SYM(cuFuncGetAttribute, PFN_cuFuncGetAttribute_v2020);
	SYM(cuMemAlloc_v2, PFN_cuMemAlloc_v3020);
	SYM(cuMemcpyDtoHAsync_v2, PFN_cuMemcpyDtoHAsync_v3020);
	SYM(cuLaunchKernel, PFN_cuLaunchKernel_v4000);
	CUcontext ctx;
	CHECK(cuInit(0) == CUDA_SUCCESS);
	CHECK(cuDevicePrimaryCtxRetain(&ctx, 0) == CUDA_SUCCESS);
	CHECK(cuCtxSetCurrent(ctx) == CUDA_SUCCESS);
	CUdeviceptr out;
	CHECK(cuMemAlloc_v2(&out, 1024 * 4) == CUDA_SUCCESS);

	static const char *const images[] = { "k.cubin", "k.fatbin", "kptx.fatbin", "k.ptx" };
	for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++) {
		char path[512];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", dir, images[i]);
		uint8_t *img = read_file(path, &len);
		CUmodule m;
		CUresult r = img ? cuModuleLoadData(&m, img) : CUDA_ERROR_FILE_NOT_FOUND;
		printf("%-12s %6zu bytes: cuModuleLoadData -> %d\n", images[i], len, (int)r);
		CHECK(r == CUDA_SUCCESS);
		free(img);
		if (r)
			continue;
		for (unsigned k = 0; k < nkernels; k++) {
			CUfunction f;
			size_t off, size;
			int regs;
			CHECK(cuModuleGetFunction(&f, m, kernels[k].name) == CUDA_SUCCESS);
			for (unsigned p = 0; p < kernels[k].nparams; p++) {
				CHECK(cuFuncGetParamInfo(f, p, &off, &size) == CUDA_SUCCESS);
				CHECK(off == kernels[k].params[p].offset && size == kernels[k].params[p].size);
			}
			CHECK(cuFuncGetParamInfo(f, kernels[k].nparams, &off, &size) == CUDA_ERROR_INVALID_VALUE);
			CHECK(cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, f) == CUDA_SUCCESS);
			CHECK(regs == kernels[k].regs);
		}
		CUfunction fill;
		CHECK(cuModuleGetFunction(&fill, m, "_Z14vgpu_test_fillPjjy") == CUDA_SUCCESS);
		unsigned value = (unsigned)i * 1000;
		unsigned long long n = 1024;
		void *params[] = { &out, &value, &n };
		uint32_t back[1024];
		CHECK(cuLaunchKernel(fill, 4, 1, 1, 64, 1, 1, 0, NULL, params, NULL) == CUDA_SUCCESS);
		CHECK(cuMemcpyDtoHAsync_v2(back, out, sizeof(back), NULL) == CUDA_SUCCESS);
		CHECK(back[0] == value && back[1023] == value + 1023);
		CHECK(cuModuleUnload(m) == CUDA_SUCCESS);
	}
}

/* ---------------------------------------------------------------- */

static const char *find_nvcc(void)
{
	static char path[1024];
	const char *home = getenv("CUDA_HOME");
	snprintf(path, sizeof(path), "%s/bin/nvcc", home && *home ? home : CUDA_HOME);
	if (access(path, X_OK) == 0)
		return path;
	const char *pathenv = getenv("PATH");
	for (const char *p = pathenv; p && *p;) {
		const char *end = strchr(p, ':');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		snprintf(path, sizeof(path), "%.*s/nvcc", (int)n, p);
		if (n && access(path, X_OK) == 0)
			return path;
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

static bool nvcc(const char *tool, const char *dir, const char *args, const char *out)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "'%s' -x cu %s -o '%s/%s' '%s'", tool, args, dir, out, KERNELS_CUH);
	printf("$ %s\n", cmd);
	fflush(stdout);
	return system(cmd) == 0;
}

int main(void)
{
	const char *tool = find_nvcc();
	if (!tool) {
		printf("nvcc not found (CUDA_HOME/bin, PATH): the registry cannot be re-derived here\n");
		return 77;
	}
	char dir[] = "/tmp/fakecuda-kernels-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	bool built = nvcc(tool, dir, "-cubin -arch=sm_90", "k.cubin") &&
		     nvcc(tool, dir, "-fatbin -arch=sm_90", "k.fatbin") &&
		     nvcc(tool, dir, "-fatbin -gencode arch=compute_90,code=compute_90", "kptx.fatbin") &&
		     nvcc(tool, dir, "-ptx -arch=sm_90", "k.ptx");
	CHECK(built);
	if (built) {
		size_t len;
		char path[512];
		snprintf(path, sizeof(path), "%s/k.cubin", dir);
		uint8_t *cubin = read_file(path, &len);
		CHECK(cubin && parse_cubin(cubin, len));
		free(cubin);
		compare_registry();
		through_the_double(dir);
	}
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("the registry matches nvcc's build of %s\n", KERNELS_CUH);
	return 0;
}
