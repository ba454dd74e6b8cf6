// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu_stub: an mdev parent driver creating one VGPU-STUB PCI function per VM.
 *
 * The device is small and boring: config space, a trapped BAR0 register
 * page, a BAR1 of kernel pages shared with the host executor, INTx/MSI/REQ
 * interrupts and reset.  Doorbells and lifecycle events go to the executor
 * through /dev/vgpu-stub (vgpu_chardev.c); it answers by writing BAR1 and
 * raising interrupts.  The device model itself lives in vgpu_cfg.c,
 * vgpu_regs.c, vgpu_irq.c, vgpu_evq.c and vgpu_region.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/device.h>
#include <linux/idr.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>
#include <linux/uuid.h>
#include <linux/vmalloc.h>

#include "vgpu_stub.h"

#ifdef VGPU_EVENTFD_SIGNAL_NO_COUNT
#define vgpu_eventfd_signal(ctx) eventfd_signal(ctx)
#else
#define vgpu_eventfd_signal(ctx) eventfd_signal(ctx, 1)
#endif

static unsigned long fb_total_mib = 81920;
module_param(fb_total_mib, ulong, 0444);
MODULE_PARM_DESC(fb_total_mib, "Device memory shared out among instances, MiB (default 81920)");

static char *parent_pci;
module_param(parent_pci, charp, 0444);
MODULE_PARM_DESC(parent_pci,
		 "Attach the types to this PCI device (DDDD:BB:DD.F, the physical GPU) instead of a virtual parent");

#define VGPU_TYPE(name, pretty, mib, bar1)				\
	{ .type = { .sysfs_name = name, .pretty_name = pretty },	\
	  .fb_mib = mib, .bar1_size = bar1 }

static struct vgpu_type vgpu_types[] = {
	VGPU_TYPE("4g", "VGPU-STUB-4G", 4096, SZ_16M),
	VGPU_TYPE("8g", "VGPU-STUB-8G", 8192, SZ_32M),
	VGPU_TYPE("16g", "VGPU-STUB-16G", 16384, SZ_64M),
	VGPU_TYPE("40g", "VGPU-STUB-40G", 40960, SZ_128M),
	VGPU_TYPE("full", "VGPU-STUB-FULL", 0, SZ_256M),
};

static struct mdev_type *vgpu_mdev_types[] = {
	&vgpu_types[0].type, &vgpu_types[1].type, &vgpu_types[2].type,
	&vgpu_types[3].type, &vgpu_types[4].type,
};

static struct {
	struct mutex lock;	/* instances, budget */
	struct idr idr;
	u64 fb_used_mib;
	struct device dev;	/* the virtual parent */
	bool dev_registered;
	struct pci_dev *pdev;	/* or the physical GPU */
	struct mdev_parent parent;
} vg = {
	.lock = __MUTEX_INITIALIZER(vg.lock),
	.idr = IDR_INIT(vg.idr),
};

static struct class vgpu_class = {
	.name = "vgpu_stub",
};

u64 vgpu_type_fb_mib(const struct vgpu_type *t)
{
	return t->fb_mib ? t->fb_mib : fb_total_mib;
}

/* ---- BAR1 memory ---- */

static struct vgpu_bar1 *vgpu_bar1_alloc(u64 size)
{
	struct vgpu_bar1 *b = kzalloc(sizeof(*b), GFP_KERNEL);

	if (!b)
		return NULL;
	b->vaddr = vmalloc_user(size);
	if (!b->vaddr) {
		kfree(b);
		return NULL;
	}
	b->size = size;
	kref_init(&b->ref);
	return b;
}

static void vgpu_bar1_free(struct kref *ref)
{
	struct vgpu_bar1 *b = container_of(ref, struct vgpu_bar1, ref);

	vfree(b->vaddr);
	kfree(b);
}

void vgpu_bar1_put(struct vgpu_bar1 *b)
{
	kref_put(&b->ref, vgpu_bar1_free);
}

/* The instance's current BAR1, held; for the executor, who may race an open. */
struct vgpu_bar1 *vgpu_inst_bar1_get(struct vgpu_inst *inst)
{
	struct vgpu_bar1 *b;

	spin_lock_irq(&inst->lock);
	b = inst->bar1;
	kref_get(&b->ref);
	inst->bar1_fresh = false;
	spin_unlock_irq(&inst->lock);
	return b;
}

/* Every mapping holds the pages and the module (its vm_ops live here). */
static void vgpu_vma_open(struct vm_area_struct *vma)
{
	struct vgpu_bar1 *b = vma->vm_private_data;

	kref_get(&b->ref);
	__module_get(THIS_MODULE);
}

static void vgpu_vma_close(struct vm_area_struct *vma)
{
	vgpu_bar1_put(vma->vm_private_data);
	module_put(THIS_MODULE);
}

static const struct vm_operations_struct vgpu_vm_ops = {
	.open = vgpu_vma_open,
	.close = vgpu_vma_close,
};

int vgpu_bar1_mmap(struct vgpu_bar1 *b, struct vm_area_struct *vma, u64 off)
{
	u64 len = vma->vm_end - vma->vm_start;
	int ret;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (off % PAGE_SIZE || off >= b->size || len > b->size - off)
		return -EINVAL;
	ret = remap_vmalloc_range(vma, b->vaddr, off >> PAGE_SHIFT);
	if (ret)
		return ret;
	vma->vm_private_data = b;
	vma->vm_ops = &vgpu_vm_ops;
	vgpu_vma_open(vma);
	return 0;
}

/* ---- interrupts ---- */

/* Carry out what the state machine decided; inst->lock held. */
static void vgpu_irq_apply(struct vgpu_inst *inst, int fire)
{
	if (fire == VGPU_IRQ_FIRE_MSI && inst->msi_trigger)
		vgpu_eventfd_signal(inst->msi_trigger);
	else if (fire == VGPU_IRQ_FIRE_INTX && inst->intx_trigger)
		vgpu_eventfd_signal(inst->intx_trigger);
	vgpu_cfg_set_intx_status(&inst->cfg, vgpu_irq_intx_pending(&inst->irq));
}

void vgpu_inst_raise(struct vgpu_inst *inst, u32 causes)
{
	unsigned long flags;

	spin_lock_irqsave(&inst->lock, flags);
	vgpu_irq_apply(inst, vgpu_irq_raise(&inst->irq, causes));
	spin_unlock_irqrestore(&inst->lock, flags);
}

void vgpu_inst_set_status(struct vgpu_inst *inst, u32 value, u32 mask)
{
	unsigned long flags;
	u32 old;

	spin_lock_irqsave(&inst->lock, flags);
	old = inst->regs.status;
	inst->regs.status = (old & ~mask) | (value & mask);
	if (inst->regs.status != old)
		vgpu_irq_apply(inst, vgpu_irq_raise(&inst->irq, VGPU_IRQ_STATUS_CHANGE));
	spin_unlock_irqrestore(&inst->lock, flags);
}

static void vgpu_update_mode(struct vgpu_inst *inst)
{
	enum vgpu_irq_mode mode = VGPU_IRQ_MODE_NONE;

	if (inst->msi_trigger)
		mode = VGPU_IRQ_MODE_MSI;
	else if (inst->intx_trigger)
		mode = VGPU_IRQ_MODE_INTX;
	if (mode != inst->irq.mode)
		vgpu_irq_apply(inst, vgpu_irq_set_mode(&inst->irq, mode));
}

/* ---- region access ---- */

static ssize_t vgpu_cfg_rw(struct vgpu_inst *inst, char __user *ubuf,
			   size_t count, u64 off, bool write)
{
	u8 buf[VGPU_CFG_SIZE];
	u32 changed = 0;
	int ret;

	if (write && copy_from_user(buf, ubuf, count))
		return -EFAULT;
	spin_lock_irq(&inst->lock);
	if (write) {
		ret = vgpu_cfg_write(&inst->cfg, off, buf, count, &changed);
		if (!ret && (changed & VGPU_CFG_CHG_COMMAND)) {
			bool dis = vgpu_cfg_command(&inst->cfg) & PCI_COMMAND_INTX_DISABLE;

			vgpu_irq_apply(inst, vgpu_irq_set_disabled(&inst->irq, dis));
		}
	} else {
		ret = vgpu_cfg_read(&inst->cfg, off, buf, count);
	}
	spin_unlock_irq(&inst->lock);
	if (ret)
		return ret;
	if (!write && copy_to_user(ubuf, buf, count))
		return -EFAULT;
	return count;
}

static void vgpu_doorbell(struct vgpu_inst *inst, u32 channel)
{
	struct eventfd_ctx *ctx = NULL;

	if (channel >= VGPU_KMOD_MAX_CHANNELS)
		return;
	/* The guest picks the channel: no speculative read past the table. */
	channel = array_index_nospec(channel, VGPU_KMOD_MAX_CHANNELS);
	spin_lock_irq(&inst->lock);
	ctx = inst->doorbell[channel];
	if (ctx)
		vgpu_eventfd_signal(ctx);
	spin_unlock_irq(&inst->lock);
	if (!ctx)
		vgpu_post_doorbell(inst, channel);
}

static ssize_t vgpu_bar0_rw(struct vgpu_inst *inst, char __user *ubuf,
			    size_t count, u64 off, bool write)
{
	enum vgpu_reg_action act;
	__le32 val = 0;
	u32 arg = 0;

	if (write) {
		/* Other widths are ignored, as on the real thing. */
		if (count != sizeof(val))
			return count;
		if (copy_from_user(&val, ubuf, sizeof(val)))
			return -EFAULT;
		act = vgpu_regs_write(off, count, le32_to_cpu(val), &arg);
		if (act == VGPU_ACT_DOORBELL) {
			vgpu_doorbell(inst, arg);
		} else if (act == VGPU_ACT_IRQ_ACK) {
			spin_lock_irq(&inst->lock);
			vgpu_irq_ack(&inst->irq, arg);
			vgpu_irq_apply(inst, VGPU_IRQ_FIRE_NONE);
			spin_unlock_irq(&inst->lock);
		}
		return count;
	}

	if (count == sizeof(val)) {
		spin_lock_irq(&inst->lock);
		val = cpu_to_le32(vgpu_regs_read(&inst->regs, &inst->irq, off, count));
		spin_unlock_irq(&inst->lock);
		if (copy_to_user(ubuf, &val, sizeof(val)))
			return -EFAULT;
		return count;
	}
	/* Other widths read as zero. */
	if (clear_user(ubuf, count))
		return -EFAULT;
	return count;
}

static ssize_t vgpu_bar1_rw(struct vgpu_inst *inst, char __user *ubuf,
			    size_t count, u64 off, bool write)
{
	u8 *p = (u8 *)inst->bar1->vaddr + off;

	if (write ? copy_from_user(p, ubuf, count) : copy_to_user(ubuf, p, count))
		return -EFAULT;
	return count;
}

static ssize_t vgpu_rw(struct vgpu_inst *inst, char __user *ubuf, size_t count,
		       loff_t *ppos, bool write)
{
	u32 index;
	u64 off;
	ssize_t ret;

	if (*ppos < 0)
		return -EINVAL;
	ret = vgpu_region_decode(&inst->regions, *ppos, count, &index, &off);
	if (ret)
		return ret;
	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		ret = vgpu_cfg_rw(inst, ubuf, count, off, write);
		break;
	case VFIO_PCI_BAR0_REGION_INDEX:
		ret = vgpu_bar0_rw(inst, ubuf, count, off, write);
		break;
	case VFIO_PCI_BAR1_REGION_INDEX:
		ret = vgpu_bar1_rw(inst, ubuf, count, off, write);
		break;
	default:
		ret = -EINVAL;
	}
	if (ret > 0)
		*ppos += ret;
	return ret;
}

static ssize_t vgpu_read(struct vfio_device *vdev, char __user *buf,
			 size_t count, loff_t *ppos)
{
	return vgpu_rw(container_of(vdev, struct vgpu_inst, vdev), buf, count,
		       ppos, false);
}

static ssize_t vgpu_write(struct vfio_device *vdev, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	return vgpu_rw(container_of(vdev, struct vgpu_inst, vdev),
		       (char __user *)buf, count, ppos, true);
}

static int vgpu_mmap(struct vfio_device *vdev, struct vm_area_struct *vma)
{
	struct vgpu_inst *inst = container_of(vdev, struct vgpu_inst, vdev);
	u64 off;
	int index;

	index = vgpu_region_mmap_check(&inst->regions, vma->vm_pgoff,
				       vma->vm_end - vma->vm_start, &off);
	if (index < 0)
		return index;
	if (index != VFIO_PCI_BAR1_REGION_INDEX)
		return -EINVAL;
	return vgpu_bar1_mmap(inst->bar1, vma, off);
}

/* ---- ioctls ---- */

static int vgpu_region_info(struct vgpu_inst *inst, struct vfio_region_info *info)
{
	u32 i = info->index;

	if (i >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	i = array_index_nospec(i, VFIO_PCI_NUM_REGIONS);
	info->offset = VGPU_REGION_OFFSET(i);
	info->size = inst->regions.r[i].size;
	info->flags = inst->regions.r[i].flags;
	return 0;
}

#ifdef VGPU_HAVE_REGION_INFO_CAPS
static int vgpu_get_region_info_caps(struct vfio_device *vdev,
				     struct vfio_region_info *info,
				     struct vfio_info_cap *caps)
{
	return vgpu_region_info(container_of(vdev, struct vgpu_inst, vdev), info);
}
#endif

static u32 vgpu_irq_count(u32 index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_REQ_IRQ_INDEX:
		return 1;
	default:
		return 0;
	}
}

/* Install or drop a trigger eventfd.  ops_lock held. */
static int vgpu_set_trigger(struct vgpu_inst *inst, struct eventfd_ctx **slot,
			    struct vfio_irq_set *hdr, void *data)
{
	u32 dtype = hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	struct eventfd_ctx *ctx = NULL, *old;

	if (dtype == VFIO_IRQ_SET_DATA_EVENTFD && hdr->count) {
		s32 fd = *(s32 *)data;

		if (fd >= 0) {
			ctx = eventfd_ctx_fdget(fd);
			if (IS_ERR(ctx))
				return PTR_ERR(ctx);
		} else if (fd != -1) {
			return -EINVAL;
		}
	} else if (hdr->count) {
		/* DATA_NONE or DATA_BOOL: loopback-fire the trigger. */
		if (dtype == VFIO_IRQ_SET_DATA_BOOL && !*(u8 *)data)
			return 0;
		spin_lock_irq(&inst->lock);
		if (*slot)
			vgpu_eventfd_signal(*slot);
		spin_unlock_irq(&inst->lock);
		return 0;
	} else if (dtype != VFIO_IRQ_SET_DATA_NONE) {
		return -EINVAL;
	}

	spin_lock_irq(&inst->lock);
	old = *slot;
	*slot = ctx;
	vgpu_update_mode(inst);
	spin_unlock_irq(&inst->lock);
	if (old)
		eventfd_ctx_put(old);
	return 0;
}

/*
 * QEMU's INTx resample eventfd (VFIO_IRQ_SET_ACTION_UNMASK by eventfd): with
 * KVM, the guest's EOI signals it from the kernel, so INTx never leaves KVM
 * and QEMU keeps the BAR mmaps on.  Called from the eventfd's wakeup, so it
 * only unmasks; a delivery the unmask allows is signalled from the thread,
 * as vfio-pci does (no eventfd_signal() inside another eventfd's wakeup).
 */
static int vgpu_intx_unmask_handler(void *opaque, void *data)
{
	struct vgpu_inst *inst = opaque;
	unsigned long flags;
	int fire;

	spin_lock_irqsave(&inst->lock, flags);
	fire = vgpu_irq_unmask(&inst->irq);
	vgpu_irq_apply(inst, VGPU_IRQ_FIRE_NONE);
	spin_unlock_irqrestore(&inst->lock, flags);
	return fire == VGPU_IRQ_FIRE_INTX;
}

static void vgpu_intx_unmask_thread(void *opaque, void *data)
{
	struct vgpu_inst *inst = opaque;
	unsigned long flags;

	spin_lock_irqsave(&inst->lock, flags);
	if (inst->irq.mode == VGPU_IRQ_MODE_INTX && inst->intx_trigger)
		vgpu_eventfd_signal(inst->intx_trigger);
	spin_unlock_irqrestore(&inst->lock, flags);
}

/* Install (fd >= 0) or drop (-1) the INTx unmask eventfd.  ops_lock held. */
static int vgpu_set_intx_unmask_fd(struct vgpu_inst *inst, s32 fd)
{
	if (fd < -1)
		return -EINVAL;
	/* Replacing one is allowed: vfio_virqfd_enable() refuses a second. */
	vfio_virqfd_disable(&inst->intx_unmask);
	if (fd == -1)
		return 0;
	return vfio_virqfd_enable(inst, vgpu_intx_unmask_handler,
				  vgpu_intx_unmask_thread, NULL,
				  &inst->intx_unmask, fd);
}

static int vgpu_set_irqs(struct vgpu_inst *inst, struct vfio_irq_set *hdr,
			 void *data)
{
	u32 action = hdr->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	u32 dtype = hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	bool on;
	int ret;

	ret = vgpu_irq_set_check(hdr->index, hdr->flags, hdr->count);
	if (ret)
		return ret;
	switch (hdr->index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER) {
			ret = vgpu_set_trigger(inst, &inst->intx_trigger, hdr, data);
			/* No INTx, no resampling of it (vfio-pci's vfio_intx_disable). */
			if (!ret && !inst->intx_trigger)
				vfio_virqfd_disable(&inst->intx_unmask);
			return ret;
		}
		if (dtype == VFIO_IRQ_SET_DATA_EVENTFD)	/* UNMASK: checked */
			return vgpu_set_intx_unmask_fd(inst, *(s32 *)data);
		on = dtype == VFIO_IRQ_SET_DATA_NONE || *(u8 *)data;
		if (!on)
			return 0;
		spin_lock_irq(&inst->lock);
		if (action == VFIO_IRQ_SET_ACTION_MASK)
			vgpu_irq_mask(&inst->irq);
		else
			vgpu_irq_apply(inst, vgpu_irq_unmask(&inst->irq));
		spin_unlock_irq(&inst->lock);
		return 0;
	case VFIO_PCI_MSI_IRQ_INDEX:
		return vgpu_set_trigger(inst, &inst->msi_trigger, hdr, data);
	case VFIO_PCI_REQ_IRQ_INDEX:
		return vgpu_set_trigger(inst, &inst->req_trigger, hdr, data);
	default:
		return -EINVAL;
	}
}

static void vgpu_reset(struct vgpu_inst *inst)
{
	spin_lock_irq(&inst->lock);
	vgpu_cfg_init(&inst->cfg, inst->regs.bar1_size);
	vgpu_irq_reset(&inst->irq);
	inst->regs.status = 0;
	vgpu_irq_apply(inst, VGPU_IRQ_FIRE_NONE);
	spin_unlock_irq(&inst->lock);
	vgpu_post(VGPU_KMOD_EV_RESET, inst->id);
}

static long vgpu_ioctl(struct vfio_device *vdev, unsigned int cmd,
		       unsigned long arg)
{
	struct vgpu_inst *inst = container_of(vdev, struct vgpu_inst, vdev);
	void __user *uarg = (void __user *)arg;
	unsigned long minsz;
	int ret;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info info;

		minsz = offsetofend(struct vfio_device_info, num_irqs);
		if (copy_from_user(&info, uarg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		info.num_regions = VFIO_PCI_NUM_REGIONS;
		info.num_irqs = VFIO_PCI_NUM_IRQS;
		return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info info;

		minsz = offsetofend(struct vfio_region_info, offset);
		if (copy_from_user(&info, uarg, minsz))
			return -EFAULT;
		if (info.argsz < minsz)
			return -EINVAL;
		ret = vgpu_region_info(inst, &info);
		if (ret)
			return ret;
		return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info info;

		minsz = offsetofend(struct vfio_irq_info, count);
		if (copy_from_user(&info, uarg, minsz))
			return -EFAULT;
		if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
			return -EINVAL;
		info.count = vgpu_irq_count(info.index);
		info.flags = info.count ? VFIO_IRQ_INFO_EVENTFD : 0;
		if (info.index == VFIO_PCI_INTX_IRQ_INDEX)
			info.flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
		else if (info.count)
			info.flags |= VFIO_IRQ_INFO_NORESIZE;
		return copy_to_user(uarg, &info, minsz) ? -EFAULT : 0;
	}
	case VFIO_DEVICE_SET_IRQS: {
		struct vfio_irq_set hdr;
		size_t data_size = 0;
		void *data = NULL;

		minsz = offsetofend(struct vfio_irq_set, count);
		if (copy_from_user(&hdr, uarg, minsz))
			return -EFAULT;
		ret = vfio_set_irqs_validate_and_prepare(&hdr,
							 hdr.index < VFIO_PCI_NUM_IRQS ?
							 vgpu_irq_count(hdr.index) : 0,
							 VFIO_PCI_NUM_IRQS, &data_size);
		if (ret)
			return ret;
		if (data_size) {
			data = memdup_user(uarg + minsz, data_size);
			if (IS_ERR(data))
				return PTR_ERR(data);
		}
		mutex_lock(&inst->ops_lock);
		ret = vgpu_set_irqs(inst, &hdr, data);
		mutex_unlock(&inst->ops_lock);
		kfree(data);
		return ret;
	}
	case VFIO_DEVICE_RESET:
		mutex_lock(&inst->ops_lock);
		vgpu_reset(inst);
		mutex_unlock(&inst->ops_lock);
		return 0;
	}
	return -ENOTTY;
}

/* ---- lifecycle ---- */

/*
 * A new session, perhaps of another tenant: it must see nothing of the last
 * one.  BAR1 gets fresh zeroed pages (the old ones live on only in mappings
 * the executor has not dropped yet, which this session cannot reach), and
 * STATUS reads 0 until the executor has formatted the new pages and says
 * EXECUTOR_READY again.
 */
static int vgpu_open_device(struct vfio_device *vdev)
{
	struct vgpu_inst *inst = container_of(vdev, struct vgpu_inst, vdev);
	struct vgpu_bar1 *fresh = NULL, *old = NULL;

	mutex_lock(&inst->ops_lock);
	spin_lock_irq(&inst->lock);
	if (!inst->bar1_fresh) {
		spin_unlock_irq(&inst->lock);
		fresh = vgpu_bar1_alloc(inst->regs.bar1_size);
		if (!fresh) {
			mutex_unlock(&inst->ops_lock);
			return -ENOMEM;
		}
		spin_lock_irq(&inst->lock);
		old = inst->bar1;
		inst->bar1 = fresh;
	}
	inst->bar1_fresh = false;
	vgpu_cfg_init(&inst->cfg, inst->regs.bar1_size);
	vgpu_irq_reset(&inst->irq);
	inst->regs.status = 0;
	vgpu_irq_apply(inst, VGPU_IRQ_FIRE_NONE);
	spin_unlock_irq(&inst->lock);
	WRITE_ONCE(inst->opened, true);
	mutex_unlock(&inst->ops_lock);
	if (old)
		vgpu_bar1_put(old);
	vgpu_post(VGPU_KMOD_EV_OPENED, inst->id);
	return 0;
}

static void vgpu_close_device(struct vfio_device *vdev)
{
	struct vgpu_inst *inst = container_of(vdev, struct vgpu_inst, vdev);
	struct eventfd_ctx *t[3];
	int i;

	mutex_lock(&inst->ops_lock);
	vfio_virqfd_disable(&inst->intx_unmask);
	spin_lock_irq(&inst->lock);
	t[0] = inst->intx_trigger;
	t[1] = inst->msi_trigger;
	t[2] = inst->req_trigger;
	inst->intx_trigger = NULL;
	inst->msi_trigger = NULL;
	inst->req_trigger = NULL;
	vgpu_update_mode(inst);
	spin_unlock_irq(&inst->lock);
	WRITE_ONCE(inst->opened, false);
	mutex_unlock(&inst->ops_lock);
	for (i = 0; i < ARRAY_SIZE(t); i++)
		if (t[i])
			eventfd_ctx_put(t[i]);
	vgpu_post(VGPU_KMOD_EV_CLOSED, inst->id);
}

static void vgpu_request(struct vfio_device *vdev, unsigned int count)
{
	struct vgpu_inst *inst = container_of(vdev, struct vgpu_inst, vdev);

	spin_lock_irq(&inst->lock);
	if (inst->req_trigger) {
		if (!(count % 10))
			dev_notice_ratelimited(vdev->dev, "asking the user to release the device (%u)\n",
					       count);
		vgpu_eventfd_signal(inst->req_trigger);
	} else if (count == 0) {
		dev_notice(vdev->dev, "blocked until the user releases the device\n");
	}
	spin_unlock_irq(&inst->lock);
}

static int vgpu_init_dev(struct vfio_device *vdev)
{
	struct vgpu_inst *inst = container_of(vdev, struct vgpu_inst, vdev);
	struct mdev_device *mdev = to_mdev_device(vdev->dev);
	const struct vgpu_type *t = container_of(mdev->type, struct vgpu_type, type);

	inst->type = t;
	inst->fb_size = vgpu_type_fb_mib(t) << 20;
	memcpy(inst->uuid, &mdev->uuid, sizeof(inst->uuid));
	inst->bar1 = vgpu_bar1_alloc(t->bar1_size);
	if (!inst->bar1)
		return -ENOMEM;
	inst->bar1_fresh = true;
	mutex_init(&inst->ops_lock);
	spin_lock_init(&inst->lock);
	vgpu_cfg_init(&inst->cfg, t->bar1_size);
	vgpu_regions_init(&inst->regions, t->bar1_size);
	inst->regs.bar1_size = t->bar1_size;
	inst->regs.fb_size = inst->fb_size;
	return 0;
}

static void vgpu_release_dev(struct vfio_device *vdev)
{
	struct vgpu_inst *inst = container_of(vdev, struct vgpu_inst, vdev);

	vgpu_bar1_put(inst->bar1);
	mutex_destroy(&inst->ops_lock);
#ifndef VGPU_CORE_FREES_DEVICE
	vfio_free_device(vdev);
#endif
}

static const struct vfio_device_ops vgpu_dev_ops = {
	.name = "vgpu-stub",
	.init = vgpu_init_dev,
	.release = vgpu_release_dev,
	.open_device = vgpu_open_device,
	.close_device = vgpu_close_device,
	.read = vgpu_read,
	.write = vgpu_write,
	.ioctl = vgpu_ioctl,
	.mmap = vgpu_mmap,
	.request = vgpu_request,
#ifdef VGPU_HAVE_REGION_INFO_CAPS
	.get_region_info_caps = vgpu_get_region_info_caps,
#endif
#ifdef VGPU_HAVE_IOMMUFD_EMULATED
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
#endif
#ifdef VGPU_HAVE_DETACH_IOAS
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
#endif
};

static int vgpu_probe(struct mdev_device *mdev)
{
	const struct vgpu_type *t = container_of(mdev->type, struct vgpu_type, type);
	u64 fb = vgpu_type_fb_mib(t);
	struct vgpu_inst *inst;
	int id, ret;

	mutex_lock(&vg.lock);
	if (fb > fb_total_mib || vg.fb_used_mib > fb_total_mib - fb) {
		mutex_unlock(&vg.lock);
		return -ENOSPC;
	}
	id = idr_alloc(&vg.idr, NULL, 0, VGPU_MAX_INSTANCES, GFP_KERNEL);
	if (id < 0) {
		mutex_unlock(&vg.lock);
		return id;
	}
	vg.fb_used_mib += fb;
	mutex_unlock(&vg.lock);

	inst = vfio_alloc_device(vgpu_inst, vdev, &mdev->dev, &vgpu_dev_ops);
	if (IS_ERR(inst)) {
		ret = PTR_ERR(inst);
		goto err_budget;
	}
	inst->id = id;
	ret = vfio_register_emulated_iommu_dev(&inst->vdev);
	if (ret)
		goto err_put;
	dev_set_drvdata(&mdev->dev, inst);

	mutex_lock(&vg.lock);
	idr_replace(&vg.idr, inst, id);
	/* Under vg.lock, as REMOVED is: the executor sees them in order. */
	vgpu_post(VGPU_KMOD_EV_CREATED, id);
	mutex_unlock(&vg.lock);
	return 0;

err_put:
	vfio_put_device(&inst->vdev);
err_budget:
	mutex_lock(&vg.lock);
	idr_remove(&vg.idr, id);
	vg.fb_used_mib -= fb;
	mutex_unlock(&vg.lock);
	return ret;
}

static void vgpu_remove(struct mdev_device *mdev)
{
	struct vgpu_inst *inst = dev_get_drvdata(&mdev->dev);

	/* Waits until QEMU closed the device, asking it through REQ. */
	vfio_unregister_group_dev(&inst->vdev);

	mutex_lock(&inst->ops_lock);
	inst->removed = true;
	mutex_unlock(&inst->ops_lock);
	mutex_lock(&vg.lock);
	/*
	 * REMOVED is posted before the id is free: a probe that reuses it
	 * posts CREATED after it, so the executor never mistakes the new
	 * instance's events for the old one's or tears the new one down.
	 */
	vgpu_post(VGPU_KMOD_EV_REMOVED, inst->id);
	idr_remove(&vg.idr, inst->id);
	vg.fb_used_mib -= vgpu_type_fb_mib(inst->type);
	mutex_unlock(&vg.lock);
	/* An executor's instance fd may hold the last reference. */
	vfio_put_device(&inst->vdev);
}

struct vgpu_inst *vgpu_inst_get(u32 id)
{
	struct vgpu_inst *inst;

	mutex_lock(&vg.lock);
	inst = idr_find(&vg.idr, id);
	if (inst)
		get_device(&inst->vdev.device);
	mutex_unlock(&vg.lock);
	return inst;
}

void vgpu_inst_put(struct vgpu_inst *inst)
{
	vfio_put_device(&inst->vdev);
}

/* Tell a newly opened executor about every instance. */
void vgpu_replay_instances(void)
{
	struct vgpu_inst *inst;
	int id;

	mutex_lock(&vg.lock);
	idr_for_each_entry(&vg.idr, inst, id)
		vgpu_replay_instance(inst->id, READ_ONCE(inst->opened));
	mutex_unlock(&vg.lock);
}

/* ---- sysfs ---- */

static ssize_t vm_id_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct vgpu_inst *inst = dev_get_drvdata(dev);

	if (!inst)
		return -ENODEV;
	return sysfs_emit(buf, "%u\n", READ_ONCE(inst->regs.vm_id));
}

static ssize_t vm_id_store(struct device *dev, struct device_attribute *attr,
			   const char *buf, size_t count)
{
	struct vgpu_inst *inst = dev_get_drvdata(dev);
	u32 v;
	int ret;

	if (!inst)
		return -ENODEV;
	ret = kstrtou32(buf, 0, &v);
	if (ret)
		return ret;
	mutex_lock(&inst->ops_lock);
	if (inst->opened) {
		ret = -EBUSY;
	} else {
		spin_lock_irq(&inst->lock);
		inst->regs.vm_id = v;
		spin_unlock_irq(&inst->lock);
	}
	mutex_unlock(&inst->ops_lock);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(vm_id);

static ssize_t vgpu_instance_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	struct vgpu_inst *inst = dev_get_drvdata(dev);

	if (!inst)
		return -ENODEV;
	return sysfs_emit(buf, "%u\n", inst->id);
}
static DEVICE_ATTR_RO(vgpu_instance);

static struct attribute *vgpu_dev_attrs[] = {
	&dev_attr_vm_id.attr,
	&dev_attr_vgpu_instance.attr,
	NULL,
};

static const struct attribute_group vgpu_dev_group = {
	.attrs = vgpu_dev_attrs,
};

static const struct attribute_group *vgpu_dev_groups[] = {
	&vgpu_dev_group,
	NULL,
};

static unsigned int vgpu_get_available(struct mdev_type *mtype)
{
	const struct vgpu_type *t = container_of(mtype, struct vgpu_type, type);
	u64 fb = vgpu_type_fb_mib(t), free;

	mutex_lock(&vg.lock);
	free = fb_total_mib - vg.fb_used_mib;
	mutex_unlock(&vg.lock);
	return fb ? div64_u64(free, fb) : 0;
}

static ssize_t vgpu_show_description(struct mdev_type *mtype, char *buf)
{
	const struct vgpu_type *t = container_of(mtype, struct vgpu_type, type);
	u64 fb = vgpu_type_fb_mib(t);

	return sysfs_emit(buf, "framebuffer=%lluM, bar1=%lluM, max_instance=%llu\n",
			  fb, t->bar1_size >> 20,
			  fb ? div64_u64(fb_total_mib, fb) : 0);
}

static struct mdev_driver vgpu_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.driver = {
		.name = "vgpu_stub",
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = vgpu_dev_groups,
	},
	.probe = vgpu_probe,
	.remove = vgpu_remove,
	.get_available = vgpu_get_available,
	.show_description = vgpu_show_description,
};

unsigned int vgpu_test_ntypes(void)
{
	return ARRAY_SIZE(vgpu_mdev_types);
}

struct mdev_type *vgpu_test_type(unsigned int i)
{
	return i < ARRAY_SIZE(vgpu_mdev_types) ? vgpu_mdev_types[i] : NULL;
}

u64 vgpu_test_fb_used_mib(void)
{
	u64 v;

	mutex_lock(&vg.lock);
	v = vg.fb_used_mib;
	mutex_unlock(&vg.lock);
	return v;
}

/* ---- module ---- */

static void vgpu_parent_release(struct device *dev)
{
}

static int vgpu_parent_get(struct device **out)
{
	unsigned int dom, bus, slot, fn;
	int ret;

	if (parent_pci && *parent_pci) {
		if (sscanf(parent_pci, "%x:%x:%x.%x", &dom, &bus, &slot, &fn) != 4) {
			pr_err("parent_pci=%s is not DDDD:BB:DD.F\n", parent_pci);
			return -EINVAL;
		}
		vg.pdev = pci_get_domain_bus_and_slot(dom, bus, PCI_DEVFN(slot, fn));
		if (!vg.pdev) {
			pr_err("parent_pci=%s: no such device\n", parent_pci);
			return -ENODEV;
		}
		*out = &vg.pdev->dev;
		return 0;
	}
	ret = class_register(&vgpu_class);
	if (ret)
		return ret;
	vg.dev.class = &vgpu_class;
	vg.dev.release = vgpu_parent_release;
	dev_set_name(&vg.dev, "%s", vgpu_class.name);
	ret = device_register(&vg.dev);
	if (ret) {
		put_device(&vg.dev);
		class_unregister(&vgpu_class);
		return ret;
	}
	vg.dev_registered = true;
	*out = &vg.dev;
	return 0;
}

static void vgpu_parent_put(void)
{
	if (vg.pdev) {
		pci_dev_put(vg.pdev);
		vg.pdev = NULL;
	}
	if (vg.dev_registered) {
		device_unregister(&vg.dev);
		class_unregister(&vgpu_class);
		vg.dev_registered = false;
	}
}

static int __init vgpu_init(void)
{
	struct device *parent;
	unsigned int i;
	int ret;

	if (!fb_total_mib) {
		pr_err("fb_total_mib must be at least 1\n");
		return -EINVAL;
	}
	for (i = 0; i < ARRAY_SIZE(vgpu_types); i++)
		if (!vgpu_bar1_size_valid(vgpu_types[i].bar1_size))
			return -EINVAL;
	ret = mdev_register_driver(&vgpu_driver);
	if (ret)
		return ret;
	ret = vgpu_parent_get(&parent);
	if (ret)
		goto err_driver;
	ret = mdev_register_parent(&vg.parent, parent, &vgpu_driver,
				   vgpu_mdev_types, ARRAY_SIZE(vgpu_mdev_types));
	if (ret)
		goto err_parent;
	/*
	 * Last: /dev/vgpu-stub appearing is what starts an executor (udev,
	 * systemd), and everything it calls into must exist by then.
	 */
	ret = vgpu_chardev_init();
	if (ret)
		goto err_mdev;
	pr_info("%lu MiB for instances on %s\n", fb_total_mib, dev_name(parent));
	return 0;

err_mdev:
	mdev_unregister_parent(&vg.parent);
err_parent:
	vgpu_parent_put();
err_driver:
	mdev_unregister_driver(&vgpu_driver);
	return ret;
}

static void __exit vgpu_exit(void)
{
	/* In reverse: no executor can attach while the instances go. */
	vgpu_chardev_exit();
	/* Removes every instance, waiting for their users. */
	mdev_unregister_parent(&vg.parent);
	vgpu_parent_put();
	mdev_unregister_driver(&vgpu_driver);
	idr_destroy(&vg.idr);
}

module_init(vgpu_init);
module_exit(vgpu_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VGPU-STUB: mediated PCI function whose calls a host executor serves");
MODULE_AUTHOR("vgpu");
MODULE_SOFTDEP("pre: vfio vfio_iommu_type1 mdev");
