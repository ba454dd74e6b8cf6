/* SPDX-License-Identifier: MIT */
/*
 * Stream capture as the guest sees it (capture.c).  The executor captures
 * for real, always in relaxed mode; what programs ask about capture on
 * every call (cuStreamIsCapturing, cuStreamGetCaptureInfo) and the rules of
 * the capture modes are answered and kept here, per guest thread.
 */
#ifndef VGPU_CAPTURE_H
#define VGPU_CAPTURE_H

#include "objects.h"
#include "stream_ref.h"

enum vgpu_capture_use {
	VGPU_USE_ASYNC,		/* work a graph can hold: launches, device copies, memsets */
	VGPU_USE_SYNC,		/* the caller waits for the stream (a synchronous call) */
	VGPU_USE_HOST_COPY,	/* an asynchronous copy from or to host memory */
	VGPU_USE_CALLBACK,	/* a stream callback (a host function in a capture is ASYNC) */
};

/*
 * May @use go to stream @st (resolved as @s)?  CUDA_SUCCESS, or the error
 * the driver gives while a capture is in the way (and that capture is then
 * invalidated, as the driver does): CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
 * _IMPLICIT (the legacy stream while a blocking stream captures),
 * _INVALIDATED (work on an invalidated capture).
 */
CUresult vgpu_capture_use(CUstream st, const struct vgpu_stream_ref *s, enum vgpu_capture_use use);

/*
 * The calling thread makes a potentially unsafe call (an allocation, a
 * synchronisation): CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED where its capture
 * mode prohibits it (cuThreadExchangeStreamCaptureMode), else CUDA_SUCCESS.
 */
CUresult vgpu_capture_unsafe(void);

/* cuCtxSynchronize of @ctx: refused while a stream of it captures. */
CUresult vgpu_capture_ctx_sync(const struct vgpu_ctx *ctx);

/* Before an event record on @st is sent: note the capture it is made in. */
CUresult vgpu_capture_record(struct vgpu_event *e, CUstream st, const struct vgpu_stream_ref *s);

/* Before @st waits on @e is sent: a stream waiting on a captured event joins the capture. */
CUresult vgpu_capture_wait(const struct vgpu_event *e, CUstream st, const struct vgpu_stream_ref *s);

/* Stream @st (resolved as @s) takes part in a capture. */
bool vgpu_capture_active(CUstream st, const struct vgpu_stream_ref *s);

/* Stream @st is being destroyed: a capture it began ends (invalidated, no graph). */
void vgpu_capture_stream_destroyed(CUstream st, const struct vgpu_stream_ref *s);

#endif /* VGPU_CAPTURE_H */
