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
#include <stddef.h>
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
		return vgpu_mempool_free(dptr);	/* or one of cuMemAllocAsync's (mempool.c) */
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

/*
 * Bulk for the next chunk of a copy: the full chunk if it is free now, else
 * one slot if that is, else (when the caller holds nothing) wait for one
 * slot.  So a copy needs a single free slot to progress, and no thread waits
 * while it holds bulk space (decision 4).
 */
static bool alloc_chunk(uint64_t want, bool may_wait, struct vgpu_bulk_buf *b)
{
	uint64_t one = want < vgpu_bulk_slot_size() ? want : vgpu_bulk_slot_size();

	if (vgpu_bulk_alloc(want, false, b))
		return true;
	if (one < want && vgpu_bulk_alloc(one, false, b))
		return true;
	return may_wait && vgpu_bulk_alloc(one, true, b);
}

CUresult vgpu_copy_htod(CUdeviceptr dst, const void *src, size_t n, const struct vgpu_stream_ref *s,
			bool wait)
{
	uint32_t ctx = vgpu_ctx_wire(s->ctx);
	/* A synchronous copy returns its own error and the thread's kept ones on that stream. */
	uint16_t sync_flags = VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC;
	uint64_t chunk = vgpu_bulk_chunk();
	CUresult r = CUDA_SUCCESS;

	if (n == 0)
		return CUDA_SUCCESS;
	if (!src)
		return CUDA_ERROR_INVALID_VALUE;
	if (n <= INLINE_MAX && n <= vgpu_max_tail(sizeof(struct vgpu_memcpy_htod_inline_args))) {
		struct vgpu_memcpy_htod_inline_args a = { .dst = dst, .stream = s->id, .len = n };

		return vgpu_call(VGPU_OP_MEMCPY_HTOD_INLINE, wait ? sync_flags : 0, ctx, &a,
				 sizeof(a), src, n, NULL);
	}
	for (size_t off = 0; off < n && r == CUDA_SUCCESS;) {
		struct vgpu_memcpy_htod_args a = { .dst = dst + off, .stream = s->id };
		struct vgpu_bulk_buf b;
		bool last;

		if (!alloc_chunk(n - off < chunk ? n - off : chunk, true, &b))
			return CUDA_ERROR_DEVICE_UNAVAILABLE;
		memcpy(b.ptr, (const uint8_t *)src + off, b.ref.len);
		a.src = b.ref;
		last = off + b.ref.len == n;
		/* Only the last chunk of a synchronous copy waits (for the errors of all). */
		r = vgpu_call_bulk_out(VGPU_OP_MEMCPY_HTOD, last && wait ? sync_flags : 0, ctx, &a,
				       sizeof(a), offsetof(struct vgpu_memcpy_htod_args, bulk_seq),
				       &b);
		off += b.ref.len;
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
	uint64_t chunk = vgpu_bulk_chunk();
	/* One copy holds at most half the bulk area, so other threads' copies go on. */
	uint32_t max_slots = vgpu_bulk_slots() / 2 ? vgpu_bulk_slots() / 2 : 1, held = 0;
	size_t issued = 0, done = 0, next = 0;
	CUresult r = CUDA_SUCCESS;

	if (n == 0)
		return CUDA_SUCCESS;
	if (!dst)
		return CUDA_ERROR_INVALID_VALUE;
	/*
	 * Keep chunk requests outstanding while bulk and answer slots are free
	 * now; while it holds some, the copy never waits for more, it collects
	 * the oldest instead.  Answers may come in any order; they are
	 * collected in order.
	 */
	while (done < issued || next < n) {
		while (next < n && issued - done < DTOH_DEPTH && r == CUDA_SUCCESS) {
			struct inflight *f = &q[issued % DTOH_DEPTH];
			struct vgpu_memcpy_dtoh_args a = { .src = src + next, .stream = s->id };
			bool holding = issued != done;
			CUresult br;

			if (holding && held >= max_slots)
				break;
			if (!alloc_chunk(n - next < chunk ? n - next : chunk, !holding, &f->b)) {
				if (!holding)
					r = CUDA_ERROR_DEVICE_UNAVAILABLE;
				break;
			}
			a.dst = f->b.ref;
			/* Every chunk may report: the first takes the thread's kept error. */
			br = holding ? vgpu_call_try_begin(VGPU_OP_MEMCPY_DTOH,
							   VGPU_CMD_F_REPORT_ASYNC, ctx, &a,
							   sizeof(a), &f->p)
				     : vgpu_call_begin(VGPU_OP_MEMCPY_DTOH,
						       VGPU_CMD_F_REPORT_ASYNC, ctx, &a, sizeof(a),
						       NULL, 0, &f->p);
			if (br == CUDA_ERROR_NOT_READY) {
				vgpu_bulk_free(&f->b);
				break;
			}
			f->off = next;
			held += f->b.nslots;
			issued++;
			next += f->b.ref.len;
			if (br != CUDA_SUCCESS)
				break;
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
			held -= f->b.nslots;
			vgpu_bulk_free(&f->b);
			done++;
		}
		if (r != CUDA_SUCCESS)
			next = n;	/* collect what is out, issue nothing more */
	}
	return r;
}
