/* SPDX-License-Identifier: MIT */
/*
 * A worker's least privilege (decision 7), entered after exec and before it
 * serves (so before the driver is loaded):
 *
 *  1. identity: as root, its own uid and gid from the parent's range, no
 *     supplementary groups (so workers of different sessions cannot signal,
 *     trace or read each other); otherwise a user namespace of its own with
 *     no network namespace shared, and no capabilities left in it;
 *  2. no core dumps (RLIMIT_CORE 0) and not dumpable (PR_SET_DUMPABLE 0: no
 *     ptrace, no /proc/PID/mem, its /proc files belong to root);
 *  3. the parent-death signal again (a credential change clears it), and a
 *     check that the parent is still the one that started it;
 *  4. no new privileges, then a seccomp filter: an allowlist of the system
 *     calls the driver and the worker make (sandbox_seccomp.c).
 *
 * Steps 2-4 fail closed: a worker that cannot enter them does not serve.
 * Step 1 without root falls back to the parent's uid when the kernel refuses
 * user namespaces (logged as sandbox_degraded).
 */
#ifndef VGPU_SANDBOX_H
#define VGPU_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct vgpu_sandbox {
	bool set_ids;		/* become uid/gid (needs root) */
	uid_t uid;
	gid_t gid;
	bool userns;		/* otherwise: a user namespace of its own */
	bool seccomp;		/* false only with --no-seccomp, for diagnosis */
	pid_t parent;		/* the process that must remain the parent */
};

/* Enter @sb in this (single-threaded) process.  0, or -1 with the reason in @err. */
int vgpu_sandbox_enter(const struct vgpu_sandbox *sb, char *err, size_t err_len);

/*
 * Install the seccomp filter alone (no_new_privs first).  Denied calls that
 * the driver may try and handle (starting processes, sockets other than
 * AF_UNIX and netlink) fail with an errno; any other call outside the
 * allowlist fails with ENOSYS, and a line on stderr names it (once).
 */
int vgpu_sandbox_seccomp(char *err, size_t err_len);

#endif /* VGPU_SANDBOX_H */
