/*
 * mephisto: the front end.  "mephisto CMD ARGS..." runs "mephisto-CMD
 * ARGS...", found in $MEPHISTO_EXEC_PATH, then the folder holding this
 * program, then the install's program folder, then $PATH, and exits with
 * its status (the command replaces this process).
 */

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "path.h"
#include "xalloc.h"
#include "opt.h"
#include "banned.h"

#ifndef MEPHISTO_LIBEXECDIR
#define MEPHISTO_LIBEXECDIR "/usr/local/bin"
#endif

#define PREFIX "mephisto-"

static const char usage_text[] =
    "usage: mephisto [--version] [--help] [--list-commands] COMMAND [ARGS...]\n"
    "\n"
    "Run crowdsourced data-collection tasks.\n"
    "\n"
    "Commands:\n"
    "  config   read and change ~/.mephisto/config.yml\n"
    "  launch   launch a task run, watch it, list and resume runs, results\n"
    "  pool     workers, qualifications and blocks (and the run daemon)\n"
    "  io       the worker-facing HTTP and WebSocket server of a run\n"
    "  review   approve, reject, bonus, block and qualify submitted work\n"
    "  help     show help for a command: mephisto help COMMAND\n"
    "\n"
    "'mephisto COMMAND --help' shows a command's options.\n";

/* The folders searched for mephisto-CMD, in order; a NULL-ended array. */
static char **
search_dirs(void)
{
	const char *env = getenv("MEPHISTO_EXEC_PATH");
	const char *pathenv = getenv("PATH");
	char **dirs = NULL;
	size_t nr = 0, alloc = 0;
	struct buf b = BUF_INIT;
	int pass;

	/* Pass 0: MEPHISTO_EXEC_PATH; pass 1: fixed folders; pass 2: PATH. */
	for (pass = 0; pass < 3; pass++) {
		const char *list = NULL, *p, *colon;

		if (pass == 0)
			list = env;
		else if (pass == 2)
			list = pathenv;
		if (pass == 1) {
			/* Programs beside this one belong to the same build. */
			ALLOC_GROW(dirs, nr + 2, alloc);
			dirs[nr++] = path_exe_dir();
			dirs[nr++] = xstrdup(MEPHISTO_LIBEXECDIR);
			continue;
		}
		if (!list)
			continue;
		for (p = list; ; p = colon + 1) {
			colon = strchr(p, ':');
			buf_reset(&b);
			buf_add(&b, p, colon ? (size_t)(colon - p) : strlen(p));
			if (b.len) {
				ALLOC_GROW(dirs, nr + 1, alloc);
				dirs[nr++] = xstrdup(b.buf);
			}
			if (!colon)
				break;
		}
	}
	ALLOC_GROW(dirs, nr + 1, alloc);
	dirs[nr] = NULL;
	buf_release(&b);
	return dirs;
}

static void
free_dirs(char **dirs)
{
	char **d;

	for (d = dirs; *d; d++)
		free(*d);
	free(dirs);
}

static int
is_executable(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode) && !access(path, X_OK);
}

/* The full path of mephisto-CMD, or NULL. */
static char *
find_command(char **dirs, const char *cmd)
{
	char **d;

	for (d = dirs; *d; d++) {
		char *p = xasprintf("%s/" PREFIX "%s", *d, cmd);

		if (is_executable(p))
			return p;
		free(p);
	}
	return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of every mephisto-CMD found, sorted and unique. */
static char **
list_commands(char **dirs, size_t *nr_out)
{
	char **names = NULL, **d;
	size_t nr = 0, alloc = 0, i, j;

	for (d = dirs; *d; d++) {
		DIR *dir = opendir(*d);
		struct dirent *de;

		if (!dir)
			continue;
		while ((de = readdir(dir))) {
			char *full;

			if (strncmp(de->d_name, PREFIX, strlen(PREFIX)) ||
			    !de->d_name[strlen(PREFIX)])
				continue;
			full = xasprintf("%s/%s", *d, de->d_name);
			if (is_executable(full)) {
				ALLOC_GROW(names, nr + 1, alloc);
				names[nr++] = xstrdup(de->d_name + strlen(PREFIX));
			}
			free(full);
		}
		closedir(dir);
	}
	if (nr)
		qsort(names, nr, sizeof(*names), cmp_str);
	for (i = j = 0; i < nr; i++) {
		if (j && !strcmp(names[j - 1], names[i])) {
			free(names[i]);
			continue;
		}
		names[j++] = names[i];
	}
	*nr_out = j;
	return names;
}

/* Damerau-Levenshtein (optimal string alignment) distance. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, *d, r;

	d = xcalloc((la + 1) * (lb + 1), sizeof(*d));
#define D(x, y) d[(x) * (lb + 1) + (y)]
	for (i = 0; i <= la; i++)
		D(i, 0) = i;
	for (j = 0; j <= lb; j++)
		D(0, j) = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1], v;

			v = D(i - 1, j) + 1;
			if (D(i, j - 1) + 1 < v)
				v = D(i, j - 1) + 1;
			if (D(i - 1, j - 1) + cost < v)
				v = D(i - 1, j - 1) + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && D(i - 2, j - 2) + 1 < v)
				v = D(i - 2, j - 2) + 1;
			D(i, j) = v;
		}
	}
	r = D(la, lb);
#undef D
	free(d);
	return r;
}

static void NORETURN
unknown_command(char **dirs, const char *cmd)
{
	size_t nr, i, best = (size_t)-1, dist;
	char **names = list_commands(dirs, &nr);
	const char *guess = NULL;

	for (i = 0; i < nr; i++) {
		dist = edit_distance(cmd, names[i]);
		/* A prefix of a command is a likely abbreviation. */
		if (!strncmp(names[i], cmd, strlen(cmd)))
			dist = 1;
		if (dist < best) {
			best = dist;
			guess = names[i];
		}
	}
	fprintf(stderr, "mephisto: '%s' is not a mephisto command. "
	    "See 'mephisto --help'.\n", cmd);
	if (guess && best <= 2 + strlen(cmd) / 4)
		fprintf(stderr, "\nThe most similar command is\n\t%s\n", guess);
	for (i = 0; i < nr; i++)
		free(names[i]);
	free(names);
	free_dirs(dirs);
	exit(1);
}

static void NORETURN
run_command(const char *cmd, int argc, char **argv)
{
	char **dirs = search_dirs();
	char *prog, **args;
	int i;

	if (!*cmd || strchr(cmd, '/'))
		unknown_command(dirs, cmd);
	prog = find_command(dirs, cmd);
	if (!prog)
		unknown_command(dirs, cmd);
	args = xcalloc((size_t)argc + 1, sizeof(*args));
	args[0] = xasprintf(PREFIX "%s", cmd);
	for (i = 1; i < argc; i++)
		args[i] = argv[i];
	fflush(NULL);
	execv(prog, args);
	die_errno("cannot run '%s'", prog);
}

static int
cmd_help(int argc, char **argv)
{
	char *args[] = { NULL, "--help", NULL };

	if (argc < 2) {
		fputs(usage_text, stdout);
		return log_close_stdout();
	}
	args[0] = argv[1];
	run_command(argv[1], 2, args);
}

static int
list_commands_cmd(void)
{
	char **dirs = search_dirs();
	size_t nr, i;
	char **names = list_commands(dirs, &nr);

	for (i = 0; i < nr; i++) {
		puts(names[i]);
		free(names[i]);
	}
	puts("help");
	free(names);
	free_dirs(dirs);
	return log_close_stdout();
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "list-commands", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	log_init("mephisto");
	if (opt_is_completion_helper(argc, argv)) {
		opt_print_longopts(opts);
		return list_commands_cmd();
	}
	/* Stop at the first non-option: the command and its own arguments. */
	while ((c = opt_getopt(argc, argv, "+hV", opts)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return log_close_stdout();
		case 'L':
			return list_commands_cmd();
		case 'V':
			printf("mephisto version %s\n", MEPHISTO_VERSION);
			return log_close_stdout();
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (!argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (!strcmp(argv[0], "help"))
		return cmd_help(argc, argv);
	run_command(argv[0], argc, argv);
}
