#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "imap.h"
#include "metrics.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

/*
 * Connection set-up, transactions and the statement cache.  Migrations
 * are applied by migrate() below; ids and time are at the end.
 */

struct stmt_slot {
	char *sql;		/* the key; NULL for an empty slot */
	uint32_t hash;		/* hash of sql */
	sqlite3_stmt *stmt;	/* prepared from sql */
};

/*
 * Where the SQL text at an address was last found: callers pass the same
 * literal each time, so its address finds the statement without hashing
 * the text (which is still compared).
 */
#define STMT_HINTS 64
struct stmt_hint {
	const char *key;	/* the caller's pointer */
	const char *sql;	/* the cached copy of its text */
	sqlite3_stmt *stmt;
};

struct db {
	sqlite3 *handle;
	char *path;		/* as given to db_open() */
	char *err;		/* saved failure message, or NULL */
	int timeout_ms;		/* how long to wait for other writers */
	double busy_start;	/* when the current busy wait began */
	uint64_t rng;		/* xorshift state for sleep jitter */
	struct stmt_slot *slots; /* open-addressing hash table */
	size_t nslots;		/* a power of two, or 0 */
	size_t nused;		/* slots holding a statement */
	struct stmt_hint hints[STMT_HINTS];
	int batch;		/* between db_batch_start() and _end() */
	int batch_open;		/* the batch's transaction is open */
	int batch_lost;		/* SQLite rolled the whole batch back */
	int savepoints;		/* db_begin() savepoints open in it */
	uint64_t id_prefix;	/* the batch's ids' top bits, or 0 */
	int ckpt_pages;		/* autocheckpoint before db_checkpoint_later() */
	struct histogram lat_begin, lat_commit;	/* seconds, for metrics */
};

/* One migration: pointers into db_schema_sql. */
struct migration {
	int number;
	const char *title;
	size_t title_len;
	const char *sql;
	size_t sql_len;
};

#define MIGRATION_MARK "-- migration "

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t
db_rand(struct db *db)
{
	uint64_t x = db->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	db->rng = x;
	return x;
}

/* Sleep between MIN_US and MAX_US microseconds, at random. */
static void
db_sleep(struct db *db, long min_us, long max_us)
{
	uint64_t span = (uint64_t)(max_us - min_us + 1);
	long us = min_us + (long)(db_rand(db) % span);
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * SQLite's busy handler: called while another connection holds the lock
 * we need, with COUNT the number of earlier calls for this wait.  Sleep a
 * little (growing from about 1 ms to 16 ms, with jitter so that waiting
 * processes do not wake in step) until the timeout has passed.
 */
static int
db_busy(void *arg, int count)
{
	struct db *db = arg;
	double now = mono_now();
	long max_us;

	if (count == 0)
		db->busy_start = now;
	if ((now - db->busy_start) * 1000 >= db->timeout_ms)
		return 0;
	max_us = 1000L << (count < 4 ? count : 4);
	db_sleep(db, max_us / 2, max_us);
	return 1;
}

static int
is_busy(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

static void
db_clear_err(struct db *db)
{
	free(db->err);
	db->err = NULL;
}

static void
db_save_err(struct db *db)
{
	char *msg = xstrdup(sqlite3_errmsg(db->handle));

	free(db->err);
	db->err = msg;
}

const char *
db_errmsg(struct db *db)
{
	return db->err ? db->err : sqlite3_errmsg(db->handle);
}

sqlite3 *
db_handle(struct db *db)
{
	return db->handle;
}

const char *
db_path(struct db *db)
{
	return db->path;
}

/*
 * Run SQL, one statement that returns no rows, from the statement cache:
 * the transaction statements run for every request, and parsing them each
 * time was 2-3 % of the pool's work.  Returns SQLITE_OK or the error.
 */
static int
step_cached(struct db *db, const char *sql)
{
	sqlite3_stmt *st = db_stmt(db, sql);
	int rc;

	if (!st)
		return sqlite3_errcode(db->handle) != SQLITE_OK ?
		    sqlite3_errcode(db->handle) : SQLITE_ERROR;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * Run fixed SQL, trying again while SQLite answers busy without waiting
 * (it does so for BEGIN IMMEDIATE and the WAL switch in some races, e.g.
 * while another process is creating or recovering the file), until the
 * timeout.
 */
static int
db_exec_retry(struct db *db, const char *sql)
{
	double deadline = mono_now() + db->timeout_ms / 1000.0;
	int rc;

	for (;;) {
		rc = step_cached(db, sql);
		if (rc == SQLITE_OK)
			return 0;
		if (!is_busy(rc) || mono_now() >= deadline)
			return -1;
		db_sleep(db, 1000, 10000);
	}
}

int
db_step_ids(sqlite3_stmt *st, int64_t **ids, size_t *n)
{
	size_t alloc = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ALLOC_GROW(*ids, *n + 1, alloc);
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	free(*ids);
	*ids = NULL;
	*n = 0;
	return -1;
}

void
db_bulk_read(struct db *db)
{
	db_exec(db, "PRAGMA mmap_size = 1073741824");
}

int
db_exec(struct db *db, const char *sql)
{
	db_clear_err(db);
	return sqlite3_exec(db->handle, sql, NULL, NULL, NULL) == SQLITE_OK ?
	    0 : -1;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* BEGIN IMMEDIATE or COMMIT (SQL), timed for db_latency(). */
static int
timed_exec(struct db *db, const char *sql, struct histogram *h)
{
	double t = mono_s();
	int r = db_exec_retry(db, sql);

	histogram_observe(h, mono_s() - t);
	return r;
}

const struct histogram *
db_latency(const struct db *db, int commit)
{
	return commit ? &db->lat_commit : &db->lat_begin;
}

/*
 * Inside a batch, an error can make SQLite roll back the whole
 * transaction (SQLITE_FULL, SQLITE_IOERR, ...): then every request of the
 * batch is lost, not only the current one.
 */
static int
batch_check(struct db *db)
{
	if (db->batch_open && sqlite3_get_autocommit(db->handle)) {
		db->batch_open = 0;
		db->batch_lost = 1;
		db->savepoints = 0;
	}
	return db->batch_lost ? -1 : 0;
}

int
db_begin(struct db *db)
{
	db_clear_err(db);
	if (!db->batch)
		return timed_exec(db, "BEGIN IMMEDIATE", &db->lat_begin);
	if (batch_check(db) < 0) {
		db->err = xstrdup("the batch was rolled back");
		return -1;
	}
	if (!db->batch_open) {
		if (timed_exec(db, "BEGIN IMMEDIATE", &db->lat_begin) < 0)
			return -1;
		db->batch_open = 1;
	}
	if (step_cached(db, "SAVEPOINT request") != SQLITE_OK) {
		batch_check(db);
		return -1;
	}
	db->savepoints++;
	return 0;
}

int
db_commit(struct db *db)
{
	db_clear_err(db);
	if (db->batch) {
		if (db->savepoints &&
		    step_cached(db, "RELEASE request") == SQLITE_OK) {
			db->savepoints--;
			return 0;
		}
		db_rollback(db);
		return -1;
	}
	if (timed_exec(db, "COMMIT", &db->lat_commit) == 0)
		return 0;
	db_rollback(db);
	return -1;
}

int
db_rollback(struct db *db)
{
	int rc = sqlite3_errcode(db->handle);

	if (!db->err && rc != SQLITE_OK && rc != SQLITE_ROW &&
	    rc != SQLITE_DONE)
		db_save_err(db);
	if (db->batch) {
		if (batch_check(db) < 0 || !db->savepoints)
			return db->batch_lost ? -1 : 0;
		db->savepoints--;
		rc = sqlite3_exec(db->handle, "ROLLBACK TO request; "
		    "RELEASE request", NULL, NULL, NULL);
		return rc == SQLITE_OK && batch_check(db) == 0 ? 0 : -1;
	}
	if (sqlite3_get_autocommit(db->handle))
		return 0;
	return sqlite3_exec(db->handle, "ROLLBACK", NULL, NULL, NULL) ==
	    SQLITE_OK ? 0 : -1;
}

void
db_batch_start(struct db *db)
{
	db->batch = 1;
	db->batch_open = 0;
	db->batch_lost = 0;
	db->savepoints = 0;
	db->id_prefix = 0;
}

int
db_batch_end(struct db *db)
{
	int rc = 0, lost;

	db_clear_err(db);
	lost = batch_check(db) < 0;
	db->batch = 0;
	if (db->batch_open) {
		db->batch_open = 0;
		if (db->savepoints) {
			/* A caller left a savepoint open: keep nothing. */
			db->err = xstrdup("a request of the batch did not "
			    "finish its transaction");
			sqlite3_exec(db->handle, "ROLLBACK", NULL, NULL, NULL);
			lost = 1;
		} else if (timed_exec(db, "COMMIT", &db->lat_commit) == 0) {
			rc = 1;
		} else {
			db_rollback(db);
			lost = 1;
		}
	}
	db->savepoints = 0;
	db->batch_lost = 0;
	if (lost && !db->err)
		db->err = xstrdup("the batch was rolled back");
	return lost ? -1 : rc;
}

/*
 * Read one integer from fixed SQL (a PRAGMA), retrying while busy.
 * Returns 0 with *val set, or -1.
 */
static int
db_get_int(struct db *db, const char *sql, int *val)
{
	double deadline = mono_now() + db->timeout_ms / 1000.0;
	sqlite3_stmt *stmt;
	int rc;

	for (;;) {
		rc = sqlite3_prepare_v2(db->handle, sql, -1, &stmt, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(stmt);
			if (rc == SQLITE_ROW)
				*val = sqlite3_column_int(stmt, 0);
			sqlite3_finalize(stmt);
			if (rc == SQLITE_ROW)
				return 0;
		}
		if (!is_busy(rc) || mono_now() >= deadline)
			return -1;
		db_sleep(db, 1000, 10000);
	}
}

long long
db_change_mark(struct db *db)
{
	int others;

	if (db_get_int(db, "PRAGMA data_version", &others) < 0)
		return -1;
	/* Both only grow: their sum moves whenever either does. */
	return (long long)others + sqlite3_total_changes64(db->handle);
}

int
db_schema_version(struct db *db)
{
	int v;

	return db_get_int(db, "PRAGMA user_version", &v) < 0 ? -1 : v;
}

/*
 * Switch to WAL, retrying while another process holds the lock.  A
 * database already in WAL mode answers at once.
 */
static int
db_set_wal(struct db *db, char **errp)
{
	double deadline = mono_now() + db->timeout_ms / 1000.0;
	sqlite3_stmt *stmt;
	char mode[16] = "";
	int rc;

	for (;;) {
		rc = sqlite3_prepare_v2(db->handle, "PRAGMA journal_mode=WAL",
		    -1, &stmt, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(stmt);
			if (rc == SQLITE_ROW)
				snprintf(mode, sizeof(mode), "%s",
				    (const char *)sqlite3_column_text(stmt, 0));
			sqlite3_finalize(stmt);
		}
		if (rc == SQLITE_ROW || !is_busy(rc) || mono_now() >= deadline)
			break;
		db_sleep(db, 1000, 10000);
	}
	if (rc != SQLITE_ROW) {
		*errp = xasprintf("cannot switch database '%s' to WAL mode: %s",
		    db->path, sqlite3_errmsg(db->handle));
		return -1;
	}
	if (strcmp(mode, "wal") != 0) {
		*errp = xasprintf("cannot switch database '%s' to WAL mode: "
		    "journal mode is %s", db->path, mode);
		return -1;
	}
	return 0;
}

/* Settings of this connection only; none of them touches the file. */
static int
db_configure(struct db *db, char **errp)
{
	sqlite3_extended_result_codes(db->handle, 1);
	sqlite3_busy_handler(db->handle, db_busy, db);
	/* Double-quoted strings are identifiers, never literals. */
	sqlite3_db_config(db->handle, SQLITE_DBCONFIG_DQS_DML, 0, NULL);
	sqlite3_db_config(db->handle, SQLITE_DBCONFIG_DQS_DDL, 0, NULL);
	if (db_exec(db, "PRAGMA foreign_keys=ON") < 0 ||
	    db_exec(db, "PRAGMA synchronous=NORMAL") < 0) {
		*errp = xasprintf("cannot open database '%s': %s", db->path,
		    sqlite3_errmsg(db->handle));
		return -1;
	}
	return 0;
}

/*
 * Create PATH with mode 0600 if it does not exist, so that SQLite (which
 * would use 0644) opens a private file, and report a missing folder or a
 * permission problem with errno's words rather than SQLite's "unable to
 * open database file".  A file that exists is only checked, never opened:
 * closing a descriptor of it would drop every POSIX lock this process
 * holds on it, those of its SQLite connections already open included,
 * and another process could then take the log for unused and remove it.
 */
static int
create_file(const char *path, char **errp)
{
	struct stat st;
	int fd;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			errno = EISDIR;
		else if (access(path, R_OK | W_OK) == 0)
			return 0;
	} else if (errno == ENOENT &&
	    (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0) {
		close(fd);
		return 0;
	}
	*errp = xasprintf("cannot open database '%s': %s", path,
	    strerror(errno));
	return -1;
}

static void random_bytes(void *p, size_t len);

static struct db *
db_new(const char *path)
{
	struct db *db = xcalloc(1, sizeof(*db));
	uint64_t seed;

	db->path = xstrdup(path);
	db->timeout_ms = DB_BUSY_TIMEOUT_MS;
	random_bytes(&seed, sizeof(seed));
	db->rng = seed ? seed : 1;
	return db;
}

static int migrate(struct db *db, int target, char **errp);

static void
sqlite_setup(void)
{
	if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK ||
	    sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL,
	    DB_STMT_JOURNAL_MEM) != SQLITE_OK)
		log_debug("SQLite was set up before db_sqlite_init(): its "
		    "options are left as they are");
	db_vfs_register();
}

void
db_sqlite_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, sqlite_setup);
}

struct db *
db_open_version(const char *path, int version, char **errp)
{
	struct db *db;
	int rc;

	if (create_file(path, errp) < 0)
		return NULL;
	db_sqlite_init();
	db = db_new(path);
	/* A connection is only ever used by one thread: no mutex needed. */
	rc = sqlite3_open_v2(path, &db->handle, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		*errp = xasprintf("cannot open database '%s': %s", path,
		    db->handle ? sqlite3_errmsg(db->handle) :
		    sqlite3_errstr(rc));
		db_close(db);
		return NULL;
	}
	if (db_configure(db, errp) < 0 || migrate(db, version, errp) < 0) {
		db_close(db);
		return NULL;
	}
	db_clear_err(db);
	return db;
}

struct db *
db_open(const char *path, char **errp)
{
	int latest = db_schema_latest();

	if (latest < 1) {
		*errp = xasprintf("cannot open database '%s': "
		    "the compiled-in schema has no valid migrations", path);
		return NULL;
	}
	return db_open_version(path, latest, errp);
}

static void stmt_cache_free(struct db *db);

/*
 * SQLite copies the write-ahead log into the database file (a checkpoint,
 * with an fsync of both) in the commit that takes the log past 1,000
 * pages.  A daemon whose commits should seldom wait raises that to
 * CHECKPOINT_PAGES (about 80 MB of log).  A thread checkpointing on its own
 * connection was measured and made the pool's commits slower: its
 * fsyncs, several a second, compete with the commits' log writes.
 */
#define CHECKPOINT_PAGES 20000

static int
checkpoint_pages(struct db *db, int pages)
{
	db_clear_err(db);
	return sqlite3_wal_autocheckpoint(db->handle, pages) == SQLITE_OK ?
	    0 : -1;
}

int
db_checkpoint_seldom(struct db *db)
{
	return checkpoint_pages(db, CHECKPOINT_PAGES);
}

int
db_checkpoint_later(struct db *db)
{
	if (!db->ckpt_pages && db_get_int(db, "PRAGMA wal_autocheckpoint",
	    &db->ckpt_pages) < 0)
		return -1;
	return checkpoint_pages(db, 0);
}

int
db_checkpoint_now(struct db *db)
{
	int rc;

	db_clear_err(db);
	rc = sqlite3_wal_checkpoint_v2(db->handle, NULL,
	    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	/* Busy: another connection is checkpointing. */
	if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
		return -1;
	if (!db->ckpt_pages)
		return 0;
	rc = checkpoint_pages(db, db->ckpt_pages);
	db->ckpt_pages = 0;
	return rc;
}

void
db_close(struct db *db)
{
	if (!db)
		return;
	stmt_cache_free(db);
	/* _v2: a statement the caller forgot keeps the handle alive. */
	sqlite3_close_v2(db->handle);
	free(db->err);
	free(db->path);
	free(db);
}

/*
 * The statement cache: an open-addressing hash table keyed by the SQL
 * text, at most half full.
 */

static struct stmt_slot *
slot_find(struct stmt_slot *slots, size_t nslots, const char *sql,
    uint32_t hash)
{
	size_t i = hash & (nslots - 1);

	while (slots[i].sql &&
	    (slots[i].hash != hash || strcmp(slots[i].sql, sql) != 0))
		i = (i + 1) & (nslots - 1);
	return &slots[i];
}

static void
stmt_cache_grow(struct db *db)
{
	size_t n = db->nslots ? db->nslots * 2 : 32, i;
	struct stmt_slot *slots = xcalloc(n, sizeof(*slots));

	for (i = 0; i < db->nslots; i++)
		if (db->slots[i].sql)
			*slot_find(slots, n, db->slots[i].sql,
			    db->slots[i].hash) = db->slots[i];
	free(db->slots);
	db->slots = slots;
	db->nslots = n;
}

static void
stmt_cache_free(struct db *db)
{
	size_t i;

	for (i = 0; i < db->nslots; i++) {
		if (!db->slots[i].sql)
			continue;
		sqlite3_finalize(db->slots[i].stmt);
		free(db->slots[i].sql);
	}
	free(db->slots);
	db->slots = NULL;
	db->nslots = db->nused = 0;
}

/* Whether TAIL (after the first statement) holds only blanks or ';'. */
static int
is_blank_tail(const char *tail)
{
	for (; *tail; tail++)
		if (*tail != ';' && *tail != ' ' && *tail != '\t' &&
		    *tail != '\n' && *tail != '\r')
			return 0;
	return 1;
}

sqlite3_stmt *
db_stmt(struct db *db, const char *sql)
{
	struct stmt_hint *hint = &db->hints[((uintptr_t)sql >> 3) &
	    (STMT_HINTS - 1)];
	struct stmt_slot *slot;
	sqlite3_stmt *stmt;
	const char *tail;
	uint32_t hash;

	db_clear_err(db);
	if (hint->key == sql && strcmp(hint->sql, sql) == 0) {
		stmt = hint->stmt;
		goto found;
	}
	hash = str_hash(sql);
	if (db->nslots) {
		slot = slot_find(db->slots, db->nslots, sql, hash);
		if (slot->sql) {
			stmt = slot->stmt;
			goto hint;
		}
	}
	if (sqlite3_prepare_v2(db->handle, sql, -1, &stmt, &tail) != SQLITE_OK)
		return NULL;
	if (!stmt || !is_blank_tail(tail))
		BUG("db_stmt needs exactly one SQL statement: %s", sql);
	if ((db->nused + 1) * 2 > db->nslots)
		stmt_cache_grow(db);
	slot = slot_find(db->slots, db->nslots, sql, hash);
	slot->sql = xstrdup(sql);
	slot->hash = hash;
	slot->stmt = stmt;
	db->nused++;
hint:
	hint->key = sql;
	hint->sql = slot->sql;
	hint->stmt = stmt;
found:
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return stmt;
}

static int64_t batch_new_id(struct db *db);

int
db_insert_id(struct db *db, sqlite3_stmt *stmt, int param, int64_t *idp)
{
	int64_t id;
	int rc, tries;

	db_clear_err(db);
	for (tries = 0; tries < 16; tries++) {
		id = db->batch ? batch_new_id(db) : db_new_id();
		sqlite3_reset(stmt);
		if (sqlite3_bind_int64(stmt, param, id) != SQLITE_OK)
			break;
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
			if (idp)
				*idp = id;
			return 0;
		}
		if (sqlite3_extended_errcode(db->handle) !=
		    SQLITE_CONSTRAINT_PRIMARYKEY)
			break;
	}
	db_save_err(db);
	sqlite3_reset(stmt);
	return -1;
}

/*
 * Integrity: PRAGMA integrity_check answers one row "ok" or rows of
 * problems; PRAGMA foreign_key_check answers a row per broken reference.
 */
static int
check_integrity(struct db *db, char **errp)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(db->handle, "PRAGMA integrity_check", -1,
	    &stmt, NULL) != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(stmt,
	    0), "ok") != 0) {
		*errp = xasprintf("database '%s' is damaged: %s", db->path,
		    (const char *)sqlite3_column_text(stmt, 0));
		sqlite3_finalize(stmt);
		return -1;
	}
	sqlite3_finalize(stmt);
	if (rc == SQLITE_ROW)
		return 0;
fail:
	*errp = xasprintf("cannot check database '%s': %s", db->path,
	    sqlite3_errmsg(db->handle));
	return -1;
}

static int
check_foreign_keys(struct db *db, char **errp)
{
	sqlite3_stmt *stmt;
	int rc;

	if (sqlite3_prepare_v2(db->handle, "PRAGMA foreign_key_check", -1,
	    &stmt, NULL) != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*errp = xasprintf("database '%s' is inconsistent: row %lld of "
		    "table %s refers to a missing row of table %s", db->path,
		    (long long)sqlite3_column_int64(stmt, 1),
		    (const char *)sqlite3_column_text(stmt, 0),
		    (const char *)sqlite3_column_text(stmt, 2));
		sqlite3_finalize(stmt);
		return -1;
	}
	sqlite3_finalize(stmt);
	if (rc == SQLITE_DONE)
		return 0;
fail:
	*errp = xasprintf("cannot check database '%s': %s", db->path,
	    sqlite3_errmsg(db->handle));
	return -1;
}

int
db_check(struct db *db, char **errp)
{
	db_clear_err(db);
	if (check_integrity(db, errp) < 0 || check_foreign_keys(db, errp) < 0)
		return -1;
	return 0;
}

/*
 * Migrations.
 *
 * schema_parse() splits db_schema_sql at its "-- migration N: title"
 * lines.  Text before the first one is a comment about the file.
 */

static const char *
line_end(const char *p)
{
	const char *nl = strchr(p, '\n');

	return nl ? nl : p + strlen(p);
}

/* Parse the marker line at P into M; returns 0, or -1 if malformed. */
static int
parse_mark(const char *p, struct migration *m)
{
	const char *end = line_end(p);
	char *q;
	long n;

	p += strlen(MIGRATION_MARK);
	if (*p < '1' || *p > '9')
		return -1;
	errno = 0;
	n = strtol(p, &q, 10);
	if (errno || n > 100000 || q[0] != ':' || q[1] != ' ' || q + 2 >= end)
		return -1;
	m->number = (int)n;
	m->title = q + 2;
	m->title_len = (size_t)(end - m->title);
	m->sql = *end ? end + 1 : end;
	return 0;
}

/*
 * Fill *MS with the migrations of db_schema_sql (caller frees).  Returns
 * their count, or -1 when they are not numbered 1, 2, 3... or empty.
 */
static int
schema_parse(struct migration **ms)
{
	const char *p = db_schema_sql;
	struct migration *v = NULL;
	size_t n = 0, alloc = 0;

	for (; *p; p = *line_end(p) ? line_end(p) + 1 : line_end(p)) {
		if (strncmp(p, MIGRATION_MARK, strlen(MIGRATION_MARK)) != 0)
			continue;
		ALLOC_GROW(v, n + 1, alloc);
		if (parse_mark(p, &v[n]) < 0 || v[n].number != (int)n + 1)
			goto bad;
		if (n)
			v[n - 1].sql_len = (size_t)(p - v[n - 1].sql);
		n++;
	}
	if (!n)
		goto bad;
	v[n - 1].sql_len = strlen(v[n - 1].sql);
	*ms = v;
	return (int)n;
bad:
	free(v);
	*ms = NULL;
	return -1;
}

int
db_schema_latest(void)
{
	struct migration *ms;
	int n = schema_parse(&ms);

	free(ms);
	return n;
}

static int
apply_one(struct db *db, const struct migration *m, char **errp)
{
	char *sql = xstrndup(m->sql, m->sql_len);
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = sqlite3_exec(db->handle, sql, NULL, NULL, NULL);
	free(sql);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db->handle, "INSERT INTO migrations "
		    "(name, status) VALUES (?1, 'completed')", -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 1, m->title, (int)m->title_len,
		    SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		*errp = xasprintf("cannot upgrade database '%s' to schema "
		    "version %d (%.*s): %s", db->path, m->number,
		    (int)m->title_len, m->title, sqlite3_errmsg(db->handle));
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
newer_error(struct db *db, int have, int known, char **errp)
{
	*errp = xasprintf("database '%s' has schema version %d, newer than "
	    "version %d that this program knows; use a newer mephisto",
	    db->path, have, known);
	return -1;
}

static int
read_version(struct db *db, int *version, char **errp)
{
	if (db_get_int(db, "PRAGMA user_version", version) == 0)
		return 0;
	*errp = xasprintf("cannot open database '%s': %s", db->path,
	    sqlite3_errmsg(db->handle));
	return -1;
}

/*
 * Inside the write transaction: read the version again (another process
 * may have migrated meanwhile), apply what is missing, check foreign keys
 * and set user_version.
 */
static int
migrate_locked(struct db *db, const struct migration *ms, int target,
    int latest, char **errp)
{
	char sql[64];
	int version, i;

	if (read_version(db, &version, errp) < 0)
		return -1;
	if (version > latest)
		return newer_error(db, version, latest, errp);
	for (i = version; i < target; i++)
		if (apply_one(db, &ms[i], errp) < 0)
			return -1;
	if (version >= target)
		return 0;
	if (check_foreign_keys(db, errp) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", target);
	if (sqlite3_exec(db->handle, sql, NULL, NULL, NULL) != SQLITE_OK) {
		*errp = xasprintf("cannot upgrade database '%s': %s", db->path,
		    sqlite3_errmsg(db->handle));
		return -1;
	}
	return 0;
}

/*
 * Foreign keys are off while migrating (SQLite ignores the pragma inside a
 * transaction) so that a migration may rebuild a table; the check before
 * the commit catches any reference it broke.
 */
static int
migrate_txn(struct db *db, const struct migration *ms, int target,
    int latest, char **errp)
{
	int ret = -1;

	if (db_exec(db, "PRAGMA foreign_keys=OFF") < 0 || db_begin(db) < 0) {
		*errp = xasprintf("cannot upgrade database '%s': %s", db->path,
		    sqlite3_errmsg(db->handle));
		goto out;
	}
	if (migrate_locked(db, ms, target, latest, errp) < 0) {
		db_rollback(db);
		goto out;
	}
	if (db_commit(db) < 0) {
		*errp = xasprintf("cannot upgrade database '%s': %s", db->path,
		    db_errmsg(db));
		goto out;
	}
	ret = 0;
out:
	if (db_exec(db, "PRAGMA foreign_keys=ON") < 0 && ret == 0) {
		*errp = xasprintf("cannot open database '%s': %s", db->path,
		    sqlite3_errmsg(db->handle));
		ret = -1;
	}
	return ret;
}

/*
 * Bring the database to version TARGET.  The version is checked before
 * anything is written (a newer database is left as it is), then the file
 * is switched to WAL, then the migrations run in one transaction.
 */
static int
migrate(struct db *db, int target, char **errp)
{
	struct migration *ms;
	int latest = schema_parse(&ms), version, ret = -1;

	if (latest < 1) {
		*errp = xasprintf("cannot open database '%s': the compiled-in "
		    "schema has no valid migrations", db->path);
		return -1;
	}
	if (target < 1 || target > latest) {
		*errp = xasprintf("cannot open database '%s': no schema "
		    "version %d (this program knows 1 to %d)", db->path,
		    target, latest);
		goto out;
	}
	if (read_version(db, &version, errp) < 0)
		goto out;
	if (version > latest) {
		newer_error(db, version, latest, errp);
		goto out;
	}
	if (db_set_wal(db, errp) < 0)
		goto out;
	if (version >= target)
		ret = 0;
	else
		ret = migrate_txn(db, ms, target, latest, errp);
out:
	free(ms);
	return ret;
}

/*
 * Ids and time.
 */

static int64_t test_ids[16];
static size_t test_ids_n, test_ids_next;

void
db_test_set_ids(const int64_t *ids, size_t n)
{
	if (n > ARRAY_SIZE(test_ids))
		BUG("db_test_set_ids: %zu ids, at most %zu", n,
		    ARRAY_SIZE(test_ids));
	if (n)
		memcpy(test_ids, ids, n * sizeof(*ids));
	test_ids_n = n;
	test_ids_next = 0;
}

/* LEN bytes from the kernel's random source. */
static void
getrandom_all(void *p, size_t len)
{
	unsigned char *b = p;
	size_t got = 0;
	ssize_t n;
	int fd;

	while (got < len) {
		n = getrandom(b + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == len)
		return;
	/* A kernel without getrandom(): read the device. */
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, b + got, len - got) != (ssize_t)(len - got))
		die_errno("cannot read random bytes");
	close(fd);
}

/*
 * Small draws (an id at a time) come from a buffer filled by one system
 * call for 64 of them.  A child process after fork() starts with an
 * empty buffer, so that it never draws the bytes its parent draws.
 */
#define RANDOM_BUF 512

static _Thread_local unsigned char random_buf[RANDOM_BUF];
static _Thread_local size_t random_left;
static pthread_once_t random_once = PTHREAD_ONCE_INIT;

static void
random_forget(void)
{
	random_left = 0;
}

static void
random_setup(void)
{
	pthread_atfork(NULL, NULL, random_forget);
}

static void
random_bytes(void *p, size_t len)
{
	if (len > RANDOM_BUF / 8) {
		getrandom_all(p, len);
		return;
	}
	if (random_left < len) {
		pthread_once(&random_once, random_setup);
		getrandom_all(random_buf, RANDOM_BUF);
		random_left = RANDOM_BUF;
	}
	random_left -= len;
	memcpy(p, random_buf + random_left, len);
	/* Used bytes are not kept. */
	memset(random_buf + random_left, 0, len);
}

int64_t
db_new_id(void)
{
	uint64_t r;
	int64_t id;

	if (test_ids_next < test_ids_n)
		return test_ids[test_ids_next++];
	/* Drop values below the minimum: uniform over the rest. */
	do {
		random_bytes(&r, sizeof(r));
		id = (int64_t)(r >> 1);
	} while (id < DB_ID_MIN);
	return id;
}

/*
 * Ids drawn together (those one batch inserts, or db_new_ids()) share
 * their top ID_PREFIX_BITS, drawn at random for the lot, and differ in
 * the other 40, drawn for each.  Each is still a random integer of the id
 * range, and one id of a lot tells 40 random bits short of another; but
 * they are neighbours in every B-tree keyed by them: the commit of a round
 * of registrations writes about one leaf page of each such table and index
 * instead of one per registration, and a new run's units go into a range
 * of their own instead of between every unit already there.
 */
#define ID_LOW_BITS 40
#define ID_PREFIX_BITS (63 - ID_LOW_BITS)
#define ID_LOW_MASK ((UINT64_C(1) << ID_LOW_BITS) - 1)

/* A prefix above 0 keeps every id above DB_ID_MIN. */
static uint64_t
id_prefix_new(void)
{
	uint64_t r;

	do {
		random_bytes(&r, sizeof(r));
		r >>= 64 - ID_PREFIX_BITS;
	} while (!r);
	return r;
}

static int64_t
id_join(uint64_t prefix, uint64_t r)
{
	return (int64_t)(prefix << ID_LOW_BITS | (r & ID_LOW_MASK));
}

static int64_t
batch_new_id(struct db *db)
{
	uint64_t r;

	if (test_ids_next < test_ids_n)
		return test_ids[test_ids_next++];
	if (!db->id_prefix)
		db->id_prefix = id_prefix_new();
	random_bytes(&r, sizeof(r));
	return id_join(db->id_prefix, r);
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

void
db_new_ids(int64_t *ids, size_t n)
{
	uint64_t prefix = id_prefix_new(), r;
	size_t i;
	int again;

	random_bytes(ids, n * sizeof(*ids));
	for (i = 0; i < n; i++)
		ids[i] = id_join(prefix, (uint64_t)ids[i]);
	do {
		again = 0;
		qsort(ids, n, sizeof(*ids), cmp_id);
		for (i = 1; i < n; i++)
			if (ids[i] == ids[i - 1]) {
				random_bytes(&r, sizeof(r));
				ids[i] = id_join(prefix, r);
				again = 1;
			}
	} while (again);
}

char *
db_id_format(int64_t id, char buf[DB_ID_BUFSZ])
{
	snprintf(buf, DB_ID_BUFSZ, "%" PRId64, id);
	return buf;
}

int
db_id_parse(const char *s, int64_t *idp)
{
	uint64_t v = 0;
	const char *p;

	if (!*s || *s == '0') {
		errno = *s == '0' && !s[1] ? ERANGE : EINVAL;
		return -1;
	}
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9') {
			errno = EINVAL;
			return -1;
		}
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10) {
			errno = ERANGE;
			return -1;
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*idp = (int64_t)v;
	return 0;
}

double
db_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
