#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "model.h"
#include "provider.h"
#include "xalloc.h"
#include "banned.h"

/* The registry: every provider the programs know, by name. */
static const struct provider *const providers[] = {
	&provider_mock,
	&provider_inhouse,
	&provider_prolific,
	&provider_mturk,
	&provider_mturk_sandbox,
};

const struct provider *
provider_find(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < ARRAY_SIZE(providers); i++)
		if (!strcmp(providers[i]->name, name))
			return providers[i];
	return NULL;
}

const struct provider *const *
provider_all(size_t *nr)
{
	*nr = ARRAY_SIZE(providers);
	return providers;
}

char *
provider_worker_name(const struct provider *p, const char *name)
{
	if (p->sandbox)
		return xasprintf("%s%s", name, PROVIDER_SANDBOX_SUFFIX);
	return xstrdup(name);
}

/* Wrappers: a NULL entry is "nothing to do". */

#define CALL(p, entry, ...) ((p)->entry ? (p)->entry(__VA_ARGS__) : 0)

int
provider_datastore_setup(const struct provider *p, struct db *db,
    char **errp)
{
	return CALL(p, datastore_setup, db, errp);
}

int
provider_check_task_args(const struct provider *p,
    const struct task_config *cfg, char **errp)
{
	return CALL(p, check_task_args, cfg, errp);
}

int
provider_arrival_unit(const struct provider *p, struct db *db,
    int64_t task_run_id, const struct cJSON *provider_data, const char *reg,
    int64_t *unit_id, char **errp)
{
	*unit_id = 0;
	return CALL(p, arrival_unit, db, task_run_id, provider_data, reg,
	    unit_id, errp);
}

int
provider_run_setup(const struct provider *p, struct db *db,
    int64_t task_run_id, const char *task_url, char **errp)
{
	return CALL(p, run_setup, db, task_run_id, task_url, errp);
}

int
provider_run_cleanup(const struct provider *p, struct db *db,
    int64_t task_run_id, char **errp)
{
	return CALL(p, run_cleanup, db, task_run_id, errp);
}

int
provider_requester_register(const struct provider *p, struct db *db,
    int64_t requester_id, char **errp)
{
	return CALL(p, requester_register, db, requester_id, errp);
}

int
provider_requester_is_registered(const struct provider *p, struct db *db,
    int64_t requester_id, int *out, char **errp)
{
	*out = 0;
	return CALL(p, requester_is_registered, db, requester_id, out, errp);
}

int
provider_requester_budget(const struct provider *p, struct db *db,
    int64_t requester_id, double *out, char **errp)
{
	*out = 1e300;
	return CALL(p, requester_budget, db, requester_id, out, errp);
}

int
provider_unit_launch(const struct provider *p, struct db *db,
    int64_t unit_id, const char *url, char **errp)
{
	return CALL(p, unit_launch, db, unit_id, url, errp);
}

int
provider_unit_expire(const struct provider *p, struct db *db,
    int64_t unit_id, char **errp)
{
	return CALL(p, unit_expire, db, unit_id, errp);
}

int
provider_unit_is_expired(const struct provider *p, struct db *db,
    int64_t unit_id, int *out, char **errp)
{
	*out = 0;
	return CALL(p, unit_is_expired, db, unit_id, out, errp);
}

int
provider_worker_create(const struct provider *p, struct db *db,
    const char *name, int64_t *worker_id, char **errp)
{
	if (!p->worker_create)
		return provider_local_worker_create(db, p->name, p->sandbox,
		    name, worker_id, errp);
	return p->worker_create(db, name, worker_id, errp);
}

int
provider_worker_bonus(const struct provider *p, struct db *db,
    int64_t worker_id, double amount, const char *reason, int64_t unit_id,
    const char *key, char **errp)
{
	return CALL(p, worker_bonus, db, worker_id, amount, reason, unit_id,
	    key, errp);
}

int
provider_worker_block(const struct provider *p, struct db *db,
    int64_t worker_id, const char *reason, char **errp)
{
	return CALL(p, worker_block, db, worker_id, reason, errp);
}

int
provider_worker_unblock(const struct provider *p, struct db *db,
    int64_t worker_id, char **errp)
{
	return CALL(p, worker_unblock, db, worker_id, errp);
}

int
provider_worker_is_blocked(const struct provider *p, struct db *db,
    int64_t worker_id, int *out, char **errp)
{
	*out = 0;
	return CALL(p, worker_is_blocked, db, worker_id, out, errp);
}

int
provider_worker_is_eligible(const struct provider *p, struct db *db,
    int64_t worker_id, int64_t task_run_id, int *out, char **errp)
{
	*out = 1;
	return CALL(p, worker_is_eligible, db, worker_id, task_run_id, out,
	    errp);
}

int
provider_qual_grant(const struct provider *p, struct db *db,
    int64_t worker_id, const char *qual, int64_t value, char **errp)
{
	return CALL(p, qual_grant, db, worker_id, qual, value, errp);
}

int
provider_qual_revoke(const struct provider *p, struct db *db,
    int64_t worker_id, const char *qual, char **errp)
{
	return CALL(p, qual_revoke, db, worker_id, qual, errp);
}

int
provider_qual_cleanup(const struct provider *p, struct db *db,
    const char *qual, char **errp)
{
	return CALL(p, qual_cleanup, db, qual, errp);
}

int
provider_agent_approve(const struct provider *p, struct db *db,
    int64_t agent_id, const char *reason, char **errp)
{
	return CALL(p, agent_approve, db, agent_id, reason, errp);
}

int
provider_agent_reject(const struct provider *p, struct db *db,
    int64_t agent_id, const char *reason, char **errp)
{
	return CALL(p, agent_reject, db, agent_id, reason, errp);
}

int
provider_agent_soft_reject(const struct provider *p, struct db *db,
    int64_t agent_id, const char *reason, char **errp)
{
	return CALL(p, agent_soft_reject, db, agent_id, reason, errp);
}

int
provider_agent_mark_done(const struct provider *p, struct db *db,
    int64_t agent_id, char **errp)
{
	return CALL(p, agent_mark_done, db, agent_id, errp);
}

int
provider_run_reconcile(const struct provider *p, struct db *db,
    int64_t task_run_id, int fix, void (*note)(void *ctx, const char *line),
    void *ctx, char **errp)
{
	return CALL(p, run_reconcile, db, task_run_id, fix, note, ctx, errp);
}

/* Building blocks for providers with local records. */

static int
db_fail(struct db *db, char **errp, const char *what)
{
	if (errp)
		*errp = xasprintf("cannot %s: %s", what, db_errmsg(db));
	errno = EIO;
	return -1;
}

static int
step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
step_int(sqlite3_stmt *st, int *out)
{
	int rc = sqlite3_step(st);

	*out = 0;
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0) != 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int
provider_local_block(struct db *db, const char *type, int64_t worker_id,
    int blocked, const char *reason, char **errp)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO provider_workers "
	    "(worker_id, provider_type, is_blocked, block_reason) "
	    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (worker_id, provider_type) "
	    "DO UPDATE SET is_blocked = excluded.is_blocked, "
	    "block_reason = excluded.block_reason, "
	    "update_date = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')");

	if (!st)
		return db_fail(db, errp, "record the block");
	sqlite3_bind_int64(st, 1, worker_id);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, blocked ? 1 : 0);
	if (blocked && reason)
		sqlite3_bind_text(st, 4, reason, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 4);
	if (step_done(st) < 0)
		return db_fail(db, errp, "record the block");
	return 0;
}

int
provider_local_is_blocked(struct db *db, const char *type,
    int64_t worker_id, int *out, char **errp)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT is_blocked FROM "
	    "provider_workers WHERE worker_id = ? AND provider_type = ?");

	if (!st)
		return db_fail(db, errp, "read the block");
	sqlite3_bind_int64(st, 1, worker_id);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	if (step_int(st, out) < 0)
		return db_fail(db, errp, "read the block");
	return 0;
}

char *
provider_registered_agent(struct db *db, int64_t run, const char *prefix,
    int64_t *agent)
{
	/*
	 * Byte for byte (no LIKE: it ignores case and reads '_' and '%'):
	 * the ids from PREFIX "-" up to PREFIX "." are those that start with
	 * PREFIX "-", a range of the table's key.
	 */
	sqlite3_stmt *st = db_stmt(db, "SELECT a.agent_id, a.status FROM "
	    "agent_registrations r JOIN agents a ON a.agent_id = r.agent_id "
	    "WHERE r.task_run_id = ?1 AND r.registration_id >= ?2 || '-' "
	    "AND r.registration_id < ?2 || '.'");
	char *s = NULL;

	*agent = 0;
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*agent = sqlite3_column_int64(st, 0);
		s = xstrdup((const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_reset(st);
	return s;
}

int
provider_local_unit_expire(struct db *db, const char *type, int64_t unit_id,
    int expired, char **errp)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO provider_units "
	    "(unit_id, provider_type, is_expired) VALUES (?, ?, ?) "
	    "ON CONFLICT (unit_id) DO UPDATE SET "
	    "is_expired = excluded.is_expired");

	if (!st)
		return db_fail(db, errp, "record the unit");
	sqlite3_bind_int64(st, 1, unit_id);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, expired ? 1 : 0);
	if (step_done(st) < 0)
		return db_fail(db, errp, "record the unit");
	return 0;
}

int
provider_local_unit_is_expired(struct db *db, int64_t unit_id, int *out,
    char **errp)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT is_expired FROM provider_units "
	    "WHERE unit_id = ?");

	if (!st)
		return db_fail(db, errp, "read the unit");
	sqlite3_bind_int64(st, 1, unit_id);
	if (step_int(st, out) < 0)
		return db_fail(db, errp, "read the unit");
	return 0;
}

int
provider_local_requester_register(struct db *db, const char *type,
    int64_t requester_id, char **errp)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO provider_requesters "
	    "(requester_id, provider_type, is_registered) VALUES (?, ?, 1) "
	    "ON CONFLICT (requester_id) DO UPDATE SET is_registered = 1");

	if (!st)
		return db_fail(db, errp, "register the requester");
	sqlite3_bind_int64(st, 1, requester_id);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	if (step_done(st) < 0)
		return db_fail(db, errp, "register the requester");
	return 0;
}

int
provider_local_requester_is_registered(struct db *db, int64_t requester_id,
    int *out, char **errp)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT is_registered FROM "
	    "provider_requesters WHERE requester_id = ?");

	if (!st)
		return db_fail(db, errp, "read the requester");
	sqlite3_bind_int64(st, 1, requester_id);
	if (step_int(st, out) < 0)
		return db_fail(db, errp, "read the requester");
	return 0;
}

int
provider_local_bonus(struct db *db, const char *type, int64_t worker_id,
    double amount, const char *reason, int64_t unit_id, const char *key,
    char **errp)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO ledger (ledger_id, "
	    "idempotency_key, kind, worker_id, unit_id, task_run_id, amount, "
	    "reason, status, provider_type) VALUES (?1, ?2, 'bonus', ?3, ?4, "
	    "(SELECT task_run_id FROM units WHERE unit_id = ?4), ?5, ?6, "
	    "'paid', ?7) ON CONFLICT (idempotency_key) DO NOTHING");

	if (!key || !*key) {
		if (errp)
			*errp = xstrdup("a bonus needs an idempotency key");
		errno = EINVAL;
		return -1;
	}
	if (amount <= 0) {
		if (errp)
			*errp = xstrdup("a bonus must be a positive amount");
		errno = EINVAL;
		return -1;
	}
	if (!st)
		return db_fail(db, errp, "record the bonus");
	sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, worker_id);
	if (unit_id)
		sqlite3_bind_int64(st, 4, unit_id);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_double(st, 5, amount);
	if (reason)
		sqlite3_bind_text(st, 6, reason, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, 6);
	sqlite3_bind_text(st, 7, type, -1, SQLITE_STATIC);
	if (db_insert_id(db, st, 1, NULL) < 0)
		return db_fail(db, errp, "record the bonus");
	sqlite3_reset(st);
	return 0;
}

int
provider_local_worker_create(struct db *db, const char *type, int sandbox,
    const char *name, int64_t *worker_id, char **errp)
{
	char *full;
	int rc;

	if (!name || !*name) {
		if (errp)
			*errp = xstrdup("the worker name is empty");
		errno = EINVAL;
		return -1;
	}
	full = sandbox ? xasprintf("%s%s", name, PROVIDER_SANDBOX_SUFFIX) :
	    xstrdup(name);
	rc = model_worker_ensure(db, full, type, worker_id);
	free(full);
	if (rc < 0)
		return db_fail(db, errp, "create the worker");
	return 0;
}
