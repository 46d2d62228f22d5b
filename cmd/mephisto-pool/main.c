/*
 * mephisto-pool: the worker pool of a task run (a daemon started by
 * mephisto-launch), and commands that work on workers and qualifications
 * in the database without a daemon.
 */

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "db.h"
#include "log.h"
#include "pool.h"
#include "opt.h"
#include "banned.h"

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: mephisto-pool --run RUN_ID [--log-level LEVEL] [--log-file FILE]\n"
    "   or: mephisto-pool COMMAND [ARGS...]\n"
    "\n"
    "With --run, serve the worker pool of task run RUN_ID on\n"
    "<data dir>/runs/RUN_ID/pool.sock until stopped (SIGTERM or a shutdown\n"
    "request).  mephisto-launch starts it; a restarted pool carries on from\n"
    "the database.\n"
    "\n"
    "Commands (no daemon needed):\n"
    "  workers [--run ID | --task NAME] [--json]\n"
    "                         list workers and their units by status\n"
    "  qual list [--json]     list qualifications\n"
    "  qual create NAME [--description TEXT]\n"
    "  qual delete NAME       delete a qualification and its grants\n"
    "  grant WORKER QUAL [VALUE]\n"
    "                         grant QUAL (value 1 unless given) to WORKER\n"
    "  revoke WORKER QUAL     remove WORKER's grant of QUAL\n"
    "  block WORKER [--reason TEXT]\n"
    "                         block WORKER at its crowd provider\n"
    "  unblock WORKER\n"
    "WORKER is a worker name or id (NAME_sandbox is tried for NAME).\n"
    "\n"
    "Options:\n"
    "  --run RUN_ID           the task run to serve\n"
    "  --log-level LEVEL      debug, info, warn or error (default from\n"
    "                         MEPHISTO_LOG_LEVEL or core.log_level, else info)\n"
    "  --log-file FILE        append log lines to FILE instead of stderr\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n"
    "'mephisto-pool COMMAND --help' shows a command's help.\n";

static void
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "mephisto-pool: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'mephisto-pool --help'.\n");
	exit(EXIT_USAGE);
}

/* --log-level, else MEPHISTO_LOG_LEVEL, else core.log_level, else info. */
static void
set_log_level(const char *opt)
{
	struct conf c = CONF_INIT;
	const char *name = NULL;
	enum log_level level;
	char *err = NULL;

	if (opt) {
		if (log_parse_level(opt, &level) < 0)
			usage_error("invalid log level '%s'", opt);
		log_set_level(level);
		return;
	}
	if (conf_load(&c, NULL, &err) < 0 ||
	    conf_log_level(&c, &name, &err) < 0) {
		warn("%s", err);
		free(err);
		name = NULL;
	}
	log_level_from_env(name);
	conf_release(&c);
}

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "workers", pool_cmd_workers },
	{ "qual", pool_cmd_qual },
	{ "grant", pool_cmd_grant },
	{ "revoke", pool_cmd_revoke },
	{ "block", pool_cmd_block },
	{ "unblock", pool_cmd_unblock },
};

static int
run_daemon(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "run", required_argument, NULL, 'r' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "log-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *run = NULL, *level = NULL, *file = NULL;
	int64_t run_id;
	int c;

	while ((c = opt_getopt(argc, argv, "h", opts)) != -1) {
		switch (c) {
		case 'r':
			run = optarg;
			break;
		case 'l':
			level = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return log_close_stdout();
		default:
			usage_error("%s", "invalid option");
		}
	}
	if (optind < argc)
		usage_error("unknown command '%s'", argv[optind]);
	if (!run)
		usage_error("%s", "--run RUN_ID is required");
	if (db_id_parse(run, &run_id) < 0)
		usage_error("invalid task run id '%s'", run);
	set_log_level(level);
	return pool_daemon(run_id, file) < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	size_t i;

	log_init("mephisto-pool");
	/* The commands; the daemon's options follow from run_daemon. */
	if (opt_is_completion_helper(argc, argv))
		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			puts(commands[i].name);
	if (argc > 1 && argv[1][0] != '-') {
		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (!strcmp(argv[1], commands[i].name))
				return commands[i].run(argc - 1, argv + 1);
		usage_error("unknown command '%s'", argv[1]);
	}
	return run_daemon(argc, argv);
}
