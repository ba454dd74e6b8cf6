/* SPDX-License-Identifier: MIT */
/*
 * The state of one session, held by its worker: the channel's rings, the
 * handle table, kept asynchronous errors and bulk data in flight.
 */
#ifndef VGPU_SESSION_H
#define VGPU_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "idmap.h"
#include "module_cache.h"
#include "quota.h"
#include "real_driver.h"
#include "streams.h"
#include "vgpu/bar1.h"
#include "vgpu/ring.h"
#include "worker.h"

/* Handle types in the session's table. */
enum vgpu_obj_type {
	VGPU_OBJ_CTX = 1,
	VGPU_OBJ_MODULE,
	VGPU_OBJ_LIBRARY,
	VGPU_OBJ_FUNCTION,
	VGPU_OBJ_KERNEL,
	VGPU_OBJ_STREAM,
	VGPU_OBJ_EVENT,
	VGPU_OBJ_VMM_ALLOC,	/* a physical allocation of cuMemCreate (vmm.h) */
	VGPU_OBJ_POOL,		/* a memory pool (vmm.h) */
	VGPU_OBJ_GRAPH,		/* obj: the CUgraph; aux32 0: graphs belong to no context */
	VGPU_OBJ_GRAPH_EXEC,	/* obj: the CUgraphExec */
};

#define VGPU_MAX_HANDLES	(1u << 20)
#define VGPU_MAX_ALLOCS		(1u << 22)

struct vgpu_wait;
struct vgpu_vmm;

struct vgpu_session {
	const struct vgpu_worker_channel *ch;
	struct vgpu_real_driver drv;
	bool driver_ready;
	char driver_error[256];

	struct vgpu_channel_ctrl *ctrl;
	struct vgpu_sq_consumer sq;
	struct vgpu_cq_producer cq;
	uint8_t *channel;	/* the channel's memory: control block, rings, bulk */
	uint8_t *bulk;
	uint64_t bulk_size;
	uint64_t bulk_slot_size;
	uint32_t bulk_slots;
	bool bulk_registered;	/* pinned with the real driver: copies are real DMA */
	uint8_t *stage;		/* when it could not be: a pinned mirror of bulk, or NULL */
	CUdeviceptr host_flags;	/* ctrl.host_flag as the GPU sees it; 0: no host functions */
	uint8_t *heap;		/* this channel's slice of BAR1's pinned-memory heap, or NULL */
	uint64_t heap_off, heap_len;	/* the slice within BAR1 */
	bool heap_registered;	/* pinned with the real driver: copies from and to it are DMA */
	CUdeviceptr heap_dev;	/* the slice as the GPU sees it (mapped), or 0 */
	uint32_t host_gen[VGPU_HOST_FLAGS];	/* the newest generation a stream waits for, per slot */
	bool host_gen_set[VGPU_HOST_FLAGS];	/* host_gen holds one */

	struct vgpu_idmap handles;
	struct vgpu_idmap allocs;	/* dptr -> size */
	struct vgpu_idmap gthreads;	/* guest thread id -> struct vgpu_gthread */
	struct vgpu_idmap pt_streams;	/* ctx id << 32 | thread -> per-thread default stream */
	uint64_t mem_used;
	struct vgpu_quota quota;	/* the instance's memory account, as this session sees it */
	struct vgpu_vmm *vmm;	/* virtual memory and pools, once used (vmm.h) */

	CUcontext current;	/* the worker thread's current context */
	uint64_t current_id;
	struct vgpu_xctx *cur;	/* its entry, NULL when none */
	struct vgpu_xctx *dead_ctxs;	/* released, freed at the end (streams.h) */
	bool closing;		/* GOODBYE seen or the guest broke the protocol */
	struct vgpu_graph_hosts *graph_hosts;	/* host functions captured into graphs (graph_host.c) */

	/* Work the worker waits for without blocking (waits.c). */
	struct vgpu_wait *waits, **waits_tail;
	uint32_t nwaits, nwaits_answer;
	uint32_t pass, arm_round;
	int notify_fd;		/* eventfd the helper streams' callbacks write */
	/* Messages to the guest not yet posted, and the positions of those posted. */
	struct vgpu_msg_queued *msgs, **msgs_tail;
	uint64_t msg_pos[64];
	uint32_t msg_head, msg_tail, msg_budget;

	struct vgpu_module_cache cache;
	uint8_t *cmd_buf;	/* private copy of the record being executed */
	uint32_t cmd_buf_size;
};

/* Post a completion for @tag (waits for room; closes the session if the guest never makes any). */
void vgpu_session_reply(struct vgpu_session *s, uint64_t tag, uint32_t status, const void *data,
			uint32_t len);

/*
 * Execute one record (a private copy, @size bytes, header included).  Never
 * trusts a byte of it: every length, offset and id is checked.
 */
void vgpu_dispatch(struct vgpu_session *s, const void *rec, uint32_t size);

/* Bulk slot @slot's outgoing data of sequence @seq is no longer read: tell the guest. */
void vgpu_session_retire_now(struct vgpu_session *s, uint32_t slot, uint64_t seq);

/*
 * One turn of the worker's loop besides the ring: complete the waits whose
 * work finished and post queued messages.  Returns true if anything moved.
 */
bool vgpu_session_poll(struct vgpu_session *s);

/* Block until every wait completed (teardown and tests only, never the loop). */
void vgpu_session_drain(struct vgpu_session *s);

/* Free every device object the session holds; the session stays usable. */
void vgpu_session_release_objects(struct vgpu_session *s);

/* Release every object of the session and its memory (at its end). */
void vgpu_session_teardown(struct vgpu_session *s);

/* Set up @s over @ch (rings, tables); the driver is loaded at HELLO. */
int vgpu_session_init(struct vgpu_session *s, const struct vgpu_worker_channel *ch);

#endif /* VGPU_SESSION_H */
