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
 * stderr into the pool's log), or with blueprint.shared_runner one process
 * for every assignment of the run.  It reads events on stdin and writes
 * commands on stdout, one JSON object per line.  live.c decides when an
 * assignment starts and what its agents do; this file runs the processes
 * and speaks their protocol.
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
 * One runner per assignment: stdin is closed when no agent of the
 * assignment works any more; the runner should then exit.
 * A shared runner: every event but ping also names its "assignment_id",
 * and {"event": "end", "assignment_id"} says that no agent of that
 * assignment works any more; nothing more comes for it.  stdin stays open
 * while the pool runs.
 *
 * Commands (runner -> pool):
 *   {"command": "send", "agent_id", "data": {...}}   a live update to
 *                                     the agent's browser
 *   {"command": "done", "agent_id", "data"?: {...}}  the agent's work is
 *                                     complete (data: its outputs, when
 *                                     it did not submit itself)
 *   {"command": "fail", "reason"}     fail the assignment: its units are
 *                                     expired, its agents disconnected
 *                                     (a shared runner names its
 *                                     "assignment_id")
 *   {"command": "log", "level"?: "info"|"warn"|"error", "text"}
 *   {"command": "pong"}
 *
 * Containment: a runner that exits while its agents still work, or that
 * leaves a ping unanswered for runner_timeout_seconds, is killed (its
 * whole process group); the live agents of each of its assignments become
 * "disconnect" (their browsers are told) and their units go back to
 * "launched", to be offered again; a "runner_failed" run event records
 * why.  Other assignments are not touched (for a shared runner: the next
 * assignment to start starts a new one).
 *
 * Events to runners are queued while a round runs and written after the
 * round's commit (pool_runners_flush()), like every answer of the pool.
 */

#define RUNNER_LINE_MAX (1024 * 1024)	/* longest command line */
#define RUNNER_BACKLOG_MAX (4 * 1024 * 1024) /* unread events */
#define RUNNER_SHARED_BACKLOG_MAX (64 * 1024 * 1024)
#define RUNNER_SEEN_MAX 128	/* update ids remembered per agent */

/*
 * The update ids of an agent's latest live updates, a ring: a browser
 * that reconnects sends again what it is not sure was sent.  Each id's
 * hash is kept beside it, so a new id is compared by hash, not by text.
 */
struct seen_ids {
	char *ids[RUNNER_SEEN_MAX];
	uint32_t hash[RUNNER_SEEN_MAX];
	size_t next;			/* the slot to fill next */
};

/* A runner process. */
struct runner_proc {
	struct pool *pool;
	int shared;			/* serves every assignment */
	pid_t pid;
	struct proc_watch *watch;	/* tells when it exits */
	int infd;			/* its stdin; -1 once closed */
	int outfd;			/* its stdout; -1 at end of file */
	int writing;			/* infd is watched for LOOP_WRITE */
	struct buf in;			/* events not yet written */
	struct buf line;		/* a partial command */
	long long timer;		/* pings and the time limit */
	double ping_sent;		/* 0: no ping outstanding */
	int closing;			/* its stdin is closing: it exits */
	int failed;			/* contained already */
	int dirty;			/* in pool->dirty */
	struct pool_runner *own;	/* not shared: its assignment */
	struct runner_proc *next, *next_dirty;
};

/* An assignment in progress and the process that runs it. */
struct pool_runner {
	struct pool *pool;
	struct runner_proc *proc;
	int64_t assignment_id;
	int64_t *agents;		/* the assignment's agents */
	size_t nr_agents;
	struct seen_ids *seen;		/* per agent, as agents[] */
	int closing;			/* its assignment is over */
	int failed;			/* contained */
	uint64_t serial;		/* for update ids */
	struct pool_runner *next;
};

static void runner_fail(struct runner_proc *p, const char *why);
static long on_runner_timer(struct loop *l, long long id, void *arg);

struct pool_runner *
pool_runner_of_assignment(struct pool *pool, int64_t assignment_id)
{
	struct pool_runner *r = imap_get(&pool->runner_by_assignment,
	    assignment_id);

	return r && !r->failed && !r->closing ? r : NULL;
}

struct pool_runner *
pool_runner_of_agent(struct pool *pool, int64_t agent_id)
{
	struct pool_runner *r = imap_get(&pool->runner_by_agent, agent_id);

	return r && !r->failed ? r : NULL;
}

/* "runner [PID] of assignment N" or "the run's runner [PID]", for logs. */
static const char *
proc_name(const struct runner_proc *p)
{
	static char name[96];

	if (p->shared || !p->own)
		snprintf(name, sizeof(name), "the run's runner [%ld]",
		    (long)p->pid);
	else
		snprintf(name, sizeof(name), "runner [%ld] of assignment %"
		    PRId64, (long)p->pid, p->own->assignment_id);
	return name;
}

static void
assignment_free(struct pool_runner *r)
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
	imap_del(&pool->runner_by_assignment, r->assignment_id, r);
	for (i = 0; i < r->nr_agents; i++) {
		imap_del(&pool->runner_by_agent, r->agents[i], r);
		for (j = 0; j < RUNNER_SEEN_MAX; j++)
			free(r->seen[i].ids[j]);
	}
	if (r->proc->own == r)
		r->proc->own = NULL;
	free(r->seen);
	free(r->agents);
	free(r);
}

/* Free P and what is left of its assignments. */
static void
proc_free(struct runner_proc *p)
{
	struct pool *pool = p->pool;
	struct runner_proc **pp;
	struct pool_runner *r, *next;

	for (r = pool->runners; r; r = next) {
		next = r->next;
		if (r->proc == p)
			assignment_free(r);
	}
	for (pp = &pool->procs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	for (pp = &pool->dirty; p->dirty && *pp; pp = &(*pp)->next_dirty) {
		if (*pp == p) {
			*pp = p->next_dirty;
			break;
		}
	}
	if (pool->shared == p)
		pool->shared = NULL;
	if (p->timer)
		loop_del_timer(pool->loop, p->timer);
	proc_unwatch(pool->loop, p->watch);
	if (p->infd >= 0) {
		loop_del_fd(pool->loop, p->infd);
		close(p->infd);
	}
	if (p->outfd >= 0) {
		loop_del_fd(pool->loop, p->outfd);
		close(p->outfd);
	}
	buf_release(&p->in);
	buf_release(&p->line);
	free(p);
}

/* Whether P takes events. */
static int
proc_open(const struct runner_proc *p)
{
	return p->infd >= 0 && !p->failed;
}

/* P has events queued: write them after the round's commit. */
static void
proc_dirty(struct runner_proc *p)
{
	if (!p->dirty) {
		p->dirty = 1;
		p->next_dirty = p->pool->dirty;
		p->pool->dirty = p;
	}
}

/* Queue one event for P (taking EV); it is written after the commit. */
static void
proc_queue(struct runner_proc *p, cJSON *ev)
{
	if (proc_open(p)) {
		msg_write_line(ev, &p->in);
		proc_dirty(p);
	}
	msg_free(ev);
}

/* Queue one event of R's assignment (taking EV). */
static void
runner_queue(struct pool_runner *r, cJSON *ev)
{
	if (r->closing || r->failed) {
		msg_free(ev);
		return;
	}
	if (r->proc->shared && !msg_has(ev, "assignment_id"))
		msg_set_id(ev, "assignment_id", r->assignment_id);
	proc_queue(r->proc, ev);
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
close_stdin(struct runner_proc *p)
{
	if (p->infd < 0)
		return;
	loop_del_fd(p->pool->loop, p->infd);
	close(p->infd);
	p->infd = -1;
	buf_reset(&p->in);
}

/* Write what is queued; returns -1 when the runner does not read. */
static int
runner_write(struct runner_proc *p)
{
	ssize_t n;

	while (p->infd >= 0 && p->in.len) {
		n = write(p->infd, p->in.buf, p->in.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			/* Its stdin is gone; its exit tells the rest. */
			close_stdin(p);
			return 0;
		}
		buf_remove_front(&p->in, (size_t)n);
	}
	if (p->infd < 0)
		return 0;
	if (p->in.len > (p->shared ? RUNNER_SHARED_BACKLOG_MAX :
	    RUNNER_BACKLOG_MAX))
		return -1;
	if (!!p->in.len != p->writing) {
		p->writing = !!p->in.len;
		loop_set_events(p->pool->loop, p->infd,
		    p->writing ? LOOP_WRITE : 0);
	}
	if (!p->in.len && p->closing)
		close_stdin(p);
	return 0;
}

static void
on_runner_stdin(struct loop *l, int fd, int events, void *arg)
{
	struct runner_proc *p = arg;

	if (runner_write(p) < 0)
		runner_fail(p, "it does not read its events");
}

void
pool_runners_flush(struct pool *pool)
{
	struct runner_proc *p;

	while ((p = pool->dirty)) {
		pool->dirty = p->next_dirty;
		p->dirty = 0;
		if (p->in.len && runner_write(p) < 0)
			runner_fail(p, "it does not read its events");
	}
}

/* Close P's input after what is queued; it has runner_timeout to exit. */
static void
proc_finish(struct runner_proc *p)
{
	if (p->closing)
		return;
	p->closing = 1;
	if (!p->in.len)
		close_stdin(p);
	if (p->timer)
		loop_del_timer(p->pool->loop, p->timer);
	p->ping_sent = 0;
	p->timer = loop_add_timer(p->pool->loop,
	    (long)(p->pool->run.runner_timeout * 1000), on_runner_timer, p);
}

void
pool_runner_finish(struct pool_runner *r)
{
	cJSON *ev;

	if (r->closing)
		return;
	if (!r->proc->shared) {
		r->closing = 1;
		proc_finish(r->proc);
		return;
	}
	ev = msg_new_object();
	msg_set_str(ev, "event", "end");
	msg_set_id(ev, "assignment_id", r->assignment_id);
	runner_queue(r, ev);
	assignment_free(r);
}

/*
 * Contain P: kill it, release the agents of its assignments, log why.
 * Its assignments stay, failed, until it has exited.
 */
static void
runner_fail(struct runner_proc *p, const char *why)
{
	struct pool *pool = p->pool;
	struct pool_runner *r;
	int64_t *ids = NULL;
	size_t nr = 0, alloc = 0, i;

	if (p->failed)
		return;
	p->failed = 1;
	if (p->pid > 0)
		kill(-p->pid, SIGKILL);
	close_stdin(p);
	if (p->timer) {
		loop_del_timer(pool->loop, p->timer);
		p->timer = 0;
	}
	for (r = pool->runners; r; r = r->next) {
		if (r->proc != p || r->failed)
			continue;
		r->failed = 1;
		ALLOC_GROW(ids, nr + 1, alloc);
		ids[nr++] = r->assignment_id;
	}
	if (p->shared)
		warn("%s failed: %s; the units of its %zu assignment%s in "
		    "progress are released", proc_name(p), why, nr,
		    nr == 1 ? "" : "s");
	else
		warn("%s failed: %s; its units are released", proc_name(p),
		    why);
	for (i = 0; i < nr; i++)
		pool_live_contain(pool, ids[i], why);
	free(ids);
}

/* Commands. */

/* C's data is taken from it. */
static void
cmd_send(struct pool_runner *r, cJSON *c, int64_t agent_id)
{
	struct pool *pool = r->pool;
	struct msg_packet p = MSG_PACKET_INIT;
	struct pool_conn *o;
	char subject[32], uid[64];
	cJSON *d = cJSON_DetachItemFromObjectCaseSensitive(c, "data");

	if (!cJSON_IsObject(d)) {
		msg_free(d);
		d = msg_new_object();
	}
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
		    (long)r->proc->pid, agent_id);
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

	warn("runner [%ld] failed assignment %" PRId64 ": %s",
	    (long)r->proc->pid, r->assignment_id, why);
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
cmd_log(struct runner_proc *p, const cJSON *c)
{
	const cJSON *level = msg_get(c, "level"), *text = msg_get(c, "text");
	const char *lv = cJSON_IsString(level) ? level->valuestring : "info";
	const char *t = cJSON_IsString(text) ? text->valuestring : "";

	if (!strcmp(lv, "error"))
		error("runner [%ld]: %s", (long)p->pid, t);
	else if (!strcmp(lv, "warn") || !strcmp(lv, "warning"))
		warn("runner [%ld]: %s", (long)p->pid, t);
	else
		log_info("runner [%ld]: %s", (long)p->pid, t);
}

int
pool_runner_update_seen(struct pool_runner *r, int64_t agent_id,
    const char *update_id)
{
	struct seen_ids *s = NULL;
	uint32_t h = str_hash(update_id);
	size_t i;

	for (i = 0; i < r->nr_agents; i++)
		if (r->agents[i] == agent_id)
			s = &r->seen[i];
	if (!s)
		return 0;
	for (i = 0; i < RUNNER_SEEN_MAX; i++)
		if (s->hash[i] == h && s->ids[i] &&
		    !strcmp(s->ids[i], update_id))
			return 1;
	free(s->ids[s->next]);
	s->ids[s->next] = xstrdup(update_id);
	s->hash[s->next] = h;
	s->next = (s->next + 1) % RUNNER_SEEN_MAX;
	return 0;
}

/*
 * The assignment a command of P is about: the agent's (AGENT_ID not 0),
 * the one named, or P's own.  NULL (and *ERR) if it is not P's.
 */
static struct pool_runner *
command_assignment(struct runner_proc *p, const cJSON *c, int64_t agent_id,
    char **err)
{
	struct pool_runner *r;
	int64_t id;

	if (agent_id) {
		r = pool_runner_of_agent(p->pool, agent_id);
		if (!r || r->proc != p)
			*err = xasprintf("agent %" PRId64 " is not of %s",
			    agent_id, p->shared ? "an assignment in progress" :
			    "its assignment");
		return *err ? NULL : r;
	}
	if (!p->shared)
		return p->own;
	if (msg_get_id(c, "assignment_id", &id, err) < 0)
		return NULL;
	r = pool_runner_of_assignment(p->pool, id);
	if (!r || r->proc != p)
		*err = xasprintf("assignment %" PRId64 " is not in progress",
		    id);
	return *err ? NULL : r;
}

static void
runner_command(struct runner_proc *p, const char *line, size_t len)
{
	const char *cmd;
	char *err = NULL;
	int64_t agent_id = 0;
	struct pool_runner *r = NULL;
	cJSON *c = msg_parse(line, len, RUNNER_LINE_MAX, &err);

	p->ping_sent = 0;
	if (!c || !cJSON_IsObject(c) || msg_get_str(c, "command", &cmd,
	    &err) < 0) {
		warn("runner [%ld]: bad command: %s", (long)p->pid,
		    err ? err : "not an object");
		goto out;
	}
	if (!strcmp(cmd, "send") || !strcmp(cmd, "done") ||
	    !strcmp(cmd, "fail")) {
		if (strcmp(cmd, "fail") && msg_get_id(c, "agent_id", &agent_id,
		    &err) < 0)
			goto bad;
		r = command_assignment(p, c, agent_id, &err);
		if (!r)
			goto bad;
	}
	if (!strcmp(cmd, "send"))
		cmd_send(r, c, agent_id);
	else if (!strcmp(cmd, "done"))
		cmd_done(r, c, agent_id);
	else if (!strcmp(cmd, "fail"))
		cmd_fail(r, c);
	else if (!strcmp(cmd, "log"))
		cmd_log(p, c);
	else if (strcmp(cmd, "pong"))
		warn("runner [%ld]: unknown command '%.40s'", (long)p->pid,
		    cmd);
	goto out;
bad:
	warn("runner [%ld]: bad '%s' command: %s", (long)p->pid, cmd, err);
out:
	free(err);
	msg_free(c);
}

static void
on_runner_stdout(struct loop *l, int fd, int events, void *arg)
{
	struct runner_proc *p = arg;
	char chunk[65536], *nl;
	ssize_t n;
	size_t len, at;

	for (;;) {
		n = read(p->outfd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			loop_del_fd(l, p->outfd);
			close(p->outfd);
			p->outfd = -1;
			break;
		}
		buf_add(&p->line, chunk, (size_t)n);
		at = 0;
		while (!p->failed && (nl = memchr(p->line.buf + at, '\n',
		    p->line.len - at))) {
			len = (size_t)(nl - (p->line.buf + at));
			if (len)
				runner_command(p, p->line.buf + at, len);
			at += len + 1;
		}
		buf_remove_front(&p->line, at);
		if (p->failed)
			return;
		if (p->line.len > RUNNER_LINE_MAX) {
			runner_fail(p, "a command line is too long");
			return;
		}
	}
}

/* Whether an assignment of P is still in progress. */
static int
proc_busy(const struct runner_proc *p)
{
	const struct pool_runner *r;

	for (r = p->pool->runners; r; r = r->next)
		if (r->proc == p && !r->closing && !r->failed)
			return 1;
	return 0;
}

static void
on_runner_exit(struct loop *l, pid_t pid, void *arg)
{
	struct runner_proc *p = arg;
	char *how;
	int status;

	(void)pid;
	if (waitpid(p->pid, &status, WNOHANG) != p->pid)
		return;
	if (p->outfd >= 0)
		on_runner_stdout(l, p->outfd, LOOP_READ, p);
	how = proc_status_str(status);
	if (!p->failed && !p->closing && proc_busy(p)) {
		char *why = xasprintf("it %s while its agents worked", how);

		runner_fail(p, why);
		free(why);
	} else {
		log_info("%s %s", proc_name(p), how);
	}
	free(how);
	proc_free(p);
}

static long
on_runner_timer(struct loop *l, long long id, void *arg)
{
	struct runner_proc *p = arg;
	long period = (long)(p->pool->run.runner_timeout * 1000 / 2) + 1;
	cJSON *ev;

	p->timer = 0;
	if (p->closing) {
		warn("runner [%ld] did not exit after its assignment ended: "
		    "killed", (long)p->pid);
		p->failed = 1;
		kill(-p->pid, SIGKILL);
		return LOOP_NOMORE;
	}
	if (p->ping_sent && db_now() - p->ping_sent >=
	    p->pool->run.runner_timeout) {
		runner_fail(p, "it did not answer a ping in time");
		return LOOP_NOMORE;
	}
	if (!p->ping_sent) {
		ev = msg_new_object();
		msg_set_str(ev, "event", "ping");
		proc_queue(p, ev);
		p->ping_sent = db_now();
	}
	p->timer = id;
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
	setenv("MEPHISTO_TASK_RUN_ID", run, 1);
	if (assignment_id) {
		snprintf(asg, sizeof(asg), "%" PRId64, assignment_id);
		setenv("MEPHISTO_ASSIGNMENT_ID", asg, 1);
	}
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

/*
 * Start a runner process: for ASSIGNMENT_ID, or (0) the run's shared one.
 * NULL if it cannot start.
 */
static struct runner_proc *
runner_spawn(struct pool *pool, int64_t assignment_id)
{
	const char *dir = pool->run.runner_dir;
	struct runner_proc *p;
	int inp[2], outp[2];
	pid_t pid;

	if (pipe2(inp, O_CLOEXEC) < 0) {
		error_errno("cannot create a pipe");
		return NULL;
	}
	if (pipe2(outp, O_CLOEXEC) < 0) {
		error_errno("cannot create a pipe");
		close(inp[0]);
		close(inp[1]);
		return NULL;
	}
	pid = fork();
	if (pid == 0)
		exec_runner(pool->run.runner, dir, inp[0], outp[1],
		    pool->run.task_run_id, assignment_id);
	close(inp[0]);
	close(outp[1]);
	if (pid < 0) {
		error_errno("cannot start a runner");
		close(inp[1]);
		close(outp[0]);
		return NULL;
	}
	setpgid(pid, pid);
	p = xcalloc(1, sizeof(*p));
	p->pool = pool;
	p->shared = !assignment_id;
	p->pid = pid;
	p->infd = inp[1];
	p->outfd = outp[0];
	buf_init(&p->in);
	buf_init(&p->line);
	p->next = pool->procs;
	pool->procs = p;
	fcntl(p->infd, F_SETFL, fcntl(p->infd, F_GETFL) | O_NONBLOCK);
	fcntl(p->outfd, F_SETFL, fcntl(p->outfd, F_GETFL) | O_NONBLOCK);
	p->watch = proc_watch(pool->loop, pid, on_runner_exit, p);
	if (!p->watch || loop_add_fd(pool->loop, p->outfd,
	    LOOP_READ, on_runner_stdout, p) < 0 || loop_add_fd(pool->loop,
	    p->infd, 0, on_runner_stdin, p) < 0) {
		error_errno("cannot watch a runner");
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		proc_free(p);
		return NULL;
	}
	p->timer = loop_add_timer(pool->loop,
	    (long)(pool->run.runner_timeout * 1000 / 2) + 1, on_runner_timer,
	    p);
	if (assignment_id)
		log_info("runner [%ld] started for assignment %" PRId64,
		    (long)pid, assignment_id);
	else
		log_info("runner [%ld] started for the run", (long)pid);
	return p;
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

/* The process to run ASSIGNMENT_ID: the run's shared one, or a new one. */
static struct runner_proc *
runner_for(struct pool *pool, int64_t assignment_id)
{
	struct runner_proc *p = pool->shared;

	if (!pool->run.shared_runner)
		return runner_spawn(pool, assignment_id);
	if (p && proc_open(p) && !p->closing)
		return p;
	p = runner_spawn(pool, 0);
	if (p)
		pool->shared = p;
	return p;
}

void
pool_runner_start(struct pool *pool, int64_t assignment_id, int resumed)
{
	struct pool_runner *r;
	struct runner_proc *p;
	int64_t *ids = NULL;
	size_t nr = 0, i;
	cJSON *ev;

	/*
	 * A runner still exiting after the assignment's last agents left
	 * is not the assignment's any more: the new agents get another.
	 */
	if (!pool->run.runner || pool_runner_of_assignment(pool, assignment_id))
		return;
	if (pool_live_agents(pool, assignment_id, 0, &ids, &nr) < 0) {
		error("cannot read the agents of assignment %" PRId64 ": %s",
		    assignment_id, db_errmsg(pool->db));
		return;
	}
	p = runner_for(pool, assignment_id);
	if (!p) {
		/* Nobody would drive these agents: release them. */
		free(ids);
		pool_live_contain(pool, assignment_id,
		    "the runner could not start");
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->pool = pool;
	r->proc = p;
	r->assignment_id = assignment_id;
	r->agents = ids;
	r->nr_agents = nr;
	r->seen = xcalloc(nr ? nr : 1, sizeof(*r->seen));
	r->next = pool->runners;
	pool->runners = r;
	if (!p->shared)
		p->own = r;
	imap_put(&pool->runner_by_assignment, assignment_id, r);
	for (i = 0; i < nr; i++)
		imap_put(&pool->runner_by_agent, ids[i], r);
	if (p->shared)
		log_info("assignment %" PRId64 " starts on the run's runner "
		    "[%ld]", assignment_id, (long)p->pid);
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

/*
 * Written straight into the runner's input, as runner_queue() would print
 * the event's tree: every live update comes this way.
 */
void
pool_runner_agent_event(struct pool *pool, int64_t agent_id,
    const char *event, const cJSON *data)
{
	struct pool_runner *r = pool_runner_of_agent(pool, agent_id);
	struct buf *b;

	if (!r || r->closing || !proc_open(r->proc))
		return;
	b = &r->proc->in;
	buf_addstr(b, "{\"event\":");
	msg_print_str(event, b);
	buf_addstr(b, ",\"agent_id\":");
	msg_print_id(agent_id, b);
	if (data) {
		buf_addstr(b, ",\"data\":");
		msg_print(data, b);
	}
	if (r->proc->shared) {
		buf_addstr(b, ",\"assignment_id\":");
		msg_print_id(r->assignment_id, b);
	}
	buf_addstr(b, "}\n");
	proc_dirty(r->proc);
}

void
pool_runners_kill(struct pool *pool)
{
	while (pool->procs) {
		struct runner_proc *p = pool->procs;

		if (p->pid > 0) {
			kill(-p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
		}
		proc_free(p);
	}
	imap_release(&pool->runner_by_assignment);
	imap_release(&pool->runner_by_agent);
}
