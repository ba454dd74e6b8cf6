// SPDX-License-Identifier: MIT
#include <cuda.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/sha256.h"
#include "module_cache.h"

void vgpu_module_cache_default_dir(char *out, size_t len)
{
	const char *env = getenv("VGPU_CACHE_DIR");
	const char *home = getenv("HOME");

	if (env && *env)
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
	c->staged_limit = staged_limit;
	if (dir)
		snprintf(c->dir, sizeof(c->dir), "%s", dir);
}

void vgpu_module_cache_destroy(struct vgpu_module_cache *c)
{
	while (c->images) {
		struct vgpu_image *i = c->images;

		c->images = i->next;
		free(i->data);
		free(i);
	}
	c->staged_bytes = 0;
}

static void hex(const uint8_t h[VGPU_HASH_SIZE], char out[2 * VGPU_HASH_SIZE + 1])
{
	for (int i = 0; i < VGPU_HASH_SIZE; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

static struct vgpu_image *find(struct vgpu_module_cache *c, const uint8_t hash[VGPU_HASH_SIZE])
{
	for (struct vgpu_image *i = c->images; i; i = i->next)
		if (!memcmp(i->hash, hash, VGPU_HASH_SIZE))
			return i;
	return NULL;
}

static int mkdirs(const char *path)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0700) && errno != EEXIST ? -1 : 0;
}

/* Write a verified image to the shared directory: a temporary file, renamed into place. */
static void store(struct vgpu_module_cache *c, const struct vgpu_image *img)
{
	char name[2 * VGPU_HASH_SIZE + 1], path[700], tmp[720];
	int fd;

	if (!c->dir[0] || mkdirs(c->dir))
		return;
	hex(img->hash, name);
	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
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
	if (close(fd) || rename(tmp, path))
		unlink(tmp);
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
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || st.st_size <= 0 || (uint64_t)st.st_size > VGPU_IMAGE_MAX) {
		close(fd);
		return NULL;
	}
	img = calloc(1, sizeof(*img));
	if (img)
		img->data = malloc((size_t)st.st_size);
	if (!img || !img->data) {
		free(img);
		close(fd);
		return NULL;
	}
	img->size = (uint64_t)st.st_size;
	for (uint64_t off = 0; off < img->size;) {
		ssize_t n = read(fd, img->data + off, img->size - off);

		if (n <= 0)
			break;
		off += (uint64_t)n;
		img->received = off;
	}
	close(fd);
	vgpu_sha256(img->data, img->size, got);
	if (img->received != img->size || memcmp(got, hash, VGPU_HASH_SIZE)) {
		free(img->data);
		free(img);
		return NULL;
	}
	memcpy(img->hash, hash, VGPU_HASH_SIZE);
	img->complete = true;
	img->next = c->images;
	c->images = img;
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
		if (c->staged_bytes + total > c->staged_limit)
			return CUDA_ERROR_OUT_OF_MEMORY;
		img = calloc(1, sizeof(*img));
		if (img)
			img->data = malloc(total);
		if (!img || !img->data) {
			free(img);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		memcpy(img->hash, hash, VGPU_HASH_SIZE);
		img->size = total;
		img->next = c->images;
		c->images = img;
		c->staged_bytes += total;
	}
	memcpy(img->data + offset, data, len);
	img->received += len;
	if (img->received < img->size)
		return 0;
	/* Every byte has arrived: the image is what its content hashes to, or nothing. */
	vgpu_sha256(img->data, img->size, got);
	c->staged_bytes -= img->size;
	if (memcmp(got, img->hash, VGPU_HASH_SIZE)) {
		img->received = 0;
		c->staged_bytes += img->size;
		return CUDA_ERROR_INVALID_IMAGE;
	}
	img->complete = true;
	store(c, img);
	return 0;
}
