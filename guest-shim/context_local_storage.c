// SPDX-License-Identifier: MIT
/*
 * Context-local storage: where each copy of the CUDA runtime in a process
 * (libcudart and the static copies inside cuBLAS, cuDNN, NCCL...) keeps its
 * state for a context.  cudart uses its own manager object as the key, so
 * copies never collide; it puts once per context, gets on its first call in
 * each thread, deletes at exit (then frees the value itself), and relies on
 * the destructor when a context is destroyed or a primary context reset
 * (then it frees the value in the destructor and does not delete).  So
 * delete must not run the destructor, and destroying a context must.
 *
 * A context holds a handful of entries (one per runtime copy), so a flat
 * array searched linearly under one lock is enough.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "context_local_storage.h"

struct cls_entry {
	CUcontext ctx;
	void *key;
	void *value;
	vgpu_cls_dtor dtor;
};

static pthread_mutex_t cls_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cls_entry *cls_entries;
static size_t cls_count, cls_capacity;

/* A NULL context means the calling thread's current one. */
static CUresult cls_resolve(CUcontext *ctx)
{
	if (!*ctx)
		*ctx = vgpu_ctx_current();
	return *ctx ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

/* Index of (@ctx, @key), or cls_count; with cls_lock held. */
static size_t cls_find(CUcontext ctx, const void *key)
{
	size_t i;

	for (i = 0; i < cls_count; i++)
		if (cls_entries[i].ctx == ctx && cls_entries[i].key == key)
			break;
	return i;
}

/* With cls_lock held; keeps the order, so destructors run oldest first. */
static void cls_remove(size_t i)
{
	memmove(&cls_entries[i], &cls_entries[i + 1],
		(cls_count - i - 1) * sizeof(cls_entries[0]));
	cls_count--;
}

CUresult vgpu_cls_put(CUcontext ctx, void *key, void *value, vgpu_cls_dtor dtor)
{
	CUresult res = cls_resolve(&ctx);
	size_t i;

	if (res != CUDA_SUCCESS)
		return res;
	pthread_mutex_lock(&cls_lock);
	i = cls_find(ctx, key);
	if (i == cls_count && cls_count == cls_capacity) {
		size_t cap = cls_capacity ? 2 * cls_capacity : 16;
		struct cls_entry *e = realloc(cls_entries, cap * sizeof(*e));

		if (!e) {
			pthread_mutex_unlock(&cls_lock);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		cls_entries = e;
		cls_capacity = cap;
	}
	if (i == cls_count)
		cls_count++;
	cls_entries[i] = (struct cls_entry){ ctx, key, value, dtor };
	pthread_mutex_unlock(&cls_lock);
	return CUDA_SUCCESS;
}

CUresult vgpu_cls_delete(CUcontext ctx, void *key)
{
	CUresult res = cls_resolve(&ctx);
	size_t i;

	if (res != CUDA_SUCCESS)
		return res;
	pthread_mutex_lock(&cls_lock);
	i = cls_find(ctx, key);
	if (i < cls_count)
		cls_remove(i);
	else
		res = CUDA_ERROR_NOT_FOUND;
	pthread_mutex_unlock(&cls_lock);
	return res;
}

/*
 * cudart takes any error for "no state yet" and creates it, so the code
 * of a missing key only needs to be an error; NOT_FOUND says what it is.
 */
CUresult vgpu_cls_get(void **value, CUcontext ctx, void *key)
{
	CUresult res;
	size_t i;

	if (!value)
		return CUDA_ERROR_INVALID_VALUE;
	res = cls_resolve(&ctx);
	if (res != CUDA_SUCCESS)
		return res;
	pthread_mutex_lock(&cls_lock);
	i = cls_find(ctx, key);
	if (i < cls_count)
		*value = cls_entries[i].value;
	else
		res = CUDA_ERROR_NOT_FOUND;
	pthread_mutex_unlock(&cls_lock);
	return res;
}

/*
 * Destructors run without the lock: cudart's destructor tears down its
 * per-context state and may call back into the driver, this table included.
 */
void vgpu_cls_context_destroyed(CUcontext ctx)
{
	for (;;) {
		struct cls_entry e;
		size_t i;

		pthread_mutex_lock(&cls_lock);
		for (i = 0; i < cls_count && cls_entries[i].ctx != ctx; i++)
			;
		if (i == cls_count) {
			pthread_mutex_unlock(&cls_lock);
			return;
		}
		e = cls_entries[i];
		cls_remove(i);
		pthread_mutex_unlock(&cls_lock);
		if (e.dtor)
			e.dtor(ctx, e.key, e.value);
	}
}
