#ifndef MEPHISTO_IO_H
#define MEPHISTO_IO_H

/*
 * mephisto-io: the worker-facing HTTP and WebSocket server of one task run
 * (DESIGN.md section 6).  One libwebsockets context, one thread, one event
 * loop: browser connections, the pool's Unix socket (adopted as a raw
 * socket), a signalfd and timers all run in it.  Nothing here blocks on the
 * network; the only blocking calls are small writes of uploaded files.
 *
 * Modules (one file each):
 *   main.c       options, the context, the loop, shutdown
 *   http.c       HTTP endpoints and static files
 *   multipart.c  a streaming multipart/form-data parser
 *   static.c     the run's static files, kept in memory
 *   upload.c     storing uploaded files under <run dir>/files/<agent id>/
 *   ws.c         the WebSocket protocol of the browser
 *   agent.c      what io knows about agents: socket, status, liveness
 *   pool.c       the connection to mephisto-pool and its pending requests
 *   pkt.c        packet envelopes (JSON) and small shared helpers
 *   smap.c       an intrusive string-keyed hash map
 */

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "buf.h"
#include "metrics.h"
#include "msg.h"

struct io;
struct ipc_conn;

/* Defaults of the options (bytes, milliseconds). */
#define IO_DEFAULT_MAX_BODY (2u * 1024 * 1024)
#define IO_DEFAULT_MAX_UPLOAD (16u * 1024 * 1024)
#define IO_DEFAULT_MAX_FILES 16
#define IO_PING_TIMEOUT_MS 15000	/* silent socket => disconnect */
#define IO_LOST_TIMEOUT_MS 10000	/* closed socket => disconnect */
#define IO_HEADER_BYTES 8192		/* a request's header table */
#define IO_SEND_BYTES (64u * 1024)	/* the most one send() is given */
#define IO_TICK_MS 250			/* sweep of deadlines and liveness */
#define IO_TRIM_BYTES (1 << 20)	/* free heap worth giving back */
#define IO_DRAIN_MS 2000		/* stopping: time to finish answers */
#define IO_AGENT_IDLE_MS (30 * 60 * 1000) /* forget socketless agents */

/* Limits on what io keeps in memory for peers that do not read. */
#define IO_WS_QUEUE_MAX (8u * 1024 * 1024)	/* per browser socket */
#define IO_UNSENT_MAX_FRAMES 512		/* per absent agent */
#define IO_POOL_QUEUE_MAX (256u * 1024 * 1024)	/* towards the pool */
#define IO_HOLD_MAX_FRAMES 4096	/* live updates held while pool is away */

struct io_opts {
	const char *run_id;
	const char *host;	/* listen address; NULL = 127.0.0.1 */
	int port;		/* 0 = any free port */
	size_t max_body;	/* request bytes other than uploaded files */
	size_t max_upload;	/* bytes of one uploaded file */
	unsigned max_files;	/* files in one request */
	int pool_timeout_ms;	/* deadline of a request to the pool */
	int ping_timeout_ms;
	int lost_timeout_ms;
	int metrics_port;	/* -1: no metrics listener; 0: any port */
};

/*
 * An outgoing frame with LWS_PRE bytes of headroom: the payload is
 * data[LWS_PRE .. LWS_PRE + len).  Frames are queued on a frameq.
 */
struct frame {
	struct frame *next;
	size_t len;
	unsigned char data[];
};

struct frameq {
	struct frame *head, *tail;
	size_t count;
	size_t bytes;
};

/* A frame holding a copy of LEN bytes of S. */
struct frame *frame_new(const void *s, size_t len);
void frameq_push(struct frameq *q, struct frame *f);
struct frame *frameq_pop(struct frameq *q);
void frameq_clear(struct frameq *q);

/*
 * smap: a string-keyed hash map whose entries live inside the caller's
 * structs (so adding one allocates nothing but a bigger bucket array now
 * and then).  The key string belongs to the entry's owner and must not
 * change while the entry is in the map.
 */
struct smap_entry {
	struct smap_entry *next;
	uint32_t hash;
	const char *key;
};

struct smap {
	struct smap_entry **buckets;
	size_t nbuckets;	/* a power of two, or 0 before the first put */
	size_t count;
};

#define SMAP_INIT { NULL, 0, 0 }

struct smap_entry *smap_get(const struct smap *m, const char *key);
/* Add E (E->key set; no entry with that key may be present). */
void smap_put(struct smap *m, struct smap_entry *e);
void smap_remove(struct smap *m, struct smap_entry *e);
/* Free the bucket array; the entries themselves are the caller's. */
void smap_release(struct smap *m);
/*
 * Call FN on every entry; FN may remove (and free) the entry it is given,
 * nothing else.
 */
void smap_each(struct smap *m, void (*fn)(struct smap_entry *, void *),
    void *arg);

/*
 * What io knows about one agent.  Created only for ids the pool has named
 * (in agent_details, update_status or client_bound_live_update), so
 * browsers cannot make io grow by inventing ids.
 */
struct agent {
	struct smap_entry ent;		/* key: id */
	char *id;
	char status[24];		/* the status the pool last pushed */
	struct session *conn;		/* its current socket, or NULL */
	int64_t seen_us;		/* last packet from its socket */
	int64_t lost_us;		/* when its socket went away, or 0 */
	int64_t touched_us;		/* last activity of any kind */
	unsigned had_socket:1;		/* a socket ever spoke for it */
	unsigned reported:1;		/* the pool was told "disconnect" */
	struct frameq unsent;		/* frames waiting for a socket */
};

/*
 * Per-connection state, allocated by libwebsockets for every connection of
 * the browser protocol, HTTP or WebSocket.  Kept small: a WebSocket that is
 * idle costs this struct and libwebsockets' own.
 */
struct session {
	struct lws *wsi;
	struct http_req *req;		/* HTTP: the request in progress */
	struct agent *agent;		/* WebSocket: the agent it speaks for */
	struct buf rx;			/* WebSocket: message being reassembled */
	struct frameq outq;		/* WebSocket: frames to send */
	struct session *flush_prev, *flush_next;	/* in io's flush list */
	unsigned is_ws:1;
	unsigned flush_queued:1;	/* in io's flush list */
	unsigned closing:1;		/* WebSocket: close after the queue */
	unsigned in_request:1;		/* HTTP: inside its request's callback */
};

/*
 * A request to the pool waiting for its reply.  FN is called exactly once:
 * with the reply packet (an "error" packet too), or with REPLY NULL and
 * ERR set when the deadline passed or the pool went away (the client may
 * retry then).  The packet is lent to FN for the duration of the call.
 */
typedef void pending_fn(struct io *io, void *arg, struct msg_packet *reply,
    const char *err);

struct pending {
	struct smap_entry ent;		/* key: id */
	char id[24];
	int kind;			/* metrics_kind() of its type */
	double t_client, t_in, t_out;	/* its stamps, for metrics */
	struct pending *prev, *next;	/* in deadline order */
	int64_t deadline_us;
	pending_fn *fn;			/* NULL: nobody waits for the reply */
	void *arg;			/* == the pending itself: cancelled */
};

enum pool_state {
	POOL_DOWN = 0,
	POOL_HELLO,		/* connected, waiting for the pool's hello */
	POOL_READY,
};

struct pool {
	char *path;			/* <run dir>/pool.sock */
	struct ipc_conn *conn;		/* framing and buffers, or NULL */
	struct lws *wsi;		/* its socket in the loop, or NULL */
	enum pool_state state;
	struct frameq hold;		/* live updates kept while down */
	struct buf scratch;		/* a packet being serialized */
	lws_sorted_usec_list_t retry;	/* reconnect timer */
	lws_sorted_usec_list_t rearm;	/* asks for the next writable */
	int backoff_ms;
	int failures;			/* failed attempts in a row */
	double last_ready;		/* epoch seconds the pool was last up */
	struct smap pending;		/* by request id */
	struct pending *first, *last;	/* by deadline */
};

/* What io counts for its metrics (metrics.c). */
#define IO_NR_KINDS 7
#define IO_NR_STAGES 5
#define IO_NR_CODES 10

struct io_metrics {
	struct histogram handler[IO_NR_KINDS];
	struct histogram e2e[IO_NR_KINDS][IO_NR_STAGES];
	uint64_t responses[IO_NR_CODES];
	long websockets;
};

struct io {
	struct io_opts opt;
	struct lws_context *ctx;
	void *loop;			/* libev loop */
	struct lws_vhost *vhost;
	int port;			/* the bound port */
	char *run_dir;
	char *static_dir;		/* as given */
	char *static_real;		/* realpath of static_dir */
	char *files_dir;		/* <run dir>/files */
	char *incoming_dir;		/* <run dir>/files/.incoming */
	struct pool pool;
	struct smap agents;
	struct buf ws_batch;		/* frames written to a socket at once */
	struct session *flush;		/* sessions to write (sessions_flush) */
	struct smap statics;		/* struct static_file by request path */
	size_t statics_bytes;		/* their bodies in memory */
	lws_sorted_usec_list_t tick;
	unsigned long ticks;
	size_t heap_free_low;		/* least free heap since last trim */
	int stop;
	uint64_t serial;		/* for unique names */
	struct io_metrics metrics;
	/*
	 * Stopping: answers already owed are written first (a worker whose
	 * work the pool committed hears "Submitted!"), for IO_DRAIN_MS at most.
	 */
	unsigned draining:1;
	int64_t drain_until_us;
	long live_reqs;			/* HTTP requests not yet answered */
	struct lws_vhost *metrics_vhost;	/* or NULL: no metrics */
	int metrics_port;		/* its bound port */
};

/* static.c: one static file of the run, found by its request path. */
struct static_file {
	struct smap_entry ent;		/* key: path */
	char *path;			/* as requested, e.g. "/index.html" */
	char *real;			/* where it is */
	const char *mime;
	struct stat st;			/* as it was when read */
	struct frame *body;		/* its bytes, or NULL: serve from disk */
};

/*
 * The file for request PATH inside the static folder, or NULL if there is
 * none (or PATH is not a name io serves).  Valid until the next
 * static_sweep().
 */
const struct static_file *static_find(struct io *io, const char *path);
/* Forget the files that changed on disk (each tick). */
void static_sweep(struct io *io);
void static_release(struct io *io);

/* The io of a connection. */
struct io *io_of(struct lws *wsi);

/* pkt.c: packets as frames, JSON error bodies, time. */

/* P as a WebSocket text frame: unformatted JSON, no newline. */
struct frame *frame_packet(const struct msg_packet *p);
/* A JSON error body {"error": MSG, "retryable": R}; caller frees. */
char *json_error_body(const char *msg, int retryable, size_t *len);
/* Monotonic time in microseconds, for deadlines. */
int64_t now_us(void);

/* Protocol callbacks (protocol table in main.c). */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len);
int ws_callback(struct lws *wsi, enum lws_callback_reasons reason,
    struct session *s, void *in, size_t len);
int pool_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len);

/* http.c: free the request state of a closing connection. */
void http_session_closed(struct io *io, struct session *s);
/* http.c: write the answer made outside the request's callback (flush). */
void http_flush(struct session *s);

/*
 * ws.c: queue text frame F (taken) to the browser socket of session C;
 * it is written when the loop next waits, or when the socket can take it.
 * Returns 0, or -1 when the queue is over its limit (the socket is then
 * closed).
 */
int ws_send(struct session *c, struct frame *f);
/*
 * Write, once the loop's callbacks are done, the frames ws_send() queued
 * and the HTTP answers made outside their request's callback (main loop).
 */
void sessions_flush(struct io *io);
/* Put C in (or take it out of) the list sessions_flush() writes. */
void session_flush_add(struct io *io, struct session *c);
void session_flush_unlink(struct io *io, struct session *c);

/* agent.c */
struct agent *agent_find(struct io *io, const char *id);
struct agent *agent_get(struct io *io, const char *id);	/* find or create */
void agent_free(struct io *io, struct agent *a);
void agent_free_all(struct io *io);
/*
 * Bind socket C to agent A (unbinding any previous socket); 1 if C was not
 * A's socket before.
 */
int agent_bind(struct io *io, struct agent *a, struct session *c);
/* Socket C closed or errored. */
void agent_socket_lost(struct io *io, struct session *c);
/* A packet arrived from A's socket: A is alive (tell the pool if needed). */
void agent_seen(struct io *io, struct agent *a);
/* Send frame F (taken) to A's socket, or keep it until A has one. */
void agent_deliver(struct io *io, struct agent *a, struct frame *f);
/* Statuses after which the pool no longer acts on an agent. */
int agent_status_final(const char *status);
/* Periodic sweep: report silent and lost sockets, forget idle agents. */
void agent_sweep(struct io *io);
/* Report agents known to be disconnected (after the pool came back). */
void agent_report_all(struct io *io);

/* pool.c */
void pool_init(struct io *io);
void pool_start(struct io *io);
void pool_release(struct io *io);
int pool_is_ready(struct io *io);
/*
 * Queue P to the pool, stamped with router_outgoing_timestamp; it is
 * written by pool_flush().  Returns 0, or -1 when the pool is not
 * connected or its queue is full.
 */
int pool_send(struct io *io, struct msg_packet *p);
/*
 * Write what was queued to the pool since the loop last waited (main
 * loop); what the socket does not take waits for its writable callback.
 */
void pool_flush(struct io *io);
/*
 * Send P as a request: give it a fresh request_id (also written into P's
 * data with REQ_DATA_ID, and as its subject_id with REQ_SUBJECT_ID; P then
 * borrows the id from the pending request), and call FN (if not NULL)
 * when the reply comes or the deadline passes.  Returns the pending
 * request, or NULL when the pool cannot be reached now (FN is not called).
 */
enum pool_req_flags {
	REQ_DATA_ID = 1 << 0,
	REQ_SUBJECT_ID = 1 << 1,
	REQ_QUICK = 1 << 2,	/* a deadline of IO_QUICK_MS at most */
};
#define IO_QUICK_MS 2000
struct pending *pool_request(struct io *io, struct msg_packet *p,
    unsigned flags, pending_fn *fn, void *arg);
/* Forget the caller of P: its reply will be dropped. */
void pool_cancel(struct pending *p);
/* Hold a live update for the pool while it is away (sent on return). */
void pool_hold(struct io *io, struct msg_packet *p);
/* Fail requests whose deadline has passed. */
void pool_sweep(struct io *io);
/* Epoch milliseconds to report as last_mephisto_ping. */
double pool_last_ping_ms(struct io *io);

/* metrics.c */
/* The index of PACKET_TYPE among the metrics' packet types, or -1. */
int metrics_kind(const char *packet_type);
/* Request R got REPLY: observe its latencies. */
void metrics_request_done(struct io *io, const struct pending *r,
    const struct msg_packet *reply);
/* An API answer with STATUS was sent. */
void metrics_response(struct io *io, int status);
/* Append io's metrics to B. */
void metrics_io_text(struct io *io, struct buf *b);
/* Write <run dir>/metrics.port. */
int metrics_write_port(struct io *io);
/* http.c: answer a request on the metrics listener. */
int http_metrics_request(struct io *io, struct session *s,
    const char *path);

/* main.c: stop once draining and no answer is owed any more. */
void io_drained_check(struct io *io);

/*
 * mem.c: request header tables (IO_HEADER_BYTES each) outside the main
 * heap.  Call before any other libwebsockets call.
 */
void io_mem_init(void);

#endif
