// SPDX-License-Identifier: MIT
/*
 * Function and kernel objects by id.  A kernel node's parameters name their
 * function by the id the guest gave it; this finds the object again.
 * Function objects live for the whole process (module.c keeps them after
 * an unload, since a program may hold their handles), so entries are never
 * removed.  Open addressing, grown at half full, under one lock.
 */
#include <pthread.h>
#include <stdlib.h>

#include "graph_node.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct vgpu_func **slots;
static size_t cap, used;

static size_t slot_of(uint64_t id, size_t n)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & (n - 1);
}

static void put(struct vgpu_func **t, size_t n, struct vgpu_func *f)
{
	size_t i = slot_of(f->o.id, n);

	while (t[i])
		i = (i + 1) & (n - 1);
	t[i] = f;
}

void vgpu_func_register(struct vgpu_func *f)
{
	pthread_mutex_lock(&lock);
	if (2 * (used + 1) > cap) {
		size_t n = cap ? cap * 2 : 256;
		struct vgpu_func **t = calloc(n, sizeof(*t));

		if (!t) {	/* the node APIs then do not find this one: an error, not a crash */
			pthread_mutex_unlock(&lock);
			return;
		}
		for (size_t i = 0; i < cap; i++)
			if (slots[i])
				put(t, n, slots[i]);
		free(slots);
		slots = t;
		cap = n;
	}
	put(slots, cap, f);
	used++;
	pthread_mutex_unlock(&lock);
}

struct vgpu_func *vgpu_func_by_id(uint64_t id)
{
	struct vgpu_func *f = NULL;

	pthread_mutex_lock(&lock);
	for (size_t i = cap ? slot_of(id, cap) : 0; cap && slots[i]; i = (i + 1) & (cap - 1))
		if (slots[i]->o.id == id) {
			f = slots[i];
			break;
		}
	pthread_mutex_unlock(&lock);
	return f;
}
