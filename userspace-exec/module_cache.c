// SPDX-License-Identifier: MIT
/* Module images by content, with quotas in memory and on disk (see module_cache.h). */
#include <cuda.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/sha256.h"
#include "module_cache.h"

/* A temporary file this old belongs to a writer that died. */
#define STALE_TMP_SECONDS	600
/* Files a trim looks at, at most: the directory is shared, its size is not ours to trust. */
#define TRIM_MAX_FILES		65536

static struct {
	bool set;
	char dir[512];
	uint64_t disk_limit, memory_limit;
} conf;

void vgpu_module_cache_configure(const char *dir, uint64_t disk_limit, uint64_t memory_limit)
{
	conf.set = true;
	snprintf(conf.dir, sizeof(conf.dir), "%s", dir ? dir : "");
	conf.disk_limit = disk_limit;
	conf.memory_limit = memory_limit;
}

void vgpu_module_cache_default_dir(char *out, size_t len)
{
	const char *env = getenv("VGPU_CACHE_DIR");
	const char *home = getenv("HOME");

	if (conf.set)
		snprintf(out, len, "%s", conf.dir);
	else if (env && *env)
		snprintf(out, len, "%s", env);
	else if (geteuid() == 0)
		snprintf(out, len, "/var/cache/vgpu/modules");
	else if (home && *home)
		snprintf(out, len, "%s/.cache/vgpu/modules", home);
	else
		out[0] = '\0';
}

void vgpu_module_cache_init(struct vgpu_module_cache *c, const char *dir, uint64_t staged_limit)
{
	memset(c, 0, sizeof(*c));
	c->staged_limit = conf.set && conf.memory_limit ? conf.memory_limit : staged_limit;
	c->disk_limit = conf.set ? conf.disk_limit : 0;
	if (dir)
		snprintf(c->dir, sizeof(c->dir), "%s", dir);
}

static void free_image(struct vgpu_module_cache *c, struct vgpu_image *img)
{
	c->staged_bytes -= img->size;
	if (c->charge)
		c->charge(c->charge_arg, img->size, true);
	free(img->data);
	free(img);
}

void vgpu_module_cache_destroy(struct vgpu_module_cache *c)
{
	while (c->images) {
		struct vgpu_image *i = c->images;

		c->images = i->next;
		free_image(c, i);
	}
}

static void hex(const uint8_t h[VGPU_HASH_SIZE], char out[2 * VGPU_HASH_SIZE + 1])
{
	for (int i = 0; i < VGPU_HASH_SIZE; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

/* The image with @hash, moved to the front (most recently used); NULL if none. */
static struct vgpu_image *find(struct vgpu_module_cache *c, const uint8_t hash[VGPU_HASH_SIZE])
{
	for (struct vgpu_image **p = &c->images; *p; p = &(*p)->next) {
		struct vgpu_image *i = *p;

		if (memcmp(i->hash, hash, VGPU_HASH_SIZE))
			continue;
		*p = i->next;
		i->next = c->images;
		c->images = i;
		return i;
	}
	return NULL;
}

static void unlink_image(struct vgpu_module_cache *c, struct vgpu_image *img)
{
	for (struct vgpu_image **p = &c->images; *p; p = &(*p)->next)
		if (*p == img) {
			*p = img->next;
			return;
		}
}

/*
 * Room for @bytes more: complete images go, least recently used first.
 * Images still arriving stay (their uploader is still at work).
 */
static bool make_room(struct vgpu_module_cache *c, uint64_t bytes)
{
	while (c->staged_bytes + bytes > c->staged_limit) {
		struct vgpu_image *victim = NULL;

		for (struct vgpu_image *i = c->images; i; i = i->next)
			if (i->complete)
				victim = i;	/* the last complete one is the least recent */
		if (!victim)
			return false;
		unlink_image(c, victim);
		free_image(c, victim);
	}
	return true;
}

/* A new image of @size bytes in memory, charged; NULL over a cap. */
static struct vgpu_image *new_image(struct vgpu_module_cache *c,
				    const uint8_t hash[VGPU_HASH_SIZE], uint64_t size)
{
	struct vgpu_image *img;

	if (size > c->staged_limit || !make_room(c, size))
		return NULL;
	if (c->charge && c->charge(c->charge_arg, size, false))
		return NULL;
	img = calloc(1, sizeof(*img));
	if (img)
		img->data = malloc(size);
	if (!img || !img->data) {
		free(img);
		if (c->charge)
			c->charge(c->charge_arg, size, true);
		return NULL;
	}
	memcpy(img->hash, hash, VGPU_HASH_SIZE);
	img->size = size;
	img->next = c->images;
	c->images = img;
	c->staged_bytes += size;
	return img;
}

static int mkdirs(const char *path, mode_t mode)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) && errno != EEXIST ? -1 : 0;
}

int vgpu_module_cache_prepare(const char *dir, bool group_shared, gid_t gid)
{
	struct stat st;

	if (mkdirs(dir, 0700) || stat(dir, &st) || !S_ISDIR(st.st_mode))
		return -1;
	if (!group_shared || st.st_uid != geteuid())
		return 0;
	if (chown(dir, st.st_uid, gid) || chmod(dir, 02770))
		return -1;
	return 0;
}

struct cache_file {
	char name[2 * VGPU_HASH_SIZE + 1];
	uint64_t size;
	struct timespec used;
};

static int by_use(const void *a, const void *b)
{
	const struct cache_file *x = a, *y = b;

	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return 0;
}

static bool hash_name(const char *n)
{
	if (strlen(n) != 2 * VGPU_HASH_SIZE)
		return false;
	for (; *n; n++)
		if (!((*n >= '0' && *n <= '9') || (*n >= 'a' && *n <= 'f')))
			return false;
	return true;
}

uint64_t vgpu_module_cache_trim(const char *dir, uint64_t limit, const char *keep)
{
	struct cache_file *files = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *d;
	int dfd, lock;
	DIR *dp;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	lock = openat(dfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660);
	if (lock >= 0)
		flock(lock, LOCK_EX);
	dp = fdopendir(dfd);
	if (!dp) {
		close(dfd);
		if (lock >= 0)
			close(lock);
		return 0;
	}
	while ((d = readdir(dp)) && n < TRIM_MAX_FILES) {
		struct stat st;

		if (fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (strstr(d->d_name, ".tmp")) {
			if (time(NULL) - st.st_mtime > STALE_TMP_SECONDS)
				unlinkat(dfd, d->d_name, 0);
			continue;
		}
		if (!hash_name(d->d_name))
			continue;
		if (n == cap) {
			struct cache_file *f = realloc(files, (cap ? cap * 2 : 64) * sizeof(*f));

			if (!f)
				break;
			files = f;
			cap = cap ? cap * 2 : 64;
		}
		snprintf(files[n].name, sizeof(files[n].name), "%s", d->d_name);
		files[n].size = (uint64_t)st.st_size;
		files[n].used = st.st_mtim;
		total += files[n].size;
		n++;
	}
	qsort(files, n, sizeof(*files), by_use);
	for (size_t i = 0; i < n && total > limit; i++) {
		if (keep && !strcmp(files[i].name, keep))
			continue;
		if (unlinkat(dfd, files[i].name, 0) == 0)
			total -= files[i].size;
	}
	free(files);
	closedir(dp);
	if (lock >= 0)
		close(lock);
	return total;
}

/* Write a verified image to the shared directory: a temporary file, renamed into place. */
static void store(struct vgpu_module_cache *c, const struct vgpu_image *img)
{
	char name[2 * VGPU_HASH_SIZE + 1], path[700], tmp[720];
	int fd;

	if (!c->dir[0] || (c->disk_limit && img->size > c->disk_limit))
		return;
	hex(img->hash, name);
	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	/* Workers of other uids read it: group-readable, in a directory of their group. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return;
	for (uint64_t off = 0; off < img->size;) {
		ssize_t n = write(fd, img->data + off, img->size - off);

		if (n <= 0) {
			close(fd);
			unlink(tmp);
			return;
		}
		off += (uint64_t)n;
	}
	if (close(fd) || rename(tmp, path)) {
		unlink(tmp);
		return;
	}
	if (c->disk_limit)
		vgpu_module_cache_trim(c->dir, c->disk_limit, name);
}

/* Read an image from the shared directory, believing it only if its content hashes right. */
static struct vgpu_image *load(struct vgpu_module_cache *c, const uint8_t hash[VGPU_HASH_SIZE])
{
	char name[2 * VGPU_HASH_SIZE + 1], path[700];
	uint8_t got[VGPU_HASH_SIZE];
	struct vgpu_image *img;
	struct stat st;
	int fd;

	if (!c->dir[0])
		return NULL;
	hex(hash, name);
	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > VGPU_IMAGE_MAX) {
		close(fd);
		return NULL;
	}
	img = new_image(c, hash, (uint64_t)st.st_size);
	if (!img) {
		close(fd);
		return NULL;
	}
	for (uint64_t off = 0; off < img->size;) {
		ssize_t n = read(fd, img->data + off, img->size - off);

		if (n <= 0)
			break;
		off += (uint64_t)n;
		img->received = off;
	}
	/* Used now: the last to go when the directory is trimmed. */
	futimens(fd, NULL);
	close(fd);
	vgpu_sha256(img->data, img->size, got);
	if (img->received != img->size || memcmp(got, hash, VGPU_HASH_SIZE)) {
		unlink_image(c, img);
		free_image(c, img);
		return NULL;
	}
	img->complete = true;
	return img;
}

const struct vgpu_image *vgpu_module_cache_get(struct vgpu_module_cache *c,
					       const uint8_t hash[VGPU_HASH_SIZE])
{
	struct vgpu_image *img = find(c, hash);

	if (img)
		return img->complete ? img : NULL;
	return load(c, hash);
}

void vgpu_module_cache_loaded(struct vgpu_module_cache *c, const uint8_t hash[VGPU_HASH_SIZE])
{
	struct vgpu_image *img = find(c, hash);

	if (img && img->complete) {
		unlink_image(c, img);
		free_image(c, img);
	}
}

int vgpu_module_cache_stage(struct vgpu_module_cache *c, const uint8_t hash[VGPU_HASH_SIZE],
			    uint64_t total, uint64_t offset, const void *data, uint64_t len)
{
	struct vgpu_image *img = find(c, hash);
	uint8_t got[VGPU_HASH_SIZE];

	if (total == 0 || total > VGPU_IMAGE_MAX || offset > total || len > total - offset)
		return CUDA_ERROR_INVALID_VALUE;
	if (img && img->complete)
		return 0;	/* already here: a second upload of the same bytes */
	if (img && img->size != total)
		return CUDA_ERROR_INVALID_VALUE;
	if (!img) {
		img = new_image(c, hash, total);
		if (!img)
			return CUDA_ERROR_OUT_OF_MEMORY;
	}
	/* Chunks may overlap or repeat: only the count of bytes decides completeness. */
	memcpy(img->data + offset, data, len);
	img->received += len;
	if (img->received < img->size)
		return 0;
	/* Every byte has arrived: the image is what its content hashes to, or nothing. */
	vgpu_sha256(img->data, img->size, got);
	if (memcmp(got, img->hash, VGPU_HASH_SIZE)) {
		img->received = 0;
		return CUDA_ERROR_INVALID_IMAGE;
	}
	img->complete = true;
	store(c, img);
	return 0;
}
