/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * The registry of host implementations of vgpu's CUDA test kernels
 * (tests/cuda/test_kernels.cuh).  The double cannot run GPU code; a kernel
 * launch runs the registry's implementation once per (block, thread) index,
 * reading its parameters from the packed parameter buffer through the layout
 * recorded here - the layout nvcc gives the real kernel - so wrongly packed
 * parameters give wrong results, as on a GPU.
 *
 * This file has no dependency on the rest of the double (the unit test
 * test_fakecuda_kernels links it alone to compare it with nvcc's output).
 */
#ifndef FC_REGISTRY_H
#define FC_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_MAX_KERNELS 64	/* modules keep a bit mask of the kernels they hold */
#define FC_MAX_GLOBALS 8

struct fc_param {
	uint32_t offset;	/* in the parameter buffer (EIATTR_KPARAM_INFO) */
	uint32_t size;
};

/*
 * What a host implementation sees of one GPU thread.  Memory is reached only
 * through load/store, which check the address against live device memory
 * and record a fault (the launcher turns it into CUDA_ERROR_ILLEGAL_ADDRESS)
 * instead of touching memory that is not there.
 */
struct fc_thread {
	uint32_t block[3], thread[3];	/* blockIdx, threadIdx */
	uint32_t grid[3], bdim[3];	/* gridDim, blockDim */
	const uint8_t *params;		/* the packed parameter buffer */
	const struct fc_kernel_def *def;
	void *mem;			/* opaque, for the callbacks */
	bool (*load)(void *mem, uint64_t addr, void *dst, size_t n);
	bool (*store)(void *mem, uint64_t addr, const void *src, size_t n);
	uint64_t (*global)(void *mem, unsigned global_index);	/* device address of a module global */
	/*
	 * Called by a kernel that spins on memory another stream or a host
	 * thread writes, once per fruitless iteration: it lets the writer run
	 * (a host machine has few cores) and returns false when the launch is
	 * being abandoned (a fault elsewhere, the context destroyed), so that
	 * the spin ends.
	 */
	bool (*relax)(void *mem);
};

typedef void (*fc_kernel_fn)(struct fc_thread *t);

struct fc_kernel_def {
	const char *name;		/* mangled, as nvcc emits it */
	const char *decl;		/* the CUDA declaration, for messages */
	unsigned nparams;
	const struct fc_param *params;
	uint32_t param_bytes;		/* EIATTR_CBANK_PARAM_SIZE */
	int num_regs;			/* EIATTR_REGCOUNT (ptxas -v "Used N registers") */
	int shared_bytes, const_bytes, local_bytes;	/* static sizes (all 0 here) */
	fc_kernel_fn run;
};

struct fc_global_def {
	const char *name;		/* as it appears in the image (not mangled) */
	size_t size;
};

extern const struct fc_kernel_def fc_kernels[];
extern const unsigned fc_kernel_count;
extern const struct fc_global_def fc_globals[];
extern const unsigned fc_global_count;

#endif /* FC_REGISTRY_H */
