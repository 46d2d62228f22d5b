/*
 * Drive lib/ipc (and lib/loop underneath a server) from the bats tests.
 *
 *   test-ipc serve [options] SOCK
 *	Listen on SOCK, signal readiness, and serve until SIGTERM or a
 *	"shutdown" request.  Requests: "echo" (replies "echo_reply" with the
 *	same data after data.delay_ms, preceded by an "event" packet when
 *	data.with_event), "fail" (an error reply), "stall" (never answered),
 *	"shutdown".  Logs what it refuses on stderr.
 *
 *   test-ipc client [options] SOCK hello
 *   test-ipc client [options] SOCK request TYPE [DATA]
 *   test-ipc client [options] SOCK late-reply
 *   test-ipc client [options] SOCK oversize BYTES
 *   test-ipc client [options] SOCK flood COUNT BYTES
 *
 * Options: --program NAME (announced in hello), --version N (announced
 * protocol version), --max-line N, --timeout MS, --as-uid UID (client:
 * switch user before connecting).  The client exits 3 when the daemon is
 * unreachable, 1 on other failures.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "loop.h"
#include "msg.h"
#include "proc.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

static const char *opt_program = "test-ipc";
static int opt_version = PROTO_VERSION;
static size_t opt_max_line;
static int opt_timeout = 5000;
static long opt_uid = -1;

struct server;

struct client {
	struct server *srv;
	struct ipc_conn *c;
	int hello_done;
	int closing;		/* close once the output is written */
	struct delayed **delayed;	/* replies waiting for their timer */
	size_t delayed_nr, delayed_alloc;
	struct client *next;
};

struct server {
	struct loop *loop;
	int lfd;
	struct client *clients;
};

struct delayed {
	struct client *cl;
	long long timer;
	struct msg_packet reply;	/* data owned by .data */
	cJSON *data;
	char *request_id;
};

static void
delayed_free(struct delayed *d)
{
	msg_free(d->data);
	free(d->request_id);
	free(d);
}

static void
client_close(struct client *cl)
{
	struct client **pp;
	size_t i;

	for (pp = &cl->srv->clients; *pp; pp = &(*pp)->next)
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	for (i = 0; i < cl->delayed_nr; i++) {
		loop_del_timer(cl->srv->loop, cl->delayed[i]->timer);
		delayed_free(cl->delayed[i]);
	}
	free(cl->delayed);
	loop_del_fd(cl->srv->loop, cl->c->fd);
	ipc_conn_free(cl->c);
	free(cl);
}

/* Watch for writability only while output is queued. */
static void
client_update(struct client *cl)
{
	int ev = cl->closing ? 0 : LOOP_READ;

	if (ipc_conn_out_pending(cl->c))
		ev |= LOOP_WRITE;
	if (cl->closing && !ev) {
		client_close(cl);
		return;
	}
	loop_set_events(cl->srv->loop, cl->c->fd, ev);
}

static long
on_delayed(struct loop *l, long long id, void *arg)
{
	struct delayed *d = arg;
	struct client *cl = d->cl;
	size_t i;

	for (i = 0; i < cl->delayed_nr; i++)
		if (cl->delayed[i] == d)
			cl->delayed[i] = cl->delayed[--cl->delayed_nr];
	ipc_conn_queue_packet(cl->c, &d->reply);
	delayed_free(d);
	client_update(cl);
	return LOOP_NOMORE;
}

static void
reply_echo(struct client *cl, const struct msg_packet *p)
{
	struct delayed *d = xcalloc(1, sizeof(*d));
	int64_t delay = 0;
	int with_event = 0;

	msg_opt_int(p->data, "delay_ms", 0, &delay, NULL);
	msg_opt_bool(p->data, "with_event", 0, &with_event, NULL);
	if (with_event) {
		struct msg_packet ev = MSG_PACKET_INIT;

		ev.packet_type = PT_EVENT;
		ev.subject_id = PROTO_SYSTEM_SUBJECT;
		ipc_conn_queue_packet(cl->c, &ev);
	}
	d->cl = cl;
	d->data = msg_dup(p->data);
	d->request_id = p->request_id ? xstrdup(p->request_id) : NULL;
	d->reply.packet_type = "echo_reply";
	d->reply.subject_id = PROTO_SYSTEM_SUBJECT;
	d->reply.request_id = d->request_id;
	d->reply.data = d->data;
	if (!delay) {
		ipc_conn_queue_packet(cl->c, &d->reply);
		delayed_free(d);
		return;
	}
	d->timer = loop_add_timer(cl->srv->loop, (long)delay, on_delayed, d);
	ALLOC_GROW(cl->delayed, cl->delayed_nr + 1, cl->delayed_alloc);
	cl->delayed[cl->delayed_nr++] = d;
}

static void
reply_ack(struct client *cl, const struct msg_packet *p)
{
	struct msg_packet ack = MSG_PACKET_INIT;

	ack.packet_type = PT_ACK;
	ack.subject_id = PROTO_SYSTEM_SUBJECT;
	ack.request_id = p->request_id;
	ipc_conn_queue_packet(cl->c, &ack);
}

static void
handle_packet(struct client *cl, const struct msg_packet *p)
{
	char *why = NULL;

	if (!cl->hello_done) {
		if (ipc_conn_check_hello(cl->c, p, &why) < 0) {
			warn("refusing a peer: %s", why);
			ipc_conn_queue_error(cl->c, NULL, why, 0);
			free(why);
			cl->closing = 1;
			return;
		}
		cl->hello_done = 1;
		log_info("hello from %s version %d pid %ld",
		    cl->c->peer_program, cl->c->peer_version,
		    cl->c->peer_pid);
		return;
	}
	if (!strcmp(p->packet_type, "echo"))
		reply_echo(cl, p);
	else if (!strcmp(p->packet_type, "fail"))
		ipc_conn_queue_error(cl->c, p->request_id, "asked to fail", 1);
	else if (!strcmp(p->packet_type, "stall"))
		log_info("not answering request %s",
		    p->request_id ? p->request_id : "(none)");
	else if (!strcmp(p->packet_type, PT_SHUTDOWN)) {
		reply_ack(cl, p);
		ipc_conn_flush(cl->c);
		loop_stop(cl->srv->loop);
	} else
		ipc_conn_queue_error(cl->c, p->request_id,
		    "unknown packet type", 0);
}

static void
handle_line(struct client *cl, const char *line, size_t len)
{
	struct msg_packet p = MSG_PACKET_INIT;
	char *why = NULL;

	if (msg_packet_parse(&p, line, len, cl->c->max_line, &why) < 0) {
		ipc_conn_queue_error(cl->c, NULL, why, 0);
		free(why);
		return;
	}
	handle_packet(cl, &p);
	msg_packet_release(&p);
}

static void
client_read(struct client *cl)
{
	char *line, *why;
	size_t len;
	ssize_t n;
	int r = 0;

	n = ipc_conn_read(cl->c);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		cl->closing = 1;
		return;
	}
	while (!cl->closing && (r = ipc_conn_line(cl->c, &line, &len)) > 0)
		handle_line(cl, line, len);
	if (!cl->closing && r < 0) {
		why = xasprintf("line longer than %zu bytes", cl->c->max_line);
		warn("refusing a client: %s", why);
		ipc_conn_queue_error(cl->c, NULL, why, 0);
		free(why);
		cl->closing = 1;
	}
}

static void
on_client(struct loop *l, int fd, int events, void *arg)
{
	struct client *cl = arg;

	if (events & LOOP_READ)
		client_read(cl);
	if (ipc_conn_out_pending(cl->c) && ipc_conn_flush(cl->c) < 0) {
		client_close(cl);
		return;
	}
	client_update(cl);
}

static void
on_listen(struct loop *l, int fd, int events, void *arg)
{
	struct server *srv = arg;
	struct client *cl;
	pid_t pid;
	int cfd;

	while ((cfd = ipc_accept(fd, &pid)) >= 0) {
		cl = xcalloc(1, sizeof(*cl));
		cl->srv = srv;
		cl->c = ipc_conn_new(cfd, opt_max_line);
		cl->c->program = opt_program;
		cl->c->version = opt_version;
		cl->next = srv->clients;
		srv->clients = cl;
		ipc_conn_queue_hello(cl->c);
		loop_add_fd(l, cfd, LOOP_READ | LOOP_WRITE, on_client, cl);
	}
	if (errno != EAGAIN)
		warn_errno("cannot accept");
}

static void
on_signal(struct loop *l, int signo, void *arg)
{
	log_info("stopping on signal %d", signo);
	loop_stop(l);
}

static int
serve(const char *path)
{
	struct server srv = { 0 };
	char *err = NULL;

	log_set_daemon(1);
	srv.lfd = ipc_listen(path, &err);
	if (srv.lfd < 0)
		die("%s", err);
	srv.loop = loop_new();
	if (!srv.loop)
		die_errno("cannot create the event loop");
	loop_add_signal(srv.loop, SIGTERM, on_signal, NULL);
	loop_add_signal(srv.loop, SIGINT, on_signal, NULL);
	signal(SIGPIPE, SIG_IGN);
	loop_add_fd(srv.loop, srv.lfd, LOOP_READ, on_listen, &srv);
	if (proc_notify_ready() < 0)
		warn_errno("cannot signal readiness");
	if (loop_run(srv.loop) < 0)
		die_errno("event loop failed");
	while (srv.clients)
		client_close(srv.clients);
	loop_del_fd(srv.loop, srv.lfd);
	ipc_unlisten(srv.lfd, path);
	loop_free(srv.loop);
	log_info("stopped");
	return 0;
}

/* Exit 3 when the daemon is unreachable, as the CLIs do. */
static void NORETURN
client_die(char *err, int errnum)
{
	log_set_die_status(ipc_unreachable(errnum) ? 3 : 1);
	die("%s", err);
}

static void
print_packet(const char *what, const struct msg_packet *p)
{
	struct buf b = BUF_INIT;

	msg_print(p->data, &b);
	printf("%s type=%s request_id=%s data=%s\n", what, p->packet_type,
	    p->request_id ? p->request_id : "-", b.buf);
	buf_release(&b);
}

/* Print the packets set aside while waiting for replies. */
static void
print_pending(struct ipc_conn *c)
{
	struct msg_packet p;
	char *err = NULL;

	while (c->pending_nr) {
		if (ipc_recv_packet(c, &p, 0, &err) < 0)
			client_die(err, errno);
		print_packet("kept", &p);
		msg_packet_release(&p);
	}
}

static int
do_request(struct ipc_conn *c, const char *type, const char *json)
{
	struct msg_packet req = MSG_PACKET_INIT, reply;
	char *err = NULL;
	int64_t t0 = loop_now_ms(), r;

	req.packet_type = type;
	req.subject_id = PROTO_SYSTEM_SUBJECT;
	if (json) {
		req.data = msg_parse(json, strlen(json), 0, &err);
		if (!req.data)
			die("bad data: %s", err);
	}
	r = ipc_request(c, &req, &reply, opt_timeout, &err);
	msg_free(req.data);
	if (r < 0) {
		warn("request failed after %" PRId64 " ms",
		    loop_now_ms() - t0);
		msg_packet_release(&reply);
		client_die(err, errno);
	}
	print_packet("reply", &reply);
	msg_packet_release(&reply);
	print_pending(c);
	return 0;
}

/*
 * A request that times out, then one whose wait sees the late reply to
 * the first: only the second reply may be taken.
 */
static int
do_late_reply(struct ipc_conn *c)
{
	struct msg_packet req = MSG_PACKET_INIT, reply;
	char *err = NULL;

	req.packet_type = "echo";
	req.subject_id = PROTO_SYSTEM_SUBJECT;
	req.data = msg_new_object();
	msg_set_int(req.data, "delay_ms", 200);
	msg_set_str(req.data, "which", "first");
	if (!ipc_request(c, &req, &reply, 50, &err))
		die("the first request should have timed out");
	printf("first: %s\n", err);
	free(err);
	err = NULL;
	msg_packet_release(&reply);
	msg_set_int(req.data, "delay_ms", 400);
	msg_set_str(req.data, "which", "second");
	if (ipc_request(c, &req, &reply, opt_timeout, &err) < 0)
		client_die(err, errno);
	msg_free(req.data);
	print_packet("reply", &reply);
	msg_packet_release(&reply);
	print_pending(c);
	return 0;
}

/* Send one packet line of about BYTES bytes and print what comes back. */
static int
do_oversize(struct ipc_conn *c, size_t bytes)
{
	struct msg_packet p = MSG_PACKET_INIT;
	char *err = NULL, *fill = xmalloc(bytes + 1);
	struct buf line = BUF_INIT;

	memset(fill, 'x', bytes);
	fill[bytes] = '\0';
	p.packet_type = "echo";
	p.subject_id = PROTO_SYSTEM_SUBJECT;
	p.data = msg_new_object();
	msg_set_str(p.data, "fill", fill);
	free(fill);
	msg_packet_write(&p, &line);
	msg_free(p.data);
	/* The server hangs up mid-line: a failed send is expected. */
	if (ipc_send_line(c, line.buf, line.len, opt_timeout, &err) < 0) {
		log_info("send stopped: %s", err);
		free(err);
		err = NULL;
	}
	buf_release(&line);
	if (ipc_recv_packet(c, &p, opt_timeout, &err) < 0)
		client_die(err, errno);
	print_packet("got", &p);
	msg_packet_release(&p);
	return 0;
}

/*
 * Queue COUNT echo requests of BYTES bytes each without waiting, then
 * read the replies, checking each one's request id and size.
 */
static int
do_flood(struct ipc_conn *c, long count, size_t bytes)
{
	struct msg_packet p = MSG_PACKET_INIT;
	char *err = NULL, *fill = xmalloc(bytes + 1), want[32];
	const char *got;
	long i;

	memset(fill, 'y', bytes);
	fill[bytes] = '\0';
	p.packet_type = "echo";
	p.subject_id = PROTO_SYSTEM_SUBJECT;
	p.data = msg_new_object();
	msg_set_str(p.data, "fill", fill);
	free(fill);
	for (i = 0; i < count; i++) {
		p.request_id = ipc_conn_request_id(c);
		ipc_conn_queue_packet(c, &p);
		if (ipc_conn_flush(c) < 0)
			die_errno("cannot send");
	}
	msg_free(p.data);
	if (ipc_flush(c, opt_timeout, &err) < 0)
		client_die(err, errno);
	for (i = 1; i <= count; i++) {
		struct msg_packet r;

		if (ipc_recv_packet(c, &r, opt_timeout, &err) < 0)
			client_die(err, errno);
		snprintf(want, sizeof(want), "%ld", i);
		if (!r.request_id || strcmp(r.request_id, want))
			die("reply %ld carries request id %s", i,
			    r.request_id ? r.request_id : "(none)");
		if (msg_get_str(r.data, "fill", &got, &err) < 0 ||
		    strlen(got) != bytes)
			die("reply %ld is damaged", i);
		msg_packet_release(&r);
	}
	printf("flood: %ld replies in order\n", count);
	return 0;
}

static void
become_uid(long uid)
{
	if (setgid((gid_t)uid) < 0 || setuid((uid_t)uid) < 0)
		die_errno("cannot switch to uid %ld", uid);
	/* Keep LeakSanitizer able to inspect us after the switch. */
	prctl(PR_SET_DUMPABLE, 1);
}

static int
client(int argc, char **argv)
{
	const char *path = argv[0], *cmd = argc > 1 ? argv[1] : "hello";
	struct ipc_conn *c;
	char *err = NULL;
	int fd, ret = 0;

	if (opt_uid >= 0)
		become_uid(opt_uid);
	fd = ipc_connect(path, opt_timeout, &err);
	if (fd < 0)
		client_die(err, errno);
	c = ipc_conn_new(fd, opt_max_line);
	c->program = opt_program;
	c->version = opt_version;
	if (ipc_hello(c, opt_timeout, &err) < 0) {
		ipc_conn_free(c);
		client_die(err, errno);
	}
	if (!strcmp(cmd, "hello"))
		printf("peer %s version %d\n", c->peer_program,
		    c->peer_version);
	else if (!strcmp(cmd, "request") && argc > 2)
		ret = do_request(c, argv[2], argc > 3 ? argv[3] : NULL);
	else if (!strcmp(cmd, "late-reply"))
		ret = do_late_reply(c);
	else if (!strcmp(cmd, "oversize") && argc > 2)
		ret = do_oversize(c, (size_t)atol(argv[2]));
	else if (!strcmp(cmd, "flood") && argc > 3)
		ret = do_flood(c, atol(argv[2]), (size_t)atol(argv[3]));
	else
		die("unknown client command '%s'", cmd);
	ipc_conn_free(c);
	return ret;
}

static void NORETURN
usage(void)
{
	fprintf(stderr, "usage: test-ipc serve [options] SOCK\n"
	    "       test-ipc client [options] SOCK CMD [ARG...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "as-uid", required_argument, NULL, 'u' },
		{ "max-line", required_argument, NULL, 'm' },
		{ "program", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "version", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode;
	int c;

	log_init("test-ipc");
	if (argc < 2)
		usage();
	mode = argv[1];
	argv++;
	argc--;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			opt_max_line = (size_t)atol(optarg);
			break;
		case 'p':
			opt_program = optarg;
			break;
		case 't':
			opt_timeout = atoi(optarg);
			break;
		case 'u':
			opt_uid = atol(optarg);
			break;
		case 'v':
			opt_version = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (!strcmp(mode, "serve"))
		return serve(argv[0]);
	if (!strcmp(mode, "client"))
		return client(argc, argv);
	usage();
}
