#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "buf.h"
#include "db.h"
#include "model.h"
#include "msg.h"
#include "path.h"
#include "provider.h"
#include "run.h"
#include "task.h"
#include "xalloc.h"
#include "banned.h"

/* Unix socket paths must fit sun_path (108 bytes with its NUL). */
#define RUN_SOCKET_NAME "pool.sock"
#define SUN_PATH_MAX 108

static int fail(struct db *db, char **errp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set *errp to the message and the database's reason; roll back. */
static int
fail(struct db *db, char **errp, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (db)
		buf_addf(&b, ": %s", db_errmsg(db));
	if (db && !sqlite3_get_autocommit(db_handle(db)))
		db_rollback(db);
	if (errp)
		*errp = buf_detach(&b, NULL);
	buf_release(&b);
	return -1;
}

/* As fail(), without a database reason. */
static int failx(struct db *db, char **errp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
failx(struct db *db, char **errp, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (db && !sqlite3_get_autocommit(db_handle(db)))
		db_rollback(db);
	if (errp)
		*errp = buf_detach(&b, NULL);
	buf_release(&b);
	return -1;
}

static char *
col_strdup(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s ? xstrdup((const char *)s) : NULL;
}

int
run_unit_status_is_final(const char *status)
{
	return strcmp(status, UNIT_CREATED) && strcmp(status, UNIT_LAUNCHED) &&
	    strcmp(status, UNIT_ASSIGNED);
}

/* --- creation --- */

/* The provider's own records of a requester created on first use. */
static int
register_requester(struct db *db, const struct task_config *cfg,
    int64_t requester_id, char **errp)
{
	const struct provider *p = provider_find(cfg->provider_type);
	char *err = NULL;

	if (!p)
		return failx(db, errp, "unknown provider '%s'",
		    cfg->provider_type);
	if (provider_datastore_setup(p, db, &err) < 0 ||
	    provider_requester_register(p, db, requester_id, &err) < 0) {
		failx(db, errp, "cannot register requester '%s': %s",
		    cfg->requester_name, err ? err : "unknown error");
		free(err);
		return -1;
	}
	return 0;
}

/*
 * Find the row named NAME by SELECT_SQL ("SELECT id, type ... WHERE name
 * = ?") and check that its type is TYPE.  Returns 1 with *IDP set, 0 when
 * there is none, -1 with *ERRP set (WHAT names the row, KEY the setting
 * to change) on a database error or another type.
 */
static int
find_typed(struct db *db, const char *select_sql, const char *name,
    const char *type, const char *what, const char *key, int64_t *idp,
    char **errp)
{
	sqlite3_stmt *st = db_stmt(db, select_sql);
	char *have;
	int rc;

	if (!st)
		return fail(db, errp, "cannot look up the %s", what);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 :
		    fail(db, errp, "cannot look up the %s", what);
	}
	*idp = sqlite3_column_int64(st, 0);
	have = col_strdup(st, 1);
	sqlite3_reset(st);
	if (have && strcmp(have, type)) {
		failx(db, errp, "%s '%s' exists with type '%s', not '%s'; "
		    "choose another %s", what, name, have, type, key);
		free(have);
		return -1;
	}
	free(have);
	return 1;
}

static int
requester_ensure(struct db *db, const struct task_config *cfg,
    int64_t *idp, char **errp)
{
	sqlite3_stmt *st;
	int r = find_typed(db, "SELECT requester_id, provider_type FROM "
	    "requesters WHERE requester_name = ?", cfg->requester_name,
	    cfg->provider_type, "requester", "provider.requester_name", idp,
	    errp);

	if (r)
		return r < 0 ? -1 : 0;
	st = db_stmt(db, "INSERT INTO requesters (requester_id, "
	    "requester_name, provider_type) VALUES (?, ?, ?)");
	if (!st)
		return fail(db, errp, "cannot create the requester");
	sqlite3_bind_text(st, 2, cfg->requester_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cfg->provider_type, -1, SQLITE_STATIC);
	if (db_insert_id(db, st, 1, idp) < 0)
		return fail(db, errp, "cannot create requester '%s'",
		    cfg->requester_name);
	return register_requester(db, cfg, *idp, errp);
}

static int
task_ensure(struct db *db, const struct task_config *cfg, int64_t *idp,
    char **errp)
{
	sqlite3_stmt *st;
	int r = find_typed(db, "SELECT task_id, task_type FROM tasks WHERE "
	    "task_name = ?", cfg->task_name, cfg->blueprint_type, "task",
	    "task.task_name", idp, errp);

	if (r)
		return r < 0 ? -1 : 0;
	st = db_stmt(db, "INSERT INTO tasks (task_id, task_name, task_type) "
	    "VALUES (?, ?, ?)");
	if (!st)
		return fail(db, errp, "cannot create the task");
	sqlite3_bind_text(st, 2, cfg->task_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cfg->blueprint_type, -1, SQLITE_STATIC);
	if (db_insert_id(db, st, 1, idp) < 0)
		return fail(db, errp, "cannot create task '%s'",
		    cfg->task_name);
	return 0;
}

/* Runs on a sandbox provider (mock, mturk_sandbox) are sandbox runs. */
static int
sandbox_of(const struct task_config *cfg)
{
	const struct provider *p = provider_find(cfg->provider_type);

	return p && p->sandbox;
}

static int
task_run_insert(struct db *db, const struct task_config *cfg,
    int64_t task_id, int64_t requester_id, int64_t *idp, char **errp)
{
	char *params = task_config_to_json(cfg);
	sqlite3_stmt *st;

	st = db_stmt(db, "INSERT INTO task_runs (task_run_id, task_id, "
	    "requester_id, init_params, is_completed, provider_type, "
	    "task_type, sandbox) VALUES (?, ?, ?, ?, 0, ?, ?, ?)");
	if (!st) {
		free(params);
		return fail(db, errp, "cannot create the task run");
	}
	sqlite3_bind_int64(st, 2, task_id);
	sqlite3_bind_int64(st, 3, requester_id);
	sqlite3_bind_text(st, 4, params, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, cfg->provider_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, cfg->blueprint_type, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, sandbox_of(cfg));
	free(params);
	if (db_insert_id(db, st, 1, idp) < 0)
		return fail(db, errp, "cannot create the task run");
	st = db_stmt(db, "INSERT INTO task_run_state (task_run_id, status, "
	    "supervisor_pid) VALUES (?, 'running', ?)");
	if (!st)
		return fail(db, errp, "cannot record the run state");
	sqlite3_bind_int64(st, 1, *idp);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)getpid());
	if (sqlite3_step(st) != SQLITE_DONE)
		return fail(db, errp, "cannot record the run state");
	return 0;
}

/* N distinct new ids in ascending order (caller frees). */
static int64_t *
sorted_ids(size_t n)
{
	int64_t *ids = xcalloc(n ? n : 1, sizeof(*ids));

	db_new_ids(ids, n);
	return ids;
}

/* The statements of the bulk insert, with the constant columns bound. */
struct bulk {
	sqlite3_stmt *assignment, *data, *unit;
	struct buf shared, unit_data;
	char *html;		/* "html" key and value, JSON-escaped */
	char *created;		/* the run's creation_date, for every row */
};

static int
bulk_prepare(struct db *db, struct bulk *b, const struct task_config *cfg,
    int64_t task_id, int64_t run_id, int64_t requester_id)
{
	int sandbox = sandbox_of(cfg);
	sqlite3_stmt *st;

	st = db_stmt(db, "SELECT creation_date FROM task_runs "
	    "WHERE task_run_id = ?");
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		b->created = col_strdup(st, 0);
	sqlite3_reset(st);
	if (!b->created)
		return -1;
	b->assignment = db_stmt(db, "INSERT INTO assignments (assignment_id, "
	    "task_id, task_run_id, requester_id, task_type, provider_type, "
	    "sandbox, creation_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	b->data = b->assignment ? db_stmt(db, "INSERT INTO assignment_data "
	    "(assignment_id, shared, unit_data) VALUES (?, ?, ?)") : NULL;
	b->unit = b->data ? db_stmt(db, "INSERT INTO units (unit_id, "
	    "assignment_id, unit_index, pay_amount, provider_type, status, "
	    "task_type, task_id, task_run_id, sandbox, requester_id, "
	    "creation_date) VALUES (?, ?, ?, ?, ?, 'created', ?, ?, ?, ?, ?, "
	    "?11)") : NULL;
	if (!b->unit)
		return -1;
	sqlite3_bind_int64(b->assignment, 2, task_id);
	sqlite3_bind_int64(b->assignment, 3, run_id);
	sqlite3_bind_int64(b->assignment, 4, requester_id);
	sqlite3_bind_text(b->assignment, 5, cfg->blueprint_type, -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(b->assignment, 6, cfg->provider_type, -1,
	    SQLITE_STATIC);
	sqlite3_bind_int(b->assignment, 7, sandbox);
	sqlite3_bind_text(b->assignment, 8, b->created, -1, SQLITE_STATIC);
	sqlite3_bind_double(b->unit, 4, cfg->task_reward);
	sqlite3_bind_text(b->unit, 5, cfg->provider_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(b->unit, 6, cfg->blueprint_type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(b->unit, 7, task_id);
	sqlite3_bind_int64(b->unit, 8, run_id);
	sqlite3_bind_int(b->unit, 9, sandbox);
	sqlite3_bind_int64(b->unit, 10, requester_id);
	/* One creation time for the whole run, computed once. */
	sqlite3_bind_text(b->unit, 11, b->created, -1, SQLITE_STATIC);
	return 0;
}

static void
bulk_init_text(struct bulk *b, const struct task_config *cfg)
{
	const char *base = strrchr(cfg->task_source, '/');
	cJSON *s = cJSON_CreateString(base ? base + 1 : cfg->task_source);
	char *q = cJSON_PrintUnformatted(s);
	long i;

	b->html = xasprintf("\"html\":%s", q);
	cJSON_free(q);
	cJSON_Delete(s);
	buf_addch(&b->unit_data, '[');
	for (i = 0; i < cfg->units_per_assignment; i++)
		buf_addstr(&b->unit_data, i ? ",{}" : "{}");
	buf_addch(&b->unit_data, ']');
}

/* The shared data of ROW: the row plus "html". */
static void
shared_text(struct bulk *b, const cJSON *row)
{
	char *s;

	buf_reset(&b->shared);
	if (cJSON_GetObjectItemCaseSensitive(row, "html")) {
		cJSON *copy = cJSON_Duplicate(row, 1);

		cJSON_DeleteItemFromObjectCaseSensitive(copy, "html");
		s = cJSON_PrintUnformatted(copy);
		cJSON_Delete(copy);
	} else {
		s = cJSON_PrintUnformatted(row);
	}
	buf_add(&b->shared, s, strlen(s) - 1);	/* without its '}' */
	cJSON_free(s);
	if (b->shared.len > 1)
		buf_addch(&b->shared, ',');
	buf_addstr(&b->shared, b->html);
	buf_addch(&b->shared, '}');
}

static int
step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
bulk_insert(struct db *db, struct bulk *b, const struct data_set *data,
    long upa)
{
	int64_t *aid = sorted_ids(data->nr);
	int64_t *uid = sorted_ids(data->nr * (size_t)upa);
	size_t i, u = 0;
	long j;
	int r = -1;

	for (i = 0; i < data->nr; i++) {
		sqlite3_bind_int64(b->assignment, 1, aid[i]);
		if (step_done(b->assignment) < 0)
			goto out;
		shared_text(b, data->row[i]);
		sqlite3_bind_int64(b->data, 1, aid[i]);
		sqlite3_bind_text(b->data, 2, b->shared.buf,
		    (int)b->shared.len, SQLITE_STATIC);
		sqlite3_bind_text(b->data, 3, b->unit_data.buf,
		    (int)b->unit_data.len, SQLITE_STATIC);
		if (step_done(b->data) < 0)
			goto out;
		for (j = 0; j < upa; j++) {
			sqlite3_bind_int64(b->unit, 1, uid[u++]);
			sqlite3_bind_int64(b->unit, 2, aid[i]);
			sqlite3_bind_int64(b->unit, 3, j);
			if (step_done(b->unit) < 0)
				goto out;
		}
	}
	r = 0;
out:
	free(aid);
	free(uid);
	return r;
}

static int
create_once(struct db *db, const struct task_config *cfg,
    const struct data_set *data, int64_t *run_idp, char **errp)
{
	struct bulk b = { NULL, NULL, NULL, BUF_INIT, BUF_INIT, NULL, NULL };
	const struct provider *p;
	int64_t requester_id, task_id;
	char *err = NULL;
	int r = -1;

	p = provider_find(cfg->provider_type);
	if (p && provider_check_task_args(p, cfg, &err) < 0) {
		failx(NULL, errp, "%s", err ? err : "bad task configuration");
		free(err);
		return -1;
	}
	if (db_begin(db) < 0)
		return fail(db, errp, "cannot start a transaction");
	if (requester_ensure(db, cfg, &requester_id, errp) < 0 ||
	    task_ensure(db, cfg, &task_id, errp) < 0 ||
	    task_run_insert(db, cfg, task_id, requester_id, run_idp,
	    errp) < 0)
		goto out;
	if (bulk_prepare(db, &b, cfg, task_id, *run_idp, requester_id) < 0) {
		fail(db, errp, "cannot prepare the units");
		goto out;
	}
	bulk_init_text(&b, cfg);
	if (bulk_insert(db, &b, data, cfg->units_per_assignment) < 0) {
		/* A random id already taken: the caller tries again. */
		if (sqlite3_extended_errcode(db_handle(db)) ==
		    SQLITE_CONSTRAINT_PRIMARYKEY)
			r = 1;
		fail(db, errp, "cannot create the units");
		goto out;
	}
	if (db_commit(db) < 0) {
		fail(db, errp, "cannot commit the new run");
		goto out;
	}
	r = 0;
out:
	buf_release(&b.shared);
	buf_release(&b.unit_data);
	free(b.html);
	free(b.created);
	return r;
}

int
run_create(struct db *db, const struct task_config *cfg,
    const struct data_set *data, int64_t *run_idp, char **errp)
{
	int tries, r = -1;

	/*
	 * SQLite's default page cache (2 MiB) is enough: each page of a new
	 * run is filled once, then spilled to the log as the cache fills,
	 * and its memory used again.  A cache as large as the run (256 MiB)
	 * was slower (100,000 units: 1.46 s against 1.28 s): every page
	 * allocated and touched afresh, then all sorted and written at the
	 * commit.
	 */
	for (tries = 0; tries < 3; tries++) {
		r = create_once(db, cfg, data, run_idp, errp);
		if (r <= 0)
			break;
		free(*errp);
		*errp = NULL;
	}
	if (r > 0)
		r = failx(NULL, errp, "cannot create the units: no free ids");
	return r;
}

/* --- configuration of an existing run --- */

int
run_latest_of_task(struct db *db, const char *task_name, int64_t *run_idp,
    char **errp)
{
	sqlite3_stmt *st;
	int rc;

	st = db_stmt(db, "SELECT r.task_run_id FROM task_runs r "
	    "JOIN tasks t ON t.task_id = r.task_id WHERE t.task_name = ? "
	    "ORDER BY r.creation_date DESC, r.rowid DESC LIMIT 1");
	if (!st)
		return fail(db, errp, "cannot look up task '%s'", task_name);
	sqlite3_bind_text(st, 1, task_name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*run_idp = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return fail(db, errp, "cannot look up task '%s'", task_name);
}

int
run_load_config(struct db *db, int64_t run_id, struct task_config *cfg,
    char **errp)
{
	sqlite3_stmt *st;
	char *params, *err = NULL;
	int rc;

	st = db_stmt(db, "SELECT init_params FROM task_runs "
	    "WHERE task_run_id = ?");
	if (!st)
		return fail(db, errp, "cannot read task run %lld",
		    (long long)run_id);
	sqlite3_bind_int64(st, 1, run_id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return failx(NULL, errp, "no task run %lld",
			    (long long)run_id);
		return fail(db, errp, "cannot read task run %lld",
		    (long long)run_id);
	}
	params = col_strdup(st, 0);
	sqlite3_reset(st);
	rc = task_config_from_json(cfg, params ? params : "", &err);
	free(params);
	if (rc < 0) {
		failx(NULL, errp, "task run %lld: %s", (long long)run_id, err);
		free(err);
		return -1;
	}
	return 0;
}

int
run_reopen(struct db *db, int64_t run_id, char **errp)
{
	sqlite3_stmt *st;

	if (db_begin(db) < 0)
		return fail(db, errp, "cannot start a transaction");
	st = db_stmt(db, "UPDATE task_runs SET is_completed = 0 "
	    "WHERE task_run_id = ?");
	if (!st)
		return fail(db, errp, "cannot reopen the run");
	sqlite3_bind_int64(st, 1, run_id);
	if (step_done(st) < 0)
		return fail(db, errp, "cannot reopen the run");
	if (run_set_state(db, run_id, "running", NULL, -1, (long)getpid(),
	    errp) < 0) {
		db_rollback(db);
		return -1;
	}
	if (db_commit(db) < 0)
		return fail(db, errp, "cannot reopen the run");
	return 0;
}

/* --- launching and expiring --- */

static int
count_units(struct db *db, const char *sql, int64_t run_id, long *n)
{
	sqlite3_stmt *st = db_stmt(db, sql);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* The provider of a run, or NULL with *errp set. */
static const struct provider *
run_provider(struct db *db, int64_t run_id, char **errp)
{
	const struct provider *p = NULL;
	sqlite3_stmt *st;
	const char *type;

	st = db_stmt(db, "SELECT provider_type FROM task_runs "
	    "WHERE task_run_id = ?");
	if (!st) {
		fail(db, errp, "cannot read task run %lld", (long long)run_id);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, run_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		type = (const char *)sqlite3_column_text(st, 0);
		p = type ? provider_find(type) : NULL;
		if (!p)
			failx(db, errp, "task run %lld: unknown provider '%s'",
			    (long long)run_id, type ? type : "");
	} else {
		failx(db, errp, "no task run %lld", (long long)run_id);
	}
	sqlite3_reset(st);
	return p;
}

/* Give the provider units IDS[0..n), just set launched. */
static int
launch_ids(struct db *db, const struct provider *p, const int64_t *ids,
    size_t n, const char *url, char **errp)
{
	char *err = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (provider_unit_launch(p, db, ids[i], url, &err) < 0) {
			failx(db, errp, "cannot launch unit %lld: %s",
			    (long long)ids[i], err ? err : "unknown error");
			free(err);
			return -1;
		}
	}
	return 0;
}

int
run_launch_units(struct db *db, int64_t run_id, long max_live,
    const char *url, size_t *launchedp, char **errp)
{
	const struct provider *p;
	int64_t *ids = NULL;
	long live = 0, room = -1;
	size_t n = 0;

	*launchedp = 0;
	if (db_begin(db) < 0)
		return fail(db, errp, "cannot start a transaction");
	p = run_provider(db, run_id, errp);
	if (!p)
		return -1;
	if (max_live > 0) {
		/* Screening and gold units are extra: not counted. */
		if (count_units(db, "SELECT COUNT(*) FROM units WHERE "
		    "status IN ('launched', 'assigned') AND task_run_id = ? "
		    "AND unit_index >= 0", run_id, &live) < 0)
			return fail(db, errp, "cannot count live units");
		room = max_live - live;
		if (room <= 0) {
			db_rollback(db);
			return 0;
		}
	}
	if (model_units_launch(db, run_id, room, &ids, &n) < 0)
		return fail(db, errp, "cannot launch units");
	if (launch_ids(db, p, ids, n, url, errp) < 0) {
		free(ids);
		return -1;
	}
	free(ids);
	if (db_commit(db) < 0)
		return fail(db, errp, "cannot launch units");
	*launchedp = n;
	return 0;
}

static int
check_units_in_run(struct db *db, int64_t run_id, const int64_t *units,
    size_t n, char **errp)
{
	struct model_unit u;
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		r = model_unit_get(db, units[i], &u);
		if (r < 0)
			return fail(db, errp, "cannot read unit %lld",
			    (long long)units[i]);
		if (!r || u.task_run_id != run_id)
			return failx(db, errp, "unit %lld is not in task run "
			    "%lld", (long long)units[i], (long long)run_id);
	}
	return 0;
}

int
run_expire(struct db *db, int64_t run_id, const int64_t *units, size_t n,
    unsigned flags, size_t *expiredp, char **errp)
{
	unsigned mflags = (flags & RUN_EXPIRE_HELD) ? MODEL_EXPIRE_HELD : 0;
	const struct provider *p;
	int64_t *all = NULL;
	sqlite3_stmt *st;
	char *err = NULL;
	size_t i;
	int r, expired = 0;

	*expiredp = 0;
	if (db_begin(db) < 0)
		return fail(db, errp, "cannot start a transaction");
	p = run_provider(db, run_id, errp);
	if (!p)
		return -1;
	if (n) {
		if (check_units_in_run(db, run_id, units, n, errp) < 0)
			return -1;
	} else if (!mflags) {
		/* Every unit nobody holds, at once. */
		if (model_units_expire(db, run_id, &all, &n) < 0)
			return fail(db, errp, "cannot expire units");
		units = all;
		expired = 1;
	} else {
		st = db_stmt(db, "SELECT unit_id FROM units WHERE "
		    "task_run_id = ? AND status IN ('created', 'launched', "
		    "'assigned') ORDER BY unit_id");
		if (!st || (sqlite3_bind_int64(st, 1, run_id),
		    db_step_ids(st, &all, &n)) < 0)
			return fail(db, errp, "cannot find units to expire");
		units = all;
	}
	for (i = 0; i < n; i++) {
		r = expired ? 1 : model_unit_expire(db, units[i], mflags,
		    NULL);
		if (r < 0) {
			free(all);
			return fail(db, errp, "cannot expire unit %lld",
			    (long long)units[i]);
		}
		if (r && provider_unit_expire(p, db, units[i], &err) < 0) {
			failx(db, errp, "cannot expire unit %lld: %s",
			    (long long)units[i], err ? err : "unknown error");
			free(err);
			free(all);
			return -1;
		}
		*expiredp += (size_t)r;
	}
	free(all);
	if (db_commit(db) < 0)
		return fail(db, errp, "cannot expire units");
	return 0;
}

/* --- counts and completion --- */

static void
count_add(struct run_counts *c, const char *status, long n)
{
	static const struct {
		const char *name;
		size_t off;
	} map[] = {
		{ UNIT_CREATED, offsetof(struct run_counts, created) },
		{ UNIT_LAUNCHED, offsetof(struct run_counts, launched) },
		{ UNIT_ASSIGNED, offsetof(struct run_counts, assigned) },
		{ UNIT_COMPLETED, offsetof(struct run_counts, completed) },
		{ UNIT_ACCEPTED, offsetof(struct run_counts, accepted) },
		{ UNIT_REJECTED, offsetof(struct run_counts, rejected) },
		{ UNIT_SOFT_REJECTED,
		  offsetof(struct run_counts, soft_rejected) },
		{ UNIT_EXPIRED, offsetof(struct run_counts, expired) },
	};
	size_t i;

	c->total += n;
	for (i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(map[i].name, status)) {
			*(long *)((char *)c + map[i].off) += n;
			return;
		}
	c->other += n;
}

int
run_counts(struct db *db, int64_t run_id, struct run_counts *c,
    char **errp)
{
	sqlite3_stmt *st;
	int rc;

	memset(c, 0, sizeof(*c));
	st = db_stmt(db, "SELECT status, COUNT(*) FROM units "
	    "WHERE task_run_id = ? AND unit_index >= 0 GROUP BY status");
	if (!st)
		return fail(db, errp, "cannot count units");
	sqlite3_bind_int64(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		count_add(c, (const char *)sqlite3_column_text(st, 0),
		    (long)sqlite3_column_int64(st, 1));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail(db, errp, "cannot count units");
	return 0;
}

long
run_counts_open(const struct run_counts *c)
{
	return c->created + c->launched + c->assigned;
}

/*
 * Inside a transaction: expire the run's screening and gold units
 * (negative unit_index) still open; their agents become "disconnect".
 */
static int
expire_extra_units(struct db *db, int64_t run_id)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT unit_id FROM units WHERE "
	    "task_run_id = ? AND unit_index < 0 AND status IN ('created', "
	    "'launched', 'assigned') ORDER BY unit_id");
	int64_t *ids = NULL;
	size_t n = 0, i;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, run_id);
	if (db_step_ids(st, &ids, &n) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (model_unit_expire(db, ids[i], MODEL_EXPIRE_HELD,
		    NULL) < 0) {
			free(ids);
			return -1;
		}
	}
	free(ids);
	return 0;
}

int
run_complete_if_done(struct db *db, int64_t run_id, int *donep,
    char **errp)
{
	sqlite3_stmt *st;
	long open = 0;

	*donep = 0;
	if (db_begin(db) < 0)
		return fail(db, errp, "cannot start a transaction");
	if (count_units(db, "SELECT COUNT(*) FROM units WHERE task_run_id = ? "
	    "AND status IN ('created', 'launched', 'assigned') "
	    "AND unit_index >= 0", run_id, &open) < 0)
		return fail(db, errp, "cannot count open units");
	if (open) {
		db_rollback(db);
		return 0;
	}
	if (expire_extra_units(db, run_id) < 0)
		return fail(db, errp, "cannot expire the screening and gold "
		    "units");
	st = db_stmt(db, "UPDATE task_runs SET is_completed = 1 "
	    "WHERE task_run_id = ?");
	if (!st)
		return fail(db, errp, "cannot complete the run");
	sqlite3_bind_int64(st, 1, run_id);
	if (step_done(st) < 0)
		return fail(db, errp, "cannot complete the run");
	if (run_set_state(db, run_id, "completed", NULL, -1, -1, errp) < 0) {
		db_rollback(db);
		return -1;
	}
	if (db_commit(db) < 0)
		return fail(db, errp, "cannot complete the run");
	*donep = 1;
	return 0;
}

int
run_set_state(struct db *db, int64_t run_id, const char *status,
    const char *task_url, int port, long pid, char **errp)
{
	sqlite3_stmt *st;

	st = db_stmt(db, "INSERT INTO task_run_state (task_run_id, status, "
	    "task_url, port, supervisor_pid) VALUES (?1, "
	    "COALESCE(?2, 'running'), ?3, ?4, ?5) "
	    "ON CONFLICT (task_run_id) DO UPDATE SET "
	    "status = COALESCE(?2, status), "
	    "task_url = COALESCE(?3, task_url), "
	    "port = COALESCE(?4, port), "
	    "supervisor_pid = CASE WHEN ?6 THEN ?5 ELSE supervisor_pid END, "
	    "update_date = STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')");
	if (!st)
		return fail(NULL, errp, "cannot record the run state");
	sqlite3_bind_int64(st, 1, run_id);
	if (status)
		sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	if (task_url)
		sqlite3_bind_text(st, 3, task_url, -1, SQLITE_STATIC);
	if (port >= 0)
		sqlite3_bind_int(st, 4, port);
	if (pid > 0)
		sqlite3_bind_int64(st, 5, pid);
	sqlite3_bind_int(st, 6, pid >= 0);
	if (step_done(st) < 0) {
		*errp = xasprintf("cannot record the run state: %s",
		    db_errmsg(db));
		return -1;
	}
	return 0;
}

/* --- reading --- */

int
run_info_get(struct db *db, int64_t run_id, struct run_info *info,
    char **errp)
{
	sqlite3_stmt *st;
	int rc;

	memset(info, 0, sizeof(*info));
	st = db_stmt(db, "SELECT r.task_run_id, r.task_id, t.task_name, "
	    "s.status, s.task_url, s.port, s.supervisor_pid, r.is_completed, "
	    "r.creation_date, r.provider_type FROM task_runs r "
	    "JOIN tasks t ON t.task_id = r.task_id "
	    "LEFT JOIN task_run_state s ON s.task_run_id = r.task_run_id "
	    "WHERE r.task_run_id = ?");
	if (!st)
		return fail(db, errp, "cannot read task run %lld",
		    (long long)run_id);
	sqlite3_bind_int64(st, 1, run_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		info->task_run_id = sqlite3_column_int64(st, 0);
		info->task_id = sqlite3_column_int64(st, 1);
		info->task_name = col_strdup(st, 2);
		info->status = col_strdup(st, 3);
		info->task_url = col_strdup(st, 4);
		info->port = sqlite3_column_int(st, 5);
		info->supervisor_pid = (long)sqlite3_column_int64(st, 6);
		info->is_completed = sqlite3_column_int(st, 7);
		info->creation_date = col_strdup(st, 8);
		info->provider_type = col_strdup(st, 9);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return fail(db, errp, "cannot read task run %lld", (long long)run_id);
}

void
run_info_release(struct run_info *info)
{
	free(info->task_name);
	free(info->status);
	free(info->task_url);
	free(info->creation_date);
	free(info->provider_type);
	memset(info, 0, sizeof(*info));
}

static void
add_id(cJSON *obj, const char *key, int64_t id)
{
	char b[DB_ID_BUFSZ];

	if (id)
		cJSON_AddStringToObject(obj, key, db_id_format(id, b));
	else
		cJSON_AddNullToObject(obj, key);
}

static void
add_text(cJSON *obj, const char *key, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	if (s)
		cJSON_AddStringToObject(obj, key, (const char *)s);
	else
		cJSON_AddNullToObject(obj, key);
}

static int
add_counts(struct db *db, cJSON *run, int64_t run_id, char **errp)
{
	struct run_counts c;
	cJSON *o;

	if (run_counts(db, run_id, &c, errp) < 0)
		return -1;
	o = cJSON_AddObjectToObject(run, "counts");
	cJSON_AddNumberToObject(o, "total", (double)c.total);
	cJSON_AddNumberToObject(o, UNIT_CREATED, (double)c.created);
	cJSON_AddNumberToObject(o, UNIT_LAUNCHED, (double)c.launched);
	cJSON_AddNumberToObject(o, UNIT_ASSIGNED, (double)c.assigned);
	cJSON_AddNumberToObject(o, UNIT_COMPLETED, (double)c.completed);
	cJSON_AddNumberToObject(o, UNIT_ACCEPTED, (double)c.accepted);
	cJSON_AddNumberToObject(o, UNIT_REJECTED, (double)c.rejected);
	cJSON_AddNumberToObject(o, UNIT_SOFT_REJECTED,
	    (double)c.soft_rejected);
	cJSON_AddNumberToObject(o, UNIT_EXPIRED, (double)c.expired);
	return 0;
}

int
run_list(struct db *db, cJSON *out, char **errp)
{
	int64_t *ids = NULL;
	sqlite3_stmt *st;
	size_t n = 0, alloc = 0, i;
	cJSON *run;
	int rc;

	st = db_stmt(db, "SELECT r.task_run_id, t.task_name, s.status, "
	    "r.is_completed, r.creation_date, s.task_url, r.provider_type "
	    "FROM task_runs r JOIN tasks t ON t.task_id = r.task_id "
	    "LEFT JOIN task_run_state s ON s.task_run_id = r.task_run_id "
	    "ORDER BY r.creation_date DESC, r.rowid DESC");
	if (!st)
		return fail(db, errp, "cannot list runs");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		run = cJSON_CreateObject();
		add_id(run, "task_run_id", sqlite3_column_int64(st, 0));
		add_text(run, "task_name", st, 1);
		add_text(run, "status", st, 2);
		cJSON_AddBoolToObject(run, "is_completed",
		    sqlite3_column_int(st, 3));
		add_text(run, "creation_date", st, 4);
		add_text(run, "task_url", st, 5);
		add_text(run, "provider_type", st, 6);
		cJSON_AddItemToArray(out, run);
		ALLOC_GROW(ids, n + 1, alloc);
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(ids);
		return fail(db, errp, "cannot list runs");
	}
	for (i = 0, run = out->child; i < n && run; i++, run = run->next)
		if (add_counts(db, run, ids[i], errp) < 0) {
			free(ids);
			return -1;
		}
	free(ids);
	return 0;
}

/* Parse column COL as JSON, or null when it is NULL or not JSON. */
static cJSON *
col_json(sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	cJSON *v = s ? cJSON_Parse(s) : NULL;

	return v ? v : cJSON_CreateNull();
}

static void
add_real(cJSON *obj, const char *key, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		cJSON_AddNullToObject(obj, key);
	else
		cJSON_AddNumberToObject(obj, key,
		    sqlite3_column_double(st, col));
}

static cJSON *
result_row(sqlite3_stmt *st)
{
	cJSON *row = cJSON_CreateObject(), *files;

	add_id(row, "unit_id", sqlite3_column_int64(st, 0));
	add_id(row, "assignment_id", sqlite3_column_int64(st, 1));
	add_id(row, "task_run_id", sqlite3_column_int64(st, 2));
	add_id(row, "agent_id", sqlite3_column_int64(st, 3));
	add_id(row, "worker_id", sqlite3_column_int64(st, 4));
	add_text(row, "worker_name", st, 5);
	add_text(row, "status", st, 6);
	cJSON_AddItemToObject(row, "inputs", col_json(st, 7));
	cJSON_AddItemToObject(row, "outputs", col_json(st, 8));
	add_real(row, "task_start", st, 9);
	add_real(row, "task_end", st, 10);
	files = col_json(st, 11);
	if (cJSON_IsNull(files)) {
		cJSON_Delete(files);
		files = cJSON_CreateArray();
	}
	cJSON_AddItemToObject(row, "files", files);
	return row;
}

/* Line writing: the members of result_row() as JSON text. */

static void
line_id(struct buf *b, const char *key, int64_t id)
{
	buf_addstr(b, key);
	msg_print_id(id, b);
}

static void
line_text(struct buf *b, const char *key, sqlite3_stmt *st, int col)
{
	buf_addstr(b, key);
	msg_print_str((const char *)sqlite3_column_text(st, col), b);
}

/* Column COL as the JSON text stored, when column VALID says it is JSON. */
static void
line_raw(struct buf *b, const char *key, sqlite3_stmt *st, int col,
    int valid, const char *otherwise)
{
	const char *s = (const char *)sqlite3_column_text(st, col);

	buf_addstr(b, key);
	if (s && sqlite3_column_int(st, valid))
		buf_add(b, s, (size_t)sqlite3_column_bytes(st, col));
	else
		buf_addstr(b, otherwise);
}

static void
line_real(struct buf *b, const char *key, sqlite3_stmt *st, int col)
{
	buf_addstr(b, key);
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		buf_add(b, "null", 4);
	else
		msg_print_number(sqlite3_column_double(st, col), b);
}

static void
result_line(struct buf *b, sqlite3_stmt *st, int review)
{
	line_id(b, "{\"unit_id\":", sqlite3_column_int64(st, 0));
	line_id(b, ",\"assignment_id\":", sqlite3_column_int64(st, 1));
	line_id(b, ",\"task_run_id\":", sqlite3_column_int64(st, 2));
	line_id(b, ",\"agent_id\":", sqlite3_column_int64(st, 3));
	line_id(b, ",\"worker_id\":", sqlite3_column_int64(st, 4));
	line_text(b, ",\"worker_name\":", st, 5);
	line_text(b, ",\"status\":", st, 6);
	line_raw(b, ",\"inputs\":", st, 7, 12, "null");
	line_raw(b, ",\"outputs\":", st, 8, 13, "null");
	line_real(b, ",\"task_start\":", st, 9);
	line_real(b, ",\"task_end\":", st, 10);
	line_raw(b, ",\"files\":", st, 11, 14, "[]");
	if (review) {
		line_raw(b, ",\"review\":", st, 15, 16, "null");
		line_real(b, ",\"bonus\":", st, 17);
		buf_addstr(b, sqlite3_column_int(st, 18) ? ",\"blocked\":true" :
		    ",\"blocked\":false");
	}
	buf_add(b, "}\n", 2);
}

static int
status_wanted(const struct run_results_query *q, const char *status)
{
	static const char *const def[] = {
		UNIT_COMPLETED, UNIT_ACCEPTED, UNIT_REJECTED,
		UNIT_SOFT_REJECTED,
	};
	const char *const *list = q->statuses ? q->statuses : def;
	size_t n = q->statuses ? q->nr_statuses : ARRAY_SIZE(def), i;

	for (i = 0; i < n; i++)
		if (!strcmp(list[i], status))
			return 1;
	return 0;
}

#define RESULT_COLUMNS \
	"SELECT u.unit_id, u.assignment_id, u.task_run_id, u.agent_id, " \
	"u.worker_id, w.worker_name, u.status, " \
	"COALESCE(d.inputs, ad.shared), d.outputs, d.task_start, " \
	"d.task_end, d.files, "
/* Whether inputs, outputs and files are JSON, for line_raw(). */
#define RESULT_VALID \
	"json_valid(COALESCE(d.inputs, ad.shared)), json_valid(d.outputs), " \
	"json_valid(d.files)"
/*
 * The unit's last review (as JSON; the 1 after it says so for line_raw()),
 * its paid bonuses and whether its worker is blocked.
 */
#define REVIEW_COLUMNS \
	", (SELECT json_object('status', r.status, 'note', r.review_note, " \
	"'time', r.creation_date) FROM worker_review r WHERE " \
	"r.unit_id = u.unit_id AND r.status IS NOT NULL ORDER BY r.id DESC " \
	"LIMIT 1), 1, (SELECT coalesce(sum(l.amount), 0) FROM ledger l " \
	"WHERE l.unit_id = u.unit_id AND l.kind = 'bonus' AND " \
	"l.status = 'paid'), EXISTS (SELECT 1 FROM provider_workers p " \
	"WHERE p.worker_id = u.worker_id AND p.is_blocked)"
#define RESULT_FROM \
	" FROM units u " \
	"LEFT JOIN workers w ON w.worker_id = u.worker_id " \
	"LEFT JOIN agent_data d ON d.agent_id = u.agent_id " \
	"LEFT JOIN assignment_data ad ON ad.assignment_id = u.assignment_id "

/* Each result of Q as a row for ROW_FN, or as a line for LINE_FN. */
static int
results_each(struct db *db, const struct run_results_query *q,
    run_result_fn *row_fn, run_line_fn *line_fn, void *arg, char **errp)
{
	struct buf line = BUF_INIT;
	sqlite3_stmt *st;
	cJSON *row;
	char *sql;
	int rc, r = 0;

	sql = xasprintf(RESULT_COLUMNS "%s%s" RESULT_FROM "%s",
	    line_fn ? RESULT_VALID : "0, 0, 0", q->review ? REVIEW_COLUMNS : "",
	    q->unit_id ? "WHERE u.unit_id = ?" :
	    q->run_id ? "WHERE u.task_run_id = ? ORDER BY u.unit_id" :
	    "JOIN task_runs r ON r.task_run_id = u.task_run_id "
	    "JOIN tasks t ON t.task_id = r.task_id WHERE t.task_name = ? "
	    "ORDER BY r.creation_date, u.task_run_id, u.unit_id");
	st = db_stmt(db, sql);
	free(sql);
	if (st && q->unit_id)
		sqlite3_bind_int64(st, 1, q->unit_id);
	else if (st && q->run_id)
		sqlite3_bind_int64(st, 1, q->run_id);
	else if (st)
		sqlite3_bind_text(st, 1, q->task_name, -1, SQLITE_STATIC);
	if (!st)
		return fail(db, errp, "cannot read results");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!status_wanted(q, (const char *)sqlite3_column_text(st,
		    6)))
			continue;
		if (line_fn) {
			buf_setlen(&line, 0);
			result_line(&line, st, q->review);
			r = line_fn(line.buf, line.len, arg);
		} else {
			row = result_row(st);
			if (q->review) {
				cJSON_AddItemToObject(row, "review",
				    col_json(st, 15));
				cJSON_AddNumberToObject(row, "bonus",
				    sqlite3_column_double(st, 17));
				cJSON_AddBoolToObject(row, "blocked",
				    sqlite3_column_int(st, 18));
			}
			r = row_fn(row, arg);
			cJSON_Delete(row);
		}
		if (r < 0)
			break;
	}
	sqlite3_reset(st);
	buf_release(&line);
	if (r < 0) {
		*errp = NULL;
		return -1;
	}
	if (rc != SQLITE_DONE)
		return fail(db, errp, "cannot read results");
	return 0;
}

int
run_results(struct db *db, const struct run_results_query *q,
    run_result_fn *fn, void *arg, char **errp)
{
	return results_each(db, q, fn, NULL, arg, errp);
}

int
run_results_lines(struct db *db, const struct run_results_query *q,
    run_line_fn *fn, void *arg, char **errp)
{
	return results_each(db, q, NULL, fn, arg, errp);
}

int
run_line_write(const char *line, size_t len, void *file)
{
	return fwrite(line, 1, len, file) == len ? 0 : -1;
}

int
run_units_get(struct db *db, int64_t run_id, struct run_units *u,
    char **errp)
{
	struct run_unit_row *r;
	sqlite3_stmt *st;
	int rc;

	st = db_stmt(db, "SELECT u.unit_id, u.assignment_id, u.unit_index, "
	    "u.status, u.agent_id, u.worker_id, w.worker_name, a.status, "
	    "d.task_start, d.task_end FROM units u "
	    "LEFT JOIN workers w ON w.worker_id = u.worker_id "
	    "LEFT JOIN agents a ON a.agent_id = u.agent_id "
	    "LEFT JOIN agent_data d ON d.agent_id = u.agent_id "
	    "WHERE u.task_run_id = ? ORDER BY u.unit_id");
	if (!st)
		return fail(db, errp, "cannot read the units");
	sqlite3_bind_int64(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ALLOC_GROW(u->row, u->nr + 1, u->alloc);
		r = &u->row[u->nr++];
		memset(r, 0, sizeof(*r));
		r->unit_id = sqlite3_column_int64(st, 0);
		r->assignment_id = sqlite3_column_int64(st, 1);
		r->unit_index = (long)sqlite3_column_int64(st, 2);
		snprintf(r->status, sizeof(r->status), "%s",
		    (const char *)sqlite3_column_text(st, 3));
		r->agent_id = sqlite3_column_int64(st, 4);
		r->worker_id = sqlite3_column_int64(st, 5);
		r->worker_name = col_strdup(st, 6);
		r->agent_status = col_strdup(st, 7);
		r->started = sqlite3_column_double(st, 8);
		r->ended = sqlite3_column_double(st, 9);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail(db, errp, "cannot read the units");
	return 0;
}

void
run_units_release(struct run_units *u)
{
	size_t i;

	for (i = 0; i < u->nr; i++) {
		free(u->row[i].worker_name);
		free(u->row[i].agent_status);
	}
	free(u->row);
	u->row = NULL;
	u->nr = u->alloc = 0;
}

char *
run_dir(const char *data_dir, int64_t run_id, char **errp)
{
	char *dir = xasprintf("%s/runs/%lld", data_dir, (long long)run_id);

	if (strlen(dir) + 1 + strlen(RUN_SOCKET_NAME) + 1 > SUN_PATH_MAX) {
		*errp = xasprintf("run folder '%s' is too long for its socket "
		    "(at most %d bytes); choose a shorter "
		    "core.main_data_directory", dir,
		    SUN_PATH_MAX - 2 - (int)strlen(RUN_SOCKET_NAME));
		free(dir);
		return NULL;
	}
	return dir;
}
