#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "pool.h"
#include "proc.h"
#include "xalloc.h"
#include "banned.h"

/*
 * Validator children: "sh -c COMMAND" in its own process group, with a
 * JSON object on stdin, its stdout and stderr copied into the pool's log
 * line by line.  Exit status 0 passes; any other status, a death by a
 * signal, or running past the time limit (the group is then killed)
 * fails.  The event loop only watches the child: proc_watch() tells
 * when it exits, a timer when its time is up, so the pool never waits
 * for it.
 * Onboarding (submit.c) and screening (screen.c) use them.
 */

#define VALIDATOR_OUTPUT_MAX 4096

static const char *
kind_name(const struct pool_check *k)
{
	return k->kind == POOL_CHECK_SCREENING ? "screening" : "onboarding";
}

struct pool_check *
pool_check_new(struct pool *pool, enum pool_check_kind kind, int64_t id,
    pool_check_fn *done)
{
	struct pool_check *k = xcalloc(1, sizeof(*k));

	k->pool = pool;
	k->kind = kind;
	k->id = id;
	k->done = done;
	k->outfd = -1;
	k->next = pool->checks;
	pool->checks = k;
	return k;
}

/* Unlink K from the pool and stop watching it; K itself stays. */
static void
check_unhook(struct pool_check *k)
{
	struct pool *pool = k->pool;
	struct pool_check **pp;

	for (pp = &pool->checks; *pp; pp = &(*pp)->next) {
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	}
	k->next = NULL;
	if (k->timer)
		loop_del_timer(pool->loop, k->timer);
	k->timer = 0;
	proc_unwatch(pool->loop, k->watch);
	k->watch = NULL;
	if (k->outfd >= 0) {
		loop_del_fd(pool->loop, k->outfd);
		close(k->outfd);
		k->outfd = -1;
	}
}

void
pool_check_free(struct pool_check *k)
{
	if (!k)
		return;
	check_unhook(k);
	free(k->request_id);
	free(k->data_request_id);
	free(k->registration_id);
	free(k);
}

struct pool_check *
pool_check_find(struct pool *pool, enum pool_check_kind kind, int64_t id)
{
	struct pool_check *k;

	for (k = pool->checks; k; k = k->next)
		if (k->kind == kind && k->id == id)
			return k;
	return NULL;
}

static void
drain_output(struct pool_check *k)
{
	char buf[VALIDATOR_OUTPUT_MAX];
	ssize_t n;

	while ((n = read(k->outfd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		if (n && buf[n - 1] == '\n')
			buf[n - 1] = '\0';
		log_info("%s validator [%ld]: %s", kind_name(k), (long)k->pid,
		    buf);
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		loop_del_fd(k->pool->loop, k->outfd);
		close(k->outfd);
		k->outfd = -1;
	}
}

static void
on_check_output(struct loop *l, int fd, int events, void *arg)
{
	drain_output(arg);
}

static void
on_check_exit(struct loop *l, pid_t pid, void *arg)
{
	struct pool_check *k = arg;
	int status, passed;

	(void)pid;
	if (waitpid(k->pid, &status, WNOHANG) != k->pid)
		return;
	if (k->outfd >= 0)
		drain_output(k);
	passed = !k->killed && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (!passed && !k->killed)
		log_info("%s validator [%ld] %s with status %d", kind_name(k),
		    (long)k->pid, WIFEXITED(status) ? "exited" : "died",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	/* Unhook first: the outcome sends packets and may start checks. */
	check_unhook(k);
	k->done(k, passed);
	pool_check_free(k);
}

static long
on_check_timeout(struct loop *l, long long id, void *arg)
{
	struct pool_check *k = arg;

	warn("%s validator [%ld] ran out of time: killed", kind_name(k),
	    (long)k->pid);
	k->killed = 1;
	k->timer = 0;
	kill(-k->pid, SIGKILL);
	return LOOP_NOMORE;
}

/* A file holding TEXT, positioned at its start, for a child's stdin. */
static int
stdin_file(const char *text)
{
	size_t len = strlen(text), off = 0;
	int fd = memfd_create("validator", MFD_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
exec_validator(const char *cmd, int in, int out)
{
	sigset_t none;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(126);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

int
pool_check_spawn(struct pool_check *k, const char *cmd, const char *input,
    double timeout)
{
	struct pool *pool = k->pool;
	int in, pipefd[2];

	in = stdin_file(input);
	if (in < 0)
		return error_errno("cannot prepare the %s validator's input",
		    kind_name(k));
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		close(in);
		return error_errno("cannot create a pipe");
	}
	k->pid = fork();
	if (k->pid == 0)
		exec_validator(cmd, in, pipefd[1]);
	close(in);
	close(pipefd[1]);
	if (k->pid < 0) {
		close(pipefd[0]);
		return error_errno("cannot start the %s validator",
		    kind_name(k));
	}
	setpgid(k->pid, k->pid);
	k->outfd = pipefd[0];
	fcntl(k->outfd, F_SETFL, fcntl(k->outfd, F_GETFL) | O_NONBLOCK);
	k->watch = proc_watch(pool->loop, k->pid, on_check_exit, k);
	if (!k->watch || loop_add_fd(pool->loop, k->outfd,
	    LOOP_READ, on_check_output, k) < 0) {
		kill(-k->pid, SIGKILL);
		waitpid(k->pid, NULL, 0);
		return error_errno("cannot watch the %s validator",
		    kind_name(k));
	}
	k->timer = loop_add_timer(pool->loop, (long)(timeout * 1000),
	    on_check_timeout, k);
	log_debug("%s validator [%ld] started", kind_name(k), (long)k->pid);
	return 0;
}

void
pool_checks_kill(struct pool *pool)
{
	while (pool->checks) {
		struct pool_check *k = pool->checks;

		if (k->pid > 0) {
			kill(-k->pid, SIGKILL);
			waitpid(k->pid, NULL, 0);
		}
		pool_check_free(k);
	}
}
