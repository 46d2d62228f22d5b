/*
 * The connection to mephisto-pool on <run dir>/pool.sock (lib/proto.h).
 *
 * The socket is adopted into the libwebsockets loop as a raw socket, so it
 * is served by the same loop as the browsers.  Lines are queued and written
 * when the socket is writable; replies are matched to pending requests by
 * request_id; a request whose deadline passes, or that is in flight when
 * the pool goes away, is failed as retryable.  When the pool goes away io
 * keeps its browsers and reconnects with a growing delay.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "path.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define WRITE_CHUNK 65536

static void try_connect(struct io *io);

void
pool_init(struct io *io)
{
	struct pool *p = &io->pool;

	memset(p, 0, sizeof(*p));
	buf_init(&p->in);
	p->backoff_ms = BACKOFF_MIN_MS;
	/* Browsers get the usual grace period from io's start. */
	p->last_ready = now_epoch();
}

int
pool_is_ready(struct io *io)
{
	return io->pool.state == POOL_READY;
}

double
pool_last_ping_ms(struct io *io)
{
	if (pool_is_ready(io))
		return now_epoch() * 1000.0;
	return io->pool.last_ready * 1000.0;
}

static void
queue_frame(struct io *io, struct frame *f)
{
	frameq_push(&io->pool.out, f);
	if (io->pool.wsi)
		lws_callback_on_writable(io->pool.wsi);
}

int
pool_send(struct io *io, cJSON *pkt)
{
	struct pool *p = &io->pool;
	struct frame *f;

	if (p->state != POOL_READY)
		return -1;
	if (p->out.bytes > IO_POOL_QUEUE_MAX) {
		warn("the pool is not reading; refusing to queue more");
		return -1;
	}
	json_set_num(pkt, "router_outgoing_timestamp", now_epoch());
	f = pkt_frame(pkt, 1);
	if (f->len > PROTO_MAX_LINE) {
		error("a %s packet of %zu bytes is over the protocol limit",
		    pkt_type(pkt), f->len);
		free(f);
		return -1;
	}
	queue_frame(io, f);
	return 0;
}

void
pool_hold(struct io *io, cJSON *pkt)
{
	struct frameq *q = &io->pool.hold;

	if (q->count >= IO_HOLD_MAX_FRAMES) {
		free(frameq_pop(q));
		warn("the pool is away; dropped the oldest held live update");
	}
	frameq_push(q, pkt_frame(pkt, 1));
}

static void
pending_unlink(struct pool *p, struct pending *r)
{
	smap_remove(&p->pending, &r->ent);
	if (r->prev)
		r->prev->next = r->next;
	else
		p->first = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		p->last = r->prev;
	r->prev = r->next = NULL;
}

struct pending *
pool_request(struct io *io, cJSON *pkt, unsigned flags, pending_fn *fn,
    void *arg)
{
	struct pool *p = &io->pool;
	struct pending *r;
	cJSON *data;

	if (p->state != POOL_READY)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	make_uuid(r->id);
	r->ent.key = r->id;
	json_set_str(pkt, "request_id", r->id);
	data = pkt_data(pkt);
	if ((flags & REQ_DATA_ID) && data)
		json_set_str(data, "request_id", r->id);
	if (flags & REQ_SUBJECT_ID)
		json_set_str(pkt, "subject_id", r->id);
	if (pool_send(io, pkt)) {
		free(r);
		return NULL;
	}
	r->fn = fn;
	r->arg = arg;
	r->deadline_us = now_us() + (int64_t)io->opt.pool_timeout_ms * 1000;
	r->prev = p->last;
	if (p->last)
		p->last->next = r;
	else
		p->first = r;
	p->last = r;
	smap_put(&p->pending, &r->ent);
	return r;
}

void
pool_cancel(struct pending *r)
{
	r->fn = NULL;
	r->arg = r;	/* marks "cancelled" rather than "no callback" */
}

/* Resolve R with REPLY or an error, and free it. */
static void
finish(struct io *io, struct pending *r, cJSON *reply, const char *err)
{
	pending_unlink(&io->pool, r);
	if (r->fn)
		r->fn(io, r->arg, reply, err, 1);
	free(r);
}

void
pool_sweep(struct io *io)
{
	struct pool *p = &io->pool;
	int64_t now = now_us();

	while (p->first && p->first->deadline_us <= now) {
		log_info("request %s to the pool timed out", p->first->id);
		finish(io, p->first, NULL, "the pool did not answer in time");
	}
}

static void
fail_all(struct io *io, const char *err)
{
	while (io->pool.first)
		finish(io, io->pool.first, NULL, err);
}

static void
retry_cb(lws_sorted_usec_list_t *sul)
{
	struct pool *p = lws_container_of(sul, struct pool, retry);
	struct io *io = lws_container_of(p, struct io, pool);

	try_connect(io);
}

static void
schedule_retry(struct io *io)
{
	struct pool *p = &io->pool;

	if (io->stop)
		return;
	lws_sul_schedule(io->ctx, 0, &p->retry, retry_cb,
	    (lws_usec_t)p->backoff_ms * 1000);
	p->backoff_ms *= 2;
	if (p->backoff_ms > BACKOFF_MAX_MS)
		p->backoff_ms = BACKOFF_MAX_MS;
}

static int
connect_fd(const char *path)
{
	struct sockaddr_un sa;
	size_t len = strlen(path);
	int fd;

	if (len >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void
send_hello(struct io *io)
{
	cJSON *data = cJSON_CreateObject();
	cJSON *pkt;

	cJSON_AddStringToObject(data, "program", "mephisto-io");
	cJSON_AddNumberToObject(data, "version", PROTO_VERSION);
	cJSON_AddNumberToObject(data, "pid", (double)getpid());
	cJSON_AddStringToObject(data, "run_id", io->opt.run_id);
	pkt = pkt_new(PT_HELLO, "mephisto-io", data);
	queue_frame(io, pkt_frame(pkt, 1));
	cJSON_Delete(pkt);
}

static void
try_connect(struct io *io)
{
	struct pool *p = &io->pool;
	lws_sock_file_fd_type u;
	int fd;

	if (io->stop || p->wsi)
		return;
	fd = connect_fd(p->path);
	if (fd < 0) {
		if (!p->failures++)
			warn("cannot connect to the pool at '%s': %s; will "
			    "keep trying", p->path, strerror(errno));
		else
			log_debug("cannot connect to the pool: %s",
			    strerror(errno));
		schedule_retry(io);
		return;
	}
	u.sockfd = fd;
	p->state = POOL_HELLO;
	p->wsi = lws_adopt_descriptor_vhost(io->vhost, LWS_ADOPT_SOCKET, u,
	    "mephisto-pool", NULL);
	if (!p->wsi) {
		/* lws closed fd */
		p->state = POOL_DOWN;
		warn("cannot add the pool socket to the event loop");
		schedule_retry(io);
		return;
	}
	send_hello(io);
}

void
pool_start(struct io *io)
{
	io->pool.path = path_join(io->run_dir, "pool.sock");
	try_connect(io);
}

static void
became_ready(struct io *io)
{
	struct pool *p = &io->pool;
	struct frame *f;

	p->state = POOL_READY;
	p->backoff_ms = BACKOFF_MIN_MS;
	if (p->failures)
		log_info("connected to the pool");
	else
		log_debug("connected to the pool");
	p->failures = 0;
	p->last_ready = now_epoch();
	while ((f = frameq_pop(&p->hold)))
		queue_frame(io, f);
	agent_report_all(io);
}

static void PRINTF_LIKE(2, 3)
say(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_msg(level, fmt, ap);
	va_end(ap);
}

static int
on_hello(struct io *io, cJSON *pkt)
{
	const char *type = pkt_type(pkt);
	cJSON *data = pkt_data(pkt);
	cJSON *v;

	/* An error for the first refusal in a row, info for repeats. */
	enum log_level lvl = io->pool.failures ? LOG_INFO : LOG_ERROR;

	if (!strcmp(type, PT_ERROR)) {
		const char *msg = data ? json_str(data, "error") : NULL;

		say(lvl, "the pool refused the connection: %s",
		    msg ? msg : "(no reason given)");
		goto refused;
	}
	if (strcmp(type, PT_HELLO)) {
		say(lvl, "the pool sent '%.64s' instead of hello", type);
		goto refused;
	}
	v = data ? cJSON_GetObjectItemCaseSensitive(data, "version") : NULL;
	if (!cJSON_IsNumber(v) || v->valuedouble != PROTO_VERSION) {
		say(lvl, "the pool speaks protocol version %g, io speaks %d",
		    cJSON_IsNumber(v) ? v->valuedouble : 0.0, PROTO_VERSION);
		goto refused;
	}
	became_ready(io);
	return 0;
refused:
	io->pool.failures++;
	return -1;
}

static void
on_reply(struct io *io, cJSON *pkt)
{
	const char *id = json_str(pkt, "request_id");
	cJSON *data = pkt_data(pkt);
	struct pending *r;

	if (!id && data)
		id = json_str(data, "request_id");
	if (!id && !strcmp(pkt_type(pkt), PT_AGENT_DETAILS))
		id = pkt_subject(pkt);
	if (!id) {
		if (!strcmp(pkt_type(pkt), PT_ERROR))
			warn("the pool reports: %s", data && json_str(data,
			    "error") ? json_str(data, "error") : "an error");
		else
			log_info("ignored a %s packet without request_id from "
			    "the pool", pkt_type(pkt));
		return;
	}
	r = (struct pending *)smap_get(&io->pool.pending, id);
	if (!r) {
		log_debug("reply to an unknown or expired request %.40s", id);
		return;
	}
	if (!r->fn && r->arg == r)
		log_debug("dropped the reply to request %s: its client left",
		    id);
	finish(io, r, pkt, NULL);
}

/* Deliver a pool packet to the browser socket of its agent. */
static void
on_to_agent(struct io *io, cJSON *pkt)
{
	const char *subject = pkt_subject(pkt);
	cJSON *data = pkt_data(pkt);
	struct agent *a;
	struct frame *f;
	const char *status;

	if (!subject || !*subject || !strcmp(subject, PROTO_SYSTEM_SUBJECT)) {
		log_info("ignored a %s packet without an agent from the pool",
		    pkt_type(pkt));
		return;
	}
	a = agent_get(io, subject);
	if (!strcmp(pkt_type(pkt), PT_UPDATE_STATUS)) {
		status = data ? json_str(data, "status") : NULL;
		if (!status || strlen(status) >= sizeof(a->status)) {
			log_info("ignored an update_status without a valid status");
			return;
		}
		memcpy(a->status, status, strlen(status) + 1);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(pkt, "request_id");
	json_set_num(pkt, "router_outgoing_timestamp", now_epoch());
	f = pkt_frame(pkt, 0);
	agent_deliver(io, a, (const char *)f->data + LWS_PRE, f->len);
	free(f);
}

struct status_map {
	struct io *io;
	cJSON *map;
};

static void
add_status(struct smap_entry *e, void *arg)
{
	struct status_map *sm = arg;
	struct agent *a = (struct agent *)e;

	cJSON_AddStringToObject(sm->map, a->id,
	    a->reported ? "disconnect" : a->status);
}

/* The original's status poll; io pushes changes, but answers it too. */
static void
on_request_statuses(struct io *io, cJSON *pkt)
{
	struct status_map sm = { io, cJSON_CreateObject() };
	cJSON *reply, *ts;

	smap_each(&io->agents, add_status, &sm);
	reply = pkt_new(PT_RETURN_STATUSES, PROTO_SYSTEM_SUBJECT, sm.map);
	ts = cJSON_GetObjectItemCaseSensitive(pkt, "server_timestamp");
	if (cJSON_IsNumber(ts))
		json_set_num(reply, "client_timestamp", ts->valuedouble);
	pool_send(io, reply);
	cJSON_Delete(reply);
}

static int
on_line(struct io *io, const char *s, size_t len)
{
	const char *err, *type;
	cJSON *pkt = pkt_parse(s, len, &err);
	int r = 0;

	if (!pkt) {
		warn("ignored a packet from the pool: %s", err);
		return 0;
	}
	json_set_num(pkt, "router_incoming_timestamp", now_epoch());
	type = pkt_type(pkt);
	if (io->pool.state == POOL_HELLO)
		r = on_hello(io, pkt);
	else if (!strcmp(type, PT_AGENT_DETAILS) || !strcmp(type, PT_ACK) ||
	    !strcmp(type, PT_ERROR))
		on_reply(io, pkt);
	else if (!strcmp(type, PT_UPDATE_STATUS) ||
	    !strcmp(type, PT_CLIENT_LIVE_UPDATE))
		on_to_agent(io, pkt);
	else if (!strcmp(type, PT_REQUEST_STATUSES))
		on_request_statuses(io, pkt);
	else if (strcmp(type, PT_HELLO))
		log_info("ignored a packet of unknown type '%.64s' from the "
		    "pool", type);
	cJSON_Delete(pkt);
	return r;
}

static int
on_rx(struct io *io, const char *in, size_t len)
{
	struct pool *p = &io->pool;
	size_t start = 0, scan = p->in.len;
	char *nl;

	buf_add(&p->in, in, len);
	while ((nl = memchr(p->in.buf + scan, '\n', p->in.len - scan))) {
		size_t end = (size_t)(nl - p->in.buf);

		if (end > start && on_line(io, p->in.buf + start, end - start))
			return -1;
		start = end + 1;
		scan = start;
	}
	buf_remove_front(&p->in, start);
	if (p->in.len > PROTO_MAX_LINE) {
		error("the pool sent a line over %d bytes; reconnecting",
		    PROTO_MAX_LINE);
		return -1;
	}
	return 0;
}

static int
on_writeable(struct io *io)
{
	static unsigned char chunk[LWS_PRE + WRITE_CHUNK];
	struct pool *p = &io->pool;
	struct frame *f = p->out.head;
	size_t n = 0;
	int r;

	if (!f)
		return 0;
	if (f->len >= WRITE_CHUNK / 2) {
		f = frameq_pop(&p->out);
		r = lws_write(p->wsi, f->data + LWS_PRE, f->len, LWS_WRITE_RAW);
		free(f);
	} else {
		while ((f = p->out.head) && n + f->len <= WRITE_CHUNK) {
			f = frameq_pop(&p->out);
			memcpy(chunk + LWS_PRE + n, f->data + LWS_PRE, f->len);
			n += f->len;
			free(f);
		}
		r = lws_write(p->wsi, chunk + LWS_PRE, n, LWS_WRITE_RAW);
	}
	if (r < 0)
		return -1;
	if (p->out.head)
		lws_callback_on_writable(p->wsi);
	return 0;
}

static void
on_close(struct io *io)
{
	struct pool *p = &io->pool;
	int was_ready = p->state == POOL_READY;

	p->wsi = NULL;
	p->state = POOL_DOWN;
	buf_reset(&p->in);
	frameq_clear(&p->out);
	if (io->stop)
		return;
	if (was_ready) {
		p->last_ready = now_epoch();
		warn("lost the connection to the pool; reconnecting");
	}
	fail_all(io, "the pool went away");
	schedule_retry(io);
}

int
pool_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct io *io = io_of(wsi);

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return -1;	/* not a WebSocket protocol */
	case LWS_CALLBACK_RAW_RX:
		if (wsi != io->pool.wsi)
			return -1;
		return on_rx(io, in, len);
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (wsi != io->pool.wsi)
			return 0;
		return on_writeable(io);
	case LWS_CALLBACK_RAW_CLOSE:
		if (wsi == io->pool.wsi)
			on_close(io);
		return 0;
	default:
		return 0;
	}
}

void
pool_release(struct io *io)
{
	struct pool *p = &io->pool;
	struct pending *r;

	while ((r = p->first)) {
		pending_unlink(p, r);
		free(r);
	}
	smap_release(&p->pending);
	frameq_clear(&p->out);
	frameq_clear(&p->hold);
	buf_release(&p->in);
	free(p->path);
	p->path = NULL;
}
