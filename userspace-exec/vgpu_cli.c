// SPDX-License-Identifier: MIT
/*
 * vgpu: the command a user types.
 *
 *   vgpu run [--mem-limit SIZE|N%] -- COMMAND...   run COMMAND on the shim,
 *        starting a local executor first when none is running (and stopping
 *        it afterwards); all of COMMAND's processes share the memory limit
 *   vgpu status                                 list the executor's sessions
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vgpu/local.h"

static int connect_to(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The folder this program lives in (build/bin, or an installed bin/). */
static int self_dir(char *out, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", out, len - 1);
	char *slash;

	if (n <= 0)
		return -1;
	out[n] = '\0';
	slash = strrchr(out, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	return 0;
}

static int status_cmd(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd = connect_to(path);

	if (fd < 0) {
		printf("no executor is running at %s\n", path);
		return 1;
	}
	if (write(fd, VGPU_LOCAL_STATUS, strlen(VGPU_LOCAL_STATUS)) < 0) {
		perror("vgpu status");
		return 1;
	}
	printf("executor at %s\n", path);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	return 0;
}

/* Start vgpu-executor from our folder; returns its pid once it listens, or -1. */
static pid_t start_executor(const char *bindir, const char *path, const char *quota)
{
	char exe[PATH_MAX + 32], fdarg[16];
	int p[2];
	pid_t pid;
	struct pollfd pf;
	char buf[8];

	snprintf(exe, sizeof(exe), "%s/vgpu-executor", bindir);
	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		char *args[14];
		int n = 0;

		close(p[0]);
		snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
		args[n++] = exe;
		args[n++] = "--listen";
		args[n++] = (char *)path;
		args[n++] = "--ready-fd";
		args[n++] = fdarg;
		/* The executor is this command's alone: its processes are one instance. */
		args[n++] = "--quota-group";
		args[n++] = "uid";
		/* Session starts and ends are an operator's business, not the command's output. */
		args[n++] = "--log-level";
		args[n++] = "warn";
		if (quota) {
			args[n++] = "--mem-limit";
			args[n++] = (char *)quota;
		}
		args[n] = NULL;
		execv(exe, args);
		fprintf(stderr, "vgpu: cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	pf = (struct pollfd){ .fd = p[0], .events = POLLIN };
	if (pid < 0 || poll(&pf, 1, 10000) != 1 || read(p[0], buf, sizeof(buf)) <= 0) {
		close(p[0]);
		if (pid > 0) {
			kill(pid, SIGTERM);
			waitpid(pid, NULL, 0);
		}
		return -1;
	}
	close(p[0]);
	return pid;
}

static int run_cmd(char **cmd, const char *path, const char *quota)
{
	char bindir[PATH_MAX], libdir[PATH_MAX + 8], ldpath[2 * PATH_MAX];
	const char *old = getenv("LD_LIBRARY_PATH");
	pid_t executor = 0, child;
	int ws = 0, fd;

	if (self_dir(bindir, sizeof(bindir))) {
		fprintf(stderr, "vgpu: cannot find my own folder\n");
		return 127;
	}
	snprintf(libdir, sizeof(libdir), "%s/../lib", bindir);
	fd = connect_to(path);
	if (fd >= 0) {
		close(fd);
		if (quota)
			fprintf(stderr, "vgpu: an executor is running at %s; --mem-limit ignored\n",
				path);
	} else {
		/* Started before the shim's folder is on any path: it loads the real driver. */
		executor = start_executor(bindir, path, quota);
		if (executor < 0) {
			fprintf(stderr, "vgpu: could not start an executor at %s\n", path);
			return 127;
		}
	}

	snprintf(ldpath, sizeof(ldpath), "%s%s%s", libdir, old && *old ? ":" : "", old ? old : "");
	child = fork();
	if (child == 0) {
		setenv("LD_LIBRARY_PATH", ldpath, 1);
		setenv("VGPU_SOCKET", path, 1);
		/* Triton links the driver it finds with ldconfig unless told where. */
		setenv("TRITON_LIBCUDA_PATH", libdir, 1);
		execvp(cmd[0], cmd);
		fprintf(stderr, "vgpu: cannot run %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	/* The command owns the terminal's signals; we wait for it and clean up. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	while (child > 0 && waitpid(child, &ws, 0) < 0 && errno == EINTR)
		;
	if (executor > 0) {
		kill(executor, SIGTERM);
		waitpid(executor, NULL, 0);
	}
	if (child < 0)
		return 127;
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vgpu run [--mem-limit SIZE|N%%] -- COMMAND [ARGS...]\n"
		   "       vgpu status\n"
		   "\n"
		   "run     runs COMMAND with vgpu's libcuda.so.1 first on its library path;\n"
		   "        starts a local executor if none is running, stops it afterwards\n"
		   "status  lists the running executor's sessions: instance, client and guest\n"
		   "        process, memory used of the quota, calls per second, GPU time\n"
		   "\n"
		   "The executor's socket: $VGPU_SOCKET, $XDG_RUNTIME_DIR/vgpu.sock or\n"
		   "/tmp/vgpu-UID.sock.\n");
}

int main(int argc, char **argv)
{
	char path[108];
	const char *quota = NULL;
	int i = 2;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (vgpu_local_socket_path(path, sizeof(path))) {
		fprintf(stderr, "vgpu: socket path too long\n");
		return 2;
	}
	if (!strcmp(argv[1], "status"))
		return status_cmd(path);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "run")) {
		usage(stderr);
		return 2;
	}
	if (i < argc && (!strcmp(argv[i], "--mem-limit") || !strcmp(argv[i], "--mem-quota")) &&
	    i + 1 < argc) {
		quota = argv[i + 1];
		i += 2;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	return run_cmd(argv + i, path, quota);
}
