/* SPDX-License-Identifier: MIT */
/*
 * A raw client of the executor's local transport, for the malicious-client
 * suite: it speaks ATTACH (include/vgpu/local.h) and the rings
 * (include/vgpu/ring.h, calls.h) itself, so a test can do what no shim
 * would - and can still be a well-behaved, healthy session beside it.
 *
 * Waits wait for progress: a call gives up only after HC_STALL_MS (default
 * 120 s, $HC_STALL_MS) with no answer, which on any machine means a hang.
 */
#ifndef VGPU_HCLIENT_H
#define VGPU_HCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vgpu/bar1.h"
#include "vgpu/calls.h"
#include "vgpu/local.h"
#include "vgpu/ring.h"

/* Pseudo-statuses of hc_call() beyond CUresult's range. */
#define HC_GONE		0xfffffff0u	/* the executor ended the session */
#define HC_STALLED	0xfffffff1u	/* no answer for HC_STALL_MS */
#define HC_NO_ROOM	0xfffffff2u	/* the submission ring stayed full */

#define HC_CTX		VGPU_FIRST_ID	/* the primary context's id in hc_start() */

struct hc_session {
	int sock, bar0_fd, bar1_fd, db, irq;
	volatile uint32_t *bar0;
	uint8_t *bar1;
	uint64_t bar0_size, bar1_size, session_id;
	int32_t attach_status;	/* what the executor answered ATTACH */
	struct vgpu_layout l;
	struct vgpu_channel_ctrl *ctrl;
	struct vgpu_sq_producer sq;
	struct vgpu_cq_consumer cq;
	uint8_t *bulk;
	uint64_t bulk_size, bulk_seq, next_tag;
	struct vgpu_hello_reply hello;
};

/* Connect to @path; -1 on failure. */
int hc_connect(const char *path);

/*
 * Attach over a new connection to @path.  0: attached; 1: the executor
 * answered with a refusal (s->attach_status); -1: no answer (closed, broken).
 */
int hc_attach(const char *path, struct hc_session *s);
void hc_close(struct hc_session *s);

/*
 * One call: a record with @args and @tail, REPLY set when @ans is wanted
 * (ans may be NULL with @reply true).  Returns the answer's status, 0 for an
 * unanswered call that was submitted, or HC_*.
 */
uint32_t hc_call(struct hc_session *s, uint16_t op, bool reply, uint32_t ctx, const void *args,
		 size_t len, const void *tail, size_t tail_len, struct vgpu_completion *ans);

/* Submit a record with @flags and return at once; 0, or HC_* when it could not be placed. */
uint32_t hc_submit(struct hc_session *s, uint16_t op, uint16_t flags, uint32_t ctx,
		   const void *args, size_t len);

/* HELLO and a primary context with id HC_CTX; 0 or the failing status. */
uint32_t hc_start(struct hc_session *s);

/* A healthy session's work: allocate, write, read back, compare, free.  0 when right. */
int hc_roundtrip(struct hc_session *s, uint64_t bytes);

/* Upload @len bytes as the image whose hash they have, chunk by chunk through bulk. */
uint32_t hc_upload_image(struct hc_session *s, const void *img, uint64_t len,
			 uint8_t hash[VGPU_HASH_SIZE]);

/* The executor's STATUS text (malloc'd), or NULL. */
char *hc_status(const char *path);

/* Milliseconds without progress after which a wait gives up. */
int hc_stall_ms(void);

#endif /* VGPU_HCLIENT_H */
