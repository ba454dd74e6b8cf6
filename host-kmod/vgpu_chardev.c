// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/vgpu-stub: the host executor's side of VGPU-STUB (include/vgpu/kmod_uapi.h).
 *
 * The control fd (root, one opener at a time) carries the event stream and
 * hands out instance fds.  An instance fd maps BAR1, takes the doorbell
 * eventfds and the irqfd, raises interrupts and sets STATUS; closing it
 * detaches the executor from the instance.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#include "vgpu_stub.h"

static struct vgpu_evq vgpu_evq_store;	/* ~7 KiB, one per module */

static struct {
	struct mutex lock;	/* open/close of the control fd */
	bool open;
	spinlock_t evq_lock;	/* evq, live */
	bool live;		/* events are kept only while open */
	struct vgpu_evq *evq;
	wait_queue_head_t wait;
} vc = {
	.lock = __MUTEX_INITIALIZER(vc.lock),
	.evq_lock = __SPIN_LOCK_UNLOCKED(vc.evq_lock),
	.wait = __WAIT_QUEUE_HEAD_INITIALIZER(vc.wait),
	.evq = &vgpu_evq_store,
};

void vgpu_post(u32 type, u32 instance)
{
	unsigned long flags;
	bool news = false;

	spin_lock_irqsave(&vc.evq_lock, flags);
	if (vc.live)
		news = vgpu_evq_post(vc.evq, type, instance);
	spin_unlock_irqrestore(&vc.evq_lock, flags);
	if (news)
		wake_up_interruptible(&vc.wait);
}

void vgpu_post_doorbell(struct vgpu_inst *inst, u32 channel)
{
	enum vgpu_db_result r = VGPU_DB_DROPPED;
	unsigned long flags;

	spin_lock_irqsave(&vc.evq_lock, flags);
	if (vc.live)
		r = vgpu_evq_doorbell(vc.evq, inst->id, channel);
	spin_unlock_irqrestore(&vc.evq_lock, flags);
	if (r == VGPU_DB_QUEUED)
		wake_up_interruptible(&vc.wait);
}

static bool vgpu_events_ready(void)
{
	bool r;

	spin_lock_irq(&vc.evq_lock);
	r = vgpu_evq_ready(vc.evq);
	spin_unlock_irq(&vc.evq_lock);
	return r;
}

/* ---- instance fd ---- */

static void vgpu_detach(struct vgpu_inst *inst)
{
	struct eventfd_ctx *db[VGPU_KMOD_MAX_CHANNELS];
	int i;

	mutex_lock(&inst->ops_lock);
	vfio_virqfd_disable(&inst->irqfd);
	spin_lock_irq(&inst->lock);
	for (i = 0; i < VGPU_KMOD_MAX_CHANNELS; i++) {
		db[i] = inst->doorbell[i];
		inst->doorbell[i] = NULL;
	}
	spin_unlock_irq(&inst->lock);
	/* The guest learns that nobody serves it any more. */
	vgpu_inst_set_status(inst, 0, ~0u);
	inst->attached = false;
	mutex_unlock(&inst->ops_lock);
	for (i = 0; i < VGPU_KMOD_MAX_CHANNELS; i++)
		if (db[i])
			eventfd_ctx_put(db[i]);
}

static int vgpu_inst_release(struct inode *inode, struct file *f)
{
	struct vgpu_inst *inst = f->private_data;

	vgpu_detach(inst);
	vgpu_inst_put(inst);
	return 0;
}

static int vgpu_inst_mmap(struct file *f, struct vm_area_struct *vma)
{
	struct vgpu_inst *inst = f->private_data;
	struct vgpu_bar1 *b;
	int ret;

	if (vma->vm_pgoff > (inst->regs.bar1_size >> PAGE_SHIFT))
		return -EINVAL;
	/* The current session's pages: an open of the vfio device replaces them. */
	b = vgpu_inst_bar1_get(inst);
	ret = vgpu_bar1_mmap(b, vma, (u64)vma->vm_pgoff << PAGE_SHIFT);
	vgpu_bar1_put(b);
	return ret;
}

static void vgpu_irqfd_thread(void *opaque, void *data)
{
	vgpu_inst_raise(opaque, (u32)(uintptr_t)data);
}

static long vgpu_inst_info(struct vgpu_inst *inst, void __user *uarg)
{
	struct vgpu_kmod_instance_info info = {};

	info.instance = inst->id;
	mutex_lock(&inst->ops_lock);
	info.vm_id = READ_ONCE(inst->regs.vm_id);
	info.state = (inst->opened ? VGPU_KMOD_INST_OPENED : 0) |
		     (inst->removed ? VGPU_KMOD_INST_REMOVED : 0);
	mutex_unlock(&inst->ops_lock);
	memcpy(info.uuid, inst->uuid, sizeof(info.uuid));
	info.bar1_size = inst->regs.bar1_size;
	info.fb_size = inst->fb_size;
	strscpy(info.type, inst->type->type.sysfs_name, sizeof(info.type));
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long vgpu_inst_set_doorbell(struct vgpu_inst *inst, void __user *uarg)
{
	struct vgpu_kmod_eventfd a;
	struct eventfd_ctx *ctx = NULL, *old;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.index >= VGPU_KMOD_MAX_CHANNELS || a.fd < -1)
		return -EINVAL;
	a.index = array_index_nospec(a.index, VGPU_KMOD_MAX_CHANNELS);
	if (a.fd >= 0) {
		ctx = eventfd_ctx_fdget(a.fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
	}
	mutex_lock(&inst->ops_lock);
	if (inst->removed && ctx) {
		mutex_unlock(&inst->ops_lock);
		eventfd_ctx_put(ctx);
		return -ENODEV;
	}
	spin_lock_irq(&inst->lock);
	old = inst->doorbell[a.index];
	inst->doorbell[a.index] = ctx;
	spin_unlock_irq(&inst->lock);
	mutex_unlock(&inst->ops_lock);
	if (old)
		eventfd_ctx_put(old);
	return 0;
}

static long vgpu_inst_set_irqfd(struct vgpu_inst *inst, void __user *uarg)
{
	struct vgpu_kmod_eventfd a;
	long ret = 0;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.fd < -1 || (a.fd >= 0 && (!a.index || (a.index & ~VGPU_IRQ_ALL))))
		return -EINVAL;
	mutex_lock(&inst->ops_lock);
	vfio_virqfd_disable(&inst->irqfd);
	if (a.fd >= 0) {
		if (inst->removed)
			ret = -ENODEV;
		else
			ret = vfio_virqfd_enable(inst, NULL, vgpu_irqfd_thread,
						 (void *)(uintptr_t)a.index,
						 &inst->irqfd, a.fd);
	}
	mutex_unlock(&inst->ops_lock);
	return ret;
}

static long vgpu_inst_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct vgpu_inst *inst = f->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VGPU_KMOD_INST_INFO:
		return vgpu_inst_info(inst, uarg);
	case VGPU_KMOD_SET_DOORBELL:
		return vgpu_inst_set_doorbell(inst, uarg);
	case VGPU_KMOD_SET_IRQFD:
		return vgpu_inst_set_irqfd(inst, uarg);
	case VGPU_KMOD_RAISE_IRQ: {
		u32 causes;

		if (get_user(causes, (u32 __user *)uarg))
			return -EFAULT;
		if (!causes || (causes & ~VGPU_IRQ_ALL))
			return -EINVAL;
		vgpu_inst_raise(inst, causes);
		return 0;
	}
	case VGPU_KMOD_SET_STATUS: {
		struct vgpu_kmod_status s;

		if (copy_from_user(&s, uarg, sizeof(s)))
			return -EFAULT;
		if ((s.value | s.mask) & ~VGPU_STATUS_EXECUTOR_READY)
			return -EINVAL;
		vgpu_inst_set_status(inst, s.value, s.mask);
		return 0;
	}
	}
	return -ENOTTY;
}

static const struct file_operations vgpu_inst_fops = {
	.owner = THIS_MODULE,
	.release = vgpu_inst_release,
	.mmap = vgpu_inst_mmap,
	.unlocked_ioctl = vgpu_inst_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* ---- control fd ---- */

void vgpu_replay_instance(u32 id, bool opened)
{
	vgpu_post(VGPU_KMOD_EV_CREATED, id);
	if (opened)
		vgpu_post(VGPU_KMOD_EV_OPENED, id);
}

static int vgpu_ctl_open(struct inode *inode, struct file *f)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	mutex_lock(&vc.lock);
	if (vc.open) {
		mutex_unlock(&vc.lock);
		return -EBUSY;
	}
	vc.open = true;
	spin_lock_irq(&vc.evq_lock);
	vgpu_evq_init(vc.evq);
	vc.live = true;
	spin_unlock_irq(&vc.evq_lock);
	/* Events posted from here on may repeat a replayed one: harmless. */
	vgpu_replay_instances();
	mutex_unlock(&vc.lock);
	return stream_open(inode, f);
}

static int vgpu_ctl_release(struct inode *inode, struct file *f)
{
	mutex_lock(&vc.lock);
	spin_lock_irq(&vc.evq_lock);
	vc.live = false;
	spin_unlock_irq(&vc.evq_lock);
	vc.open = false;
	mutex_unlock(&vc.lock);
	return 0;
}

#define VGPU_READ_BATCH	8

static ssize_t vgpu_ctl_read(struct file *f, char __user *buf, size_t count,
			     loff_t *ppos)
{
	struct vgpu_kmod_event ev[VGPU_READ_BATCH];
	size_t max = min_t(size_t, count / sizeof(ev[0]), VGPU_READ_BATCH);
	size_t n = 0;
	int ret;

	if (!max)
		return -EINVAL;
	for (;;) {
		spin_lock_irq(&vc.evq_lock);
		while (n < max && vgpu_evq_pop(vc.evq, &ev[n]))
			n++;
		spin_unlock_irq(&vc.evq_lock);
		if (n)
			break;
		if (f->f_flags & O_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(vc.wait, vgpu_events_ready());
		if (ret)
			return ret;
	}
	if (copy_to_user(buf, ev, n * sizeof(ev[0])))
		return -EFAULT;
	return n * sizeof(ev[0]);
}

static __poll_t vgpu_ctl_poll(struct file *f, struct poll_table_struct *pt)
{
	poll_wait(f, &vc.wait, pt);
	return vgpu_events_ready() ? EPOLLIN | EPOLLRDNORM : 0;
}

static long vgpu_ctl_open_instance(void __user *uarg)
{
	struct vgpu_kmod_open_instance a;
	struct vgpu_inst *inst;
	int fd;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.flags)
		return -EINVAL;
	inst = vgpu_inst_get(a.instance);
	if (!inst)
		return -ENOENT;
	mutex_lock(&inst->ops_lock);
	if (inst->removed) {
		fd = -ENOENT;
	} else if (inst->attached) {
		fd = -EBUSY;
	} else {
		fd = anon_inode_getfd("[vgpu-stub-instance]", &vgpu_inst_fops,
				      inst, O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			inst->attached = true;
	}
	mutex_unlock(&inst->ops_lock);
	if (fd < 0)
		vgpu_inst_put(inst);
	return fd;
}

static long vgpu_ctl_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VGPU_KMOD_GET_VERSION: {
		struct vgpu_kmod_version v = {
			.abi_version = VGPU_KMOD_ABI_VERSION,
			.event_size = sizeof(struct vgpu_kmod_event),
			.max_channels = VGPU_KMOD_MAX_CHANNELS,
		};

		return copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
	}
	case VGPU_KMOD_OPEN_INSTANCE:
		return vgpu_ctl_open_instance(uarg);
	}
	return -ENOTTY;
}

static const struct file_operations vgpu_ctl_fops = {
	.owner = THIS_MODULE,
	.open = vgpu_ctl_open,
	.release = vgpu_ctl_release,
	.read = vgpu_ctl_read,
	.poll = vgpu_ctl_poll,
	.unlocked_ioctl = vgpu_ctl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice vgpu_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = VGPU_KMOD_DEVICE_NAME,
	.fops = &vgpu_ctl_fops,
	.mode = 0600,
};

int vgpu_chardev_init(void)
{
	vgpu_evq_init(vc.evq);
	return misc_register(&vgpu_misc);
}

void vgpu_chardev_exit(void)
{
	misc_deregister(&vgpu_misc);
}
