#ifndef MEPHISTO_DB_H
#define MEPHISTO_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/*
 * The one SQLite database that every program shares (DESIGN.md section 4).
 *
 * db_open() applies the policy: journal_mode=WAL, synchronous=NORMAL,
 * foreign_keys=ON, a busy handler that waits up to DB_BUSY_TIMEOUT_MS, and
 * the schema migrations.  Every transaction that writes starts with
 * db_begin() (BEGIN IMMEDIATE), so two processes never deadlock on a read
 * lock upgrade; BEGIN IMMEDIATE, COMMIT and the switch to WAL are retried
 * with short random sleeps when SQLite answers SQLITE_BUSY or
 * SQLITE_LOCKED without waiting, so "database is locked" reaches a caller
 * only after the timeout.
 *
 * The schema (db_schema_sql, compiled from share/mephisto/schema.sql) is a
 * list of migrations, each starting with a line "-- migration N: title",
 * numbered from 1 without gaps.  PRAGMA user_version holds the number of
 * the last one applied.  On open, the migrations above it are applied in
 * one BEGIN IMMEDIATE transaction (the version is read again inside it, so
 * processes opening a new file at the same moment apply them once), each
 * is recorded in the migrations table (name = title, status 'completed'),
 * and user_version is set.  A database whose user_version is higher than
 * this program knows is refused and left untouched.
 *
 * Ids are random integers in [DB_ID_MIN, INT64_MAX], INTEGER in SQL and
 * decimal strings everywhere else (db_id_format(), db_id_parse()); those
 * of one batch (db_batch_start()) are drawn near each other.
 *
 * Ownership and threads: a struct db is one connection; use it from one
 * thread at a time, and never in a child after fork() (open a new one).  Statements returned by db_stmt() belong to the
 * connection and are finalized by db_close().  The library never prints;
 * functions return -1 or NULL, and either fill a malloc'd *errp (a one-line
 * message naming the file, which the caller frees) or leave the reason in
 * db_errmsg().
 */

/* The schema, compiled in from share/mephisto/schema.sql. */
extern const char db_schema_sql[];

#define DB_BUSY_TIMEOUT_MS 30000
#define DB_ID_MIN INT64_C(1000000)
/* Room for the decimal form of any int64_t and its NUL. */
#define DB_ID_BUFSZ 24

struct db;

/*
 * Open (creating it, mode 0600, if missing) the database file PATH and
 * bring its schema to the latest version.  The folder must exist.
 * Returns the connection, or NULL with *errp set, e.g.
 * "cannot open database '/x/database.db': No such file or directory".
 */
struct db *db_open(const char *path, char **errp);

/*
 * For tests: like db_open(), but apply migrations only up to VERSION
 * (1..db_schema_latest()).
 */
struct db *db_open_version(const char *path, int version, char **errp);

/*
 * Set SQLite up for this process, once.  db_open() calls it first, so
 * every connection the process opens after that, by any means, has it:
 *  - no memory statistics: Debian's SQLite is built without lookaside
 *    memory, so every small allocation is a malloc(), and the statistics
 *    take a global mutex around each;
 *  - a statement journal (the pages a savepoint or a statement may have
 *    to undo) kept in memory in one block of DB_STMT_JOURNAL_MEM bytes,
 *    and in a temporary file past that, instead of 64 KiB;
 *  - the file system interface of dbvfs.c (db_vfs_register()).
 * Once SQLite is initialized, its options can no longer change: they are
 * left as they are (they are about speed, not results).
 */
void db_sqlite_init(void);
/*
 * 64 pages of 4 KiB, each with its page number: a registration's undo is
 * about 22.  4 MB measured no faster, and under AddressSanitizer every
 * block over 128 KiB is a mapping of its own, made and poisoned each time.
 */
#define DB_STMT_JOURNAL_MEM (64 * (4096 + 4))

/*
 * Make SQLite's default file system interface the one of dbvfs.c: the
 * unix one, with each commit's write-ahead log frames written in one
 * pwrite().  Called once, by db_sqlite_init().
 */
void db_vfs_register(void);

/* Finalize every cached statement and close.  NULL is allowed. */
void db_close(struct db *db);

/* The SQLite connection, for sqlite3_* calls on db_stmt() statements. */
sqlite3 *db_handle(struct db *db);

/* The file name given to db_open(). */
const char *db_path(struct db *db);

/*
 * Why the last failed call on DB failed: the message saved by
 * db_commit() or db_rollback(), else sqlite3_errmsg().  Valid until the
 * next call on DB.
 */
const char *db_errmsg(struct db *db);

/* The number of the last migration in db_schema_sql, or -1 if malformed. */
int db_schema_latest(void);

/* PRAGMA user_version of the open database, or -1 on error. */
int db_schema_version(struct db *db);

/*
 * Start a write transaction (BEGIN IMMEDIATE), waiting up to the busy
 * timeout for other writers.  Returns 0, or -1 (see db_errmsg()).
 */
int db_begin(struct db *db);

/*
 * Commit the transaction, retrying while the database is busy.  On
 * failure the transaction is rolled back and -1 returned; db_errmsg()
 * then says why the commit failed.
 */
int db_commit(struct db *db);

/*
 * How long db_begin() (COMMIT 0: waiting for the write lock) or
 * db_commit() (COMMIT 1: the durable write) took on DB, for metrics.
 */
struct histogram;
const struct histogram *db_latency(const struct db *db, int commit);

/*
 * Roll back the transaction, if one is open.  The reason for the failure
 * that led here (the last SQLite error) stays available in db_errmsg().
 * Returns 0, or -1.
 */
int db_rollback(struct db *db);

/*
 * Group commit: one transaction for many requests, each of which keeps
 * its own db_begin() / db_commit() / db_rollback().
 *
 * After db_batch_start(), the first db_begin() opens the batch's
 * transaction (BEGIN IMMEDIATE) and every db_begin() opens a savepoint
 * inside it; db_commit() releases the savepoint, so the request's changes
 * join the batch, and db_rollback() rolls back to it, undoing that request
 * and no other.  Nothing is durable, and nothing may be acknowledged,
 * until db_batch_end() has committed the batch.
 *
 * If SQLite rolls back the whole transaction (an I/O error, a full disk),
 * every request of the batch is lost: db_begin(), db_commit() and
 * db_rollback() then fail, and so does db_batch_end().
 *
 * db_batch_end() returns 1 when it committed a transaction, 0 when the
 * batch wrote nothing, and -1 when the batch was rolled back (see
 * db_errmsg()); either way the connection is back to one transaction per
 * db_begin().  Batches do not nest.
 *
 * The ids db_insert_id() draws in a batch share their top 23 bits, drawn
 * at random for the batch; the other 40 are drawn for each id.  They are
 * random ids all the same, but neighbours in the tables and indexes keyed
 * by them, so the batch's commit writes few pages of each.
 */
void db_batch_start(struct db *db);
int db_batch_end(struct db *db);

/*
 * Run fixed SQL (one or more statements, no parameters, no rows wanted).
 * Never pass text built from user input: use db_stmt() and bind.
 * Returns 0, or -1 (see db_errmsg()).
 */
int db_exec(struct db *db, const char *sql);
/*
 * A number that differs from the one the last call gave whenever another
 * connection has committed a change since, or this one has changed rows
 * (PRAGMA data_version and sqlite3_total_changes64()).  -1 on an error.
 */
long long db_change_mark(struct db *db);
/*
 * Step ST to its end, its first column as ids into *IDS (allocated, *N of
 * them), and reset it.  Returns 0, or -1 (*IDS NULL) on an error.
 */
int db_step_ids(sqlite3_stmt *st, int64_t **ids, size_t *n);
/*
 * A large part of the database is about to be read (an export): read it
 * through a memory map rather than a system call per page.
 */
void db_bulk_read(struct db *db);
/*
 * Checkpoint (copy the write-ahead log into the database file) only in
 * the commit that takes the log past 20,000 pages instead of 1,000: for a
 * daemon whose commits should seldom wait for one.
 */
int db_checkpoint_seldom(struct db *db);
/*
 * A bulk write is about to be committed for someone who waits for it:
 * none of this connection's commits checkpoints until db_checkpoint_now(),
 * which checkpoints without waiting for other connections' readers or
 * writers (PASSIVE), and then gives back the threshold it had before.
 */
int db_checkpoint_later(struct db *db);
int db_checkpoint_now(struct db *db);

/*
 * The prepared statement for SQL (exactly one statement), from the
 * connection's cache: prepared on first use, afterwards returned reset and
 * with its bindings cleared.  Returns NULL if SQL does not compile (see
 * db_errmsg()).  The statement belongs to the connection: never finalize
 * it.  Do not hold two uses of the same SQL text at once (the second
 * db_stmt() resets the first).  Call sqlite3_reset() when done with a
 * SELECT that was not stepped to SQLITE_DONE, so that the connection
 * releases its read snapshot.
 */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);

/*
 * Step STMT, an INSERT whose parameter PARAM is the new row's primary key,
 * with a new random id bound to PARAM; when the id is taken
 * (SQLITE_CONSTRAINT_PRIMARYKEY), retry with another.  Other parameters
 * must be bound already.  Returns 0 with the id in *IDP (if not NULL) and
 * STMT stepped once (SQLITE_DONE, or SQLITE_ROW for INSERT ... RETURNING;
 * reset it when done), or -1 (see db_errmsg();
 * sqlite3_extended_errcode() tells a UNIQUE violation of another column
 * from other failures) with STMT reset.
 */
int db_insert_id(struct db *db, sqlite3_stmt *stmt, int param, int64_t *idp);

/*
 * Run PRAGMA integrity_check and PRAGMA foreign_key_check.  Returns 0 when
 * both find nothing, or -1 with *errp naming the first problem.
 */
int db_check(struct db *db, char **errp);

/*
 * A new random id, uniform in [DB_ID_MIN, INT64_MAX], from getrandom().
 * Never fails (like xmalloc, it dies if the system has no randomness).
 */
int64_t db_new_id(void);
/*
 * N distinct new ids in ascending order into IDS, drawn together as a
 * batch's are (see db_batch_start()): for rows inserted in bulk, which
 * then go into a range of each B-tree of their own.
 */
void db_new_ids(int64_t *ids, size_t n);

/*
 * For tests: make the next N calls of db_new_id() return IDS[0..N-1] (the
 * array is copied; at most 16).  N = 0 goes back to random ids.
 */
void db_test_set_ids(const int64_t *ids, size_t n);

/* Write ID in decimal into BUF and return BUF. */
char *db_id_format(int64_t id, char buf[DB_ID_BUFSZ]);

/*
 * Parse the id string S strictly: decimal digits only, no sign, blank or
 * leading zero, in [1, INT64_MAX] (rowid tables such as qualifications
 * have small ids).  Returns 0 with *IDP set, or -1 with errno EINVAL
 * (not a number) or ERANGE (too large or zero).
 */
int db_id_parse(const char *s, int64_t *idp);

/* The current time as float epoch seconds (microsecond precision). */
double db_now(void);

#endif
