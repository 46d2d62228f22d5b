/*
 * The browser's WebSocket protocol (facts section 3.4), on any path of the
 * HTTP port.  Browsers send alive, heartbeat and mephisto_bound_live_update;
 * io answers heartbeats itself, relays live updates to the pool, and
 * delivers the pool's update_status and client_bound_live_update packets
 * (kept while the agent's socket is away).
 */
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "log.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

int
ws_send(struct session *c, struct frame *f)
{
	struct io *io = io_of(c->wsi);

	if (c->closing) {
		free(f);
		return -1;
	}
	if (c->outq.bytes + f->len > IO_WS_QUEUE_MAX) {
		warn("a browser socket does not read its packets; closing it");
		free(f);
		c->closing = 1;
		frameq_clear(&c->outq);
		lws_callback_on_writable(c->wsi);
		return -1;
	}
	frameq_push(&c->outq, f);
	session_flush_add(io, c);
	return 0;
}

void
session_flush_add(struct io *io, struct session *c)
{
	if (c->flush_queued)
		return;
	c->flush_queued = 1;
	c->flush_next = io->flush;
	c->flush_prev = NULL;
	if (io->flush)
		io->flush->flush_prev = c;
	io->flush = c;
}

void
session_flush_unlink(struct io *io, struct session *c)
{
	if (!c->flush_queued)
		return;
	if (c->flush_prev)
		c->flush_prev->flush_next = c->flush_next;
	else
		io->flush = c->flush_next;
	if (c->flush_next)
		c->flush_next->flush_prev = c->flush_prev;
	c->flush_queued = 0;
	c->flush_prev = c->flush_next = NULL;
}

/* Send packet P to socket C, stamped with the time it leaves. */
static void
send_pkt(struct session *c, struct msg_packet *p)
{
	p->router_outgoing_timestamp = msg_now();
	ws_send(c, frame_packet(p));
}

static void
send_status(struct session *c, struct agent *a)
{
	struct msg_packet p = MSG_PACKET_INIT;
	cJSON *data = msg_new_object();

	msg_set_str(data, "status", a->status);
	p.packet_type = PT_UPDATE_STATUS;
	p.subject_id = a->id;
	p.data = data;
	send_pkt(c, &p);
	msg_free(data);
}

/*
 * Socket C speaks for agent A: bind it and mark A seen.  C learns A's
 * status after alive (TELL), and whenever C is new to A.  The page's client
 * can send alive before it knows its agent id; its heartbeat or live update
 * then binds the socket, and the page still hears its status.
 */
static void
attach(struct io *io, struct session *c, struct agent *a, int tell)
{
	if (agent_bind(io, a, c) || tell)
		send_status(c, a);
	agent_seen(io, a);
}

static void
on_alive(struct io *io, struct session *c, const char *subject)
{
	struct agent *a;

	if (!strcmp(subject, PROTO_SYSTEM_SUBJECT)) {
		warn("ignored an alive packet for '%s' from a browser",
		    PROTO_SYSTEM_SUBJECT);
		return;
	}
	a = agent_find(io, subject);
	if (!a) {
		log_debug("alive from a socket for unknown agent '%.64s'",
		    subject);
		return;
	}
	attach(io, c, a, 1);
}

/* Echo a heartbeat with last_mephisto_ping (and the agent's status). */
static void
on_heartbeat(struct io *io, struct session *c, struct msg_packet *p)
{
	struct agent *a = agent_find(io, p->subject_id);
	cJSON *data = msg_new_object();

	msg_set_double(data, "last_mephisto_ping", pool_last_ping_ms(io));
	if (a) {
		attach(io, c, a, 0);
		msg_set_str(data, "status", a->status);
	}
	p->data = data;
	p->request_id = NULL;
	send_pkt(c, p);
	msg_free(data);
}

static void
on_live_update(struct io *io, struct session *c, struct msg_packet *p)
{
	struct agent *a = agent_find(io, p->subject_id);

	if (!strcmp(p->subject_id, PROTO_SYSTEM_SUBJECT)) {
		warn("ignored a live update for '%s' from a browser",
		    PROTO_SYSTEM_SUBJECT);
		return;
	}
	if (a)
		attach(io, c, a, 0);
	p->request_id = NULL;
	p->server_timestamp = 0;
	if (pool_send(io, p))
		pool_hold(io, p);
}

static void
handle(struct io *io, struct session *c, const char *s, size_t len)
{
	struct msg_packet p = MSG_PACKET_INIT;
	const char *type;
	char *err = NULL;

	if (msg_packet_parse(&p, s, len, io->opt.max_body, &err)) {
		log_info("ignored a packet from a browser: %s", err);
		free(err);
		return;
	}
	p.router_incoming_timestamp = msg_now();
	type = p.packet_type;
	if (!strcmp(type, PT_HEARTBEAT)) {
		on_heartbeat(io, c, &p);
	} else if (!strcmp(type, PT_ALIVE)) {
		on_alive(io, c, p.subject_id);
	} else if (!strcmp(type, PT_MEPHISTO_LIVE_UPDATE)) {
		on_live_update(io, c, &p);
	} else if (!strcmp(type, PT_UPDATE_STATUS) ||
	    !strcmp(type, PT_CLIENT_LIVE_UPDATE)) {
		warn("ignored a %s packet from a browser (only the pool sends "
		    "those)", type);
	} else {
		log_info("ignored a packet of unknown type '%.64s' from a "
		    "browser", type);
	}
	msg_packet_release(&p);
}

static int
receive(struct io *io, struct session *c, const char *in, size_t len)
{
	int done = lws_is_final_fragment(c->wsi) &&
	    !lws_remaining_packet_payload(c->wsi);

	if (lws_frame_is_binary(c->wsi)) {
		/* Not part of the protocol; drop the message. */
		if (done)
			log_info("ignored a binary message from a browser");
		buf_release(&c->rx);
		return 0;
	}
	if (done && !c->rx.len) {
		handle(io, c, in, len);
		return 0;
	}
	if (c->rx.len + len > io->opt.max_body) {
		warn("a browser sent a message over %zu bytes; closing it",
		    io->opt.max_body);
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		    NULL, 0);
		return -1;
	}
	buf_add(&c->rx, in, len);
	if (done) {
		handle(io, c, c->rx.buf, c->rx.len);
		/* An idle socket keeps no buffer. */
		buf_release(&c->rx);
	}
	return 0;
}

/* Append the header of an unmasked text frame of LEN bytes to B. */
static void
frame_header(struct buf *b, size_t len)
{
	unsigned char h[10];
	size_t n = 2, i;

	h[0] = 0x81;		/* FIN, text */
	if (len < 126) {
		h[1] = (unsigned char)len;
	} else if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		n = 4;
	} else {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		n = 10;
	}
	buf_add(b, h, n);
}

/*
 * Write C's waiting frames: one as libwebsockets frames it, several
 * framed here and written as raw bytes in one go (up to IO_SEND_BYTES),
 * since under load a socket has several waiting and a send() each was
 * most of io's time.  libwebsockets keeps what the socket does not take
 * and sends it before anything else.  Returns -1 on a write error.
 */
static int
write_frames(struct io *io, struct session *c)
{
	struct buf *b = &io->ws_batch;
	struct frame *f = frameq_pop(&c->outq);
	int n;

	if (!f)
		return 0;
	if (!c->outq.head) {
		n = lws_write(c->wsi, f->data + LWS_PRE, f->len, LWS_WRITE_TEXT);
		free(f);
		return n < 0 ? -1 : 0;
	}
	buf_reset(b);
	buf_grow(b, LWS_PRE);
	b->len = LWS_PRE;
	for (;;) {
		frame_header(b, f->len);
		buf_add(b, f->data + LWS_PRE, f->len);
		free(f);
		f = c->outq.head;
		if (!f || b->len + f->len > LWS_PRE + IO_SEND_BYTES)
			break;
		f = frameq_pop(&c->outq);
	}
	n = lws_write(c->wsi, (unsigned char *)b->buf + LWS_PRE,
	    b->len - LWS_PRE, LWS_WRITE_RAW);
	if (b->alloc > 4 * IO_SEND_BYTES)
		buf_release(b);
	return n < 0 ? -1 : 0;
}

static int
writeable(struct io *io, struct session *c)
{
	if (!c->outq.head && c->closing) {
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
		    NULL, 0);
		return -1;
	}
	if (write_frames(io, c))
		return -1;
	if (c->outq.head || c->closing)
		lws_callback_on_writable(c->wsi);
	return 0;
}

/*
 * Write what every socket was given since the loop last waited, in one
 * go each, without a round through the loop's writability (two
 * epoll_ctl() calls a frame or an answer).  A socket that has output
 * libwebsockets could not send yet, or more than one write's worth, or
 * that is being closed, waits for its writable callback instead.
 */
void
sessions_flush(struct io *io)
{
	struct session *c;

	while ((c = io->flush)) {
		session_flush_unlink(io, c);
		if (!c->is_ws) {
			http_flush(c);
			continue;
		}
		if (!c->closing && !lws_partial_buffered(c->wsi) &&
		    write_frames(io, c)) {
			/* the socket is broken: libwebsockets closes it */
			c->closing = 1;
			frameq_clear(&c->outq);
		}
		if (c->outq.head || c->closing)
			lws_callback_on_writable(c->wsi);
	}
}

int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
    struct session *c, void *in, size_t len)
{
	struct io *io = io_of(wsi);

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		/* an HTTP answer of the connection may still be listed */
		session_flush_unlink(io, c);
		memset(c, 0, sizeof(*c));
		c->wsi = wsi;
		c->is_ws = 1;
		buf_init(&c->rx);
		io->metrics.websockets++;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return receive(io, c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return writeable(io, c);
	case LWS_CALLBACK_CLOSED:
		io->metrics.websockets--;
		session_flush_unlink(io, c);
		agent_socket_lost(io, c);
		frameq_clear(&c->outq);
		buf_release(&c->rx);
		return 0;
	default:
		return 0;
	}
}
