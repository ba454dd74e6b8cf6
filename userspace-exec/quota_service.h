/* SPDX-License-Identifier: MIT */
/*
 * The parent's side of the memory quota: the accounts of every instance and
 * a link per worker (quota_proto.h), served by one thread of the parent so
 * that neither frontend's loop waits on a worker.  The thread never blocks
 * on a worker: its end of each link is non-blocking, and a worker that
 * sends garbage or does not read its answers is killed.  Where the driver's
 * per-process accounting is there (gpu_usage.h), the thread samples it
 * every VGPU_QUOTA_SAMPLE_MS and an instance's use is the larger of what was
 * granted and what the driver counts; an instance far over its limit loses
 * its largest worker.
 *
 * The functions below are for the frontends' thread; they take the
 * service's lock.
 */
#ifndef VGPU_QUOTA_SERVICE_H
#define VGPU_QUOTA_SERVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gpu_usage.h"
#include "quota_account.h"

#define VGPU_QUOTA_SAMPLE_MS	2000
#define VGPU_QUOTA_MAX_LINKS	4096

struct vgpu_quota_service;

/* Start the service; @usage (may be NULL) becomes the service's. */
struct vgpu_quota_service *vgpu_quota_service_start(struct vgpu_gpu_usage *usage);
void vgpu_quota_service_stop(struct vgpu_quota_service *svc);

/*
 * The account named @name, made with these limits if it does not exist yet
 * (an existing one keeps its own).  Each get is matched by a put.
 */
struct vgpu_account *vgpu_quota_account_get(struct vgpu_quota_service *svc, const char *name,
					    uint64_t limit, uint32_t share,
					    uint64_t staging_limit);
void vgpu_quota_account_put(struct vgpu_quota_service *svc, struct vgpu_account *a);

/*
 * A link to @a for a worker about to start: its id (> 0), and in
 * *@worker_fd the end the worker gets (the caller closes it once the worker
 * runs).  -1 when no link can be made.
 */
int vgpu_quota_link(struct vgpu_quota_service *svc, struct vgpu_account *a,
		    uint64_t session_id, int *worker_fd);

/* The link's worker is @pid (it may then be killed by the service). */
void vgpu_quota_link_pid(struct vgpu_quota_service *svc, int id, pid_t pid);

/* The link's worker is gone: everything it was granted goes back. */
void vgpu_quota_unlink(struct vgpu_quota_service *svc, int id);

struct vgpu_quota_view {
	uint64_t limit;		/* the instance's, device bytes (0: not known yet) */
	uint64_t used;		/* the instance's use, all its sessions */
	uint64_t session;	/* what this link was granted */
	uint64_t measured;	/* the driver's figure for this worker, 0: not known */
	uint32_t guest_pid;
	char account[64];
};

/* What link @id and its account stand at; false for an unknown id. */
bool vgpu_quota_view(struct vgpu_quota_service *svc, int id, struct vgpu_quota_view *out);

#endif /* VGPU_QUOTA_SERVICE_H */
