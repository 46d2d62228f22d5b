#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

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

struct frame *
frame_packet(const struct msg_packet *p)
{
	struct buf b = BUF_INIT;
	struct frame *f;

	msg_packet_write(p, &b);
	if (b.len && b.buf[b.len - 1] == '\n')
		b.len--;
	f = frame_new(b.buf, b.len);
	buf_release(&b);
	return f;
}

char *
json_error_body(const char *msg, int retryable, size_t *len)
{
	cJSON *o = msg_new_object();
	struct buf b = BUF_INIT;

	msg_set_str(o, "error", msg);
	msg_set_bool(o, "retryable", retryable);
	msg_print(o, &b);
	msg_free(o);
	return buf_detach(&b, len);
}
