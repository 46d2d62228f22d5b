/*
 * mephisto-io: serve one task run to workers' browsers.
 *
 *   mephisto-io --run RUN_ID --port N [--host ADDR] [--run-dir DIR] ...
 *
 * Binds and listens, writes the bound port to <run dir>/io.port, signals
 * readiness on MEPHISTO_READY_FD, connects to the run's pool, and serves
 * until SIGTERM or SIGINT.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <ev.h>
#include <malloc.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "io.h"
#include "log.h"
#include "path.h"
#include "proc.h"
#include "proto.h"
#include "upload.h"
#include "xalloc.h"
#include "opt.h"
#include "banned.h"

static const char usage_text[] =
"usage: mephisto-io --run RUN_ID --port N [options]\n"
"\n"
"Serve a task run to workers' browsers (HTTP and WebSocket) and relay\n"
"them to the run's mephisto-pool.\n"
"\n"
"  --run RUN_ID          the task run to serve\n"
"  --port N              TCP port to listen on (0: any free port)\n"
"  --host ADDR           address to listen on (default 127.0.0.1)\n"
"  --run-dir DIR         the run's folder (default <data dir>/runs/RUN_ID)\n"
"  --static DIR          files to serve (default <run dir>/static)\n"
"  --log-level LEVEL     debug, info, warn or error\n"
"  --max-body BYTES      largest request, uploaded files aside (2097152)\n"
"  --max-upload BYTES    largest uploaded file (16777216)\n"
"  --max-files N         most files in one submission (16)\n"
"  --pool-timeout MS     deadline of a request to the pool (10000)\n"
"  --ping-timeout MS     silence after which a socket is gone (15000)\n"
"  --lost-timeout MS     time a closed socket has to return (10000)\n"
"  --metrics-port N      serve Prometheus metrics on 127.0.0.1:N/metrics\n"
"                        (0: any free port, written to <run dir>/metrics.port;\n"
"                        default: no metrics listener)\n"
"  -h, --help            show this help\n"
"\n"
"The bound port is written to <run dir>/io.port.  The pool is reached at\n"
"<run dir>/pool.sock; while it is away, requests that need it are answered\n"
"503 with {\"error\": ..., \"retryable\": true}.\n";

enum {
	OPT_RUN = 256, OPT_PORT, OPT_HOST, OPT_RUN_DIR, OPT_STATIC,
	OPT_LOG_LEVEL, OPT_MAX_BODY, OPT_MAX_UPLOAD, OPT_MAX_FILES,
	OPT_POOL_TIMEOUT, OPT_PING_TIMEOUT, OPT_LOST_TIMEOUT,
	OPT_METRICS_PORT,
};

static const struct option long_options[] = {
	{ "run", required_argument, NULL, OPT_RUN },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "run-dir", required_argument, NULL, OPT_RUN_DIR },
	{ "static", required_argument, NULL, OPT_STATIC },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "max-body", required_argument, NULL, OPT_MAX_BODY },
	{ "max-upload", required_argument, NULL, OPT_MAX_UPLOAD },
	{ "max-files", required_argument, NULL, OPT_MAX_FILES },
	{ "pool-timeout", required_argument, NULL, OPT_POOL_TIMEOUT },
	{ "ping-timeout", required_argument, NULL, OPT_PING_TIMEOUT },
	{ "lost-timeout", required_argument, NULL, OPT_LOST_TIMEOUT },
	{ "metrics-port", required_argument, NULL, OPT_METRICS_PORT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct args {
	const char *run_dir;
	const char *static_dir;
	const char *log_level;
	int have_port;
};

static void NORETURN
usage_error(const char *fmt, const char *arg)
{
	char msg[256];

	snprintf(msg, sizeof(msg), fmt, arg);
	fprintf(stderr, "mephisto-io: error: %s\n", msg);
	fprintf(stderr, "Try 'mephisto-io --help' for more information.\n");
	exit(2);
}

static unsigned long long
number(const char *s, const char *opt, unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max)
		usage_error("invalid value for %s", opt);
	return v;
}

static int
run_id_valid(const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++)
		if (!(s[n] >= '0' && s[n] <= '9') &&
		    !(s[n] >= 'a' && s[n] <= 'z') &&
		    !(s[n] >= 'A' && s[n] <= 'Z') &&
		    s[n] != '_' && s[n] != '-')
			return 0;
	return n > 0 && n <= 64;
}

static void
parse_args(int argc, char **argv, struct io_opts *o, struct args *a)
{
	int c;

	while ((c = opt_getopt(argc, argv, "h", long_options)) != -1) {
		switch (c) {
		case OPT_RUN:
			o->run_id = optarg;
			break;
		case OPT_PORT:
			o->port = (int)number(optarg, "--port", 65535);
			a->have_port = 1;
			break;
		case OPT_HOST:
			o->host = optarg;
			break;
		case OPT_RUN_DIR:
			a->run_dir = optarg;
			break;
		case OPT_STATIC:
			a->static_dir = optarg;
			break;
		case OPT_LOG_LEVEL:
			a->log_level = optarg;
			break;
		case OPT_MAX_BODY:
			o->max_body = number(optarg, "--max-body",
			    PROTO_MAX_LINE / 2);
			break;
		case OPT_MAX_UPLOAD:
			o->max_upload = number(optarg, "--max-upload",
			    1ULL << 40);
			break;
		case OPT_MAX_FILES:
			o->max_files = (unsigned)number(optarg, "--max-files",
			    10000);
			break;
		case OPT_POOL_TIMEOUT:
			o->pool_timeout_ms = (int)number(optarg,
			    "--pool-timeout", 3600000);
			break;
		case OPT_PING_TIMEOUT:
			o->ping_timeout_ms = (int)number(optarg,
			    "--ping-timeout", 3600000);
			break;
		case OPT_LOST_TIMEOUT:
			o->lost_timeout_ms = (int)number(optarg,
			    "--lost-timeout", 3600000);
			break;
		case OPT_METRICS_PORT:
			o->metrics_port = (int)number(optarg,
			    "--metrics-port", 65535);
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(log_close_stdout() ? 1 : 0);
		default:
			fprintf(stderr, "Try 'mephisto-io --help' for more "
			    "information.\n");
			exit(2);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->run_id)
		usage_error("%s", "--run is required");
	if (!run_id_valid(o->run_id))
		usage_error("invalid run id '%s'", o->run_id);
	if (!a->have_port)
		usage_error("%s", "--port is required");
	if (!o->max_body)
		usage_error("invalid value for %s", "--max-body");
}

struct io *
io_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

static int
signal_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct signalfd_siginfo si;
	struct io *io;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return -1;	/* not a WebSocket protocol */
	case LWS_CALLBACK_RAW_RX_FILE:
		io = io_of(wsi);
		if (read(lws_get_socket_fd(wsi), &si, sizeof(si)) !=
		    (ssize_t)sizeof(si))
			return 0;
		if (io->draining) {
			log_info("got signal %u again; stopping now",
			    si.ssi_signo);
			io->stop = 1;
			lws_cancel_service(io->ctx);
			return 0;
		}
		log_info("got signal %u; shutting down", si.ssi_signo);
		io->draining = 1;
		io->drain_until_us = now_us() + (int64_t)IO_DRAIN_MS * 1000;
		io_drained_check(io);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	/*
	 * Each WebSocket gets a receive buffer of this size from
	 * libwebsockets for as long as it is open; longer messages arrive
	 * in pieces and are put together in the session's rx.  What is
	 * sent is not cut to that size: an answer or a batch of frames goes
	 * in one send() of up to IO_SEND_BYTES.
	 */
	{ "mephisto", http_callback, sizeof(struct session), 512, 0, NULL,
	    IO_SEND_BYTES },
	{ "mephisto-pool", pool_callback, 0, 0, 0, NULL, 0 },
	{ "mephisto-signal", signal_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void
lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		warn("libwebsockets: %.*s", (int)n, line);
	else
		log_debug("libwebsockets: %.*s", (int)n, line);
}

void
io_drained_check(struct io *io)
{
	if (!io->draining || io->stop)
		return;
	if (io->live_reqs > 0 && now_us() < io->drain_until_us)
		return;
	if (io->live_reqs > 0)
		log_info("stopping with %ld answers unsent", io->live_reqs);
	io->stop = 1;
	lws_cancel_service(io->ctx);
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	struct io *io = lws_container_of(sul, struct io, tick);

	io_drained_check(io);
	pool_sweep(io);
	agent_sweep(io);
	static_sweep(io);
	/*
	 * Thousands of sockets opened at once leave free heap between the
	 * connections that stay (header tables do not: see mem.c).  Give
	 * free pages back, once a second, when the free heap has grown by
	 * IO_TRIM_BYTES since it was last trimmed or smallest: a trim goes
	 * through every free chunk, given back before or not.
	 */
	if (++io->ticks % (1000 / IO_TICK_MS) == 0) {
		size_t heap_free = mallinfo2().fordblks;

		if (heap_free < io->heap_free_low)
			io->heap_free_low = heap_free;
		if (heap_free >= io->heap_free_low + IO_TRIM_BYTES) {
			malloc_trim(0);
			io->heap_free_low = heap_free;
		}
	}
	lws_sul_schedule(io->ctx, 0, &io->tick, tick,
	    (lws_usec_t)IO_TICK_MS * 1000);
}

/* Signals arrive through a signalfd served by the loop. */
static int
watch_signals(struct io *io)
{
	sigset_t set;
	lws_sock_file_fd_type u;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return error_errno("cannot block signals");
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return error_errno("cannot create a signalfd");
	u.filefd = fd;
	if (!lws_adopt_descriptor_vhost(io->vhost, LWS_ADOPT_RAW_FILE_DESC, u,
	    "mephisto-signal", NULL))
		return error("cannot watch signals");
	return 0;
}

/* --log-level, else MEPHISTO_LOG_LEVEL, else core.log_level, else info. */
static void
set_log_level(const struct args *a, const struct conf *conf)
{
	enum log_level level;
	const char *name = NULL;
	char *err = NULL;

	if (a->log_level) {
		if (log_parse_level(a->log_level, &level))
			usage_error("invalid log level '%s'", a->log_level);
		log_set_level(level);
		return;
	}
	if (conf_log_level(conf, &name, &err)) {
		warn("%s", err);
		free(err);
		name = NULL;
	}
	log_level_from_env(name);
}

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Resolve HOST to a numeric address in ADDR (libwebsockets takes an
 * address or an interface name) and check that PORT can be bound, so that
 * the usual failure gets a plain message.  Returns 0 or -1 (reported).
 */
static int
check_listen(const char *host, int port, char *addr, size_t size)
{
	struct addrinfo hints, *res;
	int fd, one = 1, r, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	r = getaddrinfo(host, NULL, &hints, &res);
	if (r)
		return error("cannot listen on '%s': %s", host,
		    gai_strerror(r));
	if (getnameinfo(res->ai_addr, res->ai_addrlen, addr, (socklen_t)size,
	    NULL, 0, NI_NUMERICHOST)) {
		freeaddrinfo(res);
		return error("cannot listen on '%s'", host);
	}
	if (res->ai_family == AF_INET)
		((struct sockaddr_in *)res->ai_addr)->sin_port =
		    htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)res->ai_addr)->sin6_port =
		    htons((uint16_t)port);
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		return error_errno("cannot create a socket");
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	r = bind(fd, res->ai_addr, res->ai_addrlen);
	e = errno;
	close(fd);
	freeaddrinfo(res);
	if (r) {
		errno = e;
		return error_errno("cannot listen on %s port %d", host, port);
	}
	return 0;
}

static int
create_context(struct io *io)
{
	struct lws_context_creation_info info;
	const char *host = io->opt.host ? io->opt.host : "127.0.0.1";
	char addr[NI_MAXHOST];

	if (check_listen(host, io->opt.port, addr, sizeof(addr)))
		return -1;
	memset(&info, 0, sizeof(info));
	info.port = io->opt.port;
	info.iface = addr;
	info.protocols = protocols;
	info.user = io;
	info.server_string = "mephisto-io";
	info.max_http_header_data = IO_HEADER_BYTES;
	info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND |
	    LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_LIBEV;
	/*
	 * libwebsockets runs on a libev loop of ours (epoll here): its own
	 * loop poll()s every socket at each wake-up, which with 1,000 open
	 * WebSockets was half of io's time.  Signals stay with io's
	 * signalfd.
	 */
	io->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!io->loop)
		return error("cannot create the event loop");
	info.foreign_loops = &io->loop;
	if (!strchr(addr, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	io_mem_init();
	io->ctx = lws_create_context(&info);
	if (!io->ctx)
		return error("cannot listen on %s port %d", host, io->opt.port);
	io->vhost = lws_get_vhost_by_name(io->ctx, "default");
	if (!io->vhost)
		return error("cannot find the server of the context");
	io->port = lws_get_vhost_listen_port(io->vhost);
	return 0;
}

/* The metrics listener: loopback only, its own vhost. */
static int
create_metrics(struct io *io)
{
	struct lws_context_creation_info info;

	if (io->opt.metrics_port < 0)
		return 0;
	memset(&info, 0, sizeof(info));
	info.port = io->opt.metrics_port;
	info.iface = "127.0.0.1";
	info.vhost_name = "metrics";
	info.protocols = protocols;
	info.user = io;
	info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND |
	    LWS_SERVER_OPTION_DISABLE_IPV6;
	io->metrics_vhost = lws_create_vhost(io->ctx, &info);
	if (!io->metrics_vhost)
		return error("cannot listen for metrics on 127.0.0.1 port %d",
		    io->opt.metrics_port);
	io->metrics_port = lws_get_vhost_listen_port(io->metrics_vhost);
	log_info("metrics on http://127.0.0.1:%d/metrics", io->metrics_port);
	return metrics_write_port(io);
}

/* Write the bound port to <run dir>/io.port, replacing it atomically. */
static int
write_port_file(struct io *io)
{
	char *path = path_join(io->run_dir, "io.port");
	char line[32];
	int n = snprintf(line, sizeof(line), "%d\n", io->port);

	if (path_write_atomic(path, line, (size_t)n, 0644)) {
		error_errno("cannot write '%s'", path);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

static int
setup_dirs(struct io *io, const struct args *a, const struct conf *conf)
{
	char *err = NULL;
	char real[PATH_MAX];
	struct sockaddr_un sa;
	struct stat st;
	char *sock;

	if (a->run_dir) {
		io->run_dir = xstrdup(a->run_dir);
	} else {
		char *data = conf_data_dir(conf, &err);

		if (!data) {
			error("%s", err);
			free(err);
			return -1;
		}
		io->run_dir = xasprintf("%s/runs/%s", data, io->opt.run_id);
		free(data);
	}
	if (stat(io->run_dir, &st) || !S_ISDIR(st.st_mode))
		return error("cannot use run folder '%s': %s", io->run_dir,
		    errno ? strerror(errno) : "Not a directory");
	io->static_dir = a->static_dir ? xstrdup(a->static_dir) :
	    path_join(io->run_dir, "static");
	if (!realpath(io->static_dir, real))
		return error_errno("cannot open static folder '%s'",
		    io->static_dir);
	io->static_real = xstrdup(real);
	io->files_dir = path_join(io->run_dir, "files");
	io->incoming_dir = path_join(io->files_dir, ".incoming");
	sock = path_join(io->run_dir, "pool.sock");
	if (strlen(sock) >= sizeof(sa.sun_path)) {
		error("socket path '%s' is too long (%zu bytes, at most %zu); "
		    "use a shorter data directory", sock, strlen(sock),
		    sizeof(sa.sun_path) - 1);
		free(sock);
		return -1;
	}
	free(sock);
	upload_clean_incoming(io);
	return 0;
}

static void
io_release(struct io *io)
{
	char *port_file;

	io->stop = 1;
	if (io->ctx) {
		lws_sul_cancel(&io->tick);
		lws_sul_cancel(&io->pool.retry);
		lws_context_destroy(io->ctx);
	}
	if (io->loop)
		ev_loop_destroy(io->loop);
	pool_release(io);
	agent_free_all(io);
	buf_release(&io->ws_batch);
	if (io->port > 0 && io->run_dir) {
		port_file = path_join(io->run_dir, "io.port");
		unlink(port_file);
		free(port_file);
	}
	if (io->metrics_port > 0 && io->run_dir) {
		port_file = path_join(io->run_dir, "metrics.port");
		unlink(port_file);
		free(port_file);
	}
	free(io->run_dir);
	static_release(io);
	free(io->static_dir);
	free(io->static_real);
	free(io->files_dir);
	free(io->incoming_dir);
}

int
main(int argc, char **argv)
{
	static struct io io;
	struct args a = { NULL, NULL, NULL, 0 };
	struct conf conf = CONF_INIT;
	char *err = NULL;
	int rc = 1;

	log_init("mephisto-io");
	io.opt.max_body = IO_DEFAULT_MAX_BODY;
	io.opt.max_upload = IO_DEFAULT_MAX_UPLOAD;
	io.opt.max_files = IO_DEFAULT_MAX_FILES;
	io.opt.pool_timeout_ms = PROTO_DEADLINE_MS;
	io.opt.ping_timeout_ms = IO_PING_TIMEOUT_MS;
	io.opt.lost_timeout_ms = IO_LOST_TIMEOUT_MS;
	io.opt.metrics_port = -1;
	parse_args(argc, argv, &io.opt, &a);
	log_set_daemon(1);
	if (conf_load(&conf, NULL, &err)) {
		/* a broken config file is worth a warning, not a refusal */
		warn("%s", err);
		free(err);
		err = NULL;
	}
	set_log_level(&a, &conf);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	pool_init(&io);
	buf_init(&io.ws_batch);
	if (setup_dirs(&io, &a, &conf) || create_context(&io) ||
	    create_metrics(&io) || write_port_file(&io) ||
	    watch_signals(&io))
		goto out;
	log_info("serving run %s on http://%s:%d/", io.opt.run_id,
	    io.opt.host ? io.opt.host : "127.0.0.1", io.port);
	pool_start(&io);
	lws_sul_schedule(io.ctx, 0, &io.tick, tick,
	    (lws_usec_t)IO_TICK_MS * 1000);
	if (proc_notify_ready())
		warn_errno("cannot signal readiness");
	while (!io.stop) {
		ev_run(io.loop, EVRUN_ONCE);
		/* what this round of the loop gave sockets, in one write each */
		sessions_flush(&io);
		pool_flush(&io);
	}
	rc = 0;
out:
	io_release(&io);
	conf_release(&conf);
	if (!rc)
		log_info("stopped");
	return rc;
}
