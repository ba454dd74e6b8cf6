/* SPDX-License-Identifier: MIT */
/*
 * The parent's memory account of one instance (a VM's mdev instance, a local
 * session, or a group of local sessions): what its workers were granted, by
 * path, and what the driver says they use.  Pure bookkeeping, no I/O, so the
 * rules are tested alone (tests/unit/test_quota_account.c); quota_service.c
 * applies them to the workers' links.
 *
 * The device memory in use is the larger of what was granted and what the
 * driver accounts to the instance's workers (NVML), so memory the executor
 * did not see still counts.
 */
#ifndef VGPU_QUOTA_ACCOUNT_H
#define VGPU_QUOTA_ACCOUNT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "quota_proto.h"

struct vgpu_account {
	char name[64];
	uint64_t limit;		/* device bytes; 0 while a share is not resolved yet */
	uint32_t share;		/* nonzero: the limit is this percentage of the device */
	uint64_t staging_limit;	/* host bytes of staged images */
	uint64_t used[VGPU_CHARGE_KINDS];	/* granted to its links, by kind */
	uint64_t measured;	/* what the driver accounts to its workers; 0: not known */
	uint32_t links;
};

struct vgpu_account_link {
	struct vgpu_account *acct;
	uint64_t session_id;
	pid_t pid;		/* the worker, 0 until it runs */
	uint32_t guest_pid;	/* what the worker said at HELLO */
	uint64_t charged[VGPU_CHARGE_KINDS];
	uint64_t measured;	/* the driver's figure for this worker */
};

/* An account with a limit of @limit bytes, or of @share percent of the device. */
void vgpu_account_init(struct vgpu_account *a, const char *name, uint64_t limit, uint32_t share,
		       uint64_t staging_limit);

void vgpu_account_attach(struct vgpu_account_link *l, struct vgpu_account *a,
			 uint64_t session_id);

/* Everything @l was granted goes back to its account. */
void vgpu_account_detach(struct vgpu_account_link *l);

/*
 * A worker reports the device's memory: a share becomes bytes, and no limit
 * is larger than the device.
 */
void vgpu_account_resolve(struct vgpu_account *a, uint64_t device_total);

/* Device bytes in use: the larger of the granted total and the driver's. */
uint64_t vgpu_account_device_used(const struct vgpu_account *a);

/* Grant @bytes of @kind to @l if the account stays within its limit; true when granted. */
bool vgpu_account_charge(struct vgpu_account_link *l, uint32_t kind, uint64_t bytes);

/* @l gives back @bytes of @kind (never more than it was granted). */
void vgpu_account_release(struct vgpu_account_link *l, uint32_t kind, uint64_t bytes);

/*
 * Slack over the limit the driver's figure may show before the instance is
 * over it (the driver counts in pages and includes what contexts reserve).
 */
uint64_t vgpu_account_slack(const struct vgpu_account *a);

#endif /* VGPU_QUOTA_ACCOUNT_H */
