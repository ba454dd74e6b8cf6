# tests/unit/test_dispatch_vmm.c: virtual memory management and pools,
# two sessions in process against the CI test double of the driver.
TEST_CFLAGS_test_dispatch_vmm := $(CUDA_INC) -Iuserspace-exec \
	-DFAKECUDA_PATH='"$(abspath $(B)/fakecuda/libcuda.so.1)"'
TEST_LIBS_test_dispatch_vmm := $(B)/libvgpu-exec.a
$(B)/tests/test_dispatch_vmm: $(B)/libvgpu-exec.a $(B)/fakecuda/libcuda.so.1
