# The guest shim: libcuda.so.1 (and later libnvidia-ml.so.1).
#
# The exported driver API (every symbol of the toolkit's stub libcuda.so, with
# its exact prototype) and the cuGetProcAddress table are generated from the
# toolkit's headers by guest-shim/gen/gen_driver_api.py into $(B)/gen/.  The
# generated stubs are weak definitions returning CUDA_ERROR_NOT_SUPPORTED;
# each hand-written function in guest-shim/*.c overrides its stub.

GEN_DIR := $(B)/gen
GEN_OUT := $(GEN_DIR)/driver_api.h $(GEN_DIR)/driver_stubs.c $(GEN_DIR)/procaddr_table.c

$(GEN_OUT) &: guest-shim/gen/gen_driver_api.py $(CUDA_HOME)/include/cuda.h $(CUDA_HOME)/include/cudaTypedefs.h
	@mkdir -p $(GEN_DIR)
	$(PYTHON) guest-shim/gen/gen_driver_api.py --cuda-home $(CUDA_HOME) --out $(GEN_DIR)

# cuGetErrorName/cuGetErrorString's table, from cuda.h's CUresult enum.
$(GEN_DIR)/error_table.c: guest-shim/gen/gen_errors.py $(CUDA_HOME)/include/cuda.h
	@mkdir -p $(GEN_DIR)
	$(PYTHON) guest-shim/gen/gen_errors.py --cuda-home $(CUDA_HOME) --out $@

SHIM_SRCS := $(wildcard guest-shim/*.c)
SHIM_OBJS := $(SHIM_SRCS:%.c=$(B)/obj/%.o) $(B)/obj/gen/driver_stubs.o $(B)/obj/gen/procaddr_table.o \
	$(B)/obj/gen/error_table.o
SHIM_CFLAGS := $(CFLAGS_BASE) $(CUDA_INC) -I$(GEN_DIR) -Iguest-shim -fvisibility=hidden

$(B)/obj/guest-shim/%.o: guest-shim/%.c $(GEN_OUT) $(wildcard guest-shim/*.h include/vgpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -c -o $@ $<

$(B)/obj/gen/%.o: $(GEN_DIR)/%.c $(GEN_OUT) guest-shim/errors.h
	@mkdir -p $(dir $@)
	$(CC) $(SHIM_CFLAGS) -c -o $@ $<

# The shim's objects without its exported entry points, for unit tests.
$(B)/libvgpu-shim.a: $(SHIM_OBJS)
	$(AR) rcs $@ $^

$(B)/lib/libcuda.so.1: $(SHIM_OBJS) $(B)/libvgpu-common.a
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libcuda.so.1 -Wl,--no-undefined -o $@ $(SHIM_OBJS) \
		$(B)/libvgpu-common.a -lpthread -ldl
	ln -sf libcuda.so.1 $(B)/lib/libcuda.so

shim: $(B)/lib/libcuda.so.1
