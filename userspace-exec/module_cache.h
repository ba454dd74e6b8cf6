/* SPDX-License-Identifier: MIT */
/*
 * Module images by content (decision 8).  A session holds the images it has
 * seen and stages uploads; complete images are hashed again here and written
 * to a directory shared by every session on the host, so an image crosses a
 * transport at most once per host.  Nothing the guest says about an image is
 * believed: an upload is cached only under the hash of what arrived.
 */
#ifndef VGPU_MODULE_CACHE_H
#define VGPU_MODULE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vgpu/calls.h"

struct vgpu_image {
	uint8_t hash[VGPU_HASH_SIZE];
	uint8_t *data;
	uint64_t size;
	uint64_t received;	/* staging: bytes written so far */
	bool complete;		/* hashed and matching */
	struct vgpu_image *next;
};

struct vgpu_module_cache {
	struct vgpu_image *images;
	uint64_t staged_bytes;
	uint64_t staged_limit;
	char dir[512];		/* shared cache directory, "" for none */
};

void vgpu_module_cache_init(struct vgpu_module_cache *c, const char *dir, uint64_t staged_limit);
void vgpu_module_cache_destroy(struct vgpu_module_cache *c);

/* A complete image with @hash (from this session or the shared directory), or NULL. */
const struct vgpu_image *vgpu_module_cache_get(struct vgpu_module_cache *c,
					       const uint8_t hash[VGPU_HASH_SIZE]);

/*
 * Stage @len bytes at @offset of the image @hash of @total bytes.  Returns 0,
 * or a CUresult: INVALID_VALUE for sizes that do not add up, OUT_OF_MEMORY
 * over the staging limit.
 */
int vgpu_module_cache_stage(struct vgpu_module_cache *c, const uint8_t hash[VGPU_HASH_SIZE],
			    uint64_t total, uint64_t offset, const void *data, uint64_t len);

/* The default shared directory: $VGPU_CACHE_DIR, else /var/cache/vgpu or ~/.cache/vgpu. */
void vgpu_module_cache_default_dir(char *out, size_t len);

#endif /* VGPU_MODULE_CACHE_H */
