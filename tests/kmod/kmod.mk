# Programs of the kernel-module system test (tests/kmod/t-system-*.sh):
# the QEMU-sequence client and the nested guest's program; the executor
# itself is build/bin/vgpu-executor --mdev.
KMOD_TEST_CFLAGS := -std=c17 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Iuserspace-exec

$(B)/kmod/vfio_client: tests/kmod/vfio_client.c $(B)/libvgpu-common.a $(wildcard include/vgpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(KMOD_TEST_CFLAGS) -o $@ $< $(B)/libvgpu-common.a -lpthread

# Runs in the nested guest, which has no libraries: static.
$(B)/kmod/l2_guest: tests/kmod/l2_guest.c $(B)/libvgpu-common.a $(wildcard include/vgpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(KMOD_TEST_CFLAGS) -static -o $@ $< $(B)/libvgpu-common.a

kmod-test-progs: $(B)/kmod/vfio_client $(B)/bin/vgpu-executor $(B)/kmod/l2_guest
.PHONY: kmod-test-progs
