#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "data.h"
#include "xalloc.h"
#include "banned.h"

void
problems_addstr(struct problems *p, const char *msg)
{
	ALLOC_GROW(p->item, p->nr + 1, p->alloc);
	p->item[p->nr++] = xstrdup(msg);
}

void
problems_add(struct problems *p, const char *file, long line,
    const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (line > 0)
		buf_addf(&b, "%s:%ld: ", file, line);
	else
		buf_addf(&b, "%s: ", file);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	ALLOC_GROW(p->item, p->nr + 1, p->alloc);
	p->item[p->nr++] = buf_detach(&b, NULL);
}

void
problems_release(struct problems *p)
{
	size_t i;

	for (i = 0; i < p->nr; i++)
		free(p->item[i]);
	free(p->item);
	p->item = NULL;
	p->nr = p->alloc = 0;
}

const char *
data_format_name(enum data_format fmt)
{
	switch (fmt) {
	case DATA_CSV:
		return "csv";
	case DATA_JSON:
		return "json";
	case DATA_JSONL:
		return "jsonl";
	}
	return "?";
}

void
data_set_release(struct data_set *set)
{
	size_t i;

	for (i = 0; i < set->nr; i++)
		cJSON_Delete(set->row[i]);
	free(set->row);
	free(set->line);
	set->row = NULL;
	set->line = NULL;
	set->nr = set->alloc = 0;
}

static void
set_add(struct data_set *set, cJSON *row, long line)
{
	size_t alloc = set->alloc;

	ALLOC_GROW(set->row, set->nr + 1, set->alloc);
	if (alloc != set->alloc)
		set->line = xreallocarray(set->line, set->alloc,
		    sizeof(*set->line));
	set->row[set->nr] = row;
	set->line[set->nr] = line;
	set->nr++;
}

/* What one load is doing: the file's name and a capped problem count. */
struct loader {
	const char *shown;
	struct problems *problems;
	size_t count;		/* problems found in this file */
};

static void problem(struct loader *ld, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
problem(struct loader *ld, long line, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	if (ld->count++ >= DATA_MAX_PROBLEMS)
		return;
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	problems_add(ld->problems, ld->shown, line, "%s", b.buf);
	buf_release(&b);
}

static void
problems_done(struct loader *ld)
{
	if (ld->count > DATA_MAX_PROBLEMS)
		problems_add(ld->problems, ld->shown, 0,
		    "%zu more problems not shown",
		    ld->count - DATA_MAX_PROBLEMS);
}

/*
 * Length of the valid UTF-8 sequence at S (at most N bytes), or 0 when
 * the bytes there are not valid UTF-8 (overlong forms and surrogates
 * included).
 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Report each line with bytes that are not UTF-8.  Returns their count. */
static size_t
check_utf8(struct loader *ld, const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, bad = 0, n;
	long line = 1, reported = 0;

	while (i < len) {
		if (s[i] == '\n') {
			line++;
			i++;
			continue;
		}
		n = utf8_seq(s + i, len - i);
		if (n) {
			i += n;
			continue;
		}
		if (reported != line) {
			problem(ld, line, "invalid UTF-8");
			reported = line;
			bad++;
		}
		i++;
	}
	return bad;
}

/* --- CSV --- */

struct csv {
	const char *p, *end;
	long line;
	char **field;
	size_t nr, alloc;
	int quoted;		/* the record had a quoted field */
};

static void
csv_clear(struct csv *c)
{
	size_t i;

	for (i = 0; i < c->nr; i++)
		free(c->field[i]);
	c->nr = 0;
	c->quoted = 0;
}

/*
 * Parse one field at c->p into B.  Returns 0, or -1 when a quoted field
 * runs to the end of the file.
 */
static int
csv_field(struct csv *c, struct buf *b)
{
	if (c->p < c->end && *c->p == '"') {
		c->quoted = 1;
		c->p++;
		for (;;) {
			if (c->p >= c->end)
				return -1;
			if (*c->p == '"') {
				if (c->p + 1 < c->end && c->p[1] == '"') {
					buf_addch(b, '"');
					c->p += 2;
					continue;
				}
				c->p++;
				break;
			}
			if (*c->p == '\n')
				c->line++;
			buf_addch(b, *c->p++);
		}
	}
	/* Unquoted text, or text after a closing quote, is kept as is. */
	while (c->p < c->end && *c->p != ',' && *c->p != '\n' &&
	    *c->p != '\r')
		buf_addch(b, *c->p++);
	return 0;
}

/*
 * Parse the next record into c->field.  Returns 1 for a record, 0 at the
 * end of the file, -1 for an unterminated quote (the rest of the file is
 * lost).
 */
static int
csv_record(struct csv *c)
{
	struct buf b = BUF_INIT;

	csv_clear(c);
	if (c->p >= c->end)
		return 0;
	for (;;) {
		if (csv_field(c, &b) < 0) {
			buf_release(&b);
			return -1;
		}
		ALLOC_GROW(c->field, c->nr + 1, c->alloc);
		c->field[c->nr++] = buf_detach(&b, NULL);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == '\r')
			c->p++;
		if (c->p < c->end && *c->p == '\n')
			c->p++;
		c->line++;
		return 1;
	}
}

static int
csv_blank(const struct csv *c)
{
	return c->nr == 1 && !c->quoted && !*c->field[0];
}

/* Read the header; returns its fields (caller frees) or NULL. */
static char **
csv_header(struct loader *ld, struct csv *c, size_t *ncol)
{
	char **col;
	size_t i, j;
	int r;
	long line;

	do {
		line = c->line;
		r = csv_record(c);
	} while (r > 0 && csv_blank(c));
	if (r < 0) {
		problem(ld, line, "unterminated quoted field");
		return NULL;
	}
	if (!r) {
		problem(ld, 0, "no header row");
		return NULL;
	}
	for (i = 0; i < c->nr; i++) {
		if (!*c->field[i])
			problem(ld, line, "column %zu of the header has no name",
			    i + 1);
		for (j = 0; j < i; j++)
			if (!strcmp(c->field[i], c->field[j]))
				problem(ld, line,
				    "column '%s' appears twice in the header",
				    c->field[i]);
	}
	col = c->field;
	*ncol = c->nr;
	c->field = NULL;
	c->nr = c->alloc = 0;
	return col;
}

static void
load_csv(struct loader *ld, struct data_set *set, const char *text,
    size_t len)
{
	struct csv c = { text, text + len, 1, NULL, 0, 0, 0 };
	char **col;
	size_t ncol, i;
	long line;
	cJSON *row;
	int r;

	col = csv_header(ld, &c, &ncol);
	if (!col)
		goto out;
	for (;;) {
		line = c.line;
		r = csv_record(&c);
		if (r < 0) {
			problem(ld, line, "unterminated quoted field");
			break;
		}
		if (!r)
			break;
		if (csv_blank(&c))
			continue;
		if (c.nr != ncol) {
			problem(ld, line, "row has %zu field%s, the header has %zu",
			    c.nr, c.nr == 1 ? "" : "s", ncol);
			continue;
		}
		row = cJSON_CreateObject();
		for (i = 0; i < ncol; i++)
			cJSON_AddItemToObject(row, col[i],
			    cJSON_CreateString(c.field[i]));
		set_add(set, row, line);
	}
	for (i = 0; i < ncol; i++)
		free(col[i]);
	free(col);
out:
	csv_clear(&c);
	free(c.field);
}

/* --- JSON --- */

static long
line_of(const char *text, size_t off)
{
	long line = 1;
	size_t i;

	for (i = 0; i < off; i++)
		if (text[i] == '\n')
			line++;
	return line;
}

static long
column_of(const char *text, size_t off)
{
	size_t i = off;

	while (i > 0 && text[i - 1] != '\n')
		i--;
	return (long)(off - i) + 1;
}

static size_t
skip_ws(const char *s, size_t i, size_t len)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
	    s[i] == '\r'))
		i++;
	return i;
}

/*
 * Offsets of the elements of the top-level array in TEXT, which is known
 * to be valid JSON.  Fills OFF[0..n-1].
 */
static void
element_offsets(const char *s, size_t len, size_t *off, size_t n)
{
	size_t i = skip_ws(s, 0, len) + 1, k = 0;
	int depth = 0, in_str = 0;

	i = skip_ws(s, i, len);
	if (k < n)
		off[k++] = i;
	for (; i < len && k < n; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
			continue;
		}
		if (s[i] == '"')
			in_str = 1;
		else if (s[i] == '[' || s[i] == '{')
			depth++;
		else if (s[i] == ']' || s[i] == '}')
			depth--;
		else if (s[i] == ',' && depth == 0)
			off[k++] = skip_ws(s, i + 1, len);
	}
}

static const char *
json_type_name(const cJSON *v)
{
	if (cJSON_IsArray(v))
		return "a list";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	return "an object";
}

static void
load_json(struct loader *ld, struct data_set *set, const char *text,
    size_t len)
{
	const char *end = NULL;
	size_t *off = NULL, i, n;
	cJSON *doc, *el, *next;

	doc = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
	if (!doc) {
		size_t at = end ? (size_t)(end - text) : 0;

		if (at >= len)
			problem(ld, line_of(text, len),
			    "invalid JSON: unexpected end of file");
		else
			problem(ld, line_of(text, at),
			    "invalid JSON at column %ld",
			    column_of(text, at));
		return;
	}
	if (!cJSON_IsArray(doc)) {
		problem(ld, line_of(text, skip_ws(text, 0, len)),
		    "expected a list of objects, found %s",
		    json_type_name(doc));
		cJSON_Delete(doc);
		return;
	}
	n = (size_t)cJSON_GetArraySize(doc);
	for (i = 0, el = doc->child; el; el = next, i++) {
		next = el->next;
		if (cJSON_IsObject(el)) {
			cJSON_DetachItemViaPointer(doc, el);
			set_add(set, el, 0);
			continue;
		}
		if (!off) {
			off = xcalloc(n, sizeof(*off));
			element_offsets(text, len, off, n);
		}
		problem(ld, line_of(text, off[i]),
		    "item %zu is %s, not an object", i + 1,
		    json_type_name(el));
	}
	free(off);
	cJSON_Delete(doc);
}

static void
load_jsonl(struct loader *ld, struct data_set *set, char *text, size_t len)
{
	char *p = text, *end = text + len, *nl;
	const char *stop;
	long line = 1;
	size_t n, lead;
	cJSON *row;

	for (; p < end; p = nl + 1, line++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		*nl = '\0';
		n = (size_t)(nl - p);
		if (n && p[n - 1] == '\r')
			p[--n] = '\0';
		lead = skip_ws(p, 0, n);
		if (lead == n)
			continue;
		stop = NULL;
		row = cJSON_ParseWithLengthOpts(p, n + 1, &stop, 1);
		if (!row) {
			size_t at = stop ? (size_t)(stop - p) : 0;

			if (at >= n)
				problem(ld, line, "invalid JSON: line ends early");
			else
				problem(ld, line, "invalid JSON at column %zu",
				    at + 1);
			continue;
		}
		if (!cJSON_IsObject(row)) {
			problem(ld, line, "expected an object, found %s",
			    json_type_name(row));
			cJSON_Delete(row);
			continue;
		}
		set_add(set, row, line);
	}
}

int
data_load(struct data_set *set, const char *path, enum data_format fmt,
    const char *shown, struct problems *problems)
{
	struct loader ld = { shown ? shown : path, problems, 0 };
	struct buf b = BUF_INIT;
	size_t before = set->nr, skip = 0;

	if (buf_read_file(&b, path, 0) < 0) {
		int e = errno;

		buf_release(&b);
		errno = e;
		return -1;
	}
	if (b.len >= 3 && !memcmp(b.buf, "\xef\xbb\xbf", 3))
		skip = 3;
	if (check_utf8(&ld, b.buf + skip, b.len - skip))
		goto out;
	switch (fmt) {
	case DATA_CSV:
		load_csv(&ld, set, b.buf + skip, b.len - skip);
		break;
	case DATA_JSON:
		load_json(&ld, set, b.buf + skip, b.len - skip);
		break;
	case DATA_JSONL:
		load_jsonl(&ld, set, b.buf + skip, b.len - skip);
		break;
	}
	if (!ld.count && set->nr == before)
		problem(&ld, 0, "no data rows");
out:
	problems_done(&ld);
	buf_release(&b);
	return ld.count ? 1 : 0;
}
