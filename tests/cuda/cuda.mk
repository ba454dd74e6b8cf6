# CUDA test programs, built twice (static and shared cudart).  nvcc only;
# they run in CI on the driver test double and on a GPU host for real.
$(B)/tests/cuda/e2e_runtime_%: tests/cuda/e2e_runtime.cu tests/cuda/test_kernels.cuh
	@mkdir -p $(dir $@)
	$(NVCC) -O2 $(NVCC_ARCH) -cudart $* -Itests/cuda -o $@ $<

# Multi-threaded programs that a blocking or thread-confusing executor gets wrong.
$(B)/tests/cuda/concurrency: tests/cuda/concurrency.cu tests/cuda/test_kernels.cuh
	@mkdir -p $(dir $@)
	$(NVCC) -O2 $(NVCC_ARCH) -cudart static -Itests/cuda -o $@ $<

CUDA_TESTS := $(B)/tests/cuda/e2e_runtime_static $(B)/tests/cuda/e2e_runtime_shared \
	$(B)/tests/cuda/concurrency

# ggml-style VMM pool growth and stream-ordered allocation (tests/cuda/vmm_pool.cu).
$(B)/tests/cuda/vmm_pool: tests/cuda/vmm_pool.cu tests/cuda/test_kernels.cuh
	@mkdir -p $(dir $@)
	$(NVCC) -O2 $(NVCC_ARCH) -cudart static -Itests/cuda -o $@ $<

CUDA_TESTS += $(B)/tests/cuda/vmm_pool

# Every occupancy answer, natively and through vgpu, against cuda_occupancy.h.
$(B)/tests/cuda/occupancy: tests/cuda/occupancy.cu tests/cuda/test_kernels.cuh
	@mkdir -p $(dir $@)
	$(NVCC) -O2 $(NVCC_ARCH) -cudart static -Itests/cuda -o $@ $<

# cuBLAS SGEMM and FP16 GemmEx, linked with the toolkit's cuBLAS (shared, as
# frameworks use it); the GPU suite compares the results' bits.
$(B)/tests/cuda/cublas_gemm: tests/cuda/cublas_gemm.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O2 $(NVCC_ARCH) -cudart shared -o $@ $< -lcublas

CUDA_TESTS += $(B)/tests/cuda/occupancy $(B)/tests/cuda/cublas_gemm

# Every program above (each family adds its own to CUDA_TESTS beside its rule).
cuda-tests: $(CUDA_TESTS)

# The GPU suite, on a GPU host.
test-gpu: all demo bench cuda-tests probes
	tests/gpu/run.sh $(B)

# The real driver's behaviour after a fault (tests/gpu/probe-fault.sh; informational).
$(B)/tests/gpu/test_kernels.cubin: tests/cuda/test_kernels.cuh
	@mkdir -p $(dir $@)
	$(NVCC) -cubin -arch=sm_90 -x cu -o $@ $<
$(B)/tests/gpu/probe_fault: tests/gpu/probe_fault.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CUDA_INC) -o $@ $< -L$(CUDA_HOME)/lib64/stubs -lcuda
# The real driver's export tables the shim lacks (tests/gpu/probe-export-tables.sh; informational).
$(B)/tests/gpu/probe_export_tables: tests/gpu/probe_export_tables.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CUDA_INC) -o $@ $< -L$(CUDA_HOME)/lib64/stubs -lcuda -ldl
probes: $(B)/tests/gpu/test_kernels.cubin $(B)/tests/gpu/probe_fault $(B)/tests/gpu/probe_export_tables
