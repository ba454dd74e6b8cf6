// SPDX-License-Identifier: MIT
/*
 * The shim finds how long an image is from its own headers (the driver API
 * passes no length).  Checked against files nvcc writes (a cubin, a fatbin,
 * PTX) whose true lengths are their file sizes, a fatbin wrapper as cudart
 * passes it, and malformed headers that must be refused, not followed.
 */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "test.h"

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *p;

	if (!f || fstat(fileno(f), &st))
		return NULL;
	p = malloc((size_t)st.st_size + 1);
	*len = fread(p, 1, (size_t)st.st_size, f);
	p[*len] = 0;
	fclose(f);
	return p;
}

static int nvcc(const char *dir, const char *kind, const char *out)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "%s -arch=sm_90 -%s -Itests/cuda -x cu -o %s/%s tests/cuda/image_probe.cu 2>&1",
		 NVCC, kind, dir, out);
	return system(cmd);
}

int main(void)
{
	char dir[] = "/tmp/vgpu-image-XXXXXX", path[512];
	struct vgpu_image_span sp;
	uint8_t *cubin, *fatbin, *ptx, junk[64] = { 0 };
	size_t ncubin, nfatbin, nptx;

	if (access(NVCC, X_OK)) {
		printf("nvcc not found at %s: no images to check\n", NVCC);
		return 77;
	}
	mkdtemp(dir);
	CHECK(nvcc(dir, "cubin", "k.cubin") == 0);
	CHECK(nvcc(dir, "fatbin", "k.fatbin") == 0);
	CHECK(nvcc(dir, "ptx", "k.ptx") == 0);
	snprintf(path, sizeof(path), "%s/k.cubin", dir);
	cubin = slurp(path, &ncubin);
	snprintf(path, sizeof(path), "%s/k.fatbin", dir);
	fatbin = slurp(path, &nfatbin);
	snprintf(path, sizeof(path), "%s/k.ptx", dir);
	ptx = slurp(path, &nptx);
	CHECK(cubin && fatbin && ptx);
	if (!cubin || !fatbin || !ptx)
		return TEST_RESULT();

	/* Lengths from the headers equal the files nvcc wrote. */
	CHECK(vgpu_image_span(cubin, SIZE_MAX, &sp) == 0 && sp.kind == VGPU_IMAGE_CUBIN &&
	      sp.size == ncubin);
	printf("cubin: %zu bytes from its headers, %zu on disk\n", sp.size, ncubin);
	CHECK(vgpu_image_span(fatbin, SIZE_MAX, &sp) == 0 && sp.kind == VGPU_IMAGE_FATBIN &&
	      sp.size == nfatbin);
	printf("fatbin: %zu bytes from its header, %zu on disk\n", sp.size, nfatbin);
	CHECK(vgpu_image_span(ptx, SIZE_MAX, &sp) == 0 && sp.kind == VGPU_IMAGE_PTX &&
	      sp.size == nptx + 1);

	/* A wrapper, as cudart registers it, leads to its fatbin. */
	struct {
		uint32_t magic, version;
		const void *data, *prelinked;
	} wrapper = { VGPU_FATBIN_WRAPPER_MAGIC, 1, fatbin, NULL };
	CHECK(vgpu_image_span(&wrapper, sizeof(wrapper), &sp) == 0 && sp.data == fatbin &&
	      sp.size == nfatbin);
	wrapper.data = NULL;
	CHECK(vgpu_image_span(&wrapper, sizeof(wrapper), &sp) != 0);

	/* Images that claim more than there is are refused. */
	CHECK(vgpu_image_span(cubin, ncubin - 1, &sp) != 0);
	CHECK(vgpu_image_span(fatbin, nfatbin - 1, &sp) != 0);
	CHECK(vgpu_image_span(ptx, nptx, &sp) != 0);	/* no NUL within the limit */
	Elf64_Ehdr *eh = (Elf64_Ehdr *)cubin;
	eh->e_shoff = ~0ull - 8;	/* section table past the end of memory */
	CHECK(vgpu_image_span(cubin, SIZE_MAX, &sp) != 0);
	CHECK(vgpu_elf_size(cubin, ncubin) == 0);

	/* An archive is for the linker; nothing is an empty string. */
	memcpy(junk, "!<arch>\n", 8);
	CHECK(vgpu_image_span(junk, sizeof(junk), &sp) != 0 && sp.kind == VGPU_IMAGE_ARCHIVE);
	CHECK(vgpu_image_span("", 1, &sp) != 0);
	CHECK(vgpu_image_span(NULL, 100, &sp) != 0);

	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path))
		return 1;
	return TEST_RESULT();
}
