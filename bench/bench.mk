# Benchmarks: built here (nvcc, no GPU needed), run on a GPU host by
# bench/run.sh, natively and through vgpu in the same run.
$(B)/bench/micro: bench/micro.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O2 $(NVCC_ARCH) -o $@ $<

bench: all $(B)/bench/micro
