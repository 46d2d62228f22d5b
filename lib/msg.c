#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "msg.h"
#include "xalloc.h"
#include "banned.h"

/* Largest integer a double (and so cJSON) holds exactly. */
#define MSG_EXACT_INT 9007199254740992.0

static cJSON *
must(cJSON *v)
{
	if (!v)
		die("out of memory building a JSON message");
	return v;
}

/*
 * Length of the valid UTF-8 sequence at S (of at most LEN bytes), or 0.
 * Overlong forms, surrogates and code points past U+10FFFF are invalid.
 */
static size_t
utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Whether S (of LEN bytes) starts with the escape \u0000. */
static int
escaped_nul(const unsigned char *s, size_t len)
{
	return len >= 6 && !memcmp(s, "\\u0000", 6);
}

/*
 * Check what cJSON does not: UTF-8 validity, NUL bytes (raw or escaped)
 * and nesting depth.  Brackets inside strings do not count.
 */
static int
prescan(const unsigned char *s, size_t len, char **errp)
{
	size_t i = 0, n;
	int depth = 0, in_str = 0;

	while (i < len) {
		unsigned char c = s[i];

		if (!c)
			return error_setf(errp, EINVAL, "NUL byte at offset %zu", i);
		if (c >= 0x80) {
			n = utf8_seq(s + i, len - i);
			if (!n)
				return error_setf(errp, EINVAL,
				    "invalid UTF-8 at offset %zu", i);
			i += n;
			continue;
		}
		if (in_str) {
			if (c == '"')
				in_str = 0;
			else if (c == '\\' && escaped_nul(s + i, len - i))
				return error_setf(errp, EINVAL, "\\u0000 in a string "
				    "at offset %zu", i);
			else if (c == '\\')
				i++;
		} else if (c == '"')
			in_str = 1;
		else if (c == '[' || c == '{') {
			if (++depth > MSG_MAX_DEPTH)
				return error_setf(errp, EINVAL, "JSON nested deeper "
				    "than %d levels", MSG_MAX_DEPTH);
		} else if (c == ']' || c == '}')
			depth--;
		i++;
	}
	return 0;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

cJSON *
msg_parse(const char *text, size_t len, size_t max, char **errp)
{
	const char *end = NULL;
	size_t off;
	cJSON *v;

	if (max && len > max) {
		error_setf(errp, EMSGSIZE, "message too large (%zu bytes, limit %zu)",
		    len, max);
		return NULL;
	}
	for (off = 0; off < len && is_space(text[off]); off++)
		;
	if (off == len) {
		error_setf(errp, EINVAL, "empty message");
		return NULL;
	}
	if (prescan((const unsigned char *)text, len, errp) < 0)
		return NULL;
	v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!v) {
		off = end ? (size_t)(end - text) : 0;
		error_setf(errp, EINVAL, "invalid JSON at offset %zu", off);
		return NULL;
	}
	off = (size_t)(end - text);
	while (off < len && is_space(text[off]))
		off++;
	if (off < len) {
		cJSON_Delete(v);
		error_setf(errp, EINVAL, "unexpected data after the JSON value at "
		    "offset %zu", off);
		return NULL;
	}
	return v;
}

void
msg_free(cJSON *v)
{
	cJSON_Delete(v);
}

cJSON *
msg_dup(const cJSON *v)
{
	if (!v)
		return NULL;
	return must(cJSON_Duplicate(v, 1));
}

void
msg_print(const cJSON *v, struct buf *out)
{
	size_t room = 512;

	/* Printed in place: no buffer of cJSON's own to grow and copy. */
	for (;;) {
		buf_grow(out, room);
		room = out->alloc - out->len;
		if (room > INT_MAX)
			room = INT_MAX;
		if (cJSON_PrintPreallocated((cJSON *)v, out->buf + out->len,
		    (int)room, 0))
			break;
		out->buf[out->len] = '\0';
		if (room == INT_MAX)
			die("a JSON message too large to print");
		room *= 2;
	}
	out->len += strlen(out->buf + out->len);
}

void
msg_write_line(const cJSON *v, struct buf *out)
{
	msg_print(v, out);
	buf_addch(out, '\n');
}

void
msg_print_str(const char *s, struct buf *out)
{
	static const char hex[] = "0123456789abcdef";
	static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
	const char *run, *e;
	unsigned char c;

	if (!s) {
		buf_add(out, "null", 4);
		return;
	}
	buf_addch(out, '"');
	for (;;) {
		for (run = s; (c = (unsigned char)*s) >= 0x20 && c != '"' &&
		    c != '\\'; s++)
			;
		buf_add(out, run, (size_t)(s - run));
		if (!c)
			break;
		/* As cJSON escapes: short forms, else \u00XX. */
		buf_addch(out, '\\');
		e = strchr(from, c);
		if (e) {
			buf_addch(out, to[e - from]);
		} else {
			buf_add(out, "u00", 3);
			buf_addch(out, hex[c >> 4]);
			buf_addch(out, hex[c & 15]);
		}
		s++;
	}
	buf_addch(out, '"');
}

void
msg_print_number(double d, struct buf *out)
{
	char b[64];
	cJSON n;

	/* A number item on the stack, as cJSON_CreateNumber() fills it. */
	memset(&n, 0, sizeof(n));
	n.type = cJSON_Number;
	n.valuedouble = d;
	n.valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN :
	    (int)d;
	if (!cJSON_PrintPreallocated(&n, b, (int)sizeof(b), 0))
		die("cannot print the number %g", d);
	buf_addstr(out, b);
}

void
msg_print_id(int64_t id, struct buf *out)
{
	if (id)
		buf_addf(out, "\"%" PRId64 "\"", id);
	else
		buf_add(out, "null", 4);
}

static const char *
type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "an unknown value";
}

static int
missing(const cJSON *v)
{
	return !v || cJSON_IsNull(v);
}

static int
wrong_type(const cJSON *v, const char *name, const char *want, char **errp)
{
	if (missing(v))
		return error_setf(errp, EINVAL, "field '%s' is missing", name);
	return error_setf(errp, EINVAL, "field '%s' must be %s, not %s", name, want,
	    type_name(v));
}

int
msg_val_str(const cJSON *v, const char *name, const char **out, char **errp)
{
	if (!cJSON_IsString(v) || !v->valuestring)
		return wrong_type(v, name, "a string", errp);
	*out = v->valuestring;
	return 0;
}

int
msg_val_int(const cJSON *v, const char *name, int64_t *out, char **errp)
{
	double d;

	if (!cJSON_IsNumber(v))
		return wrong_type(v, name, "an integer", errp);
	d = v->valuedouble;
	if (d != floor(d))
		return error_setf(errp, EINVAL, "field '%s' must be an integer, "
		    "not %g", name, d);
	if (fabs(d) > MSG_EXACT_INT)
		return error_setf(errp, EINVAL, "field '%s' is out of range (%g)",
		    name, d);
	*out = (int64_t)d;
	return 0;
}

/* Parse a decimal id: digits only, at most INT64_MAX. */
static int
parse_id(const char *s, int64_t *out)
{
	uint64_t n = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (n > ((uint64_t)INT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*out = (int64_t)n;
	return 0;
}

int
msg_val_id(const cJSON *v, const char *name, int64_t *out, char **errp)
{
	if (cJSON_IsString(v) && v->valuestring) {
		if (parse_id(v->valuestring, out) < 0)
			return error_setf(errp, EINVAL, "field '%s' is not a valid "
			    "id: '%s'", name, v->valuestring);
		return 0;
	}
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;

		if (d != floor(d) || d < 0 || d > MSG_EXACT_INT)
			return error_setf(errp, EINVAL, "field '%s' is not a valid "
			    "id: %g", name, d);
		*out = (int64_t)d;
		return 0;
	}
	return wrong_type(v, name, "an id (a decimal string)", errp);
}

int
msg_val_double(const cJSON *v, const char *name, double *out, char **errp)
{
	if (!cJSON_IsNumber(v))
		return wrong_type(v, name, "a number", errp);
	*out = v->valuedouble;
	return 0;
}

int
msg_val_bool(const cJSON *v, const char *name, int *out, char **errp)
{
	if (!cJSON_IsBool(v))
		return wrong_type(v, name, "a boolean", errp);
	*out = cJSON_IsTrue(v);
	return 0;
}

int
msg_val_obj(const cJSON *v, const char *name, char **errp)
{
	if (!cJSON_IsObject(v))
		return wrong_type(v, name, "an object", errp);
	return 0;
}

int
msg_val_arr(const cJSON *v, const char *name, char **errp)
{
	if (!cJSON_IsArray(v))
		return wrong_type(v, name, "an array", errp);
	return 0;
}

const cJSON *
msg_get(const cJSON *obj, const char *key)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

int
msg_has(const cJSON *obj, const char *key)
{
	return !missing(msg_get(obj, key));
}

const char *
msg_key(const cJSON *member)
{
	return member ? member->string : NULL;
}

size_t
msg_len(const cJSON *v)
{
	if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
		return 0;
	return (size_t)cJSON_GetArraySize(v);
}

/* Look KEY up in OBJ, failing when OBJ itself is not an object. */
static int
lookup(const cJSON *obj, const char *key, const cJSON **v, char **errp)
{
	*v = NULL;
	if (!cJSON_IsObject(obj))
		return error_setf(errp, EINVAL, "cannot read field '%s': the "
		    "message is not an object", key);
	*v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return 0;
}

int
msg_get_str(const cJSON *obj, const char *key, const char **out, char **errp)
{
	const cJSON *v;

	if (lookup(obj, key, &v, errp) < 0)
		return -1;
	return msg_val_str(v, key, out, errp);
}

int
msg_get_int(const cJSON *obj, const char *key, int64_t *out, char **errp)
{
	const cJSON *v;

	if (lookup(obj, key, &v, errp) < 0)
		return -1;
	return msg_val_int(v, key, out, errp);
}

int
msg_get_id(const cJSON *obj, const char *key, int64_t *out, char **errp)
{
	const cJSON *v;

	if (lookup(obj, key, &v, errp) < 0)
		return -1;
	return msg_val_id(v, key, out, errp);
}

int
msg_get_double(const cJSON *obj, const char *key, double *out, char **errp)
{
	const cJSON *v;

	if (lookup(obj, key, &v, errp) < 0)
		return -1;
	return msg_val_double(v, key, out, errp);
}

int
msg_get_bool(const cJSON *obj, const char *key, int *out, char **errp)
{
	const cJSON *v;

	if (lookup(obj, key, &v, errp) < 0)
		return -1;
	return msg_val_bool(v, key, out, errp);
}

int
msg_get_obj(const cJSON *obj, const char *key, const cJSON **out,
    char **errp)
{
	const cJSON *v;

	if (lookup(obj, key, &v, errp) < 0 || msg_val_obj(v, key, errp) < 0)
		return -1;
	*out = v;
	return 0;
}

int
msg_get_arr(const cJSON *obj, const char *key, const cJSON **out,
    char **errp)
{
	const cJSON *v;

	if (lookup(obj, key, &v, errp) < 0 || msg_val_arr(v, key, errp) < 0)
		return -1;
	*out = v;
	return 0;
}

/*
 * The optional getters: 1 when KEY is missing or null (the caller stores
 * its default), 0 when present (*V set), -1 when OBJ is not an object.
 */
static int
lookup_opt(const cJSON *obj, const char *key, const cJSON **v, char **errp)
{
	if (lookup(obj, key, v, errp) < 0)
		return -1;
	return missing(*v);
}

int
msg_opt_str(const cJSON *obj, const char *key, const char *def,
    const char **out, char **errp)
{
	const cJSON *v = NULL;
	int r = lookup_opt(obj, key, &v, errp);

	if (r > 0)
		*out = def;
	if (r)
		return r < 0 ? -1 : 0;
	return msg_val_str(v, key, out, errp);
}

int
msg_opt_int(const cJSON *obj, const char *key, int64_t def, int64_t *out,
    char **errp)
{
	const cJSON *v = NULL;
	int r = lookup_opt(obj, key, &v, errp);

	if (r > 0)
		*out = def;
	if (r)
		return r < 0 ? -1 : 0;
	return msg_val_int(v, key, out, errp);
}

int
msg_opt_id(const cJSON *obj, const char *key, int64_t def, int64_t *out,
    char **errp)
{
	const cJSON *v = NULL;
	int r = lookup_opt(obj, key, &v, errp);

	if (r > 0)
		*out = def;
	if (r)
		return r < 0 ? -1 : 0;
	return msg_val_id(v, key, out, errp);
}

int
msg_opt_double(const cJSON *obj, const char *key, double def, double *out,
    char **errp)
{
	const cJSON *v = NULL;
	int r = lookup_opt(obj, key, &v, errp);

	if (r > 0)
		*out = def;
	if (r)
		return r < 0 ? -1 : 0;
	return msg_val_double(v, key, out, errp);
}

int
msg_opt_bool(const cJSON *obj, const char *key, int def, int *out,
    char **errp)
{
	const cJSON *v = NULL;
	int r = lookup_opt(obj, key, &v, errp);

	if (r > 0)
		*out = def;
	if (r)
		return r < 0 ? -1 : 0;
	return msg_val_bool(v, key, out, errp);
}

int
msg_opt_obj(const cJSON *obj, const char *key, const cJSON **out,
    char **errp)
{
	const cJSON *v = NULL;
	int r = lookup_opt(obj, key, &v, errp);

	*out = NULL;
	if (r)
		return r < 0 ? -1 : 0;
	if (msg_val_obj(v, key, errp) < 0)
		return -1;
	*out = v;
	return 0;
}

int
msg_opt_arr(const cJSON *obj, const char *key, const cJSON **out,
    char **errp)
{
	const cJSON *v = NULL;
	int r = lookup_opt(obj, key, &v, errp);

	*out = NULL;
	if (r)
		return r < 0 ? -1 : 0;
	if (msg_val_arr(v, key, errp) < 0)
		return -1;
	*out = v;
	return 0;
}

cJSON *
msg_new_object(void)
{
	return must(cJSON_CreateObject());
}

cJSON *
msg_new_array(void)
{
	return must(cJSON_CreateArray());
}

void
msg_set(cJSON *obj, const char *key, cJSON *item)
{
	if (!cJSON_IsObject(obj))
		BUG("msg_set('%s') on a value that is not an object", key);
	if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
		if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item))
			die("out of memory building a JSON message");
		return;
	}
	if (!cJSON_AddItemToObject(obj, key, item))
		die("out of memory building a JSON message");
}

void
msg_set_str(cJSON *obj, const char *key, const char *val)
{
	msg_set(obj, key, must(val ? cJSON_CreateString(val) :
	    cJSON_CreateNull()));
}

void
msg_set_int(cJSON *obj, const char *key, int64_t val)
{
	msg_set(obj, key, must(cJSON_CreateNumber((double)val)));
}

void
msg_set_id(cJSON *obj, const char *key, int64_t id)
{
	char s[32];

	snprintf(s, sizeof(s), "%" PRId64, id);
	msg_set_str(obj, key, s);
}

void
msg_set_double(cJSON *obj, const char *key, double val)
{
	msg_set(obj, key, must(cJSON_CreateNumber(val)));
}

void
msg_set_timestamp(cJSON *obj, const char *key, double t)
{
	msg_set_double(obj, key, msg_timestamp_round(t));
}

void
msg_set_bool(cJSON *obj, const char *key, int val)
{
	msg_set(obj, key, must(cJSON_CreateBool(val)));
}

void
msg_set_null(cJSON *obj, const char *key)
{
	msg_set(obj, key, must(cJSON_CreateNull()));
}

cJSON *
msg_set_object(cJSON *obj, const char *key)
{
	cJSON *v = msg_new_object();

	msg_set(obj, key, v);
	return v;
}

cJSON *
msg_set_array(cJSON *obj, const char *key)
{
	cJSON *v = msg_new_array();

	msg_set(obj, key, v);
	return v;
}

void
msg_remove(cJSON *obj, const char *key)
{
	if (cJSON_IsObject(obj))
		cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
}

void
msg_push(cJSON *arr, cJSON *item)
{
	if (!cJSON_IsArray(arr))
		BUG("msg_push on a value that is not an array");
	if (!cJSON_AddItemToArray(arr, item))
		die("out of memory building a JSON message");
}

void
msg_push_str(cJSON *arr, const char *s)
{
	msg_push(arr, must(cJSON_CreateString(s)));
}

double
msg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
msg_timestamp_round(double t)
{
	return round(t * 1000.0) / 1000.0;
}

/*
 * T's whole milliseconds split into a sign, seconds and thousandths, for
 * printing timestamps without printf's double formatting (a few per cent
 * of io and the pool, as every packet carries them).  Returns -1 when T is
 * too large (or not a number) to split exactly.
 */
static int
split_ms(double t, int *neg, long long *sec, int *milli)
{
	double ms = round(t * 1000.0);
	long long m;

	if (!(fabs(ms) < 1e15))
		return -1;
	m = llabs((long long)ms);
	*neg = signbit(ms) != 0;	/* -0 too, as printf and cJSON */
	*sec = m / 1000;
	*milli = (int)(m % 1000);
	return 0;
}

/* As "%.3f" of msg_timestamp_round(T). */
void
msg_format_timestamp(struct buf *out, double t)
{
	long long sec;
	int neg, milli;

	if (split_ms(t, &neg, &sec, &milli)) {
		buf_addf(out, "%.3f", msg_timestamp_round(t));
		return;
	}
	buf_addf(out, "%s%lld.%03d", neg ? "-" : "", sec, milli);
}

/*
 * msg_timestamp_round(T) as cJSON prints it ("%1.15g", which for whole
 * milliseconds under 10^12 seconds is the digits without trailing zeros).
 */
static void
print_timestamp(double t, struct buf *out)
{
	char b[32], *s = b + 24, *e = s;
	long long sec;
	int neg, milli;

	if (split_ms(t, &neg, &sec, &milli)) {
		msg_print_number(msg_timestamp_round(t), out);
		return;
	}
	do
		*--s = (char)('0' + sec % 10);
	while ((sec /= 10));
	if (neg)
		*--s = '-';
	if (milli) {
		*e++ = '.';
		*e++ = (char)('0' + milli / 100);
		*e++ = (char)('0' + milli / 10 % 10);
		*e++ = (char)('0' + milli % 10);
		while (e[-1] == '0')
			e--;
	}
	buf_add(out, s, (size_t)(e - s));
}

/* The packet's timestamp members, in wire order. */
static const char *const ts_keys[] = {
	"client_timestamp", "router_incoming_timestamp",
	"router_outgoing_timestamp", "server_timestamp",
};

static void
ts_pointers(struct msg_packet *p, double *ts[4])
{
	ts[0] = &p->client_timestamp;
	ts[1] = &p->router_incoming_timestamp;
	ts[2] = &p->router_outgoing_timestamp;
	ts[3] = &p->server_timestamp;
}

static int
packet_fields(struct msg_packet *p, char **errp)
{
	cJSON *data;
	double *ts[4];
	size_t i;

	ts_pointers(p, ts);
	if (msg_val_obj(p->root, "packet", errp) < 0 ||
	    msg_get_str(p->root, "packet_type", &p->packet_type, errp) < 0 ||
	    msg_get_str(p->root, "subject_id", &p->subject_id, errp) < 0 ||
	    msg_opt_str(p->root, "request_id", NULL, &p->request_id,
	    errp) < 0)
		return -1;
	for (i = 0; i < ARRAY_SIZE(ts_keys); i++)
		if (msg_opt_double(p->root, ts_keys[i], 0, ts[i], errp) < 0)
			return -1;
	data = cJSON_GetObjectItemCaseSensitive(p->root, "data");
	if (missing(data))
		data = msg_set_object(p->root, "data");
	else if (msg_val_obj(data, "data", errp) < 0)
		return -1;
	p->data = data;
	return 0;
}

int
msg_packet_parse(struct msg_packet *p, const char *line, size_t len,
    size_t max, char **errp)
{
	struct msg_packet fresh = MSG_PACKET_INIT;

	*p = fresh;
	p->root = msg_parse(line, len, max, errp);
	if (!p->root)
		return -1;
	if (packet_fields(p, errp) < 0) {
		msg_packet_release(p);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

void
msg_packet_release(struct msg_packet *p)
{
	struct msg_packet fresh = MSG_PACKET_INIT;

	cJSON_Delete(p->root);
	*p = fresh;
}

cJSON *
msg_packet_build(const struct msg_packet *p)
{
	double ts[] = {
		p->client_timestamp, p->router_incoming_timestamp,
		p->router_outgoing_timestamp, p->server_timestamp,
	};
	cJSON *root = msg_new_object();
	size_t i;

	msg_set_str(root, "packet_type", p->packet_type ? p->packet_type : "");
	msg_set_str(root, "subject_id", p->subject_id ? p->subject_id : "");
	if (p->data)
		msg_set(root, "data", msg_dup(p->data));
	else
		msg_set_object(root, "data");
	if (p->request_id)
		msg_set_str(root, "request_id", p->request_id);
	for (i = 0; i < ARRAY_SIZE(ts_keys); i++)
		if (ts[i] != 0)
			msg_set_timestamp(root, ts_keys[i], ts[i]);
	return root;
}

/*
 * Written by hand, in the order and form cJSON gives the tree of
 * msg_packet_build(), without building it: every packet between the
 * daemons and with browsers comes through here.
 */
void
msg_packet_write(const struct msg_packet *p, struct buf *out)
{
	double ts[] = {
		p->client_timestamp, p->router_incoming_timestamp,
		p->router_outgoing_timestamp, p->server_timestamp,
	};
	size_t i;

	buf_addstr(out, "{\"packet_type\":");
	msg_print_str(p->packet_type ? p->packet_type : "", out);
	buf_addstr(out, ",\"subject_id\":");
	msg_print_str(p->subject_id ? p->subject_id : "", out);
	buf_addstr(out, ",\"data\":");
	if (p->data)
		msg_print(p->data, out);
	else
		buf_add(out, "{}", 2);
	if (p->request_id) {
		buf_addstr(out, ",\"request_id\":");
		msg_print_str(p->request_id, out);
	}
	for (i = 0; i < ARRAY_SIZE(ts_keys); i++) {
		if (ts[i] == 0)
			continue;
		buf_add(out, ",\"", 2);
		buf_addstr(out, ts_keys[i]);
		buf_add(out, "\":", 2);
		print_timestamp(ts[i], out);
	}
	buf_add(out, "}\n", 2);
}

int
msg_packet_error(const struct msg_packet *p, char **errp, int *retryable)
{
	const char *text = NULL;
	int retry = 0;

	if (!p->packet_type || strcmp(p->packet_type, "error"))
		return 0;
	if (msg_opt_str(p->data, "error", NULL, &text, NULL) < 0 || !text)
		text = "the peer reported an error without a message";
	if (msg_opt_bool(p->data, "retryable", 0, &retry, NULL) < 0)
		retry = 0;
	if (retryable)
		*retryable = retry;
	if (errp)
		*errp = xstrdup(text);
	return -1;
}
