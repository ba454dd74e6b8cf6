/* SPDX-License-Identifier: MIT */
/*
 * Module images by content (decision 8).  A session holds the images it is
 * receiving and those it received but has not loaded yet; complete images
 * are hashed again here and written to a directory shared by every session
 * on the host, so an image crosses a transport at most once per host.
 * Nothing the guest says about an image is believed: an upload is cached
 * only under the hash of what arrived, and a file read back from the shared
 * directory is hashed again.
 *
 * Both have quotas.  In memory, everything a session holds counts against
 * its cap (vgpu_module_cache_configure's memory_limit, else the init's
 * staged_limit) and, through the charge hook, against its instance's
 * (quota.h); complete images are evicted least recently used first when a
 * new one needs the room, and an image is freed once it is loaded (the
 * driver has its own copy; the shared directory keeps one for later).  On
 * disk the directory is trimmed, least recently used first, to its cap.
 */
#ifndef VGPU_MODULE_CACHE_H
#define VGPU_MODULE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vgpu/calls.h"

struct vgpu_image {
	uint8_t hash[VGPU_HASH_SIZE];
	uint8_t *data;
	uint64_t size;
	uint64_t received;	/* staging: bytes written so far */
	bool complete;		/* hashed and matching */
	struct vgpu_image *next;	/* most recently used first */
};

struct vgpu_module_cache {
	struct vgpu_image *images;
	uint64_t staged_bytes;	/* everything held in memory, complete images included */
	uint64_t staged_limit;
	char dir[512];		/* shared cache directory, "" for none */
	uint64_t disk_limit;	/* its cap, 0 for none */
	/* Host memory the session holds for images (quota.c); NULL: none. 0 or -1 (refused). */
	int (*charge)(void *arg, uint64_t bytes, bool give_back);
	void *charge_arg;
};

/*
 * This process's caps and shared directory ("" for none), for every cache it
 * makes from now on: the worker's main sets them from its arguments.
 */
void vgpu_module_cache_configure(const char *dir, uint64_t disk_limit, uint64_t memory_limit);

void vgpu_module_cache_init(struct vgpu_module_cache *c, const char *dir, uint64_t staged_limit);
void vgpu_module_cache_destroy(struct vgpu_module_cache *c);

/* A complete image with @hash (from this session or the shared directory), or NULL. */
const struct vgpu_image *vgpu_module_cache_get(struct vgpu_module_cache *c,
					       const uint8_t hash[VGPU_HASH_SIZE]);

/* The image @hash was loaded: its bytes leave the session's memory. */
void vgpu_module_cache_loaded(struct vgpu_module_cache *c, const uint8_t hash[VGPU_HASH_SIZE]);

/*
 * Stage @len bytes at @offset of the image @hash of @total bytes.  Returns 0,
 * or a CUresult: INVALID_VALUE for sizes that do not add up, OUT_OF_MEMORY
 * over the session's or the instance's cap.
 */
int vgpu_module_cache_stage(struct vgpu_module_cache *c, const uint8_t hash[VGPU_HASH_SIZE],
			    uint64_t total, uint64_t offset, const void *data, uint64_t len);

/*
 * The default shared directory: the configured one, else $VGPU_CACHE_DIR,
 * else /var/cache/vgpu/modules (root) or ~/.cache/vgpu/modules.
 */
void vgpu_module_cache_default_dir(char *out, size_t len);

/*
 * Make @dir (and its parents).  With @group_shared, the directory belongs to
 * @gid and is writable by it (setgid, mode 2770): workers of other uids share
 * it.  0 or -1.
 */
int vgpu_module_cache_prepare(const char *dir, bool group_shared, gid_t gid);

/*
 * Trim @dir to @limit bytes, least recently used first (a file's time is its
 * last use), never removing @keep (a file name, or NULL); temporary files of
 * writers that died go too.  Under the directory's lock.  Returns the bytes
 * left.
 */
uint64_t vgpu_module_cache_trim(const char *dir, uint64_t limit, const char *keep);

#endif /* VGPU_MODULE_CACHE_H */
