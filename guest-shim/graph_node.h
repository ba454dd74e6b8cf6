/* SPDX-License-Identifier: MIT */
/* Graph nodes (graph_node.c) and what graphs need of them. */
#ifndef VGPU_GRAPH_NODE_H
#define VGPU_GRAPH_NODE_H

#include "objects.h"

/* Free a graph object and the node objects made for it (the handle is dead after). */
void vgpu_graph_free(struct vgpu_graph *g);

/* The function or kernel object whose id is @id (func_ids.c), or NULL. */
struct vgpu_func *vgpu_func_by_id(uint64_t id);

/* Note a new function or kernel object, so that a graph node can name it by id. */
void vgpu_func_register(struct vgpu_func *f);

#endif /* VGPU_GRAPH_NODE_H */
