/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Stream capture and graphs, modelled as far as the executor uses them:
 *  - a capturing stream records the operations submitted to it as nodes of
 *    the capture's graph instead of running them;
 *  - an event recorded in a capture marks the capture; a stream that waits
 *    on it joins the capture (fork), and the origin stream that waits on an
 *    event of a joined stream joins it back (join) - the dependency is the
 *    order of capture, so the graph is a list of nodes in capture order,
 *    which is a topological order of the real graph;
 *  - cuGraphInstantiateWithFlags copies the nodes; cuGraphLaunch submits one
 *    operation that runs them one after the other (a launch into a capturing
 *    stream adds copies of them to that capture); cuGraphExecUpdate_v2
 *    takes new parameters when the node kinds and kernels match one to one.
 *
 * What it refuses as the real driver does: capture of the legacy stream
 * (CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED), a second BeginCapture
 * (CUDA_ERROR_ILLEGAL_STATE), synchronising or querying a capturing stream
 * (CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, and the capture is invalidated),
 * legacy-stream work while a blocking stream captures
 * (CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, invalidated), stream callbacks in a
 * capture, and work on an invalidated capture
 * (CUDA_ERROR_STREAM_CAPTURE_INVALIDATED); EndCapture on a joined stream is
 * CUDA_ERROR_STREAM_CAPTURE_UNMATCHED, on a stream that does not capture
 * CUDA_ERROR_ILLEGAL_STATE.  Not modelled: the prohibitions of GLOBAL and
 * THREAD_LOCAL mode (the executor always captures RELAXED), and
 * CUDA_ERROR_STREAM_CAPTURE_UNJOINED (a fork never joined back is simply
 * part of the graph).
 */
#include "fakecuda.h"

#include <stdlib.h>
#include <string.h>

struct fc_graph {
	uint32_t magic;
	struct fc_graph *next;
	struct fc_op **nodes;		/* owned, in capture order */
	unsigned n, cap;
};

struct fc_exec {
	uint32_t magic;
	struct fc_exec *next;
	struct fc_op **nodes;		/* owned copies */
	unsigned n;
};

struct fc_capture {
	struct fc_capture *next;
	uint64_t id;
	struct fc_queue *origin;
	struct fc_graph *g;
	bool invalidated;
};

static struct fc_graph *fc_graphs;
static struct fc_exec *fc_execs;
static struct fc_capture *fc_captures;
static uint64_t fc_capture_seq;

struct fc_capture *fc_capture_find(uint64_t id)
{
	for (struct fc_capture *c = fc_captures; c && id; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

uint64_t fc_capture_id(const struct fc_capture *cap)
{
	return cap->id;
}

bool fc_capture_invalid(const struct fc_capture *cap)
{
	return cap->invalidated;
}

void fc_capture_invalidate(struct fc_capture *cap)
{
	cap->invalidated = true;
}

bool fc_capture_blocks_legacy(struct fc_ctx *c)
{
	bool hit = false;

	for (struct fc_queue *q = c->queues; q; q = q->ctx_next)
		if (q->cap && q->blocking) {
			q->cap->invalidated = true;
			hit = true;
		}
	return hit;
}

CUresult fc_capture_join(struct fc_queue *q, struct fc_capture *cap)
{
	if (q->cap == cap)
		return CUDA_SUCCESS;
	if (q->cap) {			/* two captures would merge */
		q->cap->invalidated = cap->invalidated = true;
		return CUDA_ERROR_STREAM_CAPTURE_MERGE;
	}
	if (q->kind == FC_QUEUE_LEGACY) {
		cap->invalidated = true;
		return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
	}
	q->cap = cap;
	return CUDA_SUCCESS;
}

/* ---------------------------------------------------------------- nodes */

static struct fc_op *op_clone(const struct fc_op *src)
{
	struct fc_op *op = malloc(sizeof(*op));

	if (!op)
		return NULL;
	*op = *src;
	op->next = NULL;
	op->q = NULL;
	op->refs = 1;
	op->done = false;
	op->ndeps = 0;
	op->deps = NULL;
	if (src->kind == FC_OP_KERNEL) {
		size_t n = src->kernel.def->param_bytes ? src->kernel.def->param_bytes : 1;

		if (!(op->kernel.params = malloc(n))) {
			free(op);
			return NULL;
		}
		memcpy(op->kernel.params, src->kernel.params, n);
		op->kernel.argv = NULL;
	} else if (src->kind == FC_OP_COPY && src->copy.staged) {
		if (!(op->copy.staged = malloc(src->copy.n ? src->copy.n : 1))) {
			free(op);
			return NULL;
		}
		memcpy(op->copy.staged, src->copy.staged, src->copy.n);
		op->copy.src = (uint64_t)(uintptr_t)op->copy.staged;
	}
	return op;
}

static void nodes_free(struct fc_op **nodes, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fc_op_unref(nodes[i]);
	free(nodes);
}

void fc_op_free_graph(struct fc_op *op)
{
	nodes_free(op->graph.nodes, op->graph.n);
}

static CUresult nodes_copy(struct fc_op *const *src, unsigned n, struct fc_op ***out)
{
	struct fc_op **d = calloc(n ? n : 1, sizeof(*d));

	if (!d)
		return CUDA_ERROR_OUT_OF_MEMORY;
	for (unsigned i = 0; i < n; i++)
		if (!(d[i] = op_clone(src[i]))) {
			nodes_free(d, i);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
	*out = d;
	return CUDA_SUCCESS;
}

static CUresult graph_append(struct fc_graph *g, struct fc_op *op)
{
	if (g->n == g->cap) {
		unsigned cap = g->cap ? g->cap * 2 : 16;
		struct fc_op **n = realloc(g->nodes, cap * sizeof(*n));

		if (!n)
			return CUDA_ERROR_OUT_OF_MEMORY;
		g->nodes = n;
		g->cap = cap;
	}
	g->nodes[g->n++] = op;
	return CUDA_SUCCESS;
}

CUresult fc_capture_add(struct fc_queue *q, struct fc_op *op, bool wait)
{
	struct fc_capture *cap = q->cap;
	CUresult r = CUDA_SUCCESS;

	if (cap->invalidated) {
		r = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
	} else if (wait || op->kind == FC_OP_CALLBACK || op->kind == FC_OP_RECORD ||
		   op->kind == FC_OP_WAIT) {
		/* a call that waits for its work, or what no graph node can be */
		cap->invalidated = true;
		r = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	}
	if (r) {
		fc_op_unref(op);
		return r;
	}
	/* In a capture, order is the dependency: what the op waited on is captured before it. */
	for (unsigned i = 0; i < op->ndeps; i++)
		fc_op_unref(op->deps[i]);
	free(op->deps);
	op->deps = NULL;
	op->ndeps = 0;
	if (op->kind == FC_OP_GRAPH) {	/* a graph launched into a capture: its nodes */
		for (unsigned i = 0; i < op->graph.n && !r; i++) {
			struct fc_op *node = op_clone(op->graph.nodes[i]);

			r = node ? graph_append(cap->g, node) : CUDA_ERROR_OUT_OF_MEMORY;
			if (r && node)
				fc_op_unref(node);
		}
		fc_op_unref(op);
	} else if ((r = graph_append(cap->g, op))) {
		fc_op_unref(op);
	}
	if (r)
		cap->invalidated = true;
	return r;
}

/* ---------------------------------------------------------------- lookups */

static CUresult find_graph(const char *call, CUgraph h, struct fc_graph **out)
{
	*out = NULL;
	if (!h)
		return CUDA_ERROR_INVALID_VALUE;
	for (struct fc_graph *g = fc_graphs; g; g = g->next)
		if ((CUgraph)g == h && g->magic == FC_MAGIC_GRAPH) {
			*out = g;
			return CUDA_SUCCESS;
		}
	return fc_forged(call, "graph", CUDA_ERROR_INVALID_VALUE);
}

static CUresult find_exec(const char *call, CUgraphExec h, struct fc_exec **out)
{
	*out = NULL;
	if (!h)
		return CUDA_ERROR_INVALID_VALUE;
	for (struct fc_exec *x = fc_execs; x; x = x->next)
		if ((CUgraphExec)x == h && x->magic == FC_MAGIC_EXEC) {
			*out = x;
			return CUDA_SUCCESS;
		}
	return fc_forged(call, "executable graph", CUDA_ERROR_INVALID_VALUE);
}

static struct fc_graph *graph_new(void)
{
	struct fc_graph *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->magic = FC_MAGIC_GRAPH;
	g->next = fc_graphs;
	fc_graphs = g;
	return g;
}

static void graph_free(struct fc_graph *g)
{
	for (struct fc_graph **pp = &fc_graphs; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	nodes_free(g->nodes, g->n);
	g->magic = 0;
	free(g);
}

/* ---------------------------------------------------------------- capture */

static CUresult begin_capture(CUstream h, CUstreamCaptureMode mode)
{
	static const char call[] = "cuStreamBeginCapture";
	struct fc_capture *cap;
	struct fc_queue *q;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve(call, h, NULL, NULL, &q)))
		return r;
	if ((unsigned)mode > CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_ERROR_INVALID_VALUE;
	if (q->kind == FC_QUEUE_LEGACY)
		return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	if (q->cap)
		return CUDA_ERROR_ILLEGAL_STATE;
	cap = calloc(1, sizeof(*cap));
	if (!cap || !(cap->g = graph_new())) {
		free(cap);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	cap->id = ++fc_capture_seq;
	cap->origin = q;
	cap->next = fc_captures;
	fc_captures = cap;
	q->cap = cap;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode)
{
	FC_LOCKED(begin_capture(hStream, mode));
}

static CUresult end_capture(CUstream h, CUgraph *out)
{
	static const char call[] = "cuStreamEndCapture";
	struct fc_capture *cap;
	struct fc_queue *q;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve(call, h, NULL, NULL, &q)))
		return r;
	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	cap = q->cap;
	if (!cap)
		return CUDA_ERROR_ILLEGAL_STATE;
	if (cap->origin != q) {
		cap->invalidated = true;
		return CUDA_ERROR_STREAM_CAPTURE_UNMATCHED;
	}
	/* The sequence ends: every stream that joined it leaves it. */
	for (struct fc_queue *x = fc_queues; x; x = x->all_next)
		if (x->cap == cap)
			x->cap = NULL;
	for (struct fc_capture **pp = &fc_captures; *pp; pp = &(*pp)->next)
		if (*pp == cap) {
			*pp = cap->next;
			break;
		}
	*out = NULL;
	if (cap->invalidated) {
		graph_free(cap->g);
		r = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
	} else {
		*out = (CUgraph)cap->g;
	}
	free(cap);
	return r;
}

FC_EXPORT CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
{
	FC_LOCKED(end_capture(hStream, phGraph));
}

static CUresult is_capturing(CUstream h, CUstreamCaptureStatus *status)
{
	struct fc_queue *q;
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve("cuStreamIsCapturing", h, NULL, &c, &q)))
		return r;
	if (!status)
		return CUDA_ERROR_INVALID_VALUE;
	if (q->kind == FC_QUEUE_LEGACY) {
		/* cuda.h: the legacy stream while a blocking stream captures; not invalidated */
		for (struct fc_queue *b = c->queues; b; b = b->ctx_next)
			if (b->cap && b->blocking)
				return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
	}
	*status = !q->cap ? CU_STREAM_CAPTURE_STATUS_NONE
		  : q->cap->invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
					: CU_STREAM_CAPTURE_STATUS_ACTIVE;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
	FC_LOCKED(is_capturing(hStream, captureStatus));
}

/* ---------------------------------------------------------------- graphs */

static CUresult graph_create(CUgraph *ph, unsigned int flags)
{
	struct fc_graph *g;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!ph || flags)
		return CUDA_ERROR_INVALID_VALUE;
	if (!(g = graph_new()))
		return CUDA_ERROR_OUT_OF_MEMORY;
	*ph = (CUgraph)g;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
	FC_LOCKED(graph_create(phGraph, flags));
}

static CUresult graph_destroy(CUgraph h)
{
	struct fc_graph *g;
	CUresult r = fc_check_init();

	if (r || (r = find_graph("cuGraphDestroy", h, &g)))
		return r;
	for (struct fc_capture *c = fc_captures; c; c = c->next)
		if (c->g == g)		/* cuda.h: not while it is being captured into */
			return CUDA_ERROR_ILLEGAL_STATE;
	graph_free(g);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuGraphDestroy(CUgraph hGraph)
{
	FC_LOCKED(graph_destroy(hGraph));
}

#define FC_INSTANTIATE_FLAGS \
	(CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH | CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY)

static CUresult instantiate(CUgraphExec *ph, CUgraph h, unsigned long long flags)
{
	struct fc_graph *g;
	struct fc_exec *x;
	CUresult r = fc_check_init();

	if (r || (r = find_graph("cuGraphInstantiateWithFlags", h, &g)))
		return r;
	if (!ph)
		return CUDA_ERROR_INVALID_VALUE;
	if (flags & CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH)
		return CUDA_ERROR_NOT_SUPPORTED;	/* the double has no device-side launch */
	if (flags & ~(unsigned long long)FC_INSTANTIATE_FLAGS)
		return CUDA_ERROR_INVALID_VALUE;
	if (!(x = calloc(1, sizeof(*x))))
		return CUDA_ERROR_OUT_OF_MEMORY;
	if ((r = nodes_copy(g->nodes, g->n, &x->nodes))) {
		free(x);
		return r;
	}
	x->n = g->n;
	x->magic = FC_MAGIC_EXEC;
	x->next = fc_execs;
	fc_execs = x;
	*ph = (CUgraphExec)x;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
					       unsigned long long flags)
{
	FC_LOCKED(instantiate(phGraphExec, hGraph, flags));
}

static CUresult exec_destroy(CUgraphExec h)
{
	struct fc_exec *x;
	CUresult r = fc_check_init();

	if (r || (r = find_exec("cuGraphExecDestroy", h, &x)))
		return r;
	for (struct fc_exec **pp = &fc_execs; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	/* Launches already submitted run their own copies of the nodes. */
	nodes_free(x->nodes, x->n);
	x->magic = 0;
	free(x);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)
{
	FC_LOCKED(exec_destroy(hGraphExec));
}

static CUresult graph_launch(CUgraphExec h, CUstream hs, bool upload)
{
	const char *call = upload ? "cuGraphUpload" : "cuGraphLaunch";
	struct fc_queue *q;
	struct fc_exec *x;
	struct fc_op *op;
	CUresult r = fc_check_init();

	if (r || (r = find_exec(call, h, &x)) || (r = fc_stream_resolve(call, hs, NULL, NULL, &q)))
		return r;
	/* Host memory is device memory here: an upload has nothing to move. */
	if (upload)
		return q->cap && q->cap->invalidated ? CUDA_ERROR_STREAM_CAPTURE_INVALIDATED
						     : CUDA_SUCCESS;
	if (!(op = fc_op_new(FC_OP_GRAPH, call)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	/* The launch runs the nodes as they are now: a later update changes later launches. */
	if ((r = nodes_copy(x->nodes, x->n, &op->graph.nodes))) {
		fc_op_unref(op);
		return r;
	}
	op->graph.n = x->n;
	return fc_submit(q, op, false);
}

FC_EXPORT CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
	FC_LOCKED(graph_launch(hGraphExec, hStream, false));
}

FC_EXPORT CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream)
{
	FC_LOCKED(graph_launch(hGraphExec, hStream, true));
}

/* The update a node allows (cuda.h: kernels keep their function, other nodes their kind). */
static CUgraphExecUpdateResult node_update(const struct fc_op *old, const struct fc_op *new)
{
	if (old->kind != new->kind)
		return CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED;
	if (old->kind == FC_OP_KERNEL && old->kernel.def != new->kernel.def)
		return CU_GRAPH_EXEC_UPDATE_ERROR_UNSUPPORTED_FUNCTION_CHANGE;
	return CU_GRAPH_EXEC_UPDATE_SUCCESS;
}

static CUresult exec_update(CUgraphExec hx, CUgraph hg, CUgraphExecUpdateResultInfo *info)
{
	static const char call[] = "cuGraphExecUpdate";
	CUgraphExecUpdateResult res = CU_GRAPH_EXEC_UPDATE_SUCCESS;
	struct fc_op **nodes;
	struct fc_graph *g;
	struct fc_exec *x;
	CUresult r = fc_check_init();

	if (r || (r = find_exec(call, hx, &x)) || (r = find_graph(call, hg, &g)))
		return r;
	if (!info)
		return CUDA_ERROR_INVALID_VALUE;
	memset(info, 0, sizeof(*info));
	if (g->n != x->n)
		res = CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
	for (unsigned i = 0; i < g->n && !res; i++)
		res = node_update(x->nodes[i], g->nodes[i]);
	info->result = res;
	if (res)
		return CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
	if ((r = nodes_copy(g->nodes, g->n, &nodes)))
		return r;
	nodes_free(x->nodes, x->n);
	x->nodes = nodes;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuGraphExecUpdate_v2(CUgraphExec hGraphExec, CUgraph hGraph,
					CUgraphExecUpdateResultInfo *resultInfo)
{
	FC_LOCKED(exec_update(hGraphExec, hGraph, resultInfo));
}

/* ---------------------------------------------------------------- nodes */

/* A node is one of a graph's operations; its handle is the operation's address. */
static CUresult find_node(const char *call, CUgraphNode h, struct fc_graph **g, unsigned *index)
{
	if (!h)
		return CUDA_ERROR_INVALID_VALUE;
	for (struct fc_graph *x = fc_graphs; x; x = x->next)
		for (unsigned i = 0; i < x->n; i++)
			if ((CUgraphNode)x->nodes[i] == h) {
				*g = x;
				*index = i;
				return CUDA_SUCCESS;
			}
	*g = NULL;
	*index = 0;
	return fc_forged(call, "graph node", CUDA_ERROR_INVALID_VALUE);
}

static CUresult get_nodes(CUgraph h, CUgraphNode *nodes, size_t *n)
{
	struct fc_graph *g;
	CUresult r = fc_check_init();

	if (r || (r = find_graph("cuGraphGetNodes", h, &g)))
		return r;
	if (!n)
		return CUDA_ERROR_INVALID_VALUE;
	if (nodes) {
		/* cuda.h: as many as there is room for, the rest of the room NULL */
		for (size_t i = 0; i < *n; i++)
			nodes[i] = i < g->n ? (CUgraphNode)g->nodes[i] : NULL;
	}
	*n = g->n;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)
{
	FC_LOCKED(get_nodes(hGraph, nodes, numNodes));
}

static CUresult node_type(CUgraphNode h, CUgraphNodeType *type)
{
	struct fc_graph *g;
	unsigned i;
	CUresult r = fc_check_init();

	if (r || (r = find_node("cuGraphNodeGetType", h, &g, &i)))
		return r;
	if (!type)
		return CUDA_ERROR_INVALID_VALUE;
	switch (g->nodes[i]->kind) {
	case FC_OP_KERNEL:
		*type = CU_GRAPH_NODE_TYPE_KERNEL;
		break;
	case FC_OP_COPY:
		*type = CU_GRAPH_NODE_TYPE_MEMCPY;
		break;
	case FC_OP_MEMSET:
		*type = CU_GRAPH_NODE_TYPE_MEMSET;
		break;
	case FC_OP_HOST_FN:
		*type = CU_GRAPH_NODE_TYPE_HOST;
		break;
	default:	/* stream memory operations */
		*type = CU_GRAPH_NODE_TYPE_BATCH_MEM_OP;
		break;
	}
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuGraphNodeGetType(CUgraphNode hNode, CUgraphNodeType *type)
{
	FC_LOCKED(node_type(hNode, type));
}

static CUresult kernel_node_get(CUgraphNode h, CUDA_KERNEL_NODE_PARAMS *p)
{
	struct fc_graph *g;
	struct fc_op *op;
	unsigned i;
	CUresult r = fc_check_init();

	if (r || (r = find_node("cuGraphKernelNodeGetParams", h, &g, &i)))
		return r;
	op = g->nodes[i];
	if (!p || op->kind != FC_OP_KERNEL)
		return CUDA_ERROR_INVALID_VALUE;
	/* kernelParams point into the node's own buffer, valid until its parameters change */
	if (!op->kernel.argv) {
		const struct fc_kernel_def *def = op->kernel.def;

		if (!(op->kernel.argv = calloc(def->nparams + 1, sizeof(void *))))
			return CUDA_ERROR_OUT_OF_MEMORY;
		for (unsigned k = 0; k < def->nparams; k++)
			op->kernel.argv[k] = op->kernel.params + def->params[k].offset;
	}
	memset(p, 0, sizeof(*p));
	p->func = op->kernel.handle;
	p->gridDimX = op->kernel.grid[0];
	p->gridDimY = op->kernel.grid[1];
	p->gridDimZ = op->kernel.grid[2];
	p->blockDimX = op->kernel.block[0];
	p->blockDimY = op->kernel.block[1];
	p->blockDimZ = op->kernel.block[2];
	p->kernelParams = op->kernel.argv;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuGraphKernelNodeGetParams_v2(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
	FC_LOCKED(kernel_node_get(hNode, nodeParams));
}

static CUresult kernel_node_set(CUgraphExec hx, CUgraphNode h, const CUDA_KERNEL_NODE_PARAMS *p)
{
	const char *call = hx ? "cuGraphExecKernelNodeSetParams" : "cuGraphKernelNodeSetParams";
	struct fc_exec *x = NULL;
	struct fc_graph *g;
	struct fc_op *op;
	unsigned i;
	CUresult r = fc_check_init();

	if (r || (hx && (r = find_exec(call, hx, &x))) || (r = find_node(call, h, &g, &i)))
		return r;
	if (!p || g->nodes[i]->kind != FC_OP_KERNEL)
		return CUDA_ERROR_INVALID_VALUE;
	/* An executable graph's node is the copy of the graph's node at the same place. */
	op = g->nodes[i];
	if (x) {
		if (i >= x->n || x->nodes[i]->kind != FC_OP_KERNEL)
			return CUDA_ERROR_INVALID_VALUE;
		op = x->nodes[i];
	}
	return fc_kernel_node_set(op, p);
}

FC_EXPORT CUresult cuGraphKernelNodeSetParams_v2(CUgraphNode hNode,
						 const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
	FC_LOCKED(kernel_node_set(NULL, hNode, nodeParams));
}

FC_EXPORT CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec hGraphExec, CUgraphNode hNode,
						     const CUDA_KERNEL_NODE_PARAMS *nodeParams)
{
	FC_LOCKED(kernel_node_set(hGraphExec, hNode, nodeParams));
}
