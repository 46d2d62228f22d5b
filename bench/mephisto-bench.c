#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

/*
 * mephisto-bench: a load generator that speaks the browser protocol of
 * mephisto-io (facts section 3) over real TCP on loopback.  One thread,
 * one epoll loop, non-blocking sockets, HTTP/1.1 keep-alive and a minimal
 * WebSocket client (masked text frames).  It prints one line of
 * key=value figures per run; bench/run.sh repeats runs and summarises.
 *
 * Modes:
 *   register  POST /request_agent, each with a new worker name; the agent
 *             ids granted are appended to --agents FILE
 *   submit    POST /submit_task for each agent id read from --agents FILE,
 *             which then keeps only the ids not used: each repetition
 *             submits agents that have never submitted
 *   static    GET --path
 *   ws-echo   heartbeats on WebSockets, timed until io echoes them; with
 *             --rate the sockets share an open-loop schedule, without it
 *             each socket keeps --window heartbeats in flight
 *   ws-live   live updates on WebSockets, one socket per agent id read
 *             from --agents FILE (agents of a live task whose runner
 *             echoes updates), timed until the runner's answer arrives;
 *             --rate and --window as for ws-echo
 *   ws-hold   open the WebSockets, send alive and a heartbeat every
 *             --interval seconds, and hold them for the duration
 *
 * Latencies are from the first byte of a request written to its whole
 * answer read.  cpu= is the generator's own CPU use over the run
 * (user + system time / wall time; 1.0 is one core saturated).
 *
 * ws-echo and ws-live measure the steady state: the run starts once
 * every socket is up and --warmup seconds have passed, and lasts -d
 * seconds from there; packets sent before it are answered but not
 * counted.  --pids names processes (io, pool) whose CPU use over the
 * measured run is printed too (pids_cpu=, and pids_wait= for the time
 * they were runnable but waited for a CPU, both in cores, comma
 * separated in the order given).
 */

static const char usage_text[] =
"usage: mephisto-bench [options] MODE HOST:PORT\n"
"\n"
"MODE: register, submit, static, ws-echo, ws-live or ws-hold\n"
"\n"
"  -c N             connections (default 16)\n"
"  -d SECONDS       run this long (default 3)\n"
"  -n N             stop after N answers (default: no limit)\n"
"  --agents FILE    register: append agent ids; ws-live: read them;\n"
"                   submit: take them, leaving the ids not used\n"
"  --path PATH      static: the page to get (default /)\n"
"  --rate R         ws-echo, ws-live: packets per second over all sockets\n"
"  --window W       ws-echo, ws-live without --rate: packets in flight per\n"
"                   socket (default 4)\n"
"  --warmup S       ws-echo, ws-live: seconds between every socket up and\n"
"                   the measured run (default 0.5)\n"
"  --pids LIST      report the CPU use of these processes over the run\n"
"  --interval S     ws-hold: seconds between heartbeats (default 5)\n"
"  --ready FILE     ws-hold: write a line to FILE once every socket is up\n";

enum mode { M_REGISTER, M_SUBMIT, M_STATIC, M_WS_ECHO, M_WS_LIVE, M_WS_HOLD };

/* WebSocket modes, and those that time an answer to each packet. */
#define IS_WS(m) ((m) >= M_WS_ECHO)
#define ECHOES(m) ((m) == M_WS_ECHO || (m) == M_WS_LIVE)

#define RING 64			/* in-flight send times per connection */
#define CONNECT_SECONDS 30	/* ws-echo, ws-live: for every socket up */

struct conn {
	int fd;
	int up;			/* 0 connecting, 2 upgrading, 1 ready */
	int busy;		/* an HTTP request is in flight */
	struct buf in, out;
	double sent[RING];	/* send times of requests in flight */
	unsigned head, nr;
	double next_beat;	/* ws-hold */
	char *agent;		/* submit: the agent of the request in flight;
				   ws-live: the socket's agent */
};

struct bench {
	enum mode mode;
	struct sockaddr_in addr;
	char hostport[64];
	int nconn, window;
	double duration, rate, interval;
	long limit;
	const char *agents_path, *path, *ready_path;
	FILE *agents_out;
	char **agents;		/* submit: ids to use */
	size_t nr_agents, next_agent;
	struct conn *conns;
	int epfd;
	double start, end;
	double warmup;
	double measure_from;	/* start of the measured run, 0: not yet */
	int measuring;		/* the measured run has started */
	double cpu0;		/* own CPU seconds at its start */
	int npids;
	long pids[8];
	double pid_run[8], pid_wait[8];	/* at its start, then the use */
	long sent, answers, errors, closed, opened;
	double *lat;		/* microseconds */
	size_t nr_lat, alloc_lat;
	long seq;
	int all_up;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
wall_epoch(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
record(struct bench *b, struct conn *c)
{
	double t;

	if (!c->nr)
		return;
	t = c->sent[c->head];
	c->head = (c->head + 1) % RING;
	c->nr--;
	if (!b->measure_from || t < b->measure_from)
		return;		/* sent before the measured run */
	ALLOC_GROW(b->lat, b->nr_lat + 1, b->alloc_lat);
	b->lat[b->nr_lat++] = (now() - t) * 1e6;
	b->answers++;
}

static void
push_time(struct conn *c)
{
	if (c->nr == RING)
		return;
	c->sent[(c->head + c->nr) % RING] = now();
	c->nr++;
}

static void
watch(struct bench *b, struct conn *c)
{
	struct epoll_event ev;

	ev.events = EPOLLIN | (c->out.len || c->up == 0 ? EPOLLOUT : 0);
	ev.data.ptr = c;
	epoll_ctl(b->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static int
conn_open(struct bench *b, struct conn *c)
{
	struct epoll_event ev;
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (c->fd < 0)
		return error_errno("cannot create a socket");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&b->addr, sizeof(b->addr)) &&
	    errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return error_errno("cannot connect to %s", b->hostport);
	}
	c->up = 0;
	c->busy = 0;
	c->nr = 0;
	buf_reset(&c->in);
	buf_reset(&c->out);
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = c;
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, c->fd, &ev))
		return error_errno("cannot watch a socket");
	b->opened++;
	return 0;
}

static void
conn_close(struct bench *b, struct conn *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	b->closed++;
	free(c->agent);
	c->agent = NULL;
}

static void
flush_out(struct bench *b, struct conn *c)
{
	ssize_t n;

	while (c->out.len) {
		n = send(c->fd, c->out.buf, c->out.len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_remove_front(&c->out, (size_t)n);
	}
	watch(b, c);
}

/* --- HTTP --- */

static int
stopping(struct bench *b)
{
	return now() >= b->end || (b->limit && b->sent >= b->limit);
}

static void
http_post(struct bench *b, struct conn *c, const char *path,
    const char *body)
{
	buf_addf(&c->out, "POST %s HTTP/1.1\r\nHost: %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    path, b->hostport, strlen(body), body);
}

/* Queue the next request on C; 0 when there is none to send. */
static int
http_next(struct bench *b, struct conn *c)
{
	char *body;

	if (stopping(b))
		return 0;
	switch (b->mode) {
	case M_REGISTER:
		b->seq++;
		body = xasprintf("{\"provider_data\": {\"worker_name\": "
		    "\"bench-%ld-%ld\", \"agent_registration_id\": "
		    "\"bench-%ld-%ld\", \"assignment_id\": \"bench-%ld\", "
		    "\"provider_type\": \"mock\"}, \"client_timestamp\": %.6f}",
		    (long)getpid(), b->seq, (long)getpid(), b->seq, b->seq,
		    wall_epoch());
		http_post(b, c, "/request_agent", body);
		free(body);
		break;
	case M_SUBMIT:
		if (b->next_agent == b->nr_agents)
			return 0;
		c->agent = xstrdup(b->agents[b->next_agent++]);
		body = xasprintf("{\"USED_AGENT_ID\": \"%s\", \"final_data\": "
		    "{\"rating\": \"good\", \"comment\": \"from the load "
		    "generator\"}, \"client_timestamp\": %.6f}", c->agent,
		    wall_epoch());
		http_post(b, c, "/submit_task", body);
		free(body);
		break;
	default:
		buf_addf(&c->out, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
		    b->path, b->hostport);
		break;
	}
	c->busy = 1;
	b->sent++;
	push_time(c);
	flush_out(b, c);
	return 1;
}

/*
 * The length of a whole response at the start of IN, 0 while it is
 * incomplete, -1 when it cannot be parsed.  *STATUS and *BODY are set.
 */
static long
http_response(const struct buf *in, int *status, const char **body)
{
	const char *end = strstr(in->buf, "\r\n\r\n"), *h, *z;
	long clen = -1, hlen;

	if (!end)
		return 0;
	if (strncmp(in->buf, "HTTP/1.", 7))
		return -1;
	*status = atoi(in->buf + 9);
	hlen = end + 4 - in->buf;
	*body = end + 4;
	for (h = strstr(in->buf, "\r\n"); h && h < end;
	    h = strstr(h + 2, "\r\n")) {
		if (!strncasecmp(h + 2, "content-length:", 15))
			clen = atol(h + 17);
		else if (!strncasecmp(h + 2, "transfer-encoding:", 18) &&
		    strstr(h + 2, "chunked") && strstr(h + 2, "chunked") < end)
			clen = -2;
	}
	if (clen >= 0)
		return (size_t)(hlen + clen) <= in->len ? hlen + clen : 0;
	if (clen == -2) {
		z = strstr(*body, "\r\n0\r\n\r\n");
		if (!z && !strncmp(*body, "0\r\n\r\n", 5))
			return hlen + 5;
		return z ? (long)(z + 7 - in->buf) : 0;
	}
	return hlen;
}

static void
http_answer(struct bench *b, struct conn *c, int status, const char *body)
{
	const char *p, *q;
	int ok = status == 200;

	if (ok && b->mode == M_REGISTER) {
		p = strstr(body, "\"agent_id\":\"");
		ok = p != NULL;
		if (ok && b->agents_out) {
			p += 12;
			q = strchr(p, '"');
			if (q)
				fprintf(b->agents_out, "%.*s\n", (int)(q - p),
				    p);
		}
	}
	if (!ok)
		b->errors++;
	free(c->agent);
	c->agent = NULL;
}

static void
http_read(struct bench *b, struct conn *c)
{
	const char *body;
	int status;
	long n;

	for (;;) {
		n = http_response(&c->in, &status, &body);
		if (n < 0) {
			b->errors++;
			conn_close(b, c);
			return;
		}
		if (!n)
			return;
		record(b, c);
		{
			char save = c->in.buf[n];

			c->in.buf[n] = '\0';
			http_answer(b, c, status, body);
			c->in.buf[n] = save;
		}
		buf_remove_front(&c->in, (size_t)n);
		c->busy = 0;
		if (!http_next(b, c) && !c->busy)
			conn_close(b, c);
	}
}

/* --- WebSocket --- */

static void
ws_frame(struct conn *c, const char *s, size_t len)
{
	unsigned char h[14];
	uint32_t mask = (uint32_t)rand();
	unsigned char *m = (unsigned char *)&mask;
	size_t n = 0, i, at;

	h[n++] = 0x81;		/* FIN, text */
	if (len < 126) {
		h[n++] = 0x80 | (unsigned char)len;
	} else if (len < 65536) {
		h[n++] = 0x80 | 126;
		h[n++] = (unsigned char)(len >> 8);
		h[n++] = (unsigned char)len;
	} else {
		h[n++] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			h[n++] = (unsigned char)((uint64_t)len >>
			    (56 - 8 * i));
	}
	memcpy(h + n, m, 4);
	n += 4;
	buf_add(&c->out, h, n);
	at = c->out.len;
	buf_add(&c->out, s, len);
	for (i = 0; i < len; i++)
		c->out.buf[at + i] ^= m[i & 3];
}

static void
ws_send_packet(struct bench *b, struct conn *c, const char *type)
{
	char *s;

	if (c->agent)
		s = xasprintf("{\"packet_type\": \"%s\", \"subject_id\": "
		    "\"%s\", \"data\": {}, \"client_timestamp\": %.6f}", type,
		    c->agent, wall_epoch());
	else
		s = xasprintf("{\"packet_type\": \"%s\", \"subject_id\": "
		    "\"bench-agent-%ld\", \"data\": {}, "
		    "\"client_timestamp\": %.6f}", type, (long)(c - b->conns),
		    wall_epoch());
	ws_frame(c, s, strlen(s));
	free(s);
}

/* ws-echo: a heartbeat; ws-live: a live update for the runner. */
static void
ws_heartbeat(struct bench *b, struct conn *c)
{
	char *s;

	if (b->mode == M_WS_LIVE) {
		s = xasprintf("{\"packet_type\": "
		    "\"mephisto_bound_live_update\", \"subject_id\": \"%s\", "
		    "\"data\": {\"update_id\": \"b%ld-%ld\", \"text\": "
		    "\"benchmark\"}, \"client_timestamp\": %.6f}", c->agent,
		    (long)getpid(), ++b->seq, wall_epoch());
		ws_frame(c, s, strlen(s));
		free(s);
	} else {
		ws_send_packet(b, c, "heartbeat");
	}
	push_time(c);
	b->sent++;
}

/* Frames from the server: unmasked.  Returns bytes used, 0, or -1. */
static long
ws_parse(const struct buf *in, int *opcode)
{
	const unsigned char *p = (const unsigned char *)in->buf;
	uint64_t len;
	size_t h = 2, i;

	if (in->len < 2)
		return 0;
	*opcode = p[0] & 0x0f;
	len = p[1] & 0x7f;
	if (len == 126) {
		if (in->len < 4)
			return 0;
		len = (uint64_t)p[2] << 8 | p[3];
		h = 4;
	} else if (len == 127) {
		if (in->len < 10)
			return 0;
		for (len = 0, i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		h = 10;
	}
	if (p[1] & 0x80)
		h += 4;
	if (in->len < h + len)
		return 0;
	return (long)(h + len);
}

static void
ws_read(struct bench *b, struct conn *c)
{
	char *end;
	long n;
	int opcode;

	if (c->up != 1) {
		end = strstr(c->in.buf, "\r\n\r\n");
		if (!end)
			return;
		if (strncmp(c->in.buf, "HTTP/1.1 101", 12)) {
			b->errors++;
			conn_close(b, c);
			return;
		}
		buf_remove_front(&c->in, (size_t)(end + 4 - c->in.buf));
		c->up = 1;
		ws_send_packet(b, c, "alive");
		if (b->mode == M_WS_HOLD) {
			ws_heartbeat(b, c);
			c->next_beat = now() + b->interval *
			    (0.5 + (double)rand() / RAND_MAX);
		} else if (!b->rate) {
			while (c->nr < (unsigned)b->window)
				ws_heartbeat(b, c);
		}
		flush_out(b, c);
	}
	while ((n = ws_parse(&c->in, &opcode)) > 0) {
		if (opcode == 1 && memmem(c->in.buf, (size_t)n,
		    b->mode == M_WS_LIVE ? "client_bound_live_update" :
		    "\"heartbeat\"", b->mode == M_WS_LIVE ? 24 : 11))
			record(b, c);
		else if (opcode == 8) {
			b->errors++;
			conn_close(b, c);
			return;
		}
		buf_remove_front(&c->in, (size_t)n);
		if (ECHOES(b->mode) && !b->rate && !stopping(b)) {
			ws_heartbeat(b, c);
			flush_out(b, c);
		}
	}
	if (n < 0) {
		b->errors++;
		conn_close(b, c);
	}
}

static void
ws_start(struct bench *b, struct conn *c)
{
	buf_addf(&c->out, "GET / HTTP/1.1\r\nHost: %s\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: bWVwaGlzdG8tYmVuY2gtMDE=\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", b->hostport);
	flush_out(b, c);
}

/* --- the loop --- */

static void
on_event(struct bench *b, struct conn *c, uint32_t events)
{
	char chunk[65536];
	ssize_t n;

	if (!c->up && (events & EPOLLOUT) && !(events & (EPOLLERR |
	    EPOLLHUP))) {
		if (IS_WS(b->mode)) {
			c->up = 2;
			ws_start(b, c);
		} else {
			c->up = 1;
			if (!http_next(b, c))
				conn_close(b, c);
		}
		if (c->fd < 0)
			return;
	}
	if (events & EPOLLOUT)
		flush_out(b, c);
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		for (;;) {
			n = recv(c->fd, chunk, sizeof(chunk), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0) {
				if (c->busy || c->nr)
					b->errors++;
				conn_close(b, c);
				return;
			}
			buf_add(&c->in, chunk, (size_t)n);
			if ((size_t)n < sizeof(chunk))
				break;
		}
		if (IS_WS(b->mode))
			ws_read(b, c);
		else
			http_read(b, c);
	}
}

/* ws-echo with --rate: send what the schedule says is due by now. */
static void
pace(struct bench *b, double t, long *due_sent)
{
	struct conn *c;
	static int next;
	long due;

	/* The schedule starts once every socket is up. */
	if (!b->measure_from)
		return;
	due = (long)((t - (b->measure_from - b->warmup)) * b->rate);

	while (*due_sent < due) {
		c = &b->conns[next++ % b->nconn];
		(*due_sent)++;
		if (c->fd < 0 || c->up != 1)
			continue;
		ws_heartbeat(b, c);
		flush_out(b, c);
	}
}

static void
hold_beats(struct bench *b, double t)
{
	int i, up = 0;
	FILE *f;

	for (i = 0; i < b->nconn; i++) {
		struct conn *c = &b->conns[i];

		if (c->fd < 0 || c->up != 1)
			continue;
		up++;
		if (t >= c->next_beat) {
			ws_heartbeat(b, c);
			flush_out(b, c);
			c->next_beat = t + b->interval;
		}
	}
	if (!b->all_up && up == b->nconn) {
		b->all_up = 1;
		if (b->ready_path && (f = fopen(b->ready_path, "w"))) {
			fprintf(f, "%d\n", up);
			fclose(f);
		}
	}
}

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;

	return a < c ? -1 : a > c;
}

static double
pct(const double *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i] / 1000.0;
}

static int
load_agents(struct bench *b)
{
	struct buf all = BUF_INIT;
	size_t alloc = 0;
	char *p, *nl;

	if (buf_read_file(&all, b->agents_path, 0) < 0)
		return error_errno("cannot read '%s'", b->agents_path);
	for (p = all.buf; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		if (nl > p) {
			ALLOC_GROW(b->agents, b->nr_agents + 1, alloc);
			b->agents[b->nr_agents++] = xstrndup(p,
			    (size_t)(nl - p));
		}
	}
	buf_release(&all);
	return 0;
}

/* submit: leave in the agents file only the ids not submitted. */
static int
save_unused_agents(struct bench *b)
{
	char *tmp = xasprintf("%s.tmp", b->agents_path);
	FILE *f = fopen(tmp, "w");
	size_t i;

	if (!f) {
		free(tmp);
		return error_errno("cannot write '%s'", b->agents_path);
	}
	for (i = b->next_agent; i < b->nr_agents; i++)
		fprintf(f, "%s\n", b->agents[i]);
	if (fclose(f) || rename(tmp, b->agents_path) < 0) {
		unlink(tmp);
		free(tmp);
		return error_errno("cannot write '%s'", b->agents_path);
	}
	free(tmp);
	return 0;
}

static int
parse_target(struct bench *b, const char *s)
{
	const char *colon = strrchr(s, ':');
	char host[64];

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(&b->addr, 0, sizeof(b->addr));
	b->addr.sin_family = AF_INET;
	b->addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &b->addr.sin_addr) != 1)
		return -1;
	snprintf(b->hostport, sizeof(b->hostport), "%s", s);
	return 0;
}

static void
parse_pids(struct bench *b, const char *s)
{
	char *end;

	for (b->npids = 0; *s; s = *end ? end + 1 : end) {
		if (b->npids == (int)ARRAY_SIZE(b->pids))
			die("--pids: at most %zu processes", ARRAY_SIZE(b->pids));
		b->pids[b->npids++] = strtol(s, &end, 10);
		if (end == s || (*end && *end != ','))
			die("--pids: '%s' is not a list of process ids", s);
	}
}

/* Nanoseconds PID has run and has waited to run (/proc/PID/schedstat). */
static void
sched_of(long pid, double *run, double *wait)
{
	char path[64];
	FILE *f;

	*run = *wait = 0;
	snprintf(path, sizeof(path), "/proc/%ld/schedstat", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%lf %lf", run, wait) != 2)
		*run = *wait = 0;
	fclose(f);
}

/* The measured run starts (at T): take the CPU readings it is from. */
static void
begin_measuring(struct bench *b)
{
	int i;

	b->measuring = 1;
	b->cpu0 = cpu_seconds();
	for (i = 0; i < b->npids; i++)
		sched_of(b->pids[i], &b->pid_run[i], &b->pid_wait[i]);
}

/* Append the CPU use of --pids over ELAPSED seconds to the line. */
static void
print_pids(struct bench *b, double elapsed)
{
	double run, wait;
	int i;

	if (!b->npids)
		return;
	for (i = 0; i < b->npids; i++) {
		sched_of(b->pids[i], &run, &wait);
		b->pid_run[i] = (run - b->pid_run[i]) / 1e9 / elapsed;
		b->pid_wait[i] = (wait - b->pid_wait[i]) / 1e9 / elapsed;
	}
	for (i = 0; i < b->npids; i++)
		printf("%s%.3f", i ? "," : " pids_cpu=", b->pid_run[i]);
	for (i = 0; i < b->npids; i++)
		printf("%s%.3f", i ? "," : " pids_wait=", b->pid_wait[i]);
}

static void
usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	exit(status);
}

static void
parse_args(struct bench *b, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "agents", required_argument, NULL, 'a' },
		{ "path", required_argument, NULL, 'p' },
		{ "rate", required_argument, NULL, 'r' },
		{ "window", required_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, 'i' },
		{ "ready", required_argument, NULL, 'R' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "pids", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *m;
	int ch;

	b->nconn = 16;
	b->duration = 3;
	b->window = 4;
	b->interval = 5;
	b->warmup = 0.5;
	b->path = "/";
	while ((ch = getopt_long(argc, argv, "c:d:n:h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'a': b->agents_path = optarg; break;
		case 'c': b->nconn = atoi(optarg); break;
		case 'd': b->duration = atof(optarg); break;
		case 'h': usage(0); break;
		case 'i': b->interval = atof(optarg); break;
		case 'n': b->limit = atol(optarg); break;
		case 'p': b->path = optarg; break;
		case 'r': b->rate = atof(optarg); break;
		case 'R': b->ready_path = optarg; break;
		case 'w': b->window = atoi(optarg); break;
		case 'W': b->warmup = atof(optarg); break;
		case 'P': parse_pids(b, optarg); break;
		default: usage(2);
		}
	}
	if (argc - optind != 2 || b->nconn < 1 || b->window < 1 ||
	    b->window > RING)
		usage(2);
	m = argv[optind];
	if (!strcmp(m, "register"))
		b->mode = M_REGISTER;
	else if (!strcmp(m, "submit"))
		b->mode = M_SUBMIT;
	else if (!strcmp(m, "static"))
		b->mode = M_STATIC;
	else if (!strcmp(m, "ws-echo"))
		b->mode = M_WS_ECHO;
	else if (!strcmp(m, "ws-live"))
		b->mode = M_WS_LIVE;
	else if (!strcmp(m, "ws-hold"))
		b->mode = M_WS_HOLD;
	else
		usage(2);
	if (parse_target(b, argv[optind + 1]) < 0)
		die("'%s' is not an IPv4 HOST:PORT", argv[optind + 1]);
	if ((b->mode == M_SUBMIT || b->mode == M_WS_LIVE) && !b->agents_path)
		die("%s needs --agents FILE", m);
}

int
main(int argc, char **argv)
{
	struct bench b;
	struct epoll_event evs[256];
	struct rlimit rl;
	double t, elapsed;
	long due_sent = 0;
	int i, n, live, up;

	log_init("mephisto-bench");
	memset(&b, 0, sizeof(b));
	parse_args(&b, argc, argv);
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((b.mode == M_SUBMIT || b.mode == M_WS_LIVE) && load_agents(&b) < 0)
		return 1;
	if (b.mode == M_WS_LIVE && b.nr_agents < (size_t)b.nconn)
		die("ws-live: %zu agents in '%s' for %d sockets", b.nr_agents,
		    b.agents_path, b.nconn);
	if (b.mode == M_REGISTER && b.agents_path) {
		b.agents_out = fopen(b.agents_path, "a");
		if (!b.agents_out)
			die_errno("cannot open '%s'", b.agents_path);
	}
	srand((unsigned)getpid());
	b.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b.epfd < 0)
		die_errno("cannot create an epoll set");
	b.conns = xcalloc((size_t)b.nconn, sizeof(*b.conns));
	b.start = now();
	b.end = b.start + b.duration;
	if (ECHOES(b.mode)) {
		/* until every socket is up; then the measured run is set */
		b.end += CONNECT_SECONDS;
	} else {
		b.measure_from = b.start;
		begin_measuring(&b);
	}
	for (i = 0; i < b.nconn; i++) {
		buf_init(&b.conns[i].in);
		buf_init(&b.conns[i].out);
		if (b.mode == M_WS_LIVE)
			b.conns[i].agent = xstrdup(b.agents[i]);
		if (conn_open(&b, &b.conns[i]) < 0)
			die("cannot open connection %d of %d", i + 1, b.nconn);
	}
	for (;;) {
		t = now();
		if (t >= b.end + (IS_WS(b.mode) ? 0 : 5))
			break;
		for (live = up = 0, i = 0; i < b.nconn; i++) {
			live += b.conns[i].fd >= 0;
			up += b.conns[i].fd >= 0 && b.conns[i].up == 1;
		}
		if (!live)
			break;
		if (ECHOES(b.mode) && !b.measure_from && up == b.nconn) {
			b.measure_from = t + b.warmup;
			b.end = b.measure_from + b.duration;
		}
		if (b.measure_from && !b.measuring && t >= b.measure_from)
			begin_measuring(&b);
		if (ECHOES(b.mode) && b.rate && t < b.end)
			pace(&b, t, &due_sent);
		if (b.mode == M_WS_HOLD)
			hold_beats(&b, t);
		if (ECHOES(b.mode) && t >= b.end)
			break;
		n = epoll_wait(b.epfd, evs, ARRAY_SIZE(evs),
		    ECHOES(b.mode) && b.rate ? 0 : 10);
		if (n < 0 && errno != EINTR)
			die_errno("epoll_wait");
		for (i = 0; i < n; i++)
			on_event(&b, evs[i].data.ptr, evs[i].events);
		if (ECHOES(b.mode) && b.rate && n == 0)
			usleep(50);
	}
	if (!b.measuring)
		die("not every socket came up within %d s", CONNECT_SECONDS);
	elapsed = now() - b.measure_from;
	if (elapsed > b.duration && b.mode != M_REGISTER &&
	    b.mode != M_SUBMIT && b.mode != M_STATIC)
		elapsed = b.duration;
	qsort(b.lat, b.nr_lat, sizeof(*b.lat), cmp_double);
	for (live = 0, i = 0; i < b.nconn; i++)
		live += b.conns[i].fd >= 0 && b.conns[i].up == 1;
	printf("mode=%s conns=%d up=%d sent=%ld answers=%ld errors=%ld "
	    "secs=%.3f rate=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
	    "max_ms=%.3f cpu=%.2f", argv[optind], b.nconn, live, b.sent,
	    b.answers, b.errors, elapsed, (double)b.answers / elapsed,
	    pct(b.lat, b.nr_lat, 0.5), pct(b.lat, b.nr_lat, 0.9),
	    pct(b.lat, b.nr_lat, 0.99), pct(b.lat, b.nr_lat, 1.0),
	    (cpu_seconds() - b.cpu0) / elapsed);
	print_pids(&b, elapsed);
	putchar('\n');
	for (i = 0; i < b.nconn; i++) {
		if (b.conns[i].fd >= 0)
			close(b.conns[i].fd);
		buf_release(&b.conns[i].in);
		buf_release(&b.conns[i].out);
		free(b.conns[i].agent);
	}
	if (b.mode == M_SUBMIT && save_unused_agents(&b) < 0)
		return 1;
	for (i = 0; (size_t)i < b.nr_agents; i++)
		free(b.agents[i]);
	free(b.agents);
	free(b.conns);
	free(b.lat);
	if (b.agents_out && fclose(b.agents_out))
		die_errno("cannot write '%s'", b.agents_path);
	close(b.epfd);
	return fflush(stdout) ? 1 : 0;
}
