// SPDX-License-Identifier: MIT
/*
 * Runs the mdev frontend (userspace-exec/mdev_frontend.c) on its own, for the
 * system test: vgpu-mdev-frontend [-v] [--libcuda PATH] [CHARDEV].
 * SIGTERM/SIGINT stop it; every worker is gone when it exits.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdev_frontend.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct vgpu_mdev_frontend_opts o = { .stop_fd = -1, .stop_flag = &stop };
	struct sigaction sa = { .sa_handler = on_signal };
	const char *path = NULL;
	int i;

	o.libcuda_path = getenv("VGPU_LIBCUDA");
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			o.verbose = 1;
		else if (!strcmp(argv[i], "--libcuda") && i + 1 < argc)
			o.libcuda_path = argv[++i];
		else
			path = argv[i];
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	return vgpu_mdev_frontend_run(path, &o) ? 1 : 0;
}
