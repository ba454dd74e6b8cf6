// SPDX-License-Identifier: MIT
/*
 * Stream capture and graphs.  Capture runs for real: BEGIN_CAPTURE puts the
 * driver's stream into capture, the launches, copies, memsets and event
 * records that follow on it are captured by the driver, and END_CAPTURE's
 * graph gets the id the guest chose.  A graph launch is one submission.
 *
 * The driver always captures in CU_STREAM_CAPTURE_MODE_RELAXED: this one
 * worker thread makes the calls of every guest thread, so GLOBAL or
 * THREAD_LOCAL here would prohibit the worker's own bookkeeping (event
 * queries, allocations) for all guests' threads at once.  The guest's mode
 * rules are kept per guest thread by the shim (guest-shim/capture.c).
 *
 * Graphs and executable graphs are not context objects (they outlive the
 * context they were captured in, as in the driver): their table entries
 * carry no context and go only when destroyed or when the session ends.
 */
#include "dispatch.h"
#include "graph_host.h"

static bool fresh_id(struct vgpu_session *s, uint64_t id)
{
	return id >= VGPU_FIRST_ID && !vgpu_idmap_find(&s->handles, id);
}

static CUresult insert(struct vgpu_session *s, uint64_t id, enum vgpu_obj_type type, void *h)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_insert(&s->handles, id, type);

	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	e->obj = h;
	e->aux32 = 0;
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_stream_begin_capture(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_capture_begin_args *a = (const void *)c->args;
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);

	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	if (a->mode > CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_ERROR_INVALID_VALUE;
	/* The legacy stream cannot capture; the driver says so itself for CU_STREAM_LEGACY. */
	return s->drv.StreamBeginCapture(xs->h, CU_STREAM_CAPTURE_MODE_RELAXED);
}

CUresult vgpu_exec_stream_end_capture(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_capture_end_args *a = (const void *)c->args;
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);
	CUgraph g = NULL;
	CUresult r;

	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	/* The capture ends whatever else is wrong: a guest must not leave a stream capturing. */
	r = s->drv.StreamEndCapture(xs->h, &g);
	if (r != CUDA_SUCCESS)
		return r;
	if (!g)
		return CUDA_ERROR_UNKNOWN;
	/*
	 * Captured work the driver refused (a launch it failed) was kept as an
	 * asynchronous error of this stream: natively that call failed and
	 * invalidated the capture, so the capture yields no graph.
	 */
	if (a->invalidated || vgpu_take_error(s, c->hdr->thread, c->hdr->ctx, c->stream))
		r = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
	else if (!fresh_id(s, a->graph_id))
		r = CUDA_ERROR_INVALID_VALUE;
	else
		r = insert(s, a->graph_id, VGPU_OBJ_GRAPH, g);
	if (r != CUDA_SUCCESS)
		s->drv.GraphDestroy(g);
	return r;
}

CUresult vgpu_exec_graph_create(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_graph_create_args *a = (const void *)c->args;
	CUgraph g;
	CUresult r;

	if (!fresh_id(s, a->id) || a->flags)
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.GraphCreate(&g, 0);
	if (r == CUDA_SUCCESS && (r = insert(s, a->id, VGPU_OBJ_GRAPH, g)) != CUDA_SUCCESS)
		s->drv.GraphDestroy(g);
	return r;
}

CUresult vgpu_exec_graph_destroy(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_graph_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->id, VGPU_OBJ_GRAPH);
	CUgraph g;

	if (!e)
		return CUDA_ERROR_INVALID_VALUE;	/* the driver's answer for a bad graph */
	g = e->obj;
	vgpu_idmap_remove(&s->handles, e);
	return s->drv.GraphDestroy(g);
}

/* What instantiation may ask for: device launch and upload-at-instantiate are not offered. */
#define INSTANTIATE_FLAGS                                   \
	(CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH |  \
	 CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY)

CUresult vgpu_exec_graph_instantiate(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_graph_instantiate_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->graph, VGPU_OBJ_GRAPH);
	CUgraphExec x;
	CUresult r;

	if (!e || !fresh_id(s, a->exec_id))
		return CUDA_ERROR_INVALID_VALUE;
	if (a->flags & ~(uint64_t)INSTANTIATE_FLAGS)
		return a->flags & (CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH |
				   CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD)
			       ? CUDA_ERROR_NOT_SUPPORTED
			       : CUDA_ERROR_INVALID_VALUE;
	r = s->drv.GraphInstantiateWithFlags(&x, e->obj, a->flags);
	if (r == CUDA_SUCCESS && (r = insert(s, a->exec_id, VGPU_OBJ_GRAPH_EXEC, x)) != CUDA_SUCCESS)
		s->drv.GraphExecDestroy(x);
	return r;
}

CUresult vgpu_exec_graph_exec_destroy(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_graph_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->id, VGPU_OBJ_GRAPH_EXEC);
	CUgraphExec x;

	if (!e)
		return CUDA_ERROR_INVALID_VALUE;
	x = e->obj;
	vgpu_idmap_remove(&s->handles, e);
	/* Launches already queued still run: the driver keeps what they need. */
	return s->drv.GraphExecDestroy(x);
}

static CUresult launch(struct vgpu_session *s, struct vgpu_call *c, bool upload)
{
	const struct vgpu_graph_launch_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *e = vgpu_obj(s, a->exec, VGPU_OBJ_GRAPH_EXEC);
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);

	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!e)
		return CUDA_ERROR_INVALID_VALUE;
	return upload ? s->drv.GraphUpload(e->obj, xs->h) : s->drv.GraphLaunch(e->obj, xs->h);
}

CUresult vgpu_exec_graph_launch(struct vgpu_session *s, struct vgpu_call *c)
{
	return launch(s, c, false);
}

CUresult vgpu_exec_graph_upload(struct vgpu_session *s, struct vgpu_call *c)
{
	return launch(s, c, true);
}

CUresult vgpu_exec_graph_exec_update(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_graph_update_args *a = (const void *)c->args;
	struct vgpu_idmap_entry *x = vgpu_obj(s, a->exec, VGPU_OBJ_GRAPH_EXEC);
	struct vgpu_idmap_entry *g = vgpu_obj(s, a->graph, VGPU_OBJ_GRAPH);
	CUgraphExecUpdateResultInfo info = { 0 };
	struct vgpu_graph_update_reply out = { 0 };
	CUresult r;

	if (!x || !g)
		return CUDA_ERROR_INVALID_VALUE;
	r = s->drv.GraphExecUpdate(x->obj, g->obj, &info);
	/* The error nodes are the driver's pointers: they do not leave the executor. */
	out.result = (uint32_t)info.result;
	vgpu_answer(c, &out, sizeof(out));
	return r;
}

CUresult vgpu_exec_graph_host_func(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_graph_host_func_args *a = (const void *)c->args;
	struct vgpu_xstream *xs = vgpu_stream(s, c, a->stream);
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;

	if (!xs)
		return CUDA_ERROR_INVALID_HANDLE;
	/* Only into a capture: outside one, LAUNCH_HOST_FUNC is the way (no thread waits there). */
	if (s->drv.StreamIsCapturing(xs->h, &st) != CUDA_SUCCESS ||
	    st != CU_STREAM_CAPTURE_STATUS_ACTIVE)
		return CUDA_ERROR_INVALID_VALUE;
	if (!s->host_flags)	/* the guest's host-function service is not offered here */
		return CUDA_ERROR_NOT_SUPPORTED;
	return vgpu_graph_host_capture(s, xs->h, a->cookie);
}

CUresult vgpu_exec_graph_host_done(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_msg_graph_host_func *a = (const void *)c->args;

	vgpu_graph_host_done(s, a->cookie, a->run);
	return CUDA_SUCCESS;
}

bool vgpu_stream_capturing(struct vgpu_session *s, const struct vgpu_xstream *xs)
{
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
	CUresult r = s->drv.StreamIsCapturing(xs->h, &st);

	/* The legacy stream while a blocking stream captures: using it would join the capture. */
	return r == CUDA_ERROR_STREAM_CAPTURE_IMPLICIT ||
	       (r == CUDA_SUCCESS && st != CU_STREAM_CAPTURE_STATUS_NONE);
}
