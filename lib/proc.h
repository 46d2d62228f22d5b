#ifndef MEPHISTO_PROC_H
#define MEPHISTO_PROC_H

#include <sys/types.h>

/*
 * Child processes, readiness, pidfiles and detaching.
 *
 * Readiness (as s6's notification fd): a parent starting a daemon creates
 * a pipe; the child finds its write end on fd 3, named by the environment
 * variable MEPHISTO_READY_FD=3.  Once it listens and can serve, the daemon
 * calls proc_notify_ready(), which writes "ready\n" and closes the fd; the
 * parent's proc_wait_ready() returns then, without any fixed sleep.
 *
 * Errors: functions return -1 with errno set and, where they take ERRP, a
 * malloc'd one-line message in *ERRP (when ERRP is not NULL) that the
 * caller frees.
 */

/* The environment variable naming the readiness fd. */
#define PROC_READY_ENV "MEPHISTO_READY_FD"
/* The fd a spawned child finds its readiness pipe on. */
#define PROC_READY_FD 3

struct proc_spawn {
	/* Program and arguments; argv[0] is looked up in PATH unless it
	 * has a '/'. */
	const char *const *argv;
	/* "NAME=value" entries added to the environment (NULL-terminated). */
	const char *const *env;
	/* stdout and stderr are appended here (created 0600); NULL inherits. */
	const char *log_path;
	/* Give the child a readiness pipe on fd 3. */
	int ready;
	/* Put the child in a process group of its own, so that a terminal's
	 * Ctrl-C reaches only the parent, which decides what to do. */
	int new_pgrp;
};

#define PROC_SPAWN_INIT { NULL, NULL, NULL, 0, 0 }

/*
 * Start a child as S says.  Its stdin is /dev/null; its signal mask is
 * emptied and SIGPIPE, SIGCHLD, SIGINT, SIGTERM, SIGHUP and SIGQUIT are
 * reset to their defaults; it inherits no MEPHISTO_READY_FD other than
 * its own readiness pipe.  With .ready, *READY_FD is the read end of the
 * pipe (close-on-exec; pass it to proc_wait_ready(), then close it).
 *
 * Returns the child's pid, or -1 with *errp.  A program that cannot be
 * executed is reported here ("cannot run 'x': No such file or
 * directory"), not as an exit status.
 */
pid_t proc_spawn(const struct proc_spawn *s, int *ready_fd, char **errp);

/*
 * Wait up to TIMEOUT_MS (negative: forever) for process PID to write a
 * line on READY_FD.  Returns 0 once it has (READY_FD is not closed), or
 * -1 with errno and *errp (messages begin with a verb, for the caller to
 * prefix with the program name):
 *   ECHILD     "exited with status N before it was ready" (or "was killed
 *              by signal N (Name) ..."); the child has been reaped
 *   EPROTO     "closed its readiness fd without signalling ready"
 *   ETIMEDOUT  "did not become ready within N ms"; it is still running
 * PID need not be our child (after proc_daemonize()); its exit status is
 * then unknown.
 */
int proc_wait_ready(pid_t pid, int ready_fd, int timeout_ms, char **errp);

/*
 * In a daemon: tell whoever started us that we are ready, by writing
 * "ready\n" to the fd named by MEPHISTO_READY_FD and closing it, then
 * unset the variable.  Does nothing (returns 0) when it is not set.
 * Never raises SIGPIPE.  Returns 0, or -1 with errno when the fd is
 * invalid or the write fails (a parent that gave up waiting).
 */
int proc_notify_ready(void);

/*
 * Describe a waitpid() STATUS: "exited with status N" or "was killed by
 * signal N (Name)".  The caller frees the string.
 */
char *proc_status_str(int status);

/* Write PID to the pidfile PATH (atomically, mode 0644).  0 or -1/errno. */
int proc_pidfile_write(const char *path, pid_t pid);

/*
 * Read the pidfile PATH into *PID.  Returns 0, or -1 with errno ENOENT
 * (no pidfile) or EINVAL (not a pid), or another errno.
 */
int proc_pidfile_read(const char *path, pid_t *pid);

/*
 * Whether process PID exists (a zombie counts).  A process of another
 * user counts too.
 */
int proc_alive(pid_t pid);

/*
 * Wait up to TIMEOUT_MS (-1: as long as it takes) for PID to exit, through
 * a pidfd or, where pidfd_open(2) is missing, by asking every 20 ms.  A
 * child of ours is reaped, its wait status stored in *STATUS (-1 for any
 * other process; STATUS may be NULL).  Returns 1 once PID has exited
 * (or never existed), 0 when time ran out.
 */
int proc_wait_exit(pid_t pid, int timeout_ms, int *status);

/*
 * Watching a process from an event loop: FN is called with ARG once PID
 * (a child, or any process this user may signal) has exited.  A child is
 * not reaped: that is the caller's (waitpid).  Uses a pidfd, or where
 * pidfd_open(2) is missing (Linux before 5.3, valgrind) asks every 20 ms.
 * Returns a handle for proc_unwatch(), or NULL with errno set (ESRCH: no
 * such process).
 */
struct loop;
struct proc_watch;
typedef void proc_exit_fn(struct loop *l, pid_t pid, void *arg);
struct proc_watch *proc_watch(struct loop *l, pid_t pid, proc_exit_fn *fn,
    void *arg);

/* Stop watching and free W; may be called from its callback.  NULL is fine. */
void proc_unwatch(struct loop *l, struct proc_watch *w);

/*
 * Detach into the background (--detach): fork, start a new session and
 * fork again, so the daemon is no session leader and has no controlling
 * terminal.  The daemon's stdin is /dev/null and its stdout and stderr go
 * to LOG_PATH (appended, created 0600) or /dev/null.  The working folder
 * and umask are kept.
 *
 * In the original process, returns the daemon's pid and, when READY_FD is
 * not NULL, stores the read end of a readiness pipe there (for
 * proc_wait_ready(); MEPHISTO_READY_FD is set in the daemon, which calls
 * proc_notify_ready()).  In the daemon, returns 0.  On failure returns -1
 * with *errp, in the original process.
 */
pid_t proc_daemonize(const char *log_path, int *ready_fd, char **errp);

#endif
