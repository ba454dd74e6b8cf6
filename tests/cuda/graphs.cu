// SPDX-License-Identifier: MIT
/*
 * Stream capture and CUDA graphs, as ggml-cuda and PyTorch use them.
 *
 *  1. capture on two streams: memset, kernels, a device-to-device copy and
 *     an event fork/join; instantiate; launch 100 times; check every value;
 *  2. capture again with changed kernel parameters, cudaGraphExecUpdate,
 *     launch 10 more times; check; an update with a changed topology fails;
 *  3. what the driver answers to calls made during capture (the capture
 *     modes, synchronisation, the legacy stream, fork/join mistakes), one
 *     line per case: "mode: <case>: <CUresult name>".
 *
 * The output is line by line so that tests/gpu/run.sh can compare a native
 * run with one through vgpu: the "mode:" lines and the checksum must be the
 * same.  The kernels are those of test_kernels.cuh, so the program also
 * runs in CI on the driver's test double.  Exit 0 iff every check passed.
 */
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include "test_kernels.cuh"

static int failures;

#define EXPECT(cond, ...)                                                      \
	do {                                                                   \
		bool ok_ = (cond);                                             \
		printf("%s  ", ok_ ? "ok  " : "FAIL");                          \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		fflush(stdout);                                                \
		if (!ok_)                                                      \
			failures++;                                            \
	} while (0)

#define CUDA_OK(call)                                                          \
	do {                                                                   \
		cudaError_t e_ = (call);                                       \
		EXPECT(e_ == cudaSuccess, "%s: %s", #call, cudaGetErrorName(e_)); \
	} while (0)

/* Driver entry points, through the runtime (no link-time libcuda). */
static PFN_cuGetErrorName_v6000 getErrorName;
static PFN_cuStreamBeginCapture_v10010 beginCapture;
static PFN_cuStreamEndCapture_v10000 endCapture;
static PFN_cuStreamIsCapturing_v10000 isCapturing;
static PFN_cuStreamGetCaptureInfo_v12030 getCaptureInfo;
static PFN_cuStreamSynchronize_v2000 streamSync;
static PFN_cuStreamQuery_v2000 streamQuery;
static PFN_cuMemAlloc_v3020 memAlloc;
static PFN_cuMemFree_v3020 memFree;
static PFN_cuMemsetD32Async_v3020 memsetD32Async;
static PFN_cuEventRecord_v2000 eventRecord;
static PFN_cuStreamWaitEvent_v3020 streamWaitEvent;
static PFN_cuThreadExchangeStreamCaptureMode_v10010 exchangeMode;
static PFN_cuGraphDestroy_v10000 graphDestroy;
static PFN_cuLaunchHostFunc_v10000 launchHostFunc;
static PFN_cuCtxSynchronize_v2000 ctxSync;
static PFN_cuStreamAddCallback_v5000 addCallback;

static bool entry(const char *name, void **fn, int version)
{
	cudaDriverEntryPointQueryResult q;
	cudaError_t e = cudaGetDriverEntryPointByVersion(name, fn, version, cudaEnableDefault, &q);

	if (e != cudaSuccess || q != cudaDriverEntryPointSuccess || !*fn) {
		printf("FAIL  no driver entry point %s@%d\n", name, version);
		failures++;
		return false;
	}
	return true;
}

static bool load_entries()
{
	bool ok = true;
#define E(var, name, ver) ok &= entry(name, (void **)&var, ver)
	E(getErrorName, "cuGetErrorName", 6000);
	E(beginCapture, "cuStreamBeginCapture", 10010);
	E(endCapture, "cuStreamEndCapture", 10000);
	E(isCapturing, "cuStreamIsCapturing", 10000);
	E(getCaptureInfo, "cuStreamGetCaptureInfo", 12030);
	E(streamSync, "cuStreamSynchronize", 2000);
	E(streamQuery, "cuStreamQuery", 2000);
	E(memAlloc, "cuMemAlloc", 3020);
	E(memFree, "cuMemFree", 3020);
	E(memsetD32Async, "cuMemsetD32Async", 3020);
	E(eventRecord, "cuEventRecord", 2000);
	E(streamWaitEvent, "cuStreamWaitEvent", 3020);
	E(exchangeMode, "cuThreadExchangeStreamCaptureMode", 10010);
	E(graphDestroy, "cuGraphDestroy", 10000);
	E(launchHostFunc, "cuLaunchHostFunc", 10000);
	E(ctxSync, "cuCtxSynchronize", 2000);
	E(addCallback, "cuStreamAddCallback", 5000);
#undef E
	return ok;
}

static const char *name(CUresult r)
{
	const char *s = nullptr;

	if (getErrorName(r, &s) != CUDA_SUCCESS || !s)
		return "(unknown CUresult)";
	return s;
}

static void line(const char *what, CUresult r)
{
	printf("mode: %s: %s\n", what, name(r));
	fflush(stdout);
}

/* End a capture and say how it ended; the graph, if any, is destroyed. */
static void end_line(const char *what, CUstream s)
{
	CUgraph g = nullptr;
	CUresult r = endCapture(s, &g);

	line(what, r);
	if (g)
		graphDestroy(g);
}

static const int N = 1 << 16;
static const int BLOCK = 256;
static const int GRID = (N + BLOCK - 1) / BLOCK;

struct bufs {
	float *x, *y, *acc;
	unsigned int *w, *z;
};

/*
 * One step, captured on s1 with a fork to s2:
 *   s1: y = 0; y = a * x + y                     (memset, kernel)
 *   s2: w[i] = base + i; z = w                   (kernel, device copy)
 *   s1: (join) y = 1 * x + y; acc = 1 * y + acc  (kernels)
 * After k launches acc = k * (a + 1) * x and z[i] = base + i.
 */
static void capture_step(const bufs &b, cudaStream_t s1, cudaStream_t s2, cudaEvent_t fork,
			 cudaEvent_t join, float a, unsigned int base, bool extra)
{
	CUDA_OK(cudaMemsetAsync(b.y, 0, N * sizeof(float), s1));
	vgpu_test_axpy<<<GRID, BLOCK, 0, s1>>>(a, b.x, b.y, N);
	CUDA_OK(cudaGetLastError());
	CUDA_OK(cudaEventRecord(fork, s1));
	CUDA_OK(cudaStreamWaitEvent(s2, fork, 0));
	vgpu_test_fill<<<GRID, BLOCK, 0, s2>>>(b.w, base, N);
	CUDA_OK(cudaGetLastError());
	CUDA_OK(cudaMemcpyAsync(b.z, b.w, N * sizeof(unsigned int), cudaMemcpyDeviceToDevice, s2));
	CUDA_OK(cudaEventRecord(join, s2));
	CUDA_OK(cudaStreamWaitEvent(s1, join, 0));
	vgpu_test_axpy<<<GRID, BLOCK, 0, s1>>>(1.0f, b.x, b.y, N);
	vgpu_test_axpy<<<GRID, BLOCK, 0, s1>>>(1.0f, b.y, b.acc, N);
	if (extra)	/* one node more: a different topology */
		vgpu_test_fill<<<GRID, BLOCK, 0, s1>>>(b.w, base, N);
	CUDA_OK(cudaGetLastError());
}

static bool check(const bufs &b, float factor, unsigned int base, uint64_t *sum)
{
	std::vector<float> acc(N);
	std::vector<unsigned int> z(N);
	int bad = 0;

	if (cudaMemcpy(acc.data(), b.acc, N * sizeof(float), cudaMemcpyDeviceToHost) ||
	    cudaMemcpy(z.data(), b.z, N * sizeof(unsigned int), cudaMemcpyDeviceToHost))
		return false;
	for (int i = 0; i < N; i++) {
		/* x[i] = i % 1024: every partial sum is an integer below 2^24, so exact */
		float want = factor * (float)(i % 1024);

		if (acc[i] != want || z[i] != base + (unsigned int)i) {
			if (bad++ < 3)
				printf("   i=%d acc %.1f (want %.1f) z %u (want %u)\n", i, acc[i],
				       want, z[i], base + (unsigned int)i);
		}
		*sum = *sum * 1099511628211ull + (uint64_t)acc[i] * 31 + z[i];
	}
	return bad == 0;
}

/* The kernel node of vgpu_test_axpy whose first argument is @a, or NULL. */
static cudaGraphNode_t find_axpy(cudaGraph_t g, float a)
{
	size_t n = 0;
	cudaGraphNode_t found = nullptr;
	int kernels = 0;

	CUDA_OK(cudaGraphGetNodes(g, nullptr, &n));
	std::vector<cudaGraphNode_t> nodes(n);
	if (n)
		CUDA_OK(cudaGraphGetNodes(g, nodes.data(), &n));
	for (size_t i = 0; i < n; i++) {
		cudaGraphNodeType t;
		cudaKernelNodeParams kp = {};

		CUDA_OK(cudaGraphNodeGetType(nodes[i], &t));
		if (t != cudaGraphNodeTypeKernel)
			continue;
		kernels++;
		CUDA_OK(cudaGraphKernelNodeGetParams(nodes[i], &kp));
		if (kp.func == (void *)vgpu_test_axpy && kp.kernelParams &&
		    *(float *)kp.kernelParams[0] == a && kp.gridDim.x == (unsigned)GRID &&
		    kp.blockDim.x == (unsigned)BLOCK)
			found = nodes[i];
	}
	EXPECT(n >= 6 && kernels >= 4, "the graph's nodes: %zu, kernel nodes: %d", n, kernels);
	return found;
}

static void graphs_section(uint64_t *sum)
{
	bufs b;
	cudaStream_t s1, s2;
	cudaEvent_t fork, join;
	cudaGraph_t g = nullptr, g2 = nullptr, g3 = nullptr;
	cudaGraphExec_t x = nullptr;
	std::vector<float> hx(N);

	for (int i = 0; i < N; i++)
		hx[i] = (float)(i % 1024);
	CUDA_OK(cudaMalloc(&b.x, N * sizeof(float)));
	CUDA_OK(cudaMalloc(&b.y, N * sizeof(float)));
	CUDA_OK(cudaMalloc(&b.acc, N * sizeof(float)));
	CUDA_OK(cudaMalloc(&b.w, N * sizeof(unsigned int)));
	CUDA_OK(cudaMalloc(&b.z, N * sizeof(unsigned int)));
	CUDA_OK(cudaMemcpy(b.x, hx.data(), N * sizeof(float), cudaMemcpyHostToDevice));
	CUDA_OK(cudaMemset(b.acc, 0, N * sizeof(float)));
	CUDA_OK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
	CUDA_OK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
	CUDA_OK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
	CUDA_OK(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
	/* The memset went to the legacy stream, which non-blocking streams do not wait for. */
	CUDA_OK(cudaDeviceSynchronize());

	/* As PyTorch: GLOBAL mode. */
	CUDA_OK(cudaStreamBeginCapture(s1, cudaStreamCaptureModeGlobal));
	cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
	unsigned long long id = 0;
	CUDA_OK(cudaStreamGetCaptureInfo(s1, &st, &id));
	EXPECT(st == cudaStreamCaptureStatusActive && id != 0, "capture active (status %d, id %s)",
	       (int)st, id ? "set" : "0");
	capture_step(b, s1, s2, fork, join, 2.0f, 100, false);
	CUDA_OK(cudaStreamEndCapture(s1, &g));
	CUDA_OK(cudaStreamIsCapturing(s1, &st));
	EXPECT(st == cudaStreamCaptureStatusNone, "no capture after cudaStreamEndCapture");
	CUDA_OK(cudaGraphInstantiate(&x, g, 0));
	for (int i = 0; i < 100; i++)
		CUDA_OK(cudaGraphLaunch(x, s1));
	CUDA_OK(cudaStreamSynchronize(s1));
	EXPECT(check(b, 100 * 3.0f, 100, sum), "100 launches: acc = 300 x, z = 100 + i");

	/* As ggml: RELAXED capture, then cudaGraphExecUpdate with new kernel parameters. */
	CUDA_OK(cudaStreamBeginCapture(s1, cudaStreamCaptureModeRelaxed));
	capture_step(b, s1, s2, fork, join, 4.0f, 200, false);
	CUDA_OK(cudaStreamEndCapture(s1, &g2));
	cudaGraphExecUpdateResultInfo info = {};
	CUDA_OK(cudaGraphExecUpdate(x, g2, &info));
	EXPECT(info.result == cudaGraphExecUpdateSuccess, "update with new parameters: result %d",
	       (int)info.result);
	for (int i = 0; i < 10; i++)
		CUDA_OK(cudaGraphLaunch(x, s1));
	CUDA_OK(cudaStreamSynchronize(s1));
	EXPECT(check(b, 100 * 3.0f + 10 * 5.0f, 200, sum), "10 more launches: acc = 350 x, z = 200 + i");

	/* As older ggml: find a kernel node by its function and argument, change the argument. */
	cudaGraphNode_t axpy = find_axpy(g2, 4.0f);
	EXPECT(axpy != nullptr, "a kernel node of vgpu_test_axpy with a = 4 in the captured graph");
	if (axpy) {
		cudaKernelNodeParams kp = {};
		CUDA_OK(cudaGraphKernelNodeGetParams(axpy, &kp));
		float a6 = 6.0f;
		void *args[4] = { &a6, kp.kernelParams[1], kp.kernelParams[2], kp.kernelParams[3] };
		kp.kernelParams = args;
		CUDA_OK(cudaGraphExecKernelNodeSetParams(x, axpy, &kp));
	}
	CUDA_OK(cudaGraphLaunch(x, s1));
	CUDA_OK(cudaStreamSynchronize(s1));
	EXPECT(check(b, 100 * 3.0f + 10 * 5.0f + 7.0f, 200, sum),
	       "the exec's node with a = 6: acc = 357 x");

	CUDA_OK(cudaStreamBeginCapture(s1, cudaStreamCaptureModeRelaxed));
	capture_step(b, s1, s2, fork, join, 4.0f, 300, true);
	CUDA_OK(cudaStreamEndCapture(s1, &g3));
	/* The graph's own node changed before it is instantiated: a = 8. */
	axpy = find_axpy(g3, 4.0f);
	EXPECT(axpy != nullptr, "the kernel node with a = 4 in the third graph");
	if (axpy) {
		cudaKernelNodeParams kp = {};
		CUDA_OK(cudaGraphKernelNodeGetParams(axpy, &kp));
		*(float *)kp.kernelParams[0] = 8.0f;
		CUDA_OK(cudaGraphKernelNodeSetParams(axpy, &kp));
	}
	cudaError_t e = cudaGraphExecUpdate(x, g3, &info);
	(void)cudaGetLastError();
	EXPECT(e == cudaErrorGraphExecUpdateFailure &&
		       info.result == cudaGraphExecUpdateErrorTopologyChanged,
	       "update with another topology: %s, result %d", cudaGetErrorName(e), (int)info.result);
	/* As ggml after a failed update: instantiate afresh. */
	CUDA_OK(cudaGraphExecDestroy(x));
	CUDA_OK(cudaGraphInstantiate(&x, g3, 0));
	CUDA_OK(cudaGraphLaunch(x, s1));
	CUDA_OK(cudaStreamSynchronize(s1));
	EXPECT(check(b, 100 * 3.0f + 10 * 5.0f + 7.0f + 9.0f, 300, sum),
	       "a new instance of the changed graph (a = 8): acc = 366 x, z = 300 + i");

	CUDA_OK(cudaGraphExecDestroy(x));
	CUDA_OK(cudaGraphDestroy(g));
	CUDA_OK(cudaGraphDestroy(g2));
	CUDA_OK(cudaGraphDestroy(g3));
	CUDA_OK(cudaEventDestroy(fork));
	CUDA_OK(cudaEventDestroy(join));
	CUDA_OK(cudaStreamDestroy(s1));
	CUDA_OK(cudaStreamDestroy(s2));
	CUDA_OK(cudaFree(b.x));
	CUDA_OK(cudaFree(b.y));
	CUDA_OK(cudaFree(b.acc));
	CUDA_OK(cudaFree(b.w));
	CUDA_OK(cudaFree(b.z));
}

static std::atomic<int> host_runs;

/* Slow on purpose: a graph that did not wait for it would be done before it counted. */
static void host_fn(void *)
{
	std::this_thread::sleep_for(std::chrono::milliseconds(20));
	host_runs++;
}

static void CUDA_CB callback_fn(CUstream, CUresult, void *) {}

static void modes_section()
{
	cudaStream_t rs, rs2, rb;
	cudaEvent_t re, outside;
	CUcontext ctx = nullptr;
	CUdeviceptr p = 0;
	CUstream s, s2, blocking;
	CUevent ev, ev_out;
	cudaGraphExec_t hx = nullptr;
	CUresult r;

	CUDA_OK(cudaStreamCreateWithFlags(&rs, cudaStreamNonBlocking));
	CUDA_OK(cudaStreamCreateWithFlags(&rs2, cudaStreamNonBlocking));
	CUDA_OK(cudaStreamCreate(&rb));	/* blocking: synchronises with the legacy stream */
	CUDA_OK(cudaEventCreateWithFlags(&re, cudaEventDisableTiming));
	CUDA_OK(cudaEventCreateWithFlags(&outside, cudaEventDisableTiming));
	s = (CUstream)rs;
	s2 = (CUstream)rs2;
	blocking = (CUstream)rb;
	ev = (CUevent)re;
	ev_out = (CUevent)outside;
	CUDA_OK(cudaMalloc((void **)&p, 4096));
	{
		PFN_cuCtxGetCurrent_v4000 getCurrent;
		if (entry("cuCtxGetCurrent", (void **)&getCurrent, 4000))
			getCurrent(&ctx);
	}
	PFN_cuCtxSetCurrent_v4000 setCurrent = nullptr;
	entry("cuCtxSetCurrent", (void **)&setCurrent, 4000);

	line("begin capture on the legacy stream", beginCapture(nullptr, CU_STREAM_CAPTURE_MODE_GLOBAL));
	CUgraph none = nullptr;
	line("end capture on a stream that does not capture", endCapture(s, &none));

	line("begin (relaxed)", beginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
	line("begin again on the capturing stream", beginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
	line("cuStreamQuery of the capturing stream", streamQuery(s));
	line("memset after the query", memsetD32Async(p, 1, 16, s));
	end_line("end after the query", s);

	line("begin (relaxed)", beginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
	line("cuStreamSynchronize of the capturing stream", streamSync(s));
	end_line("end after the synchronize", s);

	line("begin (global)", beginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
	CUdeviceptr q = 0;
	r = memAlloc(&q, 4096);
	line("cuMemAlloc in the capturing thread (global)", r);
	if (r == CUDA_SUCCESS)
		memFree(q);
	end_line("end after the allocation", s);

	line("begin (global)", beginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
	CUstreamCaptureMode m = CU_STREAM_CAPTURE_MODE_RELAXED;
	line("exchange this thread's mode to relaxed", exchangeMode(&m));
	printf("mode: the thread's mode was %s\n", m == CU_STREAM_CAPTURE_MODE_GLOBAL ? "global" : "other");
	q = 0;
	r = memAlloc(&q, 4096);
	line("cuMemAlloc in the capturing thread, thread mode relaxed", r);
	exchangeMode(&m);
	line("memset after the relaxed allocation", memsetD32Async(p, 2, 16, s));
	end_line("end after the relaxed allocation", s);
	if (q)
		memFree(q);

	line("begin (global)", beginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
	std::thread([&] {
		CUdeviceptr t = 0;
		setCurrent(ctx);
		CUresult tr = memAlloc(&t, 4096);
		line("cuMemAlloc in another thread during a global capture", tr);
		if (tr == CUDA_SUCCESS)
			memFree(t);
	}).join();
	end_line("end after the other thread's allocation", s);

	line("begin (thread-local)", beginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
	std::thread([&] {
		CUdeviceptr t = 0;
		setCurrent(ctx);
		CUresult tr = memAlloc(&t, 4096);
		line("cuMemAlloc in another thread during a thread-local capture", tr);
		if (tr == CUDA_SUCCESS)
			memFree(t);
	}).join();
	std::thread([&] {
		CUgraph tg = nullptr;
		setCurrent(ctx);
		line("end capture from another thread (thread-local)", endCapture(s, &tg));
		if (tg)
			graphDestroy(tg);
	}).join();
	line("memset after the other thread's end", memsetD32Async(p, 3, 16, s));
	end_line("end after the other thread's allocation (thread-local)", s);

	line("begin on a blocking stream (relaxed)", beginCapture(blocking, CU_STREAM_CAPTURE_MODE_RELAXED));
	CUstreamCaptureStatus cs = CU_STREAM_CAPTURE_STATUS_NONE;
	line("cuStreamIsCapturing of the legacy stream", isCapturing(nullptr, &cs));
	line("cuStreamIsCapturing of the blocking stream", isCapturing(blocking, &cs));
	printf("mode: the blocking stream is %s\n",
	       cs == CU_STREAM_CAPTURE_STATUS_ACTIVE ? "active" : cs ? "invalidated" : "not capturing");
	line("memset on the legacy stream", memsetD32Async(p, 4, 16, nullptr));
	line("cuStreamIsCapturing of the blocking stream after it", isCapturing(blocking, &cs));
	printf("mode: the blocking stream is %s\n",
	       cs == CU_STREAM_CAPTURE_STATUS_ACTIVE ? "active" : cs ? "invalidated" : "not capturing");
	end_line("end after the legacy-stream memset", blocking);

	line("begin (relaxed)", beginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
	line("cuCtxSynchronize during a capture", ctxSync());
	end_line("end after cuCtxSynchronize", s);

	/* Fork/join mistakes. */
	line("record an event outside any capture", eventRecord(ev_out, s2));
	line("begin (relaxed)", beginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
	line("capturing stream waits on an event from outside", streamWaitEvent(s, ev_out, 0));
	end_line("end after the outside wait", s);

	line("begin (relaxed)", beginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
	line("record in the capture", eventRecord(ev, s));
	line("another stream waits on it (fork)", streamWaitEvent(s2, ev, 0));
	line("memset on the forked stream", memsetD32Async(p, 5, 16, s2));
	cs = CU_STREAM_CAPTURE_STATUS_NONE;
	line("cuStreamIsCapturing of the forked stream", isCapturing(s2, &cs));
	printf("mode: the forked stream is %s\n", cs == CU_STREAM_CAPTURE_STATUS_ACTIVE ? "active" : "not active");
	CUgraph jg = nullptr;
	line("end capture on the forked stream", endCapture(s2, &jg));
	if (jg)
		graphDestroy(jg);
	end_line("end on the origin after that", s);

	/* The per-thread default stream captures too (a blocking stream). */
	{
		unsigned int *pt = nullptr;
		unsigned int host[64];
		CUgraph pg = nullptr;
		cudaGraphExec_t px = nullptr;

		CUDA_OK(cudaMalloc(&pt, sizeof(host)));
		line("begin on the per-thread stream", beginCapture(CU_STREAM_PER_THREAD,
								    CU_STREAM_CAPTURE_MODE_RELAXED));
		vgpu_test_fill<<<1, 64, 0, cudaStreamPerThread>>>(pt, 40, 64);
		line("launch on the per-thread stream", (CUresult)cudaGetLastError());
		line("cuStreamIsCapturing of the legacy stream then",
		     isCapturing(nullptr, &cs));
		line("end on the per-thread stream", endCapture(CU_STREAM_PER_THREAD, &pg));
		if (pg) {
			CUDA_OK(cudaMemset(pt, 0, sizeof(host)));
			CUDA_OK(cudaGraphInstantiate(&px, (cudaGraph_t)pg, 0));
			CUDA_OK(cudaGraphLaunch(px, cudaStreamPerThread));
			CUDA_OK(cudaStreamSynchronize(cudaStreamPerThread));
			CUDA_OK(cudaMemcpy(host, pt, sizeof(host), cudaMemcpyDeviceToHost));
			EXPECT(host[0] == 40 && host[63] == 103,
			       "the per-thread stream's graph ran: %u %u", host[0], host[63]);
			CUDA_OK(cudaGraphExecDestroy(px));
			graphDestroy(pg);
		}
		CUDA_OK(cudaFree(pt));
	}

	/* One thread captures (thread-local) while another works on its own stream. */
	{
		unsigned int *other = nullptr;
		unsigned int host[256];

		CUDA_OK(cudaMalloc(&other, sizeof(host)));
		line("begin (thread-local) with another thread at work",
		     beginCapture(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
		std::thread([&] {
			cudaStream_t own;

			CUDA_OK(cudaStreamCreateWithFlags(&own, cudaStreamNonBlocking));
			vgpu_test_fill<<<1, 256, 0, own>>>(other, 9, 256);
			CUDA_OK(cudaStreamSynchronize(own));
			CUDA_OK(cudaMemcpy(host, other, sizeof(host), cudaMemcpyDeviceToHost));
			CUDA_OK(cudaStreamDestroy(own));
		}).join();
		EXPECT(host[0] == 9 && host[255] == 264,
		       "the other thread's work ran while this one captured: %u %u", host[0],
		       host[255]);
		end_line("end after the other thread's work", s);
		CUDA_OK(cudaFree(other));
	}

	/*
	 * A host function captured into a graph runs at every launch, in order:
	 * the memset before it has run, the stream waits for it to return.
	 */
	line("begin (relaxed)", beginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
	line("cuLaunchHostFunc in a capture", launchHostFunc(s, host_fn, nullptr));
	line("memset after the host function", memsetD32Async(p, 6, 16, s));
	CUgraph hg = nullptr;
	line("end after the host function", endCapture(s, &hg));
	if (hg) {
		CUDA_OK(cudaGraphInstantiate(&hx, (cudaGraph_t)hg, 0));
		for (int i = 0; i < 5; i++)
			CUDA_OK(cudaGraphLaunch(hx, rs));
		CUDA_OK(cudaStreamSynchronize(rs));
		EXPECT(host_runs.load() == 5, "the captured host function ran at each of 5 launches: %d",
		       host_runs.load());
		CUDA_OK(cudaGraphExecDestroy(hx));
		graphDestroy(hg);
	}
	line("begin (relaxed)", beginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
	line("cuStreamAddCallback in a capture", addCallback(s, callback_fn, nullptr, 0));
	end_line("end after the callback", s);

	CUDA_OK(cudaStreamSynchronize(rs));
	CUDA_OK(cudaStreamSynchronize(rs2));
	CUDA_OK(cudaFree((void *)p));
	CUDA_OK(cudaEventDestroy(re));
	CUDA_OK(cudaEventDestroy(outside));
	CUDA_OK(cudaStreamDestroy(rs));
	CUDA_OK(cudaStreamDestroy(rs2));
	CUDA_OK(cudaStreamDestroy(rb));
	(void)cudaGetLastError();
}

int main()
{
	uint64_t sum = 1469598103934665603ull;

	CUDA_OK(cudaSetDevice(0));
	CUDA_OK(cudaFree(nullptr));
	if (!load_entries())
		return 1;
	graphs_section(&sum);
	modes_section();
	printf("checksum %016llx\n", (unsigned long long)sum);
	printf("%s (%d failed)\n", failures ? "FAILED" : "PASSED", failures);
	return failures ? 1 : 0;
}
