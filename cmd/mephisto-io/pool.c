/*
 * The connection to mephisto-pool on <run dir>/pool.sock (lib/proto.h).
 *
 * lib/ipc connects, frames lines and buffers both ways; the socket is
 * adopted into the libwebsockets loop as a raw descriptor, so the loop
 * only says when it is readable or writable and ipc_conn does the reading
 * and writing.  Replies are matched to pending requests by request_id; a
 * request whose deadline passes, or that is in flight when the pool goes
 * away, is failed as retryable.  When the pool goes away io keeps its
 * browsers and reconnects with a growing delay.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "ipc.h"
#include "log.h"
#include "path.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define READS_PER_WAKEUP 16

static void try_connect(struct io *io);

void
pool_init(struct io *io)
{
	struct pool *p = &io->pool;

	memset(p, 0, sizeof(*p));
	buf_init(&p->scratch);
	p->backoff_ms = BACKOFF_MIN_MS;
	/* Browsers get the usual grace period from io's start. */
	p->last_ready = msg_now();
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
		return msg_now() * 1000.0;
	return io->pool.last_ready * 1000.0;
}

static void
want_write(struct io *io)
{
	if (io->pool.wsi)
		lws_callback_on_writable(io->pool.wsi);
}

int
pool_send(struct io *io, struct msg_packet *p)
{
	struct pool *pl = &io->pool;
	struct buf *b = &pl->scratch;

	if (pl->state != POOL_READY)
		return -1;
	if (ipc_conn_out_pending(pl->conn) > IO_POOL_QUEUE_MAX) {
		warn("the pool is not reading; refusing to queue more");
		return -1;
	}
	p->router_outgoing_timestamp = msg_now();
	buf_reset(b);
	msg_packet_write(p, b);
	if (b->len > PROTO_MAX_LINE + 1) {
		error("a %s packet of %zu bytes is over the protocol limit",
		    p->packet_type, b->len);
		buf_release(b);
		return -1;
	}
	ipc_conn_queue(pl->conn, b->buf, b->len);
	if (b->alloc > 65536)
		buf_release(b);
	return 0;
}

void
pool_flush(struct io *io)
{
	struct pool *p = &io->pool;

	if (p->state == POOL_READY && ipc_conn_out_pending(p->conn) &&
	    ipc_conn_flush(p->conn) <= 0)
		want_write(io);	/* the rest, or the error, in its callback */
}

void
pool_hold(struct io *io, struct msg_packet *p)
{
	struct frameq *q = &io->pool.hold;
	struct buf b = BUF_INIT;

	if (q->count >= IO_HOLD_MAX_FRAMES) {
		free(frameq_pop(q));
		warn("the pool is away; dropped the oldest held live update");
	}
	msg_packet_write(p, &b);
	frameq_push(q, frame_new(b.buf, b.len));
	buf_release(&b);
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
pool_request(struct io *io, struct msg_packet *p, unsigned flags,
    pending_fn *fn, void *arg)
{
	struct pool *pl = &io->pool;
	struct pending *r;
	const char *id;

	if (pl->state != POOL_READY)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	id = ipc_conn_request_id(pl->conn);
	if (strlen(id) >= sizeof(r->id))
		BUG("request id '%s' too long", id);
	memcpy(r->id, id, strlen(id) + 1);
	r->ent.key = r->id;
	p->request_id = r->id;
	if ((flags & REQ_DATA_ID) && p->data)
		msg_set_str(p->data, "request_id", r->id);
	if (flags & REQ_SUBJECT_ID)
		p->subject_id = r->id;
	if (pool_send(io, p)) {
		free(r);
		return NULL;
	}
	r->kind = metrics_kind(p->packet_type);
	r->t_client = p->client_timestamp;
	r->t_in = p->router_incoming_timestamp;
	r->t_out = p->router_outgoing_timestamp;
	r->fn = fn;
	r->arg = arg;
	r->deadline_us = now_us() + (int64_t)((flags & REQ_QUICK) &&
	    io->opt.pool_timeout_ms > IO_QUICK_MS ? IO_QUICK_MS :
	    io->opt.pool_timeout_ms) * 1000;
	r->prev = pl->last;
	if (pl->last)
		pl->last->next = r;
	else
		pl->first = r;
	pl->last = r;
	smap_put(&pl->pending, &r->ent);
	return r;
}

void
pool_cancel(struct pending *r)
{
	r->fn = NULL;
	r->arg = r;
}

/* Resolve R with REPLY or an error, and free it. */
static void
finish(struct io *io, struct pending *r, struct msg_packet *reply,
    const char *err)
{
	pending_unlink(&io->pool, r);
	if (reply)
		metrics_request_done(io, r, reply);
	if (r->fn)
		r->fn(io, r->arg, reply, err);
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

static void PRINTF_LIKE(2, 3)
say(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_msg(level, fmt, ap);
	va_end(ap);
}

static void
try_connect(struct io *io)
{
	struct pool *p = &io->pool;
	lws_sock_file_fd_type u;
	char *err = NULL;
	int fd;

	if (io->stop || p->conn)
		return;
	fd = ipc_connect(p->path, 0, &err);
	if (fd < 0) {
		say(p->failures++ ? LOG_DEBUG : LOG_WARN, "%s; will keep "
		    "trying", err);
		free(err);
		schedule_retry(io);
		return;
	}
	p->conn = ipc_conn_new(fd, PROTO_MAX_LINE);
	p->state = POOL_HELLO;
	u.filefd = fd;
	p->wsi = lws_adopt_descriptor_vhost(io->vhost,
	    LWS_ADOPT_RAW_FILE_DESC, u, "mephisto-pool", NULL);
	if (!p->wsi) {
		/* libwebsockets closed the descriptor */
		p->conn->fd = -1;
		ipc_conn_free(p->conn);
		p->conn = NULL;
		p->state = POOL_DOWN;
		warn("cannot add the pool socket to the event loop");
		schedule_retry(io);
		return;
	}
	ipc_conn_queue_hello(p->conn);
	want_write(io);
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
	say(p->failures ? LOG_INFO : LOG_DEBUG, "connected to the pool "
	    "(%s[%ld])", p->conn->peer_program ? p->conn->peer_program : "?",
	    p->conn->peer_pid);
	p->failures = 0;
	p->last_ready = msg_now();
	while ((f = frameq_pop(&p->hold))) {
		ipc_conn_queue(p->conn, f->data + LWS_PRE, f->len);
		free(f);
	}
	want_write(io);
	agent_report_all(io);
}

static int
on_hello(struct io *io, struct msg_packet *pkt)
{
	struct pool *p = &io->pool;
	char *err = NULL;

	if (ipc_conn_check_hello(p->conn, pkt, &err)) {
		/* an error for the first refusal in a row, info for repeats */
		say(p->failures++ ? LOG_INFO : LOG_ERROR, "the pool refused "
		    "the connection: %s", err);
		/* tell the pool why, as far as one write goes */
		if (strcmp(pkt->packet_type, PT_ERROR)) {
			ipc_conn_queue_error(p->conn, NULL, err, 0);
			ipc_conn_flush(p->conn);
		}
		free(err);
		return -1;
	}
	became_ready(io);
	return 0;
}

static void
on_reply(struct io *io, struct msg_packet *pkt)
{
	const char *id = pkt->request_id;
	struct pending *r;
	char *err = NULL;

	if (!id && msg_opt_str(pkt->data, "request_id", NULL, &id, NULL))
		id = NULL;
	if (!id && !strcmp(pkt->packet_type, PT_AGENT_DETAILS))
		id = pkt->subject_id;
	if (!id) {
		if (msg_packet_error(pkt, &err, NULL)) {
			warn("the pool reports: %s", err);
			free(err);
		} else {
			log_info("ignored a %s packet without request_id from "
			    "the pool", pkt->packet_type);
		}
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
on_to_agent(struct io *io, struct msg_packet *pkt)
{
	const char *subject = pkt->subject_id, *status = NULL;
	struct agent *a;

	if (!*subject || !strcmp(subject, PROTO_SYSTEM_SUBJECT)) {
		log_info("ignored a %s packet without an agent from the pool",
		    pkt->packet_type);
		return;
	}
	if (!strcmp(pkt->packet_type, PT_UPDATE_STATUS) &&
	    (msg_get_str(pkt->data, "status", &status, NULL) ||
	    strlen(status) >= sizeof(a->status))) {
		log_info("ignored an update_status without a valid status");
		return;
	}
	a = agent_get(io, subject);
	if (status)
		memcpy(a->status, status, strlen(status) + 1);
	pkt->request_id = NULL;
	pkt->router_outgoing_timestamp = msg_now();
	agent_deliver(io, a, frame_packet(pkt));
}

static void
add_status(struct smap_entry *e, void *arg)
{
	struct agent *a = (struct agent *)e;

	msg_set_str(arg, a->id, a->reported ? "disconnect" : a->status);
}

/* The original's status poll; io pushes changes, but answers it too. */
static void
on_request_statuses(struct io *io, struct msg_packet *pkt)
{
	struct msg_packet reply = MSG_PACKET_INIT;
	cJSON *map = msg_new_object();

	smap_each(&io->agents, add_status, map);
	reply.packet_type = PT_RETURN_STATUSES;
	reply.subject_id = PROTO_SYSTEM_SUBJECT;
	reply.data = map;
	reply.client_timestamp = pkt->server_timestamp;
	reply.router_incoming_timestamp = pkt->router_incoming_timestamp;
	pool_send(io, &reply);
	msg_free(map);
}

static int
on_line(struct io *io, const char *s, size_t len)
{
	struct msg_packet pkt = MSG_PACKET_INIT;
	const char *type;
	char *err = NULL;
	int r = 0;

	if (msg_packet_parse(&pkt, s, len, PROTO_MAX_LINE, &err)) {
		warn("ignored a packet from the pool: %s", err);
		free(err);
		return io->pool.state == POOL_HELLO ? -1 : 0;
	}
	pkt.router_incoming_timestamp = msg_now();
	type = pkt.packet_type;
	if (io->pool.state == POOL_HELLO)
		r = on_hello(io, &pkt);
	else if (!strcmp(type, PT_AGENT_DETAILS) || !strcmp(type, PT_ACK) ||
	    !strcmp(type, PT_ERROR) || !strcmp(type, PT_METRICS))
		on_reply(io, &pkt);
	else if (!strcmp(type, PT_UPDATE_STATUS) ||
	    !strcmp(type, PT_CLIENT_LIVE_UPDATE))
		on_to_agent(io, &pkt);
	else if (!strcmp(type, PT_REQUEST_STATUSES))
		on_request_statuses(io, &pkt);
	else if (strcmp(type, PT_HELLO))
		log_info("ignored a packet of unknown type '%.64s' from the "
		    "pool", type);
	msg_packet_release(&pkt);
	return r;
}

/* Read what the socket has and handle complete lines; -1: close it. */
static int
on_readable(struct io *io)
{
	struct ipc_conn *c = io->pool.conn;
	char *line;
	size_t len;
	ssize_t n;
	int i, r;

	for (i = 0; i < READS_PER_WAKEUP; i++) {
		n = ipc_conn_read(c);
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			warn_errno("cannot read from the pool");
			return -1;
		}
		while ((r = ipc_conn_line(c, &line, &len)) > 0)
			if (on_line(io, line, len))
				return -1;
		if (r < 0) {
			error("the pool sent a line over %d bytes; reconnecting",
			    PROTO_MAX_LINE);
			return -1;
		}
		if (!n)
			return -1;	/* end of file */
	}
	return 0;
}

static void
rearm(lws_sorted_usec_list_t *sul)
{
	struct pool *p = lws_container_of(sul, struct pool, rearm);

	if (p->wsi)
		lws_callback_on_writable(p->wsi);
}

/*
 * What the socket did not take waits for the next writable call.  It is
 * asked for from a timer, not from here: for a raw descriptor
 * libwebsockets stops watching for writability after this callback
 * returns, which would undo a request made inside it and leave the rest
 * unsent.
 */
static int
on_writeable(struct io *io)
{
	int r = ipc_conn_flush(io->pool.conn);

	if (r < 0)
		return -1;
	if (!r)
		lws_sul_schedule(io->ctx, 0, &io->pool.rearm, rearm, 1);
	return 0;
}

static void
on_close(struct io *io)
{
	struct pool *p = &io->pool;
	int was_ready = p->state == POOL_READY;

	/* libwebsockets closes the descriptor itself */
	lws_sul_cancel(&p->rearm);
	p->conn->fd = -1;
	ipc_conn_free(p->conn);
	p->conn = NULL;
	p->wsi = NULL;
	p->state = POOL_DOWN;
	if (io->stop)
		return;
	if (was_ready) {
		p->last_ready = msg_now();
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
	case LWS_CALLBACK_RAW_RX_FILE:
		if (wsi != io->pool.wsi)
			return -1;
		return on_readable(io);
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (wsi != io->pool.wsi)
			return 0;
		return on_writeable(io);
	case LWS_CALLBACK_RAW_CLOSE_FILE:
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
	frameq_clear(&p->hold);
	buf_release(&p->scratch);
	ipc_conn_free(p->conn);
	p->conn = NULL;
	free(p->path);
	p->path = NULL;
}
