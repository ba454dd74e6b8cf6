# Programs of the kernel-module system test (tests/kmod/t-system-*.sh):
# the QEMU-sequence client and the mdev frontend run on its own.  The
# frontend links the executor's real worker (userspace-exec/worker.c) when
# it is on this branch, else the test stand-in tests/kmod/worker_standin.c.
KMOD_TEST_CFLAGS := -std=c17 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Iuserspace-exec
KMOD_WORKER := $(if $(wildcard userspace-exec/worker.c),real,standin)
KMOD_WORKER_SRCS_real := $(filter-out userspace-exec/main.c userspace-exec/mdev_frontend.c,$(wildcard userspace-exec/*.c))
KMOD_WORKER_SRCS_standin := tests/kmod/worker_standin.c

$(B)/kmod/vfio_client: tests/kmod/vfio_client.c $(B)/libvgpu-common.a $(wildcard include/vgpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(KMOD_TEST_CFLAGS) -o $@ $< $(B)/libvgpu-common.a

$(B)/kmod/vgpu-mdev-frontend: tests/kmod/frontend_main.c userspace-exec/mdev_frontend.c \
		$(KMOD_WORKER_SRCS_$(KMOD_WORKER)) $(B)/libvgpu-common.a \
		$(wildcard include/vgpu/*.h userspace-exec/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(KMOD_TEST_CFLAGS) $(CUDA_INC) -o $@ tests/kmod/frontend_main.c \
		userspace-exec/mdev_frontend.c $(KMOD_WORKER_SRCS_$(KMOD_WORKER)) \
		$(B)/libvgpu-common.a -lpthread -ldl

kmod-test-progs: $(B)/kmod/vfio_client $(B)/kmod/vgpu-mdev-frontend
.PHONY: kmod-test-progs
