#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "model.h"
#include "msg.h"
#include "provider.h"
#include "task.h"
#include "vendor.h"
#include "xalloc.h"
#include "yml.h"
#include "banned.h"

/*
 * Amazon Mechanical Turk (facts section 2), through the MTurk JSON 1.1
 * API; requests are signed (Signature Version 4) by libcurl's own
 * CURLOPT_AWS_SIGV4, never by hand.
 *
 * Settings: mturk.access_key_id and mturk.secret_access_key, or
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (which win, with
 * AWS_SESSION_TOKEN for temporary credentials);
 * mturk.endpoint / mturk_sandbox.endpoint (default: Amazon's production
 * and sandbox hosts) for tests and private deployments; mturk.timeout,
 * mturk.retry_ms, mturk.attempts; mturk.allowed_locales.
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
 *
 * Journal (lib/vendor): "hittype" per run, "hit" per unit (the HIT that
 * names the unit when a worker arrives), "assignment" per assignment (its
 * HIT, from its first arrival), "bonus" per ledger key (the assignment,
 * reason and amount, "sending" before SendBonus and "paid" after), so
 * that reconcile can tell an attempt from a payment.
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
	char *token_hdr;	/* "X-Amz-Security-Token: ..." or NULL */
};

static void
turk_release(struct turk *t)
{
	vendor_release(&t->v);
	if (t->token_hdr)
		memset(t->token_hdr, 0, strlen(t->token_hdr));
	free(t->token_hdr);
	t->token_hdr = NULL;
}

static int
turk_open(struct turk *t, struct db *db, int sandbox, char **errp)
{
	struct vendor v0 = VENDOR_INIT;
	const char *id_env = getenv("AWS_ACCESS_KEY_ID");
	const char *secret_env = getenv("AWS_SECRET_ACCESS_KEY");
	const char *token_env = getenv("AWS_SESSION_TOKEN");
	char *id, *secret, *url;
	size_t n;

	t->v = v0;
	t->token_hdr = NULL;
	t->type = sandbox ? "mturk_sandbox" : "mturk";
	t->v.name = "mturk";
	t->sandbox = sandbox;
	t->db = db;
	if (vendor_load(&t->v, NULL, errp) < 0)
		return -1;
	if (id_env && *id_env && secret_env && *secret_env) {
		id = xstrdup(id_env);
		secret = xstrdup(secret_env);
		/* Temporary credentials come with a session token. */
		if (token_env && *token_env)
			t->token_hdr = xasprintf("X-Amz-Security-Token: %s",
			    token_env);
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
	const char *hdrs[4];
	char *target = xasprintf("%s%s", TARGET, opname), *err = NULL;
	int rc;

	if (out)
		*out = NULL;
	msg_print(body, &b);
	msg_free(body);
	hdrs[0] = "Content-Type: application/x-amz-json-1.1";
	hdrs[1] = target;
	/* Signed with the rest (libcurl signs every header it sends). */
	hdrs[2] = t->token_hdr;
	hdrs[3] = NULL;
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


/*
 * Every page of a list operation: OPNAME with BODY (consumed) and
 * NextToken, calling FN for each entry of the answer's LIST array until
 * FN returns non-zero (which is returned) or no NextToken comes back.
 */
typedef int page_fn(const cJSON *e, void *data);

static int
each_page(struct turk *t, const char *opname, cJSON *body,
    const char *list, page_fn *fn, void *data, char **errp)
{
	cJSON *req, *out = NULL;
	const cJSON *e, *next;
	char *token = NULL;
	int rc = 0, pages;

	for (pages = 0; pages < 100000 && !rc; pages++) {
		req = msg_dup(body);
		msg_set_int(req, "MaxResults", 100);
		if (token)
			msg_set_str(req, "NextToken", token);
		if (op(t, opname, req, 1, &out, errp) < 0) {
			rc = -1;
			break;
		}
		cJSON_ArrayForEach(e, msg_get(out, list)) {
			if ((rc = fn(e, data)))
				break;
		}
		next = msg_get(out, "NextToken");
		free(token);
		token = cJSON_IsString(next) && *next->valuestring ?
		    xstrdup(next->valuestring) : NULL;
		msg_free(out);
		out = NULL;
		if (!token)
			break;
	}
	free(token);
	msg_free(body);
	return rc;
}

/* The annotation every HIT of RUN carries, so reconcile finds it. */
static char *
run_annotation(int64_t run)
{
	return xasprintf("mephisto-run-%lld", (long long)run);
}

/*
 * The Locale requirement (QualificationTypeId 00000000000000000071) from
 * mturk.allowed_locales, a list of country codes (US) or country and
 * subdivision (US-CA); without the setting, production HITs go to
 * US, CA, GB, AU and NZ as in the original and sandbox HITs to anyone.
 * An empty list means anyone.  Stores the requirement (or NULL) in *OUT.
 */
static int
locale_requirement(int sandbox, cJSON **out, char **errp)
{
	static const char *const countries[] = { "US", "CA", "GB", "AU",
	    "NZ" };
	struct conf c = CONF_INIT;
	const struct yml_node *n;
	cJSON *q = NULL, *locs = NULL, *l;
	const char *code;
	size_t i, len;
	int rc = -1;

	*out = NULL;
	if (conf_load(&c, NULL, errp) < 0)
		return -1;
	n = conf_get(&c, "mturk.allowed_locales");
	if (n && n->type != YML_SEQUENCE) {
		error_setf(errp, EINVAL, "mturk.allowed_locales must be a list "
		    "of country codes such as [US, CA], not '%s'",
		    yml_text(n) ? yml_text(n) : "a mapping");
		goto out;
	}
	if (!n && sandbox) {
		rc = 0;
		goto out;
	}
	locs = msg_new_array();
	for (i = 0; n && i < n->nr; i++) {
		code = n->items[i]->type == YML_SCALAR ?
		    yml_text(n->items[i]) : NULL;
		len = code ? strlen(code) : 0;
		if (!code || (len != 2 && (len < 4 || len > 6 ||
		    code[2] != '-')) || code[0] < 'A' || code[0] > 'Z' ||
		    code[1] < 'A' || code[1] > 'Z') {
			error_setf(errp, EINVAL, "mturk.allowed_locales: '%s' "
			    "is not a country code (two capital letters, as "
			    "US, or a country and subdivision, as US-CA)",
			    code ? code : "a list or mapping");
			goto out;
		}
		l = msg_new_object();
		if (len == 2) {
			msg_set_str(l, "Country", code);
		} else {
			char cc[3] = { code[0], code[1], '\0' };

			msg_set_str(l, "Country", cc);
			msg_set_str(l, "Subdivision", code + 3);
		}
		msg_push(locs, l);
	}
	for (i = 0; !n && i < ARRAY_SIZE(countries); i++) {
		l = msg_new_object();
		msg_set_str(l, "Country", countries[i]);
		msg_push(locs, l);
	}
	rc = 0;
	if (!msg_len(locs))
		goto out;
	q = msg_new_object();
	msg_set_str(q, "QualificationTypeId", "00000000000000000071");
	msg_set_str(q, "Comparator", "In");
	msg_set(q, "LocaleValues", locs);
	locs = NULL;
	msg_set_str(q, "ActionsGuarded", "DiscoverPreviewAndAccept");
	*out = q;
out:
	msg_free(locs);
	conf_release(&c);
	return rc;
}

/*
 * Before a run is created: MTurk shows an ExternalQuestion only from an
 * https address, so a production run needs architect.public_url with
 * https (the local architect serves http); the locale setting must read.
 */
static int
check_task(const struct task_config *cfg, int sandbox, char **errp)
{
	cJSON *q = NULL;

	if (locale_requirement(sandbox, &q, errp) < 0)
		return -1;
	msg_free(q);
	if (sandbox)
		return 0;
	if (!cfg->public_url || strncasecmp(cfg->public_url, "https://", 8))
		return error_setf(errp, EINVAL, "mturk needs an https task "
		    "URL for its ExternalQuestion, not '%s': set "
		    "architect.public_url to the https address of a proxy "
		    "in front of mephisto-io", cfg->public_url ?
		    cfg->public_url : "http://<architect.hostname>:<port>/");
	return 0;
}

/* --- runs and units --- */

static int
run_setup(struct db *db, int sandbox, int64_t run, const char *task_url,
    char **errp)
{
	struct task_config cfg = TASK_CONFIG_INIT;
	struct vendor_rec rec = VENDOR_REC_INIT;
	char *json = NULL, *ref = id_ref(run), *amount = NULL;
	cJSON *body, *out = NULL, *quals, *q = NULL;
	struct turk t;
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
	if (locale_requirement(sandbox, &q, errp) < 0) {
		msg_free(body);
		goto out;
	}
	if (q)
		msg_push(quals, q);
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
	key = run_annotation(run);
	msg_set_str(body, "RequesterAnnotation", key);
	free(key);
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

/*
 * Send the bonus journaled under KEY in REC (state "sending": the
 * assignment in remote_id, the reason in detail) with the token derived
 * from KEY, and journal the outcome.  A repeated token is MTurk's answer
 * to a bonus it already paid: that counts as paid.
 */
static int
send_bonus(struct turk *t, const char *key, const char *wid,
    struct vendor_rec *rec, char **errp)
{
	char *token = vendor_token(key), *amt = xasprintf("%.2f", rec->amount);
	char *err = NULL;
	cJSON *body;
	int rc;

	body = msg_new_object();
	msg_set_str(body, "WorkerId", wid);
	msg_set_str(body, "BonusAmount", amt);
	msg_set_str(body, "AssignmentId", rec->remote_id);
	msg_set_str(body, "Reason", rec->detail);
	msg_set_str(body, "UniqueRequestToken", token);
	/* The token makes a repeat pay nothing: retrying is safe. */
	rc = op(t, "SendBonus", body, 1, NULL, &err);
	if (rc < 0 && err && strstr(err, token)) {
		log_info("mturk: bonus '%s' was sent before (token %s)", key,
		    token);
		rc = 0;
	} else if (rc < 0) {
		error_setf(errp, EIO, "%s", err);
	}
	if (rc == 0) {
		free(rec->state);
		rec->state = xstrdup("paid");
		rc = vendor_rec_put(t->db, t->type, "bonus", key, rec, errp);
	}
	free(err);
	free(token);
	free(amt);
	return rc;
}

static int
worker_bonus(struct db *db, int sandbox, int64_t worker_id, double amount,
    const char *reason, int64_t unit_id, const char *key, char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT;
	const char *tname = sandbox ? "mturk_sandbox" : "mturk";
	char *wid = NULL, *asg = NULL;
	sqlite3_stmt *st;
	int64_t agent = 0, run = 0;
	struct turk t;
	int rc = -1, have;

	memset(&t, 0, sizeof(t));
	if (!key || !*key)
		return error_setf(errp, EINVAL, "a bonus needs an "
		    "idempotency key");
	if (!(amount >= 0.01) || amount >= 1e7)
		return error_setf(errp, EINVAL, "a bonus must be at least "
		    "0.01");
	st = db_stmt(db, "SELECT agent_id, task_run_id FROM agents "
	    "WHERE unit_id = ? AND worker_id = ? "
	    "ORDER BY creation_date DESC LIMIT 1");
	if (st) {
		sqlite3_bind_int64(st, 1, unit_id);
		sqlite3_bind_int64(st, 2, worker_id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			agent = sqlite3_column_int64(st, 0);
			run = sqlite3_column_int64(st, 1);
		}
		sqlite3_reset(st);
	}
	if (!(wid = worker_id_of(db, worker_id, sandbox, errp)) ||
	    !(asg = assignment_of(db, agent, errp)))
		goto out;
	have = vendor_rec_get(db, tname, "bonus", key, &rec, errp);
	if (have < 0)
		goto out;
	if (have && !strcmp(rec.state, "paid")) {
		log_info("mturk: bonus '%s' was paid before; not sent again",
		    key);
		rc = 0;
		goto out;
	}
	if (turk_open(&t, db, sandbox, errp) < 0)
		goto out;
	if (!have) {
		/* Journaled before the call: reconcile finds an attempt. */
		rec.remote_id = xstrdup(asg);
		rec.state = xstrdup("sending");
		rec.detail = xstrdup(reason && *reason ? reason :
		    "A bonus for your work.");
		rec.task_run_id = run;
		rec.unit_id = unit_id;
		rec.worker_id = worker_id;
		rec.amount = amount;
		if (vendor_rec_put(db, tname, "bonus", key, &rec, errp) < 0)
			goto out;
	}
	rc = send_bonus(&t, key, wid, &rec, errp);
out:
	vendor_rec_release(&rec);
	free(wid);
	free(asg);
	turk_release(&t);
	return rc;
}

/* Whether MTurk's block list (every page of it) holds WID. */
struct find_block {
	const char *wid;
};

static int
block_is(const cJSON *e, void *data)
{
	const struct find_block *f = data;
	const cJSON *w = msg_get(e, "WorkerId");

	return cJSON_IsString(w) && !strcmp(w->valuestring, f->wid);
}

static int
worker_is_blocked(struct db *db, int sandbox, int64_t worker_id, int *out,
    char **errp)
{
	char *wid = worker_id_of(db, worker_id, sandbox, errp);
	struct find_block f;
	struct turk t;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	if (!wid || turk_open(&t, db, sandbox, errp) < 0)
		goto out;
	f.wid = wid;
	rc = each_page(&t, "ListWorkerBlocks", msg_new_object(),
	    "WorkerBlocks", block_is, &f, errp);
	if (rc >= 0) {
		*out = rc;
		rc = 0;
	}
out:
	free(wid);
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

/* --- arrivals --- */

#define PREVIEW_ASSIGNMENT "ASSIGNMENT_ID_NOT_AVAILABLE"

/*
 * A worker arrives with the HIT, assignment and worker MTurk put in the
 * task URL.  The HIT must be one of the run's (each launched unit has its
 * own HIT, so the HIT names the unit); an assignment keeps the HIT it
 * first came with; a preview takes nothing.  The assignment's HIT is
 * journaled on its first arrival, so that the unit is known again when
 * the worker comes back from onboarding (PD NULL, only REG known).
 */
static int
arrival_unit(struct db *db, int sandbox, int64_t run, const cJSON *pd,
    const char *reg, int64_t *unit_id, char **errp)
{
	struct vendor_rec hit = VENDOR_REC_INIT, asg = VENDOR_REC_INIT;
	const char *tname = sandbox ? "mturk_sandbox" : "mturk";
	const char *hit_id = NULL, *asg_id = NULL, *name = NULL;
	char *a = NULL, *dash, *want = NULL;
	int have, rc = -1;

	*unit_id = 0;
	if (!pd) {
		/* Back from onboarding: the assignment's journaled HIT. */
		if (!reg || !(dash = strchr(reg, '-')))
			return 0;
		a = xstrndup(reg, (size_t)(dash - reg));
		have = vendor_rec_get(db, tname, "assignment", a, &asg, errp);
		if (have > 0 && asg.task_run_id == run)
			*unit_id = asg.unit_id;
		rc = have < 0 ? -1 : 0;
		goto out;
	}
	if (msg_opt_str(pd, "assignment_id", NULL, &asg_id, errp) < 0 ||
	    msg_opt_str(pd, "hit_id", NULL, &hit_id, errp) < 0 ||
	    msg_opt_str(pd, "worker_name", NULL, &name, errp) < 0)
		goto out;
	if (asg_id && !strcmp(asg_id, PREVIEW_ASSIGNMENT)) {
		error_setf(errp, EINVAL, "assignment '%s' is MTurk's preview: "
		    "a preview takes no unit until the HIT is accepted",
		    asg_id);
		goto out;
	}
	if (!asg_id || !*asg_id || !hit_id || !*hit_id) {
		error_setf(errp, EINVAL, "an MTurk arrival needs fields "
		    "'hit_id' and 'assignment_id' (the task URL's hitId and "
		    "assignmentId)");
		goto out;
	}
	want = xasprintf("%s-%s", asg_id, name ? name : "");
	if (!reg || strcmp(reg, want)) {
		error_setf(errp, EINVAL, "field 'agent_registration_id' must "
		    "be '<assignment_id>-<worker_name>' ('%s')", want);
		goto out;
	}
	have = vendor_rec_find(db, tname, "hit", hit_id, NULL, &hit, errp);
	if (have < 0)
		goto out;
	if (!have || hit.task_run_id != run || !hit.unit_id) {
		error_setf(errp, ENOENT, "HIT '%s' is not a HIT of run %lld",
		    hit_id, (long long)run);
		goto out;
	}
	have = vendor_rec_get(db, tname, "assignment", asg_id, &asg, errp);
	if (have < 0)
		goto out;
	if (have && asg.remote_id && strcmp(asg.remote_id, hit_id)) {
		error_setf(errp, EINVAL, "assignment '%s' belongs to HIT '%s', "
		    "not to HIT '%s'", asg_id, asg.remote_id, hit_id);
		goto out;
	}
	if (!have) {
		asg.remote_id = xstrdup(hit_id);
		asg.state = xstrdup("arrived");
		asg.detail = name ? xstrdup(name) : NULL;
		asg.task_run_id = run;
		asg.unit_id = hit.unit_id;
		if (vendor_rec_put(db, tname, "assignment", asg_id, &asg,
		    errp) < 0)
			goto out;
	}
	*unit_id = hit.unit_id;
	rc = 0;
out:
	vendor_rec_release(&hit);
	vendor_rec_release(&asg);
	free(a);
	free(want);
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

/* --- reconcile --- */

struct recon {
	struct turk *t;
	int64_t run;
	int fix, left;
	char *annotation;
	void (*note)(void *, const char *);
	void *ctx;
	/* the run's bonus records, in the order they were written */
	struct bonus_rec {
		char *key;
		struct vendor_rec r;
	} *bonuses;
	size_t nr_bonuses, alloc_bonuses;
	cJSON *hits;		/* MTurk's HITs of the run */
};

static void
say(struct recon *rc, int fixed, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(struct recon *rc, int fixed, const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (fixed)
		buf_addstr(&b, " (fixed)");
	else
		rc->left++;
	rc->note(rc->ctx, b.buf);
	buf_release(&b);
}

static int
expire_hit(struct turk *t, const char *hit, char **errp)
{
	cJSON *body = msg_new_object();

	msg_set_str(body, "HITId", hit);
	msg_set_int(body, "ExpireAt", 0);
	return op(t, "UpdateExpirationForHIT", body, 1, NULL, errp);
}

/* Keep the HITs annotated with the run's name. */
static int
collect_hit(const cJSON *e, void *data)
{
	struct recon *rc = data;
	const cJSON *a = msg_get(e, "RequesterAnnotation");

	if (cJSON_IsString(a) && !strcmp(a->valuestring, rc->annotation))
		msg_push(rc->hits, msg_dup(e));
	return 0;
}

static int
hit_is_live(const cJSON *h)
{
	const cJSON *st = msg_get(h, "HITStatus"), *exp;

	exp = msg_get(h, "Expiration");
	if (cJSON_IsNumber(exp) && exp->valuedouble <= msg_now())
		return 0;
	return cJSON_IsString(st) && (!strcmp(st->valuestring, "Assignable") ||
	    !strcmp(st->valuestring, "Unassignable"));
}

static char *
unit_status(struct db *db, int64_t unit)
{
	return db_text(db, "SELECT status FROM units WHERE unit_id = ?",
	    unit);
}

/* HITs on MTurk: one without a record, or live for a finished unit. */
static int
recon_hit(struct recon *rc, const cJSON *h)
{
	struct vendor_rec r = VENDOR_REC_INIT;
	char *id = jstr(h, "HITId"), *status = jstr(h, "HITStatus");
	char *ust = NULL, *ref = NULL, *err = NULL;
	int have, live = hit_is_live(h), ok, ret = -1;

	if (!id)
		return 0;
	have = vendor_rec_find(rc->t->db, rc->t->type, "hit", id, NULL, &r,
	    NULL);
	if (have < 0)
		goto out;
	if (!have && live) {
		ok = rc->fix && expire_hit(rc->t, id, &err) == 0;
		if (ok) {
			r.remote_id = xstrdup(id);
			r.state = xstrdup("expired");
			r.detail = xstrdup("found live without a record");
			r.task_run_id = rc->run;
			ref = xasprintf("orphan-%s", id);
			if (vendor_rec_put(rc->t->db, rc->t->type, "hit", ref,
			    &r, NULL) < 0)
				goto out;
		}
		say(rc, ok, "HIT %s is %s on MTurk and has no record here%s%s",
		    id, status ? status : "?", ok ? "; expired it" : "",
		    err ? "; cannot expire it: " : "");
		if (err)
			rc->note(rc->ctx, err);
	} else if (!have) {
		say(rc, 0, "HIT %s is %s on MTurk and has no record here", id,
		    status ? status : "?");
	} else if (live && status && !strcmp(status, "Assignable") &&
	    r.unit_id && (ust = unit_status(rc->t->db,
	    r.unit_id)) && strcmp(ust, UNIT_LAUNCHED) &&
	    strcmp(ust, UNIT_ASSIGNED) && strcmp(ust, UNIT_CREATED)) {
		ok = rc->fix && expire_hit(rc->t, id, &err) == 0;
		if (ok) {
			free(r.state);
			r.state = xstrdup("expired");
			ref = id_ref(r.unit_id);
			if (vendor_rec_put(rc->t->db, rc->t->type, "hit", ref,
			    &r, NULL) < 0)
				goto out;
		}
		say(rc, ok, "HIT %s is %s on MTurk but unit %lld is %s here%s",
		    id, status ? status : "?", (long long)r.unit_id, ust,
		    ok ? "; expired it" : "");
		if (err)
			rc->note(rc->ctx, err);
	}
	ret = 0;
out:
	vendor_rec_release(&r);
	free(id);
	free(status);
	free(ust);
	free(ref);
	free(err);
	return ret;
}

/* One assignment of a recorded HIT against the agent that did it. */
static int
recon_assignment(const cJSON *e, void *data)
{
	struct recon *rc = data;
	char *id = jstr(e, "AssignmentId"), *st = jstr(e, "AssignmentStatus");
	char *who = jstr(e, "WorkerId"), *local = NULL, *err = NULL;
	const char *want = NULL;
	int64_t agent;
	int ok;

	if (!id || !st)
		goto out;
	local = provider_registered_agent(rc->t->db, rc->run, id, &agent);
	if (!local) {
		say(rc, 0, "assignment %s by %s is %s on MTurk and has no "
		    "agent here", id, who ? who : "?", st);
		goto out;
	}
	if (!strcmp(local, AGENT_APPROVED) ||
	    !strcmp(local, AGENT_SOFT_REJECTED))
		want = "Approved";
	else if (!strcmp(local, AGENT_REJECTED))
		want = "Rejected";
	if (!want || !strcmp(st, want))
		goto out;
	ok = 0;
	if (rc->fix && (!strcmp(st, "Submitted") || (!strcmp(st,
	    "Rejected") && !strcmp(want, "Approved")))) {
		ok = agent_decide(rc->t->db, rc->t->sandbox, agent,
		    !strcmp(want, "Approved"), NULL, &err) == 0;
		if (!ok)
			warn("%s", err);
	}
	say(rc, ok, "assignment %s is %s on MTurk but agent %lld is %s "
	    "here%s", id, st, (long long)agent, local,
	    ok ? "; sent the decision" : "");
out:
	free(id);
	free(st);
	free(who);
	free(local);
	free(err);
	return 0;
}

static int
keep_bonus(const char *key, const struct vendor_rec *r, void *data)
{
	struct recon *rc = data;
	struct bonus_rec *b;

	ALLOC_GROW(rc->bonuses, rc->nr_bonuses + 1, rc->alloc_bonuses);
	b = &rc->bonuses[rc->nr_bonuses++];
	b->key = xstrdup(key);
	b->r.remote_id = r->remote_id ? xstrdup(r->remote_id) : NULL;
	b->r.state = r->state ? xstrdup(r->state) : NULL;
	b->r.detail = r->detail ? xstrdup(r->detail) : NULL;
	b->r.task_run_id = r->task_run_id;
	b->r.unit_id = r->unit_id;
	b->r.worker_id = r->worker_id;
	b->r.amount = r->amount;
	return 0;
}

/* A payment of ListBonusPayments counted when it matches. */
struct pay_count {
	double amount;
	const char *reason;
	int n;
};

static int
count_payment(const cJSON *e, void *data)
{
	struct pay_count *c = data;
	char *amt = jstr(e, "BonusAmount"), *reason = jstr(e, "Reason");

	if (amt && fabs(strtod(amt, NULL) - c->amount) < 0.005 &&
	    (!reason || !c->reason || !strcmp(reason, c->reason)))
		c->n++;
	free(amt);
	free(reason);
	return 0;
}

static int
ledger_has_key(struct db *db, const char *key)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT 1 FROM ledger WHERE "
	    "idempotency_key = ? AND status = 'paid'");
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
ledger_put(struct db *db, const char *type, const char *key,
    const struct vendor_rec *r)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO ledger (ledger_id, "
	    "idempotency_key, kind, worker_id, unit_id, task_run_id, amount, "
	    "reason, status, provider_type, provider_ref) VALUES (?1, ?2, "
	    "'bonus', ?3, ?4, ?5, ?6, ?7, 'paid', ?8, ?9) "
	    "ON CONFLICT (idempotency_key) DO UPDATE SET status = 'paid', "
	    "provider_ref = excluded.provider_ref");

	if (!st)
		return -1;
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, r->worker_id);
	sqlite3_bind_int64(st, 4, r->unit_id);
	sqlite3_bind_int64(st, 5, r->task_run_id);
	sqlite3_bind_double(st, 6, r->amount);
	sqlite3_bind_text(st, 7, r->detail, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, r->remote_id, -1, SQLITE_STATIC);
	if (db_insert_id(db, st, 1, NULL) < 0)
		return -1;
	sqlite3_reset(st);
	return 0;
}

/*
 * Bonus I of the run against MTurk's payments for its assignment.  Bonus
 * records of one assignment, amount and reason are matched one to one
 * with MTurk's payments, in order.
 */
static int
recon_bonus(struct recon *rc, size_t i)
{
	struct bonus_rec *b = &rc->bonuses[i];
	struct pay_count c = { b->r.amount, b->r.detail, 0 };
	char *wid = NULL, *err = NULL;
	cJSON *body;
	size_t j;
	int before = 0, paid, in_ledger, ok;

	for (j = 0; j < i; j++)
		if (rc->bonuses[j].r.remote_id && b->r.remote_id &&
		    !strcmp(rc->bonuses[j].r.remote_id, b->r.remote_id) &&
		    fabs(rc->bonuses[j].r.amount - b->r.amount) < 0.005 &&
		    !strcmp(rc->bonuses[j].r.detail ? rc->bonuses[j].r.detail :
		    "", b->r.detail ? b->r.detail : ""))
			before++;
	body = msg_new_object();
	msg_set_str(body, "AssignmentId", b->r.remote_id ? b->r.remote_id :
	    "");
	if (each_page(rc->t, "ListBonusPayments", body, "BonusPayments",
	    count_payment, &c, &err) < 0) {
		say(rc, 0, "bonus '%s': cannot list the payments of assignment "
		    "%s: %s", b->key, b->r.remote_id, err);
		free(err);
		return 0;
	}
	paid = c.n > before;
	in_ledger = ledger_has_key(rc->t->db, b->key);
	if (in_ledger < 0)
		return -1;
	if (!strcmp(b->r.state, "paid") && !paid) {
		say(rc, 0, "bonus '%s' (%.2f) is recorded as paid but MTurk "
		    "lists no such payment for assignment %s", b->key,
		    b->r.amount, b->r.remote_id);
		return 0;
	}
	if (strcmp(b->r.state, "paid") && paid) {
		ok = rc->fix;
		if (ok) {
			free(b->r.state);
			b->r.state = xstrdup("paid");
			if (vendor_rec_put(rc->t->db, rc->t->type, "bonus",
			    b->key, &b->r, NULL) < 0)
				return -1;
		}
		say(rc, ok, "bonus '%s' (%.2f) was paid on MTurk but its "
		    "outcome was not recorded", b->key, b->r.amount);
	} else if (strcmp(b->r.state, "paid")) {
		/* Attempted, never paid: the same token can never pay twice. */
		ok = 0;
		if (rc->fix) {
			wid = worker_id_of(rc->t->db, b->r.worker_id,
			    rc->t->sandbox, &err);
			ok = wid && send_bonus(rc->t, b->key, wid, &b->r,
			    &err) == 0;
		}
		say(rc, ok, "bonus '%s' (%.2f) was attempted but MTurk has "
		    "not paid it%s%s", b->key, b->r.amount,
		    ok ? "; sent it again with its token" : "",
		    err ? "; " : "");
		if (err)
			rc->note(rc->ctx, err);
		free(wid);
		free(err);
		if (!ok)
			return 0;
		paid = 1;
	}
	if (paid && !in_ledger) {
		say(rc, rc->fix, "bonus '%s' (%.2f) was paid on MTurk but is "
		    "not in the ledger", b->key, b->r.amount);
		if (rc->fix && ledger_put(rc->t->db, rc->t->type, b->key,
		    &b->r) < 0)
			return -1;
	}
	return 0;
}

/* Workers of the run blocked here must be blocked on MTurk too. */
static int
recon_blocks(struct recon *rc)
{
	sqlite3_stmt *st = db_stmt(rc->t->db, "SELECT DISTINCT p.worker_id "
	    "FROM provider_workers p JOIN agents a ON a.worker_id = "
	    "p.worker_id WHERE a.task_run_id = ? AND p.provider_type = ? "
	    "AND p.is_blocked");
	int64_t *ids = NULL;
	size_t nr = 0, alloc = 0, i;
	char *err = NULL, *wid;
	cJSON *body;
	int yes, ok;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, rc->run);
	sqlite3_bind_text(st, 2, rc->t->type, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		ALLOC_GROW(ids, nr + 1, alloc);
		ids[nr++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	for (i = 0; i < nr; i++) {
		if (worker_is_blocked(rc->t->db, rc->t->sandbox, ids[i], &yes,
		    &err) < 0) {
			say(rc, 0, "cannot read MTurk's blocks: %s", err);
			free(err);
			break;
		}
		if (yes)
			continue;
		wid = worker_id_of(rc->t->db, ids[i], rc->t->sandbox, NULL);
		ok = 0;
		if (rc->fix && wid) {
			body = msg_new_object();
			msg_set_str(body, "WorkerId", wid);
			msg_set_str(body, "Reason", "Blocked by the requester.");
			ok = op(rc->t, "CreateWorkerBlock", body, 1, NULL,
			    &err) == 0;
			if (!ok) {
				warn("%s", err);
				free(err);
				err = NULL;
			}
		}
		say(rc, ok, "worker %s is blocked here but not on MTurk%s",
		    wid ? wid : "?", ok ? "; blocked it" : "");
		free(wid);
	}
	free(ids);
	return 0;
}

static int
run_reconcile(struct db *db, int sandbox, int64_t run, int fix,
    void (*note)(void *, const char *), void *ctx, char **errp)
{
	struct recon rc;
	struct turk t;
	const cJSON *h;
	cJSON *body;
	char *id, *err = NULL;
	size_t i;
	int ret = -1;

	memset(&rc, 0, sizeof(rc));
	memset(&t, 0, sizeof(t));
	if (turk_open(&t, db, sandbox, errp) < 0)
		goto out;
	rc.t = &t;
	rc.run = run;
	rc.fix = fix;
	rc.note = note;
	rc.ctx = ctx;
	rc.annotation = run_annotation(run);
	rc.hits = msg_new_array();
	if (each_page(&t, "ListHITs", msg_new_object(), "HITs", collect_hit,
	    &rc, errp) < 0)
		goto out;
	cJSON_ArrayForEach(h, rc.hits) {
		if (recon_hit(&rc, h) < 0) {
			error_setf(errp, EIO, "cannot write the provider "
			    "journal");
			goto out;
		}
		/* What the workers did on the HITs that are ours. */
		id = jstr(h, "HITId");
		body = msg_new_object();
		msg_set_str(body, "HITId", id);
		if (each_page(&t, "ListAssignmentsForHIT", body,
		    "Assignments", recon_assignment, &rc, &err) < 0) {
			say(&rc, 0, "cannot list the assignments of HIT %s: "
			    "%s", id, err);
			free(err);
			err = NULL;
		}
		free(id);
	}
	if (vendor_rec_each(db, t.type, "bonus", run, keep_bonus, &rc,
	    errp) < 0)
		goto out;
	for (i = 0; i < rc.nr_bonuses; i++)
		if (recon_bonus(&rc, i) < 0) {
			error_setf(errp, EIO, "cannot record a bonus");
			goto out;
		}
	if (recon_blocks(&rc) < 0) {
		error_setf(errp, EIO, "cannot read the blocks of run %lld",
		    (long long)run);
		goto out;
	}
	ret = rc.left;
out:
	for (i = 0; i < rc.nr_bonuses; i++) {
		free(rc.bonuses[i].key);
		vendor_rec_release(&rc.bonuses[i].r);
	}
	free(rc.bonuses);
	msg_free(rc.hits);
	free(rc.annotation);
	turk_release(&t);
	return ret;
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
id##_check_task(const struct task_config *cfg, char **errp)		\
{									\
	return check_task(cfg, SB, errp);				\
}									\
static int								\
id##_arrival_unit(struct db *db, int64_t run, const cJSON *pd,		\
    const char *reg, int64_t *unit, char **errp)			\
{									\
	return arrival_unit(db, SB, run, pd, reg, unit, errp);		\
}									\
static int								\
id##_run_reconcile(struct db *db, int64_t run, int fix,		\
    void (*note)(void *, const char *), void *ctx, char **errp)		\
{									\
	return run_reconcile(db, SB, run, fix, note, ctx, errp);	\
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
	return worker_is_blocked(db, SB, wid, out, errp);		\
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
	.check_task_args = id##_check_task,				\
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
	.arrival_unit = id##_arrival_unit,				\
	.run_reconcile = id##_run_reconcile,				\
}

TURK_PROVIDER(mturk, "mturk", 0,
    "Amazon Mechanical Turk (needs AWS credentials)", "MTURK_REQUESTER");

TURK_PROVIDER(mturk_sandbox, "mturk_sandbox", 1,
    "the MTurk sandbox: no money is paid; a sandbox", "MTURK_SANDBOX");
