/* SPDX-License-Identifier: MIT */
/*
 * The driver test double (tests/fakecuda/, a libcuda.so.1 for CI that is NOT
 * a driver) seen the way the executor sees a driver: dlopen it, resolve every
 * entry point of VGPU_REAL_DRIVER_FUNCS into the executor's own struct
 * vgpu_real_driver, and exercise the behaviour the executor's tests rely on.
 * Expected values that the double must share with the real driver (parameter
 * layouts, error codes where cuda.h is vague) are the ones the real driver
 * returned on an H200; they are written here, not taken from the double.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "real_driver.h"

#ifndef FAKECUDA_LIB
#define FAKECUDA_LIB "build/fakecuda/libcuda.so.1"
#endif

static struct vgpu_real_driver D;
static int failures;

static const char *ename(CUresult r)
{
	const char *s = NULL;
	if (D.GetErrorName && D.GetErrorName(r, &s) == CUDA_SUCCESS && s)
		return s;
	return "?";
}

#define CHECK(cond)									\
	do {										\
		if (!(cond)) {								\
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			failures++;							\
		}									\
	} while (0)

#define EXPECT(call, want)								\
	do {										\
		CUresult _r = (call);							\
		if (_r != (want)) {							\
			fprintf(stderr, "%s:%d: %s = %d %s, want %s\n", __FILE__, __LINE__,	\
				#call, (int)_r, ename(_r), #want);			\
			failures++;							\
		}									\
	} while (0)

#define OK(call) EXPECT(call, CUDA_SUCCESS)

/*
 * A handle that is not a live object of the right type is the executor's to
 * refuse: the double must stop the process, naming the call, instead of
 * answering (the real driver would crash).  Run in a child (the double's
 * fork handlers keep it usable there); its stderr must carry the message.
 */
#define EXPECT_ABORT(name, call)							\
	do {										\
		pid_t pid_;								\
		int fd_ = abort_child(&pid_);						\
		if (fd_ < 0) {	/* the child */						\
			(void)(call);							\
			_exit(0);	/* answered: the check is missing */		\
		}									\
		expect_abort(__FILE__, __LINE__, name, #call, pid_, fd_);		\
	} while (0)

/* Fork; the child (-1) writes its stderr into the pipe the parent reads. */
static int abort_child(pid_t *pid)
{
	int pfd[2];

	fflush(NULL);
	if (pipe(pfd) != 0 || (*pid = fork()) < 0)
		abort();
	if (*pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	close(pfd[1]);
	return pfd[0];
}

static void expect_abort(const char *file, int line, const char *name, const char *text, pid_t pid,
			 int fd)
{
	char want[128], buf[4096] = { 0 };
	size_t len = 0;
	ssize_t n;
	int st = 0;

	snprintf(want, sizeof(want), "fakecuda: %s got a handle that is not a live ", name);
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	waitpid(pid, &st, 0);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT || !strstr(buf, want)) {
		fprintf(stderr, "%s:%d: %s did not abort naming %s (status 0x%x, said: %s)\n", file, line,
			text, name, st, buf);
		failures++;
	}
}

static const char *FILL = "_Z14vgpu_test_fillPjjy";
static const char *AXPY = "_Z14vgpu_test_axpyfPKfPfi";
static const char *MIXED = "_Z15vgpu_test_mixedcdsPKiPx";
static const char *GADD = "_Z20vgpu_test_global_addy";

/* ================================================================ ABI */

#define STR_(x) #x
#define STR(x) STR_(x)
#define PASTE(a, b) a##b

static void load_driver(void)
{
	D.handle = dlopen(FAKECUDA_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!D.handle) {
		fprintf(stderr, "dlopen %s: %s\n", FAKECUDA_LIB, dlerror());
		exit(1);
	}
	/* every entry point of the executor's table, by its exact exported name */
#define RESOLVE(member, sym, pfn)							\
	D.member = (pfn)dlsym(D.handle, sym);						\
	if (!D.member) {								\
		fprintf(stderr, "%s is not exported\n", sym);				\
		failures++;								\
	}										\
	/* the table's name is the one cuda.h gives this entry point */		\
	if (strcmp(sym, STR(PASTE(cu, member))) != 0) {					\
		fprintf(stderr, "table names %s, cuda.h maps cu" #member " to %s\n", sym,	\
			STR(PASTE(cu, member)));					\
		failures++;								\
	}
	VGPU_REAL_DRIVER_FUNCS(RESOLVE)
#undef RESOLVE
	if (failures)
		exit(1);
}

/* The library's dynamic symbol table holds the table's names and nothing else. */
static void test_exports_exact(void)
{
	static const char *const want[] = {
#define NAME(member, sym, pfn) sym,
		VGPU_REAL_DRIVER_FUNCS(NAME)
#undef NAME
	};
	size_t nwant = sizeof(want) / sizeof(want[0]);
	int fd = open(FAKECUDA_LIB, O_RDONLY);
	struct stat st;
	CHECK(fd >= 0 && fstat(fd, &st) == 0);
	if (fd < 0)
		return;
	uint8_t *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	CHECK(p != MAP_FAILED);
	if (p == MAP_FAILED)
		return;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)p;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(p + eh->e_shoff);
	size_t found = 0, exported = 0;
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		const Elf64_Sym *sym = (const Elf64_Sym *)(p + sh[i].sh_offset);
		const char *str = (const char *)(p + sh[sh[i].sh_link].sh_offset);
		for (size_t j = 0; j < sh[i].sh_size / sizeof(Elf64_Sym); j++) {
			if (sym[j].st_shndx == SHN_UNDEF || ELF64_ST_BIND(sym[j].st_info) == STB_LOCAL)
				continue;
			const char *name = str + sym[j].st_name;
			exported++;
			bool known = false;
			for (size_t k = 0; k < nwant; k++)
				known |= !strcmp(name, want[k]);
			if (!known) {
				fprintf(stderr, "exported but not in VGPU_REAL_DRIVER_FUNCS: %s\n", name);
				failures++;
			} else {
				found++;
			}
		}
	}
	CHECK(found == nwant);
	CHECK(exported == nwant);
	munmap(p, (size_t)st.st_size);
}

/* ================================================================ init, errors, device */

static void test_init(void)
{
	int n, v = 0;
	const char *s;

	EXPECT(D.DeviceGetCount(&n), CUDA_ERROR_NOT_INITIALIZED);
	CUdevice d;
	EXPECT(D.DeviceGet(&d, 0), CUDA_ERROR_NOT_INITIALIZED);
	OK(D.DriverGetVersion(&v));	/* no cuInit needed */
	CHECK(v == 13000);
	EXPECT(D.DriverGetVersion(NULL), CUDA_ERROR_INVALID_VALUE);
	OK(D.GetErrorName(CUDA_ERROR_INVALID_VALUE, &s));
	EXPECT(D.Init(1), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.DeviceGetCount(&n), CUDA_ERROR_NOT_INITIALIZED);
	OK(D.Init(0));
	OK(D.Init(0));
	OK(D.DeviceGetCount(&n));
	CHECK(n == 1);
}

static void test_error_names(void)
{
	static const struct { CUresult code; const char *name; } codes[] = {
#define C(x) { x, #x }
		C(CUDA_SUCCESS), C(CUDA_ERROR_INVALID_VALUE), C(CUDA_ERROR_OUT_OF_MEMORY),
		C(CUDA_ERROR_NOT_INITIALIZED), C(CUDA_ERROR_INVALID_DEVICE),
		C(CUDA_ERROR_INVALID_IMAGE), C(CUDA_ERROR_INVALID_CONTEXT),
		C(CUDA_ERROR_NO_BINARY_FOR_GPU), C(CUDA_ERROR_UNSUPPORTED_LIMIT),
		C(CUDA_ERROR_INVALID_PTX), C(CUDA_ERROR_UNSUPPORTED_PTX_VERSION),
		C(CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY), C(CUDA_ERROR_INVALID_HANDLE),
		C(CUDA_ERROR_ILLEGAL_STATE), C(CUDA_ERROR_NOT_FOUND), C(CUDA_ERROR_NOT_READY),
		C(CUDA_ERROR_ILLEGAL_ADDRESS), C(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES),
		C(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED), C(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED),
		C(CUDA_ERROR_CONTEXT_IS_DESTROYED), C(CUDA_ERROR_NOT_PERMITTED),
		C(CUDA_ERROR_NOT_SUPPORTED), C(CUDA_ERROR_INVALID_CLUSTER_SIZE), C(CUDA_ERROR_UNKNOWN),
#undef C
	};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = NULL;
		OK(D.GetErrorName(codes[i].code, &s));
		CHECK(s && !strcmp(s, codes[i].name));
	}
	const char *s = "x";
	EXPECT(D.GetErrorName((CUresult)9999, &s), CUDA_ERROR_INVALID_VALUE);
	CHECK(s == NULL);
	EXPECT(D.GetErrorName(CUDA_SUCCESS, NULL), CUDA_ERROR_INVALID_VALUE);
}

static void test_device(void)
{
	CUdevice d = -1;
	char name[256], bus[64];
	int v;

	OK(D.DeviceGet(&d, 0));
	CHECK(d == 0);
	EXPECT(D.DeviceGet(&d, 1), CUDA_ERROR_INVALID_DEVICE);
	EXPECT(D.DeviceGet(&d, -1), CUDA_ERROR_INVALID_DEVICE);
	EXPECT(D.DeviceGet(NULL, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.DeviceGetCount(NULL), CUDA_ERROR_INVALID_VALUE);

	OK(D.DeviceGetName(name, sizeof(name), 0));
	CHECK(!strcmp(name, "vgpu fakecuda test double"));
	memset(name, 'X', sizeof(name));
	OK(D.DeviceGetName(name, 5, 0));
	CHECK(!strcmp(name, "vgpu"));
	EXPECT(D.DeviceGetName(name, 0, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.DeviceGetName(NULL, 10, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.DeviceGetName(name, 10, 1), CUDA_ERROR_INVALID_DEVICE);

	CUuuid u, u2;
	OK(D.DeviceGetUuid(&u, 0));
	OK(D.DeviceGetUuid(&u2, 0));
	CHECK(!memcmp(u.bytes, "vgpu-fakecuda-td", 16) && !memcmp(&u, &u2, 16));
	EXPECT(D.DeviceGetUuid(NULL, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.DeviceGetUuid(&u, 3), CUDA_ERROR_INVALID_DEVICE);

	char luid[8];
	unsigned mask = 0;
	unsetenv("FAKECUDA_LUID");
	EXPECT(D.DeviceGetLuid(luid, &mask, 0), CUDA_ERROR_NOT_SUPPORTED);	/* as on Linux */
	setenv("FAKECUDA_LUID", "1", 1);
	OK(D.DeviceGetLuid(luid, &mask, 0));
	CHECK(!memcmp(luid, "fakeluid", 8) && mask == 1);
	unsetenv("FAKECUDA_LUID");
	EXPECT(D.DeviceGetLuid(NULL, &mask, 0), CUDA_ERROR_INVALID_VALUE);

	size_t total;
	OK(D.DeviceTotalMem(&total, 0));
	CHECK(total == 80ull << 30);
	EXPECT(D.DeviceTotalMem(NULL, 0), CUDA_ERROR_INVALID_VALUE);

	/* the bus id string and the PCI attributes agree */
	unsigned dom, b, dev;
	int adom, ab, adev;
	OK(D.DeviceGetPCIBusId(bus, sizeof(bus), 0));
	CHECK(sscanf(bus, "%x:%x:%x.0", &dom, &b, &dev) == 3 && strlen(bus) == 12);
	OK(D.DeviceGetAttribute(&adom, CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID, 0));
	OK(D.DeviceGetAttribute(&ab, CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, 0));
	OK(D.DeviceGetAttribute(&adev, CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID, 0));
	CHECK((int)dom == adom && (int)b == ab && (int)dev == adev);
	EXPECT(D.DeviceGetPCIBusId(bus, 12, 0), CUDA_ERROR_INVALID_VALUE);	/* no room for the NUL */
	OK(D.DeviceGetPCIBusId(bus, 13, 0));
	EXPECT(D.DeviceGetPCIBusId(NULL, 13, 0), CUDA_ERROR_INVALID_VALUE);

	/* the attribute table is complete */
	for (int a = 1; a < CU_DEVICE_ATTRIBUTE_MAX; a++) {
		CUresult r = D.DeviceGetAttribute(&v, (CUdevice_attribute)a, 0);
		if (r != CUDA_SUCCESS) {
			fprintf(stderr, "attribute %d: %d\n", a, r);
			failures++;
		}
	}
	EXPECT(D.DeviceGetAttribute(&v, (CUdevice_attribute)0, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.DeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.DeviceGetAttribute(NULL, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.DeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 1), CUDA_ERROR_INVALID_DEVICE);
	static const struct { CUdevice_attribute a; int v; } known[] = {
		{ CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 9 },
		{ CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0 },
		{ CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 114 },
		{ CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32 },
		{ CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024 },
		{ CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, 64 },
		{ CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, 2147483647 },
		{ CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, 49152 },
		{ CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, 232448 },
		{ CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING, 1 },
		{ CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 1 },
		{ CU_DEVICE_ATTRIBUTE_INTEGRATED, 0 },
		{ CU_DEVICE_ATTRIBUTE_NUMA_ID, -1 },
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		OK(D.DeviceGetAttribute(&v, known[i].a, 0));
		CHECK(v == known[i].v);
	}
}

/* ================================================================ contexts */

static CUcontext primary;

static void test_primary_context(void)
{
	unsigned flags;
	int active;
	CUcontext c2;
	CUdeviceptr p, old;

	/* nothing current yet */
	EXPECT(D.MemAlloc(&p, 16), CUDA_ERROR_INVALID_CONTEXT);
	EXPECT(D.CtxSynchronize(), CUDA_ERROR_INVALID_CONTEXT);
	EXPECT(D.CtxGetStreamPriorityRange(NULL, NULL), CUDA_ERROR_INVALID_CONTEXT);
	OK(D.DevicePrimaryCtxGetState(0, &flags, &active));
	CHECK(flags == 0 && active == 0);
	EXPECT(D.DevicePrimaryCtxGetState(0, NULL, &active), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.DevicePrimaryCtxGetState(1, &flags, &active), CUDA_ERROR_INVALID_DEVICE);
	EXPECT(D.DevicePrimaryCtxRelease(0), CUDA_ERROR_INVALID_CONTEXT);	/* never retained */

	EXPECT(D.DevicePrimaryCtxSetFlags(0, 3), CUDA_ERROR_INVALID_VALUE);	/* not a scheduling mode */
	EXPECT(D.DevicePrimaryCtxSetFlags(0, CU_CTX_MAP_HOST), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.DevicePrimaryCtxSetFlags(0, 0x100), CUDA_ERROR_INVALID_VALUE);
	OK(D.DevicePrimaryCtxSetFlags(0, CU_CTX_SCHED_BLOCKING_SYNC));
	OK(D.DevicePrimaryCtxGetState(0, &flags, &active));
	CHECK(flags == CU_CTX_SCHED_BLOCKING_SYNC && active == 0);

	OK(D.DevicePrimaryCtxRetain(&primary, 0));
	OK(D.DevicePrimaryCtxRetain(&c2, 0));
	CHECK(primary && primary == c2);
	EXPECT(D.DevicePrimaryCtxRetain(NULL, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.DevicePrimaryCtxRetain(&c2, 1), CUDA_ERROR_INVALID_DEVICE);
	OK(D.DevicePrimaryCtxGetState(0, &flags, &active));
	CHECK(flags == CU_CTX_SCHED_BLOCKING_SYNC && active == 1);
	OK(D.DevicePrimaryCtxSetFlags(0, CU_CTX_SCHED_SPIN));	/* allowed while active */

	EXPECT(D.MemAlloc(&p, 16), CUDA_ERROR_INVALID_CONTEXT);	/* retained is not current */
	OK(D.CtxSetCurrent(primary));
	OK(D.MemAlloc(&old, 16));

	/* reset: resources and flags go, the references stay */
	OK(D.DevicePrimaryCtxReset(0));
	OK(D.DevicePrimaryCtxGetState(0, &flags, &active));
	CHECK(flags == 0 && active == 0);
	EXPECT(D.MemAlloc(&p, 16), CUDA_ERROR_CONTEXT_IS_DESTROYED);
	EXPECT(D.CtxSynchronize(), CUDA_ERROR_CONTEXT_IS_DESTROYED);
	OK(D.DevicePrimaryCtxRelease(0));
	OK(D.DevicePrimaryCtxRelease(0));
	EXPECT(D.DevicePrimaryCtxRelease(0), CUDA_ERROR_INVALID_CONTEXT);

	/* retained again: same handle, and the thread that had it current works again */
	OK(D.DevicePrimaryCtxRetain(&c2, 0));
	CHECK(c2 == primary);
	EXPECT(D.MemFree(old), CUDA_ERROR_INVALID_VALUE);	/* went with the reset */
	OK(D.MemAlloc(&p, 16));
	OK(D.MemFree(p));
}

struct thread_arg {
	CUcontext ctx;
	CUresult before, after_set, after_destroy;
	pthread_barrier_t *bar;
};

static void *other_thread(void *p)
{
	struct thread_arg *a = p;
	size_t v;

	a->before = D.CtxGetLimit(&v, CU_LIMIT_STACK_SIZE);	/* nothing current in a new thread */
	a->after_set = D.CtxSetCurrent(a->ctx);
	if (a->after_set == CUDA_SUCCESS)
		a->after_set = D.CtxGetLimit(&v, CU_LIMIT_STACK_SIZE);
	pthread_barrier_wait(a->bar);	/* main destroys the context */
	pthread_barrier_wait(a->bar);
	a->after_destroy = D.CtxGetLimit(&v, CU_LIMIT_STACK_SIZE);
	return NULL;
}

static void test_created_contexts(void)
{
	CUcontext c1, c2, bad;
	size_t v;

	OK(D.CtxCreate(&c1, NULL, 0, 0));	/* pushed: current */
	OK(D.CtxSetLimit(CU_LIMIT_STACK_SIZE, 2048));
	CUctxCreateParams none = { 0 };
	OK(D.CtxCreate(&c2, &none, CU_CTX_SCHED_YIELD | CU_CTX_MAP_HOST, 0));
	CHECK(c1 != c2 && c2 != primary);
	OK(D.CtxGetLimit(&v, CU_LIMIT_STACK_SIZE));
	CHECK(v == 1024);	/* c2 is current, with its own limits */
	OK(D.CtxDestroy(c2));	/* popped: c1 current again */
	OK(D.CtxGetLimit(&v, CU_LIMIT_STACK_SIZE));
	CHECK(v == 2048);
	EXPECT_ABORT("cuCtxDestroy", D.CtxDestroy(c2));	/* stale */
	EXPECT(D.CtxDestroy(NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.CtxDestroy(primary), CUDA_ERROR_INVALID_CONTEXT);
	EXPECT_ABORT("cuCtxDestroy", D.CtxDestroy((CUcontext)&v));	/* forged */
	EXPECT_ABORT("cuCtxSetCurrent", D.CtxSetCurrent((CUcontext)&v));
	EXPECT(D.CtxCreate(NULL, NULL, 0, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.CtxCreate(&bad, NULL, 0, 1), CUDA_ERROR_INVALID_DEVICE);
	EXPECT(D.CtxCreate(&bad, NULL, 0x100, 0), CUDA_ERROR_INVALID_VALUE);
	CUexecAffinityParam aff = { .type = CU_EXEC_AFFINITY_TYPE_SM_COUNT, .param.smCount.val = 8 };
	CUctxCreateParams withaff = { .execAffinityParams = &aff, .numExecAffinityParams = 1 };
	EXPECT(D.CtxCreate(&bad, &withaff, 0, 0), CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY);
	CUctxCigParam cig = { 0 };
	CUctxCreateParams withcig = { .cigParams = &cig };
	EXPECT(D.CtxCreate(&bad, &withcig, 0, 0), CUDA_ERROR_INVALID_VALUE);

	/* limits */
	OK(D.CtxGetLimit(&v, CU_LIMIT_MALLOC_HEAP_SIZE));
	CHECK(v == 8388608);
	OK(D.CtxSetLimit(CU_LIMIT_STACK_SIZE, 1000));
	OK(D.CtxGetLimit(&v, CU_LIMIT_STACK_SIZE));
	CHECK(v == 1008);	/* rounded up, as the real driver does */
	EXPECT(D.CtxSetLimit(CU_LIMIT_STACK_SIZE, (size_t)1 << 40), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.CtxSetLimit(CU_LIMIT_STACK_SIZE, 524288), CUDA_ERROR_INVALID_VALUE);	/* the H200 refused it too */
	OK(D.CtxSetLimit(CU_LIMIT_STACK_SIZE, 256 * 1024));
	OK(D.CtxSetLimit(CU_LIMIT_PRINTF_FIFO_SIZE, 1000));
	OK(D.CtxGetLimit(&v, CU_LIMIT_PRINTF_FIFO_SIZE));
	CHECK(v == 524288);
	OK(D.CtxSetLimit(CU_LIMIT_PRINTF_FIFO_SIZE, 600000));
	OK(D.CtxGetLimit(&v, CU_LIMIT_PRINTF_FIFO_SIZE));
	CHECK(v == 600064);
	OK(D.CtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 0));
	OK(D.CtxGetLimit(&v, CU_LIMIT_MALLOC_HEAP_SIZE));
	CHECK(v == 4194304);
	OK(D.CtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 5000000));
	OK(D.CtxGetLimit(&v, CU_LIMIT_MALLOC_HEAP_SIZE));
	CHECK(v == 5046272);
	OK(D.CtxSetLimit(CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT, 1000));
	OK(D.CtxGetLimit(&v, CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT));
	CHECK(v == 1000);
	EXPECT(D.CtxSetLimit(CU_LIMIT_MAX_L2_FETCH_GRANULARITY, 200), CUDA_ERROR_INVALID_VALUE);
	OK(D.CtxSetLimit(CU_LIMIT_MAX_L2_FETCH_GRANULARITY, 32));
	OK(D.CtxGetLimit(&v, CU_LIMIT_MAX_L2_FETCH_GRANULARITY));
	CHECK(v == 32);
	OK(D.CtxSetLimit(CU_LIMIT_PERSISTING_L2_CACHE_SIZE, 1000));
	OK(D.CtxGetLimit(&v, CU_LIMIT_PERSISTING_L2_CACHE_SIZE));
	CHECK(v > 1000 && v <= 32768000);
	EXPECT(D.CtxSetLimit(CU_LIMIT_PERSISTING_L2_CACHE_SIZE, (size_t)1 << 40), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.CtxGetLimit(&v, CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH), CUDA_ERROR_UNSUPPORTED_LIMIT);
	EXPECT(D.CtxSetLimit(CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH, 3), CUDA_ERROR_UNSUPPORTED_LIMIT);
	EXPECT(D.CtxSetLimit(CU_LIMIT_SHMEM_SIZE, 1000), CUDA_ERROR_NOT_PERMITTED);
	OK(D.CtxGetLimit(&v, CU_LIMIT_SHMEM_SIZE));
	EXPECT(D.CtxGetLimit(&v, CU_LIMIT_MAX), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.CtxSetLimit((CUlimit)99, 1), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.CtxGetLimit(NULL, CU_LIMIT_STACK_SIZE), CUDA_ERROR_INVALID_VALUE);

	/* another thread: no context until it sets one; sees the destruction */
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, 2);
	struct thread_arg a = { .ctx = c1, .bar = &bar };
	pthread_t t;
	pthread_create(&t, NULL, other_thread, &a);
	pthread_barrier_wait(&bar);
	OK(D.CtxDestroy(c1));
	pthread_barrier_wait(&bar);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&bar);
	CHECK(a.before == CUDA_ERROR_INVALID_CONTEXT);
	CHECK(a.after_set == CUDA_SUCCESS);
	CHECK(a.after_destroy == CUDA_ERROR_CONTEXT_IS_DESTROYED);

	/* c1 was the top of this thread's stack: popped, the primary is below it */
	OK(D.CtxGetLimit(&v, CU_LIMIT_STACK_SIZE));
	OK(D.CtxSetCurrent(NULL));	/* pops the primary */
	EXPECT(D.CtxGetLimit(&v, CU_LIMIT_STACK_SIZE), CUDA_ERROR_INVALID_CONTEXT);
	OK(D.CtxSetCurrent(NULL));	/* empty stack: nothing to do */
	OK(D.CtxSetCurrent(primary));
	OK(D.CtxSynchronize());
}

/* ================================================================ memory */

static void test_memory(void)
{
	CUdeviceptr a, b, big;
	size_t free0, free1, total;
	uint8_t h[512];

	OK(D.MemGetInfo(&free0, &total));
	CHECK(total == 80ull << 30);
	CHECK(free0 <= 64ull << 20);	/* FAKECUDA_MEM_LIMIT=64 MiB, set by main */
	OK(D.MemGetInfo(NULL, NULL));	/* both optional, as on the real driver */

	EXPECT(D.MemAlloc(&a, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemAlloc(NULL, 16), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemAlloc(&a, 100));
	CHECK(a != 0 && a % 256 == 0);
	OK(D.MemGetInfo(&free1, NULL));
	CHECK(free1 == free0 - 512);
	EXPECT(D.MemAlloc(&big, 65ull << 20), CUDA_ERROR_OUT_OF_MEMORY);
	EXPECT(D.MemAlloc(&big, free1 + 1), CUDA_ERROR_OUT_OF_MEMORY);
	OK(D.MemAlloc(&b, 256));

	/* fresh memory is poisoned, not zero */
	OK(D.MemcpyDtoHAsync(h, a, 100, NULL));
	CHECK(h[0] == 0xcd && h[99] == 0xcd);

	/* ranges: inside one live allocation, of the size asked for */
	for (int i = 0; i < 256; i++)
		h[i] = (uint8_t)i;
	OK(D.MemcpyHtoDAsync(a, h, 100, NULL));
	EXPECT(D.MemcpyHtoDAsync(a, h, 101, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemcpyHtoDAsync(a + 96, h, 8, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemcpyHtoDAsync(a + 200, h, 1, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemcpyHtoDAsync(0x1234, h, 4, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemcpyHtoDAsync((CUdeviceptr)(uintptr_t)h, h + 256, 4, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemcpyHtoDAsync(a, NULL, 4, NULL), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemcpyHtoDAsync(a, NULL, 0, NULL));	/* nothing to copy: not looked at */
	OK(D.MemcpyHtoDAsync(0, h, 0, NULL));
	EXPECT_ABORT("cuMemcpyHtoDAsync", D.MemcpyHtoDAsync(a, h, 4, (CUstream)h));
	OK(D.MemcpyHtoDAsync(a, h, 4, CU_STREAM_LEGACY));
	OK(D.MemcpyHtoDAsync(a, h, 4, CU_STREAM_PER_THREAD));

	uint8_t back[512] = { 0 };
	OK(D.MemcpyDtoHAsync(back, a, 100, NULL));
	CHECK(!memcmp(back, h, 100));
	EXPECT(D.MemcpyDtoHAsync(NULL, a, 4, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemcpyDtoHAsync(back, a + 1, 100, NULL), CUDA_ERROR_INVALID_VALUE);

	OK(D.MemcpyDtoDAsync(b, a, 100, NULL));
	OK(D.MemcpyDtoDAsync(b + 10, b, 50, NULL));	/* overlapping */
	OK(D.MemcpyDtoHAsync(back, b, 60, NULL));
	CHECK(back[9] == 9 && back[10] == 0 && back[59] == 49);
	EXPECT(D.MemcpyDtoDAsync(b, a, 101, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemcpyDtoDAsync(b + 200, a, 57, NULL), CUDA_ERROR_INVALID_VALUE);

	/* memsets */
	OK(D.MemsetD8Async(b, 0x11, 256, NULL));
	EXPECT(D.MemsetD8Async(b, 0x11, 257, NULL), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemsetD16Async(b + 2, 0xbeef, 3, NULL));
	EXPECT(D.MemsetD16Async(b + 1, 0xbeef, 2, NULL), CUDA_ERROR_INVALID_VALUE);	/* misaligned */
	OK(D.MemsetD32Async(b + 16, 0xdeadbeef, 2, NULL));
	EXPECT(D.MemsetD32Async(b + 2, 1, 2, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemsetD32Async(b, 1, 65, NULL), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemsetD32Async(0, 1, 0, NULL));
	OK(D.MemcpyDtoHAsync(back, b, 32, NULL));
	uint16_t s16;
	uint32_t s32;
	memcpy(&s16, back + 6, 2);
	memcpy(&s32, back + 20, 4);
	CHECK(back[0] == 0x11 && back[1] == 0x11 && s16 == 0xbeef && back[8] == 0x11 && s32 == 0xdeadbeef);

	/* 2D: rows of width elements, pitch bytes apart; the pitch only matters for more than one row */
	OK(D.MemsetD8Async(b, 0, 256, NULL));
	OK(D.MemsetD2D8Async(b, 16, 0x22, 4, 3, NULL));
	OK(D.MemcpyDtoHAsync(back, b, 64, NULL));
	CHECK(back[0] == 0x22 && back[3] == 0x22 && back[4] == 0 && back[16] == 0x22 &&
	      back[35] == 0x22 && back[36] == 0 && back[48] == 0);
	EXPECT(D.MemsetD2D8Async(b, 4, 1, 5, 2, NULL), CUDA_ERROR_INVALID_VALUE);	/* width > pitch */
	OK(D.MemsetD2D8Async(b, 0, 1, 5, 1, NULL));
	EXPECT(D.MemsetD2D8Async(b, 64, 1, 10, 5, NULL), CUDA_ERROR_INVALID_VALUE);	/* past the end */
	OK(D.MemsetD2D8Async(b, 64, 1, 10, 4, NULL));
	EXPECT(D.MemsetD2D32Async(b, 10, 1, 2, 2, NULL), CUDA_ERROR_INVALID_VALUE);	/* pitch not a multiple of 4 */
	OK(D.MemsetD2D32Async(b, 8, 7, 2, 2, NULL));
	OK(D.MemsetD2D16Async(b, 4, 7, 2, 2, NULL));
	EXPECT(D.MemsetD2D16Async(b + 1, 4, 7, 2, 2, NULL), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemsetD2D8Async(b, 10, 1, 0, 10, NULL));

	/* free */
	EXPECT(D.MemFree(a + 4), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemFree(0x1234), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemFree(0));	/* as the real driver */
	OK(D.MemFree(a));
	EXPECT(D.MemFree(a), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemcpyHtoDAsync(a, h, 4, NULL), CUDA_ERROR_INVALID_VALUE);	/* gone */
	OK(D.MemFree(b));
	OK(D.MemGetInfo(&free1, NULL));
	CHECK(free1 == free0);
}

static void test_host_register(void)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, (size_t)page * 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);

	OK(D.MemHostRegister(m, (size_t)page * 2, 0));
	EXPECT(D.MemHostRegister(m, (size_t)page * 2, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
	EXPECT(D.MemHostRegister(m + page, (size_t)page * 2, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
	EXPECT(D.MemHostRegister(m + 100, 100, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
	EXPECT(D.MemHostRegister(m + page * 4, (size_t)page, 0x80), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemHostRegister(m + page * 4, (size_t)page, CU_MEMHOSTREGISTER_IOMEMORY), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemHostRegister(m + page * 4, 0, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemHostRegister(NULL, (size_t)page, 0), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemHostRegister(m + page * 4 + 10, 100, CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP));
	EXPECT(D.MemHostUnregister(m + page * 4), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
	OK(D.MemHostUnregister(m + page * 4 + 10));
	EXPECT(D.MemHostUnregister(m + page), CUDA_ERROR_INVALID_VALUE);	/* inside, not the start */
	EXPECT(D.MemHostUnregister(NULL), CUDA_ERROR_INVALID_VALUE);

	/* registered memory is reachable as device memory (unified addressing) */
	CUdeviceptr dev;
	OK(D.MemAlloc(&dev, 64));
	OK(D.MemsetD8Async(dev, 0x5a, 64, NULL));
	OK(D.MemcpyDtoDAsync((CUdeviceptr)(uintptr_t)m, dev, 64, NULL));
	OK(D.StreamSynchronize(NULL));	/* the copy lands in registered memory when it runs */
	CHECK(m[0] == 0x5a && m[63] == 0x5a);
	OK(D.MemFree(dev));

	OK(D.MemHostUnregister(m));
	EXPECT(D.MemHostUnregister(m), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
	EXPECT(D.MemcpyDtoDAsync((CUdeviceptr)(uintptr_t)m, (CUdeviceptr)(uintptr_t)m + 64, 4, NULL),
	       CUDA_ERROR_INVALID_VALUE);

	/* memory that is not mapped cannot be pinned */
	munmap(m + page * 8, (size_t)page * 8);
	EXPECT(D.MemHostRegister(m + page * 8, (size_t)page, 0), CUDA_ERROR_INVALID_VALUE);
	munmap(m, (size_t)page * 8);
}

/* ================================================================ streams, events */

static void test_streams_events(void)
{
	CUstream s, s2;
	CUevent e1, e2, nt, ipc, bad;
	float ms = -1;

	int least = 99, greatest = 99;
	OK(D.CtxGetStreamPriorityRange(&least, &greatest));
	CHECK(least == 0 && greatest == -5);	/* what the real driver reported */
	OK(D.CtxGetStreamPriorityRange(NULL, &greatest));	/* either may be NULL */
	OK(D.CtxGetStreamPriorityRange(&least, NULL));
	EXPECT(D.StreamCreateWithPriority(&s, 2, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.StreamCreateWithPriority(NULL, 0, 0), CUDA_ERROR_INVALID_VALUE);
	OK(D.StreamCreateWithPriority(&s, CU_STREAM_NON_BLOCKING, -100));	/* clamped */
	OK(D.StreamCreateWithPriority(&s2, 0, 0));
	OK(D.StreamQuery(s));
	OK(D.StreamSynchronize(s));
	OK(D.StreamQuery(NULL));
	OK(D.StreamSynchronize(CU_STREAM_LEGACY));
	EXPECT_ABORT("cuStreamQuery", D.StreamQuery((CUstream)&ms));
	EXPECT(D.StreamDestroy(NULL), CUDA_ERROR_INVALID_HANDLE);
	EXPECT(D.StreamDestroy(CU_STREAM_LEGACY), CUDA_ERROR_INVALID_HANDLE);
	EXPECT(D.StreamDestroy(CU_STREAM_PER_THREAD), CUDA_ERROR_INVALID_HANDLE);
	OK(D.StreamDestroy(s2));
	EXPECT_ABORT("cuStreamDestroy", D.StreamDestroy(s2));	/* stale */
	EXPECT_ABORT("cuStreamQuery", D.StreamQuery(s2));
	EXPECT_ABORT("cuStreamSynchronize", D.StreamSynchronize(s2));

	EXPECT(D.EventCreate(&bad, 8), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.EventCreate(&bad, CU_EVENT_INTERPROCESS), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.EventCreate(NULL, 0), CUDA_ERROR_INVALID_VALUE);
	OK(D.EventCreate(&ipc, CU_EVENT_INTERPROCESS | CU_EVENT_DISABLE_TIMING));
	OK(D.EventCreate(&e1, CU_EVENT_DEFAULT));
	OK(D.EventCreate(&e2, CU_EVENT_BLOCKING_SYNC));
	OK(D.EventCreate(&nt, CU_EVENT_DISABLE_TIMING));

	OK(D.EventQuery(e1));	/* nothing recorded: nothing to wait for */
	OK(D.EventSynchronize(e1));
	EXPECT(D.EventElapsedTime(&ms, e1, e2), CUDA_ERROR_INVALID_HANDLE);	/* neither recorded */
	OK(D.EventRecord(e1, NULL));
	EXPECT(D.EventElapsedTime(&ms, e1, e2), CUDA_ERROR_INVALID_HANDLE);	/* one recorded */
	/* e1 has its time before the sleep, however late a loaded machine runs its stream. */
	OK(D.EventSynchronize(e1));
	usleep(20000);
	OK(D.EventRecord(e2, s));
	OK(D.EventSynchronize(e2));
	OK(D.EventQuery(e2));	/* complete once synchronised */
	OK(D.EventElapsedTime(&ms, e1, e2));
	CHECK(ms >= 19.0f && ms < 10000.0f);	/* milliseconds, not micro- or seconds */
	float back;
	OK(D.EventElapsedTime(&back, e2, e1));
	CHECK(back == -ms);
	OK(D.EventElapsedTime(&back, e1, e1));
	CHECK(back == 0.0f);
	EXPECT(D.EventElapsedTime(NULL, e1, e2), CUDA_ERROR_INVALID_HANDLE);	/* as the real driver */
	OK(D.EventRecord(nt, NULL));
	EXPECT(D.EventElapsedTime(&ms, e1, nt), CUDA_ERROR_INVALID_HANDLE);	/* timing disabled */
	EXPECT(D.EventRecord(NULL, NULL), CUDA_ERROR_INVALID_HANDLE);
	EXPECT_ABORT("cuEventRecord", D.EventRecord(e1, (CUstream)&ms));
	EXPECT_ABORT("cuEventRecord", D.EventRecord((CUevent)&ms, NULL));

	OK(D.StreamWaitEvent(s, e1, 0));
	OK(D.StreamWaitEvent(NULL, e1, 0));
	EXPECT(D.StreamWaitEvent(s, e1, CU_EVENT_WAIT_EXTERNAL), CUDA_ERROR_ILLEGAL_STATE);	/* not capturing */
	EXPECT(D.StreamWaitEvent(s, e1, 2), CUDA_ERROR_INVALID_VALUE);
	EXPECT_ABORT("cuStreamWaitEvent", D.StreamWaitEvent(s, (CUevent)&ms, 0));
	EXPECT_ABORT("cuStreamWaitEvent", D.StreamWaitEvent((CUstream)e1, e1, 0));	/* an event as a stream */
	EXPECT(D.StreamWaitEvent(s, NULL, 0), CUDA_ERROR_INVALID_HANDLE);

	/* work on a created stream runs in the stream's context, current or not */
	CUdeviceptr dp;
	uint32_t word = 0x12345678;
	OK(D.MemAlloc(&dp, 4));
	OK(D.CtxSetCurrent(NULL));
	OK(D.MemcpyHtoDAsync(dp, &word, 4, s));
	EXPECT(D.MemcpyHtoDAsync(dp, &word, 4, NULL), CUDA_ERROR_INVALID_CONTEXT);
	OK(D.EventRecord(e1, s));
	EXPECT(D.EventRecord(e1, NULL), CUDA_ERROR_INVALID_CONTEXT);
	OK(D.StreamWaitEvent(s, e1, 0));
	OK(D.EventSynchronize(e1));
	OK(D.EventQuery(e1));
	OK(D.MemFree(dp));	/* so does cuMemFree: the pointer names the memory */
	EXPECT(D.MemGetInfo(NULL, NULL), CUDA_ERROR_INVALID_CONTEXT);
	OK(D.CtxSetCurrent(primary));

	OK(D.EventDestroy(nt));
	EXPECT_ABORT("cuEventDestroy", D.EventDestroy(nt));	/* stale */
	EXPECT_ABORT("cuEventQuery", D.EventQuery(nt));
	EXPECT_ABORT("cuEventSynchronize", D.EventSynchronize(nt));
	EXPECT_ABORT("cuEventElapsedTime", D.EventElapsedTime(&ms, e1, nt));
	EXPECT(D.EventDestroy(NULL), CUDA_ERROR_INVALID_HANDLE);
	OK(D.EventDestroy(ipc));
	OK(D.EventDestroy(e1));
	OK(D.EventDestroy(e2));
	OK(D.StreamDestroy(s));
}

/* ================================================================ images */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void pad(struct buf *b, size_t align)
{
	static const uint8_t zero[64];
	while (b->len % align)
		put(b, zero, 1);
}

/* A minimal CUDA cubin: ELF header and one string table that holds @names. */
static struct buf make_elf(uint16_t machine, int arch, uint8_t cls, const char *const *names, int n)
{
	struct buf strtab = { 0 }, b = { 0 };
	put(&strtab, "\0.strtab", 9);
	for (int i = 0; i < n; i++)
		put(&strtab, names[i], strlen(names[i]) + 1);
	Elf64_Ehdr eh = { 0 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = cls;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = 0x41;	/* CUDA */
	eh.e_ident[EI_ABIVERSION] = 8;
	eh.e_type = ET_EXEC;
	eh.e_machine = machine;
	eh.e_version = EV_CURRENT;
	eh.e_flags = 0x06000004u | ((uint32_t)arch << 8);	/* as nvcc 13 writes it */
	eh.e_ehsize = sizeof(eh);
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 2;
	eh.e_shstrndx = 1;
	size_t str_off = sizeof(eh);
	eh.e_shoff = (str_off + strtab.len + 7) / 8 * 8;
	put(&b, &eh, sizeof(eh));
	put(&b, strtab.p, strtab.len);
	pad(&b, 8);
	Elf64_Shdr sh[2] = { { 0 } };
	sh[1].sh_name = 1;
	sh[1].sh_type = SHT_STRTAB;
	sh[1].sh_offset = str_off;
	sh[1].sh_size = strtab.len;
	put(&b, sh, sizeof(sh));
	free(strtab.p);
	return b;
}

#define ENTRY_PTX 1
#define ENTRY_ELF 2

/* A fatbin of one entry (kind, arch), its payload stored as given. */
static struct buf make_fatbin(uint16_t kind, uint32_t arch, const struct buf *payload,
			      uint64_t flags, uint32_t compressed, uint64_t full)
{
	struct buf e = { 0 }, b = { 0 };
	uint8_t h[64] = { 0 };
	uint64_t psize = (payload->len + 7) / 8 * 8;
	uint16_t v0101 = 0x0101;
	uint32_t hs = 64;
	memcpy(h + 0, &kind, 2);
	memcpy(h + 2, &v0101, 2);
	memcpy(h + 4, &hs, 4);
	memcpy(h + 8, &psize, 8);
	memcpy(h + 16, &compressed, 4);
	memcpy(h + 28, &arch, 4);
	memcpy(h + 40, &flags, 8);
	memcpy(h + 56, &full, 8);
	put(&e, h, 64);
	put(&e, payload->p, payload->len);
	pad(&e, 8);
	uint32_t magic = 0xBA55ED50;
	uint16_t ver = 1, hsize = 16;
	uint64_t fat = e.len;
	put(&b, &magic, 4);
	put(&b, &ver, 2);
	put(&b, &hsize, 2);
	put(&b, &fat, 8);
	put(&b, e.p, e.len);
	free(e.p);
	return b;
}

static const char PTX_FILL_AXPY[] =
	"//\n// a hand-written image naming two of the registry's kernels\n//\n"
	".version 9.0\n.target sm_90\n.address_size 64\n"
	".global .align 8 .b8 vgpu_test_global[32];\n"
	".visible .entry _Z14vgpu_test_fillPjjy(.param .u64 a, .param .u32 b, .param .u64 c) { ret; }\n"
	".visible .entry _Z14vgpu_test_axpyfPKfPfi(.param .f32 a, .param .u64 b, .param .u64 c, .param .u32 d) { ret; }\n";

static void test_modules(void)
{
	CUmodule m, m2, bad = (CUmodule)0x55;
	CUfunction f, f2;

	/* PTX text */
	OK(D.ModuleLoadData(&m, PTX_FILL_AXPY));
	OK(D.ModuleGetFunction(&f, m, FILL));
	OK(D.ModuleGetFunction(&f2, m, FILL));
	CHECK(f && f == f2);	/* the same function again */
	OK(D.ModuleGetFunction(&f2, m, AXPY));
	CHECK(f2 != f);
	f2 = (CUfunction)0x55;
	EXPECT(D.ModuleGetFunction(&f2, m, MIXED), CUDA_ERROR_NOT_FOUND);	/* registry has it, image not */
	CHECK(f2 == NULL);
	EXPECT(D.ModuleGetFunction(&f2, m, "nope"), CUDA_ERROR_NOT_FOUND);
	EXPECT(D.ModuleGetFunction(&f2, m, "_Z14vgpu_test_fill"), CUDA_ERROR_NOT_FOUND);
	EXPECT(D.ModuleGetFunction(NULL, m, FILL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.ModuleGetFunction(&f2, m, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.ModuleGetFunction(&f2, NULL, FILL), CUDA_ERROR_INVALID_HANDLE);
	EXPECT_ABORT("cuModuleGetFunction", D.ModuleGetFunction(&f2, bad, FILL));
	int v;
	OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_PTX_VERSION, f));
	CHECK(v == 90);
	OK(D.ModuleUnload(m));
	EXPECT_ABORT("cuModuleUnload", D.ModuleUnload(m));	/* double unload */
	EXPECT_ABORT("cuModuleGetFunction", D.ModuleGetFunction(&f2, m, FILL));
	EXPECT_ABORT("cuFuncGetAttribute", D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, f));
	EXPECT(D.ModuleUnload(NULL), CUDA_ERROR_INVALID_HANDLE);

	/* a name that only starts like a registry name does not count */
	OK(D.ModuleLoadData(&m, ".version 9.0\n.target sm_90\n.entry _Z14vgpu_test_fillPjjyX() { ret; }\n"));
	EXPECT(D.ModuleGetFunction(&f2, m, FILL), CUDA_ERROR_NOT_FOUND);
	OK(D.ModuleUnload(m));

	/* PTX an older GPU generation: JIT-able; newer or a newer ISA: not */
	OK(D.ModuleLoadData(&m, ".version 8.0\n.target sm_80\n.entry _Z15vgpu_test_mixedcdsPKiPx() { ret; }\n"));
	OK(D.ModuleGetFunction(&f, m, MIXED));
	OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_PTX_VERSION, f));
	CHECK(v == 80);
	OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_BINARY_VERSION, f));
	CHECK(v == 90);
	OK(D.ModuleUnload(m));
	EXPECT(D.ModuleLoadData(&m, ".version 9.0\n.target sm_100\n"), CUDA_ERROR_INVALID_PTX);
	EXPECT(D.ModuleLoadData(&m, ".version 9.9\n.target sm_90\n"), CUDA_ERROR_UNSUPPORTED_PTX_VERSION);
	EXPECT(D.ModuleLoadData(&m, "hello world"), CUDA_ERROR_INVALID_IMAGE);
	EXPECT(D.ModuleLoadData(&m, ""), CUDA_ERROR_INVALID_IMAGE);
	EXPECT(D.ModuleLoadData(&m, "\x01\x02\x03\x04garbage"), CUDA_ERROR_INVALID_IMAGE);
	EXPECT(D.ModuleLoadData(&m, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.ModuleLoadData(NULL, PTX_FILL_AXPY), CUDA_ERROR_INVALID_VALUE);
	static const uint8_t wrapper[24] = { 0xb1, 0x43, 0x62, 0x46, 1 };
	EXPECT(D.ModuleLoadData(&m, wrapper), CUDA_ERROR_NOT_SUPPORTED);

	/* ELF cubin */
	const char *const mixed_names[] = { ".text._Z15vgpu_test_mixedcdsPKiPx", MIXED, "vgpu_test_global" };
	struct buf elf = make_elf(190 /* EM_CUDA */, 90, ELFCLASS64, mixed_names, 3);
	OK(D.ModuleLoadData(&m, elf.p));
	OK(D.ModuleGetFunction(&f, m, MIXED));
	EXPECT(D.ModuleGetFunction(&f2, m, FILL), CUDA_ERROR_NOT_FOUND);	/* the wrong module */
	OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_BINARY_VERSION, f));
	CHECK(v == 90);
	struct buf elf80 = make_elf(190, 80, ELFCLASS64, mixed_names, 3);
	EXPECT(D.ModuleLoadData(&m2, elf80.p), CUDA_ERROR_NO_BINARY_FOR_GPU);
	struct buf x86 = make_elf(62 /* EM_X86_64 */, 90, ELFCLASS64, mixed_names, 3);
	EXPECT(D.ModuleLoadData(&m2, x86.p), CUDA_ERROR_INVALID_IMAGE);
	struct buf elf32 = make_elf(190, 90, ELFCLASS32, mixed_names, 3);
	EXPECT(D.ModuleLoadData(&m2, elf32.p), CUDA_ERROR_INVALID_IMAGE);

	/* fatbin: an sm_90 ELF entry; only sm_80; a PTX entry */
	struct buf fb = make_fatbin(ENTRY_ELF, 90, &elf, 0x11, 0, 0);
	OK(D.ModuleLoadData(&m2, fb.p));
	OK(D.ModuleGetFunction(&f2, m2, MIXED));
	CHECK(f2 != f);	/* another module, another function */
	OK(D.ModuleUnload(m2));
	struct buf fb80 = make_fatbin(ENTRY_ELF, 80, &elf80, 0x11, 0, 0);
	EXPECT(D.ModuleLoadData(&m2, fb80.p), CUDA_ERROR_NO_BINARY_FOR_GPU);
	struct buf ptx = { 0 };
	put(&ptx, PTX_FILL_AXPY, sizeof(PTX_FILL_AXPY));
	struct buf fbp = make_fatbin(ENTRY_PTX, 90, &ptx, 0x11, 0, 0);
	OK(D.ModuleLoadData(&m2, fbp.p));
	OK(D.ModuleGetFunction(&f2, m2, AXPY));
	EXPECT(D.ModuleGetFunction(&f2, m2, MIXED), CUDA_ERROR_NOT_FOUND);
	OK(D.ModuleUnload(m2));

	/* a zstd-compressed PTX entry, as nvcc 13 writes by default */
	void *zstd = dlopen("libzstd.so.1", RTLD_NOW);
	if (zstd) {
		size_t (*bound)(size_t) = (size_t (*)(size_t))dlsym(zstd, "ZSTD_compressBound");
		size_t (*compress)(void *, size_t, const void *, size_t, int) =
			(size_t (*)(void *, size_t, const void *, size_t, int))dlsym(zstd, "ZSTD_compress");
		struct buf z = { 0 };
		z.cap = bound(ptx.len);
		z.p = malloc(z.cap);
		z.len = compress(z.p, z.cap, ptx.p, ptx.len, 3);
		CHECK(z.len < z.cap);
		struct buf fbz = make_fatbin(ENTRY_PTX, 90, &z, 0x8011, (uint32_t)z.len, ptx.len);
		CHECK(memmem(fbz.p, fbz.len, FILL, strlen(FILL)) == NULL);	/* really compressed */
		OK(D.ModuleLoadData(&m2, fbz.p));
		OK(D.ModuleGetFunction(&f2, m2, FILL));
		OK(D.ModuleUnload(m2));
		free(z.p);
		free(fbz.p);
		dlclose(zstd);
	} else {
		fprintf(stderr, "note: no libzstd.so.1, compressed fatbin entries not tested\n");
	}

	OK(D.ModuleUnload(m));
	free(elf.p);
	free(elf80.p);
	free(x86.p);
	free(elf32.p);
	free(fb.p);
	free(fb80.p);
	free(fbp.p);
	free(ptx.p);
}

/* ================================================================ kernels, parameters, attributes */

struct layout {
	const char **name;
	unsigned n;
	struct { size_t off, size; } p[5];
	int regs;
};

/* What the real driver answered for nvcc's build of tests/cuda/test_kernels.cuh. */
static const struct layout layouts[] = {
	{ &FILL, 3, { { 0, 8 }, { 8, 4 }, { 16, 8 } }, 10 },
	{ &AXPY, 4, { { 0, 4 }, { 8, 8 }, { 16, 8 }, { 24, 4 } }, 10 },
	{ &MIXED, 5, { { 0, 1 }, { 8, 8 }, { 16, 2 }, { 24, 8 }, { 32, 8 } }, 18 },
	{ &GADD, 1, { { 0, 8 } }, 8 },
};

static const char PTX_ALL[] =
	".version 9.0\n.target sm_90\n.address_size 64\n"
	".global .align 8 .b8 vgpu_test_global[32];\n"
	".visible .entry _Z14vgpu_test_fillPjjy() { ret; }\n"
	".visible .entry _Z14vgpu_test_axpyfPKfPfi() { ret; }\n"
	".visible .entry _Z15vgpu_test_mixedcdsPKiPx() { ret; }\n"
	".visible .entry _Z20vgpu_test_global_addy() { ret; }\n";

static void test_params_attrs(void)
{
	CUmodule m;
	CUfunction f;
	size_t off, size;
	int v;

	OK(D.ModuleLoadData(&m, PTX_ALL));
	for (size_t k = 0; k < sizeof(layouts) / sizeof(layouts[0]); k++) {
		const struct layout *l = &layouts[k];
		OK(D.ModuleGetFunction(&f, m, *l->name));
		for (unsigned i = 0; i < l->n; i++) {
			OK(D.FuncGetParamInfo(f, i, &off, &size));
			CHECK(off == l->p[i].off && size == l->p[i].size);
		}
		EXPECT(D.FuncGetParamInfo(f, l->n, &off, &size), CUDA_ERROR_INVALID_VALUE);
		EXPECT(D.FuncGetParamInfo(f, 1000000, &off, &size), CUDA_ERROR_INVALID_VALUE);
		OK(D.FuncGetParamInfo(f, 0, &off, NULL));	/* the size is optional */
		EXPECT(D.FuncGetParamInfo(f, 0, NULL, &size), CUDA_ERROR_INVALID_VALUE);
		for (int a = 0; a < CU_FUNC_ATTRIBUTE_MAX; a++)
			OK(D.FuncGetAttribute(&v, (CUfunction_attribute)a, f));
		OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, f));
		CHECK(v == l->regs);
		OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, f));
		CHECK(v == 1024);
		OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, f));
		CHECK(v == 49152);
		OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, f));
		CHECK(v == -1);
		OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f));
		CHECK(v == 0);
	}
	EXPECT(D.FuncGetParamInfo(NULL, 0, &off, &size), CUDA_ERROR_INVALID_VALUE);
	EXPECT_ABORT("cuFuncGetParamInfo", D.FuncGetParamInfo((CUfunction)&v, 0, &off, &size));
	EXPECT(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX, f), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.FuncGetAttribute(NULL, CU_FUNC_ATTRIBUTE_NUM_REGS, f), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, NULL), CUDA_ERROR_INVALID_HANDLE);

	/* setting: only the settable ones, within range */
	OK(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 232448));
	EXPECT(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 232449), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, -1), CUDA_ERROR_INVALID_VALUE);
	OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, f));
	CHECK(v == 232448);
	OK(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, 50));
	EXPECT(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, 101), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, -2), CUDA_ERROR_INVALID_VALUE);
	OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, f));
	CHECK(v == 50);
	OK(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1));
	OK(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE, 2));
	EXPECT(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE, 3), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 512), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_NUM_REGS, 32), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_CACHE_MODE_CA, 1), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.FuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX, 1), CUDA_ERROR_INVALID_VALUE);
	EXPECT_ABORT("cuFuncSetAttribute",
		     D.FuncSetAttribute((CUfunction)&v, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, 1));
	EXPECT_ABORT("cuModuleGetGlobal", D.ModuleGetGlobal(NULL, NULL, (CUmodule)&v, "vgpu_test_global"));
	OK(D.ModuleUnload(m));
}

/* ================================================================ launches */

static CUdeviceptr alloc_or_die(size_t n)
{
	CUdeviceptr p = 0;
	OK(D.MemAlloc(&p, n));
	return p;
}

static void run_fill(CUfunction f, CUdeviceptr out, unsigned value, unsigned long long n,
		     unsigned grid, unsigned block, bool use_extra)
{
	if (use_extra) {
		uint8_t buf[24] = { 0 };
		size_t size = sizeof(buf);
		memcpy(buf + 0, &out, 8);
		memcpy(buf + 8, &value, 4);
		memcpy(buf + 16, &n, 8);
		void *extra[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &size,
				  CU_LAUNCH_PARAM_END };
		OK(D.LaunchKernel(f, grid, 1, 1, block, 1, 1, 0, NULL, NULL, extra));
	} else {
		void *params[] = { &out, &value, &n };
		OK(D.LaunchKernel(f, grid, 1, 1, block, 1, 1, 0, NULL, params, NULL));
	}
}

static bool check_fill(CUdeviceptr out, unsigned value, unsigned n, unsigned cap)
{
	uint32_t *h = malloc(cap * 4ull);
	bool ok = D.MemcpyDtoHAsync(h, out, cap * 4ull, NULL) == CUDA_SUCCESS;
	for (unsigned i = 0; ok && i < n; i++)
		ok = h[i] == value + i;
	for (unsigned i = n; ok && i < cap; i++)
		ok = h[i] == 0xcdcdcdcd;	/* untouched past n */
	free(h);
	return ok;
}

static void test_launch(void)
{
	CUmodule m;
	CUfunction fill, axpy, mixed, gadd;

	OK(D.ModuleLoadData(&m, PTX_ALL));
	OK(D.ModuleGetFunction(&fill, m, FILL));
	OK(D.ModuleGetFunction(&axpy, m, AXPY));
	OK(D.ModuleGetFunction(&mixed, m, MIXED));
	OK(D.ModuleGetFunction(&gadd, m, GADD));

	/* fill, both ways of passing parameters; the grid-stride loop covers any grid */
	CUdeviceptr out = alloc_or_die(4096 * 4);
	run_fill(fill, out, 100, 1000, 2, 128, false);
	CHECK(check_fill(out, 100, 1000, 4096));
	CUdeviceptr out2 = alloc_or_die(4096 * 4);
	run_fill(fill, out2, 7, 4096, 3, 64, true);
	CHECK(check_fill(out2, 7, 4096, 4096));

	/* axpy: bit-exact with the GPU's fused multiply-add */
	enum { N = 1000 };
	float hx[N], hy[N], hr[N], a = 1.1f;
	int n = N - 10;
	for (int i = 0; i < N; i++) {
		hx[i] = 0.1f * (float)i + 1.0f / 3.0f;
		hy[i] = 1.0f / (float)(i + 1);
	}
	CUdeviceptr x = alloc_or_die(sizeof(hx)), y = alloc_or_die(sizeof(hy));
	OK(D.MemcpyHtoDAsync(x, hx, sizeof(hx), NULL));
	OK(D.MemcpyHtoDAsync(y, hy, sizeof(hy), NULL));
	void *ap[] = { &a, &x, &y, &n };
	OK(D.LaunchKernel(axpy, (N + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, ap, NULL));
	OK(D.MemcpyDtoHAsync(hr, y, sizeof(hr), NULL));
	bool exact = true;
	for (int i = 0; i < N; i++)
		exact &= hr[i] == (i < n ? fmaf(a, hx[i], hy[i]) : hy[i]);
	CHECK(exact);

	/* mixed: awkward alignment, through kernelParams and through a packed buffer */
	CUdeviceptr in = alloc_or_die(8), mo = alloc_or_die(32);
	int hin[2] = { 2000000000, 2000000000 };
	OK(D.MemcpyHtoDAsync(in, hin, 8, NULL));
	struct { double d; long long want; } cases[] = {
		{ 1.2345, 1234 }, { -2.5, -2500 }, { NAN, INT64_MIN }, { 1e30, INT64_MAX }, { -1e30, INT64_MIN },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char c = -5;
		short s = -1234;
		double d = cases[i].d;
		void *mp[] = { &c, &d, &s, &in, &mo };
		OK(D.LaunchKernel(mixed, 1, 1, 1, 1, 1, 1, 0, NULL, mp, NULL));
		long long r[4];
		OK(D.MemcpyDtoHAsync(r, mo, 32, NULL));
		CHECK(r[0] == -5 && r[1] == cases[i].want && r[2] == -1234 && r[3] == 4000000000LL);
	}
	uint8_t pb[40] = { 0 };
	char c = 42;
	short s = 7;
	double d = 0.25;
	memcpy(pb + 0, &c, 1);
	memcpy(pb + 8, &d, 8);
	memcpy(pb + 16, &s, 2);
	memcpy(pb + 24, &in, 8);
	memcpy(pb + 32, &mo, 8);
	size_t pbs = sizeof(pb);
	void *ex[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, pb, CU_LAUNCH_PARAM_BUFFER_SIZE, &pbs, CU_LAUNCH_PARAM_END };
	OK(D.LaunchKernel(mixed, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, ex));
	long long r[4];
	OK(D.MemcpyDtoHAsync(r, mo, 32, NULL));
	CHECK(r[0] == 42 && r[1] == 250 && r[2] == 7 && r[3] == 4000000000LL);
	/* packed as if double and short were 4-byte aligned: wrong answers, as on a GPU */
	memset(pb, 0, 24);
	memcpy(pb + 0, &c, 1);
	memcpy(pb + 4, &d, 8);
	memcpy(pb + 12, &s, 2);
	OK(D.LaunchKernel(mixed, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, ex));
	OK(D.MemcpyDtoHAsync(r, mo, 32, NULL));
	CHECK(r[0] == 42 && r[1] != 250 && r[2] != 7);

	/* extra and kernelParams: the rules */
	uint8_t fb[24] = { 0 };
	size_t fbs = 24;
	void *params[] = { &out, &fbs, &fbs };
	void *fx[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, fb, CU_LAUNCH_PARAM_BUFFER_SIZE, &fbs, CU_LAUNCH_PARAM_END };
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, NULL, params, fx), CUDA_ERROR_INVALID_VALUE);
	fbs = 32;
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, fx), CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
	fbs = 20;
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, fx), CUDA_ERROR_INVALID_VALUE);
	fbs = 0;
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, fx), CUDA_ERROR_INVALID_VALUE);
	fbs = 24;
	void *nosize[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, fb, CU_LAUNCH_PARAM_END };
	void *noptr[] = { CU_LAUNCH_PARAM_BUFFER_SIZE, &fbs, CU_LAUNCH_PARAM_END };
	void *unknown[] = { (void *)0x77, fb, CU_LAUNCH_PARAM_BUFFER_SIZE, &fbs, CU_LAUNCH_PARAM_END };
	void *empty[] = { CU_LAUNCH_PARAM_END };
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, nosize), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, noptr), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, unknown), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, empty), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
	void *holes[] = { &out, NULL, &fbs };
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, NULL, holes, NULL), CUDA_ERROR_INVALID_VALUE);

	/* bad configurations */
	unsigned v = 1;
	unsigned long long cnt = 1;
	void *kp[] = { &out, &v, &cnt };
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1025, 1, 1, 0, NULL, kp, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1025, 1, 0, NULL, kp, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 65, 0, NULL, kp, NULL), CUDA_ERROR_INVALID_VALUE);
	OK(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 64, 0, NULL, kp, NULL));
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 32, 32, 2, 0, NULL, kp, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 1, 65536, 1, 1, 1, 1, 0, NULL, kp, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 1, 1, 65536, 1, 1, 1, 0, NULL, kp, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 0x80000000u, 1, 1, 1, 1, 1, 0, NULL, kp, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 0, 1, 1, 1, 1, 1, 0, NULL, kp, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 0, 1, 1, 0, NULL, kp, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 49153, NULL, kp, NULL), CUDA_ERROR_INVALID_VALUE);
	OK(D.FuncSetAttribute(fill, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 100000));
	OK(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 100000, NULL, kp, NULL));
	EXPECT(D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 100001, NULL, kp, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT_ABORT("cuLaunchKernel", D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, (CUstream)&v, kp, NULL));
	EXPECT(D.LaunchKernel(NULL, 1, 1, 1, 1, 1, 1, 0, NULL, kp, NULL), CUDA_ERROR_INVALID_HANDLE);
	EXPECT_ABORT("cuLaunchKernel", D.LaunchKernel((CUfunction)&v, 1, 1, 1, 1, 1, 1, 0, NULL, kp, NULL));
	/* FAKECUDA_MAX_LAUNCH_THREADS=2^24 (main): beyond it the double says so */
	EXPECT(D.LaunchKernel(fill, 65536, 1, 1, 1024, 1, 1, 0, NULL, kp, NULL), CUDA_ERROR_NOT_SUPPORTED);

	/* a required cluster size must divide the grid */
	OK(D.FuncSetAttribute(axpy, CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH, 2));
	OK(D.FuncSetAttribute(axpy, CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT, 1));
	OK(D.FuncSetAttribute(axpy, CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH, 1));
	EXPECT(D.LaunchKernel(axpy, 3, 1, 1, 32, 1, 1, 0, NULL, ap, NULL), CUDA_ERROR_INVALID_CLUSTER_SIZE);
	OK(D.LaunchKernel(axpy, 4, 1, 1, 32, 1, 1, 0, NULL, ap, NULL));

	/* on a stream; into registered host memory */
	CUstream st;
	OK(D.StreamCreateWithPriority(&st, 0, 0));
	long page = sysconf(_SC_PAGESIZE);
	uint32_t *host = aligned_alloc((size_t)page, (size_t)page);
	OK(D.MemHostRegister(host, (size_t)page, 0));
	unsigned hv = 5;
	unsigned long long hn = 64;
	CUdeviceptr hp = (CUdeviceptr)(uintptr_t)host;
	void *hk[] = { &hp, &hv, &hn };
	OK(D.LaunchKernel(fill, 2, 1, 1, 32, 1, 1, 0, st, hk, NULL));
	OK(D.StreamSynchronize(st));
	CHECK(host[0] == 5 && host[63] == 68);
	OK(D.MemHostUnregister(host));
	free(host);
	OK(D.StreamDestroy(st));

	/* a module global, and a kernel using it */
	CUdeviceptr g;
	size_t gs;
	unsigned long long gv[4];
	OK(D.ModuleGetGlobal(&g, &gs, m, "vgpu_test_global"));
	CHECK(gs == 32);
	OK(D.ModuleGetGlobal(&g, NULL, m, "vgpu_test_global"));
	OK(D.ModuleGetGlobal(NULL, &gs, m, "vgpu_test_global"));
	EXPECT(D.ModuleGetGlobal(&g, &gs, m, "nope"), CUDA_ERROR_NOT_FOUND);
	EXPECT(D.ModuleGetGlobal(&g, &gs, m, FILL), CUDA_ERROR_INVALID_VALUE);	/* a kernel, not a global */
	EXPECT(D.ModuleGetGlobal(&g, &gs, m, NULL), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemcpyDtoHAsync(gv, g, 32, NULL));
	CHECK(gv[0] == 0 && gv[3] == 0);
	EXPECT(D.MemcpyDtoHAsync(gv, g, 33, NULL), CUDA_ERROR_INVALID_VALUE);
	unsigned long long add = 1000;
	void *gp[] = { &add };
	OK(D.LaunchKernel(gadd, 1, 1, 1, 8, 1, 1, 0, NULL, gp, NULL));
	OK(D.MemcpyDtoHAsync(gv, g, 32, NULL));
	CHECK(gv[0] == 1000 && gv[3] == 1000);
	EXPECT(D.MemFree(g), CUDA_ERROR_INVALID_VALUE);	/* the module's, not the caller's */

	OK(D.ModuleUnload(m));
	EXPECT(D.MemcpyDtoHAsync(gv, g, 32, NULL), CUDA_ERROR_INVALID_VALUE);	/* went with the module */
	EXPECT_ABORT("cuLaunchKernel", D.LaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, NULL, kp, NULL));
	OK(D.MemFree(out));
	OK(D.MemFree(out2));
	OK(D.MemFree(x));
	OK(D.MemFree(y));
	OK(D.MemFree(in));
	OK(D.MemFree(mo));
}

/* ================================================================ libraries */

static void test_libraries(void)
{
	CUlibrary lib, bad;
	CUkernel k, k2;
	CUfunction f, f2;
	int v;
	size_t off, size;

	struct buf ptx = { 0 };
	put(&ptx, PTX_ALL, sizeof(PTX_ALL));
	struct buf fb = make_fatbin(ENTRY_PTX, 90, &ptx, 0x11, 0, 0);

	/* libraries belong to no context */
	OK(D.CtxSetCurrent(NULL));
	CUlibraryOption opt = CU_LIBRARY_BINARY_IS_PRESERVED;
	void *optv = (void *)1;
	OK(D.LibraryLoadData(&lib, fb.p, NULL, NULL, 0, &opt, &optv, 1));
	CUlibraryOption badopt = (CUlibraryOption)7;
	EXPECT(D.LibraryLoadData(&bad, fb.p, NULL, NULL, 0, &badopt, &optv, 1), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LibraryLoadData(&bad, fb.p, NULL, NULL, 1, NULL, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.LibraryLoadData(&bad, "hello", NULL, NULL, 0, NULL, NULL, 0), CUDA_ERROR_INVALID_IMAGE);
	EXPECT(D.LibraryLoadData(NULL, fb.p, NULL, NULL, 0, NULL, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	char log[64] = "stale";
	CUjit_option jo[3] = { CU_JIT_MAX_REGISTERS, CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES };
	void *jv[3] = { (void *)(uintptr_t)32, log, (void *)(uintptr_t)sizeof(log) };
	OK(D.LibraryLoadData(&bad, fb.p, jo, jv, 3, NULL, NULL, 0));
	CHECK(log[0] == '\0' && jv[2] == NULL);	/* nothing was compiled, nothing logged */
	OK(D.LibraryUnload(bad));

	OK(D.LibraryGetKernel(&k, lib, FILL));
	OK(D.LibraryGetKernel(&k2, lib, FILL));
	CHECK(k && k == k2);
	k2 = (CUkernel)0x55;
	EXPECT(D.LibraryGetKernel(&k2, lib, "nope"), CUDA_ERROR_NOT_FOUND);
	CHECK(k2 == NULL);
	EXPECT_ABORT("cuLibraryGetKernel", D.LibraryGetKernel(&k2, (CUlibrary)&v, FILL));
	EXPECT_ABORT("cuLibraryGetKernel", D.LibraryGetKernel(&k2, (CUlibrary)primary, FILL));	/* wrong type */
	EXPECT(D.LibraryGetKernel(&k2, NULL, FILL), CUDA_ERROR_INVALID_HANDLE);
	EXPECT(D.LibraryGetKernel(NULL, lib, FILL), CUDA_ERROR_INVALID_VALUE);

	OK(D.KernelGetParamInfo(k, 2, &off, &size));
	CHECK(off == 16 && size == 8);
	EXPECT(D.KernelGetParamInfo(k, 3, &off, &size), CUDA_ERROR_INVALID_VALUE);
	OK(D.KernelGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, k, 0));
	CHECK(v == 10);
	EXPECT(D.KernelGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, k, 1), CUDA_ERROR_INVALID_DEVICE);
	EXPECT(D.KernelSetAttribute(CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 100, k, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.KernelSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 232449, k, 0),
	       CUDA_ERROR_INVALID_VALUE);
	OK(D.KernelSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 100000, k, 0));

	/* a kernel's function is per context, and shares the kernel's attributes */
	EXPECT(D.KernelGetFunction(&f, k), CUDA_ERROR_INVALID_CONTEXT);
	OK(D.CtxSetCurrent(primary));
	OK(D.KernelGetFunction(&f, k));
	OK(D.KernelGetFunction(&f2, k));
	CHECK(f == f2 && (void *)f != (void *)k);
	OK(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, f));
	CHECK(v == 100000);
	OK(D.FuncGetParamInfo(f, 1, &off, &size));
	CHECK(off == 8 && size == 4);
	/* a CUkernel is no CUfunction for the attribute and parameter calls ... */
	EXPECT(D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, (CUfunction)k), CUDA_ERROR_INVALID_HANDLE);
	EXPECT(D.FuncGetParamInfo((CUfunction)k, 0, &off, &size), CUDA_ERROR_INVALID_HANDLE);
	EXPECT(D.FuncSetAttribute((CUfunction)k, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, 1),
	       CUDA_ERROR_INVALID_HANDLE);

	/* ... but cuLaunchKernel takes one, in the current context (what cudart does) */
	CUdeviceptr out = alloc_or_die(256 * 4);
	run_fill((CUfunction)k, out, 9, 256, 1, 256, false);
	CHECK(check_fill(out, 9, 256, 256));
	run_fill(f, out, 11, 200, 4, 32, true);
	CHECK(check_fill(out, 11, 200, 200));
	OK(D.CtxSetCurrent(NULL));
	unsigned val = 1;
	unsigned long long n = 1;
	void *kp[] = { &out, &val, &n };
	EXPECT(D.LaunchKernel((CUfunction)k, 1, 1, 1, 1, 1, 1, 0, NULL, kp, NULL), CUDA_ERROR_INVALID_CONTEXT);
	OK(D.CtxSetCurrent(primary));

	/* a library global and the kernel that uses it */
	CUdeviceptr g;
	size_t gs;
	unsigned long long gv[4];
	CUkernel ga;
	OK(D.LibraryGetGlobal(&g, &gs, lib, "vgpu_test_global"));
	CHECK(gs == 32);
	EXPECT(D.LibraryGetGlobal(&g, &gs, lib, "nope"), CUDA_ERROR_NOT_FOUND);
	OK(D.LibraryGetKernel(&ga, lib, GADD));
	unsigned long long add = 3;
	void *gp[] = { &add };
	OK(D.LaunchKernel((CUfunction)ga, 2, 1, 1, 2, 1, 1, 0, NULL, gp, NULL));
	OK(D.MemcpyDtoHAsync(gv, g, 32, NULL));
	CHECK(gv[0] == 3 && gv[1] == 3 && gv[2] == 3 && gv[3] == 3);

	OK(D.LibraryUnload(lib));
	EXPECT_ABORT("cuLibraryUnload", D.LibraryUnload(lib));	/* double unload */
	EXPECT(D.LibraryUnload(NULL), CUDA_ERROR_INVALID_HANDLE);
	EXPECT_ABORT("cuKernelGetParamInfo", D.KernelGetParamInfo(k, 0, &off, &size));
	EXPECT_ABORT("cuKernelGetAttribute", D.KernelGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, k, 0));
	EXPECT_ABORT("cuKernelGetFunction", D.KernelGetFunction(&f2, k));
	EXPECT_ABORT("cuFuncGetAttribute", D.FuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_NUM_REGS, f));
	EXPECT_ABORT("cuLaunchKernel", D.LaunchKernel((CUfunction)k, 1, 1, 1, 1, 1, 1, 0, NULL, kp, NULL));
	OK(D.MemFree(out));
	free(fb.p);
	free(ptx.p);
}

/* ================================================================ faults, threads, environment */

/* In a child: the fault poisons the whole process, as on a GPU. */
static int child_illegal_address(void)
{
	CUmodule m;
	CUfunction fill;
	CUdeviceptr p;
	int before = failures;

	OK(D.ModuleLoadData(&m, PTX_ALL));
	OK(D.ModuleGetFunction(&fill, m, FILL));
	CUdeviceptr bad = 0x10000;
	unsigned v = 1;
	unsigned long long n = 1024;
	void *kp[] = { &bad, &v, &n };
	OK(D.LaunchKernel(fill, 4, 1, 1, 256, 1, 1, 0, NULL, kp, NULL));	/* accepted ... */
	EXPECT(D.CtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);	/* ... and reported after */
	EXPECT(D.MemAlloc(&p, 64), CUDA_ERROR_ILLEGAL_ADDRESS);
	EXPECT(D.StreamQuery(NULL), CUDA_ERROR_ILLEGAL_ADDRESS);
	EXPECT(D.ModuleUnload(m), CUDA_ERROR_ILLEGAL_ADDRESS);
	size_t lv;
	EXPECT(D.CtxGetLimit(&lv, CU_LIMIT_STACK_SIZE), CUDA_ERROR_ILLEGAL_ADDRESS);
	int w;
	OK(D.DeviceGetAttribute(&w, CU_DEVICE_ATTRIBUTE_WARP_SIZE, 0));	/* the device answers still */
	CUcontext c;
	EXPECT(D.CtxCreate(&c, NULL, 0, 0), CUDA_ERROR_ILLEGAL_ADDRESS);
	OK(D.DevicePrimaryCtxReset(0));
	EXPECT(D.MemAlloc(&p, 64), CUDA_ERROR_CONTEXT_IS_DESTROYED);
	EXPECT(D.DevicePrimaryCtxRetain(&c, 0), CUDA_ERROR_ILLEGAL_ADDRESS);	/* for the rest of the process */
	return failures == before ? 0 : 1;
}

/* In a child: a store into memory registered read-only faults. */
static int child_read_only(void)
{
	CUmodule m;
	CUfunction fill;
	int before = failures;
	long page = sysconf(_SC_PAGESIZE);
	uint32_t *host = aligned_alloc((size_t)page, (size_t)page);

	memset(host, 0, (size_t)page);
	OK(D.ModuleLoadData(&m, PTX_ALL));
	OK(D.ModuleGetFunction(&fill, m, FILL));
	OK(D.MemHostRegister(host, (size_t)page, CU_MEMHOSTREGISTER_READ_ONLY));
	CUdeviceptr hp = (CUdeviceptr)(uintptr_t)host;
	unsigned v = 1;
	unsigned long long n = 4;
	void *kp[] = { &hp, &v, &n };
	OK(D.LaunchKernel(fill, 1, 1, 1, 4, 1, 1, 0, NULL, kp, NULL));
	EXPECT(D.CtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
	CHECK(host[0] == 0);
	return failures == before ? 0 : 1;
}

static bool in_child(int (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn());
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void *hammer(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint8_t h[4096], back[4096];
	CUresult r = D.CtxSetCurrent(primary);

	for (int i = 0; i < 200 && !r; i++) {
		CUdeviceptr p;
		memset(h, (int)(id + (uintptr_t)i), sizeof(h));
		r = D.MemAlloc(&p, sizeof(h));
		if (!r)
			r = D.MemcpyHtoDAsync(p, h, sizeof(h), NULL);
		if (!r)
			r = D.MemcpyDtoHAsync(back, p, sizeof(back), NULL);
		if (!r && memcmp(h, back, sizeof(h)))
			r = CUDA_ERROR_UNKNOWN;
		if (!r)
			r = D.MemFree(p);
	}
	return (void *)(uintptr_t)r;
}

static void test_threads(void)
{
	pthread_t t[8];
	for (uintptr_t i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, hammer, (void *)i);
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(t[i], &r);
		CHECK(r == NULL);
	}
}

/* Before the library is loaded here: a bad FAKECUDA_MEM_LIMIT makes cuInit fail. */
static const char *bad_env_name, *bad_env_value;

static int child_bad_env(void)
{
	setenv(bad_env_name, bad_env_value, 1);
	void *h = dlopen(FAKECUDA_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return 2;
	PFN_cuInit_v2000 init = (PFN_cuInit_v2000)dlsym(h, "cuInit");
	return init && init(0) == CUDA_ERROR_INVALID_VALUE ? 0 : 1;
}

static void test_bad_env(void)
{
	static const char *const bad[][2] = {
		{ "FAKECUDA_MEM_LIMIT", "lots" },
		{ "FAKECUDA_OP_DELAY_US", "-5" },
		{ "FAKECUDA_OP_DELAY_US", "10000001" },	/* more than 10 s an operation */
		{ "FAKECUDA_SYNC", "yes" },
		{ "FAKECUDA_LENIENT", "2" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bad_env_name = bad[i][0];
		bad_env_value = bad[i][1];
		if (!in_child(child_bad_env)) {
			fprintf(stderr, "cuInit accepted %s=%s\n", bad_env_name, bad_env_value);
			failures++;
		}
	}
}

/* ================================================================ new entry points: their arguments */

static void test_host_memory_calls(void)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *reg = mmap(NULL, (size_t)page * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *ph = NULL;
	CUdeviceptr dp;
	unsigned flags;
	CUcontext c;

	/* the device says it can do what the executor relies on, as an H100/H200 does */
	static const CUdevice_attribute yes[] = {
		CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY,
		CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM,
		CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS,
		CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR,
		CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING,
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		int v = 0;
		OK(D.DeviceGetAttribute(&v, yes[i], 0));
		CHECK(v == 1);
	}
	int flush = 1;
	OK(D.DeviceGetAttribute(&flush, CU_DEVICE_ATTRIBUTE_CAN_FLUSH_REMOTE_WRITES, 0));
	CHECK(flush == 0);	/* hence CU_STREAM_WAIT_VALUE_FLUSH is refused below */

	/* cuCtxGetCurrent */
	EXPECT(D.CtxGetCurrent(NULL), CUDA_ERROR_INVALID_VALUE);
	OK(D.CtxGetCurrent(&c));
	CHECK(c == primary);
	OK(D.CtxSetCurrent(NULL));
	c = (CUcontext)0x55;
	OK(D.CtxGetCurrent(&c));
	CHECK(c == NULL);
	EXPECT(D.MemAllocHost(&ph, 64), CUDA_ERROR_INVALID_CONTEXT);
	OK(D.CtxSetCurrent(primary));

	/* pinned allocations */
	EXPECT(D.MemAllocHost(NULL, 64), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemAllocHost(&ph, 0), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemAllocHost(&ph, 100));
	CHECK(ph && (uintptr_t)ph % (uintptr_t)page == 0);
	OK(D.MemHostGetFlags(&flags, ph));
	CHECK(flags == (CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP));	/* automatic under UVA */
	OK(D.MemHostGetFlags(&flags, (uint8_t *)ph + 99));
	EXPECT(D.MemHostGetFlags(NULL, ph), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemHostGetDevicePointer(&dp, (uint8_t *)ph + 10, 0));
	CHECK(dp == (CUdeviceptr)(uintptr_t)ph + 10);
	EXPECT(D.MemHostGetDevicePointer(&dp, (uint8_t *)ph + 100, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemHostGetDevicePointer(&dp, ph, 1), CUDA_ERROR_INVALID_VALUE);	/* flags must be 0 */
	EXPECT(D.MemHostGetDevicePointer(NULL, ph, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemHostUnregister(ph), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);	/* allocated, not registered */
	EXPECT(D.MemHostRegister(ph, 64, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
	/* usable as device memory: a memset, and a copy out of it */
	OK(D.MemsetD8Async((CUdeviceptr)(uintptr_t)ph, 0x3c, 100, NULL));
	OK(D.StreamSynchronize(NULL));
	CHECK(((uint8_t *)ph)[99] == 0x3c);
	EXPECT(D.MemsetD8Async((CUdeviceptr)(uintptr_t)ph, 0x3c, 101, NULL), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemFreeHost(ph));
	EXPECT(D.MemFreeHost(ph), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemHostGetFlags(&flags, ph), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemsetD8Async((CUdeviceptr)(uintptr_t)ph, 0, 1, NULL), CUDA_ERROR_INVALID_VALUE);	/* gone */

	/* registered memory: a device pointer only with DEVICEMAP; no flags to get */
	OK(D.MemHostRegister(reg, (size_t)page, 0));
	OK(D.MemHostRegister(reg + page, (size_t)page, CU_MEMHOSTREGISTER_DEVICEMAP));
	EXPECT(D.MemHostGetDevicePointer(&dp, reg, 0), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemHostGetDevicePointer(&dp, reg + page + 8, 0));
	CHECK(dp == (CUdeviceptr)(uintptr_t)(reg + page + 8));	/* the host address */
	EXPECT(D.MemHostGetFlags(&flags, reg + page), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemHostGetDevicePointer(&dp, reg + 3 * page, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemFreeHost(reg + page), CUDA_ERROR_INVALID_VALUE);	/* not the double's to free */

	/* stream memory operations: flags, alignment, the memory they name */
	CUstream s;
	OK(D.StreamCreateWithPriority(&s, CU_STREAM_NON_BLOCKING, 0));
	CUdeviceptr r = (CUdeviceptr)(uintptr_t)(reg + page), dev;
	OK(D.MemAlloc(&dev, 64));
	uint32_t stack_word = 0;
	EXPECT(D.StreamWaitValue32(s, (CUdeviceptr)(uintptr_t)&stack_word, 0, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.StreamWriteValue32(s, (CUdeviceptr)(uintptr_t)&stack_word, 0, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.StreamWaitValue32(s, r + 2, 0, 0), CUDA_ERROR_INVALID_VALUE);	/* misaligned */
	EXPECT(D.StreamWaitValue64(s, r + 4, 0, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.StreamWriteValue64(s, dev + 4, 0, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.StreamWaitValue32(s, dev + 62, 0, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.StreamWaitValue32(s, dev + 64, 0, 0), CUDA_ERROR_INVALID_VALUE);	/* past the end */
	EXPECT(D.StreamWaitValue32(s, r, 0, 4), CUDA_ERROR_INVALID_VALUE);	/* no such condition */
	EXPECT(D.StreamWaitValue32(s, r, 0, CU_STREAM_WAIT_VALUE_FLUSH), CUDA_ERROR_NOT_SUPPORTED);
	EXPECT(D.StreamWriteValue32(s, r, 0, CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.StreamWriteValue32(s, r, 0, 2), CUDA_ERROR_INVALID_VALUE);
	OK(D.StreamWriteValue32(s, r, 0x1234, 0));
	OK(D.StreamWaitValue32(s, r, 0x1234, CU_STREAM_WAIT_VALUE_EQ));
	OK(D.StreamWriteValue64(s, dev + 8, 0x123456789ull, 0));
	OK(D.StreamWaitValue64(s, dev + 8, 0x123456789ull, CU_STREAM_WAIT_VALUE_EQ));
	OK(D.StreamWaitValue32(s, (CUdeviceptr)(uintptr_t)reg, 0, 0));	/* registered without DEVICEMAP: still host-pointer usable */
	OK(D.StreamSynchronize(s));
	uint32_t w;
	memcpy(&w, reg + page, 4);
	CHECK(w == 0x1234);
	EXPECT_ABORT("cuStreamWaitValue32", D.StreamWaitValue32((CUstream)&w, r, 0, 0));
	EXPECT_ABORT("cuStreamWriteValue64", D.StreamWriteValue64((CUstream)&w, dev, 0, 0));

	/* host functions: something to call, and callback flags 0 */
	EXPECT(D.LaunchHostFunc(s, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.StreamAddCallback(s, NULL, NULL, 0), CUDA_ERROR_INVALID_VALUE);
	EXPECT_ABORT("cuLaunchHostFunc", D.LaunchHostFunc((CUstream)&w, NULL, NULL));
	EXPECT_ABORT("cuStreamAddCallback", D.StreamAddCallback((CUstream)&w, NULL, NULL, 0));

	/* cuStreamGetFlags */
	CUstream b;
	OK(D.StreamCreateWithPriority(&b, 0, 0));
	flags = 99;
	OK(D.StreamGetFlags(s, &flags));
	CHECK(flags == CU_STREAM_NON_BLOCKING);
	OK(D.StreamGetFlags(b, &flags));
	CHECK(flags == CU_STREAM_DEFAULT);
	flags = 99;
	OK(D.StreamGetFlags(NULL, &flags));
	CHECK(flags == CU_STREAM_DEFAULT);
	OK(D.StreamGetFlags(CU_STREAM_PER_THREAD, &flags));
	EXPECT(D.StreamGetFlags(s, NULL), CUDA_ERROR_INVALID_VALUE);
	EXPECT_ABORT("cuStreamGetFlags", D.StreamGetFlags((CUstream)&w, &flags));
	OK(D.StreamDestroy(s));
	OK(D.StreamDestroy(b));
	OK(D.MemFree(dev));
	OK(D.MemHostUnregister(reg));
	OK(D.MemHostUnregister(reg + page));
	munmap(reg, (size_t)page * 4);
}

/* Pitched allocations, 2D copies, address ranges and memory types (fc_mem2d.c). */
static void test_pitch_2d(void)
{
	CUdeviceptr d, d2, base;
	size_t pitch = 0, pitch2 = 0, size;
	unsigned type = 0;
	uint8_t host[64 * 20], back[64 * 20];
	uint8_t *reg = aligned_alloc(4096, 4096);

	EXPECT(D.MemAllocPitch(&d, &pitch, 40, 10, 3), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemAllocPitch(&d, &pitch, 0, 10, 4), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.MemAllocPitch(&d, NULL, 40, 10, 4), CUDA_ERROR_INVALID_VALUE);
	OK(D.MemAllocPitch(&d, &pitch, 40, 10, 4));
	CHECK(pitch == 512);
	OK(D.MemAllocPitch(&d2, &pitch2, 513, 3, 16));
	CHECK(pitch2 == 1024);
	OK(D.MemGetAddressRange(&base, &size, d + 700));
	CHECK(base == d && size == pitch * 10);
	EXPECT(D.MemGetAddressRange(&base, &size, 0x1234), CUDA_ERROR_NOT_FOUND);
	OK(D.PointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, d + 1));
	CHECK(type == CU_MEMORYTYPE_DEVICE);
	OK(D.MemHostRegister(reg, 4096, 0));
	OK(D.MemGetAddressRange(&base, &size, (CUdeviceptr)(uintptr_t)reg + 8));
	CHECK(base == (CUdeviceptr)(uintptr_t)reg && size == 4096);
	OK(D.PointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)reg));
	CHECK(type == CU_MEMORYTYPE_HOST);
	EXPECT(D.PointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
				     (CUdeviceptr)(uintptr_t)host), CUDA_ERROR_INVALID_VALUE);
	EXPECT(D.PointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_CONTEXT, d), CUDA_ERROR_NOT_SUPPORTED);

	/* host (pitch 64) -> device (pitch 512) -> host (packed), 40 x 10 from (3, 2) */
	for (size_t i = 0; i < sizeof(host); i++)
		host[i] = (uint8_t)(i * 7 + 1);
	memset(back, 0, sizeof(back));
	CUDA_MEMCPY2D m = { .srcXInBytes = 3, .srcY = 2, .srcMemoryType = CU_MEMORYTYPE_HOST,
			    .srcHost = host, .srcPitch = 64, .dstMemoryType = CU_MEMORYTYPE_DEVICE,
			    .dstDevice = d, .dstPitch = pitch, .WidthInBytes = 40, .Height = 10 };
	OK(D.Memcpy2DAsync(&m, NULL));
	CUDA_MEMCPY2D b = { .srcMemoryType = CU_MEMORYTYPE_DEVICE, .srcDevice = d, .srcPitch = pitch,
			    .dstMemoryType = CU_MEMORYTYPE_HOST, .dstHost = back, .dstPitch = 40,
			    .WidthInBytes = 40, .Height = 10 };
	OK(D.Memcpy2DAsync(&b, NULL));	/* pageable: landed when it returns */
	int bad = 0;
	for (int y = 0; y < 10; y++)
		bad += memcmp(back + y * 40, host + (y + 2) * 64 + 3, 40) != 0;
	CHECK(bad == 0);
	/* device -> device between the two allocations, UNIFIED naming both */
	CUDA_MEMCPY2D dd = { .srcMemoryType = CU_MEMORYTYPE_UNIFIED, .srcDevice = d, .srcPitch = pitch,
			     .dstMemoryType = CU_MEMORYTYPE_UNIFIED, .dstDevice = d2, .dstPitch = pitch2,
			     .WidthInBytes = 40, .Height = 3 };
	OK(D.Memcpy2DAsync(&dd, NULL));
	OK(D.MemcpyDtoHAsync(back, d2 + pitch2, 40, NULL));
	CHECK(!memcmp(back, host + 3 * 64 + 3, 40));

	/* refusals: a row past the allocation, overlapping rows, an array, a NULL side */
	m.Height = 11;
	EXPECT(D.Memcpy2DAsync(&m, NULL), CUDA_ERROR_INVALID_VALUE);
	m.Height = 10;
	m.dstPitch = 39;
	EXPECT(D.Memcpy2DAsync(&m, NULL), CUDA_ERROR_INVALID_VALUE);
	m.dstPitch = pitch;
	m.dstXInBytes = pitch - 39;	/* each row runs 1 byte into the next: fine but for the last */
	EXPECT(D.Memcpy2DAsync(&m, NULL), CUDA_ERROR_INVALID_VALUE);
	m.dstXInBytes = 0;
	m.dstMemoryType = CU_MEMORYTYPE_ARRAY;
	EXPECT(D.Memcpy2DAsync(&m, NULL), CUDA_ERROR_NOT_SUPPORTED);
	m.dstMemoryType = CU_MEMORYTYPE_DEVICE;
	m.srcHost = NULL;
	EXPECT(D.Memcpy2DAsync(&m, NULL), CUDA_ERROR_INVALID_VALUE);
	m.Height = 0;
	OK(D.Memcpy2DAsync(&m, NULL));	/* nothing to copy */
	EXPECT(D.Memcpy2DAsync(NULL, NULL), CUDA_ERROR_INVALID_VALUE);

	OK(D.CtxSynchronize());
	OK(D.MemHostUnregister(reg));
	free(reg);
	OK(D.MemFree(d));
	OK(D.MemFree(d2));
}

int main(void)
{
	test_bad_env();
	setenv("FAKECUDA_MEM_LIMIT", "67108864", 1);	/* 64 MiB */
	setenv("FAKECUDA_MAX_LAUNCH_THREADS", "16777216", 1);
	load_driver();
	test_exports_exact();
	test_init();
	test_error_names();
	test_device();
	test_primary_context();
	test_created_contexts();
	test_memory();
	test_host_register();
	test_streams_events();
	test_modules();
	test_params_attrs();
	test_launch();
	test_libraries();
	test_host_memory_calls();
	test_pitch_2d();
	test_threads();
	CHECK(in_child(child_illegal_address));
	CHECK(in_child(child_read_only));
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("fakecuda: all checks passed\n");
	return 0;
}
