/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Stream memory operations (cuStreamWaitValue32/64_v2,
 * cuStreamWriteValue32/64_v2) and host functions (cuLaunchHostFunc,
 * cuStreamAddCallback), as operations of their stream.
 *
 * A wait holds its stream until the condition holds; its device thread
 * polls the memory (1 µs doubling to 1 ms between looks), so a store by a
 * host thread, another stream's kernel or a write operation releases it.  The
 * memory must be device memory or registered/pinned host memory (its device
 * pointer is its host address), naturally aligned; anything else is
 * CUDA_ERROR_INVALID_VALUE when the operation is submitted.  Wait
 * conditions: GEQ (cyclic), EQ, AND, NOR (the device reports NOR support);
 * CU_STREAM_WAIT_VALUE_FLUSH needs CAN_FLUSH_REMOTE_WRITES, which this
 * device does not have: CUDA_ERROR_NOT_SUPPORTED.  A write stores with
 * release ordering (the documented default barrier);
 * CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER "is not supported in the v2 API"
 * (cuda.h): CUDA_ERROR_INVALID_VALUE, like any unknown flag.
 *
 * A host function runs on its stream's device thread when the stream gets
 * there, without any lock of the double held, and the stream waits until it
 * returned.
 */
#include "fakecuda.h"

#define WAIT_TYPES (CU_STREAM_WAIT_VALUE_GEQ | CU_STREAM_WAIT_VALUE_EQ | CU_STREAM_WAIT_VALUE_AND | \
		    CU_STREAM_WAIT_VALUE_NOR)

static CUresult value_op(const char *call, CUstream s, CUdeviceptr addr, uint64_t value,
			 unsigned flags, bool wide, bool wait)
{
	struct fc_queue *q;
	size_t size = wide ? 8 : 4;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve(call, s, NULL, NULL, &q)))
		return r;
	if (wait) {
		if (flags & CU_STREAM_WAIT_VALUE_FLUSH)
			return CUDA_ERROR_NOT_SUPPORTED;
		if (flags & ~(unsigned)WAIT_TYPES)
			return CUDA_ERROR_INVALID_VALUE;
	} else if (flags != CU_STREAM_WRITE_VALUE_DEFAULT) {
		return CUDA_ERROR_INVALID_VALUE;
	}
	if (addr % size || !fc_range_ok(addr, size))
		return CUDA_ERROR_INVALID_VALUE;
	struct fc_op *op = fc_op_new(wait ? FC_OP_WAIT_VALUE : FC_OP_WRITE_VALUE, call);
	if (!op)
		return CUDA_ERROR_OUT_OF_MEMORY;
	op->value.addr = addr;
	op->value.value = wide ? value : (uint32_t)value;
	op->value.flags = flags;
	op->value.wide = wide;
	return fc_submit(q, op, false);
}

FC_EXPORT CUresult cuStreamWaitValue32_v2(CUstream stream, CUdeviceptr addr, cuuint32_t value,
					  unsigned int flags)
{
	FC_LOCKED(value_op("cuStreamWaitValue32", stream, addr, value, flags, false, true));
}

FC_EXPORT CUresult cuStreamWaitValue64_v2(CUstream stream, CUdeviceptr addr, cuuint64_t value,
					  unsigned int flags)
{
	FC_LOCKED(value_op("cuStreamWaitValue64", stream, addr, value, flags, true, true));
}

FC_EXPORT CUresult cuStreamWriteValue32_v2(CUstream stream, CUdeviceptr addr, cuuint32_t value,
					   unsigned int flags)
{
	FC_LOCKED(value_op("cuStreamWriteValue32", stream, addr, value, flags, false, false));
}

FC_EXPORT CUresult cuStreamWriteValue64_v2(CUstream stream, CUdeviceptr addr, cuuint64_t value,
					   unsigned int flags)
{
	FC_LOCKED(value_op("cuStreamWriteValue64", stream, addr, value, flags, true, false));
}

/* The conditions of CUstreamWaitValue_flags, on 32 or 64 bits. */
static bool satisfied(uint64_t cur, uint64_t v, unsigned type, bool wide)
{
	uint64_t mask = wide ? UINT64_MAX : UINT32_MAX;

	switch (type) {
	case CU_STREAM_WAIT_VALUE_GEQ:
		return wide ? (int64_t)(cur - v) >= 0 : (int32_t)(uint32_t)(cur - v) >= 0;
	case CU_STREAM_WAIT_VALUE_EQ:
		return cur == v;
	case CU_STREAM_WAIT_VALUE_AND:
		return (cur & v) != 0;
	default:	/* NOR */
		return (~(cur | v) & mask) != 0;
	}
}

/* One look at the memory: false if it is no longer there. */
static bool access_value(struct fc_op *op, uint64_t *cur, bool write)
{
	uint64_t base, a = op->value.addr;
	size_t size;
	bool ok;

	pthread_mutex_lock(&fc_mem_lock);
	ok = fc_mem_usable(a, op->value.wide ? 8 : 4, op->seq, write, &base, &size);
	if (ok && write && op->value.wide)
		__atomic_store_n((uint64_t *)(uintptr_t)a, op->value.value, __ATOMIC_RELEASE);
	else if (ok && write)
		__atomic_store_n((uint32_t *)(uintptr_t)a, (uint32_t)op->value.value, __ATOMIC_RELEASE);
	else if (ok && op->value.wide)
		*cur = __atomic_load_n((const uint64_t *)(uintptr_t)a, __ATOMIC_ACQUIRE);
	else if (ok)
		*cur = __atomic_load_n((const uint32_t *)(uintptr_t)a, __ATOMIC_ACQUIRE);
	pthread_mutex_unlock(&fc_mem_lock);
	return ok;
}

bool fc_run_value(struct fc_op *op, uint64_t *fault)
{
	unsigned backoff = 0;
	uint64_t cur = 0;

	if (op->kind == FC_OP_WRITE_VALUE) {
		if (access_value(op, NULL, true))
			return true;
		*fault = op->value.addr;
		return false;
	}
	for (;;) {
		if (!access_value(op, &cur, false)) {
			*fault = op->value.addr;
			return false;
		}
		if (satisfied(cur, op->value.value, op->value.flags & WAIT_TYPES, op->value.wide))
			return true;
		if (fc_op_abandoned(op))
			return true;
		fc_poll_pause(&backoff);
	}
}

/* ------------------------------------------------------------ host functions */

static CUresult host_op(const char *call, CUstream s, CUhostFn fn, CUstreamCallback cb, void *user,
			unsigned flags)
{
	struct fc_queue *q;
	CUresult r = fc_check_init();

	if (r || (r = fc_stream_resolve(call, s, NULL, NULL, &q)))
		return r;
	if ((!fn && !cb) || flags != 0)	/* cuStreamAddCallback: "flags must be 0" */
		return CUDA_ERROR_INVALID_VALUE;
	struct fc_op *op = fc_op_new(fn ? FC_OP_HOST_FN : FC_OP_CALLBACK, call);
	if (!op)
		return CUDA_ERROR_OUT_OF_MEMORY;
	op->host.fn = fn;
	op->host.cb = cb;
	op->host.user = user;
	op->host.handle = s;
	return fc_submit(q, op, false);
}

FC_EXPORT CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData)
{
	FC_LOCKED(host_op("cuLaunchHostFunc", hStream, fn, NULL, userData, 0));
}

FC_EXPORT CUresult cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData,
				       unsigned int flags)
{
	FC_LOCKED(host_op("cuStreamAddCallback", hStream, NULL, callback, userData, flags));
}
