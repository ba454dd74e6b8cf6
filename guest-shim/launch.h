/* SPDX-License-Identifier: MIT */
#ifndef VGPU_LAUNCH_H
#define VGPU_LAUNCH_H

#include "objects.h"

/*
 * Launch attributes into their wire form (@out has room for @n; @n is at
 * most VGPU_MAX_LAUNCH_ATTRS, else CUDA_ERROR_INVALID_VALUE and @out is not
 * touched).  Unknown ids are logged and refused; events become their ids.
 */
CUresult vgpu_launch_attrs_to_wire(const CUlaunchAttribute *attrs, unsigned int n,
				   struct vgpu_launch_attr *out);

#endif /* VGPU_LAUNCH_H */
