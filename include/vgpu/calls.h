/* SPDX-License-Identifier: MIT */
/*
 * Call numbering and argument layouts of the submission ring.
 *
 * Each record is struct vgpu_cmd_hdr followed by the call's argument struct
 * below (and, for some calls, trailing bytes).  Numbers are stable: a call is
 * never renumbered, new calls take new numbers, and a change of an argument
 * layout bumps VGPU_PROTOCOL_MAJOR.  All integers are little-endian.
 *
 * Handles (decision 5): CUdeviceptr values are the host's real GPU addresses.
 * Every other object is named by a 64-bit id the guest chooses when it asks
 * for the object to be created (so creation need not wait for an answer); the
 * executor maps ids to its objects and refuses unknown or reused ids.  Stream
 * ids 0, 1 and 2 are the NULL, legacy and per-thread default streams; guest
 * ids start at VGPU_FIRST_ID.
 *
 * Bulk references: an (offset, len) pair inside the channel's bulk area.
 * Data the guest sends starts at a bulk slot (include/vgpu/bar1.h) and
 * carries a bulk sequence number that equals its record's seal (its ring
 * position + 1), so sequence order is ring order; the executor stores it in
 * ctrl.bulk_slot_retired[slot] once it no longer reads that data.  Data the
 * executor returns lands at the offset the guest named; the guest frees it.
 */
#ifndef VGPU_CALLS_H
#define VGPU_CALLS_H

#include <stdint.h>

#define VGPU_FIRST_ID		16u
#define VGPU_STREAM_NULL	0u
#define VGPU_STREAM_LEGACY	1u
#define VGPU_STREAM_PER_THREAD	2u

/* Statuses outside CUresult's range. */
#define VGPU_STATUS_NEED_IMAGE	0x10000u	/* MODULE_LOAD: upload the image first */

/*
 * Messages from the executor (protocol 1.1).  A completion whose tag has
 * VGPU_TAG_MESSAGE set answers no call: its status says what the guest is
 * asked to do.  Guest tags never have the bit set.
 */
#define VGPU_TAG_MESSAGE	(1ull << 63)
#define VGPU_MSG_RUN_HOST_FUNC	1u	/* data: struct vgpu_msg_host_func */

/* HELLO reply features (protocol 1.1). */
#define VGPU_FEATURE_HOST_FUNC	(1u << 0)	/* streams can wait for guest host functions */

enum vgpu_opcode {
	VGPU_OP_PAD			= 0,
	VGPU_OP_HELLO			= 1,
	VGPU_OP_GOODBYE			= 2,
	VGPU_OP_THREAD_EXIT		= 3,

	VGPU_OP_DEVICE_GET_COUNT	= 10,
	VGPU_OP_DEVICE_GET_INFO		= 11,

	VGPU_OP_PRIMARY_CTX_RETAIN	= 20,
	VGPU_OP_PRIMARY_CTX_RELEASE	= 21,
	VGPU_OP_PRIMARY_CTX_RESET	= 22,
	VGPU_OP_PRIMARY_CTX_SET_FLAGS	= 23,
	VGPU_OP_PRIMARY_CTX_GET_STATE	= 24,
	VGPU_OP_CTX_CREATE		= 25,
	VGPU_OP_CTX_DESTROY		= 26,
	VGPU_OP_CTX_SYNCHRONIZE		= 27,
	VGPU_OP_CTX_GET_LIMIT		= 28,
	VGPU_OP_CTX_SET_LIMIT		= 29,
	VGPU_OP_CTX_GET_STREAM_PRIORITY_RANGE = 30,

	VGPU_OP_MEM_ALLOC		= 40,
	VGPU_OP_MEM_FREE		= 41,
	VGPU_OP_MEM_GET_INFO		= 42,
	VGPU_OP_MEMCPY_HTOD		= 43,
	VGPU_OP_MEMCPY_HTOD_INLINE	= 44,
	VGPU_OP_MEMCPY_DTOH		= 45,
	VGPU_OP_MEMCPY_DTOD		= 46,
	VGPU_OP_MEMSET			= 47,

	VGPU_OP_IMAGE_UPLOAD		= 60,
	VGPU_OP_MODULE_LOAD		= 61,
	VGPU_OP_MODULE_UNLOAD		= 62,
	VGPU_OP_MODULE_GET_FUNCTION	= 63,
	VGPU_OP_MODULE_GET_GLOBAL	= 64,
	VGPU_OP_LIBRARY_GET_KERNEL	= 65,
	VGPU_OP_KERNEL_GET_FUNCTION	= 66,
	VGPU_OP_FUNC_GET_PARAM_INFO	= 67,
	VGPU_OP_FUNC_GET_ATTRIBUTE	= 68,
	VGPU_OP_FUNC_SET_ATTRIBUTE	= 69,

	VGPU_OP_LAUNCH_KERNEL		= 80,

	VGPU_OP_STREAM_CREATE		= 90,
	VGPU_OP_STREAM_DESTROY		= 91,
	VGPU_OP_STREAM_SYNCHRONIZE	= 92,
	VGPU_OP_STREAM_QUERY		= 93,
	VGPU_OP_STREAM_WAIT_EVENT	= 94,
	VGPU_OP_LAUNCH_HOST_FUNC	= 95,
	VGPU_OP_STREAM_WAIT_VALUE	= 96,
	VGPU_OP_STREAM_WRITE_VALUE	= 97,

	VGPU_OP_EVENT_CREATE		= 100,
	VGPU_OP_EVENT_DESTROY		= 101,
	VGPU_OP_EVENT_RECORD		= 102,
	VGPU_OP_EVENT_SYNCHRONIZE	= 103,
	VGPU_OP_EVENT_QUERY		= 104,
	VGPU_OP_EVENT_ELAPSED		= 105,

	/* Extended launches, function attributes, cluster occupancy (an older executor: NOT_SUPPORTED). */
	VGPU_OP_LAUNCH_KERNEL_EX	= 110,
	VGPU_OP_FUNC_GET_ATTRIBUTES	= 111,
	VGPU_OP_FUNC_SET_CACHE_CONFIG	= 112,
	VGPU_OP_FUNC_SET_SHARED_CONFIG	= 113,
	VGPU_OP_OCCUPANCY_CLUSTER	= 114,

	/* Virtual memory management and stream-ordered allocation (160-179). */
	VGPU_OP_VMM_GRANULARITY		= 160,
	VGPU_OP_VMM_RESERVE		= 161,
	VGPU_OP_VMM_ADDRESS_FREE	= 162,
	VGPU_OP_VMM_CREATE		= 163,
	VGPU_OP_VMM_RELEASE		= 164,
	VGPU_OP_VMM_MAP			= 165,
	VGPU_OP_VMM_UNMAP		= 166,
	VGPU_OP_VMM_SET_ACCESS		= 167,
	VGPU_OP_VMM_GET_ACCESS		= 168,
	VGPU_OP_VMM_RETAIN		= 169,
	VGPU_OP_VMM_GET_PROP		= 170,
	VGPU_OP_MEM_ALLOC_ASYNC		= 171,
	VGPU_OP_MEM_FREE_ASYNC		= 172,
	VGPU_OP_POOL_CREATE		= 173,
	VGPU_OP_POOL_DESTROY		= 174,
	VGPU_OP_POOL_TRIM		= 175,
	VGPU_OP_POOL_SET_ATTR		= 176,
	VGPU_OP_POOL_GET_ATTR		= 177,
	VGPU_OP_DEVICE_GET_POOL		= 178,
	VGPU_OP_DEVICE_SET_POOL		= 179,

	/* One past the highest: the blocks above stay in ascending order. */
	VGPU_OP_COUNT
};

struct vgpu_bulk_ref {
	uint64_t off;		/* within the channel's bulk area */
	uint64_t len;
};

/* HELLO: the version handshake, first call of every session. */
struct vgpu_hello_args {
	uint16_t major, minor;	/* the guest's protocol version */
	uint32_t guest_pid;
};
struct vgpu_hello_reply {	/* inline */
	uint16_t major, minor;	/* the executor's protocol version */
	int32_t driver_version;	/* the host driver's cuDriverGetVersion */
	int32_t device_count;
	uint32_t features;	/* VGPU_FEATURE_* (protocol 1.1; 0 before) */
	uint64_t session_id;
	uint64_t mem_quota;	/* bytes this session may allocate */
};

struct vgpu_device_args {
	int32_t device;
	uint32_t reserved;
};

#define VGPU_DEVICE_ATTRS	256

/* DEVICE_GET_INFO: everything about a device that never changes, in one answer. */
struct vgpu_device_info {
	char name[256];
	uint8_t uuid[16];
	uint8_t luid[8];
	uint32_t luid_device_mask;
	uint32_t luid_status;		/* the host's cuDeviceGetLuid result (a CUresult) */
	uint64_t total_mem;		/* capped to the session's quota */
	char pci_bus_id[32];
	int32_t attrs[VGPU_DEVICE_ATTRS];	/* index: CUdevice_attribute */
	uint32_t attr_valid[VGPU_DEVICE_ATTRS / 32];	/* bit set: attrs[i] was answered */
};
struct vgpu_device_info_args {
	int32_t device;
	uint32_t reserved;
	struct vgpu_bulk_ref out;	/* receives struct vgpu_device_info */
};

struct vgpu_primary_ctx_args {
	int32_t device;
	uint32_t flags;		/* SET_FLAGS */
	uint64_t ctx_id;	/* RETAIN: the id the guest gives the primary context */
};
struct vgpu_primary_ctx_state {	/* GET_STATE reply, inline */
	uint32_t flags;
	int32_t active;
};

struct vgpu_ctx_create_args {
	uint64_t ctx_id;
	uint32_t flags;
	int32_t device;
};
struct vgpu_ctx_args {
	uint64_t ctx_id;
};
struct vgpu_ctx_limit_args {
	uint32_t limit;		/* CUlimit */
	uint32_t reserved;
	uint64_t value;		/* SET_LIMIT */
};

struct vgpu_priority_range {	/* CTX_GET_STREAM_PRIORITY_RANGE reply, inline */
	int32_t least;
	int32_t greatest;
};

struct vgpu_mem_alloc_args {
	uint64_t size;
};
struct vgpu_mem_free_args {
	uint64_t dptr;
};
struct vgpu_mem_info_reply {	/* inline */
	uint64_t free;
	uint64_t total;
};

/* MEMCPY_HTOD: source in bulk; asynchronous unless VGPU_CMD_F_REPLY. */
struct vgpu_memcpy_htod_args {
	uint64_t dst;
	uint64_t stream;
	struct vgpu_bulk_ref src;
	uint64_t bulk_seq;
};
/* MEMCPY_HTOD_INLINE: len bytes follow the struct. */
struct vgpu_memcpy_htod_inline_args {
	uint64_t dst;
	uint64_t stream;
	uint64_t len;
};
/* MEMCPY_DTOH: always answered, once the data is in bulk. */
struct vgpu_memcpy_dtoh_args {
	uint64_t src;
	uint64_t stream;
	struct vgpu_bulk_ref dst;
};
struct vgpu_memcpy_dtod_args {
	uint64_t dst;
	uint64_t src;
	uint64_t len;
	uint64_t stream;
};
/* MEMSET: 1D when height == 0, else 2D with dst_pitch. */
struct vgpu_memset_args {
	uint64_t dst;
	uint64_t stream;
	uint64_t width;		/* elements per row (1D: element count) */
	uint64_t height;
	uint64_t dst_pitch;	/* bytes */
	uint32_t value;
	uint32_t elem_size;	/* 1, 2 or 4 */
};

#define VGPU_HASH_SIZE		32	/* SHA-256 */
#define VGPU_IMAGE_MAX		(1ULL << 30)

/* IMAGE_UPLOAD: one chunk of an image, by content hash; asynchronous. */
struct vgpu_image_upload_args {
	uint8_t hash[VGPU_HASH_SIZE];
	uint64_t total;
	uint64_t offset;
	struct vgpu_bulk_ref src;
	uint64_t bulk_seq;
};

#define VGPU_IMAGE_MODULE	0u	/* cuModuleLoadData */
#define VGPU_IMAGE_LIBRARY	1u	/* cuLibraryLoadData */

/* MODULE_LOAD: by hash; VGPU_STATUS_NEED_IMAGE if the executor lacks it. */
struct vgpu_module_load_args {
	uint64_t id;
	uint8_t hash[VGPU_HASH_SIZE];
	uint64_t size;
	uint32_t kind;		/* VGPU_IMAGE_* */
	uint32_t reserved;
};
struct vgpu_module_args {	/* MODULE_UNLOAD */
	uint64_t id;
	uint32_t kind;
	uint32_t reserved;
};
/* GET_FUNCTION, GET_GLOBAL, GET_KERNEL: name_len bytes (no NUL) follow. */
struct vgpu_module_get_args {
	uint64_t module;
	uint64_t new_id;	/* GET_FUNCTION, GET_KERNEL */
	uint32_t kind;		/* VGPU_IMAGE_* of module */
	uint32_t name_len;
};
struct vgpu_global_reply {	/* inline */
	uint64_t dptr;
	uint64_t size;
};
struct vgpu_kernel_get_function_args {
	uint64_t kernel;
	uint64_t new_id;
};

struct vgpu_param_info {
	uint32_t offset;
	uint32_t size;
};
/* FUNC_GET_PARAM_INFO: answer inline is the count; the layout lands in out. */
struct vgpu_func_param_info_args {
	uint64_t func;
	struct vgpu_bulk_ref out;
};
struct vgpu_func_attr_args {
	uint64_t func;
	int32_t attrib;		/* CUfunction_attribute */
	int32_t value;		/* SET */
	int32_t device;		/* kernels: the device */
	uint32_t reserved;
};

/* LAUNCH_KERNEL: param_size bytes of packed parameters follow. */
struct vgpu_launch_args {
	uint64_t func;		/* a function or a kernel id */
	uint64_t stream;
	uint32_t grid[3];
	uint32_t block[3];
	uint32_t shared_mem;
	uint32_t param_size;
};
#define VGPU_MAX_PARAM_BYTES	32764u

/*
 * LAUNCH_KERNEL_EX: cuLaunchKernelEx and cuLaunchCooperativeKernel.
 * num_attrs struct vgpu_launch_attr follow the struct, then param_size
 * bytes of packed parameters.  Attribute values are the driver's
 * CUlaunchAttributeValue bytes except that an event (PROGRAMMATIC_EVENT,
 * LAUNCH_COMPLETION_EVENT) is named by its id in the first 8 bytes.
 */
#define VGPU_MAX_LAUNCH_ATTRS	32u
struct vgpu_launch_attr {
	uint32_t id;		/* CUlaunchAttributeID */
	uint32_t reserved;
	uint8_t value[64];	/* CUlaunchAttributeValue */
};
struct vgpu_launch_ex_args {
	uint64_t func;		/* a function or a kernel id */
	uint64_t stream;
	uint32_t grid[3];
	uint32_t block[3];
	uint32_t shared_mem;
	uint32_t param_size;
	uint32_t num_attrs;	/* <= VGPU_MAX_LAUNCH_ATTRS */
	uint32_t reserved;
};

/*
 * FUNC_GET_ATTRIBUTES: every CUfunction_attribute of a function (or of a
 * kernel on @device) in one answer, written to @out.
 */
#define VGPU_FUNC_ATTRS		32
struct vgpu_func_attrs {
	int32_t value[VGPU_FUNC_ATTRS];		/* index: CUfunction_attribute */
	uint32_t valid;				/* bit i: value[i] was answered */
	/*
	 * The driver's cuOccupancyMaxActiveBlocksPerMultiprocessor for one warp
	 * and no dynamic shared memory, or -1: shows a limit no attribute
	 * reports (block barriers, virtual resources), which is the same for
	 * every block size (occupancy.c).
	 */
	int32_t probe_blocks;
};
struct vgpu_func_attrs_args {
	uint64_t func;
	int32_t device;		/* kernels: the device */
	uint32_t reserved;
	struct vgpu_bulk_ref out;	/* receives struct vgpu_func_attrs */
};
/* FUNC_SET_CACHE_CONFIG (CUfunc_cache), FUNC_SET_SHARED_CONFIG (CUsharedconfig). */
struct vgpu_func_config_args {
	uint64_t func;
	uint32_t config;
	int32_t device;		/* kernels: the device */
};

/*
 * OCCUPANCY_CLUSTER: cuOccupancyMaxPotentialClusterSize (@query 0) or
 * cuOccupancyMaxActiveClusters (@query 1) for a launch configuration;
 * attributes follow as for LAUNCH_KERNEL_EX.  The answer is an int32, inline.
 */
#define VGPU_OCC_CLUSTER_SIZE	0u
#define VGPU_OCC_ACTIVE_CLUSTERS 1u
struct vgpu_occupancy_cluster_args {
	uint64_t func;
	uint64_t stream;
	uint32_t grid[3];
	uint32_t block[3];
	uint32_t shared_mem;
	uint32_t query;
	uint32_t num_attrs;
	uint32_t reserved;
};

struct vgpu_stream_create_args {
	uint64_t id;
	uint32_t flags;
	int32_t priority;
};
struct vgpu_stream_args {
	uint64_t stream;
};
struct vgpu_stream_wait_event_args {
	uint64_t stream;
	uint64_t event;
	uint32_t flags;
	uint32_t reserved;
};

/*
 * LAUNCH_HOST_FUNC: asynchronous.  When @stream reaches this point the
 * executor sends VGPU_MSG_RUN_HOST_FUNC with @cookie; the stream then waits
 * on the GPU until ctrl.host_flag[@slot] >= @gen, which the guest stores
 * after running the function.  @callback: a cuStreamAddCallback callback
 * (it receives the stream's status) rather than a cuLaunchHostFunc one.
 */
struct vgpu_host_func_args {
	uint64_t stream;
	uint64_t cookie;	/* the guest's; returned in the message */
	uint64_t gen;
	uint32_t slot;		/* < VGPU_HOST_FLAGS */
	uint32_t callback;
};
struct vgpu_msg_host_func {	/* message data, inline */
	uint64_t cookie;
	uint64_t gen;
	uint32_t slot;
	uint32_t status;	/* CUresult of the stream, for callbacks */
};

/* STREAM_WAIT_VALUE / STREAM_WRITE_VALUE: cuStreamWaitValue32/64, cuStreamWriteValue32/64. */
struct vgpu_stream_value_args {
	uint64_t stream;
	uint64_t addr;		/* device memory */
	uint64_t value;
	uint32_t flags;		/* CU_STREAM_WAIT_VALUE_* / CU_STREAM_WRITE_VALUE_* */
	uint32_t width;		/* 4 or 8 bytes */
};

struct vgpu_event_create_args {
	uint64_t id;
	uint32_t flags;
	uint32_t reserved;
};
struct vgpu_event_args {
	uint64_t event;
	uint64_t stream;	/* RECORD */
};
struct vgpu_event_elapsed_args {
	uint64_t start;
	uint64_t end;
};

/*
 * Virtual memory management (cuMem{AddressReserve,Create,Map,...}).
 * Reserved and mapped addresses are real device addresses (decision 5);
 * physical allocations (CUmemGenericAllocationHandle) are ids the guest
 * chooses at VMM_CREATE, and VMM_RETAIN answers the id of the allocation
 * mapped at an address.  Every address a call names must lie in the
 * session's own reservations (MAP, SET_ACCESS) or mappings (UNMAP, RETAIN).
 */
struct vgpu_vmm_prop {		/* CUmemAllocationProp without its host pointer */
	uint32_t type;		/* CUmemAllocationType: PINNED only */
	uint32_t handle_types;	/* CUmemAllocationHandleType: NONE only */
	uint32_t loc_type;	/* CUmemLocationType: DEVICE only */
	int32_t loc_id;		/* the device */
	uint8_t compression;	/* allocFlags.compressionType */
	uint8_t rdma;		/* allocFlags.gpuDirectRDMACapable */
	uint16_t usage;		/* allocFlags.usage */
	uint32_t reserved;
};
struct vgpu_vmm_granularity_args {	/* reply: uint64_t granularity */
	struct vgpu_vmm_prop prop;
	uint32_t option;	/* CUmemAllocationGranularity_flags */
	uint32_t reserved;
};
struct vgpu_vmm_reserve_args {	/* reply: uint64_t address */
	uint64_t size;
	uint64_t alignment;
	uint64_t addr;		/* a hint */
	uint64_t flags;
};
struct vgpu_vmm_range_args {	/* ADDRESS_FREE, UNMAP */
	uint64_t ptr;
	uint64_t size;
};
struct vgpu_vmm_create_args {
	uint64_t id;		/* the guest's name for the allocation */
	uint64_t size;
	uint64_t flags;
	struct vgpu_vmm_prop prop;
};
struct vgpu_vmm_handle_args {	/* RELEASE, GET_PROP (reply: struct vgpu_vmm_prop) */
	uint64_t id;
};
struct vgpu_vmm_map_args {
	uint64_t ptr;
	uint64_t size;
	uint64_t offset;
	uint64_t id;
	uint64_t flags;
};
struct vgpu_vmm_access {	/* CUmemAccessDesc */
	uint32_t loc_type;
	int32_t loc_id;
	uint32_t flags;		/* CUmemAccess_flags */
	uint32_t reserved;
};
#define VGPU_VMM_MAX_ACCESS	64u
/* SET_ACCESS: count struct vgpu_vmm_access follow. */
struct vgpu_vmm_set_access_args {
	uint64_t ptr;
	uint64_t size;
	uint32_t count;
	uint32_t reserved;
};
struct vgpu_vmm_get_access_args {	/* reply: uint64_t flags */
	uint64_t ptr;
	uint32_t loc_type;
	int32_t loc_id;
};
struct vgpu_vmm_retain_args {	/* reply: uint64_t id */
	uint64_t ptr;
};

/*
 * Stream-ordered allocation.  Pools are ids the guest chooses; a device's
 * default pool gets its id from the first DEVICE_GET_POOL that names it.
 */
#define VGPU_POOL_CURRENT	0u	/* MEM_ALLOC_ASYNC: the device's current pool */
struct vgpu_mem_alloc_async_args {	/* reply: uint64_t dptr */
	uint64_t size;
	uint64_t stream;
	uint64_t pool;		/* VGPU_POOL_CURRENT or a pool id */
};
struct vgpu_mem_free_async_args {
	uint64_t dptr;
	uint64_t stream;
};
struct vgpu_pool_create_args {	/* CUmemPoolProps without its host pointer */
	uint64_t id;
	uint64_t max_size;
	uint32_t alloc_type;
	uint32_t handle_types;
	uint32_t loc_type;
	int32_t loc_id;
	uint16_t usage;
	uint16_t reserved0;
	uint32_t reserved;
};
struct vgpu_pool_args {		/* DESTROY, TRIM (value: bytes to keep) */
	uint64_t id;
	uint64_t value;
};
struct vgpu_pool_attr_args {	/* SET, GET (reply: uint64_t value) */
	uint64_t id;
	uint64_t value;
	uint32_t attr;		/* CUmemPool_attribute */
	uint32_t reserved;
};
#define VGPU_POOL_DEFAULT	0u	/* DEVICE_GET_POOL: which pool */
struct vgpu_device_pool_args {	/* GET: reply uint64_t id; SET: id is the pool */
	uint64_t id;		/* GET of the default pool: the id to give it if it has none */
	int32_t device;
	uint32_t which;		/* VGPU_POOL_DEFAULT */
};

#endif /* VGPU_CALLS_H */
