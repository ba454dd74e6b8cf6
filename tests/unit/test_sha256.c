// SPDX-License-Identifier: MIT
/*
 * SHA-256 against the FIPS 180-4 example vectors, and against coreutils'
 * sha256sum (an independent implementation) on random data of awkward sizes,
 * fed in random-sized pieces.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/sha256.h"
#include "test.h"

static void hex(const uint8_t d[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_vector(const char *msg, size_t repeat, const char *want)
{
	struct vgpu_sha256 s;
	uint8_t d[32];
	char h[65];

	vgpu_sha256_init(&s);
	for (size_t i = 0; i < repeat; i++)
		vgpu_sha256_update(&s, msg, strlen(msg));
	vgpu_sha256_final(&s, d);
	hex(d, h);
	if (strcmp(h, want))
		fprintf(stderr, "sha256(\"%.20s\" x%zu) = %s, want %s\n", msg, repeat, h, want);
	CHECK(!strcmp(h, want));
}

static void check_against_sha256sum(size_t len)
{
	char path[] = "/tmp/vgpu-sha-XXXXXX", cmd[128], want[65] = "", got[65];
	uint8_t *buf = malloc(len + 1), d[32];
	struct vgpu_sha256 s;
	FILE *f;
	int fd = mkstemp(path);

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rand();
	f = fdopen(fd, "w");
	fwrite(buf, 1, len, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
	f = popen(cmd, "r");
	if (!f || fscanf(f, "%64s", want) != 1) {
		fprintf(stderr, "sha256sum did not run\n");
		test_failures++;
	}
	if (f)
		pclose(f);
	unlink(path);

	vgpu_sha256_init(&s);
	for (size_t off = 0; off < len;) {
		size_t n = (size_t)rand() % 300;

		if (n > len - off)
			n = len - off;
		vgpu_sha256_update(&s, buf + off, n);
		off += n;
	}
	vgpu_sha256_final(&s, d);
	hex(d, got);
	if (strcmp(got, want))
		fprintf(stderr, "len %zu: %s, sha256sum says %s\n", len, got, want);
	CHECK(!strcmp(got, want));
	free(buf);
}

int main(void)
{
	check_vector("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_vector("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_vector("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
		     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check_vector("a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	srand(7);
	for (size_t len = 0; len < 200; len += 13)
		check_against_sha256sum(len);
	check_against_sha256sum(1 << 20);
	check_against_sha256sum(55);
	check_against_sha256sum(56);
	check_against_sha256sum(64);
	printf("sha256: FIPS vectors and sha256sum agreement checked\n");
	return TEST_RESULT();
}
