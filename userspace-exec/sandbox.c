// SPDX-License-Identifier: MIT
/* A worker's identity and privileges (see sandbox.h); the filter is in sandbox_seccomp.c. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * A user namespace mapping only our own ids, a network namespace, and no
 * capabilities.  -2 when the kernel offers no user namespace (the worker
 * goes on without), -1 when one was entered but not set up (it must not).
 */
static int enter_userns(char *err, size_t err_len)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct none[2] = { { 0 } };
	uid_t uid = getuid();
	gid_t gid = getgid();
	char map[64];

	/* Its own /proc files must be its own to write its maps (a change of ids makes them root's). */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (unshare(CLONE_NEWUSER)) {
		snprintf(err, err_len, "no user namespace: %s", strerror(errno));
		return -2;
	}
	if (write_file("/proc/self/setgroups", "deny"))
		goto fail;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned int)uid, (unsigned int)uid);
	if (write_file("/proc/self/uid_map", map))
		goto fail;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned int)gid, (unsigned int)gid);
	if (write_file("/proc/self/gid_map", map))
		goto fail;
	/* Nothing outside: no network to reach, no System V IPC of others to see. */
	if (unshare(CLONE_NEWNET | CLONE_NEWIPC))
		goto fail;
	/* The namespace gave us every capability in it: keep none. */
	for (int c = 0; c <= CAP_LAST_CAP; c++)
		prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (syscall(SYS_capset, &hdr, none))
		goto fail;
	return 0;
fail:
	snprintf(err, err_len, "user namespace: %s", strerror(errno));
	return -1;
}

static int set_ids(uid_t uid, gid_t gid, char *err, size_t err_len)
{
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
		snprintf(err, err_len, "cannot become uid %u gid %u: %s", (unsigned int)uid,
			 (unsigned int)gid, strerror(errno));
		return -1;
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid) {
		snprintf(err, err_len, "still not uid %u after setresuid", (unsigned int)uid);
		return -1;
	}
	return 0;
}

int vgpu_sandbox_enter(const struct vgpu_sandbox *sb, char *err, size_t err_len)
{
	struct rlimit none = { 0, 0 };

	if (sb->set_ids) {
		if (set_ids(sb->uid, sb->gid, err, err_len))
			return -1;
	} else if (sb->userns) {
		char why[160];
		int r = enter_userns(err, err_len);

		if (r == -1)
			return -1;
		if (r == -2)
			vgpu_log_event("warn", "sandbox_degraded", "what=userns reason=%s",
				       vgpu_log_str(why, sizeof(why), err));
	}
	if (setrlimit(RLIMIT_CORE, &none)) {
		snprintf(err, err_len, "RLIMIT_CORE: %s", strerror(errno));
		return -1;
	}
	/* After the credentials changed: a change of ids resets both. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
		snprintf(err, err_len, "PR_SET_DUMPABLE: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)) {
		snprintf(err, err_len, "PR_SET_PDEATHSIG: %s", strerror(errno));
		return -1;
	}
	if (sb->parent && getppid() != sb->parent) {
		snprintf(err, err_len, "the executor that started this worker is gone");
		return -1;
	}
	if (sb->seccomp)
		return vgpu_sandbox_seccomp(err, err_len);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		snprintf(err, err_len, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	return 0;
}
