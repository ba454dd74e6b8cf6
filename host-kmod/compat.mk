# SPDX-License-Identifier: GPL-2.0
# Kernel API differences vgpu_stub spans (6.1 .. newest), turned into
# feature macros from the kernel's VERSION/PATCHLEVEL, so the C code names
# the feature it needs instead of comparing version numbers.  Shared by
# host-kmod/Kbuild and the in-tree KUnit glue (kunit/kbuild/Makefile).
vgpu_kv := $(shell echo $$(( $(VERSION) * 1000 + $(PATCHLEVEL) )))
vgpu_since = $(shell [ $(vgpu_kv) -ge $(1) ] && echo -D$(2))

# 6.2: the vfio core frees the device after .release; iommufd emulated ops.
ccflags-y += $(call vgpu_since,6002,VGPU_CORE_FREES_DEVICE)
ccflags-y += $(call vgpu_since,6002,VGPU_HAVE_IOMMUFD_EMULATED)
# 6.6: .detach_ioas is required next to .attach_ioas.
ccflags-y += $(call vgpu_since,6006,VGPU_HAVE_DETACH_IOAS)
# 6.8: eventfd_signal() lost its count argument.
ccflags-y += $(call vgpu_since,6008,VGPU_EVENTFD_SIGNAL_NO_COUNT)
# 6.19: the core decodes GET_REGION_INFO and calls .get_region_info_caps.
ccflags-y += $(call vgpu_since,6019,VGPU_HAVE_REGION_INFO_CAPS)
