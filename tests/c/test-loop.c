/*
 * Drive lib/loop from the bats tests.
 *
 *   test-loop timers	timers of several delays, one repeating, one
 *			cancelled, one cancelling itself; prints them as
 *			they fire
 *   test-loop fds	a pipe written by a timer; prints what the read
 *			callback sees, then watches for writability
 *   test-loop signals	signals readiness (MEPHISTO_READY_FD), then prints
 *			each SIGUSR1 and SIGHUP delivered through the loop
 *			until SIGTERM
 *   test-loop children	watches a child that exits, one that is killed,
 *			one unwatched before it exits, a process that is
 *			not its child, and a pid that does not exist;
 *			prints each exit as it is seen
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "proc.h"
#include "banned.h"

static int64_t start;
static long long cancel_me;
static int repeats;

static long
on_timer(struct loop *l, long long id, void *arg)
{
	const char *name = arg;

	printf("%s\n", name);
	if (!strcmp(name, "last"))
		loop_stop(l);
	if (!strcmp(name, "canceller") && loop_del_timer(l, cancel_me) < 0)
		printf("cancel failed\n");
	return LOOP_NOMORE;
}

static long
on_repeat(struct loop *l, long long id, void *arg)
{
	printf("repeat %d\n", ++repeats);
	return repeats < 3 ? 20 : LOOP_NOMORE;
}

static long
on_self_cancel(struct loop *l, long long id, void *arg)
{
	printf("self-cancel\n");
	loop_del_timer(l, id);
	return 5;
}

static int
timers(struct loop *l)
{
	loop_add_timer(l, 300, on_timer, "c-300ms");
	loop_add_timer(l, 100, on_timer, "a-100ms");
	loop_add_timer(l, 200, on_timer, "b1-200ms");
	loop_add_timer(l, 200, on_timer, "b2-200ms");
	loop_add_timer(l, 0, on_timer, "now");
	loop_add_timer(l, 10, on_repeat, NULL);
	loop_add_timer(l, 1, on_self_cancel, NULL);
	cancel_me = loop_add_timer(l, 400, on_timer, "cancelled");
	loop_add_timer(l, 350, on_timer, "canceller");
	loop_add_timer(l, 500, on_timer, "last");
	if (loop_del_timer(l, 999999) == 0)
		printf("deleting an unknown timer succeeded\n");
	if (loop_run(l) < 0)
		die_errno("loop failed");
	printf("elapsed>=500: %s\n",
	    loop_now_ms() - start >= 500 ? "yes" : "no");
	return 0;
}

static int pipefd[2];

static long
on_write_timer(struct loop *l, long long id, void *arg)
{
	if (write(pipefd[1], "hello\n", 6) != 6)
		die_errno("cannot write");
	close(pipefd[1]);
	return LOOP_NOMORE;
}

static void
on_writable(struct loop *l, int fd, int events, void *arg)
{
	printf("fd writable: %s\n", events & LOOP_WRITE ? "yes" : "no");
	loop_del_fd(l, fd);
	loop_stop(l);
}

static void
on_readable(struct loop *l, int fd, int events, void *arg)
{
	char b[64];
	ssize_t n = read(fd, b, sizeof(b));

	if (n > 0) {
		printf("read %zd bytes after %s ms: %.*s", n,
		    loop_now_ms() - start >= 30 ? ">=30" : "<30", (int)n, b);
		return;
	}
	printf("end of file\n");
	loop_del_fd(l, fd);
	close(fd);
	if (pipe(pipefd) < 0)
		die_errno("pipe");
	loop_add_fd(l, pipefd[1], LOOP_WRITE, on_writable, NULL);
}

static int
fds(struct loop *l)
{
	int rd;

	if (pipe(pipefd) < 0)
		die_errno("pipe");
	rd = pipefd[0];
	loop_add_fd(l, rd, LOOP_READ, on_readable, NULL);
	loop_add_timer(l, 30, on_write_timer, NULL);
	if (loop_run(l) < 0)
		die_errno("loop failed");
	close(pipefd[0]);
	close(pipefd[1]);
	return 0;
}

static void
on_signal(struct loop *l, int signo, void *arg)
{
	printf("got %s\n", sigabbrev_np(signo));
	fflush(stdout);
	if (signo == SIGTERM)
		loop_stop(l);
}

static int
signals(struct loop *l)
{
	if (loop_add_signal(l, SIGUSR1, on_signal, NULL) < 0 ||
	    loop_add_signal(l, SIGHUP, on_signal, NULL) < 0 ||
	    loop_add_signal(l, SIGTERM, on_signal, NULL) < 0)
		die_errno("cannot watch signals");
	/* A signal raised by ourselves arrives the same way. */
	raise(SIGHUP);
	if (proc_notify_ready() < 0)
		die_errno("cannot signal readiness");
	if (loop_run(l) < 0)
		die_errno("loop failed");
	printf("stopped\n");
	return 0;
}

static int children_left;

static void
on_child(struct loop *l, pid_t pid, void *arg)
{
	const char *name = arg;
	char *how;
	int status;

	if (waitpid(pid, &status, 0) == pid) {
		how = proc_status_str(status);
		printf("%s %s\n", name, how);
		free(how);
	} else {
		printf("%s is gone\n", name);
	}
	if (!--children_left)
		loop_stop(l);
}

/* Fork a child that sleeps MS, then exits with CODE (or kills itself). */
static pid_t
child(int ms, int code, int signo)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
	pid_t pid = fork();

	if (pid < 0)
		die_errno("fork");
	if (pid)
		return pid;
	nanosleep(&t, NULL);
	if (signo)
		raise(signo);
	_exit(code);
}

/* A process that is not our child: a grandchild whose parent has exited. */
static pid_t
orphan(int ms)
{
	int p[2];
	pid_t mid, pid = -1;

	if (pipe(p) < 0)
		die_errno("pipe");
	mid = fork();
	if (mid < 0)
		die_errno("fork");
	if (!mid) {
		close(p[0]);
		pid = child(ms, 0, 0);
		if (write(p[1], &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
		die("no pid from the intermediate child");
	close(p[0]);
	waitpid(mid, NULL, 0);
	return pid;
}

static int
children(struct loop *l)
{
	struct loop_child *w[4];
	pid_t quiet, gone;
	size_t i;

	w[0] = loop_watch_child(l, child(100, 5, 0), on_child, "first child");
	w[1] = loop_watch_child(l, orphan(200), on_child, "the orphan");
	w[2] = loop_watch_child(l, child(300, 0, SIGKILL), on_child,
	    "third child");
	quiet = child(50, 0, 0);
	w[3] = loop_watch_child(l, quiet, on_child, "unwatched child");
	for (i = 0; i < 4; i++)
		if (!w[i])
			die_errno("cannot watch a process");
	loop_unwatch_child(l, w[3]);
	gone = child(0, 0, 0);
	waitpid(gone, NULL, 0);
	if (!loop_watch_child(l, gone, on_child, "reaped child"))
		printf("a reaped child cannot be watched: %s\n",
		    strerror(errno));
	children_left = 3;
	if (loop_run(l) < 0)
		die_errno("loop failed");
	for (i = 0; i < 3; i++)
		loop_unwatch_child(l, w[i]);
	waitpid(quiet, NULL, 0);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	struct loop *l;
	int ret;

	log_init("test-loop");
	setvbuf(stdout, NULL, _IOLBF, 0);
	l = loop_new();
	if (!l)
		die_errno("cannot create a loop");
	start = loop_now_ms();
	if (!strcmp(cmd, "timers"))
		ret = timers(l);
	else if (!strcmp(cmd, "fds"))
		ret = fds(l);
	else if (!strcmp(cmd, "signals"))
		ret = signals(l);
	else if (!strcmp(cmd, "children"))
		ret = children(l);
	else {
		fprintf(stderr, "usage: test-loop timers|fds|signals|children\n");
		ret = 2;
	}
	loop_free(l);
	return ret;
}
