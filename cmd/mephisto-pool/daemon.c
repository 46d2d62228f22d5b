#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "db.h"
#include "ipc.h"
#include "log.h"
#include "loop.h"
#include "path.h"
#include "pool.h"
#include "proc.h"
#include "proto.h"
#include "provider.h"
#include "xalloc.h"
#include "banned.h"

/*
 * The daemon: start-up, the connections and their packets, and the
 * requests of mephisto-launch (snapshot, subscribe, disconnect_active,
 * shutdown).
 */

#define READS_PER_EVENT 16	/* fairness between busy connections */

int
pool_db_fail(struct pool *pool, const char *what)
{
	error("cannot %s: %s", what, db_errmsg(pool->db));
	db_rollback(pool->db);
	return -1;
}

/* Connections. */

struct pool_conn *
pool_conn_find(struct pool *pool, uint64_t id)
{
	struct pool_conn *c;

	for (c = pool->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void
conn_watch(struct pool_conn *c, int writing)
{
	if (c->writing == writing)
		return;
	c->writing = writing;
	loop_set_events(c->pool->loop, c->ipc->fd,
	    LOOP_READ | (writing ? LOOP_WRITE : 0));
}

void
pool_send(struct pool_conn *c, const struct msg_packet *p)
{
	ipc_conn_queue_packet(c->ipc, p);
}

void
pool_send_error(struct pool_conn *c, const char *request_id,
    const char *message, int retryable)
{
	ipc_conn_queue_error(c->ipc, request_id, message, retryable);
}

void
pool_ack(struct pool_conn *c, const struct msg_packet *p, cJSON *data,
    const char *status)
{
	struct msg_packet ack = MSG_PACKET_INIT;
	cJSON *d = data ? data : msg_new_object();

	if (!data)
		msg_set_str(d, "status", status);
	ack.packet_type = PT_ACK;
	ack.subject_id = p->subject_id;
	ack.request_id = p->request_id;
	ack.data = d;
	ack.server_timestamp = msg_now();
	pool_send(c, &ack);
	msg_free(d);
}

void
pool_push_status(struct pool *pool, const char *subject, const char *status)
{
	struct msg_packet p = MSG_PACKET_INIT;
	struct pool_conn *c;
	cJSON *d = msg_new_object();

	msg_set_str(d, "status", status);
	p.packet_type = PT_UPDATE_STATUS;
	p.subject_id = subject;
	p.data = d;
	p.server_timestamp = msg_now();
	for (c = pool->conns; c; c = c->next)
		if (c->is_io && !c->closing)
			pool_send(c, &p);
	msg_free(d);
}

/* Make C a subscriber of KIND (0: none), keeping the counts. */
static void
subscribe_as(struct pool_conn *c, int kind)
{
	struct pool *pool = c->pool;

	if (c->subscribed == SUB_EVENTS)
		pool->nr_subscribers--;
	else if (c->subscribed == SUB_CHANGES)
		pool->nr_watchers--;
	c->subscribed = kind;
	if (kind == SUB_EVENTS)
		pool->nr_subscribers++;
	else if (kind == SUB_CHANGES)
		pool->nr_watchers++;
}

static void
conn_free(struct pool_conn *c)
{
	struct pool *pool = c->pool;

	subscribe_as(c, 0);
	if (c->prev)
		c->prev->next = c->next;
	else
		pool->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	loop_del_fd(pool->loop, c->ipc->fd);
	log_debug("connection %" PRIu64 " closed", c->id);
	ipc_conn_free(c->ipc);
	free(c);
}

/* Events for subscribers. */

static void
set_id_or_null(cJSON *d, const char *key, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		msg_set_null(d, key);
	else
		msg_set_id(d, key, sqlite3_column_int64(st, col));
}

/* The event packet of a run_events row, written straight from it. */
static void
send_event_row(struct pool *pool, sqlite3_stmt *st, struct pool_conn *only)
{
	struct buf b = BUF_INIT;
	struct pool_conn *c;

	buf_addstr(&b, "{\"packet_type\":\"" PT_EVENT "\",\"subject_id\":\""
	    PROTO_SYSTEM_SUBJECT "\",\"data\":{\"event\":");
	msg_print_str((const char *)sqlite3_column_text(st, 1), &b);
	buf_addstr(&b, ",\"unit_id\":");
	msg_print_id(sqlite3_column_int64(st, 2), &b);
	buf_addstr(&b, ",\"agent_id\":");
	msg_print_id(sqlite3_column_int64(st, 3), &b);
	buf_addstr(&b, ",\"worker_id\":");
	msg_print_id(sqlite3_column_int64(st, 4), &b);
	buf_addstr(&b, ",\"status\":");
	msg_print_str((const char *)sqlite3_column_text(st, 5), &b);
	buf_addstr(&b, ",\"seq\":");
	msg_print_number((double)sqlite3_column_int64(st, 0), &b);
	buf_add(&b, "}}\n", 3);
	if (only) {
		ipc_conn_queue(only->ipc, b.buf, b.len);
	} else {
		for (c = pool->conns; c; c = c->next)
			if (c->subscribed == SUB_EVENTS && !c->closing)
				ipc_conn_queue(c->ipc, b.buf, b.len);
	}
	buf_release(&b);
}

#define EVENTS_SQL "SELECT seq, event, unit_id, agent_id, worker_id, " \
	"detail FROM run_events WHERE task_run_id = ? AND seq > ? " \
	"ORDER BY seq"

void
pool_publish(struct pool *pool)
{
	sqlite3_stmt *st;
	int rc;

	pool->changed = 1;
	if (!pool->nr_subscribers)
		return;
	st = db_stmt(pool->db, EVENTS_SQL);
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	sqlite3_bind_int64(st, 2, pool->last_seq);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		pool->last_seq = sqlite3_column_int64(st, 0);
		send_event_row(pool, st, NULL);
	}
	if (rc != SQLITE_DONE)
		warn("cannot read run events: %s", db_errmsg(pool->db));
	sqlite3_reset(st);
}

static int64_t
max_seq(struct pool *pool)
{
	sqlite3_stmt *st = db_stmt(pool->db,
	    "SELECT max(seq) FROM run_events WHERE task_run_id = ?");
	int64_t seq = 0;

	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return seq;
}

/* Requests of mephisto-launch and other clients. */

static void
handle_subscribe(struct pool_conn *c, const struct msg_packet *p)
{
	struct pool *pool = c->pool;
	sqlite3_stmt *st;
	int64_t since;
	char *err = NULL;
	int events;

	if (msg_opt_int(p->data, "since", -1, &since, &err) < 0 ||
	    msg_opt_bool(p->data, "events", 1, &events, &err) < 0) {
		pool_send_error(c, p->request_id, err, 0);
		free(err);
		return;
	}
	if (!events && since >= 0) {
		pool_send_error(c, p->request_id, "field 'since' replays events: "
		    "not with 'events': false", 0);
		return;
	}
	pool_publish(pool);
	if (!events) {
		subscribe_as(c, SUB_CHANGES);
		pool_ack(c, p, NULL, "subscribed");
		return;
	}
	if (!pool->nr_subscribers)
		pool->last_seq = max_seq(pool);
	subscribe_as(c, SUB_EVENTS);
	pool_ack(c, p, NULL, "subscribed");
	if (since < 0)
		return;
	/* Replay what the subscriber missed, up to what others have. */
	st = db_stmt(pool->db, EVENTS_SQL);
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	sqlite3_bind_int64(st, 2, since);
	while (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_int64(st, 0) <= pool->last_seq)
		send_event_row(pool, st, c);
	sqlite3_reset(st);
}

static void
snapshot_unit(cJSON *units, sqlite3_stmt *st)
{
	cJSON *u = msg_new_object();

	set_id_or_null(u, "unit_id", st, 0);
	msg_set_int(u, "unit_index", sqlite3_column_int64(st, 1));
	set_id_or_null(u, "assignment_id", st, 2);
	msg_set_str(u, "status", (const char *)sqlite3_column_text(st, 3));
	set_id_or_null(u, "worker_id", st, 4);
	msg_set_str(u, "worker_name", (const char *)sqlite3_column_text(st, 5));
	set_id_or_null(u, "agent_id", st, 6);
	msg_set_str(u, "agent_status",
	    (const char *)sqlite3_column_text(st, 7));
	if (sqlite3_column_type(st, 8) == SQLITE_NULL)
		msg_set_null(u, "started");
	else
		msg_set_timestamp(u, "started", sqlite3_column_double(st, 8));
	if (sqlite3_column_type(st, 9) == SQLITE_NULL)
		msg_set_null(u, "ended");
	else
		msg_set_timestamp(u, "ended", sqlite3_column_double(st, 9));
	msg_push(units, u);
}

/* counts: the number of the run's units in each status. */
static int
snapshot_counts(struct pool *pool, cJSON *counts)
{
	sqlite3_stmt *st = db_stmt(pool->db,
	    "SELECT status, COUNT(*) FROM units WHERE task_run_id = ? "
	    "GROUP BY status");
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		msg_set_int(counts, (const char *)sqlite3_column_text(st, 0),
		    sqlite3_column_int64(st, 1));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * units: the run's units whose status is in STATUSES (NULL: any), at most
 * LIMIT of them in launch order; sets *TRUNCATED when there were more.
 */
static int
snapshot_units(struct pool *pool, cJSON *units, const cJSON *statuses,
    int64_t limit, int *truncated)
{
	sqlite3_stmt *st = db_stmt(pool->db,
	    "SELECT u.unit_id, u.unit_index, u.assignment_id, u.status, "
	    "u.worker_id, w.worker_name, u.agent_id, a.status, "
	    "d.task_start, d.task_end FROM units u "
	    "LEFT JOIN workers w ON w.worker_id = u.worker_id "
	    "LEFT JOIN agents a ON a.agent_id = u.agent_id "
	    "LEFT JOIN agent_data d ON d.agent_id = u.agent_id "
	    "WHERE u.task_run_id = ?1 AND (?2 IS NULL OR u.status IN "
	    "(SELECT value FROM json_each(?2))) "
	    "ORDER BY u.creation_date, u.unit_id LIMIT ?3");
	char *list = statuses ? cJSON_PrintUnformatted(statuses) : NULL;
	int64_t n = 0;
	int rc;

	if (!st) {
		cJSON_free(list);
		return -1;
	}
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	if (list)
		sqlite3_bind_text(st, 2, list, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, limit + 1);
	*truncated = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n++ == limit) {
			*truncated = 1;
			continue;
		}
		snapshot_unit(units, st);
	}
	sqlite3_reset(st);
	cJSON_free(list);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Keeps a snapshot well inside the protocol's line limit. */
#define SNAPSHOT_MAX_UNITS 10000

static void
handle_snapshot(struct pool_conn *c, const struct msg_packet *p)
{
	struct pool *pool = c->pool;
	struct msg_packet reply = MSG_PACKET_INIT;
	const cJSON *statuses = NULL, *s;
	cJSON *d;
	int64_t limit;
	int truncated;
	char *err = NULL;

	if (msg_opt_arr(p->data, "statuses", &statuses, &err) < 0 ||
	    msg_opt_int(p->data, "limit", SNAPSHOT_MAX_UNITS, &limit,
	    &err) < 0) {
		pool_send_error(c, p->request_id, err, 0);
		free(err);
		return;
	}
	msg_foreach(s, statuses) {
		if (!cJSON_IsString(s)) {
			pool_send_error(c, p->request_id,
			    "field 'statuses' must list strings", 0);
			return;
		}
	}
	if (limit < 0 || limit > SNAPSHOT_MAX_UNITS)
		limit = SNAPSHOT_MAX_UNITS;
	d = msg_new_object();
	if (snapshot_counts(pool, msg_set_object(d, "counts")) < 0 ||
	    snapshot_units(pool, msg_set_array(d, "units"), statuses, limit,
	    &truncated) < 0) {
		pool_send_error(c, p->request_id, db_errmsg(pool->db), 1);
		msg_free(d);
		return;
	}
	msg_set_bool(d, "truncated", truncated);
	msg_set_id(d, "task_run_id", pool->run.task_run_id);
	reply.packet_type = PT_SNAPSHOT;
	reply.subject_id = PROTO_SYSTEM_SUBJECT;
	reply.request_id = p->request_id;
	reply.data = d;
	reply.server_timestamp = msg_now();
	pool_send(c, &reply);
	msg_free(d);
}

/* Every live agent (and onboarding agent) of the run. */
static int
collect_live(struct pool *pool, const char *sql, int64_t **ids, size_t *nr)
{
	sqlite3_stmt *st = db_stmt(pool->db, sql);
	size_t alloc = 0;
	int rc;

	*ids = NULL;
	*nr = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ALLOC_GROW(*ids, *nr + 1, alloc);
		(*ids)[(*nr)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
disconnect_all(struct pool *pool, int64_t *count)
{
	int64_t *ids = NULL, *obs = NULL;
	size_t nr = 0, nr_obs = 0, i;
	struct model_agent a;
	char *err = NULL;
	int rc = -1;

	*count = 0;
	if (collect_live(pool, "SELECT agent_id FROM agents WHERE "
	    "task_run_id = ? AND status IN ('none', 'accepted', 'onboarding', "
	    "'waiting', 'in task')", &ids, &nr) < 0 ||
	    collect_live(pool, "SELECT onboarding_agent_id FROM "
	    "onboarding_agents WHERE task_run_id = ? AND status IN "
	    "('none', 'onboarding', 'waiting')", &obs, &nr_obs) < 0)
		goto out;
	for (i = 0; i < nr; i++) {
		if (model_agent_get(pool->db, ids[i], &a) != 1)
			goto out;
		if (model_unit_expire(pool->db, a.unit_id, MODEL_EXPIRE_HELD,
		    NULL) < 0)
			goto out;
		if (model_agent_set_status(pool->db, a.agent_id, NULL,
		    AGENT_DISCONNECT, NULL) < 0)
			goto out;
		if (provider_unit_expire(pool->provider, pool->db, a.unit_id,
		    &err) < 0) {
			error("%s", err);
			goto out;
		}
		(*count)++;
	}
	for (i = 0; i < nr_obs; i++) {
		if (model_onboarding_set_status(pool->db, obs[i], NULL,
		    AGENT_DISCONNECT, NULL) < 0)
			goto out;
		(*count)++;
	}
	rc = 0;
out:
	free(err);
	free(ids);
	free(obs);
	return rc;
}

static void
handle_disconnect_active(struct pool_conn *c, const struct msg_packet *p)
{
	struct pool *pool = c->pool;
	cJSON *d;
	int64_t count;

	if (db_begin(pool->db) < 0 || disconnect_all(pool, &count) < 0 ||
	    db_commit(pool->db) < 0) {
		pool_db_fail(pool, "disconnect the active agents");
		pool_send_error(c, p->request_id,
		    "cannot disconnect the active agents", 1);
		return;
	}
	log_info("disconnected %" PRId64 " active agents", count);
	d = msg_new_object();
	msg_set_int(d, "count", count);
	pool_ack(c, p, d, NULL);
	pool_publish(pool);
}

static void
handle_shutdown(struct pool_conn *c, const struct msg_packet *p)
{
	log_info("shutdown requested");
	pool_ack(c, p, NULL, "shutting down");
	c->pool->stopping = 1;
	loop_stop(c->pool->loop);
}

/* Live updates: static tasks have none (facts section 7). */
static void
handle_live_update(struct pool_conn *c, const struct msg_packet *p)
{
	struct pool *pool = c->pool;
	struct pool_conn *o;

	if (!pool->run.live) {
		warn("live update for agent '%s' dropped: a %s task takes "
		    "no live updates", p->subject_id, pool->run.task_type);
		return;
	}
	if (!strcmp(p->packet_type, PT_CLIENT_LIVE_UPDATE)) {
		for (o = pool->conns; o; o = o->next)
			if (o->is_io && !o->closing)
				pool_send(o, p);
		return;
	}
	if (pool->run.runner && pool_live_update_in(pool, p) < 0)
		return;
	for (o = pool->conns; o; o = o->next)
		if (o != c && o->subscribed == SUB_EVENTS && !o->closing)
			pool_send(o, p);
}

/*
 * Live tasks: a worker gone (disconnect, or returned, or timed out on the
 * provider's side) is dropped at once, as the original's live runner
 * does; one back is announced to the runner.
 */
static void
live_status(struct pool *pool, int64_t id, const char *status)
{
	if (!strcmp(status, AGENT_DISCONNECT) ||
	    !strcmp(status, AGENT_RETURNED) || !strcmp(status, AGENT_TIMEOUT))
		pool_live_drop(pool, id, status);
	else if (!strcmp(status, "alive"))
		pool_runner_agent_event(pool, id, "agent_reconnected", NULL);
}

/*
 * io reports sockets gone silent.  A static agent that disconnects keeps
 * its unit until assignment_duration_in_seconds has passed since it was
 * created: the worker may come back (same registration id) and submit.
 * The expiry timer releases it otherwise.
 */
static void
handle_return_statuses(struct pool_conn *c, const struct msg_packet *p)
{
	const cJSON *m;
	int64_t id;

	msg_foreach(m, p->data) {
		if (!cJSON_IsString(m))
			continue;
		if (c->pool->run.live && !db_id_parse(msg_key(m), &id)) {
			live_status(c->pool, id, m->valuestring);
			continue;
		}
		if (!strcmp(m->valuestring, AGENT_DISCONNECT))
			log_info("agent %s disconnected; its unit stays "
			    "reserved until its time runs out", msg_key(m));
		else
			log_debug("agent %s reported %s", msg_key(m),
			    m->valuestring);
	}
}

/* Dispatch. */

struct handler {
	const char *type;
	void (*fn)(struct pool_conn *c, const struct msg_packet *p);
};

static const struct handler handlers[] = {
	{ PT_REGISTER_AGENT, pool_register },
	{ PT_SUBMIT_UNIT, pool_submit_unit },
	{ PT_SUBMIT_ONBOARDING, pool_submit_onboarding },
	{ PT_SUBMIT_METADATA, pool_submit_metadata },
	{ PT_LOG_ERROR, pool_log_error },
	{ PT_MEPHISTO_LIVE_UPDATE, handle_live_update },
	{ PT_CLIENT_LIVE_UPDATE, handle_live_update },
	{ PT_RETURN_STATUSES, handle_return_statuses },
	{ PT_SNAPSHOT, handle_snapshot },
	{ PT_SUBSCRIBE, handle_subscribe },
	{ PT_DISCONNECT_ACTIVE, handle_disconnect_active },
	{ PT_SHUTDOWN, handle_shutdown },
	{ PT_METRICS, pool_metrics },
};

static void
dispatch(struct pool_conn *c, const struct msg_packet *p)
{
	size_t i;
	char *msg;

	c->pool->round_packets++;
	for (i = 0; i < ARRAY_SIZE(handlers); i++) {
		if (!strcmp(p->packet_type, handlers[i].type)) {
			handlers[i].fn(c, p);
			return;
		}
	}
	if (!strcmp(p->packet_type, PT_ALIVE) ||
	    !strcmp(p->packet_type, PT_HEARTBEAT))
		return;
	msg = xasprintf("unknown packet type '%s'", p->packet_type);
	warn("connection %" PRIu64 ": %s", c->id, msg);
	pool_send_error(c, p->request_id, msg, 0);
	free(msg);
}

static void
handle_line(struct pool_conn *c, const char *line, size_t len)
{
	struct msg_packet p = MSG_PACKET_INIT;
	char *err = NULL;

	if (msg_packet_parse(&p, line, len, PROTO_MAX_LINE, &err) < 0) {
		warn("connection %" PRIu64 ": bad packet: %s", c->id, err);
		pool_send_error(c, NULL, err, 0);
		free(err);
		return;
	}
	if (!c->hello) {
		if (ipc_conn_check_hello(c->ipc, &p, &err) < 0) {
			warn("connection %" PRIu64 ": %s", c->id, err);
			pool_send_error(c, NULL, err, 0);
			free(err);
			c->closing = 1;
		} else {
			c->hello = 1;
			c->is_io = c->ipc->peer_program &&
			    !strcmp(c->ipc->peer_program, "mephisto-io");
			log_info("connection %" PRIu64 " from %s[%ld]", c->id,
			    c->ipc->peer_program ? c->ipc->peer_program : "?",
			    c->ipc->peer_pid);
		}
	} else {
		dispatch(c, &p);
	}
	msg_packet_release(&p);
}

/* Read and handle complete lines; returns -1 when C must be closed. */
static int
conn_read(struct pool_conn *c)
{
	char *line;
	size_t len;
	ssize_t n;
	int i, rc = 0;

	for (i = 0; i < READS_PER_EVENT && !c->closing; i++) {
		n = ipc_conn_read(c->ipc);
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			return -1;
		while (!c->closing &&
		    (rc = ipc_conn_line(c->ipc, &line, &len)) == 1)
			handle_line(c, line, len);
		if (!c->closing && rc < 0) {
			warn("connection %" PRIu64 ": line longer than %d "
			    "bytes refused", c->id, PROTO_MAX_LINE);
			pool_send_error(c, NULL, "line too long", 0);
			c->closing = 1;
		}
		if (n == 0)
			return -1;
	}
	return 0;
}

/*
 * Reading only: what C is owed is sent after the round's commit
 * (round_end()), which also closes C when it is dead or done.
 */
static void
on_conn(struct loop *l, int fd, int events, void *arg)
{
	struct pool_conn *c = arg;

	if ((events & LOOP_READ) && !c->dead && conn_read(c) < 0)
		c->dead = 1;
}

static void
round_start(struct pool *pool)
{
	struct pool_conn *c;

	for (c = pool->conns; c; c = c->next)
		c->mark = c->ipc->out.len;
	pool->round_seq = pool->last_seq;
	pool->round_packets = 0;
	db_batch_start(pool->db);
}

/* The round's commit failed: take back what it queued. */
static void
round_withdraw(struct pool *pool)
{
	struct pool_conn *c;

	pool->last_seq = pool->round_seq;
	pool->changed = 0;
	for (c = pool->conns; c; c = c->next) {
		if (c->ipc->out.len <= c->mark)
			continue;
		buf_setlen(&c->ipc->out, c->mark);
		c->closing = 1;
	}
}

/* A committed round changed the run: tell each watcher, once. */
static void
tell_watchers(struct pool *pool)
{
	struct msg_packet p = MSG_PACKET_INIT;
	struct pool_conn *c;
	cJSON *d = msg_new_object();

	p.packet_type = PT_CHANGED;
	p.subject_id = PROTO_SYSTEM_SUBJECT;
	p.data = d;
	for (c = pool->conns; c; c = c->next)
		if (c->subscribed == SUB_CHANGES && !c->closing &&
		    !ipc_conn_out_pending(c->ipc))
			pool_send(c, &p);
	msg_free(d);
}

/* Commit the round, then send what it queued and close finished peers. */
static void
round_end(struct pool *pool)
{
	struct pool_conn *c, *next;
	int rc;

	rc = db_batch_end(pool->db);
	if (rc < 0) {
		error("cannot commit: %s; the answers of this round are "
		    "withdrawn", db_errmsg(pool->db));
		round_withdraw(pool);
	} else if (rc > 0 && pool->round_packets > 1) {
		log_debug("one commit for %zu packets", pool->round_packets);
	}
	pool_runners_flush(pool);
	if (pool->changed && pool->nr_watchers)
		tell_watchers(pool);
	pool->changed = 0;
	for (c = pool->conns; c; c = next) {
		next = c->next;
		if (ipc_conn_out_pending(c->ipc)) {
			rc = ipc_conn_flush(c->ipc);
			if (rc < 0)
				c->dead = 1;
			else if (!c->dead)
				conn_watch(c, rc == 0);
		}
		if (c->dead || (c->closing && !ipc_conn_out_pending(c->ipc)))
			conn_free(c);
	}
}

/*
 * Run the loop one round at a time, each round one transaction: see
 * pool.h.  Returns 0 when stopped, -1 when the loop failed.
 */
static int
pool_run(struct pool *pool)
{
	int rc = 0;

	while (!pool->stopping && rc == 0) {
		round_start(pool);
		rc = loop_once(pool->loop, -1);
		round_end(pool);
	}
	return rc;
}

static void
on_accept(struct loop *l, int lfd, int events, void *arg)
{
	struct pool *pool = arg;
	struct pool_conn *c;
	int fd;

	while ((fd = ipc_accept(lfd, NULL)) >= 0) {
		c = xcalloc(1, sizeof(*c));
		c->pool = pool;
		c->id = ++pool->next_conn_id;
		c->ipc = ipc_conn_new(fd, PROTO_MAX_LINE);
		c->ipc->data = c;
		c->next = pool->conns;
		if (pool->conns)
			pool->conns->prev = c;
		pool->conns = c;
		if (loop_add_fd(l, fd, LOOP_READ, on_conn, c) < 0) {
			error_errno("cannot watch a connection");
			conn_free(c);
			continue;
		}
		ipc_conn_queue_hello(c->ipc);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		warn_errno("cannot accept a connection");
}

static void
on_signal(struct loop *l, int signo, void *arg)
{
	struct pool *pool = arg;

	log_info("signal %d: stopping", signo);
	pool->stopping = 1;
	loop_stop(l);
}

/* Start-up. */

/* Create the qualifications the run names, as the original does. */
static int
ensure_quals(struct pool *pool)
{
	const char *names[3];
	size_t i;

	names[0] = pool->run.block_qual;
	names[1] = pool->run.onboarding_qual;
	names[2] = pool->run.onboarding_failed_qual;
	if (db_begin(pool->db) < 0)
		return pool_db_fail(pool, "start a transaction");
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i] && model_qual_create(pool->db, names[i], NULL,
		    NULL) < 0)
			return pool_db_fail(pool, "create the qualifications");
	if (model_event_add(pool->db, pool->run.task_run_id, 0, 0, 0,
	    "pool_started", NULL, NULL) < 0)
		return pool_db_fail(pool, "record the start");
	if (db_commit(pool->db) < 0)
		return pool_db_fail(pool, "commit");
	return 0;
}

static int
pool_open(struct pool *pool, int64_t run_id)
{
	char *err = NULL, *dbpath, *data, *rel;

	dbpath = conf_db_path(NULL, &err);
	data = dbpath ? conf_data_dir(NULL, &err) : NULL;
	if (!data) {
		free(dbpath);
		error("%s", err);
		free(err);
		return -1;
	}
	pool->db = db_open(dbpath, &err);
	free(dbpath);
	if (!pool->db ||
	    model_run_load(pool->db, run_id, &pool->run, &err) < 0) {
		free(data);
		error("%s", err);
		free(err);
		return -1;
	}
	pool->provider = provider_find(pool->run.provider_type);
	if (!pool->provider) {
		free(data);
		return error("task run %" PRId64 ": unknown provider '%s'",
		    run_id, pool->run.provider_type);
	}
	/*
	 * The run's working set stays cached, and few commits checkpoint.
	 * A round's savepoints keep their undo pages in memory by
	 * db_sqlite_init()'s statement journal (not temp_store = MEMORY,
	 * which would keep them in 1 KiB blocks, each a malloc()).
	 */
	if (db_exec(pool->db, "PRAGMA cache_size = -32768") < 0 ||
	    db_checkpoint_seldom(pool->db) < 0)
		warn("cannot tune the database connection: %s",
		    db_errmsg(pool->db));
	rel = xasprintf("runs/%" PRId64 "/pool.sock", run_id);
	pool->sock_path = path_join(data, rel);
	free(rel);
	free(data);
	return ensure_quals(pool);
}

static int
pool_listen(struct pool *pool)
{
	char *err = NULL;

	pool->lfd = ipc_listen(pool->sock_path, &err);
	if (pool->lfd < 0) {
		error("%s", err);
		free(err);
		return -1;
	}
	pool->loop = loop_new();
	if (!pool->loop)
		return error_errno("cannot create the event loop");
	if (loop_add_fd(pool->loop, pool->lfd, LOOP_READ, on_accept,
	    pool) < 0 ||
	    loop_add_signal(pool->loop, SIGTERM, on_signal, pool) < 0 ||
	    loop_add_signal(pool->loop, SIGINT, on_signal, pool) < 0 ||
	    loop_add_signal(pool->loop, SIGHUP, on_signal, pool) < 0)
		return error_errno("cannot set up the event loop");
	return 0;
}

static void
pool_close(struct pool *pool)
{
	while (pool->conns) {
		if (ipc_conn_out_pending(pool->conns->ipc))
			ipc_conn_flush(pool->conns->ipc);
		conn_free(pool->conns);
	}
	pool_checks_kill(pool);
	pool_runners_kill(pool);
	pool_expiry_release(pool);
	if (pool->lfd >= 0) {
		if (pool->loop)
			loop_del_fd(pool->loop, pool->lfd);
		close(pool->lfd);
		if (pool->stopping)
			unlink(pool->sock_path);
	}
	loop_free(pool->loop);
	model_run_release(&pool->run);
	db_close(pool->db);
	free(pool->sock_path);
}

int
pool_daemon(int64_t run_id, const char *log_file)
{
	struct pool pool;
	int rc = -1;

	memset(&pool, 0, sizeof(pool));
	pool.lfd = -1;
	log_set_daemon(1);
	if (log_file && log_open_file(log_file) < 0)
		return error_errno("cannot open log file '%s'", log_file);
	signal(SIGPIPE, SIG_IGN);
	if (pool_open(&pool, run_id) < 0 || pool_listen(&pool) < 0 ||
	    pool_expiry_start(&pool) < 0 || pool_recheck_onboarding(&pool) < 0 ||
	    pool_screen_recheck(&pool) < 0 || pool_runners_resume(&pool) < 0)
		goto out;
	pool.last_seq = max_seq(&pool);
	if (proc_notify_ready() < 0)
		warn_errno("cannot signal readiness");
	log_info("serving task run %" PRId64 " on %s", run_id,
	    pool.sock_path);
	if (pool_run(&pool) < 0) {
		error_errno("event loop failed");
		goto out;
	}
	rc = 0;
out:
	pool_close(&pool);
	return rc;
}
