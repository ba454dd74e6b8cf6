// SPDX-License-Identifier: MIT
/* A session's rings, answers, bulk retirement and end. */
#include <errno.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "session.h"
#include "vmm.h"
#include "waits.h"
#include "vgpu/regs.h"

/* A guest that leaves its completion ring full this long is broken. */
#define CQ_FULL_TIMEOUT_NS	(10ull * 1000 * 1000 * 1000)
#define STAGED_IMAGE_LIMIT	(2ull << 30)

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int vgpu_session_init(struct vgpu_session *s, const struct vgpu_worker_channel *ch)
{
	const struct vgpu_layout *l = &ch->layout;
	uint8_t *base = vgpu_channel_base(ch->bar1, l, ch->channel);
	char dir[512];

	memset(s, 0, sizeof(*s));
	s->ch = ch;
	s->channel = base;
	s->ctrl = vgpu_channel_ctrl(ch->bar1, l, ch->channel);
	s->sq = (struct vgpu_sq_consumer){ base + l->sq_offset, l->sq_size, 0, s->ctrl };
	s->cq = (struct vgpu_cq_producer){ (struct vgpu_completion *)(base + l->cq_offset),
					   l->cq_entries, 0, s->ctrl };
	s->bulk = base + l->bulk_offset;
	s->bulk_size = l->bulk_size;
	vgpu_bulk_geometry(s->bulk_size, &s->bulk_slot_size, &s->bulk_slots);
	s->msg_budget = vgpu_msg_budget(l->cq_entries);
	if (s->msg_budget > sizeof(s->msg_pos) / sizeof(s->msg_pos[0]))
		s->msg_budget = sizeof(s->msg_pos) / sizeof(s->msg_pos[0]);
	s->waits_tail = &s->waits;
	s->msgs_tail = &s->msgs;
	/* The largest record the guest may submit is a quarter of the ring. */
	s->cmd_buf_size = (uint32_t)(l->sq_size / 4);
	s->cmd_buf = aligned_alloc(64, s->cmd_buf_size);
	s->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!s->cmd_buf || s->notify_fd < 0) {
		free(s->cmd_buf);
		return -1;
	}
	vgpu_waits_set_notify_fd(s->notify_fd);
	vgpu_idmap_init(&s->handles, VGPU_MAX_HANDLES);
	vgpu_idmap_init(&s->allocs, VGPU_MAX_ALLOCS);
	vgpu_idmap_init(&s->gthreads, VGPU_MAX_GUEST_THREADS);
	vgpu_idmap_init(&s->pt_streams, VGPU_MAX_GUEST_THREADS * 4);
	vgpu_module_cache_default_dir(dir, sizeof(dir));
	vgpu_module_cache_init(&s->cache, dir, STAGED_IMAGE_LIMIT);
	vgpu_quota_init(s);

	/* The executor's published indices start where this session starts. */
	s->sq.head = __atomic_load_n(&s->ctrl->sq_head, __ATOMIC_ACQUIRE);
	s->cq.tail = __atomic_load_n(&s->ctrl->cq_head, __ATOMIC_ACQUIRE);
	vgpu_store32(&s->ctrl->sq_need_doorbell, 0);
	__atomic_store_n(&s->ctrl->session_id, ch->session_id, __ATOMIC_RELAXED);
	vgpu_store32(&s->ctrl->exec_error, 0);
	vgpu_store32(&s->ctrl->exec_state, VGPU_EXEC_SERVING);
	return 0;
}

static void raise_irq(struct vgpu_session *s)
{
	uint64_t one = 1;

	if (s->ch->bar0_irq_status)
		__atomic_fetch_or(s->ch->bar0_irq_status, VGPU_IRQ_COMPLETION, __ATOMIC_RELEASE);
	/* A full counter is a wakeup the guest has not taken yet: nothing to say, and no log flood. */
	if (write(s->ch->irq_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("vgpu-executor: interrupt");
}

void vgpu_session_reply(struct vgpu_session *s, uint64_t tag, uint32_t status, const void *data,
			uint32_t len)
{
	uint64_t start = 0;

	while (!vgpu_cq_space(&s->cq)) {
		/* The guest consumes as it waits; make sure it is awake, then give it time. */
		if (!start) {
			start = now_ns();
			raise_irq(s);
		} else if (now_ns() - start > CQ_FULL_TIMEOUT_NS) {
			fprintf(stderr, "vgpu-executor: session %lu: completion ring stays full\n",
				(unsigned long)s->ch->session_id);
			s->closing = true;
			return;
		}
		sched_yield();
	}
	if (vgpu_cq_post(&s->cq, tag, status, data, len))
		raise_irq(s);
}

void vgpu_session_retire_now(struct vgpu_session *s, uint32_t slot, uint64_t seq)
{
	if (slot < s->bulk_slots)
		vgpu_store_release(&s->ctrl->bulk_slot_retired[slot], seq);
}

bool vgpu_session_poll(struct vgpu_session *s)
{
	bool any = vgpu_waits_poll(s);

	return vgpu_msgs_flush(s) || any;
}

static void free_alloc(struct vgpu_idmap_entry *e, void *arg)
{
	struct vgpu_session *s = arg;

	s->drv.MemFree(e->key);
	vgpu_idmap_remove(&s->allocs, e);
}

/* Objects that live in a context go first (streams go with their context's entry). */
static void release_in_ctx(struct vgpu_idmap_entry *e, void *arg)
{
	struct vgpu_session *s = arg;

	switch (e->type) {
	case VGPU_OBJ_EVENT: {
		struct vgpu_xevent *ev = e->obj;

		s->drv.EventDestroy(ev->h);
		if (ev->polled)
			ev->destroyed = true;	/* the wait that polls it frees it */
		else
			free(ev);
		break;
	}
	case VGPU_OBJ_MODULE:
		s->drv.ModuleUnload(e->obj);
		break;
	case VGPU_OBJ_LIBRARY:
		s->drv.LibraryUnload(e->obj);
		break;
	case VGPU_OBJ_CTX:
	case VGPU_OBJ_STREAM:
		return;
	}
	vgpu_idmap_remove(&s->handles, e);
}

static void release_ctx(struct vgpu_idmap_entry *e, void *arg)
{
	struct vgpu_session *s = arg;
	struct vgpu_xctx *x;

	if (e->type == VGPU_OBJ_STREAM) {
		vgpu_idmap_remove(&s->handles, e);	/* freed with its context below */
		return;
	}
	if (e->type != VGPU_OBJ_CTX)
		return;
	x = e->obj;
	vgpu_xctx_release(s, x, x->dead);
	if (!x->primary && !x->dead)	/* primary contexts are released by the process's end */
		s->drv.CtxDestroy(x->h);
	vgpu_idmap_remove(&s->handles, e);
	x->dead = true;
	x->dead_next = s->dead_ctxs;
	s->dead_ctxs = x;
}

static void free_gthread(struct vgpu_idmap_entry *e, void *arg)
{
	struct vgpu_session *s = arg;

	free(e->obj);
	vgpu_idmap_remove(&s->gthreads, e);
}

void vgpu_session_release_objects(struct vgpu_session *s)
{
	if (!s->driver_ready)
		return;
	/*
	 * Streams still waiting for the guest's host functions would never
	 * end, and destroying their context waits for them (seen on an H200):
	 * release them as if the guest had run every function.
	 */
	if (s->host_flags)
		for (uint32_t i = 0; i < VGPU_HOST_FLAGS; i++)
			vgpu_store_release(&s->ctrl->host_flag[i], s->host_gen[i]);
	vgpu_session_drain(s);
	vgpu_vmm_teardown(s);
	vgpu_idmap_each(&s->allocs, free_alloc, s);
	s->mem_used = 0;
	vgpu_idmap_each(&s->handles, release_in_ctx, s);
	vgpu_idmap_each(&s->handles, release_ctx, s);
	vgpu_idmap_each(&s->gthreads, free_gthread, s);
	if (s->bulk_registered)
		s->drv.MemHostUnregister(s->channel);
	s->bulk_registered = false;
	s->host_flags = 0;
	if (s->stage)
		s->drv.MemFreeHost(s->stage);
	s->stage = NULL;
	vgpu_quota_release_all(s);
	s->drv.CtxSetCurrent(NULL);
	s->current = NULL;
	s->current_id = 0;
	s->cur = NULL;
}

void vgpu_session_teardown(struct vgpu_session *s)
{
	/* Leave nothing in flight that reads BAR1 after this process is gone. */
	vgpu_session_release_objects(s);
	while (s->msgs) {
		struct vgpu_msg_queued *m = s->msgs;

		s->msgs = m->next;
		free(m);
	}
	s->msgs_tail = &s->msgs;
	while (s->dead_ctxs) {
		struct vgpu_xctx *x = s->dead_ctxs;

		s->dead_ctxs = x->dead_next;
		vgpu_xctx_free(x);
	}
	vgpu_idmap_destroy(&s->handles);
	vgpu_idmap_destroy(&s->allocs);
	vgpu_idmap_destroy(&s->gthreads);
	vgpu_idmap_destroy(&s->pt_streams);
	vgpu_quota_destroy(s);
	vgpu_module_cache_destroy(&s->cache);
	free(s->cmd_buf);
	s->cmd_buf = NULL;
	if (s->notify_fd >= 0)
		close(s->notify_fd);
	s->notify_fd = -1;
	vgpu_waits_set_notify_fd(-1);
}
