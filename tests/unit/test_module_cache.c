// SPDX-License-Identifier: MIT
/*
 * The module cache's quotas (userspace-exec/module_cache.c): a session's
 * memory cap with least-recently-used eviction of complete images, the
 * instance's cap through the charge hook, images freed once loaded, and the
 * shared directory trimmed to its cap, least recently used first.
 */
#include <cuda.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/sha256.h"
#include "module_cache.h"
#include "test.h"

#define MIB (1ull << 20)

static uint8_t imgs[5][1 << 20];
static uint8_t hashes[5][VGPU_HASH_SIZE];

static uint64_t hook_held, hook_cap = ~0ull;

static int hook(void *arg, uint64_t bytes, bool give_back)
{
	(void)arg;
	if (give_back) {
		hook_held -= bytes;
		return 0;
	}
	if (hook_held + bytes > hook_cap)
		return -1;
	hook_held += bytes;
	return 0;
}

static int upload(struct vgpu_module_cache *c, int i)
{
	/* Two chunks, as a guest sends them. */
	int r = vgpu_module_cache_stage(c, hashes[i], MIB, 0, imgs[i], MIB / 2);

	return r ? r : vgpu_module_cache_stage(c, hashes[i], MIB, MIB / 2, imgs[i] + MIB / 2, MIB / 2);
}

static bool on_disk(const char *dir, int i)
{
	char path[700], name[2 * VGPU_HASH_SIZE + 1];
	struct stat st;

	for (int k = 0; k < VGPU_HASH_SIZE; k++)
		sprintf(name + 2 * k, "%02x", hashes[i][k]);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static uint64_t dir_bytes(const char *dir)
{
	return vgpu_module_cache_trim(dir, ~0ull, NULL);
}

int main(void)
{
	char dir[] = "/tmp/vgpu-module-cache-XXXXXX", path[700];
	struct vgpu_module_cache c;

	if (!mkdtemp(dir))
		return 1;
	for (int i = 0; i < 5; i++) {
		for (size_t j = 0; j < sizeof(imgs[i]); j++)
			imgs[i][j] = (uint8_t)(j * 31 + i * 7 + (j >> 11));
		vgpu_sha256(imgs[i], MIB, hashes[i]);
	}

	/* In memory: a cap of 2 images, no shared directory. */
	vgpu_module_cache_configure("", 0, 2 * MIB);
	vgpu_module_cache_init(&c, NULL, 1ull << 40);
	c.charge = hook;
	CHECK(c.staged_limit == 2 * MIB);
	CHECK(upload(&c, 0) == 0 && upload(&c, 1) == 0);
	CHECK(c.staged_bytes == 2 * MIB && hook_held == 2 * MIB);
	CHECK(vgpu_module_cache_get(&c, hashes[0]) != NULL);	/* 0 is now the most recent */
	CHECK(upload(&c, 2) == 0);				/* so 1 goes */
	CHECK(c.staged_bytes == 2 * MIB && hook_held == 2 * MIB);
	CHECK(vgpu_module_cache_get(&c, hashes[0]) && vgpu_module_cache_get(&c, hashes[2]));
	CHECK(vgpu_module_cache_get(&c, hashes[1]) == NULL);
	/* Loaded: freed. */
	vgpu_module_cache_loaded(&c, hashes[0]);
	CHECK(c.staged_bytes == MIB && hook_held == MIB && !vgpu_module_cache_get(&c, hashes[0]));
	/* Images still arriving are not evicted: two halves fill the cap, a third is refused. */
	CHECK(vgpu_module_cache_stage(&c, hashes[3], MIB, 0, imgs[3], 4096) == 0);
	CHECK(c.staged_bytes == 2 * MIB);
	CHECK(vgpu_module_cache_stage(&c, hashes[4], MIB, 0, imgs[4], 4096) == 0);	/* 2 goes */
	CHECK(vgpu_module_cache_stage(&c, hashes[1], MIB, 0, imgs[1], 4096) ==
	      CUDA_ERROR_OUT_OF_MEMORY);
	CHECK(vgpu_module_cache_stage(&c, hashes[0], 3 * MIB, 0, imgs[0], 4096) ==
	      CUDA_ERROR_OUT_OF_MEMORY);	/* larger than the cap at all */
	vgpu_module_cache_destroy(&c);
	CHECK(hook_held == 0);

	/* The instance's cap, through the hook, refuses what the session's would take. */
	hook_cap = MIB + MIB / 2;
	vgpu_module_cache_init(&c, NULL, 0);
	c.charge = hook;
	CHECK(upload(&c, 0) == 0);
	CHECK(upload(&c, 1) == CUDA_ERROR_OUT_OF_MEMORY);
	vgpu_module_cache_destroy(&c);
	hook_cap = ~0ull;

	/* On disk: a cap of 3 images, trimmed least recently used first. */
	vgpu_module_cache_configure(dir, 3 * MIB, 8 * MIB);
	vgpu_module_cache_init(&c, dir, 0);
	CHECK(upload(&c, 0) == 0 && upload(&c, 1) == 0 && upload(&c, 2) == 0);
	CHECK(dir_bytes(dir) == 3 * MIB);
	/* Make 1 the oldest on disk, then use 0 and 2 ... */
	for (int i = 0; i < 3; i++) {
		char name[2 * VGPU_HASH_SIZE + 1];
		struct timespec t[2] = { { 1000 + i, 0 }, { 1000 + i, 0 } };

		for (int k = 0; k < VGPU_HASH_SIZE; k++)
			sprintf(name + 2 * k, "%02x", hashes[i][k]);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		CHECK(utimensat(AT_FDCWD, path, t, 0) == 0);
	}
	vgpu_module_cache_destroy(&c);
	vgpu_module_cache_init(&c, dir, 0);
	/* ... reading 0 back from the shared directory makes it the most recent. */
	CHECK(vgpu_module_cache_get(&c, hashes[0]) != NULL);
	CHECK(upload(&c, 3) == 0);
	CHECK(dir_bytes(dir) <= 3 * MIB);
	CHECK(on_disk(dir, 0) && on_disk(dir, 3) && !on_disk(dir, 1));
	/* An image larger than the cap is not stored at all. */
	vgpu_module_cache_destroy(&c);
	vgpu_module_cache_configure(dir, MIB / 2, 8 * MIB);
	vgpu_module_cache_init(&c, dir, 0);
	CHECK(upload(&c, 4) == 0 && !on_disk(dir, 4));
	vgpu_module_cache_destroy(&c);

	/* A file whose content does not hash to its name is not believed. */
	{
		char name[2 * VGPU_HASH_SIZE + 1];
		FILE *f;

		for (int k = 0; k < VGPU_HASH_SIZE; k++)
			sprintf(name + 2 * k, "%02x", hashes[1][k]);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		f = fopen(path, "wb");
		CHECK(f && fwrite(imgs[2], 1, MIB, f) == MIB);
		if (f)
			fclose(f);
		vgpu_module_cache_init(&c, dir, 0);
		CHECK(vgpu_module_cache_get(&c, hashes[1]) == NULL);
		vgpu_module_cache_destroy(&c);
	}
	/* Temporary files: a dead writer's go, a fresh one stays. */
	{
		struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
		char stale[760], fresh[760];
		int fd;

		snprintf(stale, sizeof(stale), "%s/x.1.tmp", dir);
		snprintf(fresh, sizeof(fresh), "%s/y.2.tmp", dir);
		fd = open(stale, O_CREAT | O_WRONLY, 0600);
		close(fd);
		fd = open(fresh, O_CREAT | O_WRONLY, 0600);
		close(fd);
		utimensat(AT_FDCWD, stale, old, 0);
		vgpu_module_cache_trim(dir, ~0ull, NULL);
		CHECK(access(stale, F_OK) != 0 && access(fresh, F_OK) == 0);
	}
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path))
		return 1;
	return TEST_RESULT();
}
