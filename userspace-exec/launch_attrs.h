/* SPDX-License-Identifier: MIT */
/*
 * Launch attributes from the wire (struct vgpu_launch_attr) to the driver's
 * CUlaunchAttribute: known ids only, values in range, events translated
 * from the guest's ids.  Only the fields a known attribute defines are
 * copied, so no other guest byte reaches the driver.
 */
#ifndef VGPU_LAUNCH_ATTRS_H
#define VGPU_LAUNCH_ATTRS_H

#include <cuda.h>

#include "dispatch.h"

/*
 * Decode @n wire attributes at @wire (unaligned bytes in the record) into
 * @out (room for VGPU_MAX_LAUNCH_ATTRS); *@nout gets how many the driver is
 * given (IGNORE entries are dropped).  @for_launch: attributes valid only
 * for a launch (events) are refused in an occupancy query.
 * CUDA_ERROR_INVALID_VALUE for an unknown id, a bad value or too many;
 * CUDA_ERROR_INVALID_HANDLE for an event the session does not have.
 */
CUresult vgpu_launch_attrs_decode(struct vgpu_session *s, const uint8_t *wire, uint32_t n,
				  bool for_launch, CUlaunchAttribute *out, unsigned int *nout);

#endif /* VGPU_LAUNCH_ATTRS_H */
