/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Initialisation, versions, error names and the device: one H100 PCIe-like
 * device named "vgpu fakecuda test double".
 */
#include "fakecuda.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "real_driver.h"

/*
 * The ABI promise: every entry point the executor loads exists here with
 * exactly the type of its PFN typedef.  cu##member is the name cuda.h maps
 * the member to (cuCtxCreate -> cuCtxCreate_v4 ...), which the definitions
 * in this library must match; test_fakecuda checks that this name is the
 * exported string of the table.
 */
#define FC_PASTE(a, b) a##b
#define FC_ABI_CHECK(member, sym, pfn)							\
	_Static_assert(__builtin_types_compatible_p(__typeof__(&FC_PASTE(cu, member)), pfn), \
		       sym " does not have the ABI of " #pfn);
/* The list names deprecated entry points too (cuFuncSetSharedMemConfig): applications still call them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
VGPU_REAL_DRIVER_FUNCS(FC_ABI_CHECK)

/* ... and is defined here: an entry missing from the library fails the link (--no-undefined). */
#define FC_ABI_ENTRY(member, sym, pfn) (pfn)&FC_PASTE(cu, member),
__attribute__((used)) static const void *const fc_abi_entries[] = {
	VGPU_REAL_DRIVER_FUNCS(FC_ABI_ENTRY)
};
#pragma GCC diagnostic pop

pthread_mutex_t fc_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t fc_mem_lock = PTHREAD_MUTEX_INITIALIZER;
bool fc_initialized;
_Atomic CUresult fc_sticky = CUDA_SUCCESS;
bool fc_lenient;
bool fc_trace_launch;
int fc_block_barriers = 1;
uint64_t fc_mem_limit = FC_DEFAULT_MEM_LIMIT, fc_mem_used;
uint64_t fc_max_launch_threads = FC_DEFAULT_MAX_THREADS;

/* "vgpu-fakecuda-td": GPU-76677075-2d66-616b-6563-7564612d7464 */
const uint8_t fc_uuid[16] = { 'v', 'g', 'p', 'u', '-', 'f', 'a', 'k',
			      'e', 'c', 'u', 'd', 'a', '-', 't', 'd' };
/* Only reported when FAKECUDA_LUID=1 (the Linux driver has no LUID). */
static const uint8_t fc_luid[8] = { 'f', 'a', 'k', 'e', 'l', 'u', 'i', 'd' };

void fc_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fakecuda (test double): ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/*
 * The real driver trusts a handle: a forged or stale one makes it read
 * freed or foreign memory and crash, sooner or later.  Refusing such handles
 * is the executor's job (its id table), so the double must not answer them
 * with a polite error that would hide a missing check: it stops the process
 * and says which call it was.
 */
CUresult fc_forged(const char *call, const char *what, CUresult lenient)
{
	if (fc_lenient)
		return lenient;
	fprintf(stderr, "fakecuda: %s got a handle that is not a live %s: the real driver would "
		"crash; the executor must have refused it\n", call, what);
	fflush(stderr);
	abort();
}

CUresult fc_check_init(void)
{
	return fc_initialized ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

CUresult fc_check_device(CUdevice dev)
{
	return dev == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

static bool parse_u64_env(const char *name, uint64_t *out)
{
	const char *s = getenv(name);
	char *end;

	if (!s || !*s)
		return true;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || s[0] == '-') {
		fc_log("%s=\"%s\" is not a number", name, s);
		return false;
	}
	*out = v;
	return true;
}

/* Unset or empty: false; "0" or "1": that; anything else is refused. */
static bool parse_bool_env(const char *name, bool *out)
{
	const char *s = getenv(name);

	*out = false;
	if (!s || !*s || !strcmp(s, "0"))
		return true;
	if (!strcmp(s, "1")) {
		*out = true;
		return true;
	}
	fc_log("%s=\"%s\" is neither 0 nor 1", name, s);
	return false;
}

static CUresult do_init(unsigned int flags)
{
	if (flags != 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (fc_initialized)
		return CUDA_SUCCESS;
	uint64_t limit = FC_DEFAULT_MEM_LIMIT, threads = FC_DEFAULT_MAX_THREADS, delay_us = 0;
	uint64_t barriers = 1;
	bool sync, lenient, trace;
	if (!parse_u64_env("FAKECUDA_MEM_LIMIT", &limit) ||
	    !parse_u64_env("FAKECUDA_MAX_LAUNCH_THREADS", &threads) ||
	    !parse_u64_env("FAKECUDA_OP_DELAY_US", &delay_us) ||
	    !parse_u64_env("FAKECUDA_BLOCK_BARRIERS", &barriers) ||
	    !parse_bool_env("FAKECUDA_SYNC", &sync) || !parse_bool_env("FAKECUDA_LENIENT", &lenient) ||
	    !parse_bool_env("FAKECUDA_TRACE_LAUNCH", &trace))
		return CUDA_ERROR_INVALID_VALUE;
	if (delay_us > 10000000) {	/* 10 s an operation: a typo, not a test */
		fc_log("FAKECUDA_OP_DELAY_US=%llu is more than 10 s", (unsigned long long)delay_us);
		return CUDA_ERROR_INVALID_VALUE;
	}
	fc_mem_limit = limit < FC_TOTAL_MEM ? limit : FC_TOTAL_MEM;
	fc_max_launch_threads = threads;
	fc_op_delay_us = delay_us;
	fc_sync_mode = sync;
	fc_lenient = lenient;
	fc_trace_launch = trace;
	if (barriers < 1 || barriers > 16) {	/* the hardware's named barriers */
		fc_log("FAKECUDA_BLOCK_BARRIERS=%llu is not 1 to 16", (unsigned long long)barriers);
		return CUDA_ERROR_INVALID_VALUE;
	}
	fc_block_barriers = (int)barriers;
	fc_initialized = true;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuInit(unsigned int Flags)
{
	FC_LOCKED(do_init(Flags));
}

FC_EXPORT CUresult cuDriverGetVersion(int *driverVersion)
{
	if (!driverVersion)
		return CUDA_ERROR_INVALID_VALUE;
	*driverVersion = FC_DRIVER_VERSION;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuGetErrorName(CUresult error, const char **pStr)
{
	if (!pStr)
		return CUDA_ERROR_INVALID_VALUE;	/* the real driver crashes */
	for (size_t i = 0; i < fc_error_name_count; i++) {
		if (fc_error_names[i].code == error) {
			*pStr = fc_error_names[i].name;
			return CUDA_SUCCESS;
		}
	}
	*pStr = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

/* ------------------------------------------------------------------ device */

static CUresult device_get(CUdevice *device, int ordinal)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	if (ordinal != 0)
		return CUDA_ERROR_INVALID_DEVICE;
	*device = 0;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
	FC_LOCKED(device_get(device, ordinal));
}

static CUresult device_get_count(int *count)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if (!count)
		return CUDA_ERROR_INVALID_VALUE;
	*count = 1;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDeviceGetCount(int *count)
{
	FC_LOCKED(device_get_count(count));
}

static CUresult device_get_name(char *name, int len, CUdevice dev)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if (!name || len <= 0)	/* the real driver crashes on 0 */
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_check_device(dev)))
		return r;
	/* like the real driver: truncated to len - 1 characters */
	size_t n = strlen(FC_DEVICE_NAME);
	if (n > (size_t)len - 1)
		n = (size_t)len - 1;
	memcpy(name, FC_DEVICE_NAME, n);
	name[n] = '\0';
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
	FC_LOCKED(device_get_name(name, len, dev));
}

static CUresult device_get_uuid(CUuuid *uuid, CUdevice dev)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if (!uuid)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_check_device(dev)))
		return r;
	memcpy(uuid->bytes, fc_uuid, 16);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
	FC_LOCKED(device_get_uuid(uuid, dev));
}

/*
 * The Linux driver has no LUID (it answered CUDA_ERROR_NOT_SUPPORTED on the
 * H200); FAKECUDA_LUID=1 makes the double answer like a Windows driver, with
 * a fixed LUID and node mask 1, so both paths of a caller can be tested.
 */
static CUresult device_get_luid(char *luid, unsigned int *mask, CUdevice dev)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if (!luid || !mask)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_check_device(dev)))
		return r;
	const char *e = getenv("FAKECUDA_LUID");
	if (!e || strcmp(e, "1") != 0)
		return CUDA_ERROR_NOT_SUPPORTED;
	memcpy(luid, fc_luid, 8);
	*mask = 1;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDeviceGetLuid(char *luid, unsigned int *deviceNodeMask, CUdevice dev)
{
	FC_LOCKED(device_get_luid(luid, deviceNodeMask, dev));
}

static CUresult device_total_mem(size_t *bytes, CUdevice dev)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if (!bytes)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_check_device(dev)))
		return r;
	*bytes = FC_TOTAL_MEM;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	FC_LOCKED(device_total_mem(bytes, dev));
}

static CUresult device_get_pci_bus_id(char *bus, int len, CUdevice dev)
{
	char buf[32];
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!bus)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_check_device(dev)))
		return r;
	int n = snprintf(buf, sizeof(buf), "%04x:%02x:%02x.0", FC_PCI_DOMAIN, FC_PCI_BUS,
			 FC_PCI_DEVICE);
	if (len < n + 1)	/* the real driver refuses a short buffer */
		return CUDA_ERROR_INVALID_VALUE;
	memcpy(bus, buf, (size_t)n + 1);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice dev)
{
	FC_LOCKED(device_get_pci_bus_id(pciBusId, len, dev));
}

/*
 * Every CUdevice_attribute of CUDA 13.0, modelled on an H100 PCIe (80 GB):
 * the values an H200 reported (same Hopper chip, driver 580) where the two
 * boards agree, the H100 PCIe's own where they differ (SM count, clocks,
 * memory bus, L2, PCI ids, no NVLink fabric).  An attribute missing from
 * this table is answered CUDA_ERROR_INVALID_VALUE, so the unit test that
 * asks for every value below CU_DEVICE_ATTRIBUTE_MAX proves it complete.
 */
struct fc_attr {
	CUdevice_attribute attr;
	int value;
};

#define A(name, v) { CU_DEVICE_ATTRIBUTE_##name, v },
static const struct fc_attr fc_attrs[] = {
	A(MAX_THREADS_PER_BLOCK, 1024)
	A(MAX_BLOCK_DIM_X, 1024)
	A(MAX_BLOCK_DIM_Y, 1024)
	A(MAX_BLOCK_DIM_Z, 64)
	A(MAX_GRID_DIM_X, 2147483647)
	A(MAX_GRID_DIM_Y, 65535)
	A(MAX_GRID_DIM_Z, 65535)
	A(MAX_SHARED_MEMORY_PER_BLOCK, FC_DEFAULT_DYN_SHARED)
	A(TOTAL_CONSTANT_MEMORY, 65536)
	A(WARP_SIZE, 32)
	A(MAX_PITCH, 2147483647)
	A(MAX_REGISTERS_PER_BLOCK, 65536)
	A(CLOCK_RATE, 1755000)
	A(TEXTURE_ALIGNMENT, 512)
	A(GPU_OVERLAP, 1)
	A(MULTIPROCESSOR_COUNT, FC_SM_COUNT)
	A(KERNEL_EXEC_TIMEOUT, 0)
	A(INTEGRATED, 0)
	A(CAN_MAP_HOST_MEMORY, 1)
	A(COMPUTE_MODE, CU_COMPUTEMODE_DEFAULT)
	A(MAXIMUM_TEXTURE1D_WIDTH, 131072)
	A(MAXIMUM_TEXTURE2D_WIDTH, 131072)
	A(MAXIMUM_TEXTURE2D_HEIGHT, 65536)
	A(MAXIMUM_TEXTURE3D_WIDTH, 16384)
	A(MAXIMUM_TEXTURE3D_HEIGHT, 16384)
	A(MAXIMUM_TEXTURE3D_DEPTH, 16384)
	A(MAXIMUM_TEXTURE2D_LAYERED_WIDTH, 32768)
	A(MAXIMUM_TEXTURE2D_LAYERED_HEIGHT, 32768)
	A(MAXIMUM_TEXTURE2D_LAYERED_LAYERS, 2048)
	A(SURFACE_ALIGNMENT, 512)
	A(CONCURRENT_KERNELS, 1)
	A(ECC_ENABLED, 1)
	A(PCI_BUS_ID, FC_PCI_BUS)
	A(PCI_DEVICE_ID, FC_PCI_DEVICE)
	A(TCC_DRIVER, 0)
	A(MEMORY_CLOCK_RATE, 1593000)
	A(GLOBAL_MEMORY_BUS_WIDTH, 5120)
	A(L2_CACHE_SIZE, 52428800)
	A(MAX_THREADS_PER_MULTIPROCESSOR, FC_THREADS_PER_SM)
	A(ASYNC_ENGINE_COUNT, 3)
	A(UNIFIED_ADDRESSING, 1)
	A(MAXIMUM_TEXTURE1D_LAYERED_WIDTH, 32768)
	A(MAXIMUM_TEXTURE1D_LAYERED_LAYERS, 2048)
	A(CAN_TEX2D_GATHER, 1)
	A(MAXIMUM_TEXTURE2D_GATHER_WIDTH, 32768)
	A(MAXIMUM_TEXTURE2D_GATHER_HEIGHT, 32768)
	A(MAXIMUM_TEXTURE3D_WIDTH_ALTERNATE, 8192)
	A(MAXIMUM_TEXTURE3D_HEIGHT_ALTERNATE, 8192)
	A(MAXIMUM_TEXTURE3D_DEPTH_ALTERNATE, 32768)
	A(PCI_DOMAIN_ID, FC_PCI_DOMAIN)
	A(TEXTURE_PITCH_ALIGNMENT, 32)
	A(MAXIMUM_TEXTURECUBEMAP_WIDTH, 32768)
	A(MAXIMUM_TEXTURECUBEMAP_LAYERED_WIDTH, 32768)
	A(MAXIMUM_TEXTURECUBEMAP_LAYERED_LAYERS, 2046)
	A(MAXIMUM_SURFACE1D_WIDTH, 32768)
	A(MAXIMUM_SURFACE2D_WIDTH, 131072)
	A(MAXIMUM_SURFACE2D_HEIGHT, 65536)
	A(MAXIMUM_SURFACE3D_WIDTH, 16384)
	A(MAXIMUM_SURFACE3D_HEIGHT, 16384)
	A(MAXIMUM_SURFACE3D_DEPTH, 16384)
	A(MAXIMUM_SURFACE1D_LAYERED_WIDTH, 32768)
	A(MAXIMUM_SURFACE1D_LAYERED_LAYERS, 2048)
	A(MAXIMUM_SURFACE2D_LAYERED_WIDTH, 32768)
	A(MAXIMUM_SURFACE2D_LAYERED_HEIGHT, 32768)
	A(MAXIMUM_SURFACE2D_LAYERED_LAYERS, 2048)
	A(MAXIMUM_SURFACECUBEMAP_WIDTH, 32768)
	A(MAXIMUM_SURFACECUBEMAP_LAYERED_WIDTH, 32768)
	A(MAXIMUM_SURFACECUBEMAP_LAYERED_LAYERS, 2046)
	A(MAXIMUM_TEXTURE1D_LINEAR_WIDTH, 268435456)
	A(MAXIMUM_TEXTURE2D_LINEAR_WIDTH, 131072)
	A(MAXIMUM_TEXTURE2D_LINEAR_HEIGHT, 65000)
	A(MAXIMUM_TEXTURE2D_LINEAR_PITCH, 2097120)
	A(MAXIMUM_TEXTURE2D_MIPMAPPED_WIDTH, 32768)
	A(MAXIMUM_TEXTURE2D_MIPMAPPED_HEIGHT, 32768)
	A(COMPUTE_CAPABILITY_MAJOR, FC_SM_ARCH / 10)
	A(COMPUTE_CAPABILITY_MINOR, FC_SM_ARCH % 10)
	A(MAXIMUM_TEXTURE1D_MIPMAPPED_WIDTH, 32768)
	A(STREAM_PRIORITIES_SUPPORTED, 1)
	A(GLOBAL_L1_CACHE_SUPPORTED, 1)
	A(LOCAL_L1_CACHE_SUPPORTED, 1)
	A(MAX_SHARED_MEMORY_PER_MULTIPROCESSOR, 233472)
	A(MAX_REGISTERS_PER_MULTIPROCESSOR, 65536)
	A(MANAGED_MEMORY, 1)
	A(MULTI_GPU_BOARD, 0)
	A(MULTI_GPU_BOARD_GROUP_ID, 0)
	A(HOST_NATIVE_ATOMIC_SUPPORTED, 0)
	A(SINGLE_TO_DOUBLE_PRECISION_PERF_RATIO, 2)
	A(PAGEABLE_MEMORY_ACCESS, 0)
	A(CONCURRENT_MANAGED_ACCESS, 1)
	A(COMPUTE_PREEMPTION_SUPPORTED, 1)
	A(CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM, 1)
	A(CAN_USE_STREAM_MEM_OPS_V1, 0)
	A(CAN_USE_64_BIT_STREAM_MEM_OPS_V1, 0)
	A(CAN_USE_STREAM_WAIT_VALUE_NOR_V1, 0)
	A(COOPERATIVE_LAUNCH, 1)
	A(COOPERATIVE_MULTI_DEVICE_LAUNCH, 1)
	A(MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, FC_MAX_SHARED_OPTIN)
	A(CAN_FLUSH_REMOTE_WRITES, 0)
	A(HOST_REGISTER_SUPPORTED, 1)
	A(PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES, 0)
	A(DIRECT_MANAGED_MEM_ACCESS_FROM_HOST, 0)
	A(VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 1)
	A(HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, 1)
	A(HANDLE_TYPE_WIN32_HANDLE_SUPPORTED, 0)
	A(HANDLE_TYPE_WIN32_KMT_HANDLE_SUPPORTED, 0)
	A(MAX_BLOCKS_PER_MULTIPROCESSOR, 32)
	A(GENERIC_COMPRESSION_SUPPORTED, 1)
	A(MAX_PERSISTING_L2_CACHE_SIZE, FC_PERSIST_L2_MAX)
	A(MAX_ACCESS_POLICY_WINDOW_SIZE, 134217728)
	A(GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED, 1)
	A(RESERVED_SHARED_MEMORY_PER_BLOCK, 1024)
	A(SPARSE_CUDA_ARRAY_SUPPORTED, 1)
	A(READ_ONLY_HOST_REGISTER_SUPPORTED, 1)
	A(TIMELINE_SEMAPHORE_INTEROP_SUPPORTED, 1)
	A(MEMORY_POOLS_SUPPORTED, 1)
	A(GPU_DIRECT_RDMA_SUPPORTED, 1)
	A(GPU_DIRECT_RDMA_FLUSH_WRITES_OPTIONS, CU_FLUSH_GPU_DIRECT_RDMA_WRITES_OPTION_HOST)
	A(GPU_DIRECT_RDMA_WRITES_ORDERING, CU_GPU_DIRECT_RDMA_WRITES_ORDERING_OWNER)
	A(MEMPOOL_SUPPORTED_HANDLE_TYPES, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
	A(CLUSTER_LAUNCH, 1)
	A(DEFERRED_MAPPING_CUDA_ARRAY_SUPPORTED, 1)
	A(CAN_USE_64_BIT_STREAM_MEM_OPS, 1)
	A(CAN_USE_STREAM_WAIT_VALUE_NOR, 1)
	A(DMA_BUF_SUPPORTED, 1)
	A(IPC_EVENT_SUPPORTED, 1)
	A(MEM_SYNC_DOMAIN_COUNT, 4)
	A(TENSOR_MAP_ACCESS_SUPPORTED, 1)
	A(HANDLE_TYPE_FABRIC_SUPPORTED, 0)
	A(UNIFIED_FUNCTION_POINTERS, 1)
	A(NUMA_CONFIG, CU_DEVICE_NUMA_CONFIG_NONE)
	A(NUMA_ID, -1)
	A(MULTICAST_SUPPORTED, 0)
	A(MPS_ENABLED, 0)
	A(HOST_NUMA_ID, 0)
	A(D3D12_CIG_SUPPORTED, 0)
	A(MEM_DECOMPRESS_ALGORITHM_MASK, 0)
	A(MEM_DECOMPRESS_MAXIMUM_LENGTH, 0)
	A(VULKAN_CIG_SUPPORTED, 0)
	A(GPU_PCI_DEVICE_ID, 0x233110de)	/* device 0x2331 (H100 PCIe), vendor 0x10de */
	A(GPU_PCI_SUBSYSTEM_ID, 0x162610de)
	A(HOST_NUMA_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 1)
	A(HOST_NUMA_MEMORY_POOLS_SUPPORTED, 1)
	A(HOST_NUMA_MULTINODE_IPC_SUPPORTED, 0)
	A(HOST_MEMORY_POOLS_SUPPORTED, 1)
	A(HOST_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 1)
	A(HOST_ALLOC_DMA_BUF_SUPPORTED, 0)
	A(ONLY_PARTIAL_HOST_NATIVE_ATOMIC_SUPPORTED, 0)
};
#undef A

int fc_device_attr(CUdevice_attribute attrib)
{
	for (size_t i = 0; i < sizeof(fc_attrs) / sizeof(fc_attrs[0]); i++)
		if (fc_attrs[i].attr == attrib)
			return fc_attrs[i].value;
	return 0;
}

static CUresult device_get_attribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
	CUresult r = fc_check_init();
	if (r)
		return r;
	if (!pi)
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = fc_check_device(dev)))
		return r;
	for (size_t i = 0; i < sizeof(fc_attrs) / sizeof(fc_attrs[0]); i++) {
		if (fc_attrs[i].attr == attrib) {
			*pi = fc_attrs[i].value;
			return CUDA_SUCCESS;
		}
	}
	return CUDA_ERROR_INVALID_VALUE;
}

FC_EXPORT CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
	FC_LOCKED(device_get_attribute(pi, attrib, dev));
}
