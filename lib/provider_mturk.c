#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "model.h"
#include "msg.h"
#include "provider.h"
#include "task.h"
#include "vendor.h"
#include "xalloc.h"
#include "banned.h"

/*
 * Amazon Mechanical Turk (facts section 2), through the MTurk JSON 1.1
 * API; requests are signed (Signature Version 4) by libcurl's own
 * CURLOPT_AWS_SIGV4, never by hand.
 *
 * Settings: mturk.access_key_id and mturk.secret_access_key, or
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (which win);
 * mturk.endpoint / mturk_sandbox.endpoint (default: Amazon's production
 * and sandbox hosts) for tests and private deployments; mturk.timeout,
 * mturk.retry_ms, mturk.attempts.
 *
 * A run has one HIT type (CreateHITType at run set-up); each launched
 * unit one ExternalQuestion HIT pointing at the task URL, created with a
 * UniqueRequestToken derived from the unit, so a retry never makes a
 * second HIT.  The browser registers with "<assignmentId>-<workerId>";
 * that is how an agent finds its assignment.  SendBonus carries a token
 * derived from the ledger's idempotency key, so a retry (even after a
 * crash) never pays twice, and MTurk's "already" answer to a repeated
 * token counts as paid.  Amounts are dollars with two decimals; reject
 * feedback is always sent.
 */

#define TARGET "X-Amz-Target: MTurkRequesterServiceV20170117."
#define PROD_URL "https://mturk-requester.us-east-1.amazonaws.com/"
#define SANDBOX_URL "https://mturk-requester-sandbox.us-east-1.amazonaws.com/"
#define QUESTION_NS "http://mechanicalturk.amazonaws.com/" \
	"AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"

struct turk {
	struct vendor v;
	const char *type;	/* "mturk" or "mturk_sandbox" */
	int sandbox;
	struct db *db;
};

static void
turk_release(struct turk *t)
{
	vendor_release(&t->v);
}

static int
turk_open(struct turk *t, struct db *db, int sandbox, char **errp)
{
	struct vendor v0 = VENDOR_INIT;
	const char *id_env = getenv("AWS_ACCESS_KEY_ID");
	const char *secret_env = getenv("AWS_SECRET_ACCESS_KEY");
	char *id, *secret, *url;
	size_t n;

	t->v = v0;
	t->type = sandbox ? "mturk_sandbox" : "mturk";
	t->v.name = "mturk";
	t->sandbox = sandbox;
	t->db = db;
	if (vendor_load(&t->v, NULL, errp) < 0)
		return -1;
	if (id_env && *id_env && secret_env && *secret_env) {
		id = xstrdup(id_env);
		secret = xstrdup(secret_env);
	} else {
		id = vendor_conf_str(NULL, "mturk.access_key_id");
		secret = vendor_conf_str(NULL, "mturk.secret_access_key");
	}
	if (!id || !secret) {
		free(id);
		if (secret)
			memset(secret, 0, strlen(secret));
		free(secret);
		return error_setf(errp, EINVAL, "no AWS credentials for "
		    "MTurk: set mturk.access_key_id and "
		    "mturk.secret_access_key, or AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY");
	}
	t->v.userpwd = xasprintf("%s:%s", id, secret);
	memset(secret, 0, strlen(secret));
	free(secret);
	free(id);
	t->v.sigv4 = xstrdup("aws:amz:us-east-1:mturk-requester");
	url = vendor_conf_str(NULL, sandbox ? "mturk_sandbox.endpoint" :
	    "mturk.endpoint");
	if (!url)
		url = xstrdup(sandbox ? SANDBOX_URL : PROD_URL);
	n = strlen(url);
	t->v.base_url = n && url[n - 1] == '/' ? url : xasprintf("%s/", url);
	if (t->v.base_url != url)
		free(url);
	return 0;
}

/*
 * Operation OP with input BODY (consumed); the output in *OUT when OUT is
 * not NULL.  RETRY: safe to repeat (reads, and writes protected by a
 * token or idempotent on MTurk's side).
 */
static int
op(struct turk *t, const char *opname, cJSON *body, int retry, cJSON **out,
    char **errp)
{
	struct vendor_reply r = VENDOR_REPLY_INIT;
	struct buf b = BUF_INIT;
	const char *hdrs[3];
	char *target = xasprintf("%s%s", TARGET, opname), *err = NULL;
	int rc;

	if (out)
		*out = NULL;
	msg_print(body, &b);
	msg_free(body);
	hdrs[0] = "Content-Type: application/x-amz-json-1.1";
	hdrs[1] = target;
	hdrs[2] = NULL;
	rc = vendor_request(&t->v, "POST", "", b.buf, hdrs,
	    retry ? VENDOR_RETRY : 0, &r, &err);
	if (rc < 0) {
		/* Name the operation rather than the path "/". */
		const char *msg = err ? strstr(err, ": ") : NULL;

		error_setf(errp, EIO, "mturk %s%s", opname, msg ? msg :
		    ": failed");
		free(err);
	} else if (out && r.body && *r.body) {
		*out = msg_parse(r.body, strlen(r.body), 0, NULL);
	}
	free(target);
	buf_release(&b);
	vendor_reply_release(&r);
	return rc;
}

static char *
jstr(const cJSON *j, const char *key)
{
	const cJSON *v = j ? msg_get(j, key) : NULL;

	return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

static char *
db_text(struct db *db, const char *sql, int64_t id)
{
	sqlite3_stmt *st = db_stmt(db, sql);
	char *r = NULL;

	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		r = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return r;
}

/* The MTurk worker id of WORKER_ID (the sandbox suffix taken off). */
static char *
worker_id_of(struct db *db, int64_t worker_id, int sandbox, char **errp)
{
	char *name = db_text(db, "SELECT worker_name FROM workers "
	    "WHERE worker_id = ?", worker_id);
	size_t n, s = strlen(PROVIDER_SANDBOX_SUFFIX);

	if (!name) {
		error_setf(errp, ENOENT, "no worker %lld",
		    (long long)worker_id);
		return NULL;
	}
	n = strlen(name);
	if (sandbox && n > s && !strcmp(name + n - s,
	    PROVIDER_SANDBOX_SUFFIX))
		name[n - s] = '\0';
	return name;
}

/* The assignment of AGENT_ID ("<assignmentId>-<workerId>"). */
static char *
assignment_of(struct db *db, int64_t agent_id, char **errp)
{
	char *reg = db_text(db, "SELECT registration_id FROM "
	    "agent_registrations WHERE agent_id = ?", agent_id);
	char *dash;

	if (!reg || !(dash = strchr(reg, '-')) || dash == reg) {
		error_setf(errp, ENOENT, "agent %lld has no MTurk assignment",
		    (long long)agent_id);
		free(reg);
		return NULL;
	}
	*dash = '\0';
	return reg;
}

static char *
id_ref(int64_t id)
{
	return xasprintf("%lld", (long long)id);
}

/* --- runs and units --- */

static int
run_setup(struct db *db, int sandbox, int64_t run, const char *task_url,
    char **errp)
{
	struct task_config cfg = TASK_CONFIG_INIT;
	struct vendor_rec rec = VENDOR_REC_INIT;
	char *json = NULL, *ref = id_ref(run), *amount = NULL;
	cJSON *body, *out = NULL, *quals, *q, *locs, *l;
	static const char *const countries[] = { "US", "CA", "GB", "AU",
	    "NZ" };
	struct turk t;
	size_t i;
	int rc = -1, have;

	memset(&t, 0, sizeof(t));
	have = vendor_rec_get(db, sandbox ? "mturk_sandbox" : "mturk",
	    "hittype", ref, &rec, errp);
	if (have < 0)
		goto out;
	if (have && rec.remote_id) {
		rc = 0;
		goto out;
	}
	json = db_text(db, "SELECT init_params FROM task_runs "
	    "WHERE task_run_id = ?", run);
	if (!json || task_config_from_json(&cfg, json, errp) < 0) {
		if (!json)
			error_setf(errp, ENOENT, "no task run %lld",
			    (long long)run);
		goto out;
	}
	if (turk_open(&t, db, sandbox, errp) < 0)
		goto out;
	body = msg_new_object();
	msg_set_int(body, "AutoApprovalDelayInSeconds", 604800);
	msg_set_int(body, "AssignmentDurationInSeconds",
	    cfg.assignment_duration_in_seconds);
	amount = xasprintf("%.2f", cfg.task_reward);
	msg_set_str(body, "Reward", amount);
	msg_set_str(body, "Title", cfg.task_title);
	msg_set_str(body, "Keywords", cfg.task_tags ? cfg.task_tags : "");
	msg_set_str(body, "Description", cfg.task_description);
	quals = msg_set_array(body, "QualificationRequirements");
	if (!sandbox) {
		q = msg_new_object();
		msg_set_str(q, "QualificationTypeId", "00000000000000000071");
		msg_set_str(q, "Comparator", "In");
		locs = msg_set_array(q, "LocaleValues");
		for (i = 0; i < ARRAY_SIZE(countries); i++) {
			l = msg_new_object();
			msg_set_str(l, "Country", countries[i]);
			msg_push(locs, l);
		}
		msg_set_str(q, "ActionsGuarded", "DiscoverPreviewAndAccept");
		msg_push(quals, q);
	}
	/* CreateHITType is idempotent: the same input gives the same id. */
	if (op(&t, "CreateHITType", body, 1, &out, errp) < 0)
		goto out;
	rec.remote_id = jstr(out, "HITTypeId");
	if (!rec.remote_id) {
		error_setf(errp, EIO, "mturk CreateHITType: no HITTypeId");
		goto out;
	}
	rec.state = xstrdup("active");
	rec.task_run_id = run;
	rec.detail = xstrdup(task_url);
	rc = vendor_rec_put(db, t.type, "hittype", ref, &rec, errp);
out:
	msg_free(out);
	vendor_rec_release(&rec);
	task_config_release(&cfg);
	turk_release(&t);
	free(json);
	free(ref);
	free(amount);
	return rc;
}

/* URL with '&' written as "&amp;" for the XML. */
static void
add_xml(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '&')
			buf_addstr(b, "&amp;");
		else if (*s == '<')
			buf_addstr(b, "&lt;");
		else if (*s == '>')
			buf_addstr(b, "&gt;");
		else
			buf_addch(b, *s);
	}
}

static int
unit_launch(struct db *db, int sandbox, int64_t unit_id, const char *url,
    char **errp)
{
	struct vendor_rec type = VENDOR_REC_INIT, rec = VENDOR_REC_INIT;
	const char *tname = sandbox ? "mturk_sandbox" : "mturk";
	struct buf q = BUF_INIT;
	char *ref = NULL, *token = NULL, *key;
	cJSON *body, *out = NULL;
	const cJSON *hit;
	int64_t run;
	long lifetime = 2678400;
	struct turk t;
	int rc = -1, have;

	memset(&t, 0, sizeof(t));
	if (provider_local_unit_expire(db, tname, unit_id, 0, errp) < 0)
		return -1;
	ref = id_ref(unit_id);
	have = vendor_rec_get(db, tname, "hit", ref, &rec, errp);
	if (have < 0)
		goto out;
	if (have && rec.remote_id) {
		rc = 0;
		goto out;
	}
	{
		sqlite3_stmt *st = db_stmt(db, "SELECT task_run_id FROM units "
		    "WHERE unit_id = ?");

		run = 0;
		if (st) {
			sqlite3_bind_int64(st, 1, unit_id);
			if (sqlite3_step(st) == SQLITE_ROW)
				run = sqlite3_column_int64(st, 0);
			sqlite3_reset(st);
		}
	}
	key = id_ref(run);
	have = vendor_rec_get(db, tname, "hittype", key, &type, errp);
	free(key);
	if (have <= 0) {
		if (!have)
			error_setf(errp, ENOENT, "run %lld has no HIT type",
			    (long long)run);
		goto out;
	}
	if (turk_open(&t, db, sandbox, errp) < 0)
		goto out;
	buf_addf(&q, "<ExternalQuestion xmlns=\"%s\"><ExternalURL>",
	    QUESTION_NS);
	add_xml(&q, url);
	buf_addstr(&q, "</ExternalURL><FrameHeight>0</FrameHeight>"
	    "</ExternalQuestion>");
	key = xasprintf("hit:%s:%lld", tname, (long long)unit_id);
	token = vendor_token(key);
	free(key);
	body = msg_new_object();
	msg_set_str(body, "HITTypeId", type.remote_id);
	msg_set_int(body, "MaxAssignments", 1);
	msg_set_int(body, "LifetimeInSeconds", lifetime);
	msg_set_str(body, "Question", q.buf);
	msg_set_str(body, "UniqueRequestToken", token);
	rec.state = xstrdup("creating");
	rec.task_run_id = run;
	rec.unit_id = unit_id;
	if (vendor_rec_put(db, tname, "hit", ref, &rec, errp) < 0) {
		msg_free(body);
		goto out;
	}
	if (op(&t, "CreateHITWithHITType", body, 1, &out, errp) < 0)
		goto out;
	hit = msg_get(out, "HIT");
	rec.remote_id = jstr(hit, "HITId");
	if (!rec.remote_id) {
		error_setf(errp, EIO, "mturk CreateHITWithHITType: no HITId");
		goto out;
	}
	free(rec.state);
	rec.state = xstrdup("live");
	rc = vendor_rec_put(db, tname, "hit", ref, &rec, errp);
out:
	msg_free(out);
	vendor_rec_release(&rec);
	vendor_rec_release(&type);
	turk_release(&t);
	buf_release(&q);
	free(ref);
	free(token);
	return rc;
}

static int
unit_expire(struct db *db, int sandbox, int64_t unit_id, char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT;
	const char *tname = sandbox ? "mturk_sandbox" : "mturk";
	char *ref = id_ref(unit_id);
	cJSON *body;
	struct turk t;
	int rc = -1, have;

	memset(&t, 0, sizeof(t));
	if (provider_local_unit_expire(db, tname, unit_id, 1, errp) < 0)
		goto out;
	have = vendor_rec_get(db, tname, "hit", ref, &rec, errp);
	if (have <= 0 || !rec.remote_id || !strcmp(rec.state, "expired")) {
		rc = have < 0 ? -1 : 0;
		goto out;
	}
	if (turk_open(&t, db, sandbox, errp) < 0)
		goto out;
	body = msg_new_object();
	msg_set_str(body, "HITId", rec.remote_id);
	msg_set_int(body, "ExpireAt", 0);
	if (op(&t, "UpdateExpirationForHIT", body, 1, NULL, errp) < 0)
		goto out;
	free(rec.state);
	rec.state = xstrdup("expired");
	rc = vendor_rec_put(db, tname, "hit", ref, &rec, errp);
out:
	vendor_rec_release(&rec);
	turk_release(&t);
	free(ref);
	return rc;
}

/* --- requesters and workers --- */

static int
requester_budget(struct db *db, int sandbox, double *outp, char **errp)
{
	cJSON *out = NULL;
	char *bal;
	struct turk t;
	int rc = -1;

	if (turk_open(&t, db, sandbox, errp) == 0 &&
	    op(&t, "GetAccountBalance", msg_new_object(), 1, &out,
	    errp) == 0) {
		bal = jstr(out, "AvailableBalance");
		if (bal) {
			*outp = strtod(bal, NULL);
			rc = 0;
		} else {
			error_setf(errp, EIO, "mturk GetAccountBalance: no "
			    "AvailableBalance");
		}
		free(bal);
	}
	msg_free(out);
	turk_release(&t);
	return rc;
}

static int
requester_register(struct db *db, int sandbox, int64_t requester_id,
    char **errp)
{
	double bal;

	/* A signed call proves the credentials. */
	if (requester_budget(db, sandbox, &bal, errp) < 0)
		return -1;
	return provider_local_requester_register(db,
	    sandbox ? "mturk_sandbox" : "mturk", requester_id, errp);
}

static int
worker_bonus(struct db *db, int sandbox, int64_t worker_id, double amount,
    const char *reason, int64_t unit_id, const char *key, char **errp)
{
	char *wid = NULL, *asg = NULL, *token = NULL, *amt = NULL, *err = NULL;
	sqlite3_stmt *st;
	int64_t agent = 0;
	cJSON *body;
	struct turk t;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	if (!key || !*key)
		return error_setf(errp, EINVAL, "a bonus needs an "
		    "idempotency key");
	if (!(amount >= 0.01) || amount >= 1e7)
		return error_setf(errp, EINVAL, "a bonus must be at least "
		    "0.01");
	st = db_stmt(db, "SELECT agent_id FROM agents WHERE unit_id = ? "
	    "AND worker_id = ? ORDER BY creation_date DESC LIMIT 1");
	if (st) {
		sqlite3_bind_int64(st, 1, unit_id);
		sqlite3_bind_int64(st, 2, worker_id);
		if (sqlite3_step(st) == SQLITE_ROW)
			agent = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	if (!(wid = worker_id_of(db, worker_id, sandbox, errp)) ||
	    !(asg = assignment_of(db, agent, errp)) ||
	    turk_open(&t, db, sandbox, errp) < 0)
		goto out;
	token = vendor_token(key);
	amt = xasprintf("%.2f", amount);
	body = msg_new_object();
	msg_set_str(body, "WorkerId", wid);
	msg_set_str(body, "BonusAmount", amt);
	msg_set_str(body, "AssignmentId", asg);
	msg_set_str(body, "Reason", reason && *reason ? reason :
	    "A bonus for your work.");
	msg_set_str(body, "UniqueRequestToken", token);
	/* The token makes a repeat pay nothing: retrying is safe. */
	rc = op(&t, "SendBonus", body, 1, NULL, &err);
	if (rc < 0 && err && strstr(err, token)) {
		log_info("mturk: bonus '%s' was sent before (token %s)", key,
		    token);
		rc = 0;
	} else if (rc < 0) {
		error_setf(errp, EIO, "%s", err);
	}
out:
	free(err);
	free(wid);
	free(asg);
	free(token);
	free(amt);
	turk_release(&t);
	return rc;
}

static int
worker_block(struct db *db, int sandbox, int64_t worker_id,
    const char *reason, int on, char **errp)
{
	char *wid = worker_id_of(db, worker_id, sandbox, errp);
	cJSON *body;
	struct turk t;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	if (!wid || turk_open(&t, db, sandbox, errp) < 0)
		goto out;
	body = msg_new_object();
	msg_set_str(body, "WorkerId", wid);
	msg_set_str(body, "Reason", reason && *reason ? reason :
	    on ? "Blocked by the requester." : "Unblocked.");
	if (op(&t, on ? "CreateWorkerBlock" : "DeleteWorkerBlock", body, 1,
	    NULL, errp) < 0)
		goto out;
	rc = provider_local_block(db, sandbox ? "mturk_sandbox" : "mturk",
	    worker_id, on, reason, errp);
out:
	free(wid);
	turk_release(&t);
	return rc;
}

/* The qualification type named NAME, created when missing. */
static char *
qual_type(struct turk *t, const char *name, char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT;
	char *full = xasprintf("%s%s", name, t->sandbox ?
	    PROVIDER_SANDBOX_SUFFIX : "");
	char *id = NULL, *err = NULL;
	cJSON *body, *out = NULL;
	const cJSON *e;
	int have;

	have = vendor_rec_get(t->db, t->type, "qualtype", full, &rec, errp);
	if (have < 0)
		goto out;
	if (have && rec.remote_id) {
		id = xstrdup(rec.remote_id);
		goto out;
	}
	body = msg_new_object();
	msg_set_str(body, "Name", full);
	msg_set_str(body, "Description", "Equivalent qualification for ");
	{
		char *d = xasprintf("Equivalent qualification for %s.", name);

		msg_set_str(body, "Description", d);
		free(d);
	}
	msg_set_str(body, "QualificationTypeStatus", "Active");
	if (op(t, "CreateQualificationType", body, 0, &out, &err) == 0) {
		id = jstr(msg_get(out, "QualificationType"),
		    "QualificationTypeId");
	} else if (strstr(err, "already created")) {
		body = msg_new_object();
		msg_set_str(body, "Query", full);
		msg_set_bool(body, "MustBeRequestable", 0);
		msg_set_bool(body, "MustBeOwnedByCaller", 1);
		msg_set_int(body, "MaxResults", 100);
		msg_free(out);
		out = NULL;
		if (op(t, "ListQualificationTypes", body, 1, &out, errp) < 0)
			goto out;
		cJSON_ArrayForEach(e, msg_get(out, "QualificationTypes")) {
			char *n = jstr(e, "Name");

			if (n && !strcmp(n, full))
				id = jstr(e, "QualificationTypeId");
			free(n);
			if (id)
				break;
		}
	} else {
		error_setf(errp, EIO, "%s", err);
		goto out;
	}
	if (!id) {
		error_setf(errp, EIO, "mturk: no qualification type '%s'",
		    full);
		goto out;
	}
	rec.remote_id = xstrdup(id);
	rec.state = xstrdup("active");
	if (vendor_rec_put(t->db, t->type, "qualtype", full, &rec,
	    errp) < 0) {
		free(id);
		id = NULL;
	}
out:
	msg_free(out);
	vendor_rec_release(&rec);
	free(full);
	free(err);
	return id;
}

static int
qual_set(struct db *db, int sandbox, int64_t worker_id, const char *q,
    int64_t value, int on, char **errp)
{
	char *wid = worker_id_of(db, worker_id, sandbox, errp), *qid = NULL;
	cJSON *body;
	struct turk t;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	if (!wid || turk_open(&t, db, sandbox, errp) < 0 ||
	    !(qid = qual_type(&t, q, errp)))
		goto out;
	body = msg_new_object();
	msg_set_str(body, "QualificationTypeId", qid);
	msg_set_str(body, "WorkerId", wid);
	if (on) {
		msg_set_int(body, "IntegerValue", value);
		msg_set_bool(body, "SendNotification", 0);
	} else {
		msg_set_str(body, "Reason", "");
	}
	rc = op(&t, on ? "AssociateQualificationWithWorker" :
	    "DisassociateQualificationFromWorker", body, 1, NULL, errp);
out:
	free(wid);
	free(qid);
	turk_release(&t);
	return rc;
}

static int
qual_cleanup(struct db *db, int sandbox, const char *q, char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT;
	const char *tname = sandbox ? "mturk_sandbox" : "mturk";
	char *full = xasprintf("%s%s", q, sandbox ?
	    PROVIDER_SANDBOX_SUFFIX : "");
	cJSON *body;
	struct turk t;
	int rc, have;

	memset(&t, 0, sizeof(t));
	have = vendor_rec_get(db, tname, "qualtype", full, &rec, errp);
	rc = have < 0 ? -1 : 0;
	if (have > 0 && rec.remote_id && strcmp(rec.state, "deleted")) {
		rc = turk_open(&t, db, sandbox, errp);
		body = msg_new_object();
		msg_set_str(body, "QualificationTypeId", rec.remote_id);
		if (rc == 0)
			rc = op(&t, "DeleteQualificationType", body, 1, NULL,
			    errp);
		else
			msg_free(body);
		if (rc == 0) {
			free(rec.state);
			rec.state = xstrdup("deleted");
			rc = vendor_rec_put(db, tname, "qualtype", full, &rec,
			    errp);
		}
	}
	vendor_rec_release(&rec);
	turk_release(&t);
	free(full);
	return rc;
}

/* --- agents --- */

static int
agent_decide(struct db *db, int sandbox, int64_t agent_id, int approve,
    const char *reason, char **errp)
{
	char *asg = assignment_of(db, agent_id, errp);
	cJSON *body;
	struct turk t;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	if (!asg || turk_open(&t, db, sandbox, errp) < 0)
		goto out;
	body = msg_new_object();
	msg_set_str(body, "AssignmentId", asg);
	if (approve) {
		msg_set_bool(body, "OverrideRejection", 1);
		if (reason && *reason)
			msg_set_str(body, "RequesterFeedback", reason);
	} else {
		/* RejectAssignment fails without feedback. */
		msg_set_str(body, "RequesterFeedback", reason && *reason ?
		    reason : "The work does not meet the requirements of "
		    "the task.");
	}
	rc = op(&t, approve ? "ApproveAssignment" : "RejectAssignment", body,
	    1, NULL, errp);
out:
	free(asg);
	turk_release(&t);
	return rc;
}

/* --- the two providers --- */

#define TURK_PROVIDER(id, NAME, SB, DESCRIPTION, REQUESTER)		\
static int								\
id##_run_setup(struct db *db, int64_t run, const char *url,		\
    char **errp)							\
{									\
	return run_setup(db, SB, run, url, errp);			\
}									\
static int								\
id##_requester_register(struct db *db, int64_t rid, char **errp)	\
{									\
	return requester_register(db, SB, rid, errp);			\
}									\
static int								\
id##_requester_budget(struct db *db, int64_t rid, double *out,		\
    char **errp)							\
{									\
	return requester_budget(db, SB, out, errp);			\
}									\
static int								\
id##_unit_launch(struct db *db, int64_t unit, const char *url,		\
    char **errp)							\
{									\
	return unit_launch(db, SB, unit, url, errp);			\
}									\
static int								\
id##_unit_expire(struct db *db, int64_t unit, char **errp)		\
{									\
	return unit_expire(db, SB, unit, errp);				\
}									\
static int								\
id##_worker_create(struct db *db, const char *name, int64_t *wid,	\
    char **errp)							\
{									\
	return provider_local_worker_create(db, NAME, SB, name, wid,	\
	    errp);							\
}									\
static int								\
id##_worker_bonus(struct db *db, int64_t wid, double amount,		\
    const char *reason, int64_t unit, const char *key, char **errp)	\
{									\
	return worker_bonus(db, SB, wid, amount, reason, unit, key,	\
	    errp);							\
}									\
static int								\
id##_worker_block(struct db *db, int64_t wid, const char *reason,	\
    char **errp)							\
{									\
	return worker_block(db, SB, wid, reason, 1, errp);		\
}									\
static int								\
id##_worker_unblock(struct db *db, int64_t wid, char **errp)		\
{									\
	return worker_block(db, SB, wid, NULL, 0, errp);		\
}									\
static int								\
id##_worker_is_blocked(struct db *db, int64_t wid, int *out,		\
    char **errp)							\
{									\
	return provider_local_is_blocked(db, NAME, wid, out, errp);	\
}									\
static int								\
id##_worker_is_eligible(struct db *db, int64_t wid, int64_t run,	\
    int *out, char **errp)						\
{									\
	int b;								\
									\
	if (provider_local_is_blocked(db, NAME, wid, &b, errp) < 0)	\
		return -1;						\
	*out = !b;							\
	return 0;							\
}									\
static int								\
id##_qual_grant(struct db *db, int64_t wid, const char *q,		\
    int64_t value, char **errp)						\
{									\
	return qual_set(db, SB, wid, q, value, 1, errp);		\
}									\
static int								\
id##_qual_revoke(struct db *db, int64_t wid, const char *q,		\
    char **errp)							\
{									\
	return qual_set(db, SB, wid, q, 0, 0, errp);			\
}									\
static int								\
id##_qual_cleanup(struct db *db, const char *q, char **errp)		\
{									\
	return qual_cleanup(db, SB, q, errp);				\
}									\
static int								\
id##_agent_approve(struct db *db, int64_t agent, const char *reason,	\
    char **errp)							\
{									\
	return agent_decide(db, SB, agent, 1, reason, errp);		\
}									\
static int								\
id##_agent_reject(struct db *db, int64_t agent, const char *reason,	\
    char **errp)							\
{									\
	return agent_decide(db, SB, agent, 0, reason, errp);		\
}									\
									\
const struct provider provider_##id = {					\
	.name = NAME,							\
	.sandbox = SB,							\
	.description = DESCRIPTION,					\
	.web_script = "mturk",						\
	.requester_name = REQUESTER,					\
	.run_setup = id##_run_setup,					\
	.requester_register = id##_requester_register,			\
	.requester_is_registered = provider_local_requester_is_registered, \
	.requester_budget = id##_requester_budget,			\
	.unit_launch = id##_unit_launch,				\
	.unit_expire = id##_unit_expire,				\
	.unit_is_expired = provider_local_unit_is_expired,		\
	.worker_create = id##_worker_create,				\
	.worker_bonus = id##_worker_bonus,				\
	.worker_block = id##_worker_block,				\
	.worker_unblock = id##_worker_unblock,				\
	.worker_is_blocked = id##_worker_is_blocked,			\
	.worker_is_eligible = id##_worker_is_eligible,			\
	.qual_grant = id##_qual_grant,					\
	.qual_revoke = id##_qual_revoke,				\
	.qual_cleanup = id##_qual_cleanup,				\
	.agent_approve = id##_agent_approve,				\
	.agent_reject = id##_agent_reject,				\
	.agent_soft_reject = id##_agent_approve,			\
}

TURK_PROVIDER(mturk, "mturk", 0,
    "Amazon Mechanical Turk (needs AWS credentials)", "MTURK_REQUESTER");

TURK_PROVIDER(mturk_sandbox, "mturk_sandbox", 1,
    "the MTurk sandbox: no money is paid; a sandbox", "MTURK_SANDBOX");
