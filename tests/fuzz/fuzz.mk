# The decoder's fuzz target (libFuzzer, with AddressSanitizer and UBSan),
# built with clang from the executor's sources.  tests/fuzz/t-fuzz.sh runs it
# for a bounded time in `make test`.  vgpu_bulk is wrapped at link time so
# the harness knows which bulk bytes an input touched (fuzz_dispatch.c).
FUZZ_CC ?= clang
FUZZ_SRCS := $(filter-out userspace-exec/main.c userspace-exec/vgpu_cli.c \
	userspace-exec/local_listener.c userspace-exec/worker.c \
	userspace-exec/mdev_frontend.c,$(wildcard userspace-exec/*.c)) \
	$(COMMON_SRCS)
FUZZ_FLAGS := -std=c17 -g -O1 -D_GNU_SOURCE -Iinclude -Iuserspace-exec -Icommon $(CUDA_INC) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

$(B)/fuzz/fuzz_dispatch: tests/fuzz/fuzz_dispatch.c $(FUZZ_SRCS) $(wildcard userspace-exec/*.h include/vgpu/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -DFAKECUDA_PATH='"$(abspath $(B)/fakecuda/libcuda.so.1)"' \
		-Wl,--wrap=vgpu_bulk -o $@ tests/fuzz/fuzz_dispatch.c $(FUZZ_SRCS) -ldl -lpthread

fuzz: $(B)/fuzz/fuzz_dispatch fakecuda
