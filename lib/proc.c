#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "path.h"
#include "proc.h"
#include "xalloc.h"
#include "banned.h"

extern char **environ;

/* Grace for a child whose readiness fd closed to finish exiting. */
#define PROC_EXIT_GRACE_MS 500

/* Child fds are moved at or above this before the dup2()s. */
#define PROC_HIGH_FD 10

static int
remaining(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - loop_now_ms();
	return left < 0 ? 0 : (int)left;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* The fd number in $MEPHISTO_READY_FD, or -1. */
static int
env_ready_fd(void)
{
	const char *s = getenv(PROC_READY_ENV);
	char *end;
	long n;

	if (!s || !*s)
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || n < 0 || n > INT_MAX)
		return -1;
	return (int)n;
}

/* Whether environment entry E sets a name that LIST also sets. */
static int
env_overridden(const char *e, const char *const *list)
{
	size_t n = strcspn(e, "=");

	if (!strncmp(e, PROC_READY_ENV "=", n + 1) &&
	    n == strlen(PROC_READY_ENV))
		return 1;
	for (; list && *list; list++)
		if (!strncmp(e, *list, n + 1) && (*list)[n] == '=')
			return 1;
	return 0;
}

/* The child's environment: ours, with S->env and the readiness fd. */
static char **
child_env(const struct proc_spawn *s)
{
	char **env = NULL, **e;
	const char *const *a;
	size_t nr = 0, alloc = 0;

	for (e = environ; e && *e; e++) {
		if (env_overridden(*e, s->env))
			continue;
		ALLOC_GROW(env, nr + 1, alloc);
		env[nr++] = xstrdup(*e);
	}
	for (a = s->env; a && *a; a++) {
		ALLOC_GROW(env, nr + 1, alloc);
		env[nr++] = xstrdup(*a);
	}
	ALLOC_GROW(env, nr + 2, alloc);
	if (s->ready)
		env[nr++] = xasprintf("%s=%d", PROC_READY_ENV, PROC_READY_FD);
	env[nr] = NULL;
	return env;
}

static void
free_env(char **env)
{
	char **e;

	for (e = env; e && *e; e++)
		free(*e);
	free(env);
}

/* Move *FD to a close-on-exec fd at or above PROC_HIGH_FD. */
static int
move_high(int *fd)
{
	int n;

	if (*fd < 0)
		return 0;
	n = fcntl(*fd, F_DUPFD_CLOEXEC, PROC_HIGH_FD);
	if (n < 0)
		return -1;
	close(*fd);
	*fd = n;
	return 0;
}

static int
open_log(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

/* In the child: default signal handling, as a fresh program expects. */
static void
child_signals(void)
{
	static const int sigs[] = {
		SIGPIPE, SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT,
	};
	sigset_t none;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The fds a child is set up with, all close-on-exec and high. */
struct child_fds {
	int null;	/* /dev/null for stdin */
	int log;	/* stdout and stderr, or -1 */
	int ready_rd;	/* readiness pipe */
	int ready_wr;
	int err_rd;	/* exec failure report */
	int err_wr;
	int inherited;	/* our own MEPHISTO_READY_FD, or -1 */
};

static void
child_fds_close(struct child_fds *f)
{
	close_fd(&f->null);
	close_fd(&f->log);
	close_fd(&f->ready_rd);
	close_fd(&f->ready_wr);
	close_fd(&f->err_rd);
	close_fd(&f->err_wr);
}

static int
child_fds_open(struct child_fds *f, const struct proc_spawn *s, char **errp)
{
	int p[2];

	f->null = f->log = f->ready_rd = f->ready_wr = -1;
	f->err_rd = f->err_wr = -1;
	f->inherited = env_ready_fd();
	f->null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (f->null < 0)
		return error_setf(errp, errno, "cannot open '/dev/null': %s",
		    strerror(errno));
	if (s->log_path && (f->log = open_log(s->log_path)) < 0)
		return error_setf(errp, errno, "cannot open '%s': %s", s->log_path,
		    strerror(errno));
	if (s->ready) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return error_setf(errp, errno, "cannot create a pipe: %s",
			    strerror(errno));
		f->ready_rd = p[0];
		f->ready_wr = p[1];
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return error_setf(errp, errno, "cannot create a pipe: %s",
		    strerror(errno));
	f->err_rd = p[0];
	f->err_wr = p[1];
	if (move_high(&f->null) < 0 || move_high(&f->log) < 0 ||
	    move_high(&f->ready_wr) < 0)
		return error_setf(errp, errno, "cannot move a file descriptor: %s",
		    strerror(errno));
	return 0;
}

/* In the child, after fork(): set up and exec, or report errno and exit. */
static void NORETURN
child_exec(const struct proc_spawn *s, struct child_fds *f, char **env)
{
	int err;

	child_signals();
	if (s->new_pgrp)
		setpgid(0, 0);
	if (f->inherited >= 0)
		fcntl(f->inherited, F_SETFD, FD_CLOEXEC);
	if (dup2(f->null, 0) < 0 ||
	    (f->log >= 0 && (dup2(f->log, 1) < 0 || dup2(f->log, 2) < 0)) ||
	    (f->ready_wr >= 0 && dup2(f->ready_wr, PROC_READY_FD) < 0))
		goto fail;
	execvpe(s->argv[0], (char *const *)s->argv, env);
fail:
	err = errno;
	while (write(f->err_wr, &err, sizeof(err)) < 0 && errno == EINTR)
		;
	_exit(127);
}

/* In the parent: whether the child's exec failed, and why. */
static int
exec_error(int err_rd)
{
	int err = 0;
	ssize_t n;

	do
		n = read(err_rd, &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(err) ? err : 0;
}

pid_t
proc_spawn(const struct proc_spawn *s, int *ready_fd, char **errp)
{
	struct child_fds f;
	char **env;
	pid_t pid;
	int err;

	if (!s->argv || !s->argv[0])
		return error_setf(errp, EINVAL, "nothing to run");
	if (child_fds_open(&f, s, errp) < 0) {
		err = errno;
		child_fds_close(&f);
		errno = err;
		return -1;
	}
	env = child_env(s);
	fflush(NULL);
	pid = fork();
	if (!pid)
		child_exec(s, &f, env);
	err = errno;
	free_env(env);
	close_fd(&f.err_wr);
	close_fd(&f.ready_wr);
	if (pid < 0) {
		child_fds_close(&f);
		return error_setf(errp, err, "cannot fork: %s", strerror(err));
	}
	err = exec_error(f.err_rd);
	if (err) {
		waitpid(pid, NULL, 0);
		child_fds_close(&f);
		return error_setf(errp, err, "cannot run '%s': %s", s->argv[0],
		    strerror(err));
	}
	if (ready_fd) {
		*ready_fd = f.ready_rd;
		f.ready_rd = -1;
	}
	child_fds_close(&f);
	return pid;
}

char *
proc_status_str(int status)
{
	if (WIFEXITED(status))
		return xasprintf("exited with status %d", WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return xasprintf("was killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	return xasprintf("changed state (wait status %d)", status);
}

/* Whether process PID is a zombie (exited, not yet reaped by its parent). */
static int
zombie(pid_t pid)
{
	char path[32], b[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	/* "PID (COMM) STATE ...", where COMM may hold parentheses. */
	p = strrchr(b, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/*
 * Whether PID, which is not our child, has exited: it is gone, or a zombie
 * that its own parent has yet to reap.
 */
static int
other_exited(pid_t pid)
{
	return (kill(pid, 0) < 0 && errno == ESRCH) || zombie(pid);
}

/*
 * Whether PID has exited: 1 (reaped, *STATUS set, or -1 when not our
 * child), 0 still running.
 */
static int
exited(pid_t pid, int *status)
{
	pid_t r;

	do
		r = waitpid(pid, status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == pid)
		return 1;
	if (r < 0 && errno == ECHILD) {
		*status = -1;
		return other_exited(pid);
	}
	return 0;
}

static int
report_exit(int status, char **errp)
{
	char *why;

	if (status == -1)
		return error_setf(errp, ECHILD, "exited before it was ready");
	why = proc_status_str(status);
	error_setf(errp, ECHILD, "%s before it was ready", why);
	free(why);
	return -1;
}

/*
 * Read what READY_FD has: 1 when a whole line has arrived, 0 when more
 * may come, -1 at end of file.
 */
static int
read_ready(int fd)
{
	char b[64];
	ssize_t n;

	do
		n = read(fd, b, sizeof(b));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	if (!n)
		return -1;
	return memchr(b, '\n', (size_t)n) != NULL;
}

/*
 * Wait until PID exits or DEADLINE passes, polling PIDFD when we have one
 * and every 20 ms otherwise.  Returns 1 when it exited (*STATUS set).
 */
static int
wait_exit(pid_t pid, int pidfd, int64_t deadline, int *status)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int wait;

	while (!exited(pid, status)) {
		wait = remaining(deadline);
		if (!wait)
			return 0;
		if (pidfd < 0 && (wait < 0 || wait > 20))
			wait = 20;
		if (poll(pidfd >= 0 ? &p : NULL, pidfd >= 0, wait) < 0 &&
		    errno != EINTR)
			return 0;
	}
	return 1;
}

static int
wait_ready(pid_t pid, int fd, int pidfd, int timeout_ms, char **errp)
{
	int64_t deadline = timeout_ms < 0 ? -1 : loop_now_ms() + timeout_ms;
	struct pollfd p[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = pidfd, .events = POLLIN },
	};
	int status, wait, r;

	for (;;) {
		wait = remaining(deadline);
		if (pidfd < 0 && (wait < 0 || wait > 20))
			wait = 20;
		r = poll(p, pidfd >= 0 ? 2 : 1, wait);
		if (r < 0 && errno != EINTR)
			return error_setf(errp, errno, "cannot wait: %s",
			    strerror(errno));
		if (r > 0 && p[0].revents) {
			r = read_ready(fd);
			if (r > 0)
				return 0;
			if (r < 0)
				break;
		}
		if ((pidfd < 0 || p[1].revents) && exited(pid, &status))
			return report_exit(status, errp);
		if (!remaining(deadline))
			return error_setf(errp, ETIMEDOUT, "did not become ready "
			    "within %d ms", timeout_ms);
	}
	/* End of file: normally the child is exiting. */
	wait = remaining(deadline);
	if (wait < 0 || wait > PROC_EXIT_GRACE_MS)
		wait = PROC_EXIT_GRACE_MS;
	if (wait_exit(pid, pidfd, loop_now_ms() + wait, &status))
		return report_exit(status, errp);
	return error_setf(errp, EPROTO, "closed its readiness fd without "
	    "signalling ready");
}

int
proc_wait_ready(pid_t pid, int ready_fd, int timeout_ms, char **errp)
{
	int pidfd = pidfd_open(pid, 0), ret, saved;

	ret = wait_ready(pid, ready_fd, pidfd, timeout_ms, errp);
	saved = errno;
	if (pidfd >= 0)
		close(pidfd);
	errno = saved;
	return ret;
}

int
proc_wait_exit(pid_t pid, int timeout_ms, int *status)
{
	int pidfd = pidfd_open(pid, 0), st, ret;

	ret = wait_exit(pid, pidfd, timeout_ms < 0 ? -1 :
	    loop_now_ms() + timeout_ms, &st);
	if (pidfd >= 0)
		close(pidfd);
	if (ret && status)
		*status = st;
	return ret;
}

/* write() with SIGPIPE blocked and any SIGPIPE it raised discarded. */
static ssize_t
write_nosigpipe(int fd, const void *data, size_t len)
{
	sigset_t pipe_set, old, pending;
	struct timespec zero = { 0, 0 };
	int was_pending, saved;
	ssize_t n;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	do
		n = write(fd, data, len);
	while (n < 0 && errno == EINTR);
	saved = errno;
	if (n < 0 && saved == EPIPE && !was_pending)
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

int
proc_notify_ready(void)
{
	const char *s = getenv(PROC_READY_ENV);
	int fd = env_ready_fd(), saved = 0;

	if (!s || !*s)
		return 0;
	unsetenv(PROC_READY_ENV);
	if (fd < 0) {
		errno = EINVAL;
		return -1;
	}
	if (write_nosigpipe(fd, "ready\n", 6) != 6)
		saved = errno ? errno : EIO;
	if (close(fd) < 0 && !saved)
		saved = errno;
	errno = saved;
	return saved ? -1 : 0;
}

int
proc_pidfile_write(const char *path, pid_t pid)
{
	char s[32];
	int n = snprintf(s, sizeof(s), "%ld\n", (long)pid);

	return path_write_atomic(path, s, (size_t)n, 0644);
}

int
proc_pidfile_read(const char *path, pid_t *pid)
{
	struct buf b = BUF_INIT;
	char *end;
	long n;

	if (buf_read_file(&b, path, 64) < 0) {
		int saved = errno == EFBIG ? EINVAL : errno;

		buf_release(&b);
		errno = saved;
		return -1;
	}
	errno = 0;
	n = strtol(b.buf, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno || end == b.buf || *end || n <= 0 || n > INT_MAX) {
		buf_release(&b);
		errno = EINVAL;
		return -1;
	}
	buf_release(&b);
	*pid = (pid_t)n;
	return 0;
}

int
proc_alive(pid_t pid)
{
	if (pid <= 0)
		return 0;
	return !kill(pid, 0) || errno == EPERM;
}

/* In the daemon: stdio to /dev/null and the log, readiness in the env. */
static void
daemon_setup(struct child_fds *f, int want_ready)
{
	char s[16];

	dup2(f->null, 0);
	dup2(f->log, 1);
	dup2(f->log, 2);
	if (want_ready) {
		snprintf(s, sizeof(s), "%d", f->ready_wr);
		setenv(PROC_READY_ENV, s, 1);
		f->ready_wr = -1;
	}
	child_fds_close(f);
}

/* Read the daemon's pid, sent by the intermediate child. */
static pid_t
read_pid(int fd)
{
	pid_t pid = -1;
	ssize_t n;

	do
		n = read(fd, &pid, sizeof(pid));
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(pid) ? pid : -1;
}

pid_t
proc_daemonize(const char *log_path, int *ready_fd, char **errp)
{
	struct proc_spawn s = PROC_SPAWN_INIT;
	struct child_fds f;
	pid_t pid, daemon;
	int err;

	s.log_path = log_path ? log_path : "/dev/null";
	s.ready = ready_fd != NULL;
	if (child_fds_open(&f, &s, errp) < 0) {
		err = errno;
		child_fds_close(&f);
		errno = err;
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (!pid) {
		close_fd(&f.err_rd);
		close_fd(&f.ready_rd);
		if (setsid() < 0 || (daemon = fork()) < 0)
			_exit(1);
		if (daemon) {
			while (write(f.err_wr, &daemon, sizeof(daemon)) < 0 &&
			    errno == EINTR)
				;
			_exit(0);
		}
		daemon_setup(&f, ready_fd != NULL);
		return 0;
	}
	err = errno;
	close_fd(&f.err_wr);
	close_fd(&f.ready_wr);
	daemon = pid < 0 ? -1 : read_pid(f.err_rd);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	if (daemon < 0) {
		child_fds_close(&f);
		return error_setf(errp, pid < 0 ? err : ECHILD, "cannot detach: %s",
		    pid < 0 ? strerror(err) : "the intermediate process "
		    "failed");
	}
	if (ready_fd) {
		*ready_fd = f.ready_rd;
		f.ready_rd = -1;
	}
	child_fds_close(&f);
	return daemon;
}

/* Watching processes from an event loop. */

#define PROC_WATCH_POLL_MS 20

struct proc_watch {
	pid_t pid;
	int pidfd;		/* -1: asked for by .timer instead */
	long long timer;
	int fired;
	proc_exit_fn *fn;
	void *arg;
};

/* Whether PID has exited, without reaping it. */
static int
exited_unreaped(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (!waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT))
		return si.si_pid == pid;
	return errno == ECHILD && other_exited(pid);
}

static void
watch_fire(struct loop *l, struct proc_watch *w)
{
	if (w->fired)
		return;
	w->fired = 1;
	if (w->pidfd >= 0)
		loop_set_events(l, w->pidfd, 0);
	w->fn(l, w->pid, w->arg);
}

static void
on_watch_pidfd(struct loop *l, int fd, int events, void *arg)
{
	watch_fire(l, arg);
}

static long
on_watch_poll(struct loop *l, long long id, void *arg)
{
	struct proc_watch *w = arg;

	if (!exited_unreaped(w->pid))
		return PROC_WATCH_POLL_MS;
	w->timer = 0;
	watch_fire(l, w);
	return LOOP_NOMORE;
}

struct proc_watch *
proc_watch(struct loop *l, pid_t pid, proc_exit_fn *fn, void *arg)
{
	struct proc_watch *w;
	int fd;

	if (pid <= 0 || !fn) {
		errno = EINVAL;
		return NULL;
	}
	fd = pidfd_open(pid, 0);
	if (fd < 0 && errno != ENOSYS)
		return NULL;
	if (fd < 0 && kill(pid, 0) < 0 && errno == ESRCH)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->pid = pid;
	w->pidfd = fd;
	w->fn = fn;
	w->arg = arg;
	if (fd < 0) {
		w->timer = loop_add_timer(l, PROC_WATCH_POLL_MS, on_watch_poll,
		    w);
		return w;
	}
	if (loop_add_fd(l, fd, LOOP_READ, on_watch_pidfd, w) < 0) {
		int saved = errno;

		close(fd);
		free(w);
		errno = saved;
		return NULL;
	}
	return w;
}

void
proc_unwatch(struct loop *l, struct proc_watch *w)
{
	if (!w)
		return;
	if (w->pidfd >= 0) {
		loop_del_fd(l, w->pidfd);
		close(w->pidfd);
	}
	if (w->timer)
		loop_del_timer(l, w->timer);
	free(w);
}
