#ifndef MEPHISTO_LAUNCH_H
#define MEPHISTO_LAUNCH_H

#include <stdint.h>
#include <sys/types.h>

#include "task.h"

/*
 * mephisto-launch: the operator of a task run.  main.c dispatches to the
 * subcommands below; start.c validates and creates a run; supervise.c
 * runs it (children, launching, progress, shutdown); commands.c has the
 * small subcommands; work.c the scripted workers; http.c their client.
 */

struct db;

/* Exit codes (DESIGN.md section 10). */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3

/* What the supervisor was asked to do, from the command line. */
struct supervise_opts {
	int results;		/* --results: JSON lines on stdout */
	int quiet;		/* --quiet: no progress */
	int detach;		/* --detach */
	long grace;		/* --grace SECONDS */
	long auto_workers;	/* --auto-workers N */
	const char *answers;	/* --answers JSON for the scripted workers */
	int resume;		/* re-attaching to an existing run */
};

#define SUPERVISE_OPTS_INIT { 0, 0, 0, 30, 0, NULL, 0 }

/*
 * Supervise run RUN_ID with configuration CFG until it is completed or
 * stopped.  *DBP is open; the run exists.  With --detach the supervisor
 * goes on in a background process with a new connection in *DBP.
 * Returns the exit code.
 */
int supervise(struct db **dbp, int64_t run_id,
    const struct task_config *cfg, const struct supervise_opts *o);

/* Open the database named by the config; dies on failure. */
struct db *launch_open_db(void);

/* The data folder; dies on failure.  The caller frees it. */
char *launch_data_dir(void);

/* The run's folder (checked for the socket length); dies on failure. */
char *launch_run_dir(int64_t run_id);

/*
 * Parse a run id argument; dies with a usage error (exit 2) when it is
 * not an id.
 */
int64_t launch_parse_run(const char *arg);

/* Subcommands: each gets argv with the command name in argv[0]. */
int cmd_start(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_expire(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_results(int argc, char **argv);
int cmd_work(int argc, char **argv);
int cmd_reconcile(int argc, char **argv);

/*
 * Resume run RUN_ID (from "resume" and from task.resume_incomplete_run):
 * reopen it and supervise it with its stored configuration.
 */
int launch_resume(struct db **dbp, int64_t run_id,
    const struct supervise_opts *o);

/* The program's usage text. */
extern const char launch_usage_text[];

/*
 * Set the log level from --log-level NAME; dies with a usage error when
 * NAME is not a level.
 */
void launch_set_log_level(const char *name);

/* Print "usage: ..." for a subcommand to stderr and exit 2. */
void launch_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#endif
