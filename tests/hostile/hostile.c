// SPDX-License-Identifier: MIT
/*
 * The malicious-client suite: one attack per case against a running
 * `vgpu-executor --listen` (with the driver TEST DOUBLE, tests/fakecuda,
 * behind it), each beside a healthy session that must keep working.
 *
 *   hostile CASE SOCKET [ARGS...]
 *
 * A case prints what it saw and exits 0 when the executor held, 1 when it
 * did not, 77 when a named prerequisite is missing.  After every attack the
 * healthy session does real work again and a new session must attach and
 * work, so a crashed or hung executor fails the case.
 * tests/hostile/t-hostile.sh runs every case against its executors.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hclient.h"
#include "vgpu/regs.h"

#define ROUNDTRIP_BYTES	(64u << 10)
#define MIB		(1ull << 20)

/* cuda.h's numbers, without its header. */
#define CU_OK				0u
#define CU_INVALID_VALUE		1u
#define CU_OUT_OF_MEMORY		2u
#define CU_INVALID_IMAGE		200u
#define CU_INVALID_HANDLE		400u
#define CU_NOT_PERMITTED		800u
#define CU_NOT_SUPPORTED		801u
#define CU_LIMIT_MALLOC_HEAP_SIZE	2u
#define CU_CTX_SCHED_BLOCKING_SYNC	0x04u
#define CU_CTX_MAP_HOST			0x08u
#define CU_CTX_COREDUMP_ENABLE		0x20u
#define CU_CTX_USER_COREDUMP_ENABLE	0x40u

static int failures;

#define EXPECT(cond, ...)                                                      \
	do {                                                                   \
		if (cond) {                                                    \
			printf("ok:   " __VA_ARGS__);                          \
		} else {                                                       \
			printf("FAIL: " __VA_ARGS__);                          \
			failures++;                                            \
		}                                                              \
		printf("\n");                                                  \
		fflush(stdout);                                                \
	} while (0)

static const char *sock_path;
static struct hc_session healthy;

static uint32_t sync_call(struct hc_session *s, uint16_t op, uint32_t ctx, const void *a,
			  size_t len, struct vgpu_completion *ans)
{
	return hc_call(s, op, true, ctx, a, len, NULL, 0, ans);
}

/* A session attached and started; false (with a message) if that failed. */
static bool open_session(struct hc_session *s, const char *who)
{
	int r = hc_attach(sock_path, s);
	uint32_t st;

	if (r) {
		printf("%s: attach %s (status %d)\n", who, r > 0 ? "refused" : "failed",
		       s->attach_status);
		return false;
	}
	st = hc_start(s);
	if (st) {
		printf("%s: HELLO or context retain: status %#x\n", who, st);
		hc_close(s);
		return false;
	}
	return true;
}

static void healthy_open(void)
{
	bool ok = open_session(&healthy, "healthy") && hc_roundtrip(&healthy, ROUNDTRIP_BYTES) == 0;

	EXPECT(ok, "a healthy session attached and works");
	if (!ok) {
		printf("cannot run the case without a healthy session\n");
		exit(1);
	}
}

/* After an attack: the healthy session still works, and so does a new one. */
static void healthy_check(void)
{
	struct hc_session fresh;

	EXPECT(hc_roundtrip(&healthy, ROUNDTRIP_BYTES) == 0, "the healthy session still works");
	EXPECT(open_session(&fresh, "new session") && hc_roundtrip(&fresh, ROUNDTRIP_BYTES) == 0,
	       "a new session attaches and works");
	hc_close(&fresh);
}

static int finish(void)
{
	hc_close(&healthy);
	printf("%s\n", failures ? "case FAILED" : "case passed");
	return failures ? 1 : 0;
}

/* Wait until the executor ends @s (its socket closes or the channel says CLOSED). */
static bool session_ends(struct hc_session *s)
{
	for (int waited = 0; waited < hc_stall_ms(); waited += 50) {
		struct pollfd p = { .fd = s->sock, .events = POLLIN };

		if (s->ctrl && __atomic_load_n(&s->ctrl->exec_state, __ATOMIC_ACQUIRE) ==
				       VGPU_EXEC_CLOSED)
			return true;
		if (poll(&p, 1, 50) == 1)
			return true;
	}
	return false;
}

/* The STATUS line of session @id, copied into @line; false if none. */
static bool status_line(uint64_t id, char *line, size_t len)
{
	char *st = hc_status(sock_path), want[40];
	const char *p;
	bool found = false;

	if (!st)
		return false;
	snprintf(want, sizeof(want), "session %lu ", (unsigned long)id);
	for (p = st; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, want, strlen(want)))
			continue;
		size_t n = strcspn(p, "\n");

		snprintf(line, len, "%.*s", (int)n, p);
		found = true;
		break;
	}
	free(st);
	return found;
}

/* The worker pid the executor's STATUS gives for session @id, or 0. */
static pid_t worker_of(uint64_t id)
{
	char line[1024];
	const char *w;

	if (!status_line(id, line, sizeof(line)) || !(w = strstr(line, "worker pid ")))
		return 0;
	return (pid_t)atoi(w + strlen("worker pid "));
}

/* ---- the BAR memfds cannot be resized; the parent never reads them ---- */

static int case_seal(void)
{
	struct hc_session a;
	int seals, r0, r1, e0, e1;
	char *st;
	uint64_t one = 1;

	healthy_open();
	if (!open_session(&a, "attacker"))
		return 1;
	seals = fcntl(a.bar1_fd, F_GET_SEALS);
	EXPECT(seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
				     (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
	       "BAR1 is sealed against shrinking, growing and new seals (seals %#x)", seals);
	seals = fcntl(a.bar0_fd, F_GET_SEALS);
	EXPECT(seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
				     (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
	       "BAR0 is sealed too (seals %#x)", seals);
	/* The attacker drops its own mappings first: it is about to break them. */
	munmap((void *)a.bar0, a.bar0_size);
	munmap(a.bar1, a.bar1_size);
	a.bar0 = NULL;
	a.bar1 = NULL;
	r1 = ftruncate(a.bar1_fd, 4096);
	e1 = errno;
	r0 = ftruncate(a.bar0_fd, 0);
	e0 = errno;
	EXPECT(r1 < 0 && e1 == EPERM, "ftruncate of BAR1 is refused (%s)",
	       r1 ? strerror(e1) : "it succeeded");
	EXPECT(r0 < 0 && e0 == EPERM, "ftruncate of BAR0 is refused (%s)",
	       r0 ? strerror(e0) : "it succeeded");
	/* Whatever the size now: STATUS, a doorbell and the session's end must not hurt the executor. */
	st = hc_status(sock_path);
	EXPECT(st != NULL, "STATUS answers after the attempt");
	free(st);
	if (write(a.db, &one, sizeof(one)) < 0)
		printf("doorbell: %s\n", strerror(errno));
	hc_close(&a);
	healthy_check();
	return finish();
}

/* ---- a full, blocking interrupt counter must not stall the parent ---- */

/* Lines of @path that contain @what. */
static int log_lines(const char *path, const char *what)
{
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	FILE *f = fopen(path, "r");

	while (f && getline(&line, &cap, f) > 0)
		n += strstr(line, what) != NULL;
	if (f)
		fclose(f);
	free(line);
	return n;
}

static int case_irq_full(const char *log_path)
{
	struct hc_session a;
	uint64_t full = 0xfffffffffffffffeull, id;
	int fl, answered = 0, before = log_lines(log_path, "interrupt");
	pid_t w;

	healthy_open();
	if (!open_session(&a, "attacker"))
		return 1;
	id = a.session_id;
	EXPECT(write(a.irq, &full, sizeof(full)) == sizeof(full), "the interrupt counter is full");
	/*
	 * Calls answered while it stays full (the attacker never reads it): each
	 * answer finds the counter full.  That is a wakeup already pending, not
	 * an error worth a line in the shared log per answer.
	 */
	for (int i = 0; i < 200; i++) {
		struct vgpu_completion e;

		vgpu_store32(&a.ctrl->cq_need_irq, 1);
		if (hc_submit(&a, VGPU_OP_DEVICE_GET_COUNT, VGPU_CMD_F_REPLY, 0, NULL, 0))
			break;
		for (int spin = 0; spin < 100000000 && !vgpu_cq_pop(&a.cq, &e); spin++)
			if (spin % 1000 == 999)
				usleep(100);
		answered++;
	}
	EXPECT(answered == 200, "200 calls answered with the counter full");
	EXPECT(log_lines(log_path, "interrupt") - before < 10,
	       "the log did not take a line per answer (%d new lines)",
	       log_lines(log_path, "interrupt") - before);
	fl = fcntl(a.irq, F_GETFL);
	fcntl(a.irq, F_SETFL, fl & ~O_NONBLOCK);	/* shared description: blocking for everyone */
	fcntl(a.db, F_SETFL, fcntl(a.db, F_GETFL) & ~O_NONBLOCK);
	w = worker_of(id);
	EXPECT(w > 0, "STATUS names the attacker's worker (%d)", (int)w);
	/* Its worker dies under it: the executor notices, reaps it and tells the guest. */
	if (w > 0)
		kill(w, SIGKILL);
	EXPECT(session_ends(&a), "the executor ended the attacker's session");
	hc_close(&a);
	healthy_check();
	return finish();
}

/* ---- silent connections must not delay anyone else ---- */

static int case_silent(void)
{
	int quiet[11], n = 10, open_after = 0;
	struct hc_session fresh;
	bool ok;

	healthy_open();
	for (int i = 0; i < n; i++)
		quiet[i] = hc_connect(sock_path);
	/* One that starts a request and never finishes it. */
	quiet[n] = hc_connect(sock_path);
	if (quiet[n] >= 0 && write(quiet[n], "ATT", 3) != 3)
		printf("partial request: %s\n", strerror(errno));
	n++;
	ok = open_session(&fresh, "attach beside silent connections") &&
	     hc_roundtrip(&fresh, ROUNDTRIP_BYTES) == 0;
	EXPECT(ok, "a session attached and worked while %d connections said nothing", n);
	/* It was served before any of them was given up on: they are all still open. */
	for (int i = 0; i < n; i++) {
		struct pollfd p = { .fd = quiet[i], .events = POLLIN };

		if (quiet[i] >= 0 && poll(&p, 1, 0) == 0)
			open_after++;
	}
	EXPECT(open_after == n, "the attach did not wait for them: %d of %d still open", open_after,
	       n);
	hc_close(&fresh);
	for (int i = 0; i < n; i++)
		if (quiet[i] >= 0)
			close(quiet[i]);
	healthy_check();
	return finish();
}

/* ---- pending connections per uid are bounded ---- */

static int case_pending(int limit)
{
	int *fds = calloc((size_t)limit + 1, sizeof(int)), still = 0;
	struct pollfd p;
	char c;

	healthy_open();
	for (int i = 0; i < limit; i++)
		fds[i] = hc_connect(sock_path);
	/* Wait until the executor has taken them all in: a STATUS request is served after them. */
	free(hc_status(sock_path));
	fds[limit] = hc_connect(sock_path);
	p = (struct pollfd){ .fd = fds[limit], .events = POLLIN };
	EXPECT(fds[limit] >= 0 && poll(&p, 1, hc_stall_ms()) == 1 && read(fds[limit], &c, 1) == 0,
	       "connection %d beyond the limit of %d pending was closed", limit + 1, limit);
	for (int i = 0; i < limit; i++) {
		p = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		if (fds[i] >= 0 && poll(&p, 1, 0) == 0)
			still++;
	}
	EXPECT(still == limit, "while the %d within the limit are still open (%d are)", limit,
	       still);
	for (int i = 0; i <= limit; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	healthy_check();
	return finish();
}

/* ---- one uid cannot take every session slot ---- */

static int case_slots(int limit)
{
	int to_parent[2], to_child[2], got = -1;
	pid_t child;
	char go;

	if (geteuid() != 0) {
		printf("SKIP: needs root, to attach as a second uid\n");
		return 77;
	}
	healthy_open();
	if (pipe(to_parent) || pipe(to_child))
		return 1;
	child = fork();
	if (child == 0) {
		static struct hc_session many[512];
		int n = 0;

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(3);
		while (n < 512 && hc_attach(sock_path, &many[n]) == 0)
			n++;
		if (write(to_parent[1], &n, sizeof(n)) != sizeof(n))
			_exit(4);
		if (read(to_child[0], &go, 1) < 0)
			_exit(5);
		for (int i = 0; i < n; i++)
			hc_close(&many[i]);
		_exit(0);
	}
	if (read(to_parent[0], &got, sizeof(got)) != sizeof(got))
		got = -1;
	EXPECT(got == limit, "uid 65534 got %d sessions, the limit is %d", got, limit);
	/* While it holds them, another uid attaches. */
	healthy_check();
	if (write(to_child[1], "x", 1) != 1)
		kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return finish();
}

/* ---- context ids are never rebound ---- */

static int case_ctx_rebind(void)
{
	struct vgpu_ctx_create_args cc = { .ctx_id = 21, .flags = 0, .device = 0 };
	struct vgpu_primary_ctx_args pr = { .device = 0, .ctx_id = 21 };
	struct vgpu_mem_alloc_args al = { .size = 4096 };
	struct vgpu_ctx_args cd = { .ctx_id = 21 };
	struct vgpu_completion ans;
	struct vgpu_mem_free_args fr;
	struct hc_session a;
	uint32_t r;

	healthy_open();
	if (!open_session(&a, "attacker"))
		return 1;
	EXPECT(sync_call(&a, VGPU_OP_CTX_CREATE, 0, &cc, sizeof(cc), NULL) == CU_OK,
	       "a context created with id 21");
	r = sync_call(&a, VGPU_OP_PRIMARY_CTX_RETAIN, 0, &pr, sizeof(pr), NULL);
	EXPECT(r == CU_INVALID_VALUE, "retaining the primary context under id 21 is refused (%u)",
	       r);
	pr.ctx_id = HC_CTX;
	EXPECT(sync_call(&a, VGPU_OP_PRIMARY_CTX_RETAIN, 0, &pr, sizeof(pr), NULL) == CU_OK,
	       "retaining it again under its own id is fine");
	r = sync_call(&a, VGPU_OP_MEM_ALLOC, 21, &al, sizeof(al), &ans);
	EXPECT(r == CU_OK, "id 21 still names the created context (alloc %u)", r);
	memcpy(&fr.dptr, ans.data, sizeof(fr.dptr));
	sync_call(&a, VGPU_OP_MEM_FREE, 21, &fr, sizeof(fr), NULL);
	r = sync_call(&a, VGPU_OP_CTX_DESTROY, 0, &cd, sizeof(cd), NULL);
	EXPECT(r == CU_OK, "and it is destroyed as a created context (%u)", r);
	EXPECT(hc_roundtrip(&a, ROUNDTRIP_BYTES) == 0, "the primary context still works");
	hc_close(&a);
	healthy_check();
	return finish();
}

/* ---- context flags from the guest are allowlisted ---- */

static int case_ctx_flags(void)
{
	struct vgpu_ctx_create_args cc = { .ctx_id = 22, .flags = CU_CTX_COREDUMP_ENABLE };
	struct vgpu_primary_ctx_args pf = { .device = 0, .flags = CU_CTX_USER_COREDUMP_ENABLE };
	struct vgpu_ctx_args cd = { .ctx_id = 23 };
	struct hc_session a;
	uint32_t r;

	healthy_open();
	if (!open_session(&a, "attacker"))
		return 1;
	r = sync_call(&a, VGPU_OP_CTX_CREATE, 0, &cc, sizeof(cc), NULL);
	EXPECT(r == CU_NOT_PERMITTED, "a context with GPU core dumps is refused (%u)", r);
	r = sync_call(&a, VGPU_OP_PRIMARY_CTX_SET_FLAGS, 0, &pf, sizeof(pf), NULL);
	EXPECT(r == CU_NOT_PERMITTED, "user-triggered core dumps on the primary context too (%u)",
	       r);
	pf.flags = CU_CTX_SCHED_BLOCKING_SYNC;
	r = sync_call(&a, VGPU_OP_PRIMARY_CTX_SET_FLAGS, 0, &pf, sizeof(pf), NULL);
	EXPECT(r == CU_OK, "a scheduling flag is taken (%u)", r);
	cc = (struct vgpu_ctx_create_args){ .ctx_id = 23, .flags = CU_CTX_MAP_HOST };
	r = sync_call(&a, VGPU_OP_CTX_CREATE, 0, &cc, sizeof(cc), NULL);
	EXPECT(r == CU_OK, "so is MAP_HOST (%u)", r);
	sync_call(&a, VGPU_OP_CTX_DESTROY, 0, &cd, sizeof(cd), NULL);
	hc_close(&a);
	healthy_check();
	return finish();
}

/* ---- images are length-checked before they reach the driver ---- */

static uint32_t load_image(struct hc_session *s, uint64_t id, const void *img, uint64_t len,
			   uint32_t kind)
{
	struct vgpu_module_load_args ml = { .id = id, .size = len, .kind = kind };
	uint32_t r = hc_upload_image(s, img, len, ml.hash);

	if (r)
		return r;
	return sync_call(s, VGPU_OP_MODULE_LOAD, HC_CTX, &ml, sizeof(ml), NULL);
}

static int case_image(void)
{
	static const char ptx[] = ".version 8.0\n.target sm_90\n.address_size 64\n// no NUL";
	uint8_t elf[64] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
	uint8_t wrapper[24] = { 0 }, fatbin[64] = { 0 }, arch[16] = "!<arch>\nxxxxxxxx";
	uint64_t v64;
	uint32_t v32, r;
	uint16_t v16;
	struct hc_session a;

	healthy_open();
	if (!open_session(&a, "attacker"))
		return 1;
	r = load_image(&a, 30, ptx, sizeof(ptx) - 1, VGPU_IMAGE_MODULE);
	EXPECT(r == CU_INVALID_IMAGE, "PTX without its NUL: %u", r);
	r = load_image(&a, 31, ptx, sizeof(ptx) - 1, VGPU_IMAGE_LIBRARY);
	EXPECT(r == CU_INVALID_IMAGE, "the same as a library: %u", r);
	/* An ELF header whose section table lies 512 MiB past the 64 bytes sent. */
	v16 = 190;	/* EM_CUDA */
	memcpy(elf + 18, &v16, 2);
	v64 = 1ull << 29;
	memcpy(elf + 0x28, &v64, 8);
	v16 = 64;
	memcpy(elf + 0x34, &v16, 2);
	memcpy(elf + 0x3a, &v16, 2);
	v16 = 4;
	memcpy(elf + 0x3c, &v16, 2);
	r = load_image(&a, 32, elf, sizeof(elf), VGPU_IMAGE_MODULE);
	EXPECT(r == CU_INVALID_IMAGE, "a cubin longer than what was sent: %u", r);
	/* A fatbin wrapper carries a pointer: the host must never follow a guest's pointer. */
	v32 = 0x466243b1u;
	memcpy(wrapper, &v32, 4);
	v32 = 1;
	memcpy(wrapper + 4, &v32, 4);
	v64 = 0x400000;
	memcpy(wrapper + 8, &v64, 8);
	r = load_image(&a, 33, wrapper, sizeof(wrapper), VGPU_IMAGE_MODULE);
	EXPECT(r == CU_INVALID_IMAGE, "a fatbin wrapper (a guest pointer inside): %u", r);
	v32 = 0xba55ed50u;
	memcpy(fatbin, &v32, 4);
	v16 = 16;
	memcpy(fatbin + 6, &v16, 2);
	v64 = 1u << 20;
	memcpy(fatbin + 8, &v64, 8);
	r = load_image(&a, 34, fatbin, sizeof(fatbin), VGPU_IMAGE_MODULE);
	EXPECT(r == CU_INVALID_IMAGE, "a fatbin longer than what was sent: %u", r);
	r = load_image(&a, 35, arch, sizeof(arch), VGPU_IMAGE_MODULE);
	EXPECT(r == CU_INVALID_IMAGE, "a library archive: %u", r);
	EXPECT(hc_roundtrip(&a, ROUNDTRIP_BYTES) == 0, "the attacker's session goes on");
	hc_close(&a);
	healthy_check();
	return finish();
}

/* ---- module cache quotas: worker memory and the shared directory ---- */

static uint64_t dir_bytes(const char *dir, int *tmp_files)
{
	char cmd[600];
	FILE *f;
	unsigned long long total = 0, size;
	char name[300];

	*tmp_files = 0;
	snprintf(cmd, sizeof(cmd), "find '%s' -maxdepth 1 -type f -printf '%%s %%f\\n' 2>/dev/null",
		 dir);
	f = popen(cmd, "r");
	if (!f)
		return ~0ull;
	while (fscanf(f, "%llu %299s", &size, name) == 2) {
		total += size;
		if (strstr(name, ".tmp"))
			(*tmp_files)++;
	}
	pclose(f);
	return total;
}

static uint64_t rss_anon(pid_t pid)
{
	char path[64], line[256];
	unsigned long long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb << 10;
}

static int case_cache(const char *dir, uint64_t disk_cap, uint64_t mem_cap)
{
	const uint64_t size = 40 * MIB;
	const int count = 5;
	uint8_t *img = malloc(size), last[VGPU_HASH_SIZE];
	char path[700];
	struct hc_session a;
	struct stat st;
	uint64_t rss, total;
	int tmp;
	pid_t w;

	healthy_open();
	if (!img || !open_session(&a, "uploader"))
		return 1;
	for (int i = 0; i < count; i++) {
		for (uint64_t j = 0; j < size; j += 8) {
			uint64_t v = (j + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)i << 56);

			memcpy(img + j, &v, 8);
		}
		uint32_t r = hc_upload_image(&a, img, size, last);

		EXPECT(r == 0, "image %d of %lu MiB uploaded (%#x)", i + 1, (unsigned long)(size >> 20),
		       r);
	}
	w = worker_of(a.session_id);
	rss = w > 0 ? rss_anon(w) : 0;
	EXPECT(w > 0 && rss <= mem_cap + 48 * MIB,
	       "the worker holds %lu MiB of private memory after %d MiB of images (cap %lu MiB)",
	       (unsigned long)(rss >> 20), count * 40, (unsigned long)(mem_cap >> 20));
	total = dir_bytes(dir, &tmp);
	EXPECT(total <= disk_cap, "the shared cache holds %lu MiB (cap %lu MiB)",
	       (unsigned long)(total >> 20), (unsigned long)(disk_cap >> 20));
	EXPECT(tmp == 0, "no temporary files are left in it (%d)", tmp);
	{
		char hex[2 * VGPU_HASH_SIZE + 1];

		for (int i = 0; i < VGPU_HASH_SIZE; i++)
			sprintf(hex + 2 * i, "%02x", last[i]);
		snprintf(path, sizeof(path), "%s/%s", dir, hex);
	}
	EXPECT(stat(path, &st) == 0, "the newest image is the one kept (%s)", path);
	hc_close(&a);
	free(img);
	healthy_check();
	return finish();
}

/* ---- the memory quota: per instance, every path ---- */

static uint32_t alloc(struct hc_session *s, uint64_t bytes, uint64_t *dptr)
{
	struct vgpu_mem_alloc_args al = { .size = bytes };
	struct vgpu_completion ans;
	uint32_t r = sync_call(s, VGPU_OP_MEM_ALLOC, HC_CTX, &al, sizeof(al), &ans);

	if (r == 0 && dptr)
		memcpy(dptr, ans.data, sizeof(*dptr));
	return r;
}

static bool mem_info(struct hc_session *s, struct vgpu_mem_info_reply *out)
{
	struct vgpu_completion ans;

	if (sync_call(s, VGPU_OP_MEM_GET_INFO, HC_CTX, NULL, 0, &ans))
		return false;
	memcpy(out, ans.data, sizeof(*out));
	return true;
}

/*
 * Sizes are fractions of the quota Q, so the case runs on the driver double
 * (Q = 64 MiB) and on a GPU (Q a few contexts' worth): A takes 5/8 Q, B
 * cannot take as much again, and after a reset A takes 3/4 Q again.  The
 * executor must charge contexts at most Q/8 each (--ctx-mem).
 */
static int case_quota(uint64_t quota, const char *big_globals_cubin)
{
	struct vgpu_ctx_limit_args heap = { .limit = CU_LIMIT_MALLOC_HEAP_SIZE,
					    .value = 32ull << 30 };
	struct vgpu_primary_ctx_args pr = { .device = 0, .ctx_id = HC_CTX };
	const uint64_t big = quota / 8 * 5, bigger = quota / 4 * 3;
	struct vgpu_device_info_args di;
	struct vgpu_device_info *info;
	struct vgpu_mem_info_reply mi, start;
	struct hc_session a, b, c;
	uint64_t p40, p48;
	uint32_t r;

	healthy_open();
	if (!open_session(&a, "A"))
		return 1;
	EXPECT(a.hello.mem_quota == quota, "HELLO gives the quota (%lu MiB)",
	       (unsigned long)(a.hello.mem_quota >> 20));
	di = (struct vgpu_device_info_args){ .device = 0, .out = { 0, sizeof(*info) } };
	r = sync_call(&a, VGPU_OP_DEVICE_GET_INFO, 0, &di, sizeof(di), NULL);
	info = (void *)a.bulk;
	EXPECT(r == 0 && info->total_mem == quota, "cuDeviceTotalMem is the quota (%lu MiB)",
	       (unsigned long)(info->total_mem >> 20));
	EXPECT(mem_info(&a, &start) && start.total == quota && start.free < quota,
	       "cuMemGetInfo: %lu MiB free of %lu (contexts are charged)",
	       (unsigned long)(start.free >> 20), (unsigned long)(start.total >> 20));
	if (!open_session(&b, "B"))
		return 1;
	r = alloc(&a, big, &p40);
	EXPECT(r == 0, "A allocates %lu MiB (%u)", (unsigned long)(big >> 20), r);
	r = alloc(&b, big, NULL);
	EXPECT(r == CU_OUT_OF_MEMORY, "B, in the same account, cannot allocate %lu MiB more (%u)",
	       (unsigned long)(big >> 20), r);
	EXPECT(mem_info(&b, &mi) && mi.free < quota - big, "B sees what A holds: %lu MiB free",
	       (unsigned long)(mi.free >> 20));
	r = sync_call(&b, VGPU_OP_CTX_SET_LIMIT, HC_CTX, &heap, sizeof(heap), NULL);
	EXPECT(r == CU_OUT_OF_MEMORY, "a 32 GiB malloc heap is refused (%u)", r);
	if (big_globals_cubin && *big_globals_cubin) {
		FILE *f = fopen(big_globals_cubin, "rb");
		static uint8_t buf[4 << 20];
		size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;

		if (f)
			fclose(f);
		r = n ? load_image(&b, 40, buf, n, VGPU_IMAGE_MODULE) : 0xffffffffu;
		EXPECT(r == CU_OUT_OF_MEMORY, "a module with a 128 MiB __device__ array is refused (%u)",
		       r);
	}
	/* A primary-context reset gives back what it freed. */
	{
		struct vgpu_mem_free_args fr = { .dptr = p40 };

		sync_call(&a, VGPU_OP_MEM_FREE, HC_CTX, &fr, sizeof(fr), NULL);
	}
	r = alloc(&a, bigger, &p48);
	EXPECT(r == 0, "A allocates %lu MiB (%u)", (unsigned long)(bigger >> 20), r);
	r = sync_call(&a, VGPU_OP_PRIMARY_CTX_RESET, 0, &pr, sizeof(pr), NULL);
	EXPECT(r == 0, "A resets its primary context (%u)", r);
	r = sync_call(&a, VGPU_OP_PRIMARY_CTX_RETAIN, 0, &pr, sizeof(pr), NULL);
	EXPECT(r == 0, "and retains it again (%u)", r);
	r = alloc(&a, bigger, NULL);
	EXPECT(r == 0, "%lu MiB fit again after the reset (%u)", (unsigned long)(bigger >> 20), r);
	hc_close(&a);
	hc_close(&b);
	/* Sessions that ended leave nothing charged: a new one finds what A found. */
	if (open_session(&c, "C")) {
		/* The ended sessions' workers may still be on their way out: wait for it. */
		for (int i = 0; i < hc_stall_ms() / 100; i++) {
			if (!mem_info(&c, &mi) || mi.free + MIB >= start.free)
				break;
			usleep(100000);
		}
		EXPECT(mi.free + MIB >= start.free, "a later session finds %lu MiB free, as A did (%lu)",
		       (unsigned long)(mi.free >> 20), (unsigned long)(start.free >> 20));
		hc_close(&c);
	}
	healthy_check();
	return finish();
}

/* ---- ring garbage, bad lengths, forged and stale handles ---- */

static int case_ring(void)
{
	struct hc_session a, b, c;
	struct vgpu_stream_args st = { .stream = 0xdeadbeefull };
	struct vgpu_event_args ev = { .event = 12345 };
	struct vgpu_mem_free_args fr = { .dptr = 0x1234 };
	struct vgpu_stream_create_args sc = { .id = 40 };
	struct vgpu_memcpy_dtoh_args d2h = { 0 };
	uint64_t dptr = 0;
	uint32_t r;

	healthy_open();
	if (!open_session(&a, "A"))
		return 1;
	r = sync_call(&a, VGPU_OP_STREAM_SYNCHRONIZE, HC_CTX, &st, sizeof(st), NULL);
	EXPECT(r == CU_INVALID_HANDLE, "a forged stream id: %u", r);
	r = sync_call(&a, VGPU_OP_EVENT_QUERY, HC_CTX, &ev, sizeof(ev), NULL);
	EXPECT(r == CU_INVALID_HANDLE, "a forged event id: %u", r);
	r = sync_call(&a, VGPU_OP_MEM_FREE, HC_CTX, &fr, sizeof(fr), NULL);
	EXPECT(r == CU_INVALID_VALUE, "a forged device pointer: %u", r);
	hc_call(&a, VGPU_OP_STREAM_CREATE, false, HC_CTX, &sc, sizeof(sc), NULL, 0, NULL);
	st.stream = 40;
	r = sync_call(&a, VGPU_OP_STREAM_DESTROY, HC_CTX, &st, sizeof(st), NULL);
	EXPECT(r == CU_OK, "a stream created and destroyed (%u)", r);
	r = sync_call(&a, VGPU_OP_STREAM_SYNCHRONIZE, HC_CTX, &st, sizeof(st), NULL);
	EXPECT(r == CU_INVALID_HANDLE, "its stale id: %u", r);
	alloc(&a, 4096, &dptr);
	d2h = (struct vgpu_memcpy_dtoh_args){ .src = dptr, .dst = { a.bulk_size - 8, 16 } };
	r = sync_call(&a, VGPU_OP_MEMCPY_DTOH, HC_CTX, &d2h, sizeof(d2h), NULL);
	EXPECT(r == CU_INVALID_VALUE, "a bulk reference past the bulk area: %u", r);
	d2h.dst = (struct vgpu_bulk_ref){ 8, ~0ull - 4 };
	r = sync_call(&a, VGPU_OP_MEMCPY_DTOH, HC_CTX, &d2h, sizeof(d2h), NULL);
	EXPECT(r == CU_INVALID_VALUE, "one whose end overflows: %u", r);
	r = sync_call(&a, 999, HC_CTX, NULL, 0, NULL);
	EXPECT(r == CU_NOT_SUPPORTED, "an unknown call: %u", r);
	EXPECT(hc_roundtrip(&a, ROUNDTRIP_BYTES) == 0, "after all that, A still works");

	/* A completion head no consumer could have published. */
	__atomic_store_n(&a.ctrl->cq_head, 0x123456789abcull, __ATOMIC_RELEASE);
	r = hc_call(&a, VGPU_OP_DEVICE_GET_COUNT, true, 0, NULL, 0, NULL, 0, NULL);
	EXPECT(r == HC_GONE, "an impossible completion head ends A's session (%#x)", r);
	hc_close(&a);

	/* A record whose size breaks the ring. */
	if (open_session(&b, "B")) {
		struct vgpu_cmd_hdr *h = (void *)(b.sq.ring + (b.ctrl->sq_reserve & (b.sq.size - 1)));
		uint64_t pos = __atomic_load_n(&b.ctrl->sq_reserve, __ATOMIC_ACQUIRE), one = 1;

		h->size = 40;
		h->opcode = VGPU_OP_DEVICE_GET_COUNT;
		h->flags = VGPU_CMD_F_REPLY;
		__atomic_store_n(&b.ctrl->sq_reserve, pos + 64, __ATOMIC_RELEASE);
		vgpu_store_release(&h->seal, pos + 1);
		if (write(b.db, &one, sizeof(one)) < 0)
			printf("doorbell: %s\n", strerror(errno));
		EXPECT(session_ends(&b), "a malformed record ends B's session");
		hc_close(&b);
	}

	/* Garbage records: whatever they get, the executor goes on. */
	if (open_session(&c, "C")) {
		uint8_t junk[256];
		unsigned int seed = 12345;
		int sent = 0;

		for (int i = 0; i < 400; i++) {
			uint16_t op = (uint16_t)(rand_r(&seed) % 120);
			size_t len = (size_t)(rand_r(&seed) % sizeof(junk));

			if (op == VGPU_OP_GOODBYE)
				continue;
			for (size_t j = 0; j < len; j++)
				junk[j] = (uint8_t)rand_r(&seed);
			r = hc_submit(&c, op, (uint16_t)(rand_r(&seed) & 3),
				      rand_r(&seed) % 4 ? HC_CTX : (uint32_t)rand_r(&seed), junk, len);
			if (r)
				break;
			sent++;
			/* Answers are read now and then, so only the ring's end could stop it. */
			{
				struct vgpu_completion e;

				while (vgpu_cq_pop(&c.cq, &e))
					;
			}
		}
		printf("sent %d garbage records\n", sent);
		hc_close(&c);
	}
	healthy_check();
	return finish();
}

/* ---- a channel that never answers ---- */

static int case_never_answers(void)
{
	struct hc_session idle, deaf;
	uint32_t r = 0;

	healthy_open();
	/* One attaches and never says a word. */
	EXPECT(hc_attach(sock_path, &idle) == 0, "a silent session attached");
	/* One asks and never reads its answers. */
	if (!open_session(&deaf, "deaf"))
		return 1;
	for (uint32_t i = 0; i < deaf.l.cq_entries * 2 && !r; i++)
		r = hc_submit(&deaf, VGPU_OP_DEVICE_GET_COUNT, VGPU_CMD_F_REPLY, 0, NULL, 0);
	EXPECT(session_ends(&deaf), "the session that never read its answers was ended");
	healthy_check();
	hc_close(&deaf);
	hc_close(&idle);
	return finish();
}

/* ---- workers are exec'd, not dumpable, filtered, and (as root) of their own uid ---- */

static bool proc_text(pid_t pid, const char *file, char *out, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, out, len - 1);
	close(fd);
	if (n < 0)
		return false;
	for (ssize_t i = 0; i < n; i++)
		if (out[i] == '\0')
			out[i] = ' ';
	out[n] = '\0';
	return true;
}

static long status_field(pid_t pid, const char *key)
{
	char buf[8192];
	const char *p;

	if (!proc_text(pid, "status", buf, sizeof(buf)) || !(p = strstr(buf, key)))
		return -1;
	return strtol(p + strlen(key), NULL, 10);
}

/* Where the executable's first mapping starts in @pid. */
static unsigned long exe_base(pid_t pid)
{
	char maps[65536], exe[512], link[64];
	ssize_t n;
	const char *p;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0 || !proc_text(pid, "maps", maps, sizeof(maps)))
		return 0;
	exe[n] = '\0';
	for (p = maps; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		size_t l = strcspn(p, "\n");

		if (l > (size_t)n && !strncmp(p + l - (size_t)n, exe, (size_t)n))
			return strtoul(p, NULL, 16);
	}
	return 0;
}

static int case_sandbox(pid_t executor, int want_seccomp)
{
	struct hc_session a, b;
	char cmd[4096], path[64];
	struct stat st;
	pid_t w, w2;
	long uid, uid2;
	int fds = 0;

	healthy_open();
	if (!open_session(&a, "A") || !open_session(&b, "B"))
		return 1;
	w = worker_of(a.session_id);
	w2 = worker_of(b.session_id);
	EXPECT(w > 0 && w2 > 0, "STATUS names the workers (%d, %d)", (int)w, (int)w2);
	EXPECT(proc_text(w, "cmdline", cmd, sizeof(cmd)) && strstr(cmd, "--worker"),
	       "the worker was exec'd as a worker: %.120s", cmd);
	{
		FILE *f = fopen("/proc/sys/kernel/randomize_va_space", "r");
		int aslr = 0;

		if (f) {
			if (fscanf(f, "%d", &aslr) != 1)
				aslr = 0;
			fclose(f);
		}
		if (aslr)
			EXPECT(exe_base(w) && exe_base(w) != exe_base(executor),
			       "its address layout is its own (%#lx, the executor's %#lx)",
			       exe_base(w), exe_base(executor));
		else
			printf("skip: address layout (ASLR is off here)\n");
	}
	EXPECT(status_field(w, "NoNewPrivs:") == 1, "it cannot gain privileges (NoNewPrivs)");
	if (want_seccomp)
		EXPECT(status_field(w, "Seccomp:") == 2, "it runs under a seccomp filter");
	uid = status_field(w, "Uid:");
	uid2 = status_field(w2, "Uid:");
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)w);
	EXPECT(stat(path, &st) == 0 && (long)st.st_uid != uid,
	       "it is not dumpable (its /proc files belong to uid %ld, it runs as %ld)",
	       (long)st.st_uid, uid);
	if (status_field(executor, "Uid:") == 0) {
		EXPECT(uid > 0 && uid2 > 0 && uid != uid2,
		       "each session runs under its own uid (%ld, %ld)", uid, uid2);
	} else {
		printf("skip: own uids (the executor is not root here)\n");
	}
	{
		char dir[64];
		FILE *f;

		snprintf(dir, sizeof(dir), "ls /proc/%d/fd 2>/dev/null | wc -l", (int)w);
		f = popen(dir, "r");
		if (f) {
			if (fscanf(f, "%d", &fds) != 1)
				fds = -1;
			pclose(f);
		}
		EXPECT(fds > 0 && fds <= 24, "it holds %d descriptors, none of the executor's others",
		       fds);
	}
	hc_close(&a);
	hc_close(&b);
	healthy_check();
	return finish();
}

/* ---- what vgpu status and the log show ---- */

static int case_status(const char *log_path)
{
	struct hc_session a;
	char line[1024], want[64], *log = NULL;
	FILE *f;
	size_t cap = 0;
	bool seen = false;

	healthy_open();
	if (!open_session(&a, "A"))
		return 1;
	alloc(&a, 8 * MIB, NULL);
	for (int i = 0; i < 50; i++)
		hc_call(&a, VGPU_OP_DEVICE_GET_COUNT, true, 0, NULL, 0, NULL, 0, NULL);
	EXPECT(status_line(a.session_id, line, sizeof(line)), "STATUS lists the session: %s", line);
	snprintf(want, sizeof(want), "guest pid %d", (int)getpid());
	EXPECT(strstr(line, want), "with the guest process (%s)", want);
	EXPECT(strstr(line, "instance "), "its instance");
	EXPECT(strstr(line, " MiB of "), "its memory and quota");
	EXPECT(strstr(line, "calls "), "its calls");
	hc_close(&a);
	f = fopen(log_path, "r");
	snprintf(want, sizeof(want), "event=session_start session=%lu ", (unsigned long)a.session_id);
	while (f && getline(&log, &cap, f) > 0)
		if (strstr(log, want))
			seen = true;
	if (f)
		fclose(f);
	free(log);
	EXPECT(seen, "the log has a structured line '%s'", want);
	healthy_check();
	return finish();
}

static uint64_t arg_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (toupper((unsigned char)*end) == 'M')
		v <<= 20;
	else if (toupper((unsigned char)*end) == 'G')
		v <<= 30;
	return v;
}

int main(int argc, char **argv)
{
	const char *c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 3) {
		fprintf(stderr, "usage: hostile CASE SOCKET [ARGS]\n");
		return 2;
	}
	c = argv[1];
	sock_path = argv[2];
	if (!strcmp(c, "seal"))
		return case_seal();
	if (!strcmp(c, "irq-full") && argc > 3)
		return case_irq_full(argv[3]);
	if (!strcmp(c, "silent"))
		return case_silent();
	if (!strcmp(c, "pending") && argc > 3)
		return case_pending(atoi(argv[3]));
	if (!strcmp(c, "slots") && argc > 3)
		return case_slots(atoi(argv[3]));
	if (!strcmp(c, "ctx-rebind"))
		return case_ctx_rebind();
	if (!strcmp(c, "ctx-flags"))
		return case_ctx_flags();
	if (!strcmp(c, "image"))
		return case_image();
	if (!strcmp(c, "cache") && argc > 5)
		return case_cache(argv[3], arg_size(argv[4]), arg_size(argv[5]));
	if (!strcmp(c, "quota") && argc > 3)
		return case_quota(arg_size(argv[3]), argc > 4 ? argv[4] : NULL);
	if (!strcmp(c, "ring"))
		return case_ring();
	if (!strcmp(c, "never-answers"))
		return case_never_answers();
	if (!strcmp(c, "sandbox") && argc > 4)
		return case_sandbox((pid_t)atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(c, "status") && argc > 3)
		return case_status(argv[3]);
	fprintf(stderr, "hostile: unknown case or missing arguments: %s\n", c);
	return 2;
}
