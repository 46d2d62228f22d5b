#ifndef MEPHISTO_IO_MULTIPART_H
#define MEPHISTO_IO_MULTIPART_H

/*
 * A streaming multipart/form-data parser (RFC 7578).  Bytes are fed as
 * they arrive; the callbacks see each part's headers, its data in pieces,
 * and its end.  Memory use is bounded: a part's header block is limited to
 * MP_MAX_HEADER bytes and data is passed on as soon as it cannot be the
 * start of a boundary.
 */

#include <stddef.h>

#include "buf.h"

#define MP_MAX_HEADER 8192
#define MP_MAX_BOUNDARY 70

struct mp_part {
	const char *name;		/* form field name ("" if none) */
	const char *filename;		/* NULL unless the part is a file */
	const char *content_type;	/* "" if none */
};

/*
 * Callbacks return 0 to continue, or an HTTP status (400, 413, 500) to
 * stop; the parser then fails with that status.
 */
struct mp_callbacks {
	int (*begin)(void *arg, const struct mp_part *part);
	int (*data)(void *arg, const char *p, size_t n);
	int (*end)(void *arg);
};

enum mp_state {
	MP_PREAMBLE,
	MP_AFTER_DELIM,
	MP_HEADERS,
	MP_BODY,
	MP_DONE,
	MP_FAILED,
};

struct mp {
	enum mp_state state;
	char delim[MP_MAX_BOUNDARY + 5];	/* "\r\n--" boundary */
	size_t dlen;
	struct buf pending;		/* bytes not yet consumed */
	const struct mp_callbacks *cb;
	void *arg;
	int status;			/* HTTP status of a failure */
	const char *err;		/* static text of a failure */
};

/*
 * Set up M for a body whose Content-Type header is CONTENT_TYPE.  Returns
 * 0, or -1 (with M->err) when it has no valid boundary.
 */
int mp_init(struct mp *m, const char *content_type,
    const struct mp_callbacks *cb, void *arg);
/* Feed N bytes.  Returns 0, or -1 with M->status and M->err set. */
int mp_feed(struct mp *m, const char *p, size_t n);
/* The body ended.  Returns 0 if it was complete, else -1 as mp_feed. */
int mp_finish(struct mp *m);
void mp_release(struct mp *m);

#endif
