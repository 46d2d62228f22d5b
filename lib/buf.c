#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

char buf_empty[1];

void
buf_init(struct buf *b)
{
	b->buf = buf_empty;
	b->len = 0;
	b->alloc = 0;
}

void
buf_release(struct buf *b)
{
	if (b->alloc)
		free(b->buf);
	buf_init(b);
}

char *
buf_detach(struct buf *b, size_t *len)
{
	char *p;

	if (len)
		*len = b->len;
	p = b->alloc ? b->buf : xstrdup("");
	buf_init(b);
	return p;
}

void
buf_grow(struct buf *b, size_t extra)
{
	size_t want;

	if (extra > (size_t)-1 - b->len - 1)
		die("buffer size overflow");
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return;
	if (!b->alloc)
		b->buf = NULL;
	if (want < b->alloc * 2)
		want = b->alloc * 2;
	if (want < 64)
		want = 64;
	b->buf = xrealloc(b->buf, want);
	if (!b->alloc)
		b->buf[0] = '\0';
	b->alloc = want;
}

void
buf_setlen(struct buf *b, size_t len)
{
	if (len > (b->alloc ? b->alloc - 1 : 0))
		BUG("buf_setlen(%zu) beyond allocation", len);
	b->len = len;
	if (b->alloc)
		b->buf[len] = '\0';
}

void
buf_add(struct buf *b, const void *data, size_t len)
{
	if (!len)
		return;
	buf_grow(b, len);
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
}

void
buf_addch(struct buf *b, int c)
{
	buf_grow(b, 1);
	b->buf[b->len++] = (char)c;
	b->buf[b->len] = '\0';
}

void
buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	buf_grow(b, 64);
	va_copy(cp, ap);
	n = vsnprintf(b->buf + b->len, b->alloc - b->len, fmt, cp);
	va_end(cp);
	if (n < 0)
		BUG("vsnprintf failed for '%s'", fmt);
	if ((size_t)n >= b->alloc - b->len) {
		buf_grow(b, (size_t)n);
		n = vsnprintf(b->buf + b->len, b->alloc - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(b, fmt, ap);
	va_end(ap);
}

void
buf_remove_front(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->buf, b->buf + n, b->len - n);
	buf_setlen(b, b->len - n);
}

int
buf_read_fd(struct buf *b, int fd, size_t max)
{
	size_t start = b->len;

	for (;;) {
		ssize_t n;

		buf_grow(b, 8192);
		n = read(fd, b->buf + b->len, b->alloc - b->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			buf_setlen(b, start);
			return -1;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->buf[b->len] = '\0';
		if (max && b->len - start > max) {
			buf_setlen(b, start);
			errno = EFBIG;
			return -1;
		}
	}
	return 0;
}

int
buf_read_file(struct buf *b, const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret, saved;

	if (fd < 0)
		return -1;
	ret = buf_read_fd(b, fd, max);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

int
buf_write_fd(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!n)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
