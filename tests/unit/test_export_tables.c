// SPDX-License-Identifier: MIT
/*
 * cuGetExportTable and its tables (guest-shim/export_tables.c,
 * context_local_storage.c, integrity_hash.c) against the shim state test
 * double (fake_shim_state.c): no GPU, no transport.
 *
 * The integrity hash is checked three ways: MD2 against RFC 1319's suite,
 * the MD2 state after each step against the states ZLUDA's tests record
 * (dark_api/src/lib.rs), and the whole answer -- including what the table
 * slot really feeds in: pid, thread, table addresses -- against
 * integrity_hash_ref.py, an independent Python implementation.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_shim_state.h"
#include "context_local_storage.h"
#include "integrity_hash.h"

static int checks, failures;

#define CHECK(cond, ...) do { \
	checks++; \
	if (!(cond)) { \
		failures++; \
		fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const unsigned char uuid_cudart[16] = {
	0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a,
	0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d, 0xf9 };
static const unsigned char uuid_hooks[16] = {
	0xa0, 0x94, 0x79, 0x8c, 0x2e, 0x74, 0x2e, 0x74,
	0x93, 0xf2, 0x08, 0x00, 0x20, 0x0c, 0x0a, 0x66 };
static const unsigned char uuid_tls[16] = {
	0x42, 0xd8, 0x5a, 0x81, 0x23, 0xf6, 0xcb, 0x47,
	0x82, 0x98, 0xf6, 0xe7, 0x8a, 0x3a, 0xec, 0xdc };
static const unsigned char uuid_cls[16] = {
	0xc6, 0x93, 0x33, 0x6e, 0x11, 0x21, 0xdf, 0x11,
	0xa8, 0xc3, 0x68, 0xf3, 0x55, 0xd8, 0x95, 0x93 };
static const unsigned char uuid_checks[16] = {
	0x26, 0x3e, 0x88, 0x60, 0x7c, 0xd2, 0x61, 0x43,
	0x92, 0xf6, 0xbb, 0xd5, 0x00, 0x6d, 0xfa, 0x7e };
static const unsigned char uuid_integrity[16] = {
	0xd4, 0x08, 0x20, 0x55, 0xbd, 0xe6, 0x70, 0x4b,
	0x8d, 0x34, 0xba, 0x12, 0x3c, 0x66, 0xe1, 0xf2 };
static const unsigned char uuid_log[16] = {
	0xf8, 0xcf, 0xf9, 0x51, 0x21, 0x46, 0x8b, 0x4e,
	0xb9, 0xe2, 0xfb, 0x46, 0x9e, 0x7c, 0x0d, 0xd9 };
/* Known to exist in real drivers, not provided here: must be clean errors. */
static const unsigned char uuid_ctx_create_bypass[16] = {
	0x0c, 0xa5, 0x0b, 0x8c, 0x10, 0x04, 0x92, 0x9a,
	0x89, 0xa7, 0xd0, 0xdf, 0x10, 0xe7, 0x72, 0x86 };
static const unsigned char uuid_device_extended_rt[16] = {
	0xb1, 0x05, 0x41, 0xe1, 0xf7, 0xc7, 0xc7, 0x4a,
	0x9f, 0x64, 0xf2, 0x23, 0xbe, 0x99, 0xf1, 0xe2 };

/* Asked for by cuBLAS 13.0 and 13.1: semantics unknown, so refused, never a dummy table. */
static const unsigned char uuid_cublas130[16] = {
	0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48,
	0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24, 0xc8, 0xf2 };
static const unsigned char uuid_cublas131[16] = {
	0x69, 0xa2, 0x8e, 0x9f, 0x24, 0x49, 0x8b, 0x47,
	0xb0, 0x30, 0xc5, 0xda, 0x33, 0x0e, 0xa4, 0xe9 };

static const void *const *table(const unsigned char id[16])
{
	CUuuid u;
	const void *t = NULL;
	CUresult res;

	memcpy(u.bytes, id, 16);
	res = cuGetExportTable(&t, &u);
	CHECK(res == CUDA_SUCCESS && t, "known table: %d", res);
	return t;
}

static size_t table_size(const void *const *t)
{
	return (size_t)(uintptr_t)t[0];
}

/* Slot signatures, as cudart calls them. */
typedef CUresult (*unknown_slot_fn)(void);
typedef CUresult (*primary_ctx_fn)(CUcontext *, CUdevice);
typedef CUresult (*size_arg_fn)(size_t);
typedef void (*flags_fn)(void **, size_t *);
typedef CUresult (*ctx_check_fn)(CUcontext, uint32_t *, void **);
typedef uint32_t (*flag_fn)(void);
typedef CUresult (*integrity_fn)(uint32_t, uint64_t, uint64_t *);
typedef void (*log_fn)(const char *, int, const char *, va_list);
typedef CUresult (*cls_put_fn)(CUcontext, void *, void *, vgpu_cls_dtor);
typedef CUresult (*cls_delete_fn)(CUcontext, void *);
typedef CUresult (*cls_get_fn)(void **, CUcontext, void *);

static void test_lookup(void)
{
	static const struct { const unsigned char *id; size_t min_slots; } sized[] = {
		{ uuid_cudart, 13 }, { uuid_hooks, 7 }, { uuid_tls, 1 },
		{ uuid_checks, 4 }, { uuid_integrity, 2 }, { uuid_log, 2 },
	};
	const unsigned char *unknown[] = { uuid_ctx_create_bypass, uuid_device_extended_rt,
					   uuid_cublas130, uuid_cublas131 };
	const void *t;
	CUuuid u;
	size_t i;

	for (i = 0; i < N_ELEMS(sized); i++) {
		const void *const *tb = table(sized[i].id);

		CHECK(table_size(tb) >= sized[i].min_slots * sizeof(void *),
		      "table %zu: size %zu", i, table_size(tb));
		CHECK(table_size(tb) % sizeof(void *) == 0, "size %zu", table_size(tb));
	}
	/* HOOKS: cudart 13 fails init unless the size is above 0x30. */
	CHECK(table_size(table(uuid_hooks)) > 0x30, "hooks size");
	/* CLS has no header: slot 0 is put itself. */
	CHECK(table(uuid_cls)[0] == (const void *)vgpu_cls_put, "cls slot 0");
	CHECK(table(uuid_cls)[1] == (const void *)vgpu_cls_delete, "cls slot 1");
	CHECK(table(uuid_cls)[2] == (const void *)vgpu_cls_get, "cls slot 2");
	/* The same table every time (the integrity hash hashes its address). */
	CHECK(table(uuid_cudart) == table(uuid_cudart), "stable address");

	for (i = 0; i < N_ELEMS(unknown); i++) {
		memcpy(u.bytes, unknown[i], 16);
		t = (const void *)&u;
		CHECK(cuGetExportTable(&t, &u) == CUDA_ERROR_INVALID_VALUE && !t, "unknown %zu", i);
	}
	/* Those are named in the log; a UUID nobody knows is not. */
	CHECK(vgpu_export_table_not_emulated(uuid_cublas131) &&
	      strstr(vgpu_export_table_not_emulated(uuid_cublas131), "13.1"), "13.1 named");
	CHECK(vgpu_export_table_not_emulated(uuid_device_extended_rt), "CUPTI's named");
	CHECK(!vgpu_export_table_not_emulated(uuid_cudart), "emulated ones are not in the list");
	/* One bit away from a known table is still unknown. */
	memcpy(u.bytes, uuid_integrity, 16);
	u.bytes[15] ^= 1;
	t = (const void *)&u;
	CHECK(cuGetExportTable(&t, &u) == CUDA_ERROR_INVALID_VALUE && !t, "near miss");

	CHECK(cuGetExportTable(NULL, &u) == CUDA_ERROR_INVALID_VALUE, "NULL table pointer");
	t = (const void *)&u;
	CHECK(cuGetExportTable(&t, NULL) == CUDA_ERROR_INVALID_VALUE && !t, "NULL id");
}

static void test_cudart_interface(void)
{
	const void *const *t = table(uuid_cudart);
	CUcontext ctx = NULL;
	int before = fake_unsupported_calls;

	CHECK(((primary_ctx_fn)t[2])(&ctx, 0) == CUDA_SUCCESS && ctx == fake_primary_ctx(0),
	      "primary context of device 0");
	CHECK(((primary_ctx_fn)t[2])(&ctx, 7) == CUDA_ERROR_INVALID_DEVICE, "bad device");
	CHECK(((primary_ctx_fn)t[2])(NULL, 0) == CUDA_ERROR_INVALID_VALUE, "NULL out");
	CHECK(((size_arg_fn)t[7])(0) == CUDA_SUCCESS, "slot 7 no-op");
	CHECK(((unknown_slot_fn)t[12])() == CUDA_SUCCESS, "slot 12 load_compilers");
	for (int i = 1; i < 12; i++) {
		if (i == 2 || i == 7)
			continue;
		CHECK(t[i] && ((unknown_slot_fn)t[i])() == CUDA_ERROR_NOT_SUPPORTED, "slot %d", i);
	}
	CHECK(fake_unsupported_calls == before + 9, "unsupported slots go through vgpu_unsupported");
}

static void check_zeros(const uint32_t *a, size_t n, const char *what)
{
	size_t nonzero = 0;

	for (size_t i = 0; i < n; i++)
		nonzero += a[i] != 0;
	CHECK(nonzero == 0, "%s: %zu flags set", what, nonzero);
}

static void test_hooks_tls(void)
{
	const void *const *t = table(uuid_hooks);
	const void *const *tls = table(uuid_tls);
	void *array = NULL;
	size_t count = 0;

	((flags_fn)t[2])(&array, &count);
	CHECK(array && count > 522, "slot 2: %p %zu", array, count);
	if (array)
		check_zeros(array, count, "slot 2");
	array = NULL;
	count = 0;
	((flags_fn)t[6])(&array, &count);
	CHECK(array && count > 13, "slot 6: %p %zu", array, count);
	if (array)
		check_zeros(array, count, "slot 6");
	for (int i = 1; i < 6; i++)
		CHECK(t[i] != NULL, "hooks slot %d present", i);
	for (size_t i = 1; i < table_size(tls) / sizeof(void *); i++)
		CHECK(tls[i] != NULL, "tls slot %zu present", i);
}

static void test_context_checks(void)
{
	const void *const *t = table(uuid_checks);
	uint32_t wrapped = 0xdeadbeef;
	void *inner = NULL;

	CHECK(((flag_fn)t[3])() == 0, "slot 3");
	CHECK(((ctx_check_fn)t[2])(fake_primary_ctx(0), &wrapped, &inner) == CUDA_SUCCESS &&
	      wrapped == 0, "slot 2: %#x", wrapped);
	CHECK(((ctx_check_fn)t[2])(NULL, NULL, &inner) == CUDA_ERROR_INVALID_VALUE, "slot 2 NULL");
}

/* ---- context-local storage ---- */

static char ctx_a, ctx_b;
#define CTX_A ((CUcontext)(void *)&ctx_a)
#define CTX_B ((CUcontext)(void *)&ctx_b)

struct dtor_call {
	CUcontext ctx;
	void *key;
	void *value;
};
static struct dtor_call dtor_calls[8];
static int n_dtor_calls;

static void record_dtor(CUcontext ctx, void *key, void *value)
{
	if (n_dtor_calls < (int)N_ELEMS(dtor_calls))
		dtor_calls[n_dtor_calls] = (struct dtor_call){ ctx, key, value };
	n_dtor_calls++;
}

/* As cudart's does: uses the driver (and this table) from the destructor. */
static void reentrant_dtor(CUcontext ctx, void *key, void *value)
{
	void *v;

	record_dtor(ctx, key, value);
	CHECK(vgpu_cls_get(&v, ctx, key) == CUDA_ERROR_NOT_FOUND, "gone before its destructor");
	CHECK(vgpu_cls_put(CTX_B, key, value, NULL) == CUDA_SUCCESS, "put from a destructor");
}

static void test_cls(void)
{
	const void *const *t = table(uuid_cls);
	cls_put_fn put = (cls_put_fn)t[0];
	cls_delete_fn del = (cls_delete_fn)t[1];
	cls_get_fn get = (cls_get_fn)t[2];
	int k1, k2, k3, v1, v2, v3;
	void *v;

	fake_set_current_ctx(NULL);
	CHECK(put(NULL, &k1, &v1, record_dtor) == CUDA_ERROR_INVALID_CONTEXT, "no current");
	CHECK(get(&v, NULL, &k1) == CUDA_ERROR_INVALID_CONTEXT, "no current");
	CHECK(del(NULL, &k1) == CUDA_ERROR_INVALID_CONTEXT, "no current");

	/* NULL is the current context, for all three slots. */
	fake_set_current_ctx(CTX_A);
	CHECK(put(NULL, &k1, &v1, record_dtor) == CUDA_SUCCESS, "put current");
	v = NULL;
	CHECK(get(&v, CTX_A, &k1) == CUDA_SUCCESS && v == &v1, "get explicit");
	v = NULL;
	CHECK(get(&v, NULL, &k1) == CUDA_SUCCESS && v == &v1, "get current");
	CHECK(put(CTX_A, &k2, &v2, record_dtor) == CUDA_SUCCESS, "put explicit");
	v = NULL;
	CHECK(get(&v, NULL, &k2) == CUDA_SUCCESS && v == &v2, "explicit put, current get");

	/* Missing keys fail and leave the output alone. */
	v = &v3;
	CHECK(get(&v, NULL, &k3) != CUDA_SUCCESS && v == &v3, "missing key");
	CHECK(get(&v, CTX_B, &k1) != CUDA_SUCCESS && v == &v3, "other context");
	CHECK(get(NULL, NULL, &k1) == CUDA_ERROR_INVALID_VALUE, "NULL value pointer");

	/* Put again replaces. */
	CHECK(put(NULL, &k1, &v3, record_dtor) == CUDA_SUCCESS, "replace");
	CHECK(get(&v, NULL, &k1) == CUDA_SUCCESS && v == &v3, "replaced");

	/* Delete forgets without the destructor. */
	n_dtor_calls = 0;
	CHECK(del(NULL, &k1) == CUDA_SUCCESS, "delete");
	CHECK(get(&v, NULL, &k1) != CUDA_SUCCESS, "deleted");
	CHECK(del(CTX_A, &k1) != CUDA_SUCCESS, "delete twice");
	CHECK(n_dtor_calls == 0, "delete ran %d destructors", n_dtor_calls);

	/* Destroying A runs A's destructors, oldest first, and only A's. */
	CHECK(put(CTX_A, &k3, &v3, record_dtor) == CUDA_SUCCESS, "put k3");
	CHECK(put(CTX_B, &k1, &v1, record_dtor) == CUDA_SUCCESS, "put B");
	CHECK(put(CTX_A, &k1, &v1, NULL) == CUDA_SUCCESS, "put without destructor");
	vgpu_cls_context_destroyed(CTX_A);
	CHECK(n_dtor_calls == 2, "%d destructor calls", n_dtor_calls);
	CHECK(dtor_calls[0].ctx == CTX_A && dtor_calls[0].key == &k2 && dtor_calls[0].value == &v2,
	      "first destructor");
	CHECK(dtor_calls[1].ctx == CTX_A && dtor_calls[1].key == &k3 && dtor_calls[1].value == &v3,
	      "second destructor");
	CHECK(get(&v, CTX_A, &k1) != CUDA_SUCCESS && get(&v, CTX_A, &k2) != CUDA_SUCCESS &&
	      get(&v, CTX_A, &k3) != CUDA_SUCCESS, "A emptied");
	CHECK(get(&v, CTX_B, &k1) == CUDA_SUCCESS && v == &v1, "B kept");
	vgpu_cls_context_destroyed(CTX_A);
	CHECK(n_dtor_calls == 2, "destroying twice runs nothing more");

	/* A destructor may call back in (the lock is not held). */
	n_dtor_calls = 0;
	CHECK(put(CTX_A, &k2, &v2, reentrant_dtor) == CUDA_SUCCESS, "put reentrant");
	vgpu_cls_context_destroyed(CTX_A);
	CHECK(n_dtor_calls == 1, "reentrant destructor ran");
	CHECK(get(&v, CTX_B, &k2) == CUDA_SUCCESS && v == &v2, "put from destructor landed");

	n_dtor_calls = 0;
	vgpu_cls_context_destroyed(CTX_B);
	CHECK(n_dtor_calls == 1, "B: %d destructors (k2 had none)", n_dtor_calls);
	fake_set_current_ctx(NULL);
}

#define CLS_THREADS 8
#define CLS_KEYS 300

static char thread_ctx[CLS_THREADS / 2];
static char thread_keys[CLS_THREADS][CLS_KEYS];
static int thread_errors[CLS_THREADS];

/*
 * Pairs of threads share a context (so they hit the same entries' neighbours),
 * each thread its own keys; put, get back, delete half, check.
 */
static void *cls_thread(void *arg)
{
	int id = (int)(intptr_t)arg;
	CUcontext ctx = (CUcontext)(void *)&thread_ctx[id / 2];
	char *keys = thread_keys[id];
	int *err = &thread_errors[id];
	void *v;

	fake_set_current_ctx(ctx);
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < CLS_KEYS; i++)
			*err += vgpu_cls_put(i % 2 ? NULL : ctx, &keys[i],
					     (void *)(intptr_t)(id * 100000 + i + 1), NULL) != CUDA_SUCCESS;
		for (int i = 0; i < CLS_KEYS; i++)
			*err += vgpu_cls_get(&v, NULL, &keys[i]) != CUDA_SUCCESS ||
				v != (void *)(intptr_t)(id * 100000 + i + 1);
		for (int i = 0; i < CLS_KEYS; i += 2)
			*err += vgpu_cls_delete(ctx, &keys[i]) != CUDA_SUCCESS;
		for (int i = 0; i < CLS_KEYS; i++)
			*err += (vgpu_cls_get(&v, ctx, &keys[i]) == CUDA_SUCCESS) != (i % 2 == 1);
		for (int i = 1; i < CLS_KEYS; i += 2)
			*err += vgpu_cls_delete(NULL, &keys[i]) != CUDA_SUCCESS;
	}
	return NULL;
}

static void test_cls_threads(void)
{
	pthread_t th[CLS_THREADS];
	void *v;

	for (int i = 0; i < CLS_THREADS; i++)
		pthread_create(&th[i], NULL, cls_thread, (void *)(intptr_t)i);
	for (int i = 0; i < CLS_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < CLS_THREADS; i++) {
		CHECK(thread_errors[i] == 0, "thread %d: %d errors", i, thread_errors[i]);
		CHECK(vgpu_cls_get(&v, (CUcontext)(void *)&thread_ctx[i / 2], &thread_keys[i][1])
		      != CUDA_SUCCESS, "thread %d left an entry", i);
	}
}

/* ---- integrity ---- */

static integrity_fn integrity_slot(void)
{
	return (integrity_fn)table(uuid_integrity)[1];
}

static void test_integrity_fixed(void)
{
	uint64_t out[2] = { 0, 0 };
	integrity_fn check = integrity_slot();

	/* ZLUDA, dark_api/src/lib.rs: the answers of versions ending 0 and 1. */
	CHECK(check(13000, 1700000000, out) == CUDA_SUCCESS &&
	      out[0] == 0x3341181c03cb675cULL && out[1] == 0x8ed383aa1f4cd1e8ULL, "13000");
	CHECK(check(13001, 1700000000, out) == CUDA_SUCCESS &&
	      out[0] == 0x1841181c03cb675cULL && out[1] == 0x8ed383aa1f4cd1e8ULL, "13001");
	CHECK(check(12080, 5, out) == CUDA_SUCCESS && out[0] == 0x3341181c03cb675cULL, "12080");
	/* They need nothing from the host. */
	fake_initialized = false;
	CHECK(check(13001, 0, out) == CUDA_SUCCESS && out[0] == 0x1841181c03cb675cULL,
	      "13001 before init");
	CHECK(check(13002, 0, out) == CUDA_ERROR_NOT_INITIALIZED, "13002 before init");
	fake_initialized = true;
	CHECK(check(13003, 0, out) == CUDA_ERROR_NOT_SUPPORTED, "unknown variant");
	CHECK(check(13002, 0, NULL) == CUDA_ERROR_INVALID_VALUE, "NULL out");
	fake_device_infos = 0;
	CHECK(check(13002, 0, out) == CUDA_ERROR_INVALID_DEVICE, "device without info");
	fake_shim_reset();
}

static void check_md2_string(const char *s, const char *hex)
{
	struct vgpu_md2 m;
	uint8_t d[16];
	char got[33];

	vgpu_md2_init(&m);
	vgpu_md2_update(&m, s, strlen(s));
	vgpu_md2_final(&m, d);
	for (int i = 0; i < 16; i++)
		sprintf(got + 2 * i, "%02x", d[i]);
	CHECK(!strcmp(got, hex), "MD2(\"%s\") = %s", s, got);
}

static void set_state(struct vgpu_md2 *m, const uint8_t s[66])
{
	memcpy(m, s, sizeof(*m));
}

static void test_md2(void)
{
	/* RFC 1319, A.5. */
	check_md2_string("", "8350e5a3e24c153df2275c9f80692773");
	check_md2_string("a", "32ec01ec4a6dac72c0ab96fb34c0b5d1");
	check_md2_string("abc", "da853b0d3f88d99b30283a69e6ded6bb");
	check_md2_string("message digest", "ab4f496bfb2a530b219ff33031fe06b0");
	check_md2_string("abcdefghijklmnopqrstuvwxyz", "4e8ddff3650292ab5a4108c3aa47940b");
	check_md2_string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
			 "da33def2a42df13975352846c30338cd");
	check_md2_string("1234567890123456789012345678901234567890"
			 "1234567890123456789012345678901234567890",
			 "d5976f79d83d3a0dc9806c3c66f3efd8");
}

/*
 * The 66-byte states ZLUDA's tests record (dark_api/src/lib.rs, tests
 * integrity_check_pass3/4/5; the inputs look taken from a live process
 * under a debugger).  Same layout as struct vgpu_md2.
 */
static void test_zluda_states(void)
{
	static const uint8_t after_call[66] = {	/* begin(): key ^ 0x36, the call */
		0x0a, 0xfd, 0xab, 0xc9, 0xff, 0x9b, 0xa0, 0xbe, 0x4d, 0x30, 0x32, 0x82, 0x74, 0x4f,
		0xa7, 0x48, 0x9d, 0x23, 0x82, 0xa3, 0x87, 0xfa, 0x6c, 0xdb, 0x92, 0x49, 0xd9, 0xb5,
		0x4b, 0x2b, 0x5e, 0x51, 0x6e, 0xf7, 0xf9, 0x4d, 0x28, 0x8a, 0x64, 0x06, 0x19, 0xb3,
		0xe6, 0xbe, 0xa4, 0xec, 0x7e, 0x54, 0x64, 0x28, 0xd9, 0xe1, 0xd4, 0x34, 0xc0, 0xa9,
		0x49, 0x88, 0xc9, 0x61, 0x58, 0xdd, 0x66, 0x74, 0x00, 0x74,
	};
	static const uint8_t before_device[66] = {
		0x84, 0xfd, 0x93, 0x10, 0xc6, 0xdb, 0xb3, 0xbc, 0x49, 0xc2, 0x25, 0xe7, 0xda, 0x6e,
		0x22, 0x6f, 0x9b, 0xbd, 0x81, 0x59, 0xc3, 0x01, 0x9a, 0x7a, 0x26, 0x34, 0x39, 0x0f,
		0x2a, 0x56, 0x13, 0xb1, 0xf6, 0xbc, 0x7f, 0xa1, 0x8f, 0x04, 0xa5, 0x4d, 0x0d, 0x78,
		0xab, 0x20, 0xf8, 0x23, 0x20, 0xa5, 0x3f, 0x67, 0x36, 0xe2, 0xde, 0x8a, 0xe5, 0xdf,
		0xe1, 0xf2, 0x03, 0x94, 0xad, 0xdc, 0x9a, 0xda, 0x00, 0xda,
	};
	static const uint8_t after_device[66] = {
		0x1f, 0xd8, 0x25, 0xd2, 0xdf, 0xfa, 0x64, 0xc7, 0xb6, 0x1a, 0xaf, 0x22, 0xb8, 0x79,
		0xfb, 0x96, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x7c, 0x9d, 0x46, 0xd2, 0x1f, 0xd8, 0x25, 0xd2, 0xdd, 0xfa, 0x64, 0xc7, 0xb6, 0x1a,
		0xaf, 0x22, 0xe6, 0x17, 0xbd, 0x3a, 0xd7, 0xdd, 0x5f, 0x82, 0x8c, 0x87, 0xce, 0x86,
		0x66, 0xaf, 0xa0, 0x50, 0x7a, 0x7d, 0xbb, 0xbc, 0x0c, 0x50,
	};
	static const uint8_t before_final[66] = {
		0x3e, 0x4b, 0xf2, 0x95, 0x71, 0xf5, 0x6b, 0x51, 0x07, 0xbf, 0x4b, 0xf1, 0x04, 0x0e,
		0x8e, 0x0b, 0x5f, 0x4d, 0x30, 0x0c, 0x0f, 0x0c, 0xae, 0xfb, 0x48, 0xaf, 0x23, 0xb5,
		0xea, 0x4c, 0xc2, 0xdb, 0xd7, 0xdf, 0x88, 0x74, 0x39, 0x58, 0x16, 0x3a, 0x1f, 0x7c,
		0x9b, 0x20, 0x7e, 0x7e, 0x94, 0xc8, 0x8b, 0xc6, 0xb2, 0x38, 0x0d, 0x07, 0x7d, 0xbd,
		0x90, 0xd5, 0x39, 0x63, 0xeb, 0x1d, 0x4f, 0x40, 0x00, 0x40,
	};
	static const uint8_t after_final[66] = {
		0x00, 0x23, 0x53, 0x06, 0x5e, 0x96, 0xf6, 0x9c, 0x61, 0xaa, 0x96, 0x2d, 0x2e, 0xcd,
		0xa8, 0x58, 0xe9, 0xca, 0xc0, 0x2e, 0x35, 0xed, 0x5f, 0xca, 0xe1, 0x0e, 0xcd, 0x1f,
		0xd0, 0x8e, 0x8b, 0x9c, 0x29, 0x4d, 0x1c, 0x94, 0x6b, 0xf7, 0x10, 0xb0, 0x07, 0x08,
		0x91, 0xd6, 0x14, 0x06, 0xc0, 0xec, 0xe1, 0x9c, 0x8e, 0x33, 0xd4, 0xe9, 0x43, 0x5c,
		0x86, 0x0c, 0x72, 0x4d, 0x27, 0x98, 0x91, 0x7f, 0x00, 0x7f,
	};
	const struct vgpu_integrity_call call = {
		.driver_version = 12080,
		.version = 12082,
		.pid = 0x002fa423,
		.thread = 0xf79c1000,
		.cudart_table = 0x00007ffff6958240,
		.integrity_table = 0x00007ffff6958220,
		.check_fn = 0x00007ffff2aaf4a0,
		.unix_seconds = 0x682b9cee,
	};
	struct vgpu_integrity_device dev = {
		.uuid = { 0x9a, 0xfe, 0x2b, 0x8a, 0xac, 0x25, 0x2d, 0x38,
			  0xea, 0x37, 0xae, 0xc5, 0x6d, 0x71, 0x32, 0x5f },
		.pci_domain = 0, .pci_bus = 2, .pci_device = 0,
	};
	struct vgpu_md2 m;
	uint8_t digest[16];

	vgpu_integrity_begin(&m, &call);
	CHECK(!memcmp(&m, after_call, sizeof(m)), "state after the call record");
	set_state(&m, before_device);
	vgpu_integrity_add_device(&m, &dev);
	CHECK(!memcmp(&m, after_device, sizeof(m)), "state after a device record");
	set_state(&m, before_final);
	vgpu_md2_final(&m, digest);
	CHECK(!memcmp(&m, after_final, sizeof(m)), "state after finalisation");
	CHECK(!memcmp(digest, after_final, 16), "digest");
}

/* The inputs of one check, as the reference script reads them. */
struct ref_case {
	struct vgpu_integrity_call call;
	int ndev;
	struct vgpu_integrity_device dev[FAKE_MAX_DEVICES];
	uint64_t got[2];	/* what the C side answered */
};

static void ref_write(FILE *f, const struct ref_case *c)
{
	fprintf(f, "%u %u %u %u %#llx %#llx %#llx %llu", c->call.driver_version, c->call.version,
		c->call.pid, c->call.thread, (unsigned long long)c->call.cudart_table,
		(unsigned long long)c->call.integrity_table, (unsigned long long)c->call.check_fn,
		(unsigned long long)c->call.unix_seconds);
	for (int d = 0; d < c->ndev; d++) {
		fputc(' ', f);
		for (int i = 0; i < 16; i++)
			fprintf(f, "%02x", c->dev[d].uuid[i]);
		fprintf(f, " %d %d %d", c->dev[d].pci_domain, c->dev[d].pci_bus,
			c->dev[d].pci_device);
	}
	fputc('\n', f);
}

static void hex16(char out[33], const uint64_t v[2])
{
	const uint8_t *b = (const uint8_t *)v;

	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* Run the Python reference over @n cases; compare with c->got. */
static void ref_compare(const struct ref_case *cases, int n)
{
	char in_path[] = "/tmp/vgpu-integrity-XXXXXX";
	char cmd[512], line[128], want[33];
	int fd = mkstemp(in_path), i = 0;
	FILE *f;

	CHECK(fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	for (int k = 0; k < n; k++)
		ref_write(f, &cases[k]);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s %s < %s", PYTHON, INTEGRITY_REF, in_path);
	f = popen(cmd, "r");
	CHECK(f != NULL, "%s", cmd);
	while (f && fgets(line, sizeof(line), f) && i < n) {
		line[strcspn(line, "\n")] = 0;
		hex16(want, cases[i].got);
		CHECK(!strcmp(line, want), "case %d: C %s, Python %s", i, want, line);
		i++;
	}
	CHECK(f && pclose(f) == 0, "%s failed", cmd);
	CHECK(i == n, "Python answered %d of %d cases", i, n);
	unlink(in_path);
}

/* What the slot must have hashed for a call from this thread, per shim.h state. */
static void expected_inputs(struct ref_case *c, uint32_t version, uint64_t t)
{
	const void *const *it = table(uuid_integrity);

	c->call = (struct vgpu_integrity_call){
		.driver_version = (uint32_t)fake_driver_version,
		.version = version,
		.pid = (uint32_t)getpid(),
		.thread = (uint32_t)(uintptr_t)pthread_self(),
		.cudart_table = (uintptr_t)table(uuid_cudart),
		.integrity_table = (uintptr_t)it,
		.check_fn = (uintptr_t)it[1],
		.unix_seconds = t,
	};
	c->ndev = fake_device_count;
	for (int d = 0; d < c->ndev; d++) {
		memcpy(c->dev[d].uuid, fake_devices[d].uuid, 16);
		c->dev[d].pci_domain = fake_devices[d].attrs[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID];
		c->dev[d].pci_bus = fake_devices[d].attrs[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID];
		c->dev[d].pci_device = fake_devices[d].attrs[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID];
	}
}

struct slot_call {
	uint64_t t;
	struct ref_case *c;
	CUresult res;
};

/* A call through the table from another thread: another pthread_self. */
static void *slot_thread(void *arg)
{
	struct slot_call *s = arg;

	expected_inputs(s->c, 13002, s->t);
	s->res = integrity_slot()(13002, s->t, s->c->got);
	return NULL;
}

static bool same(const uint64_t a[2], const uint64_t b[2])
{
	return a[0] == b[0] && a[1] == b[1];
}

static void test_integrity_hash(void)
{
	integrity_fn check = integrity_slot();
	struct ref_case cases[10];
	const uint64_t t0 = 1767225600;	/* 2026-01-01 */
	uint64_t again[2];
	struct slot_call sc;
	pthread_t th;
	int n = 0;

	memset(cases, 0, sizeof(cases));

	/* 0: through the table, this thread, one device. */
	expected_inputs(&cases[n], 13002, t0);
	CHECK(check(13002, t0, cases[n].got) == CUDA_SUCCESS, "13002");
	CHECK(check(13002, t0, again) == CUDA_SUCCESS && same(again, cases[n].got), "deterministic");
	n++;

	/* 1: another second. */
	expected_inputs(&cases[n], 13002, t0 + 1);
	CHECK(check(13002, t0 + 1, cases[n].got) == CUDA_SUCCESS, "t+1");
	CHECK(!same(cases[n].got, cases[0].got), "time changes the answer");
	n++;

	/* 2: another thread (pthread_self differs; pid is the same process). */
	sc = (struct slot_call){ .t = t0, .c = &cases[n] };
	pthread_create(&th, NULL, slot_thread, &sc);
	pthread_join(th, NULL);
	CHECK(sc.res == CUDA_SUCCESS, "other thread");
	CHECK(cases[n].call.thread != cases[0].call.thread, "threads differ");
	CHECK(!same(cases[n].got, cases[0].got), "the thread changes the answer");
	n++;

	/* 3: another UUID. */
	fake_devices[0].uuid[7] ^= 0x40;
	expected_inputs(&cases[n], 13002, t0);
	CHECK(check(13002, t0, cases[n].got) == CUDA_SUCCESS, "uuid");
	CHECK(!same(cases[n].got, cases[0].got), "the UUID changes the answer");
	fake_shim_reset();
	n++;

	/* 4: another PCI bus. */
	fake_devices[0].attrs[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID] = 0x41;
	expected_inputs(&cases[n], 13002, t0);
	CHECK(check(13002, t0, cases[n].got) == CUDA_SUCCESS, "bus");
	CHECK(!same(cases[n].got, cases[0].got), "the PCI bus changes the answer");
	fake_shim_reset();
	n++;

	/* 5: another driver version. */
	fake_driver_version = 13010;
	expected_inputs(&cases[n], 13002, t0);
	CHECK(check(13002, t0, cases[n].got) == CUDA_SUCCESS, "driver version");
	CHECK(!same(cases[n].got, cases[0].got), "the driver version changes the answer");
	fake_shim_reset();
	n++;

	/* 6: three devices, then 7: none. */
	fake_device_count = fake_device_infos = 3;
	for (int d = 1; d < 3; d++) {
		fake_devices[d] = fake_devices[0];
		fake_devices[d].uuid[0] = (uint8_t)(0x10 * d);
		fake_devices[d].attrs[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID] = d;
		fake_devices[d].attrs[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID] = 0x80 + d;
		fake_devices[d].attrs[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID] = d;
	}
	expected_inputs(&cases[n], 13002, t0);
	CHECK(check(13002, t0, cases[n].got) == CUDA_SUCCESS, "three devices");
	n++;
	fake_device_count = fake_device_infos = 0;
	expected_inputs(&cases[n], 12082, t0);
	CHECK(check(12082, t0, cases[n].got) == CUDA_SUCCESS, "no device");
	fake_shim_reset();
	n++;

	/* 8: ZLUDA's recorded inputs, through the hash alone. */
	cases[n].call = (struct vgpu_integrity_call){
		12080, 12082, 0x002fa423, 0xf79c1000,
		0x00007ffff6958240, 0x00007ffff6958220, 0x00007ffff2aaf4a0, 0x682b9cee,
	};
	cases[n].ndev = 1;
	memcpy(cases[n].dev[0].uuid, fake_devices[0].uuid, 16);
	cases[n].dev[0].pci_bus = 2;
	{
		struct vgpu_md2 m;

		vgpu_integrity_begin(&m, &cases[n].call);
		vgpu_integrity_add_device(&m, &cases[n].dev[0]);
		vgpu_integrity_finish(&m, cases[n].got);
	}
	n++;

	ref_compare(cases, n);
}

/* ---- log sink ---- */

static void call_log_sink(log_fn sink, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sink("CUDA", 0, fmt, ap);
	va_end(ap);
}

static void test_log_sink(const char *log_path)
{
	log_fn sink = (log_fn)table(uuid_log)[1];
	char buf[4096];
	size_t len;
	FILE *f;

	call_log_sink(sink, "Insufficient driver: %d < %d", 12080, 13000);
	call_log_sink(sink, NULL);	/* nothing to print, no crash */
	f = fopen(log_path, "r");
	CHECK(f != NULL, "log file %s", log_path);
	if (!f)
		return;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[len] = 0;
	fclose(f);
	CHECK(strstr(buf, "CUDA(0): Insufficient driver: 12080 < 13000") != NULL,
	      "runtime message in the log:\n%s", buf);
	CHECK(strstr(buf, "cuGetExportTable: no table b10541e1-f7c7-c74a-9f64-f223be99f1e2"),
	      "unknown table in the log:\n%s", buf);
}

int main(void)
{
	char log_path[] = "/tmp/vgpu-export-log-XXXXXX";
	int fd = mkstemp(log_path);

	/* Before anything logs: the log opens once. */
	if (fd < 0 || setenv("VGPU_LOG", log_path, 1)) {
		perror("log file");
		return 1;
	}
	close(fd);
	fake_shim_reset();

	test_lookup();
	test_cudart_interface();
	test_hooks_tls();
	test_context_checks();
	test_cls();
	test_cls_threads();
	test_integrity_fixed();
	test_md2();
	test_zluda_states();
	test_integrity_hash();
	test_log_sink(log_path);

	unlink(log_path);
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
