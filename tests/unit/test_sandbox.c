// SPDX-License-Identifier: MIT
/*
 * The worker's sandbox (userspace-exec/sandbox.c, sandbox_seccomp.c), each
 * step in a child process of its own: what the filter lets through, what it
 * refuses with an errno, what ends the process (and that the process says
 * which call it was), and that entering the sandbox fails closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "test.h"

static void *thread_fn(void *arg)
{
	return arg;
}

/* Run @fn in a child; its exit status (or 1000 + signal). */
static int in_child(int (*fn)(void))
{
	int ws;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &ws, 0) != pid)
		return -1;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 1000 + WTERMSIG(ws);
}

/* Allowed calls work; refused ones fail with their errno.  0, or the number of the check failed. */
static int filtered_calls(void)
{
	char err[256];
	pthread_t t;
	void *p;
	int fd;

	if (vgpu_sandbox_seccomp(err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || getpid() <= 0 || write(STDOUT_FILENO, "", 0) != 0)
		return 2;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return 3;
	close(fd);
	if (pthread_create(&t, NULL, thread_fn, NULL) || pthread_join(t, NULL))
		return 4;	/* threads: clone3 refused, clone with CLONE_THREAD taken */
	if (socket(AF_INET, SOCK_STREAM, 0) >= 0 || errno != EAFNOSUPPORT)
		return 5;
	if (execl("/bin/true", "true", (char *)NULL) == 0 || errno != EPERM)
		return 6;
	if (fork() >= 0 || errno != EPERM)
		return 7;	/* a process of its own: refused */
	if (kill(getppid(), 0) == 0 || errno != EPERM)
		return 8;	/* signals to another process */
	if (kill(getpid(), 0) != 0)
		return 9;	/* its own: fine */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0 || errno != EPERM)
		return 10;	/* undoing the sandbox */
	if (prctl(PR_SET_NAME, "t", 0, 0, 0) != 0)
		return 11;
	if (syscall(SYS_prlimit64, getppid(), RLIMIT_NOFILE, NULL, NULL) == 0 || errno != EPERM)
		return 12;	/* another process's limits */
	return 0;
}

/*
 * A call outside the list is refused with ENOSYS and the process goes on
 * (the handler sets the return value): PTRACE_TRACEME must not take effect.
 */
static bool traced(void)
{
	char line[256];
	bool yes = false;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "TracerPid:", 10))
			yes = atoi(line + 10) != 0;
	if (f)
		fclose(f);
	return yes;
}

static int trapped_call(void)
{
	char err[256];

	if (vgpu_sandbox_seccomp(err, sizeof(err)))
		return 1;
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != ENOSYS)
		return 2;
	if (traced())
		return 3;	/* the call went through */
	/* A second time: refused again (the handler names each call once only). */
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != ENOSYS)
		return 4;
	return 0;
}

static int io_uring_call(void)
{
	char err[256];

	if (vgpu_sandbox_seccomp(err, sizeof(err)))
		return 1;
	if (syscall(SYS_io_uring_setup, 1, NULL) != -1 || errno != ENOSYS)
		return 2;
	return 0;
}

/* The links the real driver makes as it initialises are allowed. */
static int driver_links(void)
{
	char dir[] = "/tmp/vgpu-sandbox-XXXXXX", a[64], b[64];
	char err[256];
	int r = 0;

	if (!mkdtemp(dir))
		return 1;
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	if (vgpu_sandbox_seccomp(err, sizeof(err)))
		return 2;
	if (symlink("target", a) || syscall(SYS_symlinkat, "target", AT_FDCWD, b))
		r = 3;
	unlink(a);
	unlink(b);
	rmdir(dir);
	return r;
}

/* Entering fails closed: a worker whose parent is not the one named must not serve. */
static int wrong_parent(void)
{
	struct vgpu_sandbox sb = { .seccomp = false, .parent = 1 };
	char err[256];

	if (getppid() == 1)
		return 2;
	return vgpu_sandbox_enter(&sb, err, sizeof(err)) == -1 ? 0 : 1;
}

/* As root: the worker's own uid and gid, not dumpable, no groups, no new privileges. */
static int own_uid(void)
{
	struct vgpu_sandbox sb = { .set_ids = true, .uid = 65534, .gid = 65534, .seccomp = true,
				   .parent = getppid() };
	char err[256];
	gid_t groups[4];

	if (vgpu_sandbox_enter(&sb, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (getuid() != 65534 || geteuid() != 65534 || getgid() != 65534)
		return 2;
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 3;
	if (getgroups(4, groups) != 0)
		return 4;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 5;
	/* Back to root it cannot go: no id of the three is root's. */
	{
		uid_t r, e, sv;

		if (getresuid(&r, &e, &sv) || r != 65534 || e != 65534 || sv != 65534)
			return 6;
	}
	return 0;
}

/* Not root, and asked to become another uid: refused, not ignored. */
static int not_root_ids(void)
{
	struct vgpu_sandbox sb = { .set_ids = true, .uid = 12345, .gid = 12345 };
	char err[256];

	if (setresuid(65534, 65534, 65534))
		return 2;
	return vgpu_sandbox_enter(&sb, err, sizeof(err)) == -1 ? 0 : 1;
}

/* Not root, with a user namespace where the kernel offers one: no capabilities left in it. */
static int user_namespace(void)
{
	struct vgpu_sandbox sb = { .userns = true, .seccomp = true, .parent = getppid() };
	char err[256];

	if (geteuid() == 0 && (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)))
		return 2;
	if (vgpu_sandbox_enter(&sb, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (getuid() != 65534 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 3;
	return 0;
}

int main(void)
{
	int r;

	r = in_child(filtered_calls);
	if (r)
		fprintf(stderr, "filtered calls: check %d\n", r);
	CHECK(r == 0);
	CHECK(in_child(trapped_call) == 0);
	CHECK(in_child(io_uring_call) == 0);
	CHECK(in_child(driver_links) == 0);
	CHECK(in_child(wrong_parent) == 0);
	if (geteuid() == 0) {
		r = in_child(own_uid);
		if (r)
			fprintf(stderr, "own uid: check %d\n", r);
		CHECK(r == 0);
		CHECK(in_child(not_root_ids) == 0);
	} else {
		printf("not root: the uid switch is not checked here\n");
	}
	r = in_child(user_namespace);
	if (r)
		fprintf(stderr, "user namespace: check %d\n", r);
	CHECK(r == 0);
	return TEST_RESULT();
}
