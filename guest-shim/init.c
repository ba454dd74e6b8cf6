// SPDX-License-Identifier: MIT
/*
 * cuInit: open the transport, say HELLO, and fetch everything static about
 * the devices once, so device queries are answered in the guest.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "log.h"
#include "objects.h"
#include "shim.h"
#include "state.h"
#include "vgpu/regs.h"

struct vgpu_state vgpu_state;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CUresult init_result = CUDA_ERROR_NOT_INITIALIZED;
static uint64_t next_id = VGPU_FIRST_ID;

uint64_t vgpu_new_id(void)
{
	return __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
}

static void forget_after_fork(void)
{
	/* CUDA state does not survive fork(): the child starts uninitialised. */
	vgpu_channel_forget();
	init_result = CUDA_ERROR_NOT_INITIALIZED;
}

static CUresult fetch_device(int i)
{
	struct vgpu_device_info_args a = { .device = i };
	struct vgpu_bulk_buf b;
	CUresult r;

	if (!vgpu_bulk_alloc(sizeof(struct vgpu_device_info), true, &b))
		return CUDA_ERROR_DEVICE_UNAVAILABLE;
	a.out = b.ref;
	r = vgpu_call_sync(VGPU_OP_DEVICE_GET_INFO, 0, &a, sizeof(a), NULL);
	if (r == CUDA_SUCCESS) {
		memcpy(&vgpu_state.devices[i], b.ptr, sizeof(vgpu_state.devices[i]));
		vgpu_state.devices[i].name[sizeof(vgpu_state.devices[i].name) - 1] = '\0';
		vgpu_state.devices[i].pci_bus_id[sizeof(vgpu_state.devices[i].pci_bus_id) - 1] = '\0';
		vgpu_device_mask_unoffered(&vgpu_state.devices[i]);
	}
	vgpu_bulk_free(&b);
	return r;
}

static void do_init(void)
{
	struct vgpu_hello_args hello = {
		.major = VGPU_PROTOCOL_MAJOR,
		.minor = VGPU_PROTOCOL_MINOR,
		.guest_pid = (uint32_t)getpid(),
	};
	struct vgpu_hello_reply rep;
	struct vgpu_answer ans = { 0 };
	char err[256];
	CUresult r;

	if (vgpu_channel_open(err, sizeof(err))) {
		vgpu_log("cuInit: %s", err);
		init_result = CUDA_ERROR_DEVICE_UNAVAILABLE;
		return;
	}
	r = vgpu_call_sync(VGPU_OP_HELLO, 0, &hello, sizeof(hello), &ans);
	if (r != CUDA_SUCCESS) {
		vgpu_log("cuInit: the executor refused the session: error %d", (int)r);
		init_result = r;
		return;
	}
	memcpy(&rep, ans.data, sizeof(rep));
	/* 1.1 retires bulk per slot and answers out of order: a 1.0 executor cannot serve us. */
	if (rep.minor < VGPU_PROTOCOL_MINOR) {
		vgpu_log("cuInit: the executor speaks protocol %u.%u, this shim needs %u.%u",
			 rep.major, rep.minor, VGPU_PROTOCOL_MAJOR, VGPU_PROTOCOL_MINOR);
		init_result = CUDA_ERROR_NOT_SUPPORTED;
		return;
	}
	vgpu_channel_hello_done(rep.minor, rep.features);
	if (rep.device_count < 0 || rep.device_count > VGPU_MAX_DEVICES) {
		vgpu_log("cuInit: the executor reports %d devices", rep.device_count);
		init_result = CUDA_ERROR_INVALID_DEVICE;
		return;
	}
	vgpu_state.driver_version = rep.driver_version;
	vgpu_state.device_count = rep.device_count;
	vgpu_state.mem_quota = rep.mem_quota;
	for (int i = 0; i < rep.device_count; i++) {
		r = fetch_device(i);
		if (r != CUDA_SUCCESS) {
			vgpu_log("cuInit: device %d: error %d", i, (int)r);
			init_result = r;
			return;
		}
		vgpu_state.primary[i] = (struct vgpu_ctx){
			.o = { VGPU_KIND_CTX, vgpu_new_id() },
			.dev = i,
			.primary = true,
		};
	}
	pthread_atfork(NULL, NULL, forget_after_fork);
	vgpu_log("cuInit: session %lu, %d device(s), driver %d, quota %lu MiB",
		 (unsigned long)rep.session_id, rep.device_count, rep.driver_version,
		 (unsigned long)(rep.mem_quota >> 20));
	init_result = CUDA_SUCCESS;
}

CUresult CUDAAPI cuInit(unsigned int Flags)
{
	if (Flags != 0)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_once(&init_once, do_init);
	return init_result;
}

bool vgpu_initialized(void)
{
	return init_result == CUDA_SUCCESS;
}

CUresult vgpu_ready(void)
{
	if (init_result != CUDA_SUCCESS)
		return init_result == CUDA_ERROR_NOT_INITIALIZED ? CUDA_ERROR_NOT_INITIALIZED
								 : init_result;
	return vgpu_channel_alive() ? CUDA_SUCCESS : CUDA_ERROR_DEVICE_UNAVAILABLE;
}

CUresult CUDAAPI cuDriverGetVersion(int *driverVersion)
{
	if (!driverVersion)
		return CUDA_ERROR_INVALID_VALUE;
	/*
	 * Answered before cuInit, as the real driver does; before cuInit the
	 * shim reports the API version it implements.
	 */
	*driverVersion = vgpu_initialized() ? vgpu_state.driver_version : CUDA_VERSION;
	return CUDA_SUCCESS;
}

int vgpu_driver_version(void)
{
	return vgpu_initialized() ? vgpu_state.driver_version : CUDA_VERSION;
}

/* Marks this library as the vgpu shim (the executor refuses to load it as the driver). */
__attribute__((visibility("default"))) const char vgpu_shim_version[] = "vgpu shim, protocol 1.1";
