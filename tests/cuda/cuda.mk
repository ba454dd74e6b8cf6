# CUDA test programs, built twice (static and shared cudart).  nvcc only;
# they run in CI on the driver test double and on a GPU host for real.
$(B)/tests/cuda/e2e_runtime_%: tests/cuda/e2e_runtime.cu tests/cuda/test_kernels.cuh
	@mkdir -p $(dir $@)
	$(NVCC) -O2 $(NVCC_ARCH) -cudart $* -Itests/cuda -o $@ $<

CUDA_TESTS := $(B)/tests/cuda/e2e_runtime_static $(B)/tests/cuda/e2e_runtime_shared
cuda-tests: $(CUDA_TESTS)

# The GPU suite, on a GPU host.
test-gpu: all demo bench cuda-tests
	tests/gpu/run.sh $(B)

# Multi-threaded programs that a blocking or thread-confusing executor gets wrong.
$(B)/tests/cuda/concurrency: tests/cuda/concurrency.cu tests/cuda/test_kernels.cuh
	@mkdir -p $(dir $@)
	$(NVCC) -O2 $(NVCC_ARCH) -cudart static -Itests/cuda -o $@ $<

CUDA_TESTS += $(B)/tests/cuda/concurrency
