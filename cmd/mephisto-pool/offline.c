#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "model.h"
#include "msg.h"
#include "pool.h"
#include "provider.h"
#include "xalloc.h"
#include "opt.h"
#include "banned.h"

/*
 * The commands that work on the database directly: workers, qual, grant,
 * revoke, block, unblock.  Each change is one transaction.
 */

#define EXIT_USAGE 2
#define DESCRIPTION_MAX 500

/* Options shared by the commands' parsers. */
struct opts {
	const char *run, *task, *reason, *description;
	int json;
};

static void
usage_error(const char *usage, const char *fmt, const char *arg)
{
	fprintf(stderr, "mephisto-pool: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage);
	exit(EXIT_USAGE);
}

/*
 * Parse ARGV (ARGV[0] is the command) for the options in SHORTOPTS
 * (r: --run, t: --task, j: --json, R: --reason, d: --description), with
 * MIN..MAX operands left.  --help prints USAGE and exits 0.
 */
static int
parse(int argc, char **argv, const char *shortopts, int min, int max,
    const char *usage, struct opts *o)
{
	static const struct option longopts[] = {
		{ "run", required_argument, NULL, 'r' },
		{ "task", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "reason", required_argument, NULL, 'R' },
		{ "description", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int only[8] = { 0 }, c, n;

	for (n = 0; shortopts[n] && n < 7; n++)
		only[n] = (unsigned char)shortopts[n];
	memset(o, 0, sizeof(*o));
	optind = 0;
	while ((c = opt_getopt_only(argc, argv, "h", longopts, only)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			exit(log_close_stdout());
		}
		if (c == '?' || !strchr(shortopts, c))
			usage_error(usage, "%s", c == '?' ? "invalid option" :
			    "option not valid for this command");
		if (c == 'r')
			o->run = optarg;
		else if (c == 't')
			o->task = optarg;
		else if (c == 'j')
			o->json = 1;
		else if (c == 'R')
			o->reason = optarg;
		else if (c == 'd')
			o->description = optarg;
	}
	n = argc - optind;
	if (n < min)
		usage_error(usage, "%s", "missing argument");
	if (n > max)
		usage_error(usage, "unexpected argument '%s'",
		    argv[optind + max]);
	return optind;
}

static struct db *
open_db(void)
{
	char *err = NULL, *path = conf_db_path(NULL, &err);
	struct db *db;

	if (!path)
		die("%s", err);
	db = db_open(path, &err);
	free(path);
	if (!db)
		die("%s", err);
	return db;
}

static void
fail_db(struct db *db, const char *what)
{
	const char *msg = db_errmsg(db);

	die("cannot %s: %s", what, msg);
}

static void
commit(struct db *db, const char *what)
{
	if (db_commit(db) < 0)
		fail_db(db, what);
}

static int
finish(struct db *db)
{
	db_close(db);
	return log_close_stdout();
}

/* workers */

static const char workers_usage[] =
    "usage: mephisto-pool workers [--run RUN_ID | --task NAME] [--json]\n"
    "\n"
    "List workers with the units they hold, grouped by unit status.  With\n"
    "--run or --task, only workers holding units of that run or task.\n"
    "--json prints one JSON object per worker: worker_id, worker_name,\n"
    "provider_type, blocked, units {status: [unit_id, ...]}.\n";

struct worker_row {
	int64_t id;
	char *name, *provider;
	int blocked;
};

static sqlite3_stmt *
units_stmt(struct db *db, int64_t run_id, int64_t task_id)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT unit_id, status FROM units "
	    "WHERE worker_id = ?1 AND (?2 IS NULL OR task_run_id = ?2) AND "
	    "(?3 IS NULL OR task_id = ?3) ORDER BY status, creation_date");

	if (!st)
		return NULL;
	if (run_id)
		sqlite3_bind_int64(st, 2, run_id);
	if (task_id)
		sqlite3_bind_int64(st, 3, task_id);
	return st;
}

/* The units of W by status: {status: [id, ...]}; NULL if none. */
static cJSON *
worker_units(struct db *db, const struct worker_row *w, int64_t run_id,
    int64_t task_id, size_t *count)
{
	sqlite3_stmt *st = units_stmt(db, run_id, task_id);
	cJSON *units = msg_new_object(), *list;
	const char *status;
	char id[DB_ID_BUFSZ];
	int rc;

	*count = 0;
	if (!st)
		fail_db(db, "read units");
	sqlite3_bind_int64(st, 1, w->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		status = (const char *)sqlite3_column_text(st, 1);
		list = (cJSON *)msg_get(units, status);
		if (!list)
			list = msg_set_array(units, status);
		msg_push_str(list, db_id_format(sqlite3_column_int64(st, 0),
		    id));
		(*count)++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		fail_db(db, "read units");
	return units;
}

static void
print_worker(const struct worker_row *w, cJSON *units, int json)
{
	const cJSON *s;
	struct buf b = BUF_INIT;
	cJSON *o;
	int first = 1;

	if (json) {
		o = msg_new_object();
		msg_set_id(o, "worker_id", w->id);
		msg_set_str(o, "worker_name", w->name);
		msg_set_str(o, "provider_type", w->provider);
		msg_set_bool(o, "blocked", w->blocked);
		msg_set(o, "units", msg_dup(units));
		msg_write_line(o, &b);
		msg_free(o);
		fputs(b.buf, stdout);
		buf_release(&b);
		return;
	}
	printf("%-20" PRId64 " %-24s %-8s %-7s ", w->id, w->name, w->provider,
	    w->blocked ? "yes" : "no");
	msg_foreach(s, units) {
		printf("%s%s %zu", first ? "" : ", ", msg_key(s), msg_len(s));
		first = 0;
	}
	printf("%s\n", first ? "-" : "");
}

static int64_t
lookup_task(struct db *db, const char *name)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT task_id FROM tasks WHERE task_name = ?");
	int64_t id = 0;
	int rc;

	if (!st)
		fail_db(db, "read tasks");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		fail_db(db, "read tasks");
	if (!id)
		die("no task named '%s'", name);
	return id;
}

static int64_t
lookup_run(struct db *db, const char *s)
{
	sqlite3_stmt *st;
	int64_t id;
	int rc;

	if (db_id_parse(s, &id) < 0)
		die("invalid task run id '%s'", s);
	st = db_stmt(db, "SELECT 1 FROM task_runs WHERE task_run_id = ?");
	if (!st)
		fail_db(db, "read task runs");
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		fail_db(db, "read task runs");
	if (rc != SQLITE_ROW)
		die("no task run '%s'", s);
	return id;
}

static void
list_workers(struct db *db, int64_t run_id, int64_t task_id, int json)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT w.worker_id, w.worker_name, "
	    "w.provider_type, coalesce(p.is_blocked, 0) FROM workers w "
	    "LEFT JOIN provider_workers p ON p.worker_id = w.worker_id AND "
	    "p.provider_type = w.provider_type ORDER BY w.worker_name");
	struct worker_row *rows = NULL;
	size_t nr = 0, alloc = 0, i, count;
	cJSON *units;
	int rc;

	if (!st)
		fail_db(db, "read workers");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ALLOC_GROW(rows, nr + 1, alloc);
		rows[nr].id = sqlite3_column_int64(st, 0);
		rows[nr].name = xstrdup((const char *)
		    sqlite3_column_text(st, 1));
		rows[nr].provider = xstrdup((const char *)
		    sqlite3_column_text(st, 2));
		rows[nr++].blocked = sqlite3_column_int(st, 3) != 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		fail_db(db, "read workers");
	if (!json)
		printf("%-20s %-24s %-8s %-7s %s\n", "WORKER_ID", "NAME",
		    "PROVIDER", "BLOCKED", "UNITS");
	for (i = 0; i < nr; i++) {
		units = worker_units(db, &rows[i], run_id, task_id, &count);
		if (count || (!run_id && !task_id))
			print_worker(&rows[i], units, json);
		msg_free(units);
		free(rows[i].name);
		free(rows[i].provider);
	}
	free(rows);
}

int
pool_cmd_workers(int argc, char **argv)
{
	struct opts o;
	struct db *db;
	int64_t run_id = 0, task_id = 0;

	parse(argc, argv, "rtj", 0, 0, workers_usage, &o);
	if (o.run && o.task)
		usage_error(workers_usage, "%s",
		    "--run and --task cannot be used together");
	db = open_db();
	if (o.run)
		run_id = lookup_run(db, o.run);
	if (o.task)
		task_id = lookup_task(db, o.task);
	list_workers(db, run_id, task_id, o.json);
	return finish(db);
}

/* qual */

static const char qual_usage[] =
    "usage: mephisto-pool qual list [--json]\n"
    "   or: mephisto-pool qual create NAME [--description TEXT]\n"
    "   or: mephisto-pool qual delete NAME\n"
    "\n"
    "List, create or delete qualifications.  Deleting one removes every\n"
    "grant of it too.\n";

static void
qual_list(struct db *db, int json)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT q.qualification_name, "
	    "q.description, (SELECT count(*) FROM granted_qualifications g "
	    "WHERE g.qualification_id = q.qualification_id), q.creation_date "
	    "FROM qualifications q ORDER BY q.qualification_name");
	struct buf b = BUF_INIT;
	const char *name, *desc;
	cJSON *o;
	int rc;

	if (!st)
		fail_db(db, "read qualifications");
	if (!json)
		printf("%-32s %-7s %s\n", "NAME", "GRANTS", "DESCRIPTION");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(st, 0);
		desc = (const char *)sqlite3_column_text(st, 1);
		if (!json) {
			printf("%-32s %-7d %s\n", name,
			    sqlite3_column_int(st, 2), desc ? desc : "");
			continue;
		}
		o = msg_new_object();
		msg_set_str(o, "qualification_name", name);
		msg_set_str(o, "description", desc);
		msg_set_int(o, "grants", sqlite3_column_int64(st, 2));
		msg_set_str(o, "creation_date",
		    (const char *)sqlite3_column_text(st, 3));
		buf_reset(&b);
		msg_write_line(o, &b);
		fputs(b.buf, stdout);
		msg_free(o);
	}
	sqlite3_reset(st);
	buf_release(&b);
	if (rc != SQLITE_DONE)
		fail_db(db, "read qualifications");
}

static void
qual_create(struct db *db, const char *name, const char *description)
{
	int rc;

	if (!*name)
		die("a qualification name cannot be empty");
	if (description && strlen(description) > DESCRIPTION_MAX)
		die("the description is longer than %d characters",
		    DESCRIPTION_MAX);
	if (db_begin(db) < 0)
		fail_db(db, "create the qualification");
	rc = model_qual_create(db, name, description, NULL);
	if (rc < 0)
		fail_db(db, "create the qualification");
	if (rc == 0) {
		db_rollback(db);
		die("qualification '%s' already exists", name);
	}
	commit(db, "create the qualification");
	printf("created qualification '%s'\n", name);
}

static void
qual_delete(struct db *db, const char *name)
{
	const struct provider *const *all;
	char *err = NULL;
	size_t nr, i;
	int rc;

	if (db_begin(db) < 0)
		fail_db(db, "delete the qualification");
	rc = model_qual_delete(db, name);
	if (rc < 0)
		fail_db(db, "delete the qualification");
	if (rc == 0) {
		db_rollback(db);
		die("no qualification '%s'", name);
	}
	all = provider_all(&nr);
	for (i = 0; i < nr; i++) {
		if (provider_qual_cleanup(all[i], db, name, &err) < 0) {
			db_rollback(db);
			die("%s", err);
		}
	}
	commit(db, "delete the qualification");
	printf("deleted qualification '%s'\n", name);
}

int
pool_cmd_qual(int argc, char **argv)
{
	const char *verb;
	struct opts o;
	struct db *db;
	int i;

	i = parse(argc, argv, "jd", 1, 2, qual_usage, &o);
	verb = argv[i];
	if (!strcmp(verb, "list")) {
		if (argc - i != 1 || o.description)
			usage_error(qual_usage, "%s", "qual list takes no "
			    "arguments besides --json");
	} else if (!strcmp(verb, "create") || !strcmp(verb, "delete")) {
		if (argc - i != 2)
			usage_error(qual_usage, "qual %s needs a NAME", verb);
		if (o.json || (o.description && strcmp(verb, "create")))
			usage_error(qual_usage, "%s",
			    "option not valid for this command");
	} else {
		usage_error(qual_usage, "unknown qual command '%s'", verb);
	}
	db = open_db();
	if (!strcmp(verb, "list"))
		qual_list(db, o.json);
	else if (!strcmp(verb, "create"))
		qual_create(db, argv[i + 1], o.description);
	else
		qual_delete(db, argv[i + 1]);
	return finish(db);
}

/* grant, revoke, block, unblock */

struct target {
	int64_t worker_id;
	char *name, *provider_type;
	const struct provider *provider;
	int64_t qual_id;
};

static void
find_worker(struct db *db, const char *who, struct target *t)
{
	int rc = model_worker_resolve(db, who, &t->worker_id, &t->name,
	    &t->provider_type);

	if (rc < 0)
		fail_db(db, "read workers");
	if (!rc)
		die("no worker '%s'", who);
	t->provider = provider_find(t->provider_type);
	if (!t->provider)
		die("worker '%s' has an unknown provider '%s'", t->name,
		    t->provider_type);
}

static void
find_qual(struct db *db, const char *name, struct target *t)
{
	int rc = model_qual_find(db, name, &t->qual_id);

	if (rc < 0)
		fail_db(db, "read qualifications");
	if (!rc)
		die("no qualification '%s' (create it with 'mephisto-pool "
		    "qual create %s')", name, name);
}

static void
target_release(struct target *t)
{
	free(t->name);
	free(t->provider_type);
}

static const char grant_usage[] =
    "usage: mephisto-pool grant WORKER QUAL [VALUE]\n"
    "\n"
    "Grant qualification QUAL to WORKER (a worker name or id) with VALUE, an\n"
    "integer (default 1), replacing an earlier grant.\n";

int
pool_cmd_grant(int argc, char **argv)
{
	struct target t = { 0 };
	struct opts o;
	struct db *db;
	char *end, *err = NULL;
	long long value = 1;
	int i;

	i = parse(argc, argv, "", 2, 3, grant_usage, &o);
	if (argc - i == 3) {
		errno = 0;
		value = strtoll(argv[i + 2], &end, 10);
		if (errno || end == argv[i + 2] || *end)
			usage_error(grant_usage, "invalid value '%s': an "
			    "integer is needed", argv[i + 2]);
	}
	db = open_db();
	find_worker(db, argv[i], &t);
	find_qual(db, argv[i + 1], &t);
	if (db_begin(db) < 0 || model_grant(db, t.worker_id, t.qual_id,
	    value) < 0)
		fail_db(db, "grant the qualification");
	if (provider_qual_grant(t.provider, db, t.worker_id, argv[i + 1],
	    value, &err) < 0) {
		db_rollback(db);
		die("%s", err);
	}
	commit(db, "grant the qualification");
	printf("granted '%s' = %lld to worker '%s'\n", argv[i + 1], value,
	    t.name);
	target_release(&t);
	return finish(db);
}

static const char revoke_usage[] =
    "usage: mephisto-pool revoke WORKER QUAL\n"
    "\n"
    "Remove WORKER's grant of qualification QUAL.\n";

int
pool_cmd_revoke(int argc, char **argv)
{
	struct target t = { 0 };
	struct opts o;
	struct db *db;
	char *err = NULL;
	int i, rc;

	i = parse(argc, argv, "", 2, 2, revoke_usage, &o);
	db = open_db();
	find_worker(db, argv[i], &t);
	find_qual(db, argv[i + 1], &t);
	if (db_begin(db) < 0)
		fail_db(db, "revoke the qualification");
	rc = model_revoke(db, t.worker_id, t.qual_id);
	if (rc < 0)
		fail_db(db, "revoke the qualification");
	if (!rc) {
		db_rollback(db);
		die("worker '%s' has no grant of '%s'", t.name, argv[i + 1]);
	}
	if (provider_qual_revoke(t.provider, db, t.worker_id, argv[i + 1],
	    &err) < 0) {
		db_rollback(db);
		die("%s", err);
	}
	commit(db, "revoke the qualification");
	printf("revoked '%s' from worker '%s'\n", argv[i + 1], t.name);
	target_release(&t);
	return finish(db);
}

static const char block_usage[] =
    "usage: mephisto-pool block WORKER [--reason TEXT]\n"
    "\n"
    "Block WORKER (a worker name or id) at its crowd provider: the worker\n"
    "pool then refuses them as not qualified, in every run of that\n"
    "provider.\n";

static const char unblock_usage[] =
    "usage: mephisto-pool unblock WORKER\n"
    "\n"
    "Lift a block made with 'mephisto-pool block'.\n";

static int
set_block(int argc, char **argv, int blocked)
{
	const char *usage = blocked ? block_usage : unblock_usage;
	struct target t = { 0 };
	struct opts o;
	struct db *db;
	char *err = NULL;
	int i, rc;

	i = parse(argc, argv, blocked ? "R" : "", 1, 1, usage, &o);
	db = open_db();
	find_worker(db, argv[i], &t);
	if (db_begin(db) < 0)
		fail_db(db, blocked ? "block the worker" :
		    "unblock the worker");
	if (blocked)
		rc = provider_worker_block(t.provider, db, t.worker_id,
		    o.reason, &err);
	else
		rc = provider_worker_unblock(t.provider, db, t.worker_id,
		    &err);
	if (rc < 0) {
		db_rollback(db);
		die("%s", err);
	}
	commit(db, blocked ? "block the worker" : "unblock the worker");
	printf("%s worker '%s'\n", blocked ? "blocked" : "unblocked", t.name);
	target_release(&t);
	return finish(db);
}

int
pool_cmd_block(int argc, char **argv)
{
	return set_block(argc, argv, 1);
}

int
pool_cmd_unblock(int argc, char **argv)
{
	return set_block(argc, argv, 0);
}
