/* SPDX-License-Identifier: MIT */
/*
 * The shim's side of one channel: putting records on the submission ring,
 * waiting for answers, messages from the executor, and the bulk area.
 *
 * Calls that need no answer (launches, asynchronous copies, event records)
 * are submitted and return at once.  A call that needs its answer submits
 * with a tag and waits; answers may come in any order and are matched by
 * tag.  Every waiting thread polls the completion ring for everyone for a
 * while; then one of them sleeps on the interrupt and the others on a
 * condition variable it signals.
 *
 * Nothing here waits for a resource while it holds another (decision 4): a
 * thread that holds bulk space or answer slots asks for more only with the
 * non-waiting forms, and collects what it holds when they say no.
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

/* The executor's HELLO answer arrived: check its version and features. */
void vgpu_channel_hello_done(uint16_t exec_minor, uint32_t features);

/* The executor can make streams wait for host functions (VGPU_FEATURE_HOST_FUNC). */
bool vgpu_channel_host_funcs(void);

/* The session is usable (opened, not closed by the executor). */
bool vgpu_channel_alive(void);

/* After fork(): the child must never touch the parent's channel. */
void vgpu_channel_forget(void);

/* [@off, @off + @len) of BAR1 in this process, or NULL when it is not all there. */
uint8_t *vgpu_channel_bar1_range(uint64_t off, uint64_t len);

/* The calling thread's id in records (>= 1), assigned on first use. */
uint32_t vgpu_thread_id(void);

/*
 * Submit @op with arguments @args (@len bytes) and @tail (@tail_len bytes)
 * after them.  Without VGPU_CMD_F_REPLY in @flags it returns once the record
 * is on the ring; with it, it waits and fills @ans.  Returns CUDA_SUCCESS,
 * or the answer's status, or CUDA_ERROR_DEVICE_UNAVAILABLE when the session
 * is gone.  With VGPU_SYNC=1 in the environment every call waits for its
 * answer and returns its own error (for debugging).
 */
CUresult vgpu_call(uint16_t op, uint16_t flags, uint32_t ctx, const void *args, size_t len,
		   const void *tail, size_t tail_len, struct vgpu_answer *ans);

/*
 * A call whose answer is collected later: vgpu_call_begin() submits (with
 * VGPU_CMD_F_REPLY) and registers @p; vgpu_call_end() waits for the answer.
 * Every begun call must be ended.  Answers may be collected in any order.
 * vgpu_call_begin() waits for an answer slot; vgpu_call_try_begin() does not
 * (CUDA_ERROR_NOT_READY when none is free: collect an answer you hold first).
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
CUresult vgpu_call_try_begin(uint16_t op, uint16_t flags, uint32_t ctx, const void *args,
			     size_t len, struct vgpu_pending *p);
CUresult vgpu_call_end(struct vgpu_pending *p);

/* A call that waits for its answer. */
static inline CUresult vgpu_call_sync(uint16_t op, uint32_t ctx, const void *args, size_t len,
				      struct vgpu_answer *ans)
{
	return vgpu_call(op, VGPU_CMD_F_REPLY, ctx, args, len, NULL, 0, ans);
}

/* The largest trailing payload one record can carry after @args_len bytes. */
size_t vgpu_max_tail(size_t args_len);

/* ---- messages from the executor ---- */

/*
 * The handler of executor-to-guest messages: called by whichever thread
 * drains the completion ring, with no lock held; it must only queue the
 * work and return.
 */
typedef void (*vgpu_msg_handler)(uint32_t type, const void *data, uint32_t len);
void vgpu_channel_set_msg_handler(vgpu_msg_handler fn);

/*
 * Wait until @ready(@arg) is true, draining the completion ring meanwhile
 * and sleeping on the interrupt when @irq is set (a service thread that
 * waits for messages).  False if the session died.
 */
bool vgpu_channel_wait(bool (*ready)(void *arg), void *arg, bool irq);

/* A host function in flag slot @slot returned: the stream waiting for @gen may go. */
void vgpu_channel_set_host_flag(uint32_t slot, uint64_t gen);

/* Wake every thread sleeping in the channel (a message handler queued work). */
void vgpu_channel_kick(void);

/* ---- bulk area ---- */

/* One allocation in the bulk area: a run of whole slots. */
struct vgpu_bulk_buf {
	uint8_t *ptr;
	struct vgpu_bulk_ref ref;
	uint32_t slot;		/* the run's first slot */
	uint32_t nslots;
};

/* The largest single bulk allocation. */
uint64_t vgpu_bulk_max(void);

/* The size a copy's chunk should have: big enough for bandwidth, small enough to pipeline. */
uint64_t vgpu_bulk_chunk(void);

/* One slot's size, and the slot count: a copy needs only one free slot to progress. */
uint64_t vgpu_bulk_slot_size(void);
uint32_t vgpu_bulk_slots(void);

/*
 * Allocate @len bytes of bulk.  With @wait it waits for room (the caller
 * must hold no other bulk allocation, nor a begun call); without, it
 * returns false at once when there is none.  False also when the session
 * died or @len exceeds vgpu_bulk_max().
 */
bool vgpu_bulk_alloc(uint64_t len, bool wait, struct vgpu_bulk_buf *b);

/* Free an allocation whose bytes came back (or that was never sent). */
void vgpu_bulk_free(struct vgpu_bulk_buf *b);

/*
 * Submit @op whose arguments carry outgoing data in @b: the uint64_t at
 * @seq_off within @args receives the bulk sequence number (the record's
 * seal), and @b belongs to the executor until it retires that number.
 * Asynchronous unless @flags has VGPU_CMD_F_REPLY.
 */
CUresult vgpu_call_bulk_out(uint16_t op, uint16_t flags, uint32_t ctx, void *args, size_t len,
			    size_t seq_off, struct vgpu_bulk_buf *b);

#endif /* VGPU_CHANNEL_H */
