/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Modules, libraries, kernels, functions, their attributes and parameter
 * layouts, and kernel launches.
 *
 * A function or kernel exists only if its mangled name is both in the
 * registry (fc_registry.c: the double's host implementations) and named by
 * the loaded image, so a wrong module fails with CUDA_ERROR_NOT_FOUND.  A
 * launch checks its configuration as the driver does, packs the parameters
 * (kernelParams, or the extra buffer) into the registry's layout and
 * becomes an operation of its stream; when it runs, the host implementation
 * runs for every (block, thread) index.  A kernel that touches memory that
 * is not live device memory stops, and - as on a GPU, where the launch
 * itself had already returned - every later call that needs the context
 * answers CUDA_ERROR_ILLEGAL_ADDRESS, for the rest of the process.  The
 * module's globals are looked up at launch: unloading the module right
 * after the launch does not pull them from under the kernel.
 *
 * As on the real driver (H200): the same name gives the same CUfunction /
 * CUkernel again; a CUkernel is accepted by cuLaunchKernel but not by
 * cuFuncGetAttribute/cuFuncSetAttribute/cuFuncGetParamInfo; a function got
 * from a kernel shares the kernel's attributes; a failed lookup stores NULL.
 */
#include <cuda_occupancy.h>

#include "fakecuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fc_module *fc_modules;
struct fc_kernel *fc_kernel_objs;
struct fc_func *fc_funcs;

static const struct fc_fattrs default_attrs = {
	.max_dyn_shared = FC_DEFAULT_DYN_SHARED,
	.carveout = -1,
};

static struct fc_module *find_module(const void *h, uint32_t magic)
{
	for (struct fc_module *m = fc_modules; m; m = m->next)
		if ((const void *)m == h && m->magic == magic)
			return m;
	return NULL;
}

/* A module or library handle of @call: NULL is the real driver's error, anything else not live is forged. */
static CUresult module_handle(const char *call, const void *h, uint32_t magic, struct fc_module **out)
{
	*out = NULL;
	if (!h)
		return CUDA_ERROR_INVALID_HANDLE;
	if ((*out = find_module(h, magic)))
		return CUDA_SUCCESS;
	return fc_forged(call, magic == FC_MAGIC_MODULE ? "module" : "library", CUDA_ERROR_INVALID_HANDLE);
}

static struct fc_kernel *find_kernel(const void *h)
{
	for (struct fc_kernel *k = fc_kernel_objs; k; k = k->next)
		if ((const void *)k == h && k->magic == FC_MAGIC_KERNEL)
			return k;
	return NULL;
}

static struct fc_func *find_func(const void *h)
{
	for (struct fc_func *f = fc_funcs; f; f = f->next)
		if ((const void *)f == h && f->magic == FC_MAGIC_FUNC)
			return f;
	return NULL;
}

/*
 * A CUfunction of @call that is not one.  A live CUkernel is refused the
 * way the real driver refused it (INVALID_HANDLE, on an H200); NULL gets
 * @null_answer, the real driver's; anything else is forged.
 */
static CUresult not_a_function(const char *call, const void *h, CUresult null_answer)
{
	if (!h)
		return null_answer;
	if (find_kernel(h))
		return CUDA_ERROR_INVALID_HANDLE;
	return fc_forged(call, "function", CUDA_ERROR_INVALID_HANDLE);
}

/* A CUkernel of @call: NULL gets @null_answer, anything else not live is forged. */
static CUresult kernel_handle(const char *call, const void *h, CUresult null_answer, struct fc_kernel **out)
{
	*out = NULL;
	if (!h)
		return null_answer;
	if ((*out = find_kernel(h)))
		return CUDA_SUCCESS;
	return fc_forged(call, "kernel", CUDA_ERROR_INVALID_HANDLE);
}

static int registry_index(const char *name)
{
	for (unsigned i = 0; i < fc_kernel_count; i++)
		if (!strcmp(fc_kernels[i].name, name))
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------ teardown */

static void free_funcs_where(bool (*match)(const struct fc_func *, const void *), const void *arg)
{
	for (struct fc_func **pp = &fc_funcs; *pp;) {
		struct fc_func *f = *pp;
		if (match(f, arg)) {
			*pp = f->next;
			f->magic = 0;
			free(f);
		} else {
			pp = &f->next;
		}
	}
}

static bool func_of_module(const struct fc_func *f, const void *m) { return f->mod == m; }
static bool func_of_ctx(const struct fc_func *f, const void *c) { return f->ctx == c; }

/* Unlink and free a module or library with everything that came from it. */
static void module_free(struct fc_module *m)
{
	for (struct fc_module **pp = &fc_modules; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	free_funcs_where(func_of_module, m);
	for (struct fc_kernel **pp = &fc_kernel_objs; *pp;) {
		struct fc_kernel *k = *pp;
		if (k->lib == m) {
			*pp = k->next;
			k->magic = 0;
			free(k);
		} else {
			pp = &k->next;
		}
	}
	for (unsigned i = 0; i < FC_MAX_GLOBALS; i++)
		if (m->global_mem[i])
			fc_alloc_release(m->global_mem[i]);
	m->magic = 0;
	free(m);
}

void fc_module_free_ctx(struct fc_ctx *c)
{
	free_funcs_where(func_of_ctx, c);
	for (struct fc_module *m = fc_modules, *next; m; m = next) {
		next = m->next;
		if (m->magic == FC_MAGIC_MODULE && m->ctx == c)
			module_free(m);
	}
}

/* ------------------------------------------------------------ loading */

static CUresult load(const void *image, struct fc_ctx *ctx, uint32_t magic, struct fc_module **out)
{
	struct fc_image_info info;
	CUresult r = fc_image_inspect(image, &info);

	if (r)
		return r;
	struct fc_module *m = calloc(1, sizeof(*m));
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	m->magic = magic;
	m->ctx = ctx;
	m->kernels = info.kernels;
	m->globals = info.globals;
	m->ptx_arch = info.ptx_arch;
	m->bin_arch = info.bin_arch;
	m->next = fc_modules;
	fc_modules = m;
	/* module-scope variables live in device memory, zeroed, from load to unload */
	for (unsigned i = 0; i < fc_global_count; i++) {
		if (!(m->globals & (1u << i)))
			continue;
		r = fc_alloc_new(fc_globals[i].size, ctx, m, true, &m->global_mem[i]);
		if (r) {
			module_free(m);
			return r;
		}
	}
	*out = m;
	return CUDA_SUCCESS;
}

static CUresult module_load_data(CUmodule *module, const void *image)
{
	struct fc_ctx *c;
	struct fc_module *m;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!module || !image)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_current(&c)))
		return r;
	if ((r = load(image, c, FC_MAGIC_MODULE, &m)))
		return r;
	*module = (CUmodule)m;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
	FC_LOCKED(module_load_data(module, image));
}

/* JIT options: accepted as hints (nothing is compiled); outputs say so - empty logs, no time. */
static CUresult jit_options(CUjit_option *opts, void **values, unsigned n)
{
	if (n == 0)
		return CUDA_SUCCESS;
	if (!opts || !values)
		return CUDA_ERROR_INVALID_VALUE;
	for (unsigned i = 0; i < n; i++)
		if ((unsigned)opts[i] >= CU_JIT_NUM_OPTIONS)
			return CUDA_ERROR_INVALID_VALUE;
	for (unsigned i = 0; i < n; i++) {
		CUjit_option want;
		switch (opts[i]) {
		case CU_JIT_WALL_TIME: {
			float zero = 0;
			memcpy(&values[i], &zero, sizeof(zero));
			break;
		}
		case CU_JIT_INFO_LOG_BUFFER:
		case CU_JIT_ERROR_LOG_BUFFER:
			want = opts[i] == CU_JIT_INFO_LOG_BUFFER ? CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES
								 : CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES;
			for (unsigned j = 0; j < n; j++)
				if (opts[j] == want && (uintptr_t)values[j] > 0 && values[i])
					*(char *)values[i] = '\0';
			break;
		default:
			break;
		}
	}
	for (unsigned i = 0; i < n; i++)
		if (opts[i] == CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES ||
		    opts[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
			values[i] = (void *)(uintptr_t)0;
	return CUDA_SUCCESS;
}

static CUresult library_load_data(CUlibrary *library, const void *code, CUjit_option *jit_opts,
				  void **jit_values, unsigned n_jit, CUlibraryOption *lib_opts,
				  void **lib_values, unsigned n_lib)
{
	struct fc_module *m;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!library || !code)
		return CUDA_ERROR_INVALID_VALUE;
	if (n_lib && (!lib_opts || !lib_values))
		return CUDA_ERROR_INVALID_VALUE;
	for (unsigned i = 0; i < n_lib; i++)
		if ((unsigned)lib_opts[i] >= CU_LIBRARY_NUM_OPTIONS)
			return CUDA_ERROR_INVALID_VALUE;
	if (n_jit && (!jit_opts || !jit_values))
		return CUDA_ERROR_INVALID_VALUE;
	if (fc_sticky)
		return fc_sticky;
	/*
	 * Libraries belong to no context.  (The real driver, loading lazily,
	 * accepts any bytes here and fails later; the double checks the image
	 * now, which is what CUDA_MODULE_LOADING=EAGER does.)
	 */
	if ((r = load(code, NULL, FC_MAGIC_LIBRARY, &m)))
		return r;
	if ((r = jit_options(jit_opts, jit_values, n_jit))) {
		module_free(m);
		return r;
	}
	*library = (CUlibrary)m;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
				     void **jitOptionsValues, unsigned int numJitOptions,
				     CUlibraryOption *libraryOptions, void **libraryOptionValues,
				     unsigned int numLibraryOptions)
{
	FC_LOCKED(library_load_data(library, code, jitOptions, jitOptionsValues, numJitOptions,
				    libraryOptions, libraryOptionValues, numLibraryOptions));
}

static CUresult unload(const char *call, const void *h, uint32_t magic)
{
	struct fc_module *m;
	CUresult r = fc_check_init();

	if (r || (r = module_handle(call, h, magic, &m)))	/* a second unload is forged */
		return r;
	if (fc_sticky)
		return fc_sticky;
	module_free(m);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuModuleUnload(CUmodule hmod)
{
	FC_LOCKED(unload("cuModuleUnload", hmod, FC_MAGIC_MODULE));
}

FC_EXPORT CUresult cuLibraryUnload(CUlibrary library)
{
	FC_LOCKED(unload("cuLibraryUnload", library, FC_MAGIC_LIBRARY));
}

/* ------------------------------------------------------------ lookups */

static CUresult module_get_function(CUfunction *hfunc, CUmodule hmod, const char *name)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!hfunc || !name)
		return CUDA_ERROR_INVALID_VALUE;
	*hfunc = NULL;
	struct fc_module *m;
	if ((r = module_handle("cuModuleGetFunction", hmod, FC_MAGIC_MODULE, &m)))
		return r;
	if (fc_sticky)
		return fc_sticky;
	int i = registry_index(name);
	if (i < 0 || !(m->kernels & (1ull << i)))
		return CUDA_ERROR_NOT_FOUND;
	for (struct fc_func *f = fc_funcs; f; f = f->next) {
		if (f->mod == m && !f->kernel && f->def == &fc_kernels[i]) {
			*hfunc = (CUfunction)f;
			return CUDA_SUCCESS;
		}
	}
	struct fc_func *f = calloc(1, sizeof(*f));
	if (!f)
		return CUDA_ERROR_OUT_OF_MEMORY;
	f->magic = FC_MAGIC_FUNC;
	f->mod = m;
	f->ctx = m->ctx;
	f->def = &fc_kernels[i];
	f->own = default_attrs;
	f->attrs = &f->own;
	f->next = fc_funcs;
	fc_funcs = f;
	*hfunc = (CUfunction)f;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
	FC_LOCKED(module_get_function(hfunc, hmod, name));
}

static CUresult library_get_kernel(CUkernel *pkernel, CUlibrary library, const char *name)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!pkernel || !name)
		return CUDA_ERROR_INVALID_VALUE;
	*pkernel = NULL;
	struct fc_module *m;
	if ((r = module_handle("cuLibraryGetKernel", library, FC_MAGIC_LIBRARY, &m)))
		return r;
	if (fc_sticky)
		return fc_sticky;
	int i = registry_index(name);
	if (i < 0 || !(m->kernels & (1ull << i)))
		return CUDA_ERROR_NOT_FOUND;
	for (struct fc_kernel *k = fc_kernel_objs; k; k = k->next) {
		if (k->lib == m && k->def == &fc_kernels[i]) {
			*pkernel = (CUkernel)k;
			return CUDA_SUCCESS;
		}
	}
	struct fc_kernel *k = calloc(1, sizeof(*k));
	if (!k)
		return CUDA_ERROR_OUT_OF_MEMORY;
	k->magic = FC_MAGIC_KERNEL;
	k->lib = m;
	k->def = &fc_kernels[i];
	k->attrs = default_attrs;
	k->next = fc_kernel_objs;
	fc_kernel_objs = k;
	*pkernel = (CUkernel)k;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name)
{
	FC_LOCKED(library_get_kernel(pKernel, library, name));
}

/* The CUfunction of a kernel in the current context (one per kernel and context). */
static CUresult kernel_get_function(CUfunction *pfunc, CUkernel kernel)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!pfunc)
		return CUDA_ERROR_INVALID_VALUE;
	struct fc_kernel *k;
	if ((r = kernel_handle("cuKernelGetFunction", kernel, CUDA_ERROR_INVALID_HANDLE, &k)))
		return r;
	if ((r = fc_current(&c)))
		return r;
	for (struct fc_func *f = fc_funcs; f; f = f->next) {
		if (f->kernel == k && f->ctx == c) {
			*pfunc = (CUfunction)f;
			return CUDA_SUCCESS;
		}
	}
	struct fc_func *f = calloc(1, sizeof(*f));
	if (!f)
		return CUDA_ERROR_OUT_OF_MEMORY;
	f->magic = FC_MAGIC_FUNC;
	f->mod = k->lib;
	f->kernel = k;
	f->ctx = c;
	f->def = k->def;
	f->attrs = &k->attrs;
	f->next = fc_funcs;
	fc_funcs = f;
	*pfunc = (CUfunction)f;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel)
{
	FC_LOCKED(kernel_get_function(pFunc, kernel));
}

/* Optional outputs, as documented; a kernel's name is not a global (INVALID_VALUE, as the driver). */
static CUresult get_global(const char *call, CUdeviceptr *dptr, size_t *bytes, const void *h,
			   uint32_t magic, const char *name)
{
	struct fc_module *m;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!name)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = module_handle(call, h, magic, &m)))
		return r;
	if (fc_sticky)
		return fc_sticky;
	int k = registry_index(name);
	if (k >= 0 && (m->kernels & (1ull << k)))
		return CUDA_ERROR_INVALID_VALUE;
	for (unsigned i = 0; i < fc_global_count; i++) {
		if (strcmp(fc_globals[i].name, name) || !m->global_mem[i])
			continue;
		if (dptr)
			*dptr = m->global_mem[i]->base;
		if (bytes)
			*bytes = m->global_mem[i]->size;
		return CUDA_SUCCESS;
	}
	return CUDA_ERROR_NOT_FOUND;
}

FC_EXPORT CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name)
{
	FC_LOCKED(get_global("cuModuleGetGlobal", dptr, bytes, hmod, FC_MAGIC_MODULE, name));
}

FC_EXPORT CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name)
{
	FC_LOCKED(get_global("cuLibraryGetGlobal", dptr, bytes, library, FC_MAGIC_LIBRARY, name));
}

/* ------------------------------------------------------------ parameters */

static CUresult param_info(const struct fc_kernel_def *def, size_t index, size_t *offset, size_t *size)
{
	if (!offset || index >= def->nparams)
		return CUDA_ERROR_INVALID_VALUE;
	*offset = def->params[index].offset;
	if (size)	/* optional */
		*size = def->params[index].size;
	return CUDA_SUCCESS;
}

static CUresult func_get_param_info(CUfunction func, size_t index, size_t *offset, size_t *size)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	struct fc_func *f = find_func(func);
	if (!f)
		return not_a_function("cuFuncGetParamInfo", func, CUDA_ERROR_INVALID_VALUE);
	return param_info(f->def, index, offset, size);
}

FC_EXPORT CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset,
				      size_t *paramSize)
{
	FC_LOCKED(func_get_param_info(func, paramIndex, paramOffset, paramSize));
}

static CUresult kernel_get_param_info(CUkernel kernel, size_t index, size_t *offset, size_t *size)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	struct fc_kernel *k;
	if ((r = kernel_handle("cuKernelGetParamInfo", kernel, CUDA_ERROR_INVALID_VALUE, &k)))
		return r;
	return param_info(k->def, index, offset, size);
}

FC_EXPORT CUresult cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset,
					size_t *paramSize)
{
	FC_LOCKED(kernel_get_param_info(kernel, paramIndex, paramOffset, paramSize));
}

/* ------------------------------------------------------------ attributes */

/* Threads per block the register file allows (1024 for every registry kernel). */
static int max_threads(const struct fc_kernel_def *def)
{
	int regs = def->num_regs < 8 ? 8 : (def->num_regs + 7) / 8 * 8;
	int t = 65536 / regs / 32 * 32;
	return t > 1024 ? 1024 : t;
}

static CUresult attr_get(const struct fc_kernel_def *def, const struct fc_fattrs *a,
			 const struct fc_module *m, CUfunction_attribute attrib, int *pi)
{
	switch (attrib) {
	case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *pi = max_threads(def); break;
	case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES: *pi = def->shared_bytes; break;
	case CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES: *pi = def->const_bytes; break;
	case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES: *pi = def->local_bytes; break;
	case CU_FUNC_ATTRIBUTE_NUM_REGS: *pi = def->num_regs; break;
	case CU_FUNC_ATTRIBUTE_PTX_VERSION: *pi = m->ptx_arch; break;
	case CU_FUNC_ATTRIBUTE_BINARY_VERSION: *pi = m->bin_arch; break;
	case CU_FUNC_ATTRIBUTE_CACHE_MODE_CA: *pi = 0; break;
	case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: *pi = a->max_dyn_shared; break;
	case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: *pi = a->carveout; break;
	case CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET: *pi = 0; break;
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH: *pi = a->cluster[0]; break;
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT: *pi = a->cluster[1]; break;
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH: *pi = a->cluster[2]; break;
	case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED: *pi = a->non_portable; break;
	case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE: *pi = a->sched_policy; break;
	default: return CUDA_ERROR_INVALID_VALUE;
	}
	return CUDA_SUCCESS;
}

/* The settable attributes, with the ranges the driver enforced; the rest are read-only. */
static CUresult attr_set(const struct fc_kernel_def *def, struct fc_fattrs *a,
			 CUfunction_attribute attrib, int v)
{
	switch (attrib) {
	case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
		if (v < 0 || v > FC_MAX_SHARED_OPTIN - def->shared_bytes)
			return CUDA_ERROR_INVALID_VALUE;
		a->max_dyn_shared = v;
		return CUDA_SUCCESS;
	case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
		if (v < -1 || v > 100)
			return CUDA_ERROR_INVALID_VALUE;
		a->carveout = v;
		return CUDA_SUCCESS;
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
	case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
		/* none of the registry kernels sets a cluster size at compile time */
		if (v < 0)
			return CUDA_ERROR_INVALID_VALUE;
		a->cluster[attrib - CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH] = v;
		return CUDA_SUCCESS;
	case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
		a->non_portable = v;
		return CUDA_SUCCESS;
	case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
		if (v < CU_CLUSTER_SCHEDULING_POLICY_DEFAULT || v > CU_CLUSTER_SCHEDULING_POLICY_LOAD_BALANCING)
			return CUDA_ERROR_INVALID_VALUE;
		a->sched_policy = v;
		return CUDA_SUCCESS;
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
}

static CUresult func_get_attribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!pi)
		return CUDA_ERROR_INVALID_VALUE;
	struct fc_func *f = find_func(hfunc);
	if (!f)
		return not_a_function("cuFuncGetAttribute", hfunc, CUDA_ERROR_INVALID_HANDLE);
	return attr_get(f->def, f->attrs, f->mod, attrib, pi);
}

FC_EXPORT CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc)
{
	FC_LOCKED(func_get_attribute(pi, attrib, hfunc));
}

static CUresult func_set_attribute(CUfunction hfunc, CUfunction_attribute attrib, int value)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	struct fc_func *f = find_func(hfunc);
	if (!f)
		return not_a_function("cuFuncSetAttribute", hfunc, CUDA_ERROR_INVALID_HANDLE);
	return attr_set(f->def, f->attrs, attrib, value);
}

FC_EXPORT CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)
{
	FC_LOCKED(func_set_attribute(hfunc, attrib, value));
}

static CUresult kernel_get_attribute(int *pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!pi)
		return CUDA_ERROR_INVALID_VALUE;
	struct fc_kernel *k;
	if ((r = kernel_handle("cuKernelGetAttribute", kernel, CUDA_ERROR_INVALID_HANDLE, &k)))
		return r;
	if ((r = fc_check_device(dev)))
		return r;
	return attr_get(k->def, &k->attrs, k->lib, attrib, pi);
}

FC_EXPORT CUresult cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev)
{
	FC_LOCKED(kernel_get_attribute(pi, attrib, kernel, dev));
}

static CUresult kernel_set_attribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	struct fc_kernel *k;
	if ((r = kernel_handle("cuKernelSetAttribute", kernel, CUDA_ERROR_INVALID_HANDLE, &k)))
		return r;
	if ((r = fc_check_device(dev)))
		return r;
	return attr_set(k->def, &k->attrs, attrib, val);
}

FC_EXPORT CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev)
{
	FC_LOCKED(kernel_set_attribute(attrib, val, kernel, dev));
}

/* ------------------------------------------------------------ launch */

/* What one running kernel knows of memory (fc_thread.mem). */
struct exec {
	struct fc_op *op;
	uint64_t last_base;		/* the owned block the previous access hit */
	size_t last_size;
	bool faulted, abandoned;
	uint64_t fault_addr;
	unsigned backoff_us;
};

/*
 * One load or store of a kernel.  The double's own memory (device and
 * pinned) stays while the operation runs, so the block of the previous
 * access is reused without a lock; registered memory is the application's
 * and is touched only under fc_mem_lock (fakecuda.h).
 */
static bool k_access(struct exec *x, uint64_t addr, void *buf, size_t n, bool write)
{
	uint64_t base;
	size_t size;

	if (fc_op_abandoned(x->op)) {
		x->abandoned = true;
		return false;
	}
	if (x->last_size && addr >= x->last_base && addr - x->last_base <= x->last_size &&
	    n <= x->last_size - (addr - x->last_base)) {
		base = x->last_base;
		size = x->last_size;
	} else {
		pthread_mutex_lock(&fc_mem_lock);
		if (!fc_mem_usable(addr, n, x->op->seq, write, &base, &size)) {
			pthread_mutex_unlock(&fc_mem_lock);
			if (!x->faulted) {
				x->faulted = true;
				x->fault_addr = addr;
			}
			return false;
		}
		if (size == 0) {	/* registered: only under the lock */
			if (write)
				memcpy((void *)(uintptr_t)addr, buf, n);
			else
				memcpy(buf, (const void *)(uintptr_t)addr, n);
			pthread_mutex_unlock(&fc_mem_lock);
			return true;
		}
		pthread_mutex_unlock(&fc_mem_lock);
		x->last_base = base;
		x->last_size = size;
	}
	if (write)
		memcpy((void *)(uintptr_t)addr, buf, n);
	else
		memcpy(buf, (const void *)(uintptr_t)addr, n);
	return true;
}

static bool k_load(void *mem, uint64_t addr, void *dst, size_t n)
{
	return k_access(mem, addr, dst, n, false);
}

static bool k_store(void *mem, uint64_t addr, const void *src, size_t n)
{
	return k_access(mem, addr, (void *)src, n, true);
}

static uint64_t k_global(void *mem, unsigned index)
{
	struct exec *x = mem;
	return index < FC_MAX_GLOBALS ? x->op->kernel.globals[index] : 0;	/* 0: the access faults */
}

/* A spinning kernel lets the writer run, and stops when its launch is abandoned. */
static bool k_relax(void *mem)
{
	struct exec *x = mem;

	if (fc_op_abandoned(x->op)) {
		x->abandoned = true;
		return false;
	}
	fc_poll_pause(&x->backoff_us);
	return true;
}

/* On the device thread: every (block, thread) index, until a fault or abandonment. */
bool fc_run_kernel(struct fc_op *op, uint64_t *fault)
{
	const uint32_t *grid = op->kernel.grid, *block = op->kernel.block;
	struct exec x = { .op = op };
	struct fc_thread t = {
		.grid = { grid[0], grid[1], grid[2] },
		.bdim = { block[0], block[1], block[2] },
		.params = op->kernel.params,
		.def = op->kernel.def,
		.mem = &x,
		.load = k_load,
		.store = k_store,
		.global = k_global,
		.relax = k_relax,
	};
	for (uint32_t bz = 0; bz < grid[2] && !x.faulted && !x.abandoned; bz++)
	for (uint32_t by = 0; by < grid[1] && !x.faulted && !x.abandoned; by++)
	for (uint32_t bx = 0; bx < grid[0] && !x.faulted && !x.abandoned; bx++)
	for (uint32_t tz = 0; tz < block[2] && !x.faulted && !x.abandoned; tz++)
	for (uint32_t ty = 0; ty < block[1] && !x.faulted && !x.abandoned; ty++)
	for (uint32_t tx = 0; tx < block[0] && !x.faulted && !x.abandoned; tx++) {
		t.block[0] = bx, t.block[1] = by, t.block[2] = bz;
		t.thread[0] = tx, t.thread[1] = ty, t.thread[2] = tz;
		op->kernel.def->run(&t);
	}
	*fault = x.fault_addr;
	return !x.faulted;
}

/* kernelParams or extra (never both) into the registry's layout. */
static CUresult pack_params(const struct fc_kernel_def *def, void **kernel_params, void **extra,
			    uint8_t *buf)
{
	if (kernel_params && extra)
		return CUDA_ERROR_INVALID_VALUE;
	if (kernel_params) {
		for (unsigned i = 0; i < def->nparams; i++) {
			if (!kernel_params[i])
				return CUDA_ERROR_INVALID_VALUE;
			memcpy(buf + def->params[i].offset, kernel_params[i], def->params[i].size);
		}
		return CUDA_SUCCESS;
	}
	if (extra) {
		const void *ptr = NULL;
		const size_t *size = NULL;
		for (void **e = extra; *e != CU_LAUNCH_PARAM_END; e += 2) {
			if (e[0] == CU_LAUNCH_PARAM_BUFFER_POINTER)
				ptr = e[1];
			else if (e[0] == CU_LAUNCH_PARAM_BUFFER_SIZE)
				size = e[1];
			else
				return CUDA_ERROR_INVALID_VALUE;
		}
		if (!ptr || !size || *size == 0)
			return CUDA_ERROR_INVALID_VALUE;
		/* more than the kernel takes: what the real driver answered */
		if (*size > def->param_bytes)
			return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
		/* fewer: the real driver launched with the rest undefined; the double refuses */
		if (*size < def->param_bytes)
			return CUDA_ERROR_INVALID_VALUE;
		memcpy(buf, ptr, def->param_bytes);
		return CUDA_SUCCESS;
	}
	return def->nparams ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

/*
 * @cluster: the cluster shape a launch attribute asked for, or NULL for the
 * function's own (cuFuncSetAttribute REQUIRED_CLUSTER_*).
 */
static CUresult launch(const char *call, CUfunction f, const uint32_t grid[3],
		       const uint32_t block[3], unsigned shared, CUstream hstream,
		       void **kernel_params, void **extra, const int *cluster)
{
	struct fc_queue *q;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	struct fc_func *fn = find_func(f);
	struct fc_kernel *k = fn ? NULL : find_kernel(f);
	if (!fn && !k)
		return fc_forged(call, "function or kernel", CUDA_ERROR_INVALID_HANDLE);
	/* the context is the stream's, or the current one for the NULL stream (cuda.h) */
	if ((r = fc_stream_resolve(call, hstream, NULL, NULL, &q)))
		return r;
	const struct fc_kernel_def *def = fn ? fn->def : k->def;
	const struct fc_fattrs *a = fn ? fn->attrs : &k->attrs;
	struct fc_module *mod = fn ? fn->mod : k->lib;

	static const uint32_t max_block[3] = { 1024, 1024, 64 };
	static const uint32_t max_grid[3] = { 2147483647u, 65535, 65535 };
	for (int i = 0; i < 3; i++)
		if (grid[i] == 0 || block[i] == 0 || grid[i] > max_grid[i] || block[i] > max_block[i])
			return CUDA_ERROR_INVALID_VALUE;
	uint64_t threads = (uint64_t)block[0] * block[1] * block[2];
	if (threads > (uint64_t)max_threads(def))
		return CUDA_ERROR_INVALID_VALUE;
	if (shared > (unsigned)a->max_dyn_shared)
		return CUDA_ERROR_INVALID_VALUE;
	if (!cluster)
		cluster = a->cluster;
	if (cluster[0] || cluster[1] || cluster[2]) {
		unsigned limit = a->non_portable ? 16 : 8;
		if (cluster[0] <= 0 || cluster[1] <= 0 || cluster[2] <= 0 ||
		    (uint64_t)cluster[0] * cluster[1] * cluster[2] > limit)
			return CUDA_ERROR_INVALID_CLUSTER_SIZE;
		for (int i = 0; i < 3; i++)
			if (grid[i] % (uint32_t)cluster[i])
				return CUDA_ERROR_INVALID_CLUSTER_SIZE;
	}
	struct fc_op *op = fc_op_new(FC_OP_KERNEL, call);
	uint8_t *buf = calloc(1, def->param_bytes ? def->param_bytes : 1);
	if (!op || !buf) {
		free(buf);
		if (op)
			fc_op_unref(op);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	op->kernel.params = buf;	/* freed with the operation */
	if ((r = pack_params(def, kernel_params, extra, buf))) {
		fc_op_unref(op);
		return r;
	}
	unsigned __int128 total = (unsigned __int128)grid[0] * grid[1] * grid[2] * threads;
	if (total > fc_max_launch_threads) {
		fc_log("%s: a launch of %llu threads is over FAKECUDA_MAX_LAUNCH_THREADS=%llu",
		       def->decl, (unsigned long long)(total > UINT64_MAX ? UINT64_MAX : (uint64_t)total),
		       (unsigned long long)fc_max_launch_threads);
		fc_op_unref(op);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	op->kernel.def = def;
	memcpy(op->kernel.grid, grid, sizeof(op->kernel.grid));
	memcpy(op->kernel.block, block, sizeof(op->kernel.block));
	for (unsigned i = 0; i < FC_MAX_GLOBALS; i++)
		op->kernel.globals[i] = mod->global_mem[i] ? mod->global_mem[i]->base : 0;
	/* accepted: a fault is what later calls report */
	return fc_submit(q, op, false);
}

FC_EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
				  unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
				  unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
				  void **kernelParams, void **extra)
{
	const uint32_t grid[3] = { gridDimX, gridDimY, gridDimZ };
	const uint32_t block[3] = { blockDimX, blockDimY, blockDimZ };
	FC_LOCKED(launch("cuLaunchKernel", f, grid, block, sharedMemBytes, hStream, kernelParams,
			 extra, NULL));
}

/*
 * cuLaunchKernelEx's attributes, as cuda.h defines them.  Scheduling hints
 * (priority, programmatic serialisation, memory sync domains, carveout,
 * access policy) change nothing the double can show: they are checked and
 * accepted.  A cluster shape is checked as the function's own would be; the
 * events are recorded after the kernel (the double runs a kernel's blocks in
 * order, so "all blocks triggered" and "last block launched" are its end).
 */
struct launch_ex_attrs {
	int cluster[3];
	bool has_cluster;
	CUevent events[2];
	unsigned nevents;
};

/* One line per attribute, so that tests can see what the executor handed the driver. */
static void trace_attr(const char *call, const CUlaunchAttribute *at)
{
	const CUlaunchAttributeValue *v = &at->value;

	switch (at->id) {
	case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
	case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
		fc_log("%s attribute %d: %ux%ux%u", call, (int)at->id, v->clusterDim.x,
		       v->clusterDim.y, v->clusterDim.z);
		break;
	case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT:
		fc_log("%s attribute %d: event %s flags %d trigger %d", call, (int)at->id,
		       v->programmaticEvent.event ? "set" : "NULL", v->programmaticEvent.flags,
		       v->programmaticEvent.triggerAtBlockStart);
		break;
	case CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT:
		fc_log("%s attribute %d: event %s flags %d", call, (int)at->id,
		       v->launchCompletionEvent.event ? "set" : "NULL", v->launchCompletionEvent.flags);
		break;
	default:	/* every other value is (or starts with) one int */
		fc_log("%s attribute %d: %d", call, (int)at->id, v->priority);
		break;
	}
}

static CUresult parse_launch_attrs(const CUlaunchConfig *cfg, struct launch_ex_attrs *x)
{
	memset(x, 0, sizeof(*x));
	if (cfg->numAttrs && !cfg->attrs)
		return CUDA_ERROR_INVALID_VALUE;
	for (unsigned i = 0; i < cfg->numAttrs; i++) {
		const CUlaunchAttribute *at = &cfg->attrs[i];
		const CUlaunchAttributeValue *v = &at->value;

		if (fc_trace_launch)
			trace_attr("cuLaunchKernelEx", at);

		switch (at->id) {
		case CU_LAUNCH_ATTRIBUTE_IGNORE:
		case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
		case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
		case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
		case CU_LAUNCH_ATTRIBUTE_PRIORITY:
		case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
		case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
		case CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING:
		case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
			break;
		case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY:
			if (v->syncPolicy < CU_SYNC_POLICY_AUTO || v->syncPolicy > CU_SYNC_POLICY_BLOCKING_SYNC)
				return CUDA_ERROR_INVALID_VALUE;
			break;
		case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
			if ((unsigned)v->clusterSchedulingPolicyPreference > CU_CLUSTER_SCHEDULING_POLICY_LOAD_BALANCING)
				return CUDA_ERROR_INVALID_VALUE;
			break;
		case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
			if ((unsigned)v->memSyncDomain > CU_LAUNCH_MEM_SYNC_DOMAIN_REMOTE)
				return CUDA_ERROR_INVALID_VALUE;
			break;
		case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
			x->cluster[0] = (int)v->clusterDim.x;
			x->cluster[1] = (int)v->clusterDim.y;
			x->cluster[2] = (int)v->clusterDim.z;
			if (x->cluster[0] <= 0 || x->cluster[1] <= 0 || x->cluster[2] <= 0)
				return CUDA_ERROR_INVALID_CLUSTER_SIZE;
			x->has_cluster = true;
			break;
		case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT:
		case CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT:
			if (v->launchCompletionEvent.flags != CU_EVENT_RECORD_DEFAULT)
				return CUDA_ERROR_INVALID_VALUE;
			if (!v->launchCompletionEvent.event)
				return CUDA_ERROR_INVALID_HANDLE;
			/* cuda.h: "The event must disable timing" */
			for (struct fc_event *e = fc_events; e; e = e->next)
				if ((CUevent)e == v->launchCompletionEvent.event &&
				    !(e->flags & CU_EVENT_DISABLE_TIMING))
					return CUDA_ERROR_INVALID_VALUE;
			if (x->nevents < 2)
				x->events[x->nevents++] = v->launchCompletionEvent.event;
			break;
		default:	/* DEVICE_UPDATABLE_KERNEL_NODE is for graphs only */
			return CUDA_ERROR_INVALID_VALUE;
		}
	}
	return CUDA_SUCCESS;
}

static CUresult launch_ex(const CUlaunchConfig *cfg, CUfunction f, void **kernel_params,
			  void **extra)
{
	static const char call[] = "cuLaunchKernelEx";
	struct launch_ex_attrs x;
	CUresult r;

	if (!cfg)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = parse_launch_attrs(cfg, &x)))
		return r;
	const uint32_t grid[3] = { cfg->gridDimX, cfg->gridDimY, cfg->gridDimZ };
	const uint32_t block[3] = { cfg->blockDimX, cfg->blockDimY, cfg->blockDimZ };
	r = launch(call, f, grid, block, cfg->sharedMemBytes, cfg->hStream, kernel_params, extra,
		   x.has_cluster ? x.cluster : NULL);
	for (unsigned i = 0; r == CUDA_SUCCESS && i < x.nevents; i++)
		r = fc_event_record(call, x.events[i], cfg->hStream);
	return r;
}

FC_EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
				    void **extra)
{
	FC_LOCKED(launch_ex(config, f, kernelParams, extra));
}

/* ------------------------------------------------------------ cache configuration */

static CUresult func_set_config(const char *call, CUfunction hfunc, unsigned config, unsigned max,
				bool cache)
{
	CUresult r = fc_check_init();
	struct fc_func *f;

	if (r)
		return r;
	if (!(f = find_func(hfunc)))
		return not_a_function(call, hfunc, CUDA_ERROR_INVALID_HANDLE);
	if (config > max)
		return CUDA_ERROR_INVALID_VALUE;
	/* The cache preference is what the occupancy calculator reads; the bank size nothing. */
	if (cache)
		f->attrs->cache_config = (int)config;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config)
{
	FC_LOCKED(func_set_config("cuFuncSetCacheConfig", hfunc, config, CU_FUNC_CACHE_PREFER_EQUAL,
				  true));
}

FC_EXPORT CUresult cuFuncSetSharedMemConfig(CUfunction hfunc, CUsharedconfig config)
{
	FC_LOCKED(func_set_config("cuFuncSetSharedMemConfig", hfunc, config,
				  CU_SHARED_MEM_CONFIG_EIGHT_BYTE_BANK_SIZE, false));
}

static CUresult kernel_set_cache_config(CUkernel kernel, CUfunc_cache config, CUdevice dev)
{
	struct fc_kernel *k;
	CUresult r = fc_check_init();

	if (r || (r = kernel_handle("cuKernelSetCacheConfig", kernel, CUDA_ERROR_INVALID_HANDLE, &k)) ||
	    (r = fc_check_device(dev)))
		return r;
	if ((unsigned)config > CU_FUNC_CACHE_PREFER_EQUAL)
		return CUDA_ERROR_INVALID_VALUE;
	k->attrs.cache_config = (int)config;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev)
{
	FC_LOCKED(kernel_set_cache_config(kernel, config, dev));
}

/* ------------------------------------------------------------ occupancy */

/*
 * The toolkit's own calculator over the double's device and function
 * attributes: one block barrier (FAKECUDA_BLOCK_BARRIERS: as many as a
 * kernel with named barriers has, which no attribute reports), no virtual
 * resources.
 */
static CUresult max_active_blocks(int *out, CUfunction func, int block, size_t dyn)
{
	static const char call[] = "cuOccupancyMaxActiveBlocksPerMultiprocessor";
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	struct fc_func *fn = find_func(func);
	struct fc_kernel *k = fn ? NULL : find_kernel(func);
	if (!fn && !k)
		return func ? fc_forged(call, "function or kernel", CUDA_ERROR_INVALID_HANDLE)
			    : CUDA_ERROR_INVALID_HANDLE;
	const struct fc_kernel_def *def = fn ? fn->def : k->def;
	const struct fc_fattrs *a = fn ? fn->attrs : &k->attrs;
	cudaOccDeviceProp p = {
		.computeMajor = fc_device_attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
		.computeMinor = fc_device_attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
		.maxThreadsPerBlock = fc_device_attr(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK),
		.maxThreadsPerMultiprocessor =
			fc_device_attr(CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR),
		.regsPerBlock = fc_device_attr(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK),
		.regsPerMultiprocessor =
			fc_device_attr(CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR),
		.warpSize = fc_device_attr(CU_DEVICE_ATTRIBUTE_WARP_SIZE),
		.sharedMemPerBlock = (size_t)fc_device_attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK),
		.sharedMemPerMultiprocessor =
			(size_t)fc_device_attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR),
		.numSms = fc_device_attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
		.sharedMemPerBlockOptin =
			(size_t)fc_device_attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
		.reservedSharedMemPerBlock =
			(size_t)fc_device_attr(CU_DEVICE_ATTRIBUTE_RESERVED_SHARED_MEMORY_PER_BLOCK),
	};
	cudaOccFuncAttributes fa = {
		.maxThreadsPerBlock = max_threads(def),
		.numRegs = def->num_regs,
		.sharedSizeBytes = (size_t)def->shared_bytes,
		.partitionedGCConfig = PARTITIONED_GC_OFF,
		.shmemLimitConfig = FUNC_SHMEM_LIMIT_OPTIN,
		.maxDynamicSharedSizeBytes = (size_t)a->max_dyn_shared,
		.numBlockBarriers = fc_block_barriers,
	};
	cudaOccDeviceState st = { .cacheConfig = (cudaOccCacheConfig)a->cache_config,
				  .carveoutConfig = a->carveout };
	cudaOccResult res;
	cudaOccError e = cudaOccMaxActiveBlocksPerMultiprocessor(&res, &p, &fa, &st, block, dyn);
	if (e != CUDA_OCC_SUCCESS)
		return CUDA_ERROR_INVALID_VALUE;
	*out = res.activeBlocksPerMultiprocessor;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func,
							       int blockSize, size_t dynamicSMemSize)
{
	FC_LOCKED(max_active_blocks(numBlocks, func, blockSize, dynamicSMemSize));
}

/* ------------------------------------------------------------ cluster occupancy */

/*
 * The double's model, not a GPU's: clusters of up to 8 blocks (16 with
 * NON_PORTABLE_CLUSTER_SIZE_ALLOWED), one block per SM at a time, so
 * FC_SM_COUNT / cluster size clusters at once.  A query for active clusters
 * needs a cluster shape, from the configuration or the function.
 */
static CUresult occupancy_cluster(bool active, int *out, CUfunction func, const CUlaunchConfig *cfg)
{
	static const char call[] = "cuOccupancyMaxActiveClusters";
	struct launch_ex_attrs x;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!out || !cfg)
		return CUDA_ERROR_INVALID_VALUE;
	struct fc_func *fn = find_func(func);
	struct fc_kernel *k = fn ? NULL : find_kernel(func);
	if (!fn && !k)
		return func ? fc_forged(call, "function or kernel", CUDA_ERROR_INVALID_HANDLE)
			    : CUDA_ERROR_INVALID_HANDLE;
	if ((r = parse_launch_attrs(cfg, &x)))
		return r;
	if (x.nevents)
		return CUDA_ERROR_INVALID_VALUE;
	const struct fc_fattrs *a = fn ? fn->attrs : &k->attrs;
	int limit = a->non_portable ? 16 : 8;
	if (!active) {
		*out = limit;
		return CUDA_SUCCESS;
	}
	const int *c = x.has_cluster ? x.cluster : a->cluster;
	if (c[0] <= 0 || c[1] <= 0 || c[2] <= 0 || (int64_t)c[0] * c[1] * c[2] > limit)
		return CUDA_ERROR_INVALID_CLUSTER_SIZE;
	*out = FC_SM_COUNT / (c[0] * c[1] * c[2]);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuOccupancyMaxPotentialClusterSize(int *clusterSize, CUfunction func,
						      const CUlaunchConfig *config)
{
	FC_LOCKED(occupancy_cluster(false, clusterSize, func, config));
}

FC_EXPORT CUresult cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func,
						const CUlaunchConfig *config)
{
	FC_LOCKED(occupancy_cluster(true, numClusters, func, config));
}
