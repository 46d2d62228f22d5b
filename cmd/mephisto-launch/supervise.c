#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "buf.h"
#include "db.h"
#include "ipc.h"
#include "launch.h"
#include "log.h"
#include "loop.h"
#include "model.h"
#include "msg.h"
#include "path.h"
#include "proc.h"
#include "proto.h"
#include "provider.h"
#include "run.h"
#include "site.h"
#include "xalloc.h"
#include "banned.h"

/*
 * The supervisor of one run (DESIGN.md section 8).
 *
 * It starts mephisto-pool, then mephisto-io, each signalling readiness on
 * a pipe, and watches both with proc_watch() (which also works for
 * children of an earlier supervisor that it re-attached to).  A child that
 * dies is started again after a backoff.  Every TICK_MS it reads the unit
 * counts, launches units while fewer than max_num_concurrent_units are
 * live, prints new results and redraws the progress line; the pool's
 * "changed" packets (a subscription without events) only make the next
 * tick come sooner (SOON_MS after one, but never within SOON_GAP_MS of the
 * last tick, so a busy run is counted a few times a second rather than
 * after every change).  Counting reads the run's whole status index, so
 * a tick counts and acts on the counts only when the database has changed
 * since the last count (on_change()), and on a large run ticks are spaced
 * to COUNT_SHARE times what the last count took (at most COUNT_GAP_MAX_MS):
 * the supervisor then takes a twentieth of a core, not the core io and
 * the pool share with it.  When every unit is final the run is completed
 * and the children are stopped, io first.
 *
 * A first SIGINT/SIGTERM stops launching, expires units nobody holds and
 * waits up to the grace period for units in progress; a second one (or
 * the end of the grace period) asks the pool to disconnect the agents
 * still working and expires their units.
 */

#define TICK_MS 200
#define SOON_MS 20
#define SOON_GAP_MS 100
#define COUNT_SHARE 20
#define COUNT_GAP_MAX_MS 2000
#define READY_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 5000
#define PLAIN_PROGRESS_MS 5000
#define RESTART_MIN_MS 200
#define RESTART_MAX_MS 10000
#define RESTART_RESET_MS 30000
#define RESTART_GIVE_UP 20

struct sup;

struct child {
	struct sup *sup;
	const char *name;	/* "pool", "io", "workers" */
	pid_t pid;		/* 0: not running */
	struct proc_watch *watch;	/* NULL: none */
	int ours;		/* our own child: reap it */
	int stopping;		/* we asked it to stop */
	int failures;		/* restarts in a row */
	int64_t started_ms;
	long long timer;	/* pending restart, or 0 */
};

enum phase {
	PHASE_RUN,		/* launching */
	PHASE_DRAIN,		/* stopping: waiting for work in progress */
	PHASE_DONE,
};

struct idset {
	int64_t *slot;		/* open addressing; 0 is empty */
	size_t nr, size;
};

struct sup {
	struct db *db;
	int64_t run_id;
	const struct task_config *cfg;
	const struct supervise_opts *o;
	struct loop *loop;
	char *dir, *sock;
	struct child pool, io, workers;
	struct ipc_conn *conn;
	int port;
	char *url;
	enum phase phase;
	int stop_signals;
	int completed;		/* the run finished */
	int failed;		/* a child could not be kept running */
	int64_t deadline_ms;	/* end of the grace period */
	long long soon;		/* pending early tick */
	long long last_tick_ms;	/* when the units were last counted */
	long long count_ms;	/* what that count took */
	long long mark;		/* db_change_mark() before it */
	struct run_counts counts;
	int checkpoint;		/* due after the first launch (a new run) */
	/* progress */
	int tty;
	int drawn;		/* a live line is on the terminal */
	int64_t start_ms, last_plain_ms;
	long done_at_start;
	/* results */
	int64_t last_seq;
	struct idset printed;
};

static void finish(struct sup *s);
static void tick(struct sup *s);

/* --- small helpers --- */

static char *
id_str(int64_t id)
{
	char b[DB_ID_BUFSZ];

	return xstrdup(db_id_format(id, b));
}

static int
idset_add(struct idset *set, int64_t id)
{
	size_t i;

	if ((set->nr + 1) * 2 > set->size) {
		struct idset big = { NULL, 0, set->size ? set->size * 2 : 64 };

		big.slot = xcalloc(big.size, sizeof(*big.slot));
		for (i = 0; i < set->size; i++)
			if (set->slot[i])
				idset_add(&big, set->slot[i]);
		free(set->slot);
		*set = big;
	}
	i = (size_t)((uint64_t)id * 11400714819323198485ull) & (set->size - 1);
	while (set->slot[i]) {
		if (set->slot[i] == id)
			return 0;
		i = (i + 1) & (set->size - 1);
	}
	set->slot[i] = id;
	set->nr++;
	return 1;
}

/* The path of program NAME: $MEPHISTO_EXEC_PATH, our folder, or PATH. */
static char *
program_path(const char *name)
{
	const char *env = getenv("MEPHISTO_EXEC_PATH");
	char *dir, *p;

	if (env && *env) {
		p = path_join(env, name);
		if (!access(p, X_OK))
			return p;
		free(p);
	}
	dir = path_exe_dir();
	if (dir) {
		p = path_join(dir, name);
		free(dir);
		if (!access(p, X_OK))
			return p;
		free(p);
	}
	return xstrdup(name);
}

static char *
run_file(struct sup *s, const char *name)
{
	return path_join(s->dir, name);
}

/* --- children --- */

static void on_child_exit(struct loop *l, pid_t pid, void *arg);

static int
child_watch(struct sup *s, struct child *c)
{
	c->watch = proc_watch(s->loop, c->pid, on_child_exit, s);
	return c->watch ? 0 : -1;
}

static void
child_unwatch(struct sup *s, struct child *c)
{
	proc_unwatch(s->loop, c->watch);
	c->watch = NULL;
}

/* Start C with ARGV; with READY, wait for its readiness line. */
static int
child_spawn(struct sup *s, struct child *c, const char *const *argv,
    int ready)
{
	struct proc_spawn sp = PROC_SPAWN_INIT;
	char *log = NULL, *pidfile, *err = NULL, *tmp;
	int fd = -1;

	tmp = xasprintf("%s.log", c->name);
	log = run_file(s, tmp);
	free(tmp);
	sp.argv = argv;
	sp.log_path = log;
	sp.ready = ready;
	sp.new_pgrp = 1;
	c->pid = proc_spawn(&sp, ready ? &fd : NULL, &err);
	free(log);
	if (c->pid < 0) {
		c->pid = 0;
		error("cannot start %s: %s", c->name, err);
		free(err);
		return -1;
	}
	c->ours = 1;
	c->stopping = 0;
	c->started_ms = loop_now_ms();
	if (ready) {
		if (proc_wait_ready(c->pid, fd, READY_TIMEOUT_MS, &err) < 0) {
			error("%s %s (see %s/%s.log)", argv[0], err, s->dir,
			    c->name);
			free(err);
			close(fd);
			if (errno != ECHILD) {
				kill(c->pid, SIGKILL);
				waitpid(c->pid, NULL, 0);
			}
			c->pid = 0;
			return -1;
		}
		close(fd);
	}
	tmp = xasprintf("%s.pid", c->name);
	pidfile = run_file(s, tmp);
	free(tmp);
	if (proc_pidfile_write(pidfile, c->pid) < 0)
		warn_errno("cannot write '%s'", pidfile);
	free(pidfile);
	if (child_watch(s, c) < 0)
		warn_errno("cannot watch %s (pid %ld)", c->name, (long)c->pid);
	log_debug("%s started (pid %ld)", c->name, (long)c->pid);
	return 0;
}

static int
pool_connect(struct sup *s);

static void on_pool_packet(struct loop *l, int fd, int events, void *arg);

static int
start_pool(struct sup *s)
{
	char *prog = program_path("mephisto-pool"), *id = id_str(s->run_id);
	const char *argv[] = { prog, "--run", id, NULL };
	int r;

	r = child_spawn(s, &s->pool, argv, 1);
	free(prog);
	free(id);
	if (r < 0)
		return -1;
	return pool_connect(s);
}

static int
read_port(struct sup *s)
{
	char *path = run_file(s, "io.port");
	struct buf b = BUF_INIT;
	long port = 0;

	if (buf_read_file(&b, path, 64) == 0)
		port = strtol(b.buf, NULL, 10);
	buf_release(&b);
	free(path);
	if (port <= 0 || port > 65535)
		return -1;
	s->port = (int)port;
	free(s->url);
	if (s->cfg->public_url) {
		const char *u = s->cfg->public_url;
		size_t n = strlen(u);

		s->url = xasprintf("%s%s", u, n && u[n - 1] == '/' ? "" :
		    "/");
	} else {
		s->url = xasprintf("http://%s:%d/", s->cfg->hostname,
		    s->port);
	}
	return 0;
}

/*
 * Where io listens: architect.bind, else loopback for a local hostname
 * (nobody else can reach the URL anyway) and every interface otherwise.
 */
static const char *
io_bind_address(const struct task_config *c)
{
	static const char *const local[] = {
		"localhost", "127.0.0.1", "::1", "ip6-localhost",
	};
	size_t i;

	if (c->bind)
		return c->bind;
	for (i = 0; i < ARRAY_SIZE(local); i++)
		if (!strcmp(c->hostname, local[i]))
			return "127.0.0.1";
	return "0.0.0.0";
}

static int
start_io(struct sup *s)
{
	char *prog = program_path("mephisto-io"), *id = id_str(s->run_id);
	char *port = xasprintf("%d", s->port ? s->port : s->cfg->port);
	char *metrics = xasprintf("%d", s->cfg->metrics_port);
	const char *argv[] = { prog, "--run", id, "--port", port,
	    "--host", io_bind_address(s->cfg), "--run-dir", s->dir,
	    s->cfg->metrics_port ? "--metrics-port" : NULL, metrics, NULL };
	int r;

	r = child_spawn(s, &s->io, argv, 1);
	free(prog);
	free(id);
	free(port);
	free(metrics);
	if (r < 0)
		return -1;
	if (read_port(s) < 0) {
		error("io did not write its port to '%s/io.port'", s->dir);
		return -1;
	}
	return 0;
}

static char *
answers_json(struct sup *s)
{
	char *txt;
	char *r;

	if (!s->cfg->onboarding_answers)
		return NULL;
	txt = cJSON_PrintUnformatted(s->cfg->onboarding_answers);
	r = xstrdup(txt);
	cJSON_free(txt);
	return r;
}

static int
start_workers(struct sup *s)
{
	char *prog = program_path("mephisto-launch");
	char *n = xasprintf("%ld", s->o->auto_workers);
	char *onb = answers_json(s);
	const char *bind = io_bind_address(s->cfg);
	const char *argv[12];
	char *local;
	int i = 0, r;

	if (!strcmp(bind, "0.0.0.0") || !strcmp(bind, "::"))
		bind = "127.0.0.1";
	if (strchr(bind, ':'))
		local = xasprintf("http://[%s]:%d/", bind, s->port);
	else
		local = xasprintf("http://%s:%d/", bind, s->port);

	argv[i++] = prog;
	argv[i++] = "work";
	argv[i++] = "--workers";
	argv[i++] = n;
	argv[i++] = "--provider";
	argv[i++] = s->cfg->provider_type;
	if (s->o->answers) {
		argv[i++] = "--answers";
		argv[i++] = s->o->answers;
	}
	if (onb) {
		argv[i++] = "--onboarding";
		argv[i++] = onb;
	}
	/* Straight to io, not through a proxy that public_url may name. */
	argv[i++] = local;
	argv[i] = NULL;
	r = child_spawn(s, &s->workers, argv, 0);
	free(prog);
	free(n);
	free(onb);
	free(local);
	return r;
}

static int
child_restart(struct sup *s, struct child *c)
{
	if (c == &s->pool)
		return start_pool(s);
	if (c == &s->io)
		return start_io(s);
	return start_workers(s);
}

static long restart_now(struct loop *l, long long id, void *arg);

/* Start C again after a backoff that grows with its failures in a row. */
static void
arm_restart(struct child *c)
{
	long delay = RESTART_MIN_MS << (c->failures < 6 ? c->failures : 6);

	if (delay > RESTART_MAX_MS)
		delay = RESTART_MAX_MS;
	warn("restarting %s in %ld ms", c->name, delay);
	c->timer = loop_add_timer(c->sup->loop, delay, restart_now, c);
}

static long
restart_now(struct loop *l, long long id, void *arg)
{
	struct child *c = arg;
	struct sup *s = c->sup;

	(void)l;
	(void)id;
	c->timer = 0;
	if (s->phase == PHASE_DONE)
		return LOOP_NOMORE;
	log_info("starting %s again", c->name);
	if (child_restart(s, c) == 0)
		return LOOP_NOMORE;
	if (++c->failures >= RESTART_GIVE_UP) {
		error("%s failed %d times in a row; stopping the run",
		    c->name, c->failures);
		s->failed = 1;
		finish(s);
		return LOOP_NOMORE;
	}
	arm_restart(c);
	return LOOP_NOMORE;
}

static void
schedule_restart(struct child *c)
{
	if (loop_now_ms() - c->started_ms > RESTART_RESET_MS)
		c->failures = 0;
	arm_restart(c);
	c->failures++;
}

static struct child *
child_of_pid(struct sup *s, pid_t pid)
{
	if (s->pool.watch && s->pool.pid == pid)
		return &s->pool;
	if (s->io.watch && s->io.pid == pid)
		return &s->io;
	if (s->workers.watch && s->workers.pid == pid)
		return &s->workers;
	return NULL;
}

/* Reap C if it is ours; return a description of how it ended. */
static char *
child_reap(struct child *c)
{
	int status;

	if (c->ours && waitpid(c->pid, &status, 0) == c->pid)
		return proc_status_str(status);
	return xstrdup("exited");
}

static void
on_child_exit(struct loop *l, pid_t pid, void *arg)
{
	struct sup *s = arg;
	struct child *c = child_of_pid(s, pid);
	char *how;

	(void)l;
	if (!c)
		return;
	child_unwatch(s, c);
	how = child_reap(c);
	c->pid = 0;
	if (c->stopping || s->phase == PHASE_DONE) {
		free(how);
		return;
	}
	if (c == &s->workers) {
		log_info("scripted workers %s", how);
		free(how);
		return;
	}
	warn("%s %s", c->name, how);
	free(how);
	if (c == &s->pool && s->conn) {
		loop_del_fd(s->loop, s->conn->fd);
		ipc_conn_free(s->conn);
		s->conn = NULL;
	}
	schedule_restart(c);
}

/* Ask C to stop (SIGTERM), wait, and kill it if it does not. */
static void
child_stop(struct sup *s, struct child *c)
{
	if (c->timer) {
		loop_del_timer(s->loop, c->timer);
		c->timer = 0;
	}
	if (!c->pid)
		return;
	c->stopping = 1;
	kill(c->pid, SIGTERM);
	if (!proc_wait_exit(c->pid, STOP_TIMEOUT_MS, NULL)) {
		warn("%s (pid %ld) did not stop in time; killing it", c->name,
		    (long)c->pid);
		kill(c->pid, SIGKILL);
		proc_wait_exit(c->pid, STOP_TIMEOUT_MS, NULL);
	}
	child_unwatch(s, c);
	c->pid = 0;
}

/*
 * Re-attach to a child of an earlier supervisor whose pidfile is in the
 * run folder.  Returns 1 when attached, 0 when it is not running.
 */
static int
child_attach(struct sup *s, struct child *c, const char *prog)
{
	char *tmp = xasprintf("%s.pid", c->name), *path = run_file(s, tmp);
	char *cmdpath, *run = id_str(s->run_id);
	struct buf cmd = BUF_INIT;
	pid_t pid;
	size_t i;
	int ok = 0;

	free(tmp);
	if (proc_pidfile_read(path, &pid) == 0 && proc_alive(pid)) {
		/* The pid must still be that program on this run. */
		cmdpath = xasprintf("/proc/%ld/cmdline", (long)pid);
		if (buf_read_file(&cmd, cmdpath, 1 << 16) == 0) {
			for (i = 0; i < cmd.len; i++)
				if (!cmd.buf[i])
					cmd.buf[i] = ' ';
			ok = strstr(cmd.buf, prog) && strstr(cmd.buf, run);
		}
		free(cmdpath);
	}
	if (ok) {
		c->pid = pid;
		c->ours = 0;
		c->started_ms = loop_now_ms();
		if (child_watch(s, c) < 0) {
			c->pid = 0;
			ok = 0;
		} else {
			log_info("re-attached to %s (pid %ld)", c->name,
			    (long)pid);
		}
	}
	buf_release(&cmd);
	free(path);
	free(run);
	return ok;
}

/* --- the pool connection --- */

static long
on_soon(struct loop *l, long long id, void *arg)
{
	struct sup *s = arg;

	(void)l;
	(void)id;
	s->soon = 0;
	tick(s);
	return LOOP_NOMORE;
}

/* The least time from one count to the next: BASE, or more on a large run. */
static long long
tick_gap(const struct sup *s, long long base)
{
	long long gap = s->count_ms * COUNT_SHARE;

	if (gap > COUNT_GAP_MAX_MS)
		gap = COUNT_GAP_MAX_MS;
	return gap > base ? gap : base;
}

static void
tick_soon(struct sup *s)
{
	long long wait = s->last_tick_ms + tick_gap(s, SOON_GAP_MS) -
	    loop_now_ms();

	if (wait < SOON_MS)
		wait = SOON_MS;
	if (!s->soon && s->phase != PHASE_DONE)
		s->soon = loop_add_timer(s->loop, (long)wait, on_soon, s);
}

static void
on_pool_packet(struct loop *l, int fd, int events, void *arg)
{
	struct sup *s = arg;
	char *line;
	size_t len;
	ssize_t n;

	(void)fd;
	(void)events;
	n = ipc_conn_read(s->conn);
	while (ipc_conn_line(s->conn, &line, &len) > 0)
		;	/* each packet is only a reason to look sooner */
	tick_soon(s);
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		log_debug("the pool closed its connection");
		loop_del_fd(l, s->conn->fd);
		ipc_conn_free(s->conn);
		s->conn = NULL;
	}
}

static int
pool_connect(struct sup *s)
{
	struct msg_packet req = MSG_PACKET_INIT, reply = MSG_PACKET_INIT;
	char *err = NULL;
	cJSON *data;
	int r;

	s->conn = ipc_open(s->sock, PROTO_DEADLINE_MS, &err);
	if (!s->conn) {
		error("cannot reach the pool: %s", err);
		free(err);
		return -1;
	}
	/* Only "changed" packets: each is only a reason to count sooner. */
	req.packet_type = PT_SUBSCRIBE;
	req.subject_id = PROTO_SYSTEM_SUBJECT;
	req.data = data = msg_new_object();
	msg_set_bool(data, "events", 0);
	r = ipc_request(s->conn, &req, &reply, PROTO_DEADLINE_MS, &err);
	msg_free(data);
	if (r < 0) {
		error("cannot subscribe to the pool: %s", err);
		free(err);
		msg_packet_release(&reply);
		ipc_conn_free(s->conn);
		s->conn = NULL;
		return -1;
	}
	msg_packet_release(&reply);
	loop_add_fd(s->loop, s->conn->fd, LOOP_READ, on_pool_packet, s);
	return 0;
}

/* Ask the pool to disconnect every agent still working. */
static void
pool_disconnect_active(struct sup *s)
{
	struct msg_packet req = MSG_PACKET_INIT, reply = MSG_PACKET_INIT;
	char *err = NULL;

	if (!s->conn)
		return;
	loop_del_fd(s->loop, s->conn->fd);
	req.packet_type = PT_DISCONNECT_ACTIVE;
	req.subject_id = PROTO_SYSTEM_SUBJECT;
	if (ipc_request(s->conn, &req, &reply, PROTO_DEADLINE_MS, &err) < 0) {
		warn("cannot disconnect the agents at work: %s", err);
		free(err);
	}
	msg_packet_release(&reply);
	loop_add_fd(s->loop, s->conn->fd, LOOP_READ, on_pool_packet, s);
}

/* --- progress --- */

static void
format_eta(struct buf *b, double secs)
{
	long t = (long)(secs + 0.5);

	if (t >= 3600)
		buf_addf(b, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		buf_addf(b, "%ld:%02ld", t / 60, t % 60);
}

static long
done_units(const struct run_counts *c)
{
	return c->completed + c->accepted + c->rejected + c->soft_rejected;
}

static void
progress_text(struct sup *s, struct buf *b)
{
	const struct run_counts *c = &s->counts;
	double secs = (loop_now_ms() - s->start_ms) / 1000.0;
	long done = done_units(c), fresh = done - s->done_at_start;
	long left = run_counts_open(c);
	double rate = secs > 0.5 ? fresh / secs : 0;

	buf_addf(b, "%ld/%ld done, %ld in progress, %ld waiting, %ld expired",
	    done, c->total, c->assigned, c->launched + c->created,
	    c->expired);
	if (rate > 0) {
		buf_addf(b, ", %.1f/s, ETA ", rate);
		format_eta(b, left / rate);
	}
	if (s->phase == PHASE_DRAIN)
		buf_addstr(b, " (stopping)");
}

static void
progress(struct sup *s, int final)
{
	struct buf b = BUF_INIT;
	int64_t now = loop_now_ms();

	if (s->o->quiet)
		return;
	if (s->tty) {
		progress_text(s, &b);
		fprintf(stderr, "\r\033[K%s%s", b.buf, final ? "\n" : "");
		s->drawn = !final;
	} else if (final || now - s->last_plain_ms >= PLAIN_PROGRESS_MS) {
		progress_text(s, &b);
		fprintf(stderr, "progress: %s\n", b.buf);
		s->last_plain_ms = now;
	}
	fflush(stderr);
	buf_release(&b);
}

/* Messages while the live line is drawn: clear it first. */
static void
clear_line(struct sup *s)
{
	if (s->drawn) {
		fputs("\r\033[K", stderr);
		s->drawn = 0;
	}
}

/* --- results --- */

static int64_t
max_seq(struct sup *s)
{
	sqlite3_stmt *st = db_stmt(s->db, "SELECT COALESCE(MAX(seq), 0) "
	    "FROM run_events WHERE task_run_id = ?");
	int64_t seq = 0;

	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, s->run_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return seq;
}

/* Print the units completed since the last look, once each. */
static void
new_results(struct sup *s)
{
	struct run_results_query q = { 0, NULL, NULL, 0, 0, 0 };
	int64_t *ids = NULL;
	sqlite3_stmt *st;
	size_t n = 0, alloc = 0, i;
	char *err = NULL;

	st = db_stmt(s->db, "SELECT seq, unit_id FROM run_events "
	    "WHERE task_run_id = ? AND seq > ? AND unit_id IS NOT NULL AND "
	    "(event = '" EV_UNIT_SUBMITTED "' OR (event = '" EV_UNIT_STATUS
	    "' AND detail = '" UNIT_COMPLETED "')) ORDER BY seq");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, s->run_id);
	sqlite3_bind_int64(st, 2, s->last_seq);
	while (sqlite3_step(st) == SQLITE_ROW) {
		s->last_seq = sqlite3_column_int64(st, 0);
		ALLOC_GROW(ids, n + 1, alloc);
		ids[n++] = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	for (i = 0; i < n; i++) {
		if (!idset_add(&s->printed, ids[i]))
			continue;
		q.unit_id = ids[i];
		if (run_results_lines(s->db, &q, run_line_write, stdout,
		    &err) < 0 && err) {
			warn("%s", err);
			free(err);
			err = NULL;
		}
	}
	if (n)
		fflush(stdout);
	free(ids);
}

/* --- the run --- */

static int
launch_more(struct sup *s)
{
	char *err = NULL;
	size_t n;

	if (!s->counts.created)
		return 0;
	if (run_launch_units(s->db, s->run_id, s->cfg->max_num_concurrent_units,
	    s->url, &n, &err) < 0) {
		clear_line(s);
		warn("%s", err);
		free(err);
		return -1;
	}
	if (n) {
		log_debug("launched %zu unit%s", n, n == 1 ? "" : "s");
		s->counts.created -= (long)n;
		s->counts.launched += (long)n;
	}
	return 0;
}

static int
expire_unheld(struct sup *s)
{
	char *err = NULL;
	size_t n;

	if (run_expire(s->db, s->run_id, NULL, 0, 0, &n, &err) < 0) {
		clear_line(s);
		warn("%s", err);
		free(err);
		return -1;
	}
	return 0;
}

static void
force_stop(struct sup *s)
{
	char *err = NULL;
	size_t n;

	clear_line(s);
	log_info("forcing: disconnecting the workers still at work");
	pool_disconnect_active(s);
	if (run_expire(s->db, s->run_id, NULL, 0, RUN_EXPIRE_HELD, &n,
	    &err) < 0) {
		warn("%s", err);
		free(err);
	}
	finish(s);
}

/*
 * Count the units and act on the counts: launch more, expire the unheld
 * ones of a run being stopped, print new results, complete the run.  All
 * of it follows from the database, so tick() calls it only when that has
 * changed; a step that fails clears s->mark, so the next tick tries again.
 * Returns 1 when the tick has nothing more to do (the run is over, or it
 * could not be counted).
 */
static int
on_change(struct sup *s)
{
	char *err = NULL;
	int done, r;

	s->last_tick_ms = loop_now_ms();
	r = run_counts(s->db, s->run_id, &s->counts, &err);
	s->count_ms = loop_now_ms() - s->last_tick_ms;
	if (r < 0) {
		clear_line(s);
		warn("%s", err);
		free(err);
		s->mark = -1;
		return 1;
	}
	if (s->phase == PHASE_RUN && launch_more(s) < 0)
		s->mark = -1;
	if (s->checkpoint) {
		s->checkpoint = 0;
		if (db_checkpoint_now(s->db) < 0)
			warn("cannot checkpoint the database: %s",
			    db_errmsg(s->db));
	}
	if (s->phase == PHASE_DRAIN && s->counts.created + s->counts.launched &&
	    expire_unheld(s) < 0)
		s->mark = -1;
	if (s->o->results)
		new_results(s);
	if (run_counts_open(&s->counts))
		return 0;
	if (run_complete_if_done(s->db, s->run_id, &done, &err) < 0) {
		warn("%s", err);
		free(err);
		s->mark = -1;
	} else if (done) {
		/* A run being stopped ends stopped, not completed. */
		s->completed = s->phase == PHASE_RUN;
		finish(s);
		return 1;
	}
	return 0;
}

static void
tick(struct sup *s)
{
	long long mark;

	if (s->phase == PHASE_DONE)
		return;
	mark = db_change_mark(s->db);
	if (mark < 0 || mark != s->mark) {
		s->mark = mark;
		if (on_change(s))
			return;
	}
	if (s->phase == PHASE_DRAIN && !s->counts.assigned) {
		finish(s);
		return;
	}
	if (s->phase == PHASE_DRAIN && loop_now_ms() >= s->deadline_ms) {
		clear_line(s);
		log_info("the grace period is over");
		force_stop(s);
		return;
	}
	progress(s, 0);
}

static long
on_tick(struct loop *l, long long id, void *arg)
{
	struct sup *s = arg;

	(void)l;
	(void)id;
	if (loop_now_ms() < s->last_tick_ms + tick_gap(s, 0))
		tick_soon(s);	/* a large run, counted when its gap is over */
	else
		tick(s);
	return s->phase == PHASE_DONE ? LOOP_NOMORE : TICK_MS;
}

static void
begin_drain(struct sup *s)
{
	char *err = NULL;

	s->phase = PHASE_DRAIN;
	s->mark = -1;		/* a new phase: act on the counts afresh */
	s->deadline_ms = loop_now_ms() + s->o->grace * 1000;
	run_set_state(s->db, s->run_id, "stopping", NULL, -1, -1, &err);
	free(err);
	expire_unheld(s);
	run_counts(s->db, s->run_id, &s->counts, NULL);
	clear_line(s);
	log_info("stopping: no more units are launched; waiting up to %ld s "
	    "for %ld unit%s in progress (interrupt again to force)",
	    s->o->grace, s->counts.assigned,
	    s->counts.assigned == 1 ? "" : "s");
	tick_soon(s);
}

static void
on_signal(struct loop *l, int signo, void *arg)
{
	struct sup *s = arg;

	(void)l;
	if (s->phase == PHASE_DONE)
		return;
	if (++s->stop_signals == 1)
		begin_drain(s);
	else
		force_stop(s);
	(void)signo;
}

/* Remove a run file; ENOENT is fine. */
static void
remove_run_file(struct sup *s, const char *name)
{
	char *p = run_file(s, name);

	if (unlink(p) < 0 && errno != ENOENT)
		warn_errno("cannot remove '%s'", p);
	free(p);
}

/* Stop the children, io first, and record how the run ended. */
static void
finish(struct sup *s)
{
	const struct provider *p = provider_find(s->cfg->provider_type);
	char *err = NULL;
	size_t n;
	int done = 0;

	if (s->phase == PHASE_DONE)
		return;
	s->phase = PHASE_DONE;
	child_stop(s, &s->workers);
	child_stop(s, &s->io);
	if (s->conn) {
		loop_del_fd(s->loop, s->conn->fd);
		ipc_conn_free(s->conn);
		s->conn = NULL;
	}
	child_stop(s, &s->pool);
	if (!s->completed) {
		/* Nobody serves the run any more: no unit stays live. */
		if (run_expire(s->db, s->run_id, NULL, 0, RUN_EXPIRE_HELD, &n,
		    &err) < 0) {
			warn("%s", err);
			free(err);
			err = NULL;
		}
		if (run_complete_if_done(s->db, s->run_id, &done, &err) < 0) {
			warn("%s", err);
			free(err);
			err = NULL;
		}
	}
	if (run_set_state(s->db, s->run_id, s->completed ? "completed" :
	    "stopped", NULL, -1, 0, &err) < 0) {
		warn("%s", err);
		free(err);
		err = NULL;
	}
	if (p && provider_run_cleanup(p, s->db, s->run_id, &err) < 0) {
		warn("%s", err);
		free(err);
	}
	if (s->o->results)
		new_results(s);
	run_counts(s->db, s->run_id, &s->counts, NULL);
	progress(s, 1);
	remove_run_file(s, "io.pid");
	remove_run_file(s, "pool.pid");
	remove_run_file(s, "workers.pid");
	loop_stop(s->loop);
}

/* --- start-up --- */

static void
print_links(struct sup *s, FILE *out)
{
	sqlite3_stmt *st;
	int i = 0;
	const char *param;

	if (!strcmp(s->cfg->provider_type, "mock"))
		param = "assignment_id";
	else if (!strcmp(s->cfg->provider_type, "inhouse"))
		param = "id";
	else
		return;
	st = db_stmt(s->db, "SELECT assignment_id FROM assignments "
	    "WHERE task_run_id = ? ORDER BY assignment_id LIMIT 3");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, s->run_id);
	fprintf(out, "worker links (%s):\n", s->cfg->provider_type);
	while (sqlite3_step(st) == SQLITE_ROW)
		fprintf(out, "  %s?worker_id=worker-%d&%s=%lld\n", s->url,
		    ++i, param, (long long)sqlite3_column_int64(st, 0));
	sqlite3_reset(st);
}

/* Refuse to supervise a run that another live supervisor has. */
static int
claim_run(struct sup *s)
{
	char *path = run_file(s, "launch.pid");
	pid_t pid;

	if (proc_pidfile_read(path, &pid) == 0 && pid != getpid() &&
	    proc_alive(pid)) {
		error("run %lld is supervised by pid %ld already",
		    (long long)s->run_id, (long)pid);
		free(path);
		return -1;
	}
	if (proc_pidfile_write(path, getpid()) < 0) {
		error_errno("cannot write '%s'", path);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

/*
 * The run's static/ folder that io serves.  Building it from the task's
 * settings is lib/site's job (not merged yet); until then only the folder
 * is made, so that the HTTP endpoints can be served.
 */
/*
 * Build the run's static/ folder from the task's settings.  Every start
 * (also a resume) rebuilds it, so edits to the task's pages take effect;
 * the swap is atomic, so a live io never serves a half-built folder.
 */
static int
build_site(struct sup *s)
{
	const struct task_config *c = s->cfg;
	struct site_settings st = SITE_SETTINGS_INIT;
	char *dir = run_file(s, "static"), *err = NULL;
	cJSON *args = cJSON_CreateObject();
	int r;

	cJSON_AddStringToObject(args, "task_title", c->task_title);
	cJSON_AddStringToObject(args, "task_description",
	    c->task_description);
	cJSON_AddNumberToObject(args, "task_reward", c->task_reward);
	cJSON_AddStringToObject(args, "task_tags", c->task_tags);
	st.blueprint_type = c->blueprint_type;
	st.task_source = c->task_source;
	st.preview_source = c->preview_source;
	st.onboarding_source = c->onboarding_source;
	st.extra_source_dir = c->extra_source_dir;
	st.provider_type = c->provider_type;
	st.frontend_args = args;
	r = site_build(dir, &st, &err);
	if (r < 0) {
		error("%s", err);
		free(err);
	}
	cJSON_Delete(args);
	free(dir);
	return r;
}

static int
start_children(struct sup *s)
{
	char *err = NULL;
	int attached_pool = 0, attached_io = 0;

	if (build_site(s) < 0)
		return -1;

	if (s->o->resume) {
		attached_pool = child_attach(s, &s->pool, "mephisto-pool");
		attached_io = child_attach(s, &s->io, "mephisto-io");
	}
	/* a pool that died between the pidfile check and now is replaced */
	if (attached_pool && pool_connect(s) < 0) {
		warn("starting a new pool instead");
		child_stop(s, &s->pool);
		attached_pool = 0;
	}
	if (!attached_pool && start_pool(s) < 0)
		return -1;
	if (attached_io && read_port(s) < 0) {
		child_stop(s, &s->io);
		attached_io = 0;
	}
	if (!attached_io && start_io(s) < 0)
		return -1;
	if (run_set_state(s->db, s->run_id, "running", s->url, s->port,
	    (long)getpid(), &err) < 0) {
		error("%s", err);
		free(err);
		return -1;
	}
	return 0;
}

static void
sup_release(struct sup *s)
{
	if (s->conn)
		ipc_conn_free(s->conn);
	child_unwatch(s, &s->pool);
	child_unwatch(s, &s->io);
	child_unwatch(s, &s->workers);
	loop_free(s->loop);
	free(s->dir);
	free(s->sock);
	free(s->url);
	free(s->printed.slot);
}

static void
child_init(struct child *c, struct sup *s, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->sup = s;
	c->name = name;
}

/*
 * With --detach: continue in a background process that logs to the run
 * folder; the foreground process waits until it is serving, prints the
 * URL and returns 1 (the caller exits).  Returns 0 in the background
 * process, -1 on failure.
 */
static int
detach(struct sup *s, struct db **dbp)
{
	char *log = run_file(s, "launch.log"), *err = NULL;
	int fd = -1;
	pid_t pid;

	fflush(NULL);
	pid = proc_daemonize(log, &fd, &err);
	if (pid < 0) {
		error("cannot detach: %s", err);
		free(err);
		free(log);
		return -1;
	}
	if (pid > 0) {
		if (proc_wait_ready(pid, fd, READY_TIMEOUT_MS * 3, &err) < 0) {
			error("the run's supervisor %s (see %s)", err, log);
			free(err);
			close(fd);
			free(log);
			return -1;
		}
		close(fd);
		printf("run %lld is served in the background by pid %ld; "
		    "log: %s\n", (long long)s->run_id, (long)pid, log);
		free(log);
		return 1;
	}
	log_set_daemon(1);
	free(log);
	/* An SQLite connection must not cross fork(): open a new one. */
	db_close(*dbp);
	*dbp = launch_open_db();
	s->db = *dbp;
	return 0;
}

static int
supervise_run(struct sup *s)
{
	FILE *human = s->o->results ? stderr : stdout;
	const struct provider *p = provider_find(s->cfg->provider_type);
	char *err = NULL;

	if (start_children(s) < 0)
		return -1;
	if (!s->o->resume && p &&
	    provider_run_setup(p, s->db, s->run_id, s->url, &err) < 0) {
		error("%s", err);
		free(err);
		return -1;
	}
	if (!s->o->quiet || !s->o->detach) {
		fprintf(human, "run %lld of task '%s' is live at %s\n",
		    (long long)s->run_id, s->cfg->task_name, s->url);
		if (s->cfg->metrics_port)
			fprintf(human, "metrics: http://127.0.0.1:%d/metrics\n",
			    s->cfg->metrics_port);
		print_links(s, human);
		fflush(human);
	}
	if (s->o->auto_workers && start_workers(s) < 0)
		return -1;
	if (s->o->detach)
		proc_notify_ready();
	s->start_ms = loop_now_ms();
	s->last_plain_ms = s->start_ms;
	run_counts(s->db, s->run_id, &s->counts, NULL);
	s->done_at_start = done_units(&s->counts);
	tick(s);
	if (s->phase != PHASE_DONE) {
		loop_add_timer(s->loop, TICK_MS, on_tick, s);
		if (loop_run(s->loop) < 0)
			return error_errno("the event loop failed");
	}
	return 0;
}

int
supervise(struct db **dbp, int64_t run_id, const struct task_config *cfg,
    const struct supervise_opts *o)
{
	struct sup s;
	char *err = NULL;
	int r;

	memset(&s, 0, sizeof(s));
	s.db = *dbp;
	s.mark = -1;
	s.run_id = run_id;
	s.cfg = cfg;
	s.o = o;
	child_init(&s.pool, &s, "pool");
	child_init(&s.io, &s, "io");
	child_init(&s.workers, &s, "workers");
	s.dir = launch_run_dir(run_id);
	s.sock = run_file(&s, "pool.sock");
	s.tty = isatty(2) && !o->detach;
	s.checkpoint = !o->resume;
	s.last_seq = max_seq(&s);
	if (path_mkdir_p(s.dir, 0700) < 0)
		die_errno("cannot create '%s'", s.dir);
	if (o->detach) {
		r = detach(&s, dbp);
		if (r) {
			sup_release(&s);
			return r > 0 ? EXIT_OK : EXIT_FAIL;
		}
	}
	/* Until on_change() checkpoints a new run, its commits do not. */
	if (s.checkpoint && db_checkpoint_later(s.db) < 0)
		die("cannot set up the database: %s", db_errmsg(s.db));
	if (claim_run(&s) < 0) {
		sup_release(&s);
		return EXIT_FAIL;
	}
	s.loop = loop_new();
	if (!s.loop)
		die_errno("cannot create an event loop");
	signal(SIGPIPE, SIG_IGN);
	loop_add_signal(s.loop, SIGINT, on_signal, &s);
	loop_add_signal(s.loop, SIGTERM, on_signal, &s);
	loop_add_signal(s.loop, SIGHUP, on_signal, &s);
	r = supervise_run(&s);
	if (r < 0) {
		s.failed = 1;
		finish(&s);
	}
	remove_run_file(&s, "launch.pid");
	if (s.completed)
		log_info("run %lld completed", (long long)run_id);
	else
		log_info("run %lld stopped", (long long)run_id);
	(void)err;
	sup_release(&s);
	return s.completed && !s.failed ? EXIT_OK : EXIT_FAIL;
}
