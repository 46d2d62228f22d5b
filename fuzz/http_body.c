/*
 * The bodies of mephisto-io's POST endpoints, as http.c reads them:
 * urlencoded forms (form.c), JSON (lib/msg) and multipart/form-data
 * (multipart.c) with the upload names it yields (upload_sanitize).
 *
 * Input: a first line is the Content-Type header of the multipart body
 * (its boundary), the first byte of the rest picks the chunk size in
 * which the body is fed, the rest is the body.  The whole input is also
 * tried as a urlencoded and as a JSON body.
 */
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "msg.h"
#include "multipart.h"
#include "upload.h"
#include "xalloc.h"
#include "fuzz.h"
#include "banned.h"

struct state {
	int in_part;
	size_t parts;
	size_t bytes;
};

static int
check_name(const char *s)
{
	const char *p;

	if (!*s || *s == '.')
		return -1;
	for (p = s; *p; p++)
		if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x20 ||
		    *p == 0x7f || (p[0] == '.' && p[1] == '.'))
			return -1;
	return 0;
}

static int
on_begin(void *arg, const struct mp_part *part)
{
	struct state *st = arg;

	if (st->in_part || !part->name || !part->content_type)
		abort();
	if (part->filename) {
		char *name = upload_sanitize(part->filename);

		if (check_name(name))
			abort();
		free(name);
	}
	st->in_part = 1;
	st->parts++;
	return st->parts > 64 ? 413 : 0;
}

static int
on_data(void *arg, const char *p, size_t n)
{
	struct state *st = arg;

	if (!st->in_part || (n && !p))
		abort();
	st->bytes += n;
	return 0;
}

static int
on_end(void *arg)
{
	struct state *st = arg;

	if (!st->in_part)
		abort();
	st->in_part = 0;
	return 0;
}

static const struct mp_callbacks callbacks = { on_begin, on_data, on_end };

static void
multipart(const char *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	struct state st = { 0, 0, 0 };
	struct mp m;
	char *ctype;
	size_t chunk, off;

	if (!nl)
		return;
	ctype = xstrndup(data, (size_t)(nl - data));
	size -= (size_t)(nl - data) + 1;
	data = nl + 1;
	if (mp_init(&m, ctype, &callbacks, &st)) {
		free(ctype);
		return;
	}
	free(ctype);
	chunk = size ? (unsigned char)data[0] % 64 + 1 : 1;
	if (size) {
		data++;
		size--;
	}
	for (off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (mp_feed(&m, data + off, n)) {
			if (!m.status || !m.err)
				abort();
			break;
		}
	}
	if (off >= size && !mp_finish(&m) && st.in_part)
		abort();
	mp_release(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = xmalloc(size + 1);
	cJSON *o;

	memcpy(copy, data, size);
	copy[size] = '\0';
	o = form_parse_urlencoded(copy, size);
	msg_free(o);

	o = msg_parse((const char *)data, size, 2u * 1024 * 1024, NULL);
	msg_free(o);

	multipart((const char *)data, size);
	free(copy);
	return 0;
}
