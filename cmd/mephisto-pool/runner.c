#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "proc.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

/*
 * The runners of live tasks (blueprint live_task): one process per
 * assignment ("sh -c RUNNER" in the task's folder, its own process group,
 * stderr into the pool's log).  It reads events on stdin and writes
 * commands on stdout, one JSON object per line.  live.c decides when a
 * runner starts and what its agents do; this file runs the process and
 * speaks its protocol.
 *
 * Events (pool -> runner):
 *   {"event": "start", "assignment_id", "task_run_id", "units": N,
 *    "resumed": bool}
 *   {"event": "agent_joined", "agent_id", "worker_id", "unit_index",
 *    "init_data": {...}}
 *   {"event": "live_update", "agent_id", "data": {...}}
 *   {"event": "agent_disconnected" | "agent_returned" | "agent_timed_out"
 *    | "agent_reconnected", "agent_id"}
 *   {"event": "agent_submitted", "agent_id", "data": {...}}
 *   {"event": "ping"}                 answer with {"command": "pong"}
 * stdin is closed when no agent of the assignment works any more; the
 * runner should then exit.
 *
 * Commands (runner -> pool):
 *   {"command": "send", "agent_id", "data": {...}}   a live update to
 *                                     the agent's browser
 *   {"command": "done", "agent_id", "data"?: {...}}  the agent's work is
 *                                     complete (data: its outputs, when
 *                                     it did not submit itself)
 *   {"command": "fail", "reason"}     fail the assignment: its units are
 *                                     expired, its agents disconnected
 *   {"command": "log", "level"?: "info"|"warn"|"error", "text"}
 *   {"command": "pong"}
 *
 * Containment: a runner that exits while its agents still work, or that
 * leaves a ping unanswered for runner_timeout_seconds, is killed (its
 * whole process group); its live agents become "disconnect" (their
 * browsers are told) and their units go back to "launched", to be offered
 * again; a "runner_failed" run event records why.  Other assignments are
 * not touched.
 *
 * Events to runners are queued while a round runs and written after the
 * round's commit (pool_runners_flush()), like every answer of the pool.
 */

#define RUNNER_LINE_MAX (1024 * 1024)	/* longest command line */
#define RUNNER_BACKLOG_MAX (4 * 1024 * 1024) /* unread events */
#define RUNNER_SEEN_MAX 128	/* update ids remembered per agent */

/*
 * The update ids of an agent's latest live updates, a ring: a browser
 * that reconnects sends again what it is not sure was sent.
 */
struct seen_ids {
	char *ids[RUNNER_SEEN_MAX];
	size_t next;			/* the slot to fill next */
};

struct pool_runner {
	struct pool *pool;
	int64_t assignment_id;
	int64_t *agents;		/* the assignment's agents */
	size_t nr_agents, alloc_agents;
	struct seen_ids *seen;		/* per agent, as agents[] */
	pid_t pid;
	struct proc_watch *watch;	/* tells when it exits */
	int infd;			/* its stdin; -1 once closed */
	int outfd;			/* its stdout; -1 at end of file */
	int writing;			/* infd is watched for LOOP_WRITE */
	struct buf in;			/* events not yet written */
	struct buf line;		/* a partial command */
	long long timer;		/* pings and the time limit */
	double ping_sent;		/* 0: no ping outstanding */
	int closing;			/* its assignment is over */
	int failed;			/* contained already */
	uint64_t serial;		/* for update ids */
	int dirty;			/* in pool->dirty */
	struct pool_runner *next, *next_dirty;
};

static void runner_fail(struct pool_runner *r, const char *why);
static long on_runner_timer(struct loop *l, long long id, void *arg);

struct pool_runner *
pool_runner_of_assignment(struct pool *pool, int64_t assignment_id)
{
	struct pool_runner *r = imap_get(&pool->runner_by_assignment,
	    assignment_id);

	return r && !r->failed ? r : NULL;
}

struct pool_runner *
pool_runner_of_agent(struct pool *pool, int64_t agent_id)
{
	struct pool_runner *r = imap_get(&pool->runner_by_agent, agent_id);

	return r && !r->failed ? r : NULL;
}

static void
runner_free(struct pool_runner *r)
{
	struct pool *pool = r->pool;
	struct pool_runner **pp;
	size_t i, j;

	for (pp = &pool->runners; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	for (pp = &pool->dirty; r->dirty && *pp; pp = &(*pp)->next_dirty) {
		if (*pp == r) {
			*pp = r->next_dirty;
			break;
		}
	}
	imap_del(&pool->runner_by_assignment, r->assignment_id, r);
	for (i = 0; i < r->nr_agents; i++)
		imap_del(&pool->runner_by_agent, r->agents[i], r);
	if (r->timer)
		loop_del_timer(pool->loop, r->timer);
	proc_unwatch(pool->loop, r->watch);
	r->watch = NULL;
	if (r->infd >= 0) {
		loop_del_fd(pool->loop, r->infd);
		close(r->infd);
	}
	if (r->outfd >= 0) {
		loop_del_fd(pool->loop, r->outfd);
		close(r->outfd);
	}
	buf_release(&r->in);
	buf_release(&r->line);
	for (i = 0; r->seen && i < r->nr_agents; i++)
		for (j = 0; j < RUNNER_SEEN_MAX; j++)
			free(r->seen[i].ids[j]);
	free(r->seen);
	free(r->agents);
	free(r);
}

/* Queue one event (taking EV); it is written after the round's commit. */
static void
runner_queue(struct pool_runner *r, cJSON *ev)
{
	if (r->infd >= 0 && !r->failed) {
		msg_write_line(ev, &r->in);
		if (!r->dirty) {
			r->dirty = 1;
			r->next_dirty = r->pool->dirty;
			r->pool->dirty = r;
		}
	}
	msg_free(ev);
}

static cJSON *
agent_event(const char *event, int64_t agent_id)
{
	cJSON *ev = msg_new_object();

	msg_set_str(ev, "event", event);
	msg_set_id(ev, "agent_id", agent_id);
	return ev;
}

static void
close_stdin(struct pool_runner *r)
{
	if (r->infd < 0)
		return;
	loop_del_fd(r->pool->loop, r->infd);
	close(r->infd);
	r->infd = -1;
	buf_reset(&r->in);
}

/* Write what is queued; returns -1 when the runner does not read. */
static int
runner_write(struct pool_runner *r)
{
	ssize_t n;

	while (r->infd >= 0 && r->in.len) {
		n = write(r->infd, r->in.buf, r->in.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			/* Its stdin is gone; its exit tells the rest. */
			close_stdin(r);
			return 0;
		}
		buf_remove_front(&r->in, (size_t)n);
	}
	if (r->infd < 0)
		return 0;
	if (r->in.len > RUNNER_BACKLOG_MAX)
		return -1;
	if (!!r->in.len != r->writing) {
		r->writing = !!r->in.len;
		loop_set_events(r->pool->loop, r->infd,
		    r->writing ? LOOP_WRITE : 0);
	}
	if (!r->in.len && r->closing)
		close_stdin(r);
	return 0;
}

static void
on_runner_stdin(struct loop *l, int fd, int events, void *arg)
{
	struct pool_runner *r = arg;

	if (runner_write(r) < 0)
		runner_fail(r, "it does not read its events");
}

void
pool_runners_flush(struct pool *pool)
{
	struct pool_runner *r;

	while ((r = pool->dirty)) {
		pool->dirty = r->next_dirty;
		r->dirty = 0;
		if (r->in.len && runner_write(r) < 0)
			runner_fail(r, "it does not read its events");
	}
}

void
pool_runner_finish(struct pool_runner *r)
{
	if (r->closing)
		return;
	r->closing = 1;
	if (!r->in.len)
		close_stdin(r);
	if (r->timer)
		loop_del_timer(r->pool->loop, r->timer);
	r->ping_sent = 0;
	/* It has runner_timeout_seconds to exit. */
	r->timer = loop_add_timer(r->pool->loop,
	    (long)(r->pool->run.runner_timeout * 1000), on_runner_timer, r);
}

int
pool_runner_closing(const struct pool_runner *r)
{
	return r->closing;
}

/* Contain R: kill it, release its agents' units, log why. */
static void
runner_fail(struct pool_runner *r, const char *why)
{
	struct pool *pool = r->pool;

	if (r->failed)
		return;
	r->failed = 1;
	warn("runner [%ld] of assignment %" PRId64 " failed: %s; its units "
	    "are released", (long)r->pid, r->assignment_id, why);
	if (r->pid > 0)
		kill(-r->pid, SIGKILL);
	close_stdin(r);
	if (r->timer) {
		loop_del_timer(pool->loop, r->timer);
		r->timer = 0;
	}
	pool_live_contain(pool, r->assignment_id, why);
}

/* Commands. */

static void
cmd_send(struct pool_runner *r, const cJSON *c, int64_t agent_id)
{
	struct pool *pool = r->pool;
	struct msg_packet p = MSG_PACKET_INIT;
	struct pool_conn *o;
	const cJSON *data = msg_get(c, "data");
	char subject[32], uid[64];
	cJSON *d;

	d = cJSON_IsObject(data) ? msg_dup(data) : msg_new_object();
	if (!msg_has(d, "update_id")) {
		snprintf(uid, sizeof(uid), "runner-%" PRId64 "-%" PRIu64,
		    r->assignment_id, ++r->serial);
		msg_set_str(d, "update_id", uid);
	}
	snprintf(subject, sizeof(subject), "%" PRId64, agent_id);
	p.packet_type = PT_CLIENT_LIVE_UPDATE;
	p.subject_id = subject;
	p.data = d;
	p.server_timestamp = msg_now();
	for (o = pool->conns; o; o = o->next)
		if (o->is_io && !o->closing)
			pool_send(o, &p);
	msg_free(d);
}

static void
cmd_done(struct pool_runner *r, const cJSON *c, int64_t agent_id)
{
	struct pool *pool = r->pool;
	const cJSON *data = msg_get(c, "data");
	struct model_agent a;
	struct buf out = BUF_INIT;
	int rc;

	if (cJSON_IsObject(data))
		msg_print(data, &out);
	else
		buf_addstr(&out, "{}");
	if (db_begin(pool->db) < 0)
		goto busy;
	rc = model_agent_get(pool->db, agent_id, &a);
	if (rc < 0)
		goto busy;
	rc = rc && !strcmp(a.status, AGENT_IN_TASK) ?
	    model_agent_submit(pool->db, &a, out.buf, NULL, NULL) : 0;
	if (rc < 0 || db_commit(pool->db) < 0)
		goto busy;
	buf_release(&out);
	if (rc == 1) {
		log_info("runner [%ld]: agent %" PRId64 " is done",
		    (long)r->pid, agent_id);
		pool_live_push(pool, agent_id, AGENT_COMPLETED);
		pool_publish(pool);
		pool_live_check_over(pool, a.assignment_id);
	}
	return;
busy:
	buf_release(&out);
	pool_db_fail(pool, "record a runner's done");
}

static void
cmd_fail(struct pool_runner *r, const cJSON *c)
{
	struct pool *pool = r->pool;
	const cJSON *reason = msg_get(c, "reason");
	const char *why = cJSON_IsString(reason) ? reason->valuestring :
	    "no reason given";
	struct model_agent a;
	int64_t *ids = NULL;
	size_t nr = 0, i;
	int rc;

	warn("runner [%ld] failed assignment %" PRId64 ": %s", (long)r->pid,
	    r->assignment_id, why);
	if (db_begin(pool->db) < 0)
		goto busy;
	if (pool_live_agents(pool, r->assignment_id, 0, &ids, &nr) < 0)
		goto busy;
	for (i = 0; i < nr; i++) {
		rc = model_agent_get(pool->db, ids[i], &a);
		if (rc < 0 || (rc && model_unit_expire(pool->db, a.unit_id,
		    MODEL_EXPIRE_HELD, NULL) < 0))
			goto busy;
	}
	if (model_event_add(pool->db, pool->run.task_run_id, 0, 0, 0,
	    "assignment_failed", why, NULL) < 0 || db_commit(pool->db) < 0)
		goto busy;
	for (i = 0; i < nr; i++)
		pool_live_push(pool, ids[i], AGENT_DISCONNECT);
	free(ids);
	pool_publish(pool);
	pool_runner_finish(r);
	return;
busy:
	free(ids);
	pool_db_fail(pool, "fail an assignment");
}

static void
cmd_log(struct pool_runner *r, const cJSON *c)
{
	const cJSON *level = msg_get(c, "level"), *text = msg_get(c, "text");
	const char *lv = cJSON_IsString(level) ? level->valuestring : "info";
	const char *t = cJSON_IsString(text) ? text->valuestring : "";

	if (!strcmp(lv, "error"))
		error("runner [%ld]: %s", (long)r->pid, t);
	else if (!strcmp(lv, "warn") || !strcmp(lv, "warning"))
		warn("runner [%ld]: %s", (long)r->pid, t);
	else
		log_info("runner [%ld]: %s", (long)r->pid, t);
}

static int
runner_has_agent(const struct pool_runner *r, int64_t id)
{
	size_t i;

	for (i = 0; i < r->nr_agents; i++)
		if (r->agents[i] == id)
			return 1;
	return 0;
}

int
pool_runner_update_seen(struct pool_runner *r, int64_t agent_id,
    const char *update_id)
{
	struct seen_ids *s = NULL;
	size_t i;

	for (i = 0; i < r->nr_agents; i++)
		if (r->agents[i] == agent_id)
			s = &r->seen[i];
	if (!s)
		return 0;
	for (i = 0; i < RUNNER_SEEN_MAX; i++)
		if (s->ids[i] && !strcmp(s->ids[i], update_id))
			return 1;
	free(s->ids[s->next]);
	s->ids[s->next] = xstrdup(update_id);
	s->next = (s->next + 1) % RUNNER_SEEN_MAX;
	return 0;
}

static void
runner_command(struct pool_runner *r, const char *line, size_t len)
{
	const char *cmd;
	char *err = NULL;
	int64_t agent_id = 0;
	cJSON *c = msg_parse(line, len, RUNNER_LINE_MAX, &err);

	r->ping_sent = 0;
	if (!c || !cJSON_IsObject(c) || msg_get_str(c, "command", &cmd,
	    &err) < 0) {
		warn("runner [%ld]: bad command: %s", (long)r->pid,
		    err ? err : "not an object");
		goto out;
	}
	if (!strcmp(cmd, "send") || !strcmp(cmd, "done")) {
		if (msg_get_id(c, "agent_id", &agent_id, &err) < 0)
			goto bad;
		if (!runner_has_agent(r, agent_id)) {
			warn("runner [%ld]: agent %" PRId64 " is not of its "
			    "assignment", (long)r->pid, agent_id);
			goto out;
		}
	}
	if (!strcmp(cmd, "send"))
		cmd_send(r, c, agent_id);
	else if (!strcmp(cmd, "done"))
		cmd_done(r, c, agent_id);
	else if (!strcmp(cmd, "fail"))
		cmd_fail(r, c);
	else if (!strcmp(cmd, "log"))
		cmd_log(r, c);
	else if (strcmp(cmd, "pong"))
		warn("runner [%ld]: unknown command '%.40s'", (long)r->pid,
		    cmd);
	goto out;
bad:
	warn("runner [%ld]: bad '%s' command: %s", (long)r->pid, cmd, err);
out:
	free(err);
	msg_free(c);
}

static void
on_runner_stdout(struct loop *l, int fd, int events, void *arg)
{
	struct pool_runner *r = arg;
	char chunk[8192], *nl;
	ssize_t n;
	size_t len;

	for (;;) {
		n = read(r->outfd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			loop_del_fd(l, r->outfd);
			close(r->outfd);
			r->outfd = -1;
			break;
		}
		buf_add(&r->line, chunk, (size_t)n);
		while (!r->failed && (nl = memchr(r->line.buf, '\n',
		    r->line.len))) {
			len = (size_t)(nl - r->line.buf);
			if (len)
				runner_command(r, r->line.buf, len);
			buf_remove_front(&r->line, len + 1);
		}
		if (r->failed)
			return;
		if (r->line.len > RUNNER_LINE_MAX) {
			runner_fail(r, "a command line is too long");
			return;
		}
	}
}

static void
on_runner_exit(struct loop *l, pid_t pid, void *arg)
{
	struct pool_runner *r = arg;
	char *how;
	int status;

	(void)pid;
	if (waitpid(r->pid, &status, WNOHANG) != r->pid)
		return;
	if (r->outfd >= 0)
		on_runner_stdout(l, r->outfd, LOOP_READ, r);
	how = proc_status_str(status);
	if (!r->failed && !r->closing) {
		char *why = xasprintf("it %s while its agents worked", how);

		runner_fail(r, why);
		free(why);
	} else {
		log_info("runner [%ld] of assignment %" PRId64 " %s",
		    (long)r->pid, r->assignment_id, how);
	}
	free(how);
	runner_free(r);
}

static long
on_runner_timer(struct loop *l, long long id, void *arg)
{
	struct pool_runner *r = arg;
	long period = (long)(r->pool->run.runner_timeout * 1000 / 2) + 1;
	cJSON *ev;

	r->timer = 0;
	if (r->closing) {
		warn("runner [%ld] did not exit after its assignment ended: "
		    "killed", (long)r->pid);
		r->failed = 1;
		kill(-r->pid, SIGKILL);
		return LOOP_NOMORE;
	}
	if (r->ping_sent && db_now() - r->ping_sent >=
	    r->pool->run.runner_timeout) {
		runner_fail(r, "it did not answer a ping in time");
		return LOOP_NOMORE;
	}
	if (!r->ping_sent) {
		ev = msg_new_object();
		msg_set_str(ev, "event", "ping");
		runner_queue(r, ev);
		r->ping_sent = db_now();
	}
	r->timer = id;
	return period;
}

/* Start-up of a runner. */

static void
exec_runner(const char *cmd, const char *dir, int in, int out,
    int64_t run_id, int64_t assignment_id)
{
	char run[32], asg[32];
	sigset_t none;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0)
		_exit(126);
	if (dir && chdir(dir) < 0)
		_exit(126);
	snprintf(run, sizeof(run), "%" PRId64, run_id);
	snprintf(asg, sizeof(asg), "%" PRId64, assignment_id);
	setenv("MEPHISTO_TASK_RUN_ID", run, 1);
	setenv("MEPHISTO_ASSIGNMENT_ID", asg, 1);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

static int
runner_spawn(struct pool_runner *r)
{
	struct pool *pool = r->pool;
	const char *dir = pool->run.runner_dir;
	int inp[2], outp[2];

	if (pipe2(inp, O_CLOEXEC) < 0)
		return error_errno("cannot create a pipe");
	if (pipe2(outp, O_CLOEXEC) < 0) {
		close(inp[0]);
		close(inp[1]);
		return error_errno("cannot create a pipe");
	}
	r->pid = fork();
	if (r->pid == 0)
		exec_runner(pool->run.runner, dir, inp[0], outp[1],
		    pool->run.task_run_id, r->assignment_id);
	close(inp[0]);
	close(outp[1]);
	if (r->pid < 0) {
		close(inp[1]);
		close(outp[0]);
		return error_errno("cannot start a runner");
	}
	setpgid(r->pid, r->pid);
	r->infd = inp[1];
	r->outfd = outp[0];
	fcntl(r->infd, F_SETFL, fcntl(r->infd, F_GETFL) | O_NONBLOCK);
	fcntl(r->outfd, F_SETFL, fcntl(r->outfd, F_GETFL) | O_NONBLOCK);
	r->watch = proc_watch(pool->loop, r->pid, on_runner_exit, r);
	if (!r->watch || loop_add_fd(pool->loop, r->outfd,
	    LOOP_READ, on_runner_stdout, r) < 0 || loop_add_fd(pool->loop,
	    r->infd, 0, on_runner_stdin, r) < 0) {
		kill(-r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
		return error_errno("cannot watch a runner");
	}
	r->timer = loop_add_timer(pool->loop,
	    (long)(pool->run.runner_timeout * 1000 / 2) + 1, on_runner_timer,
	    r);
	log_info("runner [%ld] started for assignment %" PRId64,
	    (long)r->pid, r->assignment_id);
	return 0;
}

/* The agent_joined event of agent ID. */
static cJSON *
joined_event(struct pool *pool, int64_t id)
{
	struct model_agent a;
	struct model_unit u;
	char *inputs = NULL;
	cJSON *ev, *init;

	if (model_agent_get(pool->db, id, &a) != 1 ||
	    model_unit_get(pool->db, a.unit_id, &u) != 1 ||
	    model_agent_inputs(pool->db, id, &inputs) < 0)
		return NULL;
	ev = agent_event("agent_joined", id);
	msg_set_id(ev, "worker_id", a.worker_id);
	msg_set_int(ev, "unit_index", u.unit_index);
	init = inputs ? msg_parse(inputs, strlen(inputs), 0, NULL) : NULL;
	msg_set(ev, "init_data", init ? init : msg_new_object());
	free(inputs);
	return ev;
}

void
pool_runner_start(struct pool *pool, int64_t assignment_id, int resumed)
{
	struct pool_runner *r;
	int64_t *ids = NULL;
	size_t nr = 0, i;
	cJSON *ev;

	if (!pool->run.runner || pool_runner_of_assignment(pool, assignment_id))
		return;
	if (pool_live_agents(pool, assignment_id, 0, &ids, &nr) < 0) {
		error("cannot read the agents of assignment %" PRId64 ": %s",
		    assignment_id, db_errmsg(pool->db));
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->pool = pool;
	r->assignment_id = assignment_id;
	r->infd = r->outfd = -1;
	r->agents = ids;
	r->nr_agents = r->alloc_agents = nr;
	r->seen = xcalloc(nr ? nr : 1, sizeof(*r->seen));
	buf_init(&r->in);
	buf_init(&r->line);
	r->next = pool->runners;
	pool->runners = r;
	imap_put(&pool->runner_by_assignment, assignment_id, r);
	for (i = 0; i < nr; i++)
		imap_put(&pool->runner_by_agent, ids[i], r);
	if (runner_spawn(r) < 0) {
		/* Nobody would drive these agents: release them. */
		runner_free(r);
		pool_live_contain(pool, assignment_id,
		    "the runner could not start");
		return;
	}
	ev = msg_new_object();
	msg_set_str(ev, "event", "start");
	msg_set_id(ev, "assignment_id", assignment_id);
	msg_set_id(ev, "task_run_id", pool->run.task_run_id);
	msg_set_int(ev, "units", (int64_t)nr);
	msg_set_bool(ev, "resumed", resumed);
	runner_queue(r, ev);
	for (i = 0; i < nr; i++) {
		ev = joined_event(pool, ids[i]);
		if (ev)
			runner_queue(r, ev);
	}
}

/* Events from the rest of the pool. */

void
pool_runner_agent_event(struct pool *pool, int64_t agent_id,
    const char *event, const cJSON *data)
{
	struct pool_runner *r = pool_runner_of_agent(pool, agent_id);
	cJSON *ev;

	if (!r)
		return;
	ev = agent_event(event, agent_id);
	if (data)
		msg_set(ev, "data", msg_dup(data));
	runner_queue(r, ev);
}

void
pool_runners_kill(struct pool *pool)
{
	while (pool->runners) {
		struct pool_runner *r = pool->runners;

		if (r->pid > 0) {
			kill(-r->pid, SIGKILL);
			waitpid(r->pid, NULL, 0);
		}
		runner_free(r);
	}
	imap_release(&pool->runner_by_assignment);
	imap_release(&pool->runner_by_agent);
}
