// SPDX-License-Identifier: MIT
/* The executor's structured log (see log.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *process_name = "parent";
static int min_rank;

static int rank(const char *level)
{
	if (!strcmp(level, "info"))
		return 0;
	if (!strcmp(level, "warn"))
		return 1;
	if (!strcmp(level, "error"))
		return 2;
	return -1;
}

int vgpu_log_rank(void)
{
	return min_rank;
}

void vgpu_log_set_rank(int r)
{
	if (r >= 0 && r <= 2)
		min_rank = r;
}

int vgpu_log_set_level(const char *level)
{
	int r = rank(level);

	if (r < 0)
		return -1;
	min_rank = r;
	return 0;
}

void vgpu_log_set_process(const char *name)
{
	process_name = name;
}

static int safe_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == ':' || c == '/' || c == '@' || c == '+' || c == '-';
}

const char *vgpu_log_str(char *buf, size_t len, const char *s)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	int plain = *p != '\0';

	if (len < 3) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	for (const unsigned char *q = p; *q && plain; q++)
		plain = safe_char(*q);
	if (plain) {
		snprintf(buf, len, "%s", (const char *)p);
		return buf;
	}
	buf[o++] = '"';
	/* Room for the widest escape (4), the closing quote and the NUL. */
	for (; *p && o + 6 <= len; p++) {
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else if (*p < 0x20 || *p >= 0x7f) {
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
		} else {
			buf[o++] = (char)*p;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

void vgpu_log_event(const char *level, const char *event, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;

	if (rank(level) < min_rank)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ proc=%s pid=%d level=%s event=%s",
			      ts.tv_nsec / 1000000, process_name, (int)getpid(), level, event);
	if (fmt && *fmt && n < sizeof(line) - 2) {
		line[n++] = ' ';
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
		va_end(ap);
		n = strlen(line);
	}
	/* A value that carried a newline would end the line early: printf'd values never do. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;	/* nowhere to say it */
}

int vgpu_log_allow(struct vgpu_log_limit *l, uint32_t *suppressed)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (now - l->window_start_ns >= 1000000000ull) {
		l->window_start_ns = now;
		l->in_window = 0;
	}
	if (l->in_window >= VGPU_LOG_BURST) {
		l->suppressed++;
		return 0;
	}
	l->in_window++;
	*suppressed = l->suppressed;
	l->suppressed = 0;
	return 1;
}
