// SPDX-License-Identifier: MIT
/*
 * Host functions captured into graphs.
 *
 * A host function in a graph must run in the guest (decision 12) every
 * time the graph runs, and the graph must wait for it.  At capture the
 * executor captures a host node of its own (trampoline) for the guest's
 * cookie.  When a launched graph reaches it, the driver calls the
 * trampoline on its callback thread: it notes the run, wakes the worker
 * and waits - on that driver thread, never on the worker's - until the
 * guest says the function returned.  The worker sends the guest
 * VGPU_MSG_RUN_GRAPH_HOST_FUNC {cookie, run}; the guest's service thread
 * runs the function and answers GRAPH_HOST_DONE {cookie, run}.
 *
 * While the trampoline waits, the driver runs no other host function (as
 * while a native host function runs), so the worker's own wake-ups queue
 * behind it: that costs latency, never progress, because the worker is
 * woken by the trampoline itself and by the guest's record.  When the
 * session ends every trampoline returns at once and none waits again.
 */
#include <pthread.h>
#include <stdlib.h>

#include "dispatch.h"
#include "graph_host.h"
#include "waits.h"

struct graph_host {
	struct graph_host *next;
	struct vgpu_graph_hosts *all;
	uint64_t cookie;
	uint64_t asked;		/* runs the driver started */
	uint64_t sent;		/* runs the guest was told about */
	uint64_t done;		/* runs the guest finished */
};

struct vgpu_graph_hosts {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct graph_host *list;
	uint32_t count;
	bool pending;		/* a run was asked for and not sent yet */
	bool abort;
};

/* Host nodes per session: each is a little memory for the session's life. */
#define GRAPH_HOSTS_MAX	65536u

static void trampoline(void *arg)
{
	struct graph_host *h = arg;
	struct vgpu_graph_hosts *g = h->all;
	uint64_t run;

	pthread_mutex_lock(&g->lock);
	if (g->abort) {
		pthread_mutex_unlock(&g->lock);
		return;
	}
	run = ++h->asked;
	g->pending = true;
	vgpu_waits_notify();
	while (h->done < run && !g->abort)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

CUresult vgpu_graph_host_capture(struct vgpu_session *s, CUstream st, uint64_t cookie)
{
	struct vgpu_graph_hosts *g = s->graph_hosts;
	struct graph_host *h;
	CUresult r;

	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g)
			return CUDA_ERROR_OUT_OF_MEMORY;
		pthread_mutex_init(&g->lock, NULL);
		pthread_cond_init(&g->cond, NULL);
		s->graph_hosts = g;
	}
	if (g->count >= GRAPH_HOSTS_MAX)
		return CUDA_ERROR_OUT_OF_MEMORY;
	h = calloc(1, sizeof(*h));
	if (!h)
		return CUDA_ERROR_OUT_OF_MEMORY;
	h->all = g;
	h->cookie = cookie;
	r = s->drv.LaunchHostFunc(st, trampoline, h);
	if (r != CUDA_SUCCESS) {
		free(h);
		return r;
	}
	pthread_mutex_lock(&g->lock);
	h->next = g->list;
	g->list = h;
	g->count++;
	pthread_mutex_unlock(&g->lock);
	return CUDA_SUCCESS;
}

void vgpu_graph_host_done(struct vgpu_session *s, uint64_t cookie, uint64_t run)
{
	struct vgpu_graph_hosts *g = s->graph_hosts;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	/* Only a run that was asked for; a guest that answers early only hurries its own graph. */
	for (struct graph_host *h = g->list; h; h = h->next)
		if (h->cookie == cookie && run > h->done && run <= h->sent)
			h->done = run;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

bool vgpu_graph_host_flush(struct vgpu_session *s)
{
	struct vgpu_graph_hosts *g = s->graph_hosts;
	bool any = false;

	if (!g || !__atomic_load_n(&g->pending, __ATOMIC_ACQUIRE))
		return false;
	pthread_mutex_lock(&g->lock);
	g->pending = false;
	for (struct graph_host *h = g->list; h; h = h->next)
		while (h->sent < h->asked) {
			struct vgpu_msg_graph_host_func m = { h->cookie, ++h->sent };

			/* Queued by the budget if need be; it never waits. */
			vgpu_msg_send(s, VGPU_MSG_RUN_GRAPH_HOST_FUNC, &m, sizeof(m));
			any = true;
		}
	pthread_mutex_unlock(&g->lock);
	return any;
}

void vgpu_graph_host_abort(struct vgpu_session *s)
{
	struct vgpu_graph_hosts *g = s->graph_hosts;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->abort = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

void vgpu_graph_host_free(struct vgpu_session *s)
{
	struct vgpu_graph_hosts *g = s->graph_hosts;

	if (!g)
		return;
	while (g->list) {
		struct graph_host *h = g->list;

		g->list = h->next;
		free(h);
	}
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g);
	s->graph_hosts = NULL;
}
