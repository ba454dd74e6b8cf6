// SPDX-License-Identifier: MIT
/*
 * Stream capture (cuStreamBeginCapture ... cuStreamEndCapture).
 *
 * The capture itself runs in the executor's driver: BEGIN_CAPTURE puts the
 * real stream into capture, the work that follows on it is captured there,
 * END_CAPTURE gives the graph the id this side chose.  The executor always
 * captures in relaxed mode, because one worker thread makes the calls of
 * every guest thread; so the capture modes' rules are kept here, per guest
 * thread, where the threads are:
 *
 *  - a thread's mode (cuThreadExchangeStreamCaptureMode, GLOBAL by default)
 *    decides which captures forbid it potentially unsafe calls (allocation,
 *    synchronisation): GLOBAL - its own non-relaxed captures and any other
 *    thread's GLOBAL capture; THREAD_LOCAL - its own non-relaxed captures;
 *    RELAXED - none.  A forbidden call returns
 *    CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidates the capture that
 *    forbade it;
 *  - waiting for a capturing stream, and copies between a capturing stream
 *    and host memory (a graph would read the transport's transient buffers
 *    at every launch), and stream callbacks, are
 *    CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidate the capture;
 *    host functions are captured (host_func.c runs them at every launch);
 *  - legacy-stream work while a blocking stream of the context captures is
 *    CUDA_ERROR_STREAM_CAPTURE_IMPLICIT (invalidated); cuStreamIsCapturing
 *    of the legacy stream then answers that error without invalidating;
 *  - an event recorded in a capture marks it: a stream that waits on it
 *    joins the capture (fork/join); waiting on it from another capture is
 *    CUDA_ERROR_STREAM_CAPTURE_MERGE, and a capturing stream waiting on an
 *    event from outside is CUDA_ERROR_STREAM_CAPTURE_ISOLATION;
 *  - cuStreamEndCapture on a stream that does not capture is
 *    CUDA_ERROR_ILLEGAL_STATE, on a joined stream
 *    CUDA_ERROR_STREAM_CAPTURE_UNMATCHED, from another thread than a
 *    non-relaxed capture's CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD.
 *
 * So cuStreamIsCapturing and cuStreamGetCaptureInfo, which PyTorch's
 * allocator and cuBLAS call constantly, are answered without a round trip.
 * Errors that only the driver sees (a captured launch the driver refused)
 * come back at cuStreamEndCapture.  With no capture anywhere, every check
 * is one atomic load.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "capture.h"
#include "graph_node.h"
#include "channel.h"
#include "context.h"
#include "shim.h"
#include "state.h"

struct capture {
	struct capture *next;
	uint64_t id;			/* cuStreamGetCaptureInfo's id; > 0 */
	CUstreamCaptureMode mode;
	uint32_t thread;		/* vgpu_thread_id() of the thread that began it */
	struct vgpu_ctx *ctx;
	struct vgpu_graph *graph;
	uint64_t origin;		/* the wire id of the stream that began it */
	uint32_t nblocking;		/* blocking streams in it (the legacy stream would join) */
	bool invalidated;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct capture *active;
static uint64_t next_capture_id;
static atomic_uint nactive;		/* captures in progress */
static atomic_uint nstrict;		/* ... begun in GLOBAL or THREAD_LOCAL mode */

/* The calling thread's mode, and the capture of its per-thread default stream. */
static __thread CUstreamCaptureMode thread_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
static __thread uint64_t pt_cap_id;
static __thread const struct vgpu_ctx *pt_cap_ctx;

static struct capture *find(uint64_t id)
{
	for (struct capture *c = active; c && id; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

/* The stream object @st names, or NULL for the NULL, legacy and per-thread handles. */
static struct vgpu_stream *stream_obj(CUstream st)
{
	if (st == NULL || st == CU_STREAM_LEGACY || st == CU_STREAM_PER_THREAD)
		return NULL;	/* not pointers: never dereferenced */
	return vgpu_check(st, VGPU_KIND_STREAM);
}

static bool is_legacy(const struct vgpu_stream_ref *s)
{
	return s->id == VGPU_STREAM_NULL || s->id == VGPU_STREAM_LEGACY;
}

/* A stream that synchronises with the legacy stream. */
static bool is_blocking(CUstream st, const struct vgpu_stream_ref *s)
{
	const struct vgpu_stream *x = stream_obj(st);

	return x ? !(x->flags & CU_STREAM_NON_BLOCKING) : s->id == VGPU_STREAM_PER_THREAD;
}

/* Under lock: the capture stream @st (resolved as @s) takes part in, or NULL. */
static struct capture *capture_of(CUstream st, const struct vgpu_stream_ref *s)
{
	const struct vgpu_stream *x = stream_obj(st);

	if (x)
		return find(x->cap_id);
	if (s->id == VGPU_STREAM_PER_THREAD && pt_cap_ctx == s->ctx)
		return find(pt_cap_id);
	return NULL;
}

static void set_capture_of(CUstream st, const struct vgpu_stream_ref *s, uint64_t id)
{
	struct vgpu_stream *x = stream_obj(st);

	if (x) {
		x->cap_id = id;
	} else {
		pt_cap_id = id;
		pt_cap_ctx = s->ctx;
	}
}

/* Under lock: a legacy-stream use in @ctx meets a capturing blocking stream. */
static bool legacy_conflict(const struct vgpu_ctx *ctx, bool invalidate)
{
	bool hit = false;

	for (struct capture *c = active; c; c = c->next)
		if (c->ctx == ctx && c->nblocking) {
			hit = true;
			if (invalidate)
				c->invalidated = true;
		}
	return hit;
}

/* Under lock: the mode rules for a potentially unsafe call of this thread. */
static CUresult unsafe_locked(void)
{
	uint32_t me = vgpu_thread_id();
	bool forbidden = false;

	if (thread_mode == CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_SUCCESS;
	for (struct capture *c = active; c; c = c->next) {
		bool mine = c->thread == me && c->mode != CU_STREAM_CAPTURE_MODE_RELAXED;
		bool global = thread_mode == CU_STREAM_CAPTURE_MODE_GLOBAL && c->thread != me &&
			      c->mode == CU_STREAM_CAPTURE_MODE_GLOBAL;

		if (mine || global) {
			c->invalidated = true;
			forbidden = true;
		}
	}
	return forbidden ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_SUCCESS;
}

CUresult vgpu_capture_unsafe(void)
{
	CUresult r;

	if (!atomic_load_explicit(&nstrict, memory_order_acquire))
		return CUDA_SUCCESS;
	pthread_mutex_lock(&lock);
	r = unsafe_locked();
	pthread_mutex_unlock(&lock);
	return r;
}

CUresult vgpu_capture_use(CUstream st, const struct vgpu_stream_ref *s, enum vgpu_capture_use use)
{
	struct capture *c;
	CUresult r = CUDA_SUCCESS;

	if (!atomic_load_explicit(&nactive, memory_order_acquire))
		return CUDA_SUCCESS;
	pthread_mutex_lock(&lock);
	if (use == VGPU_USE_SYNC)
		r = unsafe_locked();
	c = r == CUDA_SUCCESS ? capture_of(st, s) : NULL;
	if (c) {
		if (use == VGPU_USE_SYNC || use == VGPU_USE_HOST_COPY)
			r = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
		else if (use == VGPU_USE_CALLBACK)
			r = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
		else if (c->invalidated)
			r = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
		if (r != CUDA_SUCCESS)
			c->invalidated = true;
	} else if (r == CUDA_SUCCESS && is_legacy(s) && legacy_conflict(s->ctx, true)) {
		r = CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

bool vgpu_capture_active(CUstream st, const struct vgpu_stream_ref *s)
{
	bool yes;

	if (!atomic_load_explicit(&nactive, memory_order_acquire))
		return false;
	pthread_mutex_lock(&lock);
	yes = capture_of(st, s) != NULL;
	pthread_mutex_unlock(&lock);
	return yes;
}

CUresult vgpu_capture_ctx_sync(const struct vgpu_ctx *ctx)
{
	CUresult r;

	if (!atomic_load_explicit(&nactive, memory_order_acquire))
		return CUDA_SUCCESS;
	pthread_mutex_lock(&lock);
	r = unsafe_locked();
	for (struct capture *c = active; c && r == CUDA_SUCCESS; c = c->next)
		if (c->ctx == ctx) {
			c->invalidated = true;
			r = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
		}
	pthread_mutex_unlock(&lock);
	return r;
}

CUresult vgpu_capture_record(struct vgpu_event *e, CUstream st, const struct vgpu_stream_ref *s)
{
	struct capture *c;
	CUresult r = vgpu_capture_use(st, s, VGPU_USE_ASYNC);

	if (r != CUDA_SUCCESS)
		return r;
	if (!atomic_load_explicit(&nactive, memory_order_acquire)) {
		e->cap_id = 0;
		return CUDA_SUCCESS;
	}
	pthread_mutex_lock(&lock);
	c = capture_of(st, s);
	e->cap_id = c ? c->id : 0;
	pthread_mutex_unlock(&lock);
	return CUDA_SUCCESS;
}

CUresult vgpu_capture_wait(const struct vgpu_event *e, CUstream st, const struct vgpu_stream_ref *s)
{
	struct capture *ec, *sc;
	CUresult r = CUDA_SUCCESS;

	if (!atomic_load_explicit(&nactive, memory_order_acquire))
		return CUDA_SUCCESS;
	pthread_mutex_lock(&lock);
	ec = find(e->cap_id);
	sc = capture_of(st, s);
	if (ec && sc && ec != sc) {
		ec->invalidated = sc->invalidated = true;
		r = CUDA_ERROR_STREAM_CAPTURE_MERGE;
	} else if (ec && !sc && is_legacy(s)) {
		ec->invalidated = true;
		r = CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
	} else if (ec && !sc) {
		/* A fork: the stream joins the capture. */
		set_capture_of(st, s, ec->id);
		if (is_blocking(st, s))
			ec->nblocking++;
	} else if (sc && !ec) {
		sc->invalidated = true;
		r = CUDA_ERROR_STREAM_CAPTURE_ISOLATION;
	} else if (sc && sc->invalidated) {
		r = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
	} else if (!sc && is_legacy(s) && legacy_conflict(s->ctx, true)) {
		r = CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

/* Under lock: @c ends (no stream of it is capturing any more). */
static void unlink_capture(struct capture *c)
{
	for (struct capture **pp = &active; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	atomic_fetch_sub(&nactive, 1);
	if (c->mode != CU_STREAM_CAPTURE_MODE_RELAXED)
		atomic_fetch_sub(&nstrict, 1);
}

void vgpu_capture_stream_destroyed(CUstream st, const struct vgpu_stream_ref *s)
{
	struct vgpu_capture_end_args a = { .stream = s->id, .invalidated = 1 };
	struct capture *c;

	if (!atomic_load_explicit(&nactive, memory_order_acquire))
		return;
	pthread_mutex_lock(&lock);
	c = capture_of(st, s);
	if (c && c->origin != s->id)
		c->invalidated = true;	/* a forked stream went: the capture cannot join it */
	if (c && c->origin == s->id)
		unlink_capture(c);
	else
		c = NULL;
	pthread_mutex_unlock(&lock);
	if (!c)
		return;
	/* The capture can never end now: end it in the executor, keeping no graph. */
	a.graph_id = c->graph->o.id;
	vgpu_call(VGPU_OP_STREAM_END_CAPTURE, VGPU_CMD_F_REPLY, vgpu_ctx_wire(s->ctx), &a,
		  sizeof(a), NULL, 0, NULL);
	vgpu_graph_free(c->graph);
	free(c);
}

/* ---- the entry points ---- */

static CUresult begin(CUstream st, bool pt, CUstreamCaptureMode mode)
{
	struct vgpu_capture_begin_args a = { .mode = (uint32_t)mode };
	struct vgpu_stream_ref s;
	struct vgpu_graph *g;
	struct capture *c;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if ((unsigned int)mode > CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_ERROR_INVALID_VALUE;
	if (is_legacy(&s))
		return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	g = malloc(sizeof(*g));
	c = calloc(1, sizeof(*c));
	if (!g || !c) {
		free(g);
		free(c);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*g = (struct vgpu_graph){ .o = { VGPU_KIND_GRAPH, vgpu_new_id() }, .ctx = s.ctx,
				  .capturing = true, .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_mutex_lock(&lock);
	if (capture_of(st, &s))
		r = CUDA_ERROR_ILLEGAL_STATE;
	pthread_mutex_unlock(&lock);
	if (r == CUDA_SUCCESS) {
		a.stream = s.id;
		r = vgpu_call(VGPU_OP_STREAM_BEGIN_CAPTURE, VGPU_CMD_F_REPLY, vgpu_ctx_wire(s.ctx),
			      &a, sizeof(a), NULL, 0, NULL);
	}
	if (r != CUDA_SUCCESS) {
		free(g);
		free(c);
		return r;
	}
	c->mode = mode;
	c->thread = vgpu_thread_id();
	c->ctx = s.ctx;
	c->graph = g;
	c->origin = s.id;
	c->nblocking = is_blocking(st, &s);
	pthread_mutex_lock(&lock);
	c->id = ++next_capture_id;
	c->next = active;
	active = c;
	set_capture_of(st, &s, c->id);
	atomic_fetch_add(&nactive, 1);
	if (mode != CU_STREAM_CAPTURE_MODE_RELAXED)
		atomic_fetch_add(&nstrict, 1);
	pthread_mutex_unlock(&lock);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode)
{
	return begin(hStream, false, mode);
}

CUresult CUDAAPI cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode)
{
	return begin(hStream, true, mode);
}

/* The CUDA 10.0 form, which has no mode: it behaves as GLOBAL. */
CUresult CUDAAPI cuStreamBeginCapture(CUstream hStream)
{
	return begin(hStream, false, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

CUresult CUDAAPI cuStreamBeginCapture_ptsz(CUstream hStream)
{
	return begin(hStream, true, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

static CUresult end(CUstream st, bool pt, CUgraph *out)
{
	struct vgpu_capture_end_args a = { 0 };
	struct vgpu_stream_ref s;
	struct vgpu_graph *g;
	struct capture *c;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&lock);
	c = capture_of(st, &s);
	if (!c) {
		r = CUDA_ERROR_ILLEGAL_STATE;
	} else if (c->origin != s.id) {
		c->invalidated = true;
		r = CUDA_ERROR_STREAM_CAPTURE_UNMATCHED;
	} else if (c->mode != CU_STREAM_CAPTURE_MODE_RELAXED && c->thread != vgpu_thread_id()) {
		r = CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD;
	} else {
		/* The sequence ends here; streams that joined it hold a stale id. */
		unlink_capture(c);
		set_capture_of(st, &s, 0);
	}
	pthread_mutex_unlock(&lock);
	if (r != CUDA_SUCCESS)
		return r;
	g = c->graph;
	a.stream = s.id;
	a.graph_id = g->o.id;
	a.invalidated = c->invalidated;
	free(c);
	r = vgpu_call(VGPU_OP_STREAM_END_CAPTURE, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC,
		      vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0, NULL);
	if (r != CUDA_SUCCESS) {
		*out = NULL;
		vgpu_graph_free(g);
		return r;
	}
	g->capturing = false;
	*out = (CUgraph)g;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
{
	return end(hStream, false, phGraph);
}

CUresult CUDAAPI cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph)
{
	return end(hStream, true, phGraph);
}

/* What cuStreamIsCapturing and cuStreamGetCaptureInfo answer, from the tracking above. */
static CUresult status_of(CUstream st, bool pt, CUstreamCaptureStatus *status, cuuint64_t *id,
			  CUgraph *graph, bool want_deps)
{
	struct vgpu_stream_ref s;
	struct capture *c;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!status)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&lock);
	c = capture_of(st, &s);
	if (!c && is_legacy(&s) && legacy_conflict(s.ctx, false)) {
		/* cuda.h: this answer, and the blocking stream's capture goes on. */
		r = CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
	} else if (c && want_deps && !c->invalidated) {
		/* The driver's node handles of the capture's open ends never leave the executor. */
		r = CUDA_ERROR_NOT_SUPPORTED;
	} else {
		*status = !c ? CU_STREAM_CAPTURE_STATUS_NONE
		          : c->invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
					   : CU_STREAM_CAPTURE_STATUS_ACTIVE;
		if (id && c)
			*id = c->id;
		if (graph)
			*graph = c && !c->invalidated ? (CUgraph)c->graph : NULL;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

CUresult CUDAAPI cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
	return status_of(hStream, false, captureStatus, NULL, NULL, false);
}

CUresult CUDAAPI cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
	return status_of(hStream, true, captureStatus, NULL, NULL, false);
}

CUresult CUDAAPI cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *status,
					cuuint64_t *id)
{
	return status_of(hStream, false, status, id, NULL, false);
}

CUresult CUDAAPI cuStreamGetCaptureInfo_ptsz(CUstream hStream, CUstreamCaptureStatus *status,
					     cuuint64_t *id)
{
	return status_of(hStream, true, status, id, NULL, false);
}

/* Without a capture the graph and dependency outputs are documented as unset. */
static CUresult info(CUstream st, bool pt, CUstreamCaptureStatus *status, cuuint64_t *id,
		     CUgraph *graph, const CUgraphNode **deps, const CUgraphEdgeData **edges,
		     size_t *ndeps)
{
	CUresult r = status_of(st, pt, status, id, graph, deps || edges || ndeps);

	if (r != CUDA_SUCCESS || *status == CU_STREAM_CAPTURE_STATUS_ACTIVE)
		return r;
	if (deps)
		*deps = NULL;
	if (edges)
		*edges = NULL;
	if (ndeps)
		*ndeps = 0;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *status,
					   cuuint64_t *id, CUgraph *graph,
					   const CUgraphNode **deps, size_t *ndeps)
{
	return info(hStream, false, status, id, graph, deps, NULL, ndeps);
}

CUresult CUDAAPI cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream, CUstreamCaptureStatus *status,
						cuuint64_t *id, CUgraph *graph,
						const CUgraphNode **deps, size_t *ndeps)
{
	return info(hStream, true, status, id, graph, deps, NULL, ndeps);
}

CUresult CUDAAPI cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *status,
					   cuuint64_t *id, CUgraph *graph,
					   const CUgraphNode **deps, const CUgraphEdgeData **edges,
					   size_t *ndeps)
{
	return info(hStream, false, status, id, graph, deps, edges, ndeps);
}

CUresult CUDAAPI cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream, CUstreamCaptureStatus *status,
						cuuint64_t *id, CUgraph *graph,
						const CUgraphNode **deps,
						const CUgraphEdgeData **edges, size_t *ndeps)
{
	return info(hStream, true, status, id, graph, deps, edges, ndeps);
}

CUresult CUDAAPI cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode *mode)
{
	CUstreamCaptureMode old;

	if (!mode || (unsigned int)*mode > CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_ERROR_INVALID_VALUE;
	old = thread_mode;
	thread_mode = *mode;
	*mode = old;
	return CUDA_SUCCESS;
}
