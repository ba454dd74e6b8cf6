// SPDX-License-Identifier: MIT
/*
 * vgpu-executor: the privileged host side.  It replays guests' CUDA calls on
 * the real GPU, one worker process per session.
 *
 *   vgpu-executor --listen [SOCKET]    serve the local transport
 *   vgpu-executor --mdev [CHARDEV]     serve the VMs of vgpu_stub.ko
 *
 * One frontend per process: a host serving both VMs and local programs runs
 * two executors.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_listener.h"
#include "mdev_frontend.h"
#include "size_arg.h"
#include "vgpu/local.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int serve_mdev(const char *chardev, int verbose)
{
	struct vgpu_mdev_frontend_opts o = {
		.libcuda_path = getenv("VGPU_LIBCUDA"),
		.stop_fd = -1,
		.stop_flag = &stop,
		.verbose = verbose,
	};
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	return vgpu_mdev_frontend_run(chardev, &o) ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vgpu-executor --listen [SOCKET] [options]\n"
		"       vgpu-executor --mdev [CHARDEV] [-v]\n"
		"\n"
		"  --listen [SOCKET]   serve the local transport on a Unix socket\n"
		"                      (default: $VGPU_SOCKET, $XDG_RUNTIME_DIR/vgpu.sock\n"
		"                      or /tmp/vgpu-UID.sock)\n"
		"  --mdev [CHARDEV]    serve every VGPU-STUB instance of vgpu_stub.ko\n"
		"                      (default /dev/vgpu-stub; root)\n"
		"  -v, --verbose       log the instances' events (--mdev)\n"
		"  --bar1-size SIZE    shared memory per local session (default 64M)\n"
		"  --mem-quota SIZE    device memory per session (default: the whole device)\n"
		"  --ready-fd FD       write \"ready\" to FD once listening\n"
		"\n"
		"Environment: VGPU_LIBCUDA (the driver to load), VGPU_CACHE_DIR (module\n"
		"cache), VGPU_POLL_US (how long a worker polls before it sleeps).\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", optional_argument, NULL, 'l' },
		{ "mdev", optional_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "bar1-size", required_argument, NULL, 'b' },
		{ "mem-quota", required_argument, NULL, 'q' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct vgpu_local_options opt = { .bar1_size = 64ull << 20, .ready_fd = -1 };
	char path[108];
	bool listen = false, mdev = false;
	const char *chardev = NULL;
	int c, verbose = 0;

	while ((c = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			mdev = true;
			if (!optarg && optind < argc && argv[optind][0] != '-')
				optarg = argv[optind++];
			chardev = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'l':
			listen = true;
			if (!optarg && optind < argc && argv[optind][0] != '-')
				optarg = argv[optind++];
			opt.socket_path = optarg;
			break;
		case 'b':
			if (vgpu_parse_size(optarg, &opt.bar1_size)) {
				fprintf(stderr, "vgpu-executor: bad size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'q':
			if (vgpu_parse_size(optarg, &opt.mem_quota)) {
				fprintf(stderr, "vgpu-executor: bad size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'r':
			opt.ready_fd = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (listen == mdev || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (mdev)
		return serve_mdev(chardev, verbose);
	if (!opt.socket_path) {
		if (vgpu_local_socket_path(path, sizeof(path))) {
			fprintf(stderr, "vgpu-executor: socket path too long\n");
			return 2;
		}
		opt.socket_path = path;
	}
	return vgpu_local_listen(&opt);
}
