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
#include "real_driver.h"
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
};

#define VGPU_MAX_HANDLES	(1u << 20)
#define VGPU_MAX_ALLOCS		(1u << 22)
#define VGPU_RETIRE_SLOTS	256u

/* Bulk data the copy engine may still read, in submission order. */
struct vgpu_retire {
	uint64_t seq;
	CUevent done;		/* NULL: nothing in flight */
};

struct vgpu_session {
	const struct vgpu_worker_channel *ch;
	struct vgpu_real_driver drv;
	bool driver_ready;
	char driver_error[256];

	struct vgpu_channel_ctrl *ctrl;
	struct vgpu_sq_consumer sq;
	struct vgpu_cq_producer cq;
	uint8_t *bulk;
	uint64_t bulk_size;
	bool bulk_registered;	/* pinned with the real driver: copies are real DMA */

	struct vgpu_idmap handles;
	struct vgpu_idmap allocs;	/* dptr -> size */
	uint64_t mem_used;

	CUcontext current;	/* the worker thread's current context */
	uint64_t current_id;
	CUresult deferred;	/* first error of asynchronous work not yet reported */
	bool closing;		/* GOODBYE seen or the guest broke the protocol */

	struct vgpu_retire retire[VGPU_RETIRE_SLOTS];
	uint32_t retire_head, retire_tail;

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

/* Publish bulk retirement for every finished copy; with @wait, block for the oldest first. */
void vgpu_session_retire(struct vgpu_session *s, bool wait);

/* Free every device object the session holds; the session stays usable. */
void vgpu_session_release_objects(struct vgpu_session *s);

/* Release every object of the session and its memory (at its end). */
void vgpu_session_teardown(struct vgpu_session *s);

/* Set up @s over @ch (rings, tables); the driver is loaded at HELLO. */
int vgpu_session_init(struct vgpu_session *s, const struct vgpu_worker_channel *ch);

#endif /* VGPU_SESSION_H */
