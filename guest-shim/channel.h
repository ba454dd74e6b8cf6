/* SPDX-License-Identifier: MIT */
/*
 * The shim's side of one channel: putting records on the submission ring,
 * waiting for answers, and the bulk area.
 *
 * Calls that need no answer (launches, asynchronous copies, event records)
 * are submitted and return at once.  A call that needs its answer submits
 * with a tag and waits; any thread waiting polls the completion ring for
 * everyone, briefly spinning and then sleeping on the interrupt.
 */
#ifndef VGPU_CHANNEL_H
#define VGPU_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver_api.h"
#include "transport.h"
#include "vgpu/calls.h"
#include "vgpu/ring.h"

/* An answer: status and up to 40 bytes of data. */
struct vgpu_answer {
	uint32_t status;
	uint32_t len;
	uint8_t data[VGPU_CQ_INLINE];
};

/* Open the transport and set up the channel; 0 or -1 with @err filled. */
int vgpu_channel_open(char *err, size_t err_len);

/* The session is usable (opened, not closed by the executor). */
bool vgpu_channel_alive(void);

/* After fork(): the child must never touch the parent's channel. */
void vgpu_channel_forget(void);

/*
 * Submit @op with arguments @args (@len bytes) and @tail (@tail_len bytes)
 * after them.  Without VGPU_CMD_F_REPLY in @flags it returns once the record
 * is on the ring; with it, it waits and fills @ans.  Returns CUDA_SUCCESS,
 * or the answer's status, or CUDA_ERROR_DEVICE_UNAVAILABLE when the session
 * is gone.
 */
CUresult vgpu_call(uint16_t op, uint16_t flags, uint32_t ctx, const void *args, size_t len,
		   const void *tail, size_t tail_len, struct vgpu_answer *ans);

/*
 * A call whose answer is collected later: vgpu_call_begin() submits (with
 * VGPU_CMD_F_REPLY) and registers @p; vgpu_call_end() waits for the answer.
 * Every begun call must be ended.  Answers may be collected in any order.
 */
struct vgpu_pending {
	uint64_t tag;
	bool done;
	bool begun;
	struct vgpu_answer ans;
	struct vgpu_pending *next;
};

CUresult vgpu_call_begin(uint16_t op, uint16_t flags, uint32_t ctx, const void *args, size_t len,
			 const void *tail, size_t tail_len, struct vgpu_pending *p);
CUresult vgpu_call_end(struct vgpu_pending *p);

/* A call that waits for its answer. */
static inline CUresult vgpu_call_sync(uint16_t op, uint32_t ctx, const void *args, size_t len,
				      struct vgpu_answer *ans)
{
	return vgpu_call(op, VGPU_CMD_F_REPLY, ctx, args, len, NULL, 0, ans);
}

/* The largest trailing payload one record can carry after @args_len bytes. */
size_t vgpu_max_tail(size_t args_len);

/* ---- bulk area ---- */

/* One allocation in the bulk area. */
struct vgpu_bulk_buf {
	uint8_t *ptr;
	struct vgpu_bulk_ref ref;
	uint64_t seq;		/* nonzero for data the executor reads */
	uint32_t slot;
};

/* The largest single bulk allocation. */
uint64_t vgpu_bulk_max(void);

/*
 * Allocate @len bytes of bulk for data going to the executor; the executor
 * retires it (in order) after reading it.  Called with the bulk lock held,
 * so that sequence order is submission order: lock, allocate, fill, submit,
 * unlock.  Returns false if the session died while waiting for room.
 */
void vgpu_bulk_lock(void);
void vgpu_bulk_unlock(void);
bool vgpu_bulk_alloc_out(uint64_t len, struct vgpu_bulk_buf *b);

/* Allocate @len bytes for data coming back; free with vgpu_bulk_free_in(). */
bool vgpu_bulk_alloc_in(uint64_t len, struct vgpu_bulk_buf *b);
void vgpu_bulk_free_in(struct vgpu_bulk_buf *b);

#endif /* VGPU_CHANNEL_H */
