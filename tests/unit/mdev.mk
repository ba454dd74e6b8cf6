# test_mdev_frontend: the executor's VM frontend against a fake vgpu_stub.ko.
TEST_CFLAGS_test_mdev_frontend := $(CUDA_INC) -Iuserspace-exec
TEST_LIBS_test_mdev_frontend := $(B)/libvgpu-exec.a
$(B)/tests/test_mdev_frontend: $(B)/libvgpu-exec.a
