/* SPDX-License-Identifier: MIT */
/*
 * What a pointer handed to cuModuleLoadData or cuLibraryLoadData points at,
 * and how many bytes it spans: a fatbin wrapper (0x466243B1, what cudart
 * passes), a fatbin (0xBA55ED50), an ELF cubin, or NUL-terminated PTX.
 * The driver API takes these without a length; the shim must find it to
 * send the image, and the executor checks with the same code that what it
 * received holds every byte the format says it has (vgpu_image_check).
 */
#ifndef VGPU_IMAGE_H
#define VGPU_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define VGPU_FATBIN_WRAPPER_MAGIC	0x466243b1u
#define VGPU_FATBIN_MAGIC		0xba55ed50u

enum vgpu_image_kind {
	VGPU_IMAGE_BAD = 0,
	VGPU_IMAGE_FATBIN,	/* also what a wrapper leads to */
	VGPU_IMAGE_CUBIN,
	VGPU_IMAGE_PTX,
	VGPU_IMAGE_ARCHIVE,	/* a library archive: for the linker, not loadable */
};

struct vgpu_image_span {
	enum vgpu_image_kind kind;
	const uint8_t *data;	/* start of the image to send (past any wrapper) */
	size_t size;
};

/*
 * Find the image at @p.  @limit bounds how far the reader may look (the
 * caller's knowledge of the mapping, or SIZE_MAX).  Returns 0 with @out
 * filled, or -1 for something that is none of the above or does not add up.
 */
int vgpu_image_span(const void *p, size_t limit, struct vgpu_image_span *out);

/* The length of an ELF image from its headers (exported for tests); 0 if malformed. */
size_t vgpu_elf_size(const uint8_t *p, size_t limit);

/*
 * The executor's check of an image it received as exactly @len bytes, before
 * any driver sees it.  No pointer inside the image is followed: a fatbin
 * wrapper (it carries a guest address) and an archive are refused.  PTX must
 * hold its NUL within @len; a cubin's headers, segments and sections, and a
 * fatbin's header_size + fat_size and each of its entries, must end within
 * @len (an uncompressed cubin inside a fatbin is checked as a cubin).
 * Returns 0 with @out filled, or -1.
 */
int vgpu_image_check(const void *p, size_t len, struct vgpu_image_span *out);

/*
 * Device memory an image checked by vgpu_image_check() says it takes, from
 * its headers: the allocated sections (code, constants, globals, NOBITS
 * globals included) of its cubin, or of its largest uncompressed cubin entry
 * for a fatbin.  0 where the headers do not say (PTX, compressed entries).
 */
uint64_t vgpu_image_device_bytes(const void *p, size_t len);

#endif /* VGPU_IMAGE_H */
