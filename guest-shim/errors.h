/* SPDX-License-Identifier: MIT */
#ifndef VGPU_ERRORS_H
#define VGPU_ERRORS_H

#include <stddef.h>

/* Generated from cuda.h into build/gen/error_table.c, sorted by value. */
struct vgpu_error_entry {
	int value;
	const char *name;
	const char *description;
};

extern const struct vgpu_error_entry vgpu_error_table[];
extern const size_t vgpu_error_count;

#endif /* VGPU_ERRORS_H */
