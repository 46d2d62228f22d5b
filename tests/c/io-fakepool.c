/*
 * io-fakepool: a scripted stand-in for mephisto-pool, to test how
 * mephisto-io behaves towards its pool (missing, slow, refusing, going
 * away).  It is not a pool: it answers from a script, keeps no state.
 *
 *   io-fakepool SOCKET [--log FILE] [--delay MS] [--silent] [--error]
 *               [--version N] [--close-after N] [--stall MS]
 *
 * Listens on SOCKET, greets every connection with hello (protocol
 * --version, default PROTO_VERSION), and appends every packet it receives
 * to FILE, one per line.  Requests are answered after --delay ms:
 *   register_agent     agent_details; worker_name "blocked" gets a null
 *                      agent and REASON_NOT_QUALIFIED, a name starting
 *                      with "onb" an onboarding agent, others agent
 *                      "<N>" with init_task_data {"html": "task.html",
 *                      "name": WORKER_NAME}
 *   submit_onboarding  agent_details with a new agent "<N>"
 *   submit_unit, submit_metadata, log_error
 *                      ack (status "Submitted!", "Submitted metadata",
 *                      "Error log sent!")
 * --silent never answers; --error answers every request with a
 * non-retryable error; --close-after N drops the connection after N
 * packets.  --stall MS reads nothing from a new connection for its first
 * MS milliseconds (so that what io sends piles up).  --push FIFO creates FIFO (if needed) and sends every line
 * written to it to the connected io as it is.
 * Readiness is signalled on MEPHISTO_READY_FD once listening.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

struct delayed {
	struct delayed *next;
	long long due_ms;
	char *line;
};

static struct {
	const char *log_path;
	int delay_ms;
	int silent;
	int error;
	int version;
	int close_after;
	int stall_ms;
	long long read_from;	/* no reading before this time */
	int next_agent;
	int received;
	int client;
	struct buf in;
	struct delayed *queue;
} fp;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
send_line(const char *s)
{
	size_t n = strlen(s);

	if (fp.client < 0)
		return;
	/* Test traffic is small: a blocking write is fine. */
	if (write(fp.client, s, n) != (ssize_t)n || write(fp.client, "\n", 1)
	    != 1)
		warn_errno("cannot write to io");
}

static void
send_pkt(cJSON *p, int delay)
{
	char *s = cJSON_PrintUnformatted(p);
	struct delayed *d, **pp;

	if (!delay) {
		send_line(s);
		cJSON_free(s);
		return;
	}
	d = xcalloc(1, sizeof(*d));
	d->due_ms = now_ms() + delay;
	d->line = xstrdup(s);
	cJSON_free(s);
	for (pp = &fp.queue; *pp; pp = &(*pp)->next)
		;
	*pp = d;
}

static cJSON *
packet(const char *type, const char *subject, const char *request_id)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "packet_type", type);
	cJSON_AddStringToObject(p, "subject_id", subject);
	if (request_id)
		cJSON_AddStringToObject(p, "request_id", request_id);
	cJSON_AddItemToObject(p, "data", cJSON_CreateObject());
	return p;
}

static void
hello(void)
{
	cJSON *p = packet(PT_HELLO, "mephisto-pool", NULL);
	cJSON *d = cJSON_GetObjectItem(p, "data");

	cJSON_AddStringToObject(d, "program", "mephisto-pool");
	cJSON_AddNumberToObject(d, "version", fp.version);
	cJSON_AddNumberToObject(d, "pid", getpid());
	send_pkt(p, 0);
	cJSON_Delete(p);
}

static void
agent_details(const char *rid, const char *worker, const char *agent,
    const char *reason, const char *name)
{
	cJSON *p = packet(PT_AGENT_DETAILS, "local_channel", rid);
	cJSON *d = cJSON_GetObjectItem(p, "data"), *init;

	cJSON_AddStringToObject(d, "request_id", rid);
	if (worker)
		cJSON_AddStringToObject(d, "worker_id", worker);
	else
		cJSON_AddNullToObject(d, "worker_id");
	if (agent) {
		cJSON_AddStringToObject(d, "agent_id", agent);
		init = cJSON_AddObjectToObject(d, "init_task_data");
		cJSON_AddStringToObject(init, "html", "task.html");
		cJSON_AddStringToObject(init, "name", name ? name : "");
	} else {
		cJSON_AddNullToObject(d, "agent_id");
		cJSON_AddNullToObject(d, "init_task_data");
	}
	if (reason)
		cJSON_AddStringToObject(d, "failure_reason", reason);
	else
		cJSON_AddNullToObject(d, "failure_reason");
	send_pkt(p, fp.delay_ms);
	cJSON_Delete(p);
}

static void
on_register(const char *rid, cJSON *data)
{
	cJSON *pd = cJSON_GetObjectItem(data, "provider_data");
	cJSON *wn = cJSON_GetObjectItem(pd, "worker_name");
	const char *name = cJSON_IsString(wn) ? wn->valuestring : "";
	char agent[64];

	if (!strcmp(name, "blocked")) {
		agent_details(rid, NULL, NULL, REASON_NOT_QUALIFIED, NULL);
		return;
	}
	snprintf(agent, sizeof(agent), "%s%d",
	    !strncmp(name, "onb", 3) ? PROTO_ONBOARDING_PREFIX : "",
	    1000 + ++fp.next_agent);
	agent_details(rid, "7", agent, NULL, name);
}

static void
on_packet(const char *line)
{
	cJSON *p = cJSON_Parse(line);
	cJSON *t = cJSON_GetObjectItem(p, "packet_type");
	cJSON *r = cJSON_GetObjectItem(p, "request_id");
	cJSON *data = cJSON_GetObjectItem(p, "data");
	const char *type = cJSON_IsString(t) ? t->valuestring : "";
	const char *rid = cJSON_IsString(r) ? r->valuestring : NULL;
	char agent[32];
	cJSON *a;

	if (!rid || fp.silent || !strcmp(type, PT_HELLO))
		goto out;
	if (fp.error) {
		a = packet(PT_ERROR, "mephisto", rid);
		cJSON_AddStringToObject(cJSON_GetObjectItem(a, "data"),
		    "error", "refused by the fake pool");
		cJSON_AddFalseToObject(cJSON_GetObjectItem(a, "data"),
		    "retryable");
		send_pkt(a, fp.delay_ms);
		cJSON_Delete(a);
		goto out;
	}
	if (!strcmp(type, PT_REGISTER_AGENT)) {
		on_register(rid, data);
	} else if (!strcmp(type, PT_SUBMIT_ONBOARDING)) {
		snprintf(agent, sizeof(agent), "%d", 1000 + ++fp.next_agent);
		agent_details(rid, "7", agent, NULL, "onboarded");
	} else {
		const char *status = !strcmp(type, PT_SUBMIT_UNIT) ?
		    "Submitted!" : !strcmp(type, PT_SUBMIT_METADATA) ?
		    "Submitted metadata" : "Error log sent!";
		cJSON *s = cJSON_GetObjectItem(p, "subject_id");

		a = packet(PT_ACK, cJSON_IsString(s) ? s->valuestring : "",
		    rid);
		cJSON_AddStringToObject(cJSON_GetObjectItem(a, "data"),
		    "status", status);
		send_pkt(a, fp.delay_ms);
		cJSON_Delete(a);
	}
out:
	cJSON_Delete(p);
}

static void
log_packet(const char *line)
{
	FILE *f;

	if (!fp.log_path)
		return;
	f = fopen(fp.log_path, "a");
	if (!f)
		return;
	fprintf(f, "%s\n", line);
	fclose(f);
}

static void
drop_client(void)
{
	if (fp.client >= 0)
		close(fp.client);
	fp.client = -1;
	buf_reset(&fp.in);
	while (fp.queue) {
		struct delayed *d = fp.queue;

		fp.queue = d->next;
		free(d->line);
		free(d);
	}
}

static void
read_client(void)
{
	char chunk[65536];
	ssize_t n = read(fp.client, chunk, sizeof(chunk));
	char *nl;

	if (n <= 0) {
		drop_client();
		return;
	}
	buf_add(&fp.in, chunk, (size_t)n);
	while ((nl = memchr(fp.in.buf, '\n', fp.in.len))) {
		*nl = '\0';
		log_packet(fp.in.buf);
		on_packet(fp.in.buf);
		buf_remove_front(&fp.in, (size_t)(nl - fp.in.buf) + 1);
		if (fp.close_after && ++fp.received >= fp.close_after) {
			drop_client();
			return;
		}
	}
}

static int
listen_on(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		die("cannot create socket '%s'", path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16))
		die_errno("cannot listen on '%s'", path);
	return fd;
}

static void
notify_ready(void)
{
	const char *s = getenv("MEPHISTO_READY_FD");

	if (s && *s) {
		int fd = atoi(s);

		if (write(fd, "ready\n", 6) != 6)
			warn_errno("cannot signal readiness");
		close(fd);
	}
}

static int
timeout_ms(void)
{
	long long t;

	long long r = fp.read_from - now_ms();

	if (!fp.queue)
		return r > 0 ? (int)r : -1;
	t = fp.queue->due_ms - now_ms();
	if (r > 0 && r < t)
		t = r;
	return t < 0 ? 0 : (int)t;
}

static void
flush_due(void)
{
	while (fp.queue && fp.queue->due_ms <= now_ms()) {
		struct delayed *d = fp.queue;

		fp.queue = d->next;
		send_line(d->line);
		free(d->line);
		free(d);
	}
}

static struct buf push_in = BUF_INIT;

static void
read_push(int fd)
{
	struct buf *in = &push_in;
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	char *nl;

	if (n <= 0)
		return;
	buf_add(in, chunk, (size_t)n);
	while ((nl = memchr(in->buf, '\n', in->len))) {
		*nl = '\0';
		if (*in->buf)
			send_line(in->buf);
		buf_remove_front(in, (size_t)(nl - in->buf) + 1);
	}
}

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	stop = 1;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "delay", required_argument, NULL, 'd' },
		{ "silent", no_argument, NULL, 's' },
		{ "error", no_argument, NULL, 'e' },
		{ "version", required_argument, NULL, 'v' },
		{ "close-after", required_argument, NULL, 'c' },
		{ "push", required_argument, NULL, 'p' },
		{ "stall", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa;
	int c, lfd, pfd_push = -1;
	const char *path, *push = NULL;

	log_init("io-fakepool");
	fp.version = PROTO_VERSION;
	fp.client = -1;
	buf_init(&fp.in);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': fp.log_path = optarg; break;
		case 'd': fp.delay_ms = atoi(optarg); break;
		case 's': fp.silent = 1; break;
		case 'e': fp.error = 1; break;
		case 'v': fp.version = atoi(optarg); break;
		case 'c': fp.close_after = atoi(optarg); break;
		case 'p': push = optarg; break;
		case 'S': fp.stall_ms = atoi(optarg); break;
		default: return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: io-fakepool SOCKET [options]\n");
		return 2;
	}
	path = argv[optind];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (push) {
		if (mkfifo(push, 0600) && errno != EEXIST)
			die_errno("cannot create '%s'", push);
		/* read-write: never blocks, never sees end of file */
		pfd_push = open(push, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (pfd_push < 0)
			die_errno("cannot open '%s'", push);
	}
	lfd = listen_on(path);
	notify_ready();
	while (!stop) {
		struct pollfd pfd[3] = {
			{ lfd, POLLIN, 0 }, { fp.client,
			    now_ms() < fp.read_from ? 0 : POLLIN, 0 },
			{ pfd_push, POLLIN, 0 },
		};

		if (poll(pfd, 3, timeout_ms()) < 0 && errno != EINTR)
			die_errno("poll");
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0) {
				drop_client();
				fp.client = fd;
				fp.received = 0;
				fp.read_from = now_ms() + fp.stall_ms;
				hello();
			}
		}
		if (fp.client >= 0 && (pfd[1].revents & (POLLIN | POLLHUP)))
			read_client();
		if (pfd[2].revents & POLLIN)
			read_push(pfd_push);
		flush_due();
	}
	drop_client();
	buf_release(&fp.in);
	buf_release(&push_in);
	if (pfd_push >= 0)
		close(pfd_push);
	close(lfd);
	unlink(path);
	return 0;
}
