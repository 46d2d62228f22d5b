#include <errno.h>
#include <math.h>
#include <stdarg.h>
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
 * Prolific (facts section 1), through its REST API with libcurl.
 *
 * Settings: prolific.api_key in the config file, or PROLIFIC_API_KEY in
 * the environment (which wins); prolific.api_url (default
 * https://api.prolific.com/api/v1/, or PROLIFIC_BASE_URL) for tests and
 * private deployments; prolific.timeout, prolific.retry_ms and
 * prolific.attempts (lib/vendor).  The token is sent only in the
 * Authorization header and never appears in a message.
 *
 * One study per run, created and published by run set-up with the
 * internal name "mephisto-run-<run id>" (so reconcile can find a study
 * whose record was lost) and one place; each launched unit raises the
 * places to the number of units launched so far; run clean-up stops it.
 * Workers are Prolific participant ids; the browser registers with
 * "<submission id>-<participant id>", which is how an agent finds its
 * submission for approve and reject.  Blocks are local (and shut blocked
 * participants out of later studies through a black list) plus the
 * "Block list" participant group; qualifications are participant groups
 * named after them.
 *
 * Money: task_reward is in the study currency's major unit (0.25 is 25
 * cents); Prolific takes study rewards in minor units and bonuses in
 * major units with two decimals.  A bonus is set up, journaled, then
 * paid by one call that is never blindly repeated: when its outcome is
 * unknown (timeout, dropped connection, 5xx) the bulk payment's status
 * is asked for first.  A journal record "paid" means nothing is ever sent
 * again for that key.
 */

#define NAME "prolific"
#define DEFAULT_URL "https://api.prolific.com/api/v1/"
#define REJECT_TEXT "Your submission was reviewed and does not meet the " \
	"requirements described in the study instructions. Thank you for " \
	"your time."

struct pro {
	struct vendor v;
	struct db *db;
};

static void
pro_release(struct pro *p)
{
	vendor_release(&p->v);
}

static int
pro_open(struct pro *p, struct db *db, char **errp)
{
	struct vendor v0 = VENDOR_INIT;
	const char *env;
	char *key, *url;
	size_t n;

	p->v = v0;
	p->v.name = NAME;
	p->db = db;
	if (vendor_load(&p->v, NULL, errp) < 0)
		return -1;
	env = getenv("PROLIFIC_API_KEY");
	key = env && *env ? xstrdup(env) : vendor_conf_str(NULL,
	    "prolific.api_key");
	if (!key)
		return error_setf(errp, EINVAL, "no Prolific API token: set "
		    "prolific.api_key (mephisto config set prolific.api_key "
		    "...) or PROLIFIC_API_KEY");
	p->v.auth_header = xasprintf("Authorization: Token %s", key);
	memset(key, 0, strlen(key));
	free(key);
	url = vendor_conf_str(NULL, "prolific.api_url");
	if (!url && (env = getenv("PROLIFIC_BASE_URL")) && *env)
		url = xstrdup(env);
	if (!url)
		url = xstrdup(DEFAULT_URL);
	n = strlen(url);
	p->v.base_url = n && url[n - 1] == '/' ? url :
	    xasprintf("%s/", url);
	if (p->v.base_url != url)
		free(url);
	return 0;
}

/*
 * METHOD PATH with BODY (consumed; NULL: none); the answer's JSON in *OUT
 * when OUT is not NULL (NULL for an empty answer).
 */
static int
call(struct pro *p, const char *method, const char *path, cJSON *body,
    const char *key, unsigned flags, cJSON **out, char **errp)
{
	struct vendor_reply r = VENDOR_REPLY_INIT;
	struct buf b = BUF_INIT;
	const char *hdrs[3] = { "Content-Type: application/json", NULL, NULL };
	char *idem = NULL;
	int rc;

	if (out)
		*out = NULL;
	if (body)
		msg_print(body, &b);
	msg_free(body);
	if (key)
		hdrs[1] = idem = xasprintf("Idempotency-Key: %s", key);
	rc = vendor_request(&p->v, method, path, body ? b.buf : NULL, hdrs,
	    flags, &r, errp);
	if (rc == 0 && out && r.body && *r.body) {
		*out = msg_parse(r.body, strlen(r.body), 0, NULL);
		if (!*out)
			rc = error_setf(errp, EIO, "prolific %s %s: the answer "
			    "is not JSON", method, path);
	}
	free(idem);
	buf_release(&b);
	vendor_reply_release(&r);
	return rc;
}

/* The string field KEY of J (a number is printed), or NULL. */
static char *
jstr(const cJSON *j, const char *key)
{
	const cJSON *v = j ? msg_get(j, key) : NULL;

	if (cJSON_IsString(v))
		return xstrdup(v->valuestring);
	if (cJSON_IsNumber(v))
		return xasprintf("%.0f", v->valuedouble);
	return NULL;
}

/* The entry of LIST's "results" whose FIELD is VALUE, or NULL. */
static const cJSON *
find_result(const cJSON *list, const char *field, const char *value)
{
	const cJSON *res = list ? msg_get(list, "results") : NULL, *e, *f;

	cJSON_ArrayForEach(e, res) {
		f = msg_get(e, field);
		if (cJSON_IsString(f) && !strcmp(f->valuestring, value))
			return e;
	}
	return NULL;
}

/* --- the main database --- */

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

static int64_t
db_int(struct db *db, const char *sql, int64_t id)
{
	sqlite3_stmt *st = db_stmt(db, sql);
	int64_t r = 0;

	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		r = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return r;
}

static int
run_config(struct db *db, int64_t run, struct task_config *cfg,
    char **errp)
{
	char *json = db_text(db, "SELECT init_params FROM task_runs "
	    "WHERE task_run_id = ?", run);
	int rc;

	if (!json)
		return error_setf(errp, ENOENT, "no task run %lld",
		    (long long)run);
	rc = task_config_from_json(cfg, json, errp);
	free(json);
	return rc;
}

static char *
worker_name(struct db *db, int64_t worker_id)
{
	return db_text(db, "SELECT worker_name FROM workers "
	    "WHERE worker_id = ?", worker_id);
}

/* --- workspace, project, groups --- */

static char *
ref_of(const char *a, const char *b)
{
	return xasprintf("%s/%s", a, b);
}

/*
 * Find or create the entry titled TITLE in LIST_PATH (created by POST to
 * the same path with BODY_KEY: TITLE); the id in *IDP, remembered in the
 * journal as KIND.
 */
static int
find_or_create(struct pro *p, const char *kind, const char *list_path,
    const char *title_key, const char *title, cJSON *extra, char **idp,
    char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT;
	cJSON *list = NULL, *body, *made = NULL;
	const cJSON *e;
	char *ref = ref_of(list_path, title);
	int rc;

	*idp = NULL;
	rc = vendor_rec_get(p->db, NAME, kind, ref, &rec, errp);
	if (rc < 0)
		goto out;
	if (rc && rec.remote_id) {
		*idp = xstrdup(rec.remote_id);
		goto out;
	}
	rc = -1;
	if (call(p, "GET", list_path, NULL, NULL, VENDOR_RETRY, &list,
	    errp) < 0)
		goto out;
	e = find_result(list, title_key, title);
	if (e)
		*idp = jstr(e, "id");
	if (!*idp) {
		body = extra ? extra : msg_new_object();
		extra = NULL;
		msg_set_str(body, title_key, title);
		if (call(p, "POST", list_path, body, NULL, 0, &made,
		    errp) < 0)
			goto out;
		*idp = jstr(made, "id");
		if (!*idp) {
			error_setf(errp, EIO, "prolific POST %s: no id in the "
			    "answer", list_path);
			goto out;
		}
	}
	vendor_rec_release(&rec);
	rec.remote_id = xstrdup(*idp);
	rec.state = xstrdup("found");
	rc = vendor_rec_put(p->db, NAME, kind, ref, &rec, errp);
out:
	msg_free(extra);
	msg_free(list);
	msg_free(made);
	vendor_rec_release(&rec);
	free(ref);
	if (rc < 0) {
		free(*idp);
		*idp = NULL;
	}
	return rc < 0 ? -1 : 0;
}

static int
project_id(struct pro *p, const char *workspace, const char *project,
    char **wsp, char **projp, char **errp)
{
	char *path;
	int rc;

	*projp = NULL;
	if (find_or_create(p, "workspace", "workspaces/", "title", workspace,
	    NULL, wsp, errp) < 0)
		return -1;
	path = xasprintf("workspaces/%s/projects/", *wsp);
	rc = find_or_create(p, "project", path, "title", project, NULL,
	    projp, errp);
	free(path);
	if (rc == 0) {
		/* The project blocks and qualifications use. */
		struct vendor_rec rec = VENDOR_REC_INIT;

		rec.remote_id = *projp;
		rec.state = "current";
		rc = vendor_rec_put(p->db, NAME, "current-project", "-",
		    &rec, errp);
	}
	if (rc < 0) {
		free(*wsp);
		*wsp = NULL;
	}
	return rc;
}

/* The project of the last run, or of the config's names. */
static int
current_project(struct pro *p, char **projp, char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT;
	char *ws = NULL;
	int rc = vendor_rec_get(p->db, NAME, "current-project", "-", &rec,
	    errp);

	if (rc < 0)
		return -1;
	if (rc && rec.remote_id) {
		*projp = rec.remote_id;
		rec.remote_id = NULL;
		vendor_rec_release(&rec);
		return 0;
	}
	vendor_rec_release(&rec);
	rc = project_id(p, "My Workspace", "Project", &ws, projp, errp);
	free(ws);
	return rc;
}

static int
group_id(struct pro *p, const char *project, const char *name, char **idp,
    char **errp)
{
	char *path = xasprintf("participant-groups/?project_id=%s"
	    "&is_active=True", project);
	cJSON *extra = msg_new_object();
	struct vendor_rec rec = VENDOR_REC_INIT;
	char *ref = ref_of(project, name);
	cJSON *list = NULL, *made = NULL;
	const cJSON *e;
	int rc;

	*idp = NULL;
	rc = vendor_rec_get(p->db, NAME, "group", ref, &rec, errp);
	if (rc < 0 || (rc && rec.remote_id)) {
		if (rc > 0)
			*idp = xstrdup(rec.remote_id);
		goto out;
	}
	rc = -1;
	if (call(p, "GET", path, NULL, NULL, VENDOR_RETRY, &list, errp) < 0)
		goto out;
	if ((e = find_result(list, "name", name)))
		*idp = jstr(e, "id");
	if (!*idp) {
		msg_set_str(extra, "project_id", project);
		msg_set_str(extra, "name", name);
		if (call(p, "POST", "participant-groups/", extra, NULL, 0,
		    &made, errp) < 0) {
			extra = NULL;
			goto out;
		}
		extra = NULL;
		if (!(*idp = jstr(made, "id"))) {
			error_setf(errp, EIO, "prolific POST "
			    "participant-groups/: no id in the answer");
			goto out;
		}
	}
	rec.remote_id = xstrdup(*idp);
	rec.state = xstrdup("active");
	rc = vendor_rec_put(p->db, NAME, "group", ref, &rec, errp);
out:
	msg_free(extra);
	msg_free(list);
	msg_free(made);
	vendor_rec_release(&rec);
	free(ref);
	free(path);
	return rc < 0 ? -1 : 0;
}

/* Add (ADD) or remove PARTICIPANT in the project's group NAME. */
static int
group_member(struct pro *p, const char *name, const char *participant,
    int add, char **errp)
{
	char *project = NULL, *gid = NULL, *path = NULL;
	cJSON *body, *ids;
	int rc = -1;

	if (current_project(p, &project, errp) < 0 ||
	    group_id(p, project, name, &gid, errp) < 0)
		goto out;
	body = msg_new_object();
	ids = msg_set_array(body, "participant_ids");
	msg_push_str(ids, participant);
	path = xasprintf("participant-groups/%s/participants/", gid);
	rc = call(p, add ? "POST" : "DELETE", path, body, NULL, VENDOR_RETRY,
	    NULL, errp);
out:
	free(project);
	free(gid);
	free(path);
	return rc;
}

/* --- requesters --- */

static int
prolific_requester_register(struct db *db, int64_t requester_id,
    char **errp)
{
	struct pro p;
	int rc;

	if (pro_open(&p, db, errp) < 0) {
		pro_release(&p);
		return -1;
	}
	rc = call(&p, "GET", "users/me/", NULL, NULL, VENDOR_RETRY, NULL,
	    errp);
	pro_release(&p);
	if (rc < 0)
		return -1;
	return provider_local_requester_register(db, NAME, requester_id,
	    errp);
}

static int
prolific_requester_budget(struct db *db, int64_t requester_id, double *out,
    char **errp)
{
	struct pro p;
	char *ws = NULL, *proj = NULL, *path = NULL;
	cJSON *bal = NULL;
	const cJSON *v;
	int rc = -1;

	if (pro_open(&p, db, errp) < 0)
		goto out;
	if (project_id(&p, "My Workspace", "Project", &ws, &proj, errp) < 0)
		goto out;
	path = xasprintf("workspaces/%s/balance/", ws);
	if (call(&p, "GET", path, NULL, NULL, VENDOR_RETRY, &bal, errp) < 0)
		goto out;
	v = msg_get(bal, "available_balance");
	if (!cJSON_IsNumber(v)) {
		error_setf(errp, EIO, "prolific GET %s: no available_balance",
		    path);
		goto out;
	}
	*out = v->valuedouble / 100.0;	/* minor units */
	rc = 0;
out:
	msg_free(bal);
	free(ws);
	free(proj);
	free(path);
	pro_release(&p);
	return rc;
}

/* --- runs --- */

static char *
run_ref(int64_t run)
{
	return xasprintf("%lld", (long long)run);
}

static char *
internal_name(int64_t run)
{
	return xasprintf("mephisto-run-%lld", (long long)run);
}

static cJSON *
completion_codes(const char *code)
{
	cJSON *arr = msg_new_array(), *c = msg_new_object(), *acts, *a;

	msg_set_str(c, "code", code);
	msg_set_str(c, "code_type", "COMPLETED");
	acts = msg_set_array(c, "actions");
	a = msg_new_object();
	msg_set_str(a, "action", "MANUALLY_REVIEW");
	msg_push(acts, a);
	msg_push(arr, c);
	return arr;
}

/* A black list of the participants blocked here, or NULL. */
static cJSON *
eligibility(struct db *db)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT w.worker_name FROM "
	    "provider_workers p JOIN workers w ON w.worker_id = p.worker_id "
	    "WHERE p.provider_type = 'prolific' AND p.is_blocked "
	    "ORDER BY w.worker_name");
	cJSON *reqs = msg_new_array(), *req, *attrs, *attr, *list = NULL;

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		if (!list)
			list = msg_new_array();
		msg_push_str(list,
		    (const char *)sqlite3_column_text(st, 0));
	}
	if (st)
		sqlite3_reset(st);
	if (list) {
		req = msg_new_object();
		msg_set_str(req, "_cls", "web.eligibility.models."
		    "CustomBlacklistEligibilityRequirement");
		attrs = msg_set_array(req, "attributes");
		attr = msg_new_object();
		msg_set_str(attr, "name", "black_list");
		msg_set(attr, "value", list);
		msg_push(attrs, attr);
		msg_push(reqs, req);
	}
	return reqs;
}

static int
prolific_run_setup(struct db *db, int64_t run, const char *task_url,
    char **errp)
{
	struct task_config cfg = TASK_CONFIG_INIT;
	struct vendor_rec rec = VENDOR_REC_INIT;
	struct pro p;
	char *ws = NULL, *proj = NULL, *ref = run_ref(run), *iname = NULL;
	char *study = NULL, *path = NULL, *code = NULL;
	cJSON *body, *made = NULL, *sc;
	int rc = -1, have;

	if (pro_open(&p, db, errp) < 0)
		goto out;
	have = vendor_rec_get(db, NAME, "study", ref, &rec, errp);
	if (have < 0)
		goto out;
	if (have && rec.remote_id && strcmp(rec.state, "creating")) {
		rc = 0;		/* set up before (resumed run) */
		goto out;
	}
	if (run_config(db, run, &cfg, errp) < 0)
		goto out;
	if (project_id(&p, cfg.prolific_workspace_name,
	    cfg.prolific_project_name, &ws, &proj, errp) < 0)
		goto out;
	iname = internal_name(run);
	/* Journal first: a crash after the POST leaves a findable trace. */
	vendor_rec_release(&rec);
	rec.state = xstrdup("creating");
	rec.task_run_id = run;
	if (vendor_rec_put(db, NAME, "study", ref, &rec, errp) < 0)
		goto out;
	body = msg_new_object();
	msg_set_str(body, "project", proj);
	msg_set_str(body, "name", cfg.task_title);
	msg_set_str(body, "internal_name", iname);
	msg_set_str(body, "description", cfg.task_description);
	path = xasprintf("%s%sparticipant_id={{%%PROLIFIC_PID%%}}"
	    "&study_id={{%%STUDY_ID%%}}&submission_id={{%%SESSION_ID%%}}",
	    task_url, strchr(task_url, '?') ? "&" : "?");
	msg_set_str(body, "external_study_url", path);
	free(path);
	path = NULL;
	msg_set_str(body, "prolific_id_option", "url_parameters");
	msg_set_str(body, "completion_option", "code");
	code = xasprintf("COMPLETED_%llx", (unsigned long long)run);
	msg_set(body, "completion_codes", completion_codes(code));
	msg_set_int(body, "total_available_places", 1);
	msg_set_int(body, "estimated_completion_time",
	    cfg.prolific_estimated_completion_time_in_minutes);
	msg_set_int(body, "reward", (int64_t)llround(cfg.task_reward * 100));
	msg_set(body, "eligibility_requirements", eligibility(db));
	sc = msg_set_object(body, "submissions_config");
	msg_set_int(sc, "max_submissions_per_participant", -1);
	if (call(&p, "POST", "studies/", body, NULL, 0, &made, errp) < 0)
		goto out;
	study = jstr(made, "id");
	if (!study) {
		error_setf(errp, EIO, "prolific POST studies/: no id in the "
		    "answer");
		goto out;
	}
	free(rec.state);
	rec.state = xstrdup("created");
	rec.remote_id = xstrdup(study);
	rec.detail = xstrdup("1");
	if (vendor_rec_put(db, NAME, "study", ref, &rec, errp) < 0)
		goto out;
	free(code);
	code = xasprintf("COMPLETED_%s", study);
	body = msg_new_object();
	msg_set(body, "completion_codes", completion_codes(code));
	path = xasprintf("studies/%s/", study);
	if (call(&p, "PATCH", path, body, NULL, VENDOR_RETRY, NULL,
	    errp) < 0)
		goto out;
	free(path);
	path = xasprintf("studies/%s/transition/", study);
	body = msg_new_object();
	msg_set_str(body, "action", "PUBLISH");
	if (call(&p, "POST", path, body, NULL, VENDOR_RETRY, NULL, errp) < 0)
		goto out;
	free(rec.state);
	rec.state = xstrdup("active");
	if (vendor_rec_put(db, NAME, "study", ref, &rec, errp) < 0)
		goto out;
	log_info("prolific: study %s published for run %lld", study,
	    (long long)run);
	rc = 0;
out:
	msg_free(made);
	vendor_rec_release(&rec);
	task_config_release(&cfg);
	pro_release(&p);
	free(ws);
	free(proj);
	free(ref);
	free(iname);
	free(study);
	free(path);
	free(code);
	return rc;
}

/* The study record of RUN; 1 found, 0 none, -1 error. */
static int
study_of(struct db *db, int64_t run, struct vendor_rec *rec, char **errp)
{
	char *ref = run_ref(run);
	int rc = vendor_rec_get(db, NAME, "study", ref, rec, errp);

	free(ref);
	if (rc > 0 && !rec->remote_id) {
		vendor_rec_release(rec);
		return 0;
	}
	return rc;
}

static int
transition(struct pro *p, const char *what, const char *id,
    const char *action, char **errp)
{
	char *path = xasprintf("%s/%s/transition/", what, id);
	cJSON *body = msg_new_object();
	int rc;

	msg_set_str(body, "action", action);
	rc = call(p, "POST", path, body, NULL, VENDOR_RETRY, NULL, errp);
	free(path);
	return rc;
}

static int
stop_study(struct pro *p, int64_t run, struct vendor_rec *rec, char **errp)
{
	char *ref = run_ref(run);
	int rc;

	rc = transition(p, "studies", rec->remote_id, "STOP", errp);
	if (rc == 0) {
		free(rec->state);
		rec->state = xstrdup("stopped");
		rc = vendor_rec_put(p->db, NAME, "study", ref, rec, errp);
	}
	free(ref);
	return rc;
}

static int
prolific_run_cleanup(struct db *db, int64_t run, char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT;
	struct pro p;
	int rc;

	rc = study_of(db, run, &rec, errp);
	if (rc <= 0 || !strcmp(rec.state, "stopped")) {
		vendor_rec_release(&rec);
		return rc < 0 ? -1 : 0;
	}
	rc = pro_open(&p, db, errp);
	if (rc == 0)
		rc = stop_study(&p, run, &rec, errp);
	pro_release(&p);
	vendor_rec_release(&rec);
	return rc;
}

/* --- units --- */

static int
prolific_unit_launch(struct db *db, int64_t unit_id, const char *url,
    char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT;
	int64_t run, n;
	char *path = NULL, *ref = NULL;
	cJSON *body;
	struct pro p;
	int rc;

	if (provider_local_unit_expire(db, NAME, unit_id, 0, errp) < 0)
		return -1;
	run = db_int(db, "SELECT task_run_id FROM units WHERE unit_id = ?",
	    unit_id);
	rc = study_of(db, run, &rec, errp);
	if (rc <= 0) {
		vendor_rec_release(&rec);
		return rc < 0 ? -1 : error_setf(errp, ENOENT, "run %lld has "
		    "no Prolific study", (long long)run);
	}
	/* Places: every unit launched so far (places only go up). */
	n = db_int(db, "SELECT COUNT(*) FROM units WHERE task_run_id = ? "
	    "AND status <> 'created'", run);
	if (n <= atol(rec.detail ? rec.detail : "0")) {
		vendor_rec_release(&rec);
		return 0;
	}
	if (pro_open(&p, db, errp) < 0) {
		pro_release(&p);
		vendor_rec_release(&rec);
		return -1;
	}
	body = msg_new_object();
	msg_set_int(body, "total_available_places", n);
	path = xasprintf("studies/%s/", rec.remote_id);
	rc = call(&p, "PATCH", path, body, NULL, VENDOR_RETRY, NULL, errp);
	if (rc == 0) {
		free(rec.detail);
		rec.detail = xasprintf("%lld", (long long)n);
		ref = run_ref(run);
		rc = vendor_rec_put(db, NAME, "study", ref, &rec, errp);
	}
	free(ref);
	free(path);
	pro_release(&p);
	vendor_rec_release(&rec);
	return rc;
}

/*
 * A unit expires here; once every unit of the run has expired or is
 * done, nobody else should start the study: stop it (and record that),
 * unless that was done before.
 */
static int
prolific_unit_expire(struct db *db, int64_t unit_id, char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT;
	int64_t run, open;
	struct pro p;
	int rc;

	if (provider_local_unit_expire(db, NAME, unit_id, 1, errp) < 0)
		return -1;
	run = db_int(db, "SELECT task_run_id FROM units WHERE unit_id = ?",
	    unit_id);
	open = db_int(db, "SELECT COUNT(*) FROM units WHERE task_run_id = ? "
	    "AND status IN ('created', 'launched', 'assigned')", run);
	if (!run || open)
		return 0;
	rc = study_of(db, run, &rec, errp);
	if (rc <= 0 || !strcmp(rec.state, "stopped") ||
	    !strcmp(rec.state, "creating")) {
		vendor_rec_release(&rec);
		return rc < 0 ? -1 : 0;
	}
	memset(&p, 0, sizeof(p));
	rc = pro_open(&p, db, errp);
	if (rc == 0)
		rc = stop_study(&p, run, &rec, errp);
	if (rc == 0)
		log_info("prolific: every unit of run %lld is done or expired; "
		    "study %s stopped", (long long)run, rec.remote_id);
	pro_release(&p);
	vendor_rec_release(&rec);
	return rc;
}

/*
 * An arrival must be for the run's own study: a participant sent by
 * another study (or a stale link) would otherwise be recorded against a
 * submission this run can never review.
 */
static int
prolific_arrival_unit(struct db *db, int64_t run, const cJSON *pd,
    const char *reg, int64_t *unit_id, char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT;
	const char *study = NULL;
	int rc;

	*unit_id = 0;
	if (!pd)
		return 0;
	if (msg_opt_str(pd, "prolific_study_id", NULL, &study, errp) < 0)
		return -1;
	rc = study_of(db, run, &rec, errp);
	if (rc < 0)
		return -1;
	if (!rc)
		rc = error_setf(errp, ENOENT, "run %lld has no Prolific study "
		    "yet", (long long)run);
	else if (!study || !*study)
		rc = error_setf(errp, EINVAL, "field 'prolific_study_id' is "
		    "missing: Prolific arrivals name their study");
	else if (strcmp(study, rec.remote_id))
		rc = error_setf(errp, EINVAL, "study '%s' is not the study of "
		    "run %lld", study, (long long)run);
	else
		rc = 0;
	vendor_rec_release(&rec);
	return rc;
}

/* --- workers --- */

static int
prolific_worker_create(struct db *db, const char *name, int64_t *worker_id,
    char **errp)
{
	return provider_local_worker_create(db, NAME, 0, name, worker_id,
	    errp);
}

static int
prolific_worker_is_blocked(struct db *db, int64_t worker_id, int *out,
    char **errp)
{
	return provider_local_is_blocked(db, NAME, worker_id, out, errp);
}

static int
prolific_worker_is_eligible(struct db *db, int64_t worker_id, int64_t run,
    int *out, char **errp)
{
	int blocked;

	if (provider_local_is_blocked(db, NAME, worker_id, &blocked,
	    errp) < 0)
		return -1;
	*out = !blocked;
	return 0;
}

static int
block(struct db *db, int64_t worker_id, const char *reason, int on,
    char **errp)
{
	char *name = worker_name(db, worker_id);
	struct pro p;
	int rc;

	if (!name)
		return error_setf(errp, ENOENT, "no worker %lld",
		    (long long)worker_id);
	rc = pro_open(&p, db, errp);
	if (rc == 0)
		rc = group_member(&p, "Block list", name, on, errp);
	if (rc == 0)
		rc = provider_local_block(db, NAME, worker_id, on, reason,
		    errp);
	pro_release(&p);
	free(name);
	return rc;
}

static int
prolific_worker_block(struct db *db, int64_t worker_id, const char *reason,
    char **errp)
{
	return block(db, worker_id, reason, 1, errp);
}

static int
prolific_worker_unblock(struct db *db, int64_t worker_id, char **errp)
{
	return block(db, worker_id, NULL, 0, errp);
}

static int
qual(struct db *db, int64_t worker_id, const char *q, int on, char **errp)
{
	char *name = worker_name(db, worker_id);
	struct pro p;
	int rc;

	if (!name)
		return error_setf(errp, ENOENT, "no worker %lld",
		    (long long)worker_id);
	rc = pro_open(&p, db, errp);
	if (rc == 0)
		rc = group_member(&p, q, name, on, errp);
	pro_release(&p);
	free(name);
	return rc;
}

static int
prolific_qual_grant(struct db *db, int64_t worker_id, const char *q,
    int64_t value, char **errp)
{
	return qual(db, worker_id, q, 1, errp);
}

static int
prolific_qual_revoke(struct db *db, int64_t worker_id, const char *q,
    char **errp)
{
	return qual(db, worker_id, q, 0, errp);
}

/* --- bonuses --- */

/*
 * Whether bulk payment ID was paid, by asking Prolific: 1, 0, -1.
 */
static int
bonus_paid(struct pro *p, const char *id, char **errp)
{
	char *path = xasprintf("bulk-bonus-payments/%s/", id);
	cJSON *j = NULL;
	char *status;
	int rc;

	rc = call(p, "GET", path, NULL, NULL, VENDOR_RETRY, &j, errp);
	free(path);
	if (rc < 0)
		return -1;
	status = jstr(j, "status");
	rc = status && !strcmp(status, "PAID");
	free(status);
	msg_free(j);
	return rc;
}

static int
prolific_worker_bonus(struct db *db, int64_t worker_id, double amount,
    const char *reason, int64_t unit_id, const char *key, char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT, study = VENDOR_REC_INIT;
	struct vendor_reply r = VENDOR_REPLY_INIT;
	char *name = NULL, *path = NULL, *err = NULL, *perr = NULL;
	const char *hdrs[3] = { "Content-Type: application/json", NULL, NULL };
	int64_t run;
	cJSON *body, *made = NULL;
	struct pro p;
	int rc = -1, have, i, paid;

	memset(&p, 0, sizeof(p));
	if (!key || !*key)
		return error_setf(errp, EINVAL, "a bonus needs an "
		    "idempotency key");
	if (!(amount > 0) || amount >= 1e7)
		return error_setf(errp, EINVAL, "a bonus must be a positive "
		    "amount");
	have = vendor_rec_get(db, NAME, "bonus", key, &rec, errp);
	if (have < 0)
		return -1;
	if (have && !strcmp(rec.state, "paid")) {
		log_info("prolific: bonus '%s' was paid before; not sent "
		    "again", key);
		vendor_rec_release(&rec);
		return 0;
	}
	if (pro_open(&p, db, errp) < 0)
		goto out;
	if (have && !strcmp(rec.state, "paying")) {
		/* A call whose outcome we never learnt. */
		paid = bonus_paid(&p, rec.remote_id, errp);
		if (paid < 0)
			goto out;
		if (paid)
			goto paid;
		free(rec.state);
		rec.state = xstrdup("set-up");
	}
	if (!have || strcmp(rec.state, "set-up")) {
		run = db_int(db, "SELECT task_run_id FROM units "
		    "WHERE unit_id = ?", unit_id);
		if (study_of(db, run, &study, errp) <= 0) {
			if (!study.remote_id)
				error_setf(errp, ENOENT, "unit %lld has no "
				    "Prolific study to pay a bonus in",
				    (long long)unit_id);
			goto out;
		}
		name = worker_name(db, worker_id);
		if (!name) {
			error_setf(errp, ENOENT, "no worker %lld",
			    (long long)worker_id);
			goto out;
		}
		body = msg_new_object();
		msg_set_str(body, "study_id", study.remote_id);
		path = xasprintf("%s,%.2f\n", name, amount);
		msg_set_str(body, "csv_bonuses", path);
		free(path);
		path = NULL;
		if (call(&p, "POST", "submissions/bonus-payments/", body,
		    key, VENDOR_RETRY, &made, errp) < 0)
			goto out;
		vendor_rec_release(&rec);
		rec.remote_id = jstr(made, "id");
		if (!rec.remote_id) {
			error_setf(errp, EIO, "prolific POST "
			    "submissions/bonus-payments/: no id in the answer");
			goto out;
		}
		rec.state = xstrdup("set-up");
		rec.task_run_id = run;
		rec.unit_id = unit_id;
		rec.worker_id = worker_id;
		rec.amount = amount;
		rec.detail = reason ? xstrdup(reason) : NULL;
		if (vendor_rec_put(db, NAME, "bonus", key, &rec, errp) < 0)
			goto out;
	}
	path = xasprintf("bulk-bonus-payments/%s/pay/", rec.remote_id);
	hdrs[1] = err = xasprintf("Idempotency-Key: %s", key);
	for (i = 1;; i++) {
		free(rec.state);
		rec.state = xstrdup("paying");
		if (vendor_rec_put(db, NAME, "bonus", key, &rec, errp) < 0)
			goto out;
		/* Never retried blindly: paying twice pays twice. */
		free(r.body);
		r.body = NULL;
		if (vendor_request(&p.v, "POST", path, NULL, hdrs, 0, &r,
		    &perr) == 0)
			break;
		if (r.status && r.status < 500) {
			free(rec.state);
			rec.state = xstrdup("failed");
			vendor_rec_put(db, NAME, "bonus", key, &rec, NULL);
			error_setf(errp, EIO, "%s", perr);
			free(perr);
			goto out;
		}
		warn("prolific: bonus '%s': %s; asking Prolific whether it "
		    "was paid", key, perr);
		free(perr);
		perr = NULL;
		paid = bonus_paid(&p, rec.remote_id, errp);
		if (paid < 0)
			goto out;
		if (paid)
			break;
		if (i >= p.v.attempts) {
			error_setf(errp, EIO, "prolific POST %s: not paid "
			    "after %d attempts", path, i);
			goto out;
		}
	}
paid:
	free(rec.state);
	rec.state = xstrdup("paid");
	if (vendor_rec_put(db, NAME, "bonus", key, &rec, errp) < 0)
		goto out;
	log_info("prolific: bonus '%s' of %.2f paid (bulk payment %s)", key,
	    rec.amount, rec.remote_id);
	rc = 0;
out:
	msg_free(made);
	vendor_reply_release(&r);
	vendor_rec_release(&rec);
	vendor_rec_release(&study);
	pro_release(&p);
	free(name);
	free(path);
	free(err);
	return rc;
}

/* --- agents --- */

/* The submission id of AGENT_ID ("<submission>-<participant>"). */
static char *
submission_of(struct db *db, int64_t agent_id, char **errp)
{
	char *reg = db_text(db, "SELECT registration_id FROM "
	    "agent_registrations WHERE agent_id = ?", agent_id);
	char *dash;

	if (!reg || !(dash = strchr(reg, '-')) || dash == reg) {
		error_setf(errp, ENOENT, "agent %lld has no Prolific "
		    "submission", (long long)agent_id);
		free(reg);
		return NULL;
	}
	*dash = '\0';
	return reg;
}

/* Move the agent's submission to TARGET (APPROVED or REJECTED). */
static int
decide(struct db *db, int64_t agent_id, const char *target,
    const char *reason, char **errp)
{
	char *sub = submission_of(db, agent_id, errp), *path = NULL;
	char *status = NULL, *msg = NULL;
	cJSON *j = NULL, *body;
	struct pro p;
	int rc = -1;

	memset(&p, 0, sizeof(p));
	if (!sub)
		return -1;
	if (pro_open(&p, db, errp) < 0)
		goto out;
	path = xasprintf("submissions/%s/", sub);
	if (call(&p, "GET", path, NULL, NULL, VENDOR_RETRY, &j, errp) < 0)
		goto out;
	status = jstr(j, "status");
	if (status && !strcmp(status, target)) {
		rc = 0;
		goto out;
	}
	if (!status || strcmp(status, "AWAITING REVIEW")) {
		error_setf(errp, EINVAL, "prolific submission %s is %s, not "
		    "AWAITING REVIEW", sub, status ? status : "unknown");
		goto out;
	}
	free(path);
	path = xasprintf("submissions/%s/transition/", sub);
	body = msg_new_object();
	if (!strcmp(target, "APPROVED")) {
		msg_set_str(body, "action", "APPROVE");
	} else {
		msg_set_str(body, "action", "REJECT");
		msg = reason && strlen(reason) >= 100 ? xstrdup(reason) :
		    xasprintf("%s%s%s", reason ? reason : "",
		    reason && *reason ? " " : "", REJECT_TEXT);
		msg_set_str(body, "message", msg);
		msg_set_str(body, "rejection_category", "OTHER");
	}
	rc = call(&p, "POST", path, body, NULL, VENDOR_RETRY, NULL, errp);
out:
	msg_free(j);
	pro_release(&p);
	free(sub);
	free(path);
	free(status);
	free(msg);
	return rc;
}

static int
prolific_agent_approve(struct db *db, int64_t agent_id, const char *reason,
    char **errp)
{
	return decide(db, agent_id, "APPROVED", reason, errp);
}

static int
prolific_agent_reject(struct db *db, int64_t agent_id, const char *reason,
    char **errp)
{
	return decide(db, agent_id, "REJECTED", reason, errp);
}

/* --- reconcile --- */

struct recon {
	struct pro *p;
	int64_t run;
	int fix, left;
	void (*note)(void *, const char *);
	void *ctx;
};

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
ledger_paid(struct db *db, const char *key)
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
ledger_add(struct db *db, const char *key, const struct vendor_rec *r)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO ledger (ledger_id, "
	    "idempotency_key, kind, worker_id, unit_id, task_run_id, amount, "
	    "reason, status, provider_type, provider_ref) VALUES (?1, ?2, "
	    "'bonus', ?3, ?4, ?5, ?6, ?7, 'paid', 'prolific', ?8) "
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
	sqlite3_bind_text(st, 8, r->remote_id, -1, SQLITE_STATIC);
	if (db_insert_id(db, st, 1, NULL) < 0)
		return -1;
	sqlite3_reset(st);
	return 0;
}

static int
recon_bonus(const char *key, const struct vendor_rec *r, void *data)
{
	struct recon *rc = data;
	struct vendor_rec w = *r;
	char *err = NULL;
	int paid, in_ledger;

	in_ledger = ledger_paid(rc->p->db, key);
	if (in_ledger < 0)
		return -1;
	if (!strcmp(r->state, "paying")) {
		paid = bonus_paid(rc->p, r->remote_id, &err);
		if (paid < 0) {
			say(rc, 0, "bonus '%s': cannot learn whether it was "
			    "paid: %s", key, err);
			free(err);
			return 0;
		}
		if (!paid) {
			say(rc, 0, "bonus '%s' (%.2f) was not paid; run the "
			    "bonus again to pay it", key, r->amount);
			return 0;
		}
		w.state = "paid";
		say(rc, rc->fix, "bonus '%s' (%.2f) was paid on Prolific but "
		    "its outcome was not recorded", key, r->amount);
		if (rc->fix && vendor_rec_put(rc->p->db, NAME, "bonus", key,
		    &w, NULL) < 0)
			return -1;
	} else if (strcmp(r->state, "paid")) {
		if (in_ledger)
			say(rc, 0, "bonus '%s' is in the ledger as paid but "
			    "Prolific's payment is %s", key, r->state);
		return 0;
	}
	if (!in_ledger) {
		say(rc, rc->fix, "bonus '%s' (%.2f) was paid on Prolific but "
		    "is not in the ledger", key, r->amount);
		if (rc->fix && ledger_add(rc->p->db, key, r) < 0)
			return -1;
	}
	return 0;
}

static int
recon_submissions(struct recon *rc, const char *study)
{
	char *path = xasprintf("submissions/?study=%s", study);
	char *err = NULL, *id, *st, *who, *local;
	const char *want;
	cJSON *list = NULL;
	const cJSON *e;
	int64_t agent;

	if (call(rc->p, "GET", path, NULL, NULL, VENDOR_RETRY, &list,
	    &err) < 0) {
		say(rc, 0, "cannot list the submissions of study %s: %s",
		    study, err);
		free(err);
		free(path);
		return 0;
	}
	cJSON_ArrayForEach(e, msg_get(list, "results")) {
		id = jstr(e, "id");
		st = jstr(e, "status");
		who = jstr(e, "participant");
		if (!id || !st) {
			free(id);
			free(st);
			free(who);
			continue;
		}
		local = provider_registered_agent(rc->p->db, rc->run, id,
		    &agent);
		want = NULL;
		if (!local) {
			if (strcmp(st, "RETURNED") && strcmp(st, "TIMED-OUT"))
				say(rc, 0, "submission %s by %s is %s on "
				    "Prolific and has no agent here", id,
				    who ? who : "?", st);
		} else if (!strcmp(local, AGENT_APPROVED) ||
		    !strcmp(local, AGENT_SOFT_REJECTED)) {
			want = "APPROVED";
		} else if (!strcmp(local, AGENT_REJECTED)) {
			want = "REJECTED";
		}
		if (want && strcmp(st, want)) {
			int ok = 0;

			if (rc->fix && !strcmp(st, "AWAITING REVIEW")) {
				ok = decide(rc->p->db, agent, want, NULL,
				    &err) == 0;
				if (!ok) {
					warn("%s", err);
					free(err);
					err = NULL;
				}
			}
			say(rc, ok, "submission %s is %s on Prolific but "
			    "agent %lld is %s here", id, st,
			    (long long)agent, local);
		}
		free(local);
		free(id);
		free(st);
		free(who);
	}
	msg_free(list);
	free(path);
	return 0;
}

static int
prolific_run_reconcile(struct db *db, int64_t run, int fix,
    void (*note)(void *, const char *), void *ctx, char **errp)
{
	struct vendor_rec rec = VENDOR_REC_INIT, w = VENDOR_REC_INIT;
	struct recon rc = { NULL, run, fix, 0, note, ctx };
	char *iname = internal_name(run), *path = NULL, *err = NULL;
	char *status = NULL, *runst = NULL, *id = NULL, *ref = run_ref(run);
	cJSON *list = NULL, *j = NULL;
	const cJSON *e;
	struct pro p;
	int have, ret = -1, live;

	if (pro_open(&p, db, errp) < 0)
		goto out;
	rc.p = &p;
	have = study_of(db, run, &rec, errp);
	if (have < 0)
		goto out;
	/* Studies of this run on Prolific that have no record here. */
	if (call(&p, "GET", "studies/", NULL, NULL, VENDOR_RETRY, &list,
	    errp) < 0)
		goto out;
	cJSON_ArrayForEach(e, msg_get(list, "results")) {
		const cJSON *n = msg_get(e, "internal_name");

		if (!cJSON_IsString(n) || strcmp(n->valuestring, iname))
			continue;
		free(id);
		free(status);
		id = jstr(e, "id");
		status = jstr(e, "status");
		if (!id || (have && !strcmp(id, rec.remote_id)))
			continue;
		live = status && strcmp(status, "AWAITING REVIEW") &&
		    strcmp(status, "COMPLETED");
		if (fix) {
			vendor_rec_release(&w);
			w.remote_id = xstrdup(id);
			w.state = xstrdup("orphan");
			w.task_run_id = run;
			path = xasprintf("orphan-%s", id);
			if (vendor_rec_put(db, NAME, "study", path, &w,
			    errp) < 0)
				goto out;
			free(path);
			path = NULL;
			if (live && transition(&p, "studies", id, "STOP",
			    &err) < 0) {
				say(&rc, 0, "study %s (%s) on Prolific has no "
				    "record here and cannot be stopped: %s",
				    id, status, err);
				free(err);
				err = NULL;
				continue;
			}
		}
		say(&rc, fix, "study %s on Prolific is %s and has no record "
		    "here%s", id, status ? status : "?",
		    fix && live ? "; stopped it" : fix ? "; recorded it" : "");
	}
	if (have) {
		path = xasprintf("studies/%s/", rec.remote_id);
		if (call(&p, "GET", path, NULL, NULL, VENDOR_RETRY, &j,
		    &err) < 0) {
			say(&rc, 0, "study %s of run %lld: %s", rec.remote_id,
			    (long long)run, err);
			free(err);
			err = NULL;
		} else {
			free(status);
			status = jstr(j, "status");
			runst = db_text(db, "SELECT status FROM task_run_state "
			    "WHERE task_run_id = ?", run);
			live = status && (!strcmp(status, "ACTIVE") ||
			    !strcmp(status, "PAUSED") ||
			    !strcmp(status, "SCHEDULED"));
			if (live && runst && strcmp(runst, "running")) {
				int ok = fix && stop_study(&p, run, &rec,
				    &err) == 0;

				if (fix && !ok) {
					warn("%s", err);
					free(err);
					err = NULL;
				}
				say(&rc, ok, "study %s is %s on Prolific but "
				    "run %lld is %s%s", rec.remote_id, status,
				    (long long)run, runst,
				    ok ? "; stopped it" : "");
			} else if (!live && !strcmp(rec.state, "active")) {
				say(&rc, fix, "study %s is %s on Prolific; "
				    "recorded as active here", rec.remote_id,
				    status ? status : "?");
				if (fix) {
					free(rec.state);
					rec.state = xstrdup("stopped");
					if (vendor_rec_put(db, NAME, "study",
					    ref, &rec, errp) < 0)
						goto out;
				}
			}
			recon_submissions(&rc, rec.remote_id);
		}
	}
	if (vendor_rec_each(db, NAME, "bonus", run, recon_bonus, &rc,
	    errp) < 0)
		goto out;
	ret = rc.left;
out:
	msg_free(list);
	msg_free(j);
	vendor_rec_release(&rec);
	vendor_rec_release(&w);
	pro_release(&p);
	free(iname);
	free(path);
	free(status);
	free(runst);
	free(id);
	free(ref);
	return ret;
}

const struct provider provider_prolific = {
	.name = NAME,
	.sandbox = 0,
	.description = "Prolific participants (needs prolific.api_key)",
	.web_script = "prolific",
	.requester_name = "PROLIFIC_REQUESTER",
	.run_setup = prolific_run_setup,
	.run_cleanup = prolific_run_cleanup,
	.requester_register = prolific_requester_register,
	.requester_is_registered = provider_local_requester_is_registered,
	.requester_budget = prolific_requester_budget,
	.unit_launch = prolific_unit_launch,
	.unit_expire = prolific_unit_expire,
	.unit_is_expired = provider_local_unit_is_expired,
	.worker_create = prolific_worker_create,
	.worker_bonus = prolific_worker_bonus,
	.worker_block = prolific_worker_block,
	.worker_unblock = prolific_worker_unblock,
	.worker_is_blocked = prolific_worker_is_blocked,
	.worker_is_eligible = prolific_worker_is_eligible,
	.qual_grant = prolific_qual_grant,
	.qual_revoke = prolific_qual_revoke,
	.agent_approve = prolific_agent_approve,
	.agent_reject = prolific_agent_reject,
	.agent_soft_reject = prolific_agent_approve,
	.run_reconcile = prolific_run_reconcile,
	.arrival_unit = prolific_arrival_unit,
};
