// SPDX-License-Identifier: MIT
/*
 * cuGetExportTable: the undocumented tables of function pointers through
 * which NVIDIA's runtime talks to the driver.  All of them live in the
 * guest: their functions run in the guest process, and the integrity hash
 * mixes in this process's pid, thread and these tables' own addresses.
 *
 * What cudart does with them, read from libcudart.so.13 of CUDA 13.0
 * (704,288 bytes, build-id 2a12a4a442f0edf6eab8241fdeedb40019c4256c) with
 * objdump -d; offsets are into that file.  The same UUIDs are in
 * libcudart_static.a, libcublas, libcublasLt, libnccl and the cuDNN 9
 * sub-libraries (adv, cnn, engines_*, graph, ops): each runs this code in
 * its own static copy of cudart.
 *
 * - Driver init (+0x367a0): after binding the driver, the log sink
 *   (f8cff951) is asked for first; failure is tolerated (the sink is then
 *   NULL).  Then cuDriverGetVersion (>= 13000), cuInit(0), CUDART_INTERFACE
 *   and TOOLS_RUNTIME_CALLBACK_HOOKS; either failing fails the runtime.
 * - Log sink: every runtime diagnostic goes through +0x24c50, which calls
 *   slot 1 as (const char *tag = "CUDA", int level = 0, const char *fmt,
 *   va_list) -- e.g. "Insufficient driver: %d < %d".  The return value is
 *   ignored.
 * - CUDART_INTERFACE: [0] is never read.  Slot 2 is called once per device
 *   during enumeration (+0x3a5b6), right after cuDeviceGet, as
 *   (CUcontext *out, CUdevice); the handle is kept as that device's primary
 *   context, an error fails init.  Slot 3 (+0x1ad85, +0x1b415) takes
 *   (CUdevice, CUcontext *out) and is reached only from the GL/VDPAU
 *   interop entry points.  No other slot is used by this library.
 * - Enumeration then fills each device's properties with cuDeviceGetName,
 *   cuDeviceTotalMem, cuDeviceGetAttribute -- PCI bus (33), device (34) and
 *   domain (50) among them -- and cuDeviceGetUuid: those stored values are
 *   what the integrity hash reads back.
 * - TOOLS_RUNTIME_CALLBACK_HOOKS (+0x3b46e): [0] must be > 0x30, slot 2 is
 *   called as (void **array, size_t *count) and count must be > 0x20a,
 *   slot 6 likewise with count > 0xd; otherwise init fails with 35
 *   (cudaErrorInsufficientDriver).  Both arrays are read as u32 flags
 *   indexed by callback id (e.g. cudaDeviceReset tests array[0xa4], byte
 *   offset 0x290); a non-zero flag sends the call through HOOKS slots 1
 *   and 4 and TOOLS_TLS slot 2.  Zeros keep all of that off.
 * - TOOLS_TLS is then asked for (+0x3b4d8); only its existence is checked.
 * - CONTEXT_LOCAL_STORAGE_V0301 and CONTEXT_CHECKS (+0x3de80), both
 *   required.  CHECKS slot 3 is called with no arguments; a result of 1
 *   sets a flag, anything else leaves it clear.  CHECKS slot 2 is called
 *   as (CUcontext, u32 *, void **) when looking up a context's state
 *   (+0x3d407): an error means "no state", *u32 == 1 means "use the
 *   context written to the void ** instead", 0 means go on.
 * - CLS: put (+0x3e558) as (NULL = current context, key = cudart's own
 *   manager object, value = its per-context state, destructor); get
 *   (+0x3efc0) as (&value, NULL, key), where any error means "no state
 *   yet"; delete (+0x3ebf4) as (the state's context, key), result ignored,
 *   after which cudart frees the state itself.  The destructor (+0x3ef40)
 *   takes (ctx, key, value) and frees the state without calling delete.
 * - INTEGRITY_CHECK (+0x3cdbb): t = time(NULL); slot 1 is called as
 *   (13000, t, out), (13001, t, out + 2), (13002, t, out + 4); an error
 *   from the table or a slot fails init.  cudart then computes HMAC-MD2
 *   itself over: the cuDriverGetVersion value it stored, 13002, getpid(),
 *   pthread_self() (low 32 bits), the CUDART_INTERFACE and INTEGRITY_CHECK
 *   pointers it was given, INTEGRITY_CHECK[1], t; then for every device
 *   its UUID and PCI domain, bus, device as read above.  It compares the
 *   16 bytes with the 13002 answer only: any difference makes init fail
 *   with 103 (cudaErrorSoftwareValidityNotEstablished), kept as the runtime's
 *   init error.  A wrong hash fails loudly, never silently.
 *   The 13000 and 13001 answers are not checked by this version.
 *
 * An unknown UUID gets CUDA_ERROR_INVALID_VALUE and a NULL table: what the
 * real driver is reported to return, and what ZLUDA's current
 * get_export_table (zluda/src/impl/driver.rs) returns.  cudart only
 * tolerates that for the log sink; every other table above is required.
 *
 * Tables real drivers have that are not emulated (not_emulated[] below)
 * get the same answer -- the one an older driver without them gives, which
 * is what a library built to run on older drivers is prepared for -- and a
 * log line naming them.  What is known of them:
 *
 * - 21318c60-9714-3248-8ca6-41ff7324c8f2: asked for by cuBLAS 13.0 itself
 *   (libcublas.so.13, 54,177,976 bytes; UUID at file offset 0x66c6d0, two
 *   call sites through its static cudart's cudaGetExportTable at +0x21862d
 *   and +0x218851), lazily, once, together with TOOLS_TLS.  A failure is
 *   stored as a NULL table and tolerated at lookup; the path that then uses
 *   it (+0x2182f0, reached from +0x219c20 and +0x217c20, which the GEMM
 *   entry points reach, e.g. cublasGemmStridedBatchedEx and cublasCgemmEx,
 *   when a first attempt at +0x217870 fails) calls TOOLS_TLS slot 2 and
 *   this table's slots 51 (+0x198) and 39 (+0x138), and answers
 *   CUBLAS_STATUS_INTERNAL_ERROR (14) when either table is missing.  The
 *   slots' arguments could not be established from the disassembly alone.
 * - 69a28e9f-2449-8b47-b030-c5da330ea4e9: asked for by the cuBLAS 13.1 that
 *   PyTorch's wheels carry (seen on an H200, where cublasCreate then failed
 *   with CUBLAS_STATUS_INTERNAL_ERROR); not present in any library of this
 *   13.0 toolkit, so nothing of its slots is known here.  A public shim
 *   records its table size as 0x110 (33 slots).
 * - CTX_CREATE_BYPASS, HEAP_ACCESS, DEVICE_EXTENDED_RT (CUPTI),
 *   HYBRID_CUDART (Windows): named in ZLUDA's dark_api; no CUDA 13 library
 *   of this toolkit asks for them.
 *
 * Every other UUID in cuBLAS, cuBLASLt, cuSPARSE, cuFFT and cuDNN 9 of this
 * toolkit that sits beside the tables above is one of the seven emulated
 * ones (a scan of each library's 16-byte constants next to known UUIDs;
 * cuFFT 12 and libcudnn.so.9 carry none).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"
#include "context_local_storage.h"
#include "integrity_hash.h"
#include "log.h"

#define EXPORT __attribute__((visibility("default")))

/* A table's first entry, where it has one: its size in bytes. */
#define TABLE_SIZE(slots)	((const void *)(uintptr_t)((slots) * sizeof(void *)))

/*
 * Slots whose arguments nobody has documented, or that cannot work here:
 * a real error and a log line if anything ever calls them, never a NULL
 * to jump through.  Returning a value the caller may ignore is harmless
 * whatever the slot's true signature.
 */
#define UNSUPPORTED_SLOT(fn, what) \
	static CUresult fn(void) \
	{ \
		return vgpu_unsupported("cuGetExportTable: " what); \
	}

/* ---- CUDART_INTERFACE 6bd5fb6c-5bf4-e74a-8987-d93912fd9df9 ---- */

/* The primary context's handle, not retained and not made current. */
static CUresult cudart_primary_ctx(CUcontext *pctx, CUdevice dev)
{
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	return vgpu_primary_ctx_get(dev, pctx);
}

/* Slot 7: nothing to do in a driver that forwards calls. */
static CUresult cudart_slot7(size_t arg)
{
	return CUDA_SUCCESS;
}

/* Slot 12: load the compilers -- ours run on the host, nothing to load. */
static CUresult cudart_load_compilers(void)
{
	return CUDA_SUCCESS;
}

/*
 * Slots 1, 6 and 8 load a module from a fatbin wrapper or header for older
 * runtimes; cudart 13 loads through cuLibraryLoadData and never calls them.
 */
UNSUPPORTED_SLOT(cudart_slot1, "CUDART_INTERFACE slot 1 (module from fatbin wrapper)")
UNSUPPORTED_SLOT(cudart_slot3, "CUDART_INTERFACE slot 3 (GL/VDPAU interop context)")
UNSUPPORTED_SLOT(cudart_slot4, "CUDART_INTERFACE slot 4")
UNSUPPORTED_SLOT(cudart_slot5, "CUDART_INTERFACE slot 5")
UNSUPPORTED_SLOT(cudart_slot6, "CUDART_INTERFACE slot 6 (module from fatbin wrapper)")
UNSUPPORTED_SLOT(cudart_slot8, "CUDART_INTERFACE slot 8 (module from fatbin header)")
UNSUPPORTED_SLOT(cudart_slot9, "CUDART_INTERFACE slot 9")
UNSUPPORTED_SLOT(cudart_slot10, "CUDART_INTERFACE slot 10")
UNSUPPORTED_SLOT(cudart_slot11, "CUDART_INTERFACE slot 11")

#define CUDART_SLOTS 13
static const void *const cudart_interface[CUDART_SLOTS] = {
	TABLE_SIZE(CUDART_SLOTS),
	(const void *)cudart_slot1,
	(const void *)cudart_primary_ctx,
	(const void *)cudart_slot3,
	(const void *)cudart_slot4,
	(const void *)cudart_slot5,
	(const void *)cudart_slot6,
	(const void *)cudart_slot7,
	(const void *)cudart_slot8,
	(const void *)cudart_slot9,
	(const void *)cudart_slot10,
	(const void *)cudart_slot11,
	(const void *)cudart_load_compilers,
};

/* ---- TOOLS_RUNTIME_CALLBACK_HOOKS a094798c-2e74-2e74-93f2-0800200c0a66 ---- */

/*
 * Per-callback enable flags, all zero: no tracing.  Larger than cudart 13
 * requires (523 and 14) so that a newer runtime with more callback ids
 * still finds zeros.  Writable, as the caller gets a plain pointer.
 */
static uint32_t hooks_api_flags[1024];
static uint32_t hooks_other_flags[64];

static void hooks_api_callbacks(void **array, size_t *count)
{
	if (array)
		*array = hooks_api_flags;
	if (count)
		*count = sizeof(hooks_api_flags) / sizeof(hooks_api_flags[0]);
}

static void hooks_other_callbacks(void **array, size_t *count)
{
	if (array)
		*array = hooks_other_flags;
	if (count)
		*count = sizeof(hooks_other_flags) / sizeof(hooks_other_flags[0]);
}

/* Reached only through a set flag, i.e. never. */
UNSUPPORTED_SLOT(hooks_slot1, "TOOLS_RUNTIME_CALLBACK_HOOKS slot 1 (callback)")
UNSUPPORTED_SLOT(hooks_slot3, "TOOLS_RUNTIME_CALLBACK_HOOKS slot 3")
UNSUPPORTED_SLOT(hooks_slot4, "TOOLS_RUNTIME_CALLBACK_HOOKS slot 4")
UNSUPPORTED_SLOT(hooks_slot5, "TOOLS_RUNTIME_CALLBACK_HOOKS slot 5")

#define HOOKS_SLOTS 7
static const void *const hooks_table[HOOKS_SLOTS] = {
	TABLE_SIZE(HOOKS_SLOTS),
	(const void *)hooks_slot1,
	(const void *)hooks_api_callbacks,
	(const void *)hooks_slot3,
	(const void *)hooks_slot4,
	(const void *)hooks_slot5,
	(const void *)hooks_other_callbacks,
};

/* ---- TOOLS_TLS 42d85a81-23f6-cb47-8298-f6e78a3aecdc ---- */

/* Used only while a hook flag is set. */
UNSUPPORTED_SLOT(tls_slot1, "TOOLS_TLS slot 1")
UNSUPPORTED_SLOT(tls_slot2, "TOOLS_TLS slot 2")
UNSUPPORTED_SLOT(tls_slot3, "TOOLS_TLS slot 3")

#define TLS_SLOTS 4
static const void *const tls_table[TLS_SLOTS] = {
	TABLE_SIZE(TLS_SLOTS),
	(const void *)tls_slot1,
	(const void *)tls_slot2,
	(const void *)tls_slot3,
};

/* ---- CONTEXT_LOCAL_STORAGE_V0301 c693336e-1121-df11-a8c3-68f355d89593 ---- */

/* No size header: slot 0 is put. */
static const void *const cls_table[3] = {
	(const void *)vgpu_cls_put,
	(const void *)vgpu_cls_delete,
	(const void *)vgpu_cls_get,
};

/* ---- CONTEXT_CHECKS 263e8860-7cd2-6143-92f6-bbd5006dfa7e ---- */

/* Our contexts wrap nothing: 0, go on with the context as given. */
static CUresult checks_context(CUcontext ctx, uint32_t *wrapped, void **inner)
{
	if (!wrapped)
		return CUDA_ERROR_INVALID_VALUE;
	*wrapped = 0;
	return CUDA_SUCCESS;
}

/* 1 would set a runtime flag whose meaning is unknown; real drivers give 0. */
static uint32_t checks_flag(void)
{
	return 0;
}

UNSUPPORTED_SLOT(checks_slot1, "CONTEXT_CHECKS slot 1")

#define CHECKS_SLOTS 4
static const void *const checks_table[CHECKS_SLOTS] = {
	TABLE_SIZE(CHECKS_SLOTS),
	(const void *)checks_slot1,
	(const void *)checks_context,
	(const void *)checks_flag,
};

/* ---- INTEGRITY_CHECK d4082055-bde6-704b-8d34-ba123c66e1f2 ---- */

#define INTEGRITY_SLOTS 3
static const void *const integrity_table[INTEGRITY_SLOTS];

/*
 * The answer to (version, unix_seconds): fixed for versions ending in 0
 * and 1, the keyed hash for those ending in 2 (integrity_hash.c).  Every
 * input must be what cudart sees too: the driver version cuDriverGetVersion
 * reports, and each device's UUID and PCI location as cuDeviceGetUuid and
 * cuDeviceGetAttribute report them.
 */
static CUresult integrity_check(uint32_t version, uint64_t unix_seconds, uint64_t out[2])
{
	struct vgpu_integrity_call call;
	struct vgpu_md2 md2;
	int dev, count;

	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	if (vgpu_integrity_fixed_answer(version, out))
		return CUDA_SUCCESS;
	if (version % 10 != 2) {
		vgpu_log("cuGetExportTable: integrity check version %u unknown", version);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	if (!vgpu_initialized())
		return CUDA_ERROR_NOT_INITIALIZED;

	call = (struct vgpu_integrity_call){
		.driver_version = (uint32_t)vgpu_driver_version(),
		.version = version,
		.pid = (uint32_t)getpid(),
		.thread = (uint32_t)(uintptr_t)pthread_self(),
		.cudart_table = (uintptr_t)cudart_interface,
		.integrity_table = (uintptr_t)integrity_table,
		.check_fn = (uintptr_t)integrity_table[1],
		.unix_seconds = unix_seconds,
	};
	vgpu_integrity_begin(&md2, &call);
	count = vgpu_device_count();
	for (dev = 0; dev < count; dev++) {
		const struct vgpu_device_info *info = vgpu_device_info(dev);
		struct vgpu_integrity_device rec;

		if (!info)
			return CUDA_ERROR_INVALID_DEVICE;
		memcpy(rec.uuid, info->uuid, sizeof(rec.uuid));
		rec.pci_domain = info->attrs[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID];
		rec.pci_bus = info->attrs[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID];
		rec.pci_device = info->attrs[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID];
		vgpu_integrity_add_device(&md2, &rec);
	}
	vgpu_integrity_finish(&md2, out);
	return CUDA_SUCCESS;
}

UNSUPPORTED_SLOT(integrity_slot2, "INTEGRITY_CHECK slot 2")

static const void *const integrity_table[INTEGRITY_SLOTS] = {
	TABLE_SIZE(INTEGRITY_SLOTS),
	(const void *)integrity_check,
	(const void *)integrity_slot2,
};

/* ---- log sink f8cff951-2146-8b4e-b9e2-fb469e7c0dd9 ---- */

/* The runtime's own diagnostics, into the shim's log when it is on. */
static void log_sink(const char *tag, int level, const char *fmt, va_list ap)
{
	char msg[400];

	if (!fmt || !vgpu_log_enabled())
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	vgpu_log("%s(%d): %s", tag ? tag : "cudart", level, msg);
}

#define LOG_SLOTS 2
static const void *const log_table[LOG_SLOTS] = {
	TABLE_SIZE(LOG_SLOTS),
	(const void *)log_sink,
};

/* ---- lookup ---- */

static const struct {
	unsigned char id[16];	/* CUuuid bytes, in memory order */
	const void *const *table;
} export_tables[] = {
	{ { 0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a,
	    0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d, 0xf9 }, cudart_interface },
	{ { 0xa0, 0x94, 0x79, 0x8c, 0x2e, 0x74, 0x2e, 0x74,
	    0x93, 0xf2, 0x08, 0x00, 0x20, 0x0c, 0x0a, 0x66 }, hooks_table },
	{ { 0x42, 0xd8, 0x5a, 0x81, 0x23, 0xf6, 0xcb, 0x47,
	    0x82, 0x98, 0xf6, 0xe7, 0x8a, 0x3a, 0xec, 0xdc }, tls_table },
	{ { 0xc6, 0x93, 0x33, 0x6e, 0x11, 0x21, 0xdf, 0x11,
	    0xa8, 0xc3, 0x68, 0xf3, 0x55, 0xd8, 0x95, 0x93 }, cls_table },
	{ { 0x26, 0x3e, 0x88, 0x60, 0x7c, 0xd2, 0x61, 0x43,
	    0x92, 0xf6, 0xbb, 0xd5, 0x00, 0x6d, 0xfa, 0x7e }, checks_table },
	{ { 0xd4, 0x08, 0x20, 0x55, 0xbd, 0xe6, 0x70, 0x4b,
	    0x8d, 0x34, 0xba, 0x12, 0x3c, 0x66, 0xe1, 0xf2 }, integrity_table },
	{ { 0xf8, 0xcf, 0xf9, 0x51, 0x21, 0x46, 0x8b, 0x4e,
	    0xb9, 0xe2, 0xfb, 0x46, 0x9e, 0x7c, 0x0d, 0xd9 }, log_table },
};

/* Known to real drivers, not emulated here: named in the log, refused like unknown ones. */
static const struct {
	unsigned char id[16];
	const char *name;
} not_emulated[] = {
	{ { 0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48,
	    0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24, 0xc8, 0xf2 }, "cuBLAS 13.0 internal (slots unknown)" },
	{ { 0x69, 0xa2, 0x8e, 0x9f, 0x24, 0x49, 0x8b, 0x47,
	    0xb0, 0x30, 0xc5, 0xda, 0x33, 0x0e, 0xa4, 0xe9 }, "cuBLAS 13.1 internal (slots unknown)" },
	{ { 0x0c, 0xa5, 0x0b, 0x8c, 0x10, 0x04, 0x92, 0x9a,
	    0x89, 0xa7, 0xd0, 0xdf, 0x10, 0xe7, 0x72, 0x86 }, "CTX_CREATE_BYPASS" },
	{ { 0x19, 0x5b, 0xcb, 0xf4, 0xd6, 0x7d, 0x02, 0x4a,
	    0xac, 0xc5, 0x1d, 0x29, 0xce, 0xa6, 0x31, 0xae }, "HEAP_ACCESS" },
	{ { 0xb1, 0x05, 0x41, 0xe1, 0xf7, 0xc7, 0xc7, 0x4a,
	    0x9f, 0x64, 0xf2, 0x23, 0xbe, 0x99, 0xf1, 0xe2 }, "DEVICE_EXTENDED_RT" },
	{ { 0xdd, 0x9e, 0x98, 0xa4, 0xf4, 0x10, 0x48, 0x44,
	    0x99, 0xb0, 0xe2, 0xae, 0xb7, 0xb4, 0x32, 0xb5 }, "HYBRID_CUDART" },
};

/* The name of a table the shim knows of but does not emulate, or NULL. */
const char *vgpu_export_table_not_emulated(const unsigned char id[16])
{
	for (size_t i = 0; i < sizeof(not_emulated) / sizeof(not_emulated[0]); i++)
		if (!memcmp(not_emulated[i].id, id, 16))
			return not_emulated[i].name;
	return NULL;
}

EXPORT CUresult CUDAAPI cuGetExportTable(const void **ppExportTable, const CUuuid *pExportTableId)
{
	const unsigned char *id;
	size_t i;

	if (!ppExportTable)
		return CUDA_ERROR_INVALID_VALUE;
	*ppExportTable = NULL;
	if (!pExportTableId)
		return CUDA_ERROR_INVALID_VALUE;
	for (i = 0; i < sizeof(export_tables) / sizeof(export_tables[0]); i++) {
		if (!memcmp(export_tables[i].id, pExportTableId->bytes, 16)) {
			*ppExportTable = export_tables[i].table;
			return CUDA_SUCCESS;
		}
	}
	id = (const unsigned char *)pExportTableId->bytes;
	{
		const char *name = vgpu_export_table_not_emulated(id);

		vgpu_log("cuGetExportTable: no table %02x%02x%02x%02x-%02x%02x-%02x%02x-"
			 "%02x%02x-%02x%02x%02x%02x%02x%02x (%s): CUDA_ERROR_INVALID_VALUE",
			 id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7],
			 id[8], id[9], id[10], id[11], id[12], id[13], id[14], id[15],
			 name ? name : "unknown");
	}
	return CUDA_ERROR_INVALID_VALUE;
}
