/* SPDX-License-Identifier: MIT */
/*
 * The keyed hash that answers the INTEGRITY_CHECK export table (see
 * integrity_hash.c for what it is and where the facts come from).
 */
#ifndef VGPU_SHIM_INTEGRITY_HASH_H
#define VGPU_SHIM_INTEGRITY_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * MD2 state, laid out as RFC 1319 describes it and as cudart keeps it in
 * memory (66 bytes), so that states dumped from a real process compare
 * byte for byte: x[0..16) the digest, x[16..32) the block being filled,
 * x[32..48) their XOR, c the checksum, n the bytes in the block, l the last
 * checksum byte.
 */
struct vgpu_md2 {
	uint8_t x[48];
	uint8_t c[16];
	uint8_t n;
	uint8_t l;
};

void vgpu_md2_init(struct vgpu_md2 *m);
void vgpu_md2_update(struct vgpu_md2 *m, const void *data, size_t len);
void vgpu_md2_final(struct vgpu_md2 *m, uint8_t digest[16]);

/*
 * What one check hashes, in this order and byte for byte as cudart lays it
 * out on its stack (native byte order, no padding).
 */
struct vgpu_integrity_call {
	uint32_t driver_version;	/* as cuDriverGetVersion reports it */
	uint32_t version;		/* the slot's first argument */
	uint32_t pid;			/* getpid() */
	uint32_t thread;		/* pthread_self(), low 32 bits */
	uint64_t cudart_table;		/* address of CUDART_INTERFACE */
	uint64_t integrity_table;	/* address of INTEGRITY_CHECK */
	uint64_t check_fn;		/* INTEGRITY_CHECK slot 1 */
	uint64_t unix_seconds;		/* the slot's second argument */
};

/* Then one record per device, in ordinal order. */
struct vgpu_integrity_device {
	uint8_t uuid[16];		/* as cuDeviceGetUuid */
	int32_t pci_domain;		/* as cuDeviceGetAttribute(PCI_DOMAIN_ID) */
	int32_t pci_bus;		/* PCI_BUS_ID */
	int32_t pci_device;		/* PCI_DEVICE_ID */
};

_Static_assert(sizeof(struct vgpu_md2) == 66, "cudart's MD2 state is 66 bytes");
_Static_assert(sizeof(struct vgpu_integrity_call) == 48, "cudart hashes 48 bytes");
_Static_assert(sizeof(struct vgpu_integrity_device) == 28, "cudart hashes 28 bytes a device");

/* HMAC-MD2 in three steps, so that devices can be streamed in. */
void vgpu_integrity_begin(struct vgpu_md2 *m, const struct vgpu_integrity_call *call);
void vgpu_integrity_add_device(struct vgpu_md2 *m, const struct vgpu_integrity_device *dev);
void vgpu_integrity_finish(struct vgpu_md2 *m, uint64_t out[2]);

/*
 * Versions whose last digit is 0 or 1 get fixed answers: true and @out
 * filled for those, false for any other version.
 */
bool vgpu_integrity_fixed_answer(uint32_t version, uint64_t out[2]);

#endif /* VGPU_SHIM_INTEGRITY_HASH_H */
