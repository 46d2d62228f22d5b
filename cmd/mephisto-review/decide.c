#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "model.h"
#include "msg.h"
#include "provider.h"
#include "review.h"
#include "xalloc.h"
#include "banned.h"

/*
 * One decision on one unit, in one BEGIN IMMEDIATE transaction: the
 * statuses, the worker_review row, grants and the ledger are committed
 * together with the provider's side (which for mock and inhouse is rows
 * of the same database), or not at all.
 *
 * A bonus is paid once per idempotency key: the key is looked up in the
 * ledger inside the transaction, the provider is called with it, and the
 * ledger row is committed with the decision.  A process killed before the
 * commit leaves no row, and a provider that already saw the key (a remote
 * one, after such a crash) pays nothing the second time.
 */

static const char *const verb_names[] = {
	[REVIEW_APPROVE] = "approve",
	[REVIEW_REJECT] = "reject",
	[REVIEW_SOFT_REJECT] = "soft-reject",
	[REVIEW_BONUS] = "bonus",
	[REVIEW_BLOCK] = "block",
	[REVIEW_UNBLOCK] = "unblock",
	[REVIEW_QUALIFY] = "qualify",
	[REVIEW_REVOKE] = "revoke",
};

const char *
review_verb_name(enum review_verb v)
{
	return verb_names[v];
}

int
review_verb_parse(const char *s, enum review_verb *v)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(verb_names); i++) {
		if (!strcmp(s, verb_names[i])) {
			*v = (enum review_verb)i;
			return 0;
		}
	}
	return -1;
}

struct db *
review_open_db(void)
{
	char *err = NULL, *path = conf_db_path(NULL, &err);
	struct db *db;

	if (!path)
		die("%s", err);
	db = db_open(path, &err);
	free(path);
	if (!db)
		die("%s", err);
	return db;
}

void
review_print_line(const cJSON *line)
{
	struct buf b = BUF_INIT;

	msg_write_line(line, &b);
	fputs(b.buf, stdout);
	buf_release(&b);
	fflush(stdout);
}

static char *
col_strdup(sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);

	return s ? xstrdup(s) : NULL;
}

int
review_unit_load(struct db *db, int64_t unit_id, struct review_unit *u)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT u.unit_id, u.assignment_id, "
	    "u.task_id, u.task_run_id, u.agent_id, u.worker_id, u.status, "
	    "w.worker_name, u.provider_type FROM units u LEFT JOIN workers w "
	    "ON w.worker_id = u.worker_id WHERE u.unit_id = ?");
	int rc;

	memset(u, 0, sizeof(*u));
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, unit_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		u->unit_id = sqlite3_column_int64(st, 0);
		u->assignment_id = sqlite3_column_int64(st, 1);
		u->task_id = sqlite3_column_int64(st, 2);
		u->task_run_id = sqlite3_column_int64(st, 3);
		u->agent_id = sqlite3_column_int64(st, 4);
		u->worker_id = sqlite3_column_int64(st, 5);
		snprintf(u->status, sizeof(u->status), "%s",
		    (const char *)sqlite3_column_text(st, 6));
		u->worker_name = col_strdup(st, 7);
		u->provider_type = col_strdup(st, 8);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : -1;
}

void
review_unit_release(struct review_unit *u)
{
	free(u->worker_name);
	free(u->provider_type);
	memset(u, 0, sizeof(*u));
}

int
review_status_reviewable(const char *status)
{
	return !strcmp(status, UNIT_COMPLETED);
}

/* Whether STATUS is in the original's completed() set. */
static int
status_done(const char *status)
{
	return !strcmp(status, UNIT_COMPLETED) ||
	    !strcmp(status, UNIT_ACCEPTED) || !strcmp(status, UNIT_REJECTED) ||
	    !strcmp(status, UNIT_SOFT_REJECTED);
}

char *
review_bonus_key(int64_t unit_id, const char *reason)
{
	return xasprintf("bonus:%lld:%s", (long long)unit_id,
	    reason ? reason : "");
}

/* The unit and agent statuses a review verb sets. */
static void
verb_statuses(enum review_verb v, const char **unit, const char **agent,
    const char **review)
{
	switch (v) {
	case REVIEW_APPROVE:
		*unit = UNIT_ACCEPTED;
		*agent = AGENT_APPROVED;
		*review = "approved";
		break;
	case REVIEW_REJECT:
		*unit = UNIT_REJECTED;
		*agent = AGENT_REJECTED;
		*review = "rejected";
		break;
	default:
		*unit = UNIT_SOFT_REJECTED;
		*agent = AGENT_SOFT_REJECTED;
		*review = "soft_rejected";
		break;
	}
}

/* Past tense of a review verb's unit status, for messages. */
static const char *
status_word(const char *status)
{
	if (!strcmp(status, UNIT_ACCEPTED))
		return "approved";
	if (!strcmp(status, UNIT_SOFT_REJECTED))
		return "soft-rejected";
	return status;
}

struct review_row {
	const char *status;		/* approved, rejected, ... or NULL */
	const char *note;
	double bonus;			/* 0: none */
	int blocked;			/* -1: leave the default */
	int64_t qual_id, qual_value;	/* updated_qualification_* */
	int64_t revoked_id;
};

static int
insert_review(struct db *db, const struct review_unit *u,
    const struct review_row *r)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO worker_review (unit_id, "
	    "worker_id, task_id, status, review_note, bonus, blocked_worker, "
	    "updated_qualification_id, updated_qualification_value, "
	    "revoked_qualification_id) VALUES (?, ?, ?, ?, ?, ?, "
	    "coalesce(?, false), ?, ?, ?)");

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, u->unit_id);
	sqlite3_bind_int64(st, 2, u->worker_id);
	sqlite3_bind_int64(st, 3, u->task_id);
	if (r->status)
		sqlite3_bind_text(st, 4, r->status, -1, SQLITE_STATIC);
	if (r->note)
		sqlite3_bind_text(st, 5, r->note, -1, SQLITE_STATIC);
	if (r->bonus > 0)
		sqlite3_bind_double(st, 6, r->bonus);
	if (r->blocked >= 0)
		sqlite3_bind_int(st, 7, r->blocked);
	if (r->qual_id) {
		sqlite3_bind_int64(st, 8, r->qual_id);
		sqlite3_bind_int64(st, 9, r->qual_value);
	}
	if (r->revoked_id)
		sqlite3_bind_int64(st, 10, r->revoked_id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

/* Whether the ledger has KEY: 1, 0, -1. */
static int
ledger_has(struct db *db, const char *key)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT 1 FROM ledger WHERE idempotency_key = ?");
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Record a paid bonus under KEY unless the provider did (mock and inhouse
 * write their own ledger rows).
 */
static int
ledger_record(struct db *db, const struct review_unit *u, double amount,
    const char *reason, const char *key)
{
	sqlite3_stmt *st;
	int has = ledger_has(db, key);

	if (has)
		return has < 0 ? -1 : 0;
	st = db_stmt(db, "INSERT INTO ledger (ledger_id, idempotency_key, "
	    "kind, worker_id, unit_id, task_run_id, amount, reason, status, "
	    "provider_type) VALUES (?, ?, 'bonus', ?, ?, ?, ?, ?, 'paid', ?)");
	if (!st)
		return -1;
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, u->worker_id);
	sqlite3_bind_int64(st, 4, u->unit_id);
	sqlite3_bind_int64(st, 5, u->task_run_id);
	sqlite3_bind_double(st, 6, amount);
	if (reason)
		sqlite3_bind_text(st, 7, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, u->provider_type, -1, SQLITE_STATIC);
	if (db_insert_id(db, st, 1, NULL) < 0)
		return -1;
	sqlite3_reset(st);
	return 0;
}

/*
 * For tests of crash safety: MEPHISTO_TEST_REVIEW_DIE_AT=N kills the
 * process with SIGKILL after the provider has been asked to pay the Nth
 * bonus, before the transaction commits.
 */
static void
test_die_point(void)
{
	static long count;
	const char *s = getenv("MEPHISTO_TEST_REVIEW_DIE_AT");

	if (s && *s && ++count == strtol(s, NULL, 10))
		kill(getpid(), SIGKILL);
}

static cJSON *
new_line(const struct decision *d, const struct review_unit *u,
    const char *key, unsigned flags)
{
	cJSON *o = msg_new_object();

	msg_set_id(o, "unit_id", u->unit_id);
	msg_set_id(o, "worker_id", u->worker_id);
	msg_set_str(o, "worker_name", u->worker_name);
	msg_set_str(o, "decision", review_verb_name(d->verb));
	msg_set_str(o, "note", d->note);
	if (d->verb == REVIEW_BONUS) {
		msg_set_double(o, "bonus", d->amount);
		msg_set_str(o, "key", key);
	} else {
		msg_set_null(o, "bonus");
	}
	if (d->verb == REVIEW_QUALIFY || d->verb == REVIEW_REVOKE)
		msg_set_str(o, "qualification", d->qual);
	if (d->verb == REVIEW_QUALIFY)
		msg_set_int(o, "value", d->value);
	msg_set_timestamp(o, "time", msg_now());
	if (flags & REVIEW_DRY_RUN)
		msg_set_bool(o, "dry_run", 1);
	return o;
}

/* The provider of U, or NULL with *MSGP set. */
static const struct provider *
unit_provider(const struct review_unit *u, char **msgp)
{
	const struct provider *p = provider_find(u->provider_type);

	if (!p)
		*msgp = xasprintf("unit %lld has an unknown provider '%s'",
		    (long long)u->unit_id, u->provider_type);
	return p;
}

/*
 * Check that U can take decision D.  Returns 1 to go on, 0 when it is
 * already in effect, -1 when refused; *MSGP says why.
 */
static int
check_unit(const struct decision *d, const struct review_unit *u,
    unsigned flags, char **msgp)
{
	const char *ustatus, *astatus, *rstatus;
	long long id = (long long)u->unit_id;

	if (!u->worker_id || !u->agent_id) {
		*msgp = xasprintf("unit %lld is %s and has no worker to review",
		    id, u->status);
		return -1;
	}
	switch (d->verb) {
	case REVIEW_APPROVE:
	case REVIEW_REJECT:
	case REVIEW_SOFT_REJECT:
		verb_statuses(d->verb, &ustatus, &astatus, &rstatus);
		if (!strcmp(u->status, ustatus)) {
			*msgp = xasprintf("unit %lld is already %s", id,
			    status_word(ustatus));
			return 0;
		}
		if (review_status_reviewable(u->status) ||
		    (flags & REVIEW_FORCE))
			return 1;
		if (status_done(u->status))
			*msgp = xasprintf("unit %lld was already %s (use "
			    "--force to change the decision)", id,
			    status_word(u->status));
		else
			*msgp = xasprintf("unit %lld is %s, not completed "
			    "(use --force to decide it anyway)", id,
			    u->status);
		return -1;
	default:
		if (status_done(u->status) || (flags & REVIEW_FORCE))
			return 1;
		*msgp = xasprintf("unit %lld is %s, not completed (use "
		    "--force to %s its worker anyway)", id, u->status,
		    review_verb_name(d->verb));
		return -1;
	}
}

/* The verb-specific part, inside the transaction. */
static int
apply(struct db *db, const struct decision *d, const struct review_unit *u,
    const struct provider *p, const char *key, unsigned flags,
    char **msgp)
{
	struct review_row r = { NULL, d->note, 0, -1, 0, 0, 0 };
	const char *ustatus, *astatus;
	char *err = NULL;
	int64_t qid = 0, value;
	int rc = 0, yes, exists, granted;
	long long id = (long long)u->unit_id;

	switch (d->verb) {
	case REVIEW_APPROVE:
	case REVIEW_REJECT:
	case REVIEW_SOFT_REJECT:
		verb_statuses(d->verb, &ustatus, &astatus, &r.status);
		if (flags & REVIEW_DRY_RUN)
			return 1;
		if (model_agent_set_status(db, u->agent_id, NULL, astatus,
		    NULL) < 0 || model_unit_set_status(db, u->unit_id, NULL,
		    ustatus, NULL) < 0)
			return -2;
		if (d->verb == REVIEW_APPROVE)
			rc = provider_agent_approve(p, db, u->agent_id,
			    d->note, &err);
		else if (d->verb == REVIEW_REJECT)
			rc = provider_agent_reject(p, db, u->agent_id,
			    d->note, &err);
		else
			rc = provider_agent_soft_reject(p, db, u->agent_id,
			    d->note, &err);
		break;
	case REVIEW_BONUS:
		rc = ledger_has(db, key);
		if (rc < 0)
			return -2;
		if (rc) {
			*msgp = xasprintf("unit %lld: bonus '%s' was already "
			    "paid", id, key);
			return 0;
		}
		if (flags & REVIEW_DRY_RUN)
			return 1;
		rc = provider_worker_bonus(p, db, u->worker_id, d->amount,
		    d->note, u->unit_id, key, &err);
		if (rc == 0) {
			test_die_point();
			if (ledger_record(db, u, d->amount, d->note, key) < 0)
				return -2;
		}
		r.bonus = d->amount;
		break;
	case REVIEW_BLOCK:
	case REVIEW_UNBLOCK:
		if (provider_worker_is_blocked(p, db, u->worker_id, &yes,
		    &err) < 0)
			break;
		if (yes == (d->verb == REVIEW_BLOCK)) {
			*msgp = xasprintf("worker '%s' is already %s",
			    u->worker_name, yes ? "blocked" : "not blocked");
			return 0;
		}
		if (flags & REVIEW_DRY_RUN)
			return 1;
		if (d->verb == REVIEW_BLOCK)
			rc = provider_worker_block(p, db, u->worker_id,
			    d->note, &err);
		else
			rc = provider_worker_unblock(p, db, u->worker_id,
			    &err);
		r.blocked = d->verb == REVIEW_BLOCK;
		break;
	case REVIEW_QUALIFY:
		if (model_grant_get(db, u->worker_id, d->qual, &exists,
		    &granted, &value) < 0)
			return -2;
		if (granted && value == d->value) {
			*msgp = xasprintf("worker '%s' already has '%s' = %lld",
			    u->worker_name, d->qual, (long long)value);
			return 0;
		}
		if (flags & REVIEW_DRY_RUN)
			return 1;
		if (model_grant_name(db, u->worker_id, d->qual,
		    d->value) < 0 || model_qual_find(db, d->qual, &qid) < 0)
			return -2;
		rc = provider_qual_grant(p, db, u->worker_id, d->qual,
		    d->value, &err);
		r.qual_id = qid;
		r.qual_value = d->value;
		break;
	case REVIEW_REVOKE:
		rc = model_qual_find(db, d->qual, &qid);
		if (rc < 0)
			return -2;
		if (!rc) {
			*msgp = xasprintf("no qualification '%s'", d->qual);
			return -1;
		}
		if (model_grant_get(db, u->worker_id, d->qual, &exists,
		    &granted, &value) < 0)
			return -2;
		if (!granted) {
			*msgp = xasprintf("worker '%s' has no grant of '%s'",
			    u->worker_name, d->qual);
			return 0;
		}
		if (flags & REVIEW_DRY_RUN)
			return 1;
		if (model_revoke(db, u->worker_id, qid) < 0)
			return -2;
		rc = provider_qual_revoke(p, db, u->worker_id, d->qual, &err);
		r.revoked_id = qid;
		break;
	}
	if (rc < 0 || err) {
		*msgp = err ? err : xasprintf("unit %lld: the provider "
		    "failed", id);
		return -1;
	}
	if (insert_review(db, u, &r) < 0)
		return -2;
	return 1;
}

int
review_decide(struct db *db, const struct decision *d, int64_t unit_id,
    unsigned flags, cJSON **linep, char **msgp)
{
	const struct provider *p;
	struct review_unit u;
	char *key = NULL;
	int rc;

	*linep = NULL;
	*msgp = NULL;
	if (db_begin(db) < 0) {
		*msgp = xasprintf("cannot start a transaction: %s",
		    db_errmsg(db));
		return -1;
	}
	rc = review_unit_load(db, unit_id, &u);
	if (rc < 0)
		goto db_fail;
	if (!rc) {
		*msgp = xasprintf("no unit %lld", (long long)unit_id);
		rc = -1;
		goto out;
	}
	rc = check_unit(d, &u, flags, msgp);
	if (rc <= 0)
		goto out;
	p = unit_provider(&u, msgp);
	if (!p) {
		rc = -1;
		goto out;
	}
	if (d->verb == REVIEW_BONUS)
		key = d->key ? xstrdup(d->key) :
		    review_bonus_key(u.unit_id, d->note);
	rc = apply(db, d, &u, p, key, flags, msgp);
	if (rc == -2)
		goto db_fail;
	if (rc == 1 && !(flags & REVIEW_DRY_RUN)) {
		if (db_commit(db) < 0) {
			*msgp = xasprintf("cannot record the decision on unit "
			    "%lld: %s", (long long)unit_id, db_errmsg(db));
			rc = -1;
			goto done;
		}
	} else {
		db_rollback(db);
	}
	if (rc == 1)
		*linep = new_line(d, &u, key, flags);
	goto done;
db_fail:
	*msgp = xasprintf("cannot record the decision on unit %lld: %s",
	    (long long)unit_id, db_errmsg(db));
	rc = -1;
out:
	db_rollback(db);
done:
	free(key);
	review_unit_release(&u);
	return rc;
}

int
review_bonus_plan(struct db *db, const struct decision *d, int64_t unit_id,
    unsigned flags, char **worker_name, int *paid, char **msgp)
{
	struct review_unit u;
	char *key;
	int rc;

	*msgp = NULL;
	*worker_name = NULL;
	rc = review_unit_load(db, unit_id, &u);
	if (rc <= 0) {
		if (!rc)
			*msgp = xasprintf("no unit %lld", (long long)unit_id);
		return rc;
	}
	if (check_unit(d, &u, flags, msgp) < 0) {
		review_unit_release(&u);
		return 0;
	}
	key = d->key ? xstrdup(d->key) : review_bonus_key(u.unit_id,
	    d->note);
	rc = ledger_has(db, key);
	free(key);
	if (rc >= 0) {
		*paid = rc;
		*worker_name = u.worker_name;
		u.worker_name = NULL;
		rc = 1;
	}
	review_unit_release(&u);
	return rc;
}
