/* SPDX-License-Identifier: MIT */
/*
 * fakecuda - a TEST DOUBLE of the NVIDIA driver (not a driver; CI only).
 *
 * Virtual memory management, modelled with the host's own virtual memory so
 * that aliasing and access rights behave as on a GPU:
 *
 *   - a reservation (cuMemAddressReserve) is a PROT_NONE, MAP_NORESERVE
 *     range of host address space, aligned to the granularity;
 *   - a physical allocation (cuMemCreate) is a memfd of its size, poisoned
 *     with 0xcd and charged to FAKECUDA_MEM_LIMIT;
 *   - a mapping (cuMemMap) maps the memfd at its offset into the
 *     reservation, still PROT_NONE: mapping grants no access;
 *   - cuMemSetAccess mprotects whole mappings READ or READ|WRITE, and only
 *     then do copies, memsets and kernels reach the range (a range may span
 *     several mappings, as ggml's pool buffers do);
 *   - cuMemUnmap maps PROT_NONE anonymous memory back over the range at
 *     once: work that runs after it and touches the range faults
 *     (CUDA_ERROR_ILLEGAL_ADDRESS), as on a GPU whose page tables changed.
 *
 * The generic handle is the address of the double's physical object; one
 * that is not live (released as often as created and retained) is forged
 * and aborts (fc_forged), so an executor that releases twice is caught.
 * Physical memory goes when it is released and unmapped, in either order.
 * Device threads look mappings up under fc_mem_lock and touch mapped memory
 * only while holding it (like registered memory), so an unmap never pulls
 * pages from under a running copy.
 */
#include "fakecuda.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FC_MAGIC_VRES	0x66767273	/* "fvrs" */
#define FC_MAGIC_PHYS	0x66706879	/* "fphy" */

struct fc_vres {
	uint32_t magic;
	struct fc_vres *next;
	uint64_t base;
	size_t size;
};

struct fc_phys {
	uint32_t magic;
	struct fc_phys *next;
	int fd;
	size_t size;
	int refs;		/* handles the application holds (create + retains - releases) */
	int maps;
	CUmemAllocationProp prop;
};

struct fc_vmap {
	struct fc_vmap *next;
	uint64_t base;
	size_t size;
	struct fc_phys *phys;
	size_t offset;
	unsigned access;	/* CUmemAccess_flags */
};

static struct fc_vres *vres_list;
static struct fc_phys *phys_list;
static struct fc_vmap *vmaps;	/* changed under fc_lock and fc_mem_lock */

static bool aligned(uint64_t v)
{
	return v % FC_VMM_GRANULARITY == 0;
}

/* What cuMemCreate and cuMemGetAllocationGranularity accept of a property block. */
static CUresult check_prop(const CUmemAllocationProp *p)
{
	static const unsigned char zero[4];

	if (p->type != CU_MEM_ALLOCATION_TYPE_PINNED)
		return CUDA_ERROR_INVALID_VALUE;
	if (p->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
		return CUDA_ERROR_INVALID_VALUE;
	if (p->location.id != 0)
		return CUDA_ERROR_INVALID_DEVICE;
	if (p->requestedHandleTypes & ~(unsigned)CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
		return CUDA_ERROR_NOT_SUPPORTED;	/* no Win32 or fabric handles on this device */
	if (p->win32HandleMetaData || memcmp(p->allocFlags.reserved, zero, sizeof(zero)))
		return CUDA_ERROR_INVALID_VALUE;
	return CUDA_SUCCESS;
}

static struct fc_phys *phys_live(CUmemGenericAllocationHandle h)
{
	for (struct fc_phys *p = phys_list; p; p = p->next)
		if ((uint64_t)(uintptr_t)p == h && p->refs > 0)
			return p;
	return NULL;
}

static void phys_maybe_free(struct fc_phys *p)
{
	if (p->refs > 0 || p->maps > 0)
		return;
	for (struct fc_phys **pp = &phys_list; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	close(p->fd);
	fc_mem_used -= p->size;
	p->magic = 0;
	free(p);
}

static struct fc_vres *vres_holding(uint64_t p, size_t n)
{
	for (struct fc_vres *r = vres_list; r; r = r->next)
		if (p >= r->base && p - r->base <= r->size && n <= r->size - (p - r->base))
			return r;
	return NULL;
}

static struct fc_vmap *vmap_at(uint64_t p)
{
	for (struct fc_vmap *m = vmaps; m; m = m->next)
		if (p >= m->base && p - m->base < m->size)
			return m;
	return NULL;
}

bool fc_vmm_usable(uint64_t p, size_t n, bool write)
{
	uint64_t end = p + n;

	if (end < p)
		return false;
	for (uint64_t cur = p; cur < end;) {
		struct fc_vmap *m = vmap_at(cur);

		if (!m || !(m->access & CU_MEM_ACCESS_FLAGS_PROT_READ))
			return false;
		if (write && m->access != CU_MEM_ACCESS_FLAGS_PROT_READWRITE)
			return false;
		cur = m->base + m->size;
	}
	return n > 0;
}

/* ------------------------------------------------------------ granularity */

static CUresult granularity(size_t *g, const CUmemAllocationProp *prop,
			    CUmemAllocationGranularity_flags option)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!g || !prop || (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM &&
			    option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED))
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = check_prop(prop)))
		return r;
	*g = FC_VMM_GRANULARITY;	/* an H200 answers 2 MiB for both */
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemGetAllocationGranularity(size_t *granularity_out,
						 const CUmemAllocationProp *prop,
						 CUmemAllocationGranularity_flags option)
{
	FC_LOCKED(granularity(granularity_out, prop, option));
}

/* ------------------------------------------------------------ reservations */

static CUresult address_reserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
				unsigned long long flags)
{
	CUresult r = fc_check_init();
	size_t align = alignment ? alignment : FC_VMM_GRANULARITY;

	if (r)
		return r;
	if (!ptr || size == 0 || !aligned(size) || flags || (align & (align - 1)) ||
	    align < FC_VMM_GRANULARITY || size > SIZE_MAX - align)
		return CUDA_ERROR_INVALID_VALUE;
	struct fc_vres *v = calloc(1, sizeof(*v));
	if (!v)
		return CUDA_ERROR_OUT_OF_MEMORY;
	void *m = MAP_FAILED;
	/* The address is a hint: taken when it is free and aligned, else anywhere. */
	if (addr && addr % align == 0)
		m = mmap((void *)(uintptr_t)addr, size, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (m != MAP_FAILED && (uint64_t)(uintptr_t)m != addr) {	/* an old kernel's plain hint */
		munmap(m, size);
		m = MAP_FAILED;
	}
	if (m == MAP_FAILED) {
		uint8_t *raw = mmap(NULL, size + align, PROT_NONE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (raw == MAP_FAILED) {
			free(v);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		uint64_t base = ((uint64_t)(uintptr_t)raw + align - 1) / align * align;
		size_t head = (size_t)(base - (uint64_t)(uintptr_t)raw);
		if (head)
			munmap(raw, head);
		if (align - head)
			munmap((void *)(uintptr_t)(base + size), align - head);
		m = (void *)(uintptr_t)base;
	}
	v->magic = FC_MAGIC_VRES;
	v->base = (uint64_t)(uintptr_t)m;
	v->size = size;
	v->next = vres_list;
	vres_list = v;
	*ptr = v->base;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment,
				       CUdeviceptr addr, unsigned long long flags)
{
	FC_LOCKED(address_reserve(ptr, size, alignment, addr, flags));
}

/* The whole reservation, with nothing mapped in it (the double refuses to guess). */
static CUresult address_free(CUdeviceptr ptr, size_t size)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	for (struct fc_vres **pp = &vres_list; *pp; pp = &(*pp)->next) {
		struct fc_vres *v = *pp;

		if (v->base != ptr || v->size != size)
			continue;
		for (struct fc_vmap *m = vmaps; m; m = m->next)
			if (m->base >= v->base && m->base - v->base < v->size)
				return CUDA_ERROR_INVALID_VALUE;
		*pp = v->next;
		munmap((void *)(uintptr_t)v->base, v->size);
		v->magic = 0;
		free(v);
		return CUDA_SUCCESS;
	}
	return CUDA_ERROR_INVALID_VALUE;
}

FC_EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	FC_LOCKED(address_free(ptr, size));
}

/* ------------------------------------------------------------ physical memory */

static CUresult mem_create(CUmemGenericAllocationHandle *handle, size_t size,
			   const CUmemAllocationProp *prop, unsigned long long flags)
{
	CUresult r = fc_check_init();

	if (r)
		return r;
	if (!handle || !prop || flags || size == 0 || !aligned(size))
		return CUDA_ERROR_INVALID_VALUE;
	if ((r = check_prop(prop)))
		return r;
	if (size > fc_mem_limit - fc_mem_used)
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct fc_phys *p = calloc(1, sizeof(*p));
	int fd = p ? memfd_create("fakecuda-vmm", MFD_CLOEXEC) : -1;
	void *m = MAP_FAILED;

	if (fd >= 0 && ftruncate(fd, (off_t)size) == 0)
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		if (fd >= 0)
			close(fd);
		free(p);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	memset(m, FC_POISON, size);	/* fresh device memory is not zero */
	munmap(m, size);
	p->magic = FC_MAGIC_PHYS;
	p->fd = fd;
	p->size = size;
	p->refs = 1;
	p->prop = *prop;
	p->prop.allocFlags.compressionType = CU_MEM_ALLOCATION_COMP_NONE;	/* none on the double */
	p->next = phys_list;
	phys_list = p;
	fc_mem_used += size;
	*handle = (CUmemGenericAllocationHandle)(uintptr_t)p;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
			       const CUmemAllocationProp *prop, unsigned long long flags)
{
	FC_LOCKED(mem_create(handle, size, prop, flags));
}

/* Before or after unmapping: the memory goes once both happened. */
static CUresult mem_release(CUmemGenericAllocationHandle h)
{
	CUresult r = fc_check_init();
	struct fc_phys *p;

	if (r)
		return r;
	if (!(p = phys_live(h)))
		return fc_forged("cuMemRelease", "allocation handle", CUDA_ERROR_INVALID_VALUE);
	p->refs--;
	phys_maybe_free(p);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle handle)
{
	FC_LOCKED(mem_release(handle));
}

static CUresult get_prop(CUmemAllocationProp *prop, CUmemGenericAllocationHandle h)
{
	CUresult r = fc_check_init();
	struct fc_phys *p;

	if (r)
		return r;
	if (!prop)
		return CUDA_ERROR_INVALID_VALUE;
	if (!(p = phys_live(h)))
		return fc_forged("cuMemGetAllocationPropertiesFromHandle", "allocation handle",
				 CUDA_ERROR_INVALID_VALUE);
	*prop = p->prop;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop,
							  CUmemGenericAllocationHandle handle)
{
	FC_LOCKED(get_prop(prop, handle));
}

static CUresult retain_handle(CUmemGenericAllocationHandle *h, void *addr)
{
	CUresult r = fc_check_init();
	struct fc_vmap *m;

	if (r)
		return r;
	if (!h || !(m = vmap_at((uint64_t)(uintptr_t)addr)))
		return CUDA_ERROR_INVALID_VALUE;
	m->phys->refs++;
	*h = (CUmemGenericAllocationHandle)(uintptr_t)m->phys;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr)
{
	FC_LOCKED(retain_handle(handle, addr));
}

/* ------------------------------------------------------------ mappings */

static CUresult mem_map(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle h,
			unsigned long long flags)
{
	CUresult r = fc_check_init();
	struct fc_phys *p;

	if (r)
		return r;
	if (!(p = phys_live(h)))
		return fc_forged("cuMemMap", "allocation handle", CUDA_ERROR_INVALID_HANDLE);
	if (flags || size == 0 || !aligned(ptr) || !aligned(size) || !aligned(offset) ||
	    offset > p->size || size > p->size - offset || !vres_holding(ptr, size))
		return CUDA_ERROR_INVALID_VALUE;
	for (struct fc_vmap *m = vmaps; m; m = m->next)
		if (ptr < m->base + m->size && m->base < ptr + size)
			return CUDA_ERROR_INVALID_VALUE;	/* already mapped */
	struct fc_vmap *m = calloc(1, sizeof(*m));
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	void *at = mmap((void *)(uintptr_t)ptr, size, PROT_NONE, MAP_SHARED | MAP_FIXED, p->fd,
			(off_t)offset);
	if (at == MAP_FAILED) {
		free(m);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	m->base = ptr;
	m->size = size;
	m->phys = p;
	m->offset = offset;
	p->maps++;
	pthread_mutex_lock(&fc_mem_lock);
	m->next = vmaps;
	vmaps = m;
	pthread_mutex_unlock(&fc_mem_lock);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
			    CUmemGenericAllocationHandle handle, unsigned long long flags)
{
	FC_LOCKED(mem_map(ptr, size, offset, handle, flags));
}

/*
 * Mappings inside [ptr, ptr + size) go; the range must hold at least one and
 * cut none (one call may span several, as ggml's pool destruction does).
 */
static CUresult mem_unmap(CUdeviceptr ptr, size_t size)
{
	CUresult r = fc_check_init();
	uint64_t end = ptr + size;
	bool any = false;

	if (r)
		return r;
	if (size == 0 || end < ptr || !aligned(ptr) || !aligned(size) || !vres_holding(ptr, size))
		return CUDA_ERROR_INVALID_VALUE;
	for (struct fc_vmap *m = vmaps; m; m = m->next) {
		if (m->base < end && ptr < m->base + m->size) {
			if (m->base < ptr || m->base + m->size > end)
				return CUDA_ERROR_INVALID_VALUE;
			any = true;
		}
	}
	if (!any)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fc_mem_lock);
	for (struct fc_vmap **pp = &vmaps; *pp;) {
		struct fc_vmap *m = *pp;

		if (m->base >= ptr && m->base < end) {
			*pp = m->next;
			mmap((void *)(uintptr_t)m->base, m->size, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
			m->phys->maps--;
			phys_maybe_free(m->phys);
			free(m);
		} else {
			pp = &m->next;
		}
	}
	pthread_mutex_unlock(&fc_mem_lock);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	FC_LOCKED(mem_unmap(ptr, size));
}

/* The range must be mapped throughout, in whole mappings (the double keeps access per mapping). */
static CUresult set_access(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count)
{
	CUresult r = fc_check_init();
	uint64_t end = ptr + size;
	unsigned flags = 0;

	if (r)
		return r;
	if (!desc || count == 0 || size == 0 || end < ptr)
		return CUDA_ERROR_INVALID_VALUE;
	for (size_t i = 0; i < count; i++) {
		if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE)
			return CUDA_ERROR_INVALID_VALUE;
		if (desc[i].location.id != 0)
			return CUDA_ERROR_INVALID_DEVICE;
		if (desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_NONE &&
		    desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READ &&
		    desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE)
			return CUDA_ERROR_INVALID_VALUE;
		flags = desc[i].flags;	/* one device: the last word counts */
	}
	for (uint64_t cur = ptr; cur < end;) {
		struct fc_vmap *m = vmap_at(cur);

		if (!m || m->base != cur || m->base + m->size > end)
			return CUDA_ERROR_INVALID_VALUE;
		cur = m->base + m->size;
	}
	pthread_mutex_lock(&fc_mem_lock);
	for (uint64_t cur = ptr; cur < end;) {
		struct fc_vmap *m = vmap_at(cur);
		int prot = flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE ? PROT_READ | PROT_WRITE
			 : flags == CU_MEM_ACCESS_FLAGS_PROT_READ   ? PROT_READ
								    : PROT_NONE;

		/* Device threads check access before they touch it; the protection backs that up. */
		mprotect((void *)(uintptr_t)m->base, m->size, prot);
		m->access = flags;
		cur = m->base + m->size;
	}
	pthread_mutex_unlock(&fc_mem_lock);
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc,
				  size_t count)
{
	FC_LOCKED(set_access(ptr, size, desc, count));
}

static CUresult get_access(unsigned long long *flags, const CUmemLocation *loc, CUdeviceptr ptr)
{
	CUresult r = fc_check_init();
	struct fc_vmap *m;

	if (r)
		return r;
	if (!flags || !loc || loc->type != CU_MEM_LOCATION_TYPE_DEVICE)
		return CUDA_ERROR_INVALID_VALUE;
	if (loc->id != 0)
		return CUDA_ERROR_INVALID_DEVICE;
	if (!(m = vmap_at(ptr)))
		return CUDA_ERROR_INVALID_VALUE;
	*flags = m->access;
	return CUDA_SUCCESS;
}

FC_EXPORT CUresult cuMemGetAccess(unsigned long long *flags, const CUmemLocation *location,
				  CUdeviceptr ptr)
{
	FC_LOCKED(get_access(flags, location, ptr));
}
