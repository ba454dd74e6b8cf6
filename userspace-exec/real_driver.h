/* SPDX-License-Identifier: MIT */
/*
 * The real NVIDIA driver, as the executor's worker sees it: every entry point
 * it calls, loaded by exact exported name (so the ABI is the one named by the
 * PFN typedef of cudaTypedefs.h, whatever macros cuda.h defines).
 *
 * The driver is loaded from the system - never from the shim's folder - or
 * from $VGPU_LIBCUDA, which the tests use to load a named test double
 * (tests/fakecuda/) where no GPU exists.
 */
#ifndef VGPU_REAL_DRIVER_H
#define VGPU_REAL_DRIVER_H

#include <cuda.h>
#include <cudaTypedefs.h>

/* X(member, exported symbol, PFN typedef) */
#define VGPU_REAL_DRIVER_FUNCS(X)							\
	X(Init, "cuInit", PFN_cuInit_v2000)						\
	X(DriverGetVersion, "cuDriverGetVersion", PFN_cuDriverGetVersion_v2020)		\
	X(GetErrorName, "cuGetErrorName", PFN_cuGetErrorName_v6000)			\
	X(DeviceGet, "cuDeviceGet", PFN_cuDeviceGet_v2000)				\
	X(DeviceGetCount, "cuDeviceGetCount", PFN_cuDeviceGetCount_v2000)		\
	X(DeviceGetName, "cuDeviceGetName", PFN_cuDeviceGetName_v2000)			\
	X(DeviceGetUuid, "cuDeviceGetUuid_v2", PFN_cuDeviceGetUuid_v11040)		\
	X(DeviceGetLuid, "cuDeviceGetLuid", PFN_cuDeviceGetLuid_v10000)			\
	X(DeviceTotalMem, "cuDeviceTotalMem_v2", PFN_cuDeviceTotalMem_v3020)		\
	X(DeviceGetAttribute, "cuDeviceGetAttribute", PFN_cuDeviceGetAttribute_v2000)	\
	X(DeviceGetPCIBusId, "cuDeviceGetPCIBusId", PFN_cuDeviceGetPCIBusId_v4010)	\
	X(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain",				\
	  PFN_cuDevicePrimaryCtxRetain_v7000)						\
	X(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2",			\
	  PFN_cuDevicePrimaryCtxRelease_v11000)						\
	X(DevicePrimaryCtxReset, "cuDevicePrimaryCtxReset_v2",				\
	  PFN_cuDevicePrimaryCtxReset_v11000)						\
	X(DevicePrimaryCtxSetFlags, "cuDevicePrimaryCtxSetFlags_v2",			\
	  PFN_cuDevicePrimaryCtxSetFlags_v11000)					\
	X(DevicePrimaryCtxGetState, "cuDevicePrimaryCtxGetState",			\
	  PFN_cuDevicePrimaryCtxGetState_v7000)						\
	X(CtxCreate, "cuCtxCreate_v4", PFN_cuCtxCreate_v12050)				\
	X(CtxDestroy, "cuCtxDestroy_v2", PFN_cuCtxDestroy_v4000)			\
	X(CtxSetCurrent, "cuCtxSetCurrent", PFN_cuCtxSetCurrent_v4000)			\
	X(CtxSynchronize, "cuCtxSynchronize", PFN_cuCtxSynchronize_v2000)		\
	X(CtxGetLimit, "cuCtxGetLimit", PFN_cuCtxGetLimit_v3010)			\
	X(CtxSetLimit, "cuCtxSetLimit", PFN_cuCtxSetLimit_v3010)			\
	X(CtxGetStreamPriorityRange, "cuCtxGetStreamPriorityRange",			\
	  PFN_cuCtxGetStreamPriorityRange_v5050)					\
	X(MemAlloc, "cuMemAlloc_v2", PFN_cuMemAlloc_v3020)				\
	X(MemFree, "cuMemFree_v2", PFN_cuMemFree_v3020)					\
	X(MemGetInfo, "cuMemGetInfo_v2", PFN_cuMemGetInfo_v3020)			\
	X(MemHostRegister, "cuMemHostRegister_v2", PFN_cuMemHostRegister_v6050)		\
	X(MemHostUnregister, "cuMemHostUnregister", PFN_cuMemHostUnregister_v4000)	\
	X(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", PFN_cuMemcpyHtoDAsync_v3020)		\
	X(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", PFN_cuMemcpyDtoHAsync_v3020)		\
	X(MemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2", PFN_cuMemcpyDtoDAsync_v3020)		\
	X(MemsetD8Async, "cuMemsetD8Async", PFN_cuMemsetD8Async_v3020)			\
	X(MemsetD16Async, "cuMemsetD16Async", PFN_cuMemsetD16Async_v3020)		\
	X(MemsetD32Async, "cuMemsetD32Async", PFN_cuMemsetD32Async_v3020)		\
	X(MemsetD2D8Async, "cuMemsetD2D8Async", PFN_cuMemsetD2D8Async_v3020)		\
	X(MemsetD2D16Async, "cuMemsetD2D16Async", PFN_cuMemsetD2D16Async_v3020)		\
	X(MemsetD2D32Async, "cuMemsetD2D32Async", PFN_cuMemsetD2D32Async_v3020)		\
	X(ModuleLoadData, "cuModuleLoadData", PFN_cuModuleLoadData_v2000)		\
	X(ModuleUnload, "cuModuleUnload", PFN_cuModuleUnload_v2000)			\
	X(ModuleGetFunction, "cuModuleGetFunction", PFN_cuModuleGetFunction_v2000)	\
	X(ModuleGetGlobal, "cuModuleGetGlobal_v2", PFN_cuModuleGetGlobal_v3020)		\
	X(LibraryLoadData, "cuLibraryLoadData", PFN_cuLibraryLoadData_v12000)		\
	X(LibraryUnload, "cuLibraryUnload", PFN_cuLibraryUnload_v12000)			\
	X(LibraryGetKernel, "cuLibraryGetKernel", PFN_cuLibraryGetKernel_v12000)	\
	X(LibraryGetGlobal, "cuLibraryGetGlobal", PFN_cuLibraryGetGlobal_v12000)	\
	X(KernelGetFunction, "cuKernelGetFunction", PFN_cuKernelGetFunction_v12000)	\
	X(FuncGetParamInfo, "cuFuncGetParamInfo", PFN_cuFuncGetParamInfo_v12040)	\
	X(KernelGetParamInfo, "cuKernelGetParamInfo", PFN_cuKernelGetParamInfo_v12040)	\
	X(FuncGetAttribute, "cuFuncGetAttribute", PFN_cuFuncGetAttribute_v2020)		\
	X(FuncSetAttribute, "cuFuncSetAttribute", PFN_cuFuncSetAttribute_v9000)		\
	X(KernelGetAttribute, "cuKernelGetAttribute", PFN_cuKernelGetAttribute_v12000)	\
	X(KernelSetAttribute, "cuKernelSetAttribute", PFN_cuKernelSetAttribute_v12000)	\
	X(LaunchKernel, "cuLaunchKernel", PFN_cuLaunchKernel_v4000)			\
	X(StreamCreateWithPriority, "cuStreamCreateWithPriority",			\
	  PFN_cuStreamCreateWithPriority_v5050)						\
	X(StreamDestroy, "cuStreamDestroy_v2", PFN_cuStreamDestroy_v4000)		\
	X(StreamSynchronize, "cuStreamSynchronize", PFN_cuStreamSynchronize_v2000)	\
	X(StreamQuery, "cuStreamQuery", PFN_cuStreamQuery_v2000)			\
	X(StreamWaitEvent, "cuStreamWaitEvent", PFN_cuStreamWaitEvent_v3020)		\
	X(EventCreate, "cuEventCreate", PFN_cuEventCreate_v2000)			\
	X(EventDestroy, "cuEventDestroy_v2", PFN_cuEventDestroy_v4000)			\
	X(EventRecord, "cuEventRecord", PFN_cuEventRecord_v2000)			\
	X(EventSynchronize, "cuEventSynchronize", PFN_cuEventSynchronize_v2000)		\
	X(EventQuery, "cuEventQuery", PFN_cuEventQuery_v2000)				\
	X(EventElapsedTime, "cuEventElapsedTime_v2", PFN_cuEventElapsedTime_v12080)	\
	X(StreamWaitValue32, "cuStreamWaitValue32_v2", PFN_cuStreamWaitValue32_v11070)	\
	X(StreamWaitValue64, "cuStreamWaitValue64_v2", PFN_cuStreamWaitValue64_v11070)	\
	X(StreamWriteValue32, "cuStreamWriteValue32_v2", PFN_cuStreamWriteValue32_v11070) \
	X(StreamWriteValue64, "cuStreamWriteValue64_v2", PFN_cuStreamWriteValue64_v11070) \
	X(LaunchHostFunc, "cuLaunchHostFunc", PFN_cuLaunchHostFunc_v10000)		\
	X(StreamAddCallback, "cuStreamAddCallback", PFN_cuStreamAddCallback_v5000)	\
	X(MemHostGetDevicePointer, "cuMemHostGetDevicePointer_v2",			\
	  PFN_cuMemHostGetDevicePointer_v3020)						\
	X(MemHostGetFlags, "cuMemHostGetFlags", PFN_cuMemHostGetFlags_v2030)		\
	X(MemAllocHost, "cuMemAllocHost_v2", PFN_cuMemAllocHost_v3020)			\
	X(MemFreeHost, "cuMemFreeHost", PFN_cuMemFreeHost_v2000)			\
	X(StreamGetFlags, "cuStreamGetFlags", PFN_cuStreamGetFlags_v5050)		\
	X(CtxGetCurrent, "cuCtxGetCurrent", PFN_cuCtxGetCurrent_v4000)			\
	X(MemGetAllocationGranularity, "cuMemGetAllocationGranularity",			\
	  PFN_cuMemGetAllocationGranularity_v10020)					\
	X(MemAddressReserve, "cuMemAddressReserve", PFN_cuMemAddressReserve_v10020)	\
	X(MemAddressFree, "cuMemAddressFree", PFN_cuMemAddressFree_v10020)		\
	X(MemCreate, "cuMemCreate", PFN_cuMemCreate_v10020)				\
	X(MemRelease, "cuMemRelease", PFN_cuMemRelease_v10020)				\
	X(MemMap, "cuMemMap", PFN_cuMemMap_v10020)					\
	X(MemUnmap, "cuMemUnmap", PFN_cuMemUnmap_v10020)				\
	X(MemSetAccess, "cuMemSetAccess", PFN_cuMemSetAccess_v10020)			\
	X(MemGetAccess, "cuMemGetAccess", PFN_cuMemGetAccess_v10020)			\
	X(MemRetainAllocationHandle, "cuMemRetainAllocationHandle",			\
	  PFN_cuMemRetainAllocationHandle_v11000)					\
	X(MemGetAllocationPropertiesFromHandle, "cuMemGetAllocationPropertiesFromHandle", \
	  PFN_cuMemGetAllocationPropertiesFromHandle_v10020)				\
	X(MemAllocAsync, "cuMemAllocAsync", PFN_cuMemAllocAsync_v11020)			\
	X(MemAllocFromPoolAsync, "cuMemAllocFromPoolAsync",				\
	  PFN_cuMemAllocFromPoolAsync_v11020)						\
	X(MemFreeAsync, "cuMemFreeAsync", PFN_cuMemFreeAsync_v11020)			\
	X(MemPoolCreate, "cuMemPoolCreate", PFN_cuMemPoolCreate_v11020)			\
	X(MemPoolDestroy, "cuMemPoolDestroy", PFN_cuMemPoolDestroy_v11020)		\
	X(MemPoolTrimTo, "cuMemPoolTrimTo", PFN_cuMemPoolTrimTo_v11020)			\
	X(MemPoolSetAttribute, "cuMemPoolSetAttribute", PFN_cuMemPoolSetAttribute_v11020) \
	X(MemPoolGetAttribute, "cuMemPoolGetAttribute", PFN_cuMemPoolGetAttribute_v11020) \
	X(DeviceGetDefaultMemPool, "cuDeviceGetDefaultMemPool",				\
	  PFN_cuDeviceGetDefaultMemPool_v11020)						\
	X(DeviceGetMemPool, "cuDeviceGetMemPool", PFN_cuDeviceGetMemPool_v11020)	\
	X(DeviceSetMemPool, "cuDeviceSetMemPool", PFN_cuDeviceSetMemPool_v11020)	\
	X(LaunchKernelEx, "cuLaunchKernelEx", PFN_cuLaunchKernelEx_v11060)		\
	X(FuncSetCacheConfig, "cuFuncSetCacheConfig", PFN_cuFuncSetCacheConfig_v3000)	\
	X(FuncSetSharedMemConfig, "cuFuncSetSharedMemConfig",				\
	  PFN_cuFuncSetSharedMemConfig_v4020)						\
	X(KernelSetCacheConfig, "cuKernelSetCacheConfig", PFN_cuKernelSetCacheConfig_v12000) \
	X(OccupancyMaxPotentialClusterSize, "cuOccupancyMaxPotentialClusterSize",	\
	  PFN_cuOccupancyMaxPotentialClusterSize_v11070)				\
	X(OccupancyMaxActiveClusters, "cuOccupancyMaxActiveClusters",			\
	  PFN_cuOccupancyMaxActiveClusters_v11070)					\
	X(OccupancyMaxActiveBlocksPerMultiprocessor,					\
	  "cuOccupancyMaxActiveBlocksPerMultiprocessor",				\
	  PFN_cuOccupancyMaxActiveBlocksPerMultiprocessor_v6050)

struct vgpu_real_driver {
	void *handle;
	char path[256];
#define VGPU_REAL_MEMBER(m, sym, pfn) pfn m;
	VGPU_REAL_DRIVER_FUNCS(VGPU_REAL_MEMBER)
#undef VGPU_REAL_MEMBER
};

/*
 * Load the driver: $VGPU_LIBCUDA if set, else the system's libcuda.so.1,
 * refusing any library that is the vgpu shim itself.  Returns 0, or -1 with
 * a message in @err.
 */
int vgpu_real_driver_load(struct vgpu_real_driver *d, char *err, size_t err_len);

#endif /* VGPU_REAL_DRIVER_H */
