// SPDX-License-Identifier: MIT
// A module for tests/unit/test_image.c: nvcc turns it into a cubin, a fatbin and PTX.
#include "test_kernels.cuh"
