#ifndef MEPHISTO_RUN_H
#define MEPHISTO_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"
#include "task.h"

struct cJSON;
struct db;

/*
 * Task runs as mephisto-launch sees them (DESIGN.md sections 2 and 8):
 * creating a run with its assignments and units, launching units
 * (created -> launched) under the concurrency limit, expiring them,
 * marking the run completed, and reading results back.
 *
 * Unit status changes go through lib/model, so that each writes its
 * run_events row in the same transaction.  Each function here that writes
 * runs its own BEGIN IMMEDIATE transaction (none may be open on DB).
 *
 * Ids are int64_t; 0 means none.  Functions return 0 on success and -1
 * with a malloc'd message in *errp (the caller frees it).
 */

/* The unit statuses that are final: the run is done when all units are. */
int run_unit_status_is_final(const char *status);

/*
 * Create, in one transaction: the requester (provider.requester_name,
 * created on first use), the task (task.task_name, created on first use;
 * an existing task must have the same blueprint type), the task run with
 * CFG as init_params and its task_run_state row (status "running"), and
 * for each row of DATA an assignment, its assignment_data (shared = the
 * row plus "html": basename of task_source; unit_data = units_per_assignment
 * empty objects) and its units (index 0..n-1, status created, pay_amount
 * task_reward).  Unit and assignment ids grow in data order, so "ORDER BY
 * unit_id" is the launch order.  The new run's id goes to *RUN_IDP.
 */
int run_create(struct db *db, const struct task_config *cfg,
    const struct data_set *data, int64_t *run_idp, char **errp);

/* The latest run of task NAME: 1 with *RUN_IDP set, 0 if none, -1. */
int run_latest_of_task(struct db *db, const char *task_name,
    int64_t *run_idp, char **errp);

/*
 * Load run RUN_ID's stored configuration (task_runs.init_params) into
 * CFG.  Returns 0, or -1 ("no task run 123", or a bad configuration).
 */
int run_load_config(struct db *db, int64_t run_id, struct task_config *cfg,
    char **errp);

/*
 * Prepare run RUN_ID to be resumed: set is_completed = 0 and the state
 * "running".  Units left launched stay launched (the pool serves them).
 */
int run_reopen(struct db *db, int64_t run_id, char **errp);

/*
 * Launch created units of RUN_ID, in order, so that at most MAX_LIVE
 * (0: no limit) units are launched or assigned, telling the run's
 * provider (lib/provider) that each is live at task URL; screening and
 * gold units are extra and do not count.  *LAUNCHEDP gets how many were
 * launched now.
 */
int run_launch_units(struct db *db, int64_t run_id, long max_live,
    const char *url, size_t *launchedp, char **errp);

enum run_expire_flags {
	RUN_EXPIRE_HELD = 1 << 0,	/* assigned units too (their agents
					   are set "disconnect") */
};

/*
 * Expire the units UNITS[0..n) of RUN_ID (every unit of the run when N is
 * 0) that are created or launched, and assigned ones with
 * RUN_EXPIRE_HELD, and tell the provider.  A unit id that is not in the run is an error (nothing
 * expired).  *EXPIREDP gets how many were expired.
 */
int run_expire(struct db *db, int64_t run_id, const int64_t *units,
    size_t n, unsigned flags, size_t *expiredp, char **errp);

/* Unit counts of one run, by status. */
struct run_counts {
	long total;
	long created, launched, assigned;
	long completed, accepted, rejected, soft_rejected, expired;
	long other;
};

/*
 * Count RUN_ID's units by status.  Screening and gold units (negative
 * unit_index) are extra work, outside the run's data: not counted.
 */
int run_counts(struct db *db, int64_t run_id, struct run_counts *c,
    char **errp);

/* Units still to be done: created + launched + assigned. */
long run_counts_open(const struct run_counts *c);

/*
 * If no unit of RUN_ID is created, launched or assigned, mark the run
 * completed (task_runs.is_completed = 1, state "completed").  *DONEP gets
 * 1 when the run is (now or already) completed.  Screening and gold units
 * do not keep a run open: those still open are expired (their agents
 * become "disconnect") in the same transaction.
 */
int run_complete_if_done(struct db *db, int64_t run_id, int *donep,
    char **errp);

/*
 * Record the supervisor's view in task_run_state: STATUS ("running",
 * "stopping", "completed", "stopped"; NULL keeps it), the task URL and
 * port (NULL / -1 keep them) and the supervisor's pid (-1 keeps it, 0
 * clears it).
 */
int run_set_state(struct db *db, int64_t run_id, const char *status,
    const char *task_url, int port, long pid, char **errp);

/* What task_run_state and task_runs say about a run. */
struct run_info {
	int64_t task_run_id, task_id;
	char *task_name;
	char *status;		/* task_run_state.status, or NULL */
	char *task_url;		/* or NULL */
	int port;		/* 0: unknown */
	long supervisor_pid;	/* 0: none */
	int is_completed;
	char *creation_date;
	char *provider_type;
};

/* 1 with INFO filled, 0 when there is no such run, -1. */
int run_info_get(struct db *db, int64_t run_id, struct run_info *info,
    char **errp);
void run_info_release(struct run_info *info);

/*
 * Every run (newest first) as { task_run_id, task_name, status,
 * is_completed, creation_date, task_url, counts: {status: n} }, appended
 * to the JSON array OUT.
 */
int run_list(struct db *db, struct cJSON *out, char **errp);

/* Which units "results" reports. */
struct run_results_query {
	int64_t run_id;			/* or 0 */
	const char *task_name;		/* or NULL: one of the two is set */
	const char *const *statuses;	/* NULL: completed, accepted,
					   rejected, soft_rejected */
	size_t nr_statuses;
	int64_t unit_id;		/* only this unit, or 0 */
	/*
	 * Add review ({status, note, time} of the unit's last decision, or
	 * null), bonus (paid, in total) and blocked (its worker).
	 */
	int review;
};

/*
 * Call FN for each unit matching Q, in unit order, with its result as a
 * JSON object: unit_id, assignment_id, task_run_id, agent_id, worker_id,
 * worker_name, status, inputs, outputs, task_start, task_end, files (ids
 * as strings, missing values null).  FN may add to the row, which is
 * freed after it returns; it returns 0 to go on, -1 to stop (run_results
 * then returns -1 with *errp NULL).
 */
typedef int run_result_fn(struct cJSON *row, void *arg);
int run_results(struct db *db, const struct run_results_query *q,
    run_result_fn *fn, void *arg, char **errp);

/*
 * run_results() for printing: FN gets each row as one line of JSON (LEN
 * bytes, ending in a newline), written straight from the database, with
 * inputs, outputs and files as the text stored (null when it is not
 * JSON).  The line is only valid during the call.
 */
typedef int run_line_fn(const char *line, size_t len, void *arg);
int run_results_lines(struct db *db, const struct run_results_query *q,
    run_line_fn *fn, void *arg, char **errp);

/* A run_line_fn writing each line to the stdio stream FILE. */
int run_line_write(const char *line, size_t len, void *file);

/* A row of the queue of a run, for "status". */
struct run_unit_row {
	int64_t unit_id, assignment_id, agent_id, worker_id;
	long unit_index;
	char status[24];
	char *worker_name;	/* or NULL */
	char *agent_status;	/* or NULL */
	double started, ended;	/* epoch seconds, 0: unknown */
};

struct run_units {
	struct run_unit_row *row;
	size_t nr, alloc;
};
#define RUN_UNITS_INIT { NULL, 0, 0 }

/* The units of RUN_ID with their current holder, in unit order. */
int run_units_get(struct db *db, int64_t run_id, struct run_units *u,
    char **errp);
void run_units_release(struct run_units *u);

/*
 * The run's folder, "<data dir>/runs/<id>" (not created), checked to be
 * short enough for its pool.sock.  Returns NULL with *errp set.
 */
char *run_dir(const char *data_dir, int64_t run_id, char **errp);

#endif
