#ifndef MEPHISTO_BUF_H
#define MEPHISTO_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A growable byte buffer, always NUL-terminated.
 *
 * Invariants: after BUF_INIT or buf_init(), .buf is never NULL (it points
 * to a static empty string until the first write) and .buf[.len] == '\0'.
 * The memory belongs to the buffer until buf_detach() hands it to the
 * caller; buf_release() frees it and re-initialises the buffer.
 */

struct buf {
	char *buf;	/* the bytes, NUL-terminated */
	size_t len;	/* bytes used, not counting the NUL */
	size_t alloc;	/* bytes allocated; 0 while .buf is the empty string */
};

extern char buf_empty[];
#define BUF_INIT { buf_empty, 0, 0 }

void buf_init(struct buf *b);
void buf_release(struct buf *b);
/* Return the bytes (caller frees) and re-initialise the buffer. */
char *buf_detach(struct buf *b, size_t *len);
/* Make room for at least EXTRA more bytes. */
void buf_grow(struct buf *b, size_t extra);
void buf_setlen(struct buf *b, size_t len);
#define buf_reset(b) buf_setlen((b), 0)

void buf_add(struct buf *b, const void *data, size_t len);
void buf_addch(struct buf *b, int c);
void buf_addstr(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Drop the first N bytes. */
void buf_remove_front(struct buf *b, size_t n);

/*
 * Read the whole of PATH into B (appending).  Returns 0, or -1 with errno
 * set.  Files larger than MAX bytes (0 = no limit) fail with EFBIG.
 */
int buf_read_file(struct buf *b, const char *path, size_t max);
/* Read all of FD until end of file.  Same return convention. */
int buf_read_fd(struct buf *b, int fd, size_t max);
/* Write all LEN bytes of DATA to FD.  Same return convention. */
int buf_write_fd(int fd, const void *data, size_t len);

#endif
