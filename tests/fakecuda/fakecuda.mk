# fakecuda: a TEST DOUBLE of the NVIDIA driver for CI machines without a GPU
# (see tests/fakecuda/README.md).  Not a driver: it runs host implementations
# of vgpu's test kernels.  The executor loads it through $VGPU_LIBCUDA.
#
#   make fakecuda      build/fakecuda/libcuda.so.1 (soname libcuda.so.1)

FAKECUDA_SRCS := $(wildcard tests/fakecuda/*.c)
FAKECUDA_OBJS := $(FAKECUDA_SRCS:%.c=$(B)/obj/%.o)
FAKECUDA_LIB := $(B)/fakecuda/libcuda.so.1
FAKECUDA_CFLAGS := $(CFLAGS_BASE) $(CUDA_INC) -Itests/fakecuda -Iuserspace-exec -fvisibility=hidden

$(B)/obj/tests/fakecuda/%.o: tests/fakecuda/%.c $(wildcard tests/fakecuda/*.h) userspace-exec/real_driver.h
	@mkdir -p $(dir $@)
	$(CC) $(FAKECUDA_CFLAGS) -c -o $@ $<

$(FAKECUDA_LIB): $(FAKECUDA_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libcuda.so.1 -Wl,--no-undefined -o $@ $^ -lpthread -ldl -lm

.PHONY: fakecuda
fakecuda: $(FAKECUDA_LIB)

# tests/unit/test_fakecuda.c dlopens the double and includes the executor's
# table of entry points; the nvcc cross-check links the registry alone.
TEST_CFLAGS_test_fakecuda := $(CUDA_INC) -Iuserspace-exec -DFAKECUDA_LIB='"$(FAKECUDA_LIB)"'
TEST_LIBS_test_fakecuda := -lm
$(B)/tests/test_fakecuda: $(FAKECUDA_LIB) userspace-exec/real_driver.h

test: fakecuda
TEST_CFLAGS_test_fakecuda_kernels := $(CUDA_INC) -Itests/fakecuda -DFAKECUDA_LIB='"$(FAKECUDA_LIB)"' \
	-DCUDA_HOME='"$(CUDA_HOME)"'
TEST_LIBS_test_fakecuda_kernels := $(B)/obj/tests/fakecuda/fc_registry.o -lm
$(B)/tests/test_fakecuda_kernels: $(FAKECUDA_LIB) $(B)/obj/tests/fakecuda/fc_registry.o \
	tests/fakecuda/fc_registry.h

# tests/unit/test_fakecuda_async.c: the double as an asynchronous device;
# every scenario loads it afresh in a child.
TEST_CFLAGS_test_fakecuda_async := $(CUDA_INC) -Iuserspace-exec -DFAKECUDA_LIB='"$(FAKECUDA_LIB)"'
$(B)/tests/test_fakecuda_async: $(FAKECUDA_LIB) userspace-exec/real_driver.h

# tests/unit/test_fakecuda_vmm.c: the double's model of VMM and pools, called directly.
TEST_CFLAGS_test_fakecuda_vmm := $(CUDA_INC) -Iuserspace-exec -DFAKECUDA_LIB='"$(FAKECUDA_LIB)"'
$(B)/tests/test_fakecuda_vmm: $(FAKECUDA_LIB) userspace-exec/real_driver.h
