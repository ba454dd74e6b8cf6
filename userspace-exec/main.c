// SPDX-License-Identifier: MIT
/*
 * vgpu-executor: the privileged host side.  It replays guests' CUDA calls on
 * the real GPU, one worker process per session.
 *
 *   vgpu-executor --listen [SOCKET]    serve the local transport
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_listener.h"
#include "size_arg.h"
#include "vgpu/local.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vgpu-executor --listen [SOCKET] [options]\n"
		"\n"
		"  --listen [SOCKET]   serve the local transport on a Unix socket\n"
		"                      (default: $VGPU_SOCKET, $XDG_RUNTIME_DIR/vgpu.sock\n"
		"                      or /tmp/vgpu-UID.sock)\n"
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
		{ "bar1-size", required_argument, NULL, 'b' },
		{ "mem-quota", required_argument, NULL, 'q' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct vgpu_local_options opt = { .bar1_size = 64ull << 20, .ready_fd = -1 };
	char path[108];
	bool listen = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
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
	if (!listen || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!opt.socket_path) {
		if (vgpu_local_socket_path(path, sizeof(path))) {
			fprintf(stderr, "vgpu-executor: socket path too long\n");
			return 2;
		}
		opt.socket_path = path;
	}
	return vgpu_local_listen(&opt);
}
