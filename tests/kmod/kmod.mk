# Programs of the kernel-module system test (tests/kmod/t-system-*.sh):
# the QEMU-sequence client, and the mdev frontend run on its own with the
# executor's real worker (everything of the executor but main()).
KMOD_TEST_CFLAGS := -std=c17 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Iuserspace-exec

$(B)/kmod/vfio_client: tests/kmod/vfio_client.c $(B)/libvgpu-common.a $(wildcard include/vgpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(KMOD_TEST_CFLAGS) -o $@ $< $(B)/libvgpu-common.a -lpthread

$(B)/kmod/vgpu-mdev-frontend: tests/kmod/frontend_main.c $(B)/libvgpu-exec.a $(B)/libvgpu-common.a \
		$(wildcard include/vgpu/*.h userspace-exec/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(KMOD_TEST_CFLAGS) -o $@ tests/kmod/frontend_main.c \
		$(B)/libvgpu-exec.a $(B)/libvgpu-common.a -lpthread -ldl

# Runs in the nested guest, which has no libraries: static.
$(B)/kmod/l2_guest: tests/kmod/l2_guest.c $(B)/libvgpu-common.a $(wildcard include/vgpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(KMOD_TEST_CFLAGS) -static -o $@ $< $(B)/libvgpu-common.a

kmod-test-progs: $(B)/kmod/vfio_client $(B)/kmod/vgpu-mdev-frontend $(B)/kmod/l2_guest
.PHONY: kmod-test-progs
