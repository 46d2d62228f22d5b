#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "model.h"
#include "msg.h"
#include "xalloc.h"
#include "banned.h"

/*
 * Statement helpers.  Every statement comes from db_stmt() (cached by the
 * connection) and is reset before the function returns.
 */

static void
bind_id(sqlite3_stmt *st, int i, int64_t id)
{
	if (id)
		sqlite3_bind_int64(st, i, id);
	else
		sqlite3_bind_null(st, i);
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Step a statement that returns no rows; 0 or -1. */
static int
exec_stmt(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Step a write; 1 when it changed a row, 0 when not, -1. */
static int
run_changed(struct db *db, sqlite3_stmt *st)
{
	if (exec_stmt(st) < 0)
		return -1;
	return sqlite3_changes(db_handle(db)) > 0;
}

/* Step once: 1 for a row (left unreset), 0 for none, -1. */
static int
row(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int64_t
col_id(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 :
	    sqlite3_column_int64(st, i);
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? xstrdup((const char *)s) : NULL;
}

static void
col_status(sqlite3_stmt *st, int i, char out[MODEL_STATUS_MAX])
{
	const unsigned char *s = sqlite3_column_text(st, i);
	size_t n = s ? strlen((const char *)s) : 0;

	if (n >= MODEL_STATUS_MAX)
		n = MODEL_STATUS_MAX - 1;
	if (n)
		memcpy(out, s, n);
	out[n] = '\0';
}

#define LIVE_AGENT "('none', 'accepted', 'onboarding', 'waiting', 'in task')"
#define EPOCH(col) "((julianday(" col ") - 2440587.5) * 86400.0)"

static const char *const live_statuses[] = {
	AGENT_NONE, AGENT_ACCEPTED, AGENT_ONBOARDING, AGENT_WAITING,
	AGENT_IN_TASK,
};

static const char *const complete_statuses[] = {
	AGENT_COMPLETED, AGENT_DISCONNECT, AGENT_TIMEOUT, AGENT_EXPIRED,
	AGENT_RETURNED, AGENT_SOFT_REJECTED, AGENT_APPROVED, AGENT_REJECTED,
};

static int
in_set(const char *s, const char *const *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(s, set[i]))
			return 1;
	return 0;
}

int
model_agent_status_is_live(const char *status)
{
	return in_set(status, live_statuses, ARRAY_SIZE(live_statuses));
}

int
model_agent_status_is_complete(const char *status)
{
	return in_set(status, complete_statuses,
	    ARRAY_SIZE(complete_statuses));
}

/* Run events. */

int
model_event_add(struct db *db, int64_t run_id, int64_t unit_id,
    int64_t agent_id, int64_t worker_id, const char *event,
    const char *detail, int64_t *seqp)
{
	sqlite3_stmt *st = db_stmt(db,
	    "INSERT INTO run_events (task_run_id, unit_id, agent_id, "
	    "worker_id, event, detail) VALUES (?, ?, ?, ?, ?, ?)");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	bind_id(st, 2, unit_id);
	bind_id(st, 3, agent_id);
	bind_id(st, 4, worker_id);
	bind_text(st, 5, event);
	bind_text(st, 6, detail);
	if (exec_stmt(st) < 0)
		return -1;
	if (seqp)
		*seqp = sqlite3_last_insert_rowid(db_handle(db));
	return 0;
}

/* Task runs. */

static int
run_fail(char **errp, int64_t run_id, const char *what)
{
	if (errp)
		*errp = xasprintf("task run %" PRId64 ": %s", run_id, what);
	errno = EINVAL;
	return -1;
}

static char *
opt_name(const cJSON *obj, const char *key, char **err)
{
	const char *s = NULL;

	if (msg_opt_str(obj, key, NULL, &s, err) < 0 || !s || !*s)
		return NULL;
	return xstrdup(s);
}

static int
load_task(struct model_run *run, const cJSON *task, char **err)
{
	int64_t v;

	if (msg_opt_int(task, "allowed_concurrent", 0,
	    &run->allowed_concurrent, err) < 0 ||
	    msg_opt_int(task, "maximum_units_per_worker", 0,
	    &run->maximum_units_per_worker, err) < 0 ||
	    msg_opt_int(task, "assignment_duration_in_seconds", 1800, &v,
	    err) < 0)
		return -1;
	run->assignment_duration = v > 0 ? v : 1800;
	return qual_list_add_json_array(&run->quals,
	    msg_get(task, "qualifications"), "task.qualifications", err);
}

static int
load_blueprint(struct model_run *run, const cJSON *bp, char **err)
{
	const cJSON *v;

	*err = NULL;
	run->block_qual = opt_name(bp, "block_qualification", err);
	if (*err)
		return -1;
	run->onboarding_qual = opt_name(bp, "onboarding_qualification", err);
	if (*err)
		return -1;
	run->onboarding_validator = opt_name(bp, "onboarding_validator", err);
	if (*err)
		return -1;
	if (msg_opt_double(bp, "onboarding_validator_timeout", 10,
	    &run->onboarding_validator_timeout, err) < 0 ||
	    msg_opt_obj(bp, "onboarding_answers", &v, err) < 0)
		return -1;
	run->onboarding_answers = v;
	run->runner = opt_name(bp, "runner", err);
	if (*err)
		return -1;
	run->runner_dir = opt_name(bp, "runner_dir", err);
	if (*err)
		return -1;
	run->passed_qual = opt_name(bp, "passed_qualification_name", err);
	if (*err)
		return -1;
	run->screening_validator = opt_name(bp, "screening_validator", err);
	if (*err)
		return -1;
	run->gold_base = opt_name(bp, "gold_qualification_base", err);
	if (*err)
		return -1;
	if (msg_opt_double(bp, "screening_validator_timeout", 10,
	    &run->screening_validator_timeout, err) < 0 ||
	    msg_opt_double(bp, "runner_timeout_seconds", 30,
	    &run->runner_timeout, err) < 0 ||
	    msg_opt_double(bp, "quorum_timeout_seconds", 300,
	    &run->quorum_timeout, err) < 0 ||
	    msg_opt_bool(bp, "shared_runner", 0, &run->shared_runner,
	    err) < 0 ||
	    msg_opt_bool(bp, "use_screening_task", 0, &run->use_screening,
	    err) < 0 ||
	    msg_opt_bool(bp, "use_golds", 0, &run->use_golds, err) < 0 ||
	    msg_opt_int(bp, "max_screening_units", 0,
	    &run->max_screening_units, err) < 0 ||
	    msg_opt_int(bp, "max_gold_units", 0, &run->max_gold_units,
	    err) < 0 ||
	    msg_opt_int(bp, "min_golds", 1, &run->min_golds, err) < 0 ||
	    msg_opt_int(bp, "max_incorrect_golds", 0,
	    &run->max_incorrect_golds, err) < 0)
		return -1;
	if (run->runner_timeout <= 0)
		run->runner_timeout = 30;
	if (run->quorum_timeout <= 0)
		run->quorum_timeout = 300;
	v = msg_get(bp, "screening_data");
	run->screening_data = cJSON_IsObject(v) ? v : NULL;
	v = msg_get(bp, "screening_answers");
	run->screening_answers = cJSON_IsObject(v) ? v : NULL;
	v = msg_get(bp, "gold_units");
	run->gold_units = cJSON_IsObject(v) ? v : NULL;
	v = msg_get(bp, "onboarding_data");
	run->onboarding_data = cJSON_IsObject(v) ? v : NULL;
	if (run->onboarding_validator_timeout <= 0)
		run->onboarding_validator_timeout = 10;
	if (run->screening_validator_timeout <= 0)
		run->screening_validator_timeout = 10;
	return 0;
}

static int
load_params(struct model_run *run, const char *text, char **errp)
{
	const cJSON *task = NULL, *bp = NULL;
	char *err = NULL;

	run->params = msg_parse(text, strlen(text), 0, &err);
	if (!run->params)
		goto bad;
	if (!cJSON_IsObject(run->params)) {
		err = xstrdup("init_params is not a JSON object");
		goto bad;
	}
	if (msg_opt_obj(run->params, "task", &task, &err) < 0 ||
	    msg_opt_obj(run->params, "blueprint", &bp, &err) < 0)
		goto bad;
	if (task && load_task(run, task, &err) < 0)
		goto bad;
	if (bp && load_blueprint(run, bp, &err) < 0)
		goto bad;
	if (run->onboarding_qual)
		run->onboarding_failed_qual = xasprintf("%s-failed",
		    run->onboarding_qual);
	if (run->block_qual)
		qual_list_add(&run->quals, run->block_qual, QUAL_NOT_EXIST, 0,
		    NULL, 0, NULL);
	if (run->onboarding_failed_qual)
		qual_list_add(&run->quals, run->onboarding_failed_qual,
		    QUAL_NOT_EXIST, 0, NULL, 0, NULL);
	return 0;
bad:
	run_fail(errp, run->task_run_id, err ? err : "bad init_params");
	free(err);
	return -1;
}

int
model_run_load(struct db *db, int64_t run_id, struct model_run *run,
    char **errp)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT r.task_id, r.requester_id, r.init_params, "
	    "r.provider_type, r.task_type, r.sandbox, t.task_name "
	    "FROM task_runs r JOIN tasks t ON t.task_id = r.task_id "
	    "WHERE r.task_run_id = ?");
	char *params;
	int rc;

	memset(run, 0, sizeof(*run));
	qual_list_init(&run->quals);
	run->task_run_id = run_id;
	run->assignment_duration = 1800;
	run->onboarding_validator_timeout = 10;
	run->screening_validator_timeout = 10;
	if (!st)
		goto dberr;
	sqlite3_bind_int64(st, 1, run_id);
	rc = row(st);
	if (rc < 0)
		goto dberr;
	if (!rc)
		return run_fail(errp, run_id, "no such task run");
	run->task_id = col_id(st, 0);
	run->requester_id = col_id(st, 1);
	params = col_dup(st, 2);
	run->provider_type = col_dup(st, 3);
	run->task_type = col_dup(st, 4);
	run->sandbox = sqlite3_column_int(st, 5);
	run->task_name = col_dup(st, 6);
	sqlite3_reset(st);
	run->live = strncmp(run->task_type, "static", 6) != 0;
	rc = load_params(run, params ? params : "{}", errp);
	free(params);
	if (rc < 0)
		model_run_release(run);
	return rc;
dberr:
	if (errp)
		*errp = xasprintf("cannot read task run %" PRId64 ": %s",
		    run_id, db_errmsg(db));
	return -1;
}

void
model_run_release(struct model_run *run)
{
	free(run->task_name);
	free(run->task_type);
	free(run->provider_type);
	free(run->block_qual);
	free(run->onboarding_qual);
	free(run->onboarding_failed_qual);
	free(run->onboarding_validator);
	free(run->runner);
	free(run->runner_dir);
	free(run->passed_qual);
	free(run->screening_validator);
	free(run->gold_base);
	qual_list_release(&run->quals);
	msg_free(run->params);
	memset(run, 0, sizeof(*run));
}

/* Workers. */

int
model_worker_find(struct db *db, const char *name, int64_t *idp)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT worker_id FROM workers WHERE worker_name = ?");
	int rc;

	if (!st)
		return -1;
	bind_text(st, 1, name);
	rc = row(st);
	if (rc == 1) {
		*idp = col_id(st, 0);
		sqlite3_reset(st);
	}
	return rc;
}

int
model_worker_ensure(struct db *db, const char *name,
    const char *provider_type, int64_t *idp)
{
	sqlite3_stmt *st;
	int rc = model_worker_find(db, name, idp);

	if (rc)
		return rc < 0 ? -1 : 0;
	st = db_stmt(db, "INSERT INTO workers (worker_id, worker_name, "
	    "provider_type) VALUES (?, ?, ?)");
	if (!st)
		return -1;
	bind_text(st, 2, name);
	bind_text(st, 3, provider_type);
	if (db_insert_id(db, st, 1, idp) < 0)
		return -1;
	sqlite3_reset(st);
	return 0;
}

static int
worker_by_id(struct db *db, int64_t id, char **namep, char **providerp)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT worker_name, provider_type "
	    "FROM workers WHERE worker_id = ?");
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = row(st);
	if (rc == 1) {
		if (namep)
			*namep = col_dup(st, 0);
		if (providerp)
			*providerp = col_dup(st, 1);
		sqlite3_reset(st);
	}
	return rc;
}

int
model_worker_resolve(struct db *db, const char *who, int64_t *idp,
    char **namep, char **providerp)
{
	char *sandbox;
	int rc;

	rc = model_worker_find(db, who, idp);
	if (!rc && db_id_parse(who, idp) == 0) {
		rc = worker_by_id(db, *idp, NULL, NULL);
	}
	if (!rc) {
		sandbox = xasprintf("%s_sandbox", who);
		rc = model_worker_find(db, sandbox, idp);
		free(sandbox);
	}
	if (rc == 1 && (namep || providerp))
		rc = worker_by_id(db, *idp, namep, providerp);
	return rc;
}

/* Qualifications and grants. */

int
model_qual_find(struct db *db, const char *name, int64_t *idp)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT qualification_id "
	    "FROM qualifications WHERE qualification_name = ?");
	int rc;

	if (!st)
		return -1;
	bind_text(st, 1, name);
	rc = row(st);
	if (rc == 1) {
		*idp = col_id(st, 0);
		sqlite3_reset(st);
	}
	return rc;
}

int
model_qual_create(struct db *db, const char *name, const char *description,
    int64_t *idp)
{
	sqlite3_stmt *st;
	int64_t id;
	int rc = model_qual_find(db, name, idp ? idp : &id);

	if (rc)
		return rc < 0 ? -1 : 0;
	st = db_stmt(db, "INSERT INTO qualifications (qualification_name, "
	    "description) VALUES (?, ?)");
	if (!st)
		return -1;
	bind_text(st, 1, name);
	bind_text(st, 2, description);
	if (exec_stmt(st) < 0)
		return -1;
	if (idp)
		*idp = sqlite3_last_insert_rowid(db_handle(db));
	return 1;
}

int
model_qual_delete(struct db *db, const char *name)
{
	sqlite3_stmt *st;
	int64_t id;
	int rc = model_qual_find(db, name, &id);

	if (rc <= 0)
		return rc;
	st = db_stmt(db,
	    "DELETE FROM granted_qualifications WHERE qualification_id = ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (exec_stmt(st) < 0)
		return -1;
	st = db_stmt(db,
	    "DELETE FROM qualifications WHERE qualification_id = ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return run_changed(db, st);
}

int
model_grant(struct db *db, int64_t worker_id, int64_t qual_id,
    int64_t value)
{
	sqlite3_stmt *st = db_stmt(db,
	    "INSERT INTO granted_qualifications (worker_id, qualification_id, "
	    "value) VALUES (?, ?, ?) "
	    "ON CONFLICT (worker_id, qualification_id) DO UPDATE SET "
	    "value = excluded.value, "
	    "update_date = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW') "
	    "WHERE value != excluded.value");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, worker_id);
	sqlite3_bind_int64(st, 2, qual_id);
	sqlite3_bind_int64(st, 3, value);
	return exec_stmt(st);
}

int
model_grant_name(struct db *db, int64_t worker_id, const char *name,
    int64_t value)
{
	int64_t qid;

	if (model_qual_create(db, name, NULL, &qid) < 0)
		return -1;
	return model_grant(db, worker_id, qid, value);
}

int
model_revoke(struct db *db, int64_t worker_id, int64_t qual_id)
{
	sqlite3_stmt *st = db_stmt(db, "DELETE FROM granted_qualifications "
	    "WHERE worker_id = ? AND qualification_id = ?");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, worker_id);
	sqlite3_bind_int64(st, 2, qual_id);
	return run_changed(db, st);
}

int
model_grant_get(struct db *db, int64_t worker_id, const char *name,
    int *qual_exists, int *granted, int64_t *value)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT g.value FROM qualifications q "
	    "LEFT JOIN granted_qualifications g "
	    "ON g.qualification_id = q.qualification_id AND g.worker_id = ? "
	    "WHERE q.qualification_name = ?");
	int rc;

	*qual_exists = *granted = 0;
	*value = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, worker_id);
	bind_text(st, 2, name);
	rc = row(st);
	if (rc < 0)
		return -1;
	if (rc) {
		*qual_exists = 1;
		if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
			*granted = 1;
			*value = sqlite3_column_int64(st, 0);
		}
		sqlite3_reset(st);
	}
	return 0;
}

int
model_worker_meets(struct db *db, int64_t worker_id,
    const char *provider_type, const struct qual_list *reqs,
    const char **failed)
{
	size_t i;
	int exists, granted;
	int64_t value;

	for (i = 0; i < reqs->nr; i++) {
		const struct qual_req *r = &reqs->reqs[i];

		if (!qual_applies(r, provider_type))
			continue;
		if (model_grant_get(db, worker_id, r->name, &exists, &granted,
		    &value) < 0)
			return -1;
		if (!qual_met(r, exists, granted, value)) {
			if (failed)
				*failed = r->name;
			return 0;
		}
	}
	return 1;
}

/* Units. */

#define UNIT_COLS "unit_id, assignment_id, unit_index, task_id, " \
	"task_run_id, requester_id, agent_id, worker_id, status"

static void
unit_from_row(sqlite3_stmt *st, struct model_unit *u)
{
	u->unit_id = col_id(st, 0);
	u->assignment_id = col_id(st, 1);
	u->unit_index = sqlite3_column_int64(st, 2);
	u->task_id = col_id(st, 3);
	u->task_run_id = col_id(st, 4);
	u->requester_id = col_id(st, 5);
	u->agent_id = col_id(st, 6);
	u->worker_id = col_id(st, 7);
	col_status(st, 8, u->status);
}

int
model_unit_get(struct db *db, int64_t unit_id, struct model_unit *u)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT " UNIT_COLS " FROM units WHERE unit_id = ?");
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, unit_id);
	rc = row(st);
	if (rc == 1) {
		unit_from_row(st, u);
		sqlite3_reset(st);
	}
	return rc;
}

/*
 * The units a worker may take: launched, offered (unit_index >= 0), in an
 * assignment where the worker holds no unit.  ?1 run, ?2 worker.
 */
#define ELIGIBLE_UNITS \
	"SELECT u.unit_id FROM units u " \
	"WHERE u.task_run_id = ?1 AND u.status = 'launched' " \
	"AND u.unit_index >= 0 AND NOT EXISTS (SELECT 1 FROM units o " \
	"WHERE o.assignment_id = u.assignment_id AND o.worker_id = ?2) " \
	"AND (?3 IS NULL OR u.unit_id = ?3) " \
	"ORDER BY u.creation_date, u.unit_id LIMIT 1"

int
model_unit_reserve(struct db *db, int64_t run_id, int64_t worker_id,
    struct model_unit *u)
{
	return model_unit_reserve_only(db, run_id, worker_id, 0, u);
}

int
model_unit_reserve_only(struct db *db, int64_t run_id, int64_t worker_id,
    int64_t only, struct model_unit *u)
{
	sqlite3_stmt *st = db_stmt(db,
	    "UPDATE units SET status = 'assigned', worker_id = ?2, "
	    "agent_id = NULL WHERE unit_id = (" ELIGIBLE_UNITS ") "
	    "AND status = 'launched' RETURNING " UNIT_COLS);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, worker_id);
	if (only)
		sqlite3_bind_int64(st, 3, only);
	else
		sqlite3_bind_null(st, 3);
	rc = row(st);
	if (rc == 1) {
		unit_from_row(st, u);
		sqlite3_reset(st);
	}
	return rc;
}

int
model_unit_available(struct db *db, int64_t run_id, int64_t worker_id)
{
	return model_unit_available_only(db, run_id, worker_id, 0);
}

int
model_unit_available_only(struct db *db, int64_t run_id, int64_t worker_id,
    int64_t only)
{
	sqlite3_stmt *st = db_stmt(db, ELIGIBLE_UNITS);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, worker_id);
	if (only)
		sqlite3_bind_int64(st, 3, only);
	else
		sqlite3_bind_null(st, 3);
	rc = row(st);
	if (rc == 1)
		sqlite3_reset(st);
	return rc;
}

/*
 * Set one row's status and write EVENT for the change: SQL updates the
 * row whose id is ?1 to status ?3, only from status ?2 unless that is
 * NULL, and returns its task_run_id, unit_id, agent_id and worker_id.
 * Returns 1 if it changed, 0 if not (no such row, another status, or
 * already TO), -1 on error.
 */
static int
set_status(struct db *db, const char *sql, int64_t id, const char *from,
    const char *to, const char *event, int64_t *seqp)
{
	sqlite3_stmt *st = db_stmt(db, sql);
	int64_t run_id, unit_id, agent_id, worker_id;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, from);
	bind_text(st, 3, to);
	rc = row(st);
	if (rc <= 0)
		return rc;
	run_id = col_id(st, 0);
	unit_id = col_id(st, 1);
	agent_id = col_id(st, 2);
	worker_id = col_id(st, 3);
	sqlite3_reset(st);
	if (model_event_add(db, run_id, unit_id, agent_id, worker_id, event,
	    to, seqp) < 0)
		return -1;
	return 1;
}

int
model_unit_set_status(struct db *db, int64_t unit_id, const char *from,
    const char *to, int64_t *seqp)
{
	return set_status(db, "UPDATE units SET status = ?3 "
	    "WHERE unit_id = ?1 AND (?2 IS NULL OR status = ?2) "
	    "AND status != ?3 "
	    "RETURNING task_run_id, unit_id, agent_id, worker_id",
	    unit_id, from, to, EV_UNIT_STATUS, seqp);
}

/*
 * A status change of many units of a run at once: the first ?2 (all if
 * negative), by unit id, of run ?1's units that FROM selects.
 */
struct units_move {
	const char *ids;	/* their ids */
	const char *events;	/* writes their events, lowest id first */
	const char *status;	/* sets their status */
};
#define UNITS_MOVE(from, event, to) { \
	"SELECT unit_id " from, \
	"INSERT INTO run_events (task_run_id, unit_id, agent_id, worker_id, " \
	"event, detail) SELECT task_run_id, unit_id, agent_id, worker_id, '" \
	event "', '" to "' " from, \
	"UPDATE units SET status = '" to "' WHERE unit_id IN " \
	"(SELECT unit_id " from ")" }

/* Created units nobody holds; worker_id IS NULL lets an index serve. */
static const struct units_move launch_move = UNITS_MOVE(
	"FROM units WHERE task_run_id = ?1 AND worker_id IS NULL "
	"AND status = 'created' ORDER BY unit_id LIMIT ?2",
	EV_UNIT_STATUS, UNIT_LAUNCHED);
/* Created and launched units. */
static const struct units_move expire_move = UNITS_MOVE(
	"FROM units WHERE task_run_id = ?1 AND status IN ('created', "
	"'launched') ORDER BY unit_id LIMIT ?2",
	EV_UNIT_EXPIRED, UNIT_EXPIRED);

/* Prepare SQL on run RUN_ID and limit N; NULL on error. */
static sqlite3_stmt *
move_stmt(struct db *db, const char *sql, int64_t run_id, int64_t n)
{
	sqlite3_stmt *st = db_stmt(db, sql);

	if (st) {
		sqlite3_bind_int64(st, 1, run_id);
		sqlite3_bind_int64(st, 2, n);
	}
	return st;
}

/* Step the write SQL on the first N units; how many rows it wrote. */
static int64_t
move_write(struct db *db, const char *sql, int64_t run_id, size_t n)
{
	sqlite3_stmt *st = move_stmt(db, sql, run_id, (int64_t)n);

	return !st || exec_stmt(st) < 0 ? -1 :
	    sqlite3_changes64(db_handle(db));
}

/*
 * Move the first ROOM units M selects: their ids (*IDS, caller frees, and
 * *N), then their events and status in two statements, as one status
 * change each would.  0, or -1 (*IDS NULL).
 */
static int
units_move(struct db *db, const struct units_move *m, int64_t run_id,
    long room, int64_t **ids, size_t *n)
{
	sqlite3_stmt *st = move_stmt(db, m->ids, run_id, room);
	int64_t evs, units;

	*ids = NULL;
	*n = 0;
	if (!st || db_step_ids(st, ids, n) < 0)
		return -1;
	if (!*n)
		return 0;
	if ((evs = move_write(db, m->events, run_id, *n)) < 0 ||
	    (units = move_write(db, m->status, run_id, *n)) < 0) {
		free(*ids);
		*ids = NULL;
		*n = 0;
		return -1;
	}
	/* One transaction: the three statements see the same units. */
	if (evs != (int64_t)*n || units != (int64_t)*n)
		BUG("moved %" PRId64 " units with %" PRId64 " events of %zu",
		    units, evs, *n);
	return 0;
}

int
model_units_launch(struct db *db, int64_t run_id, long room, int64_t **ids,
    size_t *n)
{
	return units_move(db, &launch_move, run_id, room, ids, n);
}

int
model_units_expire(struct db *db, int64_t run_id, int64_t **ids, size_t *n)
{
	return units_move(db, &expire_move, run_id, -1, ids, n);
}

int
model_unit_release(struct db *db, int64_t unit_id, int64_t agent_id,
    int64_t *seqp)
{
	sqlite3_stmt *st = db_stmt(db, "UPDATE units SET status = 'launched', "
	    "agent_id = NULL, worker_id = NULL "
	    "WHERE unit_id = ? AND agent_id = ? AND status = 'assigned' "
	    "RETURNING task_run_id");
	int64_t run_id;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, unit_id);
	sqlite3_bind_int64(st, 2, agent_id);
	rc = row(st);
	if (rc <= 0)
		return rc;
	run_id = col_id(st, 0);
	sqlite3_reset(st);
	if (model_event_add(db, run_id, unit_id, agent_id, 0,
	    EV_UNIT_RELEASED, UNIT_LAUNCHED, seqp) < 0)
		return -1;
	return 1;
}

static int
agent_set_live_to(struct db *db, int64_t agent_id, const char *to)
{
	sqlite3_stmt *st = db_stmt(db, "UPDATE agents SET status = ? "
	    "WHERE agent_id = ? AND status IN " LIVE_AGENT);

	if (!st)
		return -1;
	bind_text(st, 1, to);
	sqlite3_bind_int64(st, 2, agent_id);
	return run_changed(db, st);
}

int
model_unit_expire(struct db *db, int64_t unit_id, unsigned flags,
    int64_t *seqp)
{
	struct model_unit u;
	sqlite3_stmt *st;
	int rc = model_unit_get(db, unit_id, &u);

	if (rc <= 0)
		return rc;
	if (strcmp(u.status, UNIT_CREATED) && strcmp(u.status, UNIT_LAUNCHED) &&
	    (strcmp(u.status, UNIT_ASSIGNED) || !(flags & MODEL_EXPIRE_HELD)))
		return 0;
	st = db_stmt(db, "UPDATE units SET status = 'expired' "
	    "WHERE unit_id = ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, unit_id);
	if (exec_stmt(st) < 0)
		return -1;
	if (u.agent_id && !strcmp(u.status, UNIT_ASSIGNED) &&
	    agent_set_live_to(db, u.agent_id, AGENT_DISCONNECT) < 0)
		return -1;
	if (model_event_add(db, u.task_run_id, unit_id, u.agent_id,
	    u.worker_id, EV_UNIT_EXPIRED, UNIT_EXPIRED, seqp) < 0)
		return -1;
	return 1;
}

int
model_worker_run_units(struct db *db, int64_t run_id, int64_t worker_id,
    const char *status, int64_t *count)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM units "
	    "WHERE task_run_id = ? AND worker_id = ? AND status = ?");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, worker_id);
	bind_text(st, 3, status);
	if (row(st) != 1)
		return -1;
	*count = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

int
model_worker_task_done(struct db *db, int64_t task_id, int64_t worker_id,
    int64_t *count)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM units "
	    "WHERE task_id = ? AND worker_id = ? AND status IN "
	    "('completed', 'accepted', 'rejected', 'soft_rejected')");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, task_id);
	sqlite3_bind_int64(st, 2, worker_id);
	if (row(st) != 1)
		return -1;
	*count = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

/* Fetch one text column of one row, or DEF when there is none. */
static int
one_text(sqlite3_stmt *st, const char *def, char **out)
{
	int rc = row(st);

	if (rc < 0)
		return -1;
	*out = NULL;
	if (rc) {
		*out = col_dup(st, 0);
		sqlite3_reset(st);
	}
	if (!*out && def)
		*out = xstrdup(def);
	return 0;
}

int
model_assignment_shared(struct db *db, int64_t assignment_id, char **jsonp)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT shared FROM assignment_data "
	    "WHERE assignment_id = ?");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, assignment_id);
	return one_text(st, "{}", jsonp);
}

/* Agents. */

int
model_agent_create(struct db *db, const struct model_unit *u,
    int64_t worker_id, const char *status, const char *task_type,
    const char *provider_type, const char *inputs, int64_t *idp,
    int64_t *seqp)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO agents (agent_id, "
	    "worker_id, unit_id, task_id, task_run_id, assignment_id, "
	    "task_type, provider_type, status) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 2, worker_id);
	sqlite3_bind_int64(st, 3, u->unit_id);
	sqlite3_bind_int64(st, 4, u->task_id);
	sqlite3_bind_int64(st, 5, u->task_run_id);
	sqlite3_bind_int64(st, 6, u->assignment_id);
	bind_text(st, 7, task_type);
	bind_text(st, 8, provider_type);
	bind_text(st, 9, status);
	if (db_insert_id(db, st, 1, idp) < 0)
		return -1;
	sqlite3_reset(st);
	st = db_stmt(db, "UPDATE units SET agent_id = ? WHERE unit_id = ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, *idp);
	sqlite3_bind_int64(st, 2, u->unit_id);
	if (exec_stmt(st) < 0)
		return -1;
	st = db_stmt(db, "INSERT INTO agent_data (agent_id, inputs, "
	    "task_start) VALUES (?, ?, ?)");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, *idp);
	bind_text(st, 2, inputs);
	sqlite3_bind_double(st, 3, db_now());
	if (exec_stmt(st) < 0)
		return -1;
	return model_event_add(db, u->task_run_id, u->unit_id, *idp,
	    worker_id, EV_UNIT_ASSIGNED, UNIT_ASSIGNED, seqp);
}

int
model_agent_get(struct db *db, int64_t agent_id, struct model_agent *a)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT agent_id, worker_id, unit_id, "
	    "task_id, task_run_id, assignment_id, status, "
	    EPOCH("creation_date") " FROM agents WHERE agent_id = ?");
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, agent_id);
	rc = row(st);
	if (rc == 1) {
		a->agent_id = col_id(st, 0);
		a->worker_id = col_id(st, 1);
		a->unit_id = col_id(st, 2);
		a->task_id = col_id(st, 3);
		a->task_run_id = col_id(st, 4);
		a->assignment_id = col_id(st, 5);
		col_status(st, 6, a->status);
		a->created = sqlite3_column_double(st, 7);
		sqlite3_reset(st);
	}
	return rc;
}

int
model_agent_set_status(struct db *db, int64_t agent_id, const char *from,
    const char *to, int64_t *seqp)
{
	return set_status(db, "UPDATE agents SET status = ?3 "
	    "WHERE agent_id = ?1 AND (?2 IS NULL OR status = ?2) "
	    "AND status != ?3 "
	    "RETURNING task_run_id, unit_id, agent_id, worker_id",
	    agent_id, from, to, EV_AGENT_STATUS, seqp);
}

int
model_agent_submit(struct db *db, const struct model_agent *a,
    const char *outputs, const char *files, int64_t *seqp)
{
	sqlite3_stmt *st;
	int rc = agent_set_live_to(db, a->agent_id, AGENT_COMPLETED);

	if (rc <= 0)
		return rc;
	st = db_stmt(db, "INSERT INTO agent_data (agent_id, outputs, files, "
	    "task_end) VALUES (?1, ?2, coalesce(?3, '[]'), ?4) "
	    "ON CONFLICT (agent_id) DO UPDATE SET outputs = excluded.outputs, "
	    "files = excluded.files, task_end = excluded.task_end");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, a->agent_id);
	bind_text(st, 2, outputs);
	bind_text(st, 3, files);
	sqlite3_bind_double(st, 4, db_now());
	if (exec_stmt(st) < 0)
		return -1;
	st = db_stmt(db, "UPDATE units SET status = 'completed' "
	    "WHERE unit_id = ? AND agent_id = ? AND status = 'assigned'");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, a->unit_id);
	sqlite3_bind_int64(st, 2, a->agent_id);
	if (exec_stmt(st) < 0)
		return -1;
	if (model_event_add(db, a->task_run_id, a->unit_id, a->agent_id,
	    a->worker_id, EV_UNIT_SUBMITTED, UNIT_COMPLETED, seqp) < 0)
		return -1;
	return 1;
}

int
model_agent_release(struct db *db, const struct model_agent *a,
    const char *to, int64_t *seqp)
{
	struct model_unit u;
	int rc = agent_set_live_to(db, a->agent_id, to);

	if (rc <= 0)
		return rc;
	rc = model_unit_get(db, a->unit_id, &u);
	if (rc < 0)
		return -1;
	/* A screening or gold unit is never offered again. */
	if (rc && u.unit_index < 0)
		rc = u.agent_id == a->agent_id ? model_unit_expire(db,
		    a->unit_id, MODEL_EXPIRE_HELD, seqp) : 0;
	else
		rc = model_unit_release(db, a->unit_id, a->agent_id, seqp);
	if (rc < 0)
		return -1;
	if (!rc && model_event_add(db, a->task_run_id, a->unit_id,
	    a->agent_id, a->worker_id, EV_AGENT_STATUS, to, seqp) < 0)
		return -1;
	return 1;
}

int
model_agent_metadata(struct db *db, int64_t agent_id, const char *metadata)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO agent_data (agent_id, "
	    "metadata) VALUES (?1, json(?2)) ON CONFLICT (agent_id) DO UPDATE "
	    "SET metadata = json_patch(coalesce(metadata, '{}'), "
	    "excluded.metadata)");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, agent_id);
	bind_text(st, 2, metadata);
	return exec_stmt(st);
}

int
model_agent_inputs(struct db *db, int64_t agent_id, char **jsonp)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT inputs FROM agent_data WHERE agent_id = ?");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, agent_id);
	return one_text(st, "{}", jsonp);
}

int
model_agent_outputs(struct db *db, int64_t agent_id, char **outputsp,
    char **filesp)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT outputs, files FROM agent_data WHERE agent_id = ?");
	int rc;

	if (outputsp)
		*outputsp = NULL;
	if (filesp)
		*filesp = NULL;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, agent_id);
	rc = row(st);
	if (rc == 1) {
		if (outputsp)
			*outputsp = col_dup(st, 0);
		if (filesp)
			*filesp = col_dup(st, 1);
		sqlite3_reset(st);
	}
	return rc < 0 ? -1 : 0;
}

/* Onboarding agents. */

int
model_onboarding_create(struct db *db, const struct model_run *run,
    int64_t worker_id, const char *status, const char *inputs, int64_t *idp,
    int64_t *seqp)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO onboarding_agents "
	    "(onboarding_agent_id, worker_id, task_id, task_run_id, "
	    "task_type, status) VALUES (?, ?, ?, ?, ?, ?)");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 2, worker_id);
	sqlite3_bind_int64(st, 3, run->task_id);
	sqlite3_bind_int64(st, 4, run->task_run_id);
	bind_text(st, 5, run->task_type);
	bind_text(st, 6, status);
	if (db_insert_id(db, st, 1, idp) < 0)
		return -1;
	sqlite3_reset(st);
	st = db_stmt(db, "INSERT INTO onboarding_agent_data "
	    "(onboarding_agent_id, inputs, task_start) VALUES (?, ?, ?)");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, *idp);
	bind_text(st, 2, inputs);
	sqlite3_bind_double(st, 3, db_now());
	if (exec_stmt(st) < 0)
		return -1;
	return model_event_add(db, run->task_run_id, 0, *idp, worker_id,
	    EV_ONBOARDING_STATUS, status, seqp);
}

int
model_onboarding_get(struct db *db, int64_t id, struct model_onboarding *o)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT onboarding_agent_id, "
	    "worker_id, task_id, task_run_id, status, "
	    EPOCH("creation_date") " FROM onboarding_agents "
	    "WHERE onboarding_agent_id = ?");
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = row(st);
	if (rc == 1) {
		o->onboarding_agent_id = col_id(st, 0);
		o->worker_id = col_id(st, 1);
		o->task_id = col_id(st, 2);
		o->task_run_id = col_id(st, 3);
		col_status(st, 4, o->status);
		o->created = sqlite3_column_double(st, 5);
		sqlite3_reset(st);
	}
	return rc;
}

int
model_onboarding_set_status(struct db *db, int64_t id, const char *from,
    const char *to, int64_t *seqp)
{
	return set_status(db, "UPDATE onboarding_agents SET status = ?3 "
	    "WHERE onboarding_agent_id = ?1 "
	    "AND (?2 IS NULL OR status = ?2) AND status != ?3 "
	    "RETURNING task_run_id, NULL, onboarding_agent_id, worker_id",
	    id, from, to, EV_ONBOARDING_STATUS, seqp);
}

int
model_onboarding_submit(struct db *db, int64_t id, const char *outputs)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO onboarding_agent_data "
	    "(onboarding_agent_id, outputs, task_end) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT (onboarding_agent_id) DO UPDATE SET "
	    "outputs = excluded.outputs, task_end = excluded.task_end");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, outputs);
	sqlite3_bind_double(st, 3, db_now());
	return exec_stmt(st);
}

int
model_onboarding_data(struct db *db, int64_t id, char **inputsp,
    char **outputsp)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT inputs, outputs FROM "
	    "onboarding_agent_data WHERE onboarding_agent_id = ?");
	int rc;

	*inputsp = *outputsp = NULL;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = row(st);
	if (rc == 1) {
		*inputsp = col_dup(st, 0);
		*outputsp = col_dup(st, 1);
		sqlite3_reset(st);
	}
	return rc < 0 ? -1 : 0;
}

/* Agent registrations. */

int
model_registration_find(struct db *db, int64_t run_id,
    const char *registration_id, struct model_registration *r)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT worker_id, agent_id, "
	    "onboarding_agent_id FROM agent_registrations "
	    "WHERE task_run_id = ? AND registration_id = ?");
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	bind_text(st, 2, registration_id);
	rc = row(st);
	if (rc == 1) {
		r->worker_id = col_id(st, 0);
		r->agent_id = col_id(st, 1);
		r->onboarding_agent_id = col_id(st, 2);
		sqlite3_reset(st);
	}
	return rc;
}

int
model_registration_set(struct db *db, int64_t run_id,
    const char *registration_id, int64_t worker_id, int64_t agent_id,
    int64_t onboarding_agent_id)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO agent_registrations "
	    "(registration_id, task_run_id, worker_id, agent_id, "
	    "onboarding_agent_id) VALUES (?, ?, ?, ?, ?) "
	    "ON CONFLICT (task_run_id, registration_id) DO UPDATE SET "
	    "worker_id = excluded.worker_id, agent_id = excluded.agent_id, "
	    "onboarding_agent_id = excluded.onboarding_agent_id");

	if (!st)
		return -1;
	bind_text(st, 1, registration_id);
	sqlite3_bind_int64(st, 2, run_id);
	sqlite3_bind_int64(st, 3, worker_id);
	bind_id(st, 4, agent_id);
	bind_id(st, 5, onboarding_agent_id);
	return exec_stmt(st);
}

int
model_registration_of_onboarding(struct db *db, int64_t run_id,
    int64_t onboarding_agent_id, char **registration_idp)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT registration_id FROM "
	    "agent_registrations WHERE task_run_id = ? AND "
	    "onboarding_agent_id = ?");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, onboarding_agent_id);
	return one_text(st, NULL, registration_idp);
}
