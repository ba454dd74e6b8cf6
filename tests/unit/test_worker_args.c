// SPDX-License-Identifier: MIT
/* A worker's exec arguments (userspace-exec/worker_args.c): round trip, and strict parsing. */
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "worker_args.h"

static int parse(int argc, char **argv, struct vgpu_worker_args *out)
{
	char err[256];

	return vgpu_worker_args_parse(argc, argv, out, err, sizeof(err));
}

int main(void)
{
	struct vgpu_worker_args a = {
		.session_id = 123456789012ull, .bar1_size = 64ull << 20, .channels = 4,
		.channel = 3, .heap_size = 1 << 20, .mem_quota = 5ull << 30, .bar0 = true,
		.control = true, .stats = false, .parent = 4242, .set_ids = true,
		.uid = 1879048193u, .gid = 1879048192u, .userns = false, .seccomp = true,
		.ctx_mem = 32ull << 20, .cache_size = 2ull << 30, .image_memory = 1ull << 30,
		.cache_dir = "/var/cache/vgpu/modules",
	}, b;
	char *argv[VGPU_WORKER_ARGC + 1], buf[2048], *mut[VGPU_WORKER_ARGC + 1];
	char word[600];
	int n = vgpu_worker_args_format(&a, "exe", argv, buf, sizeof(buf));

	CHECK(n > 2 && !strcmp(argv[1], "--worker") && argv[n] == NULL);
	CHECK(parse(n - 2, argv + 2, &b) == 0);
	CHECK(!memcmp(&a, &b, sizeof(a)));
	CHECK(vgpu_worker_args_format(&a, "exe", argv, buf, 40) == -1);	/* too small a buffer */

	/* Each of these must be refused: change one word of a good vector. */
	static const char *const bad[][2] = {
		{ "channel", "channel=4" },		/* not below channels */
		{ "channels", "channels=65" },
		{ "uid", "uid=4294967295" },		/* (uid_t)-1 */
		{ "session", "session=18446744073709551616" },	/* 2^64 */
		{ "session", "session=-1" },
		{ "session", "session=12x" },
		{ "session", "session=" },
		{ "cache-dir", "cache-dir=relative/path" },
		{ "bar0", "bar0" },			/* no value */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(mut, argv, sizeof(mut));
		for (int k = 2; k < n; k++)
			if (!strncmp(mut[k], bad[i][0], strlen(bad[i][0])) &&
			    mut[k][strlen(bad[i][0])] == '=') {
				snprintf(word, sizeof(word), "%s", bad[i][1]);
				mut[k] = word;
			}
		if (parse(n - 2, mut + 2, &b) == 0) {
			fprintf(stderr, "accepted: %s\n", bad[i][1]);
			test_failures++;
		}
	}
	/* An unknown key, a repeated one, a missing one. */
	memcpy(mut, argv, sizeof(mut));
	mut[n] = "color=blue";
	CHECK(parse(n - 1, mut + 2, &b) != 0);
	mut[n] = argv[2];
	CHECK(parse(n - 1, mut + 2, &b) != 0);
	CHECK(parse(n - 3, argv + 2, &b) != 0);
	/* An empty cache directory is "none", and fine. */
	a.cache_dir[0] = '\0';
	n = vgpu_worker_args_format(&a, "exe", argv, buf, sizeof(buf));
	CHECK(parse(n - 2, argv + 2, &b) == 0 && b.cache_dir[0] == '\0');
	return TEST_RESULT();
}
