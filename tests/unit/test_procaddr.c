// SPDX-License-Identifier: MIT
/*
 * cuGetProcAddress of the built shim, loaded as cudart loads it:
 *  - every request cudart 13.0 makes (tests/data/cudart13-getprocaddress-
 *    requests.txt) resolves, to an exported entry point of the same API,
 *    in the per-thread variant when flags ask for it and one exists;
 *  - versions select ABI variants as cudaTypedefs.h says (hand-checked
 *    expectations below, compared with dlsym of the exported name);
 *  - the empty-name probe is not CUDA_ERROR_STUB_LIBRARY; unknown names,
 *    too-low versions and NULL arguments fail as the driver fails;
 *  - whatever name and version are asked, only exported entry points of
 *    that API come back.
 * No cuInit is called: cudart resolves everything before cuInit.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cudaTypedefs.h>

#include "dynsym.h"

static void *lib;
static PFN_cuGetProcAddress_v12000 gpa;
static PFN_cuGetProcAddress_v11030 gpa_legacy;
static struct dynsym *exports;
static long nexports;
static int failures;

#define FAIL(...)                                                              \
	do {                                                                   \
		failures++;                                                    \
		printf("  FAIL: " __VA_ARGS__);                                \
		printf("\n");                                                  \
	} while (0)

/* The shim's exports by address, to name what cuGetProcAddress returns. */
struct by_addr {
	void *addr;
	long index;	/* into exports */
};
static struct by_addr *addrs;

static int by_addr_cmp(const void *a, const void *b)
{
	const struct by_addr *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static bool index_exports(void)
{
	addrs = calloc((size_t)nexports, sizeof(*addrs));
	if (!addrs)
		return false;
	for (long i = 0; i < nexports; i++) {
		addrs[i].addr = dlsym(lib, exports[i].name);
		addrs[i].index = i;
	}
	qsort(addrs, (size_t)nexports, sizeof(*addrs), by_addr_cmp);
	return true;
}

/* Index of the export at @addr, or -1 when @addr is no exported function. */
static long export_index(void *addr)
{
	struct by_addr key = { addr, 0 }, *hit;

	hit = bsearch(&key, addrs, (size_t)nexports, sizeof(*addrs),
		      by_addr_cmp);
	return hit && addr ? hit->index : -1;
}

static const char *export_at(void *addr)
{
	long i = export_index(addr);

	return i < 0 ? NULL : exports[i].name;
}

/* The API name of an exported name: cuMemcpyHtoD_v2_ptds -> cuMemcpyHtoD. */
static void api_of(const char *name, char *api, size_t size, bool *per_thread)
{
	size_t n = strlen(name);
	size_t v;

	snprintf(api, size, "%s", name);
	*per_thread = n > 5 && (!strcmp(name + n - 5, "_ptds") ||
				!strcmp(name + n - 5, "_ptsz"));
	if (*per_thread)
		api[n -= 5] = '\0';
	for (v = n; v > 0 && isdigit((unsigned char)api[v - 1]); v--)
		;
	if (v < n && v >= 2 && api[v - 1] == 'v' && api[v - 2] == '_')
		api[v - 2] = '\0';
}

static bool is_exported(const char *name)
{
	for (long i = 0; i < nexports; i++)
		if (!strcmp(exports[i].name, name))
			return true;
	return false;
}

static const char *status_name(CUdriverProcAddressQueryResult s)
{
	switch (s) {
	case CU_GET_PROC_ADDRESS_SUCCESS: return "SUCCESS";
	case CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND: return "SYMBOL_NOT_FOUND";
	case CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT:
		return "VERSION_NOT_SUFFICIENT";
	default: return "?";
	}
}

/*
 * Resolve (@name, @version, @flags) and check that it is an exported entry
 * point of API @name, and of the default variant unless @flags ask for the
 * per-thread one.  Returns the exported name, or NULL (and a failure).
 */
static const char *resolve(const char *name, int version, cuuint64_t flags)
{
	CUdriverProcAddressQueryResult st = 42;
	void *p = (void *)1;
	CUresult rc = gpa(name, &p, version, flags, &st);
	const char *sym;
	char api[128];
	bool per_thread;

	if (rc != CUDA_SUCCESS || st != CU_GET_PROC_ADDRESS_SUCCESS || !p) {
		FAIL("%s@%d flags %llu does not resolve: error %d, status %s",
		     name, version, (unsigned long long)flags, rc,
		     status_name(st));
		return NULL;
	}
	sym = export_at(p);
	if (!sym) {
		FAIL("%s@%d flags %llu gives %p, which is no exported function",
		     name, version, (unsigned long long)flags, p);
		return NULL;
	}
	api_of(sym, api, sizeof(api), &per_thread);
	if (strcmp(api, name)) {
		FAIL("%s@%d gives %s, an entry point of another API", name,
		     version, sym);
		return NULL;
	}
	if (per_thread && flags != CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM)
		FAIL("%s@%d flags %llu gives the per-thread %s", name, version,
		     (unsigned long long)flags, sym);
	return sym;
}

/* True when some exported function belongs to API @name. */
static bool api_exported(const char *name)
{
	char api[128];
	bool pt;

	for (long i = 0; i < nexports; i++) {
		api_of(exports[i].name, api, sizeof(api), &pt);
		if (!strcmp(api, name))
			return true;
	}
	return false;
}

/*
 * A request of cudart for an API the toolkit's stub does not export (the
 * OpenGL, EGL and VDPAU interop functions: their PFN typedefs live in
 * cudaGLTypedefs.h & co., not cudaTypedefs.h) must fail cleanly, so that
 * cudart puts its own stub (error 36) in place.
 */
static bool unexported_request(const char *name, int version, cuuint64_t flags)
{
	CUdriverProcAddressQueryResult st = 42;
	void *p = (void *)1;
	CUresult rc = gpa(name, &p, version, flags, &st);

	if (rc != CUDA_ERROR_NOT_FOUND || st != CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND
	    || p) {
		FAIL("%s (not exported) gives %d, status %s, %p", name, rc,
		     status_name(st), p);
		return false;
	}
	return true;
}

/* Every request cudart 13.0 makes resolves. */
static void check_cudart_requests(void)
{
	FILE *f = fopen(VGPU_REQUESTS, "r");
	char line[256], name[128];
	int version, nreq = 0, resolved = 0, unexported = 0, per_thread = 0;
	const char *sym;
	unsigned long long flags;
	bool first = true;

	if (!f) {
		FAIL("cannot open %s", VGPU_REQUESTS);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#')
			continue;
		if (sscanf(line, "%127s %d %llu", name, &version, &flags) != 3) {
			FAIL("bad line in %s: %s", VGPU_REQUESTS, line);
			continue;
		}
		/*
		 * The first request is cudart's probe with the empty name
		 * (the recording writes it as "0"): anything but 34
		 * (CUDA_ERROR_STUB_LIBRARY) keeps cudart on cuGetProcAddress.
		 */
		if (first) {
			void *p = (void *)1;
			CUresult rc = gpa("", &p, version, flags, NULL);

			first = false;
			printf("check: probe (\"\", %d, %llu, NULL) -> %d "
			       "(must not be 34; NOT_FOUND %d expected)\n",
			       version, flags, rc, CUDA_ERROR_NOT_FOUND);
			if (rc == CUDA_ERROR_STUB_LIBRARY ||
			    rc != CUDA_ERROR_NOT_FOUND || p)
				FAIL("empty-name probe gives %d, %p", rc, p);
			continue;
		}
		nreq++;
		per_thread += flags == 2;
		if (!api_exported(name)) {
			unexported += unexported_request(name, version, flags);
			printf("  not exported by the toolkit stub, so NOT_FOUND: "
			       "%s@%d flags %llu\n", name, version, flags);
			continue;
		}
		sym = resolve(name, version, flags);
		if (!sym)
			continue;
		resolved++;
		/*
		 * cudart asks for the per-thread variant only at versions
		 * where it exists: it must come back whenever exported.
		 */
		if (flags == 2 && !strstr(sym, "_pt")) {
			char alt[160];

			snprintf(alt, sizeof(alt), "%s_ptds", sym);
			if (!is_exported(alt))
				snprintf(alt, sizeof(alt), "%s_ptsz", sym);
			if (is_exported(alt))
				FAIL("%s@%d flags 2 gives %s although %s exists",
				     name, version, sym, alt);
		}
	}
	fclose(f);
	printf("check: cudart 13.0's %d requests (%d with flags 2): %d resolve "
	       "to exported entry points of their API, %d ask for APIs the "
	       "stub does not export and get NOT_FOUND + SYMBOL_NOT_FOUND, "
	       "%d fail\n", nreq, per_thread, resolved, unexported,
	       nreq - resolved - unexported);
	if (nreq < 400)
		FAIL("only %d requests read from %s", nreq, VGPU_REQUESTS);
}

/* Hand-checked against cudaTypedefs.h: which ABI each version gets. */
static const struct expect {
	const char *name;
	int version;
	cuuint64_t flags;
	const char *symbol;
} expectations[] = {
	{ "cuInit", 2000, 0, "cuInit" },
	{ "cuGetProcAddress", 11030, 0, "cuGetProcAddress" },
	{ "cuGetProcAddress", 11040, 0, "cuGetProcAddress" },
	{ "cuGetProcAddress", 12000, 0, "cuGetProcAddress_v2" },
	{ "cuGetProcAddress", 13000, 0, "cuGetProcAddress_v2" },
	{ "cuGetExportTable", 3000, 0, "cuGetExportTable" },
	{ "cuMemAlloc", 2000, 0, "cuMemAlloc" },
	{ "cuMemAlloc", 3010, 0, "cuMemAlloc" },
	{ "cuMemAlloc", 3020, 0, "cuMemAlloc_v2" },
	{ "cuMemAlloc", 13000, 0, "cuMemAlloc_v2" },
	{ "cuMemGetInfo", 2000, 0, "cuMemGetInfo" },
	{ "cuMemGetInfo", 3020, 0, "cuMemGetInfo_v2" },
	{ "cuDeviceTotalMem", 2000, 0, "cuDeviceTotalMem" },
	{ "cuDeviceTotalMem", 3020, 0, "cuDeviceTotalMem_v2" },
	{ "cuCtxGetDevice", 2000, 0, "cuCtxGetDevice" },
	{ "cuCtxGetDevice", 12090, 0, "cuCtxGetDevice" },
	{ "cuCtxGetDevice", 13000, 0, "cuCtxGetDevice_v2" },
	{ "cuCtxSynchronize", 2000, 0, "cuCtxSynchronize" },
	{ "cuCtxSynchronize", 13000, 0, "cuCtxSynchronize_v2" },
	{ "cuCtxCreate", 2000, 0, "cuCtxCreate" },
	{ "cuCtxCreate", 3020, 0, "cuCtxCreate_v2" },
	{ "cuCtxCreate", 11040, 0, "cuCtxCreate_v3" },
	{ "cuCtxCreate", 12050, 0, "cuCtxCreate_v4" },
	{ "cuCtxDestroy", 2000, 0, "cuCtxDestroy" },
	{ "cuCtxDestroy", 4000, 0, "cuCtxDestroy_v2" },
	{ "cuDevicePrimaryCtxRelease", 7000, 0, "cuDevicePrimaryCtxRelease" },
	{ "cuDevicePrimaryCtxRelease", 11000, 0, "cuDevicePrimaryCtxRelease_v2" },
	{ "cuDeviceGetUuid", 9020, 0, "cuDeviceGetUuid" },
	{ "cuDeviceGetUuid", 11040, 0, "cuDeviceGetUuid_v2" },
	{ "cuStreamGetCaptureInfo", 10010, 0, "cuStreamGetCaptureInfo" },
	{ "cuStreamGetCaptureInfo", 11030, 0, "cuStreamGetCaptureInfo_v2" },
	{ "cuStreamGetCaptureInfo", 12030, 0, "cuStreamGetCaptureInfo_v3" },
	{ "cuStreamGetCaptureInfo", 13000, 0, "cuStreamGetCaptureInfo_v3" },
	{ "cuStreamGetCaptureInfo", 10010, 2, "cuStreamGetCaptureInfo_ptsz" },
	{ "cuStreamGetCaptureInfo", 11030, 2, "cuStreamGetCaptureInfo_v2_ptsz" },
	{ "cuStreamGetCaptureInfo", 12030, 2, "cuStreamGetCaptureInfo_v3_ptsz" },
	{ "cuMemcpyHtoD", 2000, 0, "cuMemcpyHtoD" },
	{ "cuMemcpyHtoD", 3020, 0, "cuMemcpyHtoD_v2" },
	{ "cuMemcpyHtoD", 3020, 1, "cuMemcpyHtoD_v2" },
	{ "cuMemcpyHtoD", 13000, 1, "cuMemcpyHtoD_v2" },
	{ "cuMemcpyHtoD", 2000, 2, "cuMemcpyHtoD" },
	{ "cuMemcpyHtoD", 6050, 2, "cuMemcpyHtoD_v2" },
	{ "cuMemcpyHtoD", 7000, 2, "cuMemcpyHtoD_v2_ptds" },
	{ "cuMemcpyHtoD", 13000, 2, "cuMemcpyHtoD_v2_ptds" },
	{ "cuMemcpy", 4000, 0, "cuMemcpy" },
	{ "cuMemcpy", 7000, 2, "cuMemcpy_ptds" },
	{ "cuMemcpyAsync", 7000, 2, "cuMemcpyAsync_ptsz" },
	{ "cuLaunchKernel", 4000, 0, "cuLaunchKernel" },
	{ "cuLaunchKernel", 7000, 2, "cuLaunchKernel_ptsz" },
	{ "cuMemcpyBatchAsync", 12080, 0, "cuMemcpyBatchAsync" },
	{ "cuMemcpyBatchAsync", 13000, 0, "cuMemcpyBatchAsync_v2" },
	{ "cuMemcpyBatchAsync", 12080, 2, "cuMemcpyBatchAsync_ptsz" },
	{ "cuMemcpyBatchAsync", 13000, 2, "cuMemcpyBatchAsync_v2_ptsz" },
	{ "cuMemAdvise", 8000, 0, "cuMemAdvise" },
	{ "cuMemAdvise", 12020, 0, "cuMemAdvise_v2" },
	{ "cuMemPrefetchAsync", 8000, 0, "cuMemPrefetchAsync" },
	{ "cuMemPrefetchAsync", 12020, 0, "cuMemPrefetchAsync_v2" },
	{ "cuMemPrefetchAsync", 8000, 2, "cuMemPrefetchAsync_ptsz" },
	{ "cuMemPrefetchAsync", 12020, 2, "cuMemPrefetchAsync_v2_ptsz" },
	{ "cuStreamBeginCapture", 10000, 0, "cuStreamBeginCapture" },
	{ "cuStreamBeginCapture", 10010, 0, "cuStreamBeginCapture_v2" },
	{ "cuStreamBeginCapture", 10000, 2, "cuStreamBeginCapture_ptsz" },
	{ "cuStreamBeginCapture", 10010, 2, "cuStreamBeginCapture_v2_ptsz" },
	{ "cuStreamGetCtx", 9020, 0, "cuStreamGetCtx" },
	{ "cuStreamGetCtx", 12050, 0, "cuStreamGetCtx_v2" },
	{ "cuStreamGetCtx", 9020, 2, "cuStreamGetCtx_ptsz" },
	{ "cuStreamGetCtx", 12050, 2, "cuStreamGetCtx_v2_ptsz" },
	{ "cuStreamWaitValue32", 8000, 0, "cuStreamWaitValue32" },
	{ "cuStreamWaitValue32", 11070, 0, "cuStreamWaitValue32_v2" },
	{ "cuStreamWaitValue32", 11070, 2, "cuStreamWaitValue32_v2_ptsz" },
	{ "cuGraphInstantiate", 10000, 0, "cuGraphInstantiate" },
	{ "cuGraphInstantiate", 11000, 0, "cuGraphInstantiate_v2" },
	{ "cuGraphInstantiate", 12000, 0, "cuGraphInstantiate_v2" },
	{ "cuGraphInstantiateWithFlags", 11040, 0, "cuGraphInstantiateWithFlags" },
	{ "cuGraphExecUpdate", 10020, 0, "cuGraphExecUpdate" },
	{ "cuGraphExecUpdate", 12000, 0, "cuGraphExecUpdate_v2" },
	{ "cuGraphGetEdges", 10000, 0, "cuGraphGetEdges" },
	{ "cuGraphGetEdges", 12030, 0, "cuGraphGetEdges_v2" },
	{ "cuEventElapsedTime", 2000, 0, "cuEventElapsedTime" },
	{ "cuEventElapsedTime", 12080, 0, "cuEventElapsedTime_v2" },
	{ "cuTexRefSetAddress2D", 2020, 0, "cuTexRefSetAddress2D" },
	{ "cuTexRefSetAddress2D", 3020, 0, "cuTexRefSetAddress2D_v2" },
	{ "cuTexRefSetAddress2D", 4010, 0, "cuTexRefSetAddress2D_v3" },
	{ "cuIpcOpenMemHandle", 4010, 0, "cuIpcOpenMemHandle" },
	{ "cuIpcOpenMemHandle", 11000, 0, "cuIpcOpenMemHandle_v2" },
	{ "cuProfilerStart", 4000, 0, "cuProfilerStart" },
};

static void check_expectations(void)
{
	size_t n = sizeof(expectations) / sizeof(expectations[0]), ok = 0;

	for (size_t i = 0; i < n; i++) {
		const struct expect *e = &expectations[i];
		void *want = dlsym(lib, e->symbol), *legacy = NULL;
		const char *got = resolve(e->name, e->version, e->flags);

		if (!want) {
			FAIL("%s is not exported", e->symbol);
			continue;
		}
		if (!got)
			continue;
		if (dlsym(lib, got) != want) {
			FAIL("%s@%d flags %llu gives %s, expected %s", e->name,
			     e->version, (unsigned long long)e->flags, got,
			     e->symbol);
			continue;
		}
		/* The 4-argument form resolves the same way. */
		if (gpa_legacy(e->name, &legacy, e->version, e->flags) !=
			    CUDA_SUCCESS || legacy != want) {
			FAIL("legacy cuGetProcAddress(%s, %d, %llu) differs",
			     e->name, e->version, (unsigned long long)e->flags);
			continue;
		}
		ok++;
	}
	printf("check: %zu hand-checked (name, version, flags) -> symbol "
	       "expectations: %zu hold\n", n, ok);
}

/* Call cuGetProcAddress_v2 expecting failure @rc and status @st. */
static void expect_fail(const char *what, const char *name, int version,
			cuuint64_t flags, CUresult rc_want,
			CUdriverProcAddressQueryResult st_want)
{
	CUdriverProcAddressQueryResult st = 42;
	void *p = (void *)1;
	CUresult rc = gpa(name, &p, version, flags, &st);

	if (rc != rc_want || st != st_want || p)
		FAIL("%s: (%s, %d, %llu) gives %d, status %s, %p; expected %d, %s",
		     what, name, version, (unsigned long long)flags, rc,
		     status_name(st), p, rc_want, status_name(st_want));
	p = (void *)1;
	rc = gpa(name, &p, version, flags, NULL);
	if (rc != rc_want || p)
		FAIL("%s: with a NULL status, (%s, %d) gives %d, %p", what, name,
		     version, rc, p);
	p = (void *)1;
	rc = gpa_legacy(name, &p, version, flags);
	if (rc != rc_want || p)
		FAIL("%s: legacy form, (%s, %d) gives %d, %p", what, name,
		     version, rc, p);
}

static void check_failures(void)
{
	CUdriverProcAddressQueryResult st = 42;
	int before = failures;
	void *p = NULL;

	expect_fail("empty name", "", 13000, 0, CUDA_ERROR_NOT_FOUND,
		    CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	expect_fail("unknown name", "cuNoSuchFunction", 13000, 0,
		    CUDA_ERROR_NOT_FOUND, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	expect_fail("the recording's probe name", "0", 0, 0,
		    CUDA_ERROR_NOT_FOUND, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	/* Names are API names: an exported versioned name is not one. */
	expect_fail("versioned name", "cuMemAlloc_v2", 13000, 0,
		    CUDA_ERROR_NOT_FOUND, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	expect_fail("per-thread name", "cuMemcpy_ptds", 13000, 2,
		    CUDA_ERROR_NOT_FOUND, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	expect_fail("prefix of a name", "cuMemAllo", 13000, 0,
		    CUDA_ERROR_NOT_FOUND, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	expect_fail("too low version", "cuMemAlloc", 1999, 0,
		    CUDA_ERROR_NOT_FOUND, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
	expect_fail("version 0", "cuInit", 0, 0, CUDA_ERROR_NOT_FOUND,
		    CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
	expect_fail("negative version", "cuInit", -1, 0, CUDA_ERROR_NOT_FOUND,
		    CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
	expect_fail("too low version", "cuGetProcAddress", 11020, 0,
		    CUDA_ERROR_NOT_FOUND, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
	expect_fail("too low version, per-thread", "cuMemcpyBatchAsync", 12070,
		    2, CUDA_ERROR_NOT_FOUND,
		    CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
	expect_fail("NULL symbol", NULL, 13000, 0, CUDA_ERROR_INVALID_VALUE,
		    CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);

	if (gpa("cuInit", NULL, 13000, 0, &st) != CUDA_ERROR_INVALID_VALUE)
		FAIL("NULL pfn is not CUDA_ERROR_INVALID_VALUE");
	if (gpa_legacy("cuInit", NULL, 13000, 0) != CUDA_ERROR_INVALID_VALUE)
		FAIL("legacy form: NULL pfn is not CUDA_ERROR_INVALID_VALUE");
	if (gpa("cuInit", &p, 13000, 0, NULL) != CUDA_SUCCESS || !p)
		FAIL("a NULL status pointer is not allowed on success");
	printf("check: empty/unknown/versioned names -> NOT_FOUND + "
	       "SYMBOL_NOT_FOUND, too-low versions -> NOT_FOUND + "
	       "VERSION_NOT_SUFFICIENT, NULL symbol/pfn -> INVALID_VALUE, "
	       "*pfn NULL on failure, NULL status allowed: %s\n",
	       failures == before ? "yes" : "no");
}

/* True when an export before @i has the same API name as export @i. */
static bool api_seen_before(long i, const char *api)
{
	char other[128];
	bool pt;

	for (long j = 0; j < i; j++) {
		api_of(exports[j].name, other, sizeof(other), &pt);
		if (!strcmp(other, api))
			return true;
	}
	return false;
}

/*
 * One API name at every version from 1.0 to 13.9 with @flags: only
 * exported entry points of that API may come back, and once a version gets
 * a newer ABI no later version goes back to an older one.  Marks what it
 * reaches in @seen; returns the number of queries.
 */
static long sweep_api(const char *api, cuuint64_t flags, bool *seen)
{
	long history[16], nhist = 0, queries = 0;

	for (int v = 1000; v <= 13090; v += 10, queries++) {
		void *p = NULL;
		CUresult rc = gpa(api, &p, v, flags, NULL);
		char got[128];
		long k;
		bool pt;

		if (rc == CUDA_ERROR_NOT_FOUND && !nhist)
			continue;	/* older than the API */
		k = rc == CUDA_SUCCESS ? export_index(p) : -1;
		if (k < 0) {
			FAIL("%s@%d flags %llu: error %d, %p", api, v,
			     (unsigned long long)flags, rc, p);
			break;
		}
		seen[k] = true;
		api_of(exports[k].name, got, sizeof(got), &pt);
		if (strcmp(got, api))
			FAIL("%s@%d gives %s", api, v, exports[k].name);
		if (nhist && history[nhist - 1] == k)
			continue;
		for (long h = 0; h < nhist; h++)
			if (history[h] == k)
				FAIL("%s flags %llu: older %s again at %d", api,
				     (unsigned long long)flags, exports[k].name, v);
		if (nhist < 16)
			history[nhist++] = k;
	}
	return queries;
}

/* Every API name, every version, every flag; which exports are reachable. */
static void check_sweep(void)
{
	static const cuuint64_t all_flags[] = { 0, 1, 2 };
	bool *seen = calloc((size_t)nexports, sizeof(*seen));
	long queries = 0, apis = 0, reached = 0;
	int before = failures;

	for (long i = 0; i < nexports && failures - before < 10; i++) {
		char api[128];
		bool pt;

		api_of(exports[i].name, api, sizeof(api), &pt);
		if (api_seen_before(i, api))
			continue;
		apis++;
		for (size_t f = 0; f < 3; f++)
			queries += sweep_api(api, all_flags[f], seen);
	}
	for (long k = 0; k < nexports; k++)
		reached += seen[k];
	printf("check: %ld queries (%ld API names x versions 1000..13090 x "
	       "flags 0/1/2) give only exported entry points of the asked API, "
	       "never an older ABI after a newer one: %s\n", queries, apis,
	       failures == before ? "yes" : "no");
	printf("       %ld of %ld exported functions are reachable through "
	       "cuGetProcAddress\n", reached, nexports);
	for (long k = 0; k < nexports; k++)
		if (!seen[k])
			printf("       not reachable: %s\n", exports[k].name);
	free(seen);
}

int main(void)
{
	printf("shim: %s\n", VGPU_SHIM_PATH);
	lib = dlopen(VGPU_SHIM_PATH, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		printf("FAIL: dlopen: %s\n", dlerror());
		return 1;
	}
	gpa = (PFN_cuGetProcAddress_v12000)dlsym(lib, "cuGetProcAddress_v2");
	gpa_legacy = (PFN_cuGetProcAddress_v11030)dlsym(lib, "cuGetProcAddress");
	nexports = dynsym_read(VGPU_SHIM_PATH, &exports);
	if (!gpa || !gpa_legacy || nexports <= 0 || !index_exports()) {
		printf("FAIL: cuGetProcAddress(_v2) or the exports not found\n");
		return 1;
	}

	check_cudart_requests();
	check_expectations();
	check_failures();
	check_sweep();

	free(addrs);
	dynsym_free(exports, nexports);
	dlclose(lib);
	printf("%s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
