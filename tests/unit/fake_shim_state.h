/* SPDX-License-Identifier: MIT */
/*
 * Test double of the shim state that shim.h declares.  In the shim these
 * answers come from the host over the transport (HELLO, DEVICE_GET_INFO)
 * and from the context code; here they are plain variables a test sets, so
 * the export tables can be tested without a GPU, a transport or contexts.
 */
#ifndef VGPU_TEST_FAKE_SHIM_STATE_H
#define VGPU_TEST_FAKE_SHIM_STATE_H

#include <stdbool.h>

#include "shim.h"

#define FAKE_MAX_DEVICES 4

extern bool fake_initialized;
extern int fake_driver_version;
extern int fake_device_count;		/* what vgpu_device_count() says */
extern int fake_device_infos;		/* how many vgpu_device_info() answers */
extern struct vgpu_device_info fake_devices[FAKE_MAX_DEVICES];
extern int fake_unsupported_calls;

/* Back to one initialised device with a known UUID and PCI location. */
void fake_shim_reset(void);

/* The calling thread's current context (each thread has its own). */
void fake_set_current_ctx(CUcontext ctx);

/* The handle vgpu_primary_ctx_get() gives for @dev. */
CUcontext fake_primary_ctx(CUdevice dev);

#endif /* VGPU_TEST_FAKE_SHIM_STATE_H */
