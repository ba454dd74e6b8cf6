/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * "Device" memory is host memory: a CUdeviceptr is the address of a
 * 512-byte-aligned host block, poisoned with 0xcd when allocated, charged
 * against FAKECUDA_MEM_LIMIT.  Copies and memsets check at submission that
 * every device range lies inside one live allocation (or inside registered
 * host memory, which unified addressing lets the device use), then become
 * operations of their stream (fc_queue.c), which check again when they run
 * (a range that went meanwhile is a fault, CUDA_ERROR_ILLEGAL_ADDRESS).
 *
 * Host memory, as the real driver treats it: registered (cuMemHostRegister)
 * or pinned (cuMemAllocHost) memory is read or written when the copy runs,
 * so the caller must not touch it before the stream passed the copy;
 * pageable memory is staged at submission for a host-to-device copy, and a
 * device-to-host copy into it returns only once it landed.
 *
 * Checks and their order follow what the real driver returned on an H200:
 * ranges are checked against the size asked for, a zero-length operation
 * succeeds without looking at pointers, D16/D32 memsets need aligned
 * addresses, 2D pitches matter only when more than one row is written.
 */
#include "fakecuda.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct fc_alloc *fc_allocs;
struct fc_hostreg *fc_hostregs;
/* Released, waiting for the work submitted before the release (see fakecuda.h). */
static struct fc_alloc *alloc_graves;
static struct fc_hostreg *hostreg_graves;

static bool holds(uint64_t base, size_t size, uint64_t p, size_t n)
{
	return p >= base && p - base <= size && n <= size - (p - base);
}

struct fc_alloc *fc_alloc_find(uint64_t p, size_t n)
{
	for (struct fc_alloc *a = fc_allocs; a; a = a->next)
		if (holds(a->base, a->size, p, n))
			return a;
	return NULL;
}

struct fc_hostreg *fc_hostreg_find(uint64_t p, size_t n)
{
	for (struct fc_hostreg *h = fc_hostregs; h; h = h->next)
		if (holds(h->base, h->size, p, n))
			return h;
	return NULL;
}

bool fc_range_ok(uint64_t p, size_t n)
{
	return fc_alloc_find(p, n) || fc_hostreg_find(p, n) || fc_vmm_usable(p, n, false);
}

bool fc_mem_usable(uint64_t p, size_t n, uint64_t seq, bool write, uint64_t *base, size_t *size)
{
	struct fc_alloc *a = fc_alloc_find(p, n);
	struct fc_hostreg *h;

	for (struct fc_alloc *g = alloc_graves; !a && g; g = g->next)
		if (seq <= g->released_at && holds(g->base, g->size, p, n))
			a = g;
	if (a) {
		*base = a->base;
		*size = a->size;
		return true;
	}
	if ((h = fc_hostreg_find(p, n))) {
		if (write && (h->flags & CU_MEMHOSTREGISTER_READ_ONLY) && !h->owned)
			return false;
		*base = h->base;
		*size = h->owned ? h->size : 0;
		return true;
	}
	for (h = hostreg_graves; h; h = h->next) {
		if (seq <= h->released_at && holds(h->base, h->size, p, n)) {
			*base = h->base;
			*size = h->size;
			return true;
		}
	}
	/* Mapped virtual memory: like registered memory, touched only under fc_mem_lock. */
	if (fc_vmm_usable(p, n, write)) {
		*base = p;
		*size = 0;
		return true;
	}
	return false;
}

static size_t page_round(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return n > SIZE_MAX - page ? 0 : (n + page - 1) / page * page;
}

void fc_mem_reap(void)
{
	uint64_t oldest = UINT64_MAX;

	if (!alloc_graves && !hostreg_graves)
		return;
	for (struct fc_queue *q = fc_queues; q; q = q->all_next)
		if (q->head && q->head->seq < oldest)
			oldest = q->head->seq;
	pthread_mutex_lock(&fc_mem_lock);
	for (struct fc_alloc **pp = &alloc_graves; *pp;) {
		struct fc_alloc *a = *pp;
		if (a->released_at < oldest) {
			*pp = a->next;
			a->magic = 0;
			free((void *)(uintptr_t)a->base);
			free(a);
		} else {
			pp = &a->next;
		}
	}
	for (struct fc_hostreg **pp = &hostreg_graves; *pp;) {
		struct fc_hostreg *h = *pp;
		if (h->released_at < oldest) {
			*pp = h->next;
			h->magic = 0;
			munmap((void *)(uintptr_t)h->base, page_round(h->size));
			free(h);
		} else {
			pp = &h->next;
		}
	}
	pthread_mutex_unlock(&fc_mem_lock);
}

CUresult fc_alloc_new(size_t size, struct fc_ctx *ctx, struct fc_module *owner, bool zero,
		      struct fc_alloc **out)
{
	if (size == 0 || size > FC_TOTAL_MEM)
		return size ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_ERROR_INVALID_VALUE;
	size_t charged = (size + FC_ALLOC_ALIGN - 1) / FC_ALLOC_ALIGN * FC_ALLOC_ALIGN;
	if (charged > fc_mem_limit - fc_mem_used)
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct fc_alloc *a = calloc(1, sizeof(*a));
	void *mem = aligned_alloc(FC_ALLOC_ALIGN, charged);
	if (!a || !mem) {
		free(a);
		free(mem);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	memset(mem, zero ? 0 : FC_POISON, charged);
	a->magic = FC_MAGIC_ALLOC;
	a->base = (uint64_t)(uintptr_t)mem;
	a->size = size;
	a->charged = charged;
	a->ctx = ctx;
	a->owner = owner;
	pthread_mutex_lock(&fc_mem_lock);
	a->next = fc_allocs;
	fc_allocs = a;
	pthread_mutex_unlock(&fc_mem_lock);
	fc_mem_used += charged;
	*out = a;
	return CUDA_SUCCESS;
}

void fc_alloc_release(struct fc_alloc *a)
{
	pthread_mutex_lock(&fc_mem_lock);
	for (struct fc_alloc **pp = &fc_allocs; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	a->released_at = fc_op_seq;
	a->next = alloc_graves;
	alloc_graves = a;
	pthread_mutex_unlock(&fc_mem_lock);
	fc_mem_used -= a->charged;
	if (a->pool)
		fc_pool_alloc_gone(a);
	fc_mem_reap();
}

/*
 * Registered memory is the application's: unlinked under fc_mem_lock, so no
 * operation touches it once this returns.  Pinned memory is the double's:
 * through the graveyard.
 */
static void hostreg_release(struct fc_hostreg *h)
{
	pthread_mutex_lock(&fc_mem_lock);
	for (struct fc_hostreg **pp = &fc_hostregs; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	if (h->owned) {
		h->released_at = fc_op_seq;
		h->next = hostreg_graves;
		hostreg_graves = h;
	} else {
		h->magic = 0;
		free(h);
	}
	pthread_mutex_unlock(&fc_mem_lock);
	fc_mem_reap();
}

void fc_mem_free_ctx(struct fc_ctx *c)
{
	for (struct fc_alloc *a = fc_allocs, *next; a; a = next) {
		next = a->next;
		if (a->ctx == c && !a->owner)
			fc_alloc_release(a);
	}
	for (struct fc_hostreg *h = fc_hostregs, *next; h; h = next) {
		next = h->next;
		if (h->ctx == c)
			hostreg_release(h);
	}
}

static CUresult mem_alloc(CUdeviceptr *dptr, size_t bytesize)
{
	struct fc_ctx *c;
	struct fc_alloc *a;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!dptr)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_current(&c)))
		return r;
	if (bytesize == 0)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_alloc_new(bytesize, c, NULL, false, &a)))
		return r;
	*dptr = a->base;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	FC_LOCKED(mem_alloc(dptr, bytesize));
}

/* No current context is needed: the pointer says whose memory it is (as on the real driver). */
static CUresult mem_free(CUdeviceptr dptr)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (fc_sticky)
		return fc_sticky;
	if (dptr == 0)	/* the real driver: success, nothing to do */
		return CUDA_SUCCESS;
	for (struct fc_alloc *a = fc_allocs; a; a = a->next) {
		if (a->base == dptr && !a->owner) {	/* module globals are not the caller's to free */
			fc_alloc_release(a);
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_INVALID_VALUE;
}

FC_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	FC_LOCKED(mem_free(dptr));
}

/* Both outputs are optional: the real driver accepts NULL for either. */
static CUresult mem_get_info(size_t *free_bytes, size_t *total)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((r = fc_current(&c)))
		return r;
	if (free_bytes)
		*free_bytes = fc_mem_limit - fc_mem_used;
	if (total)
		*total = FC_TOTAL_MEM;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemGetInfo_v2(size_t *free, size_t *total)
{
	FC_LOCKED(mem_get_info(free, total));
}

/* ------------------------------------------------------------ copies */

static CUresult submit_copy(const char *call, struct fc_queue *q, uint64_t dst, enum fc_side ds,
			    uint64_t src, enum fc_side ss, size_t n, bool wait)
{
	struct fc_op *op = fc_op_new(FC_OP_COPY, call);

	if (!op)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (ss == FC_SIDE_PAGEABLE) {
		/* as the real driver does: the source is copied before the call returns */
		if (!(op->copy.staged = malloc(n))) {
			fc_op_unref(op);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		memcpy(op->copy.staged, (const void *)(uintptr_t)src, n);
		src = (uint64_t)(uintptr_t)op->copy.staged;
	}
	op->copy.dst = dst;
	op->copy.src = src;
	op->copy.n = n;
	op->copy.dst_side = ds;
	op->copy.src_side = ss;
	return fc_submit(q, op, wait);
}

/* Registered or pinned memory is read or written when the copy runs; other host memory is not. */
static enum fc_side host_side(const void *p, size_t n)
{
	return fc_hostreg_find((uint64_t)(uintptr_t)p, n) ? FC_SIDE_PINNED : FC_SIDE_PAGEABLE;
}

static CUresult memcpy_htod(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
	static const char call[] = "cuMemcpyHtoDAsync";
	struct fc_queue *q;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve(call, s, NULL, NULL, &q)) || n == 0)
		return r;
	if (!src || !fc_range_ok(dst, n))
		return CUDA_ERROR_INVALID_VALUE;
	return submit_copy(call, q, dst, FC_SIDE_DEVICE, (uint64_t)(uintptr_t)src,
			   host_side(src, n), n, false);
}

FC_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
					CUstream hStream)
{
	FC_LOCKED(memcpy_htod(dstDevice, srcHost, ByteCount, hStream));
}

/* Into pageable memory the call returns once the bytes landed, as on the real driver. */
static CUresult memcpy_dtoh(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
	static const char call[] = "cuMemcpyDtoHAsync";
	struct fc_queue *q;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve(call, s, NULL, NULL, &q)) || n == 0)
		return r;
	if (!dst || !fc_range_ok(src, n))
		return CUDA_ERROR_INVALID_VALUE;
	enum fc_side side = host_side(dst, n);
	r = submit_copy(call, q, (uint64_t)(uintptr_t)dst, side, src, FC_SIDE_DEVICE, n,
			side == FC_SIDE_PAGEABLE);
	return r || side == FC_SIDE_PINNED ? r : fc_sticky;
}

FC_EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
					CUstream hStream)
{
	FC_LOCKED(memcpy_dtoh(dstHost, srcDevice, ByteCount, hStream));
}

static CUresult memcpy_dtod(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	static const char call[] = "cuMemcpyDtoDAsync";
	struct fc_queue *q;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve(call, s, NULL, NULL, &q)) || n == 0)
		return r;
	if (!fc_range_ok(dst, n) || !fc_range_ok(src, n))
		return CUDA_ERROR_INVALID_VALUE;
	return submit_copy(call, q, dst, FC_SIDE_DEVICE, src, FC_SIDE_DEVICE, n, false);
}

FC_EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
					CUstream hStream)
{
	FC_LOCKED(memcpy_dtod(dstDevice, srcDevice, ByteCount, hStream));
}

/* On the device thread: both ranges again, then the bytes (memmove: DtoD ranges may overlap). */
bool fc_run_copy(struct fc_op *op, uint64_t *fault)
{
	uint64_t dst = op->copy.dst, src = op->copy.src, base;
	size_t n = op->copy.n, size;
	bool app = false;

	pthread_mutex_lock(&fc_mem_lock);
	if (op->copy.dst_side != FC_SIDE_PAGEABLE) {
		if (!fc_mem_usable(dst, n, op->seq, true, &base, &size)) {
			pthread_mutex_unlock(&fc_mem_lock);
			*fault = dst;
			return false;
		}
		app |= size == 0;
	}
	if (op->copy.src_side != FC_SIDE_PAGEABLE) {
		if (!fc_mem_usable(src, n, op->seq, false, &base, &size)) {
			pthread_mutex_unlock(&fc_mem_lock);
			*fault = src;
			return false;
		}
		app |= size == 0;
	}
	if (!app)	/* the double's own memory stays until this operation completed */
		pthread_mutex_unlock(&fc_mem_lock);
	memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
	if (app)
		pthread_mutex_unlock(&fc_mem_lock);
	return true;
}

/* ------------------------------------------------------------ memsets */

static void fill(uint8_t *p, uint32_t value, size_t elem, size_t count)
{
	switch (elem) {
	case 1:
		memset(p, (int)value, count);
		break;
	case 2:
		for (size_t i = 0; i < count; i++) {
			uint16_t v = (uint16_t)value;
			memcpy(p + 2 * i, &v, 2);
		}
		break;
	default:
		for (size_t i = 0; i < count; i++)
			memcpy(p + 4 * i, &value, 4);
		break;
	}
}

static size_t memset_span(const struct fc_op *op)
{
	size_t row_bytes = op->memset.width * op->memset.elem;
	return op->memset.rows > 1 ? op->memset.pitch * (op->memset.rows - 1) + row_bytes : row_bytes;
}

/* height 0: 1D of width elements */
static CUresult memset_any(const char *call, CUdeviceptr dst, size_t pitch, uint32_t value,
			   size_t elem, size_t width, size_t height, bool two_d, CUstream s)
{
	struct fc_queue *q;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve(call, s, NULL, NULL, &q)))
		return r;
	size_t rows = two_d ? height : 1;
	if (width == 0 || rows == 0)
		return CUDA_SUCCESS;
	if (dst % elem)
		return CUDA_ERROR_INVALID_VALUE;
	if (width > SIZE_MAX / elem)
		return CUDA_ERROR_INVALID_VALUE;
	size_t row_bytes = width * elem;
	size_t span = row_bytes;
	if (rows > 1) {	/* the pitch is unused for a single row */
		if (pitch < row_bytes || pitch % elem)
			return CUDA_ERROR_INVALID_VALUE;
		if ((rows - 1) > (SIZE_MAX - row_bytes) / pitch)
			return CUDA_ERROR_INVALID_VALUE;
		span = pitch * (rows - 1) + row_bytes;
	}
	if (!fc_range_ok(dst, span))
		return CUDA_ERROR_INVALID_VALUE;
	struct fc_op *op = fc_op_new(FC_OP_MEMSET, call);
	if (!op)
		return CUDA_ERROR_OUT_OF_MEMORY;
	op->memset.dst = dst;
	op->memset.pitch = pitch;
	op->memset.value = value;
	op->memset.elem = elem;
	op->memset.width = width;
	op->memset.rows = rows;
	return fc_submit(q, op, false);
}

bool fc_run_memset(struct fc_op *op, uint64_t *fault)
{
	uint64_t base;
	size_t size;

	pthread_mutex_lock(&fc_mem_lock);
	if (!fc_mem_usable(op->memset.dst, memset_span(op), op->seq, true, &base, &size)) {
		pthread_mutex_unlock(&fc_mem_lock);
		*fault = op->memset.dst;
		return false;
	}
	if (size)
		pthread_mutex_unlock(&fc_mem_lock);
	for (size_t y = 0; y < op->memset.rows; y++)
		fill((uint8_t *)(uintptr_t)(op->memset.dst + y * op->memset.pitch), op->memset.value,
		     op->memset.elem, op->memset.width);
	if (!size)
		pthread_mutex_unlock(&fc_mem_lock);
	return true;
}

FC_EXPORT CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream)
{
	FC_LOCKED(memset_any("cuMemsetD8Async", dstDevice, 0, uc, 1, N, 1, false, hStream));
}

FC_EXPORT CUresult cuMemsetD16Async(CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream)
{
	FC_LOCKED(memset_any("cuMemsetD16Async", dstDevice, 0, us, 2, N, 1, false, hStream));
}

FC_EXPORT CUresult cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream)
{
	FC_LOCKED(memset_any("cuMemsetD32Async", dstDevice, 0, ui, 4, N, 1, false, hStream));
}

FC_EXPORT CUresult cuMemsetD2D8Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned char uc,
				     size_t Width, size_t Height, CUstream hStream)
{
	FC_LOCKED(memset_any("cuMemsetD2D8Async", dstDevice, dstPitch, uc, 1, Width, Height, true,
			     hStream));
}

FC_EXPORT CUresult cuMemsetD2D16Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned short us,
				      size_t Width, size_t Height, CUstream hStream)
{
	FC_LOCKED(memset_any("cuMemsetD2D16Async", dstDevice, dstPitch, us, 2, Width, Height, true,
			     hStream));
}

FC_EXPORT CUresult cuMemsetD2D32Async(CUdeviceptr dstDevice, size_t dstPitch, unsigned int ui,
				      size_t Width, size_t Height, CUstream hStream)
{
	FC_LOCKED(memset_any("cuMemsetD2D32Async", dstDevice, dstPitch, ui, 4, Width, Height, true,
			     hStream));
}

/* ------------------------------------------------------------ host registration */

#define FC_HOSTREG_FLAGS (CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP | \
			  CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY)

/* Is every page of [p, p + n) mapped?  (The real driver pins them.) */
static bool mapped(uint64_t p, size_t n)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t start = p & ~(uint64_t)(page - 1);
	size_t len = (size_t)(p + n - start);
	size_t pages = (len + (size_t)page - 1) / (size_t)page;
	unsigned char *vec = malloc(pages ? pages : 1);

	if (!vec)
		return false;
	int rc = mincore((void *)(uintptr_t)start, len, vec);
	free(vec);
	return rc == 0 || errno != ENOMEM;
}

static CUresult host_register(void *p, size_t size, unsigned int flags)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((r = fc_current(&c)))
		return r;
	uint64_t base = (uint64_t)(uintptr_t)p;
	if (!p || size == 0 || base + size < base || (flags & ~FC_HOSTREG_FLAGS))
		return CUDA_ERROR_INVALID_VALUE;
	/* IOMEMORY is for device BARs; what the double is given is ordinary memory */
	if (flags & CU_MEMHOSTREGISTER_IOMEMORY)
		return CUDA_ERROR_INVALID_VALUE;
	for (struct fc_hostreg *h = fc_hostregs; h; h = h->next)
		if (base < h->base + h->size && h->base < base + size)
			return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
	if (!mapped(base, size))
		return CUDA_ERROR_INVALID_VALUE;
	struct fc_hostreg *h = calloc(1, sizeof(*h));
	if (!h)
		return CUDA_ERROR_OUT_OF_MEMORY;
	h->magic = FC_MAGIC_HOSTREG;
	h->base = base;
	h->size = size;
	h->flags = flags;
	h->ctx = c;
	pthread_mutex_lock(&fc_mem_lock);
	h->next = fc_hostregs;
	fc_hostregs = h;
	pthread_mutex_unlock(&fc_mem_lock);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)
{
	FC_LOCKED(host_register(p, bytesize, Flags));
}

static CUresult host_unregister(void *p)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if ((r = fc_current(&c)))
		return r;
	if (!p)
		return CUDA_ERROR_INVALID_VALUE;
	uint64_t base = (uint64_t)(uintptr_t)p;
	for (struct fc_hostreg *h = fc_hostregs; h; h = h->next) {
		if (h->owned)	/* cuMemAllocHost memory was never registered */
			continue;
		if (h->base == base) {
			/* an operation still to run on it will fault: nothing waits */
			hostreg_release(h);
			return CUDA_SUCCESS;
		}
		if (base > h->base && base < h->base + h->size)
			return CUDA_ERROR_INVALID_VALUE;	/* inside, not the start: as the real driver */
	}
	return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
}

FC_EXPORT CUresult cuMemHostUnregister(void *p)
{
	FC_LOCKED(host_unregister(p));
}

/* ------------------------------------------------------------ pinned host memory */

/*
 * Pinned host memory of the double's own, page aligned.  Under unified
 * addressing it is mapped and portable whatever the flags (cuda.h,
 * "Automatic Mapping of Host Allocated Host Memory"): its device pointer is
 * its host address, and cuMemHostGetFlags says so.
 */
static CUresult mem_alloc_host(void **pp, size_t size)
{
	struct fc_ctx *c;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!pp)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_current(&c)))
		return r;
	if (size == 0)
		return CUDA_ERROR_INVALID_VALUE;
	size_t len = page_round(size);
	struct fc_hostreg *h = len ? calloc(1, sizeof(*h)) : NULL;
	void *m = h ? mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
		    : MAP_FAILED;
	if (m == MAP_FAILED) {
		free(h);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	h->magic = FC_MAGIC_HOSTREG;
	h->base = (uint64_t)(uintptr_t)m;
	h->size = size;
	h->flags = CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP;
	h->owned = true;
	h->ctx = c;
	pthread_mutex_lock(&fc_mem_lock);
	h->next = fc_hostregs;
	fc_hostregs = h;
	pthread_mutex_unlock(&fc_mem_lock);
	*pp = m;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t bytesize)
{
	FC_LOCKED(mem_alloc_host(pp, bytesize));
}

/* Like cuMemFree, no current context is needed: the pointer says whose memory it is. */
static CUresult mem_free_host(void *p)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (fc_sticky)
		return fc_sticky;
	for (struct fc_hostreg *h = fc_hostregs; h; h = h->next) {
		if (h->owned && h->base == (uint64_t)(uintptr_t)p) {
			hostreg_release(h);
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_INVALID_VALUE;
}

FC_EXPORT CUresult cuMemFreeHost(void *p)
{
	FC_LOCKED(mem_free_host(p));
}

/*
 * The device pointer of mapped host memory is its host address (the device
 * reports CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM).  Mapped means pinned by
 * cuMemAllocHost, or registered with CU_MEMHOSTREGISTER_DEVICEMAP; cuda.h:
 * "will fail if the DEVICEMAP flag was not specified".
 */
static CUresult host_get_device_pointer(CUdeviceptr *pdptr, void *p, unsigned flags)
{
	struct fc_ctx *c;
	struct fc_hostreg *h;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!pdptr || flags != 0)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_current(&c)))
		return r;
	if (!(h = fc_hostreg_find((uint64_t)(uintptr_t)p, 1)))
		return CUDA_ERROR_INVALID_VALUE;
	if (!h->owned && !(h->flags & CU_MEMHOSTREGISTER_DEVICEMAP))
		return CUDA_ERROR_INVALID_VALUE;
	*pdptr = (CUdeviceptr)(uintptr_t)p;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags)
{
	FC_LOCKED(host_get_device_pointer(pdptr, p, Flags));
}

/* cuda.h: only for memory of cuMemAllocHost/cuMemHostAlloc, not for registered memory. */
static CUresult host_get_flags(unsigned *pflags, void *p)
{
	struct fc_ctx *c;
	struct fc_hostreg *h;
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!pflags)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_current(&c)))
		return r;
	if (!(h = fc_hostreg_find((uint64_t)(uintptr_t)p, 1)) || !h->owned)
		return CUDA_ERROR_INVALID_VALUE;
	*pflags = h->flags;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemHostGetFlags(unsigned int *pFlags, void *p)
{
	FC_LOCKED(host_get_flags(pFlags, p));
}
