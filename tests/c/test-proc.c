/*
 * Drive lib/proc from the bats tests.
 *
 *   test-proc start [--log FILE] [--timeout MS] [--env NAME=VALUE]... PROG...
 *	spawn PROG with a readiness pipe, wait for it, print "ready" (and
 *	the time waited) or the error; prints the child's pid first
 *   test-proc child [--delay MS] [--exit N] [--signal N] [--marker FILE]
 *	the child side: sleep, then exit N, kill itself with signal N, or
 *	check that stdin is empty (/dev/null), create FILE, signal
 *	readiness and linger until killed
 *   test-proc pidfile-write FILE PID | pidfile-read FILE | alive PID
 *   test-proc detach LOG
 *	daemonize; the daemon logs its pid, session and stdin, signals
 *	readiness and exits; the original process prints the daemon's pid
 *   test-proc watch
 *	watches, from an event loop, a child that exits, one that is killed,
 *	one unwatched before it exits, a process that is not its child, a
 *	zombie of another parent and a pid that does not exist; prints each
 *	exit as it is seen
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "proc.h"
#include "xalloc.h"
#include "banned.h"

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
start(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "log", required_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct proc_spawn s = PROC_SPAWN_INIT;
	const char **env = xcalloc((size_t)argc + 1, sizeof(*env));
	int c, fd = -1, timeout = 10000, nenv = 0, status;
	char *err = NULL;
	int64_t t0;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			env[nenv++] = optarg;
			break;
		case 'l':
			s.log_path = optarg;
			break;
		case 't':
			timeout = atoi(optarg);
			break;
		default:
			exit(2);
		}
	}
	if (optind >= argc)
		die("nothing to start");
	s.argv = (const char *const *)argv + optind;
	s.env = env;
	s.ready = 1;
	s.new_pgrp = 1;
	t0 = loop_now_ms();
	pid = proc_spawn(&s, &fd, &err);
	free(env);
	if (pid < 0)
		die("%s", err);
	printf("pid %ld\n", (long)pid);
	fflush(stdout);
	if (proc_wait_ready(pid, fd, timeout, &err) < 0) {
		close(fd);
		if (errno == ETIMEDOUT) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
		die("child %s", err);
	}
	close(fd);
	printf("ready after %ld ms\n", (long)(loop_now_ms() - t0));
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	err = proc_status_str(status);
	printf("child %s\n", err);
	free(err);
	return 0;
}

static int
child(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, 'd' },
		{ "exit", required_argument, NULL, 'x' },
		{ "marker", required_argument, NULL, 'm' },
		{ "signal", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *marker = NULL, *env = getenv(PROC_READY_ENV);
	int c, code = -1, sig = 0, fd;
	long delay = 0;
	char b[1];

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			delay = atol(optarg);
			break;
		case 'm':
			marker = optarg;
			break;
		case 's':
			sig = atoi(optarg);
			break;
		case 'x':
			code = atoi(optarg);
			break;
		default:
			exit(2);
		}
	}
	printf("child: %s=%s FOO=%s\n", PROC_READY_ENV, env ? env : "-",
	    getenv("FOO") ? getenv("FOO") : "-");
	fprintf(stderr, "child: to stderr\n");
	fflush(stdout);
	sleep_ms(delay);
	if (sig)
		kill(getpid(), sig);
	if (code >= 0)
		return code;
	/* stdin is /dev/null: this returns at once. */
	if (read(0, b, 1) == 0)
		printf("child: stdin is empty\n");
	fflush(stdout);
	if (marker && (fd = open(marker, O_WRONLY | O_CREAT, 0600)) >= 0)
		close(fd);
	if (proc_notify_ready() < 0)
		die_errno("cannot signal readiness");
	if (getenv(PROC_READY_ENV))
		die("%s is still set", PROC_READY_ENV);
	for (;;)
		pause();
}

static int
detach(const char *log)
{
	char *err = NULL, stdin_path[256];
	pid_t pid;
	ssize_t n;
	int fd;

	pid = proc_daemonize(log, &fd, &err);
	if (pid < 0)
		die("%s", err);
	if (!pid) {
		n = readlink("/proc/self/fd/0", stdin_path,
		    sizeof(stdin_path) - 1);
		stdin_path[n > 0 ? n : 0] = '\0';
		printf("daemon pid=%ld leader=%s stdin=%s\n", (long)getpid(),
		    getsid(0) == getpid() ? "yes" : "no", stdin_path);
		fflush(stdout);
		if (proc_notify_ready() < 0)
			die_errno("cannot signal readiness");
		return 0;
	}
	if (proc_wait_ready(pid, fd, 10000, &err) < 0)
		die("daemon %s", err);
	close(fd);
	printf("daemon %ld is ready\n", (long)pid);
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
fork_child(int ms, int code, int signo)
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

/*
 * A process that is not our child: a grandchild that exits after MS.
 * Without MID its parent exits at once (init reaps it); with MID its
 * parent (*MID, for the caller to kill) stays and never reaps it, so it
 * stays a zombie.
 */
static pid_t
grandchild(int ms, pid_t *midp)
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
		pid = fork_child(ms, 0, 0);
		if (write(p[1], &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
			_exit(1);
		if (midp)
			pause();
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
		die("no pid from the intermediate child");
	close(p[0]);
	if (midp)
		*midp = mid;
	else
		waitpid(mid, NULL, 0);
	return pid;
}

static int
watch(void)
{
	struct loop *l = loop_new();
	struct proc_watch *w[5];
	pid_t quiet, gone, parent;
	size_t i;

	if (!l)
		die_errno("cannot create a loop");
	w[0] = proc_watch(l, fork_child(100, 5, 0), on_child, "first child");
	w[1] = proc_watch(l, grandchild(300, NULL), on_child, "the orphan");
	w[2] = proc_watch(l, fork_child(600, 0, SIGKILL), on_child,
	    "third child");
	w[3] = proc_watch(l, grandchild(900, &parent), on_child,
	    "the zombie of another parent");
	quiet = fork_child(50, 0, 0);
	w[4] = proc_watch(l, quiet, on_child, "unwatched child");
	for (i = 0; i < 5; i++)
		if (!w[i])
			die_errno("cannot watch a process");
	proc_unwatch(l, w[4]);
	gone = fork_child(0, 0, 0);
	waitpid(gone, NULL, 0);
	if (!proc_watch(l, gone, on_child, "reaped child"))
		printf("a reaped child cannot be watched: %s\n",
		    strerror(errno));
	children_left = 4;
	if (loop_run(l) < 0)
		die_errno("loop failed");
	for (i = 0; i < 4; i++)
		proc_unwatch(l, w[i]);
	waitpid(quiet, NULL, 0);
	kill(parent, SIGKILL);
	waitpid(parent, NULL, 0);
	loop_free(l);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	pid_t pid;

	log_init("test-proc");
	if (!strcmp(cmd, "start"))
		return start(argc - 1, argv + 1);
	if (!strcmp(cmd, "child"))
		return child(argc - 1, argv + 1);
	if (!strcmp(cmd, "pidfile-write") && argc > 3) {
		if (proc_pidfile_write(argv[2], (pid_t)atol(argv[3])) < 0)
			die_errno("cannot write '%s'", argv[2]);
		return 0;
	}
	if (!strcmp(cmd, "pidfile-read") && argc > 2) {
		if (proc_pidfile_read(argv[2], &pid) < 0)
			die_errno("cannot read pidfile '%s'", argv[2]);
		printf("%ld\n", (long)pid);
		return 0;
	}
	if (!strcmp(cmd, "alive") && argc > 2) {
		printf("%s\n", proc_alive((pid_t)atol(argv[2])) ? "alive" :
		    "dead");
		return 0;
	}
	if (!strcmp(cmd, "detach") && argc > 2)
		return detach(argv[2]);
	if (!strcmp(cmd, "watch")) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		return watch();
	}
	fprintf(stderr, "usage: test-proc start|child|pidfile-write|"
	    "pidfile-read|alive|detach|watch ...\n");
	return 2;
}
