// SPDX-License-Identifier: MIT
/*
 * What the real driver's export tables look like, for the tables the shim
 * does not emulate yet (export_tables.c, not_emulated[]) and those it does:
 * whether the driver has each, its size entry, and where each slot points
 * inside libcuda.so.1 (offsets, so that a disassembly of the driver can
 * follow a slot).  cuBLAS 13.1 asks for 69a28e9f-...; what its slots take
 * is what the next step needs.  Informational (tests/gpu/probe-export-tables.sh).
 */
#include <cuda.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	unsigned char id[16];
	int sized;	/* [0] is the size in bytes */
} tables[] = {
	{ "cuBLAS 13.1 69a28e9f", { 0x69, 0xa2, 0x8e, 0x9f, 0x24, 0x49, 0x8b, 0x47,
				    0xb0, 0x30, 0xc5, 0xda, 0x33, 0x0e, 0xa4, 0xe9 }, 1 },
	{ "cuBLAS 13.0 21318c60", { 0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48,
				    0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24, 0xc8, 0xf2 }, 1 },
	{ "TOOLS_TLS", { 0x42, 0xd8, 0x5a, 0x81, 0x23, 0xf6, 0xcb, 0x47,
			 0x82, 0x98, 0xf6, 0xe7, 0x8a, 0x3a, 0xec, 0xdc }, 1 },
	{ "CUDART_INTERFACE", { 0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a,
				0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d, 0xf9 }, 1 },
	{ "DEVICE_EXTENDED_RT", { 0xb1, 0x05, 0x41, 0xe1, 0xf7, 0xc7, 0xc7, 0x4a,
				  0x9f, 0x64, 0xf2, 0x23, 0xbe, 0x99, 0xf1, 0xe2 }, 1 },
};

int main(void)
{
	const char *err = NULL;
	CUresult r = cuInit(0);

	printf("cuInit: %d\n", (int)r);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		const void *const *t = NULL;
		CUuuid u;

		memcpy(u.bytes, tables[i].id, 16);
		r = cuGetExportTable((const void **)&t, &u);
		if (r != CUDA_SUCCESS || !t) {
			cuGetErrorName(r, &err);
			printf("%s: %s\n", tables[i].name, err ? err : "?");
			continue;
		}
		size_t size = tables[i].sized ? (size_t)(uintptr_t)t[0] : 0;
		size_t slots = size && size < 4096 ? size / sizeof(void *) : 16;

		printf("%s: size entry %#zx, %zu slots\n", tables[i].name, size, slots);
		for (size_t s = tables[i].sized; s < slots; s++) {
			Dl_info di;

			if (dladdr(t[s], &di) && di.dli_fbase)
				printf("  [%zu] %s+%#lx\n", s, di.dli_fname,
				       (unsigned long)((uintptr_t)t[s] - (uintptr_t)di.dli_fbase));
			else
				printf("  [%zu] %p\n", s, t[s]);
		}
	}
	return 0;
}
