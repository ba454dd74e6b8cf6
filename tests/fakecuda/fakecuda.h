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
 * either does the work (on host memory) or returns a real CUDA error.
 * Behaviour that the documentation leaves open follows what the real driver
 * did on an H200 (driver 580, CUDA 13.0) - README.md lists it.
 *
 * Work is asynchronous, as on a GPU: every stream has a queue of operations
 * that a device thread of its own runs in order (fc_queue.c); an API call
 * only checks its arguments and enqueues.
 *
 * Locks: fc_lock, the API lock, guards every object and queue; it is never
 * held while an operation runs or while a call waits (waits are condition
 * waits on fc_done, which release it).  fc_mem_lock guards the lists of
 * memory ranges for device threads, which look ranges up while running
 * without fc_lock; whoever changes the lists holds both (fc_lock first).
 *
 * Handles are only dereferenced after they were found in their list.  A
 * handle that is not a live object of the right type aborts the process
 * (fc_forged): the real driver would crash on most of them, and refusing
 * them is the executor's job, so the double must not hide a missing check.
 */
#ifndef FAKECUDA_H
#define FAKECUDA_H

#include <cuda.h>
#include <pthread.h>
#include <stdatomic.h>
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

/* ---- global state, under fc_lock unless said otherwise ---- */
extern pthread_mutex_t fc_lock;
extern pthread_mutex_t fc_mem_lock;	/* the range lists, for device threads (see above) */
extern pthread_cond_t fc_done;		/* broadcast whenever an operation completes */
extern bool fc_initialized;
/* Process-wide sticky error (CUDA_ERROR_ILLEGAL_ADDRESS); written under fc_lock, read anywhere. */
extern _Atomic CUresult fc_sticky;
extern uint64_t fc_mem_limit, fc_mem_used;
extern uint64_t fc_max_launch_threads;
/* Read by cuInit from the environment (README.md). */
extern uint64_t fc_op_delay_us;		/* FAKECUDA_OP_DELAY_US */
extern bool fc_sync_mode;		/* FAKECUDA_SYNC=1 */
/* FAKECUDA_TRACE_LAUNCH=1: log every cuLaunchKernelEx attribute as it arrived. */
extern bool fc_trace_launch;
/* FAKECUDA_BLOCK_BARRIERS=N: every kernel uses N block barriers (occupancy only). */
extern int fc_block_barriers;
extern bool fc_lenient;			/* FAKECUDA_LENIENT=1 */

#define FC_LOCK() pthread_mutex_lock(&fc_lock)
#define FC_UNLOCK() pthread_mutex_unlock(&fc_lock)

/* Every exported function: lock, run the body, unlock. */
#define FC_LOCKED(body) do { CUresult _r; FC_LOCK(); _r = (body); FC_UNLOCK(); return _r; } while (0)

void fc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * @call was given a handle that is not a live @what: abort the process with
 * a message that says so (FAKECUDA_LENIENT=1: return @lenient, the answer
 * the double gave before it aborted).
 */
CUresult fc_forged(const char *call, const char *what, CUresult lenient);

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

struct fc_queue;

struct fc_ctx {
	uint32_t magic;
	struct fc_ctx *next;
	uint64_t serial;	/* changes on every (re)creation: stale thread stacks notice */
	bool primary;
	bool active;		/* primary: retained and not reset */
	int refcount;		/* primary */
	unsigned flags;
	size_t limits[CU_LIMIT_MAX];
	struct fc_queue *queues;	/* every queue of the context (ctx_next) */
	struct fc_queue *legacy;	/* the NULL stream's, once used */
};

struct fc_module;

/*
 * Memory the double owns (device allocations, pinned host allocations) is
 * not released while work submitted before its release may still use it:
 * it moves to a graveyard, stamped with the last operation number issued,
 * and is freed once every operation up to that number has completed
 * (fc_mem_reap).  So a cuMemFree right after a launch does not pull the
 * memory from under the kernel - the result the real driver gives by
 * waiting - and no call has to wait.
 */
struct fc_alloc {
	uint32_t magic;
	struct fc_alloc *next;
	uint64_t base;
	size_t size;		/* as requested: ranges are checked against this */
	size_t charged;		/* counted against FAKECUDA_MEM_LIMIT */
	struct fc_ctx *ctx;	/* NULL for library globals */
	struct fc_module *owner;	/* module/library global: not cuMemFree-able */
	uint64_t released_at;	/* in the graveyard: fc_op_seq when released */
	struct fc_pool *pool;	/* stream-ordered: the pool it came from (fc_pool.c) */
};

/* Registered host memory, or (owned) a pinned host allocation of cuMemAllocHost. */
struct fc_hostreg {
	uint32_t magic;
	struct fc_hostreg *next;
	uint64_t base;
	size_t size;
	unsigned flags;		/* CU_MEMHOSTREGISTER_* (owned: CU_MEMHOSTALLOC_*) */
	bool owned;		/* the double allocated it: freed through the graveyard */
	struct fc_ctx *ctx;
	uint64_t released_at;
};

struct fc_stream {
	uint32_t magic;
	struct fc_stream *next;
	struct fc_ctx *ctx;
	unsigned flags;
	int priority;
	struct fc_queue *queue;
};

struct fc_op;

struct fc_event {
	uint32_t magic;
	struct fc_event *next;
	struct fc_ctx *ctx;
	unsigned flags;
	struct fc_op *last;	/* the most recent record (a reference), or NULL */
};

/* ---- the execution engine (fc_queue.c) ---- */

enum fc_queue_kind {
	FC_QUEUE_LEGACY,	/* the NULL stream / CU_STREAM_LEGACY of a context */
	FC_QUEUE_PER_THREAD,	/* CU_STREAM_PER_THREAD of one thread in one context */
	FC_QUEUE_CREATED,	/* a stream of cuStreamCreate* */
};

/*
 * One stream's operations, run in order by a device thread of its own
 * (started on the first operation).  A queue outlives its stream while work
 * is left (cuStreamDestroy returns at once, the work still runs); a queue
 * of a destroyed context is cancelled: what is left is dropped.
 */
struct fc_queue {
	struct fc_queue *all_next;	/* fc_queues */
	struct fc_queue *ctx_next;	/* ctx->queues */
	struct fc_ctx *ctx;		/* NULL once the context is gone */
	enum fc_queue_kind kind;
	bool blocking;			/* synchronises with the legacy stream */
	pthread_t owner;		/* FC_QUEUE_PER_THREAD */
	struct fc_op *head, *tail;	/* pending; the head may be running */
	pthread_cond_t wake;		/* work arrived, or the queue was orphaned */
	bool has_thread;
	bool orphan;			/* no stream names it: freed once drained */
	atomic_bool cancelled;
};

enum fc_op_kind {
	FC_OP_KERNEL,
	FC_OP_COPY,
	FC_OP_MEMSET,
	FC_OP_RECORD,		/* cuEventRecord */
	FC_OP_WAIT,		/* cuStreamWaitEvent: only its dependency */
	FC_OP_WAIT_VALUE,
	FC_OP_WRITE_VALUE,
	FC_OP_HOST_FN,		/* cuLaunchHostFunc */
	FC_OP_CALLBACK,		/* cuStreamAddCallback */
};

/* How a copy reaches one side. */
enum fc_side {
	FC_SIDE_DEVICE,		/* device memory (or registered memory used as such) */
	FC_SIDE_PINNED,		/* registered or pinned host memory: read/written when the copy runs */
	FC_SIDE_PAGEABLE,	/* other host memory: staged, or waited for by the caller */
};

/*
 * One operation.  Reference counted (under fc_lock): its queue holds one
 * until it completes, every operation that depends on it one, an event one
 * for its latest record, a waiting call one while it waits.
 */
struct fc_op {
	struct fc_op *next;		/* in its queue */
	struct fc_queue *q;
	uint64_t seq;			/* fc_op_seq at submission */
	int refs;
	bool done;
	enum fc_op_kind kind;
	const char *call;		/* the API call that submitted it, for messages */
	unsigned ndeps;
	struct fc_op **deps;		/* what must complete before it runs */
	struct timespec when;		/* FC_OP_RECORD: when it ran */
	union {
		struct {
			const struct fc_kernel_def *def;
			uint32_t grid[3], block[3];
			uint8_t *params;		/* owned */
			uint64_t globals[FC_MAX_GLOBALS];	/* the module's, at launch */
		} kernel;
		struct {
			uint64_t dst, src;
			size_t n;
			enum fc_side dst_side, src_side;
			void *staged;			/* owned: a pageable source, copied at submission */
		} copy;
		struct {
			uint64_t dst;
			size_t pitch, width, rows, elem;
			uint32_t value;
		} memset;
		struct {
			uint64_t addr, value;
			unsigned flags;
			bool wide;			/* 64-bit */
		} value;
		struct {
			CUhostFn fn;
			CUstreamCallback cb;
			void *user;
			CUstream handle;		/* as the caller named the stream */
		} host;
	};
};

extern struct fc_queue *fc_queues;	/* every queue, of every context */
extern uint64_t fc_op_seq;		/* operations submitted so far */

/* A new operation, one reference held by the caller; NULL if out of memory. */
struct fc_op *fc_op_new(enum fc_op_kind kind, const char *call);
void fc_op_unref(struct fc_op *op);
/* @op may run only after @dep completed (which holds a reference). */
CUresult fc_op_depend(struct fc_op *op, struct fc_op *dep);
/*
 * Submit @op to @q (taking over the caller's reference; on failure @op is
 * freed).  It also waits, as the legacy stream's rules say, for the other
 * queues of the context.  With @wait (or FAKECUDA_SYNC=1) the call returns
 * once the operation completed.
 */
CUresult fc_submit(struct fc_queue *q, struct fc_op *op, bool wait);
/* Wait (releasing fc_lock) until @op completed; the caller holds a reference. */
void fc_op_wait(struct fc_op *op);

/* A new queue of @c; NULL if out of memory. */
struct fc_queue *fc_queue_new(struct fc_ctx *c, enum fc_queue_kind kind, bool blocking);
/* No stream names @q any more: it goes once drained. */
void fc_queue_orphan(struct fc_queue *q);
/* The context is going: drop what is left in its queues, orphan them. */
void fc_queue_cancel_ctx(struct fc_ctx *c);
/* Work is pending on @q (the legacy queue: or on a blocking queue of its context). */
bool fc_queue_busy(struct fc_queue *q);
/* Wait until the work submitted to @q so far (legacy: as above) has completed. */
void fc_queue_sync(struct fc_queue *q);
/* Wait until the work submitted to every queue of @c so far has completed. */
void fc_ctx_sync(struct fc_ctx *c);

/* ---- running operations (called by device threads, without fc_lock) ---- */

/*
 * May an operation numbered @seq touch [p, p + n)?  Memory the double owns
 * that was live when the operation was submitted, or registered host memory
 * (a read-only registration refuses @write).  Call with fc_mem_lock held.
 * For owned memory *@base and *@size give the whole block, which stays usable
 * until the operation completes; *@size = 0 says the range is the
 * application's registered memory, usable only while fc_mem_lock is held
 * (an unregistration may unmap it right after).
 */
bool fc_mem_usable(uint64_t p, size_t n, uint64_t seq, bool write, uint64_t *base, size_t *size);
/* Release what the graveyard holds that no pending operation can still use. */
void fc_mem_reap(void);
/* Returns false and leaves *fault set when memory was not usable. */
bool fc_run_copy(struct fc_op *op, uint64_t *fault);
bool fc_run_memset(struct fc_op *op, uint64_t *fault);
bool fc_run_kernel(struct fc_op *op, uint64_t *fault);
bool fc_run_value(struct fc_op *op, uint64_t *fault);
/* Should a running operation give up (its context is gone, or the device faulted)? */
bool fc_op_abandoned(const struct fc_op *op);
/* Pause between polls of memory: 1 µs doubling to 1 ms (@backoff: the caller's state). */
void fc_poll_pause(unsigned *backoff_us);

/* Function attributes that can be set; shared by a CUkernel and its functions. */
struct fc_fattrs {
	int cache_config;	/* CUfunc_cache, for occupancy */
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
/* The device's attribute @attrib (0 for one the table lacks). */
int fc_device_attr(CUdevice_attribute attrib);

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

/*
 * Stream @s as named by @call: the context its work runs in (a created
 * stream's own - no current context needed, as on the real driver - or the
 * calling thread's current one for the NULL/legacy/per-thread streams),
 * then the sticky error; and its queue (created now for the NULL and
 * per-thread streams when @queue is wanted).  NULL, CU_STREAM_LEGACY and
 * CU_STREAM_PER_THREAD are valid; any other handle that is not a live
 * stream is forged (fc_forged).  Any output may be NULL.
 */
CUresult fc_stream_resolve(const char *call, CUstream s, struct fc_stream **stream,
			   struct fc_ctx **ctx, struct fc_queue **queue);

/* cuEventRecord's work, for @call (also the launch attributes that record events). */
CUresult fc_event_record(const char *call, CUevent h, CUstream s);

/* The live allocation / registration that holds [p, p + n), or NULL. */
struct fc_alloc *fc_alloc_find(uint64_t p, size_t n);
struct fc_hostreg *fc_hostreg_find(uint64_t p, size_t n);
/* Device memory: host memory aligned and poisoned, charged to the limit. */
CUresult fc_alloc_new(size_t size, struct fc_ctx *ctx, struct fc_module *owner, bool zero,
		      struct fc_alloc **out);
/* Unlinked by the caller: uncharged now, freed when no earlier work can use it. */
void fc_alloc_release(struct fc_alloc *a);

void fc_module_free_ctx(struct fc_ctx *c);	/* modules and functions of a context */
void fc_mem_free_ctx(struct fc_ctx *c);		/* allocations and registrations of a context */
/* A device range a copy, memset or memory operation may name: allocated or registered. */
bool fc_range_ok(uint64_t p, size_t n);

/* ---- virtual memory management (fc_vmm.c) ---- */
#define FC_VMM_GRANULARITY	(2ull << 20)	/* what an H200 reports, minimum and recommended */
/*
 * Is [p, p + n) mapped throughout with access (READ, or READWRITE for
 * @write)?  Call with fc_lock or fc_mem_lock held; the memory may be
 * touched only while fc_mem_lock is held (an unmap may follow at once).
 */
bool fc_vmm_usable(uint64_t p, size_t n, bool write);

/* ---- memory pools (fc_pool.c) ---- */
struct fc_pool;
/* An allocation of a pool was released (fc_alloc_release): the pool's figures follow. */
void fc_pool_alloc_gone(struct fc_alloc *a);

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
