/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Contexts: the primary context (retain/release/reset/flags/state), created
 * contexts, each thread's context stack, limits.
 *
 * As the real driver does (checked on an H200): the primary context keeps
 * its handle for the life of the process; reset destroys its resources and
 * clears its flags but not its reference count; a thread whose current
 * context was destroyed, released or reset gets CUDA_ERROR_CONTEXT_IS_DESTROYED;
 * cuCtxSetCurrent(NULL) pops the stack, cuCtxSetCurrent(c) replaces its top.
 */
#include "fakecuda.h"

#include <stdlib.h>
#include <string.h>

struct fc_ctx *fc_ctxs;		/* created (non-primary) contexts */
static struct fc_ctx fc_primary_ctx = { .magic = FC_MAGIC_CTX, .primary = true };
static uint64_t fc_serial;

#define FC_STACK_MAX 64
struct fc_stack_entry {
	struct fc_ctx *ctx;
	uint64_t serial;
};
static __thread struct fc_stack_entry fc_stack[FC_STACK_MAX];
static __thread int fc_depth;

/* Defaults the real driver reported on an H200 (scaled where the board differs). */
static void set_default_limits(struct fc_ctx *c)
{
	memset(c->limits, 0, sizeof(c->limits));
	c->limits[CU_LIMIT_STACK_SIZE] = 1024;
	c->limits[CU_LIMIT_PRINTF_FIFO_SIZE] = 8650752;
	c->limits[CU_LIMIT_MALLOC_HEAP_SIZE] = 8388608;
	c->limits[CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT] = 2048;
	c->limits[CU_LIMIT_MAX_L2_FETCH_GRANULARITY] = 64;
	c->limits[CU_LIMIT_PERSISTING_L2_CACHE_SIZE] = 3 * (FC_PERSIST_L2_MAX / 10);
	c->limits[CU_LIMIT_SHMEM_SIZE] = FC_MAX_SHARED_OPTIN;
	c->limits[CU_LIMIT_CIG_ENABLED] = 0;
}

struct fc_ctx *fc_primary(void)
{
	return &fc_primary_ctx;
}

bool fc_ctx_live(const struct fc_ctx *c)
{
	if (c == &fc_primary_ctx)
		return true;
	for (struct fc_ctx *x = fc_ctxs; x; x = x->next)
		if (x == c)
			return true;
	return false;
}

/* Is this stack entry a context one can still work in? */
static CUresult entry_usable(const struct fc_stack_entry *e)
{
	if (e->ctx == &fc_primary_ctx)
		return fc_primary_ctx.active ? CUDA_SUCCESS : CUDA_ERROR_CONTEXT_IS_DESTROYED;
	if (!fc_ctx_live(e->ctx) || e->ctx->serial != e->serial)
		return CUDA_ERROR_CONTEXT_IS_DESTROYED;
	return CUDA_SUCCESS;
}

CUresult fc_current(struct fc_ctx **out)
{
	if (fc_depth == 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	CUresult r = entry_usable(&fc_stack[fc_depth - 1]);
	if (r)
		return r;
	if (fc_sticky)
		return fc_sticky;
	*out = fc_stack[fc_depth - 1].ctx;
	return CUDA_SUCCESS;
}

/*
 * Everything a context owns goes with it, as on the GPU.  Work still queued
 * is dropped, not waited for (a stream waiting on a value nobody writes
 * would hang the caller); memory goes through the graveyard, so what other
 * contexts submitted earlier still finds it.
 */
void fc_ctx_free_resources(struct fc_ctx *c)
{
	fc_queue_cancel_ctx(c);
	fc_module_free_ctx(c);
	fc_mem_free_ctx(c);
	for (struct fc_stream **pp = &fc_streams; *pp;) {
		struct fc_stream *s = *pp;
		if (s->ctx == c) {
			*pp = s->next;
			s->magic = 0;
			free(s);
		} else {
			pp = &s->next;
		}
	}
	for (struct fc_event **pp = &fc_events; *pp;) {
		struct fc_event *e = *pp;
		if (e->ctx == c) {
			*pp = e->next;
			if (e->last)
				fc_op_unref(e->last);
			e->magic = 0;
			free(e);
		} else {
			pp = &e->next;
		}
	}
}

static void push(struct fc_ctx *c)
{
	if (fc_depth == FC_STACK_MAX) {	/* drop the bottom; 64 nested contexts is no real program */
		memmove(fc_stack, fc_stack + 1, sizeof(fc_stack[0]) * (FC_STACK_MAX - 1));
		fc_depth--;
	}
	fc_stack[fc_depth].ctx = c;
	fc_stack[fc_depth].serial = c->serial;
	fc_depth++;
}

/* ------------------------------------------------------------ primary context */

#define FC_CTX_SCHED_OK(f) ((f & CU_CTX_SCHED_MASK) != 3 && (f & CU_CTX_SCHED_MASK) <= 4)
/* Flags cuDevicePrimaryCtxSetFlags accepted on the H200 (MAP_HOST was refused). */
#define FC_PRIMARY_FLAGS (CU_CTX_SCHED_MASK | CU_CTX_LMEM_RESIZE_TO_MAX | CU_CTX_COREDUMP_ENABLE | \
			  CU_CTX_USER_COREDUMP_ENABLE | CU_CTX_SYNC_MEMOPS)

static CUresult primary_retain(CUcontext *pctx, CUdevice dev)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_check_device(dev)))
		return r;
	if (fc_sticky)
		return fc_sticky;
	if (!fc_primary_ctx.active) {
		fc_primary_ctx.active = true;
		fc_primary_ctx.serial = ++fc_serial;
		set_default_limits(&fc_primary_ctx);
	}
	fc_primary_ctx.refcount++;
	*pctx = (CUcontext)&fc_primary_ctx;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	FC_LOCKED(primary_retain(pctx, dev));
}

static void primary_deactivate(void)
{
	if (fc_primary_ctx.active)
		fc_ctx_free_resources(&fc_primary_ctx);
	fc_primary_ctx.active = false;
}

static CUresult primary_release(CUdevice dev)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if ((r = fc_check_device(dev)))
		return r;
	if (fc_primary_ctx.refcount == 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (--fc_primary_ctx.refcount == 0)
		primary_deactivate();
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	FC_LOCKED(primary_release(dev));
}

static CUresult primary_reset(CUdevice dev)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if ((r = fc_check_device(dev)))
		return r;
	primary_deactivate();	/* the reference count stays: holders still release */
	fc_primary_ctx.flags = 0;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	FC_LOCKED(primary_reset(dev));
}

static CUresult primary_set_flags(CUdevice dev, unsigned int flags)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if ((r = fc_check_device(dev)))
		return r;
	if ((flags & ~FC_PRIMARY_FLAGS) || !FC_CTX_SCHED_OK(flags))
		return CUDA_ERROR_INVALID_VALUE;
	fc_primary_ctx.flags = flags;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags)
{
	FC_LOCKED(primary_set_flags(dev, flags));
}

static CUresult primary_get_state(CUdevice dev, unsigned int *flags, int *active)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if (!flags || !active)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_check_device(dev)))
		return r;
	*flags = fc_primary_ctx.flags;
	*active = fc_primary_ctx.active;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
	FC_LOCKED(primary_get_state(dev, flags, active));
}

/* ------------------------------------------------------------ created contexts */

static CUresult ctx_create(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags,
			   CUdevice dev)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_check_device(dev)))
		return r;
	if ((flags & ~(FC_PRIMARY_FLAGS | CU_CTX_MAP_HOST)) || !FC_CTX_SCHED_OK(flags))
		return CUDA_ERROR_INVALID_VALUE;
	if (params) {
		if (params->numExecAffinityParams < 0 ||
		    (params->numExecAffinityParams > 0 && !params->execAffinityParams))
			return CUDA_ERROR_INVALID_VALUE;
		/* SM-count affinity needs MPS or green contexts; this device has neither */
		if (params->numExecAffinityParams > 0)
			return CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY;
		/* CIG needs D3D12 or Vulkan interop (attributes 135/138 say no) */
		if (params->cigParams)
			return params->cigParams->sharedData ? CUDA_ERROR_NOT_SUPPORTED
							     : CUDA_ERROR_INVALID_VALUE;
	}
	if (fc_sticky)
		return fc_sticky;
	struct fc_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return CUDA_ERROR_OUT_OF_MEMORY;
	c->magic = FC_MAGIC_CTX;
	c->serial = ++fc_serial;
	c->flags = flags;
	c->active = true;
	set_default_limits(c);
	c->next = fc_ctxs;
	fc_ctxs = c;
	push(c);
	*pctx = (CUcontext)c;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *ctxCreateParams,
				  unsigned int flags, CUdevice dev)
{
	FC_LOCKED(ctx_create(pctx, ctxCreateParams, flags, dev));
}

static CUresult ctx_destroy(CUcontext ctx)
{
	struct fc_ctx *c = (struct fc_ctx *)ctx;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!c)
		return CUDA_ERROR_INVALID_VALUE;
	if (c == &fc_primary_ctx)	/* primary contexts are released, not destroyed */
		return CUDA_ERROR_INVALID_CONTEXT;
	struct fc_ctx **pp = &fc_ctxs;
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (!*pp || c->magic != FC_MAGIC_CTX)
		return fc_forged("cuCtxDestroy", "context", CUDA_ERROR_INVALID_CONTEXT);
	*pp = c->next;
	fc_ctx_free_resources(c);
	/* popped if current to this thread; other threads see CONTEXT_IS_DESTROYED */
	if (fc_depth > 0 && fc_stack[fc_depth - 1].ctx == c)
		fc_depth--;
	c->magic = 0;
	free(c);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx)
{
	FC_LOCKED(ctx_destroy(ctx));
}

static CUresult ctx_set_current(CUcontext ctx)
{
	struct fc_ctx *c = (struct fc_ctx *)ctx;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!c) {
		if (fc_depth > 0)
			fc_depth--;
		return CUDA_SUCCESS;
	}
	if (!fc_ctx_live(c) || c->magic != FC_MAGIC_CTX)
		return fc_forged("cuCtxSetCurrent", "context", CUDA_ERROR_INVALID_CONTEXT);
	if (fc_depth > 0)
		fc_depth--;
	push(c);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuCtxSetCurrent(CUcontext ctx)
{
	FC_LOCKED(ctx_set_current(ctx));
}

/* NULL when nothing is current; a destroyed one is not handed out. */
static CUresult ctx_get_current(CUcontext *pctx)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if (fc_depth == 0) {
		*pctx = NULL;
		return CUDA_SUCCESS;
	}
	if ((r = entry_usable(&fc_stack[fc_depth - 1])))
		return r;
	*pctx = (CUcontext)fc_stack[fc_depth - 1].ctx;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuCtxGetCurrent(CUcontext *pctx)
{
	FC_LOCKED(ctx_get_current(pctx));
}

/* Waits for the work submitted so far to any stream of the context. */
static CUresult ctx_synchronize(void)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((r = fc_current(&c)))
		return r;
	fc_ctx_sync(c);
	return fc_sticky;
}

FC_EXPORT CUresult cuCtxSynchronize(void)
{
	FC_LOCKED(ctx_synchronize());
}

/* ------------------------------------------------------------------ limits */

static CUresult ctx_get_limit(size_t *pvalue, CUlimit limit)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!pvalue)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_current(&c)))
		return r;
	switch (limit) {
	case CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH:		/* compute capability 9.0 has none */
	case CU_LIMIT_CIG_SHMEM_FALLBACK_ENABLED:	/* not a CIG context */
		return CUDA_ERROR_UNSUPPORTED_LIMIT;
	case CU_LIMIT_STACK_SIZE:
	case CU_LIMIT_PRINTF_FIFO_SIZE:
	case CU_LIMIT_MALLOC_HEAP_SIZE:
	case CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT:
	case CU_LIMIT_MAX_L2_FETCH_GRANULARITY:
	case CU_LIMIT_PERSISTING_L2_CACHE_SIZE:
	case CU_LIMIT_SHMEM_SIZE:
	case CU_LIMIT_CIG_ENABLED:
		*pvalue = c->limits[limit];
		return CUDA_SUCCESS;
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
}

FC_EXPORT CUresult cuCtxGetLimit(size_t *pvalue, CUlimit limit)
{
	FC_LOCKED(ctx_get_limit(pvalue, limit));
}

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

/* The adjustments are the ones the real driver made on an H200. */
static CUresult ctx_set_limit(CUlimit limit, size_t value)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((r = fc_current(&c)))
		return r;
	switch (limit) {
	case CU_LIMIT_STACK_SIZE:
		/* rounded up to 16; every resident thread's stack must fit the device
		 * (the H200 refused 512 KiB, which is about where its memory ends) */
		value = round_up(value, 16);
		if (value > FC_TOTAL_MEM / (FC_SM_COUNT * FC_THREADS_PER_SM))
			return CUDA_ERROR_INVALID_VALUE;
		break;
	case CU_LIMIT_PRINTF_FIFO_SIZE:	/* 512 KiB at least, in 128-byte steps */
		value = value < 512 * 1024 ? 512 * 1024 : round_up(value, 128);
		break;
	case CU_LIMIT_MALLOC_HEAP_SIZE:	/* 4 MiB at least, in 64 KiB steps, and it must fit the device */
		if (value > FC_TOTAL_MEM)
			return CUDA_ERROR_OUT_OF_MEMORY;
		value = value < 4 * 1024 * 1024 ? 4 * 1024 * 1024 : round_up(value, 65536);
		break;
	case CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT:
		break;
	case CU_LIMIT_MAX_L2_FETCH_GRANULARITY:
		if (value > 128)
			return CUDA_ERROR_INVALID_VALUE;
		break;
	case CU_LIMIT_PERSISTING_L2_CACHE_SIZE:	/* granules of a tenth of the maximum */
		if (value > FC_PERSIST_L2_MAX)
			return CUDA_ERROR_INVALID_VALUE;
		value = round_up(value, FC_PERSIST_L2_MAX / 10);
		break;
	case CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH:
	case CU_LIMIT_CIG_SHMEM_FALLBACK_ENABLED:
		return CUDA_ERROR_UNSUPPORTED_LIMIT;
	case CU_LIMIT_SHMEM_SIZE:
	case CU_LIMIT_CIG_ENABLED:
		return CUDA_ERROR_NOT_PERMITTED;	/* query-only */
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
	c->limits[limit] = value;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuCtxSetLimit(CUlimit limit, size_t value)
{
	FC_LOCKED(ctx_set_limit(limit, value));
}
