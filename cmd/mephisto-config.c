/*
 * mephisto-config: read and change ~/.mephisto/config.yml.
 *
 * The original's forms ("mephisto config", "mephisto config SECTION.KEY"
 * and "mephisto config SECTION.KEY VALUE") plus git-config-like commands.
 * All reading and writing goes through lib/conf, which does the locking
 * and the atomic replacement; this file parses arguments and prints.
 */

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "path.h"
#include "xalloc.h"
#include "yml.h"
#include "opt.h"
#include "banned.h"

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: mephisto-config [SECTION.KEY [VALUE]]\n"
    "   or: mephisto-config COMMAND [ARGS...]\n"
    "\n"
    "Read and change the mephisto config file.  With no arguments, print\n"
    "the file's path, then its contents.  With SECTION.KEY, print that\n"
    "value; with SECTION.KEY VALUE, set it.\n"
    "\n"
    "Commands:\n"
    "  get KEY                print the value of KEY\n"
    "  set [--string] KEY VALUE\n"
    "                         set KEY to VALUE\n"
    "  unset KEY              remove KEY\n"
    "  list [--json]          print every key as section.key=value\n"
    "  path                   print the config file's path\n"
    "  init                   create the file with 'core: {}' if missing\n"
    "  edit                   edit the file in $VISUAL or $EDITOR\n"
    "\n"
    "Known keys:\n"
    "  core.main_data_directory  folder of the database and runs (absolute\n"
    "                            or ~/...; default <mephisto home>/data)\n"
    "  core.log_level            debug, info, warn, warning or error\n"
    "Other sections and keys are kept as they are.\n"
    "\n"
    "Environment: MEPHISTO_CONFIG (the file), MEPHISTO_HOME (its folder,\n"
    "default ~/.mephisto), VISUAL or EDITOR (for edit, default vi).\n"
    "Exit status: 0 success, 1 failure (malformed file, invalid value,\n"
    "key not set), 2 usage error.\n"
    "'mephisto-config COMMAND --help' shows a command's help.\n";

struct flags {
	int json;	/* list --json */
	int string;	/* set --string */
};

struct command {
	const char *name;
	int (*run)(int argc, char **argv, const struct flags *f);
	const char *opts;	/* short options it takes besides -h */
	int min_args, max_args;
	const char *usage;
	const char *help;
};

static int cmd_get(int argc, char **argv, const struct flags *f);
static int cmd_set(int argc, char **argv, const struct flags *f);
static int cmd_unset(int argc, char **argv, const struct flags *f);
static int cmd_list(int argc, char **argv, const struct flags *f);
static int cmd_path(int argc, char **argv, const struct flags *f);
static int cmd_init(int argc, char **argv, const struct flags *f);
static int cmd_edit(int argc, char **argv, const struct flags *f);

static const struct command commands[] = {
	{ "get", cmd_get, "", 1, 1, "get SECTION.KEY",
	  "Print the value of SECTION.KEY: a scalar as written (without\n"
	  "quotes), a list or mapping as one line of JSON.  Exit 1 when the\n"
	  "key is not set.\n" },
	{ "set", cmd_set, "s", 2, 2, "set [--string] SECTION.KEY VALUE",
	  "Set SECTION.KEY to VALUE, creating the file and the section if\n"
	  "needed.  Other keys, their order and unknown sections are kept;\n"
	  "comments are not (the file is rewritten from its YAML; use edit\n"
	  "to keep them).\n"
	  "\n"
	  "VALUE is stored as a number or boolean when every YAML reader\n"
	  "reads it back as one: integers like 5 or -12, decimals like 0.5\n"
	  "or 1.5e+3, and true or false.  Anything else is stored as a\n"
	  "string, quoted in the file when it must be so that it reads back\n"
	  "as the same text (yes, on, null, 007, 1e3, 0x10, '' ...).\n"
	  "\n"
	  "  -s, --string   always store VALUE as a string\n" },
	{ "unset", cmd_unset, "", 1, 1, "unset SECTION.KEY",
	  "Remove SECTION.KEY; a section left empty is removed too.  Exit 1\n"
	  "when the key is not set.\n" },
	{ "list", cmd_list, "j", 0, 0, "list [--json]",
	  "Print every key as section.key=value (lists and mappings as one\n"
	  "line of JSON).\n"
	  "\n"
	  "  -j, --json   print one JSON object instead: sections as objects,\n"
	  "               numbers, booleans and null typed\n" },
	{ "path", cmd_path, "", 0, 0, "path",
	  "Print the config file's path: $MEPHISTO_CONFIG, else\n"
	  "$MEPHISTO_HOME/config.yml, else ~/.mephisto/config.yml.\n" },
	{ "init", cmd_init, "", 0, 0, "init",
	  "Create the config file (and its folder) holding 'core: {}' when it\n"
	  "does not exist; do nothing when it does.\n" },
	{ "edit", cmd_edit, "", 0, 0, "edit",
	  "Copy the config file, open the copy in $VISUAL, else $EDITOR, else\n"
	  "vi (run with /bin/sh -c), and when the editor exits with status 0,\n"
	  "check the result and replace the file with it, byte for byte\n"
	  "(comments included).  An invalid result is refused with the\n"
	  "problem's line and column, the file is left as it was and the\n"
	  "edited copy is kept for another try.  The edit is refused too when\n"
	  "the file was changed by someone else meanwhile.\n" },
};

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "json", no_argument, NULL, 'j' },
	{ "string", no_argument, NULL, 's' },
	{ NULL, 0, NULL, 0 },
};

static int
usage_error(const struct command *cmd, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

/* Report a usage problem, show the usage line; returns EXIT_USAGE. */
static int
usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_msg(LOG_ERROR, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "usage: mephisto-config %s\n", cmd->usage);
	else
		fputs("usage: mephisto-config [SECTION.KEY [VALUE]]\n"
		    "   or: mephisto-config get|set|unset|list|path|init|edit "
		    "...\n"
		    "'mephisto-config --help' shows more.\n", stderr);
	return EXIT_USAGE;
}

static int
finish(int status)
{
	if (status == 0)
		log_close_stdout();
	return status;
}

/* Print ERR (malloc'd) as an error and free it; returns 1. */
static int
fail_with(char *err)
{
	error("%s", err ? err : "unknown error");
	free(err);
	return 1;
}

static char *
config_path(void)
{
	char *err = NULL, *path = conf_path(&err);

	if (!path) {
		fail_with(err);
		exit(1);
	}
	return path;
}

static void
load_or_die(struct conf *c)
{
	char *err = NULL;

	if (conf_load(c, NULL, &err) < 0) {
		fail_with(err);
		exit(1);
	}
}

/* A malformed SECTION.KEY is a usage error: returns 0 or EXIT_USAGE. */
static int
check_key(const char *key)
{
	char *section, *name, *err = NULL;

	if (conf_split_key(key, &section, &name, &err) < 0) {
		usage_error(NULL, "%s", err);
		free(err);
		return EXIT_USAGE;
	}
	free(section);
	free(name);
	return 0;
}

/* Printing values */

/* A number cJSON prints exactly: integers up to 2^53, finite doubles. */
static cJSON *
json_number(const struct yml_node *n)
{
	long l;
	double d;

	if (yml_scalar_kind(n) == YML_KIND_INT && !yml_long(n, &l)) {
		if (l > (1L << 53) || l < -(1L << 53)) {
			char digits[32];

			snprintf(digits, sizeof(digits), "%ld", l);
			return cJSON_CreateRaw(digits);
		}
		return cJSON_CreateNumber((double)l);
	}
	if (!yml_double(n, &d) && isfinite(d))
		return cJSON_CreateNumber(d);
	return cJSON_CreateString(n->text);
}

static cJSON *
to_json(const struct yml_node *n)
{
	cJSON *j;
	size_t i;
	int b;

	if (n->type == YML_MAPPING) {
		j = cJSON_CreateObject();
		for (i = 0; i < n->nr; i++)
			cJSON_AddItemToObject(j, n->pairs[i].key->text,
			    to_json(n->pairs[i].value));
		return j;
	}
	if (n->type == YML_SEQUENCE) {
		j = cJSON_CreateArray();
		for (i = 0; i < n->nr; i++)
			cJSON_AddItemToArray(j, to_json(n->items[i]));
		return j;
	}
	switch (yml_scalar_kind(n)) {
	case YML_KIND_NULL:
		return cJSON_CreateNull();
	case YML_KIND_BOOL:
		yml_bool(n, &b);
		return cJSON_CreateBool(b);
	case YML_KIND_INT:
	case YML_KIND_FLOAT:
		return json_number(n);
	default:
		return cJSON_CreateString(n->text);
	}
}

static void
print_json(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	if (!s)
		die("out of memory");
	printf("%s\n", s);
	cJSON_free(s);
	cJSON_Delete(j);
}

/* A scalar's text as written; lists and mappings as JSON. */
static void
print_value(const struct yml_node *v)
{
	if (v->type == YML_SCALAR)
		printf("%s\n", v->text);
	else
		print_json(to_json(v));
}

/* Commands */

static int
cmd_show(void)
{
	char *path = config_path(), *err = NULL;
	struct buf raw = BUF_INIT;
	struct conf c = CONF_INIT;
	int ret = 0;

	printf("%s\n", path);
	if (buf_read_file(&raw, path, YML_MAX_FILE_SIZE) < 0) {
		if (errno != ENOENT)
			ret = fail_with(xasprintf("cannot read '%s': %s", path,
			    strerror(errno)));
		goto out;
	}
	fwrite(raw.buf, 1, raw.len, stdout);
	if (raw.len && raw.buf[raw.len - 1] != '\n')
		putchar('\n');
	/* Show the text even when it is broken, then say what is wrong. */
	fflush(stdout);
	if (conf_load(&c, path, &err) < 0 || conf_check(&c, &err) < 0)
		ret = fail_with(err);
out:
	conf_release(&c);
	buf_release(&raw);
	free(path);
	return ret;
}

static int
cmd_get(int argc, char **argv, const struct flags *f)
{
	struct conf c = CONF_INIT;
	const struct yml_node *v;
	int ret = 0;

	if (check_key(argv[0]))
		return EXIT_USAGE;
	load_or_die(&c);
	v = conf_get(&c, argv[0]);
	if (v)
		print_value(v);
	else
		ret = error("key '%s' is not set in '%s'", argv[0], c.path);
	conf_release(&c);
	return ret ? 1 : 0;
}

static int
cmd_set(int argc, char **argv, const struct flags *f)
{
	const char *value = argv[1];
	enum yml_style style = YML_DOUBLE_QUOTED;
	char *err = NULL;

	if (check_key(argv[0]))
		return EXIT_USAGE;
	if (!f->string && yml_plain_is_canonical(value))
		style = YML_PLAIN;
	if (conf_set(NULL, argv[0], value, style, &err) < 0)
		return fail_with(err);
	return 0;
}

static int
cmd_unset(int argc, char **argv, const struct flags *f)
{
	char *err = NULL;
	int ret;

	if (check_key(argv[0]))
		return EXIT_USAGE;
	ret = conf_unset(NULL, argv[0], &err);
	if (ret < 0)
		return fail_with(err);
	if (!ret) {
		error("key '%s' is not set", argv[0]);
		return 1;
	}
	return 0;
}

static int
cmd_list(int argc, char **argv, const struct flags *f)
{
	struct conf c = CONF_INIT;
	const struct yml_node *root, *sec;
	size_t i, j;

	load_or_die(&c);
	root = c.root;
	if (f->json) {
		print_json(root ? to_json(root) : cJSON_CreateObject());
		goto out;
	}
	for (i = 0; root && i < root->nr; i++) {
		sec = root->pairs[i].value;
		for (j = 0; sec->type == YML_MAPPING && j < sec->nr; j++) {
			printf("%s.%s=", root->pairs[i].key->text,
			    sec->pairs[j].key->text);
			print_value(sec->pairs[j].value);
		}
	}
out:
	conf_release(&c);
	return 0;
}

static int
cmd_path(int argc, char **argv, const struct flags *f)
{
	char *path = config_path();

	printf("%s\n", path);
	free(path);
	return 0;
}

static int
cmd_init(int argc, char **argv, const struct flags *f)
{
	char *err = NULL, *path = config_path();
	int ret = conf_init_file(path, &err);

	if (ret < 0) {
		free(path);
		return fail_with(err);
	}
	if (ret)
		log_info("created '%s'", path);
	free(path);
	return 0;
}

/* Edit */

/*
 * Run the user's editor on FILE; returns 0 when it exited with 0.  While
 * it runs, Ctrl-C and Ctrl-\ are the editor's business, not ours.
 */
static int
run_editor(const char *file)
{
	const char *editor = getenv("VISUAL");
	struct sigaction ign, old_int, old_quit;
	char *script;
	pid_t pid;
	int status, ret;

	if (!editor || !*editor)
		editor = getenv("EDITOR");
	if (!editor || !*editor)
		editor = "vi";
	script = xasprintf("%s \"$@\"", editor);
	pid = fork();
	if (pid < 0) {
		free(script);
		return error_errno("cannot run editor '%s'", editor);
	}
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", script, editor, file,
		    (char *)NULL);
		_exit(127);
	}
	free(script);
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	while ((ret = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	if (ret < 0)
		return error_errno("cannot wait for editor '%s'", editor);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return error("editor '%s' exited with status %d; config not "
		    "changed", editor, WEXITSTATUS(status));
	return error("editor '%s' died of signal %d; config not changed",
	    editor, WTERMSIG(status));
}

/* Write LEN bytes of TEXT to a new "<PATH>.edit-XXXXXX.yml"; its name. */
static char *
make_copy(const char *path, const char *text, size_t len)
{
	char *tmp = xasprintf("%s.edit-XXXXXX.yml", path), *dir;
	const char *slash = strrchr(path, '/');
	int fd;

	dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
	if (*dir && path_mkdir_p(dir, 0700) < 0)
		die_errno("cannot create '%s'", dir);
	free(dir);
	fd = mkstemps(tmp, 4);
	if (fd < 0)
		die_errno("cannot create '%s'", tmp);
	while (len) {
		ssize_t n = write(fd, text, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			unlink(tmp);
			die_errno("cannot write '%s'", tmp);
		}
		text += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0) {
		unlink(tmp);
		die_errno("cannot write '%s'", tmp);
	}
	return tmp;
}

static int
cmd_edit(int argc, char **argv, const struct flags *f)
{
	static const char initial[] = "core: {}\n";
	char *path = config_path(), *tmp, *err = NULL;
	struct buf old = BUF_INIT, edited = BUF_INIT;
	size_t old_len;
	int ret = 1;

	if (buf_read_file(&old, path, YML_MAX_FILE_SIZE) == 0)
		old_len = old.len;
	else if (errno == ENOENT) {
		old_len = (size_t)-1;
		buf_addstr(&old, initial);
	} else {
		error_errno("cannot read '%s'", path);
		goto out_path;
	}
	tmp = make_copy(path, old.buf, old.len);
	if (run_editor(tmp) < 0)
		goto out_unlink;
	if (buf_read_file(&edited, tmp, YML_MAX_FILE_SIZE) < 0) {
		error_errno("cannot read '%s'", tmp);
		goto out_unlink;
	}
	if (old_len != (size_t)-1 && edited.len == old.len &&
	    !memcmp(edited.buf, old.buf, old.len)) {
		log_info("no changes");
		ret = 0;
		goto out_unlink;
	}
	if (conf_replace(path, edited.buf, edited.len, tmp, old.buf, old_len,
	    &err) < 0) {
		fail_with(err);
		error("'%s' was not changed; the edited copy is in '%s'", path,
		    tmp);
		goto out;
	}
	ret = 0;
out_unlink:
	unlink(tmp);
out:
	free(tmp);
	buf_release(&edited);
out_path:
	buf_release(&old);
	free(path);
	return ret;
}

/* Dispatch */

static const struct command *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void
print_help(const struct command *cmd)
{
	printf("usage: mephisto-config %s\n\n%s", cmd->usage, cmd->help);
}

/*
 * Parse CMD's options from ARGV (ARGV[0] is the command name) and run it.
 * Options stop at the first operand, so a VALUE like -5 is an operand.
 */
static int
run_command(const struct command *cmd, int argc, char **argv)
{
	struct flags f = { 0, 0 };
	char shortopts[16];
	int c, nargs;

	snprintf(shortopts, sizeof(shortopts), "+h%s", cmd->opts);
	optind = 0;	/* glibc: start over, from argv[1] */
	opterr = 0;
	while ((c = opt_getopt(argc, argv, shortopts, long_options)) != -1) {
		if (c == 'h') {
			print_help(cmd);
			return 0;
		}
		if (c == '?' || !strchr(cmd->opts, c))
			return usage_error(cmd, "unknown option '%s'",
			    argv[optind - 1]);
		if (c == 'j')
			f.json = 1;
		else if (c == 's')
			f.string = 1;
	}
	nargs = argc - optind;
	if (nargs < cmd->min_args || nargs > cmd->max_args)
		return usage_error(cmd, "%s: wrong number of arguments",
		    cmd->name);
	return cmd->run(nargs, argv + optind, &f);
}

/* "SECTION.KEY [VALUE]": get or set. */
static int
run_key_form(int argc, char **argv)
{
	if (argc == 1)
		return cmd_get(argc, argv, &(struct flags){ 0, 0 });
	if (argc == 2)
		return cmd_set(argc, argv, &(struct flags){ 0, 0 });
	return usage_error(NULL, "too many arguments");
}

int
main(int argc, char **argv)
{
	const struct command *cmd;
	int c;

	log_init(argv[0]);
	log_level_from_env(NULL);
	/* The commands; the options follow from opt_getopt. */
	if (opt_is_completion_helper(argc, argv))
		for (c = 0; c < (int)ARRAY_SIZE(commands); c++)
			puts(commands[c].name);
	opterr = 0;
	while ((c = opt_getopt(argc, argv, "+h", long_options)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return finish(0);
		}
		return usage_error(NULL, "unknown option '%s'",
		    argv[optind - 1]);
	}
	argc -= optind;
	argv += optind;
	if (!argc)
		return finish(cmd_show());
	cmd = find_command(argv[0]);
	if (cmd)
		return finish(run_command(cmd, argc, argv));
	if (strchr(argv[0], '.'))
		return finish(run_key_form(argc, argv));
	return usage_error(NULL, "'%s' is not a mephisto-config command",
	    argv[0]);
}
