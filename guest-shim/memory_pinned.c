// SPDX-License-Identifier: MIT
/*
 * Copies with pinned host memory that keep stream order (decision 9, staged
 * form).  Natively the copy engine reads or writes pinned memory when the
 * stream reaches the copy, not when the call is made; here the bytes move
 * between the pinned range and the bulk area in host functions placed in
 * the stream (host_func.c), so:
 *
 *  - host to device: a host function fills the chunk's bulk just before the
 *    copy from bulk, so the copy sees what earlier work of the stream (a
 *    device-to-host copy into the same memory, another host function) left
 *    there;
 *  - device to host: the copy lands in bulk, and a host function after it
 *    moves the bytes to the pinned destination, so they are there by the
 *    time the stream, or an event recorded after the copy, completes - and
 *    the call does not wait.
 *
 * Each chunk's bulk belongs to its host function until it ran.  The calling
 * thread waits for bulk only while it holds none (decision 4); host
 * functions always run once their stream reaches them (with the stream's
 * error after a fault, callbacks being called then too), so held bulk comes
 * back.  memory_api.c chooses this path only when the executor can make
 * streams wait for host functions (the channel is registered with the
 * driver, so copies from and to bulk are real DMA in stream order).
 */
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "context.h"
#include "host_func.h"
#include "host_memory.h"
#include "memory.h"

struct chunk_job {
	struct vgpu_host_range *range;	/* counted: it stays mapped until the job ran */
	uint8_t *host;			/* the pinned bytes of this chunk */
	struct vgpu_bulk_buf b;
};

/* Host to device: fill the chunk's bulk as the stream reaches the copy. */
static void CUDA_CB fill(CUstream st, CUresult status, void *data)
{
	struct chunk_job *j = data;

	/* After a failure the stream runs no copy: nothing needs the bytes. */
	if (status == CUDA_SUCCESS)
		memcpy(j->b.ptr, j->host, j->b.ref.len);
	vgpu_host_put(j->range);
	free(j);
}

/* Device to host: the chunk landed in bulk; move it to the pinned destination. */
static void CUDA_CB drain(CUstream st, CUresult status, void *data)
{
	struct chunk_job *j = data;

	if (status == CUDA_SUCCESS)
		memcpy(j->host, j->b.ptr, j->b.ref.len);
	vgpu_bulk_free(&j->b);
	vgpu_host_put(j->range);
	free(j);
}

static struct chunk_job *job_new(const void *host, size_t len)
{
	struct chunk_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->host = (uint8_t *)host;
	j->range = vgpu_host_get((uintptr_t)host, len);
	if (!j->range) {	/* freed meanwhile by another thread */
		free(j);
		return NULL;
	}
	return j;
}

static void job_drop(struct chunk_job *j)
{
	vgpu_host_put(j->range);
	free(j);
}

CUresult vgpu_copy_htod_ordered(CUdeviceptr dst, const void *src, size_t n,
				const struct vgpu_stream_ref *s, CUstream st, bool per_thread,
				bool wait)
{
	uint32_t ctx = vgpu_ctx_wire(s->ctx);
	uint64_t chunk = vgpu_bulk_chunk();
	CUresult r = CUDA_SUCCESS;

	for (size_t off = 0; off < n && r == CUDA_SUCCESS;) {
		struct vgpu_memcpy_htod_args a = { .dst = dst + off, .stream = s->id };
		struct chunk_job *j;
		struct vgpu_bulk_buf b;
		bool last;

		if (!vgpu_copy_chunk_alloc(n - off < chunk ? n - off : chunk, true, &b))
			return CUDA_ERROR_DEVICE_UNAVAILABLE;
		j = job_new((const uint8_t *)src + off, b.ref.len);
		if (!j) {
			vgpu_bulk_free(&b);
			return CUDA_ERROR_INVALID_VALUE;
		}
		j->b = b;
		/* The function is in the stream before the copy it feeds. */
		r = vgpu_launch_host_func(st, per_thread, NULL, fill, j);
		if (r != CUDA_SUCCESS) {
			job_drop(j);
			vgpu_bulk_free(&b);
			return r;
		}
		a.src = b.ref;
		last = off + b.ref.len == n;
		/*
		 * The bulk goes to the executor now and comes back once retired,
		 * after the copy, so after the fill.  Should the submission fail
		 * (the session died), no message will run the fill any more.
		 */
		r = vgpu_call_bulk_out(VGPU_OP_MEMCPY_HTOD,
				       last && wait ? VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC : 0,
				       ctx, &a, sizeof(a), offsetof(struct vgpu_memcpy_htod_args, bulk_seq),
				       &b);
		off += b.ref.len;
	}
	return r;
}

CUresult vgpu_copy_dtoh_ordered(void *dst, CUdeviceptr src, size_t n,
				const struct vgpu_stream_ref *s, CUstream st, bool per_thread)
{
	uint32_t ctx = vgpu_ctx_wire(s->ctx);
	uint64_t chunk = vgpu_bulk_chunk();
	CUresult r = CUDA_SUCCESS;

	for (size_t off = 0; off < n && r == CUDA_SUCCESS;) {
		struct vgpu_memcpy_dtoh_args a = { .src = src + off, .stream = s->id };
		struct chunk_job *j;
		struct vgpu_bulk_buf b;

		if (!vgpu_copy_chunk_alloc(n - off < chunk ? n - off : chunk, true, &b))
			return CUDA_ERROR_DEVICE_UNAVAILABLE;
		j = job_new((uint8_t *)dst + off, b.ref.len);
		if (!j) {
			vgpu_bulk_free(&b);
			return CUDA_ERROR_INVALID_VALUE;
		}
		j->b = b;
		a.dst = b.ref;
		/*
		 * No answer: the copy lands in (registered) bulk in stream order,
		 * and its error, if any, is kept for the stream as for any
		 * asynchronous copy.
		 */
		r = vgpu_call(VGPU_OP_MEMCPY_DTOH, 0, ctx, &a, sizeof(a), NULL, 0, NULL);
		if (r != CUDA_SUCCESS) {
			job_drop(j);
			vgpu_bulk_free(&b);
			return r;
		}
		r = vgpu_launch_host_func(st, per_thread, NULL, drain, j);
		if (r != CUDA_SUCCESS) {
			/* The copy is under way into the bulk: let it land before the bulk is reused. */
			struct vgpu_stream_args sa = { .stream = s->id };

			vgpu_call(VGPU_OP_STREAM_SYNCHRONIZE, VGPU_CMD_F_REPLY, ctx, &sa, sizeof(sa),
				  NULL, 0, NULL);
			drain(st, r, j);
			return r;
		}
		off += b.ref.len;
	}
	return r;
}
