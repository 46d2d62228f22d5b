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
	fprintf(stderr, "usage: test-proc start|child|pidfile-write|"
	    "pidfile-read|alive|detach ...\n");
	return 2;
}
