// SPDX-License-Identifier: MIT
/*
 * Host functions and stream callbacks (cuLaunchHostFunc, cuStreamAddCallback)
 * run here, in the guest process, in stream order (decision 12).
 *
 * The shim takes a flag slot and a new generation for it and submits the
 * call; the executor records an event and makes the stream wait on the GPU
 * until ctrl.host_flag[slot] reaches the generation.  When the stream gets
 * there, the executor sends a message; a service thread of the shim runs
 * the function and then stores the generation, which releases the stream.
 * The executor never waits, and the stream waits on the GPU, as natively.
 *
 * In a capture a host function becomes a node of the graph: it is kept
 * (graphs may run it at any time), and every time a launched graph reaches
 * it the executor sends a run message; the service thread runs it and
 * answers GRAPH_HOST_DONE, which lets the graph go on.
 *
 * The service thread runs the functions one at a time, as the driver's own
 * callback thread does.  A host function may make CUDA calls that do not
 * wait for streams; launching another host function or synchronising from
 * one is refused with CUDA_ERROR_NOT_PERMITTED, as cuda.h allows (such a
 * call could wait for the very stream that waits for the function).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "channel.h"
#include "context.h"
#include "host_func.h"
#include "log.h"
#include "shim.h"
#include "state.h"
#include "stream_ref.h"

struct host_func {
	struct host_func *next;
	uint64_t run;			/* a graph host function's run, else 0 */
	uint64_t cookie;
	CUhostFn fn;
	CUstreamCallback callback;
	CUstream stream;
	void *data;
	uint32_t slot;
	uint64_t gen;
	CUresult status;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started;
	uint32_t outstanding;		/* submitted, not run yet */
	uint32_t nready;
	struct host_func *pending;	/* submitted, waiting for their message */
	struct host_func *ready, **ready_tail;
	uint64_t gen[VGPU_HOST_FLAGS];
	bool busy[VGPU_HOST_FLAGS];
	uint32_t nbusy;
	uint64_t next_cookie;
	int support;			/* 0 unknown, 1 yes, -1 no (learnt from the first call) */
	struct host_func *graph;	/* captured into graphs: run at every launch, kept */
} hf = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.ready_tail = &hf.ready,
	.next_cookie = 1,
};

static __thread bool in_host_func;

bool vgpu_in_host_func(void)
{
	return in_host_func;
}

/* Under hf.lock: queue @f for the service thread. */
static void make_ready(struct host_func *f)
{
	f->next = NULL;
	*hf.ready_tail = f;
	hf.ready_tail = &f->next;
	__atomic_store_n(&hf.nready, hf.nready + 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&hf.cond);
}

/* A launched graph reached a host function captured into it: one run of it. */
static void on_graph_message(const void *data, uint32_t len)
{
	struct vgpu_msg_graph_host_func m;
	struct host_func *run;

	if (len < sizeof(m))
		return;
	memcpy(&m, data, sizeof(m));
	pthread_mutex_lock(&hf.lock);
	for (struct host_func *g = hf.graph; g; g = g->next) {
		if (g->cookie != m.cookie)
			continue;
		run = malloc(sizeof(*run));
		if (run) {
			*run = *g;
			run->run = m.run;
			make_ready(run);
		} else {
			vgpu_log("graph host function %llu: no memory to run it",
				 (unsigned long long)m.cookie);
		}
		break;
	}
	pthread_mutex_unlock(&hf.lock);
}

/* A message arrived (any thread draining the ring, no lock of the channel held). */
static void on_message(uint32_t type, const void *data, uint32_t len)
{
	struct vgpu_msg_host_func m;

	if (type == VGPU_MSG_RUN_GRAPH_HOST_FUNC) {
		on_graph_message(data, len);
		return;
	}
	if (type != VGPU_MSG_RUN_HOST_FUNC || len < sizeof(m)) {
		vgpu_log("an unknown message (type %u, %u bytes) from the executor", type, len);
		return;
	}
	memcpy(&m, data, sizeof(m));
	pthread_mutex_lock(&hf.lock);
	for (struct host_func **p = &hf.pending; *p; p = &(*p)->next) {
		struct host_func *f = *p;

		if (f->cookie != m.cookie)
			continue;
		*p = f->next;
		f->next = NULL;
		f->status = (CUresult)m.status;
		*hf.ready_tail = f;
		hf.ready_tail = &f->next;
		__atomic_store_n(&hf.nready, hf.nready + 1, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&hf.cond);
		break;
	}
	pthread_mutex_unlock(&hf.lock);
}

static bool have_ready(void *arg)
{
	return __atomic_load_n(&hf.nready, __ATOMIC_ACQUIRE) != 0;
}

static void *service(void *arg)
{
	for (;;) {
		struct host_func *f;

		pthread_mutex_lock(&hf.lock);
		while (!hf.ready) {
			if (hf.outstanding) {
				/* Functions are due: sleep on the interrupt for their messages. */
				pthread_mutex_unlock(&hf.lock);
				if (!vgpu_channel_wait(have_ready, NULL, true))
					return NULL;	/* the session is gone; so is every stream */
				pthread_mutex_lock(&hf.lock);
			} else {
				pthread_cond_wait(&hf.cond, &hf.lock);
			}
		}
		f = hf.ready;
		hf.ready = f->next;
		if (!hf.ready)
			hf.ready_tail = &hf.ready;
		hf.nready--;
		pthread_mutex_unlock(&hf.lock);

		/*
		 * As the real driver does: after the stream failed, a callback is
		 * still called (it hears the error), a host function is not.
		 */
		if (f->run) {
			struct vgpu_msg_graph_host_func done = { f->cookie, f->run };

			/* The driver ran the graph this far, so nothing failed before it. */
			in_host_func = true;
			f->fn(f->data);
			in_host_func = false;
			vgpu_call(VGPU_OP_GRAPH_HOST_DONE, 0, 0, &done, sizeof(done), NULL, 0, NULL);
			free(f);
			continue;
		}
		in_host_func = true;
		if (f->callback)
			f->callback(f->stream, f->status, f->data);
		else if (f->status == CUDA_SUCCESS)
			f->fn(f->data);
		in_host_func = false;
		/* Returned: release the stream that waits on the GPU. */
		vgpu_channel_set_host_flag(f->slot, f->gen);

		pthread_mutex_lock(&hf.lock);
		hf.busy[f->slot] = false;
		hf.nbusy--;
		hf.outstanding--;
		pthread_cond_broadcast(&hf.cond);
		pthread_mutex_unlock(&hf.lock);
		free(f);
	}
}

static void after_fork_child(void)
{
	/* The service thread and every pending function belong to the parent. */
	pthread_mutex_init(&hf.lock, NULL);
	pthread_cond_init(&hf.cond, NULL);
	hf.started = false;
	hf.outstanding = hf.nready = hf.nbusy = 0;
	hf.pending = hf.ready = NULL;
	hf.ready_tail = &hf.ready;
	memset(hf.busy, 0, sizeof(hf.busy));
}

/* Under hf.lock: start the service thread once. */
static CUresult start_service(void)
{
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (hf.started)
		return CUDA_SUCCESS;
	vgpu_channel_set_msg_handler(on_message);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, service, NULL);
	pthread_attr_destroy(&attr);
	if (r)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_atfork(NULL, NULL, after_fork_child);
	hf.started = true;
	return CUDA_SUCCESS;
}

static void unqueue(struct host_func *f)
{
	pthread_mutex_lock(&hf.lock);
	for (struct host_func **p = &hf.pending; *p; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	hf.busy[f->slot] = false;
	hf.nbusy--;
	hf.outstanding--;
	pthread_cond_broadcast(&hf.cond);
	pthread_mutex_unlock(&hf.lock);
	free(f);
}

/*
 * A host function captured into a graph runs in the guest at every launch
 * (the executor's host node asks, the service thread runs it and answers).
 * Its record stays for the life of the process: graphs and their
 * instances may run it at any time.
 */
static CUresult capture_host_func(CUstream st, const struct vgpu_stream_ref *s, CUhostFn fn,
				  void *data)
{
	struct vgpu_graph_host_func_args a = { .stream = s->id };
	struct host_func *g;
	CUresult r = vgpu_capture_use(st, s, VGPU_USE_ASYNC);

	if (r != CUDA_SUCCESS)
		return r;
	g = calloc(1, sizeof(*g));
	if (!g)
		return CUDA_ERROR_OUT_OF_MEMORY;
	g->fn = fn;
	g->stream = st;
	g->data = data;
	pthread_mutex_lock(&hf.lock);
	r = start_service();
	if (r != CUDA_SUCCESS) {
		pthread_mutex_unlock(&hf.lock);
		free(g);
		return r;
	}
	g->cookie = hf.next_cookie++;
	g->next = hf.graph;
	hf.graph = g;
	/* From now on runs may come at any time: the service thread listens for them. */
	hf.outstanding++;
	pthread_cond_broadcast(&hf.cond);
	pthread_mutex_unlock(&hf.lock);
	a.cookie = g->cookie;
	return vgpu_call(VGPU_OP_GRAPH_HOST_FUNC, 0, vgpu_ctx_wire(s->ctx), &a, sizeof(a), NULL, 0,
			 NULL);
}

CUresult vgpu_launch_host_func(CUstream st, bool per_thread, CUhostFn fn,
			       CUstreamCallback callback, void *data)
{
	struct vgpu_host_func_args a = { .callback = callback != NULL };
	struct vgpu_stream_ref s;
	struct host_func *f;
	uint16_t flags = 0;
	CUresult r = vgpu_stream_ref(st, per_thread, &s);

	if (r != CUDA_SUCCESS)
		return r;
	if (!fn && !callback)
		return CUDA_ERROR_INVALID_VALUE;
	if (in_host_func)
		return CUDA_ERROR_NOT_PERMITTED;
	if (!vgpu_channel_host_funcs() || hf.support < 0)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (vgpu_capture_active(st, &s)) {
		if (callback)	/* stream callbacks cannot be captured (cuda.h) */
			return vgpu_capture_use(st, &s, VGPU_USE_CALLBACK);
		return capture_host_func(st, &s, fn, data);
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return CUDA_ERROR_OUT_OF_MEMORY;
	f->fn = fn;
	f->callback = callback;
	f->stream = st;
	f->data = data;

	pthread_mutex_lock(&hf.lock);
	r = start_service();
	/* A free flag slot; waiting for one holds nothing (functions in flight free theirs). */
	while (r == CUDA_SUCCESS && hf.nbusy == VGPU_HOST_FLAGS)
		pthread_cond_wait(&hf.cond, &hf.lock);
	if (r != CUDA_SUCCESS) {
		pthread_mutex_unlock(&hf.lock);
		free(f);
		return r;
	}
	for (f->slot = 0; hf.busy[f->slot]; f->slot++)
		;
	hf.busy[f->slot] = true;
	hf.nbusy++;
	hf.outstanding++;
	f->gen = ++hf.gen[f->slot];
	f->cookie = hf.next_cookie++;
	f->next = hf.pending;
	hf.pending = f;
	/* Wake the service thread: it now sleeps on the interrupt. */
	pthread_cond_broadcast(&hf.cond);
	/* The first call learns whether the executor can do it; the others need no answer. */
	if (hf.support == 0)
		flags = VGPU_CMD_F_REPLY;
	pthread_mutex_unlock(&hf.lock);

	a.stream = s.id;
	a.cookie = f->cookie;
	a.gen = f->gen;
	a.slot = f->slot;
	r = vgpu_call(VGPU_OP_LAUNCH_HOST_FUNC, flags, vgpu_ctx_wire(s.ctx), &a, sizeof(a), NULL, 0,
		      NULL);
	if (flags && (r == CUDA_SUCCESS || r == CUDA_ERROR_NOT_SUPPORTED))
		hf.support = r == CUDA_SUCCESS ? 1 : -1;
	if (r != CUDA_SUCCESS) {
		if (r == CUDA_ERROR_NOT_SUPPORTED)
			vgpu_log("host functions: the executor cannot make streams wait for them");
		unqueue(f);
	}
	return r;
}

static void CUDA_CB nothing(CUstream st, CUresult status, void *data)
{
}

bool vgpu_host_funcs_usable(CUstream st, bool per_thread)
{
	if (in_host_func || !vgpu_channel_host_funcs())
		return false;
	/* The first host function asks for an answer: that says whether the executor can. */
	if (__atomic_load_n(&hf.support, __ATOMIC_RELAXED) == 0)
		vgpu_launch_host_func(st, per_thread, NULL, nothing, NULL);
	return __atomic_load_n(&hf.support, __ATOMIC_RELAXED) > 0;
}

bool vgpu_host_funcs_idle(void)
{
	bool idle;

	pthread_mutex_lock(&hf.lock);
	idle = hf.outstanding == 0;
	pthread_mutex_unlock(&hf.lock);
	return idle;
}

CUresult CUDAAPI cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData)
{
	if (!fn)
		return CUDA_ERROR_INVALID_VALUE;
	return vgpu_launch_host_func(hStream, false, fn, NULL, userData);
}

CUresult CUDAAPI cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void *userData)
{
	if (!fn)
		return CUDA_ERROR_INVALID_VALUE;
	return vgpu_launch_host_func(hStream, true, fn, NULL, userData);
}

CUresult CUDAAPI cuStreamAddCallback(CUstream hStream, CUstreamCallback callback, void *userData,
				     unsigned int flags)
{
	if (!callback || flags)
		return CUDA_ERROR_INVALID_VALUE;
	return vgpu_launch_host_func(hStream, false, NULL, callback, userData);
}

CUresult CUDAAPI cuStreamAddCallback_ptsz(CUstream hStream, CUstreamCallback callback,
					  void *userData, unsigned int flags)
{
	if (!callback || flags)
		return CUDA_ERROR_INVALID_VALUE;
	return vgpu_launch_host_func(hStream, true, NULL, callback, userData);
}
