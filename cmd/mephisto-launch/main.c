#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "db.h"
#include "launch.h"
#include "log.h"
#include "path.h"
#include "registry.h"
#include "run.h"
#include "xalloc.h"
#include "opt.h"
#include "banned.h"

/*
 * mephisto-launch: run a task (validate it, create its run, start its
 * io and pool, launch its units and watch them), and look after runs:
 * list, status, stop, expire, resume, results.
 */

const char launch_usage_text[] =
"usage: mephisto launch [options] TASK.yml [SECTION.KEY=VALUE...]\n"
"   or: mephisto launch COMMAND [options] [args]\n"
"\n"
"Run a task: check TASK.yml and its data (every problem is reported at\n"
"once and nothing is written), create the run, start its web server and\n"
"worker pool, launch units and show progress until every unit is done.\n"
"\n"
"Options:\n"
"  --check              only check the task and its data; write nothing\n"
"  --create-only        create the run, print its id and stop there\n"
"                       ('resume RUN' starts it)\n"
"  --results            print each completed unit as a JSON line on stdout\n"
"  -q, --quiet          no progress display\n"
"  --detach             run in the background (log in the run folder)\n"
"  --grace SECONDS      on Ctrl-C, wait this long for work in progress (30)\n"
"  --auto-workers N     start N scripted workers that do every unit\n"
"  --answers JSON       what the scripted workers submit\n"
"  --list [--json]      show the blueprint, provider and architect types\n"
"  --log-level LEVEL    debug, info, warn or error\n"
"  -h, --help           show this help\n"
"\n"
"Commands:\n"
"  list [--json]                      runs with their units by status\n"
"  status [RUN]                       the queue of a run\n"
"  stop RUN                           stop a run as Ctrl-C would\n"
"  expire RUN [UNIT...]               expire units nobody holds\n"
"  resume RUN                         go on with a run whose supervisor died\n"
"  results (RUN | --task NAME)        completed units as JSON lines or CSV\n"
"  work URL                           act as scripted workers on a task URL\n"
"  reconcile RUN [--fix]              compare a run with the vendor's view\n"
"\n"
"Run 'mephisto launch COMMAND --help' for a command's options.\n"
"Exit status: 0 success, 1 failure, 2 usage error, 3 daemon unreachable.\n";

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "list", cmd_list },
	{ "status", cmd_status },
	{ "stop", cmd_stop },
	{ "expire", cmd_expire },
	{ "resume", cmd_resume },
	{ "results", cmd_results },
	{ "work", cmd_work },
	{ "reconcile", cmd_reconcile },
};

void
launch_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fprintf(stderr, "%s: ", log_prog());
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fputs(usage, stderr);
	exit(EXIT_USAGE);
}

char *
launch_data_dir(void)
{
	char *err = NULL, *dir = conf_data_dir(NULL, &err);

	if (!dir)
		die("%s", err);
	return dir;
}

struct db *
launch_open_db(void)
{
	char *err = NULL, *path = conf_db_path(NULL, &err), *slash;
	struct db *db;

	if (!path)
		die("%s", err);
	slash = strrchr(path, '/');
	if (slash && slash != path) {
		*slash = '\0';
		if (path_mkdir_p(path, 0700) < 0)
			die_errno("cannot create '%s'", path);
		*slash = '/';
	}
	db = db_open(path, &err);
	if (!db)
		die("%s", err);
	free(path);
	return db;
}

char *
launch_run_dir(int64_t run_id)
{
	char *data = launch_data_dir(), *err = NULL, *dir;

	dir = run_dir(data, run_id, &err);
	free(data);
	if (!dir)
		die("%s", err);
	return dir;
}

int64_t
launch_parse_run(const char *arg)
{
	int64_t id;

	if (db_id_parse(arg, &id) < 0) {
		fprintf(stderr, "%s: '%s' is not a run id\n", log_prog(), arg);
		exit(EXIT_USAGE);
	}
	return id;
}

static void
list_types(int json)
{
	const struct registry_entry *e;
	enum registry_kind kind = (enum registry_kind)-1;
	size_t i, n;
	cJSON *o;
	char *line;

	e = registry_all(&n);
	for (i = 0; json && i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "kind", registry_kind_name(e[i].kind));
		cJSON_AddStringToObject(o, "name", e[i].name);
		cJSON_AddStringToObject(o, "summary", e[i].summary);
		line = cJSON_PrintUnformatted(o);
		puts(line);
		cJSON_free(line);
		cJSON_Delete(o);
	}
	for (i = 0; !json && i < n; i++) {
		if (e[i].kind != kind) {
			kind = e[i].kind;
			printf("%s%ss:\n", i ? "\n" : "",
			    registry_kind_name(kind));
		}
		printf("  %-18s %s\n", e[i].name, e[i].summary);
	}
}

/* core.log_level, overridden by MEPHISTO_LOG_LEVEL (and --log-level). */
static void
set_log_level(void)
{
	struct conf c = CONF_INIT;
	const char *name = NULL;
	char *err = NULL;

	if (conf_load(&c, NULL, &err) < 0 ||
	    conf_log_level(&c, &name, &err) < 0) {
		warn("%s", err);
		free(err);
		name = NULL;
	}
	log_level_from_env(name);
	conf_release(&c);
}

int
main(int argc, char **argv)
{
	size_t i;
	int r;

	log_init("mephisto-launch");
	set_log_level();
	if (argc < 2)
		launch_usage_error(launch_usage_text, "a task file or a command is "
		    "needed");
	/* The commands; the start options follow from cmd_start. */
	if (opt_is_completion_helper(argc, argv))
		for (i = 0; i < ARRAY_SIZE(commands); i++)
			puts(commands[i].name);
	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name)) {
			r = commands[i].fn(argc - 1, argv + 1);
			log_close_stdout();
			return r;
		}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(launch_usage_text, stdout);
		log_close_stdout();
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--list")) {
		if (argc > 3 || (argc == 3 && strcmp(argv[2], "--json")))
			launch_usage_error(launch_usage_text, "--list takes "
			    "only --json");
		list_types(argc == 3);
		log_close_stdout();
		return EXIT_OK;
	}
	r = cmd_start(argc, argv);
	log_close_stdout();
	return r;
}

void
launch_set_log_level(const char *name)
{
	enum log_level level;

	if (log_parse_level(name, &level) < 0)
		launch_usage_error("", "unknown log level '%s' (debug, info, "
		    "warn, error)", name);
	log_set_level(level);
}
