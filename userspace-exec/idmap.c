// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

static uint64_t hash64(uint64_t k)
{
	/* splitmix64's finaliser: any bit of the key moves every bit of the slot. */
	k ^= k >> 30;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 27;
	k *= 0x94d049bb133111ebull;
	return k ^ (k >> 31);
}

void vgpu_idmap_init(struct vgpu_idmap *m, size_t limit)
{
	memset(m, 0, sizeof(*m));
	m->limit = limit;
}

void vgpu_idmap_destroy(struct vgpu_idmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

struct vgpu_idmap_entry *vgpu_idmap_find(const struct vgpu_idmap *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hash64(key) & (m->cap - 1), n = 0; n < m->cap; i = (i + 1) & (m->cap - 1), n++) {
		struct vgpu_idmap_entry *e = &m->slots[i];

		if (e->type == 0)
			return NULL;
		if (e->type != VGPU_IDMAP_TOMBSTONE && e->key == key)
			return e;
	}
	return NULL;
}

static bool rehash(struct vgpu_idmap *m, size_t cap)
{
	struct vgpu_idmap_entry *old = m->slots;
	size_t old_cap = m->cap;

	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return false;
	}
	m->cap = cap;
	m->filled = m->used;
	for (size_t i = 0; i < old_cap; i++) {
		struct vgpu_idmap_entry *e = &old[i];
		size_t j;

		if (e->type == 0 || e->type == VGPU_IDMAP_TOMBSTONE)
			continue;
		for (j = hash64(e->key) & (cap - 1); m->slots[j].type; j = (j + 1) & (cap - 1))
			;
		m->slots[j] = *e;
	}
	free(old);
	return true;
}

struct vgpu_idmap_entry *vgpu_idmap_insert(struct vgpu_idmap *m, uint64_t key, uint32_t type)
{
	struct vgpu_idmap_entry *slot = NULL;

	if (type == 0 || type == VGPU_IDMAP_TOMBSTONE || m->used >= m->limit ||
	    vgpu_idmap_find(m, key))
		return NULL;
	/* Keep the load (tombstones included) under 1/2. */
	if ((m->filled + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap : 16;

		while ((m->used + 1) * 4 > cap)
			cap *= 2;
		if (!rehash(m, cap))
			return NULL;
	}
	for (size_t i = hash64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].type == 0 || m->slots[i].type == VGPU_IDMAP_TOMBSTONE) {
			slot = &m->slots[i];
			break;
		}
	}
	if (slot->type == 0)
		m->filled++;
	memset(slot, 0, sizeof(*slot));
	slot->key = key;
	slot->type = type;
	m->used++;
	return slot;
}

void vgpu_idmap_remove(struct vgpu_idmap *m, struct vgpu_idmap_entry *e)
{
	e->type = VGPU_IDMAP_TOMBSTONE;
	e->obj = NULL;
	m->used--;
}

void vgpu_idmap_each(struct vgpu_idmap *m, void (*fn)(struct vgpu_idmap_entry *, void *), void *arg)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].type && m->slots[i].type != VGPU_IDMAP_TOMBSTONE)
			fn(&m->slots[i], arg);
}
