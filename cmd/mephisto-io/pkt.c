#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "io.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

double
now_epoch(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct frame *
frame_new(const void *s, size_t len)
{
	struct frame *f = xmalloc(sizeof(*f) + LWS_PRE + len + 1);

	f->next = NULL;
	f->len = len;
	memcpy(f->data + LWS_PRE, s, len);
	f->data[LWS_PRE + len] = '\0';
	return f;
}

void
frameq_push(struct frameq *q, struct frame *f)
{
	f->next = NULL;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
	q->count++;
	q->bytes += f->len;
}

struct frame *
frameq_pop(struct frameq *q)
{
	struct frame *f = q->head;

	if (!f)
		return NULL;
	q->head = f->next;
	if (!q->head)
		q->tail = NULL;
	q->count--;
	q->bytes -= f->len;
	f->next = NULL;
	return f;
}

void
frameq_clear(struct frameq *q)
{
	struct frame *f;

	while ((f = frameq_pop(q)))
		free(f);
}

cJSON *
pkt_new(const char *type, const char *subject, cJSON *data)
{
	cJSON *p = cJSON_CreateObject();

	if (!p)
		die("out of memory");
	cJSON_AddStringToObject(p, "packet_type", type);
	cJSON_AddStringToObject(p, "subject_id", subject);
	if (!data)
		data = cJSON_CreateObject();
	cJSON_AddItemToObject(p, "data", data);
	return p;
}

cJSON *
json_parse_object(const char *s, size_t len, const char **err)
{
	const char *end = NULL;
	cJSON *p;

	while (len && json_space(s[len - 1]))
		len--;
	if (!len) {
		*err = "the body is empty (expected a JSON object)";
		return NULL;
	}
	p = cJSON_ParseWithLengthOpts(s, len, &end, 0);
	if (!p) {
		*err = "malformed JSON";
		return NULL;
	}
	if (end && end < s + len) {
		*err = "malformed JSON (bytes after the value)";
		cJSON_Delete(p);
		return NULL;
	}
	if (!cJSON_IsObject(p)) {
		*err = "expected a JSON object";
		cJSON_Delete(p);
		return NULL;
	}
	return p;
}

cJSON *
pkt_parse(const char *s, size_t len, const char **err)
{
	cJSON *p = json_parse_object(s, len, err);
	cJSON *v;

	if (!p)
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(p, "packet_type");
	if (!cJSON_IsString(v)) {
		*err = "packet_type must be a string";
		goto fail;
	}
	v = cJSON_GetObjectItemCaseSensitive(p, "subject_id");
	if (v && !cJSON_IsString(v) && !cJSON_IsNull(v)) {
		*err = "subject_id must be a string";
		goto fail;
	}
	v = cJSON_GetObjectItemCaseSensitive(p, "data");
	if (!v || cJSON_IsNull(v)) {
		if (v)
			cJSON_DeleteItemFromObjectCaseSensitive(p, "data");
		cJSON_AddItemToObject(p, "data", cJSON_CreateObject());
	} else if (!cJSON_IsObject(v)) {
		*err = "data must be an object";
		goto fail;
	}
	return p;
fail:
	cJSON_Delete(p);
	return NULL;
}

const char *
json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *
pkt_type(const cJSON *p)
{
	return json_str(p, "packet_type");
}

const char *
pkt_subject(const cJSON *p)
{
	return json_str(p, "subject_id");
}

cJSON *
pkt_data(const cJSON *p)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "data");

	return cJSON_IsObject(v) ? v : NULL;
}

void
json_set_num(cJSON *p, const char *key, double v)
{
	cJSON *n = cJSON_CreateNumber(v);

	if (!n)
		die("out of memory");
	if (cJSON_GetObjectItemCaseSensitive(p, key))
		cJSON_ReplaceItemInObjectCaseSensitive(p, key, n);
	else
		cJSON_AddItemToObject(p, key, n);
}

void
json_set_str(cJSON *p, const char *key, const char *v)
{
	cJSON *n = cJSON_CreateString(v);

	if (!n)
		die("out of memory");
	if (cJSON_GetObjectItemCaseSensitive(p, key))
		cJSON_ReplaceItemInObjectCaseSensitive(p, key, n);
	else
		cJSON_AddItemToObject(p, key, n);
}

struct frame *
pkt_frame(const cJSON *p, int newline)
{
	char *s = cJSON_PrintUnformatted(p);
	size_t len;
	struct frame *f;

	if (!s)
		die("out of memory");
	len = strlen(s);
	f = xmalloc(sizeof(*f) + LWS_PRE + len + 2);
	f->next = NULL;
	memcpy(f->data + LWS_PRE, s, len);
	if (newline)
		f->data[LWS_PRE + len++] = '\n';
	f->data[LWS_PRE + len] = '\0';
	f->len = len;
	cJSON_free(s);
	return f;
}

char *
json_error_body(const char *msg, int retryable, size_t *len)
{
	cJSON *o = cJSON_CreateObject();
	char *s, *out;

	if (!o)
		die("out of memory");
	cJSON_AddStringToObject(o, "error", msg);
	cJSON_AddBoolToObject(o, "retryable", retryable);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		die("out of memory");
	out = xstrdup(s);
	cJSON_free(s);
	*len = strlen(out);
	return out;
}

void
make_uuid(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[16];
	size_t got = 0;
	int i, j;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n < 0 && errno != EINTR)
			die_errno("getrandom failed");
		if (n > 0)
			got += (size_t)n;
	}
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	for (i = 0, j = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[j++] = '-';
		out[j++] = hex[r[i] >> 4];
		out[j++] = hex[r[i] & 15];
	}
	out[j] = '\0';
}
