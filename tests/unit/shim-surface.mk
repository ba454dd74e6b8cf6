# Tests of the shim's exported surface (guest-shim/gen/, procaddr.c,
# unsupported.c).  test_exports and test_procaddr dlopen the built shim, as
# cudart does, so they check the real library rather than its objects.

SHIM_SO := $(abspath $(B)/lib/libcuda.so.1)
SHIM_TEST_PATHS := $(CUDA_INC) \
	-DVGPU_SHIM_PATH='"$(SHIM_SO)"' \
	-DVGPU_CUDA_STUB='"$(abspath $(CUDA_HOME)/lib64/stubs/libcuda.so)"'

TEST_CFLAGS_test_exports := $(SHIM_TEST_PATHS)
TEST_CFLAGS_test_procaddr := $(SHIM_TEST_PATHS) \
	-DVGPU_REQUESTS='"$(abspath tests/data/cudart13-getprocaddress-requests.txt)"'
TEST_CFLAGS_test_unsupported := $(CUDA_INC)
TEST_LIBS_test_unsupported := $(B)/libvgpu-shim.a

$(B)/tests/test_exports $(B)/tests/test_procaddr: $(B)/lib/libcuda.so.1
$(B)/tests/test_procaddr: tests/data/cudart13-getprocaddress-requests.txt
$(B)/tests/test_unsupported: $(B)/libvgpu-shim.a

# test_no_executor: cuInit through the built shim with nobody listening.
TEST_CFLAGS_test_no_executor := $(SHIM_TEST_PATHS)
$(B)/tests/test_no_executor: $(B)/lib/libcuda.so.1

# test_image: image lengths of what nvcc writes (skips without nvcc).
TEST_CFLAGS_test_image := $(SHIM_TEST_PATHS) -Icommon -DNVCC='"$(NVCC)"'
TEST_LIBS_test_image := common/image.c
$(B)/tests/test_image: common/image.c common/image.h tests/cuda/test_kernels.cuh
