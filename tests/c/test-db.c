/*
 * Drive lib/db from the bats tests (tests/2*-db-*.bats).
 *
 *   test-db [-s EPOCH] COMMAND ARGS...
 *
 * -s waits until the wall clock reaches EPOCH (float seconds) before
 * running COMMAND, so that several processes start at the same moment.
 * Each command prints what it found on stdout; failures print one
 * "test-db: error: ..." line and exit 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

static struct db *
open_or_die(const char *path)
{
	char *err = NULL;
	struct db *db = db_open(path, &err);

	if (!db)
		die("%s", err);
	return db;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
wait_until(double epoch)
{
	double now;

	while ((now = db_now()) < epoch)
		sleep_ms((long)((epoch - now) * 1000) + 1);
}

static long
num_arg(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0)
		die("not a number: '%s'", s);
	return v;
}

/* open PATH: open (creating or upgrading) and print the version. */
static int
cmd_open(int argc, char **argv)
{
	struct db *db;

	if (argc != 2)
		die("usage: test-db open PATH");
	db = open_or_die(argv[1]);
	printf("version %d\n", db_schema_version(db));
	db_close(db);
	return 0;
}

/* open-version PATH N: open, migrating only up to version N. */
static int
cmd_open_version(int argc, char **argv)
{
	char *err = NULL;
	struct db *db;

	if (argc != 3)
		die("usage: test-db open-version PATH N");
	db = db_open_version(argv[1], (int)num_arg(argv[2]), &err);
	if (!db)
		die("%s", err);
	printf("version %d\n", db_schema_version(db));
	db_close(db);
	return 0;
}

static int
cmd_latest(int argc, char **argv)
{
	printf("%d\n", db_schema_latest());
	return 0;
}

static void
insert_project(struct db *db, const char *name)
{
	sqlite3_stmt *stmt = db_stmt(db, "INSERT INTO projects "
	    "(project_id, project_name) VALUES (?1, ?2)");

	if (!stmt)
		die("cannot prepare: %s", db_errmsg(db));
	sqlite3_bind_text(stmt, 2, name, -1, SQLITE_TRANSIENT);
	if (db_insert_id(db, stmt, 1, NULL) < 0)
		die("cannot insert project %s: %s", name, db_errmsg(db));
}

/* The one integer SQL gives. */
static int64_t
count_sql(struct db *db, const char *sql)
{
	sqlite3_stmt *stmt = db_stmt(db, sql);
	int64_t n;

	if (!stmt || sqlite3_step(stmt) != SQLITE_ROW)
		die("cannot count: %s: %s", sql, db_errmsg(db));
	n = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return n;
}

static int64_t
count_projects(struct db *db)
{
	return count_sql(db, "SELECT count(*) FROM projects");
}

static void
begin_or_die(struct db *db)
{
	if (db_begin(db) < 0)
		die("cannot begin: %s", db_errmsg(db));
}

static void
commit_or_die(struct db *db)
{
	if (db_commit(db) < 0)
		die("cannot commit: %s", db_errmsg(db));
}

/*
 * Begin transaction T and insert ROWS projects named PREFIX-T-R, each
 * followed by BYTES x's; the caller commits.
 */
static void
begin_rows(struct db *db, const char *prefix, long t, long rows, long bytes)
{
	size_t size = strlen(prefix) + 64 + (size_t)bytes;
	char *name = xmalloc(size);
	long r;
	int n;

	begin_or_die(db);
	for (r = 0; r < rows; r++) {
		n = snprintf(name, size, "%s-%ld-%ld", prefix, t, r);
		memset(name + n, 'x', (size_t)bytes);
		name[n + bytes] = '\0';
		insert_project(db, name);
	}
	free(name);
}

/*
 * write PATH NAME NTXN ROWS EVERY MS: NTXN write transactions of ROWS
 * projects named NAME-T-R each; every EVERY-th one (0: none) holds the
 * write lock MS milliseconds more.
 */
static int
cmd_write(int argc, char **argv)
{
	long ntxn, rows, every, ms, t;
	struct db *db;

	if (argc != 7)
		die("usage: test-db write PATH NAME NTXN ROWS EVERY MS");
	ntxn = num_arg(argv[3]);
	rows = num_arg(argv[4]);
	every = num_arg(argv[5]);
	ms = num_arg(argv[6]);
	db = open_or_die(argv[1]);
	for (t = 0; t < ntxn; t++) {
		begin_rows(db, argv[2], t, rows, 0);
		count_projects(db);
		if (every && t % every == 0)
			sleep_ms(ms);
		commit_or_die(db);
	}
	printf("wrote %ld\n", ntxn * rows);
	db_close(db);
	return 0;
}

/*
 * commits PATH NTXN ROWS BYTES PAGES: with a page cache of PAGES pages,
 * NTXN transactions of ROWS projects whose names are BYTES long; after
 * each commit returns, print "committed T" (T from 1) at once.
 */
static int
cmd_commits(int argc, char **argv)
{
	long ntxn, rows, bytes, t;
	struct db *db;
	char sql[48];

	if (argc != 6)
		die("usage: test-db commits PATH NTXN ROWS BYTES PAGES");
	ntxn = num_arg(argv[2]);
	rows = num_arg(argv[3]);
	bytes = num_arg(argv[4]);
	db = open_or_die(argv[1]);
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = %ld",
	    num_arg(argv[5]));
	if (db_exec(db, sql) < 0)
		die("cannot set the cache size: %s", db_errmsg(db));
	for (t = 1; t <= ntxn; t++) {
		begin_rows(db, "c", t, rows, bytes);
		commit_or_die(db);
		printf("committed %ld\n", t);
		fflush(stdout);
	}
	db_close(db);
	return 0;
}

/* read PATH N: N reads outside any transaction. */
static int
cmd_read(int argc, char **argv)
{
	struct db *db;
	long n, i;

	if (argc != 3)
		die("usage: test-db read PATH N");
	n = num_arg(argv[2]);
	db = open_or_die(argv[1]);
	for (i = 0; i < n; i++)
		count_projects(db);
	printf("read %ld\n", n);
	db_close(db);
	return 0;
}

static int
select_int(sqlite3_stmt *stmt)
{
	int v;

	if (sqlite3_step(stmt) != SQLITE_ROW)
		die("select failed");
	v = sqlite3_column_type(stmt, 0) == SQLITE_NULL ? -1 :
	    sqlite3_column_int(stmt, 0);
	return v;
}

/* stmt PATH: exercise the statement cache; print what it saw. */
static int
cmd_stmt(int argc, char **argv)
{
	sqlite3_stmt *a, *b, *first[200];
	char sql[64], *copy;
	struct db *db;
	int i, ok = 1;

	if (argc != 2)
		die("usage: test-db stmt PATH");
	db = open_or_die(argv[1]);
	a = db_stmt(db, "SELECT ?1 + 1");
	sqlite3_bind_int(a, 1, 41);
	printf("bound %d\n", select_int(a));
	/* Left mid-row: the next use must come back reset and unbound. */
	copy = xstrdup("SELECT ?1 + 1");
	b = db_stmt(db, copy);
	free(copy);
	printf("same %s\n", a == b ? "yes" : "no");
	printf("unbound %d\n", select_int(b));
	for (i = 0; i < 200; i++) {
		snprintf(sql, sizeof(sql), "SELECT %d", i);
		first[i] = db_stmt(db, sql);
		if (!first[i] || select_int(first[i]) != i)
			ok = 0;
	}
	for (i = 0; i < 200; i++) {
		snprintf(sql, sizeof(sql), "SELECT %d", i);
		if (db_stmt(db, sql) != first[i] || select_int(first[i]) != i)
			ok = 0;
	}
	printf("many %s\n", ok ? "ok" : "wrong");
	a = db_stmt(db, "SELEKT 1");
	printf("bad %s: %s\n", a ? "prepared" : "refused", db_errmsg(db));
	a = db_stmt(db, "SELECT nosuchcolumn FROM projects");
	printf("bad %s: %s\n", a ? "prepared" : "refused", db_errmsg(db));
	db_close(db);
	return 0;
}

/* ids PATH: insert with scripted ids to make the primary key collide. */
static int
cmd_ids(int argc, char **argv)
{
	static const int64_t script[] = { 5000000, 5000000, 5000000, 5000001 };
	sqlite3_stmt *stmt;
	char buf[DB_ID_BUFSZ];
	struct db *db;
	int64_t id;

	if (argc != 2)
		die("usage: test-db ids PATH");
	db = open_or_die(argv[1]);
	db_test_set_ids(script, ARRAY_SIZE(script));
	stmt = db_stmt(db, "INSERT INTO projects (project_id, project_name) "
	    "VALUES (?1, ?2) RETURNING project_name");
	sqlite3_bind_text(stmt, 2, "first", -1, SQLITE_STATIC);
	if (db_insert_id(db, stmt, 1, &id) < 0)
		die("insert first: %s", db_errmsg(db));
	printf("first %s %s\n", db_id_format(id, buf),
	    (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_reset(stmt);
	stmt = db_stmt(db, "INSERT INTO projects (project_id, project_name) "
	    "VALUES (?1, ?2)");
	sqlite3_bind_text(stmt, 2, "second", -1, SQLITE_STATIC);
	if (db_insert_id(db, stmt, 1, &id) < 0)
		die("insert second: %s", db_errmsg(db));
	printf("second %s\n", db_id_format(id, buf));
	db_test_set_ids(NULL, 0);
	stmt = db_stmt(db, "INSERT INTO projects (project_id, project_name) "
	    "VALUES (?1, ?2)");
	sqlite3_bind_text(stmt, 2, "second", -1, SQLITE_STATIC);
	if (db_insert_id(db, stmt, 1, &id) == 0)
		die("a duplicate name was inserted");
	printf("duplicate %s: %s\n",
	    sqlite3_extended_errcode(db_handle(db)) ==
	    SQLITE_CONSTRAINT_UNIQUE ? "unique" : "other", db_errmsg(db));
	db_close(db);
	return 0;
}

/* random N: print N new random ids. */
static int
cmd_random(int argc, char **argv)
{
	char buf[DB_ID_BUFSZ];
	long n, i;

	if (argc != 2)
		die("usage: test-db random N");
	n = num_arg(argv[1]);
	for (i = 0; i < n; i++)
		printf("%s\n", db_id_format(db_new_id(), buf));
	return 0;
}

/*
 * random-fork N: draw an id, fork, then the child and the parent (after
 * the child) each print N new ids.
 */
static int
cmd_random_fork(int argc, char **argv)
{
	char buf[DB_ID_BUFSZ];
	long n, i;
	pid_t pid;

	if (argc != 2)
		die("usage: test-db random-fork N");
	n = num_arg(argv[1]);
	printf("%s\n", db_id_format(db_new_id(), buf));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die_errno("cannot fork");
	if (pid > 0 && waitpid(pid, NULL, 0) < 0)
		die_errno("cannot wait");
	for (i = 0; i < n; i++)
		printf("%s\n", db_id_format(db_new_id(), buf));
	fflush(stdout);
	if (!pid)
		_exit(0);
	return 0;
}

/* parse STRING: print the id, formatted back, or why it is refused. */
static int
cmd_parse(int argc, char **argv)
{
	char buf[DB_ID_BUFSZ];
	int64_t id;

	if (argc != 2)
		die("usage: test-db parse STRING");
	if (db_id_parse(argv[1], &id) < 0)
		die("not an id: '%s': %s", argv[1], strerror(errno));
	printf("%s\n", db_id_format(id, buf));
	return 0;
}

/*
 * txn PATH: a transaction that fails (a foreign key to nowhere) and is
 * rolled back; print the saved reason and that nothing was written.
 */
static int
cmd_txn(int argc, char **argv)
{
	sqlite3_stmt *stmt;
	struct db *db;
	int rc;

	if (argc != 2)
		die("usage: test-db txn PATH");
	db = open_or_die(argv[1]);
	begin_or_die(db);
	insert_project(db, "kept-out");
	stmt = db_stmt(db, "INSERT INTO tasks (task_id, task_name, task_type, "
	    "project_id) VALUES (?1, 'bad', 'static', 42)");
	rc = db_insert_id(db, stmt, 1, NULL);
	printf("insert %s\n", rc < 0 ? "failed" : "succeeded");
	if (db_rollback(db) < 0)
		die("cannot roll back: %s", db_errmsg(db));
	printf("reason: %s\n", db_errmsg(db));
	printf("projects %" PRId64 "\n", count_projects(db));
	begin_or_die(db);
	if (db_exec(db, "INSERT INTO projects (project_id, project_name) "
	    "VALUES (1000001, 'fixed')") < 0)
		die("cannot insert: %s", db_errmsg(db));
	commit_or_die(db);
	printf("projects %" PRId64 "\n", count_projects(db));
	db_close(db);
	return 0;
}

/*
 * batch PATH ROWS BYTES: one batch, as a pool round, of three requests of
 * ROWS projects with BYTES-long names each; the second is rolled back.
 * Prints what is left.
 */
static int
cmd_batch(int argc, char **argv)
{
	long rows, bytes, r;
	struct db *db;

	if (argc != 4)
		die("usage: test-db batch PATH ROWS BYTES");
	rows = num_arg(argv[2]);
	bytes = num_arg(argv[3]);
	db = open_or_die(argv[1]);
	db_batch_start(db);
	for (r = 1; r <= 3; r++) {
		begin_rows(db, "request", r, rows, bytes);
		if (r != 2)
			commit_or_die(db);
		else if (db_rollback(db) < 0)
			die("cannot roll back request 2: %s", db_errmsg(db));
	}
	if (db_batch_end(db) < 0)
		die("cannot commit the batch: %s", db_errmsg(db));
	printf("projects %" PRId64 "\n", count_projects(db));
	printf("request 2 %" PRId64 "\n", count_sql(db,
	    "SELECT count(*) FROM projects WHERE project_name LIKE "
	    "'request-2-%'"));
	db_close(db);
	return 0;
}

/*
 * batch-ids PATH N: two batches of N projects each (batch-1-R,
 * batch-2-R), then N projects one transaction each (single-T-0).
 */
static int
cmd_batch_ids(int argc, char **argv)
{
	struct db *db;
	long n, b;

	if (argc != 3)
		die("usage: test-db batch-ids PATH N");
	n = num_arg(argv[2]);
	db = open_or_die(argv[1]);
	for (b = 1; b <= 2; b++) {
		db_batch_start(db);
		begin_rows(db, "batch", b, n, 0);
		commit_or_die(db);
		if (db_batch_end(db) < 0)
			die("cannot commit batch %ld: %s", b, db_errmsg(db));
	}
	for (b = 1; b <= n; b++) {
		begin_rows(db, "single", b, 1, 0);
		commit_or_die(db);
	}
	db_close(db);
	return 0;
}

/* Print what the sqlite3 program, another process, reads of SQL in PATH. */
static void
other_process_reads(const char *path, const char *sql)
{
	char *cmd = xasprintf("sqlite3 '%s' '%s'", path, sql);

	fflush(stdout);
	if (system(cmd) != 0)
		die("cannot run: %s", cmd);
	free(cmd);
}

/*
 * second-open PATH: commit a project with one connection, open a second,
 * let another process open and close the database, commit another
 * project with the first connection, and print what the other process
 * reads each time.
 */
static int
cmd_second_open(int argc, char **argv)
{
	static const char names[] = "SELECT group_concat(project_name, "
	    "\" \") FROM (SELECT project_name FROM projects ORDER BY 1)";
	struct db *first, *second;

	if (argc != 2)
		die("usage: test-db second-open PATH");
	first = open_or_die(argv[1]);
	begin_rows(first, "first", 1, 1, 0);
	commit_or_die(first);
	second = open_or_die(argv[1]);
	other_process_reads(argv[1], names);
	begin_rows(first, "second", 1, 1, 0);
	commit_or_die(first);
	other_process_reads(argv[1], names);
	db_close(second);
	db_close(first);
	return 0;
}

static void
print_autocheckpoint(struct db *db)
{
	sqlite3_stmt *stmt = db_stmt(db, "PRAGMA wal_autocheckpoint");

	if (!stmt || sqlite3_step(stmt) != SQLITE_ROW)
		die("PRAGMA wal_autocheckpoint: %s", db_errmsg(db));
	printf("%d\n", sqlite3_column_int(stmt, 0));
}

/*
 * checkpoint PATH: the log threshold of a connection opened (then made
 * seldom), after db_checkpoint_later() twice and a commit, and after
 * db_checkpoint_now(); then the rows another process reads in the file
 * alone (immutable: without the log), before this connection closes.
 */
static int
cmd_checkpoint(int argc, char **argv)
{
	struct db *db;
	char *uri;

	if (argc != 2)
		die("usage: test-db checkpoint PATH");
	db = open_or_die(argv[1]);
	print_autocheckpoint(db);
	if (db_checkpoint_seldom(db) < 0 || db_checkpoint_later(db) < 0 ||
	    db_checkpoint_later(db) < 0)
		die("checkpoint later: %s", db_errmsg(db));
	print_autocheckpoint(db);
	begin_rows(db, "ckpt", 1, 10, 0);
	commit_or_die(db);
	if (db_checkpoint_now(db) < 0)
		die("checkpoint now: %s", db_errmsg(db));
	print_autocheckpoint(db);
	uri = xasprintf("file:%s?immutable=1", argv[1]);
	other_process_reads(uri, "SELECT count(*) FROM projects");
	free(uri);
	db_close(db);
	return 0;
}

/* pragmas PATH: the settings db_open() gives a connection. */
static int
cmd_pragmas(int argc, char **argv)
{
	static const char *const names[] = {
		"journal_mode", "synchronous", "foreign_keys",
	};
	sqlite3_stmt *stmt;
	struct db *db;
	char sql[64];
	size_t i;

	if (argc != 2)
		die("usage: test-db pragmas PATH");
	db = open_or_die(argv[1]);
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(sql, sizeof(sql), "PRAGMA %s", names[i]);
		stmt = db_stmt(db, sql);
		if (!stmt || sqlite3_step(stmt) != SQLITE_ROW)
			die("%s: %s", sql, db_errmsg(db));
		printf("%s %s\n", names[i],
		    (const char *)sqlite3_column_text(stmt, 0));
	}
	db_close(db);
	return 0;
}

/*
 * change-mark PATH SQL...: for each SQL, "A:" runs it on one connection,
 * "B:" on a second, and a line says whether the first connection's
 * db_change_mark() moved.
 */
static int
cmd_change_mark(int argc, char **argv)
{
	struct db *a, *b;
	long long before, after;
	int i;

	if (argc < 3)
		die("usage: test-db change-mark PATH (A:|B:)SQL...");
	a = open_or_die(argv[1]);
	b = open_or_die(argv[1]);
	for (i = 2; i < argc; i++) {
		before = db_change_mark(a);
		if (strncmp(argv[i], "A:", 2) && strncmp(argv[i], "B:", 2))
			die("'%s': no A: or B:", argv[i]);
		if (db_exec(argv[i][0] == 'A' ? a : b, argv[i] + 2) < 0)
			die("'%s': %s", argv[i], db_errmsg(argv[i][0] == 'A' ?
			    a : b));
		after = db_change_mark(a);
		if (before < 0 || after < 0)
			die("cannot read the change mark: %s", db_errmsg(a));
		printf("%s %s\n", argv[i], before == after ? "same" : "moved");
	}
	db_close(b);
	db_close(a);
	return 0;
}

/* check PATH: db_check(). */
static int
cmd_check(int argc, char **argv)
{
	char *err = NULL;
	struct db *db;

	if (argc != 2)
		die("usage: test-db check PATH");
	db = open_or_die(argv[1]);
	if (db_check(db, &err) < 0)
		die("%s", err);
	printf("ok\n");
	db_close(db);
	return 0;
}

static int
cmd_now(int argc, char **argv)
{
	printf("%.6f\n", db_now());
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "open", cmd_open },
	{ "open-version", cmd_open_version },
	{ "latest", cmd_latest },
	{ "write", cmd_write },
	{ "commits", cmd_commits },
	{ "read", cmd_read },
	{ "stmt", cmd_stmt },
	{ "ids", cmd_ids },
	{ "random", cmd_random },
	{ "random-fork", cmd_random_fork },
	{ "parse", cmd_parse },
	{ "txn", cmd_txn },
	{ "batch", cmd_batch },
	{ "batch-ids", cmd_batch_ids },
	{ "second-open", cmd_second_open },
	{ "checkpoint", cmd_checkpoint },
	{ "pragmas", cmd_pragmas },
	{ "change-mark", cmd_change_mark },
	{ "check", cmd_check },
	{ "now", cmd_now },
};

int
main(int argc, char **argv)
{
	size_t i;
	int rc;

	log_init("test-db");
	if (argc > 2 && strcmp(argv[1], "-s") == 0) {
		wait_until(strtod(argv[2], NULL));
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		die("usage: test-db [-s EPOCH] COMMAND ARGS...");
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			rc = commands[i].fn(argc - 1, argv + 1);
			log_close_stdout();
			return rc;
		}
	}
	die("unknown command '%s'", argv[1]);
}
