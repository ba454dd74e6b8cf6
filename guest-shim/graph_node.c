// SPDX-License-Identifier: MIT
/*
 * Graph nodes: cuGraphGetNodes, cuGraphNodeGetType and the kernel node's
 * parameters (cuGraphKernelNodeGet/SetParams, cuGraphExecKernelNodeSetParams)
 * - what ggml-cuda uses to change a captured kernel's arguments.
 *
 * A node is its graph and its place in the driver's cuGraphGetNodes order;
 * the shim makes one object per place when first asked, so the same node
 * is always the same handle.  A kernel node's parameters travel packed at
 * the offsets of the function's layout (the one launches use), and its
 * function by id; cuGraphKernelNodeGetParams' kernelParams point into a
 * buffer of the node object, valid until the node's parameters are read
 * again or the graph is destroyed (cuda.h promises as much).  extra comes
 * back NULL: the parameters are always given as kernelParams.
 */
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "context.h"
#include "graph_node.h"
#include "module.h"
#include "shim.h"
#include "state.h"

void vgpu_graph_free(struct vgpu_graph *g)
{
	for (size_t i = 0; i < g->nnodes; i++) {
		struct vgpu_graph_node *n = g->nodes[i];

		if (!n)
			continue;
		n->o.kind = VGPU_KIND_DEAD;
		free(n->params);
		free(n->argv);
		free(n);
	}
	free(g->nodes);
	g->o.kind = VGPU_KIND_DEAD;
	free(g);
}

/* The node object for place @i of @g, made on first use; NULL if out of memory. */
static struct vgpu_graph_node *node_obj(struct vgpu_graph *g, uint64_t i)
{
	struct vgpu_graph_node *n = NULL;

	pthread_mutex_lock(&g->lock);
	if (i >= g->nnodes) {
		size_t want = (size_t)i + 1;
		struct vgpu_graph_node **t = realloc(g->nodes, want * sizeof(*t));

		if (!t)
			goto out;
		memset(t + g->nnodes, 0, (want - g->nnodes) * sizeof(*t));
		g->nodes = t;
		g->nnodes = want;
	}
	if (!g->nodes[i] && (g->nodes[i] = calloc(1, sizeof(*n)))) {
		g->nodes[i]->o.kind = VGPU_KIND_GRAPH_NODE;
		g->nodes[i]->graph = g;
		g->nodes[i]->index = i;
	}
	n = g->nodes[i];
out:
	pthread_mutex_unlock(&g->lock);
	return n;
}

static CUresult graph_ctx(const struct vgpu_graph *g, uint32_t *wire)
{
	struct vgpu_ctx *c;
	CUresult r = vgpu_current_checked(&c);

	/* The driver's node calls need no context; the executor then runs them in the current one. */
	*wire = r == CUDA_SUCCESS ? vgpu_ctx_wire(c) : vgpu_ctx_wire(g->ctx);
	return vgpu_ready();
}

CUresult CUDAAPI cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)
{
	struct vgpu_graph *g = vgpu_check(hGraph, VGPU_KIND_GRAPH);
	struct vgpu_graph_args a;
	struct vgpu_answer ans = { 0 };
	uint64_t count = 0;
	uint32_t ctx;
	CUresult r;

	if (!g || !numNodes)
		return CUDA_ERROR_INVALID_VALUE;
	/* A capture's graph has no id in the executor until the capture ends. */
	if (g->capturing)
		return CUDA_ERROR_NOT_SUPPORTED;
	r = graph_ctx(g, &ctx);
	if (r != CUDA_SUCCESS)
		return r;
	a.id = g->o.id;
	r = vgpu_call(VGPU_OP_GRAPH_GET_NODES, VGPU_CMD_F_REPLY, ctx, &a, sizeof(a), NULL, 0, &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&count, ans.data, sizeof(count));
	if (nodes) {
		for (size_t i = 0; i < *numNodes; i++) {
			nodes[i] = NULL;
			if (i < count && !(nodes[i] = (CUgraphNode)node_obj(g, i)))
				return CUDA_ERROR_OUT_OF_MEMORY;
		}
	}
	*numNodes = (size_t)count;
	return CUDA_SUCCESS;
}

/* NODE_GET for @n; with @b a kernel node's parameters land there. */
static CUresult node_get(struct vgpu_graph_node *n, struct vgpu_bulk_buf *b, CUgraphNodeType *type)
{
	struct vgpu_graph_node_args a = { .graph = n->graph->o.id, .index = n->index };
	struct vgpu_graph_node_reply rep = { 0 };
	struct vgpu_answer ans = { 0 };
	uint32_t ctx;
	CUresult r = graph_ctx(n->graph, &ctx);

	if (r != CUDA_SUCCESS)
		return r;
	if (b)
		a.out = b->ref;
	r = vgpu_call(VGPU_OP_GRAPH_NODE_GET, VGPU_CMD_F_REPLY, ctx, &a, sizeof(a), NULL, 0, &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&rep, ans.data, sizeof(rep));
	*type = (CUgraphNodeType)rep.type;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphNodeGetType(CUgraphNode hNode, CUgraphNodeType *type)
{
	struct vgpu_graph_node *n = vgpu_check(hNode, VGPU_KIND_GRAPH_NODE);

	if (!n || !type)
		return CUDA_ERROR_INVALID_VALUE;
	return node_get(n, NULL, type);
}

static CUresult kernel_get(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS *p)
{
	struct vgpu_graph_node *n = vgpu_check(hNode, VGPU_KIND_GRAPH_NODE);
	struct vgpu_kernel_node k;
	struct vgpu_bulk_buf b;
	CUgraphNodeType type;
	struct vgpu_func *f;
	uint8_t *params;
	uint64_t want;
	void **argv;
	CUresult r;

	if (!n || !p)
		return CUDA_ERROR_INVALID_VALUE;
	/* Room for the largest parameter block, or what the smallest channel allows. */
	want = sizeof(k) + VGPU_MAX_PARAM_BYTES;
	if (want > vgpu_bulk_max())
		want = vgpu_bulk_max();
	if (!vgpu_bulk_alloc(want, true, &b))
		return CUDA_ERROR_DEVICE_UNAVAILABLE;
	r = node_get(n, &b, &type);
	if (r == CUDA_SUCCESS && type != CU_GRAPH_NODE_TYPE_KERNEL)
		r = CUDA_ERROR_INVALID_VALUE;
	if (r == CUDA_SUCCESS)
		memcpy(&k, b.ptr, sizeof(k));
	f = r == CUDA_SUCCESS ? vgpu_func_by_id(k.func) : NULL;
	if (r == CUDA_SUCCESS && !f)
		r = CUDA_ERROR_INVALID_VALUE;
	if (r == CUDA_SUCCESS)
		r = vgpu_func_params(f);
	if (r == CUDA_SUCCESS && k.param_size > f->param_bytes)
		r = CUDA_ERROR_INVALID_VALUE;
	if (r != CUDA_SUCCESS) {
		vgpu_bulk_free(&b);
		return r;
	}
	params = calloc(1, f->param_bytes ? f->param_bytes : 1);
	argv = calloc(f->param_count + 1, sizeof(*argv));
	if (!params || !argv) {
		free(params);
		free(argv);
		vgpu_bulk_free(&b);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	memcpy(params, b.ptr + sizeof(k), k.param_size);
	vgpu_bulk_free(&b);
	for (uint32_t i = 0; i < f->param_count; i++)
		argv[i] = params + f->params[i].offset;
	pthread_mutex_lock(&n->graph->lock);
	free(n->params);
	free(n->argv);
	n->params = params;
	n->argv = argv;
	pthread_mutex_unlock(&n->graph->lock);
	memset(p, 0, sizeof(*p));
	/* A CUkernel is accepted wherever a CUfunction is (as launches take it). */
	p->func = (CUfunction)f;
	p->kern = f->o.kind == VGPU_KIND_KERNEL ? (CUkernel)f : NULL;
	p->gridDimX = k.grid[0], p->gridDimY = k.grid[1], p->gridDimZ = k.grid[2];
	p->blockDimX = k.block[0], p->blockDimY = k.block[1], p->blockDimZ = k.block[2];
	p->sharedMemBytes = k.shared_mem;
	p->kernelParams = argv;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphKernelNodeGetParams_v2(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS *p)
{
	return kernel_get(hNode, p);
}

CUresult CUDAAPI cuGraphKernelNodeGetParams(CUgraphNode hNode, CUDA_KERNEL_NODE_PARAMS_v1 *p1)
{
	CUDA_KERNEL_NODE_PARAMS p;
	CUresult r;

	if (!p1)
		return CUDA_ERROR_INVALID_VALUE;
	r = kernel_get(hNode, &p);
	if (r == CUDA_SUCCESS)
		memcpy(p1, &p, sizeof(*p1));	/* v1 is v2's first part */
	return r;
}

/* Pack @p's parameters as a launch does; *@buf is the caller's to free. */
static CUresult pack(struct vgpu_func *f, const CUDA_KERNEL_NODE_PARAMS *p, uint8_t **buf,
		     uint32_t *size)
{
	CUresult r;

	if (p->kernelParams && p->extra)
		return CUDA_ERROR_INVALID_VALUE;
	if (p->extra) {
		const void *src = NULL;
		size_t n = 0;

		for (size_t i = 0; p->extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
			if (p->extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
				src = p->extra[i + 1];
			else if (p->extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE && p->extra[i + 1])
				n = *(const size_t *)p->extra[i + 1];
			else
				return CUDA_ERROR_INVALID_VALUE;
		}
		if ((n && !src) || n > VGPU_MAX_PARAM_BYTES)
			return CUDA_ERROR_INVALID_VALUE;
		*buf = malloc(n ? n : 1);
		if (!*buf)
			return CUDA_ERROR_OUT_OF_MEMORY;
		if (n)
			memcpy(*buf, src, n);
		*size = (uint32_t)n;
		return CUDA_SUCCESS;
	}
	r = vgpu_func_params(f);
	if (r != CUDA_SUCCESS)
		return r;
	if (f->param_count && !p->kernelParams)
		return CUDA_ERROR_INVALID_VALUE;
	if (f->param_bytes > VGPU_MAX_PARAM_BYTES)
		return CUDA_ERROR_INVALID_VALUE;
	/* Padding is zeroed: the record must not carry guest memory it was not given. */
	*buf = calloc(1, f->param_bytes ? f->param_bytes : 1);
	if (!*buf)
		return CUDA_ERROR_OUT_OF_MEMORY;
	for (uint32_t i = 0; i < f->param_count; i++) {
		if (!p->kernelParams[i]) {
			free(*buf);
			return CUDA_ERROR_INVALID_VALUE;
		}
		memcpy(*buf + f->params[i].offset, p->kernelParams[i], f->params[i].size);
	}
	*size = f->param_bytes;
	return CUDA_SUCCESS;
}

static CUresult kernel_set(CUgraphExec hExec, CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS *p)
{
	struct vgpu_graph_node *n = vgpu_check(hNode, VGPU_KIND_GRAPH_NODE);
	struct vgpu_graph_exec *x = vgpu_check(hExec, VGPU_KIND_GRAPH_EXEC);
	struct vgpu_kernel_node_set_args a = { 0 };
	struct vgpu_func *f;
	uint8_t *buf = NULL;
	uint32_t ctx;
	CUresult r;

	if (!n || !p || (hExec && !x))
		return CUDA_ERROR_INVALID_VALUE;
	f = vgpu_func_of(p->func ? (const void *)p->func : (const void *)p->kern);
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	r = graph_ctx(n->graph, &ctx);
	if (r == CUDA_SUCCESS)
		r = pack(f, p, &buf, &a.k.param_size);
	if (r != CUDA_SUCCESS)
		return r;
	if (a.k.param_size > vgpu_max_tail(sizeof(a))) {
		free(buf);
		return CUDA_ERROR_INVALID_VALUE;
	}
	a.graph = n->graph->o.id;
	a.index = n->index;
	a.exec = x ? x->o.id : 0;
	a.k.func = f->o.id;
	a.k.grid[0] = p->gridDimX, a.k.grid[1] = p->gridDimY, a.k.grid[2] = p->gridDimZ;
	a.k.block[0] = p->blockDimX, a.k.block[1] = p->blockDimY, a.k.block[2] = p->blockDimZ;
	a.k.shared_mem = p->sharedMemBytes;
	r = vgpu_call(VGPU_OP_GRAPH_KERNEL_NODE_SET, VGPU_CMD_F_REPLY, ctx, &a, sizeof(a), buf,
		      a.k.param_size, NULL);
	free(buf);
	return r;
}

CUresult CUDAAPI cuGraphKernelNodeSetParams_v2(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS *p)
{
	return kernel_set(NULL, hNode, p);
}

CUresult CUDAAPI cuGraphExecKernelNodeSetParams_v2(CUgraphExec hGraphExec, CUgraphNode hNode,
						   const CUDA_KERNEL_NODE_PARAMS *p)
{
	if (!hGraphExec)
		return CUDA_ERROR_INVALID_VALUE;
	return kernel_set(hGraphExec, hNode, p);
}

static CUresult from_v1(const CUDA_KERNEL_NODE_PARAMS_v1 *p1, CUDA_KERNEL_NODE_PARAMS *p)
{
	if (!p1)
		return CUDA_ERROR_INVALID_VALUE;
	memset(p, 0, sizeof(*p));
	memcpy(p, p1, sizeof(*p1));
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphKernelNodeSetParams(CUgraphNode hNode, const CUDA_KERNEL_NODE_PARAMS_v1 *p1)
{
	CUDA_KERNEL_NODE_PARAMS p;
	CUresult r = from_v1(p1, &p);

	return r ? r : kernel_set(NULL, hNode, &p);
}

CUresult CUDAAPI cuGraphExecKernelNodeSetParams(CUgraphExec hGraphExec, CUgraphNode hNode,
						const CUDA_KERNEL_NODE_PARAMS_v1 *p1)
{
	CUDA_KERNEL_NODE_PARAMS p;
	CUresult r = from_v1(p1, &p);

	if (!hGraphExec)
		return CUDA_ERROR_INVALID_VALUE;
	return r ? r : kernel_set(hGraphExec, hNode, &p);
}
