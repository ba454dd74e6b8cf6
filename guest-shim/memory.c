// SPDX-License-Identifier: MIT
/*
 * Device memory and copies.
 *
 * Pageable host data streams through the channel's bulk area in chunks:
 * host-to-device chunks are fire-and-forget (the executor retires each once
 * the copy engine read it), device-to-host chunks are requested a few ahead
 * so the executor copies chunk k+1 while the guest copies chunk k out.
 * Allocations are recorded here too, so pointer questions and unified
 * copies (cuMemcpy) are answered without a round trip.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "context.h"
#include "memory.h"
#include "shim.h"
#include "state.h"

/* Host-to-device copies up to this size travel inside the record. */
#define INLINE_MAX	(64u << 10)
/* Device-to-host chunks in flight at once. */
#define DTOH_DEPTH	4

struct alloc {
	CUdeviceptr base;
	size_t size;
	struct vgpu_ctx *ctx;
	bool owned;		/* from cuMemAlloc; otherwise a module's global */
};

static struct {
	pthread_mutex_t lock;
	struct alloc *v;	/* sorted by base */
	size_t n, cap;
} allocs = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void alloc_remove(CUdeviceptr base);

/* Index of the first allocation with base > p. */
static size_t upper(CUdeviceptr p)
{
	size_t lo = 0, hi = allocs.n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (allocs.v[mid].base <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool find_locked(CUdeviceptr p, struct alloc *out)
{
	size_t i = upper(p);

	if (i > 0 && p - allocs.v[i - 1].base < allocs.v[i - 1].size) {
		*out = allocs.v[i - 1];
		return true;
	}
	return false;
}

bool vgpu_alloc_find(CUdeviceptr p, CUdeviceptr *base, size_t *size, struct vgpu_ctx **ctx)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&allocs.lock);
	i = upper(p);
	if (i > 0 && p - allocs.v[i - 1].base < allocs.v[i - 1].size) {
		if (base)
			*base = allocs.v[i - 1].base;
		if (size)
			*size = allocs.v[i - 1].size;
		if (ctx)
			*ctx = allocs.v[i - 1].ctx;
		found = true;
	}
	pthread_mutex_unlock(&allocs.lock);
	return found;
}

static bool alloc_add(CUdeviceptr base, size_t size, struct vgpu_ctx *ctx, bool owned)
{
	struct alloc old;
	size_t i;

	pthread_mutex_lock(&allocs.lock);
	/* A global asked for twice is one range. */
	if (!owned && find_locked(base, &old) && old.base == base) {
		pthread_mutex_unlock(&allocs.lock);
		return true;
	}
	if (allocs.n == allocs.cap) {
		size_t cap = allocs.cap ? allocs.cap * 2 : 64;
		struct alloc *v = realloc(allocs.v, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&allocs.lock);
			return false;
		}
		allocs.v = v;
		allocs.cap = cap;
	}
	i = upper(base);
	memmove(&allocs.v[i + 1], &allocs.v[i], (allocs.n - i) * sizeof(*allocs.v));
	allocs.v[i] = (struct alloc){ base, size, ctx, owned };
	allocs.n++;
	pthread_mutex_unlock(&allocs.lock);
	return true;
}

void vgpu_alloc_note_global(CUdeviceptr base, size_t size, struct vgpu_ctx *ctx)
{
	if (size)
		alloc_add(base, size, ctx, false);
}

void vgpu_alloc_forget_global(CUdeviceptr base)
{
	struct alloc a;
	bool global;

	pthread_mutex_lock(&allocs.lock);
	global = find_locked(base, &a) && a.base == base && !a.owned;
	pthread_mutex_unlock(&allocs.lock);
	if (global)
		alloc_remove(base);
}

static void alloc_remove(CUdeviceptr base)
{
	size_t i;

	pthread_mutex_lock(&allocs.lock);
	i = upper(base);
	if (i > 0 && allocs.v[i - 1].base == base) {
		memmove(&allocs.v[i - 1], &allocs.v[i], (allocs.n - i) * sizeof(*allocs.v));
		allocs.n--;
	}
	pthread_mutex_unlock(&allocs.lock);
}

CUresult CUDAAPI cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	struct vgpu_mem_alloc_args a = { .size = bytesize };
	struct vgpu_answer ans = { 0 };
	struct vgpu_ctx *c;
	CUdeviceptr p;
	CUresult r;

	if (!dptr || bytesize == 0)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_current_checked(&c);
	if (r == CUDA_SUCCESS)
		r = vgpu_call_sync(VGPU_OP_MEM_ALLOC, vgpu_ctx_wire(c), &a, sizeof(a), &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&p, ans.data, sizeof(p));
	if (!alloc_add(p, bytesize, c, true)) {
		struct vgpu_mem_free_args f = { .dptr = p };

		vgpu_call_sync(VGPU_OP_MEM_FREE, vgpu_ctx_wire(c), &f, sizeof(f), NULL);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*dptr = p;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFree_v2(CUdeviceptr dptr)
{
	struct vgpu_mem_free_args args = { .dptr = dptr };
	struct alloc a;
	bool mine;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!dptr)
		return CUDA_SUCCESS;
	pthread_mutex_lock(&allocs.lock);
	mine = find_locked(dptr, &a) && a.base == dptr && a.owned;
	pthread_mutex_unlock(&allocs.lock);
	/* Only the start of an allocation of ours; a module's global is not freeable. */
	if (!mine)
		return CUDA_ERROR_INVALID_VALUE;
	/* Freed in the context it was allocated in, whatever is current. */
	r = vgpu_call_sync(VGPU_OP_MEM_FREE, vgpu_ctx_wire(a.ctx), &args, sizeof(args), NULL);
	if (r == CUDA_SUCCESS)
		alloc_remove(dptr);
	return r;
}

CUresult CUDAAPI cuMemGetInfo_v2(size_t *free_b, size_t *total_b)
{
	struct vgpu_mem_info_reply info;
	struct vgpu_answer ans = { 0 };
	struct vgpu_ctx *c;
	CUresult r;

	if (!free_b || !total_b)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_current_checked(&c);
	if (r == CUDA_SUCCESS)
		r = vgpu_call_sync(VGPU_OP_MEM_GET_INFO, vgpu_ctx_wire(c), NULL, 0, &ans);
	if (r != CUDA_SUCCESS)
		return r;
	memcpy(&info, ans.data, sizeof(info));
	*free_b = info.free;
	*total_b = info.total;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	return vgpu_alloc_find(dptr, pbase, psize, NULL) ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

/* ---- copies ---- */

static uint64_t chunk_size(void)
{
	uint64_t max = vgpu_bulk_max();

	return max < (4u << 20) ? max : (4u << 20);
}

CUresult vgpu_copy_htod(CUdeviceptr dst, const void *src, size_t n, const struct vgpu_stream_ref *s,
			bool wait)
{
	uint32_t ctx = vgpu_ctx_wire(s->ctx);
	uint16_t flags = wait ? VGPU_CMD_F_REPLY : 0;
	CUresult r = CUDA_SUCCESS;

	if (n == 0)
		return CUDA_SUCCESS;
	if (!src)
		return CUDA_ERROR_INVALID_VALUE;
	if (n <= INLINE_MAX && n <= vgpu_max_tail(sizeof(struct vgpu_memcpy_htod_inline_args))) {
		struct vgpu_memcpy_htod_inline_args a = { .dst = dst, .stream = s->id, .len = n };

		return vgpu_call(VGPU_OP_MEMCPY_HTOD_INLINE, flags, ctx, &a, sizeof(a), src, n, NULL);
	}
	for (size_t off = 0; off < n && r == CUDA_SUCCESS;) {
		uint64_t len = n - off < chunk_size() ? n - off : chunk_size();
		bool last = off + len == n;
		struct vgpu_memcpy_htod_args a = { .dst = dst + off, .stream = s->id };
		struct vgpu_bulk_buf b;

		vgpu_bulk_lock();
		if (!vgpu_bulk_alloc_out(len, &b)) {
			vgpu_bulk_unlock();
			return CUDA_ERROR_DEVICE_UNAVAILABLE;
		}
		memcpy(b.ptr, (const uint8_t *)src + off, len);
		a.src = b.ref;
		a.bulk_seq = b.seq;
		/* Only the last chunk of a synchronous copy waits (for its errors). */
		if (last && wait) {
			vgpu_bulk_unlock();
			r = vgpu_call(VGPU_OP_MEMCPY_HTOD, VGPU_CMD_F_REPLY, ctx, &a, sizeof(a), NULL,
				      0, NULL);
		} else {
			r = vgpu_call(VGPU_OP_MEMCPY_HTOD, 0, ctx, &a, sizeof(a), NULL, 0, NULL);
			vgpu_bulk_unlock();
		}
		off += len;
	}
	return r;
}

CUresult vgpu_copy_dtoh(void *dst, CUdeviceptr src, size_t n, const struct vgpu_stream_ref *s)
{
	struct inflight {
		struct vgpu_bulk_buf b;
		struct vgpu_pending p;
		size_t off;
	} q[DTOH_DEPTH];
	uint32_t ctx = vgpu_ctx_wire(s->ctx);
	size_t issued = 0, done = 0, next = 0;
	CUresult r = CUDA_SUCCESS;

	if (n == 0)
		return CUDA_SUCCESS;
	if (!dst)
		return CUDA_ERROR_INVALID_VALUE;
	/*
	 * Keep up to DTOH_DEPTH chunk requests outstanding.  The executor
	 * answers each once its bytes are in bulk; answers arrive in order.
	 */
	while (done < issued || next < n) {
		while (next < n && issued - done < DTOH_DEPTH && r == CUDA_SUCCESS) {
			uint64_t len = n - next < chunk_size() ? n - next : chunk_size();
			struct inflight *f = &q[issued % DTOH_DEPTH];
			struct vgpu_memcpy_dtoh_args a = { .src = src + next, .stream = s->id };

			if (!vgpu_bulk_alloc_in(len, &f->b)) {
				r = CUDA_ERROR_DEVICE_UNAVAILABLE;
				break;
			}
			f->off = next;
			a.dst = f->b.ref;
			/* Submitted without waiting; the answer is collected below. */
			r = vgpu_call_begin(VGPU_OP_MEMCPY_DTOH, VGPU_CMD_F_REPLY, ctx, &a,
					    sizeof(a), NULL, 0, &f->p);
			issued++;
			next += len;
		}
		if (done == issued)
			break;
		{
			struct inflight *f = &q[done % DTOH_DEPTH];
			CUresult cr = vgpu_call_end(&f->p);

			if (cr == CUDA_SUCCESS && r == CUDA_SUCCESS)
				memcpy((uint8_t *)dst + f->off, f->b.ptr, f->b.ref.len);
			else if (r == CUDA_SUCCESS)
				r = cr;
			vgpu_bulk_free_in(&f->b);
			done++;
		}
	}
	return r;
}
