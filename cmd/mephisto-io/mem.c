/*
 * Where libwebsockets keeps request header tables.
 *
 * Every connection reads its request headers into a table of
 * max_http_header_data bytes (plus a small index), allocated when the
 * request starts and freed once its headers are read.  From the main heap,
 * thousands of sockets connecting at once leave those tables' pages
 * pinned between the small objects of the connections that stay open, so
 * the process keeps the memory of the peak.  Here the tables come instead
 * from slots of one reserved address range, and the pages of freed slots
 * go back to the system, all but the IO_MEM_HOT freed last: those stay
 * resident for the next requests.
 *
 * The tables are recognised by the reason libwebsockets gives for them
 * ("ah data", "ah struct"); everything else it allocates goes to malloc
 * as before, as do header tables when the range is full (or under a
 * libwebsockets that names them otherwise).  Under AddressSanitizer the
 * range is not used, so that the tables stay checked.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <libwebsockets.h>

#include "io.h"
#include "xalloc.h"
#include "banned.h"

#define IO_MEM_SLOT IO_HEADER_BYTES	/* bytes per slot: a header table */
#define IO_MEM_SLOTS 32768		/* 256 MiB of address space */
#define IO_MEM_HOT 128			/* freed slots kept resident */
#if defined(__SANITIZE_ADDRESS__)
#define IO_MEM_USE 0			/* tables where ASan can see them */
#else
#define IO_MEM_USE 1
#endif

static struct {
	char *base;		/* the range, or NULL when not in use */
	size_t used;		/* slots handed out at least once */
	uint32_t *free;		/* freed slots, last freed on top */
	size_t nr_free;
	size_t nr_cold;		/* free[0..nr_cold): pages given back */
} mem;

static int
ours(const void *p)
{
	return mem.base && (const char *)p >= mem.base &&
	    (const char *)p < mem.base + (size_t)IO_MEM_SLOTS * IO_MEM_SLOT;
}

static int
header_table(const char *reason, size_t size)
{
	return size <= IO_MEM_SLOT && reason && (!strcmp(reason, "ah data") ||
	    !strcmp(reason, "ah struct"));
}

static void *
slot_get(void)
{
	if (mem.nr_free) {
		if (mem.nr_cold == mem.nr_free)
			mem.nr_cold--;
		return mem.base + (size_t)mem.free[--mem.nr_free] *
		    IO_MEM_SLOT;
	}
	if (mem.used == IO_MEM_SLOTS)
		return NULL;
	return mem.base + mem.used++ * IO_MEM_SLOT;
}

/*
 * A slot that drops out of the IO_MEM_HOT freed last gives its pages
 * back, once: a table freed and taken again at the top of the stack,
 * request after request, never costs a page fault.
 */
static void
slot_put(void *p)
{
	size_t i = (size_t)((char *)p - mem.base) / IO_MEM_SLOT;

	mem.free[mem.nr_free++] = (uint32_t)i;
	while (mem.nr_free - mem.nr_cold > IO_MEM_HOT) {
		madvise(mem.base + (size_t)mem.free[mem.nr_cold] *
		    IO_MEM_SLOT, IO_MEM_SLOT, MADV_DONTNEED);
		mem.nr_cold++;
	}
}

/* libwebsockets' allocator: realloc(), with SIZE 0 meaning free(). */
static void *
io_lws_realloc(void *ptr, size_t size, const char *reason)
{
	void *p;

	if (ptr && ours(ptr)) {
		if (!size) {
			slot_put(ptr);
			return NULL;
		}
		if (size <= IO_MEM_SLOT)
			return ptr;
		p = malloc(size);
		if (p) {
			memcpy(p, ptr, IO_MEM_SLOT);
			slot_put(ptr);
		}
		return p;
	}
	if (!size) {
		free(ptr);
		return NULL;
	}
	if (!ptr && mem.base && header_table(reason, size)) {
		p = slot_get();
		if (p)
			return p;
	}
	return realloc(ptr, size);
}

void
io_mem_init(void)
{
	void *base;

	if (!IO_MEM_USE)
		return;
	base = mmap(NULL, (size_t)IO_MEM_SLOTS * IO_MEM_SLOT, PROT_READ |
	    PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return;		/* header tables come from malloc */
	mem.base = base;
	mem.free = xcalloc(IO_MEM_SLOTS, sizeof(*mem.free));
	lws_set_allocator(io_lws_realloc);
}

