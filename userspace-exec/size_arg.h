/* SPDX-License-Identifier: MIT */
#ifndef VGPU_SIZE_ARG_H
#define VGPU_SIZE_ARG_H

#include <stdint.h>

/* "64M", "16G", "4096", "1T": bytes; -1 for anything else. */
int vgpu_parse_size(const char *s, uint64_t *out);

#endif /* VGPU_SIZE_ARG_H */
