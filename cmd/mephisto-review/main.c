/*
 * mephisto-review: review the units workers submitted, interactively or
 * with verbs for scripts; pay bonuses, block and qualify workers; export
 * and summarise a task's results.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "msg.h"
#include "review.h"
#include "xalloc.h"
#include "opt.h"
#include "banned.h"

static const char usage_text[] =
"usage: mephisto-review [--task NAME | --run ID] [--status S,...] [--force]\n"
"                       [--block-qual NAME]\n"
"   or: mephisto-review VERB [ARGS] [UNIT_ID...] [options]\n"
"   or: mephisto-review replay [--force] [--dry-run]\n"
"   or: mephisto-review export (--task NAME | --run ID) [--format jsonl|csv]\n"
"   or: mephisto-review summary (--task NAME | --run ID) [--json]\n"
"\n"
"Review the units workers submitted.  Units come from the unit ids given,\n"
"from JSON lines on stdin (any object with a unit_id, such as the output\n"
"of 'mephisto launch results'), or from --task/--run.  Without a verb the\n"
"review is interactive, on the terminal (/dev/tty).\n"
"\n"
"Verbs:\n"
"  approve              accept the work (agent approved, unit accepted)\n"
"  reject               reject it (--reason says why)\n"
"  soft-reject          pay but flag it (agent and unit soft_rejected)\n"
"  bonus AMOUNT         pay the unit's worker AMOUNT (once per unit and\n"
"                       reason; --plan shows what would be paid)\n"
"  block, unblock       block or unblock the unit's worker\n"
"  qualify NAME [VALUE] grant qualification NAME (value 1 unless given)\n"
"  revoke NAME          remove the worker's grant of NAME\n"
"\n"
"Every decision is one transaction and one JSON line on stdout (unit_id,\n"
"worker_id, worker_name, decision, note, bonus, time); 'replay' applies\n"
"such lines again, and decisions already in effect change nothing.\n"
"\n"
"Options:\n"
"  --task NAME          the units of every run of task NAME\n"
"  --run ID             the units of task run ID\n"
"  --status S,...       only units in these statuses (default: completed\n"
"                       for approve, reject and soft-reject and the\n"
"                       interactive review; completed, accepted, rejected,\n"
"                       soft_rejected otherwise)\n"
"  --note TEXT          the review note (--reason is the same)\n"
"  --force              also decide units that are not completed or were\n"
"                       decided already\n"
"  --dry-run            check and print the decisions, change nothing\n"
"  --plan               bonus: print what would be paid and the total\n"
"  --key KEY            bonus: the idempotency key (default: unit and\n"
"                       reason)\n"
"  --value N            qualify: the value to grant\n"
"  --block-qual NAME    interactive: the soft-block qualification (default:\n"
"                       the run's blueprint.block_qualification)\n"
"  -h, --help           show this help\n"
"\n"
"Exit status: 0 success, 1 failure (some unit refused), 2 usage error.\n";

static const char *const all_statuses[] = {
	"created", "launched", "assigned", "completed", "accepted",
	"rejected", "soft_rejected", "expired",
};

static const char *const reviewable[] = { "completed" };
static const char *const done_statuses[] = {
	"completed", "accepted", "rejected", "soft_rejected",
};

struct opts {
	struct review_query q;
	const char **statuses;
	size_t nr_statuses, alloc_statuses;
	char *status_copy;
	const char *note;
	const char *key;
	const char *value;
	const char *block_qual;
	unsigned flags;
	int plan;
};

void
review_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fputs("mephisto-review: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage ? usage : "Try 'mephisto-review "
	    "--help'.\n");
	exit(EXIT_USAGE);
}

static void
add_statuses(struct opts *o, const char *usage, const char *arg)
{
	char *p, *save = NULL;
	size_t i;

	free(o->status_copy);
	o->status_copy = xstrdup(arg);
	o->nr_statuses = 0;
	for (p = strtok_r(o->status_copy, ",", &save); p;
	    p = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < ARRAY_SIZE(all_statuses); i++)
			if (!strcmp(p, all_statuses[i]) || !strcmp(p, "all"))
				break;
		if (i == ARRAY_SIZE(all_statuses))
			review_usage_error(usage, "unknown unit status '%s'", p);
		if (!strcmp(p, "all")) {
			for (i = 0; i < ARRAY_SIZE(all_statuses); i++) {
				ALLOC_GROW(o->statuses, o->nr_statuses + 1,
				    o->alloc_statuses);
				o->statuses[o->nr_statuses++] = all_statuses[i];
			}
			continue;
		}
		ALLOC_GROW(o->statuses, o->nr_statuses + 1,
		    o->alloc_statuses);
		o->statuses[o->nr_statuses++] = all_statuses[i];
	}
}

static void
opts_release(struct opts *o)
{
	free(o->statuses);
	free(o->status_copy);
}

/*
 * Parse the options of a command (ARGV[0] is its name, or the program for
 * the interactive review); ALLOWED lists the short codes it takes.
 * Returns the index of the first operand (options may follow operands).
 */
static int
parse_opts(int argc, char **argv, const char *usage, const char *allowed,
    struct opts *o)
{
	static const struct option longopts[] = {
		{ "task", required_argument, NULL, 't' },
		{ "run", required_argument, NULL, 'r' },
		{ "status", required_argument, NULL, 's' },
		{ "note", required_argument, NULL, 'n' },
		{ "reason", required_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "plan", no_argument, NULL, 'p' },
		{ "key", required_argument, NULL, 'k' },
		{ "value", required_argument, NULL, 'v' },
		{ "block-qual", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	while ((c = opt_getopt(argc, argv, "h", longopts)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			exit(log_close_stdout());
		}
		if (c == '?')
			review_usage_error(usage, "invalid option");
		if (!strchr(allowed, c))
			review_usage_error(usage, "option '%s' is not valid "
			    "here", argv[optind - 1]);
		switch (c) {
		case 't':
			o->q.task = optarg;
			break;
		case 'r':
			o->q.run = optarg;
			break;
		case 's':
			add_statuses(o, usage, optarg);
			break;
		case 'n':
			o->note = optarg;
			break;
		case 'f':
			o->flags |= REVIEW_FORCE;
			break;
		case 'd':
			o->flags |= REVIEW_DRY_RUN;
			break;
		case 'p':
			o->plan = 1;
			break;
		case 'k':
			o->key = optarg;
			break;
		case 'v':
			o->value = optarg;
			break;
		case 'b':
			o->block_qual = optarg;
			break;
		}
	}
	if (o->q.task && o->q.run)
		review_usage_error(usage, "--task and --run cannot be used "
		    "together");
	if (o->nr_statuses && !o->q.task && !o->q.run)
		review_usage_error(usage, "--status needs --task or --run");
	if (o->nr_statuses) {
		o->q.statuses = o->statuses;
		o->q.nr_statuses = o->nr_statuses;
	}
	return optind;
}

/* --- the units to work on --- */

static int64_t
find_task(struct db *db, const char *name)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT task_id FROM tasks WHERE task_name = ?");
	int64_t id = 0;
	int rc;

	if (!st)
		die("cannot read tasks: %s", db_errmsg(db));
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		die("cannot read tasks: %s", db_errmsg(db));
	if (!id)
		die("no task named '%s'", name);
	return id;
}

static int64_t
find_run(struct db *db, const char *s)
{
	sqlite3_stmt *st;
	int64_t id;
	int rc;

	if (db_id_parse(s, &id) < 0)
		die("invalid task run id '%s'", s);
	st = db_stmt(db, "SELECT 1 FROM task_runs WHERE task_run_id = ?");
	if (!st)
		die("cannot read task runs: %s", db_errmsg(db));
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		die("cannot read task runs: %s", db_errmsg(db));
	if (rc != SQLITE_ROW)
		die("no task run '%s'", s);
	return id;
}

void
review_query_check(struct db *db, const struct review_query *q)
{
	if (q->task)
		find_task(db, q->task);
	if (q->run)
		find_run(db, q->run);
}

void
review_query_units(struct db *db, const struct review_query *q,
    int64_t **ids, size_t *nr)
{
	int64_t run_id = q->run ? find_run(db, q->run) : 0;
	sqlite3_stmt *st;
	size_t alloc = 0, i;
	const char *status;
	int rc;

	if (q->task)
		find_task(db, q->task);
	st = db_stmt(db, "SELECT u.unit_id, u.status FROM units u "
	    "JOIN task_runs r ON r.task_run_id = u.task_run_id "
	    "JOIN tasks t ON t.task_id = r.task_id "
	    "WHERE (?1 IS NULL OR u.task_run_id = ?1) "
	    "AND (?2 IS NULL OR t.task_name = ?2) "
	    "ORDER BY r.creation_date, u.task_run_id, u.unit_id");
	if (!st)
		die("cannot read units: %s", db_errmsg(db));
	if (run_id)
		sqlite3_bind_int64(st, 1, run_id);
	if (q->task)
		sqlite3_bind_text(st, 2, q->task, -1, SQLITE_STATIC);
	*ids = NULL;
	*nr = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		status = (const char *)sqlite3_column_text(st, 1);
		for (i = 0; i < q->nr_statuses; i++)
			if (!strcmp(status, q->statuses[i]))
				break;
		if (q->statuses && i == q->nr_statuses)
			continue;
		ALLOC_GROW(*ids, *nr + 1, alloc);
		(*ids)[(*nr)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		die("cannot read units: %s", db_errmsg(db));
}

/* Called with each input: a unit id, or a whole JSON line (LINE). */
typedef int unit_fn(struct db *db, int64_t unit_id, const cJSON *line,
    void *arg);

/*
 * Read JSON lines from stdin and call FN with each unit id, as it
 * arrives.  Returns the number of failures (bad lines and FN's).
 */
static size_t
each_stdin_line(struct db *db, unit_fn *fn, void *arg)
{
	char *line = NULL, *err = NULL;
	size_t cap = 0, lineno = 0, failed = 0;
	ssize_t len;
	int64_t id;
	cJSON *v;

	while ((len = getline(&line, &cap, stdin)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len || strspn(line, " \t") == (size_t)len)
			continue;
		v = msg_parse(line, len, 0, &err);
		if (v && !cJSON_IsObject(v)) {
			err = xstrdup("not a JSON object");
		} else if (v && msg_get_id(v, "unit_id", &id, &err) == 0) {
			if (fn(db, id, v, arg) < 0)
				failed++;
			msg_free(v);
			continue;
		}
		error("stdin line %zu: %s", lineno, err);
		free(err);
		err = NULL;
		msg_free(v);
		failed++;
	}
	if (ferror(stdin))
		die_errno("cannot read stdin");
	free(line);
	return failed;
}

/*
 * Call FN for every unit named by the operands OPS[0..N), or the query of
 * O, or the JSON lines on stdin (in that order of preference).  DEFAULT
 * statuses apply to a query without --status.  Returns the number of
 * failures.
 */
static size_t
each_unit(struct db *db, struct opts *o, const char *usage, char **ops,
    int n, const char *const *def, size_t nr_def, unit_fn *fn, void *arg)
{
	size_t failed = 0, nr, i;
	int64_t id, *ids;
	int k;

	if (o->q.task || o->q.run) {
		if (n)
			review_usage_error(usage, "unit ids cannot be given "
			    "with --task or --run");
		if (!o->q.statuses) {
			o->q.statuses = def;
			o->q.nr_statuses = nr_def;
		}
		review_query_units(db, &o->q, &ids, &nr);
		for (i = 0; i < nr; i++)
			if (fn(db, ids[i], NULL, arg) < 0)
				failed++;
		free(ids);
		return failed;
	}
	if (n) {
		for (k = 0; k < n; k++) {
			if (db_id_parse(ops[k], &id) < 0) {
				error("invalid unit id '%s'", ops[k]);
				failed++;
				continue;
			}
			if (fn(db, id, NULL, arg) < 0)
				failed++;
		}
		return failed;
	}
	if (isatty(STDIN_FILENO))
		review_usage_error(usage, "give unit ids, JSON lines on stdin, "
		    "--task or --run");
	return each_stdin_line(db, fn, arg);
}

/* --- verbs --- */

struct verb_ctx {
	struct decision d;
	unsigned flags;
	/* --plan */
	double total;
	size_t to_pay, paid;
};

/* Report the outcome of one review_decide(). */
static int
report(int rc, cJSON *line, char *msg)
{
	if (rc > 0)
		review_print_line(line);
	else if (rc == 0)
		log_info("%s", msg);
	else
		error("%s", msg);
	msg_free(line);
	free(msg);
	return rc < 0 ? -1 : 0;
}

static int
verb_unit(struct db *db, int64_t unit_id, const cJSON *json, void *arg)
{
	struct verb_ctx *c = arg;
	cJSON *line;
	char *msg;
	int rc;

	rc = review_decide(db, &c->d, unit_id, c->flags, &line, &msg);
	return report(rc, line, msg);
}

static int
plan_unit(struct db *db, int64_t unit_id, const cJSON *json, void *arg)
{
	struct verb_ctx *c = arg;
	char *name, *msg;
	int rc, paid = 0;

	rc = review_bonus_plan(db, &c->d, unit_id, c->flags, &name, &paid,
	    &msg);
	if (rc < 0)
		die("cannot read the ledger: %s", db_errmsg(db));
	if (!rc) {
		error("%s", msg);
		free(msg);
		return -1;
	}
	printf("%lld\t%s\t%.2f\t%s\n", (long long)unit_id, name, c->d.amount,
	    paid ? "already paid" : "to pay");
	if (paid) {
		c->paid++;
	} else {
		c->to_pay++;
		c->total += c->d.amount;
	}
	free(name);
	return 0;
}

static const char verb_usage_fmt[] =
"usage: mephisto-review %s [UNIT_ID...] [--task NAME | --run ID]\n"
"                       [--status S,...] [--note TEXT] [--force] [--dry-run]%s\n"
"\n"
"%s\n"
"Units come from the ids given, from JSON lines on stdin (any object with\n"
"a unit_id), or from --task or --run.  Each decision is one transaction\n"
"and one JSON line on stdout; one already in effect changes nothing.\n"
"A unit that is not completed, or was decided already, is refused\n"
"unless --force.  Exit status: 0 success, 1 failure, 2 usage error.\n";

static char *
verb_usage(enum review_verb v)
{
	const char *extra = "", *what = "", *name = review_verb_name(v);

	switch (v) {
	case REVIEW_APPROVE:
		what = "Approve units: agent approved, unit accepted.\n";
		break;
	case REVIEW_REJECT:
		what = "Reject units (--reason says why): agent and unit "
		    "rejected.\n";
		break;
	case REVIEW_SOFT_REJECT:
		what = "Soft-reject units: the worker is paid, the work "
		    "flagged.\n";
		break;
	case REVIEW_BONUS:
		extra = "\n                       [--plan] [--key KEY]";
		what = "Pay the workers of the units AMOUNT each, once per "
		    "unit and reason\n(the idempotency key; --key sets "
		    "another).  --plan prints what would\nbe paid and the "
		    "total, and pays nothing.\n";
		break;
	case REVIEW_BLOCK:
		what = "Block the workers of the units at their provider.\n";
		break;
	case REVIEW_UNBLOCK:
		what = "Unblock the workers of the units.\n";
		break;
	case REVIEW_QUALIFY:
		extra = "\n                       [--value N]";
		what = "Grant qualification NAME to the workers of the units, "
		    "with VALUE (an\ninteger below 1000000, or --value N; "
		    "default 1).  The qualification is\ncreated when it "
		    "does not exist.\n";
		break;
	case REVIEW_REVOKE:
		what = "Revoke qualification NAME from the workers of the "
		    "units.\n";
		break;
	}
	if (v == REVIEW_BONUS)
		name = "bonus AMOUNT";
	else if (v == REVIEW_QUALIFY)
		name = "qualify NAME [VALUE]";
	else if (v == REVIEW_REVOKE)
		name = "revoke NAME";
	return xasprintf(verb_usage_fmt, name, extra, what);
}

static int
unit_exists(struct db *db, int64_t id)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT 1 FROM units WHERE unit_id = ?");
	int r;

	if (!st)
		die("%s", db_errmsg(db));
	sqlite3_bind_int64(st, 1, id);
	r = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return r;
}

static int
parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

static int
cmd_verb(enum review_verb v, int argc, char **argv)
{
	struct opts o = { 0 };
	struct verb_ctx c = { 0 };
	char *usage = verb_usage(v), *end;
	const char *allowed = "trsnfd";
	const char *const *def = done_statuses;
	size_t nr_def = ARRAY_SIZE(done_statuses), failed;
	struct db *db = NULL;
	int64_t n;
	int i;

	if (v == REVIEW_BONUS)
		allowed = "trsnfdpk";
	else if (v == REVIEW_QUALIFY)
		allowed = "trsnfdv";
	if (v <= REVIEW_SOFT_REJECT) {
		def = reviewable;
		nr_def = ARRAY_SIZE(reviewable);
	}
	i = parse_opts(argc, argv, usage, allowed, &o);
	c.d.verb = v;
	c.d.note = o.note;
	c.d.key = o.key;
	c.d.value = 1;
	c.flags = o.flags;
	if (v == REVIEW_BONUS) {
		if (i >= argc)
			review_usage_error(usage, "bonus needs an AMOUNT");
		errno = 0;
		c.d.amount = strtod(argv[i], &end);
		if (errno || end == argv[i] || *end || !isfinite(c.d.amount) ||
		    c.d.amount <= 0)
			review_usage_error(usage, "invalid amount '%s': a "
			    "positive number is needed", argv[i]);
		i++;
	} else if (v == REVIEW_QUALIFY || v == REVIEW_REVOKE) {
		if (i >= argc)
			review_usage_error(usage, "%s needs a qualification "
			    "NAME", review_verb_name(v));
		c.d.qual = argv[i++];
		if (!*c.d.qual)
			review_usage_error(usage, "a qualification name cannot "
			    "be empty");
		/*
		 * "qualify NAME VALUE [UNIT...]": an integer after NAME is
		 * the value unless it is the id of a unit.
		 */
		db = review_open_db();
		if (v == REVIEW_QUALIFY && i < argc && !o.value &&
		    parse_int64(argv[i], &n) == 0 && !unit_exists(db, n))
			o.value = argv[i++];
		if (o.value && parse_int64(o.value, &c.d.value) < 0)
			review_usage_error(usage, "invalid value '%s': an "
			    "integer is needed", o.value);
	}
	if (o.plan && (o.flags & REVIEW_DRY_RUN))
		review_usage_error(usage, "--plan and --dry-run cannot be "
		    "used together");
	if (!db)
		db = review_open_db();
	failed = each_unit(db, &o, usage, argv + i, argc - i, def, nr_def,
	    o.plan ? plan_unit : verb_unit, &c);
	if (o.plan)
		printf("total: %.2f to pay for %zu bonus%s (%zu already "
		    "paid)\n", c.total, c.to_pay, c.to_pay == 1 ? "" : "es",
		    c.paid);
	db_close(db);
	opts_release(&o);
	free(usage);
	log_close_stdout();
	return failed ? EXIT_FAIL : EXIT_OK;
}

/* --- replay --- */

static const char replay_usage[] =
"usage: mephisto-review replay [--force] [--dry-run] < DECISIONS\n"
"\n"
"Apply the decisions read as JSON lines on stdin, as the verbs print them\n"
"(unit_id, decision, note, bonus, key, qualification, value).  A decision\n"
"already in effect changes nothing, so replaying a saved stream twice, or\n"
"after a crash, is safe; a bonus is paid once per key.\n"
"Exit status: 0 success, 1 failure, 2 usage error.\n";

static int
replay_line(struct db *db, int64_t unit_id, const cJSON *json, void *arg)
{
	unsigned flags = *(unsigned *)arg;
	struct decision d = { 0 };
	const char *verb;
	cJSON *line;
	char *msg = NULL;
	int rc;

	if (msg_get_str(json, "decision", &verb, &msg) < 0 ||
	    msg_opt_str(json, "note", NULL, &d.note, &msg) < 0) {
		error("unit %lld: %s", (long long)unit_id, msg);
		free(msg);
		return -1;
	}
	if (review_verb_parse(verb, &d.verb) < 0) {
		error("unit %lld: unknown decision '%s'", (long long)unit_id,
		    verb);
		return -1;
	}
	d.value = 1;
	if ((d.verb == REVIEW_BONUS && (msg_get_double(json, "bonus",
	    &d.amount, &msg) < 0 || msg_opt_str(json, "key", NULL, &d.key,
	    &msg) < 0)) || ((d.verb == REVIEW_QUALIFY ||
	    d.verb == REVIEW_REVOKE) && msg_get_str(json, "qualification",
	    &d.qual, &msg) < 0) || (d.verb == REVIEW_QUALIFY &&
	    msg_opt_int(json, "value", 1, &d.value, &msg) < 0)) {
		error("unit %lld: %s", (long long)unit_id, msg);
		free(msg);
		return -1;
	}
	if (d.verb == REVIEW_BONUS && d.amount <= 0) {
		error("unit %lld: the bonus must be positive",
		    (long long)unit_id);
		return -1;
	}
	rc = review_decide(db, &d, unit_id, flags, &line, &msg);
	return report(rc, line, msg);
}

static int
cmd_replay(int argc, char **argv)
{
	struct opts o = { 0 };
	struct db *db;
	size_t failed;
	int i;

	i = parse_opts(argc, argv, replay_usage, "fd", &o);
	if (i < argc)
		review_usage_error(replay_usage, "unexpected argument '%s'",
		    argv[i]);
	if (isatty(STDIN_FILENO))
		review_usage_error(replay_usage, "replay reads decisions on "
		    "stdin");
	db = review_open_db();
	failed = each_stdin_line(db, replay_line, &o.flags);
	db_close(db);
	opts_release(&o);
	log_close_stdout();
	return failed ? EXIT_FAIL : EXIT_OK;
}

/* --- interactive --- */

static int
collect_unit(struct db *db, int64_t unit_id, const cJSON *json, void *arg)
{
	struct { int64_t *ids; size_t nr, alloc; } *l = arg;

	ALLOC_GROW(l->ids, l->nr + 1, l->alloc);
	l->ids[l->nr++] = unit_id;
	return 0;
}

static int
cmd_interactive(int argc, char **argv)
{
	struct opts o = { 0 };
	struct { int64_t *ids; size_t nr, alloc; } l = { NULL, 0, 0 };
	struct review_tty_opts to;
	struct db *db;
	size_t failed;
	int i, fd, rc;

	i = parse_opts(argc, argv, usage_text, "trsfb", &o);
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		review_usage_error(NULL, "no terminal for an interactive "
		    "review; give a verb (approve, reject, ...)");
	close(fd);
	db = review_open_db();
	failed = each_unit(db, &o, usage_text, argv + i, argc - i,
	    reviewable, ARRAY_SIZE(reviewable), collect_unit, &l);
	to.flags = o.flags;
	to.block_qual = o.block_qual;
	rc = review_interactive(db, l.ids, l.nr, &to);
	free(l.ids);
	db_close(db);
	opts_release(&o);
	log_close_stdout();
	return failed && rc == EXIT_OK ? EXIT_FAIL : rc;
}

int
main(int argc, char **argv)
{
	enum review_verb v;

	log_init("mephisto-review");
	log_level_from_env(NULL);
	/* The commands; the options follow from cmd_interactive. */
	if (opt_is_completion_helper(argc, argv)) {
		for (v = 0; v < REVIEW_NR_VERBS; v++)
			puts(review_verb_name(v));
		puts("replay\nexport\nsummary");
	}
	if (argc > 1 && review_verb_parse(argv[1], &v) == 0)
		return cmd_verb(v, argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "replay"))
		return cmd_replay(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "export"))
		return review_cmd_export(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "summary"))
		return review_cmd_summary(argc - 1, argv + 1);
	if (argc > 1 && argv[1][0] != '-' && db_id_parse(argv[1], &(int64_t){
	    0 }) < 0)
		review_usage_error(NULL, "unknown command '%s'", argv[1]);
	return cmd_interactive(argc, argv);
}
