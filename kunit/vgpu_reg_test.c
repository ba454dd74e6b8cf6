// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for vgpu_stub's registration with the mdev core: the types,
 * their availability from the memory budget, instance creation through the
 * mdev core (as a sysfs "create" write does) and removal, and what a new
 * session of an instance starts with.
 *
 * mdev_device_create() and mdev_bus_type are private to the mdev core; this
 * built-in test reaches them the way the core's own sysfs code does.
 */
#include <kunit/test.h>
#include <linux/device.h>
#include <linux/mdev.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include <linux/uuid.h>

#include "vgpu_stub.h"
#include "vgpu_mdev_core.h"

static struct mdev_type *type_named(const char *name)
{
	unsigned int i;

	for (i = 0; i < vgpu_test_ntypes(); i++)
		if (!strcmp(vgpu_test_type(i)->sysfs_name, name))
			return vgpu_test_type(i);
	return NULL;
}

static unsigned int available(struct mdev_type *t)
{
	return t->parent->mdev_driver->get_available(t);
}

static struct mdev_device *find_mdev(const guid_t *uuid)
{
	char name[UUID_STRING_LEN + 1];
	struct device *dev;

	snprintf(name, sizeof(name), "%pUl", uuid);
	dev = bus_find_device_by_name(&mdev_bus_type, NULL, name);
	return dev ? to_mdev_device(dev) : NULL;
}

static void reg_types(struct kunit *test)
{
	static const char * const names[] = { "4g", "8g", "16g", "40g", "full" };
	struct mdev_type *t;
	char *buf;
	unsigned int i;

	KUNIT_ASSERT_EQ(test, vgpu_test_ntypes(), (unsigned int)ARRAY_SIZE(names));
	buf = kunit_kzalloc(test, PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		t = vgpu_test_type(i);
		KUNIT_EXPECT_STREQ(test, t->sysfs_name, names[i]);
		/* KubeVirt turns spaces of the pretty name into '_': none here. */
		KUNIT_EXPECT_NULL(test, strchr(t->pretty_name, ' '));
		KUNIT_ASSERT_NOT_NULL(test, t->parent);
		KUNIT_EXPECT_STREQ(test, t->parent->mdev_driver->device_api,
				   VFIO_DEVICE_API_PCI_STRING);
		KUNIT_EXPECT_GT(test, t->parent->mdev_driver->show_description(t, buf), 0);
		KUNIT_EXPECT_NOT_NULL(test, strstr(buf, "framebuffer="));
	}
	/* 80 GiB by default. */
	KUNIT_EXPECT_EQ(test, vgpu_test_fb_used_mib(), 0ull);
	KUNIT_EXPECT_EQ(test, available(type_named("4g")), 20u);
	KUNIT_EXPECT_EQ(test, available(type_named("16g")), 5u);
	KUNIT_EXPECT_EQ(test, available(type_named("40g")), 2u);
	KUNIT_EXPECT_EQ(test, available(type_named("full")), 1u);
}

static void reg_create_remove(struct kunit *test)
{
	struct mdev_type *t4 = type_named("4g"), *t40 = type_named("40g");
	struct mdev_type *tfull = type_named("full");
	struct mdev_device *a, *b;
	struct vgpu_inst *inst;
	guid_t ua, ub, uc;

	generate_random_guid(ua.b);
	generate_random_guid(ub.b);
	generate_random_guid(uc.b);

	KUNIT_ASSERT_EQ(test, mdev_device_create(t4, &ua), 0);
	a = find_mdev(&ua);
	KUNIT_ASSERT_NOT_NULL(test, a);
	inst = dev_get_drvdata(&a->dev);
	KUNIT_ASSERT_NOT_NULL(test, inst);
	KUNIT_EXPECT_EQ(test, inst->bar1->size, (u64)SZ_16M);
	KUNIT_EXPECT_EQ(test, inst->fb_size, 4ull << 30);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&inst->regs, &inst->irq, VGPU_REG_MAGIC, 4),
			VGPU_MAGIC);
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&inst->regs, &inst->irq,
					     VGPU_REG_BAR1_SIZE_LO, 4), SZ_16M);
	KUNIT_EXPECT_EQ(test, inst->cfg.data[0], 0xde);
	KUNIT_EXPECT_EQ(test, vgpu_test_fb_used_mib(), 4096ull);
	KUNIT_EXPECT_EQ(test, available(t4), 19u);
	KUNIT_EXPECT_EQ(test, available(t40), 1u);
	KUNIT_EXPECT_EQ(test, available(tfull), 0u);
	/* The same UUID twice is refused by the core. */
	KUNIT_EXPECT_EQ(test, mdev_device_create(t4, &ua), -EEXIST);

	/* The budget refuses what does not fit. */
	KUNIT_EXPECT_EQ(test, mdev_device_create(tfull, &uc), -ENOSPC);
	KUNIT_EXPECT_NULL(test, find_mdev(&uc));
	KUNIT_ASSERT_EQ(test, mdev_device_create(t40, &ub), 0);
	b = find_mdev(&ub);
	KUNIT_ASSERT_NOT_NULL(test, b);
	inst = dev_get_drvdata(&b->dev);
	KUNIT_EXPECT_EQ(test, inst->bar1->size, (u64)SZ_128M);
	KUNIT_EXPECT_EQ(test, vgpu_test_fb_used_mib(), 4096ull + 40960);
	KUNIT_EXPECT_EQ(test, available(t40), 0u);
	KUNIT_EXPECT_EQ(test, mdev_device_create(t40, &uc), -ENOSPC);

	KUNIT_EXPECT_EQ(test, mdev_device_remove(a), 0);
	put_device(&a->dev);
	KUNIT_EXPECT_EQ(test, vgpu_test_fb_used_mib(), 40960ull);
	KUNIT_EXPECT_EQ(test, mdev_device_remove(b), 0);
	put_device(&b->dev);
	KUNIT_EXPECT_EQ(test, vgpu_test_fb_used_mib(), 0ull);
	KUNIT_EXPECT_EQ(test, available(tfull), 1u);
	KUNIT_EXPECT_NULL(test, find_mdev(&ua));
}

/*
 * Sessions, driven through the instance's vfio_device_ops as the vfio core
 * does at the first open and last close of the device: a new session (maybe
 * another tenant) gets fresh zeroed BAR1 pages and STATUS 0, while pages an
 * executor still holds from the last session stay alive for it.
 */
static void reg_sessions(struct kunit *test)
{
	struct mdev_type *t4 = type_named("4g");
	struct vgpu_bar1 *first, *held;
	const struct vfio_device_ops *ops;
	struct vgpu_inst *inst;
	struct mdev_device *m;
	u8 *p;
	guid_t u;

	generate_random_guid(u.b);
	KUNIT_ASSERT_EQ(test, mdev_device_create(t4, &u), 0);
	m = find_mdev(&u);
	KUNIT_ASSERT_NOT_NULL(test, m);
	inst = dev_get_drvdata(&m->dev);
	ops = inst->vdev.ops;

	/* The first session keeps the zeroed pages of create. */
	first = inst->bar1;
	KUNIT_ASSERT_EQ(test, ops->open_device(&inst->vdev), 0);
	KUNIT_EXPECT_PTR_EQ(test, inst->bar1, first);
	p = first->vaddr;
	memset(p, 0xa5, PAGE_SIZE);
	p[SZ_16M - 1] = 0xa5;
	vgpu_inst_set_status(inst, VGPU_STATUS_EXECUTOR_READY, VGPU_STATUS_EXECUTOR_READY);
	/* An executor's mapping of this session, as its mmap takes it. */
	held = vgpu_inst_bar1_get(inst);
	ops->close_device(&inst->vdev);

	/* The next one sees none of it. */
	KUNIT_ASSERT_EQ(test, ops->open_device(&inst->vdev), 0);
	KUNIT_EXPECT_PTR_NE(test, inst->bar1, first);
	KUNIT_EXPECT_EQ(test, inst->bar1->size, (u64)SZ_16M);
	KUNIT_EXPECT_NULL(test, memchr_inv(inst->bar1->vaddr, 0, SZ_16M));
	KUNIT_EXPECT_EQ(test, vgpu_regs_read(&inst->regs, &inst->irq, VGPU_REG_STATUS, 4), 0u);
	/* The executor's old mapping still has the old pages, untouched. */
	KUNIT_EXPECT_EQ(test, p[0], 0xa5);
	KUNIT_EXPECT_EQ(test, p[SZ_16M - 1], 0xa5);
	vgpu_bar1_put(held);
	ops->close_device(&inst->vdev);

	KUNIT_EXPECT_EQ(test, mdev_device_remove(m), 0);
	put_device(&m->dev);
	KUNIT_EXPECT_EQ(test, vgpu_test_fb_used_mib(), 0ull);
}

static struct kunit_case vgpu_reg_cases[] = {
	KUNIT_CASE(reg_types),
	KUNIT_CASE(reg_create_remove),
	KUNIT_CASE(reg_sessions),
	{}
};

static struct kunit_suite vgpu_reg_suite = {
	.name = "vgpu_stub_registration",
	.test_cases = vgpu_reg_cases,
};

kunit_test_suite(vgpu_reg_suite);

MODULE_LICENSE("GPL");
