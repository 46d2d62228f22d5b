#ifndef MEPHISTO_REVIEW_H
#define MEPHISTO_REVIEW_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "model.h"

/*
 * mephisto-review: the reviewer's side of a task (DESIGN section 9).
 *
 * main.c parses the command line, gathers the units to work on (unit ids,
 * JSON lines on stdin, or a --task/--run query) and runs the scripted
 * verbs and "replay"; decide.c makes one decision on one unit in one
 * transaction; export.c has "export" and "summary"; tty.c the interactive
 * review.
 *
 * Every decision that changes something is echoed as one JSON line
 * (review_decision_line()) so that decisions can be saved and replayed;
 * replaying one that is already in effect changes nothing.
 */

struct db;

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

enum review_verb {
	REVIEW_APPROVE,
	REVIEW_REJECT,
	REVIEW_SOFT_REJECT,
	REVIEW_BONUS,
	REVIEW_BLOCK,
	REVIEW_UNBLOCK,
	REVIEW_QUALIFY,
	REVIEW_REVOKE,
};
#define REVIEW_NR_VERBS (REVIEW_REVOKE + 1)

/* "approve", "soft-reject", ...: the verb as typed and as recorded. */
const char *review_verb_name(enum review_verb v);
/* The verb named S: 0 with *v set, or -1. */
int review_verb_parse(const char *s, enum review_verb *v);

/* One decision, to be applied to one unit (strings borrowed). */
struct decision {
	enum review_verb verb;
	const char *note;	/* review note, reject or block reason */
	double amount;		/* bonus */
	const char *key;	/* bonus idempotency key; NULL: unit and note */
	const char *qual;	/* qualify, revoke */
	int64_t value;		/* qualify */
};

enum review_flags {
	REVIEW_FORCE = 1 << 0,		/* decide units that are not completed
					   or were decided already */
	REVIEW_DRY_RUN = 1 << 1,	/* check and report, write nothing */
};

/* A unit as review sees it. */
struct review_unit {
	int64_t unit_id, assignment_id, task_id, task_run_id;
	int64_t agent_id, worker_id;		/* 0: none */
	char status[MODEL_STATUS_MAX];
	char *worker_name;			/* or NULL */
	char *provider_type;
};

/* Load unit UNIT_ID: 1, 0 when there is no such unit, -1 (db_errmsg()). */
int review_unit_load(struct db *db, int64_t unit_id, struct review_unit *u);
void review_unit_release(struct review_unit *u);

/* Whether a unit in STATUS can be reviewed without --force. */
int review_status_reviewable(const char *status);

/*
 * Apply D to unit UNIT_ID in one transaction: agent and unit status,
 * worker_review row, qualification grant, ledger entry, and the
 * provider's side through lib/provider.
 *
 * Returns 1 when the decision was made (or, with REVIEW_DRY_RUN, would
 * be): *LINEP gets its JSON line (caller frees with msg_free()).  Returns
 * 0 when it is already in effect (a replay): nothing is written and *MSGP
 * says so.  Returns -1 when it is refused or fails: *MSGP says why.
 * *MSGP is malloc'd; the caller frees it.
 */
int review_decide(struct db *db, const struct decision *d, int64_t unit_id,
    unsigned flags, cJSON **linep, char **msgp);

/* The default idempotency key of a bonus: "bonus:UNIT_ID:REASON". */
char *review_bonus_key(int64_t unit_id, const char *reason);

/*
 * The bonus D would pay for UNIT_ID: 1 with *WORKER_NAME (caller frees)
 * and *PAID (whether its key is in the ledger already) set, 0 when the
 * unit cannot get one (*MSGP says why), -1.
 */
int review_bonus_plan(struct db *db, const struct decision *d,
    int64_t unit_id, unsigned flags, char **worker_name, int *paid,
    char **msgp);

/* Print LINE (one JSON object) on stdout, and flush it. */
void review_print_line(const cJSON *line);

/* Open the database named by the configuration; dies on failure. */
struct db *review_open_db(void);

/*
 * The units to work on, as main.c gathers them: from a query (--task or
 * --run with --status), or unit ids given or read as JSON lines.
 */
struct review_query {
	const char *task;		/* --task NAME, or NULL */
	const char *run;		/* --run ID, or NULL */
	const char *const *statuses;	/* NULL: the command's default */
	size_t nr_statuses;
};

/*
 * The unit ids matching Q (task_run, unit order) into *IDS (caller
 * frees), *NR.  Dies when the task or run does not exist.
 */
void review_query_units(struct db *db, const struct review_query *q,
    int64_t **ids, size_t *nr);

/* The task or run named by Q must exist; dies otherwise. */
void review_query_check(struct db *db, const struct review_query *q);

/* export.c */
int review_cmd_export(int argc, char **argv);
int review_cmd_summary(int argc, char **argv);

/* tty.c: interactive review of IDS; returns the exit code. */
struct review_tty_opts {
	unsigned flags;
	const char *block_qual;		/* soft block qualification, or NULL */
};
int review_interactive(struct db *db, const int64_t *ids, size_t nr,
    const struct review_tty_opts *o);

/* main.c */
void review_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#endif
