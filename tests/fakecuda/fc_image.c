/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Reading a module image the way the driver picks what to run, without
 * keeping any of it: which of the registry's kernels and globals the image
 * names, and the architecture it was built for.
 *
 *  - fatbin (u32 0xBA55ED50): the sm_90 ELF entry if there is one, else the
 *    newest PTX entry for an architecture <= 90; else NO_BINARY_FOR_GPU.
 *    Compressed entries (zstd, LZ4) are decompressed with libzstd.so.1 /
 *    liblz4.so.1 loaded at run time; without them: NOT_SUPPORTED.
 *  - ELF (\x7fELF): a 64-bit little-endian EM_CUDA cubin for sm_90, else
 *    NO_BINARY_FOR_GPU; not a CUDA ELF: INVALID_IMAGE.
 *  - otherwise NUL-terminated PTX text: INVALID_IMAGE without a .version
 *    directive (or if it is not text), UNSUPPORTED_PTX_VERSION above ISA 9.0
 *    (CUDA 13.0), INVALID_PTX for a target newer than sm_90.
 * The fatbin wrapper (0x466243B1, what cudart registers) is not taken: the
 * executor receives image bytes, never a guest's wrapper; NOT_SUPPORTED.
 * These codes are the ones the real driver returned on an H200.
 */
#include "fakecuda.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FATBIN_MAGIC	0xBA55ED50u
#define WRAPPER_MAGIC	0x466243B1u
#define IMAGE_MAX	(1ull << 30)
#define EM_CUDA		190
#define PTX_ISA_MAX	90	/* .version 9.0 */

#define FATBIN_KIND_PTX		1
#define FATBIN_KIND_ELF		2
#define FATBIN_FLAG_LZ4		0x2000ull
#define FATBIN_FLAG_ZSTD	0x8000ull

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static bool ident_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$';
}

/* @name occurs in @buf as a whole identifier (not inside a longer one). */
static bool names(const uint8_t *buf, size_t len, const char *name)
{
	size_t n = strlen(name);
	const uint8_t *p = buf, *end = buf + len;

	while (p + n <= end) {
		const uint8_t *hit = memmem(p, (size_t)(end - p), name, n);
		if (!hit)
			return false;
		bool before = hit == buf || !ident_char(hit[-1]);
		bool after = hit + n == end || !ident_char(hit[n]);
		if (before && after)
			return true;
		p = hit + 1;
	}
	return false;
}

static void scan_names(const uint8_t *buf, size_t len, struct fc_image_info *info)
{
	info->kernels = 0;
	info->globals = 0;
	for (unsigned i = 0; i < fc_kernel_count; i++)
		if (names(buf, len, fc_kernels[i].name))
			info->kernels |= 1ull << i;
	for (unsigned i = 0; i < fc_global_count; i++)
		if (names(buf, len, fc_globals[i].name))
			info->globals |= 1u << i;
}

/* ---------------------------------------------------------------- ELF */

static CUresult elf_length(const uint8_t *p, size_t *len)
{
	if (p[4] != 2 /* ELFCLASS64 */ || p[5] != 1 /* little endian */)
		return CUDA_ERROR_INVALID_IMAGE;
	uint64_t phoff = rd64(p + 0x20), shoff = rd64(p + 0x28);
	uint16_t ehsize = rd16(p + 0x34), phentsize = rd16(p + 0x36), phnum = rd16(p + 0x38);
	uint16_t shentsize = rd16(p + 0x3a), shnum = rd16(p + 0x3c);
	if (ehsize < 64 || (phnum && phentsize < 56) || (shnum && shentsize < 64) ||
	    phoff > IMAGE_MAX || shoff > IMAGE_MAX)
		return CUDA_ERROR_INVALID_IMAGE;
	uint64_t end = ehsize;
	if (phnum && phoff + (uint64_t)phnum * phentsize > end)
		end = phoff + (uint64_t)phnum * phentsize;
	if (shnum && shoff + (uint64_t)shnum * shentsize > end)
		end = shoff + (uint64_t)shnum * shentsize;
	for (unsigned i = 0; i < phnum; i++) {
		const uint8_t *ph = p + phoff + (uint64_t)i * phentsize;
		uint64_t off = rd64(ph + 8), filesz = rd64(ph + 32);
		if (off > IMAGE_MAX || filesz > IMAGE_MAX)
			return CUDA_ERROR_INVALID_IMAGE;
		if (off + filesz > end)
			end = off + filesz;
	}
	for (unsigned i = 0; i < shnum; i++) {
		const uint8_t *sh = p + shoff + (uint64_t)i * shentsize;
		uint32_t type = rd32(sh + 4);
		uint64_t off = rd64(sh + 24), size = rd64(sh + 32);
		if (type == 8 /* SHT_NOBITS */)
			continue;
		if (off > IMAGE_MAX || size > IMAGE_MAX)
			return CUDA_ERROR_INVALID_IMAGE;
		if (off + size > end)
			end = off + size;
	}
	if (end > IMAGE_MAX)
		return CUDA_ERROR_INVALID_IMAGE;
	*len = (size_t)end;
	return CUDA_SUCCESS;
}

/* The SM a cubin was built for: e_flags bits 8-15 from ELF ABI version 8 on, bits 0-7 before. */
static int elf_arch(const uint8_t *p)
{
	uint32_t flags = rd32(p + 0x30);
	return p[8] >= 8 ? (int)((flags >> 8) & 0xff) : (int)(flags & 0xff);
}

static CUresult inspect_elf(const uint8_t *p, size_t avail, struct fc_image_info *info)
{
	size_t len;

	if (avail < 64 || memcmp(p, "\x7f" "ELF", 4) != 0)
		return CUDA_ERROR_INVALID_IMAGE;
	if (rd16(p + 0x12) != EM_CUDA)
		return CUDA_ERROR_INVALID_IMAGE;
	CUresult r = elf_length(p, &len);
	if (r)
		return r;
	if (len > avail)
		return CUDA_ERROR_INVALID_IMAGE;
	int arch = elf_arch(p);
	if (arch != FC_SM_ARCH)
		return CUDA_ERROR_NO_BINARY_FOR_GPU;	/* SASS runs only on its own SM major.minor */
	scan_names(p, len, info);
	info->bin_arch = arch;
	info->ptx_arch = arch;	/* the real driver reports 90 for an sm_90 cubin */
	return CUDA_SUCCESS;
}

/* ---------------------------------------------------------------- PTX */

static CUresult inspect_ptx(const uint8_t *p, size_t len, struct fc_image_info *info)
{
	const char *s = (const char *)p;
	const char *v = NULL;

	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
			return CUDA_ERROR_INVALID_IMAGE;	/* not text */
	/* the directives, at the start of a line */
	for (const char *q = s; q && *q; q = strchr(q, '\n')) {
		while (*q == '\n' || *q == ' ' || *q == '\t' || *q == '\r')
			q++;
		if (!strncmp(q, ".version", 8)) {
			v = q + 8;
			break;
		}
	}
	if (!v)
		return CUDA_ERROR_INVALID_IMAGE;
	unsigned major, minor;
	if (sscanf(v, " %u.%u", &major, &minor) != 2)
		return CUDA_ERROR_INVALID_PTX;
	if (major * 10 + minor > PTX_ISA_MAX)
		return CUDA_ERROR_UNSUPPORTED_PTX_VERSION;
	const char *t = strstr(s, ".target");
	unsigned arch;
	if (!t || sscanf(t + 7, " sm_%u", &arch) != 1)
		return CUDA_ERROR_INVALID_PTX;
	if (arch > FC_SM_ARCH)
		return CUDA_ERROR_INVALID_PTX;	/* JIT cannot target an older GPU */
	scan_names(p, len, info);
	info->ptx_arch = (int)arch;
	info->bin_arch = FC_SM_ARCH;
	return CUDA_SUCCESS;
}

static CUresult inspect_ptx_text(const uint8_t *p, struct fc_image_info *info)
{
	const uint8_t *nul = memchr(p, 0, IMAGE_MAX);
	if (!nul)
		return CUDA_ERROR_INVALID_IMAGE;
	return inspect_ptx(p, (size_t)(nul - p), info);
}

/* ---------------------------------------------------------------- fatbin */

typedef size_t (*zstd_decompress_fn)(void *, size_t, const void *, size_t);
typedef unsigned (*zstd_is_error_fn)(size_t);
typedef int (*lz4_decompress_fn)(const char *, char *, int, int);

/* Decompress one entry's payload; NOT_SUPPORTED when the library is missing. */
static CUresult decompress(uint64_t flags, const uint8_t *src, size_t src_len, uint8_t *dst,
			   size_t dst_len)
{
	const char *lib = (flags & FATBIN_FLAG_ZSTD) ? "libzstd.so.1" : "liblz4.so.1";
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	CUresult r = CUDA_ERROR_INVALID_IMAGE;

	if (!h) {
		fc_log("a fatbin entry is compressed and %s is not there to read it", lib);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	if (flags & FATBIN_FLAG_ZSTD) {
		zstd_decompress_fn dec = (zstd_decompress_fn)dlsym(h, "ZSTD_decompress");
		zstd_is_error_fn is_err = (zstd_is_error_fn)dlsym(h, "ZSTD_isError");
		if (dec && is_err) {
			size_t n = dec(dst, dst_len, src, src_len);
			if (!is_err(n) && n == dst_len)
				r = CUDA_SUCCESS;
		}
	} else {
		lz4_decompress_fn dec = (lz4_decompress_fn)dlsym(h, "LZ4_decompress_safe");
		if (dec && src_len <= INT32_MAX && dst_len <= INT32_MAX &&
		    dec((const char *)src, (char *)dst, (int)src_len, (int)dst_len) == (int)dst_len)
			r = CUDA_SUCCESS;
	}
	dlclose(h);
	return r;
}

static CUresult inspect_fatbin(const uint8_t *p, struct fc_image_info *info)
{
	uint16_t hsize = rd16(p + 6);
	uint64_t fat_size = rd64(p + 8);

	if (rd16(p + 4) != 1 || hsize < 16 || fat_size > IMAGE_MAX)
		return CUDA_ERROR_INVALID_IMAGE;
	const uint8_t *e = p + hsize, *end = p + hsize + fat_size;
	const uint8_t *elf = NULL, *ptx = NULL;
	unsigned ptx_arch = 0;

	while (e + 64 <= end) {
		uint16_t kind = rd16(e);
		uint32_t ehsize = rd32(e + 4);
		uint64_t payload = rd64(e + 8);
		uint32_t arch = rd32(e + 28);
		if (ehsize < 64 || ehsize > (uint64_t)(end - e) || payload > (uint64_t)(end - e) - ehsize)
			return CUDA_ERROR_INVALID_IMAGE;
		if (kind == FATBIN_KIND_ELF && arch == FC_SM_ARCH && !elf)
			elf = e;
		if (kind == FATBIN_KIND_PTX && arch <= FC_SM_ARCH && (!ptx || arch > ptx_arch)) {
			ptx = e;
			ptx_arch = arch;
		}
		e += ehsize + payload;
	}
	const uint8_t *pick = elf ? elf : ptx;
	if (!pick)
		return CUDA_ERROR_NO_BINARY_FOR_GPU;

	uint32_t ehsize = rd32(pick + 4);
	uint64_t payload = rd64(pick + 8);
	uint32_t compressed = rd32(pick + 16);
	uint64_t flags = rd64(pick + 40);
	uint64_t full = ehsize >= 64 ? rd64(pick + 56) : 0;
	const uint8_t *data = pick + ehsize;
	uint8_t *plain = NULL;
	size_t len = (size_t)payload;

	if (flags & (FATBIN_FLAG_ZSTD | FATBIN_FLAG_LZ4)) {
		if (compressed == 0 || compressed > payload || full == 0 || full > IMAGE_MAX)
			return CUDA_ERROR_INVALID_IMAGE;
		plain = malloc((size_t)full + 1);
		if (!plain)
			return CUDA_ERROR_OUT_OF_MEMORY;
		CUresult r = decompress(flags, data, compressed, plain, (size_t)full);
		if (r) {
			free(plain);
			return r;
		}
		plain[full] = 0;
		data = plain;
		len = (size_t)full;
	}
	CUresult r;
	if (pick == elf) {
		r = inspect_elf(data, len, info);
	} else {
		/* a PTX entry is text, possibly padded with NULs */
		const uint8_t *nul = memchr(data, 0, len);
		r = inspect_ptx(data, nul ? (size_t)(nul - data) : len, info);
	}
	free(plain);	/* nothing of the image is kept */
	return r;
}

CUresult fc_image_inspect(const void *image, struct fc_image_info *info)
{
	const uint8_t *p = image;

	memset(info, 0, sizeof(*info));
	/* text can be shorter than 4 bytes: look at the magic only if it is there */
	if (p[0] && p[1] && p[2] && p[3]) {
		uint32_t magic = rd32(p);
		if (magic == FATBIN_MAGIC)
			return inspect_fatbin(p, info);
		if (magic == WRAPPER_MAGIC) {
			fc_log("a fatbin wrapper (0x466243B1) was passed; the double takes the fatbin itself");
			return CUDA_ERROR_NOT_SUPPORTED;
		}
		if (!memcmp(p, "\x7f" "ELF", 4))
			return inspect_elf(p, IMAGE_MAX, info);
	}
	return inspect_ptx_text(p, info);
}
