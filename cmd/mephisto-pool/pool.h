#ifndef MEPHISTO_POOL_H
#define MEPHISTO_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "imap.h"
#include "model.h"
#include "msg.h"

/*
 * mephisto-pool: the worker pool of one task run (DESIGN sections 2, 4, 7).
 *
 * One process per run, one event loop, every fact in the database.  The
 * only state kept in memory is derived from the database and rebuilt on
 * start: the agents' expiry deadlines, runners of live assignments, and
 * validator children running for onboarding and screening submissions
 * (checked again after a restart: an onboarding agent stays "waiting",
 * a screening submission stays without an outcome until one is granted).
 *
 * Files: main.c (options, subcommand dispatch), daemon.c (start-up,
 * connections, packet dispatch, launch requests), register.c
 * (registration, reconnect), submit.c (submissions, metadata, error logs,
 * onboarding), validator.c (validator children), screen.c (screening and
 * gold units), live.c (live tasks: quorums, drops), runner.c (their
 * runner processes), expiry.c (assignment_duration_in_seconds),
 * offline.c (the subcommands that work on the database without a daemon).
 */

struct db;
struct ipc_conn;
struct loop;
struct pool;
struct pool_runner;
struct runner_proc;

/* One connection from mephisto-io, mephisto-launch or another client. */
struct pool_conn {
	struct pool *pool;
	struct ipc_conn *ipc;
	uint64_t id;			/* unique in this process */
	int hello;			/* the peer's hello was accepted */
	int is_io;			/* the peer is mephisto-io */
	int subscribed;			/* a SUB_* kind, 0: none */
	int closing;			/* close once output is flushed */
	int dead;			/* the peer is gone: free after the round */
	int writing;			/* watched for LOOP_WRITE */
	size_t mark;			/* output queued before this round */
	struct pool_conn *next, *prev;
};

/*
 * What a subscriber gets: every run event and live update, or only a
 * "changed" packet after a round that changed the run (one at a time:
 * none while the last is unread), which is all mephisto-launch needs
 * to know when to count again.
 */
enum pool_sub_kind {
	SUB_EVENTS = 1,
	SUB_CHANGES,
};

/* What a deadline is for. */
enum pool_deadline_kind {
	POOL_DL_AGENT,			/* assignment_duration_in_seconds */
	POOL_DL_ONBOARDING,		/* the same, for onboarding */
	POOL_DL_QUORUM,			/* quorum_timeout_seconds (waiting) */
};

/* A deadline of a live agent or onboarding agent. */
struct pool_deadline {
	double when;			/* epoch seconds */
	int64_t id;
	int onboarding;			/* an enum pool_deadline_kind */
};

/* What a validator child checks. */
enum pool_check_kind {
	POOL_CHECK_ONBOARDING,		/* id: an onboarding agent */
	POOL_CHECK_SCREENING,		/* id: a screening unit's agent */
};

struct pool_check;
/* Called once the child has exited (or was killed): the outcome. */
typedef void pool_check_fn(struct pool_check *k, int passed);

/* A validator child (validator.c). */
struct pool_check {
	struct pool *pool;
	enum pool_check_kind kind;
	int64_t id;			/* what is checked */
	pool_check_fn *done;
	pid_t pid;
	struct proc_watch *watch;	/* tells when the child exits */
	int outfd;			/* its stdout and stderr */
	long long timer;		/* the time limit */
	int killed;			/* killed at the time limit */
	uint64_t conn_id;		/* onboarding: who asked (0: nobody) */
	char *request_id;		/* the envelope request id */
	char *data_request_id;		/* data.request_id */
	char *registration_id;
	struct pool_check *next;
};

/* What an agent_details answer said, for metrics. */
enum pool_response {
	POOL_RESP_NOT_QUALIFIED,
	POOL_RESP_NO_UNITS,
	POOL_RESP_AGENT_MISSING,
	POOL_RESP_ASSIGNED,
	POOL_RESP_ASSIGNED_ONBOARDING,
	POOL_RESP_OTHER,
	POOL_NR_RESPONSES
};

struct pool {
	struct db *db;
	struct loop *loop;
	struct model_run run;
	const struct provider *provider;
	char *sock_path;
	int lfd;
	struct pool_conn *conns;
	uint64_t next_conn_id;
	size_t nr_subscribers;		/* of SUB_EVENTS */
	size_t nr_watchers;		/* of SUB_CHANGES */
	int changed;			/* the round changed the run */
	int64_t last_seq;		/* last run_events seq sent */
	struct pool_deadline *dl;	/* a FIFO: deadlines in order */
	size_t dl_head, dl_nr, dl_alloc;
	long long dl_timer;		/* 0: none armed */
	double dl_timer_when;
	struct pool_check *checks;
	struct pool_runner *runners;	/* live_task: one per assignment */
	struct imap runner_by_assignment, runner_by_agent;
	struct runner_proc *procs;	/* their processes */
	struct runner_proc *shared;	/* shared_runner: the run's one */
	struct runner_proc *dirty;	/* processes with events to write */
	int stopping;
	uint64_t details[POOL_NR_RESPONSES];	/* agent_details sent */
	int64_t round_seq;		/* last_seq when the round began */
	size_t round_packets;		/* packets dispatched in the round */
};

/*
 * daemon.c
 *
 * Group commit: every round of the event loop (all the packets read from
 * every connection, the timers and the validator children that were
 * ready) is one database transaction, each request in its own savepoint
 * (db_batch_start()).  Packets are only queued while the round runs;
 * after the round's COMMIT they are all sent.  So no answer leaves before
 * the commit that covers it, and one failing request is rolled back alone.
 * If the COMMIT itself fails, the answers queued in the round are taken
 * back and the connections that were owed them are closed: their peers
 * fail the requests as retryable.
 */
int pool_daemon(int64_t run_id, const char *log_file);
/* Queue P on C; it is sent after the round's commit. */
void pool_send(struct pool_conn *c, const struct msg_packet *p);
/* Answer REQUEST_ID on C with an error packet. */
void pool_send_error(struct pool_conn *c, const char *request_id,
    const char *message, int retryable);
/* Reply "ack" to P's request with DATA (NULL: {"status": STATUS}). */
void pool_ack(struct pool_conn *c, const struct msg_packet *p, cJSON *data,
    const char *status);
/* The connection with id ID, or NULL when it is gone. */
struct pool_conn *pool_conn_find(struct pool *pool, uint64_t id);
/* Push {status} for agent SUBJECT to every mephisto-io connection. */
void pool_push_status(struct pool *pool, const char *subject,
    const char *status);
/* Send new run_events rows to subscribers; note the change for watchers. */
void pool_publish(struct pool *pool);
/* Roll back after a failed step and say why; returns -1. */
int pool_db_fail(struct pool *pool, const char *what);

/* metrics.c */
struct pool_reply;
/* Count the agent_details answer R. */
void pool_count_details(struct pool *pool, const struct pool_reply *r);
/* Answer a "metrics" request: data {"text": Prometheus text}. */
void pool_metrics(struct pool_conn *c, const struct msg_packet *p);

/* register.c */
void pool_register(struct pool_conn *c, const struct msg_packet *p);

/*
 * The outcome of a registration: what agent_details says.  init is owned.
 */
struct pool_reply {
	int64_t worker_id;		/* 0: null */
	int64_t agent_id;		/* 0: null */
	int onboarding;			/* agent_id is an onboarding agent */
	cJSON *init;			/* init_task_data, or NULL */
	const char *failure;		/* failure_reason, or NULL */
	double deadline;		/* an agent was created: its deadline */
	const char *status;		/* its status (NULL: in task) */
	int64_t start_assignment;	/* live: the assignment starts */
};

/*
 * Inside a transaction: register WORKER_ID (already checked for
 * qualifications) for a unit, or onboarding, under REGISTRATION_ID (may
 * be NULL).  Returns 0 with *r filled, or -1 on a database error.
 */
int pool_assign(struct pool *pool, int64_t worker_id,
    const char *registration_id, int check_onboarding, struct pool_reply *r);
/* Inside a transaction: qualification, block and limit checks. */
int pool_check_worker(struct pool *pool, int64_t worker_id,
    struct pool_reply *r);
/* Send agent_details for R answering REQUEST_ID / DATA_REQUEST_ID. */
void pool_send_details(struct pool_conn *c, const char *subject,
    const char *request_id, const char *data_request_id,
    const struct pool_reply *r);
void pool_reply_release(struct pool_reply *r);
/* After the commit that created R's agent: its deadline, its status. */
void pool_new_agent(struct pool *pool, const struct pool_reply *r);

/* submit.c */
void pool_submit_unit(struct pool_conn *c, const struct msg_packet *p);
void pool_submit_metadata(struct pool_conn *c, const struct msg_packet *p);
void pool_log_error(struct pool_conn *c, const struct msg_packet *p);
void pool_submit_onboarding(struct pool_conn *c, const struct msg_packet *p);
/* Check again the onboarding agents left "waiting" by a dead pool. */
int pool_recheck_onboarding(struct pool *pool);

/*
 * validator.c: validator children, for onboarding and screening.  The
 * outcome comes back through the event loop; nothing waits for a child.
 */
/* A check of KIND for ID, linked into the pool, DONE called at the end. */
struct pool_check *pool_check_new(struct pool *pool,
    enum pool_check_kind kind, int64_t id, pool_check_fn *done);
/*
 * Start "sh -c CMD" for K with INPUT on stdin and TIMEOUT seconds to
 * finish.  Returns 0, or -1 (said why) and the caller frees K.
 */
int pool_check_spawn(struct pool_check *k, const char *cmd,
    const char *input, double timeout);
/* The running check of KIND for ID, or NULL. */
struct pool_check *pool_check_find(struct pool *pool,
    enum pool_check_kind kind, int64_t id);
/* Unlink and free K (its child, if any, is not touched). */
void pool_check_free(struct pool_check *k);
/* Kill and reap every validator child. */
void pool_checks_kill(struct pool *pool);

/*
 * live.c: live tasks, the assignment state machine (quorums, drops); see
 * the comment at the top of live.c.
 */
/*
 * A mephisto_bound_live_update: to the agent's runner.  Returns -1 when
 * its data.update_id was relayed for the agent already (a browser that
 * reconnects sends again): drop it.
 */
int pool_live_update_in(struct pool *pool, const struct msg_packet *p);
/* No agent of ASSIGNMENT_ID works any more: tell its runner. */
void pool_live_check_over(struct pool *pool, int64_t assignment_id);
/* Agent AGENT_ID dropped (disconnect, returned, timeout). */
void pool_live_drop(struct pool *pool, int64_t agent_id, const char *status);
/* Agent AGENT_ID waited quorum_timeout_seconds: release it if waiting. */
void pool_live_quorum_expire(struct pool *pool, int64_t agent_id);
/*
 * Inside a registration: the new agent of ASSIGNMENT_ID is waiting; if
 * every unit now has one, all become in task (r->start_assignment set).
 * Sets r->status.
 */
int pool_live_join(struct pool *pool, int64_t assignment_id,
    struct pool_reply *r);
/* After that commit: push in task to the others, start the runner. */
void pool_live_started(struct pool *pool, int64_t assignment_id,
    int64_t except);
/* On start: runners again for the assignments in progress. */
int pool_runners_resume(struct pool *pool);

/*
 * runner.c: the runner processes of live tasks and their JSON-lines
 * protocol; see the comment at the top of runner.c.
 */
/* Start the runner of ASSIGNMENT_ID (its agents are in task). */
void pool_runner_start(struct pool *pool, int64_t assignment_id,
    int resumed);
/* Queue EVENT (with DATA, may be NULL) for the runner of AGENT_ID. */
void pool_runner_agent_event(struct pool *pool, int64_t agent_id,
    const char *event, const cJSON *data);
/* After the round's commit: write the runners' queued events. */
void pool_runners_flush(struct pool *pool);
void pool_runners_kill(struct pool *pool);

/*
 * Shared by live.c and runner.c only.
 */
/*
 * The runner of ASSIGNMENT_ID while the assignment is in progress (its
 * runner neither failed nor told it is over), or NULL.
 */
struct pool_runner *pool_runner_of_assignment(struct pool *pool,
    int64_t assignment_id);
/* The runner (not failed) of AGENT_ID, or NULL. */
struct pool_runner *pool_runner_of_agent(struct pool *pool, int64_t agent_id);
/*
 * R's assignment is over: close its runner's input (after what is
 * queued; it has runner_timeout to exit), or tell a shared runner and
 * forget R.
 */
void pool_runner_finish(struct pool_runner *r);
/*
 * Whether agent AGENT_ID of R sent UPDATE_ID already, among its latest
 * ones; remembers it otherwise.  1 or 0.
 */
int pool_runner_update_seen(struct pool_runner *r, int64_t agent_id,
    const char *update_id);
/* The live agents of ASSIGNMENT_ID (in unit order), other than EXCEPT. */
int pool_live_agents(struct pool *pool, int64_t assignment_id,
    int64_t except, int64_t **ids, size_t *nr);
/* Push STATUS for agent AGENT_ID to mephisto-io. */
void pool_live_push(struct pool *pool, int64_t agent_id, const char *status);
/*
 * In its own transaction: release the live agents of ASSIGNMENT_ID
 * ("disconnect", units back to launched) and record WHY as a
 * "runner_failed" run event.
 */
void pool_live_contain(struct pool *pool, int64_t assignment_id,
    const char *why);

/* screen.c: screening and gold units (facts section 4.4) */
#define POOL_SCREENING_INDEX (-1)
#define POOL_GOLD_INDEX (-2)
/*
 * Inside a registration: give WORKER_ID a screening or gold unit when it
 * needs one.  Returns 1 when R is the answer (a unit, or no work), 0 to
 * go on with normal units, -1.
 */
int pool_screen_assign(struct pool *pool, int64_t worker_id,
    struct pool_reply *r);
/*
 * Inside a submission: check a screening or gold result, move counters.
 * Sets *CHECKP when a screening validator must judge it: call
 * pool_screen_check() after the commit.
 */
int pool_screen_submitted(struct pool *pool, const struct model_agent *a,
    const char *outputs, int *checkp);
/* Start the screening validator for AGENT_ID's submission. */
void pool_screen_check(struct pool *pool, int64_t agent_id);
/* On start: validators again for screening submissions without outcome. */
int pool_screen_recheck(struct pool *pool);

/* submit.c: whether OUTPUTS has every answer of the object ANSWERS. */
int pool_answers_match(const cJSON *answers, const cJSON *outputs);

/* expiry.c */
/* Load the deadlines of the run's live agents and arm the timer. */
int pool_expiry_start(struct pool *pool);
/* Remember a new deadline (they arrive in order) and arm the timer. */
void pool_expiry_add(struct pool *pool, double when, int64_t id,
    int onboarding);
void pool_expiry_release(struct pool *pool);

/* offline.c */
int pool_cmd_workers(int argc, char **argv);
int pool_cmd_qual(int argc, char **argv);
int pool_cmd_grant(int argc, char **argv);
int pool_cmd_revoke(int argc, char **argv);
int pool_cmd_block(int argc, char **argv);
int pool_cmd_unblock(int argc, char **argv);

#endif
