#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "proto.h"
#include "provider.h"
#include "xalloc.h"
#include "banned.h"

/*
 * Submissions (submit_unit, submit_metadata, log_error) and onboarding
 * (submit_onboarding, the answer key or validator command, facts section
 * 4.5).  Every acknowledgement is sent after the commit that records what
 * it acknowledges.
 */

#define ACK_SUBMITTED "Submitted!"
#define ACK_METADATA "Submitted metadata"
#define ACK_ERROR_LOG "Error log sent!"

/* An agent of this run named by a packet's subject, as an error text. */
static char *
parse_agent(struct pool *pool, const char *subject, int64_t *idp)
{
	if (db_id_parse(subject, idp) < 0)
		return xasprintf("unknown agent '%s'", subject);
	return NULL;
}

static int
agent_of_run(struct pool *pool, int64_t id, struct model_agent *a)
{
	int rc = model_agent_get(pool->db, id, a);

	if (rc == 1 && a->task_run_id != pool->run.task_run_id)
		return 0;
	return rc;
}

/*
 * The outputs to store: the submitted data with "files" replaced by the
 * stored file names, as the original does.  Returns NULL with *errp for
 * a malformed files list.
 */
static char *
outputs_text(const cJSON *data, char **filesp, char **errp)
{
	const cJSON *files = msg_get(data, "files"), *f;
	struct buf b = BUF_INIT;
	cJSON *out, *names;
	const char *name;
	size_t i = 0;

	*filesp = NULL;
	if (files && !cJSON_IsNull(files) && msg_val_arr(files, "files",
	    errp) < 0)
		return NULL;
	out = msg_dup(data);
	if (files && cJSON_IsArray(files)) {
		names = msg_new_array();
		msg_foreach(f, files) {
			char *w = xasprintf("files[%zu]", i++);
			int rc = msg_val_obj(f, w, errp);

			free(w);
			if (rc < 0 || msg_get_str(f, "filename", &name,
			    errp) < 0) {
				msg_free(names);
				msg_free(out);
				return NULL;
			}
			msg_push_str(names, name);
		}
		msg_set(out, "files", names);
		msg_print(files, &b);
		*filesp = buf_detach(&b, NULL);
	}
	msg_print(out, &b);
	msg_free(out);
	return buf_detach(&b, NULL);
}

static int
submitted_already(const char *status)
{
	return !strcmp(status, AGENT_COMPLETED) ||
	    !strcmp(status, AGENT_APPROVED) ||
	    !strcmp(status, AGENT_REJECTED) ||
	    !strcmp(status, AGENT_SOFT_REJECTED);
}

/*
 * Inside the transaction: 1 recorded, 0 acked without a record, -1.
 * *CHECKP: a screening validator is to run once it is committed.
 */
static int
submit_txn(struct pool *pool, int64_t id, const char *outputs,
    const char *files, int *checkp, char **errp)
{
	struct model_agent a;
	int rc = agent_of_run(pool, id, &a);

	if (rc <= 0) {
		if (!rc)
			*errp = xasprintf("unknown agent '%" PRId64 "'", id);
		return -1;
	}
	if (submitted_already(a.status))
		return 0;
	if (!model_agent_status_is_live(a.status)) {
		*errp = xasprintf("agent %" PRId64 " is '%s': its work is no "
		    "longer accepted", id, a.status);
		return -1;
	}
	rc = model_agent_submit(pool->db, &a, outputs, files, NULL);
	if (rc == 1 && pool_screen_submitted(pool, &a, outputs, checkp) < 0)
		return -1;
	if (rc == 0)
		*errp = xasprintf("agent %" PRId64 " is no longer working",
		    id);
	return rc <= 0 ? -1 : 1;
}

/* Tell the agent's runner; the assignment may be over. */
static void
live_submitted(struct pool *pool, int64_t id, const cJSON *data)
{
	struct model_agent a;

	pool_runner_agent_event(pool, id, "agent_submitted", data);
	if (model_agent_get(pool->db, id, &a) == 1)
		pool_live_check_over(pool, a.assignment_id);
}

void
pool_submit_unit(struct pool_conn *c, const struct msg_packet *p)
{
	struct pool *pool = c->pool;
	char *err, *outputs = NULL, *files = NULL;
	int64_t id;
	int rc, check = 0;

	err = parse_agent(pool, p->subject_id, &id);
	if (!err)
		outputs = outputs_text(p->data, &files, &err);
	if (err)
		goto refuse;
	if (db_begin(pool->db) < 0)
		goto busy;
	rc = submit_txn(pool, id, outputs, files, &check, &err);
	if (rc < 0) {
		db_rollback(pool->db);
		if (err)
			goto refuse;
		goto busy;
	}
	if (db_commit(pool->db) < 0)
		goto busy;
	pool_ack(c, p, NULL, ACK_SUBMITTED);
	if (rc == 1) {
		log_debug("agent %" PRId64 " submitted", id);
		pool_push_status(pool, p->subject_id, AGENT_COMPLETED);
		pool_publish(pool);
		if (pool->run.runner)
			live_submitted(pool, id, p->data);
		if (check)
			pool_screen_check(pool, id);
	}
	goto out;
refuse:
	warn("submission refused: %s", err);
	pool_send_error(c, p->request_id, err, 0);
	goto out;
busy:
	pool_db_fail(pool, "record a submission");
	pool_send_error(c, p->request_id, "cannot record the submission now",
	    1);
out:
	free(err);
	free(outputs);
	free(files);
}

void
pool_submit_metadata(struct pool_conn *c, const struct msg_packet *p)
{
	struct pool *pool = c->pool;
	struct model_agent a;
	struct buf meta = BUF_INIT;
	char *err;
	int64_t id;
	int rc;

	err = parse_agent(pool, p->subject_id, &id);
	if (err) {
		pool_send_error(c, p->request_id, err, 0);
		free(err);
		return;
	}
	msg_print(p->data, &meta);
	if (db_begin(pool->db) < 0)
		goto busy;
	rc = agent_of_run(pool, id, &a);
	if (rc == 0) {
		db_rollback(pool->db);
		err = xasprintf("unknown agent '%s'", p->subject_id);
		pool_send_error(c, p->request_id, err, 0);
		free(err);
		buf_release(&meta);
		return;
	}
	if (rc < 0 || model_agent_metadata(pool->db, id, meta.buf) < 0 ||
	    db_commit(pool->db) < 0)
		goto busy;
	pool_ack(c, p, NULL, ACK_METADATA);
	buf_release(&meta);
	return;
busy:
	pool_db_fail(pool, "record metadata");
	pool_send_error(c, p->request_id, "cannot record the metadata now", 1);
	buf_release(&meta);
}

void
pool_log_error(struct pool_conn *c, const struct msg_packet *p)
{
	struct pool *pool = c->pool;
	struct model_agent a;
	struct buf detail = BUF_INIT;
	int64_t id = 0, worker = 0, unit = 0;

	msg_print(p->data, &detail);
	warn("error reported for %s: %.500s", p->subject_id, detail.buf);
	if (db_begin(pool->db) < 0)
		goto busy;
	if (db_id_parse(p->subject_id, &id) == 0) {
		int rc = agent_of_run(pool, id, &a);

		if (rc < 0)
			goto busy;
		if (rc) {
			worker = a.worker_id;
			unit = a.unit_id;
		} else {
			id = 0;
		}
	}
	if (model_event_add(pool->db, pool->run.task_run_id, unit, id, worker,
	    EV_ERROR_LOGGED, detail.buf, NULL) < 0 ||
	    db_commit(pool->db) < 0)
		goto busy;
	pool_ack(c, p, NULL, ACK_ERROR_LOG);
	pool_publish(pool);
	buf_release(&detail);
	return;
busy:
	pool_db_fail(pool, "record an error log");
	pool_send_error(c, p->request_id, "cannot record the error now", 1);
	buf_release(&detail);
}

/* Onboarding. */

/* Who waits for the outcome of an onboarding check. */
struct waiter {
	uint64_t conn_id;		/* 0: nobody */
	const char *subject;
	const char *request_id;
	const char *data_request_id;
	const char *registration_id;	/* NULL: look it up */
};

/*
 * Whether the submitted value GOT matches the expected WANT.  HTML forms
 * submit strings, so "4" matches 4 and "true" matches true.
 */
static int
answer_matches(const cJSON *want, const cJSON *got)
{
	struct buf b = BUF_INIT;
	int same;

	if (!got)
		return 0;
	if (cJSON_Compare(want, got, 1))
		return 1;
	if (cJSON_IsString(got) == cJSON_IsString(want) ||
	    cJSON_IsObject(want) || cJSON_IsArray(want) ||
	    cJSON_IsObject(got) || cJSON_IsArray(got))
		return 0;
	if (cJSON_IsString(got)) {
		msg_print(want, &b);
		same = !strcmp(b.buf, got->valuestring);
	} else {
		msg_print(got, &b);
		same = !strcmp(b.buf, want->valuestring);
	}
	buf_release(&b);
	return same;
}

int
pool_answers_match(const cJSON *answers, const cJSON *outputs)
{
	const cJSON *a;

	if (!cJSON_IsObject(outputs))
		return 0;
	msg_foreach(a, answers)
		if (!answer_matches(a, msg_get(outputs, msg_key(a))))
			return 0;
	return 1;
}

static void
send_outcome(struct pool *pool, const struct waiter *w,
    const struct pool_reply *r)
{
	struct pool_conn *c = w->conn_id ? pool_conn_find(pool, w->conn_id) :
	    NULL;

	if (c && !c->closing)
		pool_send_details(c, w->subject, w->request_id,
		    w->data_request_id, r);
}

/*
 * Inside the transaction: record the outcome of onboarding agent O and,
 * when a worker waits for it and passed, give them a unit.
 */
static int
finish_txn(struct pool *pool, const struct model_onboarding *o, int passed,
    const struct waiter *w, struct pool_reply *r)
{
	const struct model_run *run = &pool->run;
	char *reg = NULL;
	int rc;

	if (model_grant_name(pool->db, o->worker_id, run->onboarding_qual,
	    passed ? 1 : 0) < 0)
		return -1;
	if (!passed && model_grant_name(pool->db, o->worker_id,
	    run->onboarding_failed_qual, 0) < 0)
		return -1;
	if (model_onboarding_set_status(pool->db, o->onboarding_agent_id,
	    AGENT_WAITING, passed ? AGENT_APPROVED : AGENT_REJECTED,
	    NULL) < 0)
		return -1;
	r->worker_id = o->worker_id;
	if (!passed) {
		r->failure = REASON_NOT_QUALIFIED;
		return 0;
	}
	if (!w->conn_id)
		return 0;
	if (!w->registration_id && model_registration_of_onboarding(pool->db,
	    run->task_run_id, o->onboarding_agent_id, &reg) < 0)
		return -1;
	rc = pool_check_worker(pool, o->worker_id, r);
	if (!rc && !r->failure)
		rc = pool_assign(pool, o->worker_id,
		    w->registration_id ? w->registration_id : reg, 0, r);
	free(reg);
	return rc;
}

static void
finish_onboarding(struct pool *pool, int64_t id, int passed,
    const struct waiter *w)
{
	struct model_onboarding o;
	struct pool_reply r;
	int rc;

	memset(&r, 0, sizeof(r));
	if (!pool->run.onboarding_qual) {
		warn("onboarding agent %" PRId64 ": the run has no "
		    "onboarding_qualification", id);
		return;
	}
	log_info("onboarding agent %" PRId64 " %s", id,
	    passed ? "passed" : "failed");
	if (db_begin(pool->db) < 0)
		goto busy;
	rc = model_onboarding_get(pool->db, id, &o);
	if (rc < 0)
		goto busy;
	if (!rc || strcmp(o.status, AGENT_WAITING)) {
		db_rollback(pool->db);
		return;
	}
	if (finish_txn(pool, &o, passed, w, &r) < 0 || db_commit(pool->db) < 0)
		goto busy;
	send_outcome(pool, w, &r);
	if (r.deadline)
		pool_new_agent(pool, &r);
	pool_publish(pool);
	pool_reply_release(&r);
	return;
busy:
	pool_db_fail(pool, "record an onboarding outcome");
	pool_reply_release(&r);
	if (w->conn_id) {
		struct pool_conn *c = pool_conn_find(pool, w->conn_id);

		if (c)
			pool_send_error(c, w->request_id,
			    "cannot record the onboarding now", 1);
	}
}

/* An onboarding validator has finished: answer whoever waits. */
static void
onboarding_checked(struct pool_check *k, int passed)
{
	char subject[64];
	struct waiter w;

	snprintf(subject, sizeof(subject), PROTO_ONBOARDING_PREFIX "%" PRId64,
	    k->id);
	w.conn_id = k->conn_id;
	w.subject = subject;
	w.request_id = k->request_id;
	w.data_request_id = k->data_request_id;
	w.registration_id = k->registration_id;
	finish_onboarding(k->pool, k->id, passed, &w);
}

static char *
check_input(struct pool *pool, int64_t id, cJSON **outputsp)
{
	char *inputs = NULL, *outputs = NULL;
	struct buf b = BUF_INIT;

	*outputsp = NULL;
	if (model_onboarding_data(pool->db, id, &inputs, &outputs) < 0)
		return NULL;
	if (outputs)
		*outputsp = msg_parse(outputs, strlen(outputs), 0, NULL);
	buf_addf(&b, "{\"inputs\":%s,\"outputs\":%s}",
	    inputs ? inputs : "null", outputs ? outputs : "null");
	free(inputs);
	free(outputs);
	return buf_detach(&b, NULL);
}

/*
 * Check the answers of onboarding agent ID (status waiting): at once
 * with the answer key, or in a validator child.  W says whom to answer.
 */
static void
start_check(struct pool *pool, int64_t id, const struct waiter *w)
{
	const struct model_run *run = &pool->run;
	struct pool_check *k;
	cJSON *outputs;
	char *input = check_input(pool, id, &outputs);
	int passed = 1;

	if (!input) {
		error("cannot read onboarding agent %" PRId64 ": %s", id,
		    db_errmsg(pool->db));
		return;
	}
	if (run->onboarding_validator) {
		k = pool_check_new(pool, POOL_CHECK_ONBOARDING, id,
		    onboarding_checked);
		k->conn_id = w->conn_id;
		k->request_id = w->request_id ? xstrdup(w->request_id) : NULL;
		k->data_request_id = w->data_request_id ?
		    xstrdup(w->data_request_id) : NULL;
		k->registration_id = w->registration_id ?
		    xstrdup(w->registration_id) : NULL;
		if (pool_check_spawn(k, run->onboarding_validator, input,
		    run->onboarding_validator_timeout) < 0) {
			pool_check_free(k);
			finish_onboarding(pool, id, 0, w);
		}
	} else {
		if (run->onboarding_answers)
			passed = pool_answers_match(run->onboarding_answers,
			    outputs);
		finish_onboarding(pool, id, passed, w);
	}
	msg_free(outputs);
	free(input);
}

/* A submit for an onboarding agent that has finished already. */
static void
answer_finished(struct pool_conn *c, const struct model_onboarding *o,
    const struct waiter *w)
{
	struct pool *pool = c->pool;
	struct pool_reply r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.worker_id = o->worker_id;
	if (!strcmp(o->status, AGENT_REJECTED)) {
		r.failure = REASON_NOT_QUALIFIED;
	} else if (strcmp(o->status, AGENT_APPROVED)) {
		r.worker_id = 0;
		r.failure = REASON_TASK_MISSING;
	} else {
		if (db_begin(pool->db) < 0)
			goto busy;
		rc = pool_check_worker(pool, o->worker_id, &r);
		if (!rc && !r.failure)
			rc = pool_assign(pool, o->worker_id,
			    w->registration_id, 0, &r);
		if (rc < 0 || db_commit(pool->db) < 0)
			goto busy;
	}
	send_outcome(pool, w, &r);
	if (r.deadline)
		pool_new_agent(pool, &r);
	pool_publish(pool);
	pool_reply_release(&r);
	return;
busy:
	pool_db_fail(pool, "register a worker");
	pool_reply_release(&r);
	pool_send_error(c, w->request_id, "cannot register the worker now", 1);
}

static int
parse_onboarding(const char *subject, int64_t *idp)
{
	size_t n = strlen(PROTO_ONBOARDING_PREFIX);

	if (strncmp(subject, PROTO_ONBOARDING_PREFIX, n))
		return -1;
	return db_id_parse(subject + n, idp);
}

/* Inside the transaction: store the answers, status waiting. */
static int
store_answers(struct pool *pool, int64_t id, const struct msg_packet *p)
{
	const cJSON *data = msg_get(p->data, "onboarding_data");
	struct buf b = BUF_INIT;
	int rc;

	if (data && !cJSON_IsNull(data))
		msg_print(data, &b);
	else
		buf_addstr(&b, "{}");
	rc = model_onboarding_submit(pool->db, id, b.buf);
	buf_release(&b);
	if (rc < 0)
		return -1;
	return model_onboarding_set_status(pool->db, id, AGENT_ONBOARDING,
	    AGENT_WAITING, NULL) < 0 ? -1 : 0;
}

void
pool_submit_onboarding(struct pool_conn *c, const struct msg_packet *p)
{
	struct pool *pool = c->pool;
	struct model_onboarding o;
	struct waiter w;
	const cJSON *data;
	const char *reg = NULL;
	char *err = NULL;
	int64_t id;
	int rc;

	w.conn_id = c->id;
	w.subject = p->subject_id;
	w.request_id = p->request_id;
	if (parse_onboarding(p->subject_id, &id) < 0) {
		err = xasprintf("unknown onboarding agent '%s'", p->subject_id);
		goto refuse;
	}
	if (msg_opt_str(p->data, "request_id", p->request_id,
	    &w.data_request_id, &err) < 0 ||
	    msg_opt_str(p->data, "agent_registration_id", NULL, &reg,
	    &err) < 0 ||
	    (msg_has(p->data, "onboarding_data") &&
	    msg_get_obj(p->data, "onboarding_data", &data, &err) < 0))
		goto refuse;
	w.registration_id = reg && *reg ? reg : NULL;
	if (db_begin(pool->db) < 0)
		goto busy;
	rc = model_onboarding_get(pool->db, id, &o);
	if (rc < 0)
		goto busy;
	if (!rc || o.task_run_id != pool->run.task_run_id) {
		db_rollback(pool->db);
		err = xasprintf("unknown onboarding agent '%s'", p->subject_id);
		goto refuse;
	}
	if (strcmp(o.status, AGENT_ONBOARDING)) {
		db_rollback(pool->db);
		if (!strcmp(o.status, AGENT_WAITING) && pool_check_find(pool,
		    POOL_CHECK_ONBOARDING, id))
			pool_send_error(c, p->request_id, "the onboarding "
			    "answers are being checked", 1);
		else if (!strcmp(o.status, AGENT_WAITING))
			start_check(pool, id, &w);
		else
			answer_finished(c, &o, &w);
		return;
	}
	if (store_answers(pool, id, p) < 0 || db_commit(pool->db) < 0)
		goto busy;
	pool_push_status(pool, p->subject_id, AGENT_WAITING);
	pool_publish(pool);
	start_check(pool, id, &w);
	return;
refuse:
	pool_send_error(c, p->request_id, err, 0);
	free(err);
	return;
busy:
	pool_db_fail(pool, "record onboarding answers");
	pool_send_error(c, p->request_id, "cannot record the answers now", 1);
}

int
pool_recheck_onboarding(struct pool *pool)
{
	sqlite3_stmt *st = db_stmt(pool->db, "SELECT onboarding_agent_id "
	    "FROM onboarding_agents WHERE task_run_id = ? AND "
	    "status = 'waiting'");
	int64_t *ids = NULL;
	size_t nr = 0, alloc = 0, i;
	struct waiter w;
	int rc;

	if (!st)
		return pool_db_fail(pool, "read onboarding agents");
	sqlite3_bind_int64(st, 1, pool->run.task_run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ALLOC_GROW(ids, nr + 1, alloc);
		ids[nr++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(ids);
		return pool_db_fail(pool, "read onboarding agents");
	}
	memset(&w, 0, sizeof(w));
	for (i = 0; i < nr; i++) {
		log_info("checking onboarding agent %" PRId64 " again", ids[i]);
		start_check(pool, ids[i], &w);
	}
	free(ids);
	return 0;
}
