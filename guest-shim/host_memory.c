// SPDX-License-Identifier: MIT
/*
 * Pinned host memory: cuMemHostAlloc, cuMemAllocHost, cuMemFreeHost,
 * cuMemHostRegister, cuMemHostUnregister, cuMemHostGetFlags,
 * cuMemHostGetDevicePointer.
 *
 * Allocations come from the executor's heap first (host_heap.c, decision
 * 9): memory the worker registered with the driver, so copies from and to
 * it are DMA in stream order and it is mapped for the device.  When there is
 * no heap or it is full, and for cuMemHostRegister'ed memory, this is the
 * staged form: the memory is the guest process's own (anonymous pages,
 * page-aligned, so ggml's 256-byte alignment holds), and copies to and from
 * it travel through the bulk area like pageable copies.  What makes it
 * "pinned" then is the range table here: an asynchronous
 * copy from or to a range keeps stream order (memory.c reads a source, or
 * fills a destination, from a host function at the point of the stream
 * where the copy runs), and a unified copy or a memset recognises it as host
 * memory, so a guest host address never reaches the executor as a device
 * address.  The GPU cannot address staged memory, so cuMemHostGetDevicePointer
 * says so (CUDA_ERROR_NOT_SUPPORTED) rather than returning an address that
 * would fault; pointer attributes report host memory that is not mapped.
 *
 * A range with deferred copies still pending (host functions that will read
 * or write it) is not unmapped under them: cuMemFreeHost leaves it to the
 * last of them, cuMemHostUnregister (the memory is the application's) waits
 * for them.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "channel.h"
#include "context.h"
#include "host_func.h"
#include "host_heap.h"
#include "host_memory.h"
#include "log.h"
#include "shim.h"
#include "state.h"

#define ALLOC_FLAGS	(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | \
			 CU_MEMHOSTALLOC_WRITECOMBINED)
#define REGISTER_FLAGS	(CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP | \
			 CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY)

struct vgpu_host_range {
	uintptr_t base;
	size_t size;		/* as asked for */
	size_t map_len;		/* allocations: the mapping's length (whole pages) */
	unsigned int flags;
	bool registered;
	bool heap;		/* from the heap (host_heap.c), at heap_off within BAR1 */
	uint64_t heap_off;
	bool dead;		/* freed or unregistered, deferred copies still pending */
	uint32_t pending;	/* deferred copies that will still touch it */
	struct vgpu_ctx *ctx;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t idle;		/* a range's pending count reached 0 */
	struct vgpu_host_range **v;	/* live ranges, sorted by base */
	size_t n, cap;
	/*
	 * n, readable without the lock: every copy asks whether its host
	 * pointer is pinned, and a program with no pinned memory should not
	 * take a process-wide lock for the answer.
	 */
	atomic_size_t live;
} ranges = { .lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER };

/* Index of the first range with base > p. */
static size_t upper(uintptr_t p)
{
	size_t lo = 0, hi = ranges.n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (ranges.v[mid]->base <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct vgpu_host_range *find_locked(uintptr_t p)
{
	size_t i = upper(p);

	if (i > 0 && p - ranges.v[i - 1]->base < ranges.v[i - 1]->size)
		return ranges.v[i - 1];
	return NULL;
}

/* [p, p + n) meets a live range. */
static bool overlaps_locked(uintptr_t p, size_t n)
{
	size_t i = upper(p);

	if (i > 0 && p - ranges.v[i - 1]->base < ranges.v[i - 1]->size)
		return true;
	return i < ranges.n && ranges.v[i]->base - p < n;
}

static bool insert_locked(struct vgpu_host_range *r)
{
	size_t i;

	if (ranges.n == ranges.cap) {
		size_t cap = ranges.cap ? ranges.cap * 2 : 32;
		struct vgpu_host_range **v = realloc(ranges.v, cap * sizeof(*v));

		if (!v)
			return false;
		ranges.v = v;
		ranges.cap = cap;
	}
	i = upper(r->base);
	memmove(&ranges.v[i + 1], &ranges.v[i], (ranges.n - i) * sizeof(*ranges.v));
	ranges.v[i] = r;
	ranges.n++;
	atomic_store_explicit(&ranges.live, ranges.n, memory_order_release);
	return true;
}

static void remove_locked(struct vgpu_host_range *r)
{
	for (size_t i = 0; i < ranges.n; i++)
		if (ranges.v[i] == r) {
			memmove(&ranges.v[i], &ranges.v[i + 1],
				(ranges.n - i - 1) * sizeof(*ranges.v));
			ranges.n--;
			atomic_store_explicit(&ranges.live, ranges.n, memory_order_release);
			return;
		}
}

/* Nothing touches @r any more: its memory goes (allocations) and so does it. */
static void release(struct vgpu_host_range *r)
{
	if (r->heap)
		vgpu_heap_free(r->heap_off, r->size);
	else if (!r->registered)
		munmap((void *)r->base, r->map_len);
	free(r);
}

bool vgpu_host_find(uintptr_t p, struct vgpu_host_info *out)
{
	struct vgpu_host_range *r;

	if (!atomic_load_explicit(&ranges.live, memory_order_acquire))
		return false;
	pthread_mutex_lock(&ranges.lock);
	r = find_locked(p);
	if (r && out)
		*out = (struct vgpu_host_info){ r->base, r->size, r->flags, r->registered, r->heap,
						r->heap_off, r->ctx };
	pthread_mutex_unlock(&ranges.lock);
	return r != NULL;
}

struct vgpu_host_range *vgpu_host_get(uintptr_t p, size_t n)
{
	struct vgpu_host_range *r;

	pthread_mutex_lock(&ranges.lock);
	r = find_locked(p);
	if (r && n - 1 < r->size - (p - r->base))
		r->pending++;
	else
		r = NULL;
	pthread_mutex_unlock(&ranges.lock);
	return r;
}

void vgpu_host_put(struct vgpu_host_range *r)
{
	bool gone;

	pthread_mutex_lock(&ranges.lock);
	gone = --r->pending == 0 && r->dead;
	pthread_cond_broadcast(&ranges.idle);
	pthread_mutex_unlock(&ranges.lock);
	if (gone)
		release(r);
}

static CUresult host_alloc(void **pp, size_t size, unsigned int flags)
{
	long page = sysconf(_SC_PAGESIZE);
	struct vgpu_host_range *r;
	struct vgpu_ctx *c;
	size_t len;
	void *p;
	CUresult err;

	if (!pp)
		return CUDA_ERROR_INVALID_VALUE;
	*pp = NULL;
	if (flags & ~ALLOC_FLAGS)
		return CUDA_ERROR_INVALID_VALUE;
	err = vgpu_current_checked(&c);
	if (err != CUDA_SUCCESS)
		return err;
	if (size == 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (page <= 0 || size > SIZE_MAX - (size_t)page)
		return CUDA_ERROR_OUT_OF_MEMORY;
	len = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
	r = calloc(1, sizeof(*r));
	if (!r)
		return CUDA_ERROR_OUT_OF_MEMORY;
	/* The executor's registered heap first (DMA); staged memory when it has none left. */
	if (vgpu_heap_alloc(c, size, &p, &r->heap_off)) {
		r->heap = true;
	} else {
		/* Whole pages: aligned far beyond the 256 bytes callers may assume. */
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			free(r);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
	}
	r->base = (uintptr_t)p;
	r->size = size;
	r->map_len = len;
	r->flags = flags;
	r->ctx = c;
	pthread_mutex_lock(&ranges.lock);
	if (!insert_locked(r)) {
		pthread_mutex_unlock(&ranges.lock);
		release(r);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pthread_mutex_unlock(&ranges.lock);
	*pp = p;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
	return host_alloc(pp, bytesize, Flags);
}

CUresult CUDAAPI cuMemAllocHost_v2(void **pp, size_t bytesize)
{
	return host_alloc(pp, bytesize, 0);
}

CUresult CUDAAPI cuMemAllocHost(void **pp, unsigned int bytesize)
{
	return host_alloc(pp, bytesize, 0);
}

CUresult CUDAAPI cuMemFreeHost(void *p)
{
	struct vgpu_host_range *r;
	bool now;
	CUresult err = vgpu_ready();

	if (err != CUDA_SUCCESS)
		return err;
	pthread_mutex_lock(&ranges.lock);
	r = find_locked((uintptr_t)p);
	if (!r || r->base != (uintptr_t)p || r->registered) {
		pthread_mutex_unlock(&ranges.lock);
		return CUDA_ERROR_INVALID_VALUE;
	}
	remove_locked(r);
	/* Copies still pending keep the pages mapped; the last one unmaps them. */
	r->dead = true;
	now = r->pending == 0;
	pthread_mutex_unlock(&ranges.lock);
	/*
	 * Heap pages go back to the heap and may be handed out again at once:
	 * DMA to or from them must be over first (the driver's cuMemFreeHost
	 * waits too).  Errors are not this call's to report.
	 */
	if (r->heap && vgpu_current() && !vgpu_in_host_func())
		vgpu_call(VGPU_OP_CTX_SYNCHRONIZE, VGPU_CMD_F_REPLY, vgpu_ctx_wire(vgpu_current()),
			  NULL, 0, NULL, 0, NULL);
	if (now)
		release(r);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)
{
	struct vgpu_host_range *r;
	struct vgpu_ctx *c;
	CUresult err;

	if (!p || bytesize == 0 || (Flags & ~REGISTER_FLAGS) ||
	    (uintptr_t)p > UINTPTR_MAX - bytesize)
		return CUDA_ERROR_INVALID_VALUE;
	err = vgpu_current_checked(&c);
	if (err != CUDA_SUCCESS)
		return err;
	/* I/O memory is a device's BAR: the staged path has no way to reach it. */
	if (Flags & CU_MEMHOSTREGISTER_IOMEMORY)
		return vgpu_unsupported("cuMemHostRegister(CU_MEMHOSTREGISTER_IOMEMORY)");
	r = calloc(1, sizeof(*r));
	if (!r)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*r = (struct vgpu_host_range){
		.base = (uintptr_t)p, .size = bytesize, .flags = Flags, .registered = true,
		.ctx = c,
	};
	pthread_mutex_lock(&ranges.lock);
	if (overlaps_locked(r->base, bytesize)) {
		pthread_mutex_unlock(&ranges.lock);
		free(r);
		return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
	}
	if (!insert_locked(r)) {
		pthread_mutex_unlock(&ranges.lock);
		free(r);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pthread_mutex_unlock(&ranges.lock);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags)
{
	return cuMemHostRegister_v2(p, bytesize, Flags);
}

CUresult CUDAAPI cuMemHostUnregister(void *p)
{
	struct vgpu_host_range *r;
	CUresult err = vgpu_ready();

	if (err != CUDA_SUCCESS)
		return err;
	pthread_mutex_lock(&ranges.lock);
	r = find_locked((uintptr_t)p);
	if (!r || r->base != (uintptr_t)p || !r->registered) {
		pthread_mutex_unlock(&ranges.lock);
		return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
	}
	remove_locked(r);
	r->dead = true;
	/*
	 * The memory is the caller's, who may free it as soon as this returns:
	 * wait for the copies that will still touch it (their host functions run
	 * as their streams reach them, also after a fault).  A host function
	 * cannot wait for that: the copies' functions would run after it.
	 */
	if (vgpu_in_host_func() && r->pending) {
		r->dead = false;
		insert_locked(r);	/* room: it was there a moment ago */
		pthread_mutex_unlock(&ranges.lock);
		return CUDA_ERROR_NOT_PERMITTED;
	}
	while (r->pending)
		pthread_cond_wait(&ranges.idle, &ranges.lock);
	pthread_mutex_unlock(&ranges.lock);
	release(r);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemHostGetFlags(unsigned int *pFlags, void *p)
{
	struct vgpu_host_info info;
	CUresult err = vgpu_ready();

	if (err != CUDA_SUCCESS)
		return err;
	if (!pFlags)
		return CUDA_ERROR_INVALID_VALUE;
	if (!vgpu_host_find((uintptr_t)p, &info) || info.registered)
		return CUDA_ERROR_INVALID_VALUE;
	*pFlags = info.flags;
	return CUDA_SUCCESS;
}

/*
 * Heap memory is mapped for the device: its device address is where the
 * worker's registration put it (not the guest's address: unified addressing
 * does not span two processes).  Not truthful in the staged form: the GPU
 * cannot reach that memory, and a made-up address would fault inside a
 * kernel (decision 2).
 */
CUresult CUDAAPI cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int Flags)
{
	struct vgpu_host_info h;
	CUresult err = vgpu_ready();
	CUdeviceptr d;

	if (err != CUDA_SUCCESS)
		return err;
	if (!pdptr || Flags)
		return CUDA_ERROR_INVALID_VALUE;
	if (!vgpu_host_find((uintptr_t)p, &h))
		return CUDA_ERROR_INVALID_VALUE;
	if (h.heap && (d = vgpu_heap_device(h.heap_off + ((uintptr_t)p - h.base)))) {
		*pdptr = d;
		return CUDA_SUCCESS;
	}
	if (vgpu_log_enabled())
		vgpu_log("cuMemHostGetDevicePointer: pinned memory is staged (copies only); "
			 "the GPU cannot map it: returning CUDA_ERROR_NOT_SUPPORTED");
	return CUDA_ERROR_NOT_SUPPORTED;
}
