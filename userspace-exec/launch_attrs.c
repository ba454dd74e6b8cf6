// SPDX-License-Identifier: MIT
/*
 * Launch attributes (cuda.h, CUlaunchAttributeID), checked one by one.
 * The executor checks what it must to stay safe and to keep guest bytes
 * from the driver (an id it does not know, a value outside its enum, an
 * event it did not create, an output pointer); what the launch then means
 * (a cluster shape the grid cannot take, a cooperative grid too large) the
 * real driver judges and answers with its own error.
 */
#include <stdio.h>
#include <string.h>

#include "launch_attrs.h"
#include "log.h"

/* Values are read from the record's bytes at their CUlaunchAttributeValue offsets. */
static int32_t i32_at(const uint8_t *v, size_t off)
{
	int32_t x;

	memcpy(&x, v + off, sizeof(x));
	return x;
}

static uint64_t u64_at(const uint8_t *v, size_t off)
{
	uint64_t x;

	memcpy(&x, v + off, sizeof(x));
	return x;
}

/* @what names the number: an attribute's id, or how many came. */
static void log_refusal(struct vgpu_session *s, const char *what, uint32_t n)
{
	static struct vgpu_log_limit limit;
	uint32_t dropped;

	if (vgpu_log_allow(&limit, &dropped))
		vgpu_log_event("warn", "hostile_input",
			       "session=%lu what=launch_attribute %s=%u suppressed=%u",
			       (unsigned long)s->ch->session_id, what, n, dropped);
}

static CUresult event_of(struct vgpu_session *s, uint64_t id, CUevent *out)
{
	struct vgpu_idmap_entry *e = vgpu_obj(s, id, VGPU_OBJ_EVENT);

	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	*out = ((struct vgpu_xevent *)e->obj)->h;
	return CUDA_SUCCESS;
}

/* One attribute; CUDA_SUCCESS with out->id == IGNORE means "drop it". */
static CUresult decode_one(struct vgpu_session *s, const struct vgpu_launch_attr *w,
			   bool for_launch, CUlaunchAttribute *out)
{
	const uint8_t *v = w->value;
	CUlaunchAttributeValue *o = &out->value;
	CUresult r;

	memset(out, 0, sizeof(*out));
	out->id = (CUlaunchAttributeID)w->id;
	switch (w->id) {
	case CU_LAUNCH_ATTRIBUTE_IGNORE:
		return CUDA_SUCCESS;
	case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW: {
		CUaccessPolicyWindow apw;

		/* base_ptr is a device address the driver only uses as a cache hint. */
		memcpy(&apw, v, sizeof(apw));
		if (!(apw.hitRatio >= 0.0f && apw.hitRatio <= 1.0f) ||
		    (unsigned)apw.hitProp > CU_ACCESS_PROPERTY_PERSISTING ||
		    (unsigned)apw.missProp > CU_ACCESS_PROPERTY_PERSISTING)
			return CUDA_ERROR_INVALID_VALUE;
		o->accessPolicyWindow = apw;
		return CUDA_SUCCESS;
	}
	case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
		o->cooperative = i32_at(v, 0) != 0;
		return CUDA_SUCCESS;
	case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY:
		o->syncPolicy = (CUsynchronizationPolicy)i32_at(v, 0);
		return o->syncPolicy >= CU_SYNC_POLICY_AUTO &&
				       o->syncPolicy <= CU_SYNC_POLICY_BLOCKING_SYNC
			       ? CUDA_SUCCESS
			       : CUDA_ERROR_INVALID_VALUE;
	case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
	case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
		/* Same layout for both: three unsigned ints. */
		o->clusterDim.x = (unsigned)i32_at(v, 0);
		o->clusterDim.y = (unsigned)i32_at(v, 4);
		o->clusterDim.z = (unsigned)i32_at(v, 8);
		return CUDA_SUCCESS;
	case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
		o->clusterSchedulingPolicyPreference = (CUclusterSchedulingPolicy)i32_at(v, 0);
		return (unsigned)i32_at(v, 0) <= CU_CLUSTER_SCHEDULING_POLICY_LOAD_BALANCING
			       ? CUDA_SUCCESS
			       : CUDA_ERROR_INVALID_VALUE;
	case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
		o->programmaticStreamSerializationAllowed = i32_at(v, 0) != 0;
		return CUDA_SUCCESS;
	case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT:
	case CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT:
		if (!for_launch)
			return CUDA_ERROR_INVALID_VALUE;
		r = event_of(s, u64_at(v, 0), &o->programmaticEvent.event);
		if (r != CUDA_SUCCESS)
			return r;
		/* Record flags: only DEFAULT; EXTERNAL is refused by cuda.h's own rule. */
		if (i32_at(v, 8) != CU_EVENT_RECORD_DEFAULT)
			return CUDA_ERROR_INVALID_VALUE;
		o->programmaticEvent.flags = 0;
		if (w->id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT)
			o->programmaticEvent.triggerAtBlockStart = i32_at(v, 12) != 0;
		return CUDA_SUCCESS;
	case CU_LAUNCH_ATTRIBUTE_PRIORITY:
		/* The driver clamps priorities into its range, as for streams. */
		o->priority = i32_at(v, 0);
		return CUDA_SUCCESS;
	case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
		o->memSyncDomainMap.default_ = v[0];
		o->memSyncDomainMap.remote = v[1];
		return CUDA_SUCCESS;
	case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
		o->memSyncDomain = (CUlaunchMemSyncDomain)i32_at(v, 0);
		return (unsigned)i32_at(v, 0) <= CU_LAUNCH_MEM_SYNC_DOMAIN_REMOTE
			       ? CUDA_SUCCESS
			       : CUDA_ERROR_INVALID_VALUE;
	case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
		o->sharedMemCarveout = (unsigned)i32_at(v, 0);
		return CUDA_SUCCESS;
	case CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING:
		o->nvlinkUtilCentricScheduling = (unsigned)i32_at(v, 0);
		return CUDA_SUCCESS;
	case CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE:
		/* Graphs only (cuda.h), and its value holds an output pointer. */
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
}

CUresult vgpu_launch_attrs_decode(struct vgpu_session *s, const uint8_t *wire, uint32_t n,
				  bool for_launch, CUlaunchAttribute *out, unsigned int *nout)
{
	*nout = 0;
	if (n > VGPU_MAX_LAUNCH_ATTRS) {
		log_refusal(s, "count", n);
		return CUDA_ERROR_INVALID_VALUE;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct vgpu_launch_attr w;
		CUresult r;

		memcpy(&w, wire + i * sizeof(w), sizeof(w));
		r = decode_one(s, &w, for_launch, &out[*nout]);
		if (r != CUDA_SUCCESS) {
			if (r == CUDA_ERROR_INVALID_VALUE)
				log_refusal(s, "id", w.id);
			return r;
		}
		if (out[*nout].id != CU_LAUNCH_ATTRIBUTE_IGNORE)
			(*nout)++;
	}
	return CUDA_SUCCESS;
}
