/* SPDX-License-Identifier: MIT */
/*
 * What a pointer handed to cuModuleLoadData or cuLibraryLoadData points at,
 * and how many bytes it spans: a fatbin wrapper (0x466243B1, what cudart
 * passes), a fatbin (0xBA55ED50), an ELF cubin, or NUL-terminated PTX.
 * The driver API takes these without a length; the shim must find it to
 * send the image.
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

#endif /* VGPU_IMAGE_H */
