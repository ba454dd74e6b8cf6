// SPDX-License-Identifier: MIT
/*
 * Graph nodes: how many a graph has, a node's type, and a kernel node's
 * parameters read and changed (cuGraphGetNodes, cuGraphNodeGetType,
 * cuGraphKernelNodeGet/SetParams, cuGraphExecKernelNodeSetParams).
 *
 * A node is named by its graph and its place in the driver's
 * cuGraphGetNodes order; the driver's node handles never leave the
 * executor.  A kernel node's function goes out as the guest's id for it
 * (found by its driver handle among the session's functions and kernels)
 * and comes back as an id, checked like a launch's.  Its parameters travel
 * packed at the offsets the driver reports for the function
 * (cuFuncGetParamInfo / cuKernelGetParamInfo), the layout the guest also
 * has; every offset and size is checked against the packed length.
 */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"

/* The @index-th node of @g (cuGraphGetNodes order), or an error. */
static CUresult node_at(struct vgpu_session *s, CUgraph g, uint64_t index, CUgraphNode *out)
{
	CUgraphNode *all;
	size_t n = 0;
	CUresult r = s->drv.GraphGetNodes(g, NULL, &n);

	if (r != CUDA_SUCCESS)
		return r;
	if (index >= n)
		return CUDA_ERROR_INVALID_VALUE;
	all = calloc(n, sizeof(*all));
	if (!all)
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = s->drv.GraphGetNodes(g, all, &n);
	if (r == CUDA_SUCCESS)
		*out = index < n ? all[index] : NULL;
	free(all);
	return r == CUDA_SUCCESS && !*out ? CUDA_ERROR_INVALID_VALUE : r;
}

static CUresult graph_of(struct vgpu_session *s, uint64_t id, CUgraph *out)
{
	struct vgpu_idmap_entry *e = vgpu_obj(s, id, VGPU_OBJ_GRAPH);

	if (!e)
		return CUDA_ERROR_INVALID_VALUE;
	*out = e->obj;
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_graph_get_nodes(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_graph_args *a = (const void *)c->args;
	uint64_t count;
	size_t n = 0;
	CUgraph g;
	CUresult r = graph_of(s, a->id, &g);

	if (r == CUDA_SUCCESS)
		r = s->drv.GraphGetNodes(g, NULL, &n);
	count = n;
	vgpu_answer(c, &count, sizeof(count));
	return r;
}

struct find_func {
	const void *func, *kern;
	uint64_t id;
	uint32_t type;
	void *obj;
};

static void match_func(struct vgpu_idmap_entry *e, void *arg)
{
	struct find_func *f = arg;

	if (f->id || (e->type != VGPU_OBJ_FUNCTION && e->type != VGPU_OBJ_KERNEL))
		return;
	if (e->obj == f->func || (f->kern && e->obj == f->kern)) {
		f->id = e->key;
		f->type = e->type;
		f->obj = e->obj;
	}
}

/* The i-th parameter's place for a function or kernel entry; false past the last. */
static bool param_at(struct vgpu_session *s, uint32_t type, void *obj, uint32_t i, size_t *off,
		     size_t *size)
{
	CUresult r = type == VGPU_OBJ_KERNEL ? s->drv.KernelGetParamInfo(obj, i, off, size)
					     : s->drv.FuncGetParamInfo(obj, i, off, size);

	return r == CUDA_SUCCESS;
}

CUresult vgpu_exec_graph_node_get(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_graph_node_args *a = (const void *)c->args;
	struct vgpu_graph_node_reply out = { 0 };
	CUDA_KERNEL_NODE_PARAMS p;
	struct vgpu_kernel_node k = { 0 };
	struct find_func f = { 0 };
	CUgraphNodeType type;
	CUgraphNode node;
	uint8_t *dst;
	CUgraph g;
	CUresult r = graph_of(s, a->graph, &g);

	if (r == CUDA_SUCCESS)
		r = node_at(s, g, a->index, &node);
	if (r == CUDA_SUCCESS)
		r = s->drv.GraphNodeGetType(node, &type);
	if (r != CUDA_SUCCESS)
		return r;
	out.type = (uint32_t)type;
	vgpu_answer(c, &out, sizeof(out));
	/* The type alone (cuGraphNodeGetType) names no buffer. */
	if (type != CU_GRAPH_NODE_TYPE_KERNEL || a->out.len == 0)
		return CUDA_SUCCESS;
	dst = vgpu_bulk(s, &a->out);
	if (!dst || a->out.len < sizeof(k))
		return CUDA_ERROR_INVALID_VALUE;
	memset(&p, 0, sizeof(p));
	r = s->drv.GraphKernelNodeGetParams(node, &p);
	if (r != CUDA_SUCCESS)
		return r;
	f.func = p.func;
	f.kern = p.kern;
	vgpu_idmap_each(&s->handles, match_func, &f);
	/* A function the guest never named (the driver's own): nothing it could use. */
	if (!f.id)
		return CUDA_ERROR_INVALID_VALUE;
	k.func = f.id;
	k.grid[0] = p.gridDimX, k.grid[1] = p.gridDimY, k.grid[2] = p.gridDimZ;
	k.block[0] = p.blockDimX, k.block[1] = p.blockDimY, k.block[2] = p.blockDimZ;
	k.shared_mem = p.sharedMemBytes;
	/* Packed at the driver's offsets, into the guest's buffer after the header. */
	if (p.kernelParams) {
		size_t off, size;

		for (uint32_t i = 0; param_at(s, f.type, f.obj, i, &off, &size); i++) {
			if (off + size > VGPU_MAX_PARAM_BYTES || off + size > a->out.len - sizeof(k))
				return CUDA_ERROR_INVALID_VALUE;
			memcpy(dst + sizeof(k) + off, p.kernelParams[i], size);
			if (off + size > k.param_size)
				k.param_size = (uint32_t)(off + size);
		}
	} else if (p.extra) {
		const void *buf = NULL;
		size_t len = 0;

		for (void **e = p.extra; *e != CU_LAUNCH_PARAM_END; e += 2) {
			if (e[0] == CU_LAUNCH_PARAM_BUFFER_POINTER)
				buf = e[1];
			else if (e[0] == CU_LAUNCH_PARAM_BUFFER_SIZE && e[1])
				len = *(const size_t *)e[1];
		}
		if (len > VGPU_MAX_PARAM_BYTES || len > a->out.len - sizeof(k) || (len && !buf))
			return CUDA_ERROR_INVALID_VALUE;
		if (len)
			memcpy(dst + sizeof(k), buf, len);
		k.param_size = (uint32_t)len;
	}
	memcpy(dst, &k, sizeof(k));
	return CUDA_SUCCESS;
}

CUresult vgpu_exec_graph_kernel_node_set(struct vgpu_session *s, struct vgpu_call *c)
{
	const struct vgpu_kernel_node_set_args *a = (const void *)c->args;
	const uint8_t *packed = vgpu_trailing(c, sizeof(*a), a->k.param_size);
	struct vgpu_idmap_entry *fe = vgpu_obj(s, a->k.func, VGPU_OBJ_FUNCTION);
	struct vgpu_idmap_entry *xe = NULL;
	CUDA_KERNEL_NODE_PARAMS p = { 0 };
	void **argv = NULL;
	size_t off, size;
	uint32_t n = 0;
	CUgraphNode node;
	CUgraph g;
	CUresult r;

	if (!packed || a->k.param_size > VGPU_MAX_PARAM_BYTES)
		return CUDA_ERROR_INVALID_VALUE;
	if (!fe)
		return CUDA_ERROR_INVALID_HANDLE;
	if (a->exec && !(xe = vgpu_obj(s, a->exec, VGPU_OBJ_GRAPH_EXEC)))
		return CUDA_ERROR_INVALID_VALUE;
	r = graph_of(s, a->graph, &g);
	if (r == CUDA_SUCCESS)
		r = node_at(s, g, a->index, &node);
	if (r != CUDA_SUCCESS)
		return r;
	while (param_at(s, fe->type, fe->obj, n, &off, &size)) {
		void **more;

		/* Every parameter must lie inside what the guest packed. */
		if (off > a->k.param_size || size > a->k.param_size - off) {
			free(argv);
			return CUDA_ERROR_INVALID_VALUE;
		}
		more = realloc(argv, (n + 1) * sizeof(*argv));
		if (!more) {
			free(argv);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		argv = more;
		/* The private copy of the record: the guest cannot change it meanwhile. */
		argv[n++] = (void *)(packed + off);
	}
	if (fe->type == VGPU_OBJ_KERNEL)
		p.kern = fe->obj;
	else
		p.func = fe->obj;
	p.gridDimX = a->k.grid[0], p.gridDimY = a->k.grid[1], p.gridDimZ = a->k.grid[2];
	p.blockDimX = a->k.block[0], p.blockDimY = a->k.block[1], p.blockDimZ = a->k.block[2];
	p.sharedMemBytes = a->k.shared_mem;
	p.kernelParams = n ? argv : NULL;
	p.ctx = s->current;
	r = xe ? s->drv.GraphExecKernelNodeSetParams(xe->obj, node, &p)
	       : s->drv.GraphKernelNodeSetParams(node, &p);
	free(argv);
	return r;
}
