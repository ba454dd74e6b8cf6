/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * The execution engine: every stream is a queue of operations that a device
 * thread of its own runs in order, so that work submitted by a call runs
 * after the call returned, as on a GPU.  A queue's thread starts with its
 * first operation and ends with the queue.  One thread per queue is what
 * lets a kernel that spins on a flag complete while another stream's kernel
 * writes it.
 *
 * Ordering follows cuda.h:
 *  - in a queue, operations run one after the other;
 *  - an operation also waits for its dependencies: the event record a
 *    cuStreamWaitEvent named (the latest record as of the call), and the
 *    legacy stream's rules - an operation on the legacy (NULL) stream waits
 *    for everything submitted before it to the context's blocking streams
 *    (created without CU_STREAM_NON_BLOCKING, and the per-thread default
 *    streams), and an operation on a blocking stream waits for everything
 *    submitted before it to the legacy stream;
 *  - a synchronisation or query of the legacy stream covers the blocking
 *    streams too, as if it were one more operation on the legacy stream.
 *
 * FAKECUDA_OP_DELAY_US=N makes each operation take at least N µs on its
 * device thread (a buffer reused too early, an answer sent before a copy
 * landed: such bugs then show); FAKECUDA_SYNC=1 makes every call wait for
 * the work it submitted, which is the double's old, synchronous behaviour.
 *
 * Device threads hold fc_lock only for bookkeeping: never while an
 * operation runs (a host function may call the API), and they wait for
 * dependencies on fc_done, which releases it.  After fork() the child has
 * no device threads; a queue with work left gets a new one when the child
 * submits or waits.
 */
#include "fakecuda.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct fc_queue *fc_queues;
uint64_t fc_op_seq;
pthread_cond_t fc_done = PTHREAD_COND_INITIALIZER;
uint64_t fc_op_delay_us;
bool fc_sync_mode;

/* ------------------------------------------------------------ operations */

struct fc_op *fc_op_new(enum fc_op_kind kind, const char *call)
{
	struct fc_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->refs = 1;
	op->kind = kind;
	op->call = call;
	return op;
}

static void drop_deps(struct fc_op *op)
{
	for (unsigned i = 0; i < op->ndeps; i++)
		fc_op_unref(op->deps[i]);
	free(op->deps);
	op->deps = NULL;
	op->ndeps = 0;
}

void fc_op_unref(struct fc_op *op)
{
	if (--op->refs > 0)
		return;
	drop_deps(op);
	if (op->kind == FC_OP_KERNEL) {
		free(op->kernel.params);
		free(op->kernel.argv);
	}
	else if (op->kind == FC_OP_COPY)
		free(op->copy.staged);
	else if (op->kind == FC_OP_GRAPH)
		fc_op_free_graph(op);
	free(op);
}

CUresult fc_op_depend(struct fc_op *op, struct fc_op *dep)
{
	if (dep->done)
		return CUDA_SUCCESS;
	struct fc_op **d = realloc(op->deps, sizeof(*d) * (op->ndeps + 1));
	if (!d)
		return CUDA_ERROR_OUT_OF_MEMORY;
	op->deps = d;
	d[op->ndeps++] = dep;
	dep->refs++;
	return CUDA_SUCCESS;
}

static bool deps_done(const struct fc_op *op)
{
	for (unsigned i = 0; i < op->ndeps; i++)
		if (!op->deps[i]->done)
			return false;
	return true;
}

bool fc_op_abandoned(const struct fc_op *op)
{
	return atomic_load(&op->q->cancelled) || fc_sticky != CUDA_SUCCESS;
}

void fc_poll_pause(unsigned *backoff_us)
{
	if (*backoff_us < 20)
		*backoff_us = 20;
	struct timespec ts = { 0, (long)*backoff_us * 1000 };
	nanosleep(&ts, NULL);
	if (*backoff_us < 1000)
		*backoff_us *= 2;
}

static void delay(void)
{
	struct timespec ts = { (time_t)(fc_op_delay_us / 1000000),
			       (long)(fc_op_delay_us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------------------------ device threads */

static void queue_free(struct fc_queue *q)
{
	for (struct fc_queue **pp = &fc_queues; *pp; pp = &(*pp)->all_next) {
		if (*pp == q) {
			*pp = q->all_next;
			break;
		}
	}
	if (q->ctx) {
		for (struct fc_queue **pp = &q->ctx->queues; *pp; pp = &(*pp)->ctx_next) {
			if (*pp == q) {
				*pp = q->ctx_next;
				break;
			}
		}
		if (q->ctx->legacy == q)
			q->ctx->legacy = NULL;
	}
	pthread_cond_destroy(&q->wake);
	free(q);
}

bool fc_op_execute(struct fc_op *op, CUresult sticky, uint64_t *fault)
{
	bool ok = true;

	switch (op->kind) {
	case FC_OP_KERNEL:
		if (!sticky)
			ok = fc_run_kernel(op, fault);
		break;
	case FC_OP_COPY:
		if (!sticky)
			ok = fc_run_copy(op, fault);
		break;
	case FC_OP_MEMSET:
		if (!sticky)
			ok = fc_run_memset(op, fault);
		break;
	case FC_OP_WAIT_VALUE:
	case FC_OP_WRITE_VALUE:
		if (!sticky)
			ok = fc_run_value(op, fault);
		break;
	case FC_OP_RECORD:
		clock_gettime(CLOCK_MONOTONIC, &op->when);
		break;
	case FC_OP_WAIT:
		break;
	/*
	 * As the real driver does (tests/gpu/probe-fault.sh on an
	 * H200): after a fault a host function is no longer called,
	 * while a stream callback is, and is told the error.
	 */
	case FC_OP_HOST_FN:
		if (!sticky)
			op->host.fn(op->host.user);
		break;
	case FC_OP_CALLBACK:
		op->host.cb(op->host.handle, sticky, op->host.user);
		break;
	case FC_OP_GRAPH:
		/*
		 * The nodes in capture order: a topological order of the
		 * captured graph, so one valid schedule of it.  Each node runs
		 * as part of this launch (its queue, its submission number).
		 */
		for (unsigned i = 0; i < op->graph.n && ok; i++) {
			struct fc_op *node = op->graph.nodes[i];

			node->q = op->q;
			node->seq = op->seq;
			ok = fc_op_execute(node, fc_sticky, fault);
			if (!ok)
				op->call = node->kind == FC_OP_KERNEL ? node->kernel.def->decl : node->call;
		}
		break;
	}
	return ok;
}

/*
 * Run @op, which is at the head of its queue and whose dependencies are
 * done.  Called and returns with fc_lock held; releases it meanwhile.
 */
static void run(struct fc_queue *q, struct fc_op *op)
{
	bool cancelled = atomic_load(&q->cancelled);
	CUresult sticky = fc_sticky;
	uint64_t fault = 0;
	bool ok = true;

	FC_UNLOCK();
	if (fc_op_delay_us && !cancelled)
		delay();
	if (!cancelled)
		ok = fc_op_execute(op, sticky, &fault);
	FC_LOCK();
	if (!ok && !atomic_load(&q->cancelled) && fc_sticky == CUDA_SUCCESS) {
		/* the call was accepted long ago; the fault is what later calls report */
		fc_sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
		const char *what = op->kind == FC_OP_KERNEL ? op->kernel.def->decl : op->call;
		fc_log("%s touched 0x%llx, which is no device memory: CUDA_ERROR_ILLEGAL_ADDRESS "
		       "from now on", what, (unsigned long long)fault);
	}
}

static void *queue_main(void *arg)
{
	struct fc_queue *q = arg;

	FC_LOCK();
	for (;;) {
		struct fc_op *op = q->head;
		if (!op) {
			if (q->orphan)
				break;
			pthread_cond_wait(&q->wake, &fc_lock);
			continue;
		}
		/* a cancelled queue is only drained: nothing of it runs */
		while (!atomic_load(&q->cancelled) && !deps_done(op))
			pthread_cond_wait(&fc_done, &fc_lock);
		drop_deps(op);
		run(q, op);
		q->head = op->next;
		if (!q->head)
			q->tail = NULL;
		op->done = true;
		fc_op_unref(op);	/* the queue's reference */
		fc_mem_reap();
		pthread_cond_broadcast(&fc_done);
	}
	q->has_thread = false;
	queue_free(q);
	FC_UNLOCK();
	return NULL;
}

/* Signals go to the application's threads, never to a device thread. */
static CUresult start_thread(struct fc_queue *q)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;

	if (pthread_attr_init(&attr))
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&t, &attr, queue_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc) {
		fc_log("cannot start a device thread: %s", strerror(rc));
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pthread_setname_np(t, "fakecuda-dev");
	q->has_thread = true;
	return CUDA_SUCCESS;
}

/* ------------------------------------------------------------ queues */

struct fc_queue *fc_queue_new(struct fc_ctx *c, enum fc_queue_kind kind, bool blocking)
{
	struct fc_queue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	if (pthread_cond_init(&q->wake, NULL)) {
		free(q);
		return NULL;
	}
	q->ctx = c;
	q->kind = kind;
	q->blocking = blocking;
	q->owner = pthread_self();
	atomic_init(&q->cancelled, false);
	q->ctx_next = c->queues;
	c->queues = q;
	q->all_next = fc_queues;
	fc_queues = q;
	return q;
}

void fc_queue_orphan(struct fc_queue *q)
{
	q->orphan = true;
	if (!q->has_thread && !q->head)
		queue_free(q);
	else
		pthread_cond_signal(&q->wake);
}

void fc_queue_cancel_ctx(struct fc_ctx *c)
{
	for (struct fc_queue *q = c->queues, *next; q; q = next) {
		next = q->ctx_next;
		atomic_store(&q->cancelled, true);
		q->ctx = NULL;
		fc_queue_orphan(q);
	}
	c->queues = NULL;
	c->legacy = NULL;
	/* dependencies on what was dropped are met: wake whoever waits */
	pthread_cond_broadcast(&fc_done);
}

/* The legacy stream's rules (see the top of this file). */
static CUresult legacy_rules(struct fc_queue *q, struct fc_op *op)
{
	struct fc_ctx *c = q->ctx;
	CUresult r = CUDA_SUCCESS;

	if (!c)
		return CUDA_SUCCESS;
	/*
	 * Legacy-stream work would wait for a capturing blocking stream: the
	 * real driver refuses it and invalidates that capture (cuda.h,
	 * CUDA_ERROR_STREAM_CAPTURE_IMPLICIT).
	 */
	if (q->kind == FC_QUEUE_LEGACY && fc_capture_blocks_legacy(c))
		return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
	if (q->kind == FC_QUEUE_LEGACY) {
		for (struct fc_queue *b = c->queues; b && !r; b = b->ctx_next)
			if (b != q && b->blocking && b->tail)
				r = fc_op_depend(op, b->tail);
	} else if (q->blocking && c->legacy && c->legacy->tail) {
		r = fc_op_depend(op, c->legacy->tail);
	}
	return r;
}

CUresult fc_submit(struct fc_queue *q, struct fc_op *op, bool wait)
{
	CUresult r;

	/* A capturing stream records work instead of running it (fc_graph.c). */
	if (q->cap)
		return fc_capture_add(q, op, wait);
	r = legacy_rules(q, op);

	if (!r && !q->has_thread)
		r = start_thread(q);
	if (r) {
		fc_op_unref(op);
		return r;
	}
	op->q = q;
	op->seq = ++fc_op_seq;
	op->refs++;	/* the queue's */
	if (q->tail)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
	pthread_cond_signal(&q->wake);
	if (wait || fc_sync_mode)
		fc_op_wait(op);
	fc_op_unref(op);
	return CUDA_SUCCESS;
}

void fc_op_wait(struct fc_op *op)
{
	while (!op->done) {
		/* only after fork(): the queue's thread stayed in the parent */
		if (!op->q->has_thread && start_thread(op->q)) {
			fc_log("no device thread can run %s: giving up", op->call);
			abort();
		}
		pthread_cond_wait(&fc_done, &fc_lock);
	}
}

bool fc_queue_busy(struct fc_queue *q)
{
	if (q->head)
		return true;
	if (q->kind == FC_QUEUE_LEGACY && q->ctx)
		for (struct fc_queue *b = q->ctx->queues; b; b = b->ctx_next)
			if (b->blocking && b->head)
				return true;
	return false;
}

/*
 * Wait until no queue that @pick chooses holds an operation submitted
 * before this call.  Looked up afresh after every wait: queues may go
 * meanwhile, and operations are numbered in submission order.
 */
static void wait_submitted(bool (*pick)(const struct fc_queue *, const void *), const void *arg)
{
	uint64_t upto = fc_op_seq;

	for (;;) {
		struct fc_op *last = NULL;
		for (struct fc_queue *q = fc_queues; q && !last; q = q->all_next) {
			if (!q->head || q->head->seq > upto || !pick(q, arg))
				continue;
			for (struct fc_op *op = q->head; op && op->seq <= upto; op = op->next)
				last = op;
		}
		if (!last)
			return;
		last->refs++;
		fc_op_wait(last);
		fc_op_unref(last);
	}
}

static bool pick_queue(const struct fc_queue *q, const void *want)
{
	return q == want;
}

static bool pick_legacy(const struct fc_queue *q, const void *legacy)
{
	const struct fc_queue *l = legacy;
	return q == l || (q->ctx == l->ctx && q->blocking);
}

static bool pick_ctx(const struct fc_queue *q, const void *c)
{
	return q->ctx == c;
}

void fc_queue_sync(struct fc_queue *q)
{
	if (q->kind == FC_QUEUE_LEGACY && q->ctx)
		wait_submitted(pick_legacy, q);
	else
		wait_submitted(pick_queue, q);
}

void fc_ctx_sync(struct fc_ctx *c)
{
	wait_submitted(pick_ctx, c);
}

/* ------------------------------------------------------------ fork */

static void before_fork(void)
{
	FC_LOCK();
	pthread_mutex_lock(&fc_mem_lock);
}

static void after_fork_parent(void)
{
	pthread_mutex_unlock(&fc_mem_lock);
	FC_UNLOCK();
}

/*
 * The child has only the forking thread: the condition variables still
 * count the parent's device threads as waiters (destroying one would wait
 * for them forever), so they start afresh.
 */
static void after_fork_child(void)
{
	static const pthread_cond_t fresh = PTHREAD_COND_INITIALIZER;

	fc_done = fresh;
	for (struct fc_queue *q = fc_queues; q; q = q->all_next) {
		q->has_thread = false;
		q->wake = fresh;
	}
	pthread_mutex_unlock(&fc_mem_lock);
	FC_UNLOCK();
}

__attribute__((constructor)) static void register_fork_handlers(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
