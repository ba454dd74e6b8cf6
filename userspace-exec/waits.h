/* SPDX-License-Identifier: MIT */
/*
 * Work the worker waits for without blocking (decision 4).
 *
 * The thread that consumes the ring never waits inside the driver.  A call
 * whose answer depends on GPU work - a synchronisation, a device-to-host
 * copy, bulk data the copy engine still reads, a host function the stream
 * reaches - records an event after that work and becomes a *wait*.  The loop
 * polls waits with cuEventQuery between records and completes each when its
 * events did: it posts the answer (answers may go out in any order; the guest
 * matches them by tag), retires the bulk slot, or sends the guest a message.
 *
 * When there is nothing to do for a while the worker sleeps; before it does,
 * it *arms* every pending wait: a helper stream waits for the wait's events
 * and then runs a host function that only writes the worker's notify
 * eventfd, so the worker wakes when the work is done, not on a timer.
 */
#ifndef VGPU_WAITS_H
#define VGPU_WAITS_H

#include <stdbool.h>
#include <stdint.h>

#include "real_driver.h"
#include "vgpu/calls.h"
#include "vgpu/ring.h"

struct vgpu_session;
struct vgpu_xctx;
struct vgpu_xstream;
struct vgpu_xevent;

enum vgpu_wait_kind {
	VGPU_WAIT_ANSWER = 1,	/* post the answer of a call */
	VGPU_WAIT_RETIRE,	/* bulk slot's outgoing data was read */
	VGPU_WAIT_HOST_FUNC,	/* the stream reached a host function: ask the guest to run it */
	VGPU_WAIT_MEM_FREE,	/* the context's work is done: free, then answer */
};

#define VGPU_WAIT_INLINE_EVENTS	2u

struct vgpu_wait {
	struct vgpu_wait *next;
	enum vgpu_wait_kind kind;
	uint32_t ctx_id;
	struct vgpu_xstream *xs;	/* the one stream it waits on, or NULL */
	struct vgpu_xevent *borrowed;	/* a guest event it polls (event synchronise), or NULL */
	CUevent *ev;			/* events still outstanding (owned, from the pool) */
	uint32_t nev, evcap;
	CUevent inline_ev[VGPU_WAIT_INLINE_EVENTS];
	bool armed;
	CUresult err;			/* the first error an event reported */

	/* ANSWER and MEM_FREE */
	uint64_t tag;
	uint16_t flags;			/* the call's VGPU_CMD_F_* */
	uint32_t thread;
	uint64_t stream;		/* the stream whose kept errors the answer reports */
	CUresult status;		/* the call's own result, if it failed already */
	uint8_t *copy_src;		/* stage fallback: bytes to copy into bulk on completion */
	uint8_t *copy_dst;
	uint64_t copy_len;
	/* RETIRE */
	uint32_t slot;
	uint64_t seq;
	/* HOST_FUNC */
	struct vgpu_msg_host_func msg;
	bool callback;
	/* MEM_FREE */
	uint64_t dptr;
};

/* A queued message to the guest (the budget was exhausted when it was due). */
struct vgpu_msg_queued {
	struct vgpu_msg_queued *next;
	uint32_t type;
	uint32_t len;
	uint8_t data[VGPU_CQ_INLINE];
};

/* Where the wake-up host functions write (the worker's notify eventfd). */
void vgpu_waits_set_notify_fd(int fd);
/* Wake the worker (from any thread: the driver's callback thread too). */
void vgpu_waits_notify(void);

/* A new wait (zeroed) of @kind in context @x, with room for @nev events; NULL on no memory. */
struct vgpu_wait *vgpu_wait_new(enum vgpu_wait_kind kind, struct vgpu_xctx *x, uint32_t nev);

/*
 * Record one of @x's pool events on @xs for @w (its next event slot).
 * CUDA_SUCCESS, or the driver's error (the wait is then not queued).
 */
CUresult vgpu_wait_record(struct vgpu_session *s, struct vgpu_wait *w, struct vgpu_xctx *x,
			  struct vgpu_xstream *xs);

/* Queue @w: it completes when every event recorded for it (and its borrowed event) did. */
void vgpu_wait_queue(struct vgpu_session *s, struct vgpu_wait *w);

/* Free a wait that was never queued, returning its events to the pool. */
void vgpu_wait_discard(struct vgpu_session *s, struct vgpu_wait *w);

/* Poll every pending wait once; true if one completed. */
bool vgpu_waits_poll(struct vgpu_session *s);

/*
 * Arm every pending wait so that the notify eventfd fires when it is done.
 * False if one could not be armed: then the caller must not sleep forever.
 */
bool vgpu_waits_arm(struct vgpu_session *s);

/*
 * Complete every wait of context @ctx_id at once with @err (the context
 * goes; with @driver_gone it went already and took its events).
 */
void vgpu_waits_abort_ctx(struct vgpu_session *s, uint32_t ctx_id, CUresult err,
			  bool driver_gone);

/* Forget @xs in the pending waits (the stream was destroyed). */
void vgpu_waits_forget_stream(struct vgpu_session *s, struct vgpu_xstream *xs);

/* Send the guest a message, now or once the message budget allows. */
void vgpu_msg_send(struct vgpu_session *s, uint32_t type, const void *data, uint32_t len);

/* Post queued messages as far as the budget allows; true if one went out. */
bool vgpu_msgs_flush(struct vgpu_session *s);

#endif /* VGPU_WAITS_H */
