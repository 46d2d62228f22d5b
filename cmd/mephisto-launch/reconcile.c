#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "launch.h"
#include "log.h"
#include "provider.h"
#include "run.h"
#include "xalloc.h"
#include "opt.h"
#include "banned.h"

/*
 * "mephisto launch reconcile RUN [--fix]": ask the run's provider to
 * compare our records with the vendor's view of the run (studies or
 * HITs, submissions, bonuses) and print every difference, one line each
 * on stdout.  With --fix the provider repairs what is safe to repair
 * (stops a study left live, records a payment the vendor made, sends a
 * decision the vendor missed) and marks those lines "(fixed)".  Exit 0
 * when nothing is left to do, 1 when differences remain.
 */

static const char reconcile_usage[] =
"usage: mephisto launch reconcile RUN [--fix]\n"
"\n"
"Compare run RUN's records with the crowd provider's view of it (studies\n"
"or HITs, submissions, bonuses) and print every difference.  With --fix,\n"
"repair what can be repaired safely: stop or expire what is live on the\n"
"vendor without a record here, record payments the vendor made, pay a\n"
"bonus that was attempted but never paid (with its same token), send\n"
"decisions the vendor did not get.  Exit status 0 when no difference is\n"
"left, 1 when some remain.\n"
"\n"
"  --fix        repair what can be repaired safely\n"
"  -h, --help   show this help\n";

static void
print_note(void *ctx, const char *line)
{
	size_t *n = ctx;

	printf("%s\n", line);
	(*n)++;
}

int
cmd_reconcile(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "fix", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct provider *p;
	struct run_info info;
	struct db *db;
	int64_t run_id;
	char *err = NULL, *type;
	size_t notes = 0;
	int c, fix = 0, left;

	while ((c = opt_getopt(argc, argv, "h", opts)) != -1) {
		switch (c) {
		case 'f':
			fix = 1;
			break;
		case 'h':
			fputs(reconcile_usage, stdout);
			log_close_stdout();
			exit(EXIT_OK);
		default:
			launch_usage_error(reconcile_usage, NULL);
		}
	}
	if (optind != argc - 1)
		launch_usage_error(reconcile_usage, "one run id is needed");
	run_id = launch_parse_run(argv[optind]);
	db = launch_open_db();
	c = run_info_get(db, run_id, &info, &err);
	if (c < 0)
		die("%s", err);
	if (!c)
		die("no task run %lld", (long long)run_id);
	run_info_release(&info);
	type = NULL;
	{
		sqlite3_stmt *st = db_stmt(db, "SELECT provider_type FROM "
		    "task_runs WHERE task_run_id = ?");

		if (st) {
			sqlite3_bind_int64(st, 1, run_id);
			if (sqlite3_step(st) == SQLITE_ROW)
				type = sqlite3_column_text(st, 0) ? xstrdup(
				    (const char *)sqlite3_column_text(st, 0)) :
				    NULL;
			sqlite3_reset(st);
		}
	}
	p = provider_find(type);
	if (!p)
		die("run %lld has an unknown provider '%s'", (long long)run_id,
		    type ? type : "");
	free(type);
	if (!p->run_reconcile) {
		log_info("provider '%s' keeps every record here; nothing to "
		    "reconcile", p->name);
		db_close(db);
		return log_close_stdout() < 0 ? EXIT_FAIL : EXIT_OK;
	}
	left = provider_run_reconcile(p, db, run_id, fix, print_note, &notes,
	    &err);
	db_close(db);
	if (log_close_stdout() < 0)
		return EXIT_FAIL;
	if (left < 0)
		die("reconcile run %lld: %s", (long long)run_id, err);
	if (!notes)
		log_info("run %lld: our records and %s's agree",
		    (long long)run_id, p->name);
	return left ? EXIT_FAIL : EXIT_OK;
}
