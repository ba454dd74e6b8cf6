# Unit tests of the executor's tenant isolation (tests/hostile/ holds the
# system-level suite).
TEST_CFLAGS_test_image_check := -Icommon -DNVCC='"$(NVCC)"'
$(B)/tests/test_image_check: common/image.c common/image.h tests/hostile/big_globals.cu

# test_exec_tenancy: sessions in process against the driver test double.
TEST_CFLAGS_test_exec_tenancy := $(CUDA_INC) -Iuserspace-exec -DNVCC='"$(NVCC)"' \
	-DFAKECUDA_PATH='"$(abspath $(B)/fakecuda/libcuda.so.1)"'
TEST_LIBS_test_exec_tenancy := $(B)/libvgpu-exec.a
$(B)/tests/test_exec_tenancy: $(B)/libvgpu-exec.a $(B)/fakecuda/libcuda.so.1

# The worker's sandbox and exec arguments, the parent's memory accounts,
# the module cache.
TENANCY_UNITS := test_sandbox test_worker_args test_quota_account test_module_cache
$(foreach t,$(TENANCY_UNITS),$(eval TEST_CFLAGS_$(t) := $(CUDA_INC) -Iuserspace-exec))
$(foreach t,$(TENANCY_UNITS),$(eval TEST_LIBS_$(t) := $(B)/libvgpu-exec.a))
$(TENANCY_UNITS:%=$(B)/tests/%): $(B)/libvgpu-exec.a
