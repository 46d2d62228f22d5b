#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "pool.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

/*
 * Live tasks (blueprint live_task): the assignment state machine.  Who
 * works on which assignment, when it starts, and what happens when a
 * worker drops; the runner processes themselves are in runner.c.
 *
 * Quorum: with units_per_assignment > 1 agents are created "waiting";
 * when every unit of the assignment has a waiting agent they all become
 * "in task" together and the runner starts.  A waiting agent not joined
 * within quorum_timeout_seconds becomes "timeout" and its unit is
 * released.  When an agent in task drops (disconnect, returned, timeout)
 * its partners become "partner disconnect"; every unit of the assignment
 * goes back to "launched" and the runner is stopped.
 */

/* Agents. */

int
pool_live_agents(struct pool *pool, int64_t assignment_id, int64_t except,
    int64_t **ids, size_t *nr)
{
	/* From the assignment's units: agents has no assignment index. */
	sqlite3_stmt *st = db_stmt(pool->db, "SELECT a.agent_id FROM "
	    "units u JOIN agents a ON a.unit_id = u.unit_id WHERE "
	    "u.assignment_id = ?1 AND a.agent_id != ?2 AND a.status IN "
	    "('none', 'accepted', 'waiting', 'in task') "
	    "ORDER BY u.unit_index");

	*ids = NULL;
	*nr = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, assignment_id);
	sqlite3_bind_int64(st, 2, except);
	return db_step_ids(st, ids, nr);
}

void
pool_live_push(struct pool *pool, int64_t agent_id, const char *status)
{
	char subject[32];

	snprintf(subject, sizeof(subject), "%" PRId64, agent_id);
	pool_push_status(pool, subject, status);
}

/*
 * Inside a transaction: release every live agent in IDS to TO, their
 * units back to launched.
 */
static int
release_all(struct pool *pool, const int64_t *ids, size_t nr, const char *to)
{
	struct model_agent a;
	size_t i;
	int rc;

	for (i = 0; i < nr; i++) {
		rc = model_agent_get(pool->db, ids[i], &a);
		if (rc < 0)
			return -1;
		if (rc && model_agent_release(pool->db, &a, to, NULL) < 0)
			return -1;
	}
	return 0;

}

void
pool_live_contain(struct pool *pool, int64_t assignment_id, const char *why)
{
	int64_t *ids = NULL;
	size_t nr = 0, i;

	if (db_begin(pool->db) < 0)
		goto busy;
	if (pool_live_agents(pool, assignment_id, 0, &ids, &nr) < 0 ||
	    release_all(pool, ids, nr, AGENT_DISCONNECT) < 0 ||
	    model_event_add(pool->db, pool->run.task_run_id, 0, 0, 0,
	    "runner_failed", why, NULL) < 0 || db_commit(pool->db) < 0)
		goto busy;
	for (i = 0; i < nr; i++)
		pool_live_push(pool, ids[i], AGENT_DISCONNECT);
	pool_publish(pool);
	free(ids);
	return;
busy:
	free(ids);
	pool_db_fail(pool, "release the units of a failed runner");
}
int
pool_live_update_in(struct pool *pool, const struct msg_packet *p)
{
	struct pool_runner *r;
	const cJSON *uid = msg_get(p->data, "update_id");
	int64_t id;

	if (db_id_parse(p->subject_id, &id) < 0)
		return 0;
	r = pool_runner_of_agent(pool, id);
	if (!r) {
		log_debug("live update from agent %s, which has no runner",
		    p->subject_id);
		return 0;
	}
	if (cJSON_IsString(uid) && pool_runner_update_seen(r, id,
	    uid->valuestring)) {
		log_debug("live update '%.64s' from agent %s relayed already: "
		    "dropped", uid->valuestring, p->subject_id);
		return -1;
	}
	pool_runner_agent_event(pool, id, "live_update", p->data);
	return 0;
}

void
pool_live_check_over(struct pool *pool, int64_t assignment_id)
{
	struct pool_runner *r = pool_runner_of_assignment(pool, assignment_id);
	int64_t *ids = NULL;
	size_t nr = 0;

	if (!r)
		return;
	if (pool_live_agents(pool, assignment_id, 0, &ids, &nr) < 0) {
		error("cannot read the agents of assignment %" PRId64 ": %s",
		    assignment_id, db_errmsg(pool->db));
		return;
	}
	free(ids);
	if (!nr) {
		log_info("assignment %" PRId64 " is over: its runner is "
		    "told", assignment_id);
		pool_runner_finish(r);
	}
}

static const char *
drop_event(const char *status)
{
	if (!strcmp(status, AGENT_RETURNED))
		return "agent_returned";
	if (!strcmp(status, AGENT_TIMEOUT))
		return "agent_timed_out";
	return "agent_disconnected";
}

void
pool_live_drop(struct pool *pool, int64_t agent_id, const char *status)
{
	struct pool_runner *r;
	struct model_agent a;
	int64_t *partners = NULL;
	size_t nr = 0, i;
	int rc, waiting;

	if (db_begin(pool->db) < 0)
		goto busy;
	rc = model_agent_get(pool->db, agent_id, &a);
	if (rc < 0)
		goto busy;
	if (!rc || a.task_run_id != pool->run.task_run_id ||
	    !model_agent_status_is_live(a.status)) {
		db_rollback(pool->db);
		return;
	}
	waiting = !strcmp(a.status, AGENT_WAITING);
	if (model_agent_release(pool->db, &a, status, NULL) < 0)
		goto busy;
	if (!waiting && (pool_live_agents(pool, a.assignment_id, agent_id,
	    &partners, &nr) < 0 || release_all(pool, partners, nr,
	    AGENT_PARTNER_DISCONNECT) < 0))
		goto busy;
	if (db_commit(pool->db) < 0)
		goto busy;
	log_info("agent %" PRId64 " %s%s", agent_id, status,
	    nr ? "; its partners are released" : "");
	pool_live_push(pool, agent_id, status);
	for (i = 0; i < nr; i++)
		pool_live_push(pool, partners[i], AGENT_PARTNER_DISCONNECT);
	free(partners);
	r = pool_runner_of_agent(pool, agent_id);
	if (r) {
		pool_runner_agent_event(pool, agent_id, drop_event(status),
		    NULL);
		pool_runner_finish(r);
	}
	pool_publish(pool);
	return;
busy:
	free(partners);
	pool_db_fail(pool, "release a live agent");
}

void
pool_live_quorum_expire(struct pool *pool, int64_t agent_id)
{
	struct model_agent a;
	int rc;

	if (db_begin(pool->db) < 0)
		goto busy;
	rc = model_agent_get(pool->db, agent_id, &a);
	if (rc < 0)
		goto busy;
	if (!rc || strcmp(a.status, AGENT_WAITING)) {
		db_rollback(pool->db);
		return;
	}
	if (model_agent_release(pool->db, &a, AGENT_TIMEOUT, NULL) < 0 ||
	    db_commit(pool->db) < 0)
		goto busy;
	log_info("agent %" PRId64 " waited %.0f s for partners: released",
	    agent_id, pool->run.quorum_timeout);
	pool_live_push(pool, agent_id, AGENT_TIMEOUT);
	pool_publish(pool);
	return;
busy:
	pool_db_fail(pool, "release a waiting agent");
}

/* Quorum: inside the registration's transaction. */

int
pool_live_join(struct pool *pool, int64_t assignment_id,
    struct pool_reply *r)
{
	sqlite3_stmt *st = db_stmt(pool->db, "SELECT COUNT(*), "
	    "COUNT(a.agent_id) FROM units u LEFT JOIN agents a ON "
	    "a.agent_id = u.agent_id AND a.status = 'waiting' "
	    "WHERE u.assignment_id = ?");
	int64_t units, waiting, *ids = NULL;
	size_t nr = 0, i;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, assignment_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return -1;
	}
	units = sqlite3_column_int64(st, 0);
	waiting = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	if (waiting < units) {
		r->status = AGENT_WAITING;
		return 0;
	}
	if (pool_live_agents(pool, assignment_id, 0, &ids, &nr) < 0)
		return -1;
	for (i = 0; i < nr; i++) {
		if (model_agent_set_status(pool->db, ids[i], AGENT_WAITING,
		    AGENT_IN_TASK, NULL) < 0) {
			free(ids);
			return -1;
		}
	}
	free(ids);
	r->status = AGENT_IN_TASK;
	r->start_assignment = assignment_id;
	return 0;
}

/* After the commit that completed a quorum: tell everyone, start. */
void
pool_live_started(struct pool *pool, int64_t assignment_id, int64_t except)
{
	int64_t *ids = NULL;
	size_t nr = 0, i;

	if (pool_live_agents(pool, assignment_id, except, &ids, &nr) < 0) {
		error("cannot read the agents of assignment %" PRId64 ": %s",
		    assignment_id, db_errmsg(pool->db));
		return;
	}
	for (i = 0; i < nr; i++)
		pool_live_push(pool, ids[i], AGENT_IN_TASK);
	free(ids);
	pool_runner_start(pool, assignment_id, 0);
}

int
pool_runners_resume(struct pool *pool)
{
	sqlite3_stmt *st;
	int64_t *ids = NULL;
	size_t nr = 0, alloc = 0, i;
	int rc;

	if (!pool->run.runner)
		return 0;
	st = db_stmt(pool->db, "SELECT DISTINCT assignment_id FROM agents "
	    "WHERE task_run_id = ? AND status = 'in task'");
	if (!st)
		return pool_db_fail(pool, "read the live assignments");
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ALLOC_GROW(ids, nr + 1, alloc);
		ids[nr++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(ids);
		return pool_db_fail(pool, "read the live assignments");
	}
	for (i = 0; i < nr; i++) {
		log_info("assignment %" PRId64 " was in progress: starting "
		    "its runner again", ids[i]);
		pool_runner_start(pool, ids[i], 1);
	}
	free(ids);
	return 0;
}
