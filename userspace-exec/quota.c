// SPDX-License-Identifier: MIT
/*
 * The worker's side of the memory quota (see quota.h).
 *
 * Per context the session remembers what it charged: q->ctxs maps a context
 * id to its cost (aux) and, for a primary context, how often it is retained
 * (aux32); q->ctx_limits maps it to what its limits were charged above their
 * initial values (aux).  Allocations keep their size in s->allocs; modules
 * keep their charge in their handle's aux.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "dispatch.h"
#include "quota.h"

uint64_t vgpu_quota_ctx_mem;

/* How long a worker waits for the parent's answer before it takes it as a refusal. */
#define LINK_TIMEOUT_MS	30000
/* cuMemAlloc hands out 512-byte granules at least. */
#define ALLOC_GRANULE	512u

static const char *const kind_names[VGPU_CHARGE_KINDS] = {
	[VGPU_CHARGE_ALLOC] = "alloc",	 [VGPU_CHARGE_CONTEXT] = "context",
	[VGPU_CHARGE_LIMITS] = "limits", [VGPU_CHARGE_MODULE] = "module",
	[VGPU_CHARGE_POOL] = "pool",	 [VGPU_CHARGE_VMM] = "vmm",
	[VGPU_CHARGE_GRAPH] = "graph",	 [VGPU_CHARGE_STAGING] = "staging",
};

static struct vgpu_idmap *ctx_limits(struct vgpu_session *s)
{
	return &s->quota.ctx_limits;
}

/* The module cache's hook: images held in memory are the instance's host memory. */
static int charge_staging(void *arg, uint64_t bytes, bool give_back)
{
	struct vgpu_session *s = arg;

	if (give_back) {
		vgpu_quota_release(s, VGPU_CHARGE_STAGING, bytes);
		return 0;
	}
	return vgpu_quota_charge(s, VGPU_CHARGE_STAGING, bytes) == CUDA_SUCCESS ? 0 : -1;
}

void vgpu_quota_init(struct vgpu_session *s)
{
	struct vgpu_quota *q = &s->quota;

	memset(q, 0, sizeof(*q));
	q->link = s->ch->control_fd > 2 ? s->ch->control_fd : -1;
	vgpu_idmap_init(&q->ctxs, VGPU_MAX_HANDLES);
	vgpu_idmap_init(ctx_limits(s), VGPU_MAX_HANDLES);
	s->cache.charge = charge_staging;
	s->cache.charge_arg = s;
}

void vgpu_quota_destroy(struct vgpu_session *s)
{
	vgpu_idmap_destroy(&s->quota.ctxs);
	vgpu_idmap_destroy(ctx_limits(s));
}

/* One request to the parent; 0 with its answer in @r (unless it is a RELEASE), or -1. */
static int rpc(struct vgpu_quota *q, uint32_t op, uint32_t kind, uint64_t bytes, uint64_t arg,
	       struct vgpu_acct_reply *r)
{
	struct vgpu_acct_msg m = { .op = op, .kind = kind, .bytes = bytes, .arg = arg };
	struct pollfd p = { .fd = q->link, .events = POLLIN };
	ssize_t n;

	do
		n = send(q->link, &m, sizeof(m), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(m))
		return -1;
	if (op == VGPU_ACCT_RELEASE)
		return 0;
	for (;;) {
		int k = poll(&p, 1, LINK_TIMEOUT_MS);

		if (k < 0 && errno == EINTR)
			continue;
		if (k != 1)
			return -1;
		n = recv(q->link, r, sizeof(*r), 0);
		if (n < 0 && errno == EINTR)
			continue;
		/* Answers come in order: one for another request would be the parent's bug. */
		return n == (ssize_t)sizeof(*r) && r->op == op ? 0 : -1;
	}
}

static uint64_t own_device_use(const struct vgpu_quota *q)
{
	uint64_t sum = 0;

	for (int k = 0; k < VGPU_CHARGE_DEVICE_KINDS; k++)
		sum += q->charged[k];
	return sum;
}

uint64_t vgpu_quota_hello(struct vgpu_session *s, uint64_t device_total, uint32_t guest_pid)
{
	struct vgpu_quota *q = &s->quota;
	struct vgpu_acct_reply r;

	if (q->link > 2) {
		if (rpc(q, VGPU_ACCT_HELLO, 0, device_total, guest_pid, &r) == 0) {
			q->limit = r.limit;
			q->staging_limit = r.staging_limit;
		}
	} else {
		q->limit = s->ch->mem_quota && s->ch->mem_quota < device_total ? s->ch->mem_quota
										 : device_total;
	}
	return q->limit;
}

static void log_refusal(struct vgpu_session *s, enum vgpu_charge kind, uint64_t bytes,
			uint64_t used)
{
	uint32_t dropped;

	if (vgpu_log_allow(&s->quota.refusals, &dropped))
		vgpu_log_event("info", "quota_refused",
			       "session=%lu kind=%s bytes=%lu used=%lu limit=%lu suppressed=%u",
			       (unsigned long)s->ch->session_id, kind_names[kind],
			       (unsigned long)bytes, (unsigned long)used,
			       (unsigned long)(kind == VGPU_CHARGE_STAGING ? s->quota.staging_limit
									   : s->quota.limit),
			       dropped);
}

CUresult vgpu_quota_charge(struct vgpu_session *s, enum vgpu_charge kind, uint64_t bytes)
{
	struct vgpu_quota *q = &s->quota;
	struct vgpu_acct_reply r;
	uint64_t used;

	if (kind >= VGPU_CHARGE_KINDS)
		return CUDA_ERROR_INVALID_VALUE;
	if (bytes == 0)
		return CUDA_SUCCESS;
	if (q->link > 2) {
		if (rpc(q, VGPU_ACCT_CHARGE, kind, bytes, 0, &r) || !r.granted) {
			log_refusal(s, kind, bytes, r.used);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
	} else {
		/* Staging alone has no limit of its own here: the module cache caps it. */
		used = own_device_use(q);
		if (kind != VGPU_CHARGE_STAGING && (used > q->limit || bytes > q->limit - used)) {
			log_refusal(s, kind, bytes, used);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
	}
	q->charged[kind] += bytes;
	return CUDA_SUCCESS;
}

void vgpu_quota_release(struct vgpu_session *s, enum vgpu_charge kind, uint64_t bytes)
{
	struct vgpu_quota *q = &s->quota;
	struct vgpu_acct_reply r;

	if (kind >= VGPU_CHARGE_KINDS)
		return;
	if (bytes > q->charged[kind])
		bytes = q->charged[kind];
	if (!bytes)
		return;
	q->charged[kind] -= bytes;
	if (q->link > 2)
		rpc(q, VGPU_ACCT_RELEASE, kind, bytes, 0, &r);
}

void vgpu_quota_usage(struct vgpu_session *s, uint64_t *used, uint64_t *limit)
{
	struct vgpu_quota *q = &s->quota;
	struct vgpu_acct_reply r;

	*used = own_device_use(q);
	*limit = q->limit;
	if (q->link > 2 && rpc(q, VGPU_ACCT_QUERY, 0, 0, 0, &r) == 0) {
		*used = r.used;
		*limit = q->limit = r.limit;
	}
}

uint64_t vgpu_quota_alloc_bytes(uint64_t size)
{
	if (size > UINT64_MAX - ALLOC_GRANULE)
		return UINT64_MAX;
	return (size + ALLOC_GRANULE - 1) / ALLOC_GRANULE * ALLOC_GRANULE;
}

uint64_t vgpu_quota_free_now(struct vgpu_session *s)
{
	size_t free_b = 0, total_b = 0;

	if (!s->current || s->drv.MemGetInfo(&free_b, &total_b) != CUDA_SUCCESS)
		return 0;
	return free_b;
}

CUresult vgpu_quota_ctx_charge(struct vgpu_session *s, uint64_t ctx_id, uint64_t measured)
{
	uint64_t cost = measured > vgpu_quota_ctx_mem ? measured : vgpu_quota_ctx_mem;
	struct vgpu_idmap_entry *e;
	CUresult r;

	if (vgpu_idmap_find(&s->quota.ctxs, ctx_id))
		return CUDA_SUCCESS;	/* charged when the session first got it */
	r = vgpu_quota_charge(s, VGPU_CHARGE_CONTEXT, cost);
	if (r != CUDA_SUCCESS)
		return r;
	e = vgpu_idmap_insert(&s->quota.ctxs, ctx_id, 1);
	if (!e) {
		vgpu_quota_release(s, VGPU_CHARGE_CONTEXT, cost);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	e->aux = cost;
	e->aux32 = 1;
	return CUDA_SUCCESS;
}

void vgpu_quota_ctx_retained(struct vgpu_session *s, uint64_t ctx_id)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->quota.ctxs, ctx_id);

	if (e && e->aux32 < UINT32_MAX)
		e->aux32++;
}

int vgpu_quota_ctx_released(struct vgpu_session *s, uint64_t ctx_id)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->quota.ctxs, ctx_id);

	if (!e || e->aux32 == 0)
		return 0;
	return --e->aux32 == 0;
}

void vgpu_quota_ctx_gone(struct vgpu_session *s, uint64_t ctx_id)
{
	struct vgpu_idmap_entry *e = vgpu_idmap_find(&s->quota.ctxs, ctx_id);

	if (e) {
		vgpu_quota_release(s, VGPU_CHARGE_CONTEXT, e->aux);
		vgpu_idmap_remove(&s->quota.ctxs, e);
	}
	e = vgpu_idmap_find(ctx_limits(s), ctx_id);
	if (e) {
		vgpu_quota_release(s, VGPU_CHARGE_LIMITS, e->aux);
		vgpu_idmap_remove(ctx_limits(s), e);
	}
}

struct forget {
	struct vgpu_session *s;
	uint64_t ctx_id;
};

static void forget_alloc(struct vgpu_idmap_entry *e, void *arg)
{
	struct forget *f = arg;

	if (e->aux32 != f->ctx_id)
		return;
	vgpu_quota_release(f->s, VGPU_CHARGE_ALLOC, vgpu_quota_alloc_bytes(e->aux));
	f->s->mem_used -= e->aux;
	vgpu_idmap_remove(&f->s->allocs, e);
}

static void forget_module(struct vgpu_idmap_entry *e, void *arg)
{
	struct forget *f = arg;

	if (e->type == VGPU_OBJ_MODULE && e->aux32 == f->ctx_id) {
		vgpu_quota_release(f->s, VGPU_CHARGE_MODULE, e->aux);
		e->aux = 0;
	}
}

void vgpu_quota_forget_ctx(struct vgpu_session *s, uint64_t ctx_id)
{
	struct forget f = { s, ctx_id };
	struct vgpu_idmap_entry *e;

	vgpu_idmap_each(&s->allocs, forget_alloc, &f);
	vgpu_idmap_each(&s->handles, forget_module, &f);
	/* The context's limits are back at their initial values. */
	e = vgpu_idmap_find(ctx_limits(s), ctx_id);
	if (e) {
		vgpu_quota_release(s, VGPU_CHARGE_LIMITS, e->aux);
		vgpu_idmap_remove(ctx_limits(s), e);
	}
}

/* Resident threads of the current context's device: each has a stack. */
static uint64_t resident_threads(struct vgpu_session *s, uint64_t ctx_id)
{
	struct vgpu_idmap_entry *c = vgpu_idmap_find(&s->handles, ctx_id);
	int sms = 0, per_sm = 0;
	CUdevice dev;

	if (!c || s->drv.DeviceGet(&dev, (int)c->aux32) != CUDA_SUCCESS ||
	    s->drv.DeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev) ||
	    s->drv.DeviceGetAttribute(&per_sm, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR,
				      dev) || sms <= 0 || per_sm <= 0)
		return 0;
	return (uint64_t)sms * (uint64_t)per_sm;
}

/* Device bytes a limit of @value takes (0 for limits that are not memory). */
static uint64_t limit_bytes(struct vgpu_session *s, uint64_t ctx_id, CUlimit limit, uint64_t value)
{
	uint64_t threads;

	switch (limit) {
	case CU_LIMIT_MALLOC_HEAP_SIZE:
	case CU_LIMIT_PRINTF_FIFO_SIZE:
		return value;
	case CU_LIMIT_STACK_SIZE:
		threads = resident_threads(s, ctx_id);
		return threads && value > UINT64_MAX / threads ? UINT64_MAX : value * threads;
	default:
		return 0;
	}
}

CUresult vgpu_quota_set_limit(struct vgpu_session *s, uint64_t ctx_id, CUlimit limit,
			      uint64_t value)
{
	struct vgpu_idmap_entry *e;
	uint64_t before, after, more = 0, held;
	size_t cur = 0;
	CUresult r;

	if (s->drv.CtxGetLimit(&cur, limit) != CUDA_SUCCESS)
		return s->drv.CtxSetLimit(limit, (size_t)value);	/* not a limit the driver has */
	before = limit_bytes(s, ctx_id, limit, cur);
	after = limit_bytes(s, ctx_id, limit, value);
	if (after > before) {
		more = after - before;
		r = vgpu_quota_charge(s, VGPU_CHARGE_LIMITS, more);
		if (r != CUDA_SUCCESS)
			return r;
	}
	r = s->drv.CtxSetLimit(limit, (size_t)value);
	e = vgpu_idmap_find(ctx_limits(s), ctx_id);
	held = e ? e->aux : 0;
	if (r != CUDA_SUCCESS) {
		vgpu_quota_release(s, VGPU_CHARGE_LIMITS, more);
		return r;
	}
	if (more) {
		if (!e)
			e = vgpu_idmap_insert(ctx_limits(s), ctx_id, 1);
		if (e)
			e->aux = held + more;
	} else if (before > after && e) {
		uint64_t back = before - after < held ? before - after : held;

		vgpu_quota_release(s, VGPU_CHARGE_LIMITS, back);
		e->aux = held - back;
	}
	return CUDA_SUCCESS;
}

void vgpu_quota_release_all(struct vgpu_session *s)
{
	struct vgpu_quota *q = &s->quota;

	/* Images in memory stay the module cache's until it frees them. */
	for (int k = 0; k < VGPU_CHARGE_DEVICE_KINDS; k++)
		vgpu_quota_release(s, (enum vgpu_charge)k, q->charged[k]);
	vgpu_idmap_destroy(&q->ctxs);
	vgpu_idmap_destroy(ctx_limits(s));
	vgpu_idmap_init(&q->ctxs, VGPU_MAX_HANDLES);
	vgpu_idmap_init(ctx_limits(s), VGPU_MAX_HANDLES);
}
