// SPDX-License-Identifier: MIT
/*
 * Streams and events.  Creating one is asynchronous (the guest chose its id;
 * a failure surfaces at the next synchronising call), as are recording an
 * event and making a stream wait for one.  Queries and synchronisation wait,
 * and report errors kept from earlier asynchronous work.
 */
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "channel.h"
#include "context.h"
#include "host_func.h"
#include "shim.h"
#include "state.h"
#include "stream_ref.h"

CUresult vgpu_stream_ref(CUstream st, bool per_thread, struct vgpu_stream_ref *out)
{
	struct vgpu_stream *s;
	CUresult r;

	if (st == NULL || st == CU_STREAM_LEGACY || st == CU_STREAM_PER_THREAD) {
		r = vgpu_current_checked(&out->ctx);
		if (st == CU_STREAM_LEGACY)
			out->id = VGPU_STREAM_LEGACY;
		else if (st == CU_STREAM_PER_THREAD || per_thread)
			out->id = VGPU_STREAM_PER_THREAD;
		else
			out->id = VGPU_STREAM_NULL;
		return r;
	}
	r = vgpu_ready();
	if (r != CUDA_SUCCESS)
		return r;
	s = vgpu_check(st, VGPU_KIND_STREAM);
	if (!s)
		return CUDA_ERROR_INVALID_HANDLE;
	out->id = s->o.id;
	out->ctx = s->ctx;
	return CUDA_SUCCESS;
}

/* A call on a stream that waits and may report earlier asynchronous errors. */
static CUresult stream_sync_call(uint16_t op, CUstream st, bool pt)
{
	struct vgpu_stream_ref s;
	struct vgpu_stream_args a;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	/* Waiting from a host function could wait for the stream that waits for it. */
	if (op == VGPU_OP_STREAM_SYNCHRONIZE && vgpu_in_host_func())
		return CUDA_ERROR_NOT_PERMITTED;
	r = vgpu_capture_use(st, &s, VGPU_USE_SYNC);
	if (r != CUDA_SUCCESS)
		return r;
	a.stream = s.id;
	return vgpu_call(op, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC, vgpu_ctx_wire(s.ctx), &a,
			 sizeof(a), NULL, 0, NULL);
}

CUresult CUDAAPI cuStreamCreateWithPriority(CUstream *phStream, unsigned int flags, int priority)
{
	struct vgpu_stream_create_args a = { .flags = flags, .priority = priority };
	struct vgpu_stream *s;
	struct vgpu_ctx *c;
	CUresult r;

	if (!phStream || flags & ~(unsigned int)CU_STREAM_NON_BLOCKING)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_current_checked(&c);
	if (r != CUDA_SUCCESS)
		return r;
	s = malloc(sizeof(*s));
	if (!s)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*s = (struct vgpu_stream){ .o = { VGPU_KIND_STREAM, vgpu_new_id() }, .ctx = c,
				   .flags = flags, .priority = priority };
	a.id = s->o.id;
	r = vgpu_call(VGPU_OP_STREAM_CREATE, 0, vgpu_ctx_wire(c), &a, sizeof(a), NULL, 0, NULL);
	if (r != CUDA_SUCCESS) {
		free(s);
		return r;
	}
	*phStream = (CUstream)s;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamCreate(CUstream *phStream, unsigned int Flags)
{
	return cuStreamCreateWithPriority(phStream, Flags, 0);
}

CUresult CUDAAPI cuStreamDestroy_v2(CUstream hStream)
{
	struct vgpu_stream *s = vgpu_check(hStream, VGPU_KIND_STREAM);
	struct vgpu_stream_args a;
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!s)
		return CUDA_ERROR_INVALID_HANDLE;
	{
		struct vgpu_stream_ref ref = { .id = s->o.id, .ctx = s->ctx };

		vgpu_capture_stream_destroyed(hStream, &ref);
	}
	a.stream = s->o.id;
	/* Work still queued runs to completion; the executor's driver sees to that. */
	r = vgpu_call(VGPU_OP_STREAM_DESTROY, 0, vgpu_ctx_wire(s->ctx), &a, sizeof(a), NULL, 0,
		      NULL);
	s->o.kind = VGPU_KIND_DEAD;
	free(s);
	return r;
}

CUresult CUDAAPI cuStreamDestroy(CUstream hStream)
{
	return cuStreamDestroy_v2(hStream);
}

CUresult CUDAAPI cuStreamSynchronize(CUstream hStream)
{
	return stream_sync_call(VGPU_OP_STREAM_SYNCHRONIZE, hStream, false);
}

CUresult CUDAAPI cuStreamSynchronize_ptsz(CUstream hStream)
{
	return stream_sync_call(VGPU_OP_STREAM_SYNCHRONIZE, hStream, true);
}

CUresult CUDAAPI cuStreamQuery(CUstream hStream)
{
	return stream_sync_call(VGPU_OP_STREAM_QUERY, hStream, false);
}

CUresult CUDAAPI cuStreamQuery_ptsz(CUstream hStream)
{
	return stream_sync_call(VGPU_OP_STREAM_QUERY, hStream, true);
}

static CUresult wait_event(CUstream st, CUevent ev, unsigned int flags, bool pt)
{
	struct vgpu_event *e = vgpu_check(ev, VGPU_KIND_EVENT);
	struct vgpu_stream_wait_event_args a = { .flags = flags };
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	r = vgpu_capture_wait(e, st, &s);
	if (r != CUDA_SUCCESS)
		return r;
	a.stream = s.id;
	a.event = e->o.id;
	return vgpu_call(VGPU_OP_STREAM_WAIT_EVENT, 0, vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0,
			 NULL);
}

CUresult CUDAAPI cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
	return wait_event(hStream, hEvent, Flags, false);
}

CUresult CUDAAPI cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
	return wait_event(hStream, hEvent, Flags, true);
}

static CUresult stream_info(CUstream st, bool pt, struct vgpu_stream **s, struct vgpu_stream_ref *ref)
{
	CUresult r = vgpu_stream_ref(st, pt, ref);

	/* CU_STREAM_LEGACY and CU_STREAM_PER_THREAD are not pointers. */
	*s = st == CU_STREAM_LEGACY || st == CU_STREAM_PER_THREAD ? NULL
								    : vgpu_check(st, VGPU_KIND_STREAM);
	return r;
}

CUresult CUDAAPI cuStreamGetFlags(CUstream hStream, unsigned int *flags)
{
	struct vgpu_stream_ref ref;
	struct vgpu_stream *s;
	CUresult r;

	if (!flags)
		return CUDA_ERROR_INVALID_VALUE;
	r = stream_info(hStream, false, &s, &ref);
	if (r == CUDA_SUCCESS)
		*flags = s ? s->flags : 0;
	return r;
}

CUresult CUDAAPI cuStreamGetFlags_ptsz(CUstream hStream, unsigned int *flags)
{
	return cuStreamGetFlags(hStream, flags);
}

CUresult CUDAAPI cuStreamGetPriority(CUstream hStream, int *priority)
{
	struct vgpu_stream_ref ref;
	struct vgpu_stream *s;
	CUresult r;

	if (!priority)
		return CUDA_ERROR_INVALID_VALUE;
	r = stream_info(hStream, false, &s, &ref);
	if (r == CUDA_SUCCESS)
		*priority = s ? s->priority : 0;
	return r;
}

CUresult CUDAAPI cuStreamGetPriority_ptsz(CUstream hStream, int *priority)
{
	return cuStreamGetPriority(hStream, priority);
}

CUresult CUDAAPI cuStreamGetCtx(CUstream hStream, CUcontext *pctx)
{
	struct vgpu_stream_ref ref;
	struct vgpu_stream *s;
	CUresult r;

	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	r = stream_info(hStream, false, &s, &ref);
	if (r == CUDA_SUCCESS)
		*pctx = (CUcontext)ref.ctx;
	return r;
}

CUresult CUDAAPI cuStreamGetCtx_ptsz(CUstream hStream, CUcontext *pctx)
{
	return cuStreamGetCtx(hStream, pctx);
}

static CUresult stream_id(CUstream st, bool pt, unsigned long long *out)
{
	struct vgpu_stream_ref ref;
	struct vgpu_stream *s;
	CUresult r;

	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	r = stream_info(st, pt, &s, &ref);
	/*
	 * Created streams are named by their id; each thread's per-thread
	 * default stream is its own stream, so it has its own id too.
	 */
	if (r == CUDA_SUCCESS)
		*out = ref.id == VGPU_STREAM_PER_THREAD
			       ? VGPU_PER_THREAD_STREAM_ID_BASE + vgpu_thread_id()
			       : ref.id;
	return r;
}

CUresult CUDAAPI cuStreamGetId(CUstream hStream, unsigned long long *streamId)
{
	return stream_id(hStream, false, streamId);
}

CUresult CUDAAPI cuStreamGetId_ptsz(CUstream hStream, unsigned long long *streamId)
{
	return stream_id(hStream, true, streamId);
}

/* Capture status lives in capture.c. */

/* ---- stream memory operations ---- */

#define WAIT_FLAGS	(CU_STREAM_WAIT_VALUE_GEQ | CU_STREAM_WAIT_VALUE_EQ | CU_STREAM_WAIT_VALUE_AND | \
			 CU_STREAM_WAIT_VALUE_NOR | CU_STREAM_WAIT_VALUE_FLUSH)

static CUresult value_op(uint16_t op, CUstream st, bool pt, CUdeviceptr addr, uint64_t value,
			 unsigned int flags, uint32_t width)
{
	struct vgpu_stream_value_args a = { .addr = addr, .value = value, .flags = flags,
					    .width = width };
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!addr || addr % width)
		return CUDA_ERROR_INVALID_VALUE;
	if (op == VGPU_OP_STREAM_WAIT_VALUE ? flags & ~(unsigned int)WAIT_FLAGS
					    : flags & ~(unsigned int)CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER)
		return CUDA_ERROR_INVALID_VALUE;
	r = vgpu_capture_use(st, &s, VGPU_USE_ASYNC);
	if (r != CUDA_SUCCESS)
		return r;
	a.stream = s.id;
	return vgpu_call(op, 0, vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0, NULL);
}

#define VALUE_OP(name, op, T, width, pt)                                                  \
	CUresult CUDAAPI name(CUstream st, CUdeviceptr addr, T value, unsigned int flags) \
	{                                                                                 \
		return value_op(op, st, pt, addr, value, flags, width);                   \
	}

VALUE_OP(cuStreamWaitValue32_v2, VGPU_OP_STREAM_WAIT_VALUE, cuuint32_t, 4, false)
VALUE_OP(cuStreamWaitValue32_v2_ptsz, VGPU_OP_STREAM_WAIT_VALUE, cuuint32_t, 4, true)
VALUE_OP(cuStreamWaitValue64_v2, VGPU_OP_STREAM_WAIT_VALUE, cuuint64_t, 8, false)
VALUE_OP(cuStreamWaitValue64_v2_ptsz, VGPU_OP_STREAM_WAIT_VALUE, cuuint64_t, 8, true)
VALUE_OP(cuStreamWriteValue32_v2, VGPU_OP_STREAM_WRITE_VALUE, cuuint32_t, 4, false)
VALUE_OP(cuStreamWriteValue32_v2_ptsz, VGPU_OP_STREAM_WRITE_VALUE, cuuint32_t, 4, true)
VALUE_OP(cuStreamWriteValue64_v2, VGPU_OP_STREAM_WRITE_VALUE, cuuint64_t, 8, false)
VALUE_OP(cuStreamWriteValue64_v2_ptsz, VGPU_OP_STREAM_WRITE_VALUE, cuuint64_t, 8, true)
/* The unversioned names are the v1 (CUDA 8) ABI, which is the same for these four. */
VALUE_OP(cuStreamWaitValue32, VGPU_OP_STREAM_WAIT_VALUE, cuuint32_t, 4, false)
VALUE_OP(cuStreamWaitValue32_ptsz, VGPU_OP_STREAM_WAIT_VALUE, cuuint32_t, 4, true)
VALUE_OP(cuStreamWaitValue64, VGPU_OP_STREAM_WAIT_VALUE, cuuint64_t, 8, false)
VALUE_OP(cuStreamWaitValue64_ptsz, VGPU_OP_STREAM_WAIT_VALUE, cuuint64_t, 8, true)
VALUE_OP(cuStreamWriteValue32, VGPU_OP_STREAM_WRITE_VALUE, cuuint32_t, 4, false)
VALUE_OP(cuStreamWriteValue32_ptsz, VGPU_OP_STREAM_WRITE_VALUE, cuuint32_t, 4, true)
VALUE_OP(cuStreamWriteValue64, VGPU_OP_STREAM_WRITE_VALUE, cuuint64_t, 8, false)
VALUE_OP(cuStreamWriteValue64_ptsz, VGPU_OP_STREAM_WRITE_VALUE, cuuint64_t, 8, true)

/* ---- events ---- */

CUresult CUDAAPI cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
	struct vgpu_event_create_args a = { .flags = Flags };
	struct vgpu_event *e;
	struct vgpu_ctx *c;
	CUresult r;

	if (!phEvent)
		return CUDA_ERROR_INVALID_VALUE;
	if (Flags & ~(unsigned int)(CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING |
				   CU_EVENT_INTERPROCESS))
		return CUDA_ERROR_INVALID_VALUE;
	/* Interprocess events need IPC handles across guests: not offered. */
	if (Flags & CU_EVENT_INTERPROCESS)
		return CUDA_ERROR_NOT_SUPPORTED;
	r = vgpu_current_checked(&c);
	if (r != CUDA_SUCCESS)
		return r;
	e = malloc(sizeof(*e));
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*e = (struct vgpu_event){ .o = { VGPU_KIND_EVENT, vgpu_new_id() }, .ctx = c, .flags = Flags };
	a.id = e->o.id;
	r = vgpu_call(VGPU_OP_EVENT_CREATE, 0, vgpu_ctx_wire(c), &a, sizeof(a), NULL, 0, NULL);
	if (r != CUDA_SUCCESS) {
		free(e);
		return r;
	}
	*phEvent = (CUevent)e;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventDestroy_v2(CUevent hEvent)
{
	struct vgpu_event *e = vgpu_check(hEvent, VGPU_KIND_EVENT);
	struct vgpu_event_args a = { 0 };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	a.event = e->o.id;
	r = vgpu_call(VGPU_OP_EVENT_DESTROY, 0, vgpu_ctx_wire(e->ctx), &a, sizeof(a), NULL, 0, NULL);
	e->o.kind = VGPU_KIND_DEAD;
	free(e);
	return r;
}

CUresult CUDAAPI cuEventDestroy(CUevent hEvent)
{
	return cuEventDestroy_v2(hEvent);
}

static CUresult record(CUevent ev, CUstream st, bool pt)
{
	struct vgpu_event *e = vgpu_check(ev, VGPU_KIND_EVENT);
	struct vgpu_event_args a;
	struct vgpu_stream_ref s;
	CUresult r = vgpu_stream_ref(st, pt, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	r = vgpu_capture_record(e, st, &s);
	if (r != CUDA_SUCCESS)
		return r;
	a.event = e->o.id;
	a.stream = s.id;
	return vgpu_call(VGPU_OP_EVENT_RECORD, 0, vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0, NULL);
}

CUresult CUDAAPI cuEventRecord(CUevent hEvent, CUstream hStream)
{
	return record(hEvent, hStream, false);
}

CUresult CUDAAPI cuEventRecord_ptsz(CUevent hEvent, CUstream hStream)
{
	return record(hEvent, hStream, true);
}

static CUresult event_sync_call(uint16_t op, CUevent ev)
{
	struct vgpu_event *e = vgpu_check(ev, VGPU_KIND_EVENT);
	struct vgpu_event_args a = { 0 };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	if (op == VGPU_OP_EVENT_SYNCHRONIZE && vgpu_in_host_func())
		return CUDA_ERROR_NOT_PERMITTED;
	r = vgpu_capture_unsafe();
	if (r != CUDA_SUCCESS)
		return r;
	a.event = e->o.id;
	return vgpu_call(op, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC, vgpu_ctx_wire(e->ctx), &a,
			 sizeof(a), NULL, 0, NULL);
}

CUresult CUDAAPI cuEventSynchronize(CUevent hEvent)
{
	return event_sync_call(VGPU_OP_EVENT_SYNCHRONIZE, hEvent);
}

CUresult CUDAAPI cuEventQuery(CUevent hEvent)
{
	return event_sync_call(VGPU_OP_EVENT_QUERY, hEvent);
}

CUresult CUDAAPI cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	struct vgpu_event *e0 = vgpu_check(hStart, VGPU_KIND_EVENT);
	struct vgpu_event *e1 = vgpu_check(hEnd, VGPU_KIND_EVENT);
	struct vgpu_event_elapsed_args a;
	struct vgpu_answer ans = { 0 };
	CUresult r = vgpu_ready();

	if (r != CUDA_SUCCESS)
		return r;
	if (!pMilliseconds)
		return CUDA_ERROR_INVALID_VALUE;
	if (!e0 || !e1)
		return CUDA_ERROR_INVALID_HANDLE;
	a.start = e0->o.id;
	a.end = e1->o.id;
	r = vgpu_call(VGPU_OP_EVENT_ELAPSED, VGPU_CMD_F_REPLY | VGPU_CMD_F_REPORT_ASYNC,
		      vgpu_ctx_wire(e0->ctx), &a, sizeof(a), NULL, 0, &ans);
	if (r == CUDA_SUCCESS)
		memcpy(pMilliseconds, ans.data, sizeof(float));
	return r;
}

CUresult CUDAAPI cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	return cuEventElapsedTime_v2(pMilliseconds, hStart, hEnd);
}
