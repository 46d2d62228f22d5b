#ifndef MEPHISTO_IPC_H
#define MEPHISTO_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "msg.h"

/*
 * Unix-domain sockets between the daemons of a run, carrying the
 * newline-delimited JSON packets of lib/proto.h.
 *
 * A server calls ipc_listen() once and ipc_accept() whenever the listening
 * socket is readable; a client calls ipc_connect().  Either way the
 * connected socket is wrapped in a struct ipc_conn, which buffers input
 * (handing out one complete line at a time, refusing lines longer than
 * its limit) and output (queued, then flushed as the socket becomes
 * writable).  Every socket this module returns is non-blocking and
 * close-on-exec.
 *
 * Event-driven code (the pool) uses ipc_conn_read(), ipc_conn_line(),
 * ipc_conn_queue*() and ipc_conn_flush() from its loop callbacks.
 * Command-line clients use the blocking helpers (ipc_hello(),
 * ipc_send_packet(), ipc_recv_packet(), ipc_request()), which poll(2) the
 * socket and give up at a deadline.
 *
 * Timeouts are in milliseconds; a negative timeout waits forever.
 *
 * Errors: functions return -1 with errno set and, where they take ERRP, a
 * malloc'd one-line message in *ERRP (when ERRP is not NULL) that the
 * caller frees.  Sending never raises SIGPIPE.
 */

/* Connections accepted at once before the kernel refuses more. */
#define IPC_BACKLOG 4096

/*
 * Listen on the Unix socket PATH and return the listening fd.
 *
 * PATH must fit in sun_path (ENAMETOOLONG, with a message naming the path
 * and suggesting a shorter data directory).  Its folder is created 0700
 * when missing; an existing folder must belong to us and must not be a
 * shared sticky folder such as /tmp; group or other permissions on it are
 * removed.  The socket is bound under umask 077, so it is 0600.
 *
 * A socket file left by a dead daemon (connecting to it is refused) is
 * replaced; one that a live daemon answers on is not (EADDRINUSE, "a
 * daemon is already listening on ...").  The check and the bind happen
 * under an flock(2) of PATH.lock, so two daemons starting at once cannot
 * both win.
 */
int ipc_listen(const char *path, char **errp);

/*
 * Stop listening: close LFD and remove the socket PATH (the lock file
 * stays: removing it could let two daemons lock different files).
 */
void ipc_unlisten(int lfd, const char *path);

/*
 * Accept one connection on the listening fd LFD.  Peers that run as
 * another user (SO_PEERCRED) are closed and logged, and the next pending
 * connection is tried.  Returns the new fd (its peer's pid in *PID when
 * PID is not NULL), or -1 with errno EAGAIN when none is pending, or
 * another errno (EMFILE...) on failure.
 */
int ipc_accept(int lfd, pid_t *pid);

/*
 * Connect to the Unix socket PATH within TIMEOUT_MS.  Returns the fd, or
 * -1 with errno and *errp.  errno tells why:
 *   ENOENT        no socket file: the daemon is not running
 *   ECONNREFUSED  a socket file nobody listens on: the daemon died
 *   ETIMEDOUT     the daemon did not accept in time
 *   ENAMETOOLONG  PATH does not fit in sun_path
 * or another errno.  ipc_unreachable() groups the first three, for which
 * command-line programs exit with status 3.
 */
int ipc_connect(const char *path, int timeout_ms, char **errp);

/* Whether ERRNUM from ipc_connect() means "the daemon is unreachable". */
int ipc_unreachable(int errnum);

/*
 * A connection.  Fields marked (read-only) are for the owner to read.
 *
 * Lines handed out by ipc_conn_line() point into .in and stay valid until
 * the next ipc_conn_read() or ipc_conn_line() call on the connection.
 */
struct ipc_conn {
	int fd;			/* the socket (owned; closed on free) */
	struct buf in;		/* bytes read and not yet handed out */
	size_t in_start;	/* where the next line starts in .in */
	size_t in_scan;		/* no newline between in_start and here */
	struct buf out;		/* bytes queued for writing */
	size_t out_start;	/* bytes of .out already written */
	size_t max_line;	/* longest accepted line, newline excluded */
	int eof;		/* the peer closed its end (read-only) */
	int version;		/* protocol version we announce */
	const char *program;	/* our name in hello packets */
	char *peer_program;	/* from the peer's hello (read-only) */
	int peer_version;	/* from the peer's hello (read-only) */
	long peer_pid;		/* from the peer's hello (read-only) */
	uint64_t last_id;	/* last request id issued */
	char id_buf[24];	/* the request id string last issued */
	struct msg_packet *pending;	/* packets ipc_request() set aside */
	size_t pending_nr;
	size_t pending_alloc;
	/*
	 * If set, ipc_request() lends unrelated packets to this callback
	 * (and releases them after) instead of keeping them.
	 */
	void (*on_packet)(struct ipc_conn *c, struct msg_packet *p,
	    void *arg);
	void *on_packet_arg;
	void *data;		/* for the owner */
};

/*
 * Wrap the connected socket FD (made non-blocking here).  MAX_LINE is the
 * longest accepted line (0: PROTO_MAX_LINE).  The connection announces
 * PROTO_VERSION and log_prog() in hellos; change .version and .program
 * before the hello to announce something else.
 */
struct ipc_conn *ipc_conn_new(int fd, size_t max_line);

/* Close the socket and free C and everything it holds; NULL is fine. */
void ipc_conn_free(struct ipc_conn *c);

/*
 * Read what the socket has (one read(2) of up to 64 KiB; call again while
 * the socket stays readable).  Returns the
 * number of bytes read; 0 at end of file (and sets .eof); -1 with errno
 * EAGAIN when nothing is available, or another errno on failure.
 */
ssize_t ipc_conn_read(struct ipc_conn *c);

/*
 * Take the next complete line from the input buffer.  Returns 1 with
 * *LINE (NUL-terminated, newline removed) and *LEN; 0 when no complete
 * line is buffered (read more, or the peer is gone if .eof); -1 with
 * errno EMSGSIZE when the line exceeds .max_line bytes, after which the
 * connection is of no further use: answer with an error and close it.
 */
int ipc_conn_line(struct ipc_conn *c, char **line, size_t *len);

/* Queue LEN bytes of output (no newline is added). */
void ipc_conn_queue(struct ipc_conn *c, const void *data, size_t len);

/* Queue P as one line. */
void ipc_conn_queue_packet(struct ipc_conn *c, const struct msg_packet *p);

/*
 * Queue an "error" packet (subject "mephisto") with data {error: MESSAGE,
 * retryable}, answering REQUEST_ID (NULL when it answers no request).
 */
void ipc_conn_queue_error(struct ipc_conn *c, const char *request_id,
    const char *message, int retryable);

/* Queue our hello packet: program, version and pid. */
void ipc_conn_queue_hello(struct ipc_conn *c);

/*
 * Check that P, the first packet from the peer, is a hello of our
 * version, and remember the peer's program, version and pid.  Returns 0,
 * or -1 with *errp: the peer's own message if P is an error packet,
 * "protocol version mismatch: PEER speaks version N, WE speak version M",
 * or a complaint about a packet that is not a hello.  On a mismatch the
 * caller queues an error packet with that message and closes.
 */
int ipc_conn_check_hello(struct ipc_conn *c, const struct msg_packet *p,
    char **errp);

/*
 * Write queued output.  Returns 1 when all of it is written, 0 when some
 * remains (wait until the socket is writable and call again), -1 with
 * errno on failure (EPIPE, ECONNRESET: the peer is gone).
 */
int ipc_conn_flush(struct ipc_conn *c);

/* Bytes of output queued and not yet written. */
size_t ipc_conn_out_pending(const struct ipc_conn *c);

/*
 * A fresh request id for C ("1", "2", ...), unique on the connection.
 * The string belongs to C and is overwritten by the next call.
 */
const char *ipc_conn_request_id(struct ipc_conn *c);

/*
 * Blocking helpers for command-line clients.
 */

/*
 * Connect to PATH and exchange hellos within TIMEOUT_MS: ipc_connect()
 * then ipc_hello().  Returns a connection, or NULL with errno and *errp
 * (ipc_unreachable(errno) tells whether to exit 3).
 */
struct ipc_conn *ipc_open(const char *path, int timeout_ms, char **errp);

/*
 * Send our hello and wait for the peer's, checking it with
 * ipc_conn_check_hello().  A peer of another version is sent an error
 * packet naming both versions.  errno is EPROTO on a bad or refused
 * hello, else as ipc_recv_packet().
 */
int ipc_hello(struct ipc_conn *c, int timeout_ms, char **errp);

/*
 * Queue LEN bytes of LINE plus a newline and write until all queued output
 * is sent or TIMEOUT_MS passes (ETIMEDOUT).
 */
int ipc_send_line(struct ipc_conn *c, const char *line, size_t len,
    int timeout_ms, char **errp);

/* Write all queued output within TIMEOUT_MS (ETIMEDOUT). */
int ipc_flush(struct ipc_conn *c, int timeout_ms, char **errp);

/* ipc_send_line() for a packet. */
int ipc_send_packet(struct ipc_conn *c, const struct msg_packet *p,
    int timeout_ms, char **errp);

/*
 * Wait up to TIMEOUT_MS for the next packet (packets set aside by
 * ipc_request() come first) and parse it into P (released by the
 * caller).  errno: ETIMEDOUT, ECONNRESET when the peer closed the
 * connection, EMSGSIZE for a line over the limit, EINVAL for a line that
 * is not a packet.
 */
int ipc_recv_packet(struct ipc_conn *c, struct msg_packet *p,
    int timeout_ms, char **errp);

/*
 * Send REQ with a fresh request id (REQ->request_id is set to it) and wait
 * up to TIMEOUT_MS for the packet carrying the same request id, parsed into
 * REPLY.  The caller releases REPLY whatever the outcome.
 *
 * Other packets that arrive meanwhile go to .on_packet when set, else are
 * kept for ipc_recv_packet().  Late replies to earlier requests (a request
 * id below the current one) are dropped.
 *
 * Returns 0 for a reply; -1 with errno EREMOTEIO and *errp (the peer's
 * message) when the reply is an "error" packet, or when an error packet
 * without a request id arrives (the peer gave up on the connection); or
 * -1 with errno and *errp as ipc_send_packet() and ipc_recv_packet().
 */
int ipc_request(struct ipc_conn *c, struct msg_packet *req,
    struct msg_packet *reply, int timeout_ms, char **errp);

#endif
