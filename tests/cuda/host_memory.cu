// SPDX-License-Identifier: MIT
/*
 * Pinned host memory and pitched memory through the CUDA runtime:
 * cudaMallocHost, cudaHostAlloc, cudaHostRegister, asynchronous copies from
 * and to pinned memory on several streams (in stream order: a copy from
 * pinned memory sees what an earlier device-to-host copy or host function
 * of its stream left there; a device-to-host copy has landed once an event
 * after it completed), cudaMallocPitch with cudaMemcpy2D both ways and
 * device to device, cudaMemset2D, cudaMalloc3D with cudaMemcpy3D, and
 * pointer attributes.
 *
 * It launches only the kernels of tests/cuda/test_kernels.cuh, so it runs in
 * CI on the driver test double and on a GPU natively and through vgpu.  One
 * line per check; "sum NAME VALUE" lines (results, and the driver's pitch)
 * must be identical natively and through vgpu (tests/gpu/run.sh compares
 * them).  Exit 0 iff every check passed.
 */
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <cuda_runtime.h>

#include "test_kernels.cuh"

static std::atomic<int> failures;

#define EXPECT(cond, ...)                                                              \
	do {                                                                           \
		bool ok_ = (cond);                                                     \
		char msg_[256];                                                        \
		snprintf(msg_, sizeof(msg_), __VA_ARGS__);                             \
		printf("%s  %s\n", ok_ ? "ok  " : "FAIL", msg_);                        \
		if (!ok_)                                                              \
			failures++;                                                    \
	} while (0)

#define CUDA_OK(call)                                                                  \
	do {                                                                           \
		cudaError_t e_ = (call);                                               \
		EXPECT(e_ == cudaSuccess, "%s (%s)", #call, cudaGetErrorName(e_));     \
	} while (0)

static uint64_t fnv(const void *p, size_t n, uint64_t h = 1469598103934665603ull)
{
	const uint8_t *b = (const uint8_t *)p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

static void sum(const char *name, uint64_t v)
{
	printf("sum %s %016llx\n", name, (unsigned long long)v);
}

static void pattern(void *p, size_t n, unsigned seed)
{
	uint8_t *b = (uint8_t *)p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 131 + seed * 7 + (i >> 9));
}

/* cudaMallocHost / cudaHostAlloc / cudaFreeHost, flags, alignment, a round trip. */
static void test_alloc()
{
	const size_t n = (3u << 20) + 17;	/* several bulk chunks, an odd tail */
	uint8_t *a = nullptr, *b = nullptr;
	void *d = nullptr;
	unsigned int flags = 0;

	CUDA_OK(cudaMallocHost((void **)&a, n));
	CUDA_OK(cudaHostAlloc((void **)&b, n, cudaHostAllocPortable | cudaHostAllocWriteCombined));
	EXPECT(a && b && (uintptr_t)a % 256 == 0 && (uintptr_t)b % 256 == 0,
	       "pinned allocations are at least 256-byte aligned");
	CUDA_OK(cudaHostGetFlags(&flags, b));
	EXPECT((flags & (cudaHostAllocPortable | cudaHostAllocWriteCombined)) ==
		       (cudaHostAllocPortable | cudaHostAllocWriteCombined),
	       "cudaHostGetFlags has the flags asked for (%#x)", flags);
	void *bad = nullptr;
	EXPECT(cudaHostAlloc(&bad, 4096, 0x80) != cudaSuccess, "cudaHostAlloc refuses unknown flags");
	cudaGetLastError();
	int not_pinned = 0;
	EXPECT(cudaFreeHost(&not_pinned) != cudaSuccess, "cudaFreeHost refuses memory it did not give");
	cudaGetLastError();
	CUDA_OK(cudaMalloc(&d, n));
	pattern(a, n, 1);
	memset(b, 0, n);
	CUDA_OK(cudaMemcpy(d, a, n, cudaMemcpyHostToDevice));
	CUDA_OK(cudaMemcpy(b, d, n, cudaMemcpyDeviceToHost));
	EXPECT(!memcmp(a, b, n), "pinned -> device -> pinned round trip of %zu bytes", n);
	/* cudaMemcpyDefault: the runtime lets the driver tell pinned memory from device memory. */
	memset(b, 0, n);
	CUDA_OK(cudaMemcpy(b, d, n, cudaMemcpyDefault));
	EXPECT(!memcmp(a, b, n), "cudaMemcpyDefault device -> pinned");
	memset(b, 0x11, 4096);
	CUDA_OK(cudaMemcpy(b, a, 4096, cudaMemcpyDefault));
	EXPECT(!memcmp(a, b, 4096), "cudaMemcpyDefault pinned -> pinned");
	sum("alloc", fnv(b, n));
	CUDA_OK(cudaFree(d));
	CUDA_OK(cudaFreeHost(a));
	CUDA_OK(cudaFreeHost(b));
}

/* cudaHostRegister of the program's own memory, double registration, unregistration. */
static void test_register()
{
	const size_t n = 1u << 20;
	uint8_t *h = (uint8_t *)aligned_alloc(4096, n), *back = (uint8_t *)malloc(n);
	void *d = nullptr;
	cudaStream_t s;

	CUDA_OK(cudaStreamCreate(&s));
	CUDA_OK(cudaHostRegister(h, n, cudaHostRegisterDefault));
	EXPECT(cudaHostRegister(h + 4096, 4096, cudaHostRegisterDefault) ==
		       cudaErrorHostMemoryAlreadyRegistered,
	       "registering part of a registered range again is refused");
	cudaGetLastError();
	CUDA_OK(cudaMalloc(&d, n));
	pattern(h, n, 2);
	CUDA_OK(cudaMemcpyAsync(d, h, n, cudaMemcpyHostToDevice, s));
	memset(back, 0, n);
	CUDA_OK(cudaMemcpyAsync(back, d, n, cudaMemcpyDeviceToHost, s));
	CUDA_OK(cudaStreamSynchronize(s));
	EXPECT(!memcmp(h, back, n), "registered memory -> device -> pageable");
	memset(h, 0, n);
	CUDA_OK(cudaMemcpyAsync(h, d, n, cudaMemcpyDeviceToHost, s));
	CUDA_OK(cudaStreamSynchronize(s));
	EXPECT(!memcmp(h, back, n), "device -> registered memory, landed at the stream's end");
	sum("register", fnv(h, n));
	CUDA_OK(cudaHostUnregister(h));
	EXPECT(cudaHostUnregister(h) == cudaErrorHostMemoryNotRegistered,
	       "unregistering twice is refused");
	cudaGetLastError();
	CUDA_OK(cudaFree(d));
	CUDA_OK(cudaStreamDestroy(s));
	free(h);
	free(back);
}

static void CUDART_CB write_pattern(void *p)
{
	pattern(p, 4096, 9);
}

/* Holds its stream until the main thread has submitted what comes after it. */
static std::atomic<int> gate;

static void CUDART_CB wait_gate(void *)
{
	while (!gate.load())
		;
}

/*
 * Several streams at once, each: pinned x, y -> device; y = 2x + y; y ->
 * pinned out.  And stream order through pinned memory: a kernel's result
 * copied to pinned memory, then from there to the device again in the same
 * stream; a host function that writes pinned memory before a copy from it;
 * an event after a device-to-host copy.
 */
static void test_streams()
{
	const int ns = 4, n = 300000;
	cudaStream_t st[ns];
	float *hx[ns], *hy[ns], *hout[ns], *dx[ns], *dy[ns];
	uint64_t h = 1469598103934665603ull;
	size_t bad = 0;

	for (int i = 0; i < ns; i++) {
		CUDA_OK(cudaStreamCreateWithFlags(&st[i], cudaStreamNonBlocking));
		CUDA_OK(cudaMallocHost((void **)&hx[i], n * sizeof(float)));
		CUDA_OK(cudaMallocHost((void **)&hy[i], n * sizeof(float)));
		CUDA_OK(cudaMallocHost((void **)&hout[i], n * sizeof(float)));
		CUDA_OK(cudaMalloc((void **)&dx[i], n * sizeof(float)));
		CUDA_OK(cudaMalloc((void **)&dy[i], n * sizeof(float)));
		for (int k = 0; k < n; k++) {
			hx[i][k] = (float)(k % 1000) * 0.5f + (float)i;
			hy[i][k] = (float)(k % 77) - 3.0f;
			hout[i][k] = -1.0f;
		}
	}
	for (int i = 0; i < ns; i++) {
		CUDA_OK(cudaMemcpyAsync(dx[i], hx[i], n * sizeof(float), cudaMemcpyHostToDevice,
					st[i]));
		CUDA_OK(cudaMemcpyAsync(dy[i], hy[i], n * sizeof(float), cudaMemcpyHostToDevice,
					st[i]));
		vgpu_test_axpy<<<(n + 255) / 256, 256, 0, st[i]>>>(2.0f, dx[i], dy[i], n);
		CUDA_OK(cudaMemcpyAsync(hout[i], dy[i], n * sizeof(float), cudaMemcpyDeviceToHost,
					st[i]));
	}
	for (int i = 0; i < ns; i++) {
		CUDA_OK(cudaStreamSynchronize(st[i]));
		for (int k = 0; k < n; k++)
			bad += hout[i][k] != fmaf(2.0f, hx[i][k], hy[i][k]);
		h = fnv(hout[i], n * sizeof(float), h);
	}
	EXPECT(bad == 0, "axpy on %d streams from and to pinned memory: %zu wrong", ns, bad);
	sum("streams", h);

	/* A kernel's result through pinned memory and back, in one stream. */
	unsigned int *p = nullptr, *q = nullptr, *d1 = nullptr, *d2 = nullptr;
	const unsigned int m = 1u << 20;	/* 4 MiB: several chunks */
	CUDA_OK(cudaMallocHost((void **)&p, m * sizeof(unsigned int)));
	CUDA_OK(cudaMallocHost((void **)&q, m * sizeof(unsigned int)));
	CUDA_OK(cudaMalloc((void **)&d1, m * sizeof(unsigned int)));
	CUDA_OK(cudaMalloc((void **)&d2, m * sizeof(unsigned int)));
	memset(p, 0, m * sizeof(unsigned int));
	memset(q, 0, m * sizeof(unsigned int));
	vgpu_test_fill<<<256, 256, 0, st[0]>>>(d1, 1000, m);
	CUDA_OK(cudaMemcpyAsync(p, d1, m * sizeof(unsigned int), cudaMemcpyDeviceToHost, st[0]));
	CUDA_OK(cudaMemcpyAsync(d2, p, m * sizeof(unsigned int), cudaMemcpyHostToDevice, st[0]));
	CUDA_OK(cudaMemcpyAsync(q, d2, m * sizeof(unsigned int), cudaMemcpyDeviceToHost, st[0]));
	CUDA_OK(cudaStreamSynchronize(st[0]));
	bad = 0;
	for (unsigned int k = 0; k < m; k++)
		bad += q[k] != 1000 + k;
	EXPECT(bad == 0, "device -> pinned -> device -> pinned in one stream: %zu wrong", bad);
	sum("order", fnv(q, m * sizeof(unsigned int)));

	/* An event recorded after a device-to-host copy into pinned memory. */
	cudaEvent_t ev;
	CUDA_OK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
	memset(q, 0, m * sizeof(unsigned int));
	vgpu_test_fill<<<256, 256, 0, st[1]>>>(d1, 77, m);
	CUDA_OK(cudaMemcpyAsync(q, d1, m * sizeof(unsigned int), cudaMemcpyDeviceToHost, st[1]));
	CUDA_OK(cudaEventRecord(ev, st[1]));
	CUDA_OK(cudaEventSynchronize(ev));
	bad = 0;
	for (unsigned int k = 0; k < m; k++)
		bad += q[k] != 77 + k;
	EXPECT(bad == 0, "a device-to-host copy into pinned memory landed when the event after it "
			 "completed: %zu wrong", bad);
	/* Another stream that waits for that event sees the same. */
	CUDA_OK(cudaStreamWaitEvent(st[2], ev, 0));
	CUDA_OK(cudaMemcpyAsync(d2, q, m * sizeof(unsigned int), cudaMemcpyHostToDevice, st[2]));
	CUDA_OK(cudaMemcpyAsync(p, d2, 4096, cudaMemcpyDeviceToHost, st[2]));
	CUDA_OK(cudaStreamSynchronize(st[2]));
	EXPECT(p[0] == 77 && p[1023] == 77 + 1023, "and a stream that waited for the event");

	/* A host function writes pinned memory; the copy after it reads what it wrote. */
	uint8_t *hp = (uint8_t *)p, expect[4096];
	memset(hp, 0, 4096);
	pattern(expect, 4096, 9);
	gate = 0;
	CUDA_OK(cudaLaunchHostFunc(st[3], wait_gate, nullptr));
	CUDA_OK(cudaLaunchHostFunc(st[3], write_pattern, hp));
	CUDA_OK(cudaMemcpyAsync(d2, hp, 4096, cudaMemcpyHostToDevice, st[3]));
	CUDA_OK(cudaMemcpyAsync(q, d2, 4096, cudaMemcpyDeviceToHost, st[3]));
	gate = 1;	/* only now may the host functions run */
	CUDA_OK(cudaStreamSynchronize(st[3]));
	EXPECT(!memcmp(q, expect, 4096), "a copy from pinned memory sees an earlier host function's writes");

	CUDA_OK(cudaEventDestroy(ev));
	CUDA_OK(cudaFree(d1));
	CUDA_OK(cudaFree(d2));
	CUDA_OK(cudaFreeHost(p));
	CUDA_OK(cudaFreeHost(q));
	for (int i = 0; i < ns; i++) {
		CUDA_OK(cudaFree(dx[i]));
		CUDA_OK(cudaFree(dy[i]));
		CUDA_OK(cudaFreeHost(hx[i]));
		CUDA_OK(cudaFreeHost(hy[i]));
		CUDA_OK(cudaFreeHost(hout[i]));
		CUDA_OK(cudaStreamDestroy(st[i]));
	}
}

/* cudaMallocPitch, cudaMemcpy2D (both ways, device to device, async from pinned), cudaMemset2D. */
static void test_pitch()
{
	const size_t w = 1000, hgt = 300, spitch = 1234;
	size_t pitch = 0, pitch2 = 0, narrow = 0;
	uint8_t *d = nullptr, *d2 = nullptr, *dn = nullptr;
	std::vector<uint8_t> src(spitch * hgt), back(w * hgt), lin;
	cudaStream_t s;

	CUDA_OK(cudaStreamCreate(&s));
	CUDA_OK(cudaMallocPitch((void **)&d, &pitch, w, hgt));
	CUDA_OK(cudaMallocPitch((void **)&d2, &pitch2, w, hgt));
	CUDA_OK(cudaMallocPitch((void **)&dn, &narrow, 40, 10));
	EXPECT(pitch >= w && pitch == pitch2, "cudaMallocPitch: pitch %zu for %zu bytes", pitch, w);
	/* The driver's own pitches: identical natively and through vgpu. */
	sum("pitch1000", pitch);
	sum("pitch40", narrow);
	pattern(src.data(), src.size(), 3);
	CUDA_OK(cudaMemset(d, 0xee, pitch * hgt));
	CUDA_OK(cudaMemcpy2D(d, pitch, src.data(), spitch, w, hgt, cudaMemcpyHostToDevice));
	CUDA_OK(cudaMemcpy2D(back.data(), w, d, pitch, w, hgt, cudaMemcpyDeviceToHost));
	size_t bad = 0;
	for (size_t y = 0; y < hgt; y++)
		bad += memcmp(&back[y * w], &src[y * spitch], w) != 0;
	EXPECT(bad == 0, "cudaMemcpy2D host (pitch %zu) -> device (pitch %zu) -> host: %zu rows wrong",
	       spitch, pitch, bad);
	lin.resize(pitch * hgt);
	CUDA_OK(cudaMemcpy(lin.data(), d, pitch * hgt, cudaMemcpyDeviceToHost));
	bad = 0;
	for (size_t y = 0; y < hgt; y++)
		for (size_t x = w; x < pitch; x++)
			bad += lin[y * pitch + x] != 0xee;
	EXPECT(bad == 0, "the padding between rows is untouched: %zu bytes changed", bad);
	sum("pitch_linear", fnv(lin.data(), lin.size()));

	/* Device to device: a sub-rectangle at an offset. */
	CUDA_OK(cudaMemset(d2, 0, pitch2 * hgt));
	CUDA_OK(cudaMemcpy2D(d2 + 10 * pitch2 + 16, pitch2, d + 5 * pitch + 3, pitch, 500, 200,
			     cudaMemcpyDeviceToDevice));
	std::vector<uint8_t> lin2(pitch2 * hgt);
	CUDA_OK(cudaMemcpy(lin2.data(), d2, lin2.size(), cudaMemcpyDeviceToHost));
	bad = 0;
	for (size_t y = 0; y < 200; y++)
		bad += memcmp(&lin2[(10 + y) * pitch2 + 16], &lin[(5 + y) * pitch + 3], 500) != 0;
	EXPECT(bad == 0 && lin2[0] == 0 && lin2[10 * pitch2 + 15] == 0,
	       "cudaMemcpy2D device -> device at offsets: %zu rows wrong", bad);
	sum("pitch_dtod", fnv(lin2.data(), lin2.size()));

	/* Asynchronous, from and into pinned memory. */
	uint8_t *pin = nullptr, *pout = nullptr;
	CUDA_OK(cudaMallocHost((void **)&pin, spitch * hgt));
	CUDA_OK(cudaMallocHost((void **)&pout, spitch * hgt));
	pattern(pin, spitch * hgt, 4);
	memset(pout, 0, spitch * hgt);
	CUDA_OK(cudaMemcpy2DAsync(d, pitch, pin, spitch, w, hgt, cudaMemcpyHostToDevice, s));
	CUDA_OK(cudaMemcpy2DAsync(pout, spitch, d, pitch, w, hgt, cudaMemcpyDeviceToHost, s));
	CUDA_OK(cudaStreamSynchronize(s));
	bad = 0;
	for (size_t y = 0; y < hgt; y++)
		bad += memcmp(&pout[y * spitch], &pin[y * spitch], w) != 0;
	EXPECT(bad == 0, "cudaMemcpy2DAsync pinned -> device -> pinned: %zu rows wrong", bad);
	sum("pitch_async", fnv(pout, spitch * hgt));

	/* cudaMemset2D and its asynchronous form: only the rectangle changes. */
	CUDA_OK(cudaMemset(d, 0, pitch * hgt));
	CUDA_OK(cudaMemset2D(d + pitch + 8, pitch, 0x5a, 700, 100));
	CUDA_OK(cudaMemset2DAsync(d + 150 * pitch, pitch, 0x33, w, 10, s));
	CUDA_OK(cudaStreamSynchronize(s));
	CUDA_OK(cudaMemcpy(lin.data(), d, pitch * hgt, cudaMemcpyDeviceToHost));
	bad = 0;
	for (size_t y = 0; y < hgt; y++)
		for (size_t x = 0; x < pitch; x++) {
			uint8_t want = 0;

			if (y >= 1 && y < 101 && x >= 8 && x < 708)
				want = 0x5a;
			if (y >= 150 && y < 160 && x < w)
				want = 0x33;
			bad += lin[y * pitch + x] != want;
		}
	EXPECT(bad == 0, "cudaMemset2D / cudaMemset2DAsync: %zu bytes wrong", bad);
	sum("memset2d", fnv(lin.data(), lin.size()));

	CUDA_OK(cudaFreeHost(pin));
	CUDA_OK(cudaFreeHost(pout));
	CUDA_OK(cudaFree(d));
	CUDA_OK(cudaFree(d2));
	CUDA_OK(cudaFree(dn));
	CUDA_OK(cudaStreamDestroy(s));
}

/* cudaMalloc3D and cudaMemcpy3D host <-> device, device <-> device, a sub-box. */
static void test_3d()
{
	const size_t w = 200, hgt = 30, dep = 12;
	cudaExtent ext = make_cudaExtent(w, hgt, dep);
	cudaPitchedPtr a, b;
	std::vector<uint8_t> h(w * hgt * dep), back(w * hgt * dep, 0);

	CUDA_OK(cudaMalloc3D(&a, ext));
	CUDA_OK(cudaMalloc3D(&b, ext));
	EXPECT(a.pitch >= w, "cudaMalloc3D: pitch %zu", a.pitch);
	pattern(h.data(), h.size(), 5);

	cudaMemcpy3DParms up = {};
	up.srcPtr = make_cudaPitchedPtr(h.data(), w, w, hgt);
	up.dstPtr = a;
	up.extent = ext;
	up.kind = cudaMemcpyHostToDevice;
	CUDA_OK(cudaMemcpy3D(&up));

	CUDA_OK(cudaMemset3D(b, 0, ext));
	cudaMemcpy3DParms dd = {};
	dd.srcPtr = a;
	dd.dstPtr = b;
	dd.extent = ext;
	dd.kind = cudaMemcpyDeviceToDevice;
	CUDA_OK(cudaMemcpy3D(&dd));

	cudaMemcpy3DParms down = {};
	down.srcPtr = b;
	down.dstPtr = make_cudaPitchedPtr(back.data(), w, w, hgt);
	down.extent = ext;
	down.kind = cudaMemcpyDeviceToHost;
	CUDA_OK(cudaMemcpy3D(&down));
	EXPECT(h == back, "cudaMemcpy3D host -> device -> device -> host (%zux%zux%zu)", w, hgt, dep);

	/* A box inside: from (3, 4, 2), 50 x 10 x 5, to the origin of a packed host buffer. */
	std::vector<uint8_t> box(50 * 10 * 5, 0);
	cudaMemcpy3DParms sub = {};
	sub.srcPtr = a;
	sub.srcPos = make_cudaPos(3, 4, 2);
	sub.dstPtr = make_cudaPitchedPtr(box.data(), 50, 50, 10);
	sub.extent = make_cudaExtent(50, 10, 5);
	sub.kind = cudaMemcpyDeviceToHost;
	CUDA_OK(cudaMemcpy3D(&sub));
	size_t bad = 0;
	for (size_t z = 0; z < 5; z++)
		for (size_t y = 0; y < 10; y++)
			bad += memcmp(&box[(z * 10 + y) * 50], &h[((z + 2) * hgt + y + 4) * w + 3], 50) != 0;
	EXPECT(bad == 0, "cudaMemcpy3D of a box at an offset: %zu rows wrong", bad);

	cudaStream_t s;
	CUDA_OK(cudaStreamCreate(&s));
	std::fill(back.begin(), back.end(), 0);
	down.srcPtr = a;
	CUDA_OK(cudaMemcpy3DAsync(&down, s));
	CUDA_OK(cudaStreamSynchronize(s));
	EXPECT(h == back, "cudaMemcpy3DAsync device -> host");
	sum("3d", fnv(back.data(), back.size(), fnv(box.data(), box.size())));
	CUDA_OK(cudaStreamDestroy(s));
	CUDA_OK(cudaFree(a.ptr));
	CUDA_OK(cudaFree(b.ptr));
}

/*
 * Mapped pinned memory: a kernel writes it through its device pointer.
 * Through vgpu only memory from the executor's heap is mapped; staged
 * pinned memory has no device pointer (cudaErrorNotSupported): then this
 * says so and checks nothing.
 */
static void test_mapped()
{
	const unsigned n = 100000;
	unsigned *h = nullptr, *d = nullptr;
	cudaError_t e;

	CUDA_OK(cudaHostAlloc((void **)&h, n * sizeof(unsigned), cudaHostAllocMapped));
	e = cudaHostGetDevicePointer((void **)&d, h, 0);
	if (e == cudaErrorNotSupported) {
		printf("skip  mapped pinned memory: this pinned memory is staged, not mapped\n");
		cudaGetLastError();
		CUDA_OK(cudaFreeHost(h));
		return;
	}
	EXPECT(e == cudaSuccess && d, "cudaHostGetDevicePointer (%s)", cudaGetErrorName(e));
	memset(h, 0, n * sizeof(unsigned));
	vgpu_test_fill<<<64, 128>>>(d, 5, n);
	CUDA_OK(cudaDeviceSynchronize());
	size_t bad = 0;
	for (unsigned i = 0; i < n; i++)
		bad += h[i] != 5 + i;
	EXPECT(bad == 0, "a kernel wrote mapped pinned memory: %zu wrong", bad);
	/* And a unified copy from the device pointer reads the same memory. */
	std::vector<unsigned> back(16, 0);
	CUDA_OK(cudaMemcpy(back.data(), d + 10, 16 * sizeof(unsigned), cudaMemcpyDefault));
	EXPECT(back[0] == 15 && back[15] == 30, "cudaMemcpyDefault from a mapped device pointer");
	cudaPointerAttributes at;
	CUDA_OK(cudaPointerGetAttributes(&at, h));
	EXPECT(at.devicePointer == d && at.hostPointer == h, "its pointer attributes name both");
	CUDA_OK(cudaFreeHost(h));
}

static void test_attributes()
{
	void *h = nullptr, *d = nullptr;
	cudaPointerAttributes at;

	CUDA_OK(cudaMallocHost(&h, 8192));
	CUDA_OK(cudaMalloc(&d, 8192));
	CUDA_OK(cudaPointerGetAttributes(&at, (char *)h + 100));
	EXPECT(at.type == cudaMemoryTypeHost && at.hostPointer == (char *)h + 100,
	       "pointer attributes of pinned memory: host (%d)", (int)at.type);
	CUDA_OK(cudaPointerGetAttributes(&at, (char *)d + 100));
	EXPECT(at.type == cudaMemoryTypeDevice && at.device == 0,
	       "pointer attributes of device memory: device (%d)", (int)at.type);
	int x = 0;
	CUDA_OK(cudaPointerGetAttributes(&at, &x));
	EXPECT(at.type == cudaMemoryTypeUnregistered, "pointer attributes of pageable memory: unregistered");
	CUDA_OK(cudaFreeHost(h));
	CUDA_OK(cudaFree(d));
}

/*
 * Threads allocating, registering, copying and freeing pinned memory at once,
 * each on its own stream: the ranges stay each thread's own.
 */
static void test_threads()
{
	const int nt = 4, rounds = 40;
	std::atomic<int> bad{0};
	std::vector<std::thread> ts;

	for (int t = 0; t < nt; t++)
		ts.emplace_back([t, &bad] {
			cudaStream_t s;
			void *d = nullptr;
			if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess ||
			    cudaMalloc(&d, 2u << 20) != cudaSuccess) {
				bad++;
				return;
			}
			for (int i = 0; i < rounds; i++) {
				size_t n = 1000 + (size_t)((t * 7919 + i * 104729) % (1 << 20));
				uint8_t *a = nullptr, *b = nullptr;
				/* Whole pages of its own: no two threads register one page. */
				size_t rn = (n + 4095) / 4096 * 4096;
				uint8_t *reg = (uint8_t *)aligned_alloc(4096, rn);

				if (cudaMallocHost((void **)&a, n) != cudaSuccess ||
				    cudaHostAlloc((void **)&b, n, cudaHostAllocPortable) != cudaSuccess ||
				    !reg || cudaHostRegister(reg, rn, 0) != cudaSuccess) {
					bad++;
					free(reg);
					break;
				}
				pattern(a, n, (unsigned)(t * 100 + i));
				memset(b, 0, n);
				if (cudaMemcpyAsync(d, a, n, cudaMemcpyHostToDevice, s) ||
				    cudaMemcpyAsync(reg, d, n, cudaMemcpyDeviceToHost, s) ||
				    cudaMemcpyAsync(d, reg, n, cudaMemcpyHostToDevice, s) ||
				    cudaMemcpyAsync(b, d, n, cudaMemcpyDeviceToHost, s) ||
				    cudaStreamSynchronize(s) != cudaSuccess || memcmp(a, b, n))
					bad++;
				if (cudaHostUnregister(reg) != cudaSuccess ||
				    cudaFreeHost(a) != cudaSuccess || cudaFreeHost(b) != cudaSuccess)
					bad++;
				free(reg);
			}
			cudaFree(d);
			cudaStreamDestroy(s);
		});
	for (auto &th : ts)
		th.join();
	EXPECT(bad == 0, "%d threads x %d rounds of pinned allocate/register/copy/free: %d wrong",
	       nt, rounds, bad.load());
}

int main()
{
	setvbuf(stdout, nullptr, _IOLBF, 0);	/* a crash or a hang keeps what was printed */
	test_alloc();
	test_register();
	test_streams();
	test_pitch();
	test_3d();
	test_attributes();
	test_mapped();
	test_threads();
	printf("%s: %d failure(s)\n", failures.load() ? "FAILED" : "PASSED", failures.load());
	return failures.load() ? 1 : 0;
}
