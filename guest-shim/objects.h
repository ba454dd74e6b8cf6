/* SPDX-License-Identifier: MIT */
/*
 * The objects behind the handles the shim gives out.  A CUcontext, CUstream,
 * CUevent, CUmodule, CUlibrary, CUfunction or CUkernel is a pointer to one of
 * these; each names its executor-side id and keeps what never changes, so
 * that questions about it are answered without a round trip.
 */
#ifndef VGPU_OBJECTS_H
#define VGPU_OBJECTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver_api.h"
#include "vgpu/calls.h"

enum vgpu_kind {
	VGPU_KIND_CTX = 0x56430001,
	VGPU_KIND_STREAM,
	VGPU_KIND_EVENT,
	VGPU_KIND_MODULE,
	VGPU_KIND_LIBRARY,
	VGPU_KIND_FUNCTION,
	VGPU_KIND_KERNEL,
	VGPU_KIND_POOL = 0x56430100,	/* a CUmemoryPool (mempool.c) */
	VGPU_KIND_DEAD = 0x5643dead,
};

struct vgpu_obj {
	uint32_t kind;		/* enum vgpu_kind: checked on every use */
	uint64_t id;		/* the executor's id */
};

struct vgpu_ctx {
	struct vgpu_obj o;
	CUdevice dev;
	bool primary;
	unsigned int flags;
};

struct vgpu_stream {
	struct vgpu_obj o;
	struct vgpu_ctx *ctx;
	unsigned int flags;
	int priority;
};

struct vgpu_event {
	struct vgpu_obj o;
	struct vgpu_ctx *ctx;
	unsigned int flags;
};

struct vgpu_func;
struct vgpu_func_attr_cache;

/* A module or a library; its functions/kernels are looked up once by name. */
struct vgpu_module {
	struct vgpu_obj o;
	struct vgpu_ctx *ctx;		/* modules belong to a context; libraries do not */
	pthread_mutex_t lock;
	struct vgpu_func *funcs;
	CUdeviceptr *globals;		/* ranges noted as device memory, forgotten at unload */
	size_t nglobals;
};

struct vgpu_func {
	struct vgpu_obj o;		/* VGPU_KIND_FUNCTION or VGPU_KIND_KERNEL */
	struct vgpu_module *module;
	struct vgpu_func *next;		/* in module->funcs */
	char *name;
	pthread_once_t params_once;
	CUresult params_status;
	uint32_t param_count;
	uint32_t param_bytes;		/* size of the packed parameter buffer */
	struct vgpu_param_info *params;
	CUdevice dev;			/* functions: their context's device */
	struct vgpu_func_attr_cache *attr_cache;	/* func_attrs.c; NULL until first asked */
};

/* A new id, unique in this session. */
uint64_t vgpu_new_id(void);

/* Check a handle's kind; NULL when it is not a live object of that kind. */
static inline void *vgpu_check(const void *h, enum vgpu_kind kind)
{
	const struct vgpu_obj *o = h;

	return o && o->kind == (uint32_t)kind ? (void *)o : NULL;
}

#endif /* VGPU_OBJECTS_H */
