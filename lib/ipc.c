#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "loop.h"
#include "path.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

#define IPC_READ_CHUNK 65536
/* Larger buffers are freed once empty. */
#define IPC_KEEP_BUF 65536

static int64_t
deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : loop_now_ms() + timeout_ms;
}

/* Milliseconds left before DEADLINE, for poll(2): -1 is forever. */
static int
remaining(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - loop_now_ms();
	return left < 0 ? 0 : (int)left;
}

/*
 * Wait until FD has EVENTS or DEADLINE passes.  Returns 1 when ready, 0
 * on timeout, -1 on error.
 */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	for (;;) {
		n = poll(&pfd, 1, remaining(deadline));
		if (n >= 0)
			return n > 0;
		if (errno != EINTR)
			return -1;
	}
}

static int
fill_addr(struct sockaddr_un *sa, const char *path, char **errp)
{
	size_t len = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (len >= sizeof(sa->sun_path))
		return error_setf(errp, ENAMETOOLONG, "socket path '%s' is too long "
		    "(%zu bytes, at most %zu): use a shorter data directory "
		    "(core.main_data_directory)", path, len,
		    sizeof(sa->sun_path) - 1);
	if (!len)
		return error_setf(errp, EINVAL, "empty socket path");
	memcpy(sa->sun_path, path, len);
	return 0;
}

static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/*
 * Make sure the socket's folder is private: created 0700 when missing,
 * ours, not a shared sticky folder, and without group or other access.
 */
static int
private_dir(const char *path, char **errp)
{
	char *dir = dir_of(path);
	struct stat st;
	int ret = 0;

	if (path_mkdir_p(dir, 0700) < 0 || stat(dir, &st) < 0)
		ret = error_setf(errp, errno, "cannot create folder '%s': %s", dir,
		    strerror(errno));
	else if (st.st_uid != geteuid())
		ret = error_setf(errp, EPERM, "refusing to listen in '%s': it "
		    "belongs to uid %u, not to us", dir, (unsigned)st.st_uid);
	else if (st.st_mode & S_ISVTX)
		ret = error_setf(errp, EPERM, "refusing to listen in '%s': it is a "
		    "shared folder; use a private one", dir);
	else if ((st.st_mode & 077) && chmod(dir, 0700) < 0)
		ret = error_setf(errp, errno, "cannot make folder '%s' private: %s",
		    dir, strerror(errno));
	free(dir);
	return ret;
}

/*
 * Whether someone answers on the socket file at SA: 1 yes, 0 no (stale,
 * removed), -1 error.
 */
static int
check_stale(const struct sockaddr_un *sa, char **errp)
{
	const char *path = sa->sun_path;
	struct stat st;
	int fd, r, saved;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return error_setf(errp, errno, "cannot check '%s': %s", path,
		    strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return error_setf(errp, EEXIST, "cannot listen on '%s': it exists "
		    "and is not a socket", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return error_setf(errp, errno, "cannot create a socket: %s",
		    strerror(errno));
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	saved = errno;
	close(fd);
	if (!r || saved == EAGAIN || saved == EINPROGRESS)
		return 1;
	if (saved != ECONNREFUSED)
		return error_setf(errp, saved, "cannot check '%s': %s", path,
		    strerror(saved));
	if (unlink(path) < 0 && errno != ENOENT)
		return error_setf(errp, errno, "cannot remove stale socket '%s': %s",
		    path, strerror(errno));
	log_info("removed stale socket '%s'", path);
	return 0;
}

static int
bind_listen(const struct sockaddr_un *sa, char **errp)
{
	const char *path = sa->sun_path;
	mode_t old;
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return error_setf(errp, errno, "cannot create a socket: %s",
		    strerror(errno));
	old = umask(077);
	r = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	umask(old);
	if (r < 0 || chmod(path, 0600) < 0 || listen(fd, IPC_BACKLOG) < 0) {
		int saved = errno;

		close(fd);
		return error_setf(errp, saved, "cannot listen on '%s': %s", path,
		    strerror(saved));
	}
	return fd;
}

int
ipc_listen(const char *path, char **errp)
{
	struct sockaddr_un sa;
	char *lock;
	int lockfd, fd = -1, r, saved;

	if (fill_addr(&sa, path, errp) < 0 || private_dir(path, errp) < 0)
		return -1;
	lock = xasprintf("%s.lock", path);
	lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0) {
		error_setf(errp, errno, "cannot lock '%s': %s", lock,
		    strerror(errno));
		goto out;
	}
	r = check_stale(&sa, errp);
	if (r > 0)
		error_setf(errp, EADDRINUSE, "a daemon is already listening on '%s'",
		    path);
	else if (!r)
		fd = bind_listen(&sa, errp);
out:
	saved = errno;
	if (lockfd >= 0)
		close(lockfd);
	free(lock);
	errno = saved;
	return fd;
}

void
ipc_unlisten(int lfd, const char *path)
{
	if (lfd >= 0)
		close(lfd);
	if (path && unlink(path) < 0 && errno != ENOENT)
		warn_errno("cannot remove socket '%s'", path);
}

int
ipc_accept(int lfd, pid_t *pid)
{
	struct ucred cred;
	socklen_t len;
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return -1;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			warn_errno("cannot read the credentials of a peer");
			close(fd);
			continue;
		}
		if (cred.uid != geteuid()) {
			warn("refused a connection from uid %u (pid %ld): "
			    "only uid %u may connect", (unsigned)cred.uid,
			    (long)cred.pid, (unsigned)geteuid());
			close(fd);
			continue;
		}
		if (pid)
			*pid = cred.pid;
		return fd;
	}
}

/* Finish a connect(2) that is in progress, within DEADLINE. */
static int
connect_wait(int fd, int64_t deadline)
{
	socklen_t len = sizeof(int);
	int r, err = 0;

	r = wait_fd(fd, POLLOUT, deadline);
	if (r <= 0) {
		if (!r)
			errno = ETIMEDOUT;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -1;
	errno = err;
	return err ? -1 : 0;
}

/*
 * connect(2) with a deadline.  A Unix socket whose backlog is full
 * answers EAGAIN rather than EINPROGRESS: retry every 10 ms.
 */
static int
connect_deadline(int fd, const struct sockaddr_un *sa, int64_t deadline)
{
	for (;;) {
		if (!connect(fd, (const struct sockaddr *)sa, sizeof(*sa)))
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EINPROGRESS)
			return connect_wait(fd, deadline);
		if (errno != EAGAIN)
			return -1;
		if (deadline >= 0 && loop_now_ms() >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		poll(NULL, 0, 10);
	}
}

int
ipc_connect(const char *path, int timeout_ms, char **errp)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct sockaddr_un sa;
	int fd, saved;

	if (fill_addr(&sa, path, errp) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return error_setf(errp, errno, "cannot create a socket: %s",
		    strerror(errno));
	if (!connect_deadline(fd, &sa, deadline))
		return fd;
	saved = errno;
	close(fd);
	switch (saved) {
	case ENOENT:
		return error_setf(errp, saved, "cannot connect to '%s': no such "
		    "socket (the daemon is not running)", path);
	case ECONNREFUSED:
		return error_setf(errp, saved, "cannot connect to '%s': connection "
		    "refused (the daemon is not running)", path);
	case ETIMEDOUT:
		return error_setf(errp, saved, "cannot connect to '%s': no answer "
		    "within %d ms", path, timeout_ms);
	default:
		return error_setf(errp, saved, "cannot connect to '%s': %s", path,
		    strerror(saved));
	}
}

int
ipc_unreachable(int errnum)
{
	return errnum == ENOENT || errnum == ECONNREFUSED ||
	    errnum == ETIMEDOUT;
}

struct ipc_conn *
ipc_conn_new(int fd, size_t max_line)
{
	struct ipc_conn *c = xcalloc(1, sizeof(*c));
	int flags = fcntl(fd, F_GETFL);

	if (flags >= 0 && !(flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	c->fd = fd;
	buf_init(&c->in);
	buf_init(&c->out);
	c->max_line = max_line ? max_line : PROTO_MAX_LINE;
	c->version = PROTO_VERSION;
	c->program = log_prog();
	return c;
}

void
ipc_conn_free(struct ipc_conn *c)
{
	size_t i;

	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	buf_release(&c->in);
	buf_release(&c->out);
	free(c->peer_program);
	for (i = 0; i < c->pending_nr; i++)
		msg_packet_release(&c->pending[i]);
	free(c->pending);
	free(c);
}

/*
 * Read into a stack buffer and append only what arrived, so that an idle
 * connection holds no more memory than its unfinished line; a buffer
 * left large by a big line is freed once it is empty.
 */
ssize_t
ipc_conn_read(struct ipc_conn *c)
{
	char chunk[IPC_READ_CHUNK];
	ssize_t n;

	if (c->in_start) {
		buf_remove_front(&c->in, c->in_start);
		c->in_scan -= c->in_start;
		c->in_start = 0;
	}
	if (!c->in.len && c->in.alloc > IPC_KEEP_BUF)
		buf_release(&c->in);
	do
		n = read(c->fd, chunk, sizeof(chunk));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (!n) {
		c->eof = 1;
		return 0;
	}
	buf_add(&c->in, chunk, (size_t)n);
	return n;
}

int
ipc_conn_line(struct ipc_conn *c, char **line, size_t *len)
{
	char *start = c->in.buf + c->in_start, *nl;

	if (c->in_scan < c->in_start)
		c->in_scan = c->in_start;
	nl = memchr(c->in.buf + c->in_scan, '\n', c->in.len - c->in_scan);
	if (!nl) {
		c->in_scan = c->in.len;
		if (c->in.len - c->in_start > c->max_line) {
			errno = EMSGSIZE;
			return -1;
		}
		return 0;
	}
	if ((size_t)(nl - start) > c->max_line) {
		errno = EMSGSIZE;
		return -1;
	}
	*nl = '\0';
	*line = start;
	*len = (size_t)(nl - start);
	c->in_start = c->in_scan = (size_t)(nl - c->in.buf) + 1;
	return 1;
}

void
ipc_conn_queue(struct ipc_conn *c, const void *data, size_t len)
{
	buf_add(&c->out, data, len);
}

void
ipc_conn_queue_packet(struct ipc_conn *c, const struct msg_packet *p)
{
	msg_packet_write(p, &c->out);
}

void
ipc_conn_queue_error(struct ipc_conn *c, const char *request_id,
    const char *message, int retryable)
{
	struct msg_packet p = MSG_PACKET_INIT;
	cJSON *data = msg_new_object();

	msg_set_str(data, "error", message);
	msg_set_bool(data, "retryable", retryable);
	p.packet_type = PT_ERROR;
	p.subject_id = PROTO_SYSTEM_SUBJECT;
	p.request_id = request_id;
	p.data = data;
	p.server_timestamp = msg_now();
	ipc_conn_queue_packet(c, &p);
	msg_free(data);
}

void
ipc_conn_queue_hello(struct ipc_conn *c)
{
	struct msg_packet p = MSG_PACKET_INIT;
	cJSON *data = msg_new_object();

	msg_set_str(data, "program", c->program);
	msg_set_int(data, "version", c->version);
	msg_set_int(data, "pid", (int64_t)getpid());
	p.packet_type = PT_HELLO;
	p.subject_id = c->program;
	p.data = data;
	ipc_conn_queue_packet(c, &p);
	msg_free(data);
}

int
ipc_conn_check_hello(struct ipc_conn *c, const struct msg_packet *p,
    char **errp)
{
	const char *program;
	int64_t version, pid;
	char *why = NULL;

	if (msg_packet_error(p, &why, NULL) < 0) {
		if (errp)
			*errp = why;
		else
			free(why);
		errno = EPROTO;
		return -1;
	}
	if (strcmp(p->packet_type, PT_HELLO))
		return error_setf(errp, EPROTO, "expected a hello packet, got '%s'",
		    p->packet_type);
	if (msg_get_str(p->data, "program", &program, errp) < 0 ||
	    msg_get_int(p->data, "version", &version, errp) < 0 ||
	    msg_opt_int(p->data, "pid", 0, &pid, errp) < 0) {
		errno = EPROTO;
		return -1;
	}
	free(c->peer_program);
	c->peer_program = xstrdup(program);
	c->peer_version = (int)version;
	c->peer_pid = (long)pid;
	if (version != c->version)
		return error_setf(errp, EPROTO, "protocol version mismatch: %s "
		    "speaks version %lld, %s speaks version %d", program,
		    (long long)version, c->program, c->version);
	return 0;
}

int
ipc_conn_flush(struct ipc_conn *c)
{
	ssize_t n;

	while (c->out_start < c->out.len) {
		n = send(c->fd, c->out.buf + c->out_start,
		    c->out.len - c->out_start, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		c->out_start += (size_t)n;
	}
	if (c->out_start == c->out.len) {
		if (c->out.alloc > IPC_KEEP_BUF)
			buf_release(&c->out);
		else
			buf_reset(&c->out);
		c->out_start = 0;
		return 1;
	}
	if (c->out_start > c->out.len / 2) {
		buf_remove_front(&c->out, c->out_start);
		c->out_start = 0;
	}
	return 0;
}

size_t
ipc_conn_out_pending(const struct ipc_conn *c)
{
	return c->out.len - c->out_start;
}

const char *
ipc_conn_request_id(struct ipc_conn *c)
{
	snprintf(c->id_buf, sizeof(c->id_buf), "%llu",
	    (unsigned long long)++c->last_id);
	return c->id_buf;
}

static const char *
peer_name(const struct ipc_conn *c)
{
	return c->peer_program ? c->peer_program : "the daemon";
}

/* Flush all queued output before DEADLINE. */
static int
flush_deadline(struct ipc_conn *c, int64_t deadline, char **errp)
{
	int r;

	while ((r = ipc_conn_flush(c)) == 0) {
		r = wait_fd(c->fd, POLLOUT, deadline);
		if (!r)
			return error_setf(errp, ETIMEDOUT, "timed out sending to "
			    "%s", peer_name(c));
		if (r < 0)
			break;
	}
	if (r < 0 && (errno == EPIPE || errno == ECONNRESET))
		return error_setf(errp, ECONNRESET, "%s closed the connection",
		    peer_name(c));
	if (r < 0)
		return error_setf(errp, errno, "cannot send to %s: %s",
		    peer_name(c), strerror(errno));
	return 0;
}

int
ipc_flush(struct ipc_conn *c, int timeout_ms, char **errp)
{
	return flush_deadline(c, deadline_of(timeout_ms), errp);
}

int
ipc_send_line(struct ipc_conn *c, const char *line, size_t len,
    int timeout_ms, char **errp)
{
	ipc_conn_queue(c, line, len);
	if (!len || line[len - 1] != '\n')
		buf_addch(&c->out, '\n');
	return flush_deadline(c, deadline_of(timeout_ms), errp);
}

int
ipc_send_packet(struct ipc_conn *c, const struct msg_packet *p,
    int timeout_ms, char **errp)
{
	ipc_conn_queue_packet(c, p);
	return flush_deadline(c, deadline_of(timeout_ms), errp);
}

/* Wait for the next complete line before DEADLINE. */
static int
recv_line(struct ipc_conn *c, char **line, size_t *len, int64_t deadline,
    char **errp)
{
	int r;

	for (;;) {
		r = ipc_conn_line(c, line, len);
		if (r > 0)
			return 0;
		if (r < 0)
			return error_setf(errp, EMSGSIZE, "%s sent a line longer "
			    "than %zu bytes", peer_name(c), c->max_line);
		if (c->eof)
			return error_setf(errp, ECONNRESET, "%s closed the "
			    "connection", peer_name(c));
		r = wait_fd(c->fd, POLLIN, deadline);
		if (!r)
			return error_setf(errp, ETIMEDOUT, "no answer from %s in "
			    "time", peer_name(c));
		if (r > 0 && (ipc_conn_read(c) >= 0 || errno == EAGAIN))
			continue;
		if (r > 0 && errno == ECONNRESET)
			return error_setf(errp, ECONNRESET, "%s closed the "
			    "connection", peer_name(c));
		return error_setf(errp, errno, "cannot read from %s: %s",
		    peer_name(c), strerror(errno));
	}
}

/*
 * The next packet before DEADLINE: one set aside earlier if USE_PENDING,
 * else the next line from the socket.
 */
static int
recv_deadline(struct ipc_conn *c, struct msg_packet *p, int use_pending,
    int64_t deadline, char **errp)
{
	char *line, *why = NULL;
	size_t len;

	if (use_pending && c->pending_nr) {
		*p = c->pending[0];
		memmove(c->pending, c->pending + 1,
		    --c->pending_nr * sizeof(*c->pending));
		return 0;
	}
	if (recv_line(c, &line, &len, deadline, errp) < 0)
		return -1;
	if (msg_packet_parse(p, line, len, c->max_line, &why) < 0) {
		error_setf(errp, EINVAL, "bad packet from %s: %s", peer_name(c),
		    why);
		free(why);
		return -1;
	}
	return 0;
}

int
ipc_recv_packet(struct ipc_conn *c, struct msg_packet *p, int timeout_ms,
    char **errp)
{
	return recv_deadline(c, p, 1, deadline_of(timeout_ms), errp);
}

int
ipc_hello(struct ipc_conn *c, int timeout_ms, char **errp)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct msg_packet p = MSG_PACKET_INIT;
	char *why = NULL;
	int ret = -1;

	ipc_conn_queue_hello(c);
	if (flush_deadline(c, deadline, errp) < 0 ||
	    recv_deadline(c, &p, 1, deadline, errp) < 0)
		return -1;
	if (!ipc_conn_check_hello(c, &p, &why))
		ret = 0;
	else if (strcmp(p.packet_type, PT_ERROR)) {
		/* Tell the peer why we hang up; it may not be listening. */
		ipc_conn_queue_error(c, NULL, why, 0);
		flush_deadline(c, deadline, NULL);
	}
	msg_packet_release(&p);
	if (ret < 0) {
		error_setf(errp, EPROTO, "%s", why);
		free(why);
	}
	return ret;
}

struct ipc_conn *
ipc_open(const char *path, int timeout_ms, char **errp)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct ipc_conn *c;
	int fd, saved;

	fd = ipc_connect(path, timeout_ms, errp);
	if (fd < 0)
		return NULL;
	c = ipc_conn_new(fd, 0);
	if (!ipc_hello(c, remaining(deadline), errp))
		return c;
	saved = errno;
	ipc_conn_free(c);
	errno = saved;
	return NULL;
}

/* Whether ID is a request id we issued before the current one. */
static int
stale_reply(const struct ipc_conn *c, const char *id)
{
	char *end;
	unsigned long long n;

	if (!id || *id < '0' || *id > '9')
		return 0;
	errno = 0;
	n = strtoull(id, &end, 10);
	return !errno && !*end && n < c->last_id;
}

/* A packet that is not the awaited reply: hand it on or keep it. */
static void
set_aside(struct ipc_conn *c, struct msg_packet *p)
{
	if (stale_reply(c, p->request_id)) {
		log_debug("dropping a late reply to request %s",
		    p->request_id);
		msg_packet_release(p);
	} else if (c->on_packet) {
		c->on_packet(c, p, c->on_packet_arg);
		msg_packet_release(p);
	} else {
		ALLOC_GROW(c->pending, c->pending_nr + 1, c->pending_alloc);
		c->pending[c->pending_nr++] = *p;
	}
}

static int
await_reply(struct ipc_conn *c, const char *id, struct msg_packet *reply,
    int64_t deadline, char **errp)
{
	struct msg_packet p = MSG_PACKET_INIT;
	char *why = NULL;

	for (;;) {
		if (recv_deadline(c, &p, 0, deadline, errp) < 0)
			return -1;
		if ((p.request_id && !strcmp(p.request_id, id)) ||
		    (!p.request_id && !strcmp(p.packet_type, PT_ERROR)))
			break;
		set_aside(c, &p);
	}
	*reply = p;
	if (!msg_packet_error(reply, &why, NULL))
		return 0;
	error_setf(errp, EREMOTEIO, "%s: %s", peer_name(c), why);
	free(why);
	return -1;
}

int
ipc_request(struct ipc_conn *c, struct msg_packet *req,
    struct msg_packet *reply, int timeout_ms, char **errp)
{
	int64_t deadline = deadline_of(timeout_ms);
	struct msg_packet fresh = MSG_PACKET_INIT;
	char id[sizeof(c->id_buf)];

	*reply = fresh;
	snprintf(id, sizeof(id), "%s", ipc_conn_request_id(c));
	req->request_id = c->id_buf;
	ipc_conn_queue_packet(c, req);
	if (flush_deadline(c, deadline, errp) < 0)
		return -1;
	return await_reply(c, id, reply, deadline, errp);
}
