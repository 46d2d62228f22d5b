#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"
#include "banned.h"

static void *
check(void *p, size_t size)
{
	if (!p)
		die("out of memory (allocating %zu bytes)", size);
	return p;
}

void *
xmalloc(size_t size)
{
	return check(malloc(size ? size : 1), size);
}

void *
xcalloc(size_t nmemb, size_t size)
{
	if (!nmemb || !size)
		nmemb = size = 1;
	return check(calloc(nmemb, size), nmemb * size);
}

void *
xrealloc(void *ptr, size_t size)
{
	return check(realloc(ptr, size ? size : 1), size);
}

void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		die("allocation size overflow (%zu * %zu)", nmemb, size);
	return xrealloc(ptr, nmemb * size);
}

char *
xstrdup(const char *s)
{
	return check(strdup(s), strlen(s) + 1);
}

char *
xstrndup(const char *s, size_t n)
{
	return check(strndup(s, n), n + 1);
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		die("out of memory (formatting a string)");
	va_end(ap);
	return s;
}
