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
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	else {
		fprintf(stderr, "usage: test-loop timers|fds|signals\n");
		ret = 2;
	}
	loop_free(l);
	return ret;
}
