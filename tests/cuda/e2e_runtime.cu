// SPDX-License-Identifier: MIT
/*
 * An ordinary CUDA runtime program exercising what the foundation offers:
 * device queries, allocation, copies of many sizes (inline, chunked through
 * bulk, unified), memsets, kernels with awkward parameter layouts, streams,
 * events, cross-stream waits, errors reported asynchronously, and several
 * host threads at once.
 *
 * It launches only the kernels of tests/cuda/test_kernels.cuh, which the CI
 * test double of the driver implements on the host, so the same binary runs
 * in CI (shim -> executor -> test double) and on a GPU (natively, and shim ->
 * executor -> NVIDIA driver).  Prints one line per check and a checksum line
 * that must be identical natively and through vgpu.  Exit 0 iff all passed.
 *
 * Extended launches too: cudaLaunchKernelEx with the attributes ggml and
 * CUTLASS use (programmatic stream serialisation, cluster shape, launch
 * completion event), cooperative launches, and the occupancy calculator.
 *
 *   e2e_runtime          everything above
 *   e2e_runtime fault    a kernel that writes to no memory: the error must come
 *                        back as cudaErrorIllegalAddress and stay (sticky)
 *   e2e_runtime spin S   launch and synchronise for S seconds, or until a call
 *                        fails: then print the error and exit 2 (for tests that
 *                        take the executor away underneath a running program)
 */
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

#include <cuda_runtime.h>

#include "test_kernels.cuh"

static std::atomic<int> failures;

/* One line per check, written at once so that lines of several threads do not interleave. */
#define EXPECT(cond, ...)                                                              \
	do {                                                                           \
		bool ok_ = (cond);                                                     \
		char msg_[256];                                                        \
		snprintf(msg_, sizeof(msg_), __VA_ARGS__);                             \
		printf("%s  %s\n", ok_ ? "ok  " : "FAIL", msg_);                        \
		if (!ok_)                                                              \
			failures++;                                                    \
	} while (0)

#define CUDA_OK(call) EXPECT((call) == cudaSuccess, "%s", #call)

static uint64_t fnv(const void *p, size_t n, uint64_t h = 1469598103934665603ull)
{
	const uint8_t *b = (const uint8_t *)p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static void fill_check(size_t n, unsigned int value, cudaStream_t s, uint64_t *sum)
{
	unsigned int *d = nullptr;
	std::vector<unsigned int> h(n, 0xdeadbeef);
	size_t bad = 0;

	CUDA_OK(cudaMalloc(&d, n * sizeof(unsigned int)));
	vgpu_test_fill<<<256, 128, 0, s>>>(d, value, (unsigned long long)n);
	CUDA_OK(cudaGetLastError());
	CUDA_OK(cudaMemcpyAsync(h.data(), d, n * sizeof(unsigned int), cudaMemcpyDeviceToHost, s));
	CUDA_OK(cudaStreamSynchronize(s));
	for (size_t i = 0; i < n; i++)
		bad += h[i] != value + (unsigned int)i;
	EXPECT(bad == 0, "fill %zu elements on a stream: %zu wrong", n, bad);
	if (sum)
		*sum = fnv(h.data(), n * sizeof(unsigned int), *sum);
	CUDA_OK(cudaFree(d));
}

static int spin(double seconds)
{
	unsigned int *d;
	cudaError_t e;
	time_t end = time(nullptr) + (time_t)seconds;

	if ((e = cudaMalloc(&d, 4096)) != cudaSuccess) {
		printf("error %s\n", cudaGetErrorName(e));
		return 2;
	}
	printf("spinning\n");
	fflush(stdout);
	while (time(nullptr) < end) {
		vgpu_test_fill<<<1, 32>>>(d, 1, 1024);
		if ((e = cudaDeviceSynchronize()) != cudaSuccess) {
			printf("error %s\n", cudaGetErrorName(e));
			return 2;
		}
	}
	printf("spun %.0f s\n", seconds);
	return 0;
}

static int fault()
{
	void *p;

	vgpu_test_fill<<<1, 1>>>((unsigned int *)0x10000, 1, 1);
	EXPECT(cudaGetLastError() == cudaSuccess, "a launch that will fault is accepted");
	EXPECT(cudaDeviceSynchronize() == cudaErrorIllegalAddress,
	       "the fault is reported at the next synchronisation");
	EXPECT(cudaMalloc(&p, 16) == cudaErrorIllegalAddress, "and stays (sticky)");
	printf("%s: %d failure(s)\n", failures.load() ? "FAILED" : "PASSED", failures.load());
	return failures.load() ? 1 : 0;
}

int main(int argc, char **argv)
{
	int count = 0;

	if (argc > 1 && !strcmp(argv[1], "fault"))
		return fault();
	if (argc > 2 && !strcmp(argv[1], "spin"))
		return spin(atof(argv[2]));
	cudaDeviceProp prop;
	uint64_t sum = 1469598103934665603ull;

	CUDA_OK(cudaGetDeviceCount(&count));
	EXPECT(count >= 1, "at least one device (%d)", count);
	CUDA_OK(cudaGetDeviceProperties(&prop, 0));
	EXPECT(prop.major >= 7 && prop.multiProcessorCount > 0 && prop.warpSize == 32,
	       "device properties: cc %d.%d, %d SMs, warp %d", prop.major, prop.minor,
	       prop.multiProcessorCount, prop.warpSize);
	size_t free_b = 0, total_b = 0;
	CUDA_OK(cudaMemGetInfo(&free_b, &total_b));
	EXPECT(free_b > 0 && free_b <= total_b, "cudaMemGetInfo: free <= total");

	/* Copies of sizes around every threshold: inline, one chunk, many chunks, odd tails. */
	const size_t sizes[] = { 1, 7, 4096, 65536, 65537, (1u << 20) + 3, (4u << 20) + 1,
				 (9u << 20) + 123 };
	for (size_t n : sizes) {
		std::vector<uint8_t> src(n), dst(n, 0xa5);
		uint8_t *d = nullptr, *d2 = nullptr;

		for (size_t i = 0; i < n; i++)
			src[i] = (uint8_t)(i * 131 + n);
		CUDA_OK(cudaMalloc(&d, n));
		CUDA_OK(cudaMalloc(&d2, n));
		CUDA_OK(cudaMemcpy(d, src.data(), n, cudaMemcpyHostToDevice));
		CUDA_OK(cudaMemcpy(d2, d, n, cudaMemcpyDeviceToDevice));
		CUDA_OK(cudaMemcpy(dst.data(), d2, n, cudaMemcpyDeviceToHost));
		EXPECT(!memcmp(src.data(), dst.data(), n), "round trip of %zu bytes", n);
		/* Unified: the direction comes from the pointers. */
		std::fill(dst.begin(), dst.end(), 0);
		CUDA_OK(cudaMemcpy(dst.data(), d, n, cudaMemcpyDefault));
		EXPECT(!memcmp(src.data(), dst.data(), n), "cudaMemcpyDefault of %zu bytes", n);
		sum = fnv(dst.data(), n, sum);
		CUDA_OK(cudaFree(d));
		CUDA_OK(cudaFree(d2));
	}

	/* Memsets of each element size, 1D and 2D. */
	{
		const size_t n = 1000003;
		unsigned char *d;
		std::vector<unsigned char> h(n);

		CUDA_OK(cudaMalloc(&d, n));
		CUDA_OK(cudaMemset(d, 0x5c, n));
		CUDA_OK(cudaMemcpy(h.data(), d, n, cudaMemcpyDeviceToHost));
		size_t bad = 0;
		for (size_t i = 0; i < n; i++)
			bad += h[i] != 0x5c;
		EXPECT(bad == 0, "cudaMemset of %zu bytes", n);
		CUDA_OK(cudaMemset2D(d, 1000, 0x11, 600, 900));
		CUDA_OK(cudaMemcpy(h.data(), d, n, cudaMemcpyDeviceToHost));
		bad = 0;
		for (size_t r = 0; r < 900; r++)
			for (size_t c = 0; c < 1000; c++)
				bad += h[r * 1000 + c] != (c < 600 ? 0x11 : 0x5c);
		EXPECT(bad == 0, "cudaMemset2D 600x900, pitch 1000");
		sum = fnv(h.data(), n, sum);
		CUDA_OK(cudaFree(d));
	}

	/* Kernels: fill (size_t argument), axpy (float math), mixed parameter layout. */
	fill_check((3u << 20) + 5, 77, 0, &sum);
	{
		const int n = 1 << 20;
		std::vector<float> x(n), y(n), out(n);
		float *dx, *dy;

		for (int i = 0; i < n; i++) {
			x[i] = (float)(i % 1000) * 0.001f - 0.25f;
			y[i] = (float)(i % 777) * 0.01f;
		}
		CUDA_OK(cudaMalloc(&dx, n * sizeof(float)));
		CUDA_OK(cudaMalloc(&dy, n * sizeof(float)));
		CUDA_OK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
		CUDA_OK(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice));
		vgpu_test_axpy<<<(n + 255) / 256, 256>>>(1.75f, dx, dy, n);
		CUDA_OK(cudaGetLastError());
		CUDA_OK(cudaMemcpy(out.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
		size_t bad = 0;
		for (int i = 0; i < n; i++) {
			float want = fmaf(1.75f, x[i], y[i]);
			bad += memcmp(&want, &out[i], sizeof(float)) != 0;
		}
		EXPECT(bad == 0, "axpy over %d floats, bit for bit: %zu wrong", n, bad);
		sum = fnv(out.data(), n * sizeof(float), sum);
		CUDA_OK(cudaFree(dx));
		CUDA_OK(cudaFree(dy));
	}
	{
		int in[2] = { 1000, 234 }, *din;
		long long out[4] = { 0 }, *dout;

		CUDA_OK(cudaMalloc(&din, sizeof(in)));
		CUDA_OK(cudaMalloc(&dout, sizeof(out)));
		CUDA_OK(cudaMemcpy(din, in, sizeof(in), cudaMemcpyHostToDevice));
		vgpu_test_mixed<<<1, 1>>>('q', 3.25, (short)-1234, din, dout);
		CUDA_OK(cudaGetLastError());
		CUDA_OK(cudaMemcpy(out, dout, sizeof(out), cudaMemcpyDeviceToHost));
		EXPECT(out[0] == 'q' && out[1] == 3250 && out[2] == -1234 && out[3] == 1234,
		       "mixed parameters (char, double, short, pointers): %lld %lld %lld %lld",
		       out[0], out[1], out[2], out[3]);
		sum = fnv(out, sizeof(out), sum);
		CUDA_OK(cudaFree(din));
		CUDA_OK(cudaFree(dout));
	}

	/* A module global, written by a kernel, read by symbol and by unified copy. */
	{
		unsigned long long g[4] = { 0 }, *gp = nullptr;

		vgpu_test_global_add<<<1, 4>>>(5);
		CUDA_OK(cudaGetLastError());
		CUDA_OK(cudaMemcpyFromSymbol(g, vgpu_test_global, sizeof(g)));
		EXPECT(g[0] == 5 && g[3] == 5, "a module global written by a kernel: %llu %llu",
		       g[0], g[3]);
		CUDA_OK(cudaGetSymbolAddress((void **)&gp, vgpu_test_global));
		memset(g, 0, sizeof(g));
		CUDA_OK(cudaMemcpy(g, gp, sizeof(g), cudaMemcpyDefault));
		EXPECT(g[1] == 5, "cudaMemcpyDefault from a module global");
		EXPECT(cudaFree(gp) != cudaSuccess, "cudaFree of a module global is refused");
		cudaGetLastError();	/* clear the expected error, as cudart keeps it */
	}

	/* Streams and events: two streams, a cross-stream wait, timing. */
	{
		cudaStream_t s1, s2;
		cudaEvent_t e0, e1, done;
		float ms = -1;

		CUDA_OK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
		CUDA_OK(cudaStreamCreate(&s2));
		CUDA_OK(cudaEventCreate(&e0));
		CUDA_OK(cudaEventCreate(&e1));
		CUDA_OK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
		CUDA_OK(cudaEventRecord(e0, s1));
		fill_check(1 << 16, 5, s1, nullptr);
		CUDA_OK(cudaEventRecord(e1, s1));
		CUDA_OK(cudaStreamWaitEvent(s2, e1, 0));
		CUDA_OK(cudaEventRecord(done, s2));
		CUDA_OK(cudaEventSynchronize(done));
		CUDA_OK(cudaEventElapsedTime(&ms, e0, e1));
		EXPECT(ms >= 0, "cudaEventElapsedTime %.3f ms >= 0", ms);
		EXPECT(cudaEventElapsedTime(&ms, e0, done) != cudaSuccess,
		       "elapsed time with a timing-disabled event is refused");
		cudaGetLastError();
		EXPECT(cudaStreamQuery(s2) == cudaSuccess, "cudaStreamQuery on an idle stream");
		EXPECT(cudaEventQuery(done) == cudaSuccess, "cudaEventQuery of a completed event");
		cudaStreamCaptureStatus cs = cudaStreamCaptureStatusActive;
		CUDA_OK(cudaStreamIsCapturing(s1, &cs));
		EXPECT(cs == cudaStreamCaptureStatusNone, "a stream not being captured says so");
		int prio = 1;
		CUDA_OK(cudaStreamGetPriority(s1, &prio));
		EXPECT(prio == 0, "default stream priority 0");
		CUDA_OK(cudaEventDestroy(e0));
		CUDA_OK(cudaEventDestroy(e1));
		CUDA_OK(cudaEventDestroy(done));
		CUDA_OK(cudaStreamDestroy(s1));
		CUDA_OK(cudaStreamDestroy(s2));
	}

	/* Extended launches: each must run the kernel as a plain launch would. */
	{
		const unsigned int n = 64 * 128;
		unsigned int *d, *d2;
		std::vector<unsigned int> h(n);
		cudaLaunchAttribute at[3];
		cudaLaunchConfig_t cfg = {};
		auto filled = [&](unsigned int *dp, unsigned int v) {
			size_t bad = 0;

			if (cudaMemcpy(h.data(), dp, n * sizeof(unsigned int), cudaMemcpyDeviceToHost))
				return false;
			for (unsigned int i = 0; i < n; i++)
				bad += h[i] != v + i;
			return bad == 0;
		};

		CUDA_OK(cudaMalloc(&d, n * sizeof(unsigned int)));
		CUDA_OK(cudaMalloc(&d2, n * sizeof(unsigned int)));
		cfg.gridDim = dim3(64);
		cfg.blockDim = dim3(128);
		/* ggml's form: every kernel may start before the one before it ends (PDL). */
		at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
		at[0].val.programmaticStreamSerializationAllowed = 1;
		at[1].id = cudaLaunchAttributePriority;
		at[1].val.priority = -1;	/* within every GPU's range (0 down to -1 at least) */
		cfg.attrs = at;
		cfg.numAttrs = 2;
		CUDA_OK(cudaLaunchKernelEx(&cfg, vgpu_test_fill, d, 11u, (unsigned long long)n));
		CUDA_OK(cudaLaunchKernelEx(&cfg, vgpu_test_fill, d2, 12u, (unsigned long long)n));
		CUDA_OK(cudaDeviceSynchronize());
		EXPECT(filled(d, 11) && filled(d2, 12),
		       "cudaLaunchKernelEx with programmatic stream serialisation and priority");
		sum = fnv(h.data(), n * sizeof(unsigned int), sum);

		/* Clusters of 2 blocks; a cluster that does not divide the grid is refused. */
		at[0].id = cudaLaunchAttributeClusterDimension;
		at[0].val.clusterDim.x = 2;
		at[0].val.clusterDim.y = 1;
		at[0].val.clusterDim.z = 1;
		cfg.numAttrs = 1;
		CUDA_OK(cudaLaunchKernelEx(&cfg, vgpu_test_fill, d, 21u, (unsigned long long)n));
		CUDA_OK(cudaDeviceSynchronize());
		EXPECT(filled(d, 21), "cudaLaunchKernelEx in clusters of 2 blocks");
		cfg.gridDim = dim3(63);
		EXPECT(cudaLaunchKernelEx(&cfg, vgpu_test_fill, d, 22u, (unsigned long long)n) !=
			       cudaSuccess,
		       "a cluster of 2 over a grid of 63 blocks is refused");
		cudaGetLastError();
		cfg.gridDim = dim3(64);

		/*
		 * A launch completion event is recorded by the launch: behind a
		 * kernel that waits for a flag it is not complete, once the flag is
		 * set it is.
		 */
		unsigned int *flag, *done;
		cudaStream_t s1, s2;
		cudaEvent_t ev;
		CUDA_OK(cudaMalloc(&flag, 2 * sizeof(unsigned int)));
		done = flag + 1;
		CUDA_OK(cudaMemset(flag, 0, 2 * sizeof(unsigned int)));
		CUDA_OK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
		CUDA_OK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
		CUDA_OK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
		vgpu_test_wait_flag<<<1, 1, 0, s1>>>(flag, 7, done);
		at[0].id = cudaLaunchAttributeLaunchCompletionEvent;
		at[0].val.launchCompletionEvent.event = ev;
		at[0].val.launchCompletionEvent.flags = 0;
		cfg.stream = s1;
		CUDA_OK(cudaLaunchKernelEx(&cfg, vgpu_test_fill, d, 31u, (unsigned long long)n));
		EXPECT(cudaEventQuery(ev) == cudaErrorNotReady,
		       "a launch completion event behind a waiting kernel is not complete");
		vgpu_test_set_flag<<<1, 1, 0, s2>>>(flag, 7);
		CUDA_OK(cudaStreamSynchronize(s1));
		CUDA_OK(cudaEventSynchronize(ev));
		EXPECT(cudaEventQuery(ev) == cudaSuccess && filled(d, 31),
		       "and complete once the kernel before it ran");
		cfg.stream = 0;
		CUDA_OK(cudaEventDestroy(ev));
		CUDA_OK(cudaStreamDestroy(s1));
		CUDA_OK(cudaStreamDestroy(s2));
		CUDA_OK(cudaFree(flag));

		/* A cooperative launch of a grid that fits the device at once. */
		unsigned int *dp = d;
		unsigned int v = 41;
		unsigned long long nn = 8 * 128;
		void *args[] = { &dp, &v, &nn };
		CUDA_OK(cudaLaunchCooperativeKernel((void *)vgpu_test_fill, dim3(8), dim3(128), args, 0,
						    0));
		CUDA_OK(cudaDeviceSynchronize());
		CUDA_OK(cudaMemcpy(h.data(), d, 8 * 128 * sizeof(unsigned int), cudaMemcpyDeviceToHost));
		size_t bad = 0;
		for (unsigned int i = 0; i < 8 * 128; i++)
			bad += h[i] != 41 + i;
		EXPECT(bad == 0, "cudaLaunchCooperativeKernel: %zu wrong", bad);
		CUDA_OK(cudaFree(d));
		CUDA_OK(cudaFree(d2));
	}

	/* Function attributes and the occupancy calculator answer, and agree with each other. */
	{
		cudaFuncAttributes fa;
		int blocks = -1, min_grid = -1, block = -1;
		size_t avail = 0;

		CUDA_OK(cudaFuncGetAttributes(&fa, vgpu_test_fill));
		EXPECT(fa.maxThreadsPerBlock > 0 && fa.numRegs > 0,
		       "cudaFuncGetAttributes: %d threads per block, %d registers",
		       fa.maxThreadsPerBlock, fa.numRegs);
		CUDA_OK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, vgpu_test_fill, 128, 0));
		EXPECT(blocks > 0 && blocks * 128 <= prop.maxThreadsPerMultiProcessor,
		       "cudaOccupancyMaxActiveBlocksPerMultiprocessor(128 threads) = %d", blocks);
		CUDA_OK(cudaOccupancyMaxPotentialBlockSize(&min_grid, &block, vgpu_test_fill, 0, 0));
		EXPECT(block > 0 && block <= fa.maxThreadsPerBlock && min_grid > 0,
		       "cudaOccupancyMaxPotentialBlockSize: block %d, grid %d", block, min_grid);
		CUDA_OK(cudaOccupancyAvailableDynamicSMemPerBlock(&avail, vgpu_test_fill, 1, 128));
		EXPECT(avail > 0 && avail <= prop.sharedMemPerBlockOptin,
		       "cudaOccupancyAvailableDynamicSMemPerBlock(1 block of 128) = %zu", avail);
		CUDA_OK(cudaFuncSetAttribute(vgpu_test_fill, cudaFuncAttributeMaxDynamicSharedMemorySize,
					     64 * 1024));
		CUDA_OK(cudaFuncGetAttributes(&fa, vgpu_test_fill));
		EXPECT(fa.maxDynamicSharedSizeBytes == 64 * 1024,
		       "a set attribute reads back (max dynamic shared %d)", fa.maxDynamicSharedSizeBytes);
		CUDA_OK(cudaFuncSetAttribute(vgpu_test_fill, cudaFuncAttributeMaxDynamicSharedMemorySize,
					     48 * 1024));
	}

	/* Errors: an impossible launch is refused at once; a bad free is refused. */
	{
		unsigned int *d;

		CUDA_OK(cudaMalloc(&d, 64));
		vgpu_test_fill<<<1, 4096>>>(d, 1, 16);
		EXPECT(cudaGetLastError() != cudaSuccess, "a 4096-thread block is refused");
		EXPECT(cudaFree((void *)0x1234) != cudaSuccess, "cudaFree of a wild pointer fails");
		cudaGetLastError();
		CUDA_OK(cudaDeviceSynchronize());
		CUDA_OK(cudaFree(d));
	}

	/* Host threads, each with its own stream, at the same time. */
	{
		std::vector<std::thread> ts;
		int before = failures.load();

		for (int t = 0; t < 4; t++)
			ts.emplace_back([t] {
				cudaStream_t s;

				if (cudaStreamCreate(&s) != cudaSuccess) {
					failures++;
					return;
				}
				for (int k = 0; k < 3; k++)
					fill_check(50000 + t * 1000 + k, t * 100 + k, s, nullptr);
				cudaStreamDestroy(s);
			});
		for (auto &th : ts)
			th.join();
		EXPECT(failures.load() == before, "4 threads, 3 fills each, on their own streams");
	}

	CUDA_OK(cudaDeviceSynchronize());
	printf("checksum %016llx\n", (unsigned long long)sum);
	printf("%s: %d failure(s)\n", failures.load() ? "FAILED" : "PASSED", failures.load());
	return failures.load() ? 1 : 0;
}
