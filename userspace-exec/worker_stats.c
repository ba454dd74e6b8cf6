// SPDX-License-Identifier: MIT
/* The stats page between a worker and its parent (see worker_stats.h). */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "worker_stats.h"

#define STATS_SIZE	4096

struct vgpu_worker_stats *vgpu_worker_stats;

const struct vgpu_worker_stats *vgpu_worker_stats_create(int *fd)
{
	void *p;
	int f = memfd_create("vgpu-worker-stats", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (f < 0)
		return NULL;
	if (ftruncate(f, STATS_SIZE) ||
	    fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		close(f);
		return NULL;
	}
	p = mmap(NULL, STATS_SIZE, PROT_READ, MAP_SHARED, f, 0);
	if (p == MAP_FAILED) {
		close(f);
		return NULL;
	}
	*fd = f;
	return p;
}

void vgpu_worker_stats_unmap(const struct vgpu_worker_stats *st)
{
	if (st)
		munmap((void *)st, STATS_SIZE);
}

int vgpu_worker_stats_attach(int fd)
{
	void *p = mmap(NULL, STATS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -1;
	vgpu_worker_stats = p;
	vgpu_worker_stats->magic = VGPU_STATS_MAGIC;
	return 0;
}
