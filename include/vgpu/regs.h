/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * VGPU-STUB BAR0: the register file a guest sees.
 *
 * Shared by the kernel module (which traps and emulates it), the executor
 * (which sets the host-owned registers) and the guest shim (which reads the
 * identity registers once and writes the doorbell).  Plain defines only, so
 * the kernel and userspace include it alike.  All registers are 32 bits,
 * little-endian, naturally aligned; accesses of another width or alignment
 * read as 0 and are ignored on write.  The local transport maps a shared page
 * laid out the same way; there a doorbell is an eventfd write instead.
 *
 * docs/protocol.md is the prose specification.
 */
#ifndef VGPU_REGS_H
#define VGPU_REGS_H

/* PCI identity of VGPU-STUB: an H100 PCIe ID with the 3D-controller class. */
#define VGPU_PCI_VENDOR_ID		0x10de
#define VGPU_PCI_DEVICE_ID		0x2331
#define VGPU_PCI_CLASS			0x030200
#define VGPU_PCI_SUBSYS_VENDOR_ID	0x10de
#define VGPU_PCI_SUBSYS_ID		0x5647	/* "VG" */

#define VGPU_BAR0_SIZE			0x1000
#define VGPU_BAR1_DEFAULT_SIZE		(16ULL << 20)

/* Identity: "VGPU" in memory order. */
#define VGPU_MAGIC			0x55504756u
#define VGPU_PROTOCOL_MAJOR		1
#define VGPU_PROTOCOL_MINOR		2
#define VGPU_VERSION_VALUE(maj, min)	(((maj) << 16) | (min))

/* Register offsets. RO: read-only to the guest; WO: reads as 0. */
#define VGPU_REG_MAGIC			0x000	/* RO VGPU_MAGIC */
#define VGPU_REG_VERSION		0x004	/* RO major << 16 | minor */
#define VGPU_REG_FEATURES		0x008	/* RO VGPU_FEATURE_* */
#define VGPU_REG_VM_ID			0x00c	/* RO the instance's vm_id attribute */
#define VGPU_REG_BAR1_SIZE_LO		0x010	/* RO BAR1 size in bytes */
#define VGPU_REG_BAR1_SIZE_HI		0x014
#define VGPU_REG_FB_SIZE_LO		0x018	/* RO memory quota in bytes (the type's framebuffer) */
#define VGPU_REG_FB_SIZE_HI		0x01c
#define VGPU_REG_STATUS			0x020	/* RO VGPU_STATUS_*, set by the executor */
#define VGPU_REG_DOORBELL		0x040	/* WO channel index whose submission ring has work */
#define VGPU_REG_IRQ_STATUS		0x044	/* RO VGPU_IRQ_* pending causes */
#define VGPU_REG_IRQ_ACK		0x048	/* WO write 1 to clear the matching IRQ_STATUS bits */
#define VGPU_REG_COUNT			(0x04c / 4)

/* VGPU_REG_FEATURES */
#define VGPU_FEATURE_DOORBELL_SUPPRESSION	(1u << 0)	/* honours sq_need_doorbell */
#define VGPU_FEATURE_MSI			(1u << 1)

/* VGPU_REG_STATUS */
#define VGPU_STATUS_EXECUTOR_READY	(1u << 0)	/* BAR1 is formatted and served */

/* VGPU_REG_IRQ_STATUS / VGPU_REG_IRQ_ACK */
#define VGPU_IRQ_COMPLETION		(1u << 0)	/* a channel's completion ring has entries */
#define VGPU_IRQ_STATUS_CHANGE		(1u << 1)	/* VGPU_REG_STATUS changed */
#define VGPU_IRQ_ALL			(VGPU_IRQ_COMPLETION | VGPU_IRQ_STATUS_CHANGE)

#endif /* VGPU_REGS_H */
