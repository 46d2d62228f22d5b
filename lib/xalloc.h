#ifndef MEPHISTO_XALLOC_H
#define MEPHISTO_XALLOC_H

#include <stddef.h>

/*
 * Allocation that never returns NULL: on out-of-memory or a size overflow
 * the program dies with a message.  Zero-size requests return a valid
 * pointer that must still be freed.
 */

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* xrealloc for NMEMB elements of SIZE bytes, checking the product. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A malloc'd formatted string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow ARRAY (of NR used, ALLOC allocated elements) to hold at least N. */
#define ALLOC_GROW(array, n, alloc)					\
	do {								\
		if ((size_t)(n) > (size_t)(alloc)) {			\
			size_t alloc_new_ = (alloc) < 8 ? 16 : (size_t)(alloc) * 2; \
			if (alloc_new_ < (size_t)(n))			\
				alloc_new_ = (n);			\
			(array) = xreallocarray((array), alloc_new_,	\
			    sizeof(*(array)));				\
			(alloc) = alloc_new_;				\
		}							\
	} while (0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
