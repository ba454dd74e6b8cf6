// SPDX-License-Identifier: MIT
/*
 * Image lengths, from the formats' own headers (driver-api.md section 3):
 * a fatbin is header_size + fat_size; a cubin ends at the furthest of its
 * ELF header, program headers and segments, section headers and sections
 * (NOBITS sections take no file space); PTX runs to its NUL.
 */
#include <elf.h>
#include <string.h>

#include "image.h"

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void extend(size_t *end, uint64_t off, uint64_t len, size_t limit, int *bad)
{
	if (off > limit || len > limit - off) {
		*bad = 1;
		return;
	}
	if (off + len > *end)
		*end = (size_t)(off + len);
}

size_t vgpu_elf_size(const uint8_t *p, size_t limit)
{
	Elf64_Ehdr eh;
	size_t end = sizeof(eh);
	int bad = 0;

	if (limit < sizeof(eh))
		return 0;
	memcpy(&eh, p, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64)
		return 0;
	if (eh.e_phnum && eh.e_phentsize < sizeof(Elf64_Phdr))
		return 0;
	if (eh.e_shnum && eh.e_shentsize < sizeof(Elf64_Shdr))
		return 0;
	extend(&end, eh.e_phoff, (uint64_t)eh.e_phnum * eh.e_phentsize, limit, &bad);
	extend(&end, eh.e_shoff, (uint64_t)eh.e_shnum * eh.e_shentsize, limit, &bad);
	if (bad)
		return 0;
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, p + eh.e_phoff + (uint64_t)i * eh.e_phentsize, sizeof(ph));
		extend(&end, ph.p_offset, ph.p_filesz, limit, &bad);
	}
	for (unsigned int i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;

		memcpy(&sh, p + eh.e_shoff + (uint64_t)i * eh.e_shentsize, sizeof(sh));
		if (sh.sh_type != SHT_NOBITS && sh.sh_type != SHT_NULL)
			extend(&end, sh.sh_offset, sh.sh_size, limit, &bad);
	}
	return bad ? 0 : end;
}

static int fatbin_span(const uint8_t *p, size_t limit, struct vgpu_image_span *out)
{
	uint16_t header_size;
	uint64_t fat_size;

	if (limit < 16 || rd32(p) != VGPU_FATBIN_MAGIC)
		return -1;
	header_size = rd16(p + 6);
	fat_size = rd64(p + 8);
	if (header_size < 16 || fat_size > limit || header_size > limit - fat_size)
		return -1;
	out->kind = VGPU_IMAGE_FATBIN;
	out->data = p;
	out->size = header_size + fat_size;
	return 0;
}

/* ELF sections the loader places in device memory, NOBITS included; @p passed vgpu_elf_size(). */
static uint64_t elf_alloc_bytes(const uint8_t *p)
{
	Elf64_Ehdr eh;
	uint64_t sum = 0;

	memcpy(&eh, p, sizeof(eh));
	for (unsigned int i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;

		memcpy(&sh, p + eh.e_shoff + (uint64_t)i * eh.e_shentsize, sizeof(sh));
		if (sh.sh_flags & SHF_ALLOC && sh.sh_size <= UINT64_MAX - sum)
			sum += sh.sh_size;
	}
	return sum;
}

/* Fatbin entries: kind u16 @0, header size u32 @4, payload size u64 @8, flags u64 @40. */
#define FATBIN_ENTRY_MIN	64u
#define FATBIN_KIND_ELF		2u
#define FATBIN_COMPRESSED	(0x2000ull | 0x8000ull)	/* LZ4, zstd */

/*
 * Walk the entries of a fatbin whose header and payload were found to lie
 * within its buffer; -1 when one does not fit.  *@device receives the
 * largest uncompressed cubin entry's allocated bytes.
 */
static int fatbin_entries(const uint8_t *p, size_t size, uint64_t *device)
{
	size_t off = rd16(p + 6), end = size;

	*device = 0;
	while (end - off >= FATBIN_ENTRY_MIN) {
		const uint8_t *e = p + off;
		uint32_t ehsize = rd32(e + 4);
		uint64_t payload = rd64(e + 8), flags = rd64(e + 40);

		if (ehsize < FATBIN_ENTRY_MIN || ehsize > end - off ||
		    payload > end - off - ehsize)
			return -1;
		if (rd16(e) == FATBIN_KIND_ELF && !(flags & FATBIN_COMPRESSED)) {
			const uint8_t *elf = e + ehsize;
			uint64_t bytes;

			if (payload < SELFMAG || memcmp(elf, ELFMAG, SELFMAG) ||
			    !vgpu_elf_size(elf, (size_t)payload))
				return -1;
			bytes = elf_alloc_bytes(elf);
			if (bytes > *device)
				*device = bytes;
		}
		off += ehsize + (size_t)payload;
	}
	return 0;
}

int vgpu_image_check(const void *image, size_t len, struct vgpu_image_span *out)
{
	const uint8_t *p = image;
	uint64_t device;

	memset(out, 0, sizeof(*out));
	if (!p || len < 4 || rd32(p) == VGPU_FATBIN_WRAPPER_MAGIC)
		return -1;
	/* Bounded by @len, the span never ends past what arrived. */
	if (vgpu_image_span(p, len, out))
		return -1;
	if (out->kind == VGPU_IMAGE_FATBIN && fatbin_entries(p, out->size, &device))
		return -1;
	return 0;
}

uint64_t vgpu_image_device_bytes(const void *image, size_t len)
{
	struct vgpu_image_span sp;
	uint64_t device = 0;

	if (vgpu_image_check(image, len, &sp))
		return 0;
	if (sp.kind == VGPU_IMAGE_CUBIN)
		return elf_alloc_bytes(sp.data);
	if (sp.kind == VGPU_IMAGE_FATBIN && fatbin_entries(sp.data, sp.size, &device) == 0)
		return device;
	return 0;
}

int vgpu_image_span(const void *image, size_t limit, struct vgpu_image_span *out)
{
	const uint8_t *p = image;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!p || limit < 4)
		return -1;
	if (rd32(p) == VGPU_FATBIN_WRAPPER_MAGIC) {
		/* int magic, int version, const void *data, const void *filename_or_prelinked */
		const uint8_t *data;

		if (limit < 24)
			return -1;
		memcpy(&data, p + 8, sizeof(data));
		if (!data)
			return -1;
		return fatbin_span(data, SIZE_MAX - (uintptr_t)data, out);
	}
	if (rd32(p) == VGPU_FATBIN_MAGIC)
		return fatbin_span(p, limit, out);
	if (!memcmp(p, ELFMAG, SELFMAG)) {
		n = vgpu_elf_size(p, limit);
		if (!n)
			return -1;
		out->kind = VGPU_IMAGE_CUBIN;
		out->data = p;
		out->size = n;
		return 0;
	}
	if (limit >= 8 && !memcmp(p, "!<arch>\n", 8)) {
		out->kind = VGPU_IMAGE_ARCHIVE;
		return -1;
	}
	n = strnlen((const char *)p, limit);
	if (n == limit || n == 0)
		return -1;
	out->kind = VGPU_IMAGE_PTX;
	out->data = p;
	out->size = n + 1;
	return 0;
}
