// SPDX-License-Identifier: MIT
/*
 * Contexts.  Which context is current is a property of the calling guest
 * thread, kept here; every call that runs in a context names it in its
 * record, and the executor makes it current before the call.  Primary
 * contexts exist as objects from cuInit on (cudart asks for their handles
 * before retaining them); retain and release go to the executor.
 */
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "channel.h"
#include "context.h"
#include "host_func.h"
#include "shim.h"
#include "state.h"

#define CTX_STACK	32

static __thread struct vgpu_ctx *stack[CTX_STACK];
static __thread int depth;	/* stack[depth - 1] is current */

struct vgpu_ctx *vgpu_current(void)
{
	return depth ? stack[depth - 1] : NULL;
}

CUcontext vgpu_ctx_current(void)
{
	return (CUcontext)vgpu_current();
}

CUresult vgpu_current_checked(struct vgpu_ctx **out)
{
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	*out = vgpu_current();
	return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

CUresult vgpu_primary_ctx_get(CUdevice dev, CUcontext *out)
{
	if (!vgpu_initialized())
		return vgpu_ready();
	if (!vgpu_valid_device(dev))
		return CUDA_ERROR_INVALID_DEVICE;
	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	*out = (CUcontext)&vgpu_state.primary[dev];
	return CUDA_SUCCESS;
}

static CUresult primary_call(uint16_t op, CUdevice dev, unsigned int flags, struct vgpu_answer *ans)
{
	struct vgpu_primary_ctx_args a = { .device = dev, .flags = flags };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!vgpu_valid_device(dev))
		return CUDA_ERROR_INVALID_DEVICE;
	a.ctx_id = vgpu_state.primary[dev].o.id;
	return vgpu_call_sync(op, 0, &a, sizeof(a), ans);
}

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	CUresult r;

	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	r = primary_call(VGPU_OP_PRIMARY_CTX_RETAIN, dev, 0, NULL);
	if (r == CUDA_SUCCESS)
		*pctx = (CUcontext)&vgpu_state.primary[dev];
	return r;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	return primary_call(VGPU_OP_PRIMARY_CTX_RELEASE, dev, 0, NULL);
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice dev)
{
	return cuDevicePrimaryCtxRelease_v2(dev);
}

CUresult CUDAAPI cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	CUresult r = primary_call(VGPU_OP_PRIMARY_CTX_RESET, dev, 0, NULL);

	if (r == CUDA_SUCCESS)
		vgpu_cls_context_destroyed((CUcontext)&vgpu_state.primary[dev]);
	return r;
}

CUresult CUDAAPI cuDevicePrimaryCtxReset(CUdevice dev)
{
	return cuDevicePrimaryCtxReset_v2(dev);
}

CUresult CUDAAPI cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags)
{
	return primary_call(VGPU_OP_PRIMARY_CTX_SET_FLAGS, dev, flags, NULL);
}

CUresult CUDAAPI cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags)
{
	return cuDevicePrimaryCtxSetFlags_v2(dev, flags);
}

CUresult CUDAAPI cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
	struct vgpu_primary_ctx_state st;
	struct vgpu_answer ans = { 0 };
	CUresult r;

	if (!flags || !active)
		return CUDA_ERROR_INVALID_VALUE;
	r = primary_call(VGPU_OP_PRIMARY_CTX_GET_STATE, dev, 0, &ans);
	if (r == CUDA_SUCCESS) {
		memcpy(&st, ans.data, sizeof(st));
		*flags = st.flags;
		*active = st.active;
	}
	return r;
}

static CUresult create(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	struct vgpu_ctx *c;
	struct vgpu_ctx_create_args a = { .flags = flags, .device = dev };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if (!vgpu_valid_device(dev))
		return CUDA_ERROR_INVALID_DEVICE;
	if (depth == CTX_STACK)
		return CUDA_ERROR_OUT_OF_MEMORY;
	c = calloc(1, sizeof(*c));
	if (!c)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*c = (struct vgpu_ctx){ .o = { VGPU_KIND_CTX, vgpu_new_id() }, .dev = dev, .flags = flags };
	a.ctx_id = c->o.id;
	r = vgpu_call_sync(VGPU_OP_CTX_CREATE, 0, &a, sizeof(a), NULL);
	if (r != CUDA_SUCCESS) {
		free(c);
		return r;
	}
	stack[depth++] = c;
	*pctx = (CUcontext)c;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags,
				CUdevice dev)
{
	/* Execution affinity and CIG contexts are not offered (yet). */
	if (params && (params->numExecAffinityParams || params->cigParams))
		return CUDA_ERROR_NOT_SUPPORTED;
	return create(pctx, flags, dev);
}

CUresult CUDAAPI cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams,
				unsigned int flags, CUdevice dev)
{
	if (numParams)
		return CUDA_ERROR_NOT_SUPPORTED;
	return create(pctx, flags, dev);
}

CUresult CUDAAPI cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	return create(pctx, flags, dev);
}

CUresult CUDAAPI cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	return create(pctx, flags, dev);
}

CUresult CUDAAPI cuCtxDestroy_v2(CUcontext ctx)
{
	struct vgpu_ctx *c = vgpu_check(ctx, VGPU_KIND_CTX);
	struct vgpu_ctx_args a;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!c || c->primary)
		return CUDA_ERROR_INVALID_CONTEXT;
	a.ctx_id = c->o.id;
	r = vgpu_call_sync(VGPU_OP_CTX_DESTROY, 0, &a, sizeof(a), NULL);
	if (r != CUDA_SUCCESS)
		return r;
	vgpu_cls_context_destroyed(ctx);
	/* Current to this thread: it is popped. */
	for (int i = depth - 1; i >= 0; i--)
		if (stack[i] == c) {
			memmove(&stack[i], &stack[i + 1], (size_t)(depth - i - 1) * sizeof(stack[0]));
			depth--;
		}
	/* Other threads may still name it: the object stays, marked dead. */
	c->o.kind = VGPU_KIND_DEAD;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxDestroy(CUcontext ctx)
{
	return cuCtxDestroy_v2(ctx);
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext *pctx)
{
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if (!vgpu_initialized())
		return vgpu_ready();
	*pctx = (CUcontext)vgpu_current();
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext ctx)
{
	struct vgpu_ctx *c = vgpu_check(ctx, VGPU_KIND_CTX);

	if (!vgpu_initialized())
		return vgpu_ready();
	if (ctx && !c)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (!c) {
		/* Setting NULL empties the top of the stack. */
		if (depth)
			depth--;
		return CUDA_SUCCESS;
	}
	if (depth)
		stack[depth - 1] = c;
	else
		stack[depth++] = c;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPushCurrent_v2(CUcontext ctx)
{
	struct vgpu_ctx *c = vgpu_check(ctx, VGPU_KIND_CTX);

	if (!vgpu_initialized())
		return vgpu_ready();
	if (!c)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (depth == CTX_STACK)
		return CUDA_ERROR_OUT_OF_MEMORY;
	stack[depth++] = c;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPushCurrent(CUcontext ctx)
{
	return cuCtxPushCurrent_v2(ctx);
}

CUresult CUDAAPI cuCtxPopCurrent_v2(CUcontext *pctx)
{
	if (!vgpu_initialized())
		return vgpu_ready();
	if (!depth)
		return CUDA_ERROR_INVALID_CONTEXT;
	depth--;
	if (pctx)
		*pctx = (CUcontext)stack[depth];
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPopCurrent(CUcontext *pctx)
{
	return cuCtxPopCurrent_v2(pctx);
}

/* The context @ctx names, or the current one when @ctx is NULL. */
static CUresult resolve(CUcontext ctx, struct vgpu_ctx **out)
{
	if (ctx) {
		*out = vgpu_check(ctx, VGPU_KIND_CTX);
		if (!vgpu_initialized())
			return vgpu_ready();
		return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
	}
	return vgpu_current_checked(out);
}

CUresult CUDAAPI cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx)
{
	struct vgpu_ctx *c;
	CUresult r;

	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	r = resolve(ctx, &c);
	if (r == CUDA_SUCCESS)
		*device = c->dev;
	return r;
}

CUresult CUDAAPI cuCtxGetDevice(CUdevice *device)
{
	return cuCtxGetDevice_v2(device, NULL);
}

CUresult CUDAAPI cuCtxGetFlags(unsigned int *flags)
{
	struct vgpu_ctx *c;
	CUresult r;

	if (!flags)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_current_checked(&c);
	if (r == CUDA_SUCCESS)
		*flags = c->flags;
	return r;
}

CUresult CUDAAPI cuCtxGetId(CUcontext ctx, unsigned long long *ctxId)
{
	struct vgpu_ctx *c;
	CUresult r;

	if (!ctxId)
		return CUDA_ERROR_INVALID_VALUE;
	r = resolve(ctx, &c);
	if (r == CUDA_SUCCESS)
		*ctxId = c->o.id;
	return r;
}

CUresult CUDAAPI cuCtxGetApiVersion(CUcontext ctx, unsigned int *version)
{
	struct vgpu_ctx *c;
	CUresult r;

	if (!version)
		return CUDA_ERROR_INVALID_VALUE;
	r = resolve(ctx, &c);
	if (r == CUDA_SUCCESS)
		*version = 3020;	/* contexts are created with the v2 API */
	return r;
}

CUresult CUDAAPI cuCtxSynchronize_v2(CUcontext ctx)
{
	struct vgpu_ctx *c;
	CUresult r = resolve(ctx, &c);

	if (r != CUDA_SUCCESS)
		return r;
	if (vgpu_in_host_func())
		return CUDA_ERROR_NOT_PERMITTED;
	r = vgpu_capture_ctx_sync(c);
	if (r != CUDA_SUCCESS)
		return r;
	return vgpu_call(VGPU_OP_CTX_SYNCHRONIZE, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC,
			 (uint32_t)c->o.id, NULL, 0, NULL, 0, NULL);
}

CUresult CUDAAPI cuCtxSynchronize(void)
{
	return cuCtxSynchronize_v2(NULL);
}

CUresult CUDAAPI cuCtxGetLimit(size_t *pvalue, CUlimit limit)
{
	struct vgpu_ctx_limit_args a = { .limit = (uint32_t)limit };
	struct vgpu_answer ans = { 0 };
	struct vgpu_ctx *c;
	uint64_t v;
	CUresult r;

	if (!pvalue)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_current_checked(&c);
	if (r == CUDA_SUCCESS)
		r = vgpu_call_sync(VGPU_OP_CTX_GET_LIMIT, (uint32_t)c->o.id, &a, sizeof(a), &ans);
	if (r == CUDA_SUCCESS) {
		memcpy(&v, ans.data, sizeof(v));
		*pvalue = (size_t)v;
	}
	return r;
}

CUresult CUDAAPI cuCtxSetLimit(CUlimit limit, size_t value)
{
	struct vgpu_ctx_limit_args a = { .limit = (uint32_t)limit, .value = value };
	struct vgpu_ctx *c;
	CUresult r = vgpu_current_checked(&c);

	if (r != CUDA_SUCCESS)
		return r;
	return vgpu_call_sync(VGPU_OP_CTX_SET_LIMIT, (uint32_t)c->o.id, &a, sizeof(a), NULL);
}

CUresult CUDAAPI cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority)
{
	struct vgpu_priority_range pr;
	struct vgpu_answer ans = { 0 };
	struct vgpu_ctx *c;
	CUresult r = vgpu_current_checked(&c);

	if (r == CUDA_SUCCESS)
		r = vgpu_call_sync(VGPU_OP_CTX_GET_STREAM_PRIORITY_RANGE, (uint32_t)c->o.id, NULL, 0,
				   &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&pr, ans.data, sizeof(pr));
	if (leastPriority)
		*leastPriority = pr.least;
	if (greatestPriority)
		*greatestPriority = pr.greatest;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetCacheConfig(CUfunc_cache *pconfig)
{
	struct vgpu_ctx *c;
	CUresult r;

	if (!pconfig)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_current_checked(&c);
	/* A preference only; on devices with a fixed L1/shared split the answer is this. */
	if (r == CUDA_SUCCESS)
		*pconfig = CU_FUNC_CACHE_PREFER_NONE;
	return r;
}
