// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suites for the VFIO-free half of vgpu_stub: config space and BAR
 * sizing, the BAR0 register file, the interrupt state machine, the
 * executor's event queue and the vfio region table.
 */
#include <kunit/test.h>
#include <linux/pci_regs.h>
#include <linux/sizes.h>

#include "vgpu_logic.h"

static u32 cfg32(const struct vgpu_cfg *cfg, u32 off)
{
	__le32 v;

	if (vgpu_cfg_read(cfg, off, &v, sizeof(v)))
		return 0xdeadbeef;
	return le32_to_cpu(v);
}

static u16 cfg16(const struct vgpu_cfg *cfg, u32 off)
{
	__le16 v;

	if (vgpu_cfg_read(cfg, off, &v, sizeof(v)))
		return 0xdead;
	return le16_to_cpu(v);
}

static int wr32(struct vgpu_cfg *cfg, u32 off, u32 val, u32 *chg)
{
	__le32 v = cpu_to_le32(val);

	return vgpu_cfg_write(cfg, off, &v, sizeof(v), chg);
}

static int wr16(struct vgpu_cfg *cfg, u32 off, u16 val, u32 *chg)
{
	__le16 v = cpu_to_le16(val);

	return vgpu_cfg_write(cfg, off, &v, sizeof(v), chg);
}

/* ---- config space ---- */

static void cfg_identity(struct kunit *test)
{
	struct vgpu_cfg *cfg = kunit_kzalloc(test, sizeof(*cfg), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, cfg);
	vgpu_cfg_init(cfg, SZ_16M);
	KUNIT_EXPECT_EQ(test, cfg16(cfg, PCI_VENDOR_ID), 0x10de);
	KUNIT_EXPECT_EQ(test, cfg16(cfg, PCI_DEVICE_ID), 0x2331);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_CLASS_REVISION) >> 8, 0x030200u);
	KUNIT_EXPECT_EQ(test, cfg->data[PCI_HEADER_TYPE], PCI_HEADER_TYPE_NORMAL);
	KUNIT_EXPECT_EQ(test, cfg16(cfg, PCI_SUBSYSTEM_VENDOR_ID), 0x10de);
	KUNIT_EXPECT_EQ(test, cfg16(cfg, PCI_SUBSYSTEM_ID), 0x5647);
	KUNIT_EXPECT_EQ(test, cfg->data[PCI_INTERRUPT_PIN], 1);
	KUNIT_EXPECT_TRUE(test, cfg16(cfg, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	KUNIT_EXPECT_EQ(test, cfg->data[PCI_CAPABILITY_LIST], VGPU_CFG_MSI_CAP);
	KUNIT_EXPECT_EQ(test, cfg->data[VGPU_CFG_MSI_CAP], PCI_CAP_ID_MSI);
	KUNIT_EXPECT_EQ(test, cfg->data[VGPU_CFG_MSI_CAP + 1], 0);
	KUNIT_EXPECT_TRUE(test, cfg16(cfg, VGPU_CFG_MSI_CAP + PCI_MSI_FLAGS) &
			  PCI_MSI_FLAGS_64BIT);

	/* Identity is read-only. */
	KUNIT_EXPECT_EQ(test, wr32(cfg, PCI_VENDOR_ID, 0x12345678, NULL), 0);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_VENDOR_ID), 0x233110deu);
	KUNIT_EXPECT_EQ(test, wr32(cfg, PCI_CLASS_REVISION, 0, NULL), 0);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_CLASS_REVISION) >> 8, 0x030200u);
}

static void cfg_bar_sizing(struct kunit *test)
{
	struct vgpu_cfg *cfg = kunit_kzalloc(test, sizeof(*cfg), GFP_KERNEL);
	u32 off;

	KUNIT_ASSERT_NOT_NULL(test, cfg);
	vgpu_cfg_init(cfg, SZ_16M);
	/* BAR0: 4 KiB, 32-bit, non-prefetchable */
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_BASE_ADDRESS_0), 0u);
	wr32(cfg, PCI_BASE_ADDRESS_0, 0xffffffff, NULL);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_BASE_ADDRESS_0), 0xfffff000u);
	wr32(cfg, PCI_BASE_ADDRESS_0, 0xfe001234, NULL);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_BASE_ADDRESS_0), 0xfe001000u);

	/* BAR1: 16 MiB, 64-bit prefetchable, both halves sized */
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_BASE_ADDRESS_1), 0xcu);
	wr32(cfg, PCI_BASE_ADDRESS_1, 0xffffffff, NULL);
	wr32(cfg, PCI_BASE_ADDRESS_2, 0xffffffff, NULL);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_BASE_ADDRESS_1), 0xff00000cu);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_BASE_ADDRESS_2), 0xffffffffu);
	wr32(cfg, PCI_BASE_ADDRESS_1, 0x80000000, NULL);
	wr32(cfg, PCI_BASE_ADDRESS_2, 0x00000038, NULL);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_BASE_ADDRESS_1), 0x8000000cu);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_BASE_ADDRESS_2), 0x38u);

	/* Byte-wise sizing writes behave the same. */
	cfg->data[PCI_BASE_ADDRESS_1 + 3] = 0;
	for (off = PCI_BASE_ADDRESS_1; off < PCI_BASE_ADDRESS_1 + 4; off++) {
		u8 ff = 0xff;

		vgpu_cfg_write(cfg, off, &ff, 1, NULL);
	}
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_BASE_ADDRESS_1), 0xff00000cu);

	/* A BAR1 of 8 GiB: the low half has no address bits. */
	vgpu_cfg_init(cfg, 8ULL << 30);
	wr32(cfg, PCI_BASE_ADDRESS_1, 0xffffffff, NULL);
	wr32(cfg, PCI_BASE_ADDRESS_2, 0xffffffff, NULL);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_BASE_ADDRESS_1), 0xcu);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_BASE_ADDRESS_2), 0xfffffffeu);

	/* BAR3..5 and the ROM do not exist. */
	for (off = PCI_BASE_ADDRESS_3; off <= PCI_BASE_ADDRESS_5; off += 4) {
		wr32(cfg, off, 0xffffffff, NULL);
		KUNIT_EXPECT_EQ(test, cfg32(cfg, off), 0u);
	}
	wr32(cfg, PCI_ROM_ADDRESS, 0xffffffff, NULL);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, PCI_ROM_ADDRESS), 0u);

	KUNIT_EXPECT_TRUE(test, vgpu_bar1_size_valid(SZ_16M));
	KUNIT_EXPECT_TRUE(test, vgpu_bar1_size_valid(SZ_256M));
	KUNIT_EXPECT_FALSE(test, vgpu_bar1_size_valid(SZ_16M + SZ_4K));
	KUNIT_EXPECT_FALSE(test, vgpu_bar1_size_valid(SZ_4K));
	KUNIT_EXPECT_FALSE(test, vgpu_bar1_size_valid(0));
	KUNIT_EXPECT_FALSE(test, vgpu_bar1_size_valid(128ULL << 30));
}

static void cfg_command_status_msi(struct kunit *test)
{
	struct vgpu_cfg *cfg = kunit_kzalloc(test, sizeof(*cfg), GFP_KERNEL);
	u32 chg = 0;

	KUNIT_ASSERT_NOT_NULL(test, cfg);
	vgpu_cfg_init(cfg, SZ_16M);
	wr16(cfg, PCI_COMMAND, 0xffff, &chg);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_command(cfg),
			PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
			PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	KUNIT_EXPECT_EQ(test, chg, VGPU_CFG_CHG_COMMAND);
	wr16(cfg, PCI_COMMAND, 0xffff, &chg);
	KUNIT_EXPECT_EQ(test, chg, 0u);

	/* STATUS.INTERRUPT follows the device, not writes. */
	vgpu_cfg_set_intx_status(cfg, true);
	KUNIT_EXPECT_TRUE(test, cfg16(cfg, PCI_STATUS) & PCI_STATUS_INTERRUPT);
	wr16(cfg, PCI_STATUS, 0xffff, NULL);
	KUNIT_EXPECT_EQ(test, cfg16(cfg, PCI_STATUS),
			PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
	vgpu_cfg_set_intx_status(cfg, false);
	KUNIT_EXPECT_FALSE(test, cfg16(cfg, PCI_STATUS) & PCI_STATUS_INTERRUPT);
	/* Error bits are write-1-to-clear. */
	cfg->data[PCI_STATUS + 1] |= PCI_STATUS_REC_MASTER_ABORT >> 8;
	wr16(cfg, PCI_STATUS, PCI_STATUS_REC_MASTER_ABORT, NULL);
	KUNIT_EXPECT_FALSE(test, cfg16(cfg, PCI_STATUS) & PCI_STATUS_REC_MASTER_ABORT);

	/* MSI: enable, one vector only, dword-aligned address. */
	KUNIT_EXPECT_FALSE(test, vgpu_cfg_msi_enabled(cfg));
	wr16(cfg, VGPU_CFG_MSI_CAP + PCI_MSI_FLAGS, 0xffff, &chg);
	KUNIT_EXPECT_TRUE(test, vgpu_cfg_msi_enabled(cfg));
	KUNIT_EXPECT_TRUE(test, chg & VGPU_CFG_CHG_MSI);
	KUNIT_EXPECT_EQ(test, cfg16(cfg, VGPU_CFG_MSI_CAP + PCI_MSI_FLAGS),
			PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE);
	wr32(cfg, VGPU_CFG_MSI_CAP + PCI_MSI_ADDRESS_LO, 0xfee00003, NULL);
	KUNIT_EXPECT_EQ(test, cfg32(cfg, VGPU_CFG_MSI_CAP + PCI_MSI_ADDRESS_LO),
			0xfee00000u);
	wr16(cfg, VGPU_CFG_MSI_CAP + PCI_MSI_DATA_64, 0x4021, NULL);
	KUNIT_EXPECT_EQ(test, cfg16(cfg, VGPU_CFG_MSI_CAP + PCI_MSI_DATA_64), 0x4021);
	/* The capability header is read-only. */
	wr16(cfg, VGPU_CFG_MSI_CAP, 0xffff, NULL);
	KUNIT_EXPECT_EQ(test, cfg16(cfg, VGPU_CFG_MSI_CAP), PCI_CAP_ID_MSI);
}

static void cfg_bounds(struct kunit *test)
{
	struct vgpu_cfg *cfg = kunit_kzalloc(test, sizeof(*cfg), GFP_KERNEL);
	u8 buf[VGPU_CFG_SIZE + 8];

	KUNIT_ASSERT_NOT_NULL(test, cfg);
	vgpu_cfg_init(cfg, SZ_16M);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_read(cfg, 0, buf, VGPU_CFG_SIZE), 0);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_read(cfg, 255, buf, 1), 0);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_read(cfg, 255, buf, 2), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_read(cfg, 256, buf, 1), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_read(cfg, 0, buf, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_read(cfg, 0, buf, VGPU_CFG_SIZE + 1), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_read(cfg, U64_MAX, buf, 4), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_read(cfg, 1ULL << 32, buf, 4), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_write(cfg, 254, buf, 4, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_write(cfg, SIZE_MAX, buf, 4, NULL), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_cfg_write(cfg, 4, buf, SIZE_MAX, NULL), -EINVAL);
}

/* ---- BAR0 registers ---- */

static void regs_read(struct kunit *test)
{
	struct vgpu_regs r = {
		.vm_id = 42, .status = VGPU_STATUS_EXECUTOR_READY,
		.bar1_size = SZ_16M, .fb_size = 5ULL << 32,
	};
	struct vgpu_irq irq = { .status = VGPU_IRQ_COMPLETION };

	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_MAGIC, 4), VGPU_MAGIC);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_VERSION, 4),
			(u32)VGPU_PROTOCOL_MAJOR << 16 | VGPU_PROTOCOL_MINOR);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_FEATURES, 4),
			VGPU_FEATURE_DOORBELL_SUPPRESSION | VGPU_FEATURE_MSI);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_VM_ID, 4), 42u);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_BAR1_SIZE_LO, 4), SZ_16M);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_BAR1_SIZE_HI, 4), 0u);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_FB_SIZE_LO, 4), 0u);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_FB_SIZE_HI, 4), 5u);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_STATUS, 4),
			VGPU_STATUS_EXECUTOR_READY);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_IRQ_STATUS, 4),
			VGPU_IRQ_COMPLETION);
	/* write-only, unknown, misaligned, other widths, out of range: 0 */
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_DOORBELL, 4), 0u);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_IRQ_ACK, 4), 0u);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, 0x800, 4), 0u);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_MAGIC + 1, 4), 0u);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_MAGIC, 2), 0u);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_REG_MAGIC, 8), 0u);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&r, &irq, VGPU_BAR0_SIZE, 4), 0u);
}

static void regs_write(struct kunit *test)
{
	u32 arg = 0;

	KUNIT_EXPECT_EQ(test, vgpu_regs_write(VGPU_REG_DOORBELL, 4, 3, &arg),
			VGPU_ACT_DOORBELL);
	KUNIT_EXPECT_EQ(test, arg, 3u);
	KUNIT_EXPECT_EQ(test, vgpu_regs_write(VGPU_REG_DOORBELL, 4, 0xffffffff, &arg),
			VGPU_ACT_DOORBELL);
	KUNIT_EXPECT_EQ(test, arg, 0xffffffffu);
	KUNIT_EXPECT_EQ(test, vgpu_regs_write(VGPU_REG_IRQ_ACK, 4, 0xffffffff, &arg),
			VGPU_ACT_IRQ_ACK);
	KUNIT_EXPECT_EQ(test, arg, VGPU_IRQ_ALL);
	KUNIT_EXPECT_EQ(test, vgpu_regs_write(VGPU_REG_DOORBELL, 2, 3, &arg), VGPU_ACT_NONE);
	KUNIT_EXPECT_EQ(test, vgpu_regs_write(VGPU_REG_DOORBELL + 2, 4, 3, &arg),
			VGPU_ACT_NONE);
	KUNIT_EXPECT_EQ(test, vgpu_regs_write(VGPU_REG_STATUS, 4, 1, &arg), VGPU_ACT_NONE);
	KUNIT_EXPECT_EQ(test, vgpu_regs_write(VGPU_REG_MAGIC, 4, 1, &arg), VGPU_ACT_NONE);
	KUNIT_EXPECT_EQ(test, vgpu_regs_write(VGPU_BAR0_SIZE, 4, 1, &arg), VGPU_ACT_NONE);
	KUNIT_EXPECT_EQ(test, vgpu_regs_write(U64_MAX - 3, 4, 1, &arg), VGPU_ACT_NONE);
}

/* ---- interrupt state machine ---- */

static void irq_intx_automask(struct kunit *test)
{
	struct vgpu_irq s = {};

	vgpu_irq_reset(&s);
	KUNIT_EXPECT_EQ(test, vgpu_irq_raise(&s, VGPU_IRQ_COMPLETION), VGPU_IRQ_FIRE_NONE);
	/* A condition pending when the trigger arrives is delivered. */
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_mode(&s, VGPU_IRQ_MODE_INTX), VGPU_IRQ_FIRE_INTX);
	KUNIT_EXPECT_TRUE(test, s.intx_masked);
	/* Masked: more causes do not fire again. */
	KUNIT_EXPECT_EQ(test, vgpu_irq_raise(&s, VGPU_IRQ_STATUS_CHANGE), VGPU_IRQ_FIRE_NONE);
	KUNIT_EXPECT_EQ(test, s.status, VGPU_IRQ_ALL);
	/* Unmask while still asserted: level re-delivers and masks again. */
	KUNIT_EXPECT_EQ(test, vgpu_irq_unmask(&s), VGPU_IRQ_FIRE_INTX);
	KUNIT_EXPECT_TRUE(test, s.intx_masked);
	/* Acked, then unmasked: quiet. */
	vgpu_irq_ack(&s, VGPU_IRQ_ALL);
	KUNIT_EXPECT_EQ(test, vgpu_irq_unmask(&s), VGPU_IRQ_FIRE_NONE);
	KUNIT_EXPECT_FALSE(test, s.intx_masked);
	KUNIT_EXPECT_FALSE(test, vgpu_irq_intx_pending(&s));
	KUNIT_EXPECT_EQ(test, vgpu_irq_raise(&s, VGPU_IRQ_COMPLETION), VGPU_IRQ_FIRE_INTX);
	KUNIT_EXPECT_TRUE(test, vgpu_irq_intx_pending(&s));
	/* A user mask holds delivery. */
	vgpu_irq_ack(&s, VGPU_IRQ_ALL);
	vgpu_irq_unmask(&s);
	vgpu_irq_mask(&s);
	KUNIT_EXPECT_EQ(test, vgpu_irq_raise(&s, VGPU_IRQ_COMPLETION), VGPU_IRQ_FIRE_NONE);
	KUNIT_EXPECT_EQ(test, vgpu_irq_unmask(&s), VGPU_IRQ_FIRE_INTX);
	/* Unknown cause bits are not latched. */
	vgpu_irq_ack(&s, VGPU_IRQ_ALL);
	vgpu_irq_unmask(&s);
	KUNIT_EXPECT_EQ(test, vgpu_irq_raise(&s, 0x80000000), VGPU_IRQ_FIRE_NONE);
	KUNIT_EXPECT_EQ(test, s.status, 0u);
}

static void irq_intx_disable(struct kunit *test)
{
	struct vgpu_irq s = {};

	vgpu_irq_reset(&s);
	vgpu_irq_set_mode(&s, VGPU_IRQ_MODE_INTX);
	/* uio_pci_generic: the handler sets INTX_DISABLE... */
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_disabled(&s, true), VGPU_IRQ_FIRE_NONE);
	KUNIT_EXPECT_EQ(test, vgpu_irq_raise(&s, VGPU_IRQ_COMPLETION), VGPU_IRQ_FIRE_NONE);
	/* ...STATUS.INTERRUPT still shows the condition... */
	KUNIT_EXPECT_TRUE(test, vgpu_irq_intx_pending(&s));
	KUNIT_EXPECT_EQ(test, vgpu_irq_unmask(&s), VGPU_IRQ_FIRE_NONE);
	/* ...and re-enabling delivers what is still pending. */
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_disabled(&s, false), VGPU_IRQ_FIRE_INTX);
	vgpu_irq_ack(&s, VGPU_IRQ_COMPLETION);
	vgpu_irq_unmask(&s);
	vgpu_irq_set_disabled(&s, true);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_disabled(&s, false), VGPU_IRQ_FIRE_NONE);
}

static void irq_msi(struct kunit *test)
{
	struct vgpu_irq s = {};

	vgpu_irq_reset(&s);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_mode(&s, VGPU_IRQ_MODE_MSI), VGPU_IRQ_FIRE_NONE);
	KUNIT_EXPECT_EQ(test, vgpu_irq_raise(&s, VGPU_IRQ_COMPLETION), VGPU_IRQ_FIRE_MSI);
	/* Every raise is a message; INTX_DISABLE does not apply to MSI. */
	vgpu_irq_set_disabled(&s, true);
	KUNIT_EXPECT_EQ(test, vgpu_irq_raise(&s, VGPU_IRQ_COMPLETION), VGPU_IRQ_FIRE_MSI);
	KUNIT_EXPECT_FALSE(test, vgpu_irq_intx_pending(&s));
	KUNIT_EXPECT_EQ(test, vgpu_irq_raise(&s, 0), VGPU_IRQ_FIRE_NONE);
	/* Back to no trigger: nothing fires, the condition stays latched. */
	vgpu_irq_set_mode(&s, VGPU_IRQ_MODE_NONE);
	KUNIT_EXPECT_EQ(test, vgpu_irq_raise(&s, VGPU_IRQ_STATUS_CHANGE), VGPU_IRQ_FIRE_NONE);
	KUNIT_EXPECT_EQ(test, s.status, VGPU_IRQ_ALL);
	vgpu_irq_reset(&s);
	KUNIT_EXPECT_EQ(test, s.status, 0u);
}

/* What vfio-pci's SET_IRQS takes, beyond vfio_set_irqs_validate_and_prepare(). */
static void irq_set_check(struct kunit *test)
{
	const u32 intx = VFIO_PCI_INTX_IRQ_INDEX, msi = VFIO_PCI_MSI_IRQ_INDEX;
	const u32 req = VFIO_PCI_REQ_IRQ_INDEX;
	const u32 none = VFIO_IRQ_SET_DATA_NONE, boolean = VFIO_IRQ_SET_DATA_BOOL;
	const u32 efd = VFIO_IRQ_SET_DATA_EVENTFD;
	const u32 mask = VFIO_IRQ_SET_ACTION_MASK, unmask = VFIO_IRQ_SET_ACTION_UNMASK;
	const u32 trig = VFIO_IRQ_SET_ACTION_TRIGGER;

	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, efd | trig, 1), 0);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, none | trig, 0), 0);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, none | mask, 1), 0);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, boolean | unmask, 1), 0);
	/* QEMU's resample path under KVM: unmask by eventfd. */
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, efd | unmask, 1), 0);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, efd | mask, 1), -ENOTTY);
	/* Mask and unmask name the one vector. */
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, none | mask, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, none | unmask, 0), -EINVAL);
	/* Exactly one action: none, or several, is malformed (was: unmask). */
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, none, 1), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, none | mask | unmask, 1), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, efd | trig | unmask, 1), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, efd | boolean | trig, 1), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(intx, BIT(9) | none | trig, 1), -EINVAL);
	/* MSI and REQ: triggers only. */
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(msi, efd | trig, 1), 0);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(msi, none | mask, 1), -ENOTTY);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(msi, efd | unmask, 1), -ENOTTY);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(req, efd | trig, 1), 0);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(req, none | unmask, 1), -ENOTTY);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(VFIO_PCI_ERR_IRQ_INDEX, efd | trig, 1), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_irq_set_check(99, efd | trig, 1), -EINVAL);
}

/* ---- event queue ---- */

static struct vgpu_evq *evq_new(struct kunit *test)
{
	struct vgpu_evq *q = kunit_kzalloc(test, sizeof(*q), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, q);
	vgpu_evq_init(q);
	return q;
}

/* Pop one event and check its type and instance; returns its data. */
static u64 evq_expect(struct kunit *test, struct vgpu_evq *q, u32 type, u32 instance)
{
	struct vgpu_kmod_event e = { .type = 0xdead };

	KUNIT_EXPECT_TRUE(test, vgpu_evq_pop(q, &e));
	KUNIT_EXPECT_EQ(test, e.type, type);
	KUNIT_EXPECT_EQ(test, e.instance, instance);
	KUNIT_EXPECT_EQ(test, e.reserved, 0ull);
	return e.data;
}

static void evq_basics(struct kunit *test)
{
	struct vgpu_evq *q = evq_new(test);
	struct vgpu_kmod_event e;

	KUNIT_EXPECT_FALSE(test, vgpu_evq_ready(q));
	KUNIT_EXPECT_FALSE(test, vgpu_evq_pop(q, &e));
	KUNIT_EXPECT_TRUE(test, vgpu_evq_post(q, VGPU_KMOD_EV_CREATED, 7));
	KUNIT_EXPECT_TRUE(test, vgpu_evq_post(q, VGPU_KMOD_EV_OPENED, 7));
	KUNIT_EXPECT_TRUE(test, vgpu_evq_ready(q));
	KUNIT_ASSERT_TRUE(test, vgpu_evq_pop(q, &e));
	KUNIT_EXPECT_EQ(test, e.type, (u32)VGPU_KMOD_EV_CREATED);
	KUNIT_EXPECT_EQ(test, e.instance, 7u);
	KUNIT_EXPECT_EQ(test, e.seq, 1ull);
	KUNIT_ASSERT_TRUE(test, vgpu_evq_pop(q, &e));
	KUNIT_EXPECT_EQ(test, e.type, (u32)VGPU_KMOD_EV_OPENED);
	KUNIT_EXPECT_EQ(test, e.seq, 2ull);
	KUNIT_EXPECT_FALSE(test, vgpu_evq_ready(q));
	KUNIT_EXPECT_FALSE(test, vgpu_evq_pop(q, &e));
	/* Not postable: no such instance, DOORBELL (see below), OVERFLOW, junk. */
	KUNIT_EXPECT_FALSE(test, vgpu_evq_post(q, VGPU_KMOD_EV_CREATED, VGPU_EVQ_INSTANCES));
	KUNIT_EXPECT_FALSE(test, vgpu_evq_post(q, VGPU_KMOD_EV_CREATED, U32_MAX));
	KUNIT_EXPECT_FALSE(test, vgpu_evq_post(q, VGPU_KMOD_EV_DOORBELL, 1));
	KUNIT_EXPECT_FALSE(test, vgpu_evq_post(q, VGPU_KMOD_EV_OVERFLOW, 1));
	KUNIT_EXPECT_FALSE(test, vgpu_evq_post(q, 0, 1));
	KUNIT_EXPECT_FALSE(test, vgpu_evq_post(q, 99, 1));
	KUNIT_EXPECT_FALSE(test, vgpu_evq_ready(q));
}

/*
 * One guest resetting (or opening and closing) its device without end must
 * not push another instance's events out, nor make the executor resync: the
 * old shared 1024-event queue overflowed here and the executor's recovery
 * stopped serving every instance.
 */
static void evq_flood(struct kunit *test)
{
	struct vgpu_evq *q = evq_new(test);
	struct vgpu_kmod_event e;
	u32 i, other = 0;

	vgpu_evq_post(q, VGPU_KMOD_EV_OPENED, 2);
	for (i = 0; i < 100000; i++) {
		vgpu_evq_post(q, VGPU_KMOD_EV_RESET, 3);
		vgpu_evq_post(q, i & 1 ? VGPU_KMOD_EV_OPENED : VGPU_KMOD_EV_CLOSED, 3);
		vgpu_evq_doorbell(q, 3, i % 70);
		if (i == 50000)
			vgpu_evq_post(q, VGPU_KMOD_EV_CLOSED, 4);
		KUNIT_ASSERT_LE(test, q->tail - q->head, 3u);
	}
	/* Instance 2's event and 4's are there, each within a few reads. */
	for (i = 0; i < 8 && vgpu_evq_pop(q, &e); i++) {
		KUNIT_EXPECT_NE(test, e.type, (u32)VGPU_KMOD_EV_OVERFLOW);
		if (e.instance != 3)
			other++;
	}
	KUNIT_EXPECT_EQ(test, other, 2u);
	/* What 3 has left: CLOSED, RESET, OPENED, 64 doorbells, no more. */
	for (i = 0; vgpu_evq_pop(q, &e); i++)
		KUNIT_EXPECT_EQ(test, e.instance, 3u);
	KUNIT_EXPECT_EQ(test, i + 8, 3u + 64u + 2u);

	/* Turns: one event per instance per round, while 1 keeps posting. */
	vgpu_evq_post(q, VGPU_KMOD_EV_CLOSED, 1);
	vgpu_evq_post(q, VGPU_KMOD_EV_RESET, 1);
	vgpu_evq_post(q, VGPU_KMOD_EV_CREATED, 2);
	vgpu_evq_post(q, VGPU_KMOD_EV_OPENED, 2);
	evq_expect(test, q, VGPU_KMOD_EV_CLOSED, 1);
	vgpu_evq_post(q, VGPU_KMOD_EV_CLOSED, 1);
	evq_expect(test, q, VGPU_KMOD_EV_CREATED, 2);
	evq_expect(test, q, VGPU_KMOD_EV_CLOSED, 1);
	evq_expect(test, q, VGPU_KMOD_EV_OPENED, 2);
	evq_expect(test, q, VGPU_KMOD_EV_RESET, 1);
	KUNIT_EXPECT_FALSE(test, vgpu_evq_ready(q));
}

/* One instance's pending events come out in a fixed order. */
static void evq_order(struct kunit *test)
{
	struct vgpu_evq *q = evq_new(test);

	vgpu_evq_doorbell(q, 5, 9);
	vgpu_evq_post(q, VGPU_KMOD_EV_OPENED, 5);
	vgpu_evq_post(q, VGPU_KMOD_EV_RESET, 5);
	vgpu_evq_post(q, VGPU_KMOD_EV_CLOSED, 5);
	vgpu_evq_post(q, VGPU_KMOD_EV_CREATED, 5);
	KUNIT_EXPECT_FALSE(test, vgpu_evq_post(q, VGPU_KMOD_EV_OPENED, 5));
	evq_expect(test, q, VGPU_KMOD_EV_CREATED, 5);
	evq_expect(test, q, VGPU_KMOD_EV_CLOSED, 5);
	evq_expect(test, q, VGPU_KMOD_EV_RESET, 5);
	evq_expect(test, q, VGPU_KMOD_EV_OPENED, 5);
	KUNIT_EXPECT_EQ(test, evq_expect(test, q, VGPU_KMOD_EV_DOORBELL, 5), 9ull);
	KUNIT_EXPECT_FALSE(test, vgpu_evq_ready(q));
	/* Taken: the same event can be posted again. */
	KUNIT_EXPECT_TRUE(test, vgpu_evq_post(q, VGPU_KMOD_EV_OPENED, 5));
}

/* REMOVED ends everything of its instance, and a reused id starts after it. */
static void evq_removed(struct kunit *test)
{
	struct vgpu_evq *q = evq_new(test);

	vgpu_evq_post(q, VGPU_KMOD_EV_CREATED, 9);
	vgpu_evq_post(q, VGPU_KMOD_EV_OPENED, 9);
	vgpu_evq_doorbell(q, 9, 3);
	KUNIT_EXPECT_TRUE(test, vgpu_evq_post(q, VGPU_KMOD_EV_REMOVED, 9));
	KUNIT_EXPECT_FALSE(test, vgpu_evq_post(q, VGPU_KMOD_EV_REMOVED, 9));
	evq_expect(test, q, VGPU_KMOD_EV_REMOVED, 9);
	KUNIT_EXPECT_FALSE(test, vgpu_evq_ready(q));

	/* The id is reused before the executor read the REMOVED. */
	vgpu_evq_post(q, VGPU_KMOD_EV_OPENED, 9);
	vgpu_evq_post(q, VGPU_KMOD_EV_REMOVED, 9);
	vgpu_evq_post(q, VGPU_KMOD_EV_CREATED, 9);
	vgpu_evq_post(q, VGPU_KMOD_EV_OPENED, 9);
	evq_expect(test, q, VGPU_KMOD_EV_REMOVED, 9);
	evq_expect(test, q, VGPU_KMOD_EV_CREATED, 9);
	evq_expect(test, q, VGPU_KMOD_EV_OPENED, 9);
	KUNIT_EXPECT_FALSE(test, vgpu_evq_ready(q));
}

static void evq_doorbells(struct kunit *test)
{
	struct vgpu_evq *q = evq_new(test);
	u32 i;

	KUNIT_EXPECT_EQ(test, vgpu_evq_doorbell(q, 1, 3), VGPU_DB_QUEUED);
	KUNIT_EXPECT_EQ(test, vgpu_evq_doorbell(q, 1, 3), VGPU_DB_COALESCED);
	KUNIT_EXPECT_EQ(test, vgpu_evq_doorbell(q, 1, 63), VGPU_DB_QUEUED);
	KUNIT_EXPECT_EQ(test, vgpu_evq_doorbell(q, 1, 64), VGPU_DB_DROPPED);
	KUNIT_EXPECT_EQ(test, vgpu_evq_doorbell(q, 1, U32_MAX), VGPU_DB_DROPPED);
	KUNIT_EXPECT_EQ(test, vgpu_evq_doorbell(q, VGPU_EVQ_INSTANCES, 0), VGPU_DB_DROPPED);
	KUNIT_EXPECT_EQ(test, q->slot[1].doorbells, BIT_ULL(3) | BIT_ULL(63));
	KUNIT_EXPECT_EQ(test, evq_expect(test, q, VGPU_KMOD_EV_DOORBELL, 1), 3ull);
	/* Taken: the next ring queues again. */
	KUNIT_EXPECT_EQ(test, vgpu_evq_doorbell(q, 1, 3), VGPU_DB_QUEUED);
	KUNIT_EXPECT_EQ(test, evq_expect(test, q, VGPU_KMOD_EV_DOORBELL, 1), 3ull);
	KUNIT_EXPECT_EQ(test, evq_expect(test, q, VGPU_KMOD_EV_DOORBELL, 1), 63ull);
	KUNIT_EXPECT_FALSE(test, vgpu_evq_ready(q));

	/* Every instance ringing every channel: all of it kept, nothing more. */
	for (i = 0; i < 3 * VGPU_EVQ_INSTANCES * VGPU_KMOD_MAX_CHANNELS; i++)
		vgpu_evq_doorbell(q, i % VGPU_EVQ_INSTANCES, i / VGPU_EVQ_INSTANCES % 80);
	KUNIT_EXPECT_EQ(test, q->tail - q->head, (u32)VGPU_EVQ_INSTANCES);
	for (i = 0; vgpu_evq_ready(q); i++)
		evq_expect(test, q, VGPU_KMOD_EV_DOORBELL, i % VGPU_EVQ_INSTANCES);
	KUNIT_EXPECT_EQ(test, i, (u32)(VGPU_EVQ_INSTANCES * VGPU_KMOD_MAX_CHANNELS));
}

/* ---- region table ---- */

static void region_decode(struct kunit *test)
{
	struct vgpu_regions t;
	u64 cfg = VGPU_REGION_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX);
	u32 idx = 99, i;
	u64 off = 99;

	vgpu_regions_init(&t, SZ_16M);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, cfg, 256, &idx, &off), 0);
	KUNIT_EXPECT_EQ(test, idx, (u32)VFIO_PCI_CONFIG_REGION_INDEX);
	KUNIT_EXPECT_EQ(test, off, 0ull);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, VGPU_REGION_OFFSET(7) + 255, 2,
						 &idx, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, 0x40, 4, &idx, &off), 0);
	KUNIT_EXPECT_EQ(test, idx, 0u);
	KUNIT_EXPECT_EQ(test, off, 0x40ull);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, 0xffc, 4, &idx, &off), 0);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, 0xffe, 4, &idx, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, 0x1000, 4, &idx, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, VGPU_REGION_OFFSET(1) + SZ_16M - 8, 8,
						 &idx, &off), 0);
	KUNIT_EXPECT_EQ(test, idx, 1u);
	KUNIT_EXPECT_EQ(test, off, (u64)SZ_16M - 8);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, VGPU_REGION_OFFSET(1) + SZ_16M - 8, 9,
						 &idx, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, VGPU_REGION_OFFSET(1) + 8, SIZE_MAX,
						 &idx, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, VGPU_REGION_OFFSET(1), 0, &idx, &off),
			-EINVAL);
	/* BAR2..5, ROM, VGA: size 0; beyond the table: no region */
	for (i = 2; i < VFIO_PCI_NUM_REGIONS; i++)
		if (i != VFIO_PCI_CONFIG_REGION_INDEX)
			KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, VGPU_REGION_OFFSET(i), 1,
								 &idx, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, VGPU_REGION_OFFSET(VFIO_PCI_NUM_REGIONS),
						 1, &idx, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_decode(&t, U64_MAX, 1, &idx, &off), -EINVAL);
	KUNIT_EXPECT_TRUE(test, t.r[1].flags & VFIO_REGION_INFO_FLAG_MMAP);
	KUNIT_EXPECT_FALSE(test, t.r[0].flags & VFIO_REGION_INFO_FLAG_MMAP);
}

static void region_mmap(struct kunit *test)
{
	struct vgpu_regions t;
	u64 bar1 = VGPU_REGION_OFFSET(1) >> PAGE_SHIFT;
	u64 off = 99;

	vgpu_regions_init(&t, SZ_16M);
	KUNIT_EXPECT_EQ(test, vgpu_region_mmap_check(&t, bar1, SZ_16M, &off), 1);
	KUNIT_EXPECT_EQ(test, off, 0ull);
	KUNIT_EXPECT_EQ(test, vgpu_region_mmap_check(&t, bar1 + 1, SZ_16M - PAGE_SIZE, &off), 1);
	KUNIT_EXPECT_EQ(test, off, (u64)PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, vgpu_region_mmap_check(&t, bar1 + 1, SZ_16M, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_mmap_check(&t, bar1, SZ_32M, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_mmap_check(&t, 0, PAGE_SIZE, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_mmap_check(&t, VGPU_REGION_OFFSET(7) >> PAGE_SHIFT,
						     PAGE_SIZE, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_mmap_check(&t, U64_MAX, PAGE_SIZE, &off), -EINVAL);
	KUNIT_EXPECT_EQ(test, vgpu_region_mmap_check(&t, bar1, 0, &off), -EINVAL);
}

static struct kunit_case vgpu_cfg_cases[] = {
	KUNIT_CASE(cfg_identity),
	KUNIT_CASE(cfg_bar_sizing),
	KUNIT_CASE(cfg_command_status_msi),
	KUNIT_CASE(cfg_bounds),
	{}
};

static struct kunit_case vgpu_regs_cases[] = {
	KUNIT_CASE(regs_read),
	KUNIT_CASE(regs_write),
	{}
};

static struct kunit_case vgpu_irq_cases[] = {
	KUNIT_CASE(irq_intx_automask),
	KUNIT_CASE(irq_intx_disable),
	KUNIT_CASE(irq_msi),
	KUNIT_CASE(irq_set_check),
	{}
};

static struct kunit_case vgpu_evq_cases[] = {
	KUNIT_CASE(evq_basics),
	KUNIT_CASE(evq_flood),
	KUNIT_CASE(evq_order),
	KUNIT_CASE(evq_removed),
	KUNIT_CASE(evq_doorbells),
	{}
};

static struct kunit_case vgpu_region_cases[] = {
	KUNIT_CASE(region_decode),
	KUNIT_CASE(region_mmap),
	{}
};

static struct kunit_suite vgpu_cfg_suite = {
	.name = "vgpu_stub_config",
	.test_cases = vgpu_cfg_cases,
};

static struct kunit_suite vgpu_regs_suite = {
	.name = "vgpu_stub_bar0",
	.test_cases = vgpu_regs_cases,
};

static struct kunit_suite vgpu_irq_suite = {
	.name = "vgpu_stub_irq",
	.test_cases = vgpu_irq_cases,
};

static struct kunit_suite vgpu_evq_suite = {
	.name = "vgpu_stub_events",
	.test_cases = vgpu_evq_cases,
};

static struct kunit_suite vgpu_region_suite = {
	.name = "vgpu_stub_regions",
	.test_cases = vgpu_region_cases,
};

kunit_test_suites(&vgpu_cfg_suite, &vgpu_regs_suite, &vgpu_irq_suite,
		  &vgpu_evq_suite, &vgpu_region_suite);

MODULE_LICENSE("GPL");
