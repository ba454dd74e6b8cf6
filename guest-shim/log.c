// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "log.h"

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static FILE *log_file;

static void log_open(void)
{
	const char *v = getenv("VGPU_LOG");

	if (!v || !*v || !strcmp(v, "0"))
		return;
	if (v[0] == '/')
		log_file = fopen(v, "ae");
	if (!log_file)
		log_file = stderr;
}

bool vgpu_log_enabled(void)
{
	pthread_once(&log_once, log_open);
	return log_file != NULL;
}

void vgpu_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (!vgpu_log_enabled())
		return;
	n = snprintf(line, sizeof(line), "vgpu[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	/* One write per line, so lines of several threads do not interleave. */
	fprintf(log_file, "%s\n", line);
	fflush(log_file);
}
