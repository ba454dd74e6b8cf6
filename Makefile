# vgpu: one physical NVIDIA GPU shared by many VMs.
#
#   make            build the shim, the executor and the vgpu command
#   make run        the demo on a GPU host: natively and through the shim
#   make test       every test that needs no GPU (what CI runs)
#   make test-gpu   the GPU suite, on a GPU host
#   make install-host / install-guest / install, the same with uninstall
#                   (DESTDIR, PREFIX...: dist/install.mk, docs/install.md)
#   make deb        the Debian packages vgpu-host and vgpu-guest, in build/deb/
#
# Everything lands in build/.  CUDA_HOME names the toolkit (headers, and
# the stub libcuda.so the generator reads the exported names from).

CUDA_HOME ?= /usr/local/cuda
B := build
CC ?= gcc
PYTHON ?= python3
NVCC ?= $(CUDA_HOME)/bin/nvcc
# Hopper (H100/H200) SASS, and PTX for anything newer.
NVCC_ARCH ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS_BASE := -std=c17 -O2 -g $(WARN) -D_GNU_SOURCE -fPIC -Iinclude
CUDA_INC := -isystem $(CUDA_HOME)/include

COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(B)/obj/%.o)

.PHONY: all shim executor tools test test-gpu run demo bench fuzz clean
all: shim executor tools

$(B)/obj/common/%.o: common/%.c $(wildcard include/vgpu/*.h common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -fvisibility=hidden -Icommon -c -o $@ $<

$(B)/libvgpu-common.a: $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

include guest-shim/shim.mk
include userspace-exec/exec.mk
include tests/fakecuda/fakecuda.mk
include tests/tests.mk
include tests/kmod/kmod.mk
include demo/demo.mk
include tests/fuzz/fuzz.mk
include tests/hostile/hostile.mk
include bench/bench.mk
include dist/install.mk
include tests/cuda/cuda.mk

clean:
	rm -rf $(B)
