// SPDX-License-Identifier: MIT
/*
 * What the real driver does with waits once a context has faulted, which
 * the executor's waits depend on: does an event recorded before (or after)
 * the fault complete, report the error, or stay NOT_READY; does a stream
 * waiting on such an event run its host function; does releasing the
 * primary context return.  Informational (tests/gpu/probe-fault.sh).
 */
#include <cuda.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *name(CUresult r)
{
	const char *s = NULL;

	cuGetErrorName(r, &s);
	return s ? s : "?";
}

static volatile int called;
static void host_fn(void *p)
{
	called = 1;
}

static void on_alarm(int sig)
{
	const char msg[] = "   ... blocked (alarm)\n";

	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

int main(int argc, char **argv)
{
	CUcontext ctx;
	CUmodule mod;
	CUfunction fill;
	CUstream s1, helper;
	CUevent before, after;
	CUresult r;
	void *params[3];
	unsigned int v = 1;
	unsigned long long n = 1;
	CUdeviceptr bad = 0x10000;

	signal(SIGALRM, on_alarm);
	if (argc < 2 || cuInit(0) || cuDevicePrimaryCtxRetain(&ctx, 0) || cuCtxSetCurrent(ctx)) {
		printf("usage: probe_fault CUBIN (and a GPU)\n");
		return 1;
	}
	if ((r = cuModuleLoad(&mod, argv[1])) ||
	    (r = cuModuleGetFunction(&fill, mod, "_Z14vgpu_test_fillPjjy"))) {
		printf("module: %s\n", name(r));
		return 1;
	}
	cuStreamCreate(&s1, CU_STREAM_NON_BLOCKING);
	cuStreamCreate(&helper, CU_STREAM_NON_BLOCKING);
	cuEventCreate(&before, CU_EVENT_DISABLE_TIMING);
	cuEventCreate(&after, CU_EVENT_DISABLE_TIMING);
	params[0] = &bad;
	params[1] = &v;
	params[2] = &n;
	r = cuLaunchKernel(fill, 1, 1, 1, 1, 1, 1, 0, s1, params, NULL);
	printf("launch of a faulting kernel           = %s\n", name(r));
	printf("record event after it                 = %s\n", name(cuEventRecord(before, s1)));
	printf("stream wait event on helper           = %s\n", name(cuStreamWaitEvent(helper, before, 0)));
	printf("host function on helper               = %s\n", name(cuLaunchHostFunc(helper, host_fn, NULL)));
	sleep(1);
	for (int i = 0; i < 3; i++) {
		printf("event query (recorded before)  %d      = %s\n", i, name(cuEventQuery(before)));
		usleep(100000);
	}
	printf("stream query s1                       = %s\n", name(cuStreamQuery(s1)));
	printf("stream query legacy                   = %s\n", name(cuStreamQuery(CU_STREAM_LEGACY)));
	printf("record event after the fault          = %s\n", name(cuEventRecord(after, s1)));
	printf("event query (recorded after)          = %s\n", name(cuEventQuery(after)));
	printf("host function called                  = %s\n", called ? "yes" : "no");
	alarm(10);
	printf("event synchronize (before)            = %s\n", name(cuEventSynchronize(before)));
	printf("stream destroy helper                 = %s\n", name(cuStreamDestroy(helper)));
	printf("primary context release:\n");
	fflush(stdout);
	printf("   = %s\n", name(cuDevicePrimaryCtxRelease(0)));
	printf("primary context reset                 = %s\n", name(cuDevicePrimaryCtxReset(0)));
	alarm(0);
	return 0;
}
