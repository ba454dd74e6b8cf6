// SPDX-License-Identifier: MIT
/*
 * Graphs and executable graphs.  A CUgraph / CUgraphExec is a guest object
 * naming an id the executor binds to the driver's graph; instantiate and
 * update wait for their answer (the caller needs it), launch, upload and
 * destroy do not: a graph launch is one submission (decision 3).
 *
 * Not offered (the generated stubs answer CUDA_ERROR_NOT_SUPPORTED): the
 * node APIs (building graphs node by node, reading or changing a node's
 * parameters - their handles and argument buffers would have to be
 * translated), device launch, and cuGraphDebugDotPrint, which writes a file
 * on the host.  Of cuGraphExecUpdate's answer only the result code comes
 * back; the error nodes are the executor's and are answered NULL.
 */
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "graph_node.h"
#include "channel.h"
#include "context.h"
#include "shim.h"
#include "state.h"
#include "stream_ref.h"

CUresult CUDAAPI cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
	struct vgpu_graph_create_args a = { .flags = flags };
	struct vgpu_graph *g;
	struct vgpu_ctx *c;
	CUresult r;

	if (!phGraph || flags)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_current_checked(&c);
	if (r != CUDA_SUCCESS)
		return r;
	g = malloc(sizeof(*g));
	if (!g)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*g = (struct vgpu_graph){ .o = { VGPU_KIND_GRAPH, vgpu_new_id() }, .ctx = c,
				  .lock = PTHREAD_MUTEX_INITIALIZER };
	a.id = g->o.id;
	r = vgpu_call(VGPU_OP_GRAPH_CREATE, 0, vgpu_ctx_wire(c), &a, sizeof(a), NULL, 0, NULL);
	if (r != CUDA_SUCCESS) {
		free(g);
		return r;
	}
	*phGraph = (CUgraph)g;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphDestroy(CUgraph hGraph)
{
	struct vgpu_graph *g = vgpu_check(hGraph, VGPU_KIND_GRAPH);
	struct vgpu_graph_args a;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!g)
		return CUDA_ERROR_INVALID_VALUE;
	/* cuda.h: a graph a capture still builds is not destroyed (cuStreamEndCapture first). */
	if (g->capturing)
		return CUDA_ERROR_ILLEGAL_STATE;
	a.id = g->o.id;
	/* Graphs belong to no context: the executor needs none current for this. */
	r = vgpu_call(VGPU_OP_GRAPH_DESTROY, 0, 0, &a, sizeof(a), NULL, 0, NULL);
	vgpu_graph_free(g);
	return r;
}

#define INSTANTIATE_FLAGS                                                              \
	(CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH | CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD | \
	 CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH | CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY)

static CUresult instantiate(CUgraphExec *out, CUgraph hGraph, unsigned long long flags)
{
	struct vgpu_graph *g = vgpu_check(hGraph, VGPU_KIND_GRAPH);
	struct vgpu_graph_instantiate_args a = { .flags = flags };
	struct vgpu_graph_exec *x;
	struct vgpu_ctx *c;
	CUresult r;

	if (!out || !g)
		return CUDA_ERROR_INVALID_VALUE;
	if (flags & ~(unsigned long long)INSTANTIATE_FLAGS)
		return CUDA_ERROR_INVALID_VALUE;
	/* Device-side launch needs a device-side handle, which the guest cannot get. */
	if (flags & CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (g->capturing)
		return CUDA_ERROR_ILLEGAL_STATE;
	r = vgpu_current_checked(&c);
	if (r != CUDA_SUCCESS)
		return r;
	x = malloc(sizeof(*x));
	if (!x)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*x = (struct vgpu_graph_exec){ .o = { VGPU_KIND_GRAPH_EXEC, vgpu_new_id() }, .ctx = c };
	a.graph = g->o.id;
	a.exec_id = x->o.id;
	r = vgpu_call(VGPU_OP_GRAPH_INSTANTIATE, VGPU_CMD_F_REPLY, vgpu_ctx_wire(c), &a, sizeof(a),
		      NULL, 0, NULL);
	if (r != CUDA_SUCCESS) {
		free(x);
		return r;
	}
	*out = (CUgraphExec)x;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
					     unsigned long long flags)
{
	/* Upload at instantiation is only for cuGraphInstantiateWithParams (cuda.h). */
	if (flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD)
		return CUDA_ERROR_INVALID_VALUE;
	return instantiate(phGraphExec, hGraph, flags);
}

/* The CUDA 10/11 form: no flags; the error node and the log stay empty. */
CUresult CUDAAPI cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph,
				    CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize)
{
	if (phErrorNode)
		*phErrorNode = NULL;
	if (logBuffer && bufferSize)
		logBuffer[0] = '\0';
	return instantiate(phGraphExec, hGraph, 0);
}

CUresult CUDAAPI cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph,
				       CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize)
{
	return cuGraphInstantiate(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize);
}

static CUresult launch(uint16_t op, CUgraphExec hExec, CUstream st, bool pt)
{
	struct vgpu_graph_exec *x = vgpu_check(hExec, VGPU_KIND_GRAPH_EXEC);
	struct vgpu_graph_launch_args a;
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!x)
		return CUDA_ERROR_INVALID_VALUE;
	/* Launched into a capture, the graph becomes part of the captured one. */
	r = vgpu_capture_use(st, &s, VGPU_USE_ASYNC);
	if (r != CUDA_SUCCESS)
		return r;
	a.exec = x->o.id;
	a.stream = s.id;
	return vgpu_call(op, 0, vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0, NULL);
}

/* cuGraphInstantiateWithParams: @per_thread names the form the upload stream is in. */
static CUresult instantiate_with_params(CUgraphExec *phGraphExec, CUgraph hGraph,
					CUDA_GRAPH_INSTANTIATE_PARAMS *params, bool per_thread)
{
	CUresult r;

	if (!params)
		return CUDA_ERROR_INVALID_VALUE;
	r = instantiate(phGraphExec, hGraph, params->flags);
	if (r == CUDA_SUCCESS && params->flags & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD)
		r = launch(VGPU_OP_GRAPH_UPLOAD, *phGraphExec, params->hUploadStream, per_thread);
	params->hErrNode_out = NULL;
	params->result_out = r == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS
					       : CUDA_GRAPH_INSTANTIATE_ERROR;
	return r;
}

CUresult CUDAAPI cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
					      CUDA_GRAPH_INSTANTIATE_PARAMS *params)
{
	return instantiate_with_params(phGraphExec, hGraph, params, false);
}

CUresult CUDAAPI cuGraphInstantiateWithParams_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph,
						   CUDA_GRAPH_INSTANTIATE_PARAMS *params)
{
	return instantiate_with_params(phGraphExec, hGraph, params, true);
}

CUresult CUDAAPI cuGraphExecDestroy(CUgraphExec hGraphExec)
{
	struct vgpu_graph_exec *x = vgpu_check(hGraphExec, VGPU_KIND_GRAPH_EXEC);
	struct vgpu_graph_args a;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!x)
		return CUDA_ERROR_INVALID_VALUE;
	a.id = x->o.id;
	/* Launches already submitted still run (the executor's driver keeps what they need). */
	r = vgpu_call(VGPU_OP_GRAPH_EXEC_DESTROY, 0, 0, &a, sizeof(a), NULL, 0, NULL);
	x->o.kind = VGPU_KIND_DEAD;
	free(x);
	return r;
}

CUresult CUDAAPI cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
	return launch(VGPU_OP_GRAPH_LAUNCH, hGraphExec, hStream, false);
}

CUresult CUDAAPI cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
	return launch(VGPU_OP_GRAPH_LAUNCH, hGraphExec, hStream, true);
}

CUresult CUDAAPI cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream)
{
	return launch(VGPU_OP_GRAPH_UPLOAD, hGraphExec, hStream, false);
}

CUresult CUDAAPI cuGraphUpload_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
	return launch(VGPU_OP_GRAPH_UPLOAD, hGraphExec, hStream, true);
}

static CUresult update(CUgraphExec hExec, CUgraph hGraph, CUgraphExecUpdateResult *result)
{
	struct vgpu_graph_exec *x = vgpu_check(hExec, VGPU_KIND_GRAPH_EXEC);
	struct vgpu_graph *g = vgpu_check(hGraph, VGPU_KIND_GRAPH);
	struct vgpu_graph_update_args a;
	struct vgpu_graph_update_reply rep = { 0 };
	struct vgpu_answer ans = { 0 };
	struct vgpu_ctx *c;
	CUresult r = vgpu_current_checked(&c);

	*result = CU_GRAPH_EXEC_UPDATE_ERROR;
	if (r != CUDA_SUCCESS)
		return r;
	if (!x || !g || g->capturing)
		return CUDA_ERROR_INVALID_VALUE;
	a.exec = x->o.id;
	a.graph = g->o.id;
	r = vgpu_call(VGPU_OP_GRAPH_EXEC_UPDATE, VGPU_CMD_F_REPLY, vgpu_ctx_wire(c), &a, sizeof(a),
		      NULL, 0, &ans);
	if (ans.len >= sizeof(rep))
		memcpy(&rep, ans.data, sizeof(rep));
	*result = (CUgraphExecUpdateResult)rep.result;
	/* A failure the executor did not describe is the generic error of cuda.h. */
	if (r != CUDA_SUCCESS && *result == CU_GRAPH_EXEC_UPDATE_SUCCESS)
		*result = CU_GRAPH_EXEC_UPDATE_ERROR;
	return r;
}

CUresult CUDAAPI cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph,
				      CUgraphExecUpdateResultInfo *resultInfo)
{
	CUgraphExecUpdateResult res;
	CUresult r;

	if (!resultInfo)
		return CUDA_ERROR_INVALID_VALUE;
	r = update(hGraphExec, hGraph, &res);
	resultInfo->result = res;
	resultInfo->errorNode = NULL;
	resultInfo->errorFromNode = NULL;
	return r;
}

CUresult CUDAAPI cuGraphExecUpdate(CUgraphExec hGraphExec, CUgraph hGraph,
				   CUgraphNode *hErrorNode_out, CUgraphExecUpdateResult *updateResult_out)
{
	CUgraphExecUpdateResult res;
	CUresult r;

	if (!updateResult_out)
		return CUDA_ERROR_INVALID_VALUE;
	r = update(hGraphExec, hGraph, &res);
	*updateResult_out = res;
	if (hErrorNode_out)
		*hErrorNode_out = NULL;
	return r;
}
