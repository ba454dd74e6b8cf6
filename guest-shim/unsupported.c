// SPDX-License-Identifier: MIT
/*
 * What an exported function the shim does not implement returns: a real
 * error (decision 2: never a fake success), with one log line the first time
 * each is called, so VGPU_LOG shows which calls an application needs without
 * flooding the log from a loop.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "shim.h"

/*
 * Names already logged: an open-addressing set of pointers to the callers'
 * names (static strings), filled with compare-and-swap so that any thread
 * may call without a lock.  Its fixed size bounds the memory; the driver
 * exports 637 names, and should more distinct names than slots come, the
 * extra ones are logged at every call rather than never.
 */
#define SEEN_SLOTS 1024u

static _Atomic(const char *) seen[SEEN_SLOTS];

/* FNV-1a: names differ mostly in their tails, so hash every byte. */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* True the first time @name (compared by content) comes here. */
static bool first_call(const char *name)
{
	uint32_t h = name_hash(name);

	for (uint32_t i = 0; i < SEEN_SLOTS; i++) {
		_Atomic(const char *) *slot = &seen[(h + i) % SEEN_SLOTS];
		const char *cur = atomic_load_explicit(slot, memory_order_acquire);

		if (!cur) {
			if (atomic_compare_exchange_strong_explicit(
				    slot, &cur, name, memory_order_acq_rel,
				    memory_order_acquire))
				return true;
			/* Another thread took the slot: cur is its name. */
		}
		if (!strcmp(cur, name))
			return false;
	}
	return true;
}

CUresult vgpu_unsupported(const char *name)
{
	if (vgpu_log_enabled() && first_call(name))
		vgpu_log("%s is not supported: returning CUDA_ERROR_NOT_SUPPORTED",
			 name);
	return CUDA_ERROR_NOT_SUPPORTED;
}
