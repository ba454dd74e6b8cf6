// SPDX-License-Identifier: MIT
/*
 * vgpu-executor: the privileged host side.  It replays guests' CUDA calls on
 * the real GPU, one worker process per session.
 *
 *   vgpu-executor --listen [SOCKET]    serve the local transport
 *   vgpu-executor --mdev [CHARDEV]     serve the VMs of vgpu_stub.ko
 *   vgpu-executor --worker KEY=VALUE.. a worker, as the executor starts it
 *
 * One frontend per process: a host serving both VMs and local programs runs
 * two executors.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu_usage.h"
#include "local_listener.h"
#include "log.h"
#include "mdev_frontend.h"
#include "module_cache.h"
#include "quota.h"
#include "quota_service.h"
#include "sandbox.h"
#include "size_arg.h"
#include "vgpu/local.h"
#include "vgpu/regs.h"
#include "worker.h"
#include "worker_args.h"
#include "worker_stats.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- a worker, exec'd by worker_spawn.c ---- */

static int worker(int argc, char **argv)
{
	struct vgpu_worker_args a;
	struct vgpu_worker_channel ch;
	struct vgpu_sandbox sb;
	uint32_t *bar0 = NULL;
	char err[256], why[300];
	void *bar1;

	vgpu_log_set_process("worker");
	if (vgpu_worker_args_parse(argc, argv, &a, err, sizeof(err))) {
		vgpu_log_event("error", "worker_failed", "reason=%s",
			       vgpu_log_str(why, sizeof(why), err));
		return 2;
	}
	memset(&ch, 0, sizeof(ch));
	if (vgpu_layout_compute(a.bar1_size, a.channels, a.heap_size, &ch.layout)) {
		vgpu_log_event("error", "worker_failed", "session=%lu reason=layout",
			       (unsigned long)a.session_id);
		return 2;
	}
	bar1 = mmap(NULL, a.bar1_size, PROT_READ | PROT_WRITE, MAP_SHARED, VGPU_WORKER_FD_BAR1, 0);
	if (a.bar0)
		bar0 = mmap(NULL, VGPU_BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			    VGPU_WORKER_FD_BAR0, 0);
	if (bar1 == MAP_FAILED || bar0 == MAP_FAILED ||
	    (a.stats && vgpu_worker_stats_attach(VGPU_WORKER_FD_STATS))) {
		vgpu_log_event("error", "worker_failed", "session=%lu reason=mmap errno=%d",
			       (unsigned long)a.session_id, errno);
		return 2;
	}
	vgpu_log_set_rank((int)a.log_rank);
	vgpu_quota_ctx_mem = a.ctx_mem;
	vgpu_module_cache_configure(a.cache_dir, a.cache_size, a.image_memory);
	sb = (struct vgpu_sandbox){
		.set_ids = a.set_ids,
		.uid = a.uid,
		.gid = a.gid,
		.userns = a.userns,
		.seccomp = a.seccomp,
		.parent = a.parent,
	};
	/* Fail closed: a worker that cannot enter its sandbox does not serve. */
	if (vgpu_sandbox_enter(&sb, err, sizeof(err))) {
		vgpu_log_event("error", "sandbox_failed", "session=%lu reason=%s",
			       (unsigned long)a.session_id, vgpu_log_str(why, sizeof(why), err));
		return 3;
	}
	ch.bar1 = bar1;
	ch.channel = a.channel;
	ch.bar1_fd = VGPU_WORKER_FD_BAR1;
	ch.bar0_fd = a.bar0 ? VGPU_WORKER_FD_BAR0 : -1;
	ch.doorbell_fd = VGPU_WORKER_FD_DOORBELL;
	ch.irq_fd = VGPU_WORKER_FD_IRQ;
	ch.control_fd = a.control ? VGPU_WORKER_FD_CONTROL : -1;
	ch.stats_fd = a.stats ? VGPU_WORKER_FD_STATS : -1;
	ch.bar0_irq_status = bar0 ? &bar0[VGPU_REG_IRQ_STATUS / 4] : NULL;
	ch.mem_quota = a.mem_quota;
	ch.session_id = a.session_id;
	ch.libcuda_path = getenv("VGPU_LIBCUDA");
	return vgpu_worker_main(&ch);
}

/* ---- the parent ---- */

/* Descriptors 0-2 stay taken, so no channel's descriptor is ever one of them. */
static void keep_stdio(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			_exit(1);
}

/* The shared module cache: made, owned by the workers' group, trimmed to its cap. */
static void prepare_cache(struct vgpu_worker_config *wc)
{
	vgpu_module_cache_default_dir(wc->cache_dir, sizeof(wc->cache_dir));
	if (!wc->cache_dir[0])
		return;
	if (vgpu_module_cache_prepare(wc->cache_dir, geteuid() == 0 && wc->uid_count,
				      (gid_t)wc->gid)) {
		vgpu_log_event("warn", "cache_unusable", "dir=%s errno=%d",
			       vgpu_log_str((char[600]){ 0 }, 600, wc->cache_dir), errno);
		wc->cache_dir[0] = '\0';
		return;
	}
	vgpu_module_cache_trim(wc->cache_dir, wc->cache_size, NULL);
}

/* The first character of a module parameter, or 0 if it is not there. */
static char uvm_param(const char *name)
{
	char path[128], c = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/nvidia_uvm/parameters/%s", name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fread(&c, 1, 1, f) != 1)
		c = 0;
	fclose(f);
	return c;
}

/*
 * With HMM or ATS the GPU reaches pageable memory: a guest's kernel can read
 * and write any address of its own worker (docs/security.md).  Workers hold
 * nothing of another tenant, so that is contained to the guest's own
 * session; the operator is told.
 */
static void report_gpu_reach(void)
{
	char hmm_off = uvm_param("uvm_disable_hmm"), ats = uvm_param("uvm_ats_mode");

	if (hmm_off == 'N' || ats == '1')
		vgpu_log_event("warn", "gpu_reaches_worker_memory", "hmm=%d ats=%d",
			       hmm_off == 'N', ats == '1');
}

static struct vgpu_quota_service *start_quota(bool nvml)
{
	struct vgpu_gpu_usage *usage = NULL;
	struct vgpu_quota_service *q;
	char err[128] = "disabled";

	if (nvml)
		usage = vgpu_gpu_usage_nvml(err, sizeof(err));
	vgpu_log_event("info", "quota_backing", "source=%s%s%s", usage ? usage->name : "none",
		       usage ? "" : " reason=", usage ? "" : vgpu_log_str((char[160]){ 0 }, 160, err));
	q = vgpu_quota_service_start(usage);
	if (!q && usage)
		usage->close(usage);
	return q;
}

static int serve_mdev(const char *chardev, int verbose, struct vgpu_quota_service *q)
{
	struct vgpu_mdev_frontend_opts o = {
		.libcuda_path = getenv("VGPU_LIBCUDA"),
		.stop_fd = -1,
		.stop_flag = &stop,
		.verbose = verbose,
		.quota = q,
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
		"       vgpu-executor --mdev [CHARDEV] [-v] [options]\n"
		"\n"
		"  --listen [SOCKET]   serve the local transport on a Unix socket\n"
		"                      (default: $VGPU_SOCKET, $XDG_RUNTIME_DIR/vgpu.sock\n"
		"                      or /tmp/vgpu-UID.sock)\n"
		"  --mdev [CHARDEV]    serve every VGPU-STUB instance of vgpu_stub.ko\n"
		"                      (default /dev/vgpu-stub; root)\n"
		"  -v, --verbose       log the instances' events (--mdev)\n"
		"  --ready-fd FD       write \"ready\" to FD once listening\n"
		"  --log-level L       info (default), warn or error: the lowest level of the\n"
		"                      structured log on stderr (one event a line, key=value)\n"
		"\n"
		"Local sessions:\n"
		"  --bar1-size SIZE    shared memory per session (default 64M)\n"
		"  --pinned-heap SIZE  more shared memory per session, for the guest's pinned\n"
		"                      allocations: copies from and to them are DMA (default\n"
		"                      64M, a multiple of 4K; 0: pinned memory is staged)\n"
		"  --mem-limit SIZE|N%% device memory per instance: a size, or a share of the\n"
		"                      device (default 100%%; --mem-quota is the same)\n"
		"  --quota-group session|uid\n"
		"                      an instance is one session (default), or all the\n"
		"                      sessions of one client uid\n"
		"  --request-timeout S a connection must say what it wants within S seconds\n"
		"                      (default %u)\n"
		"  --max-sessions-per-uid N  (default %u)\n"
		"  --max-pending-per-uid N   connections not yet past their request (default %u)\n"
		"\n"
		"Memory, caches and workers (both frontends):\n"
		"  --ctx-mem SIZE      device memory charged per context at least (default 32M)\n"
		"  --image-memory SIZE module images a session and an instance may hold in\n"
		"                      memory (default 1G)\n"
		"  --cache-size SIZE   the shared on-disk module cache's cap (default 2G)\n"
		"  --worker-uids FIRST-LAST | none\n"
		"                      as root: each worker a uid of this range (default\n"
		"                      %u-%u), gid --worker-gid (default FIRST)\n"
		"  --worker-gid GID\n"
		"  --no-userns         not root: workers keep the executor's user namespace\n"
		"  --no-seccomp        workers without their system-call filter (diagnosis)\n"
		"  --no-nvml           do not back the quota with NVML's per-process figures\n"
		"\n"
		"Environment: VGPU_LIBCUDA (the driver to load), VGPU_CACHE_DIR (module\n"
		"cache), VGPU_POLL_US (how long a worker polls before it sleeps).\n",
		VGPU_LOCAL_REQUEST_TIMEOUT_MS / 1000, VGPU_LOCAL_SESSIONS_PER_UID,
		VGPU_LOCAL_PENDING_PER_UID, VGPU_WORKER_UID_FIRST,
		VGPU_WORKER_UID_FIRST + VGPU_WORKER_UID_COUNT - 1);
}

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "vgpu-executor: bad %s '%s'\n", what, arg);
	return 2;
}

static int parse_count(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* "64M", "8G" or "50%". */
static int parse_limit(const char *s, uint64_t *bytes, uint32_t *share)
{
	size_t n = strlen(s);
	char num[32];

	if (n > 1 && s[n - 1] == '%' && n < sizeof(num)) {
		memcpy(num, s, n - 1);
		num[n - 1] = '\0';
		*bytes = 0;
		return parse_count(num, 100, share) || *share == 0 ? -1 : 0;
	}
	*share = 0;
	return vgpu_parse_size(s, bytes) || *bytes == 0 ? -1 : 0;
}

enum {
	OPT_BAR1 = 256, OPT_HEAP, OPT_MEM, OPT_GROUP, OPT_READY, OPT_TIMEOUT, OPT_SESSIONS, OPT_PENDING,
	OPT_CTX_MEM, OPT_IMAGE_MEM, OPT_CACHE, OPT_UIDS, OPT_GID, OPT_NO_USERNS, OPT_NO_SECCOMP,
	OPT_NO_NVML, OPT_LOG_LEVEL,
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", optional_argument, NULL, 'l' },
		{ "mdev", optional_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "bar1-size", required_argument, NULL, OPT_BAR1 },
		{ "pinned-heap", required_argument, NULL, OPT_HEAP },
		{ "mem-limit", required_argument, NULL, OPT_MEM },
		{ "mem-quota", required_argument, NULL, OPT_MEM },
		{ "quota-group", required_argument, NULL, OPT_GROUP },
		{ "ready-fd", required_argument, NULL, OPT_READY },
		{ "request-timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "max-sessions-per-uid", required_argument, NULL, OPT_SESSIONS },
		{ "max-pending-per-uid", required_argument, NULL, OPT_PENDING },
		{ "ctx-mem", required_argument, NULL, OPT_CTX_MEM },
		{ "image-memory", required_argument, NULL, OPT_IMAGE_MEM },
		{ "cache-size", required_argument, NULL, OPT_CACHE },
		{ "worker-uids", required_argument, NULL, OPT_UIDS },
		{ "worker-gid", required_argument, NULL, OPT_GID },
		{ "no-userns", no_argument, NULL, OPT_NO_USERNS },
		{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
		{ "no-nvml", no_argument, NULL, OPT_NO_NVML },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct vgpu_local_options opt = {
		.bar1_size = 64ull << 20,
		.heap_size = 64ull << 20,
		.mem_share = 100,
		.request_timeout_ms = VGPU_LOCAL_REQUEST_TIMEOUT_MS,
		.max_sessions_per_uid = VGPU_LOCAL_SESSIONS_PER_UID,
		.max_pending_per_uid = VGPU_LOCAL_PENDING_PER_UID,
		.ready_fd = -1,
	};
	struct vgpu_worker_config wc = *vgpu_worker_config();
	struct vgpu_quota_service *q;
	char path[108];
	bool listen = false, mdev = false, nvml = true, gid_set = false;
	const char *chardev = NULL;
	uint32_t secs, first, last;
	int c, verbose = 0, rc;

	if (argc > 1 && !strcmp(argv[1], "--worker"))
		return worker(argc - 2, argv + 2);
	keep_stdio();
	wc.userns = true;
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
		case OPT_BAR1:
			if (vgpu_parse_size(optarg, &opt.bar1_size))
				return bad("size", optarg);
			break;
		case OPT_HEAP:
			if (vgpu_parse_size(optarg, &opt.heap_size) || opt.heap_size % 4096)
				return bad("size", optarg);
			break;
		case OPT_MEM:
			if (parse_limit(optarg, &opt.mem_limit, &opt.mem_share))
				return bad("memory limit", optarg);
			break;
		case OPT_GROUP:
			if (!strcmp(optarg, "session"))
				opt.quota_group = VGPU_QUOTA_PER_SESSION;
			else if (!strcmp(optarg, "uid"))
				opt.quota_group = VGPU_QUOTA_PER_UID;
			else
				return bad("quota group", optarg);
			break;
		case OPT_READY:
			opt.ready_fd = atoi(optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_count(optarg, 86400, &secs) || !secs)
				return bad("timeout", optarg);
			opt.request_timeout_ms = secs * 1000;
			break;
		case OPT_SESSIONS:
			if (parse_count(optarg, 1u << 20, &opt.max_sessions_per_uid) ||
			    !opt.max_sessions_per_uid)
				return bad("count", optarg);
			break;
		case OPT_PENDING:
			if (parse_count(optarg, 1u << 20, &opt.max_pending_per_uid) ||
			    !opt.max_pending_per_uid)
				return bad("count", optarg);
			break;
		case OPT_CTX_MEM:
			if (vgpu_parse_size(optarg, &wc.ctx_mem))
				return bad("size", optarg);
			break;
		case OPT_IMAGE_MEM:
			if (vgpu_parse_size(optarg, &wc.image_memory) || !wc.image_memory)
				return bad("size", optarg);
			break;
		case OPT_CACHE:
			if (vgpu_parse_size(optarg, &wc.cache_size))
				return bad("size", optarg);
			break;
		case OPT_UIDS:
			if (!strcmp(optarg, "none")) {
				wc.uid_count = 0;
				break;
			}
			if (sscanf(optarg, "%u-%u", &first, &last) != 2 || first == 0 || last < first ||
			    last - first >= (1u << 20))
				return bad("uid range", optarg);
			wc.uid_first = first;
			wc.uid_count = last - first + 1;
			if (!gid_set)
				wc.gid = first;
			break;
		case OPT_GID:
			if (parse_count(optarg, UINT32_MAX - 1, &wc.gid) || !wc.gid)
				return bad("gid", optarg);
			gid_set = true;
			break;
		case OPT_NO_USERNS:
			wc.userns = false;
			break;
		case OPT_NO_SECCOMP:
			wc.seccomp = false;
			break;
		case OPT_NO_NVML:
			nvml = false;
			break;
		case OPT_LOG_LEVEL:
			if (vgpu_log_set_level(optarg))
				return bad("log level", optarg);
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
	opt.staging_limit = wc.image_memory;
	prepare_cache(&wc);
	vgpu_worker_configure(&wc);
	if (!wc.seccomp)
		vgpu_log_event("warn", "sandbox_degraded", "what=seccomp reason=--no-seccomp");
	if (geteuid() == 0 && !wc.uid_count)
		vgpu_log_event("warn", "sandbox_degraded", "what=uids reason=workers_run_as_root");
	report_gpu_reach();
	q = start_quota(nvml);
	if (!q) {
		fprintf(stderr, "vgpu-executor: cannot start the memory accounts\n");
		return 1;
	}
	if (mdev) {
		rc = serve_mdev(chardev, verbose, q);
	} else {
		if (!opt.socket_path) {
			if (vgpu_local_socket_path(path, sizeof(path))) {
				fprintf(stderr, "vgpu-executor: socket path too long\n");
				return 2;
			}
			opt.socket_path = path;
		}
		opt.quota = q;
		rc = vgpu_local_listen(&opt);
	}
	vgpu_quota_service_stop(q);
	return rc;
}
