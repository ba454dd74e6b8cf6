# Benchmarks: built here (nvcc, no GPU needed), run on a GPU host by
# bench/run.sh, natively and through vgpu in the same run.
$(B)/bench/micro: bench/micro.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O2 $(NVCC_ARCH) -o $@ $<

bench: all $(B)/bench/micro

# The worker's host CPU at low load (bench/poll-cost.sh); plain C, no GPU code.
$(B)/bench/poll_cost: bench/poll_cost.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CUDA_INC) -o $@ $< -ldl

bench: $(B)/bench/poll_cost
