/* SPDX-License-Identifier: MIT */
/*
 * The executor's contexts and streams, and the guest threads behind them.
 *
 * Every record names the guest thread that made it (decision 3), so what the
 * real driver keeps per thread is kept per *guest* thread here, although one
 * worker thread makes every driver call:
 *   - each guest thread's per-thread default stream is a stream of its own
 *     (a blocking stream: it synchronises with the legacy stream only, as
 *     the real per-thread stream does), created in each context on first use;
 *   - asynchronous work that failed is kept per (thread, context, stream) and
 *     returned by that thread's next call that reports such errors on that
 *     stream or context, never to another thread.
 *
 * A context also owns what the worker needs to wait without blocking: a pool
 * of events (recorded after work whose end the worker must see) and helper
 * streams that wake the worker when an event it sleeps on completes.
 */
#ifndef VGPU_STREAMS_H
#define VGPU_STREAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "real_driver.h"

struct vgpu_session;

struct vgpu_xstream {
	CUstream h;			/* CU_STREAM_LEGACY for a context's legacy stream */
	uint64_t id;			/* the guest's id; VGPU_STREAM_* for the default streams */
	uint32_t ctx_id;
	uint32_t thread;		/* a per-thread default stream's guest thread, else 0 */
	uint32_t blocked_pass;		/* waits.c: a wait on it was not ready in this pass */
	uint32_t armed_round;		/* waits.c: its first pending wait is armed this round */
	struct vgpu_xstream *next;	/* in its context's list (not the legacy stream) */
};

/* A guest's event.  Destroyed by the guest while the worker still polls it: freed after. */
struct vgpu_xevent {
	CUevent h;
	uint32_t ctx_id;
	uint32_t polled;		/* waits that poll it */
	bool destroyed;
};

#define VGPU_EVENT_POOL_MAX	256u
#define VGPU_HELPERS_MAX	64u

/* A helper stream that wakes the worker (waits.c); busy until its callback ran. */
struct vgpu_helper {
	CUstream h;
	int busy;			/* atomic: the driver's callback thread clears it */
};

struct vgpu_xctx {
	CUcontext h;
	uint64_t id;
	int device;
	bool primary;
	bool dead;			/* destroyed or reset: the id stays only for the table */
	struct vgpu_xstream legacy;
	struct vgpu_xstream *streams;	/* created and per-thread default streams */
	CUevent pool[VGPU_EVENT_POOL_MAX];
	uint32_t npool;
	struct vgpu_helper helpers[VGPU_HELPERS_MAX];
	uint32_t nhelpers;
	/*
	 * A released context stays allocated until the session ends: a helper's
	 * host function may still clear its busy flag after the context went.
	 */
	struct vgpu_xctx *dead_next;
};

/* Kept errors of asynchronous work, per guest thread. */
#define VGPU_KEPT_MAX		8u
#define VGPU_KEPT_ANY_STREAM	UINT64_MAX	/* work that ran on no stream (creation, unload) */

struct vgpu_kept {
	uint32_t ctx_id;
	uint64_t stream;
	CUresult err;
};

struct vgpu_gthread {
	uint32_t id;
	uint32_t nkept;
	struct vgpu_kept kept[VGPU_KEPT_MAX];
	uint64_t dropped;		/* errors that did not fit (logged) */
};

#define VGPU_MAX_GUEST_THREADS	4096u

/* A new context entry for driver context @h (the caller puts it in the handle table). */
struct vgpu_xctx *vgpu_xctx_new(CUcontext h, uint64_t id, int device, bool primary);

/*
 * Release what the session holds in @x: its streams (destroyed in the driver
 * unless @driver_gone, when the context went and took them), its events and
 * helper streams; @x stays allocated, marked dead, until vgpu_xctx_free().
 */
void vgpu_xctx_release(struct vgpu_session *s, struct vgpu_xctx *x, bool driver_gone);
void vgpu_xctx_free(struct vgpu_xctx *x);

/*
 * The stream a call names: @id 0 or 1 is the current context's legacy
 * stream, 2 the calling guest thread's per-thread default stream in the
 * current context (created on first use), otherwise a stream the guest
 * created.  NULL when the id is unknown or no context is current.
 */
struct vgpu_xstream *vgpu_xstream_find(struct vgpu_session *s, uint64_t id, uint32_t thread);

/* A new stream @id in the current context; CUDA_SUCCESS or the driver's error. */
CUresult vgpu_xstream_create(struct vgpu_session *s, uint64_t id, unsigned int flags,
			     int priority);

/* Destroy a stream the guest created (its queued work still runs). */
CUresult vgpu_xstream_destroy(struct vgpu_session *s, struct vgpu_xstream *x);

/* A guest thread ended: its per-thread default streams go, and its kept errors. */
void vgpu_gthread_exit(struct vgpu_session *s, uint32_t thread);

/* Keep @err of asynchronous work of @thread on (@ctx_id, @stream). */
void vgpu_keep_error(struct vgpu_session *s, uint32_t thread, uint32_t ctx_id, uint64_t stream,
		     CUresult err);

/*
 * Take the error @thread kept on (@ctx_id, @stream), or on every stream of
 * @ctx_id when @stream is VGPU_KEPT_ANY_STREAM; CUDA_SUCCESS when none.
 * Errors of work on no stream are returned by any of these.
 */
CUresult vgpu_take_error(struct vgpu_session *s, uint32_t thread, uint32_t ctx_id,
			 uint64_t stream);

/*
 * An event of @x's pool (recorded and polled by the worker) in *@out, or the
 * driver's error creating one (after a fault: the context's sticky error).
 */
CUresult vgpu_event_get(struct vgpu_session *s, struct vgpu_xctx *x, CUevent *out);
void vgpu_event_put(struct vgpu_session *s, struct vgpu_xctx *x, CUevent ev);

/* Drop a wait's reference to @e; frees it when the guest destroyed it meanwhile. */
void vgpu_xevent_unpoll(struct vgpu_session *s, struct vgpu_xevent *e);

/* The context entry @ctx_id names, or NULL. */
struct vgpu_xctx *vgpu_xctx_of(struct vgpu_session *s, uint32_t ctx_id);

#endif /* VGPU_STREAMS_H */
