/* SPDX-License-Identifier: MIT */
/*
 * A map from 64-bit keys to typed objects: the session's handle table (guest
 * ids to driver objects, decision 5) and its allocation table (device
 * pointers to sizes, for the memory quota).  Open addressing with linear
 * probing and tombstones; keys are guest-chosen, so they are hashed.
 */
#ifndef VGPU_IDMAP_H
#define VGPU_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vgpu_idmap_entry {
	uint64_t key;
	uint32_t type;		/* 0: empty; VGPU_IDMAP_TOMBSTONE: deleted */
	uint32_t aux32;
	void *obj;
	uint64_t aux;
};

#define VGPU_IDMAP_TOMBSTONE	0xffffffffu

struct vgpu_idmap {
	struct vgpu_idmap_entry *slots;
	size_t cap;		/* power of two */
	size_t used;		/* live entries */
	size_t filled;		/* live entries and tombstones */
	size_t limit;		/* most live entries allowed */
};

void vgpu_idmap_init(struct vgpu_idmap *m, size_t limit);
void vgpu_idmap_destroy(struct vgpu_idmap *m);

/* The live entry for @key, or NULL. */
struct vgpu_idmap_entry *vgpu_idmap_find(const struct vgpu_idmap *m, uint64_t key);

/*
 * Insert @key with @type (nonzero, not the tombstone); NULL when @key is
 * present, the map is at its limit, or memory runs out.
 */
struct vgpu_idmap_entry *vgpu_idmap_insert(struct vgpu_idmap *m, uint64_t key, uint32_t type);

void vgpu_idmap_remove(struct vgpu_idmap *m, struct vgpu_idmap_entry *e);

/* Call @fn for every live entry (it may remove the entry it is given, not insert). */
void vgpu_idmap_each(struct vgpu_idmap *m, void (*fn)(struct vgpu_idmap_entry *, void *),
		     void *arg);

#endif /* VGPU_IDMAP_H */
