// SPDX-License-Identifier: MIT
/*
 * Modules and libraries.  An image is named by its SHA-256; the executor
 * loads it from its cache or asks for it once (decision 8).  Functions and
 * kernels are looked up once per name and keep their parameter layout, which
 * the launch path needs to pack arguments.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../common/sha256.h"
#include "channel.h"
#include "context.h"
#include "../common/image.h"
#include "log.h"
#include "memory.h"
#include "module.h"
#include "shim.h"
#include "state.h"

/* Send the image in bulk-sized pieces; the executor hashes what arrives. */
static CUresult upload(const uint8_t hash[VGPU_HASH_SIZE], const uint8_t *data, size_t size)
{
	uint64_t chunk = vgpu_bulk_chunk();
	CUresult r = CUDA_SUCCESS;

	for (size_t off = 0; off < size && r == CUDA_SUCCESS; off += chunk) {
		struct vgpu_image_upload_args a = { .total = size, .offset = off };
		uint64_t len = size - off < chunk ? size - off : chunk;
		struct vgpu_bulk_buf b;

		memcpy(a.hash, hash, VGPU_HASH_SIZE);
		if (!vgpu_bulk_alloc(len, true, &b))
			return CUDA_ERROR_DEVICE_UNAVAILABLE;
		memcpy(b.ptr, data + off, len);
		a.src = b.ref;
		r = vgpu_call_bulk_out(VGPU_OP_IMAGE_UPLOAD, 0, 0, &a, sizeof(a),
				       offsetof(struct vgpu_image_upload_args, bulk_seq), &b);
	}
	return r;
}

static CUresult load_image(const void *image, uint32_t kind, struct vgpu_ctx *ctx,
			   struct vgpu_module **out)
{
	struct vgpu_module_load_args a = { .kind = kind };
	struct vgpu_image_span span;
	struct vgpu_module *m;
	CUresult r;

	if (!image)
		return CUDA_ERROR_INVALID_VALUE;
	if (vgpu_image_span(image, SIZE_MAX - (uintptr_t)image, &span)) {
		vgpu_log("%s: not a fatbin, cubin or PTX image%s", kind ? "cuLibraryLoadData"
									 : "cuModuleLoadData",
			 span.kind == VGPU_IMAGE_ARCHIVE ? " (a library archive)" : "");
		return CUDA_ERROR_INVALID_IMAGE;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	m->o = (struct vgpu_obj){ kind == VGPU_IMAGE_LIBRARY ? VGPU_KIND_LIBRARY : VGPU_KIND_MODULE,
				  vgpu_new_id() };
	m->ctx = ctx;
	pthread_mutex_init(&m->lock, NULL);
	a.id = m->o.id;
	a.size = span.size;
	vgpu_sha256(span.data, span.size, a.hash);

	r = vgpu_call_sync(VGPU_OP_MODULE_LOAD, ctx ? vgpu_ctx_wire(ctx) : 0, &a, sizeof(a), NULL);
	if (r == (CUresult)VGPU_STATUS_NEED_IMAGE) {
		r = upload(a.hash, span.data, span.size);
		if (r == CUDA_SUCCESS)
			r = vgpu_call_sync(VGPU_OP_MODULE_LOAD, ctx ? vgpu_ctx_wire(ctx) : 0, &a,
					   sizeof(a), NULL);
		if (r == (CUresult)VGPU_STATUS_NEED_IMAGE)
			r = CUDA_ERROR_INVALID_IMAGE;	/* what arrived did not hash right */
	}
	if (r != CUDA_SUCCESS) {
		free(m);
		return r;
	}
	*out = m;
	return CUDA_SUCCESS;
}

/*
 * JIT and library options.  Logs are answered as empty; options that would
 * change what is compiled are not forwarded yet, so they are refused rather
 * than silently dropped.
 */
static CUresult check_jit_options(unsigned int n, CUjit_option *opts, void **vals)
{
	if (n && (!opts || !vals))
		return CUDA_ERROR_INVALID_VALUE;
	for (unsigned int i = 0; i < n; i++) {
		switch (opts[i]) {
		case CU_JIT_INFO_LOG_BUFFER:
		case CU_JIT_ERROR_LOG_BUFFER:
			if (vals[i])
				*(char *)vals[i] = '\0';
			break;
		case CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES:
		case CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES:
			vals[i] = (void *)(uintptr_t)0;
			break;
		case CU_JIT_WALL_TIME:
			*(float *)&vals[i] = 0.0f;
			break;
		case CU_JIT_LOG_VERBOSE:
			break;
		default:
			vgpu_log("JIT option %d is not forwarded yet: refusing the load",
				 (int)opts[i]);
			return CUDA_ERROR_NOT_SUPPORTED;
		}
	}
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleLoadData(CUmodule *module, const void *image)
{
	struct vgpu_module *m;
	struct vgpu_ctx *c;
	CUresult r;

	if (!module)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_current_checked(&c);
	if (r == CUDA_SUCCESS)
		r = load_image(image, VGPU_IMAGE_MODULE, c, &m);
	if (r == CUDA_SUCCESS)
		*module = (CUmodule)m;
	return r;
}

CUresult CUDAAPI cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
				    CUjit_option *options, void **optionValues)
{
	CUresult r = check_jit_options(numOptions, options, optionValues);

	return r ? r : cuModuleLoadData(module, image);
}

CUresult CUDAAPI cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin)
{
	return cuModuleLoadData(module, fatCubin);
}

CUresult CUDAAPI cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
				   void **jitOptionsValues, unsigned int numJitOptions,
				   CUlibraryOption *libraryOptions, void **libraryOptionValues,
				   unsigned int numLibraryOptions)
{
	struct vgpu_module *m;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!library)
		return CUDA_ERROR_INVALID_VALUE;
	r = check_jit_options(numJitOptions, jitOptions, jitOptionsValues);
	if (r != CUDA_SUCCESS)
		return r;
	if (numLibraryOptions && (!libraryOptions || !libraryOptionValues))
		return CUDA_ERROR_INVALID_VALUE;
	for (unsigned int i = 0; i < numLibraryOptions; i++) {
		/*
		 * BINARY_IS_PRESERVED only permits the driver not to copy; the
		 * host table cudart passes describes guest memory the executor
		 * cannot use, and the executor's driver needs it only to map host
		 * functions to kernels, which the shim does by name.
		 */
		if (libraryOptions[i] != CU_LIBRARY_BINARY_IS_PRESERVED &&
		    libraryOptions[i] != CU_LIBRARY_HOST_UNIVERSAL_FUNCTION_AND_DATA_TABLE) {
			vgpu_log("library option %d is not forwarded yet", (int)libraryOptions[i]);
			return CUDA_ERROR_NOT_SUPPORTED;
		}
	}
	/* Libraries are context-independent: they are loaded into every context. */
	r = load_image(code, VGPU_IMAGE_LIBRARY, NULL, &m);
	if (r == CUDA_SUCCESS)
		*library = (CUlibrary)m;
	return r;
}

static CUresult unload(void *h, enum vgpu_kind kind)
{
	struct vgpu_module *m = vgpu_check(h, kind);
	struct vgpu_module_args a = { 0 };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!m)
		return CUDA_ERROR_INVALID_HANDLE;
	a.id = m->o.id;
	a.kind = kind == VGPU_KIND_LIBRARY ? VGPU_IMAGE_LIBRARY : VGPU_IMAGE_MODULE;
	r = vgpu_call_sync(VGPU_OP_MODULE_UNLOAD, m->ctx ? vgpu_ctx_wire(m->ctx) : 0, &a,
			   sizeof(a), NULL);
	if (r != CUDA_SUCCESS)
		return r;
	m->o.kind = VGPU_KIND_DEAD;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nglobals; i++)
		vgpu_alloc_forget_global(m->globals[i]);
	m->nglobals = 0;
	pthread_mutex_unlock(&m->lock);
	/* Function objects stay allocated: a program may still hold their handles. */
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleUnload(CUmodule hmod)
{
	return unload(hmod, VGPU_KIND_MODULE);
}

CUresult CUDAAPI cuLibraryUnload(CUlibrary library)
{
	return unload(library, VGPU_KIND_LIBRARY);
}

/* Find or look up @name in @m as a function (modules) or kernel (libraries). */
static CUresult get_func(struct vgpu_module *m, const char *name, struct vgpu_func **out)
{
	bool lib = m->o.kind == VGPU_KIND_LIBRARY;
	struct vgpu_module_get_args a = { .module = m->o.id,
					  .kind = lib ? VGPU_IMAGE_LIBRARY : VGPU_IMAGE_MODULE };
	size_t len = strlen(name);
	struct vgpu_func *f;
	CUresult r;

	pthread_mutex_lock(&m->lock);
	for (f = m->funcs; f; f = f->next)
		if (!strcmp(f->name, name))
			break;
	if (f) {
		pthread_mutex_unlock(&m->lock);
		*out = f;
		return CUDA_SUCCESS;
	}
	f = calloc(1, sizeof(*f));
	if (f)
		f->name = strdup(name);
	if (!f || !f->name || len >= 4096) {
		pthread_mutex_unlock(&m->lock);
		if (f)
			free(f->name);
		free(f);
		return len >= 4096 ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_OUT_OF_MEMORY;
	}
	f->o = (struct vgpu_obj){ lib ? VGPU_KIND_KERNEL : VGPU_KIND_FUNCTION, vgpu_new_id() };
	f->module = m;
	f->params_once = (pthread_once_t)PTHREAD_ONCE_INIT;
	f->dev = m->ctx ? m->ctx->dev : -1;	/* a library's kernel is asked about a device */
	a.new_id = f->o.id;
	a.name_len = (uint32_t)len;
	r = vgpu_call(lib ? VGPU_OP_LIBRARY_GET_KERNEL : VGPU_OP_MODULE_GET_FUNCTION,
		      VGPU_CMD_F_REPLY, m->ctx ? vgpu_ctx_wire(m->ctx) : 0, &a, sizeof(a), name, len,
		      NULL);
	if (r != CUDA_SUCCESS) {
		pthread_mutex_unlock(&m->lock);
		free(f->name);
		free(f);
		return r;
	}
	f->next = m->funcs;
	m->funcs = f;
	pthread_mutex_unlock(&m->lock);
	*out = f;
	return CUDA_SUCCESS;
}

/* cuModuleGetFunction and cuLibraryGetKernel: @h is a module or library of @kind. */
static CUresult lookup(void *h, enum vgpu_kind kind, const char *name, void **out)
{
	struct vgpu_module *m = vgpu_check(h, kind);
	struct vgpu_func *f;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!out || !name)
		return CUDA_ERROR_INVALID_VALUE;
	if (!m)
		return CUDA_ERROR_INVALID_HANDLE;
	r = get_func(m, name, &f);
	if (r == CUDA_SUCCESS)
		*out = f;
	return r;
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
	return lookup(hmod, VGPU_KIND_MODULE, name, (void **)hfunc);
}

CUresult CUDAAPI cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name)
{
	return lookup(library, VGPU_KIND_LIBRARY, name, (void **)pKernel);
}

static CUresult get_global(void *h, enum vgpu_kind kind, CUdeviceptr *dptr, size_t *bytes,
			   const char *name)
{
	struct vgpu_module *m = vgpu_check(h, kind);
	struct vgpu_module_get_args a = { .kind = kind == VGPU_KIND_LIBRARY ? VGPU_IMAGE_LIBRARY
									    : VGPU_IMAGE_MODULE };
	struct vgpu_global_reply g;
	struct vgpu_answer ans = { 0 };
	struct vgpu_ctx *c;
	CUresult r = vgpu_current_checked(&c);

	if (r != CUDA_SUCCESS)
		return r;
	if (!name || strlen(name) >= 4096)
		return CUDA_ERROR_INVALID_VALUE;
	if (!m)
		return CUDA_ERROR_INVALID_HANDLE;
	a.module = m->o.id;
	a.name_len = (uint32_t)strlen(name);
	r = vgpu_call(VGPU_OP_MODULE_GET_GLOBAL, VGPU_CMD_F_REPLY, vgpu_ctx_wire(c), &a, sizeof(a),
		      name, a.name_len, &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&g, ans.data, sizeof(g));
	pthread_mutex_lock(&m->lock);
	{
		CUdeviceptr *v = realloc(m->globals, (m->nglobals + 1) * sizeof(*v));

		if (v) {
			m->globals = v;
			v[m->nglobals++] = g.dptr;
			vgpu_alloc_note_global(g.dptr, g.size, c);
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (dptr)
		*dptr = g.dptr;
	if (bytes)
		*bytes = g.size;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod,
				      const char *name)
{
	return get_global(hmod, VGPU_KIND_MODULE, dptr, bytes, name);
}

CUresult CUDAAPI cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library,
				    const char *name)
{
	return get_global(library, VGPU_KIND_LIBRARY, dptr, bytes, name);
}

CUresult CUDAAPI cuModuleGetLoadingMode(CUmoduleLoadingMode *mode)
{
	if (!mode)
		return CUDA_ERROR_INVALID_VALUE;
	/* The executor's driver loads lazily, its default since CUDA 12.2. */
	*mode = CU_MODULE_LAZY_LOADING;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel)
{
	struct vgpu_func *k = vgpu_check(kernel, VGPU_KIND_KERNEL), *f;
	struct vgpu_kernel_get_function_args a;
	struct vgpu_ctx *c;
	CUresult r = vgpu_current_checked(&c);

	if (r != CUDA_SUCCESS)
		return r;
	if (!pFunc)
		return CUDA_ERROR_INVALID_VALUE;
	if (!k)
		return CUDA_ERROR_INVALID_HANDLE;
	f = calloc(1, sizeof(*f));
	if (f)
		f->name = strdup(k->name);
	if (!f || !f->name) {
		free(f);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	f->o = (struct vgpu_obj){ VGPU_KIND_FUNCTION, vgpu_new_id() };
	f->module = k->module;
	f->params_once = (pthread_once_t)PTHREAD_ONCE_INIT;
	f->dev = c->dev;
	a.kernel = k->o.id;
	a.new_id = f->o.id;
	r = vgpu_call_sync(VGPU_OP_KERNEL_GET_FUNCTION, vgpu_ctx_wire(c), &a, sizeof(a), NULL);
	if (r != CUDA_SUCCESS) {
		free(f->name);
		free(f);
		return r;
	}
	*pFunc = (CUfunction)f;
	return CUDA_SUCCESS;
}

/* ---- parameter layouts ---- */

static __thread struct vgpu_func *params_target;

static CUresult fetch_params(struct vgpu_func *f, uint32_t cap)
{
	struct vgpu_func_param_info_args a = { .func = f->o.id };
	struct vgpu_answer ans = { 0 };
	struct vgpu_bulk_buf b;
	struct vgpu_ctx *c = vgpu_current();
	uint32_t n;
	CUresult r;

	if (!vgpu_bulk_alloc((uint64_t)cap * sizeof(struct vgpu_param_info), true, &b))
		return CUDA_ERROR_DEVICE_UNAVAILABLE;
	a.out = b.ref;
	r = vgpu_call_sync(VGPU_OP_FUNC_GET_PARAM_INFO, c ? vgpu_ctx_wire(c) : 0, &a, sizeof(a),
			   &ans);
	if (r == CUDA_SUCCESS) {
		memcpy(&n, ans.data, sizeof(n));
		if (n > cap) {
			vgpu_bulk_free(&b);
			return fetch_params(f, n);
		}
		f->params = malloc((n ? n : 1) * sizeof(*f->params));
		if (!f->params) {
			r = CUDA_ERROR_OUT_OF_MEMORY;
		} else {
			memcpy(f->params, b.ptr, n * sizeof(*f->params));
			f->param_count = n;
			f->param_bytes = 0;
			for (uint32_t i = 0; i < n; i++) {
				uint64_t end = (uint64_t)f->params[i].offset + f->params[i].size;

				if (end > VGPU_MAX_PARAM_BYTES) {
					r = CUDA_ERROR_INVALID_VALUE;
					break;
				}
				if (end > f->param_bytes)
					f->param_bytes = (uint32_t)end;
			}
		}
	}
	vgpu_bulk_free(&b);
	return r;
}

static void params_once(void)
{
	struct vgpu_func *f = params_target;

	f->params_status = fetch_params(f, 256);
}

CUresult vgpu_func_params(struct vgpu_func *f)
{
	params_target = f;
	pthread_once(&f->params_once, params_once);
	return f->params_status;
}

static CUresult param_info(struct vgpu_func *f, size_t index, size_t *offset, size_t *size)
{
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	r = vgpu_func_params(f);
	if (r != CUDA_SUCCESS)
		return r;
	if (index >= f->param_count)
		return CUDA_ERROR_INVALID_VALUE;
	if (offset)
		*offset = f->params[index].offset;
	if (size)
		*size = f->params[index].size;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset,
				    size_t *paramSize)
{
	return param_info(vgpu_func_of(func), paramIndex, paramOffset, paramSize);
}

CUresult CUDAAPI cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset,
				      size_t *paramSize)
{
	return param_info(vgpu_check(kernel, VGPU_KIND_KERNEL), paramIndex, paramOffset,
			  paramSize);
}

CUresult CUDAAPI cuFuncGetName(const char **name, CUfunction hfunc)
{
	struct vgpu_func *f = vgpu_func_of(hfunc);

	if (!name)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	*name = f->name;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuKernelGetName(const char **name, CUkernel hfunc)
{
	struct vgpu_func *f = vgpu_check(hfunc, VGPU_KIND_KERNEL);

	if (!name)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	*name = f->name;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuKernelGetLibrary(CUlibrary *pLib, CUkernel kernel)
{
	struct vgpu_func *f = vgpu_check(kernel, VGPU_KIND_KERNEL);

	if (!pLib)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	*pLib = (CUlibrary)f->module;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetModule(CUmodule *hmod, CUfunction hfunc)
{
	struct vgpu_func *f = vgpu_check(hfunc, VGPU_KIND_FUNCTION);

	if (!hmod)
		return CUDA_ERROR_INVALID_VALUE;
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if (f->module->o.kind != VGPU_KIND_MODULE)
		return CUDA_ERROR_NOT_FOUND;	/* a library's kernel has no module */
	*hmod = (CUmodule)f->module;
	return CUDA_SUCCESS;
}
