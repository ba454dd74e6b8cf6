// SPDX-License-Identifier: MIT
/* A worker's exec arguments (see worker_args.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_args.h"

enum arg_type { U64, U32, I32, BOOL, PATH };

struct arg_desc {
	const char *key;
	enum arg_type type;
	size_t off;
	uint64_t max;
};

#define A(key, type, field, max) { key, type, offsetof(struct vgpu_worker_args, field), max }

static const struct arg_desc descs[] = {
	A("session", U64, session_id, UINT64_MAX),
	A("bar1-size", U64, bar1_size, UINT64_MAX),
	A("channels", U32, channels, 64),
	A("channel", U32, channel, 63),
	A("heap", U64, heap_size, UINT64_MAX),
	A("mem-quota", U64, mem_quota, UINT64_MAX),
	A("bar0", BOOL, bar0, 1),
	A("control", BOOL, control, 1),
	A("stats", BOOL, stats, 1),
	A("parent", I32, parent, INT32_MAX),
	A("set-ids", BOOL, set_ids, 1),
	A("uid", U32, uid, UINT32_MAX - 1),
	A("gid", U32, gid, UINT32_MAX - 1),
	A("userns", BOOL, userns, 1),
	A("seccomp", BOOL, seccomp, 1),
	A("ctx-mem", U64, ctx_mem, UINT64_MAX),
	A("cache-size", U64, cache_size, UINT64_MAX),
	A("image-memory", U64, image_memory, UINT64_MAX),
	A("cache-dir", PATH, cache_dir, 0),
	A("log", U32, log_rank, 2),
};

#define NDESC (sizeof(descs) / sizeof(descs[0]))
_Static_assert(NDESC + 2 <= VGPU_WORKER_ARGC, "room for every key");

int vgpu_worker_args_format(const struct vgpu_worker_args *a, const char *exe, char **argv,
			    char *buf, size_t len)
{
	const char *base = (const char *)a;
	size_t used = 0;
	int n = 0;

	argv[n++] = (char *)exe;
	argv[n++] = "--worker";
	for (size_t i = 0; i < NDESC; i++) {
		const struct arg_desc *d = &descs[i];
		const void *f = base + d->off;
		int w;

		switch (d->type) {
		case U64:
			w = snprintf(buf + used, len - used, "%s=%llu", d->key,
				     (unsigned long long)*(const uint64_t *)f);
			break;
		case U32:
			w = snprintf(buf + used, len - used, "%s=%u", d->key, *(const uint32_t *)f);
			break;
		case I32:
			w = snprintf(buf + used, len - used, "%s=%d", d->key, *(const int32_t *)f);
			break;
		case BOOL:
			w = snprintf(buf + used, len - used, "%s=%d", d->key, *(const bool *)f ? 1 : 0);
			break;
		default:
			w = snprintf(buf + used, len - used, "%s=%s", d->key, (const char *)f);
			break;
		}
		if (w < 0 || (size_t)w >= len - used)
			return -1;
		argv[n++] = buf + used;
		used += (size_t)w + 1;
	}
	argv[n] = NULL;
	return n;
}

static int number(const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long x;

	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x > max)
		return -1;
	*out = x;
	return 0;
}

int vgpu_worker_args_parse(int argc, char *const *argv, struct vgpu_worker_args *a, char *err,
			   size_t err_len)
{
	bool seen[NDESC] = { false };
	char *base = (char *)a;

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		const struct arg_desc *d = NULL;
		size_t k, klen = eq ? (size_t)(eq - argv[i]) : 0;
		uint64_t v = 0;

		for (k = 0; eq && k < NDESC; k++)
			if (strlen(descs[k].key) == klen && !strncmp(descs[k].key, argv[i], klen)) {
				d = &descs[k];
				break;
			}
		if (!d || seen[k]) {
			snprintf(err, err_len, "%s worker argument '%.60s'", d ? "repeated" : "unknown",
				 argv[i]);
			return -1;
		}
		seen[k] = true;
		if (d->type == PATH) {
			if (strlen(eq + 1) >= sizeof(a->cache_dir) || (eq[1] && eq[1] != '/')) {
				snprintf(err, err_len, "bad path in '%s'", d->key);
				return -1;
			}
			snprintf(base + d->off, sizeof(a->cache_dir), "%s", eq + 1);
			continue;
		}
		if (number(eq + 1, d->max, &v)) {
			snprintf(err, err_len, "bad value in '%.60s'", argv[i]);
			return -1;
		}
		switch (d->type) {
		case U64:
			*(uint64_t *)(base + d->off) = v;
			break;
		case U32:
			*(uint32_t *)(base + d->off) = (uint32_t)v;
			break;
		case I32:
			*(int32_t *)(base + d->off) = (int32_t)v;
			break;
		default:
			*(bool *)(base + d->off) = v != 0;
			break;
		}
	}
	for (size_t k = 0; k < NDESC; k++)
		if (!seen[k]) {
			snprintf(err, err_len, "worker argument '%s' missing", descs[k].key);
			return -1;
		}
	if (a->channel >= a->channels) {
		snprintf(err, err_len, "channel %u of %u", a->channel, a->channels);
		return -1;
	}
	return 0;
}
