/*
 * dbvfs.c: the SQLite VFS every connection uses, SQLite's own ("unix")
 * with the write-ahead log's frames gathered into one write.
 *
 * SQLite writes a frame to the log as two writes, its 24-byte header and
 * then its page: two system calls a page, most of the cost of a small
 * commit.  Here, writes to a log file that continue the one before are
 * gathered in memory (at most GATHER_MAX bytes) and written out with one
 * pwrite():
 *  - right after the page of a commit frame (a frame header whose second
 *    word, the database size after the commit, is not zero): the commit's
 *    frames are in the file before SQLite goes on to publish it, and an
 *    error writing them fails the commit as it would without gathering;
 *  - before anything else is done with the log file (read, size, sync,
 *    truncate, close, a write elsewhere in it);
 *  - when the database file's xShmBarrier() or xShmLock(UNLOCK) is called.
 *    SQLite calls the barrier between the two copies of the wal-index
 *    header it writes to publish a commit, so no reader, here or in
 *    another process, can see a frame that is not in the file.  A write
 *    that fails there cannot be reported: the process stops before the
 *    commit is published (abort()), so nothing half-written is seen.
 * Everything else goes straight to the unix VFS, except that a write of
 * 128 KiB or more, which it cannot do at once, is given to it in pieces.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "db.h"
#include "log.h"
#include "banned.h"

/* The most the unix VFS writes at once (it masks a length with 0x1ffff). */
#define WRITE_MAX 0x1ffff
#define WRITE_PIECE 0x10000	/* how a longer write is cut */
#define GATHER_MAX WRITE_MAX
#define FRAME_HEADER 24

struct vfile {
	sqlite3_file base;
	sqlite3_file *real;	/* the unix VFS's file, right after this */
	struct vfile *wal;	/* a database file: its open log file */
	struct vfile *db;	/* a log file: its database file */
	int is_wal;
	int commit;		/* the last write was a commit frame's header */
	char *buf;		/* GATHER_MAX bytes once written to */
	size_t len;		/* gathered writes, from offset start */
	sqlite3_int64 start;
};

static sqlite3_vfs vfs;
static sqlite3_vfs *unix_vfs;

static struct vfile *
vf(sqlite3_file *f)
{
	return (struct vfile *)f;
}

/*
 * The unix VFS's write, in pieces when N is 128 KiB or more: it cuts a
 * length to its low 17 bits, so such a write would fail (SQLITE_FULL).
 */
static int
write_real(struct vfile *f, const void *data, int n, sqlite3_int64 off)
{
	const char *p = data;
	int rc = SQLITE_OK, k;

	for (; n > 0 && rc == SQLITE_OK; p += k, off += k, n -= k) {
		k = n <= WRITE_MAX ? n : WRITE_PIECE;
		rc = f->real->pMethods->xWrite(f->real, p, k, off);
	}
	return rc;
}

static int
flush(struct vfile *f)
{
	int rc;

	if (!f->len)
		return SQLITE_OK;
	rc = write_real(f, f->buf, (int)f->len, f->start);
	f->len = 0;
	return rc;
}

/* A flush that cannot report its failure: stop rather than publish. */
static void
flush_or_stop(struct vfile *db)
{
	if (db->wal && flush(db->wal) != SQLITE_OK) {
		error("cannot write the database's write-ahead log: stopping "
		    "before the commit is published");
		abort();
	}
}

static int
gather(struct vfile *f, const void *data, int n, sqlite3_int64 off)
{
	if (f->len && off >= f->start &&
	    off + n <= f->start + (sqlite3_int64)f->len) {
		/* SQLite rewriting a frame of this transaction */
		memcpy(f->buf + (off - f->start), data, (size_t)n);
		return SQLITE_OK;
	}
	if (f->len && (off != f->start + (sqlite3_int64)f->len ||
	    f->len + (size_t)n > GATHER_MAX)) {
		int rc = flush(f);

		if (rc != SQLITE_OK)
			return rc;
	}
	/* Too big to gather, or no memory to gather it in: write it now. */
	if ((size_t)n > GATHER_MAX ||
	    (!f->buf && !(f->buf = malloc(GATHER_MAX))))
		return write_real(f, data, n, off);
	if (!f->len)
		f->start = off;
	memcpy(f->buf + f->len, data, (size_t)n);
	f->len += (size_t)n;
	return SQLITE_OK;
}

static int
x_write(sqlite3_file *file, const void *data, int n, sqlite3_int64 off)
{
	struct vfile *f = vf(file);
	const unsigned char *h = data;
	int commit, rc;

	if (!f->is_wal)
		return write_real(f, data, n, off);
	commit = f->commit;
	f->commit = n == FRAME_HEADER && (h[4] | h[5] | h[6] | h[7]);
	rc = gather(f, data, n, off);
	if (rc == SQLITE_OK && commit)
		rc = flush(f);
	return rc;
}

static int
x_close(sqlite3_file *file)
{
	struct vfile *f = vf(file);
	int rc = flush(f), rc2;

	if (f->is_wal && f->db && f->db->wal == f)
		f->db->wal = NULL;
	if (f->wal)
		f->wal->db = NULL;
	free(f->buf);
	f->buf = NULL;
	rc2 = f->real->pMethods ? f->real->pMethods->xClose(f->real) :
	    SQLITE_OK;
	return rc != SQLITE_OK ? rc : rc2;
}

/* The other methods: write out what is gathered, then pass through. */
#define FLUSH_FIRST(f) do {						\
		int rc_ = flush(f);					\
		if (rc_ != SQLITE_OK)					\
			return rc_;					\
	} while (0)

static int
x_read(sqlite3_file *file, void *data, int n, sqlite3_int64 off)
{
	struct vfile *f = vf(file);

	FLUSH_FIRST(f);
	return f->real->pMethods->xRead(f->real, data, n, off);
}

static int
x_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct vfile *f = vf(file);

	FLUSH_FIRST(f);
	return f->real->pMethods->xTruncate(f->real, size);
}

static int
x_sync(sqlite3_file *file, int flags)
{
	struct vfile *f = vf(file);

	FLUSH_FIRST(f);
	return f->real->pMethods->xSync(f->real, flags);
}

static int
x_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct vfile *f = vf(file);

	FLUSH_FIRST(f);
	return f->real->pMethods->xFileSize(f->real, size);
}

static int
x_lock(sqlite3_file *file, int lock)
{
	return vf(file)->real->pMethods->xLock(vf(file)->real, lock);
}

static int
x_unlock(sqlite3_file *file, int lock)
{
	return vf(file)->real->pMethods->xUnlock(vf(file)->real, lock);
}

static int
x_check_reserved(sqlite3_file *file, int *out)
{
	return vf(file)->real->pMethods->xCheckReservedLock(vf(file)->real,
	    out);
}

static int
x_file_control(sqlite3_file *file, int op, void *arg)
{
	struct vfile *f = vf(file);

	FLUSH_FIRST(f);
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int
x_sector_size(sqlite3_file *file)
{
	return vf(file)->real->pMethods->xSectorSize(vf(file)->real);
}

static int
x_device_characteristics(sqlite3_file *file)
{
	return vf(file)->real->pMethods->xDeviceCharacteristics(
	    vf(file)->real);
}

static int
x_shm_map(sqlite3_file *file, int region, int size, int extend,
    void volatile **out)
{
	return vf(file)->real->pMethods->xShmMap(vf(file)->real, region, size,
	    extend, out);
}

static int
x_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	struct vfile *f = vf(file);

	if (flags & SQLITE_SHM_UNLOCK)
		flush_or_stop(f);
	return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void
x_shm_barrier(sqlite3_file *file)
{
	struct vfile *f = vf(file);

	flush_or_stop(f);
	f->real->pMethods->xShmBarrier(f->real);
}

static int
x_shm_unmap(sqlite3_file *file, int delete_flag)
{
	struct vfile *f = vf(file);

	flush_or_stop(f);
	return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int
x_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **out)
{
	struct vfile *f = vf(file);

	FLUSH_FIRST(f);
	return f->real->pMethods->xFetch(f->real, off, n, out);
}

static int
x_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	return vf(file)->real->pMethods->xUnfetch(vf(file)->real, off, p);
}

static const sqlite3_io_methods methods = {
	.iVersion = 3,
	.xClose = x_close,
	.xRead = x_read,
	.xWrite = x_write,
	.xTruncate = x_truncate,
	.xSync = x_sync,
	.xFileSize = x_file_size,
	.xLock = x_lock,
	.xUnlock = x_unlock,
	.xCheckReservedLock = x_check_reserved,
	.xFileControl = x_file_control,
	.xSectorSize = x_sector_size,
	.xDeviceCharacteristics = x_device_characteristics,
	.xShmMap = x_shm_map,
	.xShmLock = x_shm_lock,
	.xShmBarrier = x_shm_barrier,
	.xShmUnmap = x_shm_unmap,
	.xFetch = x_fetch,
	.xUnfetch = x_unfetch,
};

static int
x_open(sqlite3_vfs *v, const char *name, sqlite3_file *file, int flags,
    int *out_flags)
{
	struct vfile *f = vf(file);
	int rc;

	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	rc = unix_vfs->xOpen(unix_vfs, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		/* SQLite calls no method of a file that failed to open. */
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		return rc;
	}
	/* Only as many methods as the unix file has. */
	if (f->real->pMethods->iVersion < 3) {
		f->real->pMethods->xClose(f->real);
		return SQLITE_CANTOPEN;
	}
	if ((flags & SQLITE_OPEN_WAL) && name) {
		f->is_wal = 1;
		f->db = vf(sqlite3_database_file_object(name));
		f->db->wal = f;
	}
	file->pMethods = &methods;
	return SQLITE_OK;
}

void
db_vfs_register(void)
{
	unix_vfs = sqlite3_vfs_find(NULL);
	if (!unix_vfs)
		die("SQLite has no default file system interface");
	vfs = *unix_vfs;
	vfs.zName = "mephisto";
	vfs.szOsFile = (int)sizeof(struct vfile) + unix_vfs->szOsFile;
	vfs.pNext = NULL;
	vfs.xOpen = x_open;
	if (sqlite3_vfs_register(&vfs, 1) != SQLITE_OK)
		die("cannot register SQLite's file system interface");
}
