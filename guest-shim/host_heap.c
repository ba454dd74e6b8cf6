// SPDX-License-Identifier: MIT
/*
 * The pinned-memory heap (decision 9): the executor registers this
 * channel's slice of BAR1's heap with the driver, and the shim carves
 * cuMemHostAlloc/cuMemAllocHost allocations from it, so copies from and to
 * them are DMA in stream order (ops 145, 146) instead of staged copies.
 * First fit over a sorted list of free extents, whole pages, under one lock.
 * The slice is this process's alone (one channel per process), so nothing
 * is shared with other processes.  When the heap is full, or the executor
 * has none, allocations are staged (host_memory.c).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "context.h"
#include "host_heap.h"
#include "log.h"

#define PAGE	4096u

struct extent {
	uint64_t off, len;	/* within BAR1 */
};

static struct {
	pthread_mutex_t lock;
	int state;		/* 0 not asked yet, 1 usable, -1 none */
	uint8_t *base;		/* BAR1 in this process */
	uint64_t slice_off, slice_len;
	CUdeviceptr dev;	/* the slice's device address, or 0 */
	struct extent *free;	/* sorted by offset, never adjacent */
	size_t n, cap;
} heap = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Under heap.lock: ask the executor once where the slice is. */
static void discover(struct vgpu_ctx *c)
{
	struct vgpu_heap_info_reply info;
	struct vgpu_answer ans = { 0 };
	uint8_t *p;

	heap.state = -1;
	if (vgpu_call_sync(VGPU_OP_HEAP_INFO, vgpu_ctx_wire(c), NULL, 0, &ans) != CUDA_SUCCESS)
		return;
	memcpy(&info, ans.data, sizeof(info));
	/* The answer must name whole pages of our own mapping. */
	p = vgpu_channel_bar1_range(info.off, info.len);
	if (!p || info.off % PAGE || info.len % PAGE || !info.len)
		return;
	heap.free = malloc(16 * sizeof(*heap.free));
	if (!heap.free)
		return;
	heap.cap = 16;
	heap.n = 1;
	heap.free[0] = (struct extent){ info.off, info.len };
	heap.base = p - info.off;
	heap.slice_off = info.off;
	heap.slice_len = info.len;
	heap.dev = info.dev;
	heap.state = 1;
	vgpu_log("pinned memory: %lu MiB shared with the executor (DMA)",
		 (unsigned long)(info.len >> 20));
}

bool vgpu_heap_alloc(struct vgpu_ctx *c, size_t len, void **p, uint64_t *off)
{
	uint64_t want;
	bool ok = false;

	if (!len || len > UINT64_MAX - PAGE)
		return false;
	want = (len + PAGE - 1) / PAGE * PAGE;
	pthread_mutex_lock(&heap.lock);
	if (heap.state == 0)
		discover(c);
	for (size_t i = 0; heap.state > 0 && i < heap.n; i++) {
		struct extent *e = &heap.free[i];

		if (e->len < want)
			continue;
		*off = e->off;
		*p = heap.base + e->off;
		e->off += want;
		e->len -= want;
		if (!e->len) {
			memmove(e, e + 1, (heap.n - i - 1) * sizeof(*e));
			heap.n--;
		}
		ok = true;
		break;
	}
	pthread_mutex_unlock(&heap.lock);
	return ok;
}

void vgpu_heap_free(uint64_t off, size_t len)
{
	uint64_t n = (len + PAGE - 1) / PAGE * PAGE;
	size_t i;

	pthread_mutex_lock(&heap.lock);
	for (i = 0; i < heap.n && heap.free[i].off < off; i++)
		;
	/* Merge with the neighbours, or insert (growing the list; if that fails the pages leak). */
	if (i > 0 && heap.free[i - 1].off + heap.free[i - 1].len == off) {
		heap.free[i - 1].len += n;
		if (i < heap.n && off + n == heap.free[i].off) {
			heap.free[i - 1].len += heap.free[i].len;
			memmove(&heap.free[i], &heap.free[i + 1], (heap.n - i - 1) * sizeof(*heap.free));
			heap.n--;
		}
	} else if (i < heap.n && off + n == heap.free[i].off) {
		heap.free[i].off = off;
		heap.free[i].len += n;
	} else {
		if (heap.n == heap.cap) {
			struct extent *v = realloc(heap.free, heap.cap * 2 * sizeof(*v));

			if (!v) {
				pthread_mutex_unlock(&heap.lock);
				return;
			}
			heap.free = v;
			heap.cap *= 2;
		}
		memmove(&heap.free[i + 1], &heap.free[i], (heap.n - i) * sizeof(*heap.free));
		heap.free[i] = (struct extent){ off, n };
		heap.n++;
	}
	pthread_mutex_unlock(&heap.lock);
}

CUdeviceptr vgpu_heap_device(uint64_t off)
{
	CUdeviceptr d = 0;

	pthread_mutex_lock(&heap.lock);
	if (heap.state > 0 && heap.dev && off - heap.slice_off < heap.slice_len)
		d = heap.dev + (off - heap.slice_off);
	pthread_mutex_unlock(&heap.lock);
	return d;
}

void *vgpu_heap_from_device(CUdeviceptr p)
{
	void *h = NULL;

	pthread_mutex_lock(&heap.lock);
	if (heap.state > 0 && heap.dev && p - heap.dev < heap.slice_len)
		h = heap.base + heap.slice_off + (p - heap.dev);
	pthread_mutex_unlock(&heap.lock);
	return h;
}
