/* SPDX-License-Identifier: MIT */
/*
 * How the shim reaches the executor: BAR0 and BAR1 mapped into the process,
 * a way to ring the doorbell and a way to sleep until the interrupt.  Two
 * backends fill it in: "local" (shared memory and eventfds from the local
 * executor's socket) and "pci" (the VGPU-STUB function's sysfs resources and
 * uio_pci_generic, in a VM).  Everything above this interface is the same.
 */
#ifndef VGPU_TRANSPORT_H
#define VGPU_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vgpu/bar1.h"

struct vgpu_transport;

struct vgpu_transport_ops {
	const char *name;
	/* Map BAR0/BAR1 and own a channel; 0, or -1 with a reason in @err. */
	int (*open)(struct vgpu_transport *t, char *err, size_t err_len);
	void (*doorbell)(struct vgpu_transport *t);
	/*
	 * Sleep until the interrupt fires or @timeout_ms passes.  Returns 1
	 * (interrupt), 0 (timeout) or -1 (the executor side is gone).
	 */
	int (*wait_irq)(struct vgpu_transport *t, int timeout_ms);
	void (*close)(struct vgpu_transport *t);
};

struct vgpu_transport {
	const struct vgpu_transport_ops *ops;
	volatile uint32_t *bar0;
	uint8_t *bar1;
	uint64_t bar1_size;
	struct vgpu_layout layout;	/* from the header, checked */
	uint32_t channel;
	uint64_t session_id;
	void *priv;			/* the backend's own state */
};

extern const struct vgpu_transport_ops vgpu_transport_local;

/* Pick the backend ($VGPU_TRANSPORT, else local) and open it. */
int vgpu_transport_open(struct vgpu_transport *t, char *err, size_t err_len);

#endif /* VGPU_TRANSPORT_H */
