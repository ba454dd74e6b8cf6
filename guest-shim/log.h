/* SPDX-License-Identifier: MIT */
/*
 * One-line diagnostics of the shim, on when VGPU_LOG is set: VGPU_LOG=1 (or
 * any value not starting with '/') writes to stderr, VGPU_LOG=/path appends
 * to that file.  Silent otherwise: a CUDA program's output stays its own.
 */
#ifndef VGPU_SHIM_LOG_H
#define VGPU_SHIM_LOG_H

#include <stdbool.h>

bool vgpu_log_enabled(void);
void vgpu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* VGPU_SHIM_LOG_H */
