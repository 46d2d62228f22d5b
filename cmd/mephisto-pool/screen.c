#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "pool.h"
#include "proto.h"
#include "xalloc.h"
#include "banned.h"

/*
 * Screening and gold units (facts section 4.4), decided inside the
 * registration's transaction and checked inside the submission's.
 *
 * Screening (blueprint.use_screening_task): a worker without a grant of
 * passed_qualification_name gets a fresh unit of index -1, in an
 * assignment of its own whose shared data is blueprint.screening_data,
 * at most max_screening_units of them in the run (0: no cap; expired
 * ones are given back).  Its submission is checked against
 * blueprint.screening_answers, or by the blueprint.screening_validator
 * command: a pass grants passed_qualification_name (1), a failure grants
 * block_qualification (1), which refuses the worker from then on.
 *
 * The validator runs after the submission is committed and acknowledged
 * (validator.c): it reads {"inputs": the unit's data, "outputs": the
 * submitted data} on stdin and exits 0 to pass; any other exit, or
 * running past screening_validator_timeout, fails.  Its outcome is
 * granted in a transaction of its own.  Until then the worker is offered
 * no work ("no available units"), and a pool that stops meanwhile checks
 * the submission again when it starts: a screening submission whose
 * worker holds neither qualification has no outcome yet.
 *
 * Gold (blueprint.use_golds): qualifications <base>-correct-golds,
 * <base>-wrong-golds, <base>-completed-count and <base>-disqualified.  A
 * worker needs a gold unit while correct < min_golds, or while correct -
 * (min_golds + wrong) < ceil(log10(done + 1) ^ 2.2) - 1; a worker with
 * more than max_incorrect_golds wrong gets no more golds (and is marked
 * disqualified).  The gold unit (index -2) takes its data from
 * blueprint.gold_units {name: {data, answers}}, in turn; its name is kept
 * in the assignment's unit_data, which browsers never see.  Each result
 * moves the counters; every normal unit submitted moves completed-count.
 */

static int
grant_value(struct pool *pool, int64_t worker_id, const char *name,
    int *granted, int64_t *value)
{
	int exists;

	*value = 0;
	return model_grant_get(pool->db, worker_id, name, &exists, granted,
	    value);
}

static int
bump(struct pool *pool, int64_t worker_id, const char *name)
{
	int granted;
	int64_t v;

	if (grant_value(pool, worker_id, name, &granted, &v) < 0)
		return -1;
	return model_grant_name(pool->db, worker_id, name, v + 1);
}

/* The units of INDEX in the run, expired ones left out. */
static int64_t
count_index(struct pool *pool, int64_t index)
{
	sqlite3_stmt *st = db_stmt(pool->db, "SELECT COUNT(*) FROM units "
	    "WHERE task_run_id = ? AND unit_index = ? AND status != 'expired'");
	int64_t n = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	sqlite3_bind_int64(st, 2, index);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

/*
 * A new assignment with one unit of INDEX for WORKER_ID, already assigned
 * to it, and its agent.  SHARED and UNIT_DATA are JSON text.
 */
static int
create_unit(struct pool *pool, int64_t worker_id, int64_t index,
    const char *shared, const char *unit_data, struct pool_reply *r)
{
	const struct model_run *run = &pool->run;
	const cJSON *task = msg_get(run->params, "task");
	const cJSON *reward = task ? msg_get(task, "task_reward") : NULL;
	struct model_unit u;
	sqlite3_stmt *st;
	int64_t id;

	memset(&u, 0, sizeof(u));
	u.assignment_id = db_new_id();
	u.unit_id = db_new_id();
	u.unit_index = index;
	u.task_id = run->task_id;
	u.task_run_id = run->task_run_id;
	u.requester_id = run->requester_id;
	u.worker_id = worker_id;
	st = db_stmt(pool->db, "INSERT INTO assignments (assignment_id, "
	    "task_id, task_run_id, requester_id, task_type, provider_type, "
	    "sandbox) VALUES (?, ?, ?, ?, ?, ?, ?)");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, u.assignment_id);
	sqlite3_bind_int64(st, 2, u.task_id);
	sqlite3_bind_int64(st, 3, u.task_run_id);
	sqlite3_bind_int64(st, 4, u.requester_id);
	sqlite3_bind_text(st, 5, run->task_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, run->provider_type, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, run->sandbox);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	st = db_stmt(pool->db, "INSERT INTO assignment_data (assignment_id, "
	    "shared, unit_data) VALUES (?, ?, ?)");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, u.assignment_id);
	sqlite3_bind_text(st, 2, shared, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, unit_data, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	st = db_stmt(pool->db, "INSERT INTO units (unit_id, assignment_id, "
	    "unit_index, pay_amount, provider_type, status, task_type, "
	    "task_id, task_run_id, sandbox, requester_id, worker_id) "
	    "VALUES (?, ?, ?, ?, ?, 'assigned', ?, ?, ?, ?, ?, ?)");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, u.unit_id);
	sqlite3_bind_int64(st, 2, u.assignment_id);
	sqlite3_bind_int64(st, 3, index);
	sqlite3_bind_double(st, 4, cJSON_IsNumber(reward) ?
	    reward->valuedouble : 0);
	sqlite3_bind_text(st, 5, run->provider_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, run->task_type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, u.task_id);
	sqlite3_bind_int64(st, 8, u.task_run_id);
	sqlite3_bind_int(st, 9, run->sandbox);
	sqlite3_bind_int64(st, 10, u.requester_id);
	sqlite3_bind_int64(st, 11, worker_id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	memcpy(u.status, UNIT_ASSIGNED, sizeof(UNIT_ASSIGNED));
	if (model_agent_create(pool->db, &u, worker_id, AGENT_IN_TASK,
	    run->task_type, run->provider_type, shared, &id, NULL) < 0)
		return -1;
	r->agent_id = id;
	r->init = msg_parse(shared, strlen(shared), 0, NULL);
	if (!r->init)
		r->init = msg_new_object();
	r->deadline = db_now() + (double)run->assignment_duration;
	log_info("worker %" PRId64 " gets %s unit %" PRId64, worker_id,
	    index == POOL_SCREENING_INDEX ? "screening" : "gold", u.unit_id);
	return 1;
}

static int
no_work(struct pool_reply *r)
{
	r->agent_id = 0;
	r->failure = REASON_NO_AVAILABLE_UNITS;
	return 1;
}

/*
 * Whether WORKER_ID holds a screening unit of the run that did not
 * expire: one submitted and waiting for its outcome.  1, 0 or -1.
 */
static int
screened_already(struct pool *pool, int64_t worker_id)
{
	sqlite3_stmt *st = db_stmt(pool->db, "SELECT 1 FROM units "
	    "WHERE task_run_id = ? AND worker_id = ? AND unit_index = ? "
	    "AND status != 'expired' LIMIT 1");
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	sqlite3_bind_int64(st, 2, worker_id);
	sqlite3_bind_int64(st, 3, POOL_SCREENING_INDEX);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
try_screening(struct pool *pool, int64_t worker_id, struct pool_reply *r)
{
	const struct model_run *run = &pool->run;
	struct buf shared = BUF_INIT;
	int granted, rc;
	int64_t v, n;

	if (grant_value(pool, worker_id, run->passed_qual, &granted, &v) < 0)
		return -1;
	if (granted)
		return 0;
	n = screened_already(pool, worker_id);
	if (n)
		return n < 0 ? -1 : no_work(r);
	n = count_index(pool, POOL_SCREENING_INDEX);
	if (n < 0)
		return -1;
	if (run->max_screening_units && n >= run->max_screening_units)
		return no_work(r);
	if (run->screening_data)
		msg_print(run->screening_data, &shared);
	else
		buf_addstr(&shared, "{}");
	rc = create_unit(pool, worker_id, POOL_SCREENING_INDEX, shared.buf,
	    "[{}]", r);
	buf_release(&shared);
	return rc;
}

static char *
qname(const struct model_run *run, const char *suffix)
{
	return xasprintf("%s-%s", run->gold_base, suffix);
}

/* The gold counters of WORKER_ID. */
static int
gold_counts(struct pool *pool, int64_t worker_id, int64_t *correct,
    int64_t *wrong, int64_t *done)
{
	static const char *const names[] = {
		"correct-golds", "wrong-golds", "completed-count",
	};
	int64_t *out[3];
	size_t i;
	int granted;

	out[0] = correct;
	out[1] = wrong;
	out[2] = done;
	for (i = 0; i < 3; i++) {
		char *q = qname(&pool->run, names[i]);
		int rc = grant_value(pool, worker_id, q, &granted, out[i]);

		free(q);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int
try_gold(struct pool *pool, int64_t worker_id, struct pool_reply *r)
{
	const struct model_run *run = &pool->run;
	int64_t correct, wrong, done, n, k;
	const cJSON *g, *data;
	struct buf shared = BUF_INIT, unit_data = BUF_INIT;
	cJSON *ud;
	int rc;
	double need;

	if (!run->gold_units || !cJSON_GetArraySize(run->gold_units))
		return 0;
	if (gold_counts(pool, worker_id, &correct, &wrong, &done) < 0)
		return -1;
	if (wrong > run->max_incorrect_golds)
		return 0;
	need = ceil(pow(log10((double)done + 1), 2.2)) - 1;
	if (correct >= run->min_golds &&
	    (double)(correct - (run->min_golds + wrong)) >= need)
		return 0;
	n = count_index(pool, POOL_GOLD_INDEX);
	if (n < 0)
		return -1;
	if (run->max_gold_units && n >= run->max_gold_units)
		return 0;
	k = (correct + wrong) % cJSON_GetArraySize(run->gold_units);
	g = cJSON_GetArrayItem(run->gold_units, (int)k);
	data = msg_get(g, "data");
	if (cJSON_IsObject(data))
		msg_print(data, &shared);
	else
		buf_addstr(&shared, "{}");
	ud = msg_new_array();
	msg_push(ud, msg_new_object());
	msg_set_str(cJSON_GetArrayItem(ud, 0), "gold", msg_key(g));
	msg_print(ud, &unit_data);
	msg_free(ud);
	rc = create_unit(pool, worker_id, POOL_GOLD_INDEX, shared.buf,
	    unit_data.buf, r);
	buf_release(&shared);
	buf_release(&unit_data);
	return rc;
}

int
pool_screen_assign(struct pool *pool, int64_t worker_id, struct pool_reply *r)
{
	if (pool->run.use_screening && pool->run.passed_qual)
		return try_screening(pool, worker_id, r);
	if (pool->run.use_golds && pool->run.gold_base)
		return try_gold(pool, worker_id, r);
	return 0;
}

/* The gold name of ASSIGNMENT_ID's unit (caller frees), or NULL. */
static char *
gold_name(struct pool *pool, int64_t assignment_id)
{
	sqlite3_stmt *st = db_stmt(pool->db, "SELECT json_extract(unit_data, "
	    "'$[0].gold') FROM assignment_data WHERE assignment_id = ?");
	char *name = NULL;

	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, assignment_id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		name = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return name;
}

static int
gold_result(struct pool *pool, const struct model_agent *a,
    const cJSON *outputs)
{
	const struct model_run *run = &pool->run;
	char *name = gold_name(pool, a->assignment_id), *q;
	const cJSON *g = name ? msg_get(run->gold_units, name) : NULL;
	int64_t correct, wrong, done;
	int ok, rc;

	ok = g && pool_answers_match(msg_get(g, "answers"), outputs);
	log_info("worker %" PRId64 " %s gold unit '%s'", a->worker_id,
	    ok ? "passed" : "failed", name ? name : "?");
	free(name);
	q = qname(run, ok ? "correct-golds" : "wrong-golds");
	rc = bump(pool, a->worker_id, q);
	free(q);
	if (rc < 0 || gold_counts(pool, a->worker_id, &correct, &wrong,
	    &done) < 0)
		return -1;
	if (wrong > run->max_incorrect_golds) {
		q = qname(run, "disqualified");
		rc = model_grant_name(pool->db, a->worker_id, q, 1);
		free(q);
	}
	return rc;
}

/* Inside a transaction: the outcome of WORKER_ID's screening. */
static int
grant_screening(struct pool *pool, int64_t worker_id, int passed)
{
	const struct model_run *run = &pool->run;

	log_info("worker %" PRId64 " %s screening", worker_id,
	    passed ? "passed" : "failed");
	if (passed)
		return model_grant_name(pool->db, worker_id, run->passed_qual,
		    1);
	if (run->block_qual)
		return model_grant_name(pool->db, worker_id, run->block_qual,
		    1);
	return 0;
}

int
pool_screen_submitted(struct pool *pool, const struct model_agent *a,
    const char *outputs, int *checkp)
{
	const struct model_run *run = &pool->run;
	struct model_unit u;
	cJSON *out;
	int rc;
	char *q;

	*checkp = 0;
	if (!run->use_screening && !run->use_golds)
		return 0;
	if (model_unit_get(pool->db, a->unit_id, &u) != 1)
		return -1;
	if (u.unit_index == POOL_SCREENING_INDEX && run->use_screening &&
	    run->screening_validator) {
		*checkp = 1;
		return 0;
	}
	out = msg_parse(outputs, strlen(outputs), 0, NULL);
	if (u.unit_index == POOL_SCREENING_INDEX && run->use_screening) {
		rc = grant_screening(pool, a->worker_id,
		    run->screening_answers &&
		    pool_answers_match(run->screening_answers, out));
	} else if (u.unit_index == POOL_GOLD_INDEX && run->use_golds) {
		rc = gold_result(pool, a, out);
	} else if (u.unit_index >= 0 && run->use_golds && run->gold_base) {
		q = qname(run, "completed-count");
		rc = bump(pool, a->worker_id, q);
		free(q);
	} else {
		rc = 0;
	}
	msg_free(out);
	return rc < 0 ? -1 : 0;
}

/* Screening by a validator command. */

/*
 * The agents of the run's screening units submitted and still without an
 * outcome (their worker holds neither qualification); only agent ONLY
 * when it is not 0.
 */
static int
screening_pending(struct pool *pool, int64_t only, int64_t **ids,
    size_t *nr)
{
	const struct model_run *run = &pool->run;
	sqlite3_stmt *st = db_stmt(pool->db, "SELECT a.agent_id FROM agents a "
	    "JOIN units u ON u.unit_id = a.unit_id WHERE a.task_run_id = ?1 "
	    "AND u.unit_index = ?2 AND a.status IN ('completed', 'approved', "
	    "'rejected', 'soft_rejected') AND (?3 = 0 OR a.agent_id = ?3) "
	    "AND NOT EXISTS (SELECT 1 FROM granted_qualifications g JOIN "
	    "qualifications q ON q.qualification_id = g.qualification_id "
	    "WHERE g.worker_id = a.worker_id AND q.qualification_name IN "
	    "(?4, ?5)) ORDER BY a.agent_id");

	*ids = NULL;
	*nr = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run->task_run_id);
	sqlite3_bind_int64(st, 2, POOL_SCREENING_INDEX);
	sqlite3_bind_int64(st, 3, only);
	sqlite3_bind_text(st, 4, run->passed_qual, -1, SQLITE_STATIC);
	if (run->block_qual)
		sqlite3_bind_text(st, 5, run->block_qual, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	return db_step_ids(st, ids, nr);
}

/* The validator of agent K->id has finished: grant its outcome. */
static void
screening_checked(struct pool_check *k, int passed)
{
	struct pool *pool = k->pool;
	struct model_agent a;
	int64_t *ids = NULL;
	size_t nr = 0;

	if (db_begin(pool->db) < 0 || screening_pending(pool, k->id, &ids,
	    &nr) < 0)
		goto busy;
	if (!nr) {
		/* Decided meanwhile, or the submission was not committed. */
		db_rollback(pool->db);
		return;
	}
	free(ids);
	ids = NULL;
	if (model_agent_get(pool->db, k->id, &a) != 1 ||
	    grant_screening(pool, a.worker_id, passed) < 0 ||
	    db_commit(pool->db) < 0)
		goto busy;
	pool_publish(pool);
	return;
busy:
	free(ids);
	pool_db_fail(pool, "record a screening outcome");
}

void
pool_screen_check(struct pool *pool, int64_t agent_id)
{
	const struct model_run *run = &pool->run;
	char *inputs = NULL, *outputs = NULL;
	struct buf b = BUF_INIT;
	struct pool_check *k;

	if (!run->screening_validator || pool_check_find(pool,
	    POOL_CHECK_SCREENING, agent_id))
		return;
	if (model_agent_inputs(pool->db, agent_id, &inputs) < 0 ||
	    model_agent_outputs(pool->db, agent_id, &outputs, NULL) < 0) {
		error("cannot read agent %" PRId64 ": %s", agent_id,
		    db_errmsg(pool->db));
		goto out;
	}
	buf_addf(&b, "{\"inputs\":%s,\"outputs\":%s}",
	    inputs ? inputs : "null", outputs ? outputs : "null");
	k = pool_check_new(pool, POOL_CHECK_SCREENING, agent_id,
	    screening_checked);
	if (pool_check_spawn(k, run->screening_validator, b.buf,
	    run->screening_validator_timeout) < 0) {
		/* Not the worker's fault: checked again at the next start. */
		pool_check_free(k);
		error("the screening of agent %" PRId64 " waits for the pool's "
		    "next start", agent_id);
	}
out:
	buf_release(&b);
	free(inputs);
	free(outputs);
}

int
pool_screen_recheck(struct pool *pool)
{
	int64_t *ids = NULL;
	size_t nr = 0, i;

	if (!pool->run.use_screening || !pool->run.screening_validator ||
	    !pool->run.passed_qual)
		return 0;
	if (screening_pending(pool, 0, &ids, &nr) < 0)
		return pool_db_fail(pool, "read the screening submissions");
	for (i = 0; i < nr; i++) {
		log_info("checking the screening of agent %" PRId64 " again",
		    ids[i]);
		pool_screen_check(pool, ids[i]);
	}
	free(ids);
	return 0;
}
