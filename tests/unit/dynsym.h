/* SPDX-License-Identifier: MIT */
/*
 * The dynamic symbol table of an ELF64 shared object, read from the file
 * (not through the dynamic linker), so a test can compare what two
 * libraries export without loading them.
 */
#ifndef VGPU_TEST_DYNSYM_H
#define VGPU_TEST_DYNSYM_H

#include <elf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dynsym {
	char *name;
	unsigned char type;	/* STT_* */
	unsigned char bind;	/* STB_* */
};

static void *dynsym_slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*size = (size_t)n;
	}
	fclose(f);
	return buf;
}

static int dynsym_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dynsym *)a)->name,
		      ((const struct dynsym *)b)->name);
}

/*
 * The defined, non-local symbols of @path's .dynsym, sorted by name, in
 * *@out (free with dynsym_free).  Returns their count, or -1 with a message
 * on stderr.
 */
static long dynsym_read(const char *path, struct dynsym **out)
{
	size_t size = 0, count = 0;
	unsigned char *img = dynsym_slurp(path, &size);
	const Elf64_Ehdr *eh = (const void *)img;
	const Elf64_Shdr *sh;
	struct dynsym *syms = NULL;

	if (!img || size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shoff + (size_t)eh->e_shnum * sizeof(*sh) > size) {
		fprintf(stderr, "%s: cannot read as an ELF64 file\n", path);
		free(img);
		return -1;
	}
	sh = (const void *)(img + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		const Elf64_Sym *sym;
		const char *str;
		size_t n;

		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		if (sh[i].sh_link >= eh->e_shnum ||
		    sh[i].sh_offset + sh[i].sh_size > size ||
		    sh[sh[i].sh_link].sh_offset + sh[sh[i].sh_link].sh_size > size)
			break;
		sym = (const void *)(img + sh[i].sh_offset);
		str = (const char *)img + sh[sh[i].sh_link].sh_offset;
		n = sh[i].sh_size / sizeof(*sym);
		syms = calloc(n ? n : 1, sizeof(*syms));
		if (!syms)
			break;
		for (size_t j = 1; j < n; j++) {
			if (sym[j].st_shndx == SHN_UNDEF ||
			    ELF64_ST_BIND(sym[j].st_info) == STB_LOCAL ||
			    sym[j].st_name >= sh[sh[i].sh_link].sh_size)
				continue;
			syms[count].name = strdup(str + sym[j].st_name);
			syms[count].type = ELF64_ST_TYPE(sym[j].st_info);
			syms[count].bind = ELF64_ST_BIND(sym[j].st_info);
			count++;
		}
	}
	free(img);
	if (!syms) {
		fprintf(stderr, "%s: no readable .dynsym\n", path);
		return -1;
	}
	qsort(syms, count, sizeof(*syms), dynsym_cmp);
	*out = syms;
	return (long)count;
}

static void dynsym_free(struct dynsym *syms, long count)
{
	for (long i = 0; i < count; i++)
		free(syms[i].name);
	free(syms);
}

#endif /* VGPU_TEST_DYNSYM_H */
