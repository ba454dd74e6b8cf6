// SPDX-License-Identifier: MIT
/*
 * The shim exports exactly what the real driver does: the FUNC symbols of
 * the toolkit's stub libcuda.so (637 in CUDA 13.0), every one a function,
 * and nothing else (no helper of ours leaks into applications' namespace)
 * but one deliberate marker: vgpu_shim_version, a string by which the
 * executor recognises the shim and refuses to load it as the real driver.
 * It also loads with RTLD_NOW, so no symbol is left unresolved.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dynsym.h"

/* The one symbol the shim exports on purpose beyond the driver's. */
#define SHIM_MARKER "vgpu_shim_version"

int main(void)
{
	struct dynsym *stub, *shim;
	long nstub, nshim, i = 0, j = 0, funcs = 0, weak = 0;
	int missing = 0, extra = 0, nonfunc = 0, unresolved = 0;
	void *lib;

	printf("stub: %s\nshim: %s\n", VGPU_CUDA_STUB, VGPU_SHIM_PATH);
	nstub = dynsym_read(VGPU_CUDA_STUB, &stub);
	nshim = dynsym_read(VGPU_SHIM_PATH, &shim);
	if (nstub < 0 || nshim < 0)
		return 1;

	/* The stub's FUNC symbols are the reference: drop anything else. */
	for (long k = 0; k < nstub; k++)
		if (stub[k].type == STT_FUNC)
			stub[funcs++] = stub[k];
		else
			free(stub[k].name);
	nstub = funcs;

	/* Both lists are sorted: walk them side by side. */
	while (i < nstub || j < nshim) {
		int c = i == nstub ? 1 : j == nshim ? -1 :
			strcmp(stub[i].name, shim[j].name);

		if (c < 0) {
			printf("  missing from the shim: %s\n", stub[i++].name);
			missing++;
			continue;
		}
		if (c > 0) {
			if (strcmp(shim[j].name, SHIM_MARKER) || shim[j].type != STT_OBJECT) {
				printf("  exported by the shim only: %s\n", shim[j].name);
				extra++;
			}
			j++;
			continue;
		}
		if (shim[j].type != STT_FUNC) {
			printf("  not a function in the shim: %s (type %u)\n",
			       shim[j].name, shim[j].type);
			nonfunc++;
		}
		weak += shim[j].bind == STB_WEAK;
		i++, j++;
	}
	printf("check: the shim's %ld dynamic symbols equal the stub's %ld "
	       "functions and %s: %d missing, %d extra, %d not functions\n",
	       nshim, nstub, SHIM_MARKER, missing, extra, nonfunc);
	printf("       (%ld of them are still the weak NOT_SUPPORTED stubs)\n",
	       weak);

	lib = dlopen(VGPU_SHIM_PATH, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		printf("FAIL: dlopen(RTLD_NOW|RTLD_LOCAL): %s\n", dlerror());
		return 1;
	}
	for (long k = 0; k < nstub; k++) {
		if (!dlsym(lib, stub[k].name)) {
			printf("  dlsym fails: %s\n", stub[k].name);
			unresolved++;
		}
	}
	printf("check: dlopen(RTLD_NOW|RTLD_LOCAL) works and dlsym finds all "
	       "%ld names: %d not found\n", nstub, unresolved);
	if (!dlsym(lib, SHIM_MARKER)) {
		printf("  the marker %s is missing\n", SHIM_MARKER);
		unresolved++;
	}
	dlclose(lib);
	dynsym_free(stub, nstub);
	dynsym_free(shim, nshim);

	if (missing || extra || nonfunc || unresolved || nstub == 0) {
		printf("FAIL\n");
		return 1;
	}
	printf("PASS\n");
	return 0;
}
