/* SPDX-License-Identifier: MIT */
/*
 * The executor's structured log: one event a line on stderr,
 *
 *   ts=2026-12-02T04:19:00.123Z proc=parent pid=812 level=info event=session_start session=3 uid=1000
 *
 * key=value pairs, keys fixed by the code.  Values that come from a guest or
 * a client (names, paths) go through vgpu_log_str(), which quotes and escapes
 * them, so no input can forge a line or a key.  Each line is one write(), so
 * the lines of the parent and its workers do not interleave.
 *
 * Events a guest can trigger at will (quota refusals, bad input) go through a
 * vgpu_log_limit, so a guest cannot flood the log: at most a few lines a
 * second per limiter, and a count of what was suppressed.
 */
#ifndef VGPU_EXEC_LOG_H
#define VGPU_EXEC_LOG_H

#include <stddef.h>
#include <stdint.h>

/* What this process is in the log's proc= field ("parent", "worker"). */
void vgpu_log_set_process(const char *name);

/*
 * Lines below @level ("info" < "warn" < "error") are not written; 0, or -1
 * for a level that is none of these.
 */
int vgpu_log_set_level(const char *level);

/* The lowest level written, as 0 (info), 1 (warn) or 2 (error): what a worker is told. */
int vgpu_log_rank(void);
void vgpu_log_set_rank(int rank);

/* Log @event at @level ("info", "warn", "error") with the key=value pairs @fmt makes. */
void vgpu_log_event(const char *level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * @s as a log value: unchanged if it is a non-empty run of safe characters
 * ([A-Za-z0-9._:/@+-]), else in double quotes with \" \\ and \xNN escapes.
 * Returns @buf (@len bytes; the value is cut short to fit).
 */
const char *vgpu_log_str(char *buf, size_t len, const char *s);

/* A token bucket for events a guest can trigger at will. */
struct vgpu_log_limit {
	uint64_t window_start_ns;
	uint32_t in_window;	/* lines logged in the current second */
	uint32_t suppressed;	/* lines dropped since the last one logged */
};

/* Lines per second a vgpu_log_limit lets through. */
#define VGPU_LOG_BURST	5u

/*
 * True when a line may be logged now; *@suppressed receives how many were
 * dropped before it (to be logged with it as suppressed=N).
 */
int vgpu_log_allow(struct vgpu_log_limit *l, uint32_t *suppressed);

#endif /* VGPU_EXEC_LOG_H */
