// SPDX-License-Identifier: MIT
/*
 * The executor's check of an image it received (common/image.c,
 * vgpu_image_check): every length the format gives must lie within the bytes
 * that arrived, and no pointer inside an image is followed.  Hand-made images
 * for each refusal, and what nvcc writes (when it is here) for what must pass.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "test.h"

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* A 64-byte ELF64 header with no tables: a cubin of 64 bytes. */
static void minimal_elf(uint8_t *p)
{
	memset(p, 0, 64);
	memcpy(p, ELFMAG, SELFMAG);
	p[EI_CLASS] = ELFCLASS64;
	p[EI_DATA] = ELFDATA2LSB;
	p[EI_VERSION] = EV_CURRENT;
	put16(p + 18, 190);	/* EM_CUDA */
	put16(p + 0x34, 64);	/* e_ehsize */
}

/* A fatbin with one entry of kind @kind whose payload is @payload (@n bytes). */
static size_t make_fatbin(uint8_t *p, uint16_t kind, const uint8_t *payload, size_t n)
{
	memset(p, 0, 16 + 64 + n);
	put32(p, VGPU_FATBIN_MAGIC);
	put16(p + 4, 1);
	put16(p + 6, 16);
	put64(p + 8, 64 + n);
	put16(p + 16, kind);
	put32(p + 16 + 4, 64);
	put64(p + 16 + 8, n);
	memcpy(p + 16 + 64, payload, n);
	return 16 + 64 + n;
}

static void hand_made(void)
{
	static const char ptx[] = ".version 8.0\n.target sm_90\n.address_size 64\n";
	uint8_t elf[64], fat[256], bad_elf[64];
	struct vgpu_image_span sp;
	size_t n;

	/* PTX: its NUL must be inside what arrived. */
	CHECK(vgpu_image_check(ptx, sizeof(ptx), &sp) == 0 && sp.kind == VGPU_IMAGE_PTX);
	CHECK(vgpu_image_check(ptx, sizeof(ptx) - 1, &sp) != 0);

	/* A cubin: its tables and sections must be inside. */
	minimal_elf(elf);
	CHECK(vgpu_image_check(elf, sizeof(elf), &sp) == 0 && sp.kind == VGPU_IMAGE_CUBIN);
	memcpy(bad_elf, elf, sizeof(bad_elf));
	put64(bad_elf + 0x28, 1u << 20);	/* e_shoff */
	put16(bad_elf + 0x3a, 64);		/* e_shentsize */
	put16(bad_elf + 0x3c, 2);		/* e_shnum */
	CHECK(vgpu_image_check(bad_elf, sizeof(bad_elf), &sp) != 0);

	/* A fatbin: its header's size, each entry, and a cubin entry's own tables. */
	n = make_fatbin(fat, 2, elf, sizeof(elf));
	CHECK(vgpu_image_check(fat, n, &sp) == 0 && sp.kind == VGPU_IMAGE_FATBIN && sp.size == n);
	CHECK(vgpu_image_check(fat, n - 1, &sp) != 0);
	n = make_fatbin(fat, 2, elf, sizeof(elf));
	put64(fat + 16 + 8, 1u << 20);	/* an entry longer than the fatbin */
	CHECK(vgpu_image_check(fat, n, &sp) != 0);
	n = make_fatbin(fat, 2, elf, sizeof(elf));
	put32(fat + 16 + 4, 8);		/* an entry header shorter than an entry header */
	CHECK(vgpu_image_check(fat, n, &sp) != 0);
	n = make_fatbin(fat, 2, bad_elf, sizeof(bad_elf));
	CHECK(vgpu_image_check(fat, n, &sp) != 0);	/* the cubin inside claims 1 MiB */
	n = make_fatbin(fat, 1, (const uint8_t *)ptx, sizeof(ptx));
	CHECK(vgpu_image_check(fat, n, &sp) == 0);	/* a PTX entry is text: nothing to follow */

	/*
	 * A wrapper holds a pointer; the host never follows one, even to a good
	 * (empty, so short enough) fatbin.
	 */
	uint8_t empty[16] = { 0 };
	struct {
		uint32_t magic, version;
		const void *data, *prelinked;
	} wrapper = { VGPU_FATBIN_WRAPPER_MAGIC, 1, empty, NULL };
	put32(empty, VGPU_FATBIN_MAGIC);
	put16(empty + 4, 1);
	put16(empty + 6, 16);
	CHECK(vgpu_image_check(empty, sizeof(empty), &sp) == 0);	/* an empty fatbin is one */
	CHECK(vgpu_image_span(&wrapper, sizeof(wrapper), &sp) == 0);	/* the shim follows it */
	CHECK(vgpu_image_check(&wrapper, sizeof(wrapper), &sp) != 0);	/* the host does not */

	/* Archives, nothing and too little. */
	CHECK(vgpu_image_check("!<arch>\nabcdefgh", 16, &sp) != 0);
	CHECK(vgpu_image_check("", 1, &sp) != 0);
	CHECK(vgpu_image_check(NULL, 100, &sp) != 0);
	CHECK(vgpu_image_check("ab", 2, &sp) != 0);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *p;

	if (!f || fstat(fileno(f), &st)) {
		if (f)
			fclose(f);
		return NULL;
	}
	p = malloc((size_t)st.st_size + 1);
	*len = p ? fread(p, 1, (size_t)st.st_size, f) : 0;
	if (p)
		p[*len] = 0;
	fclose(f);
	return p;
}

/* What nvcc writes passes at its exact length, and not one byte shorter. */
static void from_nvcc(void)
{
	char dir[] = "/tmp/vgpu-image-check-XXXXXX", cmd[1024], path[512];
	static const char *const kinds[] = { "cubin", "fatbin", "ptx" };
	struct vgpu_image_span sp;

	if (!mkdtemp(dir))
		return;
	for (int i = 0; i < 3; i++) {
		uint8_t *img;
		size_t n;

		snprintf(cmd, sizeof(cmd), "%s -arch=sm_90 -%s -o %s/g.%s tests/hostile/big_globals.cu",
			 NVCC, kinds[i], dir, kinds[i]);
		CHECK(system(cmd) == 0);
		snprintf(path, sizeof(path), "%s/g.%s", dir, kinds[i]);
		img = slurp(path, &n);
		CHECK(img != NULL);
		if (!img)
			continue;
		if (i == 2)
			n++;	/* PTX is sent with its NUL */
		CHECK(vgpu_image_check(img, n, &sp) == 0 && sp.size == n);
		CHECK(vgpu_image_check(img, n - 1, &sp) != 0);
		/* The 128 MiB __device__ array is in the cubin's headers. */
		if (i < 2)
			CHECK(vgpu_image_device_bytes(img, n) >= (128u << 20));
		printf("%s: %zu bytes, %lu MiB of device memory from its headers\n", kinds[i], n,
		       (unsigned long)(vgpu_image_device_bytes(img, n) >> 20));
		free(img);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		test_failures++;
}

int main(void)
{
	hand_made();
	if (access(NVCC, X_OK) == 0)
		from_nvcc();
	else
		printf("nvcc not found at %s: only hand-made images checked\n", NVCC);
	return TEST_RESULT();
}
