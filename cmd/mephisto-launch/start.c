#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data.h"
#include "db.h"
#include "launch.h"
#include "log.h"
#include "run.h"
#include "task.h"
#include "xalloc.h"
#include "opt.h"
#include "banned.h"

/*
 * "mephisto launch TASK.yml [SECTION.KEY=VALUE...]": check the task and
 * its data, reporting every problem before anything is written, create
 * the run in one transaction, and hand it to the supervisor.
 */

enum {
	OPT_CHECK = 256,
	OPT_CREATE_ONLY,
	OPT_RESULTS,
	OPT_DETACH,
	OPT_GRACE,
	OPT_AUTO_WORKERS,
	OPT_ANSWERS,
	OPT_LOG_LEVEL,
};

static const struct option start_options[] = {
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "create-only", no_argument, NULL, OPT_CREATE_ONLY },
	{ "results", no_argument, NULL, OPT_RESULTS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "detach", no_argument, NULL, OPT_DETACH },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "auto-workers", required_argument, NULL, OPT_AUTO_WORKERS },
	{ "answers", required_argument, NULL, OPT_ANSWERS },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static long
parse_count(const char *opt, const char *arg, const char *usage)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 0)
		launch_usage_error(usage, "%s needs a number, not '%s'", opt,
		    arg);
	return v;
}

/*
 * Parse the supervisor options shared by launching and resuming.  Returns
 * 1 when C was one of them, 0 otherwise.
 */
static int
supervise_option(int c, struct supervise_opts *o, const char *usage)
{
	switch (c) {
	case OPT_RESULTS:
		o->results = 1;
		return 1;
	case 'q':
		o->quiet = 1;
		return 1;
	case OPT_DETACH:
		o->detach = 1;
		return 1;
	case OPT_GRACE:
		o->grace = parse_count("--grace", optarg, usage);
		return 1;
	case OPT_AUTO_WORKERS:
		o->auto_workers = parse_count("--auto-workers", optarg, usage);
		return 1;
	case OPT_ANSWERS:
		o->answers = optarg;
		return 1;
	case OPT_LOG_LEVEL:
		launch_set_log_level(optarg);
		return 1;
	}
	return 0;
}

static void
print_problems(const struct problems *p, const char *file)
{
	size_t i;

	for (i = 0; i < p->nr; i++)
		fprintf(stderr, "%s\n", p->item[i]);
	error("%zu problem%s in '%s'; nothing was written", p->nr,
	    p->nr == 1 ? "" : "s", file);
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * With task.resume_incomplete_run, go on with the task's latest run if it
 * is not completed.  Returns 1 when there was one (*CODE set), else 0.
 */
static int
resume_incomplete(struct db **dbp, const struct task_config *cfg,
    const struct supervise_opts *o, int *code)
{
	struct db *db = *dbp;
	struct run_info info;
	int64_t run_id;
	char *err = NULL;
	int r;

	r = run_latest_of_task(db, cfg->task_name, &run_id, &err);
	if (r < 0)
		die("%s", err);
	if (!r)
		return 0;
	r = run_info_get(db, run_id, &info, &err);
	if (r < 0)
		die("%s", err);
	if (!r || info.is_completed) {
		run_info_release(&info);
		return 0;
	}
	run_info_release(&info);
	log_info("resuming run %lld of task '%s'", (long long)run_id,
	    cfg->task_name);
	*code = launch_resume(dbp, run_id, o);
	return 1;
}

static int
create_and_supervise(struct task_config *cfg, struct data_set *data,
    const struct supervise_opts *o, int create_only)
{
	struct db *db = launch_open_db();
	double t0;
	int64_t run_id;
	size_t n = data->nr;
	char *err = NULL;
	int code;

	if (cfg->resume_incomplete_run && resume_incomplete(&db, cfg, o,
	    &code)) {
		db_close(db);
		return code;
	}
	/*
	 * The supervisor checkpoints once the units are launched: copying
	 * the new run into the database file here, and the launch there,
	 * would keep the workers waiting for both.
	 */
	if (!create_only && db_checkpoint_later(db) < 0)
		die("cannot set up the database: %s", db_errmsg(db));
	t0 = now_seconds();
	if (run_create(db, cfg, data, &run_id, &err) < 0)
		die("%s", err);
	data_set_release(data);
	log_info("created run %lld of task '%s': %zu assignment%s, %zu "
	    "unit%s in %.2f s", (long long)run_id, cfg->task_name, n,
	    n == 1 ? "" : "s", n * (size_t)cfg->units_per_assignment,
	    n * (size_t)cfg->units_per_assignment == 1 ? "" : "s",
	    now_seconds() - t0);
	if (create_only) {
		if (run_set_state(db, run_id, "stopped", NULL, -1, 0,
		    &err) < 0)
			die("%s", err);
		printf("%lld\n", (long long)run_id);
		db_close(db);
		return EXIT_OK;
	}
	/*
	 * The data set and the creation's page cache are freed, but their
	 * pages stay with the process until trimmed: a supervisor that
	 * serves a large run for hours should not keep them.
	 */
	malloc_trim(0);
	code = supervise(&db, run_id, cfg, o);
	db_close(db);
	return code;
}

int
cmd_start(int argc, char **argv)
{
	struct supervise_opts o = SUPERVISE_OPTS_INIT;
	struct problems problems = PROBLEMS_INIT;
	struct task_config cfg = TASK_CONFIG_INIT;
	struct data_set data = DATA_SET_INIT;
	enum data_format fmt;
	const char *file, *path;
	int c, check = 0, create_only = 0, code;

	while ((c = opt_getopt(argc, argv, "qh", start_options)) != -1) {
		if (supervise_option(c, &o, launch_usage_text))
			continue;
		switch (c) {
		case OPT_CHECK:
			check = 1;
			break;
		case OPT_CREATE_ONLY:
			create_only = 1;
			break;
		case 'h':
			fputs(launch_usage_text, stdout);
			return EXIT_OK;
		default:
			launch_usage_error(launch_usage_text, NULL);
		}
	}
	if (optind >= argc)
		launch_usage_error(launch_usage_text, "no task file given");
	file = argv[optind++];
	task_config_load(&cfg, file, (const char *const *)argv + optind,
	    (size_t)(argc - optind), &problems);
	path = task_data_path(&cfg, &fmt);
	if (path && !access(path, R_OK))
		task_load_data(&cfg, &data, &problems);
	if (problems.nr) {
		print_problems(&problems, file);
		problems_release(&problems);
		data_set_release(&data);
		task_config_release(&cfg);
		return EXIT_FAIL;
	}
	if (check) {
		printf("%s: ok: %zu assignment%s, %zu unit%s\n", file, data.nr,
		    data.nr == 1 ? "" : "s",
		    data.nr * (size_t)cfg.units_per_assignment,
		    data.nr * (size_t)cfg.units_per_assignment == 1 ?
		    "" : "s");
		code = EXIT_OK;
	} else {
		code = create_and_supervise(&cfg, &data, &o, create_only);
	}
	data_set_release(&data);
	task_config_release(&cfg);
	return code;
}

static const char resume_usage[] =
"usage: mephisto launch resume [options] RUN\n"
"\n"
"Go on with run RUN after its supervisor was killed or the machine\n"
"restarted: re-attach to its io and pool if they still run (else start\n"
"them again) and keep launching units until every unit is done.\n"
"\n"
"Options: --results, -q/--quiet, --detach, --grace SECONDS,\n"
"--auto-workers N, --answers JSON, --log-level LEVEL, -h/--help\n"
"(as for launching a task).\n";

int
cmd_resume(int argc, char **argv)
{
	struct supervise_opts o = SUPERVISE_OPTS_INIT;
	struct db *db;
	int64_t run_id;
	int c, code;

	static const int resume_only[] = { OPT_RESULTS, 'q', OPT_DETACH,
		OPT_GRACE, OPT_AUTO_WORKERS, OPT_ANSWERS, OPT_LOG_LEVEL, 0 };

	while ((c = opt_getopt_only(argc, argv, "qh", start_options,
	    resume_only)) != -1) {
		if (supervise_option(c, &o, resume_usage))
			continue;
		if (c == 'h') {
			fputs(resume_usage, stdout);
			return EXIT_OK;
		}
		launch_usage_error(resume_usage, NULL);
	}
	if (optind != argc - 1)
		launch_usage_error(resume_usage, "one run id is needed");
	run_id = launch_parse_run(argv[optind]);
	db = launch_open_db();
	code = launch_resume(&db, run_id, &o);
	db_close(db);
	return code;
}

int
launch_resume(struct db **dbp, int64_t run_id,
    const struct supervise_opts *o)
{
	struct supervise_opts ro = *o;
	struct task_config cfg;
	char *err = NULL;
	int code;

	if (run_load_config(*dbp, run_id, &cfg, &err) < 0)
		die("%s", err);
	if (run_reopen(*dbp, run_id, &err) < 0)
		die("%s", err);
	ro.resume = 1;
	code = supervise(dbp, run_id, &cfg, &ro);
	task_config_release(&cfg);
	return code;
}
