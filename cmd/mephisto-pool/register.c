#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "pool.h"
#include "proto.h"
#include "provider.h"
#include "xalloc.h"
#include "banned.h"

/*
 * Registration (facts sections 3.6, 4.1-4.3): register_agent packets from
 * mephisto-io.  Each is decided and committed in one transaction: the
 * worker, the checks, the unit reservation, the agent and its data, the
 * registration id and the run_events rows; agent_details is sent only
 * after the commit.
 */

void
pool_reply_release(struct pool_reply *r)
{
	msg_free(r->init);
	memset(r, 0, sizeof(*r));
}

void
pool_send_details(struct pool_conn *c, const char *subject,
    const char *request_id, const char *data_request_id,
    const struct pool_reply *r)
{
	struct msg_packet p = MSG_PACKET_INIT;
	cJSON *d = msg_new_object();
	char *onb;

	msg_set_str(d, "request_id", data_request_id);
	if (r->worker_id)
		msg_set_id(d, "worker_id", r->worker_id);
	else
		msg_set_null(d, "worker_id");
	if (r->agent_id && r->onboarding) {
		onb = xasprintf(PROTO_ONBOARDING_PREFIX "%" PRId64,
		    r->agent_id);
		msg_set_str(d, "agent_id", onb);
		free(onb);
	} else if (r->agent_id) {
		msg_set_id(d, "agent_id", r->agent_id);
	} else {
		msg_set_null(d, "agent_id");
	}
	if (r->init)
		msg_set(d, "init_task_data", msg_dup(r->init));
	else
		msg_set_null(d, "init_task_data");
	msg_set_str(d, "failure_reason", r->failure);
	pool_count_details(c->pool, r);
	p.packet_type = PT_AGENT_DETAILS;
	p.subject_id = subject;
	p.request_id = request_id;
	p.data = d;
	p.server_timestamp = msg_now();
	pool_send(c, &p);
	msg_free(d);
}

/* Parse stored JSON text into init_task_data ({} when unusable). */
static cJSON *
init_from_text(const char *text)
{
	cJSON *v = text ? msg_parse(text, strlen(text), 0, NULL) : NULL;

	return v ? v : msg_new_object();
}

static void
fail_with(struct pool_reply *r, const char *reason, int keep_worker)
{
	if (!keep_worker)
		r->worker_id = 0;
	r->agent_id = 0;
	r->failure = reason;
}

int
pool_check_worker(struct pool *pool, int64_t worker_id,
    struct pool_reply *r)
{
	const struct model_run *run = &pool->run;
	const char *failed = NULL;
	int64_t active = 0, done = 0;
	char *err = NULL;
	int rc, ok;

	r->worker_id = worker_id;
	rc = model_worker_meets(pool->db, worker_id, run->provider_type,
	    &run->quals, &failed);
	if (rc <= 0) {
		if (!rc)
			log_debug("worker %" PRId64 " does not meet '%s'",
			    worker_id, failed);
		fail_with(r, REASON_NOT_QUALIFIED, 0);
		return rc;
	}
	if (provider_worker_is_eligible(pool->provider, pool->db, worker_id,
	    run->task_run_id, &ok, &err) < 0) {
		error("%s", err);
		free(err);
		return -1;
	}
	if (!ok) {
		log_debug("worker %" PRId64 " is blocked", worker_id);
		fail_with(r, REASON_NOT_QUALIFIED, 0);
		return 0;
	}
	if (!run->allowed_concurrent && !run->maximum_units_per_worker)
		return 0;
	if (model_worker_run_units(pool->db, run->task_run_id, worker_id,
	    UNIT_ASSIGNED, &active) < 0)
		return -1;
	if (run->allowed_concurrent && active >= run->allowed_concurrent) {
		fail_with(r, REASON_TOO_MANY_CONCURRENT, 1);
		return 0;
	}
	if (!run->maximum_units_per_worker)
		return 0;
	if (model_worker_task_done(pool->db, run->task_id, worker_id,
	    &done) < 0)
		return -1;
	if (active + done >= run->maximum_units_per_worker)
		fail_with(r, REASON_MAX_FOR_TASK, 1);
	return 0;
}

static int
start_onboarding(struct pool *pool, int64_t worker_id,
    const char *registration_id, int64_t pin, struct pool_reply *r)
{
	const struct model_run *run = &pool->run;
	struct buf inputs = BUF_INIT;
	int64_t id;
	int rc;

	rc = model_unit_available_only(pool->db, run->task_run_id, worker_id,
	    pin);
	if (rc <= 0) {
		if (!rc)
			fail_with(r, REASON_NO_AVAILABLE_UNITS, 1);
		return rc;
	}
	if (run->onboarding_data)
		msg_print(run->onboarding_data, &inputs);
	else
		buf_addstr(&inputs, "{}");
	rc = model_onboarding_create(pool->db, run, worker_id,
	    AGENT_ONBOARDING, inputs.buf, &id, NULL);
	if (!rc && registration_id)
		rc = model_registration_set(pool->db, run->task_run_id,
		    registration_id, worker_id, 0, id);
	if (!rc) {
		r->agent_id = id;
		r->onboarding = 1;
		r->init = init_from_text(inputs.buf);
		r->deadline = db_now() + (double)run->assignment_duration;
	}
	buf_release(&inputs);
	return rc;
}

static int
assign_unit(struct pool *pool, int64_t worker_id,
    const char *registration_id, int64_t pin, struct pool_reply *r)
{
	const struct model_run *run = &pool->run;
	struct model_unit u;
	char *shared = NULL;
	int64_t id;
	int rc;

	rc = model_unit_reserve_only(pool->db, run->task_run_id, worker_id,
	    pin, &u);
	if (rc <= 0) {
		if (!rc)
			fail_with(r, REASON_NO_AVAILABLE_UNITS, 1);
		return rc;
	}
	rc = model_assignment_shared(pool->db, u.assignment_id, &shared);
	/* Live: every agent waits until the assignment's quorum is met. */
	if (!rc)
		rc = model_agent_create(pool->db, &u, worker_id,
		    run->live ? AGENT_WAITING : AGENT_IN_TASK,
		    run->task_type, run->provider_type, shared, &id, NULL);
	if (!rc && run->live)
		rc = pool_live_join(pool, u.assignment_id, r);
	if (!rc && registration_id)
		rc = model_registration_set(pool->db, run->task_run_id,
		    registration_id, worker_id, id, 0);
	if (!rc) {
		r->agent_id = id;
		r->init = init_from_text(shared);
		r->deadline = db_now() + (double)run->assignment_duration;
		log_debug("worker %" PRId64 " got unit %" PRId64 " as agent "
		    "%" PRId64, worker_id, u.unit_id, id);
	}
	free(shared);
	return rc;
}

int
pool_assign(struct pool *pool, int64_t worker_id,
    const char *registration_id, int check_onboarding, struct pool_reply *r)
{
	const char *onb = pool->run.onboarding_qual;
	int exists, granted, rc;
	int64_t value, pin;
	char *err = NULL;

	r->worker_id = worker_id;
	/* The unit the provider ties this arrival to (MTurk: its HIT's). */
	if (provider_arrival_unit(pool->provider, pool->db,
	    pool->run.task_run_id, NULL, registration_id, &pin, &err) < 0) {
		error("%s", err);
		free(err);
		return -1;
	}
	if (check_onboarding && onb) {
		if (model_grant_get(pool->db, worker_id, onb, &exists,
		    &granted, &value) < 0)
			return -1;
		if (granted && !value) {
			fail_with(r, REASON_NOT_QUALIFIED, 1);
			return 0;
		}
		if (!granted)
			return start_onboarding(pool, worker_id,
			    registration_id, pin, r);
	}
	rc = pool_screen_assign(pool, worker_id, r);
	if (rc > 0 && r->agent_id && registration_id)
		rc = model_registration_set(pool->db, pool->run.task_run_id,
		    registration_id, worker_id, r->agent_id, 0) < 0 ? -1 : 1;
	if (rc)
		return rc < 0 ? -1 : 0;
	return assign_unit(pool, worker_id, registration_id, pin, r);
}

void
pool_new_agent(struct pool *pool, const struct pool_reply *r)
{
	char subject[64];

	pool_expiry_add(pool, r->deadline, r->agent_id, r->onboarding);
	if (r->onboarding)
		snprintf(subject, sizeof(subject),
		    PROTO_ONBOARDING_PREFIX "%" PRId64, r->agent_id);
	else
		snprintf(subject, sizeof(subject), "%" PRId64, r->agent_id);
	pool_push_status(pool, subject, r->onboarding ? AGENT_ONBOARDING :
	    r->status ? r->status : AGENT_IN_TASK);
	if (r->status && !strcmp(r->status, AGENT_WAITING))
		pool_expiry_add(pool, db_now() + pool->run.quorum_timeout,
		    r->agent_id, POOL_DL_QUORUM);
	if (r->start_assignment)
		pool_live_started(pool, r->start_assignment, r->agent_id);
}

/*
 * A registration id seen before: the same agent while it is live (also
 * after a pool restart), else TASK_MISSING; an onboarding agent as its
 * state says.  Returns 1 when R is the answer, 0 when the worker passed
 * onboarding and should be registered afresh, -1 on a database error.
 */
static int
reconnect_agent(struct pool *pool, int64_t agent_id, struct pool_reply *r)
{
	struct model_agent a;
	char *inputs = NULL;
	int rc = model_agent_get(pool->db, agent_id, &a);

	if (rc < 0)
		return -1;
	if (!rc || a.task_run_id != pool->run.task_run_id ||
	    !model_agent_status_is_live(a.status)) {
		fail_with(r, REASON_TASK_MISSING, 0);
		return 1;
	}
	if (model_agent_inputs(pool->db, agent_id, &inputs) < 0)
		return -1;
	r->worker_id = a.worker_id;
	r->agent_id = agent_id;
	r->init = init_from_text(inputs);
	free(inputs);
	return 1;
}

static int
reconnect_onboarding(struct pool *pool, int64_t id, struct pool_reply *r)
{
	struct model_onboarding o;
	char *inputs = NULL, *outputs = NULL;
	int rc = model_onboarding_get(pool->db, id, &o);

	if (rc < 0)
		return -1;
	if (!rc || o.task_run_id != pool->run.task_run_id) {
		fail_with(r, REASON_TASK_MISSING, 0);
		return 1;
	}
	if (!strcmp(o.status, AGENT_APPROVED))
		return 0;
	if (!strcmp(o.status, AGENT_REJECTED)) {
		fail_with(r, REASON_NOT_QUALIFIED, 0);
		return 1;
	}
	if (!strcmp(o.status, AGENT_WAITING)) {
		r->worker_id = o.worker_id;
		fail_with(r, REASON_NO_AVAILABLE_UNITS, 1);
		return 1;
	}
	if (strcmp(o.status, AGENT_ONBOARDING)) {
		fail_with(r, REASON_TASK_MISSING, 0);
		return 1;
	}
	if (model_onboarding_data(pool->db, id, &inputs, &outputs) < 0)
		return -1;
	r->worker_id = o.worker_id;
	r->agent_id = id;
	r->onboarding = 1;
	r->init = init_from_text(inputs);
	free(inputs);
	free(outputs);
	return 1;
}

/*
 * The registration proper, inside the transaction.  Returns 0 with R
 * filled, or -1: with *errp set for a bad request, without for a
 * database failure.
 */
static int
register_txn(struct pool *pool, const cJSON *pd, const char *reg,
    struct pool_reply *r, char **errp)
{
	struct model_registration mr;
	const char *name;
	char *err = NULL;
	int64_t worker_id, pin;
	int rc;

	if (msg_get_str(pd, "worker_name", &name, errp) < 0)
		return -1;
	if (!*name) {
		*errp = xstrdup("field 'worker_name' is empty");
		return -1;
	}
	/* An arrival the provider refuses writes nothing. */
	if (provider_arrival_unit(pool->provider, pool->db,
	    pool->run.task_run_id, pd, reg, &pin, errp) < 0) {
		if (!*errp)
			*errp = xstrdup("the provider refused the arrival");
		log_info("arrival of '%s' refused: %s", name, *errp);
		return -1;
	}
	if (provider_worker_create(pool->provider, pool->db, name,
	    &worker_id, &err) < 0) {
		error("%s", err);
		free(err);
		return -1;
	}
	if (reg) {
		rc = model_registration_find(pool->db, pool->run.task_run_id,
		    reg, &mr);
		if (rc < 0)
			return -1;
		/* a registration id is no key to another worker's agent */
		if (rc && mr.worker_id != worker_id) {
			*errp = xstrdup("field 'agent_registration_id' belongs "
			    "to another worker");
			return -1;
		}
		if (rc && mr.agent_id)
			return reconnect_agent(pool, mr.agent_id, r) < 0 ?
			    -1 : 0;
		if (rc) {
			rc = reconnect_onboarding(pool,
			    mr.onboarding_agent_id, r);
			if (rc)
				return rc < 0 ? -1 : 0;
		}
	}
	if (pool_check_worker(pool, worker_id, r) < 0)
		return -1;
	if (r->failure)
		return 0;
	return pool_assign(pool, worker_id, reg, 1, r);
}

void
pool_register(struct pool_conn *c, const struct msg_packet *p)
{
	struct pool *pool = c->pool;
	struct pool_reply r;
	const cJSON *pd;
	const char *reg = NULL, *dreq = NULL;
	char *err = NULL;

	memset(&r, 0, sizeof(r));
	if (msg_get_obj(p->data, "provider_data", &pd, &err) < 0 ||
	    msg_opt_str(pd, "agent_registration_id", NULL, &reg, &err) < 0 ||
	    msg_opt_str(p->data, "request_id", p->request_id, &dreq,
	    &err) < 0) {
		pool_send_error(c, p->request_id, err, 0);
		free(err);
		return;
	}
	if (reg && !*reg)
		reg = NULL;
	if (db_begin(pool->db) < 0) {
		pool_db_fail(pool, "start a registration");
		pool_send_error(c, p->request_id, "database busy", 1);
		return;
	}
	if (register_txn(pool, pd, reg, &r, &err) < 0) {
		if (err) {
			db_rollback(pool->db);
			pool_send_error(c, p->request_id, err, 0);
			free(err);
		} else {
			pool_db_fail(pool, "register a worker");
			pool_send_error(c, p->request_id,
			    "cannot register the worker now", 1);
		}
		pool_reply_release(&r);
		return;
	}
	if (db_commit(pool->db) < 0) {
		pool_db_fail(pool, "commit a registration");
		pool_send_error(c, p->request_id,
		    "cannot register the worker now", 1);
		pool_reply_release(&r);
		return;
	}
	pool_send_details(c, p->subject_id, p->request_id, dreq, &r);
	if (r.deadline)
		pool_new_agent(pool, &r);
	pool_publish(pool);
	pool_reply_release(&r);
}
