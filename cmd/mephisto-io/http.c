/*
 * The HTTP side of io: the original router's endpoints (facts section
 * 3.3) and the run's static files, with the deliberate differences of
 * DESIGN.md section 6 (answers only after the pool has answered, deadlines,
 * body limits, JSON errors, safe static paths and uploads).
 *
 * A POST's body is collected (JSON, urlencoded) or streamed through the
 * multipart parser (files go straight to disk) as it arrives; the
 * endpoint runs when the body is complete.  Every answer is JSON except
 * static files.  A request refused before its body was read is answered
 * at once and its connection closed.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "form.h"
#include "io.h"
#include "log.h"
#include "multipart.h"
#include "path.h"
#include "proto.h"
#include "upload.h"
#include "xalloc.h"
#include "banned.h"

enum endpoint {
	EP_REQUEST_AGENT,
	EP_SUBMIT_ONBOARDING,
	EP_SUBMIT_TASK,
	EP_SUBMIT_METADATA,
	EP_LOG_ERROR,
};

static const struct {
	const char *path;
	enum endpoint ep;
	int files;	/* multipart with files allowed */
} posts[] = {
	{ "/request_agent", EP_REQUEST_AGENT, 0 },
	{ "/submit_onboarding", EP_SUBMIT_ONBOARDING, 0 },
	{ "/submit_task", EP_SUBMIT_TASK, 1 },
	{ "/submit_metadata", EP_SUBMIT_METADATA, 1 },
	{ "/log_error", EP_LOG_ERROR, 0 },
};

enum body_kind {
	BODY_JSON,
	BODY_URLENCODED,
	BODY_MULTIPART,
};

/* Multipart fields io reads (others are counted, not kept). */
enum field {
	F_NONE = -1,
	F_AGENT,		/* USED_AGENT_ID */
	F_DATA,			/* final_string_data or metadata */
	F_TIMESTAMP,		/* client_timestamp */
	F_COUNT,
};

struct http_req {
	struct io *io;
	enum endpoint ep;
	enum body_kind kind;
	int files_ok;
	size_t received;	/* body bytes so far */
	size_t limit;		/* most body bytes accepted */
	size_t fields_len;	/* multipart bytes other than files */
	struct buf body;	/* JSON or urlencoded body */
	struct mp mp;
	int mp_on;
	enum field field;	/* multipart field being read */
	int part;		/* 0 field, 1 file, 2 empty file input */
	struct buf fields[F_COUNT];
	struct upload_set files;
	double t_in;		/* router_incoming_timestamp */
	struct pending *pending;
	int refused;		/* answered before the body was read */
	int complete;		/* the body was read and handled */
	int keep_files;		/* committed files belong to the pool now */

	/* the answer */
	int status;
	struct frame *resp;	/* body with LWS_PRE headroom */
	const char *resp_type;
	int phase;		/* 1: an answer to write */
	int close;		/* close the connection after answering */
	int is_static;		/* a static file: may be cached, not sniffed */
};

static const char *const field_names[2][F_COUNT] = {
	{ "USED_AGENT_ID", "final_string_data", "client_timestamp" },
	{ "USED_AGENT_ID", "metadata", "client_timestamp" },
};

static struct http_req *
req_new(struct session *s)
{
	struct http_req *r = xcalloc(1, sizeof(*r));
	int i;

	buf_init(&r->body);
	for (i = 0; i < F_COUNT; i++)
		buf_init(&r->fields[i]);
	r->io = io_of(s->wsi);
	r->io->live_reqs++;
	r->field = F_NONE;
	r->t_in = msg_now();
	s->req = r;
	return r;
}

static void
req_free(struct http_req *r)
{
	int i;

	if (!r)
		return;
	r->io->live_reqs--;
	io_drained_check(r->io);
	if (r->pending)
		pool_cancel(r->pending);
	if (!r->keep_files)
		upload_discard(&r->files);
	upload_release(&r->files);
	if (r->mp_on)
		mp_release(&r->mp);
	buf_release(&r->body);
	for (i = 0; i < F_COUNT; i++)
		buf_release(&r->fields[i]);
	free(r->resp);
	free(r);
}

void
http_session_closed(struct io *io, struct session *s)
{
	session_flush_unlink(io, s);
	req_free(s->req);
	s->req = NULL;
}

/* Answer with STATUS and the LEN bytes of BODY (copied) of TYPE. */
static void
reply_typed(struct session *s, int status, const char *type,
    const char *body, size_t len)
{
	struct http_req *r = s->req ? s->req : req_new(s);

	r->status = status;
	free(r->resp);
	r->resp = frame_new(body, len);
	r->resp_type = type;
	r->phase = 1;
	/*
	 * An answer made in the request's own callback is written there,
	 * any other once the loop's callbacks are done (http_flush()).
	 */
	if (!s->in_request)
		session_flush_add(io_of(s->wsi), s);
}

static void
reply(struct session *s, int status, const char *body, size_t len)
{
	reply_typed(s, status, "application/json", body, len);
}

static void
reply_json(struct session *s, int status, const cJSON *o)
{
	struct buf b = BUF_INIT;

	msg_print(o, &b);
	reply(s, status, b.buf, b.len);
	buf_release(&b);
}

/* Answer with packet P (its envelope and data) as the body. */
static void
reply_packet(struct session *s, const struct msg_packet *p)
{
	struct frame *f = frame_packet(p);

	reply(s, 200, (const char *)f->data + LWS_PRE, f->len);
	free(f);
}

static void
reply_error(struct session *s, int status, const char *msg, int retryable)
{
	size_t len;
	char *body = json_error_body(msg, retryable, &len);

	reply(s, status, body, len);
	free(body);
}

/* reply_error() with a message ERR to free. */
static void
reply_error_free(struct session *s, int status, char *err)
{
	reply_error(s, status, err ? err : "bad request", 0);
	free(err);
}

/* Refuse a request whose body has not been read: answer, then close. */
static void
refuse(struct session *s, int status, const char *msg)
{
	struct http_req *r = s->req ? s->req : req_new(s);

	r->refused = 1;
	r->close = 1;
	reply_error(s, status, msg, 0);
}

static void
reply_unreachable(struct session *s)
{
	reply_error(s, 503, "the task server is not ready; please try again "
	    "in a moment", 1);
}

/* The most of an answer, headers and body, sent from the stack at once. */
#define ANSWER_INLINE 4096

static int
write_answer(struct session *s)
{
	struct http_req *r = s->req;
	unsigned char buf[LWS_PRE + ANSWER_INLINE], *p = buf + LWS_PRE;
	unsigned char *end = buf + sizeof(buf) - 1;
	size_t body;
	const char *cache;

	if (!r || !r->phase)
		return 0;
	cache = r->is_static ? "no-cache" : "no-store";
	body = lws_hdr_total_length(s->wsi, WSI_TOKEN_HEAD_URI) > 0 ? 0 :
	    r->resp->len;
	metrics_response(io_of(s->wsi), r->status);
	if (lws_add_http_common_headers(s->wsi, (unsigned)r->status,
	    r->resp_type, r->resp->len, &p, end) ||
	    lws_add_http_header_by_token(s->wsi,
	    WSI_TOKEN_HTTP_CACHE_CONTROL, (unsigned char *)cache,
	    (int)strlen(cache), &p, end) ||
	    (r->is_static && lws_add_http_header_by_name(s->wsi,
	    (unsigned char *)"x-content-type-options:",
	    (unsigned char *)"nosniff", 7, &p, end)) ||
	    (r->close && lws_add_http_header_by_token(s->wsi,
	    WSI_TOKEN_CONNECTION, (unsigned char *)"close", 5, &p,
	    end)) ||
	    lws_finalize_http_header(s->wsi, &p, end))
		return -1;
	/* A body that fits goes with the headers: one send(), one segment. */
	if (body && body <= (size_t)(end - p)) {
		memcpy(p, r->resp->data + LWS_PRE, body);
		p += body;
		body = 0;
	}
	/*
	 * A longer body follows the headers in the same round: libwebsockets
	 * keeps what the socket did not take and sends it first later.
	 */
	if (lws_write(s->wsi, buf + LWS_PRE, (size_t)(p - (buf + LWS_PRE)),
	    LWS_WRITE_HTTP_HEADERS) < 0 || (body && lws_write(s->wsi,
	    r->resp->data + LWS_PRE, body, LWS_WRITE_HTTP_FINAL) < 0))
		return -1;
	r->phase = 0;
	if (r->close)
		return -1;
	req_free(r);
	s->req = NULL;
	return lws_http_transaction_completed(s->wsi) ? -1 : 0;
}

void
http_flush(struct session *s)
{
	/* S may be gone once the transaction is completed. */
	struct lws *wsi = s->wsi;

	/* What libwebsockets still holds of an earlier write goes first. */
	if (lws_partial_buffered(wsi)) {
		lws_callback_on_writable(wsi);
		return;
	}
	/* A connection to close: as a callback returning -1 would. */
	if (write_answer(s) < 0)
		lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND,
		    LWS_TO_KILL_ASYNC);
}

/* Agent ids are the pool's: digits, letters, '_' and '-'. */
static int
id_valid(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++)
		if (!(id[n] >= '0' && id[n] <= '9') &&
		    !(id[n] >= 'a' && id[n] <= 'z') &&
		    !(id[n] >= 'A' && id[n] <= 'Z') &&
		    id[n] != '_' && id[n] != '-')
			return 0;
	return n > 0 && n <= 64;
}

/*
 * The agent id of a request: string USED_AGENT_ID of O.  Returns it
 * (borrowed from O), or NULL after answering 400.  With OPTIONAL, a
 * missing or null id gives "" (no agent).
 */
static const char *
used_agent_id(struct session *s, const cJSON *o, int optional)
{
	const char *id = NULL;
	char *err = NULL;

	if (optional ? msg_opt_str(o, "USED_AGENT_ID", "", &id, &err) :
	    msg_get_str(o, "USED_AGENT_ID", &id, &err)) {
		reply_error_free(s, 400, err);
		return NULL;
	}
	if (*id && !id_valid(id)) {
		reply_error(s, 400, "field 'USED_AGENT_ID' is not a valid "
		    "agent id", 0);
		return NULL;
	}
	if (!*id && !optional) {
		reply_error(s, 400, "field 'USED_AGENT_ID' is empty", 0);
		return NULL;
	}
	return id;
}

/* Copy the request's client_timestamp and io's receipt time onto P. */
static void
stamp(struct http_req *r, const cJSON *body, struct msg_packet *p)
{
	double ts = 0;

	if (msg_opt_double(body, "client_timestamp", 0, &ts, NULL))
		ts = 0;
	p->client_timestamp = ts;
	p->router_incoming_timestamp = r->t_in;
}

/* Send P as a request answered through FN; answers 503 if it cannot. */
static int
ask_pool(struct io *io, struct session *s, struct msg_packet *p,
    unsigned flags, pending_fn *fn)
{
	struct http_req *r = s->req;

	r->pending = pool_request(io, p, flags, fn, s);
	if (!r->pending) {
		reply_unreachable(s);
		return -1;
	}
	/* io's own deadline answers first; this only backs it up. */
	lws_set_timeout(s->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
	    io->opt.pool_timeout_ms / 1000 + 30);
	return 0;
}

/*
 * Answer from a pool error packet, a missing reply (ERR) or a reply of
 * the wrong type.  Returns 1 if the request was answered this way (the
 * reply was not the expected EXPECT packet).
 */
static int
reply_failure(struct session *s, struct msg_packet *rep, const char *err,
    const char *expect)
{
	char *msg = NULL;
	int retryable = 0;

	if (!rep) {
		reply_error(s, 503, err, 1);
		return 1;
	}
	if (!strcmp(rep->packet_type, expect))
		return 0;
	if (!msg_packet_error(rep, &msg, &retryable)) {
		warn("the pool answered a request with '%.64s'",
		    rep->packet_type);
		reply_error(s, 502, "unexpected answer from the task server",
		    1);
		return 1;
	}
	reply_error(s, retryable ? 503 : 400, msg, retryable);
	free(msg);
	return 1;
}

static void
on_agent_details(struct io *io, void *arg, struct msg_packet *rep,
    const char *err)
{
	struct session *s = arg;
	const char *agent_id = NULL;

	s->req->pending = NULL;
	if (reply_failure(s, rep, err, PT_AGENT_DETAILS))
		return;
	if (!msg_opt_str(rep->data, "agent_id", NULL, &agent_id, NULL) &&
	    agent_id && *agent_id)
		agent_get(io, agent_id);
	rep->request_id = NULL;
	rep->router_outgoing_timestamp = msg_now();
	reply_packet(s, rep);
}

/* Answer an ack: its data if it has a status, else DEFAULT_STATUS. */
static void
reply_ack(struct session *s, struct msg_packet *rep,
    const char *default_status)
{
	const char *status = NULL;
	cJSON *o;

	if (!msg_opt_str(rep->data, "status", NULL, &status, NULL) && status) {
		reply_json(s, 200, rep->data);
		return;
	}
	o = msg_new_object();
	msg_set_str(o, "status", default_status);
	reply_json(s, 200, o);
	msg_free(o);
}

static void
on_submit_ack(struct io *io, void *arg, struct msg_packet *rep,
    const char *err)
{
	struct session *s = arg;
	struct http_req *r = s->req;
	struct agent *a;

	r->pending = NULL;
	if (!rep) {
		/* The pool may have committed it: keep the files. */
		r->keep_files = 1;
		reply_error(s, 503, err, 1);
		return;
	}
	if (reply_failure(s, rep, err, PT_ACK))
		return;
	r->keep_files = 1;
	if (r->ep == EP_SUBMIT_TASK) {
		/* the original forgets a submitted agent */
		if ((a = agent_find(io, rep->subject_id)))
			agent_free(io, a);
		reply_ack(s, rep, "Submitted!");
	} else if (r->ep == EP_SUBMIT_METADATA) {
		reply_ack(s, rep, "Submitted metadata");
	} else {
		reply_ack(s, rep, "Error log sent!");
	}
}

static void
do_request_agent(struct io *io, struct session *s, const cJSON *body)
{
	struct msg_packet p = MSG_PACKET_INIT;
	const cJSON *pd;
	char *err = NULL;
	cJSON *data;

	if (msg_get_obj(body, "provider_data", &pd, &err)) {
		reply_error_free(s, 400, err);
		return;
	}
	data = msg_new_object();
	msg_set(data, "provider_data", msg_dup(pd));
	p.packet_type = PT_REGISTER_AGENT;
	p.data = data;
	stamp(s->req, body, &p);
	ask_pool(io, s, &p, REQ_DATA_ID | REQ_SUBJECT_ID, on_agent_details);
	msg_free(data);
}

static void
do_submit_onboarding(struct io *io, struct session *s, const cJSON *body)
{
	struct msg_packet p = MSG_PACKET_INIT;
	const cJSON *pd, *od;
	const char *id;
	char *err = NULL, *agent_id;
	struct agent *a;
	cJSON *data;

	if (msg_get_obj(body, "provider_data", &pd, &err) ||
	    msg_opt_obj(pd, "onboarding_data", &od, &err)) {
		reply_error_free(s, 400, err);
		return;
	}
	if (!(id = used_agent_id(s, pd, 0)))
		return;
	agent_id = xstrdup(id);
	data = msg_dup(pd);
	msg_remove(data, "USED_AGENT_ID");
	if (!od)
		msg_set_object(data, "onboarding_data");
	p.packet_type = PT_SUBMIT_ONBOARDING;
	p.subject_id = agent_id;
	p.data = data;
	stamp(s->req, body, &p);
	/* the original forgets the onboarding agent once it submits */
	if (!ask_pool(io, s, &p, REQ_DATA_ID, on_agent_details) &&
	    (a = agent_find(io, agent_id)))
		agent_free(io, a);
	msg_free(data);
	free(agent_id);
}

/*
 * The object a submission carries in KEY (or ALT_KEY) of BODY: an object,
 * or JSON text of one (multipart and urlencoded bodies send text).
 * Returns a copy (caller frees), or NULL after answering 400.
 */
static cJSON *
take_object(struct session *s, const cJSON *body, const char *key,
    const char *alt_key)
{
	const cJSON *v = msg_get(body, key);
	const char *used = key;
	char *err = NULL;
	cJSON *o;

	if (!msg_has(body, key) && alt_key && msg_has(body, alt_key)) {
		v = msg_get(body, alt_key);
		used = alt_key;
	}
	if (cJSON_IsString(v)) {
		o = msg_parse(v->valuestring, strlen(v->valuestring), 0, NULL);
		if (cJSON_IsObject(o))
			return o;
		msg_free(o);
		reply_error_free(s, 400, xasprintf("field '%s' must be JSON "
		    "text of an object", used));
		return NULL;
	}
	if (msg_val_obj(v, used, &err)) {
		reply_error_free(s, 400, err);
		return NULL;
	}
	return msg_dup(v);
}

static void
do_submit(struct io *io, struct session *s, const cJSON *body)
{
	struct msg_packet p = MSG_PACKET_INIT;
	struct http_req *r = s->req;
	const char *agent_id, *err;
	cJSON *data;

	if (!(agent_id = used_agent_id(s, body, r->ep == EP_LOG_ERROR)))
		return;
	if (r->ep == EP_SUBMIT_TASK) {
		p.packet_type = PT_SUBMIT_UNIT;
		data = take_object(s, body, "final_data", "final_string_data");
	} else if (r->ep == EP_SUBMIT_METADATA) {
		p.packet_type = PT_SUBMIT_METADATA;
		data = take_object(s, body, "metadata", NULL);
	} else {
		p.packet_type = PT_LOG_ERROR;
		data = take_object(s, body, "error_data", NULL);
	}
	if (!data)
		return;
	if (!*agent_id)
		agent_id = PROTO_SYSTEM_SUBJECT;
	if (r->files.nr) {
		if (upload_commit(io, &r->files, agent_id, &err)) {
			msg_free(data);
			reply_error(s, 500, err, 1);
			return;
		}
		msg_set(data, "files", upload_json(&r->files));
	}
	p.subject_id = agent_id;
	p.data = data;
	stamp(r, body, &p);
	ask_pool(io, s, &p, 0, on_submit_ack);
	msg_free(data);
}

/* curl -d sends JSON as urlencoded; a body starting with '{' is JSON. */
static int
looks_like_json(const struct buf *b)
{
	size_t i = 0;

	while (i < b->len && (b->buf[i] == ' ' || b->buf[i] == '\t' ||
	    b->buf[i] == '\r' || b->buf[i] == '\n'))
		i++;
	return i < b->len && b->buf[i] == '{';
}

/* The multipart fields io read, as the object a JSON body would be. */
static cJSON *
multipart_object(struct http_req *r)
{
	const char *const *names = field_names[r->ep == EP_SUBMIT_METADATA];
	cJSON *o = msg_new_object();
	int i;

	for (i = 0; i < F_COUNT; i++) {
		struct buf *b = &r->fields[i];

		/* a field that was sent has memory, even when empty */
		if (!b->alloc || memchr(b->buf, '\0', b->len))
			continue;
		if (i == F_TIMESTAMP)
			msg_set_double(o, names[i], strtod(b->buf, NULL));
		else
			msg_set_str(o, names[i], b->buf);
	}
	return o;
}

/* Parse a JSON request body; NULL after answering 400. */
static cJSON *
json_body(struct io *io, struct session *s)
{
	struct buf *b = &s->req->body;
	char *err = NULL;
	cJSON *v = msg_parse(b->buf, b->len, io->opt.max_body, &err);

	if (!v) {
		reply_error_free(s, 400, xasprintf("bad JSON body: %s", err));
		free(err);
		return NULL;
	}
	if (!cJSON_IsObject(v)) {
		msg_free(v);
		reply_error(s, 400, "the request body must be a JSON object", 0);
		return NULL;
	}
	return v;
}

static void
body_complete(struct io *io, struct session *s)
{
	struct http_req *r = s->req;
	cJSON *body;

	if (r->complete)
		return;
	r->complete = 1;
	if (r->kind == BODY_MULTIPART) {
		if (mp_finish(&r->mp)) {
			reply_error(s, r->mp.status, r->mp.err ? r->mp.err :
			    "malformed multipart body", 0);
			return;
		}
		body = multipart_object(r);
	} else if (r->kind == BODY_URLENCODED && !looks_like_json(&r->body)) {
		body = form_parse_urlencoded(r->body.buf, r->body.len);
	} else if (!(body = json_body(io, s))) {
		return;
	}
	switch (r->ep) {
	case EP_REQUEST_AGENT:
		do_request_agent(io, s, body);
		break;
	case EP_SUBMIT_ONBOARDING:
		do_submit_onboarding(io, s, body);
		break;
	default:
		do_submit(io, s, body);
		break;
	}
	msg_free(body);
}

static void
fail_body(struct session *s, int status)
{
	struct io *io = io_of(s->wsi);
	char msg[128];

	if (status == 413 && s->req->part == 1)
		snprintf(msg, sizeof(msg), "an uploaded file is over %zu "
		    "bytes", io->opt.max_upload);
	else if (status == 413)
		snprintf(msg, sizeof(msg), "the request is over %zu bytes",
		    io->opt.max_body);
	else
		snprintf(msg, sizeof(msg), "cannot store the upload");
	refuse(s, status, msg);
}

static int
mp_begin(void *arg, const struct mp_part *part)
{
	struct session *s = arg;
	struct http_req *r = s->req;
	struct io *io = io_of(s->wsi);
	const char *const *names = field_names[r->ep == EP_SUBMIT_METADATA];
	int i;

	r->field = F_NONE;
	if (part->filename) {
		if (!r->files_ok || !*part->filename) {
			r->part = 2;
			return 0;
		}
		if (r->files.nr >= io->opt.max_files) {
			char msg[80];

			snprintf(msg, sizeof(msg), "more than %u files",
			    io->opt.max_files);
			refuse(s, 413, msg);
			return 413;
		}
		r->part = 1;
		return upload_begin(io, &r->files, part->name, part->filename,
		    part->content_type);
	}
	r->part = 0;
	for (i = 0; i < F_COUNT; i++) {
		if (!strcmp(part->name, names[i])) {
			r->field = (enum field)i;
			buf_reset(&r->fields[i]);
			/* mark as present even when empty */
			buf_grow(&r->fields[i], 1);
		}
	}
	return 0;
}

static int
mp_data(void *arg, const char *p, size_t n)
{
	struct session *s = arg;
	struct http_req *r = s->req;
	struct io *io = io_of(s->wsi);
	int st;

	if (r->part == 1) {
		if ((st = upload_write(io, &r->files, p, n)))
			fail_body(s, st);
		return st;
	}
	r->fields_len += n;
	if (r->fields_len > io->opt.max_body) {
		fail_body(s, 413);
		return 413;
	}
	if (r->field != F_NONE)
		buf_add(&r->fields[r->field], p, n);
	return 0;
}

static int
mp_end(void *arg)
{
	struct session *s = arg;
	struct http_req *r = s->req;
	int st = 0;

	if (r->part == 1 && (st = upload_end(&r->files)))
		fail_body(s, st);
	r->part = 0;
	r->field = F_NONE;
	return st;
}

static const struct mp_callbacks mp_cb = { mp_begin, mp_data, mp_end };

static int
header_value(struct lws *wsi, enum lws_token_indexes h, char *out,
    size_t size)
{
	int n = lws_hdr_total_length(wsi, h);

	out[0] = '\0';
	if (n <= 0)
		return 0;
	if ((size_t)n >= size)
		return -1;
	return lws_hdr_copy(wsi, out, (int)size, h) < 0 ? -1 : n;
}

static int
begin_post(struct io *io, struct session *s, const char *path)
{
	char ctype[512], clen[32];
	struct http_req *r;
	size_t i;
	unsigned long long n = 0;

	for (i = 0; i < ARRAY_SIZE(posts); i++)
		if (!strcmp(path, posts[i].path))
			break;
	if (i == ARRAY_SIZE(posts)) {
		refuse(s, 404, "no such endpoint");
		return 0;
	}
	r = req_new(s);
	r->ep = posts[i].ep;
	r->files_ok = posts[i].files;
	r->limit = io->opt.max_body;
	if (header_value(s->wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, ctype,
	    sizeof(ctype)) < 0) {
		refuse(s, 400, "the Content-Type header is too long");
		return 0;
	}
	if (!strncasecmp(ctype, "multipart/form-data", 19)) {
		r->kind = BODY_MULTIPART;
		if (r->files_ok)
			r->limit += (size_t)io->opt.max_files *
			    (io->opt.max_upload + 16384);
		if (mp_init(&r->mp, ctype, &mp_cb, s)) {
			refuse(s, 400, r->mp.err);
			return 0;
		}
		r->mp_on = 1;
	} else if (!strncasecmp(ctype, "application/x-www-form-urlencoded",
	    33)) {
		r->kind = BODY_URLENCODED;
	} else {
		/* application/json, text/plain or none: JSON text */
		r->kind = BODY_JSON;
	}
	if (header_value(s->wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, clen,
	    sizeof(clen)) > 0) {
		char *end;

		errno = 0;
		n = strtoull(clen, &end, 10);
		if (errno || *end || end == clen) {
			refuse(s, 400, "bad Content-Length");
			return 0;
		}
		if (n > r->limit) {
			fail_body(s, 413);
			return 0;
		}
	}
	if (!n && !lws_hdr_total_length(s->wsi,
	    WSI_TOKEN_HTTP_TRANSFER_ENCODING))
		body_complete(io, s);	/* no body is coming */
	return 0;
}

static int
on_body(struct io *io, struct session *s, const char *in, size_t len)
{
	struct http_req *r = s->req;

	if (!r || r->refused)
		return 0;	/* discard */
	r->received += len;
	if (r->received > r->limit) {
		fail_body(s, 413);
		return 0;
	}
	if (r->kind == BODY_MULTIPART)
		mp_feed(&r->mp, in, len);
	else
		buf_add(&r->body, in, len);
	return 0;
}

/* A static answer body for the small GET endpoints. */
static void
reply_simple(struct session *s, const char *key, const char *sval,
    int64_t nval)
{
	cJSON *o = msg_new_object();

	if (sval)
		msg_set_str(o, key, sval);
	else
		msg_set_int(o, key, nval);
	reply_json(s, 200, o);
	msg_free(o);
}

static int
serve_static(struct io *io, struct session *s, const char *path)
{
	const struct static_file *sf = static_find(io, path);
	int n;
	static const char headers[] = "Cache-Control: no-cache\r\n"
	    "X-Content-Type-Options: nosniff\r\n";

	if (!sf) {
		reply_error(s, 404, "not found", 0);
		return 0;
	}
	if (sf->body) {
		reply_typed(s, 200, sf->mime,
		    (const char *)sf->body->data + LWS_PRE, sf->body->len);
		s->req->is_static = 1;
		return 0;
	}
	n = lws_serve_http_file(s->wsi, sf->real, sf->mime, headers,
	    (int)sizeof(headers) - 1);
	if (n < 0 || (n > 0 && lws_http_transaction_completed(s->wsi)))
		return -1;
	return 0;
}

static void
check_task_version(struct io *io, struct session *s)
{
	struct msg_packet p = MSG_PACKET_INIT;
	char arg[96];
	const char *v = lws_get_urlarg_by_name(s->wsi,
	    "mephisto_task_version=", arg, (int)sizeof(arg));
	cJSON *data;
	char *text;

	if (v && !strcmp(v, MEPHISTO_TASK_VERSION))
		return;
	if (!v)
		v = "undefined";
	text = xasprintf("Package `mephisto-task` version mismatch. Expected "
	    "version %s but frontend is currently using %s. This may cause "
	    "unexpected errors, be sure to update your `mephisto-task` "
	    "dependency with `npm install mephisto-task@%s --save`.",
	    MEPHISTO_TASK_VERSION, v, MEPHISTO_TASK_VERSION);
	data = msg_new_object();
	msg_set_str(data, "error_type", "version-mismatch");
	msg_set_str(data, "text", text);
	free(text);
	p.packet_type = PT_LOG_ERROR;
	p.subject_id = PROTO_SYSTEM_SUBJECT;
	p.data = data;
	p.router_incoming_timestamp = msg_now();
	if (!pool_request(io, &p, 0, NULL, NULL))
		log_info("could not report a mephisto-task version mismatch "
		    "(%s) to the pool", v);
	msg_free(data);
}

static int
route_get(struct io *io, struct session *s, const char *path)
{
	if (!strcmp(path, "/is_alive")) {
		reply_simple(s, "status", "Alive!", 0);
		return 0;
	}
	if (!strcmp(path, "/get_timestamp")) {
		reply_simple(s, "timestamp", NULL,
		    (int64_t)(msg_now() * 1000));
		return 0;
	}
	if (!strcmp(path, "/task_config.json"))
		check_task_version(io, s);
	if (!strcmp(path, "/") || !strcmp(path, "/task_index") ||
	    !strcmp(path, "/welcome"))
		path = "/index.html";
	return serve_static(io, s, path);
}

static int
on_request(struct io *io, struct session *s, const char *path)
{
	int len = (int)strlen(path);

	if (lws_hdr_total_length(s->wsi, WSI_TOKEN_POST_URI) > 0) {
		if (lws_hdr_total_length(s->wsi, WSI_TOKEN_POST_URI) != len) {
			refuse(s, 400, "bad request path");
			return 0;
		}
		return begin_post(io, s, path);
	}
	if (lws_hdr_total_length(s->wsi, WSI_TOKEN_GET_URI) > 0 ||
	    lws_hdr_total_length(s->wsi, WSI_TOKEN_HEAD_URI) > 0) {
		int n = lws_hdr_total_length(s->wsi, WSI_TOKEN_GET_URI);

		if (n <= 0)
			n = lws_hdr_total_length(s->wsi, WSI_TOKEN_HEAD_URI);
		if (n != len) {
			refuse(s, 400, "bad request path");
			return 0;
		}
		return route_get(io, s, path);
	}
	refuse(s, 405, "method not allowed");
	return 0;
}

/* The metrics page: io's own, then the pool's (when it answers). */
static void
metrics_answer(struct io *io, struct session *s, const char *pool_text)
{
	struct buf b = BUF_INIT;

	metrics_io_text(io, &b);
	if (pool_text)
		buf_addstr(&b, pool_text);
	reply_typed(s, 200, "text/plain; version=0.0.4; charset=utf-8",
	    b.buf, b.len);
	buf_release(&b);
}

static void
on_pool_metrics(struct io *io, void *arg, struct msg_packet *rep,
    const char *err)
{
	struct session *s = arg;
	const char *text = NULL;

	s->req->pending = NULL;
	if (rep && rep->packet_type && !strcmp(rep->packet_type, PT_METRICS) &&
	    msg_opt_str(rep->data, "text", NULL, &text, NULL))
		text = NULL;
	metrics_answer(io, s, text);
}

int
http_metrics_request(struct io *io, struct session *s, const char *path)
{
	struct msg_packet p = MSG_PACKET_INIT;
	struct http_req *r;

	if (lws_hdr_total_length(s->wsi, WSI_TOKEN_GET_URI) <= 0 ||
	    strcmp(path, "/metrics")) {
		refuse(s, 404, "only GET /metrics is served here");
		return 0;
	}
	r = req_new(s);
	p.packet_type = PT_METRICS;
	p.subject_id = PROTO_SYSTEM_SUBJECT;
	p.data = msg_new_object();
	r->pending = pool_request(io, &p, REQ_QUICK, on_pool_metrics, s);
	msg_free(p.data);
	if (!r->pending)
		metrics_answer(io, s, NULL);
	else
		lws_set_timeout(s->wsi, PENDING_TIMEOUT_HTTP_CONTENT,
		    IO_QUICK_MS / 1000 + 30);
	return 0;
}

/*
 * The client's address for the log: the peer, or, when the peer is this
 * machine (a reverse proxy in front of io), the first address of its
 * X-Forwarded-For header.
 */
static void
client_address(struct lws *wsi, char *buf, size_t size)
{
	char fwd[128], *comma;

	lws_get_peer_simple(wsi, buf, size);
	if (strcmp(buf, "127.0.0.1") && strcmp(buf, "::1") &&
	    strcmp(buf, "::ffff:127.0.0.1"))
		return;
	if (lws_hdr_copy(wsi, fwd, sizeof(fwd),
	    WSI_TOKEN_X_FORWARDED_FOR) <= 0)
		return;
	comma = strchr(fwd, ',');
	if (comma)
		*comma = '\0';
	snprintf(buf, size, "%s", fwd + strspn(fwd, " "));
}

static void
log_request(struct lws *wsi, const char *path)
{
	char addr[128] = "?";

	if (log_get_level() > LOG_DEBUG)
		return;
	client_address(wsi, addr, sizeof(addr));
	log_debug("%s %s from %s", lws_hdr_total_length(wsi,
	    WSI_TOKEN_POST_URI) > 0 ? "POST" : "GET", path, addr);
}

int
http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct session *s = user;
	struct io *io = io_of(wsi);
	int n;

	/* Connections that fail before a session exists have no state. */
	if (!s)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		s->wsi = wsi;
		if (s->req)
			return -1;	/* a request while one is pending */
		if (lws_get_vhost(wsi) == io->metrics_vhost)
			return http_metrics_request(io, s, in);
		log_request(wsi, in);
		s->in_request = 1;
		n = on_request(io, s, in);
		s->in_request = 0;
		return n ? n : write_answer(s);
	case LWS_CALLBACK_HTTP_BODY:
		return on_body(io, s, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!s->req || s->req->refused)
			return 0;
		s->in_request = 1;
		body_complete(io, s);
		s->in_request = 0;
		return write_answer(s);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return write_answer(s);
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
		http_session_closed(io, s);
		return 0;
	default:
		break;
	}
	if (s->is_ws)
		return ws_callback(wsi, reason, s, in, len);
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		if (lws_get_vhost(wsi) == io->metrics_vhost)
			return -1;	/* no WebSockets on the metrics port */
		return ws_callback(wsi, reason, s, in, len);
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}
