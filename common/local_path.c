// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#include "vgpu/local.h"

int vgpu_local_socket_path(char *out, size_t len)
{
	const char *env = getenv("VGPU_SOCKET");
	const char *run = getenv("XDG_RUNTIME_DIR");
	int n;

	if (env && *env)
		n = snprintf(out, len, "%s", env);
	else if (run && *run)
		n = snprintf(out, len, "%s/vgpu.sock", run);
	else
		n = snprintf(out, len, "/tmp/vgpu-%u.sock", (unsigned int)getuid());
	/* It must also fit a sockaddr_un. */
	return n > 0 && (size_t)n < len && (size_t)n < sizeof(((struct sockaddr_un *)0)->sun_path)
		       ? 0
		       : -1;
}
