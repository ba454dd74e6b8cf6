// SPDX-License-Identifier: MIT
/* The memory account of one instance (see quota_account.h). */
#include <stdio.h>
#include <string.h>

#include "quota_account.h"

void vgpu_account_init(struct vgpu_account *a, const char *name, uint64_t limit, uint32_t share,
		       uint64_t staging_limit)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->share = share > 100 ? 100 : share;
	a->limit = a->share ? 0 : limit;
	a->staging_limit = staging_limit;
}

void vgpu_account_attach(struct vgpu_account_link *l, struct vgpu_account *a,
			 uint64_t session_id)
{
	memset(l, 0, sizeof(*l));
	l->acct = a;
	l->session_id = session_id;
	a->links++;
}

void vgpu_account_detach(struct vgpu_account_link *l)
{
	struct vgpu_account *a = l->acct;

	if (!a)
		return;
	for (uint32_t k = 0; k < VGPU_CHARGE_KINDS; k++)
		a->used[k] -= l->charged[k];
	a->measured = a->measured > l->measured ? a->measured - l->measured : 0;
	a->links--;
	memset(l, 0, sizeof(*l));
}

void vgpu_account_resolve(struct vgpu_account *a, uint64_t device_total)
{
	uint64_t want;

	if (!device_total)
		return;
	want = a->share == 100	? device_total
	       : a->share	? device_total / 100 * a->share + device_total % 100 * a->share / 100
				: a->limit;
	/* The first report fixes a share; later ones can only lower a limit. */
	if (a->share && a->limit)
		want = a->limit;
	if (!want || want > device_total)
		want = device_total;
	a->limit = want;
}

static uint64_t device_granted(const struct vgpu_account *a)
{
	uint64_t sum = 0;

	for (uint32_t k = 0; k < VGPU_CHARGE_DEVICE_KINDS; k++)
		sum += a->used[k];
	return sum;
}

uint64_t vgpu_account_device_used(const struct vgpu_account *a)
{
	uint64_t granted = device_granted(a);

	return a->measured > granted ? a->measured : granted;
}

bool vgpu_account_charge(struct vgpu_account_link *l, uint32_t kind, uint64_t bytes)
{
	struct vgpu_account *a = l->acct;
	uint64_t used, limit;

	if (!a || kind >= VGPU_CHARGE_KINDS)
		return false;
	if (kind == VGPU_CHARGE_STAGING) {
		used = a->used[kind];
		limit = a->staging_limit;
	} else {
		/* Nothing is granted before the limit is known. */
		used = vgpu_account_device_used(a);
		limit = a->limit;
	}
	if (used > limit || bytes > limit - used)
		return false;
	a->used[kind] += bytes;
	l->charged[kind] += bytes;
	return true;
}

void vgpu_account_release(struct vgpu_account_link *l, uint32_t kind, uint64_t bytes)
{
	if (!l->acct || kind >= VGPU_CHARGE_KINDS)
		return;
	if (bytes > l->charged[kind])
		bytes = l->charged[kind];
	l->charged[kind] -= bytes;
	l->acct->used[kind] -= bytes;
}

uint64_t vgpu_account_slack(const struct vgpu_account *a)
{
	return (64ull << 20) + a->limit / 16;
}
