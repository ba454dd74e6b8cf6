/* SPDX-License-Identifier: MIT */
/*
 * The local transport: the same BAR0/BAR1 layout in shared memory, handed
 * out over a Unix socket, with eventfds for the doorbell and the interrupt.
 *
 * A client connects and writes one request line:
 *   "ATTACH\n"  the executor answers with struct vgpu_local_attach and four
 *               descriptors (SCM_RIGHTS): BAR0 memfd, BAR1 memfd, doorbell
 *               eventfd, interrupt eventfd.  The client keeps the socket
 *               open for the life of its session; closing it ends it.
 *   "STATUS\n"  the executor answers with text, one line per session, and
 *               closes.
 */
#ifndef VGPU_LOCAL_H
#define VGPU_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#define VGPU_LOCAL_ATTACH	"ATTACH\n"
#define VGPU_LOCAL_STATUS	"STATUS\n"
#define VGPU_LOCAL_MAGIC	0x4c475056u	/* "VPGL" */

struct vgpu_local_attach {
	uint32_t magic;		/* VGPU_LOCAL_MAGIC */
	int32_t status;		/* 0, or a CUresult saying why there is no session */
	uint64_t bar0_size;
	uint64_t bar1_size;
	uint64_t session_id;
	uint32_t channel;	/* the channel this client owns */
	uint32_t reserved;
};

/*
 * The executor's socket: $VGPU_SOCKET, else $XDG_RUNTIME_DIR/vgpu.sock, else
 * /tmp/vgpu-<uid>.sock.  Returns 0, or -1 if it does not fit @len.
 */
int vgpu_local_socket_path(char *out, size_t len);

#endif /* VGPU_LOCAL_H */
