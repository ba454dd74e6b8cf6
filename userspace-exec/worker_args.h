/* SPDX-License-Identifier: MIT */
/*
 * What a worker is told when it is exec'd (`vgpu-executor --worker KEY=VALUE
 * ...`, see worker_spawn.c): which session, the layout the parent computed
 * (the worker never takes it from BAR1), its limits and its sandbox.  Its
 * descriptors are at fixed numbers.  The parser is strict: an unknown key, a
 * repeated key or a value out of range is an error.
 */
#ifndef VGPU_WORKER_ARGS_H
#define VGPU_WORKER_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A worker's descriptors after exec. */
#define VGPU_WORKER_FD_BAR1	3
#define VGPU_WORKER_FD_BAR0	4	/* local transport only */
#define VGPU_WORKER_FD_DOORBELL	5
#define VGPU_WORKER_FD_IRQ	6
#define VGPU_WORKER_FD_CONTROL	7	/* the memory account's link */
#define VGPU_WORKER_FD_STATS	8	/* the private stats page */
#define VGPU_WORKER_FD_LAST	8

struct vgpu_worker_args {
	uint64_t session_id;
	uint64_t bar1_size;
	uint32_t channels;	/* of the instance's BAR1 */
	uint32_t channel;	/* this worker's */
	uint64_t heap_size;
	uint64_t mem_quota;	/* without a control link: the session's own limit */
	bool bar0, control, stats;	/* which optional descriptors it has */
	int32_t parent;		/* the pid it must run under */
	/* sandbox (sandbox.h) */
	bool set_ids;		/* become uid/gid (the parent is root) */
	uint32_t uid, gid;
	bool userns;		/* enter a user namespace of its own */
	bool seccomp;
	/* what its memory account and module cache need */
	uint64_t ctx_mem;
	uint64_t cache_size;	/* the shared directory's cap, bytes */
	uint64_t image_memory;	/* the session's own cap on images in memory */
	char cache_dir[512];	/* "" for none */
	uint32_t log_rank;	/* the lowest log level written (log.h) */
};

/* Longest argument vector vgpu_worker_args_format() makes (argv[0] included, NULL not). */
#define VGPU_WORKER_ARGC	24

/*
 * Fill @argv (VGPU_WORKER_ARGC + 1 entries) with @exe, "--worker" and @a's
 * keys, their text in @buf (@len bytes).  Returns the count, or -1 if @buf is
 * too small.
 */
int vgpu_worker_args_format(const struct vgpu_worker_args *a, const char *exe, char **argv,
			    char *buf, size_t len);

/* Parse the KEY=VALUE words after "--worker".  0, or -1 with a message in @err. */
int vgpu_worker_args_parse(int argc, char *const *argv, struct vgpu_worker_args *a, char *err,
			   size_t err_len);

#endif /* VGPU_WORKER_ARGS_H */
