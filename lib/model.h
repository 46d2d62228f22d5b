#ifndef MEPHISTO_MODEL_H
#define MEPHISTO_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "qual.h"

/*
 * The data model (facts section 1, DESIGN section 4) as operations on the
 * shared database: workers, qualifications and grants, units, agents,
 * onboarding agents, agent data, agent registrations and the run event log.
 *
 * Transactions: no function here begins or ends one.  A caller that
 * writes wraps its calls in db_begin() ... db_commit() (rolling back on
 * any failure), so that a status change, its data and its run_events row
 * are committed together.  Reads may run inside or outside a transaction.
 *
 * Ids: 0 stands for NULL in every int64_t id argument and result.
 *
 * Return values: functions return 0 on success and -1 on a database error
 * (the reason is in db_errmsg()).  Lookups return 1 when found and 0 when
 * not; conditional updates return 1 when they changed a row and 0 when the
 * row was not in the expected state.  Strings returned as char * belong to
 * the caller.
 *
 * Every status change made through this module writes a run_events row
 * (event, unit, agent, worker, detail = the new status) in the same
 * transaction; *seqp, when not NULL, gets its sequence number.
 */

struct db;

/* Agent statuses (facts section 2.1). */
#define AGENT_NONE "none"
#define AGENT_ACCEPTED "accepted"
#define AGENT_ONBOARDING "onboarding"
#define AGENT_WAITING "waiting"
#define AGENT_IN_TASK "in task"
#define AGENT_COMPLETED "completed"
#define AGENT_DISCONNECT "disconnect"
#define AGENT_TIMEOUT "timeout"
#define AGENT_PARTNER_DISCONNECT "partner disconnect"
#define AGENT_EXPIRED "expired"
#define AGENT_RETURNED "returned"
#define AGENT_APPROVED "approved"
#define AGENT_SOFT_REJECTED "soft_rejected"
#define AGENT_REJECTED "rejected"

/* Unit statuses (facts section 2.2). */
#define UNIT_CREATED "created"
#define UNIT_LAUNCHED "launched"
#define UNIT_ASSIGNED "assigned"
#define UNIT_COMPLETED "completed"
#define UNIT_ACCEPTED "accepted"
#define UNIT_REJECTED "rejected"
#define UNIT_SOFT_REJECTED "soft_rejected"
#define UNIT_EXPIRED "expired"

/* run_events.event values written by this module. */
#define EV_UNIT_STATUS "unit_status"		/* model_unit_set_status */
#define EV_UNIT_ASSIGNED "unit_assigned"	/* agent created on a unit */
#define EV_UNIT_SUBMITTED "unit_submitted"	/* agent and unit completed */
#define EV_UNIT_RELEASED "unit_released"	/* back to launched */
#define EV_UNIT_EXPIRED "unit_expired"
#define EV_AGENT_STATUS "agent_status"
#define EV_ONBOARDING_STATUS "onboarding_status"
#define EV_ERROR_LOGGED "error_logged"		/* detail: the error JSON */

#define MODEL_STATUS_MAX 24	/* longest status string plus NUL */


/*
 * Whether an agent in STATUS still works on its unit (none, accepted,
 * onboarding, waiting, in task), and whether STATUS is one of the
 * original's complete() set.
 */
int model_agent_status_is_live(const char *status);
int model_agent_status_is_complete(const char *status);

/*
 * A task run and the parts of its configuration (task_runs.init_params,
 * the resolved task YAML as JSON: {"task": ..., "blueprint": ...,
 * "provider": ..., "architect": ...}) that the worker pool uses.
 */
struct model_run {
	int64_t task_run_id, task_id, requester_id;
	char *task_name;
	char *task_type;
	char *provider_type;
	int sandbox;
	int64_t allowed_concurrent;		/* 0: unlimited */
	int64_t maximum_units_per_worker;	/* 0: unlimited */
	int64_t assignment_duration;		/* seconds, default 1800 */
	char *block_qual;			/* NULL: none */
	char *onboarding_qual;			/* NULL: no onboarding */
	char *onboarding_failed_qual;		/* "<onboarding_qual>-failed" */
	const cJSON *onboarding_data;		/* blueprint.onboarding_data */
	const cJSON *onboarding_answers;	/* field -> expected value */
	char *onboarding_validator;		/* shell command, or NULL */
	double onboarding_validator_timeout;	/* seconds, default 10 */
	int live;				/* blueprint is not static */
	char *runner;				/* live_task: shell command */
	char *runner_dir;			/* where it runs, or NULL */
	double runner_timeout;			/* seconds, default 30 */
	int shared_runner;			/* one runner for the run */
	double quorum_timeout;			/* seconds, default 300 */
	/* Screening and gold units (facts section 4.4). */
	int use_screening;
	char *passed_qual;			/* passed_qualification_name */
	int64_t max_screening_units;		/* 0: unlimited */
	const cJSON *screening_data;		/* object or NULL */
	const cJSON *screening_answers;		/* object or NULL */
	char *screening_validator;		/* shell command or NULL */
	double screening_validator_timeout;	/* seconds, default 10 */
	int use_golds;
	char *gold_base;			/* gold_qualification_base */
	int64_t max_gold_units, min_golds, max_incorrect_golds;
	const cJSON *gold_units;		/* name -> {data, answers} */
	/*
	 * task.qualifications, then {block_qual, DoesNotExist} and
	 * {onboarding_failed_qual, DoesNotExist} when those are set.
	 */
	struct qual_list quals;
	cJSON *params;				/* the parsed init_params */
};

/*
 * Load task run RUN_ID and its configuration into RUN.  Missing keys take
 * the original's defaults.  Returns 0, or -1 with *errp set ("no task run
 * 123", "task run 123: task.allowed_concurrent must be an integer", ...).
 */
int model_run_load(struct db *db, int64_t run_id, struct model_run *run,
    char **errp);
void model_run_release(struct model_run *run);

/* Append a run_events row.  DETAIL may be NULL. */
int model_event_add(struct db *db, int64_t run_id, int64_t unit_id,
    int64_t agent_id, int64_t worker_id, const char *event,
    const char *detail, int64_t *seqp);

/* Workers. */

/* Find the worker named NAME: 1 with *idp set, 0, or -1. */
int model_worker_find(struct db *db, const char *name, int64_t *idp);

/*
 * Find the worker named NAME, or create it with PROVIDER_TYPE.  NAME is
 * the final name (providers add their "_sandbox" suffix first).
 */
int model_worker_ensure(struct db *db, const char *name,
    const char *provider_type, int64_t *idp);

/*
 * Resolve WHO, a worker name or id, as command-line tools take it: the
 * worker named WHO, else the worker whose id is WHO, else the worker named
 * "WHO_sandbox".  Returns 1 with *idp (and *namep, *providerp if not
 * NULL; caller frees) set, 0, or -1.
 */
int model_worker_resolve(struct db *db, const char *who, int64_t *idp,
    char **namep, char **providerp);

/* Qualifications and grants. */

int model_qual_find(struct db *db, const char *name, int64_t *idp);

/*
 * Create qualification NAME (DESCRIPTION may be NULL).  Returns 1 when
 * created, 0 when one of that name already exists (*idp is then its id),
 * -1 on error.
 */
int model_qual_create(struct db *db, const char *name,
    const char *description, int64_t *idp);

/* Delete qualification NAME and every grant of it: 1, 0 if absent, -1. */
int model_qual_delete(struct db *db, const char *name);

/*
 * Grant qualification QUAL_ID to WORKER_ID with VALUE: update the grant's
 * value (and update_date) when it exists and differs, else insert.
 */
int model_grant(struct db *db, int64_t worker_id, int64_t qual_id,
    int64_t value);

/* Grant by name, creating the qualification when it does not exist. */
int model_grant_name(struct db *db, int64_t worker_id, const char *name,
    int64_t value);

/* Remove a grant: 1, 0 if there was none, -1. */
int model_revoke(struct db *db, int64_t worker_id, int64_t qual_id);

/*
 * The grant of qualification NAME to WORKER_ID.  Sets *qual_exists
 * (whether the qualification row exists), *granted and *value.
 */
int model_grant_get(struct db *db, int64_t worker_id, const char *name,
    int *qual_exists, int *granted, int64_t *value);

/*
 * Whether WORKER_ID (of PROVIDER_TYPE) meets every requirement of REQS
 * that applies to its provider: 1, 0 (with *failed, if not NULL, set to
 * the name of the first requirement not met, borrowed from REQS), or -1.
 */
int model_worker_meets(struct db *db, int64_t worker_id,
    const char *provider_type, const struct qual_list *reqs,
    const char **failed);

/* Units. */

struct model_unit {
	int64_t unit_id, assignment_id, unit_index;
	int64_t task_id, task_run_id, requester_id;
	int64_t agent_id, worker_id;		/* 0: none */
	char status[MODEL_STATUS_MAX];
};

int model_unit_get(struct db *db, int64_t unit_id, struct model_unit *u);

/*
 * Reserve for WORKER_ID the first unit of run RUN_ID (in creation order)
 * that is launched, has unit_index >= 0 and belongs to an assignment in
 * which the worker holds no unit: one conditional UPDATE ... WHERE
 * status = 'launched' ... RETURNING sets it assigned to WORKER_ID, so two
 * callers (in any process) never get one unit.  The caller then creates
 * the agent with model_agent_create() in the same transaction, which
 * sets the unit's agent_id.  Returns 1 with *u set, 0 when no unit is
 * available, -1.
 */
int model_unit_reserve(struct db *db, int64_t run_id, int64_t worker_id,
    struct model_unit *u);

/*
 * As model_unit_reserve(), but only unit ONLY when it is not 0 (a crowd
 * provider that ties each listing to one unit, as MTurk's HITs).
 */
int model_unit_reserve_only(struct db *db, int64_t run_id,
    int64_t worker_id, int64_t only, struct model_unit *u);

/* Whether run RUN_ID has a unit WORKER_ID could reserve: 1, 0, -1. */
int model_unit_available(struct db *db, int64_t run_id, int64_t worker_id);
int model_unit_available_only(struct db *db, int64_t run_id,
    int64_t worker_id, int64_t only);

/*
 * Set unit UNIT_ID to status TO, if its status is FROM (NULL: any) and not
 * already TO, with an EV_UNIT_STATUS event.  Returns 1, 0, -1.
 */
int model_unit_set_status(struct db *db, int64_t unit_id, const char *from,
    const char *to, int64_t *seqp);
/*
 * Launch the first ROOM (all if negative), by unit id, of run RUN_ID's
 * created units that nobody holds, as model_unit_set_status() on each
 * would, with their events in the same order, in three statements
 * whatever their number.  *IDS (caller frees) and *N are the units
 * launched, ascending.  Returns 0, or -1.
 */
int model_units_launch(struct db *db, int64_t run_id, long room,
    int64_t **ids, size_t *n);
/* The same for expiring all of run RUN_ID's created and launched units. */
int model_units_expire(struct db *db, int64_t run_id, int64_t **ids,
    size_t *n);

/*
 * Give unit UNIT_ID back: if it is assigned to AGENT_ID, set it launched
 * with no agent and no worker (EV_UNIT_RELEASED).  Returns 1, 0, -1.
 */
int model_unit_release(struct db *db, int64_t unit_id, int64_t agent_id,
    int64_t *seqp);

enum model_expire_flags {
	MODEL_EXPIRE_HELD = 1 << 0,	/* also expire an assigned unit and
					   set its live agent "disconnect" */
};

/*
 * Expire unit UNIT_ID (EV_UNIT_EXPIRED).  Only created and launched units
 * are expired, and assigned ones with MODEL_EXPIRE_HELD; completed and
 * reviewed units are never touched (unlike the original's mock expire).
 * Returns 1, 0, -1.
 */
int model_unit_expire(struct db *db, int64_t unit_id, unsigned flags,
    int64_t *seqp);

/* Units of run RUN_ID held by WORKER_ID with STATUS. */
int model_worker_run_units(struct db *db, int64_t run_id,
    int64_t worker_id, const char *status, int64_t *count);

/*
 * Units of task TASK_ID held by WORKER_ID in a completed() status
 * (completed, accepted, rejected, soft_rejected).
 */
int model_worker_task_done(struct db *db, int64_t task_id,
    int64_t worker_id, int64_t *count);

/* The assignment's shared data as JSON text ("{}" if none). */
int model_assignment_shared(struct db *db, int64_t assignment_id,
    char **jsonp);

/* Agents. */

struct model_agent {
	int64_t agent_id, worker_id, unit_id;
	int64_t task_id, task_run_id, assignment_id;
	char status[MODEL_STATUS_MAX];
	double created;			/* epoch seconds */
};

/*
 * Insert an agent for WORKER_ID on unit U (reserved for it by
 * model_unit_reserve()) with STATUS, set the unit's agent_id, and insert
 * the agent_data row (INPUTS as JSON text, task_start now).  Writes
 * EV_UNIT_ASSIGNED (detail: the unit status "assigned").  The new id goes
 * to *idp.
 */
int model_agent_create(struct db *db, const struct model_unit *u,
    int64_t worker_id, const char *status, const char *task_type,
    const char *provider_type, const char *inputs, int64_t *idp,
    int64_t *seqp);

int model_agent_get(struct db *db, int64_t agent_id, struct model_agent *a);

/*
 * Set agent AGENT_ID to TO if its status is FROM (NULL: any) and not TO
 * already (EV_AGENT_STATUS).  Returns 1, 0, -1.
 */
int model_agent_set_status(struct db *db, int64_t agent_id, const char *from,
    const char *to, int64_t *seqp);

/*
 * Record the submission of agent A: outputs (JSON text), files (JSON
 * list text, may be NULL), task_end now, agent and unit completed, one
 * EV_UNIT_SUBMITTED event.  Returns 1, or 0 when A is not live any more
 * (nothing written), -1.
 */
int model_agent_submit(struct db *db, const struct model_agent *a,
    const char *outputs, const char *files, int64_t *seqp);

/*
 * Release live agent A: agent -> TO (e.g. "disconnect"), its unit back to
 * launched; a screening or gold unit (negative unit_index), which is never
 * offered again, is expired instead.  Returns 1, 0 when A was not live,
 * -1.
 */
int model_agent_release(struct db *db, const struct model_agent *a,
    const char *to, int64_t *seqp);

/* Merge the object METADATA (JSON text) into the agent's metadata. */
int model_agent_metadata(struct db *db, int64_t agent_id,
    const char *metadata);

/* The agent's stored inputs (JSON text, "{}" if none). */
int model_agent_inputs(struct db *db, int64_t agent_id, char **jsonp);

/*
 * The outputs and files of agent AGENT_ID (JSON text or NULL; either
 * pointer may be NULL).
 */
int model_agent_outputs(struct db *db, int64_t agent_id, char **outputsp,
    char **filesp);

/* Onboarding agents. */

struct model_onboarding {
	int64_t onboarding_agent_id, worker_id, task_id, task_run_id;
	char status[MODEL_STATUS_MAX];
	double created;
};

/*
 * Insert an onboarding agent for WORKER_ID in RUN with STATUS and its
 * data row (INPUTS JSON text, task_start now); EV_ONBOARDING_STATUS.
 */
int model_onboarding_create(struct db *db, const struct model_run *run,
    int64_t worker_id, const char *status, const char *inputs,
    int64_t *idp, int64_t *seqp);

int model_onboarding_get(struct db *db, int64_t id,
    struct model_onboarding *o);

/* As model_agent_set_status() for onboarding agents. */
int model_onboarding_set_status(struct db *db, int64_t id, const char *from,
    const char *to, int64_t *seqp);

/* Store the submitted OUTPUTS (JSON text) and task_end. */
int model_onboarding_submit(struct db *db, int64_t id, const char *outputs);

/* Inputs and outputs of onboarding agent ID (JSON text or NULL). */
int model_onboarding_data(struct db *db, int64_t id, char **inputsp,
    char **outputsp);

/* Agent registrations (the browser's agent_registration_id). */

struct model_registration {
	int64_t worker_id;
	int64_t agent_id;		/* 0 while onboarding */
	int64_t onboarding_agent_id;	/* 0 once moved to an agent */
};

int model_registration_find(struct db *db, int64_t run_id,
    const char *registration_id, struct model_registration *r);

/* The registration id (caller frees) that points at onboarding agent ID. */
int model_registration_of_onboarding(struct db *db, int64_t run_id,
    int64_t onboarding_agent_id, char **registration_idp);

/*
 * Point REGISTRATION_ID of RUN_ID at AGENT_ID or ONBOARDING_AGENT_ID
 * (exactly one non-zero), inserting or replacing the row.
 */
int model_registration_set(struct db *db, int64_t run_id,
    const char *registration_id, int64_t worker_id, int64_t agent_id,
    int64_t onboarding_agent_id);

#endif
