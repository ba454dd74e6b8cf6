/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver, for CI machines without a
 * GPU.  It is NOT a driver and never runs GPU code: see README.md beside
 * this file.
 *
 * It exports exactly the entry points the executor loads from the real
 * driver (VGPU_REAL_DRIVER_FUNCS in userspace-exec/real_driver.h), with the
 * ABI of their cudaTypedefs.h PFN types (checked at compile time in
 * fc_core.c), and behaves like the real driver within its limits: each call
 * either does the work (on host memory, synchronously) or returns a real
 * CUDA error.  Behaviour that the documentation leaves open follows what the
 * real driver did on an H200 (driver 580, CUDA 13.0) - README.md lists it.
 *
 * Internals: one global mutex serialises every call; objects are kept in
 * lists and a handle is only dereferenced after it was found in its list,
 * so a forged or stale handle is an error, never a crash.
 */
#ifndef FAKECUDA_H
#define FAKECUDA_H

#include <cuda.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fc_registry.h"

#define FC_EXPORT __attribute__((visibility("default")))

/* ---- the device the double models: an H100 PCIe ---- */
#define FC_DEVICE_NAME		"vgpu fakecuda test double"
#define FC_DRIVER_VERSION	13000
#define FC_TOTAL_MEM		(80ull << 30)
#define FC_DEFAULT_MEM_LIMIT	(1ull << 30)	/* FAKECUDA_MEM_LIMIT */
#define FC_DEFAULT_MAX_THREADS	(1ull << 28)	/* FAKECUDA_MAX_LAUNCH_THREADS */
#define FC_ALLOC_ALIGN		512		/* what the real driver returned for 1-byte allocations */
#define FC_POISON		0xcd		/* fresh device memory reads as this */
#define FC_SM_ARCH		90
#define FC_SM_COUNT		114
#define FC_THREADS_PER_SM	2048
#define FC_MAX_SHARED_OPTIN	232448		/* 227 KiB */
#define FC_DEFAULT_DYN_SHARED	49152
#define FC_PCI_DOMAIN		0x0000
#define FC_PCI_BUS		0x65
#define FC_PCI_DEVICE		0x00
#define FC_PERSIST_L2_MAX	32768000	/* CU_DEVICE_ATTRIBUTE_MAX_PERSISTING_L2_CACHE_SIZE */
#define FC_STREAM_PRIO_LEAST	0
#define FC_STREAM_PRIO_GREATEST	(-5)

extern const uint8_t fc_uuid[16];

/* ---- global state, all under fc_lock ---- */
extern pthread_mutex_t fc_lock;
extern bool fc_initialized;
extern CUresult fc_sticky;		/* process-wide sticky error (CUDA_ERROR_ILLEGAL_ADDRESS) */
extern uint64_t fc_mem_limit, fc_mem_used;
extern uint64_t fc_max_launch_threads;

#define FC_LOCK() pthread_mutex_lock(&fc_lock)
#define FC_UNLOCK() pthread_mutex_unlock(&fc_lock)

/* Every exported function: lock, run the body, unlock. */
#define FC_LOCKED(body) do { CUresult _r; FC_LOCK(); _r = (body); FC_UNLOCK(); return _r; } while (0)

void fc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- objects ---- */
enum {
	FC_MAGIC_CTX = 0x66637478,	/* "fctx" */
	FC_MAGIC_ALLOC = 0x66616c63,
	FC_MAGIC_HOSTREG = 0x66687267,
	FC_MAGIC_STREAM = 0x66737472,
	FC_MAGIC_EVENT = 0x66657674,
	FC_MAGIC_MODULE = 0x666d6f64,
	FC_MAGIC_LIBRARY = 0x666c6962,
	FC_MAGIC_KERNEL = 0x666b726e,
	FC_MAGIC_FUNC = 0x6666756e,
};

struct fc_ctx {
	uint32_t magic;
	struct fc_ctx *next;
	uint64_t serial;	/* changes on every (re)creation: stale thread stacks notice */
	bool primary;
	bool active;		/* primary: retained and not reset */
	int refcount;		/* primary */
	unsigned flags;
	size_t limits[CU_LIMIT_MAX];
};

struct fc_module;

struct fc_alloc {
	uint32_t magic;
	struct fc_alloc *next;
	uint64_t base;
	size_t size;		/* as requested: ranges are checked against this */
	size_t charged;		/* counted against FAKECUDA_MEM_LIMIT */
	struct fc_ctx *ctx;	/* NULL for library globals */
	struct fc_module *owner;	/* module/library global: not cuMemFree-able */
};

struct fc_hostreg {
	uint32_t magic;
	struct fc_hostreg *next;
	uint64_t base;
	size_t size;
	unsigned flags;
	struct fc_ctx *ctx;
};

struct fc_stream {
	uint32_t magic;
	struct fc_stream *next;
	struct fc_ctx *ctx;
	unsigned flags;
	int priority;
};

struct fc_event {
	uint32_t magic;
	struct fc_event *next;
	struct fc_ctx *ctx;
	unsigned flags;
	bool recorded;
	struct timespec when;
};

/* Function attributes that can be set; shared by a CUkernel and its functions. */
struct fc_fattrs {
	int max_dyn_shared;
	int carveout;
	int cluster[3];
	int non_portable;
	int sched_policy;
};

/* A module (cuModuleLoadData, per context) or a library (cuLibraryLoadData). */
struct fc_module {
	uint32_t magic;		/* FC_MAGIC_MODULE or FC_MAGIC_LIBRARY */
	struct fc_module *next;
	struct fc_ctx *ctx;	/* modules only */
	uint64_t kernels;	/* bit i: fc_kernels[i] is named in the image */
	uint32_t globals;	/* bit i: fc_globals[i] is named in the image */
	int ptx_arch;		/* CU_FUNC_ATTRIBUTE_PTX_VERSION */
	int bin_arch;		/* CU_FUNC_ATTRIBUTE_BINARY_VERSION */
	struct fc_alloc *global_mem[FC_MAX_GLOBALS];
};

struct fc_kernel {
	uint32_t magic;
	struct fc_kernel *next;
	struct fc_module *lib;
	const struct fc_kernel_def *def;
	struct fc_fattrs attrs;
};

struct fc_func {
	uint32_t magic;
	struct fc_func *next;
	struct fc_module *mod;		/* the module or library it came from */
	struct fc_kernel *kernel;	/* from cuKernelGetFunction, else NULL */
	struct fc_ctx *ctx;
	const struct fc_kernel_def *def;
	struct fc_fattrs own;
	struct fc_fattrs *attrs;	/* &own, or the kernel's */
};

extern struct fc_ctx *fc_ctxs;
extern struct fc_alloc *fc_allocs;
extern struct fc_hostreg *fc_hostregs;
extern struct fc_stream *fc_streams;
extern struct fc_event *fc_events;
extern struct fc_module *fc_modules;	/* modules and libraries */
extern struct fc_kernel *fc_kernel_objs;
extern struct fc_func *fc_funcs;

/* ---- helpers shared by the parts (call with fc_lock held) ---- */

/* CUDA_ERROR_NOT_INITIALIZED until cuInit(0) succeeded. */
CUresult fc_check_init(void);
CUresult fc_check_device(CUdevice dev);

/*
 * The calling thread's current context: INVALID_CONTEXT without one,
 * CONTEXT_IS_DESTROYED if it was destroyed (or is a primary context that was
 * released or reset), then the sticky error if there is one.
 */
CUresult fc_current(struct fc_ctx **out);
/* The primary context object (it exists, active or not, for the life of the process). */
struct fc_ctx *fc_primary(void);
bool fc_ctx_live(const struct fc_ctx *c);
void fc_ctx_free_resources(struct fc_ctx *c);

/* NULL, CU_STREAM_LEGACY and CU_STREAM_PER_THREAD are valid; else a live stream. */
CUresult fc_check_stream(CUstream s, struct fc_stream **out);
/*
 * The context work on stream @s runs in: the stream's own for a created
 * stream (no current context needed, as on the real driver), the calling
 * thread's current one for the NULL/legacy/per-thread streams; then the
 * sticky error.
 */
CUresult fc_stream_ctx(CUstream s, struct fc_stream **stream, struct fc_ctx **ctx);

/* The allocation that holds [p, p + n), or NULL. */
struct fc_alloc *fc_alloc_find(uint64_t p, size_t n);
struct fc_hostreg *fc_hostreg_find(uint64_t p, size_t n);
/* Device memory: host memory aligned and poisoned, charged to the limit. */
CUresult fc_alloc_new(size_t size, struct fc_ctx *ctx, struct fc_module *owner, bool zero,
		      struct fc_alloc **out);
void fc_alloc_free(struct fc_alloc *a);

void fc_module_free_ctx(struct fc_ctx *c);	/* modules and functions of a context */

/* ---- images (fc_image.c) ---- */
struct fc_image_info {
	uint64_t kernels;
	uint32_t globals;
	int ptx_arch, bin_arch;
};
CUresult fc_image_inspect(const void *image, struct fc_image_info *info);

/* ---- errors (fc_errors.c) ---- */
struct fc_error_name {
	CUresult code;
	const char *name;
};
extern const struct fc_error_name fc_error_names[];
extern const size_t fc_error_name_count;

#endif /* FAKECUDA_H */
