#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "multipart.h"
#include "banned.h"

static int
fail(struct mp *m, int status, const char *err)
{
	m->state = MP_FAILED;
	m->status = status;
	m->err = err;
	return -1;
}

/*
 * Find parameter NAME in a header value such as
 * `form-data; name="a"; filename="b"` and copy its (unquoted) value into
 * OUT.  Returns 1 if found, 0 if not.
 */
static int
header_param(const char *v, const char *name, struct buf *out)
{
	size_t nlen = strlen(name);

	while (*v) {
		const char *p;

		while (*v && *v != ';')
			v++;
		if (!*v)
			return 0;
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		p = v;
		if (strncasecmp(p, name, nlen) || p[nlen] != '=')
			continue;
		p += nlen + 1;
		buf_reset(out);
		if (*p == '"') {
			/* browsers send backslashes raw; only \" and \\
			 * are escapes */
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				buf_addch(out, *p);
			}
		} else {
			for (; *p && *p != ';' && *p != ' ' && *p != '\t'; p++)
				buf_addch(out, *p);
		}
		return 1;
	}
	return 0;
}

/* Parse a part's header block (CRLF-separated lines) and begin it. */
static int
begin_part(struct mp *m, char *block, size_t len)
{
	struct buf name = BUF_INIT, filename = BUF_INIT, ctype = BUF_INIT;
	struct mp_part part;
	int has_disposition = 0, has_filename = 0, r;
	char *line = block, *end = block + len;

	while (line < end) {
		char *eol = memchr(line, '\r', (size_t)(end - line));
		char *colon, *v;

		if (!eol)
			eol = end;
		*eol = '\0';
		colon = strchr(line, ':');
		if (colon) {
			*colon = '\0';
			for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
				;
			if (!strcasecmp(line, "Content-Disposition")) {
				has_disposition = 1;
				header_param(v, "name", &name);
				has_filename = header_param(v, "filename",
				    &filename);
			} else if (!strcasecmp(line, "Content-Type")) {
				buf_reset(&ctype);
				buf_addstr(&ctype, v);
			}
		}
		line = eol + 2;
	}
	if (!has_disposition) {
		r = fail(m, 400, "a multipart part has no Content-Disposition");
		goto out;
	}
	part.name = name.buf;
	part.filename = has_filename ? filename.buf : NULL;
	part.content_type = ctype.buf;
	r = m->cb->begin(m->arg, &part);
	if (r)
		r = fail(m, r, NULL);
	else
		m->state = MP_BODY;
out:
	buf_release(&name);
	buf_release(&filename);
	buf_release(&ctype);
	return r;
}

int
mp_init(struct mp *m, const char *content_type, const struct mp_callbacks *cb,
    void *arg)
{
	struct buf b = BUF_INIT;
	size_t i;

	memset(m, 0, sizeof(*m));
	buf_init(&m->pending);
	m->cb = cb;
	m->arg = arg;
	if (!header_param(content_type, "boundary", &b) || !b.len ||
	    b.len > MP_MAX_BOUNDARY) {
		buf_release(&b);
		return fail(m, 400, "multipart body without a valid boundary");
	}
	for (i = 0; i < b.len; i++) {
		if ((unsigned char)b.buf[i] < 0x20 || b.buf[i] == 0x7f) {
			buf_release(&b);
			return fail(m, 400, "multipart boundary has control "
			    "characters");
		}
	}
	memcpy(m->delim, "\r\n--", 4);
	memcpy(m->delim + 4, b.buf, b.len);
	m->dlen = 4 + b.len;
	m->delim[m->dlen] = '\0';
	buf_release(&b);
	/* The first boundary may come without the CRLF before it. */
	buf_add(&m->pending, "\r\n", 2);
	m->state = MP_PREAMBLE;
	return 0;
}

/* Process pending bytes from *POS; returns 1 to go on, 0 for more input. */
static int
step(struct mp *m, size_t *pos)
{
	char *p = m->pending.buf + *pos;
	size_t n = m->pending.len - *pos;
	char *hit;

	switch (m->state) {
	case MP_PREAMBLE:
		hit = memmem(p, n, m->delim, m->dlen);
		if (!hit) {
			if (n >= m->dlen)
				*pos += n - (m->dlen - 1);
			return 0;
		}
		*pos += (size_t)(hit - p) + m->dlen;
		m->state = MP_AFTER_DELIM;
		return 1;
	case MP_AFTER_DELIM: {
		size_t i;

		if (n < 2)
			return 0;
		if (p[0] == '-' && p[1] == '-') {
			*pos = m->pending.len;
			m->state = MP_DONE;
			return 1;
		}
		for (i = 0; i < n && (p[i] == ' ' || p[i] == '\t'); i++)
			;
		if (i + 2 > n)
			return n > 256 ? fail(m, 400, "malformed multipart "
			    "boundary line") : 0;
		if (p[i] != '\r' || p[i + 1] != '\n')
			return fail(m, 400, "malformed multipart boundary line");
		*pos += i + 2;
		m->state = MP_HEADERS;
		return 1;
	}
	case MP_HEADERS:
		if (n >= 2 && p[0] == '\r' && p[1] == '\n') {
			*pos += 2;
			return begin_part(m, p, 0) ? -1 : 1;
		}
		hit = memmem(p, n, "\r\n\r\n", 4);
		if (!hit) {
			if (n > MP_MAX_HEADER)
				return fail(m, 400, "multipart part headers "
				    "are too long");
			return 0;
		}
		if ((size_t)(hit - p) > MP_MAX_HEADER)
			return fail(m, 400, "multipart part headers are too "
			    "long");
		*pos += (size_t)(hit - p) + 4;
		return begin_part(m, p, (size_t)(hit - p)) ? -1 : 1;
	case MP_BODY: {
		size_t keep;
		int r;

		hit = memmem(p, n, m->delim, m->dlen);
		if (hit) {
			if (hit > p && (r = m->cb->data(m->arg, p,
			    (size_t)(hit - p))))
				return fail(m, r, NULL);
			if ((r = m->cb->end(m->arg)))
				return fail(m, r, NULL);
			*pos += (size_t)(hit - p) + m->dlen;
			m->state = MP_AFTER_DELIM;
			return 1;
		}
		keep = m->dlen - 1;
		if (n <= keep)
			return 0;
		if ((r = m->cb->data(m->arg, p, n - keep)))
			return fail(m, r, NULL);
		*pos += n - keep;
		return 0;
	}
	case MP_DONE:
		*pos = m->pending.len;
		return 0;
	case MP_FAILED:
		return -1;
	}
	return -1;
}

int
mp_feed(struct mp *m, const char *p, size_t n)
{
	size_t pos = 0;
	int r;

	if (m->state == MP_FAILED)
		return -1;
	if (m->state == MP_DONE)
		return 0;
	buf_add(&m->pending, p, n);
	while ((r = step(m, &pos)) > 0)
		;
	if (r < 0)
		return -1;
	buf_remove_front(&m->pending, pos);
	return 0;
}

int
mp_finish(struct mp *m)
{
	if (m->state == MP_FAILED)
		return -1;
	if (m->state != MP_DONE)
		return fail(m, 400, "the multipart body is incomplete");
	return 0;
}

void
mp_release(struct mp *m)
{
	buf_release(&m->pending);
}
