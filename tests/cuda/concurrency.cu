// SPDX-License-Identifier: MIT
/*
 * Ordinary multi-threaded CUDA programs that a remoted driver gets wrong when
 * its executor blocks, mixes up threads or reuses memory too early:
 *
 *   copies [S]   8 threads (VGPU_TEST_THREADS) copy 1 MiB and 4 MiB buffers
 *                host-to-device and back for S seconds; every byte checked
 *   bigcopy      one 8 MiB device-to-host copy, then 4 threads x 64 MiB
 *   errors       an invalid memset in one thread is reported to that thread,
 *                never to another thread's stream
 *   hostfn       host functions and callbacks on 4 streams run in stream
 *                order, and a stream waits for its host function
 *   ptds         each thread's per-thread default stream is its own
 *   nonblocking  a thread synchronising a busy stream delays no other
 *                thread; kernels spinning on each other's flags complete
 *   values       cuStreamWaitValue32 / cuStreamWriteValue32 across streams
 *
 * With no argument every section runs.  The kernels are those of
 * test_kernels.cuh, so the same binary runs in CI (shim -> executor -> the
 * driver's test double) and on a GPU, natively and through vgpu.  A section
 * that does not finish within VGPU_TEST_HANG_S seconds (default 300) is a
 * hang: the program says which and exits 3.  Exit 0 iff every check passed.
 */
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include "test_kernels.cuh"

static std::atomic<int> failures;
static std::atomic<const char *> section{ "start" };

#define EXPECT(cond, ...)                                                              \
	do {                                                                           \
		bool ok_ = (cond);                                                     \
		char msg_[320];                                                        \
		snprintf(msg_, sizeof(msg_), __VA_ARGS__);                             \
		printf("%s  %s\n", ok_ ? "ok  " : "FAIL", msg_);                        \
		fflush(stdout);                                                        \
		if (!ok_)                                                              \
			failures++;                                                    \
	} while (0)

#define CUDA_OK(call)                                                                  \
	do {                                                                           \
		cudaError_t e_ = (call);                                               \
		EXPECT(e_ == cudaSuccess, "%s: %s", #call, cudaGetErrorName(e_));      \
	} while (0)

static int env_int(const char *name, int dflt)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : dflt;
}

/* A section that never finishes is a hang, not a slow run: say where and stop. */
static void watchdog()
{
	int limit = env_int("VGPU_TEST_HANG_S", 300);
	const char *last = section.load();
	int same = 0;

	for (;;) {
		std::this_thread::sleep_for(std::chrono::seconds(1));
		const char *now = section.load();

		if (now != last) {
			last = now;
			same = 0;
			continue;
		}
		if (++same >= limit) {
			printf("FAIL  section '%s' hung for %d s\n", now, limit);
			fflush(stdout);
			_exit(3);
		}
	}
}

static uint64_t pattern(uint64_t seed, size_t i)
{
	uint64_t x = seed + i * 0x9e3779b97f4a7c15ull;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

/* ---- copies ---- */

static void copier(int id, double seconds, std::atomic<long> *bad, std::atomic<long> *rounds)
{
	const size_t sizes[2] = { 1u << 20, 4u << 20 };
	std::vector<uint64_t> out(sizes[1] / 8), back(sizes[1] / 8);
	void *d = nullptr;
	auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
	long n = 0;

	if (cudaMalloc(&d, sizes[1]) != cudaSuccess) {
		bad->fetch_add(1);
		return;
	}
	do {
		for (size_t sz : sizes) {
			uint64_t seed = ((uint64_t)id << 40) | (uint64_t)n << 8 | sz >> 20;
			size_t words = sz / 8, wrong = 0;

			for (size_t i = 0; i < words; i++)
				out[i] = pattern(seed, i);
			memset(back.data(), 0, sz);
			cudaError_t e1 = cudaMemcpy(d, out.data(), sz, cudaMemcpyHostToDevice);
			cudaError_t e2 = cudaMemcpy(back.data(), d, sz, cudaMemcpyDeviceToHost);

			if (e1 != cudaSuccess || e2 != cudaSuccess) {
				if (bad->fetch_add(1) == 0)
					printf("      thread %d: %zu-byte copies failed: %s, %s\n", id, sz,
					       cudaGetErrorName(e1), cudaGetErrorName(e2));
				continue;
			}
			for (size_t i = 0; i < words; i++)
				wrong += back[i] != out[i];
			if (wrong && bad->fetch_add(1) == 0) {
				size_t first = 0;

				while (back[first] == out[first])
					first++;
				printf("      thread %d: %zu of %zu words wrong in a %zu-byte copy, the "
				       "first at byte %zu\n", id, wrong, words, sz, first * 8);
			}
		}
		n++;
	} while (std::chrono::steady_clock::now() < end);
	rounds->fetch_add(n);
	cudaFree(d);
}

static void test_copies(double seconds)
{
	int threads = env_int("VGPU_TEST_THREADS", 8);
	std::atomic<long> bad{ 0 }, rounds{ 0 };
	std::vector<std::thread> t;

	section = "copies";
	for (int i = 0; i < threads; i++)
		t.emplace_back(copier, i, seconds, &bad, &rounds);
	for (auto &x : t)
		x.join();
	EXPECT(bad == 0 && rounds >= threads,
	       "%d threads copying 1 MiB and 4 MiB both ways for %.1f s: %ld rounds, %ld wrong or "
	       "failed",
	       threads, seconds, rounds.load(), bad.load());
}

/* ---- big device-to-host copies ---- */

static bool fill_and_read(size_t bytes, unsigned int value)
{
	size_t n = bytes / sizeof(unsigned int), wrong = 0;
	std::vector<unsigned int> h(n, 0);
	unsigned int *d = nullptr;
	cudaStream_t s;
	bool ok;

	if (cudaMalloc(&d, bytes) != cudaSuccess || cudaStreamCreate(&s) != cudaSuccess)
		return false;
	vgpu_test_fill<<<1024, 256, 0, s>>>(d, value, (unsigned long long)n);
	ok = cudaStreamSynchronize(s) == cudaSuccess &&
	     cudaMemcpy(h.data(), d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess;
	for (size_t i = 0; ok && i < n; i++)
		wrong += h[i] != value + (unsigned int)i;
	cudaStreamDestroy(s);
	cudaFree(d);
	return ok && wrong == 0;
}

static void test_bigcopy()
{
	std::atomic<int> good{ 0 };
	std::vector<std::thread> t;

	section = "bigcopy";
	EXPECT(fill_and_read(8u << 20, 7), "one 8 MiB device-to-host copy");
	for (int i = 0; i < 4; i++)
		t.emplace_back([i, &good] { good += fill_and_read(64u << 20, 1000u * i); });
	for (auto &x : t)
		x.join();
	EXPECT(good == 4, "4 threads x 64 MiB device-to-host at once: %d right", good.load());
}

/* ---- errors reach their own caller ---- */

struct turn {
	std::mutex m;
	std::condition_variable cv;
	int step = 0;

	void wait_for(int s)
	{
		std::unique_lock<std::mutex> l(m);
		cv.wait(l, [&] { return step >= s; });
	}
	void go(int s)
	{
		std::lock_guard<std::mutex> l(m);
		step = s;
		cv.notify_all();
	}
};

static void test_errors()
{
	turn t;
	cudaError_t a_memset = cudaSuccess, a_copy = cudaSuccess, a_sync = cudaSuccess;
	cudaError_t b_sync = cudaErrorUnknown, b_query = cudaErrorUnknown;
	unsigned int host[4] = { 0 };
	unsigned int *d = nullptr;

	section = "errors";
	CUDA_OK(cudaMalloc(&d, 4096));
	CUDA_OK(cudaMemset(d, 0, 4096));
	CUDA_OK(cudaDeviceSynchronize());
	/*
	 * Natively the bad memset fails at once; through a remoting driver the
	 * error may come later, but only to the thread that made it.
	 */
	std::thread a([&] {
		a_memset = cudaMemset((void *)0x1000, 0, 4096);
		t.go(1);
		t.wait_for(2);
		a_copy = cudaMemcpy(host, d, sizeof(host), cudaMemcpyDeviceToHost);
		a_sync = cudaDeviceSynchronize();
	});
	std::thread b([&] {
		cudaStream_t s;

		t.wait_for(1);
		if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess) {
			vgpu_test_fill<<<4, 64, 0, s>>>(d, 5, 1024);
			b_sync = cudaStreamSynchronize(s);
			b_query = cudaStreamQuery(s);
			cudaStreamDestroy(s);
		}
		t.go(2);
	});
	a.join();
	b.join();
	cudaError_t first = a_memset != cudaSuccess ? a_memset
			    : a_copy != cudaSuccess ? a_copy : a_sync;
	EXPECT(first == cudaErrorInvalidValue,
	       "an invalid memset is reported to its own thread (memset %s, then copy %s, then "
	       "synchronize %s)",
	       cudaGetErrorName(a_memset), cudaGetErrorName(a_copy), cudaGetErrorName(a_sync));
	EXPECT(b_sync == cudaSuccess && b_query == cudaSuccess,
	       "another thread's stream is not told of it (synchronize %s, query %s)",
	       cudaGetErrorName(b_sync), cudaGetErrorName(b_query));
	EXPECT(cudaGetLastError() == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess,
	       "the main thread sees no error either");
	cudaFree(d);
}

/* ---- host functions ---- */

struct hf_log {
	std::mutex m;
	std::vector<int> order[4];
};

struct hf_arg {
	hf_log *log;
	int stream, index;
};

static void CUDART_CB log_host_func(void *p)
{
	hf_arg *a = (hf_arg *)p;
	std::lock_guard<std::mutex> l(a->log->m);

	a->log->order[a->stream].push_back(a->index);
}

static std::atomic<int> slow_done;

static void CUDART_CB slow_host_func(void *)
{
	std::this_thread::sleep_for(std::chrono::milliseconds(50));
	slow_done = 1;
}

static std::atomic<int> callback_status{ -1 };

static void CUDART_CB stream_callback(cudaStream_t, cudaError_t status, void *)
{
	callback_status = status;
}

static void test_hostfn()
{
	const int per_stream = 16;
	cudaStream_t s[4];
	hf_log log;
	std::vector<hf_arg> args(4 * per_stream);
	unsigned int *d = nullptr;
	cudaEvent_t ev;
	bool ordered = true;

	section = "hostfn";
	CUDA_OK(cudaMalloc(&d, 4 * 4096 * sizeof(unsigned int)));
	for (int i = 0; i < 4; i++)
		CUDA_OK(cudaStreamCreateWithFlags(&s[i], cudaStreamNonBlocking));
	for (int k = 0; k < per_stream; k++)
		for (int i = 0; i < 4; i++) {
			hf_arg *a = &args[i * per_stream + k];

			*a = { &log, i, k };
			vgpu_test_fill<<<4, 64, 0, s[i]>>>(d + i * 4096, k, 4096);
			if (cudaLaunchHostFunc(s[i], log_host_func, a) != cudaSuccess)
				ordered = false;
		}
	for (int i = 0; i < 4; i++)
		CUDA_OK(cudaStreamSynchronize(s[i]));
	for (int i = 0; i < 4; i++) {
		if ((int)log.order[i].size() != per_stream)
			ordered = false;
		for (size_t k = 0; k < log.order[i].size(); k++)
			if (log.order[i][k] != (int)k)
				ordered = false;
	}
	EXPECT(ordered, "host functions interleaved with kernels on 4 streams ran in stream order "
			"(%zu, %zu, %zu, %zu of %d)",
	       log.order[0].size(), log.order[1].size(), log.order[2].size(), log.order[3].size(),
	       per_stream);

	/* The stream waits for its host function: the event after it cannot complete before. */
	slow_done = 0;
	CUDA_OK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
	CUDA_OK(cudaLaunchHostFunc(s[0], slow_host_func, nullptr));
	CUDA_OK(cudaEventRecord(ev, s[0]));
	CUDA_OK(cudaEventSynchronize(ev));
	EXPECT(slow_done == 1, "the stream waited for its host function before the next event");

	CUDA_OK(cudaStreamAddCallback(s[1], stream_callback, nullptr, 0));
	CUDA_OK(cudaStreamSynchronize(s[1]));
	EXPECT(callback_status == cudaSuccess, "a stream callback ran and heard status %d",
	       callback_status.load());
	cudaEventDestroy(ev);
	for (int i = 0; i < 4; i++)
		cudaStreamDestroy(s[i]);
	cudaFree(d);
}

/* ---- per-thread default streams ---- */

static void test_ptds()
{
	const int n = 4;
	unsigned long long ids[n] = { 0 };
	std::vector<std::thread> t;
	unsigned int *flag = nullptr, *done = nullptr, *out = nullptr, h_done = 0;
	cudaError_t a_sync = cudaErrorUnknown;
	bool distinct = true;
	turn step;

	section = "ptds";
	for (int i = 0; i < n; i++)
		t.emplace_back([i, &ids] {
			if (cudaStreamGetId(cudaStreamPerThread, &ids[i]) != cudaSuccess)
				ids[i] = 0;
		});
	for (auto &x : t)
		x.join();
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			if (ids[i] == ids[j] || !ids[i])
				distinct = false;
	EXPECT(distinct, "per-thread default streams of %d threads have distinct ids", n);

	/*
	 * Thread B's per-thread stream spins until a flag is set; thread A's
	 * per-thread stream must not wait for it.  Only then is the flag set.
	 */
	CUDA_OK(cudaMalloc(&flag, sizeof(unsigned int)));
	CUDA_OK(cudaMalloc(&done, sizeof(unsigned int)));
	CUDA_OK(cudaMalloc(&out, 256 * sizeof(unsigned int)));
	CUDA_OK(cudaMemset(flag, 0, sizeof(unsigned int)));
	CUDA_OK(cudaMemset(done, 0, sizeof(unsigned int)));
	CUDA_OK(cudaDeviceSynchronize());
	std::thread b([&] {
		vgpu_test_wait_flag<<<1, 1, 0, cudaStreamPerThread>>>(flag, 1, done);
		step.go(1);
		step.wait_for(2);
		cudaStreamSynchronize(cudaStreamPerThread);
	});
	std::thread a([&] {
		step.wait_for(1);
		vgpu_test_fill<<<1, 256, 0, cudaStreamPerThread>>>(out, 9, 256);
		a_sync = cudaStreamSynchronize(cudaStreamPerThread);
		step.go(2);
	});
	a.join();
	{
		cudaStream_t s;

		CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
		vgpu_test_set_flag<<<1, 1, 0, s>>>(flag, 1);
		CUDA_OK(cudaStreamSynchronize(s));
		cudaStreamDestroy(s);
	}
	b.join();
	CUDA_OK(cudaMemcpy(&h_done, done, sizeof(h_done), cudaMemcpyDeviceToHost));
	EXPECT(a_sync == cudaSuccess && h_done == 2,
	       "a thread's per-thread stream ran while another's waited (sync %s, done %u)",
	       cudaGetErrorName(a_sync), h_done);
	cudaFree(flag);
	cudaFree(done);
	cudaFree(out);
}

/* ---- nobody waits for somebody else's synchronisation ---- */

static void test_nonblocking()
{
	cudaStream_t busy, other, setter;
	unsigned int *flag = nullptr, *done = nullptr, *out = nullptr, h[2] = { 0 };
	std::atomic<int> waiter_done{ 0 };
	cudaError_t w_sync = cudaErrorUnknown, o_sync = cudaErrorUnknown;
	int waiter_was_done = -1;

	section = "nonblocking";
	CUDA_OK(cudaStreamCreateWithFlags(&busy, cudaStreamNonBlocking));
	CUDA_OK(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking));
	CUDA_OK(cudaStreamCreateWithFlags(&setter, cudaStreamNonBlocking));
	CUDA_OK(cudaMalloc(&flag, sizeof(unsigned int)));
	CUDA_OK(cudaMalloc(&done, sizeof(unsigned int)));
	CUDA_OK(cudaMalloc(&out, 256 * sizeof(unsigned int)));
	CUDA_OK(cudaMemset(flag, 0, sizeof(unsigned int)));
	CUDA_OK(cudaMemset(done, 0, sizeof(unsigned int)));
	CUDA_OK(cudaDeviceSynchronize());

	/* One thread waits for a kernel that runs until another stream sets its flag. */
	vgpu_test_wait_flag<<<1, 1, 0, busy>>>(flag, 3, done);
	std::thread waiter([&] {
		w_sync = cudaStreamSynchronize(busy);
		waiter_done = 1;
	});
	std::this_thread::sleep_for(std::chrono::milliseconds(100));
	/* Meanwhile another thread's launch and synchronisation go through. */
	double took_us = 0;
	std::thread o([&] {
		auto t0 = std::chrono::steady_clock::now();

		vgpu_test_fill<<<1, 256, 0, other>>>(out, 1, 256);
		o_sync = cudaStreamSynchronize(other);
		took_us = std::chrono::duration<double, std::micro>(
				  std::chrono::steady_clock::now() - t0)
				  .count();
		waiter_was_done = waiter_done.load();
	});
	o.join();
	/* Information, not a check: how long the other thread's round trip took meanwhile. */
	printf("info  launch + synchronise on another stream meanwhile: %.0f us\n", took_us);
	EXPECT(o_sync == cudaSuccess && waiter_was_done == 0,
	       "a launch and synchronise on a second stream returned while another thread "
	       "waited for a busy stream (%s, waiter done: %d)",
	       cudaGetErrorName(o_sync), waiter_was_done);
	vgpu_test_set_flag<<<1, 1, 0, setter>>>(flag, 3);
	waiter.join();
	CUDA_OK(cudaMemcpy(h, done, sizeof(unsigned int), cudaMemcpyDeviceToHost));
	EXPECT(w_sync == cudaSuccess && h[0] == 4,
	       "a consumer kernel spinning on a producer's flag on another stream completed "
	       "(%s, done %u)",
	       cudaGetErrorName(w_sync), h[0]);
	cudaStreamDestroy(busy);
	cudaStreamDestroy(other);
	cudaStreamDestroy(setter);
	cudaFree(flag);
	cudaFree(done);
	cudaFree(out);
}

/* ---- stream memory operations ---- */

static void test_values()
{
	PFN_cuStreamWaitValue32_v11070 wait32 = nullptr;
	PFN_cuStreamWriteValue32_v11070 write32 = nullptr;
	cudaDriverEntryPointQueryResult q1, q2;
	cudaStream_t sx, sy;
	unsigned int *flag = nullptr, *out = nullptr, h[256];
	size_t wrong = 0;

	section = "values";
	CUDA_OK(cudaGetDriverEntryPointByVersion("cuStreamWaitValue32", (void **)&wait32, 12000,
						 cudaEnableDefault, &q1));
	CUDA_OK(cudaGetDriverEntryPointByVersion("cuStreamWriteValue32", (void **)&write32, 12000,
						 cudaEnableDefault, &q2));
	if (!wait32 || !write32) {
		EXPECT(false, "cuStreamWaitValue32/WriteValue32 found");
		return;
	}
	CUDA_OK(cudaStreamCreateWithFlags(&sx, cudaStreamNonBlocking));
	CUDA_OK(cudaStreamCreateWithFlags(&sy, cudaStreamNonBlocking));
	CUDA_OK(cudaMalloc(&flag, sizeof(unsigned int)));
	CUDA_OK(cudaMalloc(&out, sizeof(h)));
	CUDA_OK(cudaMemset(flag, 0, sizeof(unsigned int)));
	CUDA_OK(cudaMemset(out, 0, sizeof(h)));
	CUDA_OK(cudaDeviceSynchronize());
	/* X waits for Y's value, then fills; Y's value comes only after a host delay. */
	EXPECT(wait32((CUstream)sx, (CUdeviceptr)flag, 5, CU_STREAM_WAIT_VALUE_GEQ) == CUDA_SUCCESS,
	       "cuStreamWaitValue32 queued");
	vgpu_test_fill<<<1, 256, 0, sx>>>(out, 40, 256);
	std::this_thread::sleep_for(std::chrono::milliseconds(50));
	EXPECT(cudaStreamQuery(sx) == cudaErrorNotReady, "the waiting stream is not done before the "
							 "value is written");
	EXPECT(write32((CUstream)sy, (CUdeviceptr)flag, 5, 0) == CUDA_SUCCESS,
	       "cuStreamWriteValue32 queued");
	CUDA_OK(cudaStreamSynchronize(sx));
	CUDA_OK(cudaMemcpy(h, out, sizeof(h), cudaMemcpyDeviceToHost));
	for (int i = 0; i < 256; i++)
		wrong += h[i] != 40u + i;
	EXPECT(wrong == 0, "the work after the wait ran once the value came (%zu wrong)", wrong);
	cudaStreamDestroy(sx);
	cudaStreamDestroy(sy);
	cudaFree(flag);
	cudaFree(out);
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : nullptr;
	double seconds = argc > 2 ? atof(argv[2]) : env_int("VGPU_TEST_SECONDS", 2);
	auto want = [&](const char *name) { return !only || !strcmp(only, name); };

	setvbuf(stdout, nullptr, _IOLBF, 0);
	std::thread(watchdog).detach();
	if (cudaFree(nullptr) != cudaSuccess) {
		printf("FAIL  no CUDA device\n");
		return 1;
	}
	/*
	 * Load every kernel before kernels wait on each other: with lazy
	 * loading (CUDA's default) a kernel's first launch may wait for the
	 * kernels already running, and one that spins on a flag never ends.
	 */
	{
		unsigned int *w = nullptr;

		if (cudaMalloc(&w, 2 * sizeof(unsigned int)) != cudaSuccess ||
		    cudaMemset(w, 0, 2 * sizeof(unsigned int)) != cudaSuccess) {
			printf("FAIL  no memory to load the kernels with\n");
			return 1;
		}
		vgpu_test_fill<<<1, 1>>>(w, 0, 1);
		vgpu_test_set_flag<<<1, 1>>>(w, 0);
		vgpu_test_wait_flag<<<1, 1>>>(w, 0, w + 1);
		if (cudaDeviceSynchronize() != cudaSuccess) {
			printf("FAIL  the kernels could not be loaded\n");
			return 1;
		}
		cudaFree(w);
	}
	if (want("copies"))
		test_copies(seconds);
	if (want("bigcopy"))
		test_bigcopy();
	if (want("errors"))
		test_errors();
	if (want("hostfn"))
		test_hostfn();
	if (want("ptds"))
		test_ptds();
	if (want("nonblocking"))
		test_nonblocking();
	if (want("values"))
		test_values();
	section = "end";
	printf("%s\n", failures ? "FAILED" : "PASSED");
	return failures ? 1 : 0;
}
