# The malicious-client suite (tests/hostile/t-hostile.sh): its raw client of
# the local transport, and a cubin whose __device__ array is bigger than the
# suite's memory quota (built only where nvcc is).
HOSTILE_SRCS := tests/hostile/hostile.c tests/hostile/hclient.c
HOSTILE_BIN := $(B)/tests/hostile/hostile

$(HOSTILE_BIN): $(HOSTILE_SRCS) tests/hostile/hclient.h $(B)/libvgpu-common.a \
		$(wildcard include/vgpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -Itests/hostile -o $@ $(HOSTILE_SRCS) $(B)/libvgpu-common.a

$(B)/tests/hostile/big_globals.cubin: tests/hostile/big_globals.cu
	@mkdir -p $(dir $@)
	$(NVCC) -cubin -arch=sm_90 -o $@ $<

.PHONY: hostile
hostile: $(HOSTILE_BIN)
