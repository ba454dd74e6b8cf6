# The host executor: vgpu-executor (privileged parent and per-session
# workers) and the vgpu command.

EXEC_SRCS := $(filter-out userspace-exec/vgpu_cli.c,$(wildcard userspace-exec/*.c))
EXEC_OBJS := $(EXEC_SRCS:%.c=$(B)/obj/%.o)
EXEC_CFLAGS := $(CFLAGS_BASE) $(CUDA_INC) -Iuserspace-exec

$(B)/obj/userspace-exec/%.o: userspace-exec/%.c $(wildcard userspace-exec/*.h include/vgpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(EXEC_CFLAGS) -c -o $@ $<

# Everything of the executor but main(), for unit tests and the fuzzer.
$(B)/libvgpu-exec.a: $(filter-out $(B)/obj/userspace-exec/main.o,$(EXEC_OBJS))
	$(AR) rcs $@ $^

$(B)/bin/vgpu-executor: $(B)/obj/userspace-exec/main.o $(B)/libvgpu-exec.a $(B)/libvgpu-common.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ -lpthread -ldl

$(B)/bin/vgpu: $(B)/obj/userspace-exec/vgpu_cli.o $(B)/libvgpu-common.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^

# Until the executor's sources land, `make all` (and so `make test`) goes
# on without it instead of failing on a missing main.c.
executor: $(if $(wildcard userspace-exec/main.c),$(B)/bin/vgpu-executor)
tools: $(if $(wildcard userspace-exec/vgpu_cli.c),$(B)/bin/vgpu)
