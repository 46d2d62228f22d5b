/*
 * pool-client: speak the pool protocol (lib/proto.h) for the tests.
 *
 *   pool-client [-p PROGRAM] [-t MS] [-a] SOCK
 *	Connect to SOCK announcing PROGRAM (default mephisto-io), read
 *	packets from stdin (one JSON object per line), give each one
 *	without a request_id the id "r<line number>" (except packets that
 *	get no reply: mephisto_bound_live_update, return_statuses,
 *	client_bound_live_update), send them all at once, then print every
 *	reply as one JSON line as it arrives, until each request has its
 *	reply or MS milliseconds (default 10000) pass without a packet.
 *	-a prints the other packets too (update_status, event).
 *
 *   pool-client [-p PROGRAM] [-t MS] -r SOCK
 *	Raw: after the hello, send stdin as it is, then print every line
 *	that comes back until the pool closes the connection or MS pass.
 *
 * Exit status: 0 every request answered, 1 a reply missing (timeout or
 * connection lost), 2 usage, 3 the pool is unreachable.
 */

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ipc.h"
#include "log.h"
#include "msg.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

struct pending {
	char **ids;
	size_t nr, alloc, answered;
};

static int
expects_reply(const char *type)
{
	return strcmp(type, PT_MEPHISTO_LIVE_UPDATE) &&
	    strcmp(type, PT_CLIENT_LIVE_UPDATE) &&
	    strcmp(type, PT_RETURN_STATUSES);
}

/* Send one packet line from stdin, remembering its request id. */
static void
send_line(struct ipc_conn *c, char *line, size_t n, size_t lineno,
    struct pending *pd, int timeout)
{
	struct buf out = BUF_INIT;
	const char *type, *rid;
	char *err = NULL, idbuf[32];
	cJSON *v = msg_parse(line, n, 0, &err);

	if (!v || msg_get_str(v, "packet_type", &type, &err) < 0)
		die("line %zu: %s", lineno, err);
	if (expects_reply(type)) {
		if (msg_opt_str(v, "request_id", NULL, &rid, &err) < 0)
			die("line %zu: %s", lineno, err);
		if (!rid) {
			snprintf(idbuf, sizeof(idbuf), "r%zu", lineno);
			msg_set_str(v, "request_id", idbuf);
			rid = idbuf;
		}
		ALLOC_GROW(pd->ids, pd->nr + 1, pd->alloc);
		pd->ids[pd->nr++] = xstrdup(rid);
	}
	msg_print(v, &out);
	msg_free(v);
	if (ipc_send_line(c, out.buf, out.len, timeout, &err) < 0)
		die("%s", err);
	buf_release(&out);
}

static int
take_reply(struct pending *pd, const char *rid)
{
	size_t i;

	if (!rid)
		return 0;
	for (i = 0; i < pd->nr; i++) {
		if (pd->ids[i] && !strcmp(pd->ids[i], rid)) {
			free(pd->ids[i]);
			pd->ids[i] = NULL;
			pd->answered++;
			return 1;
		}
	}
	return 0;
}

static void
print_packet(const struct msg_packet *p)
{
	struct buf b = BUF_INIT;
	cJSON *v = msg_packet_build(p);

	msg_write_line(v, &b);
	fputs(b.buf, stdout);
	fflush(stdout);
	msg_free(v);
	buf_release(&b);
}

static int
run_requests(struct ipc_conn *c, int timeout, int all)
{
	struct pending pd = { NULL, 0, 0, 0 };
	struct msg_packet p = MSG_PACKET_INIT;
	char *line = NULL, *err = NULL;
	size_t cap = 0, lineno = 0, i;
	ssize_t n;
	int rc = 0;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n)
			send_line(c, line, (size_t)n, lineno, &pd, timeout);
	}
	free(line);
	while (pd.answered < pd.nr) {
		if (ipc_recv_packet(c, &p, timeout, &err) < 0) {
			error("%s", err);
			free(err);
			rc = 1;
			break;
		}
		if (take_reply(&pd, p.request_id) || all)
			print_packet(&p);
		msg_packet_release(&p);
	}
	for (i = 0; i < pd.nr; i++)
		free(pd.ids[i]);
	free(pd.ids);
	return rc;
}

static int
run_raw(struct ipc_conn *c, int timeout)
{
	struct buf in = BUF_INIT;
	char *line;
	size_t len;
	ssize_t n;
	int rc, writing = 1;

	if (buf_read_fd(&in, 0, 0) < 0)
		die_errno("cannot read stdin");
	ipc_conn_queue(c, in.buf, in.len);
	buf_release(&in);
	for (;;) {
		struct pollfd pfd = { c->fd, POLLIN, 0 };

		/* The pool may close before reading it all: keep reading. */
		if (writing && ipc_conn_out_pending(c))
			pfd.events |= POLLOUT;
		rc = poll(&pfd, 1, timeout);
		if (rc <= 0)
			break;
		if ((pfd.revents & POLLOUT) && ipc_conn_flush(c) < 0)
			writing = 0;
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = ipc_conn_read(c);
		while (ipc_conn_line(c, &line, &len) == 1) {
			fwrite(line, 1, len, stdout);
			fputc('\n', stdout);
		}
		fflush(stdout);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *program = "mephisto-io";
	struct ipc_conn *c;
	char *err = NULL;
	int opt, timeout = 10000, raw = 0, all = 0, rc;

	while ((opt = getopt(argc, argv, "ap:rt:")) != -1) {
		switch (opt) {
		case 'a':
			all = 1;
			break;
		case 'p':
			program = optarg;
			break;
		case 'r':
			raw = 1;
			break;
		case 't':
			timeout = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: pool-client [-a] [-r] [-p PROGRAM] "
		    "[-t MS] SOCK\n");
		return 2;
	}
	log_init(program);
	c = ipc_open(argv[optind], timeout, &err);
	if (!c) {
		error("%s", err);
		rc = ipc_unreachable(errno) ? 3 : 1;
		free(err);
		return rc;
	}
	rc = raw ? run_raw(c, timeout) : run_requests(c, timeout, all);
	ipc_conn_free(c);
	log_close_stdout();
	return rc;
}
