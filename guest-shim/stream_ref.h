/* SPDX-License-Identifier: MIT */
/* Turning a CUstream argument into what a record carries. */
#ifndef VGPU_STREAM_REF_H
#define VGPU_STREAM_REF_H

#include <stdbool.h>

#include "objects.h"

/* cuStreamGetId of a thread's per-thread default stream: this base plus the thread's id. */
#define VGPU_PER_THREAD_STREAM_ID_BASE	(1ull << 32)

/* A stream as the executor names it, and the context the call runs in. */
struct vgpu_stream_ref {
	uint64_t id;
	struct vgpu_ctx *ctx;
};

/*
 * Resolve @s for a call: NULL is the legacy default stream, or the
 * per-thread one for the _ptds/_ptsz entry points (@per_thread); a stream
 * object runs in its own context, the default streams in the current one.
 * Also checks that the shim is ready.
 */
CUresult vgpu_stream_ref(CUstream s, bool per_thread, struct vgpu_stream_ref *out);

#endif /* VGPU_STREAM_REF_H */
