// SPDX-License-Identifier: MIT
/*
 * vgpu_unsupported (guest-shim/unsupported.c), what every exported function
 * the shim does not implement returns: always CUDA_ERROR_NOT_SUPPORTED, and
 * with VGPU_LOG set one log line per name however many threads call it how
 * often; names are compared by content; more distinct names than its table
 * holds still work.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda.h>

CUresult vgpu_unsupported(const char *name);

#define THREADS 8
#define CALLS 2000
#define MANY 3000

/* The same names at different addresses: the shim compares contents. */
static const char name_a1[] = "cuTestA", name_a2[] = "cuTestA";
static const char name_b[] = "cuTestB";
static char many[MANY][16];
static int bad_results;

static void *caller(void *arg)
{
	for (int i = 0; i < CALLS; i++) {
		const char *name = (i + (int)(long)arg) % 3 == 0 ? name_b :
				   i % 2 ? name_a1 : name_a2;

		if (vgpu_unsupported(name) != CUDA_ERROR_NOT_SUPPORTED)
			__atomic_add_fetch(&bad_results, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int count_lines(const char *path, const char *needle)
{
	char line[512];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

int main(void)
{
	char path[] = "/tmp/vgpu-test-unsupported-XXXXXX";
	pthread_t t[THREADS];
	int fd = mkstemp(path), a, b, many_logged = 0, fails = 0;

	if (fd < 0)
		return 1;
	close(fd);
	setenv("VGPU_LOG", path, 1);

	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, caller, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	a = count_lines(path, "cuTestA ");
	b = count_lines(path, "cuTestB ");
	printf("check: %d threads x %d calls return NOT_SUPPORTED: %d wrong\n",
	       THREADS, CALLS, bad_results);
	printf("check: one log line per name (cuTestA at two addresses): "
	       "cuTestA %d, cuTestB %d\n", a, b);
	fails += bad_results != 0 || a != 1 || b != 1;

	/* Far more names than the driver has: still correct, still logged. */
	for (int i = 0; i < MANY; i++) {
		snprintf(many[i], sizeof(many[i]), "cuMany%d", i);
		fails += vgpu_unsupported(many[i]) != CUDA_ERROR_NOT_SUPPORTED;
	}
	for (int i = 0; i < MANY; i++) {
		char needle[24];

		snprintf(needle, sizeof(needle), "cuMany%d ", i);
		many_logged += count_lines(path, needle) >= 1;
		if (i > 50)
			i += 97;	/* sample the rest: the file is long */
	}
	printf("check: %d distinct names beyond the table's size return "
	       "NOT_SUPPORTED and are logged: %d sampled names logged\n",
	       MANY, many_logged);
	fails += many_logged < 52;
	unlink(path);
	printf("%s\n", fails ? "FAIL" : "PASS");
	return fails ? 1 : 0;
}
