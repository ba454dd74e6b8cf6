// SPDX-License-Identifier: GPL-2.0
/*
 * VGPU-STUB interrupt state machine.
 *
 * The device's interrupt condition is IRQ_STATUS != 0.  In MSI mode every
 * raise sends one message.  In INTx mode the line is level-triggered and
 * delivered as VFIO does for a real device: a delivery automasks, and
 * VFIO_IRQ_SET_ACTION_UNMASK re-delivers if the condition still holds.  PCI
 * 2.3 COMMAND.INTX_DISABLE holds delivery back without losing the condition,
 * and STATUS.INTERRUPT reports it, which is what uio_pci_generic relies on.
 */
#include <linux/bitops.h>
#include <linux/errno.h>

#include "vgpu_logic.h"

void vgpu_irq_reset(struct vgpu_irq *s)
{
	s->status = 0;
	s->intx_masked = false;
	s->intx_disabled = false;
}

bool vgpu_irq_intx_pending(const struct vgpu_irq *s)
{
	return s->status && s->mode != VGPU_IRQ_MODE_MSI;
}

/* Deliver the INTx level if nothing holds it back; automask on delivery. */
static int intx_try(struct vgpu_irq *s)
{
	if (s->mode != VGPU_IRQ_MODE_INTX || !s->status || s->intx_masked ||
	    s->intx_disabled)
		return VGPU_IRQ_FIRE_NONE;
	s->intx_masked = true;
	return VGPU_IRQ_FIRE_INTX;
}

int vgpu_irq_raise(struct vgpu_irq *s, u32 causes)
{
	causes &= VGPU_IRQ_ALL;
	if (!causes)
		return VGPU_IRQ_FIRE_NONE;
	s->status |= causes;
	if (s->mode == VGPU_IRQ_MODE_MSI)
		return VGPU_IRQ_FIRE_MSI;
	return intx_try(s);
}

void vgpu_irq_ack(struct vgpu_irq *s, u32 bits)
{
	s->status &= ~bits;
}

int vgpu_irq_set_mode(struct vgpu_irq *s, enum vgpu_irq_mode mode)
{
	s->mode = mode;
	s->intx_masked = false;
	/* A condition pending when INTx gets its trigger is delivered now. */
	return intx_try(s);
}

void vgpu_irq_mask(struct vgpu_irq *s)
{
	s->intx_masked = true;
}

int vgpu_irq_unmask(struct vgpu_irq *s)
{
	s->intx_masked = false;
	return intx_try(s);
}

int vgpu_irq_set_disabled(struct vgpu_irq *s, bool disabled)
{
	s->intx_disabled = disabled;
	return intx_try(s);
}

/*
 * What vfio-pci's vfio_pci_set_irqs_ioctl() accepts of a VFIO_DEVICE_SET_IRQS
 * header that vfio_set_irqs_validate_and_prepare() passed (which checks the
 * data type, start and count, but not the action bits): exactly one action;
 * INTx takes TRIGGER, MASK and UNMASK (MASK not by eventfd), the others
 * TRIGGER only; MASK and UNMASK name the one vector (count 1).  0, -EINVAL
 * for a malformed header, -ENOTTY for an action the index does not have.
 */
int vgpu_irq_set_check(u32 index, u32 flags, u32 count)
{
	u32 action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	u32 dtype = flags & VFIO_IRQ_SET_DATA_TYPE_MASK;

	if (hweight32(action) != 1 || hweight32(dtype) != 1 ||
	    (flags & ~(VFIO_IRQ_SET_ACTION_TYPE_MASK | VFIO_IRQ_SET_DATA_TYPE_MASK)))
		return -EINVAL;
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
			return 0;
		if (count != 1)
			return -EINVAL;
		if (action == VFIO_IRQ_SET_ACTION_MASK &&
		    dtype == VFIO_IRQ_SET_DATA_EVENTFD)
			return -ENOTTY;
		return 0;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_REQ_IRQ_INDEX:
		return action == VFIO_IRQ_SET_ACTION_TRIGGER ? 0 : -ENOTTY;
	default:
		return -EINVAL;
	}
}
